// Deterministic actor tests of what the HTTP API builds on: asynchronous
// handlers (webhooks) completing from outside the listener, Retry-After
// postponing the next attempt, pausing and resuming a group, the node's
// metrics, the attempt history and the listing of events by status.

#include "actors/node_metrics.hpp"
#include "runtime/http/gateway.hpp"
#include "tests/actors/fixture.hpp"

#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

namespace {

/// An asynchronous handler whose completions the test triggers by hand.
struct pending_calls {
  std::vector<std::pair<std::string, handler_callback>> calls;
  /// Completes the oldest open call of `id`.
  bool complete(const std::string& id, handler_result r) {
    for (auto i = calls.begin(); i != calls.end(); ++i)
      if (i->first == id) {
        auto cb = std::move(i->second);
        calls.erase(i);
        cb(std::move(r));
        return true;
      }
    return false;
  }
};

class async_probe : public handler {
public:
  explicit async_probe(std::shared_ptr<pending_calls> p) : p_(std::move(p)) {
    // nop
  }
  handler_result handle(const event&, uint32_t) override {
    handler_result r;
    r.result = outcome::permanent;
    r.error = "called synchronously";
    return r;
  }
  bool asynchronous() const override {
    return true;
  }
  void handle_async(const event& ev, uint32_t, handler_callback done) override {
    p_->calls.emplace_back(ev.id, std::move(done));
  }

private:
  std::shared_ptr<pending_calls> p_;
};

struct async_fixture : fixture {
  std::shared_ptr<pending_calls> pending = std::make_shared<pending_calls>();

  group_config& add_async_group(const std::string& name) {
    auto p = pending;
    handlers.add("async", [p](const handler_options&) {
      return std::make_unique<async_probe>(p);
    });
    group_config g;
    g.name = name;
    g.handler = "async";
    g.concurrency = 1;
    g.retry.jitter = false;
    ncfg.groups.push_back(g);
    return ncfg.groups.back();
  }

