// Unit tests for actors/logic/lease_table.hpp: fenced leases with a TTL,
// monotonically increasing epochs and a crash-redelivery budget.
#include "actors/logic/backoff.hpp"
#include "actors/logic/lease_table.hpp"
#include "tests/support/print.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <set>
#include <string>

namespace bdata = boost::unit_test::data;
using namespace onceflow;

namespace {

constexpr millis_t ttl = 30000;
constexpr uint32_t budget = 3;

claim_decision claim(lease_table& t, millis_t now, bool done = false,
                     uint32_t crash_budget = budget,
                     const std::string& group = "g",
                     const std::string& id = "e1") {
  return t.claim(group, id, now, ttl, crash_budget, done);
}

} // namespace

BOOST_AUTO_TEST_SUITE(lease_table_suite)

BOOST_AUTO_TEST_CASE(first_claim_is_granted) {
  lease_table t;
  BOOST_TEST(t.next_epoch() == 1u);
  auto d = claim(t, 1000);
  BOOST_TEST(d.kind == claim_decision::granted);
  BOOST_TEST(d.epoch == 1u);
  BOOST_TEST(d.expires_at == 1000 + ttl);
  BOOST_TEST(d.redeliveries == 0u);
  BOOST_TEST(t.next_epoch() == 2u);
  BOOST_TEST(t.size() == 1u);
  BOOST_TEST(t.live(1000) == 1u);
  BOOST_TEST(t.check("g", "e1", d.epoch, 1000) == fence_decision::ok);
}

BOOST_AUTO_TEST_CASE(first_epoch_is_honoured) {
  lease_table t{500};
  BOOST_TEST(t.next_epoch() == 500u);
  auto d = claim(t, 0);
  BOOST_TEST(d.kind == claim_decision::granted);
  BOOST_TEST(d.epoch == 500u);
  BOOST_TEST(t.next_epoch() == 501u);
}

BOOST_AUTO_TEST_CASE(held_for_other_holders_until_ttl) {
  lease_table t;
  auto g = claim(t, 1000);
  BOOST_REQUIRE(g.kind == claim_decision::granted);
  for (millis_t now :
       {millis_t{1000}, millis_t{1001}, millis_t{15000}, g.expires_at - 1}) {
    BOOST_TEST_CONTEXT("now " << now) {
      auto h = claim(t, now);
      BOOST_TEST(h.kind == claim_decision::held);
      BOOST_TEST(h.expires_at == g.expires_at);
      BOOST_TEST(h.redeliveries == 0u);
      // The holder's epoch stays valid: a held answer hands out no epoch.
      BOOST_TEST(t.check("g", "e1", g.epoch, now) == fence_decision::ok);
    }
  }
  BOOST_TEST(t.next_epoch() == g.epoch + 1);
}

BOOST_AUTO_TEST_CASE(expired_lease_is_granted_again_with_higher_epoch) {
  lease_table t;
  auto g1 = claim(t, 1000);
  BOOST_REQUIRE(g1.kind == claim_decision::granted);
  auto g2 = claim(t, g1.expires_at + 1);
  BOOST_TEST(g2.kind == claim_decision::granted);
  BOOST_TEST(g2.epoch > g1.epoch);
  BOOST_TEST(g2.expires_at == g1.expires_at + 1 + ttl);
  BOOST_TEST(g2.redeliveries == 1u);
  // Old holder is fenced off, new holder may commit.
  BOOST_TEST(t.check("g", "e1", g1.epoch, g1.expires_at + 2)
             == fence_decision::stale);
  BOOST_TEST(t.check("g", "e1", g2.epoch, g1.expires_at + 2)
             == fence_decision::ok);
  // And the new lease is held against a third listener.
  auto h = claim(t, g1.expires_at + 3);
  BOOST_TEST(h.kind == claim_decision::held);
  BOOST_TEST(h.redeliveries == 1u);
}

