// The store contract of the DLQ port: listing, lookup, replay and purge of
// dead letters (one event's, one group's in bulk, all); crash loops
// dead-lettered without a lease.

#include "tests/integration/contract/backends.hpp"

#include <set>
#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;

namespace {

/// Claims the events in `group` and settles them dead, in one batch each.
void kill_all(store& s, const std::string& group, const std::vector<event>& evs,
              millis_t now) {
  std::vector<claim_request> reqs;
  for (auto& ev : evs)
    reqs.push_back({group, ev.id, ev.seq});
  auto ds = s.claim(reqs, holder_a, now, minute, 3);
  std::vector<settlement> items;
  for (size_t i = 0; i < evs.size(); ++i) {
    BOOST_REQUIRE(ds.at(i).kind == claim_decision::granted);
    items.push_back(dead_of(make_delivery(evs[i], group, ds[i].epoch),
                            dlq_reason::permanent_error, "down"));
  }
  for (auto d : s.settle(items, now + 1))
    BOOST_REQUIRE_EQUAL(d, fence_decision::ok);
}

} // namespace

BOOST_AUTO_TEST_SUITE(dlq_contract)

BOOST_DATA_TEST_CASE(dlq_list_get_replay_purge, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g1", {"*"}});
  s.ensure_group({"g2", {"*"}});
  auto e1 = add(s, "e1", "order.created", t0);
  auto e2 = add(s, "e2", "order.created", t0);
  auto e3 = add(s, "e3", "order.created", t0);
  s.read_group("g1", 10, t0);
  s.read_group("g2", 10, t0);
  BOOST_CHECK_EQUAL(s.dlq_size(), 0u);
  auto kill = [&](const event& ev, const std::string& g, dlq_reason r,
                  const std::string& err, millis_t now) {
    auto ep = lease(s, g, ev, now);
    auto dl = make_delivery(ev, g, ep, 3);
    dl.history.push_back(
      make_attempt(1, now - 3, ep, outcome::retryable, "first"));
    dl.history.push_back(make_attempt(3, now - 1, ep, outcome::permanent, err));
    BOOST_REQUIRE_EQUAL(settle_one(s, dead_of(dl, r, err), now),
                        fence_decision::ok);
  };
  kill(e1, "g1", dlq_reason::permanent_error, "boom1", t0 + 10);
  kill(e2, "g1", dlq_reason::retries_exhausted, "boom2", t0 + 20);
  kill(e1, "g2", dlq_reason::permanent_error, "boom3", t0 + 30);
  // Handler errors are arbitrary bytes, not necessarily UTF-8.
  kill(e3, "g2", dlq_reason::retries_exhausted, "boom4 \xff\xfe", t0 + 40);
  BOOST_CHECK_EQUAL(s.dlq_size(), 4u);
  BOOST_CHECK_EQUAL(s.dlq_count("g1"), 2u);
  BOOST_CHECK_EQUAL(s.dlq_count("g2"), 2u);
  BOOST_CHECK_EQUAL(s.dlq_count("nope"), 0u);
  BOOST_CHECK_EQUAL(s.backlog("g1"), 1u); // e3 still pending in g1
  auto all = s.dlq_list({"", 0, 100});
  BOOST_REQUIRE_EQUAL(all.entries.size(), 4u);
  BOOST_REQUIRE_EQUAL(all.positions.size(), 4u);
  std::vector<std::string> order;
  for (size_t i = 0; i < 4; ++i) {
    order.push_back(all.entries[i].dl.ev.id + "@" + all.entries[i].dl.group);
    if (i > 0)
      BOOST_CHECK_GT(all.positions[i], all.positions[i - 1]);
  }
  BOOST_CHECK_EQUAL(join(order), "e1@g1,e2@g1,e1@g2,e3@g2");
  auto& first = all.entries[0];
  BOOST_CHECK_EQUAL(first.reason, dlq_reason::permanent_error);
  BOOST_CHECK_EQUAL(first.last_error, "boom1");
  BOOST_CHECK_EQUAL(first.dead_at, t0 + 10);
  BOOST_CHECK_EQUAL(first.dl.attempt, 3u);
  BOOST_CHECK_EQUAL(first.dl.ev.seq, e1.seq);
  BOOST_CHECK_EQUAL(first.dl.ev.payload, e1.payload);
  BOOST_REQUIRE_EQUAL(first.dl.history.size(), 2u);
  BOOST_CHECK_EQUAL(first.dl.history[1].error, "boom1");
  BOOST_CHECK_EQUAL(all.entries[1].reason, dlq_reason::retries_exhausted);
  // Pagination.
  auto p1 = s.dlq_list({"", 0, 2});
  BOOST_REQUIRE_EQUAL(p1.entries.size(), 2u);
  auto p2 = s.dlq_list({"", p1.positions.back(), 2});
  BOOST_REQUIRE_EQUAL(p2.entries.size(), 2u);
  BOOST_CHECK_EQUAL(p2.entries[0].dl.ev.id, "e1");
  BOOST_CHECK_EQUAL(p2.entries[0].dl.group, "g2");
  BOOST_CHECK(s.dlq_list({"", p2.positions.back(), 2}).entries.empty());
  // Group filter.
  auto g2 = s.dlq_list({"g2", 0, 100});
  BOOST_REQUIRE_EQUAL(g2.entries.size(), 2u);
  BOOST_CHECK_EQUAL(g2.entries[0].dl.ev.id, "e1");
  BOOST_CHECK_EQUAL(g2.entries[1].dl.ev.id, "e3");
  auto g2b = s.dlq_list({"g2", g2.positions[0], 100});
  BOOST_REQUIRE_EQUAL(g2b.entries.size(), 1u);
  BOOST_CHECK_EQUAL(g2b.entries[0].dl.ev.id, "e3");
  // Lookup by event.
  auto of_e1 = s.dlq_get("e1");
  BOOST_REQUIRE_EQUAL(of_e1.size(), 2u);
  std::set<std::string> groups{of_e1[0].dl.group, of_e1[1].dl.group};
  BOOST_CHECK(groups == (std::set<std::string>{"g1", "g2"}));
  BOOST_CHECK(s.dlq_get("nope").empty());
  BOOST_CHECK_EQUAL(statuses(s, "e1"), "g1:dead g2:dead");
  // Replay one group: back in the retry schedule, due now.
  BOOST_CHECK_EQUAL(s.dlq_replay("e1", "g2", t0 + 100), 1u);
  BOOST_CHECK_EQUAL(s.dlq_size(), 3u);
  BOOST_CHECK_EQUAL(s.dlq_count("g2"), 1u);
  BOOST_CHECK_EQUAL(s.dlq_count("g1"), 2u);
  BOOST_REQUIRE_EQUAL(s.dlq_get("e1").size(), 1u);
  BOOST_CHECK_EQUAL(s.dlq_get("e1")[0].dl.group, "g1");
  BOOST_CHECK_EQUAL(s.scheduled(), 1u);
  BOOST_CHECK_EQUAL(s.next_due(), t0 + 100);
  BOOST_CHECK_EQUAL(statuses(s, "e1"), "g1:dead g2:retrying");
  BOOST_CHECK(s.take_due(t0 + 99, 10).empty());
  auto due = s.take_due(t0 + 100, 10);
  BOOST_REQUIRE_EQUAL(due.size(), 1u);
  BOOST_CHECK_EQUAL(due[0].ev.id, "e1");
  BOOST_CHECK_EQUAL(due[0].group, "g2");
  BOOST_CHECK_EQUAL(due[0].attempt, 1u);
  BOOST_CHECK_EQUAL(due[0].epoch, 0u);
  BOOST_REQUIRE_EQUAL(due[0].history.size(), 2u);
  BOOST_CHECK_EQUAL(due[0].history[1].error, "boom3");
  // The replayed delivery can be processed.
  auto ep = lease(s, "g2", e1, t0 + 110);
  auto dl = due[0];
  dl.epoch = ep;
  BOOST_CHECK_EQUAL(settle_one(s, done_of(dl, true), t0 + 111),
                    fence_decision::ok);
  BOOST_CHECK_EQUAL(s.scheduled(), 0u);
  BOOST_CHECK_EQUAL(status_map(s, "e1")["g2"], event_status::processed);
  // Replay of all groups; unknown events move nothing.
  BOOST_CHECK_EQUAL(s.dlq_replay("nope", "", t0 + 200), 0u);
  BOOST_CHECK_EQUAL(s.dlq_replay("e1", "", t0 + 200), 1u);
  BOOST_CHECK_EQUAL(s.scheduled(), 1u);
  BOOST_CHECK_EQUAL(s.dlq_size(), 2u);
  // Purge one, then all.
  BOOST_CHECK_EQUAL(s.dlq_purge("nope"), 0u);
  BOOST_CHECK_EQUAL(s.dlq_purge("e2"), 1u);
  BOOST_CHECK_EQUAL(s.dlq_size(), 1u);
  BOOST_CHECK_EQUAL(s.dlq_count("g1"), 0u);
  BOOST_CHECK_EQUAL(s.dlq_count("g2"), 1u);
  BOOST_CHECK(s.dlq_get("e2").empty());
  kill(e2, "g2", dlq_reason::permanent_error, "boom5", t0 + 300);
  BOOST_CHECK_EQUAL(s.dlq_size(), 2u);
  BOOST_CHECK_EQUAL(s.dlq_purge(""), 2u);
  BOOST_CHECK_EQUAL(s.dlq_size(), 0u);
  BOOST_CHECK(s.dlq_list({"", 0, 100}).entries.empty());
}

