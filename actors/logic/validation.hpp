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
};

/// What a producer hands to onceflow before validation. Empty `id` means
/// "generate one"; empty `prio` means "normal".
struct submission {
  std::string id;
  std::string type;
  std::string payload;
  std::string prio;
};

/// Result of validating one submission. On failure, `field` names the
/// offending field ("id", "type", "payload", "priority" or "line") and
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
/// priority, payload. Ingest checks events with it (they arrive built, from
/// clients of the node's endpoint, who are not trusted); validate and
/// parse_event_object apply the same rules, with the words of a submission
/// (a priority given as text, an id generated when absent). Returns the
/// first problem.
event_problem check_event(const event& ev, const validation_limits& lim);

/// Validates a submission and turns it into an event (id generated when
/// absent, trace id generated, created_at left for the node to stamp).
validation_result validate(const submission& sub, const validation_limits& lim);

/// Validates one parsed event object `{"id"?, "type", "payload",
/// "priority"?}`. An unknown field is reported under its own name, or
/// under `unknown_field` if that is not empty.
validation_result parse_event_object(const nlohmann::json& doc,
                                     const validation_limits& lim,
                                     const std::string& unknown_field = {});

/// Returns true if `text` nests arrays/objects deeper than `max_depth`
/// (a scan of the raw text, safe on any input; strings are skipped).
bool json_nesting_exceeds(const std::string& text, size_t max_depth);

/// Parses one JSON line `{"id"?, "type", "payload", "priority"?}` and
/// validates it.
validation_result parse_event_json(const std::string& line,
                                   const validation_limits& lim);

} // namespace onceflow
