// The store contract of the log port: appends with seqs and the dedup
// window, consumer groups reading in order with their patterns, reclaims by
// idle time, backlogs.

#include "tests/integration/contract/backends.hpp"

#include <set>
#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;

BOOST_AUTO_TEST_SUITE(log_contract)

BOOST_DATA_TEST_CASE(append_assigns_increasing_seqs, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  BOOST_CHECK_EQUAL(s.head(), 0u);
  std::vector<event> batch{make_event("a", "order.created", t0),
                           make_event("b", "order.paid", t0),
                           make_event("c", "user.created", t0)};
  auto res = s.append(batch, t0, minute);
  BOOST_REQUIRE_EQUAL(res.size(), 3u);
  uint64_t prev = 0;
  for (size_t i = 0; i < res.size(); ++i) {
    BOOST_TEST_CONTEXT("event " << i) {
      BOOST_CHECK(!res[i].duplicate);
      BOOST_CHECK_EQUAL(res[i].id, batch[i].id);
      BOOST_CHECK_GT(res[i].seq, prev);
      BOOST_CHECK_EQUAL(batch[i].seq, res[i].seq);
      prev = res[i].seq;
    }
  }
  BOOST_CHECK_EQUAL(s.head(), prev);
  auto b = s.find("b");
  BOOST_CHECK_EQUAL(b.seq, res[1].seq);
  BOOST_CHECK_EQUAL(b.id, "b");
  BOOST_CHECK_EQUAL(b.type, "order.paid");
  BOOST_CHECK_EQUAL(b.payload, batch[1].payload);
  BOOST_CHECK(b.prio == priority::high);
  BOOST_CHECK_EQUAL(b.created_at, t0);
  BOOST_CHECK_EQUAL(b.trace_id, "trace-b");
  BOOST_CHECK_EQUAL(s.find("nope").seq, 0u);
  // A later batch continues after the head; an empty batch appends nothing.
  auto d = add(s, "d", "order.created", t0 + 1);
  BOOST_CHECK_GT(d.seq, prev);
  BOOST_CHECK_EQUAL(s.head(), d.seq);
  std::vector<event> none;
  BOOST_CHECK(s.append(none, t0 + 2, minute).empty());
  BOOST_CHECK_EQUAL(s.head(), d.seq);
}

BOOST_DATA_TEST_CASE(append_records_the_accepting_node,
                     bdata::make(all_backends), name) {
  harness h{name};
  h.be->node = "node-a";
  h.reopen();
  auto& s = *h.s;
  BOOST_CHECK_EQUAL(s.acceptance(1).node, "");
  std::vector<event> batch{make_event("a", "order.created", t0),
                           make_event("b", "order.paid", t0)};
  s.append(batch, t0, minute);
  BOOST_CHECK_EQUAL(s.acceptance(batch[0].seq).node, "node-a");
  BOOST_CHECK_EQUAL(s.acceptance(batch[1].seq).node, "node-a");
  BOOST_CHECK_EQUAL(s.acceptance(batch[0].seq).duplicates, 0u);
  BOOST_CHECK_EQUAL(s.acceptance(batch[1].seq + 1).node, "");
  // A duplicate appends nothing and is counted with the original: twice
  // in one batch, once more later.
  std::vector<event> dup{make_event("a", "order.created", t0 + 1),
                         make_event("a", "order.created", t0 + 1)};
  auto r = s.append(dup, t0 + 1, minute);
  BOOST_CHECK(r[0].duplicate && r[1].duplicate);
  std::vector<event> dup2{make_event("a", "order.created", t0 + 5)};
  BOOST_CHECK(s.append(dup2, t0 + 5, minute)[0].duplicate);
  BOOST_CHECK_EQUAL(s.acceptance(batch[1].seq + 1).node, "");
  auto ra = s.acceptance(batch[0].seq);
  BOOST_CHECK_EQUAL(ra.node, "node-a");
  BOOST_CHECK_EQUAL(ra.duplicates, 3u);
  BOOST_CHECK_EQUAL(ra.first_duplicate_at, t0 + 1);
  BOOST_CHECK_EQUAL(ra.last_duplicate_at, t0 + 5);
  BOOST_CHECK_EQUAL(ra.last_duplicate_node, "node-a");
  BOOST_CHECK_EQUAL(s.acceptance(batch[1].seq).duplicates, 0u);
  auto c = add(s, "c", "order.created", t0 + 2);
  BOOST_CHECK_EQUAL(s.acceptance(c.seq).node, "node-a");
  // Retention takes the records with their entries.
  BOOST_CHECK_EQUAL(s.trim(t0 + 10 * minute, minute, minute, 100), 3u);
  BOOST_CHECK_EQUAL(s.acceptance(batch[0].seq).node, "");
  BOOST_CHECK_EQUAL(s.acceptance(batch[0].seq).duplicates, 0u);
  BOOST_CHECK_EQUAL(s.acceptance(c.seq).node, "");
}

