// The store contract of the queries on events: effect records and statuses
// across groups (status_contract), the attempt history per group
// (history_contract) and the listing of events by status (listing_contract).

#include "tests/integration/contract/backends.hpp"

#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;

namespace {

/// Checks every field of an attempt record.
void check_attempt(const attempt_record& got, const attempt_record& want) {
  BOOST_CHECK_EQUAL(got.attempt, want.attempt);
  BOOST_CHECK_EQUAL(got.at, want.at);
  BOOST_CHECK_EQUAL(got.node, want.node);
  BOOST_CHECK_EQUAL(got.listener, want.listener);
  BOOST_CHECK_EQUAL(got.epoch, want.epoch);
  BOOST_CHECK_EQUAL(got.result, want.result);
  BOOST_CHECK_EQUAL(got.error, want.error);
}

void check_attempts(const std::vector<attempt_record>& got,
                    const std::vector<attempt_record>& want) {
  BOOST_REQUIRE_EQUAL(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    BOOST_TEST_CONTEXT("attempt record " << i) {
      check_attempt(got[i], want[i]);
    }
  }
}

/// Claims and settles one pair as done, retry or dead, with one attempt
/// record (error "err-<id>" for failures).
void settle_as(store& s, const std::string& group, const event& ev,
               settle_kind kind, millis_t now) {
  auto ep = lease(s, group, ev, now);
  auto dl = make_delivery(ev, group, ep);
  auto failed = kind != settle_kind::done;
  dl.history.push_back(
    make_attempt(1, now, ep, failed ? outcome::permanent : outcome::success,
                 failed ? "err-" + ev.id : ""));
  settlement st;
  switch (kind) {
    case settle_kind::done:
      st = done_of(dl, true);
      break;
    case settle_kind::retry:
      st = retry_of(dl, now + minute);
      break;
    default:
      st = dead_of(dl, dlq_reason::permanent_error, "err-" + ev.id);
  }
  BOOST_REQUIRE_EQUAL(settle_one(s, st, now + 1), fence_decision::ok);
}

/// Walks every page of `q` (starting at q.after) with its limit; checks
/// the page invariants and returns all items.
std::vector<event_listing_item> walk(store& s, event_listing_query q,
                                     size_t* pages = nullptr) {
  std::vector<event_listing_item> all;
  size_t n = 0;
  auto head = s.head();
  while (true) {
    BOOST_TEST_CONTEXT("page " << n << " after " << q.after << " limit "
                               << q.limit) {
      BOOST_REQUIRE_LT(n, head + 2); // every page makes progress
      auto page = s.list_events(q);
      ++n;
      for (size_t i = 0; i < page.items.size(); ++i) {
        auto& it = page.items[i];
        BOOST_CHECK_GT(it.seq, q.after);
        BOOST_CHECK_EQUAL(it.status, q.status);
        if (i > 0) {
          auto& prev = page.items[i - 1];
          BOOST_CHECK_MESSAGE(
            prev.seq < it.seq || (prev.seq == it.seq && prev.group < it.group),
            "items out of order: " << prev.seq << "@" << prev.group
                                   << " before " << it.seq << "@" << it.group);
        }
        // Beyond the limit only the groups of the last seq follow.
        if (i >= q.limit)
          BOOST_CHECK_EQUAL(it.seq, page.items[q.limit - 1].seq);
      }
      if (page.next != 0) {
        BOOST_CHECK_GT(page.next, q.after);
        BOOST_CHECK_LT(page.next, head);
        if (!page.items.empty())
          BOOST_CHECK_GE(page.next, page.items.back().seq);
      }
      all.insert(all.end(), page.items.begin(), page.items.end());
      if (page.next == 0)
        break;
      q.after = page.next;
    }
  }
  if (pages != nullptr)
    *pages = n;
  return all;
}

} // namespace

BOOST_AUTO_TEST_SUITE(status_contract)