BOOST_AUTO_TEST_CASE(claim_and_check_agree_on_expiry) {
  // Whatever the exact expiry boundary, a claim by another holder is `held`
  // exactly when the holder's epoch still passes the fence.
  for (millis_t dt = -2; dt <= 2; ++dt) {
    lease_table t;
    auto g = claim(t, 0);
    millis_t now = g.expires_at + dt;
    BOOST_TEST_CONTEXT("expires_at + " << dt) {
      bool fence_ok = t.check("g", "e1", g.epoch, now) == fence_decision::ok;
      bool live = t.live(now) == 1u;
      auto c = claim(t, now);
      BOOST_TEST(fence_ok == (c.kind == claim_decision::held));
      BOOST_TEST(live == fence_ok);
      BOOST_TEST(!fence_ok == (c.kind == claim_decision::granted));
    }
  }
}

BOOST_AUTO_TEST_CASE(check_stale_for_superseded_epoch) {
  lease_table t;
  auto g1 = claim(t, 0);
  auto g2 = claim(t, g1.expires_at + 10);
  auto g3 = claim(t, g2.expires_at + 10);
  BOOST_REQUIRE(g3.kind == claim_decision::granted);
  millis_t now = g2.expires_at + 11;
  BOOST_TEST(t.check("g", "e1", g1.epoch, now) == fence_decision::stale);
  BOOST_TEST(t.check("g", "e1", g2.epoch, now) == fence_decision::stale);
  BOOST_TEST(t.check("g", "e1", g3.epoch, now) == fence_decision::ok);
  // An epoch never handed out for the pair is not current either.
  BOOST_TEST(t.check("g", "e1", g3.epoch + 100, now) != fence_decision::ok);
}

BOOST_AUTO_TEST_CASE(check_stale_for_expired_lease) {
  lease_table t;
  auto g = claim(t, 0);
  BOOST_TEST(t.check("g", "e1", g.epoch, g.expires_at - 1)
             == fence_decision::ok);
  BOOST_TEST(t.check("g", "e1", g.epoch, g.expires_at + 1)
             == fence_decision::stale);
  BOOST_TEST(t.check("g", "e1", g.epoch, g.expires_at + 1000000)
             == fence_decision::stale);
  BOOST_TEST(t.live(g.expires_at + 1) == 0u);
}

BOOST_AUTO_TEST_CASE(check_no_lease_for_unknown_pair) {
  lease_table t;
  BOOST_TEST(t.check("g", "e1", 1, 0) == fence_decision::no_lease);
  auto g = claim(t, 0);
  BOOST_TEST(t.check("g", "other", g.epoch, 0) == fence_decision::no_lease);
  BOOST_TEST(t.check("other", "e1", g.epoch, 0) == fence_decision::no_lease);
}

BOOST_AUTO_TEST_CASE(pairs_are_independent) {
  lease_table t;
  auto a = claim(t, 0, false, budget, "g1", "e");
  auto b = claim(t, 0, false, budget, "g2", "e");
  auto c = claim(t, 0, false, budget, "g1", "f");
  BOOST_TEST(a.kind == claim_decision::granted);
  BOOST_TEST(b.kind == claim_decision::granted);
  BOOST_TEST(c.kind == claim_decision::granted);
  BOOST_TEST(t.size() == 3u);
  BOOST_TEST(t.live(0) == 3u);
  BOOST_TEST(t.check("g1", "e", b.epoch, 0) == fence_decision::stale);
  BOOST_TEST(t.check("g2", "e", b.epoch, 0) == fence_decision::ok);
  // Key separation: ("ab", "c") and ("a", "bc") are different pairs.
  lease_table u;
  auto x = claim(u, 0, false, budget, "ab", "c");
  auto y = claim(u, 0, false, budget, "a", "bc");
  BOOST_TEST(x.kind == claim_decision::granted);
  BOOST_TEST(y.kind == claim_decision::granted);
  BOOST_TEST(u.size() == 2u);
}

BOOST_AUTO_TEST_CASE(epochs_increase_monotonically_across_pairs) {
  lease_table t{7};
  std::set<uint64_t> seen;
  uint64_t prev = 0;
  millis_t now = 0;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 50; ++i) {
      auto d = claim(t, now, false, 1000, "g" + std::to_string(i % 5),
                     "e" + std::to_string(i));
      BOOST_REQUIRE(d.kind == claim_decision::granted);
      BOOST_TEST(d.epoch > prev);
      BOOST_TEST(d.epoch >= 7u);
      BOOST_TEST(seen.insert(d.epoch).second);
      prev = d.epoch;
      BOOST_TEST(t.next_epoch() > d.epoch);
    }
    now += ttl + 1; // every lease expires; the next round re-grants them
  }
}

