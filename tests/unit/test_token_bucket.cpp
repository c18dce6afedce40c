// Unit tests for actors/logic/token_bucket.hpp: the per-group/type rate limit
// (events over the limit wait).
#include "actors/logic/token_bucket.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <ostream>
#include <string>
#include <vector>

namespace bdata = boost::unit_test::data;
using namespace onceflow;

namespace {

struct rate_case {
  double rate;
  millis_t step_ms;
};

std::ostream& operator<<(std::ostream& os, const rate_case& c) {
  return os << c.rate << "/s polled every " << c.step_ms << " ms";
}

const std::vector<rate_case> rate_cases = {
  {1, 1},   {1, 100},  {2, 5},   {4, 250}, {5, 20},   {10, 1},
  {10, 10}, {10, 100}, {20, 50}, {100, 1}, {100, 10}, {1000, 1},
};

} // namespace

BOOST_AUTO_TEST_SUITE(token_bucket_suite)

BOOST_AUTO_TEST_CASE(starts_full_with_burst) {
  token_bucket b{10, 5, 1000};
  BOOST_TEST(!b.unlimited());
  BOOST_TEST(b.tokens(1000) == 5.0);
  BOOST_TEST(b.wait_time(1000) == 0);
  BOOST_TEST(b.take(1000, 3) == 3u);
  BOOST_TEST(b.take(1000, 10) == 2u); // only what is left
  BOOST_TEST(b.take(1000, 1) == 0u);  // over the limit: wait
  BOOST_TEST(b.wait_time(1000) > 0);
}

BOOST_AUTO_TEST_CASE(take_zero_takes_nothing) {
  token_bucket b{10, 5, 0};
  BOOST_TEST(b.take(0, 0) == 0u);
  BOOST_TEST(b.tokens(0) == 5.0);
}

BOOST_AUTO_TEST_CASE(refills_at_rate_and_caps_at_burst) {
  token_bucket b{10, 5, 0}; // 10 per second = 1 per 100 ms
  BOOST_REQUIRE(b.take(0, 5) == 5u);
  BOOST_TEST(b.take(100, 10) == 1u);
  BOOST_TEST(b.take(300, 10) == 2u);
  BOOST_TEST(b.take(300, 10) == 0u);
  // A long idle period refills to burst, never above.
  BOOST_TEST(b.tokens(1000000) == 5.0);
  BOOST_TEST(b.take(1000000, 100) == 5u);
}

BOOST_AUTO_TEST_CASE(wait_time_after_draining) {
  token_bucket b{10, 1, 0};
  BOOST_REQUIRE(b.take(0, 1) == 1u);
  BOOST_TEST(b.wait_time(0) == 100);
  BOOST_TEST(b.wait_time(40) == 60);
  BOOST_TEST(b.wait_time(100) == 0);
  token_bucket slow{2, 1, 0};
  BOOST_REQUIRE(slow.take(0, 1) == 1u);
  BOOST_TEST(slow.wait_time(0) == 500);
  token_bucket very_slow{0.5, 1, 0};
  BOOST_REQUIRE(very_slow.take(0, 1) == 1u);
  BOOST_TEST(very_slow.wait_time(0) == 2000);
}

BOOST_AUTO_TEST_CASE(wait_time_for_several_tokens) {
  token_bucket b{4, 3, 0}; // one per 250 ms, at most 3
  BOOST_REQUIRE(b.take(0, 3) == 3u);
  BOOST_TEST(b.wait_time(0, 1) == 250);
  BOOST_TEST(b.wait_time(0, 2) == 500);
  BOOST_TEST(b.wait_time(0, 3) == 750);
  BOOST_TEST(b.wait_time(0, 10) == 750); // more than the burst: a full bucket
  BOOST_TEST(b.wait_time(100, 2) == 400);
  BOOST_TEST(b.take(499, 2) == 1u);
  BOOST_TEST(b.wait_time(500, 0.5) == 0);
  token_bucket unlimited;
  BOOST_TEST(unlimited.wait_time(0, 1000) == 0);
}