BOOST_DATA_TEST_CASE(processed_records_once_per_pair, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  s.ensure_group({"h", {"*"}});
  auto e1 = add(s, "e1", "order.created", t0);
  auto e2 = add(s, "e2", "order.paid", t0);
  auto e3 = add(s, "e3", "order.paid", t0);
  s.read_group("g", 10, t0);
  s.read_group("h", 10, t0);
  // Without record_effect: ledger only.
  process(s, "g", e1, t0, false);
  BOOST_CHECK(s.is_done("g", e1.seq));
  BOOST_CHECK_EQUAL(s.processed_count("g"), 0u);
  BOOST_CHECK(s.processed_of("e1").empty());
  // With record_effect: one record with the delivery's details.
  auto ep = lease(s, "g", e2, t0 + 5);
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(e2, "g", ep, 4), true),
                               t0 + 7),
                    fence_decision::ok);
  auto recs = s.processed_of("e2");
  BOOST_REQUIRE_EQUAL(recs.size(), 1u);
  BOOST_CHECK_EQUAL(recs[0].group, "g");
  BOOST_CHECK_EQUAL(recs[0].event_id, "e2");
  BOOST_CHECK_EQUAL(recs[0].seq, e2.seq);
  BOOST_CHECK_EQUAL(recs[0].type, "order.paid");
  BOOST_CHECK_EQUAL(recs[0].epoch, ep);
  BOOST_CHECK_EQUAL(recs[0].attempt, 4u);
  BOOST_CHECK_EQUAL(recs[0].at, t0 + 7);
  // A stale holder racing a newer one: exactly one record.
  auto d1 = claim_one(s, "g", e3, holder_a, t0, 100);
  auto d2 = claim_one(s, "g", e3, holder_b, t0 + 100, 100);
  BOOST_REQUIRE_EQUAL(d2.kind, claim_decision::granted);
  BOOST_CHECK_EQUAL(
    settle_one(s, done_of(make_delivery(e3, "g", d2.epoch), true), t0 + 150),
    fence_decision::ok);
  BOOST_CHECK(
    settle_one(s, done_of(make_delivery(e3, "g", d1.epoch), true), t0 + 150)
    != fence_decision::ok);
  BOOST_CHECK(
    settle_one(s, done_of(make_delivery(e3, "g", d2.epoch), true), t0 + 151)
    != fence_decision::ok);
  BOOST_CHECK_EQUAL(s.processed_of("e3").size(), 1u);
  // Another group has its own record.
  process(s, "h", e3, t0 + 200, true);
  BOOST_CHECK_EQUAL(s.processed_of("e3").size(), 2u);
  BOOST_CHECK_EQUAL(s.processed_count("g"), 2u);
  BOOST_CHECK_EQUAL(s.processed_count("h"), 1u);
  BOOST_CHECK_EQUAL(s.processed_count(""), 3u);
}

