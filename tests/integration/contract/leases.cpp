// The store contract of the lease port: claim decisions, leases granted
// with a read, takeovers, fenced and idempotent settlements, releases.

#include "tests/integration/contract/backends.hpp"

#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;

namespace {

/// Claims (group "g", ev) for `holder` (lease 1000 ms, budget 3), taking
/// over the lease with `epoch`; `crashed`: its listener went down.
claim_decision take_over(store& s, const event& ev, uint64_t epoch,
                         const std::string& holder, millis_t now,
                         bool crashed = false) {
  auto ds = s.claim({claim_request{"g", ev.id, ev.seq, epoch, crashed}}, holder,
                    now, 1000, 3);
  BOOST_REQUIRE_EQUAL(ds.size(), 1u);
  return ds[0];
}

} // namespace

BOOST_AUTO_TEST_SUITE(lease_contract)

BOOST_DATA_TEST_CASE(claim_decisions, bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e = add(s, "e", "t", t0);
  auto f = add(s, "f", "t", t0);
  s.read_group("g", 10, t0);
  auto d1 = claim_one(s, "g", e, holder_a, t0, 1000, 1);
  BOOST_CHECK_EQUAL(d1.kind, claim_decision::granted);
  BOOST_CHECK_GT(d1.epoch, 0u);
  BOOST_CHECK_EQUAL(d1.expires_at, t0 + 1000);
  BOOST_CHECK_EQUAL(d1.redeliveries, 0u);
  auto d2 = claim_one(s, "g", e, holder_b, t0 + 999, 1000, 1);
  BOOST_CHECK_EQUAL(d2.kind, claim_decision::held);
  BOOST_CHECK_EQUAL(d2.epoch, d1.epoch);
  BOOST_CHECK_EQUAL(d2.expires_at, t0 + 1000);
  // The lease expired without a completion: a crash redelivery.
  auto d3 = claim_one(s, "g", e, holder_b, t0 + 1000, 1000, 1);
  BOOST_CHECK_EQUAL(d3.kind, claim_decision::granted);
  BOOST_CHECK_GT(d3.epoch, d1.epoch);
  BOOST_CHECK_EQUAL(d3.expires_at, t0 + 2000);
  BOOST_CHECK_EQUAL(d3.redeliveries, 1u);
  auto d4 = claim_one(s, "g", e, holder_a, t0 + 2000, 1000, 1);
  BOOST_CHECK_EQUAL(d4.kind, claim_decision::crash_loop);
  BOOST_CHECK_EQUAL(d4.redeliveries, 2u);
  // Other pairs get fresh, larger epochs; a batch gets increasing ones.
  auto d5 = claim_one(s, "g", f, holder_a, t0 + 2000);
  BOOST_CHECK_EQUAL(d5.kind, claim_decision::granted);
  BOOST_CHECK_GT(d5.epoch, d3.epoch);
  auto g1 = add(s, "g1", "t", t0);
  auto g2 = add(s, "g2", "t", t0);
  auto batch = s.claim({{"g", "g1", g1.seq}, {"g", "g2", g2.seq}}, holder_a,
                       t0 + 2000, 1000, 3);
  BOOST_REQUIRE_EQUAL(batch.size(), 2u);
  BOOST_CHECK_EQUAL(batch[0].kind, claim_decision::granted);
  BOOST_CHECK_EQUAL(batch[1].kind, claim_decision::granted);
  BOOST_CHECK_GT(batch[0].epoch, d5.epoch);
  BOOST_CHECK_GT(batch[1].epoch, batch[0].epoch);
  // Done comes from the ledger.
  BOOST_CHECK(!s.is_done("g", f.seq));
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(f, "g", d5.epoch)),
                               t0 + 2001),
                    fence_decision::ok);
  BOOST_CHECK(s.is_done("g", f.seq));
  BOOST_CHECK(!s.is_done("other", f.seq));
  BOOST_CHECK_EQUAL(claim_one(s, "g", f, holder_b, t0 + 2002).kind,
                    claim_decision::done);
}

