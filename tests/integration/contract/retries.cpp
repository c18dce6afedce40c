// The store contract of the retry port: retries due once at their due time,
// earliest first; take marks renewed, lapsing and released.

#include "tests/integration/contract/backends.hpp"

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;

BOOST_AUTO_TEST_SUITE(retry_contract)

BOOST_DATA_TEST_CASE(retry_due_once_at_due_time, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e = add(s, "e", "order.created", t0);
  s.read_group("g", 10, t0);
  BOOST_CHECK_EQUAL(s.next_due(), -1);
  BOOST_CHECK_EQUAL(s.scheduled(), 0u);
  auto ep1 = lease(s, "g", e, t0);
  auto dl = make_delivery(e, "g", ep1, 1);
  dl.history.push_back(
    make_attempt(1, t0 + 5, ep1, outcome::retryable, "timeout"));
  // A stale retry is refused and schedules nothing.
  BOOST_CHECK_EQUAL(
    settle_one(s, retry_of(make_delivery(e, "g", ep1 + 99), t0 + 500), t0 + 10),
    fence_decision::stale);
  BOOST_CHECK_EQUAL(s.scheduled(), 0u);
  BOOST_CHECK_EQUAL(settle_one(s, retry_of(dl, t0 + 1000), t0 + 10),
                    fence_decision::ok);
  BOOST_CHECK_EQUAL(s.scheduled(), 1u);
  BOOST_CHECK_EQUAL(s.next_due(), t0 + 1000);
  BOOST_CHECK_EQUAL(status_map(s, "e")["g"], event_status::retrying);
  BOOST_CHECK_EQUAL(s.backlog("g"), 0u);
  BOOST_CHECK(s.reclaim("g", t0 + 100'000, 0, 10).empty());
  BOOST_CHECK(s.take_due(t0 + 999, 10).empty());
  auto due = s.take_due(t0 + 1000, 10);
  BOOST_REQUIRE_EQUAL(due.size(), 1u);
  BOOST_CHECK_EQUAL(due[0].ev.id, "e");
  BOOST_CHECK_EQUAL(due[0].ev.seq, e.seq);
  BOOST_CHECK_EQUAL(due[0].ev.payload, e.payload);
  BOOST_CHECK_EQUAL(due[0].group, "g");
  BOOST_CHECK_EQUAL(due[0].attempt, 2u);
  BOOST_CHECK_EQUAL(due[0].epoch, 0u);
  BOOST_REQUIRE_EQUAL(due[0].history.size(), 1u);
  BOOST_CHECK_EQUAL(due[0].history[0].error, "timeout");
  BOOST_CHECK_EQUAL(due[0].history[0].epoch, ep1);
  BOOST_CHECK(due[0].history[0].result == outcome::retryable);
  // Taken: not handed out again, still scheduled until settled (or, where
  // marks lapse, until the hold is over).
  BOOST_CHECK(s.take_due(t0 + 5000, 10).empty());
  auto hold = h.be->taken_hold();
  BOOST_CHECK_EQUAL(s.next_due(), hold < 0 ? -1 : t0 + 1000 + hold);
  if (hold >= 0) {
    BOOST_CHECK(s.take_due(t0 + 1000 + hold - 1, 10).empty());
    auto again = s.take_due(t0 + 1000 + hold, 10);
    BOOST_REQUIRE_EQUAL(again.size(), 1u);
    BOOST_CHECK_EQUAL(again[0].ev.id, "e");
    BOOST_CHECK_EQUAL(s.next_due(), t0 + 1000 + 2 * hold);
  }
  BOOST_CHECK_EQUAL(s.scheduled(), 1u);
  auto ep2 = lease(s, "g", e, t0 + 1001);
  BOOST_CHECK_GT(ep2, ep1);
  auto dl2 = due[0];
  dl2.epoch = ep2;
  BOOST_CHECK_EQUAL(settle_one(s, done_of(dl2, true), t0 + 1002),
                    fence_decision::ok);
  BOOST_CHECK_EQUAL(s.scheduled(), 0u);
  BOOST_CHECK_EQUAL(status_map(s, "e")["g"], event_status::processed);
  auto recs = s.processed_of("e");
  BOOST_REQUIRE_EQUAL(recs.size(), 1u);
  BOOST_CHECK_EQUAL(recs[0].attempt, 2u);
}

BOOST_DATA_TEST_CASE(take_due_earliest_first, bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto a = add(s, "a", "t", t0);
  auto b = add(s, "b", "t", t0);
  auto c = add(s, "c", "t", t0);
  s.read_group("g", 10, t0);
  auto ea = lease(s, "g", a, t0);
  auto eb = lease(s, "g", b, t0);
  auto ec = lease(s, "g", c, t0);
  auto res = s.settle({retry_of(make_delivery(a, "g", ea), t0 + 500),
                       retry_of(make_delivery(b, "g", eb), t0 + 300),
                       retry_of(make_delivery(c, "g", ec), t0 + 900)},
                      t0 + 1);
  for (auto d : res)
    BOOST_CHECK_EQUAL(d, fence_decision::ok);
  BOOST_CHECK_EQUAL(s.next_due(), t0 + 300);
  auto first = s.take_due(t0 + 600, 1);
  BOOST_REQUIRE_EQUAL(first.size(), 1u);
  BOOST_CHECK_EQUAL(first[0].ev.id, "b");
  BOOST_CHECK_EQUAL(s.next_due(), t0 + 500);
  auto second = s.take_due(t0 + 600, 10);
  BOOST_REQUIRE_EQUAL(second.size(), 1u);
  BOOST_CHECK_EQUAL(second[0].ev.id, "a");
  BOOST_CHECK_EQUAL(s.next_due(), t0 + 900);
  BOOST_CHECK_EQUAL(s.scheduled(), 3u);
}

namespace {

/// Seqs of the deliveries, sorted and comma-separated.
std::string seqs_of(const std::vector<delivery>& dls) {
  std::vector<uint64_t> xs;
  for (auto& dl : dls)
    xs.push_back(dl.ev.seq);
  std::sort(xs.begin(), xs.end());
  std::string out;
  for (auto x : xs)
    out += (out.empty() ? "" : ",") + std::to_string(x);
  return out;
}

} // namespace

BOOST_DATA_TEST_CASE(take_marks_are_renewed_released_or_lapse,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  std::vector<event> evs;
  std::vector<settlement> retries;
  for (auto id : {"a", "b", "c", "d"}) {
    evs.push_back(add(s, id, "t", t0));
    s.read_group("g", 10, t0);
    retries.push_back(
      retry_of(make_delivery(evs.back(), "g", lease(s, "g", evs.back(), t0)),
               t0 + 1000));
  }
  for (auto d : s.settle(retries, t0 + 1))
    BOOST_CHECK_EQUAL(d, fence_decision::ok);
  auto [a, b, c, d] = std::tie(evs[0], evs[1], evs[2], evs[3]);
  auto seqs = [](std::initializer_list<const event*> xs) {
    std::string out;
    for (auto* x : xs)
      out += (out.empty() ? "" : ",") + std::to_string(x->seq);
    return out;
  };
  BOOST_CHECK_EQUAL(seqs_of(s.take_due(t0 + 1000, 10)), seqs({&a, &b, &c, &d}));
  auto hold = h.be->taken_hold();
  // Half a hold later the node renews what it still holds (a, b) and gives
  // back what it will not run (c): c is free at once, for any taker.
  auto later = t0 + 1000 + (hold > 0 ? hold / 2 : minute);
  BOOST_CHECK_EQUAL(s.renew_taken({{"g", a.seq}, {"g", b.seq}}, later), 2u);
  BOOST_CHECK_EQUAL(s.release_taken({{"g", c.seq}}), 1u);
  BOOST_CHECK_EQUAL(seqs_of(s.take_due(later, 10)), seqs({&c}));
  if (hold > 0) {
    // d, not renewed, lapses a hold after its take; a and b (renewed) and
    // c (taken again) a hold after `later`.
    BOOST_CHECK_EQUAL(s.next_due(), t0 + 1000 + hold);
    BOOST_CHECK(s.take_due(t0 + 1000 + hold - 1, 10).empty());
    BOOST_CHECK_EQUAL(seqs_of(s.take_due(t0 + 1000 + hold, 10)), seqs({&d}));
    BOOST_CHECK_EQUAL(s.next_due(), later + hold);
    BOOST_CHECK(s.take_due(later + hold - 1, 10).empty());
    BOOST_CHECK_EQUAL(seqs_of(s.take_due(later + hold, 10)),
                      seqs({&a, &b, &c}));
  } else {
    // Marks do not lapse: nothing is handed out twice.
    BOOST_CHECK_EQUAL(s.next_due(), -1);
    BOOST_CHECK(s.take_due(t0 + 1000 + 60 * minute, 10).empty());
  }
  // A settled pair has no mark left: nothing to renew or give back.
  auto end = later + std::max<millis_t>(hold, 0);
  auto dl = make_delivery(a, "g", lease(s, "g", a, end + 1));
  dl.attempt = 2;
  BOOST_CHECK_EQUAL(settle_one(s, done_of(dl), end + 2), fence_decision::ok);
  BOOST_CHECK_EQUAL(s.renew_taken({{"g", a.seq}}, end + 3), 0u);
  BOOST_CHECK_EQUAL(s.release_taken({{"g", a.seq}}), 0u);
  BOOST_CHECK_EQUAL(s.renew_taken({}, end + 3), 0u);
  BOOST_CHECK_EQUAL(s.scheduled(), 3u);
}

BOOST_AUTO_TEST_SUITE_END()