BOOST_DATA_TEST_CASE(status_across_groups, bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"ga", {"order.*"}});
  s.ensure_group({"gb", {"*"}});
  s.ensure_group({"gc", {"user.*"}});
  auto o = add(s, "o", "order.created", t0);
  s.ensure_group({"gd", {"*"}}); // created after o: not its group
  BOOST_CHECK(s.status_of("nope").empty());
  BOOST_CHECK_EQUAL(statuses(s, "o"), "ga:accepted gb:accepted");
  auto dup = [&](millis_t now) {
    std::vector<event> batch{make_event("o", "order.created", now)};
    auto res = s.append(batch, now, minute);
    BOOST_REQUIRE(res.at(0).duplicate);
    BOOST_CHECK_EQUAL(res[0].seq, o.seq);
    return res[0].original;
  };
  BOOST_CHECK_EQUAL(dup(t0 + 1), event_status::accepted);
  BOOST_CHECK_EQUAL(ids_of(s.read_group("ga", 10, t0 + 2)), "o");
  BOOST_CHECK_EQUAL(statuses(s, "o"), "ga:in_flight gb:accepted");
  BOOST_CHECK_EQUAL(dup(t0 + 3), event_status::in_flight);
  process(s, "ga", o, t0 + 4);
  BOOST_CHECK_EQUAL(statuses(s, "o"), "ga:processed gb:accepted");
  // Processed only when every group processed it.
  BOOST_CHECK_EQUAL(dup(t0 + 5), event_status::accepted);
  s.read_group("gb", 10, t0 + 6);
  auto ep = lease(s, "gb", o, t0 + 6);
  BOOST_CHECK_EQUAL(
    settle_one(s, retry_of(make_delivery(o, "gb", ep), t0 + 100), t0 + 7),
    fence_decision::ok);
  BOOST_CHECK_EQUAL(status_map(s, "o")["gb"], event_status::retrying);
  BOOST_CHECK_EQUAL(dup(t0 + 8), event_status::retrying);
  auto due = s.take_due(t0 + 100, 10);
  BOOST_REQUIRE_EQUAL(due.size(), 1u);
  ep = lease(s, "gb", o, t0 + 100);
  due[0].epoch = ep;
  BOOST_CHECK_EQUAL(
    settle_one(s, dead_of(due[0], dlq_reason::retries_exhausted, "x"),
               t0 + 101),
    fence_decision::ok);
  BOOST_CHECK_EQUAL(statuses(s, "o"), "ga:processed gb:dead");
  BOOST_CHECK_EQUAL(dup(t0 + 102), event_status::dead);
  // All groups processed.
  auto p = add(s, "p", "order.paid", t0 + 200);
  for (auto g : {"ga", "gb", "gd"}) {
    s.read_group(g, 10, t0 + 200);
    process(s, g, p, t0 + 201);
  }
  BOOST_CHECK_EQUAL(statuses(s, "p"), "ga:processed gb:processed gd:processed");
  std::vector<event> batch{make_event("p", "order.paid", t0 + 300)};
  auto res = s.append(batch, t0 + 300, minute);
  BOOST_REQUIRE(res.at(0).duplicate);
  BOOST_CHECK_EQUAL(res[0].original, event_status::processed);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(history_contract)

BOOST_DATA_TEST_CASE(history_after_one_attempt, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e = add(s, "e", "order.created", t0);
  // Nothing attempted yet.
  auto gh = history_in(s, "e", "g");
  BOOST_CHECK_EQUAL(gh.status, event_status::accepted);
  BOOST_CHECK(gh.attempts.empty());
  s.read_group("g", 10, t0);
  auto ep = lease(s, "g", e, t0 + 1);
  gh = history_in(s, "e", "g");
  BOOST_CHECK_EQUAL(gh.status, event_status::in_flight);
  BOOST_CHECK(gh.attempts.empty());
  auto dl = make_delivery(e, "g", ep);
  auto rec = make_attempt(1, t0 + 5, ep, outcome::success, "");
  rec.node = "node-7";
  rec.listener = "billing listener 2";
  dl.history.push_back(rec);
  BOOST_REQUIRE_EQUAL(settle_one(s, done_of(dl, true), t0 + 6),
                      fence_decision::ok);
  auto hs = s.history_of("e");
  BOOST_REQUIRE_EQUAL(hs.size(), 1u);
  BOOST_CHECK_EQUAL(hs[0].group, "g");
  BOOST_CHECK_EQUAL(hs[0].status, event_status::processed);
  check_attempts(hs[0].attempts, {rec});
  // Also without a processed record (record_effect off).
  auto f = add(s, "f", "order.created", t0 + 10);
  s.read_group("g", 10, t0 + 10);
  auto epf = lease(s, "g", f, t0 + 10);
  auto dlf = make_delivery(f, "g", epf);
  auto recf = make_attempt(1, t0 + 11, epf, outcome::success, "");
  dlf.history.push_back(recf);
  BOOST_REQUIRE_EQUAL(settle_one(s, done_of(dlf), t0 + 12), fence_decision::ok);
  check_attempts(history_in(s, "f", "g").attempts, {recf});
}

