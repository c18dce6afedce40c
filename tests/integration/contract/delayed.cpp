// The store contract of delayed events: an appended delayed event waits in
// the schedule of every group of its type (never read by a group), is
// handed out at its time as attempt 1, shows as `scheduled`, can be
// cancelled until a listener claims it, holds the log back until it
// settles, and all of it survives a reopen.

#include "tests/integration/contract/backends.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;

namespace {

constexpr millis_t second = 1000;

/// Appends one event due at `not_before` (accepted at `now`); it must be
/// accepted. Returns it with its seq.
event add_delayed(store& s, const std::string& id, const std::string& type,
                  millis_t now, millis_t not_before, millis_t window = minute) {
  auto ev = make_event(id, type, now);
  ev.not_before = not_before;
  std::vector<event> batch{ev};
  auto res = s.append(batch, now, window);
  BOOST_REQUIRE_EQUAL(res.size(), 1u);
  BOOST_REQUIRE_MESSAGE(!res[0].duplicate, id << " was a duplicate");
  BOOST_REQUIRE_EQUAL(res[0].seq, batch[0].seq);
  return batch[0];
}

/// "group:attempt" of the deliveries, sorted.
std::string pairs_of(const std::vector<delivery>& dls) {
  std::vector<std::string> xs;
  for (auto& dl : dls)
    xs.push_back(dl.ev.id + "@" + dl.group + ":" + std::to_string(dl.attempt));
  std::sort(xs.begin(), xs.end());
  return join(xs);
}

/// The groups a cancel call cancelled in, comma-separated.
std::string cancelled_in(const cancel_result& r) {
  auto xs = r.cancelled;
  std::sort(xs.begin(), xs.end());
  return join(xs);
}

} // namespace

BOOST_AUTO_TEST_SUITE(delayed_contract)

BOOST_DATA_TEST_CASE(delayed_event_waits_in_the_schedule_of_each_group,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"order.*"}});
  s.ensure_group({"h", {"*"}});
  s.ensure_group({"k", {"user.*"}});
  auto due = t0 + 30 * second;
  auto d = add_delayed(s, "d", "order.created", t0, due);
  auto e = add(s, "e", "order.created", t0);
  BOOST_CHECK_GT(d.seq, 0u);
  BOOST_CHECK_EQUAL(s.find("d").not_before, due);
  BOOST_CHECK_EQUAL(s.find("e").not_before, 0);
  // Groups read the event that is not delayed only; the delayed one does
  // not count in their backlogs.
  BOOST_CHECK_EQUAL(s.backlog("g"), 1u);
  BOOST_CHECK_EQUAL(s.backlog("h"), 1u);
  BOOST_CHECK_EQUAL(ids_of(s.read_group("g", 10, t0)), "e");
  BOOST_CHECK_EQUAL(ids_of(s.read_group("h", 10, t0)), "e");
  BOOST_CHECK(s.read_group("k", 10, t0).empty());
  BOOST_CHECK(s.read_group("g", 10, t0 + 100 * second).empty());
  BOOST_CHECK_EQUAL(ids_of(s.reclaim("g", t0 + 100 * second, 0, 10)), "e");
  BOOST_CHECK_EQUAL(statuses(s, "d"), "g:scheduled h:scheduled");
  BOOST_CHECK(aggregate(s.status_of("d")) == event_status::scheduled);
  auto hist = history_in(s, "d", "g");
  BOOST_CHECK(hist.attempts.empty());
  BOOST_CHECK_EQUAL(s.delayed(), 2u);
  BOOST_CHECK_EQUAL(s.scheduled(), 2u);
  BOOST_CHECK_EQUAL(s.next_due(), due);
  // Handed out at its time, not a millisecond before: attempt 1, no
  // history, the whole event.
  BOOST_CHECK(s.take_due(due - 1, 10).empty());
  auto dls = s.take_due(due, 10);
  BOOST_REQUIRE_EQUAL(dls.size(), 2u);
  BOOST_CHECK_EQUAL(pairs_of(dls), "d@g:1,d@h:1");
  for (auto& dl : dls) {
    BOOST_CHECK_EQUAL(dl.ev.seq, d.seq);
    BOOST_CHECK_EQUAL(dl.ev.payload, d.payload);
    BOOST_CHECK_EQUAL(dl.ev.type, "order.created");
    BOOST_CHECK_EQUAL(dl.ev.trace_id, "trace-d");
    BOOST_CHECK_EQUAL(dl.ev.created_at, t0);
    BOOST_CHECK_EQUAL(dl.ev.not_before, due);
    BOOST_CHECK(dl.ev.prio == priority::high);
    BOOST_CHECK_EQUAL(dl.epoch, 0u);
    BOOST_CHECK(dl.history.empty());
  }
  // Still scheduled until a listener holds its lease.
  BOOST_CHECK_EQUAL(statuses(s, "d"), "g:scheduled h:scheduled");
  auto ep = lease(s, "g", d, due + 1);
  BOOST_CHECK_EQUAL(statuses(s, "d"), "g:in_flight h:scheduled");
  auto dg = std::find_if(dls.begin(), dls.end(),
                         [](const delivery& x) { return x.group == "g"; });
  auto done = *dg;
  done.epoch = ep;
  done.history.push_back(make_attempt(1, due + 2, ep, outcome::success, ""));
  BOOST_CHECK_EQUAL(settle_one(s, done_of(done, true), due + 2),
                    fence_decision::ok);
  BOOST_CHECK_EQUAL(statuses(s, "d"), "g:processed h:scheduled");
  BOOST_CHECK_EQUAL(s.delayed(), 1u);
  auto recs = s.processed_of("d");
  BOOST_REQUIRE_EQUAL(recs.size(), 1u);
  BOOST_CHECK_EQUAL(recs[0].attempt, 1u);
  // In h the first attempt fails: from then on a retry like any other.
  auto eh = lease(s, "h", d, due + 3);
  auto failed = make_delivery(d, "h", eh, 1);
  failed.ev.not_before = due;
  failed.history.push_back(
    make_attempt(1, due + 4, eh, outcome::retryable, "busy"));
  BOOST_CHECK_EQUAL(settle_one(s, retry_of(failed, due + 10 * second), due + 4),
                    fence_decision::ok);
  BOOST_CHECK_EQUAL(statuses(s, "d"), "g:processed h:retrying");
  BOOST_CHECK_EQUAL(s.delayed(), 0u);
  auto again = s.take_due(due + 10 * second, 10);
  BOOST_CHECK_EQUAL(pairs_of(again), "d@h:2");
  // A duplicate of a delayed event tells its status; nothing is appended.
  auto dup = make_event("d", "order.created", t0 + second);
  dup.not_before = t0 + 50 * second;
  std::vector<event> batch{dup};
  auto res = s.append(batch, t0 + second, minute);
  BOOST_REQUIRE_EQUAL(res.size(), 1u);
  BOOST_CHECK(res[0].duplicate);
  BOOST_CHECK_EQUAL(res[0].seq, d.seq);
  BOOST_CHECK_EQUAL(s.find("d").not_before, due);
  BOOST_CHECK_EQUAL(s.head(), e.seq);
}

