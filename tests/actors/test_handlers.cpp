// Deterministic tests of the handler API applications use
// (docs/handlers.md): a handler that throws, one that calls back twice,
// batch handlers, the handler's own options and a factory that throws.
// (A call that never completes: test_http_surface,
// async_calls_open_past_the_lease_fail_as_retryable.)

#include "tests/actors/fixture.hpp"

#include <stdexcept>
#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

namespace {

/// A batch handler whose answers the test scripts per event; records the
/// size of each call. `twice` calls back a second time, with every result
/// a permanent failure.
class batch_probe : public handler {
public:
  using script = std::function<handler_result(const event&, uint32_t)>;
  batch_probe(std::shared_ptr<std::vector<size_t>> sizes, script s,
              size_t drop = 0, bool twice = false)
    : sizes_(std::move(sizes)),
      script_(std::move(s)),
      drop_(drop),
      twice_(twice) {
    // nop
  }
  bool batched() const override {
    return true;
  }
  void handle_batch(const std::vector<handler_call>& calls,
                    batch_callback done) override {
    sizes_->push_back(calls.size());
    std::vector<handler_result> rs;
    for (auto& c : calls)
      rs.push_back(script_(*c.ev, c.attempt));
    rs.resize(rs.size() - std::min(drop_, rs.size()));
    auto n = rs.size();
    done(std::move(rs));
    if (twice_)
      done(std::vector<handler_result>(n, handler_result::fail("second")));
  }

private:
  std::shared_ptr<std::vector<size_t>> sizes_;
  script script_;
  size_t drop_;
  bool twice_;
};

/// An asynchronous handler that completes every call twice: first with
/// `first`, then with a permanent failure.
class twice_probe : public handler {
public:
  bool asynchronous() const override {
    return true;
  }
  void handle_async(const event&, uint32_t, handler_callback done) override {
    auto r = handler_result::ok();
    r.record_effect = true;
    done(r);
    done(handler_result::fail("second call"));
  }
};

/// A batch handler that keeps its callbacks for the test to complete
/// (copying the ids: the calls are valid only during handle_batch).
class pending_batch : public handler {
public:
  struct call {
    std::vector<std::string> ids;
    batch_callback done;
  };
  explicit pending_batch(std::shared_ptr<std::vector<call>> calls)
    : calls_(std::move(calls)) {
    // nop
  }
  bool batched() const override {
    return true;
  }
  void handle_batch(const std::vector<handler_call>& calls,
                    batch_callback done) override {
    call c;
    for (auto& x : calls)
      c.ids.push_back(x.ev->id);
    c.done = std::move(done);
    calls_->push_back(std::move(c));
  }

private:
  std::shared_ptr<std::vector<call>> calls_;
};

struct handler_fixture : fixture {
  std::shared_ptr<std::vector<size_t>> sizes
    = std::make_shared<std::vector<size_t>>();

  group_config& add_plain_group(const std::string& name,
                                const std::string& handler_name) {
    group_config g;
    g.name = name;
    g.handler = handler_name;
    g.concurrency = 1;
    g.retry.jitter = false;
    g.retry.base = 1000;
    g.options.group = name;
    ncfg.groups.push_back(g);
    return ncfg.groups.back();
  }

  group_config& add_batch_group(const std::string& name, batch_probe::script s,
                                size_t drop = 0, bool twice = false) {
    auto sz = sizes;
    handlers.add("batch", [sz, s, drop, twice](const handler_options&) {
      return std::make_unique<batch_probe>(sz, s, drop, twice);
    });
    return add_plain_group(name, "batch");
  }