// DELETE /failed-events?group=: one group's entries go in bulk (more than
// one call's worth on Redis), the others stay; the sizes follow; purged
// pairs stay settled; "" purges every group.
BOOST_DATA_TEST_CASE(dlq_purge_group, bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  for (auto g : {"g", "g2", "g3"})
    s.ensure_group({g, {"*"}});
  auto evs = append_numbered(s, "e", 1203);
  for (auto g : {"g", "g2", "g3"})
    BOOST_REQUIRE_EQUAL(s.read_group(g, 2000, t0).size(), 1203u);
  kill_all(s, "g", evs, t0 + 10);
  std::vector<event> few(evs.begin(), evs.begin() + 3);
  kill_all(s, "g2", few, t0 + 20);
  BOOST_REQUIRE_EQUAL(s.dlq_size(), 1206u);
  // Nothing to purge: groups without entries, unknown groups.
  BOOST_CHECK_EQUAL(s.dlq_purge_group("g3"), 0u);
  BOOST_CHECK_EQUAL(s.dlq_purge_group("nope"), 0u);
  BOOST_CHECK_EQUAL(s.dlq_size(), 1206u);
  // One group.
  BOOST_CHECK_EQUAL(s.dlq_purge_group("g"), 1203u);
  BOOST_CHECK_EQUAL(s.dlq_size(), 3u);
  BOOST_CHECK_EQUAL(s.dlq_count("g"), 0u);
  BOOST_CHECK_EQUAL(s.dlq_count("g2"), 3u);
  BOOST_CHECK(s.dlq_list({"g", 0, 100}).entries.empty());
  auto left = s.dlq_list({"", 0, 100});
  BOOST_REQUIRE_EQUAL(left.entries.size(), 3u);
  for (auto& e : left.entries)
    BOOST_CHECK_EQUAL(e.dl.group, "g2");
  auto of_e0 = s.dlq_get("e0");
  BOOST_REQUIRE_EQUAL(of_e0.size(), 1u);
  BOOST_CHECK_EQUAL(of_e0[0].dl.group, "g2");
  BOOST_CHECK(s.dlq_get("e5").empty());
  // Purged pairs stay settled: nothing to replay, nothing redelivered,
  // nothing left in the group's backlog.
  BOOST_CHECK_EQUAL(s.dlq_replay("e5", "g", t0 + 30), 0u);
  BOOST_CHECK_EQUAL(s.scheduled(), 0u);
  BOOST_CHECK(s.read_group("g", 2000, t0 + 30).empty());
  BOOST_CHECK(s.reclaim("g", t0 + 10 * minute, 0, 2000).empty());
  BOOST_CHECK_EQUAL(s.backlog("g"), 0u);
  BOOST_CHECK_EQUAL(s.backlog("g3"), 1203u); // other groups untouched
  // A second purge finds nothing; "" purges what every group has left.
  BOOST_CHECK_EQUAL(s.dlq_purge_group("g"), 0u);
  BOOST_CHECK_EQUAL(s.dlq_purge_group(""), 3u);
  BOOST_CHECK_EQUAL(s.dlq_size(), 0u);
  BOOST_CHECK_EQUAL(s.dlq_count("g2"), 0u);
  BOOST_CHECK(s.dlq_list({"", 0, 100}).entries.empty());
  BOOST_CHECK_EQUAL(s.dlq_purge_group(""), 0u);
}