BOOST_DATA_TEST_CASE(history_of_retry_retry_done, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e = add(s, "e", "order.created", t0);
  s.read_group("g", 10, t0);
  const std::string err1 = "connection refused (next try in 2 s)";
  // Spaces, non-ASCII UTF-8 and a newline survive.
  const std::string err2
    = "Zeitüberschreitung: Größe – 日本語 ✓ after 30 s\nsecond line";
  auto ep1 = lease(s, "g", e, t0);
  auto dl = make_delivery(e, "g", ep1, 1);
  auto a1 = make_attempt(1, t0 + 10, ep1, outcome::retryable, err1);
  dl.history.push_back(a1);
  BOOST_REQUIRE_EQUAL(settle_one(s, retry_of(dl, t0 + 100), t0 + 11),
                      fence_decision::ok);
  // Retrying: the history of the scheduled delivery, and when the next
  // attempt is due.
  auto gh = history_in(s, "e", "g");
  BOOST_CHECK_EQUAL(gh.status, event_status::retrying);
  check_attempts(gh.attempts, {a1});
  BOOST_CHECK_EQUAL(gh.next_attempt_at, t0 + 100);
  BOOST_CHECK_EQUAL(s.scheduled("g"), 1u);
  BOOST_CHECK_EQUAL(s.scheduled("other"), 0u);
  auto due = s.take_due(t0 + 100, 10);
  BOOST_REQUIRE_EQUAL(due.size(), 1u);
  auto ep2 = lease(s, "g", e, t0 + 101);
  // Running again: still the history of the schedule entry.
  check_attempts(history_in(s, "e", "g").attempts, {a1});
  auto dl2 = due[0];
  dl2.epoch = ep2;
  auto a2 = make_attempt(2, t0 + 102, ep2, outcome::crashed, err2);
  a2.node = "node-b";
  dl2.history.push_back(a2);
  BOOST_REQUIRE_EQUAL(settle_one(s, retry_of(dl2, t0 + 200), t0 + 103),
                      fence_decision::ok);
  gh = history_in(s, "e", "g");
  BOOST_CHECK_EQUAL(gh.status, event_status::retrying);
  check_attempts(gh.attempts, {a1, a2});
  due = s.take_due(t0 + 200, 10);
  BOOST_REQUIRE_EQUAL(due.size(), 1u);
  BOOST_CHECK_EQUAL(due[0].attempt, 3u);
  auto ep3 = lease(s, "g", e, t0 + 201);
  auto dl3 = due[0];
  dl3.epoch = ep3;
  auto a3 = make_attempt(3, t0 + 205, ep3, outcome::success, "");
  dl3.history.push_back(a3);
  BOOST_REQUIRE_EQUAL(settle_one(s, done_of(dl3, true), t0 + 206),
                      fence_decision::ok);
  gh = history_in(s, "e", "g");
  BOOST_CHECK_EQUAL(gh.status, event_status::processed);
  check_attempts(gh.attempts, {a1, a2, a3});
  BOOST_CHECK_EQUAL(gh.next_attempt_at, 0);
  BOOST_CHECK_EQUAL(s.scheduled("g"), 0u);
}

BOOST_DATA_TEST_CASE(retries_scheduled_per_group, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  // Group names where one is a prefix of another.
  s.ensure_group({"g", {"*"}});
  s.ensure_group({"g2", {"*"}});
  std::vector<event> seqs;
  for (auto id : {"a", "b", "c"})
    seqs.push_back(add(s, id, "order.created", t0));
  s.read_group("g", 10, t0);
  s.read_group("g2", 10, t0);
  auto fail = [&](const std::string& group, const event& seq, millis_t due) {
    auto ep = lease(s, group, seq, t0 + 1);
    auto dl = make_delivery(seq, group, ep, 1);
    dl.history.push_back(make_attempt(1, t0 + 2, ep, outcome::retryable, "x"));
    BOOST_REQUIRE_EQUAL(settle_one(s, retry_of(dl, due), t0 + 3),
                        fence_decision::ok);
  };
  fail("g", seqs[0], t0 + 500);
  fail("g", seqs[1], t0 + 600);
  fail("g2", seqs[2], t0 + 700);
  BOOST_CHECK_EQUAL(s.scheduled(), 3u);
  BOOST_CHECK_EQUAL(s.scheduled("g"), 2u);
  BOOST_CHECK_EQUAL(s.scheduled("g2"), 1u);
  BOOST_CHECK_EQUAL(history_in(s, "b", "g").next_attempt_at, t0 + 600);
  BOOST_CHECK_EQUAL(history_in(s, "c", "g2").next_attempt_at, t0 + 700);
  // Taken by a node: running, no next attempt waits.
  BOOST_REQUIRE_EQUAL(s.take_due(t0 + 500, 1).size(), 1u);
  BOOST_CHECK_EQUAL(history_in(s, "a", "g").next_attempt_at, 0);
}