BOOST_AUTO_TEST_CASE(release_keeps_pair_claimable) {
  lease_table t;
  auto g = claim(t, 0);
  BOOST_TEST(t.release("g", "e1", g.epoch, 100) == fence_decision::ok);
  BOOST_TEST(t.live(100) == 0u);
  BOOST_TEST(t.check("g", "e1", g.epoch, 100) != fence_decision::ok);
  // Claimable again right away, long before the old TTL, by anyone.
  auto g2 = claim(t, 200);
  BOOST_TEST(g2.kind == claim_decision::granted);
  BOOST_TEST(g2.epoch > g.epoch);
  // A release is not a crash.
  BOOST_TEST(g2.redeliveries == 0u);
  BOOST_TEST(t.check("g", "e1", g2.epoch, 200) == fence_decision::ok);
}

BOOST_AUTO_TEST_CASE(release_keeps_crash_redelivery_count) {
  lease_table t;
  auto g1 = claim(t, 0);
  auto g2 = claim(t, g1.expires_at + 1); // one crash redelivery
  BOOST_REQUIRE(g2.kind == claim_decision::granted);
  BOOST_REQUIRE(g2.redeliveries == 1u);
  BOOST_TEST(t.release("g", "e1", g2.epoch, g1.expires_at + 2)
             == fence_decision::ok);
  auto g3 = claim(t, g1.expires_at + 3);
  BOOST_TEST(g3.kind == claim_decision::granted);
  BOOST_TEST(g3.redeliveries == 1u);
}

BOOST_AUTO_TEST_CASE(release_with_stale_epoch_is_refused) {
  lease_table t;
  auto g1 = claim(t, 0);
  auto g2 = claim(t, g1.expires_at + 1);
  millis_t now = g1.expires_at + 2;
  BOOST_TEST(t.release("g", "e1", g1.epoch, now) == fence_decision::stale);
  // The current lease survives the refused release.
  BOOST_TEST(t.check("g", "e1", g2.epoch, now) == fence_decision::ok);
  BOOST_TEST(claim(t, now).kind == claim_decision::held);
}

BOOST_AUTO_TEST_CASE(release_of_expired_lease_is_refused) {
  lease_table t;
  auto g = claim(t, 0);
  BOOST_TEST(t.release("g", "e1", g.epoch, g.expires_at + 1)
             == fence_decision::stale);
}

BOOST_AUTO_TEST_CASE(release_of_unknown_pair_is_no_lease) {
  lease_table t;
  BOOST_TEST(t.release("g", "nope", 1, 0) == fence_decision::no_lease);
}

BOOST_AUTO_TEST_CASE(done_when_already_done) {
  lease_table t;
  // No lease yet.
  auto d = claim(t, 0, true);
  BOOST_TEST(d.kind == claim_decision::done);
  // A live lease held by someone else: the ledger still wins.
  auto g = claim(t, 10, false, budget, "g", "e2");
  BOOST_REQUIRE(g.kind == claim_decision::granted);
  auto d2 = claim(t, 20, true, budget, "g", "e2");
  BOOST_TEST(d2.kind == claim_decision::done);
  // An exhausted crash budget: still done, not crash_loop.
  lease_table u;
  millis_t now = 0;
  for (int i = 0; i < 10; ++i) {
    claim(u, now, false, 0, "g", "e3");
    now += ttl + 1;
  }
  BOOST_TEST(claim(u, now, true, 0, "g", "e3").kind == claim_decision::done);
}