// Purged entries above an unsettled one (the group's cursor cannot pass
// it) do not come back after a restart; the unsettled one does, once.
BOOST_DATA_TEST_CASE(dlq_purge_group_survives_reopen,
                     bdata::make(persistent_backends), name) {
  harness h{name};
  {
    auto& s = *h.s;
    s.ensure_group({"g", {"*"}});
    s.ensure_group({"g2", {"*"}});
    auto evs = append_numbered(s, "e", 6);
    BOOST_REQUIRE_EQUAL(s.read_group("g", 10, t0).size(), 6u);
    BOOST_REQUIRE_EQUAL(s.read_group("g2", 10, t0).size(), 6u);
    kill_all(s, "g", std::vector<event>(evs.begin() + 1, evs.end()), t0 + 10);
    kill_all(s, "g2", evs, t0 + 20);
    BOOST_REQUIRE_EQUAL(s.dlq_purge_group("g"), 5u);
    BOOST_REQUIRE_EQUAL(s.dlq_size(), 6u);
  }
  h.reopen();
  auto& s = *h.s;
  BOOST_CHECK_EQUAL(s.dlq_size(), 6u);
  BOOST_CHECK_EQUAL(s.dlq_count("g"), 0u);
  BOOST_CHECK_EQUAL(s.dlq_count("g2"), 6u);
  std::vector<std::string> again;
  for (auto& ev : s.reclaim("g", t0 + 20 * minute, 0, 100))
    again.push_back(ev.id);
  for (auto& ev : s.read_group("g", 100, t0 + 20 * minute))
    again.push_back(ev.id);
  BOOST_CHECK_EQUAL(join(again), "e0");
  BOOST_CHECK(s.read_group("g2", 100, t0 + 20 * minute).empty());
}