BOOST_DATA_TEST_CASE(history_of_dead_event, bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e = add(s, "e", "order.created", t0);
  auto c = add(s, "c", "order.created", t0);
  s.read_group("g", 10, t0);
  auto ep = lease(s, "g", e, t0);
  auto dl = make_delivery(e, "g", ep, 2);
  auto a1 = make_attempt(1, t0 + 1, ep - 1, outcome::retryable, "first try");
  auto a2 = make_attempt(2, t0 + 2, ep, outcome::permanent,
                         "bad payload: ümlaut € field 'x'");
  dl.history = {a1, a2};
  BOOST_REQUIRE_EQUAL(
    settle_one(s, dead_of(dl, dlq_reason::permanent_error, a2.error), t0 + 3),
    fence_decision::ok);
  auto gh = history_in(s, "e", "g");
  BOOST_CHECK_EQUAL(gh.status, event_status::dead);
  check_attempts(gh.attempts, {a1, a2});
  // Replayed: retrying with the history kept.
  BOOST_REQUIRE_EQUAL(s.dlq_replay("e", "", t0 + 10), 1u);
  gh = history_in(s, "e", "g");
  BOOST_CHECK_EQUAL(gh.status, event_status::retrying);
  check_attempts(gh.attempts, {a1, a2});
  // Dead without any attempt (crash loop, no lease): no records.
  auto crash = make_delivery(c, "g", 0);
  BOOST_REQUIRE_EQUAL(settle_one(s,
                                 dead_of(crash, dlq_reason::crash_loop,
                                         "lease expired 3 time(s)"),
                                 t0 + 20),
                      fence_decision::ok);
  gh = history_in(s, "c", "g");
  BOOST_CHECK_EQUAL(gh.status, event_status::dead);
  BOOST_CHECK(gh.attempts.empty());
}

BOOST_DATA_TEST_CASE(history_of_unknown_or_groupless_event,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  BOOST_CHECK(s.history_of("nope").empty());
  add(s, "early", "order.created", t0); // before any group
  s.ensure_group({"g", {"*"}});
  BOOST_CHECK(s.history_of("early").empty());
  BOOST_CHECK(s.status_of("early").empty());
  BOOST_CHECK(s.history_of("nope").empty());
}