BOOST_DATA_TEST_CASE(a_delayed_duplicate_in_a_batch_is_scheduled_once,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto a = make_event("a", "t", t0);
  a.not_before = t0 + minute;
  std::vector<event> batch{a, a};
  auto res = s.append(batch, t0, minute);
  BOOST_REQUIRE_EQUAL(res.size(), 2u);
  BOOST_CHECK(!res[0].duplicate);
  BOOST_CHECK(res[1].duplicate);
  BOOST_CHECK_EQUAL(s.delayed(), 1u);
  BOOST_CHECK_EQUAL(pairs_of(s.take_due(t0 + minute, 10)), "a@g:1");
}

BOOST_DATA_TEST_CASE(a_group_created_later_does_not_get_it,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto d = add_delayed(s, "d", "t", t0, t0 + minute);
  s.ensure_group({"late", {"*"}});
  BOOST_CHECK_EQUAL(statuses(s, "d"), "g:scheduled");
  BOOST_CHECK(s.read_group("late", 10, t0 + minute).empty());
  BOOST_CHECK_EQUAL(s.backlog("late"), 0u);
  BOOST_CHECK_EQUAL(pairs_of(s.take_due(t0 + minute, 10)), "d@g:1");
  BOOST_CHECK_EQUAL(d.seq, s.head());
}