BOOST_DATA_TEST_CASE(crash_loop_dead_without_lease, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e = add(s, "e", "t", t0);
  s.read_group("g", 10, t0);
  auto d1 = claim_one(s, "g", e, holder_a, t0, 100, 0);
  BOOST_REQUIRE_EQUAL(d1.kind, claim_decision::granted);
  auto d2 = claim_one(s, "g", e, holder_b, t0 + 100, 100, 0);
  BOOST_REQUIRE_EQUAL(d2.kind, claim_decision::crash_loop);
  auto dl = make_delivery(e, "g", 0);
  dl.redeliveries = d2.redeliveries;
  BOOST_CHECK_EQUAL(
    settle_one(s,
               dead_of(dl, dlq_reason::crash_loop, "lease expired 1 time(s)"),
               t0 + 101),
    fence_decision::ok);
  auto got = s.dlq_get("e");
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_CHECK_EQUAL(got[0].reason, dlq_reason::crash_loop);
  BOOST_CHECK_EQUAL(got[0].dl.redeliveries, 1u);
  BOOST_CHECK_EQUAL(s.backlog("g"), 0u);
  // A second crash-loop settlement of the same pair adds nothing.
  BOOST_CHECK(
    settle_one(s, dead_of(dl, dlq_reason::crash_loop, "again"), t0 + 102)
    != fence_decision::ok);
  BOOST_CHECK_EQUAL(s.dlq_size(), 1u);
  // The old holder cannot complete.
  BOOST_CHECK(
    settle_one(s, done_of(make_delivery(e, "g", d1.epoch), true), t0 + 103)
    != fence_decision::ok);
  BOOST_CHECK_EQUAL(s.processed_count(""), 0u);
}

BOOST_AUTO_TEST_SUITE_END()