BOOST_DATA_TEST_CASE(history_lists_matching_groups_only,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"orders", {"order.*"}});
  s.ensure_group({"users", {"user.*"}});
  s.ensure_group({"all", {"*"}});
  auto o = add(s, "o", "order.created", t0);
  auto u = add(s, "u", "user.created", t0);
  s.ensure_group({"late", {"*"}}); // after o and u: not their group
  for (auto g : {"orders", "users", "all"})
    s.read_group(g, 10, t0);
  settle_as(s, "orders", o, settle_kind::done, t0 + 1);
  settle_as(s, "users", u, settle_kind::retry, t0 + 2);
  auto ho = history_map(s, "o");
  BOOST_CHECK_EQUAL(ho.size(), 2u);
  BOOST_REQUIRE(ho.count("orders") == 1 && ho.count("all") == 1);
  BOOST_CHECK_EQUAL(ho["orders"].status, event_status::processed);
  BOOST_REQUIRE_EQUAL(ho["orders"].attempts.size(), 1u);
  BOOST_CHECK_EQUAL(ho["orders"].attempts[0].result, outcome::success);
  BOOST_CHECK_EQUAL(ho["all"].status, event_status::in_flight);
  BOOST_CHECK(ho["all"].attempts.empty());
  auto hu = history_map(s, "u");
  BOOST_CHECK_EQUAL(hu.size(), 2u);
  BOOST_REQUIRE(hu.count("users") == 1 && hu.count("all") == 1);
  BOOST_CHECK_EQUAL(hu["users"].status, event_status::retrying);
  BOOST_REQUIRE_EQUAL(hu["users"].attempts.size(), 1u);
  BOOST_CHECK_EQUAL(hu["users"].attempts[0].error, "err-u");
  BOOST_CHECK(hu["all"].attempts.empty());
  // The newest event with the id counts (same id, after the window).
  std::vector<event> again{make_event("o", "user.deleted", t0 + 2 * minute)};
  auto res = s.append(again, t0 + 2 * minute, minute);
  BOOST_REQUIRE(!res.at(0).duplicate);
  auto hn = history_map(s, "o");
  BOOST_CHECK_EQUAL(hn.size(), 3u);
  for (auto g : {"users", "all", "late"}) {
    BOOST_TEST_CONTEXT("group " << g) {
      BOOST_REQUIRE(hn.count(g) == 1);
      BOOST_CHECK_EQUAL(hn[g].status, event_status::accepted);
      BOOST_CHECK(hn[g].attempts.empty());
    }
  }
}

