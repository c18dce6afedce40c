#pragma once

#include "adapters/mongo/mongo_client.hpp"

#include <bson/bson.h>

#include <cstddef>
#include <string>
#include <vector>

/// Reading a bulk insert's reply (kept apart from the client so that tests
/// can feed it replies no server sends on demand).
namespace onceflow::mongo {

/// The name of the unique index an effect's document is held once by.
constexpr const char* unique_index = "eventId_group";

/// What a reply said of the documents of one bulk insert.
struct reply_summary {
  /// Documents the reply does not account for (neither inserted nor named
  /// by a write error) after a failed call: left retryable.
  size_t unaccounted = 0;
};

/// Applies a bulk insert's reply to `out`: `slot[i]` is the record of the
/// bulk's i-th document, `ok` what mongoc_bulk_operation_execute returned
/// and `error` its error text. Every record of `slot` ends with a verdict:
/// - named by a write error: its code's verdict (11000 is done only if it
///   is the duplicate of `unique_index`; one of another unique index is
///   permanent);
/// - with write concern errors: records inserted now are retryable (the
///   retry finds them and counts them done);
/// - a failed call whose reply accounts for fewer documents than it held
///   (nInserted plus the write errors): the records it does not name are
///   retryable (the call may have stopped before them).
reply_summary apply_bulk_reply(const bson_t* reply, bool ok,
                               const std::string& error,
                               const std::vector<size_t>& slot,
                               std::vector<write_result>& out);

} // namespace onceflow::mongo
