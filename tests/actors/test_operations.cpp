// Deterministic actor tests of the operational surface: the DLQ actor (list,
// inspect, replay one / all at a rate, purge), the built-in handlers, per-type
// rate limits, batch-wait, `status` of every long-lived actor and the event
// status query. Everything runs on CAF's test coordinator; time moves only
// when a test advances it; effects are counted from the store's records.

#include "tests/actors/fixture.hpp"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

namespace {

caf::settings status_of(fixture& f, const dead_letter_queue_actor& h) {
  return ask<caf::settings>(f, h, atom::status_v);
}

probe_handler::script always_permanent(std::string msg) {
  return [msg](const event&, uint32_t, size_t) {
    return fail(outcome::permanent, msg);
  };
}

/// Fails permanently until `*healed` is set.
probe_handler::script until_healed(std::shared_ptr<bool> healed,
                                   std::string msg) {
  return [healed, msg](const event&, uint32_t, size_t) {
    return *healed ? ok_effect() : fail(outcome::permanent, msg);
  };
}

std::string id_of(const char* prefix, int i) {
  return prefix + std::to_string(i);
}

group_config builtin_group(const std::string& name, const std::string& hdl) {
  group_config g;
  g.name = name;
  g.handler = hdl;
  g.concurrency = 1;
  g.subscriptions = {"*"};
  g.lease_ttl = 30000;
  return g;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(operations, fixture)

// -- DLQ ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(dlq_list_filters_by_group_and_paginates) {
  add_group("a", 1, always_permanent("a down"), {"*"});
  add_group("b", 1, always_permanent("b down"), {"x.*"});
  start();
  std::vector<event> evs;
  for (int i = 0; i < 4; ++i)
    evs.push_back(make_event(id_of("x", i), "x.t"));
  for (int i = 0; i < 3; ++i)
    evs.push_back(make_event(id_of("y", i), "y.t"));
  publish(evs);
  // a: 7 dead letters (every event); b: 4 (x.* only).
  auto all = ask<dlq_page>(*this, n.dlq, atom::list_v, dlq_query{"", 0, 100});
  BOOST_CHECK_EQUAL(all.entries.size(), 11u);
  BOOST_CHECK_EQUAL(all.positions.size(), all.entries.size());
  // Group filter.
  auto b = ask<dlq_page>(*this, n.dlq, atom::list_v, dlq_query{"b", 0, 100});
  BOOST_REQUIRE_EQUAL(b.entries.size(), 4u);
  std::set<std::string> b_ids;
  for (auto& e : b.entries) {
    BOOST_CHECK_EQUAL(e.dl.group, "b");
    BOOST_CHECK(e.reason == dlq_reason::permanent_error);
    BOOST_CHECK_EQUAL(e.last_error, "b down");
    b_ids.insert(e.dl.ev.id);
  }
  BOOST_CHECK((b_ids == std::set<std::string>{"x0", "x1", "x2", "x3"}));
  // Cursor pagination over group a, 3 per page: 3, 3, 1, then nothing.
  std::vector<size_t> page_sizes;
  std::vector<std::string> a_ids;
  uint64_t after = 0;
  for (int guard = 0; guard < 10; ++guard) {
    auto page = ask<dlq_page>(*this, n.dlq, atom::list_v,
                              dlq_query{"a", after, 3});
    BOOST_REQUIRE_EQUAL(page.positions.size(), page.entries.size());
    if (page.entries.empty())
      break;
    page_sizes.push_back(page.entries.size());
    for (size_t i = 0; i < page.entries.size(); ++i) {
      BOOST_CHECK_EQUAL(page.entries[i].dl.group, "a");
      BOOST_CHECK_GT(page.positions[i], after); // strictly after the cursor
      after = page.positions[i];
      a_ids.push_back(page.entries[i].dl.ev.id);
    }
  }
  BOOST_CHECK((page_sizes == std::vector<size_t>{3, 3, 1}));
  // Every dead event of group a exactly once over all pages.
  BOOST_CHECK_EQUAL(a_ids.size(), 7u);
  std::set<std::string> a_set(a_ids.begin(), a_ids.end());
  BOOST_CHECK_EQUAL(a_set.size(), 7u);
  BOOST_CHECK(a_set.count("y2") == 1 && a_set.count("x0") == 1);
  // Listing changes nothing.
  BOOST_CHECK_EQUAL(st->dlq_size(), 11u);
}

BOOST_AUTO_TEST_CASE(dlq_inspect_shows_every_attempt) {
  auto& g = add_group("g", 1, [](const event&, uint32_t attempt, size_t) {
    return fail(outcome::retryable, "boom " + std::to_string(attempt));
  });
  g.retry.max_attempts = 3;
  start();
  publish({make_event("e1", "order.created", R"({"order":42})")});
  advance(1000ms);
  advance(2000ms);
  BOOST_REQUIRE_EQUAL(probes->count("e1"), 3u);
  auto entries = ask<std::vector<dlq_entry>>(*this, n.dlq, atom::inspect_v,
                                             std::string{"e1"});
  BOOST_REQUIRE_EQUAL(entries.size(), 1u);
  auto& e = entries[0];
  BOOST_CHECK_EQUAL(e.dl.group, "g");
  BOOST_CHECK_EQUAL(e.dl.ev.id, "e1");
  BOOST_CHECK_EQUAL(e.dl.ev.type, "order.created");
  BOOST_CHECK_EQUAL(e.dl.ev.payload, R"({"order":42})");
  BOOST_CHECK(e.reason == dlq_reason::retries_exhausted);
  BOOST_CHECK_EQUAL(e.last_error, "boom 3");
  auto& h = e.dl.history;
  BOOST_REQUIRE_EQUAL(h.size(), 3u);
  for (size_t i = 0; i < h.size(); ++i) {
    BOOST_TEST_CONTEXT("attempt record " << i) {
      BOOST_CHECK_EQUAL(h[i].attempt, i + 1);
      BOOST_CHECK_EQUAL(h[i].node, "node-1");
      BOOST_CHECK(h[i].listener.rfind("g/", 0) == 0); // "<group>/<n>"
      BOOST_CHECK(h[i].result == outcome::retryable);
      BOOST_CHECK_EQUAL(h[i].error, "boom " + std::to_string(i + 1));
      BOOST_CHECK_GT(h[i].epoch, 0u);
      BOOST_CHECK_GT(h[i].at, 0);
      if (i > 0) {
        BOOST_CHECK_GT(h[i].epoch, h[i - 1].epoch);
        BOOST_CHECK_GE(h[i].at, h[i - 1].at);
      }
    }
  }
  // Backoff (no jitter): 1 s, then 2 s between the attempts.
  BOOST_CHECK_GE(h[1].at - h[0].at, 1000);
  BOOST_CHECK_GE(h[2].at - h[1].at, 2000);
  BOOST_CHECK_GE(e.dead_at, h[2].at);
  // An unknown id has no entries.
  auto none = ask<std::vector<dlq_entry>>(*this, n.dlq, atom::inspect_v,
                                          std::string{"nope"});
  BOOST_CHECK(none.empty());
}

BOOST_AUTO_TEST_CASE(dlq_replay_one_group_of_event_dead_in_two) {
  auto healed_a = std::make_shared<bool>(false);
  auto healed_b = std::make_shared<bool>(false);
  add_group("a", 1, until_healed(healed_a, "a down"));
  add_group("b", 1, until_healed(healed_b, "b down"));
  start();
  publish({make_event("e1", "t"), make_event("e2", "t")});
  BOOST_REQUIRE_EQUAL(st->dlq_get("e1").size(), 2u);
  BOOST_REQUIRE_EQUAL(st->dlq_get("e2").size(), 2u);
  // Replay e1 in group a only.
  *healed_a = true;
  auto n1 = ask<uint64_t>(*this, n.dlq, atom::replay_v, std::string{"e1"},
                          std::string{"a"});
  BOOST_CHECK_EQUAL(n1, 1u);
  advance_in_steps(100ms, 10ms);
  BOOST_CHECK_EQUAL(effects("e1", "a"), 1u);
  BOOST_CHECK_EQUAL(effects("e1", "b"), 0u);
  BOOST_CHECK(status("e1", "a") == event_status::processed);
  BOOST_CHECK(status("e1", "b") == event_status::dead);
  auto rec = st->processed_of("e1");
  BOOST_REQUIRE_EQUAL(rec.size(), 1u);
  BOOST_CHECK_EQUAL(rec[0].attempt, 1u); // attempt counter reset by replay
  auto left = ask<std::vector<dlq_entry>>(*this, n.dlq, atom::inspect_v,
                                          std::string{"e1"});
  BOOST_REQUIRE_EQUAL(left.size(), 1u);
  BOOST_CHECK_EQUAL(left[0].dl.group, "b");
  // e2 untouched in both groups.
  BOOST_CHECK_EQUAL(st->dlq_get("e2").size(), 2u);
  BOOST_CHECK_EQUAL(effects("e2"), 0u);
  // Nothing left to replay for (e1, a).
  BOOST_CHECK_EQUAL(ask<uint64_t>(*this, n.dlq, atom::replay_v,
                                  std::string{"e1"}, std::string{"a"}),
                    0u);
  // Replaying (e1, b) while b still fails: dead again, history kept.
  BOOST_CHECK_EQUAL(ask<uint64_t>(*this, n.dlq, atom::replay_v,
                                  std::string{"e1"}, std::string{"b"}),
                    1u);
  advance_in_steps(100ms, 10ms);
  auto again = st->dlq_get("e1");
  BOOST_REQUIRE_EQUAL(again.size(), 1u);
  BOOST_CHECK_EQUAL(again[0].dl.group, "b");
  BOOST_CHECK(again[0].reason == dlq_reason::permanent_error);
  BOOST_REQUIRE_EQUAL(again[0].dl.history.size(), 2u);
  BOOST_CHECK_EQUAL(again[0].dl.history[0].attempt, 1u);
  BOOST_CHECK_EQUAL(again[0].dl.history[1].attempt, 1u);
  BOOST_CHECK_GT(again[0].dl.history[1].epoch, again[0].dl.history[0].epoch);
  // Healed: replaying all of e1's groups ("" ) finishes it; a stays once.
  *healed_b = true;
  BOOST_CHECK_EQUAL(ask<uint64_t>(*this, n.dlq, atom::replay_v,
                                  std::string{"e1"}, std::string{}),
                    1u);
  advance_in_steps(100ms, 10ms);
  BOOST_CHECK_EQUAL(effects("e1", "a"), 1u);
  BOOST_CHECK_EQUAL(effects("e1", "b"), 1u);
  BOOST_CHECK(st->dlq_get("e1").empty());
  BOOST_CHECK_EQUAL(st->dlq_get("e2").size(), 2u);
  auto s = status_of(*this, n.dlq);
  BOOST_CHECK_EQUAL(num(s, "dlq.replayed"), 3);
}

BOOST_AUTO_TEST_CASE(dlq_purge_one_and_all) {
  add_group("a", 1, always_permanent("a down"));
  add_group("b", 1, always_permanent("b down"));
  start();
  publish(
    {make_event("e1", "t"), make_event("e2", "t"), make_event("e3", "t")});
  BOOST_REQUIRE_EQUAL(st->dlq_size(), 6u);
  auto calls = probes->calls.size();
  BOOST_CHECK_EQUAL(
    ask<uint64_t>(*this, n.dlq, atom::purge_v, std::string{"e1"}), 2u);
  BOOST_CHECK(st->dlq_get("e1").empty());
  BOOST_CHECK_EQUAL(st->dlq_get("e2").size(), 2u);
  BOOST_CHECK_EQUAL(st->dlq_size(), 4u);
  // Purging what is not there deletes nothing.
  BOOST_CHECK_EQUAL(
    ask<uint64_t>(*this, n.dlq, atom::purge_v, std::string{"e1"}), 0u);
  BOOST_CHECK_EQUAL(
    ask<uint64_t>(*this, n.dlq, atom::purge_v, std::string{"unknown"}), 0u);
  // "" purges every entry.
  BOOST_CHECK_EQUAL(ask<uint64_t>(*this, n.dlq, atom::purge_v, std::string{}),
                    4u);
  BOOST_CHECK_EQUAL(st->dlq_size(), 0u);
  auto page = ask<dlq_page>(*this, n.dlq, atom::list_v, dlq_query{"", 0, 100});
  BOOST_CHECK(page.entries.empty());
  // Purged entries are gone for good: nothing to replay, nothing re-runs.
  BOOST_CHECK_EQUAL(ask<uint64_t>(*this, n.dlq, atom::replay_v,
                                  std::string{"e2"}, std::string{}),
                    0u);
  BOOST_CHECK_EQUAL(
    ask<uint64_t>(*this, n.dlq, atom::replay_all_v, 100.0, std::string{}), 0u);
  advance_in_steps(5000ms, 100ms);
  BOOST_CHECK_EQUAL(probes->calls.size(), calls);
  BOOST_CHECK_EQUAL(st->processed_count(""), 0u);
  auto s = status_of(*this, n.dlq);
  BOOST_CHECK_EQUAL(num(s, "dlq.dead-lettered"), 6);
  BOOST_CHECK_EQUAL(num(s, "dlq.purged"), 6);
  BOOST_CHECK_EQUAL(num(s, "dlq.replayed"), 0);
}

BOOST_AUTO_TEST_CASE(dlq_purge_group) {
  add_group("a", 1, always_permanent("a down"));
  add_group("b", 1, always_permanent("b down"));
  add_group("c", 1, always_permanent("c down"), {"x.*"});
  start();
  publish(
    {make_event("e1", "t"), make_event("e2", "t"), make_event("e3", "t")});
  BOOST_REQUIRE_EQUAL(st->dlq_size(), 6u);
  auto purge = [&](const std::string& group) {
    return ask<uint64_t>(*this, n.dlq, atom::purge_v, atom::groups_v, group);
  };
  BOOST_CHECK_EQUAL(purge("c"), 0u); // configured, nothing dead
  BOOST_CHECK_EQUAL(purge("a"), 3u);
  BOOST_CHECK_EQUAL(st->dlq_count("a"), 0u);
  BOOST_CHECK_EQUAL(st->dlq_count("b"), 3u);
  BOOST_CHECK_EQUAL(num(status_of(*this, n.dlq), "dlq.purged"), 3);
  BOOST_CHECK_EQUAL(num(ask<caf::settings>(*this, n.store, atom::status_v),
                        "store.dlq-size"),
                    3);
  // A group neither configured nor in the DLQ.
  self->send(n.dlq, atom::purge_v, atom::groups_v, std::string{"nope"});
  run();
  self->receive([](uint64_t) { BOOST_FAIL("purged an unknown group"); },
                [](caf::error& err) {
                  BOOST_CHECK_EQUAL(render(err),
                                    "unknown_group: unknown group 'nope' "
                                    "(groups of this node: a, b, c)");
                });
  // "" purges every group; the purged events never run again.
  auto calls = probes->calls.size();
  BOOST_CHECK_EQUAL(purge(""), 3u);
  BOOST_CHECK_EQUAL(st->dlq_size(), 0u);
  BOOST_CHECK_EQUAL(num(status_of(*this, n.dlq), "dlq.purged"), 6);
  BOOST_CHECK_EQUAL(
    ask<uint64_t>(*this, n.dlq, atom::replay_all_v, 100.0, std::string{}), 0u);
  advance_in_steps(3000ms, 100ms);
  BOOST_CHECK_EQUAL(probes->calls.size(), calls);
}

BOOST_AUTO_TEST_CASE(dlq_replay_all_at_rate) {
  auto healed = std::make_shared<bool>(false);
  add_group("g", 2, until_healed(healed, "down"));
  start();
  std::vector<event> evs;
  for (int i = 0; i < 20; ++i)
    evs.push_back(make_event(id_of("e", i), "t"));
  publish(evs);
  BOOST_REQUIRE_EQUAL(st->dlq_size(), 20u);
  auto s = status_of(*this, n.dlq);
  BOOST_CHECK_EQUAL(num(s, "dlq.dead-lettered"), 20);
  *healed = true;
  BOOST_CHECK_EQUAL(
    ask<uint64_t>(*this, n.dlq, atom::replay_all_v, 10.0, std::string{}), 20u);
  s = status_of(*this, n.dlq);
  BOOST_CHECK_EQUAL(caf::get_or(s, "dlq.replay-rate", 0.0), 10.0);
  BOOST_CHECK_GE(num(s, "dlq.replay-remaining"), 18);
  auto done = [&] {
    return st->processed_count("g");
  };
  // 10 events/s: about 5 after 0.5 s, about 10 after 1 s.
  advance_in_steps(500ms, 50ms);
  BOOST_TEST_MESSAGE("replayed after 0.5 s: " << done());
  BOOST_CHECK_GE(done(), 4u);
  BOOST_CHECK_LE(done(), 7u);
  advance_in_steps(500ms, 50ms);
  BOOST_TEST_MESSAGE("replayed after 1 s: " << done());
  BOOST_CHECK_GE(done(), 9u);
  BOOST_CHECK_LE(done(), 12u);
  s = status_of(*this, n.dlq);
  auto remaining = num(s, "dlq.replay-remaining");
  BOOST_CHECK_GT(remaining, 0);
  BOOST_CHECK_EQUAL(static_cast<uint64_t>(remaining) + done(), 20u);
  BOOST_CHECK_EQUAL(st->dlq_size(), static_cast<uint64_t>(remaining));
  // Well within 3 s all are back, each processed exactly once.
  advance_in_steps(2000ms, 50ms);
  BOOST_CHECK_EQUAL(done(), 20u);
  for (int i = 0; i < 20; ++i)
    BOOST_CHECK_EQUAL(effects(id_of("e", i)), 1u);
  BOOST_CHECK_EQUAL(st->dlq_size(), 0u);
  s = status_of(*this, n.dlq);
  BOOST_CHECK_EQUAL(num(s, "dlq.replayed"), 20);
  BOOST_CHECK_EQUAL(num(s, "dlq.replay-remaining"), 0);
  // Nothing more happens afterwards.
  advance_in_steps(5000ms, 500ms);
  BOOST_CHECK_EQUAL(probes->calls.size(), 40u);
  BOOST_CHECK_EQUAL(done(), 20u);
}

// -- built-in handlers -------------------------------------------------------

BOOST_AUTO_TEST_CASE(simulate_handler_obeys_payload_directives) {
  ncfg.groups.push_back(builtin_group("sim", "simulate"));
  start();
  publish({make_event("twice", "t", R"({"simulate":{"fail_attempts":2}})"),
           make_event("perm", "t", R"({"simulate":{"permanent":true}})"),
           make_event("plain", "t", R"({"n":1})")});
  // Plain: processed at once, one effect on the first attempt.
  BOOST_CHECK(status("plain", "sim") == event_status::processed);
  auto plain = st->processed_of("plain");
  BOOST_REQUIRE_EQUAL(plain.size(), 1u);
  BOOST_CHECK_EQUAL(plain[0].attempt, 1u);
  // Permanent: straight to the DLQ after one attempt.
  BOOST_CHECK(status("perm", "sim") == event_status::dead);
  auto dead = st->dlq_get("perm");
  BOOST_REQUIRE_EQUAL(dead.size(), 1u);
  BOOST_CHECK(dead[0].reason == dlq_reason::permanent_error);
  BOOST_REQUIRE_EQUAL(dead[0].dl.history.size(), 1u);
  BOOST_CHECK(dead[0].dl.history[0].result == outcome::permanent);
  BOOST_CHECK_EQUAL(effects("perm"), 0u);
  // fail_attempts 2: retries at +1 s and +2 s (jitter at its ceiling).
  BOOST_CHECK(status("twice", "sim") == event_status::retrying);
  advance(999ms);
  BOOST_CHECK(status("twice", "sim") == event_status::retrying);
  advance(1ms); // attempt 2 fails
  BOOST_CHECK(status("twice", "sim") == event_status::retrying);
  BOOST_CHECK_EQUAL(effects("twice"), 0u);
  advance(1999ms);
  BOOST_CHECK(status("twice", "sim") == event_status::retrying);
  BOOST_CHECK_EQUAL(effects("twice"), 0u);
  advance(1ms); // attempt 3 succeeds
  BOOST_CHECK(status("twice", "sim") == event_status::processed);
  auto twice = st->processed_of("twice");
  BOOST_REQUIRE_EQUAL(twice.size(), 1u);
  BOOST_CHECK_EQUAL(twice[0].attempt, 3u);
  // Exactly 5 leases: plain 1, perm 1, twice 3.
  auto ds = ask<caf::settings>(*this, n.dedup, atom::status_v);
  BOOST_CHECK_EQUAL(num(ds, "deduplicator.leases-granted"), 5);
  advance_in_steps(60000ms, 1000ms);
  BOOST_CHECK_EQUAL(effects("twice"), 1u);
  BOOST_CHECK_EQUAL(effects("plain"), 1u);
  BOOST_CHECK_EQUAL(st->dlq_size(), 1u);
  ds = ask<caf::settings>(*this, n.dedup, atom::status_v);
  BOOST_CHECK_EQUAL(num(ds, "deduplicator.leases-granted"), 5);
}

BOOST_AUTO_TEST_CASE(store_handler_records_log_handler_does_not) {
  ncfg.groups.push_back(builtin_group("stored", "store"));
  ncfg.groups.push_back(builtin_group("logged", "log"));
  start();
  publish({make_event("e1", "order.created", R"({"order":1})")});
  BOOST_CHECK(status("e1", "stored") == event_status::processed);
  BOOST_CHECK(status("e1", "logged") == event_status::processed);
  auto recs = st->processed_of("e1");
  BOOST_REQUIRE_EQUAL(recs.size(), 1u);
  BOOST_CHECK_EQUAL(recs[0].group, "stored");
  BOOST_CHECK_EQUAL(recs[0].event_id, "e1");
  BOOST_CHECK_EQUAL(recs[0].type, "order.created");
  BOOST_CHECK_EQUAL(recs[0].attempt, 1u);
  BOOST_CHECK_GT(recs[0].seq, 0u);
  BOOST_CHECK_GT(recs[0].epoch, 0u);
  BOOST_CHECK_EQUAL(effects("e1", "logged"), 0u);
  BOOST_CHECK_EQUAL(st->processed_count("logged"), 0u);
  BOOST_CHECK_EQUAL(st->processed_count("stored"), 1u);
  // Both settled: nothing is redelivered later.
  advance_in_steps(60000ms, 1000ms);
  BOOST_CHECK_EQUAL(st->processed_count(""), 1u);
  auto bs = ask<caf::settings>(*this, n.broadcaster, atom::status_v);
  BOOST_CHECK_EQUAL(num(bs, "groups.logged.settled"), 1);
  BOOST_CHECK_EQUAL(num(bs, "groups.stored.settled"), 1);
}

// -- per-type rate limits
// ------------------------------------------------------

BOOST_AUTO_TEST_CASE(type_rate_limit_slows_only_matching_types) {
  auto& g = add_group("g", 1, always_ok());
  g.batch_size = 100;
  auto& h = add_group("h", 1, always_ok());
  h.batch_size = 100;
  ncfg.type_limits.push_back(type_rate_limit{"slow.*", 5});
  start();
  std::vector<event> evs;
  for (int i = 0; i < 20; ++i) {
    evs.push_back(make_event(id_of("s", i), "slow.x"));
    evs.push_back(make_event(id_of("f", i), "fast.y"));
  }
  publish(evs);
  auto count = [&](const char* prefix, const std::string& group) {
    size_t c = 0;
    for (int i = 0; i < 20; ++i)
      c += effects(id_of(prefix, i), group);
    return c;
  };
  // Unlimited types flow at once, also behind waiting slow ones (a per-type
  // bucket must not throttle the other types of the group).
  BOOST_CHECK_EQUAL(count("f", "g"), 20u);
  BOOST_CHECK_EQUAL(count("f", "h"), 20u);
  // 5/s for slow.*: a bucket's worth now, in each group separately.
  BOOST_TEST_MESSAGE("slow at t=0: g " << count("s", "g") << ", h "
                                       << count("s", "h"));
  BOOST_CHECK_GE(count("s", "g"), 1u);
  BOOST_CHECK_LE(count("s", "g"), 6u);
  BOOST_CHECK_GE(count("s", "h"), 1u);
  BOOST_CHECK_LE(count("s", "h"), 6u);
  advance_in_steps(1000ms, 50ms);
  BOOST_TEST_MESSAGE("slow at t=1s: g " << count("s", "g") << ", h "
                                        << count("s", "h"));
  BOOST_CHECK_GE(count("s", "g"), 5u);
  BOOST_CHECK_LE(count("s", "g"), 12u);
  BOOST_CHECK_GE(count("s", "h"), 5u);
  BOOST_CHECK_LE(count("s", "h"), 12u);
  // Nothing dropped: all slow events eventually, each once.
  advance_in_steps(5000ms, 50ms);
  BOOST_CHECK_EQUAL(count("s", "g"), 20u);
  BOOST_CHECK_EQUAL(count("s", "h"), 20u);
  BOOST_CHECK_EQUAL(st->processed_count(""), 80u);
  BOOST_CHECK_EQUAL(probes->calls.size(), 80u);
}

// -- batching
// ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(batch_wait_holds_partial_batches) {
  auto& g = add_group("g", 1, always_ok());
  g.batch_size = 10;
  g.batch_wait = 500;
  start();
  // Three events in three separate ingests at t = 0, 100, 200 ms.
  publish({make_event("p0", "t")});
  advance(100ms);
  publish({make_event("p1", "t")});
  advance(100ms);
  publish({make_event("p2", "t")});
  BOOST_CHECK_EQUAL(probes->calls.size(), 0u);
  advance(299ms); // t = 499 ms: the partial batch still waits
  BOOST_CHECK_EQUAL(probes->calls.size(), 0u);
  BOOST_CHECK_EQUAL(st->processed_count("g"), 0u);
  // Once the first event has waited batch-wait, all three go together.
  advance_in_steps(50ms, 1ms); // t = 549 ms
  BOOST_CHECK_EQUAL(probes->calls.size(), 3u);
  BOOST_CHECK_EQUAL(effects("p0"), 1u);
  BOOST_CHECK_EQUAL(effects("p1"), 1u);
  BOOST_CHECK_EQUAL(effects("p2"), 1u);
  // A full batch does not wait.
  std::vector<event> evs;
  for (int i = 0; i < 10; ++i)
    evs.push_back(make_event(id_of("full", i), "t"));
  publish(evs);
  BOOST_CHECK_EQUAL(probes->calls.size(), 13u);
  BOOST_CHECK_EQUAL(st->processed_count("g"), 13u);
  advance_in_steps(2000ms, 100ms);
  BOOST_CHECK_EQUAL(probes->calls.size(), 13u);
}