/// Ids of the deliveries, comma-separated.
std::string delivered_ids(const std::vector<delivery>& dls) {
  std::string out;
  for (auto& dl : dls)
    out += (out.empty() ? "" : ",") + dl.ev.id;
  return out;
}

BOOST_DATA_TEST_CASE(read_leased_leases_what_it_delivers,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"order.*"}});
  s.ensure_group({"all", {"*"}});
  auto o1 = add(s, "o1", "order.created", t0);
  add(s, "u1", "user.created", t0);
  auto o2 = add(s, "o2", "order.paid", t0);
  auto got = s.read_leased("g", 10, t0, holder_a, 1000, 3);
  BOOST_CHECK_EQUAL(delivered_ids(got), "o1,o2");
  BOOST_REQUIRE_EQUAL(got.size(), 2u);
  for (auto& dl : got) {
    BOOST_CHECK_EQUAL(dl.group, "g");
    BOOST_CHECK_GT(dl.epoch, 0u);
    BOOST_CHECK_EQUAL(dl.lease_until, t0 + 1000);
    BOOST_CHECK_EQUAL(dl.redeliveries, 0u);
    BOOST_CHECK_EQUAL(dl.attempt, 1u);
  }
  BOOST_CHECK_EQUAL(got[0].ev.seq, o1.seq);
  BOOST_CHECK_EQUAL(got[0].ev.payload, o1.payload);
  BOOST_CHECK_EQUAL(got[0].ev.trace_id, o1.trace_id);
  BOOST_CHECK_NE(got[0].epoch, got[1].epoch);
  // Never delivered twice, leased or not.
  BOOST_CHECK(s.read_leased("g", 10, t0 + 1, holder_a, 1000, 3).empty());
  BOOST_CHECK(s.read_group("g", 10, t0 + 1).empty());
  // The lease is a claim's: others are held off, it fences settlements.
  auto held = claim_one(s, "g", o1, holder_b, t0 + 999);
  BOOST_CHECK_EQUAL(held.kind, claim_decision::held);
  BOOST_CHECK_EQUAL(held.epoch, got[0].epoch);
  BOOST_CHECK_EQUAL(held.expires_at, t0 + 1000);
  BOOST_CHECK_EQUAL(
    settle_one(s, done_of(make_delivery(o1, "g", got[0].epoch + 1000)),
               t0 + 10),
    fence_decision::stale);
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(o1, "g", got[0].epoch)),
                               t0 + 10),
                    fence_decision::ok);
  BOOST_CHECK(s.is_done("g", o1.seq));
  // Left to expire, it counts as a crash redelivery like any lease.
  auto after = claim_one(s, "g", o2, holder_b, t0 + 1000);
  BOOST_CHECK_EQUAL(after.kind, claim_decision::granted);
  BOOST_CHECK_EQUAL(after.redeliveries, 1u);
  BOOST_CHECK_GT(after.epoch, got[1].epoch);
  // The entries stay pending until settled.
  BOOST_CHECK_EQUAL(ids_of(s.reclaim("g", t0 + 10'000, 100, 10)), "o2");
  // A group taking every type leases every entry; plain reads lease none.
  auto every = s.read_leased("all", 2, t0, holder_a, 500, 3);
  BOOST_CHECK_EQUAL(delivered_ids(every), "o1,u1");
  for (auto& dl : every)
    BOOST_CHECK_EQUAL(dl.lease_until, t0 + 500);
  auto plain = s.read_group("all", 10, t0);
  BOOST_CHECK_EQUAL(ids_of(plain), "o2");
  BOOST_CHECK_EQUAL(claim_one(s, "all", o2, holder_b, t0).kind,
                    claim_decision::granted);
}

BOOST_DATA_TEST_CASE(takeover_replaces_a_read_lease_without_redelivery,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e1 = add(s, "e1", "t", t0);
  auto e2 = add(s, "e2", "t", t0);
  auto e3 = add(s, "e3", "t", t0);
  auto e4 = add(s, "e4", "t", t0);
  auto got = s.read_leased("g", 10, t0, "node/g/read", 1000, 3);
  BOOST_REQUIRE_EQUAL(got.size(), 4u);
  auto take = [&](const event& ev, uint64_t epoch, millis_t now) {
    return take_over(s, ev, epoch, holder_b, now);
  };
  // Live: replaced by a new lease; the read's epoch is fenced off.
  auto d1 = take(e1, got[0].epoch, t0 + 10);
  BOOST_CHECK_EQUAL(d1.kind, claim_decision::granted);
  BOOST_CHECK_GT(d1.epoch, got[3].epoch);
  BOOST_CHECK_EQUAL(d1.expires_at, t0 + 1010);
  BOOST_CHECK_EQUAL(d1.redeliveries, 0u);
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(e1, "g", got[0].epoch)),
                               t0 + 20),
                    fence_decision::stale);
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(e1, "g", d1.epoch)),
                               t0 + 20),
                    fence_decision::ok);
  // Expired: no crash redelivery either.
  auto d2 = take(e2, got[1].epoch, t0 + 5000);
  BOOST_CHECK_EQUAL(d2.kind, claim_decision::granted);
  BOOST_CHECK_EQUAL(d2.redeliveries, 0u);
  // Another epoch is no takeover: held while live, counted once expired.
  BOOST_CHECK_EQUAL(take(e3, got[0].epoch, t0 + 10).kind, claim_decision::held);
  auto d3 = take(e3, got[0].epoch, t0 + 1000);
  BOOST_CHECK_EQUAL(d3.kind, claim_decision::granted);
  BOOST_CHECK_EQUAL(d3.redeliveries, 1u);
  // Once another claim replaced the read's lease, the read's epoch takes
  // nothing over: the new holder's lease holds.
  BOOST_CHECK_EQUAL(take(e3, got[2].epoch, t0 + 1001).kind,
                    claim_decision::held);
  // A read's lease given back (release) is claimed without a redelivery.
  BOOST_CHECK_EQUAL(
    settle_one(s, release_of(make_delivery(e4, "g", got[3].epoch)), t0 + 5),
    fence_decision::ok);
  auto d4 = claim_one(s, "g", e4, holder_b, t0 + 6);
  BOOST_CHECK_EQUAL(d4.kind, claim_decision::granted);
  BOOST_CHECK_EQUAL(d4.redeliveries, 0u);
}

