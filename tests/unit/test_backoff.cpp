// Unit tests for actors/logic/backoff.hpp: exponential backoff with full
// jitter, bounded by a cap, and the retry/dead-letter decision.
#include "actors/logic/backoff.hpp"
#include "tests/support/print.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace bdata = boost::unit_test::data;
using namespace onceflow;

namespace {

// Uniform numbers in [0, 1] including both ends and values near them.
const std::vector<double> unit_samples
  = {0.0,       1e-12, 1e-6, 0.001, 0.1,      0.25,        0.3333333, 0.5,
     0.5000001, 0.75,  0.9,  0.999, 0.999999, 1.0 - 1e-12, 1.0};

retry_policy no_jitter() {
  retry_policy p;
  p.jitter = false;
  return p;
}

// min(cap, base * factor^(n-1)) computed independently with integers.
millis_t expected_ceiling(millis_t base, millis_t factor, millis_t cap,
                          uint32_t n) {
  millis_t c = base;
  for (uint32_t i = 1; i < n; ++i) {
    if (c >= cap)
      return cap;
    c *= factor;
  }
  return c < cap ? c : cap;
}

} // namespace

BOOST_AUTO_TEST_SUITE(backoff)

BOOST_AUTO_TEST_CASE(default_policy_matches_spec) {
  retry_policy p;
  BOOST_TEST(p.base == 1000);
  BOOST_TEST(p.factor == 2.0);
  BOOST_TEST(p.cap == 300000);
  BOOST_TEST(p.max_attempts == 8u);
  BOOST_TEST(p.jitter);
  BOOST_TEST(p.crash_budget == 3u);
  BOOST_TEST(validate(p).empty());
}

BOOST_AUTO_TEST_CASE(unusable_policies_are_rejected) {
  {
    retry_policy p;
    p.max_attempts = 0; // not even the first delivery
    BOOST_TEST(!validate(p).empty());
  }
  {
    retry_policy p;
    p.base = -1000;
    BOOST_TEST(!validate(p).empty());
  }
  {
    retry_policy p;
    p.cap = -1;
    BOOST_TEST(!validate(p).empty());
  }
  {
    retry_policy p;
    p.factor = -2.0;
    BOOST_TEST(!validate(p).empty());
  }
}

BOOST_AUTO_TEST_CASE(nan_factor_is_rejected) {
  // A NaN factor makes every ceiling undefined: not a usable policy.
  retry_policy p;
  p.factor = std::numeric_limits<double>::quiet_NaN();
  BOOST_TEST(!validate(p).empty());
}

BOOST_AUTO_TEST_CASE(custom_usable_policy_is_accepted) {
  retry_policy p;
  p.base = 50;
  p.factor = 3.0;
  p.cap = 60000;
  p.max_attempts = 1;
  p.jitter = false;
  p.crash_budget = 0;
  BOOST_TEST(validate(p).empty());
}

// Without jitter: exactly 1000, 2000, 4000, ... capped at 300000.
BOOST_DATA_TEST_CASE(ceiling_without_jitter_is_exact,
                     bdata::xrange(1, 101) * bdata::make(unit_samples), attempt,
                     u) {
  auto p = no_jitter();
  auto n = static_cast<uint32_t>(attempt);
  millis_t want = expected_ceiling(1000, 2, 300000, n);
  BOOST_TEST(backoff_ceiling(p, n) == want);
  BOOST_TEST(backoff_delay(p, n, u) == want);
}

BOOST_AUTO_TEST_CASE(explicit_default_sequence) {
  auto p = no_jitter();
  const std::vector<millis_t> want = {1000,   2000,   4000,   8000,
                                      16000,  32000,  64000,  128000,
                                      256000, 300000, 300000, 300000};
  for (uint32_t n = 1; n <= want.size(); ++n) {
    BOOST_TEST_CONTEXT("failed_attempt " << n) {
      BOOST_TEST(backoff_delay(p, n, 0.5) == want[n - 1]);
    }
  }
}

