// A due retry must never wait longer than its backoff plus a janitor round on
// a live node (issue 13, defect 6). The interleaving found by a chaos run:
// the deduplicator tells the retry timer about a new schedule entry before it
// answers the listener; the retry falls due and reaches the broadcaster while
// the failed attempt is still in flight there (parked); then the listener
// reports the attempt `scheduled`. The parked copy is the new attempt taken
// from the schedule, not an older one: it must run.

#include "tests/actors/fixture.hpp"

#include <caf/scheduled_actor.hpp>

#include <cstring>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

namespace {

bool is_listener(caf::resumable* job) {
  auto* self = dynamic_cast<caf::scheduled_actor*>(job);
  return self != nullptr && std::strcmp(self->name(), "listener") == 0;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(stalled_retry, fixture)

BOOST_AUTO_TEST_CASE(retry_due_while_its_attempt_reports_runs_after_backoff) {
  auto& g = add_group("g", 1, [](const event&, uint32_t attempt, size_t) {
    return attempt == 1 ? fail(outcome::retryable, "first attempt fails")
                        : ok_effect();
  });
  g.retry.base = 100;
  start();
  self->send(n.broadcaster, atom::ingest_v,
             std::vector<event>{make_event("e1", "t")});
  // Once attempt 1 ran, the listener's next message is the deduplicator's
  // answer to its settlement: hold it back.
  auto hold_listener = [this](caf::resumable* job) {
    return !(is_listener(job) && probes->count("e1") >= 1);
  };
  // Everything runs up to the settlement of attempt 1; the listener has not
  // read the deduplicator's answer yet.
  sched.run_jobs_filtered(hold_listener);
  BOOST_REQUIRE_EQUAL(probes->count("e1"), 1u);
  BOOST_REQUIRE(sched.has_job());
  // The backoff passes: the retry timer takes attempt 2 from the schedule
  // and hands it to the broadcaster, where attempt 1 is still in flight.
  sched.advance_time(100ms);
  sched.run_jobs_filtered(hold_listener);
  BOOST_REQUIRE(sched.has_job());
  // Now the listener reports attempt 1 as scheduled.
  run();
  // Attempt 2 runs within a janitor round, not after a lapsed take mark.
  advance_in_steps(1100ms, 100ms);
  BOOST_CHECK_EQUAL(probes->count("e1"), 2u);
  BOOST_CHECK_EQUAL(effects("e1", "g"), 1u);
  BOOST_CHECK(status("e1", "g") == event_status::processed);
}

BOOST_AUTO_TEST_SUITE_END()