// -- status
// ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(every_long_lived_actor_answers_status) {
  add_group("g", 1, [](const event& ev, uint32_t, size_t) {
    if (ev.type == "bad")
      return fail(outcome::permanent, "bad data");
    if (ev.type == "flaky")
      return fail(outcome::retryable, "later");
    return ok_effect();
  });
  start();
  publish({make_event("ok", "good"), make_event("dead", "bad"),
           make_event("retry", "flaky")});
  auto dup = publish({make_event("ok", "good")});
  BOOST_REQUIRE(dup.at(0).duplicate);
  // Store.
  auto ss = ask<caf::settings>(*this, n.store, atom::status_v);
  BOOST_CHECK_EQUAL(num(ss, "store.head"), 3);
  BOOST_CHECK_EQUAL(num(ss, "store.processed"), 1);
  BOOST_CHECK_EQUAL(num(ss, "store.dlq-size"), 1);
  BOOST_CHECK_EQUAL(num(ss, "store.retry-scheduled"), 1);
  BOOST_CHECK_EQUAL(num(ss, "store.failures"), 0);
  BOOST_CHECK_GT(num(ss, "store.calls"), 0);
  BOOST_CHECK(caf::get_or(ss, "store.backend", std::string{}).find("sqlite")
              != std::string::npos);
  // Broadcaster.
  auto bs = ask<caf::settings>(*this, n.broadcaster, atom::status_v);
  BOOST_CHECK_EQUAL(num(bs, "broadcaster.accepted"), 3);
  BOOST_CHECK_EQUAL(num(bs, "broadcaster.duplicates"), 1);
  BOOST_CHECK_EQUAL(caf::get_or(bs, "broadcaster.node", std::string{}),
                    "node-1");
  BOOST_CHECK_EQUAL(num(bs, "groups.g.settled"), 3);
  BOOST_CHECK_EQUAL(num(bs, "groups.g.listeners"), 1);
  BOOST_CHECK_EQUAL(num(bs, "groups.g.in-flight"), 0);
  BOOST_CHECK_EQUAL(caf::get_or(bs, "groups.g.handler", std::string{}),
                    "probe-g");
  // Deduplicator.
  auto ds = ask<caf::settings>(*this, n.dedup, atom::status_v);
  BOOST_CHECK_EQUAL(num(ds, "deduplicator.leases-granted"), 3);
  BOOST_CHECK_EQUAL(num(ds, "deduplicator.settled"), 3);
  BOOST_CHECK_EQUAL(num(ds, "deduplicator.refused-stale"), 0);
  // Retry timer: one entry scheduled, due in 1 s; the timer is armed for it
  // and its status shows that due time.
  auto rs = ask<caf::settings>(*this, n.retry_timer, atom::status_v);
  auto armed_for = num(rs, "retry-timer.armed-for");
  BOOST_CHECK_GT(armed_for, 0);
  BOOST_CHECK_GT(num(rs, "retry-timer.next-due"), 0);
  BOOST_CHECK_EQUAL(num(rs, "retry-timer.next-due"), armed_for);
  BOOST_CHECK_EQUAL(num(rs, "retry-timer.redelivered"), 0);
  // DLQ.
  auto qs = status_of(*this, n.dlq);
  BOOST_CHECK_EQUAL(num(qs, "dlq.dead-lettered"), 1);
  BOOST_CHECK_EQUAL(num(qs, "dlq.replayed"), 0);
  // After the retry fired, the counters move.
  advance(1000ms);
  BOOST_CHECK_EQUAL(probes->count("retry"), 2u);
  rs = ask<caf::settings>(*this, n.retry_timer, atom::status_v);
  BOOST_CHECK_EQUAL(num(rs, "retry-timer.redelivered"), 1);
  ds = ask<caf::settings>(*this, n.dedup, atom::status_v);
  BOOST_CHECK_EQUAL(num(ds, "deduplicator.leases-granted"), 4);
  bs = ask<caf::settings>(*this, n.broadcaster, atom::status_v);
  BOOST_CHECK_EQUAL(num(bs, "broadcaster.redelivered"), 1);
  BOOST_CHECK_EQUAL(num(bs, "groups.g.settled"), 4);
}