BOOST_DATA_TEST_CASE(cancel_before_the_claim_and_never_after,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  s.ensure_group({"h", {"*"}});
  auto due = t0 + minute;
  auto d = add_delayed(s, "d", "t", t0, due);
  auto p = add(s, "p", "t", t0);
  // Unknown ids and events that are not delayed are not cancelled.
  auto unknown = s.cancel("nope", t0);
  BOOST_CHECK_EQUAL(unknown.seq, 0u);
  BOOST_CHECK(unknown.cancelled.empty());
  auto plain = s.cancel("p", t0);
  BOOST_CHECK_EQUAL(plain.seq, p.seq);
  BOOST_CHECK(!plain.delayed);
  BOOST_CHECK(plain.cancelled.empty());
  BOOST_CHECK_EQUAL(plain.groups.size(), 2u);
  // Due: both pairs are handed out, h's is claimed (it started), g's not
  // yet (it is on its way to a listener).
  BOOST_CHECK_EQUAL(pairs_of(s.take_due(due, 10)), "d@g:1,d@h:1");
  auto eh = lease(s, "h", d, due + 1);
  auto r = s.cancel("d", due + 2);
  BOOST_CHECK_EQUAL(r.seq, d.seq);
  BOOST_CHECK(r.delayed);
  BOOST_CHECK_EQUAL(cancelled_in(r), "g");
  std::map<std::string, event_status> after;
  for (auto& gs : r.groups)
    after[gs.group] = gs.status;
  BOOST_CHECK_EQUAL(after.size(), 2u);
  BOOST_CHECK_EQUAL(after["g"], event_status::cancelled);
  BOOST_CHECK_EQUAL(after["h"], event_status::in_flight);
  BOOST_CHECK_EQUAL(statuses(s, "d"), "g:cancelled h:in_flight");
  // The copy on its way never runs: its claim answers done.
  BOOST_CHECK_EQUAL(claim_one(s, "g", d, holder_b, due + 3).kind,
                    claim_decision::done);
  BOOST_CHECK_EQUAL(s.delayed(), 1u);
  BOOST_CHECK_EQUAL(s.scheduled(), 1u);
  // A crash loop's dead-lettering (no lease) of the cancelled pair is
  // refused too.
  BOOST_CHECK(
    settle_one(s,
               dead_of(make_delivery(d, "g", 0), dlq_reason::crash_loop, "x"),
               due + 3)
    != fence_decision::ok);
  // Cancelling again changes nothing.
  auto r2 = s.cancel("d", due + 4);
  BOOST_CHECK(r2.cancelled.empty());
  BOOST_CHECK_EQUAL(statuses(s, "d"), "g:cancelled h:in_flight");
  // h runs it; the event is then done everywhere: cancelled overall.
  auto dl = make_delivery(d, "h", eh, 1);
  BOOST_CHECK_EQUAL(settle_one(s, done_of(dl, true), due + 5),
                    fence_decision::ok);
  BOOST_CHECK_EQUAL(statuses(s, "d"), "g:cancelled h:processed");
  BOOST_CHECK(aggregate(s.status_of("d")) == event_status::cancelled);
  BOOST_CHECK_EQUAL(s.delayed(), 0u);
  BOOST_CHECK_EQUAL(s.scheduled(), 0u);
  BOOST_CHECK(s.cancel("d", due + 6).cancelled.empty());
  BOOST_CHECK_EQUAL(s.processed_of("d").size(), 1u);
  BOOST_CHECK(s.take_due(due + 60 * minute, 10).empty());
}

BOOST_DATA_TEST_CASE(cancel_before_its_time_takes_it_out_everywhere,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"a.*"}});
  s.ensure_group({"h", {"*"}});
  auto d = add_delayed(s, "d", "a.b", t0, t0 + minute);
  auto r = s.cancel("d", t0 + second);
  BOOST_CHECK_EQUAL(cancelled_in(r), "g,h");
  BOOST_CHECK_EQUAL(statuses(s, "d"), "g:cancelled h:cancelled");
  BOOST_CHECK(aggregate(s.status_of("d")) == event_status::cancelled);
  BOOST_CHECK_EQUAL(s.delayed(), 0u);
  BOOST_CHECK_EQUAL(s.next_due(), -1);
  BOOST_CHECK(s.take_due(t0 + 2 * minute, 10).empty());
  BOOST_CHECK(s.read_group("g", 10, t0 + 2 * minute).empty());
  BOOST_CHECK_EQUAL(claim_one(s, "h", d, holder_a, t0 + 2 * minute).kind,
                    claim_decision::done);
  BOOST_CHECK(history_in(s, "d", "h").attempts.empty());
}

BOOST_DATA_TEST_CASE(listing_scheduled_and_cancelled, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  s.ensure_group({"h", {"*"}});
  add_delayed(s, "a", "t", t0, t0 + minute);
  add(s, "b", "t", t0);
  add_delayed(s, "c", "t", t0, t0 + 2 * minute);
  BOOST_CHECK_EQUAL(items_of(s.list_events(listing(event_status::scheduled))),
                    "a@g,a@h,c@g,c@h");
  BOOST_CHECK_EQUAL(
    items_of(s.list_events(listing(event_status::scheduled, "h"))), "a@h,c@h");
  BOOST_CHECK_EQUAL(items_of(s.list_events(listing(event_status::accepted))),
                    "b@g,b@h");
  BOOST_CHECK(s.list_events(listing(event_status::retrying)).items.empty());
  s.cancel("c", t0 + second);
  BOOST_CHECK_EQUAL(items_of(s.list_events(listing(event_status::scheduled))),
                    "a@g,a@h");
  BOOST_CHECK_EQUAL(items_of(s.list_events(listing(event_status::cancelled))),
                    "c@g,c@h");
  // Paging: one item per page.
  auto first = s.list_events(listing(event_status::scheduled, "", 0, 1));
  BOOST_CHECK_EQUAL(items_of(first), "a@g,a@h");
  BOOST_CHECK(s.list_events(listing(event_status::scheduled, "", first.next, 1))
                .items.empty());
}

