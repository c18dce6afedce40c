#pragma once

#include "actors/logic/event.hpp"
#include "actors/logic/token_bucket.hpp"

#include <cstdint>

namespace onceflow {

/// Paces a replay of the DLQ at `rate` events/s, for any rate > 0 (also
/// below 1/s and fractional): a token bucket filling at `rate`. A step
/// replays at most one step's worth of events (rate x `step_ms`, rounded
/// up: at least one); the next step comes when the bucket holds a full
/// step again (or what is left of the run). The bucket has room for two
/// steps, so a step that runs late loses no tokens to the cap, and the
/// replay holds the rate over any span: after t seconds, between rate x t
/// and `step_size()` more (the first step runs at once). Pure: time comes
/// in as `now` (ms).
class replay_pacer {
public:
  /// About the shortest time between steps: a fast replay moves several
  /// events per step instead of one message and one store call per event.
  static constexpr millis_t step_ms = 100;

  replay_pacer() = default;

  /// A pacer at `rate` events/s (> 0) whose first step may run at `now`.
  replay_pacer(double rate, millis_t now);

  /// Events to replay at `now`, at most `max`; they are taken from the
  /// bucket.
  uint64_t take(millis_t now, uint64_t max);

  /// Milliseconds from `now` until the next step: until the bucket holds a
  /// full step, or `remaining` events if fewer remain (0: at once).
  millis_t wait(millis_t now, uint64_t remaining);

  double rate() const {
    return bucket_.rate();
  }

  /// Events of a full step.
  uint64_t step_size() const {
    return step_;
  }

private:
  token_bucket bucket_;
  uint64_t step_ = 1;
};

} // namespace onceflow