// -- event status query
// -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(query_event_status_across_groups) {
  add_group("ok", 1, always_ok());
  auto& flaky = add_group("flaky", 1, [](const event&, uint32_t, size_t) {
    return fail(outcome::retryable, "later");
  });
  flaky.retry.max_attempts = 2;
  add_group("other", 1, always_ok(), {"other.*"});
  start();
  publish({make_event("e1", "order.created")});
  auto query = [&](const std::string& id) {
    auto gs = ask<std::vector<group_status>>(*this, n.broadcaster,
                                             atom::query_v, id);
    std::map<std::string, event_status> m;
    for (auto& x : gs)
      m[x.group] = x.status;
    BOOST_CHECK_EQUAL(m.size(), gs.size()); // one entry per group
    return m;
  };
  auto m = query("e1");
  BOOST_CHECK_EQUAL(m.size(), 2u); // "other" does not subscribe
  BOOST_CHECK(m["ok"] == event_status::processed);
  BOOST_CHECK(m["flaky"] == event_status::retrying);
  BOOST_CHECK(m.count("other") == 0);
  // After the last attempt the flaky group has it dead.
  advance(1000ms);
  m = query("e1");
  BOOST_CHECK(m["ok"] == event_status::processed);
  BOOST_CHECK(m["flaky"] == event_status::dead);
  // Unknown id: no groups.
  auto none = ask<std::vector<group_status>>(
    *this, n.broadcaster, atom::query_v, std::string{"missing"});
  BOOST_CHECK(none.empty());
}

BOOST_AUTO_TEST_SUITE_END()
