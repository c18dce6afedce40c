// Delayed events on the whole node with simulated time: an event published
// with a delay runs in each of its groups at its time, once, and not a
// millisecond before; others go ahead meanwhile; a failed first attempt
// retries with backoff from then on; a cancelled one never runs; a node
// started over a store holding one runs it at its time.

#include "tests/actors/fixture.hpp"
#include "tests/support/print.hpp"

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

namespace {

/// An event published with a delay (ms after acceptance).
event delayed_event(const std::string& id, const std::string& type,
                    millis_t delay) {
  auto ev = fixture::make_event(id, type);
  ev.delay = delay;
  return ev;
}

/// The attempts the probe handlers saw for `id`, in order ("1,2").
std::string attempts_of(const probe_log& log, const std::string& id) {
  std::string out;
  for (auto& [ev, attempt] : log.calls)
    if (ev == id)
      out += (out.empty() ? "" : ",") + std::to_string(attempt);
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(delayed_events, fixture)

BOOST_AUTO_TEST_CASE(runs_at_its_time_in_each_group_and_not_before) {
  add_group("billing", 2, always_ok(), {"order.*"});
  add_group("audit", 1, always_ok(), {"*"});
  add_group("users", 1, always_ok(), {"user.*"});
  start();
  auto rs = publish({delayed_event("d", "order.created", 30'000),
                     make_event("n", "order.created")});
  BOOST_REQUIRE_EQUAL(rs.size(), 2u);
  BOOST_CHECK(!rs[0].duplicate);
  // The other event goes ahead; the delayed one waits in its groups.
  BOOST_CHECK_EQUAL(effects("n"), 2u);
  BOOST_CHECK_EQUAL(probes->count("d"), 0u);
  BOOST_CHECK_EQUAL(status("d", "billing"), event_status::scheduled);
  BOOST_CHECK_EQUAL(status("d", "audit"), event_status::scheduled);
  BOOST_CHECK_EQUAL(status("d", "users"), event_status::unknown);
  auto created = st->find("d").created_at;
  BOOST_CHECK_EQUAL(st->find("d").not_before, created + 30'000);
  // Not in the groups' back-pressure counts.
  auto s = ask<caf::settings>(*this, n.broadcaster, atom::status_v);
  BOOST_CHECK_EQUAL(num(s, "groups.billing.unsettled"), 0);
  advance(30'000ms - 1ms);
  BOOST_CHECK_EQUAL(probes->count("d"), 0u);
  BOOST_CHECK_EQUAL(status("d", "billing"), event_status::scheduled);
  advance(1ms);
  BOOST_CHECK_EQUAL(attempts_of(*probes, "d"), "1,1");
  BOOST_CHECK_EQUAL(effects("d", "billing"), 1u);
  BOOST_CHECK_EQUAL(effects("d", "audit"), 1u);
  BOOST_CHECK_EQUAL(effects("d", "users"), 0u);
  BOOST_CHECK_EQUAL(status("d", "billing"), event_status::processed);
  // And never again.
  advance_in_steps(120'000ms, 10'000ms);
  BOOST_CHECK_EQUAL(probes->count("d"), 2u);
  BOOST_CHECK_EQUAL(st->delayed(), 0u);
}

BOOST_AUTO_TEST_CASE(many_delays_each_at_its_own_time) {
  add_group("g", 2, always_ok());
  start();
  // Published out of order: 3 s, 1 s, 2 s, and one not delayed.
  publish({delayed_event("c", "t", 3000), delayed_event("a", "t", 1000),
           delayed_event("b", "t", 2000), make_event("now", "t")});
  BOOST_CHECK_EQUAL(probes->calls.size(), 1u);
  for (auto [id, ms] :
       {std::pair<std::string, int>{"a", 1000}, {"b", 2000}, {"c", 3000}}) {
    BOOST_TEST_CONTEXT(id) {
      advance(999ms);
      BOOST_CHECK_EQUAL(probes->count(id), 0u);
      advance(1ms);
      BOOST_CHECK_EQUAL(probes->count(id), 1u);
      BOOST_CHECK_EQUAL(effects(id), 1u);
    }
  }
  BOOST_CHECK_EQUAL(probes->calls.size(), 4u);
}

BOOST_AUTO_TEST_CASE(a_time_in_the_past_runs_at_once) {
  add_group("g", 1, always_ok());
  start();
  auto ev = make_event("p", "t");
  ev.not_before = 1; // 1970
  publish({ev});
  BOOST_CHECK_EQUAL(effects("p"), 1u);
  BOOST_CHECK_EQUAL(st->find("p").not_before, 0);
}

BOOST_AUTO_TEST_CASE(over_the_maximum_the_batch_is_refused) {
  add_group("g", 1, always_ok());
  ncfg.limits.max_delay = 60'000;
  start();
  auto err = publish_error(
    {make_event("ok", "t"), delayed_event("late", "t", 60'001)});
  BOOST_CHECK_EQUAL(render(err),
                    "invalid_event: event 1: field 'delay' of 60001ms is over "
                    "the maximum delay of 1min ([events] max-delay)");
  BOOST_CHECK_EQUAL(st->find("ok").seq, 0u);
  publish({delayed_event("edge", "t", 60'000)});
  advance(60'000ms);
  BOOST_CHECK_EQUAL(effects("edge"), 1u);
}

BOOST_AUTO_TEST_CASE(a_failed_first_attempt_retries_with_backoff) {
  add_group("g", 1, [](const event&, uint32_t attempt, size_t) {
    return attempt == 1 ? fail(outcome::retryable, "not yet") : ok_effect();
  });
  start();
  publish({delayed_event("d", "t", 5000)});
  advance(5000ms);
  BOOST_CHECK_EQUAL(attempts_of(*probes, "d"), "1");
  BOOST_CHECK_EQUAL(status("d", "g"), event_status::retrying);
  // The backoff (1 s, jitter pinned) counts from the failed attempt.
  advance(999ms);
  BOOST_CHECK_EQUAL(probes->count("d"), 1u);
  advance(1ms);
  BOOST_CHECK_EQUAL(attempts_of(*probes, "d"), "1,2");
  BOOST_CHECK_EQUAL(effects("d"), 1u);
}

BOOST_AUTO_TEST_CASE(a_cancelled_event_never_runs) {
  add_group("g", 1, always_ok());
  add_group("h", 1, always_ok());
  start();
  publish(
    {delayed_event("d", "t", 10'000), delayed_event("keep", "t", 10'000)});
  advance(5000ms);
  auto r = ask<cancel_result>(*this, n.store, atom::cancel_v, std::string{"d"},
                              millis_t{0});
  BOOST_CHECK(r.delayed);
  BOOST_CHECK_EQUAL(r.cancelled.size(), 2u);
  advance_in_steps(60'000ms, 5000ms);
  BOOST_CHECK_EQUAL(probes->count("d"), 0u);
  BOOST_CHECK_EQUAL(status("d", "g"), event_status::cancelled);
  BOOST_CHECK_EQUAL(status("d", "h"), event_status::cancelled);
  BOOST_CHECK_EQUAL(effects("keep"), 2u);
}

BOOST_AUTO_TEST_CASE(a_node_started_over_the_store_runs_it_at_its_time) {
  add_group("g", 1, always_ok());
  start();
  publish({delayed_event("d", "t", 20'000)});
  advance(5000ms);
  // The node stops (its actors go; the store keeps the event) and a new
  // one starts over the same store.
  stop_node(sys, n);
  run();
  start();
  advance(15'000ms - 1ms);
  BOOST_CHECK_EQUAL(probes->count("d"), 0u);
  advance(1ms);
  BOOST_CHECK_EQUAL(probes->count("d"), 1u);
  BOOST_CHECK_EQUAL(effects("d"), 1u);
}

BOOST_AUTO_TEST_SUITE_END()
