#pragma once

#include "actors/logic/event.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace onceflow {

/// One dead letter as a DLQ alert names it.
struct alert_entry {
  std::string event_id;
  std::string group;
  std::string type;
  /// retries_exhausted, permanent_error, crash_loop.
  std::string reason;
  std::string error;
  uint32_t attempts = 0;
  millis_t dead_at = 0;
};

/// How DLQ alerts are batched, rate-limited and retried (`[alerts]`).
struct alert_limits {
  /// After a dead letter arrives, how long the alert waits for more.
  millis_t window = 5000;
  /// At most one alert call starts per interval (retries of a call are
  /// part of it).
  millis_t min_interval = 60000;
  /// Most entries one call lists; further dead letters until the call
  /// are only counted (`dropped`).
  size_t max_entries = 100;
  /// Retries of a failed call (1 s, 2 s, 4 s, ... apart), then its
  /// entries are counted as dropped in the next call.
  uint32_t retries = 3;
  millis_t retry_base = 1000;
};

/// One alert call: its entries and what was left out since the last one.
struct alert_call {
  /// 1, 2, ...: the same for every attempt of the call (receivers can
  /// drop a repeat whose answer was lost).
  uint64_t id = 0;
  /// 1 for the first attempt, 2.. for retries.
  uint32_t attempt = 1;
  std::vector<alert_entry> entries;
  /// Dead letters not listed: beyond `max_entries`, or of earlier calls
  /// that failed every attempt.
  uint64_t dropped = 0;
};

/// The JSON body of an alert call: {"alert": "dlq", "node", "alertId",
/// "attempt", "count" (entries listed), "dropped", "sentAt", "entries":
/// [{"eventId", "group", "type", "reason", "error", "attempts",
/// "deadAt"}]}.
std::string alert_body(const alert_call& call, const std::string& node,
                       millis_t now);

/// Decides when DLQ alerts go out: dead letters are batched (a call waits
/// `window` after the first one), rate-limited (calls start at least
/// `min_interval` apart; what arrives meanwhile goes into the next call, up
/// to `max_entries`, the rest counted), and a failed call is retried
/// (`retries` times with doubling waits). One call at a time. Pure: time
/// comes in as `now` (ms); the caller makes the calls and reports their
/// outcome.
class dlq_alerts {
public:
  explicit dlq_alerts(alert_limits lim = {}) : lim_(lim) {
    // nop
  }

  /// New dead letters.
  void add(const std::vector<alert_entry>& xs, millis_t now);

  /// The call to make at `now`, if one is due (a new call or a retry); it
  /// stays in flight until `done`.
  std::optional<alert_call> take(millis_t now);

  /// When `take` has a call next; -1 while a call is in flight or nothing
  /// waits.
  millis_t next_at() const;

  /// The call in flight ended: delivered (`ok`) or failed at `now`.
  void done(bool ok, millis_t now);

  bool in_flight() const {
    return flight_.has_value() && retry_at_ < 0;
  }

  /// Entries waiting for the next call.
  size_t pending() const {
    return pending_.size();
  }

  /// Counters: calls delivered, attempts failed, calls given up, entries
  /// delivered, dead letters dropped (never listed in a delivered call).
  uint64_t delivered_calls() const {
    return delivered_calls_;
  }
  uint64_t failed_attempts() const {
    return failed_attempts_;
  }
  uint64_t given_up_calls() const {
    return given_up_;
  }
  uint64_t delivered_entries() const {
    return delivered_entries_;
  }
  uint64_t dropped_total() const {
    return dropped_total_;
  }

private:
  alert_limits lim_;
  std::vector<alert_entry> pending_;
  uint64_t dropped_ = 0;
  /// When the oldest waiting dead letter arrived; -1 if none waits.
  millis_t waiting_since_ = -1;
  /// When the last call started; -1 before the first.
  millis_t last_start_ = -1;
  /// The call being made or waiting for its retry (at retry_at_).
  std::optional<alert_call> flight_;
  millis_t retry_at_ = -1;
  uint64_t next_id_ = 1;
  uint64_t delivered_calls_ = 0;
  uint64_t failed_attempts_ = 0;
  uint64_t given_up_ = 0;
  uint64_t delivered_entries_ = 0;
  uint64_t dropped_total_ = 0;
};

} // namespace onceflow
