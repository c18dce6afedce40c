// Unit tests for actors/logic/replay_pacer.hpp: a DLQ replay at any rate
// (below 1/s, fractional, fast) holds it over time, in simulated time.
#include "actors/logic/replay_pacer.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <vector>

namespace bdata = boost::unit_test::data;
using namespace onceflow;

namespace {

/// When each event of a replay of `total` events runs, driven as the DLQ
/// actor drives the pacer: a step takes what it may, then waits as told.
std::vector<millis_t> replay_times(double rate, uint64_t total,
                                   millis_t start = 1000) {
  replay_pacer p{rate, start};
  std::vector<millis_t> at;
  millis_t now = start;
  uint64_t remaining = total;
  while (remaining > 0) {
    auto n = p.take(now, remaining);
    for (uint64_t i = 0; i < n; ++i)
      at.push_back(now - start);
    remaining -= n;
    if (remaining == 0)
      break;
    // A step took all the bucket held: the next one waits.
    auto w = p.wait(now, remaining);
    BOOST_REQUIRE_MESSAGE(w > 0, "no wait after a step at " << now);
    now += w;
  }
  return at;
}

/// Events that ran by `t` ms after the start.
uint64_t by(const std::vector<millis_t>& at, millis_t t) {
  uint64_t n = 0;
  for (auto x : at)
    if (x <= t)
      ++n;
  return n;
}

} // namespace

BOOST_AUTO_TEST_SUITE(replay_pacer_suite)

BOOST_AUTO_TEST_CASE(step_size_is_a_tenth_of_the_rate_at_least_one) {
  BOOST_TEST(replay_pacer(0.5, 0).step_size() == 1u);
  BOOST_TEST(replay_pacer(1, 0).step_size() == 1u);
  BOOST_TEST(replay_pacer(3, 0).step_size() == 1u);
  BOOST_TEST(replay_pacer(10, 0).step_size() == 1u);
  BOOST_TEST(replay_pacer(15, 0).step_size() == 2u);
  BOOST_TEST(replay_pacer(250, 0).step_size() == 25u);
  BOOST_TEST(replay_pacer(1000000, 0).step_size() == 100000u);
  BOOST_TEST(replay_pacer(0.5, 0).rate() == 0.5);
}

BOOST_AUTO_TEST_CASE(slow_rates_wait_whole_seconds) {
  // 0.5/s: one at once, then one every 2 s; 1/s: one every second.
  auto half = replay_times(0.5, 4);
  BOOST_TEST(half == (std::vector<millis_t>{0, 2000, 4000, 6000}),
             boost::test_tools::per_element());
  auto one = replay_times(1, 4);
  BOOST_TEST(one == (std::vector<millis_t>{0, 1000, 2000, 3000}),
             boost::test_tools::per_element());
  // 3/s: a third of a second apart (waits are whole ms, rounded up), and
  // the rounding never accumulates.
  auto three = replay_times(3, 31);
  BOOST_TEST(three[3] >= 1000);
  BOOST_TEST(three[3] <= 1001);
  BOOST_TEST(three[30] >= 10000);
  BOOST_TEST(three[30] <= 10001);
}

BOOST_AUTO_TEST_CASE(wait_is_tight_and_take_respects_max) {
  replay_pacer p{4, 0}; // one per 250 ms
  BOOST_TEST(p.take(0, 10) == 1u);
  BOOST_TEST(p.take(0, 10) == 0u);
  BOOST_TEST(p.wait(0, 10) == 250);
  BOOST_TEST(p.wait(100, 10) == 150);
  BOOST_TEST(p.take(249, 10) == 0u);
  BOOST_TEST(p.take(250, 10) == 1u);
  BOOST_TEST(p.wait(250, 0) == 0); // nothing left: no wait
  replay_pacer fast{250, 0};       // 25 per 100 ms
  BOOST_TEST(fast.take(0, 10) == 10u);
  BOOST_TEST(fast.wait(0, 100) == 40); // 15 are there: wait for a full step
  BOOST_TEST(fast.take(0, 100) == 15u);
  BOOST_TEST(fast.wait(0, 100) == 100);
  BOOST_TEST(fast.wait(0, 5) == 20); // only 5 left: wait for those
  BOOST_TEST(fast.take(100, 1000) == 25u);
  // Late by 60 ms: the tokens of those 60 ms are kept for the next step,
  // which comes sooner; never more than one step at a time.
  BOOST_TEST(fast.take(260, 1000) == 25u);
  BOOST_TEST(fast.wait(260, 1000) == 40);
  BOOST_TEST(fast.take(300, 1000) == 25u);
  BOOST_TEST(fast.wait(300, 1000) == 100);
}

// Any rate holds over 10 s: a first step at once, then `rate` events per
// second, so by time t the replay has done between rate * t and one step
// more (and the count over the last 9 s is rate * 9 within one step: one
// event up to 10/s).
BOOST_DATA_TEST_CASE(rate_holds_over_time,
                     bdata::make({0.5, 0.7, 1.0, 2.5, 3.0, 7.0, 10.0, 15.0,
                                  33.3, 100.0, 250.0, 1000.0, 4321.0}),
                     rate) {
  auto total = static_cast<uint64_t>(rate * 12) + 30;
  auto at = replay_times(rate, total);
  replay_pacer p{rate, 0};
  for (millis_t t : {1000, 2000, 5000, 10000}) {
    auto n = static_cast<double>(by(at, t));
    auto ideal = rate * static_cast<double>(t) / 1000.0;
    BOOST_TEST_INFO("at " << t << " ms: " << n << " replayed at " << rate
                          << "/s");
    BOOST_TEST(n >= std::floor(ideal));
    BOOST_TEST(n <= ideal + static_cast<double>(p.step_size()) + 1e-9);
  }
  auto later = static_cast<double>(by(at, 10000) - by(at, 1000));
  BOOST_TEST(std::abs(later - rate * 9) <= static_cast<double>(p.step_size()));
}

BOOST_AUTO_TEST_CASE(a_short_run_ends) {
  auto at = replay_times(250, 7); // less than one step: all at once
  BOOST_TEST(at.size() == 7u);
  BOOST_TEST(at.back() == 0);
  auto some = replay_times(250, 60); // 25, 25, then the last 10 at once
  BOOST_TEST(some.size() == 60u);
  BOOST_TEST(some.back() == 140);
}

BOOST_AUTO_TEST_SUITE_END()