BOOST_DATA_TEST_CASE(a_delayed_event_holds_the_log_back_until_it_settles,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e1 = add(s, "e1", "t", t0);
  auto d = add_delayed(s, "d", "t", t0, t0 + 10 * minute);
  auto c = add_delayed(s, "c", "t", t0, t0 + 10 * minute);
  auto e3 = add(s, "e3", "t", t0);
  BOOST_CHECK_EQUAL(ids_of(s.read_group("g", 10, t0)), "e1,e3");
  process(s, "g", e1, t0);
  process(s, "g", e3, t0);
  // Retention one minute: e1 goes, d holds the rest back.
  BOOST_CHECK_EQUAL(s.trim(t0 + 5 * minute, minute, minute, 100), 1u);
  BOOST_CHECK_EQUAL(s.find("e1").seq, 0u);
  BOOST_CHECK_EQUAL(s.find("d").seq, d.seq);
  // At its time d runs; c was cancelled (it holds nothing back).
  s.cancel("c", t0 + 6 * minute);
  auto dls = s.take_due(t0 + 10 * minute, 10);
  BOOST_REQUIRE_EQUAL(pairs_of(dls), "d@g:1");
  auto ep = lease(s, "g", d, t0 + 10 * minute);
  dls[0].epoch = ep;
  BOOST_CHECK_EQUAL(settle_one(s, done_of(dls[0], true), t0 + 10 * minute),
                    fence_decision::ok);
  // Its history counts from its time: kept a retention after it.
  BOOST_CHECK_EQUAL(s.trim(t0 + 10 * minute + 30 * second, minute, minute, 100),
                    0u);
  BOOST_CHECK_EQUAL(statuses(s, "d"), "g:processed");
  BOOST_CHECK_EQUAL(s.trim(t0 + 11 * minute, minute, minute, 100), 3u);
  BOOST_CHECK_EQUAL(s.find("d").seq, 0u);
  BOOST_CHECK_EQUAL(s.find("c").seq, 0u);
  BOOST_CHECK_EQUAL(s.find("e3").seq, 0u);
  // Trimmed: copies of them never run.
  BOOST_CHECK_EQUAL(claim_one(s, "g", d, holder_b, t0 + 12 * minute).kind,
                    claim_decision::done);
  BOOST_CHECK_EQUAL(claim_one(s, "g", c, holder_b, t0 + 12 * minute).kind,
                    claim_decision::done);
  BOOST_CHECK_EQUAL(s.head(), e3.seq);
}

BOOST_DATA_TEST_CASE(delayed_events_survive_a_reopen,
                     bdata::make(persistent_backends), name) {
  harness h{name};
  h.s->ensure_group({"g", {"*"}});
  h.s->ensure_group({"h", {"*"}});
  auto due = t0 + minute;
  auto d1 = add_delayed(*h.s, "d1", "t", t0, due);
  auto d2 = add_delayed(*h.s, "d2", "t", t0, due + second);
  auto e = add(*h.s, "e", "t", t0);
  h.s->cancel("d2", t0 + second);
  BOOST_CHECK_EQUAL(ids_of(h.s->read_group("g", 10, t0)), "e");
  process(*h.s, "g", e, t0);
  h.reopen();
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  s.ensure_group({"h", {"*"}});
  BOOST_CHECK_EQUAL(statuses(s, "d1"), "g:scheduled h:scheduled");
  BOOST_CHECK_EQUAL(statuses(s, "d2"), "g:cancelled h:cancelled");
  BOOST_CHECK_EQUAL(s.find("d1").not_before, due);
  BOOST_CHECK_EQUAL(s.delayed(), 2u);
  BOOST_CHECK_EQUAL(s.next_due(), due);
  // Reads after the reopen deliver what was not read, never a delayed
  // event.
  BOOST_CHECK(s.read_group("g", 10, t0 + second).empty());
  BOOST_CHECK_EQUAL(ids_of(s.read_group("h", 10, t0 + second)), "e");
  BOOST_CHECK_EQUAL(s.backlog("g"), 0u);
  BOOST_CHECK(s.take_due(due - 1, 10).empty());
  BOOST_CHECK_EQUAL(pairs_of(s.take_due(due + second, 10)), "d1@g:1,d1@h:1");
  BOOST_CHECK_EQUAL(claim_one(s, "g", d2, holder_a, due + second).kind,
                    claim_decision::done);
  auto r = s.cancel("d1", due + second);
  BOOST_CHECK_EQUAL(cancelled_in(r), "g,h");
  (void) d1;
}

BOOST_AUTO_TEST_SUITE_END()
