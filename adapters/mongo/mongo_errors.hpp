#pragma once

#include <cstdint>

/// What MongoDB's write errors mean for an event's effect (pure: no driver,
/// tested directly).
namespace onceflow::mongo {

/// The verdict on one document the `mongo` handler wrote.
enum class write_verdict : uint8_t {
  /// The document is in the collection (inserted now, or by an earlier
  /// attempt: a duplicate key on the unique (eventId, group) index).
  done,
  /// Not written for now (server unreachable, stepping down, write concern
  /// not satisfied, ...): the event is retried; a retry that finds the
  /// document counts as done.
  retryable,
  /// The document can never be written (invalid, too large, refused by a
  /// validator): the event goes to the DLQ.
  permanent,
};

/// MongoDB's duplicate key error code.
constexpr int32_t duplicate_key = 11000;

/// The verdict for a server write error with `code` (writeErrors[i].code):
/// 11000 is done; the codes of a document that cannot be stored as it is
/// (BadValue, TypeMismatch, DocumentValidationFailure, BSONObjectTooLarge,
/// KeyTooLong, dotted or $-prefixed names, ...) are permanent; anything
/// else is retryable (the unique index makes a retry safe).
write_verdict classify_write_error(int32_t code);

/// Text of a verdict: "done", "retryable", "permanent".
const char* to_string(write_verdict v);

} // namespace onceflow::mongo
