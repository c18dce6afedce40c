// Retention on the deterministic node: the broadcaster's janitor trims the
// store's settled history once it is older than `retention`; an unsettled
// entry holds the log back. Time moves only when a test advances it.

#include "actors/broadcaster.hpp"
#include "actors/dead_letter_queue.hpp"
#include "actors/deduplicator.hpp"
#include "actors/node_metrics.hpp"
#include "actors/retry_timer.hpp"
#include "actors/store_actor.hpp"
#include "tests/actors/fixture.hpp"

#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

namespace {

/// Log entries the broadcaster's trims removed, from its status.
int64_t trimmed(fixture& f) {
  return num(ask<caf::settings>(f, f.n.broadcaster, atom::status_v),
             "broadcaster.trimmed");
}

/// Trim calls the store actor served, from its status.
int64_t trim_calls(fixture& f) {
  return num(ask<caf::settings>(f, f.n.store, atom::status_v),
             "store.ops.trim.calls");
}

/// True if the store has the event (not trimmed).
bool kept(fixture& f, const std::string& id) {
  return f.st->find(id).seq != 0;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(retention, fixture)

BOOST_AUTO_TEST_CASE(janitor_trims_settled_events_a_pending_one_holds_back) {
  // "slow" takes 10 minutes (well within its lease): it stays pending while
  // the events before it are settled and old.
  auto& g = add_group("g", 2, [](const event& ev, uint32_t, size_t) {
    auto r = ok_effect();
    if (ev.id == "slow")
      r.latency = 600'000;
    return r;
  });
  g.batch_size = 1;
  g.lease_ttl = 3'600'000;
  ncfg.retention = 60'000;
  ncfg.trim_interval = 10'000;
  start();
  auto first = publish({make_event("a1", "t"), make_event("a2", "t")});
  publish({make_event("slow", "t")});
  publish({make_event("b1", "t")});
  BOOST_REQUIRE_EQUAL(effects("a1"), 1u);
  BOOST_REQUIRE_EQUAL(effects("a2"), 1u);
  BOOST_REQUIRE_EQUAL(effects("b1"), 1u);
  BOOST_REQUIRE(status("slow", "g") == event_status::in_flight);
  auto head = st->head();
  // Within retention nothing goes, although trims ran.
  advance_in_steps(50s, 10s);
  BOOST_CHECK_EQUAL(trim_calls(*this), 5);
  BOOST_CHECK_EQUAL(trimmed(*this), 0);
  for (auto id : {"a1", "a2", "slow", "b1"})
    BOOST_CHECK_MESSAGE(kept(*this, id), id << " trimmed too early");
  // Past it, the settled events before the pending one go; the pending one
  // and the settled one after it stay.
  advance_in_steps(20s, 10s);
  BOOST_CHECK_EQUAL(trimmed(*this), 2);
  BOOST_CHECK(!kept(*this, "a1"));
  BOOST_CHECK(!kept(*this, "a2"));
  BOOST_CHECK(status("a1", "g") == event_status::unknown);
  BOOST_CHECK_EQUAL(effects("a1"), 0u);
  BOOST_CHECK(status("slow", "g") == event_status::in_flight);
  BOOST_CHECK(status("b1", "g") == event_status::processed);
  BOOST_CHECK_EQUAL(n.metrics->counter_value(metric::trimmed, {}), 2u);
  advance_in_steps(60s, 10s);
  BOOST_CHECK_EQUAL(trimmed(*this), 2);
  BOOST_CHECK(kept(*this, "b1"));
  // Once "slow" settles, the rest goes.
  advance_in_steps(10min, 10s);
  BOOST_CHECK_EQUAL(probes->count("slow"), 1u);
  BOOST_CHECK_EQUAL(trimmed(*this), 4);
  BOOST_CHECK(!kept(*this, "slow"));
  BOOST_CHECK(!kept(*this, "b1"));
  BOOST_CHECK_EQUAL(n.metrics->counter_value(metric::trimmed, {}), 4u);
  BOOST_CHECK_EQUAL(st->head(), head);
  // Within the dedup window (24 h) a trimmed event is still a duplicate and
  // does not run again.
  auto again = publish({make_event("a1", "t")});
  BOOST_REQUIRE_EQUAL(again.size(), 1u);
  BOOST_CHECK(again[0].duplicate);
  BOOST_CHECK_EQUAL(again[0].seq, first.at(0).seq);
  advance_in_steps(30s, 10s);
  BOOST_CHECK_EQUAL(probes->count("a1"), 1u);
  BOOST_CHECK_EQUAL(st->head(), head);
}

BOOST_AUTO_TEST_CASE(trims_follow_at_once_while_a_call_removes_its_maximum) {
  add_group("g", 1, always_ok());
  // start_node with a broadcaster that trims at most 2 entries per call.
  n.metrics = metric::make_node_registry();
  n.store = spawn_store(sys, st, false);
  n.retry_timer = spawn_retry_timer(sys, n.store);
  n.dlq = spawn_dead_letter_queue(sys, n.store, n.retry_timer);
  n.dedup = spawn_deduplicator(sys, n.store, {n.store}, n.retry_timer, n.dlq);
  broadcaster_config bc;
  bc.groups = ncfg.groups;
  bc.handlers = &handlers;
  bc.jitter = [] {
    return 1.0;
  };
  bc.metrics = n.metrics;
  bc.retention = 55'000;
  bc.trim_interval = 10'000;
  bc.trim_max = 2;
  n.broadcaster = spawn_broadcaster(sys, bc, n.store, n.dedup);
  caf::anon_send(n.retry_timer, atom::join_v, n.broadcaster);
  run();
  std::vector<event> evs;
  for (int i = 0; i < 5; ++i)
    evs.push_back(make_event("e" + std::to_string(i), "t"));
  publish(evs);
  BOOST_REQUIRE_EQUAL(st->processed_count("g"), 5u);
  advance_in_steps(50s, 10s);
  auto calls = trim_calls(*this);
  BOOST_CHECK_EQUAL(calls, 5);
  BOOST_CHECK_EQUAL(trimmed(*this), 0);
  // One round: 2 + 2 + 1, the last call ends it.
  advance(10s);
  BOOST_CHECK_EQUAL(trimmed(*this), 5);
  BOOST_CHECK_EQUAL(trim_calls(*this), calls + 3);
  for (auto& ev : evs)
    BOOST_CHECK(!kept(*this, ev.id));
  // The next round comes an interval later.
  advance(9999ms);
  BOOST_CHECK_EQUAL(trim_calls(*this), calls + 3);
  advance(1ms);
  BOOST_CHECK_EQUAL(trim_calls(*this), calls + 4);
}

BOOST_AUTO_TEST_CASE(failed_trims_are_tried_again_and_never_fatal) {
  // A file store that refuses writes at once while another connection
  // holds the write lock.
  auto tmpl
    = (std::filesystem::temp_directory_path() / "onceflow-retention-XXXXXX")
        .string();
  BOOST_REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  std::filesystem::path dir = tmpl;
  auto path = (dir / "store.db").string();
  sqlite_options so;
  so.path = path;
  so.busy_timeout_ms = 0;
  st = make_sqlite_store(so);
  add_group("g", 1, always_ok());
  ncfg.retention = 55'000;
  ncfg.trim_interval = 10'000;
  start();
  publish({make_event("e1", "t"), make_event("e2", "t")});
  BOOST_REQUIRE_EQUAL(effects("e1"), 1u);
  advance_in_steps(50s, 10s);
  sqlite3* other = nullptr;
  BOOST_REQUIRE_EQUAL(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  BOOST_REQUIRE_EQUAL(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr,
                                   nullptr),
                      SQLITE_OK);
  advance_in_steps(30s, 10s);
  auto bs = ask<caf::settings>(*this, n.broadcaster, atom::status_v);
  BOOST_CHECK_EQUAL(num(bs, "broadcaster.trim-failures"), 3);
  BOOST_CHECK_EQUAL(num(bs, "broadcaster.trimmed"), 0);
  BOOST_CHECK(kept(*this, "e1"));
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  // The node goes on: the next round trims, new events are processed.
  advance(10s);
  BOOST_CHECK_EQUAL(trimmed(*this), 2);
  BOOST_CHECK(!kept(*this, "e1"));
  publish({make_event("e3", "t")});
  BOOST_CHECK_EQUAL(effects("e3"), 1u);
  // Close the store before its directory goes (stopping again is a no-op).
  stop_node(sys, n);
  run();
  st.reset();
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