// A budget of N allows N crash redeliveries (N + 1 grants in total); the
// next expiry yields crash_loop.
BOOST_DATA_TEST_CASE(crash_loop_after_budget_exceeded, bdata::xrange(0, 6),
                     crash_budget_i) {
  auto crash_budget = static_cast<uint32_t>(crash_budget_i);
  lease_table t;
  millis_t now = 0;
  uint64_t prev_epoch = 0;
  for (uint32_t i = 0; i <= crash_budget; ++i) {
    BOOST_TEST_CONTEXT("grant " << i) {
      auto d = claim(t, now, false, crash_budget);
      BOOST_TEST(d.kind == claim_decision::granted);
      BOOST_TEST(d.redeliveries == i);
      BOOST_TEST(d.epoch > prev_epoch);
      prev_epoch = d.epoch;
      now = d.expires_at + 1; // the listener dies: the lease expires
    }
  }
  auto d = claim(t, now, false, crash_budget);
  BOOST_TEST(d.kind == claim_decision::crash_loop);
  BOOST_TEST(d.redeliveries == crash_budget + 1);
  // Nobody may commit after the verdict.
  BOOST_TEST(t.check("g", "e1", prev_epoch, now) != fence_decision::ok);
}

BOOST_AUTO_TEST_CASE(default_budget_of_three) {
  lease_table t;
  millis_t now = 0;
  int grants = 0;
  claim_decision d;
  for (int i = 0; i < 10; ++i) {
    d = claim(t, now, false, retry_policy{}.crash_budget);
    if (d.kind != claim_decision::granted)
      break;
    ++grants;
    now = d.expires_at + 1;
  }
  BOOST_TEST(grants == 4); // first delivery + 3 crash redeliveries
  BOOST_TEST(d.kind == claim_decision::crash_loop);
}

BOOST_AUTO_TEST_CASE(erase_forgets_the_pair) {
  lease_table t;
  auto g = claim(t, 0);
  claim(t, 0, false, budget, "g", "e2");
  BOOST_TEST(t.size() == 2u);
  t.erase("g", "e1");
  BOOST_TEST(t.size() == 1u);
  BOOST_TEST(t.check("g", "e1", g.epoch, 0) == fence_decision::no_lease);
  // Erasing an unknown pair is harmless.
  t.erase("g", "unknown");
  BOOST_TEST(t.size() == 1u);
  // Epochs are not reused after an erase.
  auto g2 = claim(t, 0);
  BOOST_TEST(g2.kind == claim_decision::granted);
  BOOST_TEST(g2.epoch > g.epoch);
}

BOOST_AUTO_TEST_CASE(live_counts_only_unexpired_leases) {
  lease_table t;
  t.claim("g", "a", 0, 100, budget, false);
  t.claim("g", "b", 0, 200, budget, false);
  t.claim("g", "c", 0, 300, budget, false);
  BOOST_TEST(t.live(0) == 3u);
  BOOST_TEST(t.live(150) == 2u);
  BOOST_TEST(t.live(250) == 1u);
  BOOST_TEST(t.live(350) == 0u);
  BOOST_TEST(t.size() == 3u);
}

BOOST_AUTO_TEST_CASE(takeover_of_the_reads_lease_counts_no_redelivery) {
  lease_table t;
  auto r = claim(t, 0);
  BOOST_REQUIRE(r.kind == claim_decision::granted);
  // Live: replaced at once, the read's epoch fenced off.
  auto d = t.claim("g", "e1", 100, ttl, budget, false, r.epoch);
  BOOST_TEST(d.kind == claim_decision::granted);
  BOOST_TEST(d.epoch > r.epoch);
  BOOST_TEST(d.redeliveries == 0u);
  BOOST_TEST(t.check("g", "e1", r.epoch, 200) == fence_decision::stale);
  BOOST_TEST(t.check("g", "e1", d.epoch, 200) == fence_decision::ok);
  // The read's epoch no longer matches: the new lease holds.
  auto again = t.claim("g", "e1", 200, ttl, budget, false, r.epoch);
  BOOST_TEST(again.kind == claim_decision::held);
  // Expired: no redelivery counted either.
  auto r2 = claim(t, 0, false, budget, "g", "e2");
  auto d2 = t.claim("g", "e2", ttl * 3, ttl, budget, false, r2.epoch);
  BOOST_TEST(d2.kind == claim_decision::granted);
  BOOST_TEST(d2.redeliveries == 0u);
  // Without a takeover, the expired lease counts.
  auto r3 = claim(t, 0, false, budget, "g", "e3");
  auto d3 = t.claim("g", "e3", ttl * 3, ttl, budget, false, 0);
  BOOST_TEST(d3.redeliveries == 1u);
  BOOST_TEST(d3.epoch > r3.epoch);
  // A takeover of a pair that is done answers done.
  auto d4 = t.claim("g", "e2", ttl * 3, ttl, budget, true, d2.epoch);
  BOOST_TEST(d4.kind == claim_decision::done);
}

