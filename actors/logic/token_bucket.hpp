#pragma once

#include "actors/logic/event.hpp"

#include <cstdint>

namespace onceflow {

/// A token bucket: `rate` tokens per second, at most `burst` stored.
/// A rate of 0 means unlimited. Pure: time comes in as `now` (ms).
class token_bucket {
public:
  token_bucket() = default;

  token_bucket(double rate, double burst, millis_t now)
    : rate_(rate), burst_(burst < 1 ? 1 : burst), tokens_(burst_), last_(now) {
    // nop
  }

  bool unlimited() const {
    return rate_ <= 0;
  }

  /// Takes up to `n` tokens; returns how many were taken.
  uint64_t take(millis_t now, uint64_t n);

  /// Changes rate and burst at `now` (a run-time change of a group's
  /// limit): the tokens gathered until now at the old rate are kept, up to
  /// the new burst, so that a change hands out no burst of its own; a
  /// bucket that was unlimited starts full.
  void change(double rate, double burst, millis_t now);

  /// Milliseconds until at least one token is available (0 if one is now).
  millis_t wait_time(millis_t now);

  /// Milliseconds until at least `n` tokens are available (0 if they are
  /// now); `n` above the burst waits for a full bucket.
  millis_t wait_time(millis_t now, double n);

  double rate() const {
    return rate_;
  }

  double burst() const {
    return burst_;
  }

  double tokens(millis_t now) {
    refill(now);
    return tokens_;
  }

private:
  void refill(millis_t now);

  double rate_ = 0;
  double burst_ = 1;
  double tokens_ = 1;
  millis_t last_ = 0;
};

} // namespace onceflow