BOOST_DATA_TEST_CASE(each_node_is_recorded_with_its_own_appends,
                     bdata::make(persistent_backends), name) {
  // Two nodes on one store, one after the other (Redis: at once too):
  // each entry names the node that appended it, a duplicate the node
  // that answered it.
  harness h{name};
  h.be->node = "node-a";
  h.reopen();
  auto a = add(*h.s, "a", "order.created", t0);
  h.be->node = "node-b";
  h.reopen();
  auto b = add(*h.s, "b", "order.created", t0 + 1);
  auto c = add(*h.s, "c", "order.created", t0 + 2);
  std::vector<event> dup{make_event("a", "order.created", t0 + 3)};
  BOOST_CHECK(h.s->append(dup, t0 + 3, minute)[0].duplicate);
  BOOST_CHECK_EQUAL(h.s->acceptance(a.seq).node, "node-a");
  BOOST_CHECK_EQUAL(h.s->acceptance(a.seq).last_duplicate_node, "node-b");
  BOOST_CHECK_EQUAL(h.s->acceptance(b.seq).node, "node-b");
  BOOST_CHECK_EQUAL(h.s->acceptance(c.seq).node, "node-b");
}

BOOST_DATA_TEST_CASE(duplicate_within_window, bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  auto a = add(s, "a", "order.created", t0, 1000);
  std::vector<event> batch{make_event("a", "order.created", t0 + 999),
                           make_event("b", "order.created", t0 + 999),
                           make_event("b", "order.paid", t0 + 999)};
  batch[0].payload = R"({"second":true})";
  auto res = s.append(batch, t0 + 999, 1000);
  BOOST_REQUIRE_EQUAL(res.size(), 3u);
  BOOST_CHECK(res[0].duplicate);
  BOOST_CHECK_EQUAL(res[0].id, "a");
  BOOST_CHECK_EQUAL(res[0].seq, a.seq);
  BOOST_CHECK_EQUAL(res[0].original, event_status::accepted);
  BOOST_CHECK(!res[1].duplicate);
  BOOST_CHECK_GT(res[1].seq, a.seq);
  // Duplicate of an event accepted earlier in the same batch.
  BOOST_CHECK(res[2].duplicate);
  BOOST_CHECK_EQUAL(res[2].seq, res[1].seq);
  BOOST_CHECK_EQUAL(res[2].original, event_status::accepted);
  BOOST_CHECK_EQUAL(s.head(), res[1].seq);
  // The original is kept unchanged.
  BOOST_CHECK_EQUAL(s.find("a").payload, a.payload);
  BOOST_CHECK_EQUAL(s.find("b").type, "order.created");
}

BOOST_DATA_TEST_CASE(same_id_after_window_is_new, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  auto a = add(s, "a", "order.created", t0, 1000);
  std::vector<event> batch{make_event("a", "order.paid", t0 + 1000)};
  auto res = s.append(batch, t0 + 1000, 1000);
  BOOST_REQUIRE_EQUAL(res.size(), 1u);
  BOOST_CHECK(!res[0].duplicate);
  BOOST_CHECK_GT(res[0].seq, a.seq);
  auto found = s.find("a");
  BOOST_CHECK_EQUAL(found.seq, res[0].seq);
  BOOST_CHECK_EQUAL(found.type, "order.paid");
  // The new acceptance starts a new window.
  std::vector<event> again{make_event("a", "order.paid", t0 + 1500)};
  auto res2 = s.append(again, t0 + 1500, 1000);
  BOOST_CHECK(res2[0].duplicate);
  BOOST_CHECK_EQUAL(res2[0].seq, res[0].seq);
}

BOOST_DATA_TEST_CASE(ensure_group_starts_at_head, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  add(s, "x1", "order.created", t0);
  add(s, "x2", "order.created", t0);
  s.ensure_group({"g", {"*"}});
  BOOST_CHECK(s.read_group("g", 10, t0).empty());
  BOOST_CHECK_EQUAL(s.backlog("g"), 0u);
  add(s, "x3", "order.created", t0);
  BOOST_CHECK_EQUAL(s.backlog("g"), 1u);
  BOOST_CHECK_EQUAL(ids_of(s.read_group("g", 10, t0)), "x3");
  // Ensuring again updates the patterns and keeps the position.
  s.ensure_group({"g", {"order.*"}});
  BOOST_CHECK(s.read_group("g", 10, t0).empty());
  add(s, "x4", "user.created", t0);
  add(s, "x5", "order.paid", t0);
  BOOST_CHECK_EQUAL(ids_of(s.read_group("g", 10, t0)), "x5");
}

