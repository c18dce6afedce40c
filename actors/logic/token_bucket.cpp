#include "actors/logic/token_bucket.hpp"

#include "actors/logic/priority_queue.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace onceflow {

std::string validate(const priority_weights& w) {
  if (w.high == 0 || w.normal == 0 || w.low == 0)
    return "priority weights must all be >= 1 (a zero weight starves)";
  return {};
}

void token_bucket::refill(millis_t now) {
  if (now > last_) {
    tokens_ = std::min(
      burst_, tokens_ + rate_ * static_cast<double>(now - last_) / 1000.0);
    last_ = now;
  }
}

void token_bucket::change(double rate, double burst, millis_t now) {
  auto was_unlimited = unlimited();
  refill(now);
  rate_ = rate;
  burst_ = burst < 1 ? 1 : burst;
  tokens_ = was_unlimited ? burst_ : std::min(tokens_, burst_);
  last_ = std::max(last_, now);
}

uint64_t token_bucket::take(millis_t now, uint64_t n) {
  if (unlimited())
    return n;
  refill(now);
  // The epsilon absorbs rounding of many small refills (10 x 0.1 < 1.0).
  auto available = static_cast<uint64_t>(std::floor(tokens_ + 1e-9));
  auto taken = std::min(available, n);
  tokens_ = std::max(0.0, tokens_ - static_cast<double>(taken));
  return taken;
}

millis_t token_bucket::wait_time(millis_t now) {
  return wait_time(now, 1.0);
}

millis_t token_bucket::wait_time(millis_t now, double n) {
  if (unlimited())
    return 0;
  refill(now);
  auto want = std::min(n, burst_);
  if (tokens_ + 1e-9 >= want)
    return 0;
  return static_cast<millis_t>(std::ceil((want - tokens_) * 1000.0 / rate_));
}

} // namespace onceflow