BOOST_DATA_TEST_CASE(ping_live_store, bdata::make(all_backends), name) {
  harness h{name};
  BOOST_CHECK_NO_THROW(h.s->ping());
  add(*h.s, "e", "t", t0);
  BOOST_CHECK_NO_THROW(h.s->ping());
  BOOST_CHECK_NO_THROW(h.s->ping());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(listing_contract)

BOOST_DATA_TEST_CASE(list_events_by_status_and_group, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  // Created out of name order: items of one seq come in name order anyway.
  s.ensure_group({"b", {"*"}});
  s.ensure_group({"c", {"user.*"}});
  s.ensure_group({"a", {"order.*"}});
  auto o1 = add(s, "o1", "order.created", t0);
  auto u1 = add(s, "u1", "user.created", t0);
  auto o2 = add(s, "o2", "order.paid", t0);
  auto u2 = add(s, "u2", "user.created", t0);
  auto o3 = add(s, "o3", "order.created", t0);
  auto x1 = add(s, "x1", "misc", t0);
  add(s, "o4", "order.created", t0); // read, never settled
  for (auto g : {"a", "b", "c"})
    s.read_group(g, 100, t0);
  using k = settle_kind;
  settle_as(s, "a", o1, k::done, t0 + 1);
  settle_as(s, "b", o1, k::done, t0 + 1);
  settle_as(s, "b", u1, k::done, t0 + 2);
  settle_as(s, "c", u1, k::dead, t0 + 2);
  settle_as(s, "a", o2, k::retry, t0 + 3);
  settle_as(s, "b", o2, k::dead, t0 + 3);
  settle_as(s, "c", u2, k::done, t0 + 4);
  settle_as(s, "a", o3, k::dead, t0 + 5);
  settle_as(s, "b", o3, k::retry, t0 + 5);
  settle_as(s, "b", x1, k::done, t0 + 6);
  auto processed = s.list_events(listing(event_status::processed));
  BOOST_CHECK_EQUAL(items_of(processed), "o1@a,o1@b,u1@b,u2@c,x1@b");
  BOOST_CHECK_EQUAL(processed.next, 0u);
  BOOST_REQUIRE_EQUAL(processed.items.size(), 5u);
  auto& it = processed.items[2];
  BOOST_CHECK_EQUAL(it.group, "b");
  BOOST_CHECK_EQUAL(it.event_id, "u1");
  BOOST_CHECK_EQUAL(it.type, "user.created");
  BOOST_CHECK_EQUAL(it.seq, u1.seq);
  BOOST_CHECK_EQUAL(it.status, event_status::processed);
  BOOST_CHECK_EQUAL(processed.items[4].type, "misc");
  BOOST_CHECK_EQUAL(processed.items[4].seq, x1.seq);
  BOOST_CHECK_EQUAL(
    items_of(s.list_events(listing(event_status::processed, "b"))),
    "o1@b,u1@b,x1@b");
  BOOST_CHECK_EQUAL(
    items_of(s.list_events(listing(event_status::processed, "c"))), "u2@c");
  auto dead = s.list_events(listing(event_status::dead));
  BOOST_CHECK_EQUAL(items_of(dead), "u1@c,o2@b,o3@a");
  BOOST_CHECK_EQUAL(dead.next, 0u);
  for (auto& d : dead.items)
    BOOST_CHECK_EQUAL(d.status, event_status::dead);
  BOOST_CHECK_EQUAL(items_of(s.list_events(listing(event_status::dead, "a"))),
                    "o3@a");
  auto retrying = s.list_events(listing(event_status::retrying));
  BOOST_CHECK_EQUAL(items_of(retrying), "o2@a,o3@b");
  BOOST_CHECK_EQUAL(retrying.next, 0u);
  BOOST_CHECK_EQUAL(
    items_of(s.list_events(listing(event_status::retrying, "b"))), "o3@b");
  auto none = s.list_events(listing(event_status::retrying, "c"));
  BOOST_CHECK(none.items.empty());
  BOOST_CHECK_EQUAL(none.next, 0u);
  // A cursor skips what came before it.
  BOOST_CHECK_EQUAL(
    items_of(s.list_events(listing(event_status::processed, "", o1.seq))),
    "u1@b,u2@c,x1@b");
  BOOST_CHECK_EQUAL(
    items_of(s.list_events(listing(event_status::dead, "", o2.seq))), "o3@a");
  // Unknown group: nothing, no next page.
  for (auto st :
       {event_status::processed, event_status::dead, event_status::retrying}) {
    auto unknown = s.list_events(listing(st, "zzz"));
    BOOST_CHECK(unknown.items.empty());
    BOOST_CHECK_EQUAL(unknown.next, 0u);
  }
  // Status changes show: the retry is replayed from the DLQ, o2 dies in a.
  BOOST_REQUIRE_EQUAL(s.dlq_replay("o2", "b", t0 + 10), 1u);
  BOOST_CHECK_EQUAL(items_of(s.list_events(listing(event_status::retrying))),
                    "o2@a,o2@b,o3@b");
  BOOST_CHECK_EQUAL(items_of(s.list_events(listing(event_status::dead))),
                    "u1@c,o3@a");
}

BOOST_DATA_TEST_CASE(list_events_pages_never_split_a_seq,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"a", {"*"}});
  s.ensure_group({"b", {"*"}});
  s.ensure_group({"c", {"even.*"}});
  std::vector<event> evs;
  for (int i = 0; i < 30; ++i)
    evs.push_back(
      add(s, "e" + std::to_string(i), i % 2 == 0 ? "even.x" : "odd.x", t0));
  for (auto g : {"a", "b", "c"})
    s.read_group(g, 100, t0);
  for (int i = 0; i < 30; ++i) {
    auto& ev = evs[i];
    if (i % 5 != 3)
      settle_as(s, "a", ev, i % 7 == 0 ? settle_kind::dead : settle_kind::done,
                t0 + i);
    if (i % 3 != 1)
      settle_as(s, "b", ev, settle_kind::done, t0 + i);
    if (i % 2 == 0 && i % 4 != 2)
      settle_as(s, "c", ev, settle_kind::done, t0 + i);
  }
  add(s, "tail", "odd.x", t0 + 100); // an entry after the last item
  // Expected, built from the settlements above.
  std::vector<std::string> want_all, want_b;
  for (int i = 0; i < 30; ++i) {
    auto id = "e" + std::to_string(i);
    if (i % 5 != 3 && i % 7 != 0)
      want_all.push_back(id + "@a");
    if (i % 3 != 1) {
      want_all.push_back(id + "@b");
      want_b.push_back(id + "@b");
    }
    if (i % 2 == 0 && i % 4 != 2)
      want_all.push_back(id + "@c");
  }
  auto full = s.list_events(listing(event_status::processed, "", 0, 1000));
  BOOST_CHECK_EQUAL(items_of(full), join(want_all));
  BOOST_CHECK_EQUAL(full.next, 0u);
  // Pages of any size walk every item exactly once, in order.
  for (size_t limit : {1, 2, 3, 5, 7}) {
    BOOST_TEST_CONTEXT("limit " << limit) {
      size_t pages = 0;
      auto got = walk(s, listing(event_status::processed, "", 0, limit),
                      &pages);
      BOOST_CHECK_EQUAL(items_of(got), join(want_all));
      BOOST_CHECK_GE(pages, want_all.size() / (limit + 2));
      auto got_b = walk(s, listing(event_status::processed, "b", 0, limit));
      BOOST_CHECK_EQUAL(items_of(got_b), join(want_b));
    }
  }
  // Limit 1 on a seq processed by three groups: one page with all three.
  auto p = s.list_events(listing(event_status::processed, "", 0, 1));
  BOOST_CHECK_EQUAL(items_of(p), "e0@b,e0@c");
  BOOST_CHECK_EQUAL(p.next, evs[0].seq);
  p = s.list_events(listing(event_status::processed, "", evs[11].seq, 1));
  BOOST_CHECK_EQUAL(items_of(p), "e12@a,e12@b,e12@c");
  BOOST_CHECK_EQUAL(p.next, evs[12].seq);
  // The last page ends at the head.
  p = s.list_events(listing(event_status::processed, "", evs[29].seq, 1));
  BOOST_CHECK(p.items.empty());
  BOOST_CHECK_EQUAL(p.next, 0u);
  // Beyond the head: nothing.
  p = s.list_events(listing(event_status::processed, "", s.head(), 10));
  BOOST_CHECK(p.items.empty());
  BOOST_CHECK_EQUAL(p.next, 0u);
  // Dead ones too.
  auto dead = walk(s, listing(event_status::dead, "a", 0, 1));
  BOOST_CHECK_EQUAL(items_of(dead), "e0@a,e7@a,e14@a,e21@a"); // 28 % 5 == 3
}

