// The store contract of persistence (persistent backends only): a reopened
// store keeps the log, dedup window, ledger, epochs, DLQ and retries.

#include "tests/integration/contract/backends.hpp"

#include <algorithm>
#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;

BOOST_AUTO_TEST_SUITE(persistence_contract)

BOOST_DATA_TEST_CASE(reopen_keeps_state, bdata::make(persistent_backends),
                     name) {
  harness h{name};
  std::vector<event> evs;
  uint64_t max_epoch = 0;
  {
    auto& s = *h.s;
    s.ensure_group({"g", {"*"}});
    s.ensure_group({"other", {"user.*"}});
    for (int i = 1; i <= 8; ++i)
      evs.push_back(add(s, "e" + std::to_string(i), "order.created", t0));
    BOOST_REQUIRE_EQUAL(s.read_group("g", 10, t0).size(), 8u);
    std::vector<uint64_t> eps(9, 0);
    for (int i : {1, 2, 3, 4, 5, 7, 8}) {
      eps[i] = lease(s, "g", evs[i - 1], t0, 10 * minute);
      max_epoch = std::max(max_epoch, eps[i]);
    }
    auto dl = [&](int i) {
      return make_delivery(evs[i - 1], "g", eps[i]);
    };
    auto res = s.settle(
      {done_of(dl(1), true), retry_of(dl(2), t0 + 100),
       dead_of(dl(3), dlq_reason::permanent_error, "boom"), release_of(dl(4)),
       dead_of(dl(5), dlq_reason::permanent_error, "purge me"), done_of(dl(7)),
       done_of(dl(8))},
      t0 + 1);
    for (auto d : res)
      BOOST_REQUIRE_EQUAL(d, fence_decision::ok);
    BOOST_REQUIRE_EQUAL(s.take_due(t0 + 100, 10).size(), 1u);
    BOOST_REQUIRE_EQUAL(s.dlq_purge("e5"), 1u);
    evs.push_back(add(s, "e9", "order.created", t0 + 2)); // never read
  }
  auto head = h.s->head();
  h.reopen();
  auto& s = *h.s;
  BOOST_CHECK_EQUAL(s.head(), head);
  for (auto& ev : evs) {
    auto found = s.find(ev.id);
    BOOST_CHECK_EQUAL(found.seq, ev.seq);
    BOOST_CHECK_EQUAL(found.payload, ev.payload);
    BOOST_CHECK_EQUAL(found.trace_id, ev.trace_id);
  }
  // The dedup window survives the restart.
  std::vector<event> batch{make_event("e1", "order.created", t0 + 10)};
  auto res = s.append(batch, t0 + 10, minute);
  BOOST_CHECK(res.at(0).duplicate);
  BOOST_CHECK_EQUAL(res[0].seq, evs[0].seq);
  BOOST_CHECK_EQUAL(res[0].original, event_status::processed);
  // Unsettled entries come back exactly once (as pending or as new);
  // settled ones (done, retry, dead, purged) do not.
  BOOST_CHECK_EQUAL(s.backlog("g"), 3u);
  std::vector<std::string> again;
  for (auto& ev : s.reclaim("g", t0 + 20 * minute, 0, 100))
    again.push_back(ev.id);
  for (auto& ev : s.read_group("g", 100, t0 + 20 * minute))
    again.push_back(ev.id);
  std::sort(again.begin(), again.end());
  BOOST_CHECK_EQUAL(join(again), "e4,e6,e9");
  BOOST_CHECK(s.read_group("other", 100, t0 + 20 * minute).empty());
  // Ledger kept.
  for (int i : {1, 7, 8})
    BOOST_CHECK(s.is_done("g", evs[i - 1].seq));
  BOOST_CHECK(!s.is_done("g", evs[3].seq));
  BOOST_CHECK_EQUAL(claim_one(s, "g", evs[0], holder_a, t0 + 30).kind,
                    claim_decision::done);
  BOOST_CHECK_EQUAL(s.processed_count(""), 1u);
  // Epochs never repeat.
  auto ep = lease(s, "g", evs[3], t0 + 20 * minute);
  BOOST_CHECK_GT(ep, max_epoch);
  // DLQ kept (the purged entry stays purged).
  BOOST_CHECK_EQUAL(s.dlq_size(), 1u);
  auto dead = s.dlq_get("e3");
  BOOST_REQUIRE_EQUAL(dead.size(), 1u);
  BOOST_CHECK_EQUAL(dead[0].last_error, "boom");
  BOOST_CHECK_EQUAL(dead[0].reason, dlq_reason::permanent_error);
  BOOST_CHECK_EQUAL(dead[0].dead_at, t0 + 1);
  // A retry taken before the restart is due again.
  BOOST_CHECK_EQUAL(s.scheduled(), 1u);
  BOOST_CHECK_EQUAL(s.next_due(), t0 + 100);
  auto due = s.take_due(t0 + 100, 10);
  BOOST_REQUIRE_EQUAL(due.size(), 1u);
  BOOST_CHECK_EQUAL(due[0].ev.id, "e2");
  BOOST_CHECK_EQUAL(due[0].attempt, 2u);
  BOOST_CHECK_EQUAL(status_map(s, "e2")["g"], event_status::retrying);
  BOOST_CHECK_EQUAL(status_map(s, "e3")["g"], event_status::dead);
}

BOOST_DATA_TEST_CASE(epochs_increase_across_reopens,
                     bdata::make(persistent_backends), name) {
  harness h{name};
  h.s->ensure_group({"g", {"*"}});
  uint64_t last = 0;
  for (int round = 0; round < 3; ++round) {
    auto& s = *h.s;
    auto ev = add(s, "e" + std::to_string(round), "t", t0);
    s.read_group("g", 10, t0);
    auto d = s.claim({{"g", ev.id, ev.seq}}, holder_a, t0, 1000, 3);
    BOOST_REQUIRE_EQUAL(d.at(0).kind, claim_decision::granted);
    BOOST_CHECK_GT(d[0].epoch, last);
    last = d[0].epoch;
    h.reopen();
  }
}

BOOST_AUTO_TEST_SUITE_END()
