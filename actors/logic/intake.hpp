#pragma once

#include "actors/logic/event.hpp"
#include "actors/logic/validation.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace onceflow {

/// What a node takes in at once (the broadcaster's ingest).
struct intake_limits {
  /// Checked again on ingest: clients of the node's endpoint are not
  /// trusted.
  validation_limits events;
  /// Most events in one ingest batch.
  uint32_t max_batch = 10000;
  /// Unsettled events per group before ingest answers `overloaded`.
  uint32_t max_backlog = 200000;
  /// Append requests in flight before ingest answers `overloaded`.
  uint32_t max_pending_appends = 64;
};

/// Why an ingest batch is refused as a whole.
struct intake_refusal {
  enum kind_t : uint8_t {
    none = 0,
    /// The batch or one of its events breaks a rule (nothing is accepted).
    invalid = 1,
    /// Too much is unsettled or being appended: the client retries later.
    overloaded = 2,
  };
  kind_t kind = none;
  std::string message;

  explicit operator bool() const {
    return kind != none;
  }
};

/// Decides whether a batch may be appended: its size, every event's fields
/// (check_event, and check_not_before at `now`), then back pressure:
/// `worst_unsettled` is the most any group has unsettled, `pending_appends`
/// the appends in flight.
intake_refusal check_intake(const std::vector<event>& batch,
                            const intake_limits& lim, uint64_t worst_unsettled,
                            uint32_t pending_appends, millis_t now);

/// Turns the delays of an accepted batch into times, by the node's clock at
/// acceptance (`now`, the events' created_at): `not_before` = now + delay;
/// a `not_before` at or before now becomes 0 (the event runs at once).
/// Returns the earliest `not_before` of the batch, or -1 if none is
/// delayed.
millis_t resolve_delays(std::vector<event>& batch, millis_t now);

} // namespace onceflow
