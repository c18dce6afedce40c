#include "actors/logic/backoff.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace onceflow {

std::string validate(const retry_policy& p) {
  if (p.base <= 0)
    return "retry base must be positive";
  if (!(p.factor >= 1.0) || !std::isfinite(p.factor))
    return "retry factor must be a finite number >= 1";
  if (p.cap < p.base)
    return "retry cap must be >= retry base";
  if (p.max_attempts < 1)
    return "max attempts must be >= 1";
  return {};
}

millis_t backoff_ceiling(const retry_policy& p, uint32_t failed_attempt) {
  if (failed_attempt < 1)
    failed_attempt = 1;
  double ceiling = static_cast<double>(p.base);
  for (uint32_t i = 1; i < failed_attempt; ++i) {
    ceiling *= p.factor;
    if (ceiling >= static_cast<double>(p.cap))
      return p.cap;
  }
  return std::min(p.cap, static_cast<millis_t>(ceiling));
}

millis_t backoff_delay(const retry_policy& p, uint32_t failed_attempt,
                       double u) {
  auto ceiling = backoff_ceiling(p, failed_attempt);
  if (!p.jitter)
    return ceiling;
  u = std::clamp(u, 0.0, 1.0);
  return static_cast<millis_t>(std::llround(u * static_cast<double>(ceiling)));
}

retry_verdict decide_retry(const retry_policy& p, uint32_t attempt,
                           outcome result, double u) {
  retry_verdict v;
  if (result == outcome::permanent) {
    v.reason = dlq_reason::permanent_error;
    return v;
  }
  if (attempt >= p.max_attempts) {
    v.reason = dlq_reason::retries_exhausted;
    return v;
  }
  v.retry = true;
  v.delay = backoff_delay(p, attempt, u);
  return v;
}

} // namespace onceflow
