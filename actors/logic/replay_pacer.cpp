#include "actors/logic/replay_pacer.hpp"

#include <algorithm>
#include <cmath>

namespace onceflow {

replay_pacer::replay_pacer(double rate, millis_t now) {
  auto per_step = std::ceil(rate * static_cast<double>(step_ms) / 1000.0);
  step_ = std::max<uint64_t>(1, static_cast<uint64_t>(per_step));
  // Room for a second step: a step that comes late (timers, store calls)
  // keeps the tokens that accrued meanwhile, so lateness is caught up
  // instead of lost to the cap. It starts with one step's worth.
  bucket_ = token_bucket{rate, 2.0 * static_cast<double>(step_), now};
  bucket_.take(now, step_);
}

uint64_t replay_pacer::take(millis_t now, uint64_t max) {
  return bucket_.take(now, std::min(max, step_));
}

millis_t replay_pacer::wait(millis_t now, uint64_t remaining) {
  if (remaining == 0)
    return 0;
  auto want = std::min(remaining, step_);
  return bucket_.wait_time(now, static_cast<double>(want));
}

} // namespace onceflow
