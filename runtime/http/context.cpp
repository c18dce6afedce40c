#include "runtime/http/context.hpp"

#include "actors/node_metrics.hpp"

namespace onceflow::http {

void api_context::count(const char* name, const metric_labels& labels) const {
  if (metrics)
    metrics->count(name, labels);
}

void api_context::reject(const responder& done, const char* reason,
                         unsigned status, const std::string& error,
                         const std::string& field) const {
  count(metric::rejected, {{"reason", reason}});
  done(error_body(status, error, field));
}

bool api_context::parse_object_body(const request& req, json& doc,
                                    const responder& done) const {
  if (!parse_body(req, doc, done))
    return false;
  if (doc.is_object())
    return true;
  done(error_body(400, "body must be a JSON object", "body"));
  return false;
}

bool api_context::parse_body(const request& req, json& doc,
                             const responder& done) const {
  if (!is_json_content_type(req.content_type)) {
    reject(done, "unsupported_media_type", 415,
           req.content_type.empty()
             ? "Content-Type application/json is required"
             : "Content-Type must be application/json in UTF-8 (got '"
                 + req.content_type + "')",
           "Content-Type");
    return false;
  }
  // A safety bound before building the DOM; each event's payload depth
  // is checked exactly afterwards (one deep item does not sink a batch).
  if (json_nesting_exceeds(req.body, limits.max_depth + 16)) {
    reject(done, "invalid", 400,
           "payload nested deeper than " + std::to_string(limits.max_depth)
             + " levels",
           "payload");
    return false;
  }
  try {
    doc = json::parse(req.body);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at ..." -> the text.
    auto pos = what.find("] ");
    if (pos != std::string::npos)
      what = what.substr(pos + 2);
    reject(done, "invalid", 400, "body is not valid JSON: " + what, "body");
    return false;
  }
  return true;
}

std::optional<uint64_t> page_limit(const target& t, const responder& done) {
  uint64_t limit = 100;
  if (query_uint(t, "limit", limit, 1, 1000))
    return limit;
  done(error_body(400, "limit must be a number from 1 to 1000", "limit"));
  return std::nullopt;
}

response bad_cursor() {
  return error_body(400, "after must be a cursor from a previous page",
                    "after");
}

} // namespace onceflow::http