BOOST_DATA_TEST_CASE(list_events_scans_a_bounded_range,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"match.*"}});
  // Far more non-matching entries than one call scans (at most
  // max(limit * 4, 256) per call).
  std::vector<event> noise;
  for (int i = 0; i < 600; ++i)
    noise.push_back(make_event("n" + std::to_string(i), "noise", t0));
  s.append(noise, t0, minute);
  auto m = add(s, "m", "match.x", t0);
  add(s, "after", "noise", t0);
  s.read_group("g", 10, t0);
  settle_as(s, "g", m, settle_kind::done, t0 + 1);
  auto first = s.list_events(listing(event_status::processed, "", 0, 1));
  BOOST_CHECK(first.items.empty());
  BOOST_CHECK_GT(first.next, 0u);
  BOOST_CHECK_LT(first.next, m.seq);
  size_t pages = 0;
  auto all = walk(s, listing(event_status::processed, "", 0, 1), &pages);
  BOOST_CHECK_EQUAL(items_of(all), "m@g");
  BOOST_CHECK_GE(pages, 2u);
  BOOST_CHECK_LE(pages, 4u);
  // A larger limit scans further per call.
  auto big = s.list_events(listing(event_status::processed, "", 0, 1000));
  BOOST_CHECK_EQUAL(items_of(big), "m@g");
  BOOST_CHECK_EQUAL(big.next, 0u);
}

BOOST_AUTO_TEST_SUITE_END()