// wait_time is exactly how long until one token is available: waiting that
// long suffices, one millisecond less does not.
BOOST_DATA_TEST_CASE(wait_time_is_tight,
                     bdata::make({0.5, 1.0, 2.0, 3.0, 7.0, 10.0, 33.0, 250.0,
                                  1000.0}),
                     rate) {
  token_bucket b{rate, 3, 5000};
  BOOST_REQUIRE(b.take(5000, 3) == 3u);
  auto w = b.wait_time(5000);
  BOOST_TEST(w > 0);
  if (w > 1) {
    token_bucket early = b;
    BOOST_TEST(early.take(5000 + w - 1, 1) == 0u);
  }
  BOOST_TEST(b.take(5000 + w, 1) == 1u);
  BOOST_TEST(b.take(5000 + w, 1) == 0u);
}

// Under continuous demand, polled on ticks where (in exact arithmetic) a
// whole token accrues without overshooting the burst, the bucket yields its
// burst plus `rate` tokens per second: 1 + rate * 10 over 10 s with burst 1.
BOOST_DATA_TEST_CASE(sustained_rate_is_respected, bdata::make(rate_cases), c) {
  token_bucket b{c.rate, 1, 0};
  uint64_t taken = 0;
  for (millis_t now = 0; now <= 10000; now += c.step_ms)
    taken += b.take(now, 1000000);
  auto ideal = static_cast<uint64_t>(1 + c.rate * 10);
  BOOST_TEST(taken >= ideal - 1);
  BOOST_TEST(taken <= ideal);
}

BOOST_AUTO_TEST_CASE(waiting_event_gets_through_after_wait_time) {
  // Simulate a dispatcher: take one token or wait wait_time, 20 events.
  token_bucket b{5, 2, 0};
  millis_t now = 0;
  int dispatched = 0;
  std::vector<millis_t> at;
  while (dispatched < 20) {
    if (b.take(now, 1) == 1) {
      ++dispatched;
      at.push_back(now);
    } else {
      auto w = b.wait_time(now);
      BOOST_REQUIRE(w > 0);
      now += w;
    }
  }
  // Two in the burst, then 18 more at 5/s: 3.6 s.
  BOOST_TEST(at[0] == 0);
  BOOST_TEST(at[1] == 0);
  BOOST_TEST(at[2] == 200);
  BOOST_TEST(at.back() == 3600);
}

BOOST_AUTO_TEST_CASE(burst_below_one_holds_one_token) {
  token_bucket b{10, 0, 0};
  BOOST_TEST(b.take(0, 5) == 1u);
  BOOST_TEST(b.take(10000, 5) == 1u);
  token_bucket c{10, 0.2, 0};
  BOOST_TEST(c.take(0, 5) == 1u);
}

BOOST_AUTO_TEST_CASE(fractional_tokens_are_not_taken) {
  token_bucket b{1, 5, 0};
  BOOST_REQUIRE(b.take(0, 5) == 5u);
  BOOST_TEST(b.take(500, 1) == 0u); // half a token
  BOOST_TEST(b.tokens(500) == 0.5);
  BOOST_TEST(b.take(1000, 1) == 1u);
}

BOOST_AUTO_TEST_CASE(rate_zero_is_unlimited) {
  token_bucket b{0, 1, 0};
  BOOST_TEST(b.unlimited());
  BOOST_TEST(b.take(0, 1000000) == 1000000u);
  BOOST_TEST(b.take(0, 1000000) == 1000000u);
  BOOST_TEST(b.wait_time(0) == 0);
  BOOST_TEST(b.take(1, 1) == 1u);
}

BOOST_AUTO_TEST_CASE(default_bucket_is_unlimited) {
  token_bucket b;
  BOOST_TEST(b.unlimited());
  BOOST_TEST(b.take(0, 12345) == 12345u);
  BOOST_TEST(b.wait_time(0) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