  template <class T, class Handle, class... Ts>
  T ask(const Handle& hdl, Ts... xs) {
    self->send(hdl, std::move(xs)...);
    run();
    T result{};
    if (self->mailbox().empty()) {
      BOOST_FAIL("no reply to a request");
      return result;
    }
    self->receive([&](T& x) { result = std::move(x); },
                  [&](caf::error& err) {
                    BOOST_FAIL("request failed: " << render(err));
                  });
    return result;
  }
};

handler_result success() {
  handler_result r;
  r.record_effect = true;
  return r;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(http_surface, async_fixture)

BOOST_AUTO_TEST_CASE(async_handler_settles_only_after_its_callback) {
  add_async_group("hooks");
  start();
  publish({make_event("e1", "t"), make_event("e2", "t")});
  BOOST_REQUIRE_EQUAL(pending->calls.size(), 2u);
  BOOST_CHECK(status("e1", "hooks") == event_status::in_flight);
  BOOST_CHECK(pending->complete("e1", success()));
  run();
  // The batch settles as a whole once every call of it returned.
  BOOST_CHECK_EQUAL(effects("e1"), 0u);
  BOOST_CHECK(pending->complete("e2", success()));
  run();
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
  BOOST_CHECK_EQUAL(effects("e2"), 1u);
  BOOST_CHECK(status("e2", "hooks") == event_status::processed);
}

BOOST_AUTO_TEST_CASE(retry_after_postpones_the_next_attempt) {
  auto& g = add_async_group("hooks");
  g.retry.base = 1000;
  start();
  publish({make_event("e1", "t")});
  handler_result busy;
  busy.result = outcome::retryable;
  busy.error = "HTTP 429";
  busy.retry_after = 5000;
  BOOST_REQUIRE(pending->complete("e1", busy));
  run();
  BOOST_CHECK(status("e1", "hooks") == event_status::retrying);
  // Backoff alone would retry after 1 s; the receiver asked for 5 s.
  advance(4999ms);
  BOOST_CHECK(pending->calls.empty());
  advance(1ms);
  BOOST_REQUIRE_EQUAL(pending->calls.size(), 1u);
  BOOST_CHECK(pending->complete("e1", success()));
  run();
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
  auto h = st->history_of("e1");
  BOOST_REQUIRE_EQUAL(h.size(), 1u);
  BOOST_REQUIRE_EQUAL(h[0].attempts.size(), 2u);
  BOOST_CHECK(h[0].attempts[0].result == outcome::retryable);
  BOOST_CHECK_EQUAL(h[0].attempts[0].error, "HTTP 429");
  BOOST_CHECK(h[0].attempts[1].result == outcome::success);
  BOOST_CHECK_EQUAL(h[0].attempts[1].attempt, 2u);
}

BOOST_AUTO_TEST_CASE(async_calls_open_past_the_lease_fail_as_retryable) {
  auto& g = add_async_group("hooks");
  g.lease_ttl = 1000;
  g.retry.base = 5000;
  start();
  publish({make_event("e1", "t"), make_event("e2", "t")});
  BOOST_REQUIRE_EQUAL(pending->calls.size(), 2u);
  BOOST_CHECK(pending->complete("e2", success()));
  run();
  // Calls may run for 4/5 of the lease (800 ms), then fail.
  advance(799ms);
  BOOST_CHECK_EQUAL(effects("e2"), 0u);
  advance(1ms);
  // The deadline failed e1 and the batch settled: e2 done, e1 retrying.
  BOOST_CHECK_EQUAL(effects("e2"), 1u);
  BOOST_CHECK(status("e1", "hooks") == event_status::retrying);
  auto h = st->history_of("e1");
  BOOST_REQUIRE_EQUAL(h.size(), 1u);
  BOOST_REQUIRE_EQUAL(h[0].attempts.size(), 1u);
  BOOST_CHECK(h[0].attempts[0].result == outcome::retryable);
  BOOST_CHECK(h[0].attempts[0].error.find("did not complete within 800 ms")
              != std::string::npos);
  // The late completion of the old call changes nothing.
  BOOST_CHECK(pending->complete("e1", success()));
  run();
  BOOST_CHECK_EQUAL(effects("e1"), 0u);
  // The retry runs and succeeds.
  advance(5000ms);
  BOOST_REQUIRE_EQUAL(pending->calls.size(), 1u);
  BOOST_CHECK(pending->complete("e1", success()));
  run();
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
}

BOOST_AUTO_TEST_CASE(permanent_failure_goes_to_the_dlq_at_once) {
  add_async_group("hooks");
  start();
  publish({make_event("e1", "t")});
  handler_result bad;
  bad.result = outcome::permanent;
  bad.error = "HTTP 400";
  BOOST_REQUIRE(pending->complete("e1", bad));
  run();
  BOOST_CHECK(status("e1", "hooks") == event_status::dead);
  auto dead = st->dlq_get("e1");
  BOOST_REQUIRE_EQUAL(dead.size(), 1u);
  BOOST_CHECK(dead[0].reason == dlq_reason::permanent_error);
}

BOOST_AUTO_TEST_CASE(paused_group_dispatches_nothing_until_resumed) {
  add_group("g", 1, [](const event&, uint32_t, size_t) { return ok_effect(); });
  start();
  BOOST_CHECK(ask<bool>(n.broadcaster, atom::pause_v, std::string{"g"}, true));
  publish({make_event("e1", "t"), make_event("e2", "t")});
  advance(5000ms);
  BOOST_CHECK_EQUAL(probes->count("e1"), 0u);
  BOOST_CHECK(status("e1", "g") == event_status::accepted);
  auto s = ask<caf::settings>(n.broadcaster, atom::status_v);
  BOOST_CHECK(caf::get_or(s, "groups.g.paused", false));
  BOOST_CHECK(
    !ask<bool>(n.broadcaster, atom::pause_v, std::string{"g"}, false));
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
  BOOST_CHECK_EQUAL(effects("e2"), 1u);
}

BOOST_AUTO_TEST_CASE(pausing_an_unknown_group_fails) {
  add_group("g", 1, [](const event&, uint32_t, size_t) { return ok_effect(); });
  start();
  self->send(n.broadcaster, atom::pause_v, std::string{"nope"}, true);
  run();
  bool failed = false;
  self->receive([](bool) {},
                [&](caf::error& err) {
                  failed = true;
                  BOOST_CHECK(err.code()
                              == static_cast<uint8_t>(ec::unknown_group));
                });
  BOOST_CHECK(failed);
}

// A group's settled counter is there from the start (at 0), so that an
// alert on "no increase while a backlog waits" also sees a group that
// never settled anything.
BOOST_AUTO_TEST_CASE(settled_series_start_at_zero) {
  add_group("idle", 1, always_ok(), {"nothing.*"});
  add_group("busy", 1, always_ok());
  start();
  auto text = n.metrics->render({});
  BOOST_CHECK(text.find("# TYPE onceflow_settled_total counter")
              != std::string::npos);
  BOOST_CHECK(text.find("onceflow_settled_total{group=\"idle\"} 0\n")
              != std::string::npos);
  BOOST_CHECK(text.find("onceflow_settled_total{group=\"busy\"} 0\n")
              != std::string::npos);
  publish({make_event("x", "t")});
  BOOST_CHECK_EQUAL(
    n.metrics->counter_value(metric::settled, {{"group", "busy"}}), 1u);
  BOOST_CHECK_EQUAL(
    n.metrics->counter_value(metric::settled, {{"group", "idle"}}), 0u);
}

BOOST_AUTO_TEST_CASE(metrics_count_accepted_processed_retried_dead) {
  add_group("g", 1,
            [](const event& ev, uint32_t, size_t) {
              if (ev.id == "bad")
                return fail(outcome::permanent, "no");
              if (ev.id == "flaky")
                return fail(outcome::retryable, "later");
              return ok_effect();
            })
    .retry.max_attempts
    = 2;
  start();
  publish({make_event("ok1", "a.x"), make_event("ok2", "a.x"),
           make_event("bad", "b.y"), make_event("flaky", "b.y")});
  publish({make_event("ok1", "a.x")});
  advance(2000ms);
  auto& m = *n.metrics;
  BOOST_CHECK_EQUAL(m.counter_value(metric::accepted, {{"type", "a.x"}}), 2u);
  BOOST_CHECK_EQUAL(m.counter_value(metric::accepted, {{"type", "b.y"}}), 2u);
  BOOST_CHECK_EQUAL(m.counter_value(metric::duplicate, {{"type", "a.x"}}), 1u);
  BOOST_CHECK_EQUAL(
    m.counter_value(metric::processed, {{"group", "g"}, {"type", "a.x"}}), 2u);
  BOOST_CHECK_EQUAL(
    m.counter_value(metric::retried, {{"group", "g"}, {"type", "b.y"}}), 1u);
  BOOST_CHECK_EQUAL(
    m.counter_value(metric::dead, {{"group", "g"}, {"type", "b.y"}}), 2u);
  // Settled: 2 processed, 1 retry scheduled, 2 dead (every outcome).
  BOOST_CHECK_EQUAL(m.counter_value(metric::settled, {{"group", "g"}}), 5u);
  auto text = m.render({});
  BOOST_CHECK(text.find("onceflow_effect_latency_seconds_count{group=\"g\"} 2")
              != std::string::npos);
  BOOST_CHECK(
    text.find("onceflow_handler_duration_seconds_count{group=\"g\"} 5")
    != std::string::npos);
}

BOOST_AUTO_TEST_CASE(history_and_listing_through_the_store_actor) {
  add_group("g", 1, [](const event& ev, uint32_t, size_t) {
    return ev.id == "bad" ? fail(outcome::permanent, "no") : ok_effect();
  });
  start();
  publish({make_event("a", "t"), make_event("bad", "t"), make_event("c", "t")});
  auto h = ask<event_history>(n.store, atom::history_v, std::string{"a"});
  BOOST_CHECK_EQUAL(h.ev.id, "a");
  BOOST_REQUIRE_EQUAL(h.groups.size(), 1u);
  BOOST_CHECK(h.groups[0].status == event_status::processed);
  BOOST_REQUIRE_EQUAL(h.groups[0].attempts.size(), 1u);
  BOOST_CHECK_EQUAL(h.groups[0].attempts[0].listener, "g/1");
  auto none = ask<event_history>(n.store, atom::history_v, std::string{"zz"});
  BOOST_CHECK_EQUAL(none.ev.seq, 0u);
  event_listing_query q;
  q.status = event_status::processed;
  auto page = ask<event_listing>(n.store, atom::events_v, q);
  BOOST_REQUIRE_EQUAL(page.items.size(), 2u);
  BOOST_CHECK_EQUAL(page.items[0].event_id, "a");
  BOOST_CHECK_EQUAL(page.items[1].event_id, "c");
  BOOST_CHECK_EQUAL(page.next, 0u);
  q.status = event_status::dead;
  page = ask<event_listing>(n.store, atom::events_v, q);
  BOOST_REQUIRE_EQUAL(page.items.size(), 1u);
  BOOST_CHECK_EQUAL(page.items[0].event_id, "bad");
  BOOST_CHECK(ask<bool>(n.store, atom::ping_v));
}

BOOST_AUTO_TEST_CASE(gateway_batches_waiting_submissions_and_splits_results) {
  add_group("g", 1, [](const event&, uint32_t, size_t) { return ok_effect(); });
  start();
  auto gw = http::gateway::make(sys, n.broadcaster, 1000, n.metrics);
  // Five HTTP requests arrive before the gateway runs: one ingest call.
  std::vector<std::vector<append_result>> answers(5);
  std::vector<caf::error> errors(5);
  for (size_t i = 0; i < 5; ++i) {
    std::vector<event> evs;
    for (size_t k = 0; k <= i; ++k)
      evs.push_back(
        make_event("r" + std::to_string(i) + "-" + std::to_string(k), "t"));
    if (i == 3) // a duplicate of an event of request 0
      evs.push_back(make_event("r0-0", "t"));
    gw->ingest(std::move(evs), [&answers, &errors, i](
                                 caf::expected<std::vector<append_result>> rs) {
      if (rs)
        answers[i] = std::move(*rs);
      else
        errors[i] = rs.error();
    });
  }
  run();
  BOOST_CHECK_EQUAL(n.metrics->counter_value(metric::http_ingest_calls, {}),
                    1u);
  for (size_t i = 0; i < 5; ++i) {
    BOOST_CHECK(!errors[i]);
    BOOST_REQUIRE_EQUAL(answers[i].size(), i + 1 + (i == 3 ? 1 : 0));
    for (size_t k = 0; k <= i; ++k) {
      BOOST_CHECK_EQUAL(answers[i][k].id,
                        "r" + std::to_string(i) + "-" + std::to_string(k));
      BOOST_CHECK(!answers[i][k].duplicate);
    }
  }
  BOOST_CHECK(answers[3].back().duplicate);
  BOOST_CHECK_EQUAL(answers[3].back().id, "r0-0");
  BOOST_CHECK_EQUAL(effects("r4-4"), 1u);
  // After stop, queued and new submissions are answered with `draining`.
  bool queued_answered = false;
  gw->ingest({make_event("late-1", "t")},
             [&](caf::expected<std::vector<append_result>> rs) {
               queued_answered = !rs
                                 && rs.error().code()
                                      == static_cast<uint8_t>(ec::draining);
             });
  gw->stop();
  BOOST_CHECK(queued_answered);
  bool refused = false;
  gw->ingest({make_event("late-2", "t")},
             [&](caf::expected<std::vector<append_result>> rs) {
               refused = !rs;
             });
  BOOST_CHECK(refused);
  run();
  BOOST_CHECK(status("late-1", "g") == event_status::unknown);
}

/// A retry handed out again while its first delivery still runs (a store
/// mark that lapsed) is parked; when the running one fails into the retry
/// schedule, the parked copy is older than the schedule and must not run
/// before the backoff.
BOOST_AUTO_TEST_CASE(parked_copy_of_a_rescheduled_retry_is_dropped) {
  auto& g = add_async_group("hooks");
  g.retry.base = 1000;
  start();
  publish({make_event("e1", "t")});
  BOOST_REQUIRE_EQUAL(pending->calls.size(), 1u);
  delivery copy;
  copy.ev = st->find("e1");
  copy.group = "hooks";
  copy.attempt = 1;
  self->send(n.broadcaster, atom::redeliver_v, std::vector<delivery>{copy});
  run();
  BOOST_CHECK_EQUAL(pending->calls.size(), 1u);
  handler_result failed;
  failed.result = outcome::retryable;
  failed.error = "boom";
  BOOST_REQUIRE(pending->complete("e1", failed));
  run();
  BOOST_CHECK(status("e1", "hooks") == event_status::retrying);
  // Nothing runs before the backoff, then the scheduled attempt 2.
  BOOST_CHECK(pending->calls.empty());
  advance(std::chrono::milliseconds(999));
  BOOST_CHECK(pending->calls.empty());
  advance(std::chrono::milliseconds(1));
  BOOST_REQUIRE_EQUAL(pending->calls.size(), 1u);
  BOOST_REQUIRE(pending->complete("e1", success()));
  run();
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
  BOOST_CHECK(status("e1", "hooks") == event_status::processed);
}

BOOST_AUTO_TEST_SUITE_END()
