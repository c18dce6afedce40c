// A due retry must never wait longer than its backoff plus a janitor round on
// a live node (issue 13, defect 6). The interleaving found by a chaos run:
// the retry of a failed attempt falls due and reaches the broadcaster while
// that attempt is still in flight there (parked), because its report comes
// later; then the attempt is reported `scheduled`. The parked copy is the
// new attempt taken from the schedule, not an older one: it must run.
//
// The deduplicator commits a batch, tells the retry timer of new schedule
// entries and then reports the batch to the broadcaster. A timer armed for
// an earlier entry can take the new one between the commit and the report
// (the first test, which holds the deduplicator there); or the report and
// the retry wait in the broadcaster's mailbox together (the second, which
// holds the broadcaster).

#include "tests/actors/fixture.hpp"

#include <caf/scheduled_actor.hpp>

#include <cstring>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

namespace {

bool is_actor(caf::resumable* job, const char* name) {
  auto* a = dynamic_cast<caf::scheduled_actor*>(job);
  return a != nullptr && std::strcmp(a->name(), name) == 0;
}

bool is_broadcaster(caf::resumable* job) {
  return is_actor(job, "broadcaster");
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(stalled_retry, fixture)

BOOST_AUTO_TEST_CASE(retry_taken_before_its_attempt_is_reported_runs) {
  auto& g = add_group("g", 1, first_attempt_fails());
  g.retry.base = 100;
  start();
  // e0 fails first: the retry timer is armed for its retry, 100 ms ahead.
  publish({make_event("e0", "t")});
  BOOST_REQUIRE_EQUAL(probes->count("e0"), 1u);
  // e1 fails at the same time; once its retry is in the schedule, the
  // deduplicator is held: the store's answer (and with it e1's report)
  // waits in its mailbox, e1 stays in flight at the broadcaster.
  auto hold_dedup = [this](caf::resumable* job) {
    return !(is_actor(job, "deduplicator")
             && status("e1", "g") == event_status::retrying);
  };
  self->send(n.broadcaster, atom::ingest_v,
             std::vector<event>{make_event("e1", "t")});
  sched.run_jobs_filtered(hold_dedup);
  BOOST_REQUIRE_EQUAL(probes->count("e1"), 1u);
  BOOST_REQUIRE(status("e1", "g") == event_status::retrying);
  // The broadcaster's count, asked while the deduplicator is held.
  auto in_flight = [&] {
    self->send(n.broadcaster, atom::status_v);
    sched.run_jobs_filtered(hold_dedup);
    uint64_t result = 0;
    self->receive(
      [&](caf::settings& s) {
        result = caf::get_or(s, "groups.g.in-flight", uint64_t{0});
      },
      [&](caf::error& err) { BOOST_FAIL("status: " << render(err)); });
    return result;
  };
  BOOST_REQUIRE_EQUAL(in_flight(), 1u);
  // The backoff passes: the timer armed for e0 takes every due retry, e1's
  // too, and hands them to the broadcaster, where e1 is still in flight.
  sched.advance_time(100ms);
  sched.run_jobs_filtered(hold_dedup);
  BOOST_REQUIRE_EQUAL(in_flight(), 1u);
  BOOST_REQUIRE_EQUAL(probes->count("e1"), 1u);
  // Now the deduplicator reports attempt 1 as scheduled: the parked attempt
  // 2 runs within a janitor round.
  run();
  advance_in_steps(1100ms, 100ms);
  BOOST_CHECK_EQUAL(probes->count("e1"), 2u);
  BOOST_CHECK_EQUAL(effects("e1", "g"), 1u);
  BOOST_CHECK(status("e1", "g") == event_status::processed);
  BOOST_CHECK_EQUAL(probes->count("e0"), 2u);
  BOOST_CHECK_EQUAL(effects("e0", "g"), 1u);
}

BOOST_AUTO_TEST_CASE(retry_due_while_its_attempt_reports_runs_after_backoff) {
  auto& g = add_group("g", 1, first_attempt_fails());
  g.retry.base = 100;
  start();
  self->send(n.broadcaster, atom::ingest_v,
             std::vector<event>{make_event("e1", "t")});
  // Once attempt 1 ran, hold the broadcaster: the deduplicator settles the
  // attempt and reports it, the report waits in the broadcaster's mailbox.
  auto hold_broadcaster = [&](caf::resumable* job) {
    return !(is_broadcaster(job) && probes->count("e1") >= 1);
  };
  sched.run_jobs_filtered(hold_broadcaster);
  BOOST_REQUIRE_EQUAL(probes->count("e1"), 1u);
  BOOST_REQUIRE(sched.has_job());
  // The backoff passes: the retry timer takes attempt 2 from the schedule
  // and hands it to the broadcaster, where attempt 1 is still in flight.
  sched.advance_time(100ms);
  sched.run_jobs_filtered(hold_broadcaster);
  BOOST_REQUIRE(sched.has_job());
  // Now the broadcaster reads the report and the retry.
  run();
  // Attempt 2 runs within a janitor round, not after a lapsed take mark.
  advance_in_steps(1100ms, 100ms);
  BOOST_CHECK_EQUAL(probes->count("e1"), 2u);
  BOOST_CHECK_EQUAL(effects("e1", "g"), 1u);
  BOOST_CHECK(status("e1", "g") == event_status::processed);
}

BOOST_AUTO_TEST_SUITE_END()
