// Leases granted with the read (store::read_leased): first deliveries run
// without a claim of their own; a lease left too short is taken over
// without counting a crash redelivery; leases of entries that wait unrun
// (pause, drain) are given back. Effects are counted from the store's
// processed records, crash redeliveries from the attempt history.

#include "tests/actors/fixture.hpp"

#include <algorithm>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

namespace {

std::vector<event> numbered(const std::string& prefix, int n) {
  std::vector<event> evs;
  for (int i = 0; i < n; ++i)
    evs.push_back(fixture::make_event(prefix + std::to_string(i), "t"));
  return evs;
}

/// A script that succeeds after `latency` ms per event.
probe_handler::script slow_ok(millis_t latency) {
  return [latency](const event&, uint32_t, size_t) {
    auto r = ok_effect();
    r.latency = latency;
    return r;
  };
}

/// Read leases on: the node's default for a shared store (Redis), off by
/// default for the embedded store these tests run on.
struct leasing_fixture : fixture {
  leasing_fixture() {
    ncfg.read_leases = true;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(read_leases, leasing_fixture)

BOOST_AUTO_TEST_CASE(first_deliveries_run_under_the_reads_leases) {
  add_group("g", 2, always_ok()).batch_size = 10;
  start();
  publish(numbered("e", 100));
  for (int i = 0; i < 100; ++i)
    BOOST_CHECK_EQUAL(effects("e" + std::to_string(i)), 1u);
  auto bs = ask<caf::settings>(*this, n.broadcaster, atom::status_v);
  BOOST_CHECK_EQUAL(num(bs, "groups.g.read-leases"), 100);
  // One lease per event, all granted by reads: a claim would have been
  // held off by the read's lease or granted a second one.
  auto ds = ask<caf::settings>(*this, n.dedup, atom::status_v);
  BOOST_CHECK_EQUAL(num(ds, "deduplicator.leases-granted"), 100);
  BOOST_CHECK_EQUAL(num(ds, "deduplicator.claims-held"), 0);
  BOOST_CHECK_EQUAL(num(ds, "deduplicator.settled"), 100);
}

BOOST_AUTO_TEST_CASE(rate_limited_groups_read_without_leases) {
  auto& g = add_group("g", 1, always_ok());
  g.rate_limit = 1000;
  g.rate_burst = 1000;
  start();
  publish(numbered("e", 20));
  for (int i = 0; i < 20; ++i)
    BOOST_CHECK_EQUAL(effects("e" + std::to_string(i)), 1u);
  auto bs = ask<caf::settings>(*this, n.broadcaster, atom::status_v);
  BOOST_CHECK_EQUAL(num(bs, "groups.g.read-leases"), 0);
  auto ds = ask<caf::settings>(*this, n.dedup, atom::status_v);
  BOOST_CHECK_EQUAL(num(ds, "deduplicator.leases-granted"), 20);
}

/// Batches of 2 taking 10 s each: entries read at t=0 wait in the queue
/// while their lease runs down; those dispatched with less than 3/4 of it
/// left, or after it expired, are claimed, taking the read's lease over.
BOOST_AUTO_TEST_CASE(a_lease_run_down_in_the_queue_is_taken_over) {
  add_group("g", 1, slow_ok(5000)).batch_size = 2;
  start();
  publish(numbered("e", 10));
  advance_in_steps(80s, 1s);
  for (int i = 0; i < 10; ++i) {
    auto id = "e" + std::to_string(i);
    BOOST_CHECK_EQUAL(effects(id), 1u);
    BOOST_CHECK_EQUAL(probes->count(id), 1u);
    // No crash redelivery: one attempt, the successful one.
    auto h = st->history_of(id);
    BOOST_REQUIRE_EQUAL(h.size(), 1u);
    BOOST_CHECK_EQUAL(h[0].attempts.size(), 1u);
  }
  auto ds = ask<caf::settings>(*this, n.dedup, atom::status_v);
  BOOST_CHECK_EQUAL(num(ds, "deduplicator.claims-held"), 0);
  BOOST_CHECK_EQUAL(num(ds, "deduplicator.refused-stale"), 0);
  // Some took over: more leases than events.
  BOOST_CHECK_GT(num(ds, "deduplicator.leases-granted"), 10);
  // The janitor gave back the run-down leases of entries still queued
  // (another node's claim after a reclaim would have counted a crash).
  auto bs = ask<caf::settings>(*this, n.broadcaster, atom::status_v);
  BOOST_CHECK_GT(num(bs, "groups.g.read-leases-released"), 0);
}

BOOST_AUTO_TEST_CASE(pause_gives_the_queued_entries_leases_back) {
  add_group("g", 1, slow_ok(500)).batch_size = 2;
  start();
  auto rs = publish(numbered("e", 10));
  // One batch runs; the rest of the read (8 = 4 batches ahead) waits.
  auto bs = ask<caf::settings>(*this, n.broadcaster, atom::status_v);
  BOOST_CHECK_EQUAL(num(bs, "groups.g.read-leases"), 8);
  BOOST_CHECK_EQUAL(num(bs, "groups.g.queued"), 6);
  BOOST_CHECK(
    ask<bool>(*this, n.broadcaster, atom::pause_v, std::string{"g"}, true));
  bs = ask<caf::settings>(*this, n.broadcaster, atom::status_v);
  BOOST_CHECK_EQUAL(num(bs, "groups.g.read-leases-released"), 6);
  // Long after the leases would have expired, another node's claim of a
  // waiting entry counts no crash redelivery: nothing ran under its lease.
  advance_in_steps(60s, 1s);
  auto d = st->claim({claim_request{"g", "e7", rs[7].seq}}, "other-node",
                     to_millis(sched.clock().now()), 30000, 3);
  BOOST_REQUIRE_EQUAL(d.size(), 1u);
  BOOST_CHECK(d[0].kind == claim_decision::granted);
  BOOST_CHECK_EQUAL(d[0].redeliveries, 0u);
  // Resumed, the node claims the others afresh: each runs once (e7 is the
  // other node's now).
  BOOST_CHECK(
    !ask<bool>(*this, n.broadcaster, atom::pause_v, std::string{"g"}, false));
  advance_in_steps(20s, 500ms);
  for (int i = 0; i < 10; ++i) {
    if (i == 7)
      continue;
    auto id = "e" + std::to_string(i);
    BOOST_CHECK_EQUAL(effects(id), 1u);
    auto h = st->history_of(id);
    BOOST_REQUIRE_EQUAL(h.size(), 1u);
    BOOST_CHECK_EQUAL(h[0].attempts.size(), 1u);
  }
}

BOOST_AUTO_TEST_CASE(drain_gives_the_queued_entries_leases_back) {
  add_group("g", 1, slow_ok(500)).batch_size = 2;
  start();
  auto rs = publish(numbered("e", 10));
  self->send(n.broadcaster, atom::drain_v, millis_t{10000});
  run();
  advance(1000ms);
  bool drained = false;
  self->receive([&](bool x) { drained = x; });
  BOOST_CHECK(drained);
  auto bs = ask<caf::settings>(*this, n.broadcaster, atom::status_v);
  BOOST_CHECK_EQUAL(num(bs, "groups.g.read-leases-released"), 6);
  // The batch that ran is done; the others wait for the next node with no
  // lease on them: a claim is granted at once, no redelivery counted.
  size_t done = 0;
  for (int i = 0; i < 10; ++i) {
    auto id = "e" + std::to_string(i);
    if (effects(id) == 1) {
      ++done;
      continue;
    }
    auto d = st->claim({claim_request{"g", id, rs[i].seq}}, "next-node",
                       to_millis(sched.clock().now()), 1000, 3);
    BOOST_REQUIRE_EQUAL(d.size(), 1u);
    BOOST_CHECK(d[0].kind == claim_decision::granted);
    BOOST_CHECK_EQUAL(d[0].redeliveries, 0u);
  }
  BOOST_CHECK_EQUAL(done, 2u);
}

/// A read that comes back short while an append lands (appends go over a
/// store actor of their own, as on Redis) must not leave the new entries
/// waiting for the janitor's next round: the read's short answer predates
/// them. Here the deduplicator, which forwards the read, answers only after
/// the second append was answered.
BOOST_AUTO_TEST_CASE(an_append_during_a_short_read_is_read_at_once) {
  add_group("g", 1, always_ok());
  n = start_node(
    sys, ncfg, st, false, [] { return 1.0; }, &handlers, extra_stores{st, {}});
  run();
  publish({make_event("e1", "t")});
  BOOST_REQUIRE_EQUAL(probes->count("e1"), 1u);
  auto* dedup = dynamic_cast<caf::resumable*>(
    caf::actor_cast<caf::abstract_actor*>(n.dedup));
  BOOST_REQUIRE(dedup != nullptr);
  // Runs every job but the deduplicator's, except `dedup_turns` of those.
  auto run_holding_dedup = [&](int dedup_turns) {
    for (;;) {
      caf::resumable* next = nullptr;
      for (auto* job : sched.jobs)
        if (job != dedup || dedup_turns > 0) {
          next = job;
          break;
        }
      if (next == nullptr)
        return;
      if (next == dedup)
        --dedup_turns;
      auto i = std::find(sched.jobs.begin(), sched.jobs.end(), next);
      sched.jobs.erase(i);
      sched.jobs.push_front(next);
      sched.run_once();
    }
  };
  // e2: appended, then read (the deduplicator forwards the read once); the
  // store runs the read, its answer waits at the deduplicator.
  self->send(n.broadcaster, atom::ingest_v,
             std::vector<event>{make_event("e2", "t")});
  run_holding_dedup(1);
  // e3 is appended and answered meanwhile.
  self->send(n.broadcaster, atom::ingest_v,
             std::vector<event>{make_event("e3", "t")});
  run_holding_dedup(0);
  self->receive([](std::vector<append_result>&) {},
                [](caf::error& err) { BOOST_FAIL(render(err)); });
  self->receive([](std::vector<append_result>&) {},
                [](caf::error& err) { BOOST_FAIL(render(err)); });
  BOOST_CHECK_EQUAL(probes->count("e3"), 0u);
  // Now the short read's answer arrives: e3 is read at once, no time
  // passes (the janitor would come after 1 s).
  run();
  BOOST_CHECK_EQUAL(probes->count("e2"), 1u);
  BOOST_CHECK_EQUAL(probes->count("e3"), 1u);
  BOOST_CHECK_EQUAL(effects("e3"), 1u);
}

BOOST_AUTO_TEST_SUITE_END()
