// Deterministic actor tests of the groups' run-time settings (pause, rate
// limit, listener count) kept in the store: a change of the listener count
// with batches in flight spawns or retires listeners without losing or
// repeating an event; a rate change rebuilds the token bucket; a pause
// survives a restart; a change another node made to the store applies in
// the janitor's round; nothing is dispatched before the overrides are read.

#include "adapters/forwarding_store.hpp"
#include "tests/actors/fixture.hpp"

#include <caf/actor_registry.hpp>

#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

namespace {

using gs = group_setting;

/// Succeeds with an effect record, settling `latency` ms after the call.
probe_handler::script slow_ok(millis_t latency) {
  return [latency](const event&, uint32_t, size_t) {
    auto r = ok_effect();
    r.latency = latency;
    return r;
  };
}

std::vector<event> numbered(const std::string& prefix, int n) {
  std::vector<event> out;
  for (int i = 0; i < n; ++i)
    out.push_back(fixture::make_event(prefix + std::to_string(i), "t"));
  return out;
}

group_overrides with_concurrency(const std::string& group, uint32_t n) {
  group_overrides o;
  o.group = group;
  o.fields = bit(gs::concurrency);
  o.concurrency = n;
  return o;
}

group_overrides with_rate(const std::string& group, double rate) {
  group_overrides o;
  o.group = group;
  o.fields = bit(gs::rate);
  o.rate = rate;
  return o;
}

group_overrides with_paused(const std::string& group) {
  group_overrides o;
  o.group = group;
  o.fields = bit(gs::paused);
  o.paused = true;
  return o;
}

group_overrides nothing(const std::string& group) {
  group_overrides o;
  o.group = group;
  return o;
}

struct settings_fixture : fixture {
  /// The group's part of the broadcaster's status.
  caf::settings group(const std::string& name) {
    auto s = ask<caf::settings>(*this, n.broadcaster, atom::status_v);
    return caf::get_or(s, "groups." + name, caf::settings{});
  }

  /// Changes the group's overrides through the broadcaster (as PATCH
  /// /groups/{name} does); returns the group's status part.
  caf::settings change(group_overrides o, uint8_t clear = 0) {
    return ask<caf::settings>(*this, n.broadcaster, atom::overrides_v,
                              std::move(o), clear);
  }

  caf::error change_error(group_overrides o, uint8_t clear = 0) {
    self->send(n.broadcaster, atom::overrides_v, std::move(o), clear);
    run();
    caf::error result;
    self->receive([&](caf::settings&) { BOOST_FAIL("the change succeeded"); },
                  [&](caf::error& err) { result = err; });
    return result;
  }

  size_t running_actors() {
    return sys.registry().running();
  }