BOOST_DATA_TEST_CASE(a_dead_listeners_lease_is_revoked_at_once,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e1 = add(s, "e1", "t", t0);
  auto e2 = add(s, "e2", "t", t0);
  auto e3 = add(s, "e3", "t", t0);
  auto got = s.read_leased("g", 10, t0, "node/g/read", 1000, 3);
  BOOST_REQUIRE_EQUAL(got.size(), 3u);
  auto take = [&](const event& ev, uint64_t epoch, millis_t now) {
    return take_over(s, ev, epoch, holder_b, now, true);
  };
  // A read's lease whose listener went down: replaced while live, counted
  // as a crash; the dead listener's late settlement is refused.
  auto d1 = take(e1, got[0].epoch, t0 + 10);
  BOOST_CHECK_EQUAL(d1.kind, claim_decision::granted);
  BOOST_CHECK_EQUAL(d1.redeliveries, 1u);
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(e1, "g", got[0].epoch)),
                               t0 + 20),
                    fence_decision::stale);
  // A lease a listener claimed (taking the read's over), revoked the same
  // way.
  auto c2 = take_over(s, e2, got[1].epoch, holder_a, t0 + 10);
  BOOST_REQUIRE_EQUAL(c2.kind, claim_decision::granted);
  auto d2 = take(e2, c2.epoch, t0 + 20);
  BOOST_CHECK_EQUAL(d2.kind, claim_decision::granted);
  BOOST_CHECK_GT(d2.epoch, c2.epoch);
  BOOST_CHECK_EQUAL(d2.redeliveries, 1u);
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(e2, "g", c2.epoch)),
                               t0 + 30),
                    fence_decision::stale);
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(e2, "g", d2.epoch)),
                               t0 + 30),
                    fence_decision::ok);
  // An epoch that is not the pair's lease revokes nothing: held.
  BOOST_CHECK_EQUAL(take(e3, got[0].epoch, t0 + 10).kind, claim_decision::held);
  // The lease revoked once is not revoked again by the same epoch.
  BOOST_CHECK_EQUAL(take(e1, got[0].epoch, t0 + 30).kind, claim_decision::held);
}

