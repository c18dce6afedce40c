// Redis specifics (not part of the store contract): take marks of due
// retries across nodes. A take is a lease: its mark holds for the lease of
// the entry's group, only its taker renews or releases it, and a retry
// taken by a node that died goes to another after that lease.

#include "tests/integration/contract/backends.hpp"

#include <map>
#include <string>
#include <utility>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;

BOOST_AUTO_TEST_SUITE(redis_adapter)

namespace {

/// A store of node `consumer` on the shared server with the take holds
/// `holds` (by group) and `fallback` (other groups).
store_ptr open_node(const std::string& prefix, const std::string& consumer,
                    std::map<std::string, millis_t> holds = {},
                    millis_t fallback = 5000) {
  redis_options opts;
  opts.url = shared_server().url();
  opts.prefix = prefix;
  opts.consumer = consumer;
  opts.connect_timeout_ms = 1000;
  opts.command_timeout_ms = 10'000;
  opts.take_holds = std::move(holds);
  opts.take_hold_ms = fallback;
  return make_redis_store(opts);
}

/// Puts one event of each group into the retry schedule, due at t0 + 1000
/// (its first attempt failed); returns them in group order.
std::vector<event> schedule_one_each(store& s,
                                     const std::vector<std::string>& groups) {
  std::vector<event> out;
  for (auto& g : groups)
    s.ensure_group({g, {g + ".*"}});
  for (auto& g : groups) {
    auto ev = add(s, "ev-" + g, g + ".x", t0);
    BOOST_REQUIRE_EQUAL(s.read_group(g, 10, t0).size(), 1u);
    auto dl = make_delivery(ev, g, lease(s, g, ev, t0));
    BOOST_REQUIRE_EQUAL(settle_one(s, retry_of(dl, t0 + 1000), t0 + 1),
                        fence_decision::ok);
    out.push_back(ev);
  }
  return out;
}

/// "group:seq" of the deliveries, in their order.
std::string pairs_of(const std::vector<delivery>& dls) {
  std::string out;
  for (auto& dl : dls)
    out += (out.empty() ? "" : ",") + dl.group + ":"
           + std::to_string(dl.ev.seq);
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_take_holds_for_the_lease_of_its_group) {
  if (skip_redis_tests())
    return;
  auto prefix = unique_prefix("takes");
  // Node a: group fast has a 2 s lease, others the fallback of 5 s.
  auto a = open_node(prefix, "node-a", {{"fast", 2000}}, 5000);
  auto b = open_node(prefix, "node-b");
  auto evs = schedule_one_each(*a, {"fast", "slow"});
  BOOST_CHECK_EQUAL(pairs_of(a->take_due(t0 + 1000, 10)), "fast:1,slow:2");
  // Node a dies. Node b waits for each mark's lease, not for a fixed
  // time: fast's after 2 s, slow's after 5 s.
  BOOST_CHECK_EQUAL(b->next_due(), t0 + 3000);
  BOOST_CHECK(b->take_due(t0 + 2999, 10).empty());
  BOOST_CHECK_EQUAL(pairs_of(b->take_due(t0 + 3000, 10)), "fast:1");
  BOOST_CHECK_EQUAL(b->next_due(), t0 + 6000);
  BOOST_CHECK(b->take_due(t0 + 5999, 10).empty());
  BOOST_CHECK_EQUAL(pairs_of(b->take_due(t0 + 6000, 10)), "slow:2");
  // Node b's marks hold for its own holds (the fallback of 5 s).
  BOOST_CHECK_EQUAL(a->next_due(), t0 + 8000);
}

BOOST_AUTO_TEST_CASE(only_the_taker_renews_or_releases_its_marks) {
  if (skip_redis_tests())
    return;
  auto prefix = unique_prefix("takes");
  auto a = open_node(prefix, "node-a", {{"g", 2000}, {"h", 2000}});
  auto b = open_node(prefix, "node-b", {{"g", 2000}, {"h", 2000}});
  auto evs = schedule_one_each(*a, {"g", "h"});
  std::vector<taken_pair> both{{"g", evs[0].seq}, {"h", evs[1].seq}};
  BOOST_CHECK_EQUAL(a->take_due(t0 + 1000, 10).size(), 2u);
  // Another node can neither renew nor release a's marks.
  BOOST_CHECK_EQUAL(b->renew_taken(both, t0 + 1500), 0u);
  BOOST_CHECK_EQUAL(b->release_taken(both), 0u);
  BOOST_CHECK(b->take_due(t0 + 2999, 10).empty());
  // a renews both at t0 + 2500 (until t0 + 4500), then gives h back: b
  // takes h at once, g once a's renewal lapses.
  BOOST_CHECK_EQUAL(a->renew_taken(both, t0 + 2500), 2u);
  BOOST_CHECK(b->take_due(t0 + 3000, 10).empty());
  BOOST_CHECK_EQUAL(a->release_taken({both[1]}), 1u);
  BOOST_CHECK_EQUAL(b->next_due(), t0 + 1000);
  BOOST_CHECK_EQUAL(pairs_of(b->take_due(t0 + 3000, 10)), "h:2");
  BOOST_CHECK_EQUAL(b->next_due(), t0 + 4500);
  BOOST_CHECK(b->take_due(t0 + 4499, 10).empty());
  BOOST_CHECK_EQUAL(pairs_of(b->take_due(t0 + 4500, 10)), "g:1");
  // g is b's now: a's renewal, or its release sent late, leaves it alone.
  BOOST_CHECK_EQUAL(a->renew_taken(both, t0 + 4600), 0u);
  BOOST_CHECK_EQUAL(a->release_taken(both), 0u);
  BOOST_CHECK(a->take_due(t0 + 4999, 10).empty());
  // The same renewal sent again renews the same marks.
  BOOST_CHECK_EQUAL(b->renew_taken(both, t0 + 5000), 2u);
  BOOST_CHECK_EQUAL(b->renew_taken(both, t0 + 5000), 2u);
  BOOST_CHECK_EQUAL(a->next_due(), t0 + 7000);
}

BOOST_AUTO_TEST_CASE(a_mark_of_the_earlier_format_counts_as_lapsed) {
  if (skip_redis_tests())
    return;
  auto prefix = unique_prefix("takes");
  auto a = open_node(prefix, "node-a");
  auto evs = schedule_one_each(*a, {"g"});
  // "<consumer> <instance> <time> <call>", held for 60 s by the version
  // before marks were leases: taken over at once.
  auto member = "g\x1f" + std::to_string(evs[0].seq);
  BOOST_REQUIRE_EQUAL(
    raw_command(shared_server().port(),
                {"HSET", prefix + "retry:taken", member,
                 "node-x 1234 " + std::to_string(t0 + 1000) + " 1"}),
    ":1");
  BOOST_CHECK_EQUAL(a->next_due(), t0 + 1000);
  BOOST_CHECK_EQUAL(pairs_of(a->take_due(t0 + 1000, 10)), "g:1");
}

BOOST_AUTO_TEST_CASE(a_take_hold_must_be_positive) {
  if (skip_redis_tests())
    return;
  redis_options opts;
  opts.url = shared_server().url();
  opts.prefix = unique_prefix("takes");
  opts.take_holds = {{"g", 0}};
  expect_open_error(opts, {"take hold of group g must be positive"});
  opts.take_holds.clear();
  opts.take_hold_ms = -1;
  expect_open_error(opts, {"take hold of unlisted groups must be positive"});
}

BOOST_AUTO_TEST_SUITE_END()