  /// Every event of `evs` had its effect once in `group`, and the handler
  /// ran once for it.
  void expect_each_once(const std::vector<event>& evs,
                        const std::string& group) {
    for (auto& ev : evs) {
      BOOST_CHECK_MESSAGE(effects(ev.id, group) == 1,
                          ev.id << ": " << effects(ev.id, group) << " effects");
      BOOST_CHECK_MESSAGE(probes->count(ev.id) == 1,
                          ev.id << ": " << probes->count(ev.id) << " calls");
    }
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(group_settings_actors, settings_fixture)

BOOST_AUTO_TEST_CASE(more_listeners_take_queued_work_at_once) {
  add_group("g", 1, slow_ok(100)).batch_size = 1;
  start();
  auto evs = numbered("e", 12);
  publish(evs);
  BOOST_CHECK_EQUAL(num(group("g"), "in-flight"), 1);
  auto after = change(with_concurrency("g", 4));
  BOOST_CHECK_EQUAL(num(after, "listeners"), 4);
  BOOST_CHECK_EQUAL(num(after, "concurrency"), 4);
  BOOST_CHECK_EQUAL(caf::get_or(after, "source.concurrency", ""), "override");
  // The new listeners got batches while the first one's is in flight.
  BOOST_CHECK_EQUAL(num(group("g"), "in-flight"), 4);
  BOOST_CHECK_EQUAL(probes->calls.size(), 4u);
  advance_in_steps(1000ms, 50ms);
  expect_each_once(evs, "g");
  BOOST_CHECK_EQUAL(num(group("g"), "listener-restarts"), 0);
  // Kept in the store.
  auto stored = st->group_overrides_all();
  BOOST_REQUIRE_EQUAL(stored.size(), 1u);
  BOOST_CHECK(stored[0].has(gs::concurrency));
  BOOST_CHECK_EQUAL(stored[0].concurrency, 4u);
}

BOOST_AUTO_TEST_CASE(fewer_listeners_let_their_batches_finish) {
  add_group("g", 4, slow_ok(100)).batch_size = 1;
  start();
  auto evs = numbered("e", 12);
  publish(evs);
  BOOST_CHECK_EQUAL(num(group("g"), "in-flight"), 4);
  auto actors = running_actors();
  auto after = change(with_concurrency("g", 1));
  // Every listener is busy: they stay until their batch is back.
  BOOST_CHECK_EQUAL(num(after, "concurrency"), 1);
  BOOST_CHECK_EQUAL(num(after, "listeners"), 4);
  BOOST_CHECK_EQUAL(num(after, "in-flight"), 4);
  BOOST_CHECK_EQUAL(running_actors(), actors);
  // The batches come back: three listeners stop, one goes on alone.
  advance(100ms);
  auto g = group("g");
  BOOST_CHECK_EQUAL(num(g, "listeners"), 1);
  BOOST_CHECK_EQUAL(num(g, "in-flight"), 1);
  BOOST_CHECK_EQUAL(running_actors(), actors - 3);
  for (int i = 0; i < 4; ++i)
    BOOST_CHECK_EQUAL(effects("e" + std::to_string(i), "g"), 1u);
  advance_in_steps(2000ms, 50ms);
  expect_each_once(evs, "g");
  BOOST_CHECK_EQUAL(num(group("g"), "listener-restarts"), 0);
  BOOST_CHECK_EQUAL(num(group("g"), "in-flight"), 0);
}

BOOST_AUTO_TEST_CASE(idle_listeners_stop_at_once) {
  add_group("g", 3, always_ok());
  start();
  auto actors = running_actors();
  auto after = change(with_concurrency("g", 1));
  BOOST_CHECK_EQUAL(num(after, "listeners"), 1);
  BOOST_CHECK_EQUAL(running_actors(), actors - 2);
  auto evs = numbered("e", 5);
  publish(evs);
  expect_each_once(evs, "g");
}

BOOST_AUTO_TEST_CASE(retiring_listeners_stay_when_the_count_grows_again) {
  add_group("g", 4, slow_ok(100)).batch_size = 1;
  start();
  auto evs = numbered("e", 16);
  publish(evs);
  auto actors = running_actors();
  change(with_concurrency("g", 1));
  // Back up before the batches return: two of the retiring ones stay.
  auto after = change(with_concurrency("g", 3));
  BOOST_CHECK_EQUAL(num(after, "listeners"), 4);
  BOOST_CHECK_EQUAL(running_actors(), actors);
  advance(100ms);
  BOOST_CHECK_EQUAL(num(group("g"), "listeners"), 3);
  BOOST_CHECK_EQUAL(num(group("g"), "in-flight"), 3);
  BOOST_CHECK_EQUAL(running_actors(), actors - 1);
  advance_in_steps(2000ms, 50ms);
  expect_each_once(evs, "g");
}

BOOST_AUTO_TEST_CASE(a_rate_change_rebuilds_the_token_bucket) {
  auto& g = add_group("g", 1, always_ok());
  g.rate_limit = 1;
  g.rate_burst = 1;
  g.batch_size = 100;
  start();
  auto evs = numbered("e", 10);
  publish(evs);
  advance(500ms);
  // One event a second: the first went, the others wait.
  BOOST_CHECK_EQUAL(probes->calls.size(), 1u);
  auto after = change(with_rate("g", 1000));
  BOOST_CHECK_EQUAL(caf::get_or(after, "rate-limit", 0.0), 1000.0);
  BOOST_CHECK_EQUAL(caf::get_or(after, "source.rate", ""), "override");
  // A thousand a second: the rest within 20 ms.
  advance_in_steps(20ms, 1ms);
  expect_each_once(evs, "g");
  // Back to the config's one a second: one at once (the bucket holds at
  // most the config's burst), then one a second.
  after = change(nothing("g"), bit(gs::rate));
  BOOST_CHECK_EQUAL(caf::get_or(after, "rate-limit", 0.0), 1.0);
  BOOST_CHECK_EQUAL(caf::get_or(after, "source.rate", ""), "config");
  BOOST_CHECK(st->group_overrides_all().empty());
  publish(numbered("f", 5));
  advance_in_steps(1500ms, 10ms);
  BOOST_CHECK_EQUAL(probes->calls.size(), 12u);
  advance_in_steps(3000ms, 10ms);
  BOOST_CHECK_EQUAL(probes->calls.size(), 15u);
}

BOOST_AUTO_TEST_CASE(a_pause_is_kept_in_the_store_and_survives_a_restart) {
  add_group("g", 1, always_ok());
  add_group("witness", 1, always_ok());
  start();
  BOOST_CHECK(
    ask<bool>(*this, n.broadcaster, atom::pause_v, std::string{"g"}, true));
  auto stored = st->group_overrides_all();
  BOOST_REQUIRE_EQUAL(stored.size(), 1u);
  BOOST_CHECK(stored[0].has(gs::paused) && stored[0].paused);
  // A restart on the same store.
  stop_node(sys, n);
  run();
  start();
  auto g = group("g");
  BOOST_CHECK(caf::get_or(g, "paused", false));
  BOOST_CHECK_EQUAL(caf::get_or(g, "source.paused", ""), "override");
  publish({make_event("e1", "t")});
  advance(5000ms);
  BOOST_CHECK_EQUAL(effects("e1", "witness"), 1u);
  BOOST_CHECK_EQUAL(effects("e1", "g"), 0u);
  BOOST_CHECK(status("e1", "g") == event_status::accepted);
  // Resuming drops the override.
  BOOST_CHECK(
    !ask<bool>(*this, n.broadcaster, atom::pause_v, std::string{"g"}, false));
  BOOST_CHECK_EQUAL(effects("e1", "g"), 1u);
  BOOST_CHECK(st->group_overrides_all().empty());
  BOOST_CHECK_EQUAL(caf::get_or(group("g"), "source.paused", ""), "config");
}

BOOST_AUTO_TEST_CASE(another_nodes_change_applies_in_the_janitor_round) {
  add_group("g", 1, slow_ok(20000)).batch_size = 1;
  start();
  // Work in flight: the janitor runs (on a shared store it always does).
  publish(numbered("e", 3));
  // Another node sharing the store pauses the group and sets 3 listeners.
  st->change_group_overrides(with_paused("g"), 0);
  st->change_group_overrides(with_concurrency("g", 3), 0);
  advance(999ms);
  BOOST_CHECK(!caf::get_or(group("g"), "paused", true));
  BOOST_CHECK_EQUAL(num(group("g"), "listeners"), 1);
  advance(1ms);
  auto g = group("g");
  BOOST_CHECK(caf::get_or(g, "paused", false));
  BOOST_CHECK_EQUAL(num(g, "listeners"), 3);
  // Paused: the new listeners get nothing.
  BOOST_CHECK_EQUAL(num(g, "in-flight"), 1);
  // And it drops them again.
  st->change_group_overrides(nothing("g"), every_group_setting);
  advance(1000ms);
  g = group("g");
  BOOST_CHECK(!caf::get_or(g, "paused", true));
  BOOST_CHECK_EQUAL(num(g, "concurrency"), 1);
  advance_in_steps(80s, 1s);
  for (int i = 0; i < 3; ++i)
    BOOST_CHECK_EQUAL(effects("e" + std::to_string(i), "g"), 1u);
}

namespace {

/// Fails reads of the groups' overrides while `fail_reads` > 0 (counting
/// down), and changes while `fail_changes`.
class settings_store : public forwarding_store {
public:
  using forwarding_store::forwarding_store;

  int fail_reads = 0;
  bool fail_changes = false;

  std::vector<group_overrides> group_overrides_all() override {
    if (fail_reads > 0) {
      --fail_reads;
      throw store_error("connection refused (injected)");
    }
    return forwarding_store::group_overrides_all();
  }

  group_overrides change_group_overrides(const group_overrides& change,
                                         uint8_t clear) override {
    if (fail_changes)
      throw store_error("connection refused (injected)");
    return forwarding_store::change_group_overrides(change, clear);
  }
};

struct faulty_settings_fixture : settings_fixture {
  std::shared_ptr<settings_store> faulty;

  faulty_settings_fixture() {
    faulty = std::make_shared<settings_store>(st);
    st = faulty;
  }
};

} // namespace

BOOST_FIXTURE_TEST_CASE(nothing_is_dispatched_before_the_overrides_are_read,
                        faulty_settings_fixture) {
  add_group("g", 1, always_ok());
  add_group("witness", 1, always_ok());
  // Paused in the store, which cannot tell so for two tries.
  st->change_group_overrides(with_paused("g"), 0);
  faulty->fail_reads = 2;
  start();
  publish({make_event("e1", "t")});
  advance(999ms);
  BOOST_CHECK_EQUAL(effects("e1", "witness"), 0u);
  BOOST_CHECK_EQUAL(effects("e1", "g"), 0u);
  advance_in_steps(3000ms, 100ms);
  BOOST_CHECK_EQUAL(faulty->fail_reads, 0);
  BOOST_CHECK_EQUAL(effects("e1", "witness"), 1u);
  BOOST_CHECK_EQUAL(effects("e1", "g"), 0u);
  BOOST_CHECK(caf::get_or(group("g"), "paused", false));
}

BOOST_FIXTURE_TEST_CASE(changes_that_cannot_be_kept_are_refused,
                        faulty_settings_fixture) {
  add_group("g", 2, always_ok());
  start();
  auto code = [](const caf::error& err) {
    return static_cast<ec>(err.code());
  };
  BOOST_CHECK(code(change_error(with_concurrency("nope", 2)))
              == ec::unknown_group);
  BOOST_CHECK(code(change_error(with_concurrency("g", 0)))
              == ec::invalid_config);
  BOOST_CHECK(code(change_error(with_rate("g", 0.0001))) == ec::invalid_config);
  // The store cannot keep it: nothing changes here either.
  faulty->fail_changes = true;
  BOOST_CHECK(code(change_error(with_concurrency("g", 5)))
              == ec::store_failure);
  self->send(n.broadcaster, atom::pause_v, std::string{"g"}, true);
  run();
  self->receive([](bool) { BOOST_FAIL("the pause succeeded"); },
                [](caf::error& err) {
                  BOOST_CHECK(static_cast<ec>(err.code()) == ec::store_failure);
                });
  auto g = group("g");
  BOOST_CHECK_EQUAL(num(g, "listeners"), 2);
  BOOST_CHECK(!caf::get_or(g, "paused", true));
  faulty->fail_changes = false;
  BOOST_CHECK(st->group_overrides_all().empty());
}

BOOST_AUTO_TEST_SUITE_END()