BOOST_AUTO_TEST_CASE(a_dead_listeners_lease_is_revoked_counting_a_crash) {
  lease_table t;
  auto d1 = claim(t, 0);
  BOOST_REQUIRE(d1.kind == claim_decision::granted);
  // Live, but its holder went down: replaced at once, counted as a crash.
  auto d2 = t.claim("g", "e1", 100, ttl, budget, false, d1.epoch, true);
  BOOST_TEST(d2.kind == claim_decision::granted);
  BOOST_TEST(d2.epoch > d1.epoch);
  BOOST_TEST(d2.redeliveries == 1u);
  // A late settlement of the dead holder is refused.
  BOOST_TEST(t.check("g", "e1", d1.epoch, 200) == fence_decision::stale);
  BOOST_TEST(t.check("g", "e1", d2.epoch, 200) == fence_decision::ok);
  // The old epoch revokes nothing more: the new lease holds.
  auto d3 = t.claim("g", "e1", 200, ttl, budget, false, d1.epoch, true);
  BOOST_TEST(d3.kind == claim_decision::held);
  BOOST_TEST(d3.epoch == d2.epoch);
  // Expired meanwhile: counted once, not twice.
  auto d4 = t.claim("g", "e1", 100 + ttl, ttl, budget, false, d2.epoch, true);
  BOOST_TEST(d4.kind == claim_decision::granted);
  BOOST_TEST(d4.redeliveries == 2u);
  // Revocations count towards the crash budget like expiries.
  lease_table u;
  auto e = u.claim("g", "p", 0, ttl, 1, false);
  e = u.claim("g", "p", 1, ttl, 1, false, e.epoch, true);
  BOOST_TEST(e.kind == claim_decision::granted);
  e = u.claim("g", "p", 2, ttl, 1, false, e.epoch, true);
  BOOST_TEST(e.kind == claim_decision::crash_loop);
  BOOST_TEST(e.redeliveries == 2u);
}

BOOST_AUTO_TEST_CASE(read_lease_is_used_while_enough_is_left) {
  delivery dl;
  BOOST_TEST(!use_read_lease(dl, 0, 0));
  dl.epoch = 7;
  dl.lease_until = 1000;
  BOOST_TEST(use_read_lease(dl, 0, 750));
  BOOST_TEST(use_read_lease(dl, 250, 750));
  BOOST_TEST(!use_read_lease(dl, 251, 750));
  BOOST_TEST(!use_read_lease(dl, 2000, 750));
  // A lease_until without an epoch is no lease.
  dl.epoch = 0;
  BOOST_TEST(!use_read_lease(dl, 0, 750));
  // Given back (-1): claimed, never run under.
  dl.epoch = 7;
  dl.lease_until = -1;
  BOOST_TEST(!use_read_lease(dl, 0, 0));
  BOOST_TEST(read_lease_min_left(30000) == 22500);
}

BOOST_AUTO_TEST_CASE(decision_names_are_distinct) {
  std::set<std::string> kinds;
  for (auto k : {claim_decision::granted, claim_decision::held,
                 claim_decision::done, claim_decision::crash_loop}) {
    std::string s = to_string(k);
    BOOST_TEST(!s.empty());
    kinds.insert(s);
  }
  BOOST_TEST(kinds.size() == 4u);
  std::set<std::string> fences;
  for (auto f :
       {fence_decision::ok, fence_decision::stale, fence_decision::no_lease}) {
    std::string s = to_string(f);
    BOOST_TEST(!s.empty());
    fences.insert(s);
  }
  BOOST_TEST(fences.size() == 3u);
}

BOOST_AUTO_TEST_SUITE_END()
