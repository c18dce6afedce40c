#pragma once

#include "actors/logic/event.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <string>

namespace onceflow {

/// Limits applied to every incoming event.
struct validation_limits {
  size_t max_payload_bytes = size_t{256} * 1024;
  size_t max_id_bytes = 128;
  size_t max_type_bytes = 64;
  /// Maximum nesting depth of the payload's JSON.
  size_t max_depth = 64;
  /// Longest a delayed event may wait ([events] max-delay): its `delay`, or
  /// how far its `notBefore` lies after now. 0: no delayed events.
  millis_t max_delay = 24LL * 3600 * 1000;
};

/// What a producer hands to onceflow before validation. Empty `id` means
/// "generate one"; empty `prio` means "normal".
struct submission {
  std::string id;
  std::string type;
  std::string payload;
  std::string prio;
  /// A delay (see parse_delay); empty: none.
  std::string delay;
  /// The earliest time to run (see parse_time); empty: none.
  std::string not_before;
};

/// Result of validating one submission. On failure, `field` names the
/// offending field ("id", "type", "payload", "priority", "delay",
/// "notBefore" or "line") and
/// `message` says what is wrong with it.
struct validation_result {
  bool ok = false;
  event ev;
  std::string field;
  std::string message;
  /// True when the failure is an oversize payload (HTTP 413 later).
  bool too_large = false;
};

/// Returns true if `id` is 1..max_id_bytes printable ASCII bytes.
bool valid_event_id(const std::string& id, const validation_limits& lim);

/// Returns true if `type` matches `[A-Za-z0-9_.-]{1,max_type_bytes}`.
bool valid_event_type(const std::string& type, const validation_limits& lim);

/// Checks that `json` is a JSON object no deeper than `lim.max_depth` and no
/// larger than `lim.max_payload_bytes`. Returns an empty string when valid,
/// else a message.
std::string check_payload(const std::string& json, const validation_limits& lim,
                          bool& too_large);

/// A field of an event that breaks a rule; empty `field` if none does.
struct event_problem {
  std::string field;
  std::string message;
  /// The payload is over the size limit (HTTP 413 later).
  bool too_large = false;

  explicit operator bool() const {
    return !field.empty();
  }
};

/// The one rule set for an event's fields, checked in this order: id, type,
/// priority, delay and notBefore (not both; a delay of at most
/// `max_delay`), payload. Ingest checks events with it (they arrive built, from
/// clients of the node's endpoint, who are not trusted); validate and
/// parse_event_object apply the same rules, with the words of a submission
/// (a priority given as text, an id generated when absent). Returns the
/// first problem.
event_problem check_event(const event& ev, const validation_limits& lim);

/// The rule for `notBefore` that needs a clock: at most `max_delay` after
/// `now` (a time in the past is fine: the event runs at once). Checked
/// where the event is accepted (ingest) and where a submission arrives
/// (HTTP, the CLI), each by its own clock.
event_problem check_not_before(const event& ev, const validation_limits& lim,
                               millis_t now);

/// check_not_before on a validated submission: if its notBefore breaks the
/// rule, `r` becomes a failure naming it (a failed `r` stays as it is).
void check_not_before(validation_result& r, const validation_limits& lim,
                      millis_t now);

/// Parses a delay: a whole number with a unit, `ms`, `s`, `m` or `min`, `h`
/// ("500ms", "30s", "5min", "2h"), or a whole number alone, in
/// milliseconds ("30000"). Returns an empty string when valid, else what is
/// wrong with it.
std::string parse_delay(const std::string& text, millis_t& out);

/// Parses a point in time: an RFC 3339 date-time with a zone
/// ("2030-05-01T12:00:00Z", "2030-05-01T14:00:00.250+02:00"; digits below
/// the millisecond are dropped) or a whole number of milliseconds since the
/// Unix epoch. Returns an empty string when valid, else what is wrong.
std::string parse_time(const std::string& text, millis_t& out);

/// Milliseconds in the largest unit that divides them: "2h", "5min",
/// "30s", "1500ms".
std::string format_duration(millis_t ms);

/// Validates a submission and turns it into an event (id generated when
/// absent, trace id generated, created_at left for the node to stamp).
validation_result validate(const submission& sub, const validation_limits& lim);

/// Validates one parsed event object `{"id"?, "type", "payload",
/// "priority"?, "delay"?, "notBefore"?}`: `delay` a duration text or a
/// whole number of milliseconds, `notBefore` an RFC 3339 text or a whole
/// number of milliseconds since the epoch. An unknown field is reported
/// under its own name, or under `unknown_field` if that is not empty.
validation_result parse_event_object(const nlohmann::json& doc,
                                     const validation_limits& lim,
                                     const std::string& unknown_field = {});

/// Returns true if `text` nests arrays/objects deeper than `max_depth`
/// (a scan of the raw text, safe on any input; strings are skipped).
bool json_nesting_exceeds(const std::string& text, size_t max_depth);

/// Parses one JSON line (the fields of parse_event_object) and validates
/// it.
validation_result parse_event_json(const std::string& line,
                                   const validation_limits& lim);

} // namespace onceflow