  std::vector<attempt_record> attempts(const std::string& id) {
    auto hs = st->history_of(id);
    return hs.empty() ? std::vector<attempt_record>{} : hs[0].attempts;
  }
};

handler_result effect() {
  auto r = handler_result::ok();
  r.record_effect = true;
  return r;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(handler_api, handler_fixture)

BOOST_AUTO_TEST_CASE(a_handler_that_throws_fails_the_attempt_and_is_retried) {
  auto& g = add_group("g", 1, [](const event&, uint32_t attempt, size_t) {
    if (attempt == 1)
      throw std::runtime_error("database is down");
    return ok_effect();
  });
  g.retry.base = 1000;
  start();
  publish({make_event("e1", "t")});
  BOOST_CHECK(status("e1", "g") == event_status::retrying);
  auto a = attempts("e1");
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_CHECK(a[0].result == outcome::retryable);
  BOOST_CHECK_EQUAL(a[0].error, "handler threw: database is down");
  advance_in_steps(3000ms, 250ms);
  BOOST_CHECK_EQUAL(probes->count("e1"), 2u);
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
  BOOST_CHECK(status("e1", "g") == event_status::processed);
}

BOOST_AUTO_TEST_CASE(a_second_call_back_is_ignored) {
  handlers.add("twice", [](const handler_options&) {
    return std::make_unique<twice_probe>();
  });
  add_plain_group("g", "twice");
  start();
  publish({make_event("e1", "t"), make_event("e2", "t")});
  advance_in_steps(5000ms, 500ms);
  for (auto id : {"e1", "e2"}) {
    BOOST_CHECK_EQUAL(effects(id), 1u);
    BOOST_CHECK(status(id, "g") == event_status::processed);
    BOOST_CHECK_EQUAL(attempts(id).size(), 1u);
    BOOST_CHECK(st->dlq_get(id).empty());
  }
}

BOOST_AUTO_TEST_CASE(a_batch_handler_gets_the_batch_in_one_call) {
  add_batch_group("g", [](const event& ev, uint32_t attempt) {
    if (ev.id == "bad")
      return handler_result::fail("no such customer");
    if (ev.id == "flaky" && attempt == 1)
      return handler_result::retry("payment service unavailable", 2000);
    return effect();
  });
  start();
  publish({make_event("a", "t"), make_event("flaky", "t"),
           make_event("bad", "t"), make_event("b", "t")});
  BOOST_REQUIRE(!sizes->empty());
  BOOST_CHECK_EQUAL(sizes->front(), 4u);
  BOOST_CHECK_EQUAL(effects("a"), 1u);
  BOOST_CHECK_EQUAL(effects("b"), 1u);
  auto dead = st->dlq_get("bad");
  BOOST_REQUIRE_EQUAL(dead.size(), 1u);
  BOOST_CHECK_EQUAL(dead[0].last_error, "no such customer");
  BOOST_CHECK(status("flaky", "g") == event_status::retrying);
  // retry_after (2000 ms) outweighs the backoff (1000 ms).
  advance_in_steps(1500ms, 250ms);
  BOOST_CHECK_EQUAL(effects("flaky"), 0u);
  advance_in_steps(1500ms, 250ms);
  BOOST_CHECK_EQUAL(effects("flaky"), 1u);
  BOOST_CHECK_EQUAL(sizes->size(), 2u);
}

BOOST_AUTO_TEST_CASE(missing_batch_results_fail_their_events_retryably) {
  add_batch_group(
    "g", [](const event&, uint32_t) { return effect(); }, 1);
  start();
  publish({make_event("a", "t"), make_event("b", "t")});
  BOOST_CHECK_EQUAL(effects("a"), 1u);
  BOOST_CHECK_EQUAL(effects("b"), 0u);
  auto a = attempts("b");
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_CHECK(a[0].result == outcome::retryable);
  BOOST_CHECK_EQUAL(a[0].error,
                    "the batch handler returned 1 results for 2 events");
}

BOOST_AUTO_TEST_CASE(a_batch_handler_calling_back_twice_is_heard_once) {
  add_batch_group(
    "g", [](const event&, uint32_t) { return effect(); }, 0, true);
  start();
  publish({make_event("a", "t"), make_event("b", "t")});
  advance_in_steps(3000ms, 500ms);
  for (auto id : {"a", "b"}) {
    BOOST_CHECK_EQUAL(effects(id), 1u);
    BOOST_CHECK(st->dlq_get(id).empty());
  }
}

BOOST_AUTO_TEST_CASE(
  a_batch_past_the_deadline_is_retried_and_its_late_results_ignored) {
  auto calls = std::make_shared<std::vector<pending_batch::call>>();
  handlers.add("pending", [calls](const handler_options&) {
    return std::make_unique<pending_batch>(calls);
  });
  auto& g = add_plain_group("g", "pending");
  g.lease_ttl = 1000;
  g.retry.base = 5000;
  start();
  publish({make_event("a", "t"), make_event("b", "t")});
  BOOST_REQUIRE_EQUAL(calls->size(), 1u);
  // 4/5 of the lease: both fail retryably.
  advance(800ms);
  BOOST_CHECK(status("a", "g") == event_status::retrying);
  BOOST_CHECK(status("b", "g") == event_status::retrying);
  // The late completion changes nothing.
  (*calls)[0].done({effect(), effect()});
  run();
  BOOST_CHECK_EQUAL(effects("a"), 0u);
  // The retries run (in one batch or two) and succeed: each new call is
  // completed at once.
  size_t completed = 1;
  for (int step = 0; step < 80 && (effects("a") == 0 || effects("b") == 0);
       ++step) {
    advance(100ms);
    while (completed < calls->size()) {
      auto& c = (*calls)[completed++];
      c.done(std::vector<handler_result>(c.ids.size(), effect()));
      run();
    }
  }
  BOOST_CHECK_EQUAL(effects("a"), 1u);
  BOOST_CHECK_EQUAL(effects("b"), 1u);
  auto a = attempts("a");
  BOOST_REQUIRE_EQUAL(a.size(), 2u);
  BOOST_CHECK(a[0].error.find("did not complete within 800 ms")
              != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_factory_that_throws_at_spawn_retries_its_events) {
  handlers.add("fragile", [](const handler_options&) -> handler_ptr {
    throw std::invalid_argument("cannot open ledger");
  });
  auto& g = add_plain_group("g", "fragile");
  g.retry.max_attempts = 2;
  start();
  publish({make_event("e1", "t")});
  advance_in_steps(3000ms, 250ms);
  // Never run, never lost: each attempt fails with the factory's error and
  // the last one leaves the event in the DLQ.
  auto dead = st->dlq_get("e1");
  BOOST_REQUIRE_EQUAL(dead.size(), 1u);
  BOOST_CHECK_EQUAL(dead[0].last_error,
                    "handler fragile could not be created: cannot open ledger");
}

BOOST_AUTO_TEST_CASE(the_registry_checks_a_handlers_own_options) {
  handler_registry reg;
  reg.add("charge",
          [](const handler_options& o) -> handler_ptr {
            if (o.param("max-amount") == "0")
              throw std::invalid_argument("max-amount must be positive");
            return std::make_unique<twice_probe>();
          },
          {{"ledger-file", "max-amount"}, [](const handler_options& o) {
             return o.param("ledger-file").empty() ? "ledger-file is required"
                                                   : std::string{};
           }});
  group_config g;
  g.name = "orders";
  g.handler = "charge";
  g.options.params = {{"ledger-file", "l.txt"}};
  BOOST_CHECK_EQUAL(reg.check(g), "");
  g.options.params["leger-file"] = "typo.txt";
  BOOST_CHECK_EQUAL(reg.check(g),
                    "unknown option 'groups.orders.options.leger-file': "
                    "handler \"charge\" takes these: ledger-file, max-amount");
  g.options.params = {};
  BOOST_CHECK_EQUAL(reg.check(g), "option 'groups.orders.options' of handler "
                                  "\"charge\": ledger-file is required");
  g.options.params = {{"ledger-file", "l.txt"}, {"max-amount", "0"}};
  BOOST_CHECK_EQUAL(reg.check(g), "handler \"charge\" of group 'orders' could "
                                  "not be created: max-amount must be "
                                  "positive");
  // Built-ins take none of their own.
  g.handler = "store";
  g.options.params = {{"x", "1"}};
  BOOST_CHECK_EQUAL(reg.check(g),
                    "unknown option 'groups.orders.options.x': handler "
                    "\"store\" takes no options of its own");
}

BOOST_AUTO_TEST_SUITE_END()
