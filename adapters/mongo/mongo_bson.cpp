#include "adapters/mongo/mongo_bson.hpp"

#include <mongoc/mongoc.h>

namespace onceflow::mongo {

std::string text_of(const bson_error_t& err) {
  return std::string{static_cast<const char*>(err.message)};
}

bool unreachable(const bson_error_t& err) {
  return err.domain == MONGOC_ERROR_SERVER_SELECTION
         || err.domain == MONGOC_ERROR_STREAM;
}

void append_event(bson_t* doc, const event& ev) {
  BSON_APPEND_UTF8(doc, "eventId", ev.id.c_str());
  BSON_APPEND_UTF8(doc, "type", ev.type.c_str());
  bson_error_t err;
  if (auto* payload
      = bson_new_from_json(reinterpret_cast<const uint8_t*>(ev.payload.data()),
                           static_cast<ssize_t>(ev.payload.size()), &err)) {
    BSON_APPEND_DOCUMENT(doc, "payload", payload);
    bson_destroy(payload);
  } else { // Kept as text rather than lost (e.g. a number BSON cannot hold).
    BSON_APPEND_UTF8(doc, "payload", ev.payload.c_str());
  }
  BSON_APPEND_UTF8(doc, "priority", to_string(ev.prio));
  BSON_APPEND_DATE_TIME(doc, "createdAt", ev.created_at);
  if (ev.not_before != 0)
    BSON_APPEND_DATE_TIME(doc, "notBefore", ev.not_before);
  BSON_APPEND_UTF8(doc, "traceId", ev.trace_id.c_str());
}

std::string utf8_of(const bson_t* doc, const char* path) {
  bson_iter_t it;
  bson_iter_t found;
  if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &found)
      && BSON_ITER_HOLDS_UTF8(&found))
    return bson_iter_utf8(&found, nullptr);
  return {};
}

int64_t int_of(const bson_t* doc, const char* path) {
  bson_iter_t it;
  bson_iter_t found;
  if (!bson_iter_init(&it, doc)
      || !bson_iter_find_descendant(&it, path, &found))
    return 0;
  if (BSON_ITER_HOLDS_DATE_TIME(&found))
    return bson_iter_date_time(&found);
  if (BSON_ITER_HOLDS_NUMBER(&found))
    return bson_iter_as_int64(&found);
  return 0;
}

} // namespace onceflow::mongo
