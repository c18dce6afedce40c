#pragma once

#include "actors/logic/event.hpp"

#include <bson/bson.h>

#include <string>

/// BSON pieces shared by the processed documents and the records.
namespace onceflow::mongo {

/// Owns a bson_t on the stack.
struct bson_doc {
  bson_t doc = BSON_INITIALIZER;
  bson_doc() = default;
  bson_doc(const bson_doc&) = delete;
  bson_doc& operator=(const bson_doc&) = delete;
  ~bson_doc() {
    bson_destroy(&doc);
  }
  bson_t* get() {
    return &doc;
  }
};

std::string text_of(const bson_error_t& err);

/// An error a whole call failed with that says MongoDB cannot be reached
/// (as opposed to a refusal by a server that answers).
bool unreachable(const bson_error_t& err);

/// The event's fields: eventId, type, payload (a document; the text if
/// BSON cannot hold it, e.g. a number out of its range), priority,
/// createdAt, notBefore (delayed events), traceId.
void append_event(bson_t* doc, const event& ev);

/// A string field of `doc` ("" if absent or not a string).
std::string utf8_of(const bson_t* doc, const char* path);

/// An integer or date field of `doc` (0 if absent).
int64_t int_of(const bson_t* doc, const char* path);

} // namespace onceflow::mongo