BOOST_DATA_TEST_CASE(read_group_in_order_with_patterns,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"orders", {"order.*"}});
  s.ensure_group({"created", {"*.created", "audit"}});
  add(s, "o1", "order.created", t0);
  add(s, "u1", "user.created", t0);
  add(s, "o2", "order.paid", t0);
  add(s, "u2", "user.deleted", t0);
  add(s, "a1", "audit", t0);
  add(s, "o3", "order.created", t0);
  BOOST_CHECK_EQUAL(s.backlog("orders"), 3u);
  BOOST_CHECK_EQUAL(s.backlog("created"), 4u);
  auto first = s.read_group("orders", 2, t0);
  BOOST_CHECK_EQUAL(ids_of(first), "o1,o2");
  BOOST_REQUIRE_EQUAL(first.size(), 2u);
  BOOST_CHECK_LT(first[0].seq, first[1].seq);
  BOOST_CHECK_EQUAL(first[0].payload, R"({"id":"o1"})");
  BOOST_CHECK_EQUAL(first[0].trace_id, "trace-o1");
  BOOST_CHECK_EQUAL(ids_of(s.read_group("orders", 10, t0)), "o3");
  BOOST_CHECK_EQUAL(ids_of(s.read_group("created", 10, t0)), "o1,u1,a1,o3");
  BOOST_CHECK(s.read_group("orders", 0, t0).empty());
}

BOOST_DATA_TEST_CASE(read_group_never_delivers_twice, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  for (int i = 0; i < 5; ++i)
    add(s, "e" + std::to_string(i), "t", t0);
  std::set<std::string> seen;
  for (int round = 0; round < 5; ++round)
    for (auto& ev : s.read_group("g", 2, t0 + round)) {
      BOOST_CHECK_MESSAGE(seen.insert(ev.id).second, ev.id << " twice");
    }
  BOOST_CHECK_EQUAL(seen.size(), 5u);
  auto e0 = s.find("e0");
  auto e1 = s.find("e1");
  // Neither a release nor a settlement makes an entry readable again.
  auto ep = lease(s, "g", e0, t0);
  BOOST_CHECK_EQUAL(settle_one(s, release_of(make_delivery(e0, "g", ep)), t0),
                    fence_decision::ok);
  process(s, "g", e1, t0);
  BOOST_CHECK(s.read_group("g", 10, t0 + 10).empty());
  add(s, "e5", "t", t0);
  BOOST_CHECK_EQUAL(ids_of(s.read_group("g", 10, t0 + 10)), "e5");
}

BOOST_DATA_TEST_CASE(reclaim_by_idle_time, bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  add(s, "e1", "t", t0);
  add(s, "e2", "t", t0);
  add(s, "e3", "t", t0);
  BOOST_CHECK_EQUAL(s.read_group("g", 2, t0).size(), 2u);
  BOOST_CHECK_EQUAL(s.read_group("g", 2, t0 + 40).size(), 1u);
  BOOST_CHECK(s.reclaim("g", t0 + 99, 100, 10).empty());
  BOOST_CHECK_EQUAL(ids_of(s.reclaim("g", t0 + 100, 100, 10)), "e1,e2");
  // Reclaimed entries count as delivered now.
  BOOST_CHECK(s.reclaim("g", t0 + 100, 100, 10).empty());
  BOOST_CHECK_EQUAL(ids_of(s.reclaim("g", t0 + 140, 100, 10)), "e3");
  BOOST_CHECK_EQUAL(ids_of(s.reclaim("g", t0 + 200, 100, 1)), "e1");
  // Settled entries are no longer pending.
  process(s, "g", s.find("e1"), t0 + 300);
  process(s, "g", s.find("e2"), t0 + 300);
  auto rest = s.reclaim("g", t0 + 10'000, 0, 10);
  BOOST_CHECK_EQUAL(ids_of(rest), "e3");
  BOOST_REQUIRE_EQUAL(rest.size(), 1u);
  BOOST_CHECK_EQUAL(rest[0].seq, s.find("e3").seq);
  BOOST_CHECK_EQUAL(rest[0].type, "t");
}

BOOST_DATA_TEST_CASE(backlog_counts_unsettled, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"order.*"}});
  std::vector<event> evs;
  for (int i = 0; i < 5; ++i) {
    evs.push_back(add(s, "o" + std::to_string(i), "order.created", t0));
    add(s, "u" + std::to_string(i), "user.created", t0);
  }
  BOOST_CHECK_EQUAL(s.backlog("g"), 5u);
  BOOST_CHECK_EQUAL(s.read_group("g", 2, t0).size(), 2u);
  BOOST_CHECK_EQUAL(s.backlog("g"), 5u);
  process(s, "g", evs[0], t0);
  BOOST_CHECK_EQUAL(s.backlog("g"), 4u);
  auto ep = lease(s, "g", evs[1], t0);
  BOOST_CHECK_EQUAL(
    settle_one(s, retry_of(make_delivery(evs[1], "g", ep), t0 + 100), t0),
    fence_decision::ok);
  BOOST_CHECK_EQUAL(s.backlog("g"), 3u);
  BOOST_CHECK_EQUAL(s.read_group("g", 10, t0).size(), 3u);
  BOOST_CHECK_EQUAL(s.backlog("g"), 3u);
  ep = lease(s, "g", evs[2], t0);
  BOOST_CHECK_EQUAL(settle_one(s, release_of(make_delivery(evs[2], "g", ep)),
                               t0),
                    fence_decision::ok);
  BOOST_CHECK_EQUAL(s.backlog("g"), 3u);
}

BOOST_AUTO_TEST_SUITE_END()