// With jitter: never negative, never above the ceiling nor the cap.
BOOST_DATA_TEST_CASE(jittered_delay_within_bounds,
                     bdata::xrange(1, 101) * bdata::make(unit_samples), attempt,
                     u) {
  retry_policy p;
  auto n = static_cast<uint32_t>(attempt);
  auto ceiling = backoff_ceiling(p, n);
  auto d = backoff_delay(p, n, u);
  BOOST_TEST(d >= 0);
  BOOST_TEST(d <= ceiling);
  BOOST_TEST(d <= p.cap);
  // Documented: round(u * ceiling).
  BOOST_TEST(
    d == static_cast<millis_t>(std::llround(u * static_cast<double>(ceiling))));
}

BOOST_AUTO_TEST_CASE(jitter_range_endpoints) {
  retry_policy p;
  for (uint32_t n = 1; n <= 30; ++n) {
    BOOST_TEST_CONTEXT("failed_attempt " << n) {
      BOOST_TEST(backoff_delay(p, n, 0.0) == 0);
      BOOST_TEST(backoff_delay(p, n, 1.0) == backoff_ceiling(p, n));
      BOOST_TEST(backoff_delay(p, n, 0.5) == backoff_ceiling(p, n) / 2);
    }
  }
}

BOOST_AUTO_TEST_CASE(jitter_spreads_over_full_range) {
  // Full jitter: with random u the delays cover [0, ceiling], not a band.
  retry_policy p;
  std::mt19937_64 rng{42};
  std::uniform_real_distribution<double> dist{0.0, 1.0};
  const uint32_t n = 12; // ceiling is the cap
  millis_t lo = p.cap, hi = 0;
  for (int i = 0; i < 10000; ++i) {
    auto d = backoff_delay(p, n, dist(rng));
    BOOST_REQUIRE(d >= 0);
    BOOST_REQUIRE(d <= p.cap);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  BOOST_TEST(lo < p.cap / 100);
  BOOST_TEST(hi > p.cap - p.cap / 100);
}

BOOST_AUTO_TEST_CASE(huge_attempt_numbers_do_not_overflow) {
  retry_policy p;
  for (uint32_t n :
       {64u, 1000u, 1000000u, std::numeric_limits<uint32_t>::max()}) {
    BOOST_TEST_CONTEXT("failed_attempt " << n) {
      BOOST_TEST(backoff_ceiling(p, n) == p.cap);
      BOOST_TEST(backoff_delay(p, n, 1.0) == p.cap);
      auto d = backoff_delay(p, n, 0.7);
      BOOST_TEST(d >= 0);
      BOOST_TEST(d <= p.cap);
    }
  }
  // A cap near the top of the range must not overflow either.
  retry_policy big;
  big.cap = std::numeric_limits<millis_t>::max() / 2;
  big.jitter = false;
  for (uint32_t n = 1; n <= 200; ++n) {
    auto d = backoff_delay(big, n, 1.0);
    BOOST_TEST_CONTEXT("failed_attempt " << n) {
      BOOST_TEST(d >= big.base);
      BOOST_TEST(d <= big.cap);
    }
  }
}

BOOST_AUTO_TEST_CASE(custom_policy_is_honoured) {
  retry_policy p;
  p.base = 500;
  p.factor = 3.0;
  p.cap = 10000;
  p.jitter = false;
  BOOST_TEST(backoff_delay(p, 1, 0.0) == 500);
  BOOST_TEST(backoff_delay(p, 2, 0.0) == 1500);
  BOOST_TEST(backoff_delay(p, 3, 0.0) == 4500);
  BOOST_TEST(backoff_delay(p, 4, 0.0) == 10000);
  BOOST_TEST(backoff_delay(p, 5, 0.0) == 10000);
}

BOOST_AUTO_TEST_CASE(ceiling_is_monotonic) {
  retry_policy p;
  millis_t prev = 0;
  for (uint32_t n = 1; n <= 100; ++n) {
    auto c = backoff_ceiling(p, n);
    BOOST_TEST(c >= prev);
    prev = c;
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(retry_decision)

// Retryable failures retry until attempt max_attempts, which dead-letters.
BOOST_DATA_TEST_CASE(exhaustion_exactly_at_max_attempts, bdata::xrange(1, 13),
                     max_attempts) {
  retry_policy p;
  p.max_attempts = static_cast<uint32_t>(max_attempts);
  for (uint32_t a = 1; a < p.max_attempts; ++a) {
    BOOST_TEST_CONTEXT("attempt " << a) {
      auto v = decide_retry(p, a, outcome::retryable, 0.5);
      BOOST_TEST(v.retry);
      BOOST_TEST(v.delay == backoff_delay(p, a, 0.5));
    }
  }
  auto last = decide_retry(p, p.max_attempts, outcome::retryable, 0.5);
  BOOST_TEST(!last.retry);
  BOOST_TEST(last.reason == dlq_reason::retries_exhausted);
  auto beyond = decide_retry(p, p.max_attempts + 1, outcome::retryable, 0.5);
  BOOST_TEST(!beyond.retry);
  BOOST_TEST(beyond.reason == dlq_reason::retries_exhausted);
}

BOOST_AUTO_TEST_CASE(default_policy_delivers_exactly_eight_times) {
  // Simulate a handler that always fails transiently.
  retry_policy p;
  uint32_t deliveries = 0;
  uint32_t attempt = 1;
  for (;;) {
    ++deliveries;
    auto v = decide_retry(p, attempt, outcome::retryable, 1.0);
    if (!v.retry) {
      BOOST_TEST(v.reason == dlq_reason::retries_exhausted);
      break;
    }
    BOOST_REQUIRE(deliveries < 100);
    ++attempt;
  }
  BOOST_TEST(deliveries == 8u);
}

BOOST_AUTO_TEST_CASE(retry_delays_follow_backoff) {
  retry_policy p;
  p.jitter = false;
  const std::vector<millis_t> want = {1000,  2000,  4000, 8000,
                                      16000, 32000, 64000};
  for (uint32_t a = 1; a <= 7; ++a) {
    auto v = decide_retry(p, a, outcome::retryable, 0.0);
    BOOST_TEST_CONTEXT("attempt " << a) {
      BOOST_TEST(v.retry);
      BOOST_TEST(v.delay == want[a - 1]);
    }
  }
}

BOOST_DATA_TEST_CASE(jittered_retry_delay_within_cap,
                     bdata::xrange(1, 101) * bdata::make(unit_samples), attempt,
                     u) {
  retry_policy p;
  p.max_attempts = 1000;
  auto v = decide_retry(p, static_cast<uint32_t>(attempt), outcome::retryable,
                        u);
  BOOST_TEST(v.retry);
  BOOST_TEST(v.delay >= 0);
  BOOST_TEST(v.delay <= p.cap);
}

// Permanent errors go straight to the DLQ, at any attempt, jitter or not.
BOOST_DATA_TEST_CASE(permanent_never_retries,
                     bdata::xrange(1, 21) * bdata::make({true, false}), attempt,
                     jitter) {
  retry_policy p;
  p.jitter = jitter;
  p.max_attempts = 10;
  auto v = decide_retry(p, static_cast<uint32_t>(attempt), outcome::permanent,
                        0.5);
  BOOST_TEST(!v.retry);
  BOOST_TEST(v.reason == dlq_reason::permanent_error);
}

BOOST_AUTO_TEST_CASE(permanent_on_first_attempt_with_generous_policy) {
  retry_policy p;
  p.max_attempts = 1000000;
  auto v = decide_retry(p, 1, outcome::permanent, 0.0);
  BOOST_TEST(!v.retry);
  BOOST_TEST(v.reason == dlq_reason::permanent_error);
}

BOOST_AUTO_TEST_CASE(single_attempt_policy_never_retries) {
  retry_policy p;
  p.max_attempts = 1;
  auto v = decide_retry(p, 1, outcome::retryable, 0.5);
  BOOST_TEST(!v.retry);
  BOOST_TEST(v.reason == dlq_reason::retries_exhausted);
}

BOOST_AUTO_TEST_SUITE_END()
