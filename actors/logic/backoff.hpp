#pragma once

#include "actors/logic/event.hpp"

#include <cstdint>

namespace onceflow {

/// Retry policy of one listener group: exponential backoff with full jitter.
struct retry_policy {
  millis_t base = 1000;
  double factor = 2.0;
  millis_t cap = 300000;
  /// Total number of attempts, the first delivery included.
  uint32_t max_attempts = 8;
  /// Full jitter (delay uniform in [0, ceiling]) when true; the ceiling
  /// itself when false.
  bool jitter = true;
  /// Crash redeliveries (expired leases) allowed before `crash_loop`.
  uint32_t crash_budget = 3;
};

/// Returns an empty string when the policy is usable, else what is wrong.
std::string validate(const retry_policy& p);

/// The delay ceiling after `failed_attempt` (1-based) failed:
/// min(cap, base * factor^(failed_attempt - 1)). Never overflows.
millis_t backoff_ceiling(const retry_policy& p, uint32_t failed_attempt);

/// The delay before the next attempt. `u` is a uniform random number in
/// [0, 1]; with jitter the delay is round(u * ceiling), else the ceiling.
millis_t backoff_delay(const retry_policy& p, uint32_t failed_attempt,
                       double u);

/// What to do with a delivery whose attempt did not succeed.
struct retry_verdict {
  /// True: schedule again after `delay`; false: dead-letter with `reason`.
  bool retry = false;
  millis_t delay = 0;
  dlq_reason reason = dlq_reason::retries_exhausted;
};

/// Decides between retry and dead-letter for attempt `attempt` (1-based)
/// that ended with `result` (retryable or permanent).
retry_verdict decide_retry(const retry_policy& p, uint32_t attempt,
                           outcome result, double u);

} // namespace onceflow