BOOST_DATA_TEST_CASE(settle_done_is_fenced_and_idempotent,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e = add(s, "e", "order.created", t0);
  s.read_group("g", 10, t0);
  // Never claimed: no lease.
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(e, "g", 7)), t0),
                    fence_decision::no_lease);
  auto ep1 = lease(s, "g", e, t0, 1000);
  // Lease expired at t0 + 1000.
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(e, "g", ep1), true),
                               t0 + 1000),
                    fence_decision::stale);
  BOOST_CHECK(!s.is_done("g", e.seq));
  auto d = claim_one(s, "g", e, holder_b, t0 + 1000);
  BOOST_REQUIRE_EQUAL(d.kind, claim_decision::granted);
  auto ep2 = d.epoch;
  BOOST_CHECK_GT(ep2, ep1);
  // Superseded epoch, lease still live.
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(e, "g", ep1), true),
                               t0 + 1100),
                    fence_decision::stale);
  BOOST_CHECK(!s.is_done("g", e.seq));
  BOOST_CHECK_EQUAL(s.processed_count("g"), 0u);
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(e, "g", ep2), true),
                               t0 + 1100),
                    fence_decision::ok);
  BOOST_CHECK(s.is_done("g", e.seq));
  BOOST_CHECK_EQUAL(s.processed_count("g"), 1u);
  // A second completion is refused and writes nothing.
  BOOST_CHECK(
    settle_one(s, done_of(make_delivery(e, "g", ep2), true), t0 + 1101)
    != fence_decision::ok);
  BOOST_CHECK_EQUAL(s.processed_count("g"), 1u);
  BOOST_CHECK_EQUAL(claim_one(s, "g", e, holder_a, t0 + 1200).kind,
                    claim_decision::done);
  BOOST_CHECK_EQUAL(s.backlog("g"), 0u);
  BOOST_CHECK(s.reclaim("g", t0 + 100'000, 0, 10).empty());
}

BOOST_DATA_TEST_CASE(settle_batch_decides_per_item, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  std::vector<event> evs;
  for (int i = 0; i < 5; ++i)
    evs.push_back(add(s, "e" + std::to_string(i), "t", t0));
  s.read_group("g", 10, t0);
  std::vector<uint64_t> eps;
  for (int i = 0; i < 4; ++i)
    eps.push_back(lease(s, "g", evs[i], t0));
  auto res = s.settle({done_of(make_delivery(evs[0], "g", eps[0]), true),
                       retry_of(make_delivery(evs[1], "g", eps[1]), t0 + 50),
                       dead_of(make_delivery(evs[2], "g", eps[2]),
                               dlq_reason::permanent_error, "bad"),
                       release_of(make_delivery(evs[3], "g", eps[3])),
                       done_of(make_delivery(evs[4], "g", 12345), true),
                       // The same pair again within the batch: already settled.
                       done_of(make_delivery(evs[0], "g", eps[0]), true)},
                      t0 + 10);
  BOOST_REQUIRE_EQUAL(res.size(), 6u);
  BOOST_CHECK_EQUAL(res[0], fence_decision::ok);
  BOOST_CHECK_EQUAL(res[1], fence_decision::ok);
  BOOST_CHECK_EQUAL(res[2], fence_decision::ok);
  BOOST_CHECK_EQUAL(res[3], fence_decision::ok);
  BOOST_CHECK_EQUAL(res[4], fence_decision::no_lease);
  BOOST_CHECK(res[5] != fence_decision::ok);
  BOOST_CHECK(s.is_done("g", evs[0].seq));
  BOOST_CHECK(!s.is_done("g", evs[4].seq));
  BOOST_CHECK_EQUAL(s.processed_of("e0").size(), 1u);
  BOOST_CHECK_EQUAL(s.scheduled(), 1u);
  BOOST_CHECK_EQUAL(s.dlq_size(), 1u);
  // Released and unsettled entries stay pending.
  BOOST_CHECK_EQUAL(ids_of(s.reclaim("g", t0 + 100'000, 0, 10)), "e3,e4");
  // Within one batch, a pair's first settlement decides: a retry followed
  // by a done (or a done followed by a retry) commits only the first.
  auto f = add(s, "f", "t", t0);
  auto k = add(s, "k", "t", t0);
  s.read_group("g", 10, t0);
  auto epf = lease(s, "g", f, t0 + 20);
  auto epk = lease(s, "g", k, t0 + 20);
  auto res2 = s.settle({retry_of(make_delivery(f, "g", epf), t0 + 500),
                        done_of(make_delivery(f, "g", epf), true),
                        done_of(make_delivery(k, "g", epk), true),
                        retry_of(make_delivery(k, "g", epk), t0 + 500),
                        release_of(make_delivery(k, "g", epk))},
                       t0 + 21);
  BOOST_REQUIRE_EQUAL(res2.size(), 5u);
  BOOST_CHECK_EQUAL(res2[0], fence_decision::ok);
  BOOST_CHECK(res2[1] != fence_decision::ok);
  BOOST_CHECK_EQUAL(res2[2], fence_decision::ok);
  BOOST_CHECK(res2[3] != fence_decision::ok);
  BOOST_CHECK(res2[4] != fence_decision::ok);
  BOOST_CHECK(!s.is_done("g", f.seq));
  BOOST_CHECK(s.processed_of("f").empty());
  BOOST_CHECK(s.is_done("g", k.seq));
  BOOST_CHECK_EQUAL(s.processed_of("k").size(), 1u);
  BOOST_CHECK_EQUAL(s.scheduled(), 2u);
  BOOST_CHECK_EQUAL(statuses(s, "k"), "g:processed");
}

BOOST_DATA_TEST_CASE(release_keeps_entry_pending, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e = add(s, "e", "t", t0);
  s.read_group("g", 10, t0);
  auto ep1 = lease(s, "g", e, t0, 1000);
  BOOST_CHECK_EQUAL(settle_one(s, release_of(make_delivery(e, "g", ep1)),
                               t0 + 10),
                    fence_decision::ok);
  BOOST_CHECK_EQUAL(status_map(s, "e")["g"], event_status::in_flight);
  BOOST_CHECK_EQUAL(s.backlog("g"), 1u);
  BOOST_CHECK_EQUAL(ids_of(s.reclaim("g", t0 + 100, 100, 10)), "e");
  // Released: another holder gets it at once, with a new epoch.
  auto d = claim_one(s, "g", e, holder_b, t0 + 20);
  BOOST_CHECK_EQUAL(d.kind, claim_decision::granted);
  BOOST_CHECK_GT(d.epoch, ep1);
  BOOST_CHECK_EQUAL(d.redeliveries, 0u);
  BOOST_CHECK_EQUAL(settle_one(s, release_of(make_delivery(e, "g", ep1)),
                               t0 + 30),
                    fence_decision::stale);
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(e, "g", d.epoch)),
                               t0 + 30),
                    fence_decision::ok);
}

BOOST_AUTO_TEST_SUITE_END()
