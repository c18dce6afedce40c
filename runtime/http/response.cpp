#include "runtime/http/response.hpp"

#include "actors/types.hpp"

#include <caf/sec.hpp>

namespace onceflow::http {

std::string dump(const json& doc) {
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

response json_response(unsigned status, const json& doc) {
  response r;
  r.status = status;
  r.body = dump(doc);
  return r;
}

response error_body(unsigned status, const std::string& error,
                    const std::string& field) {
  json doc{{"error", error}};
  if (!field.empty())
    doc["field"] = field;
  return json_response(status, doc);
}

response retry_later(unsigned status, const std::string& error, int seconds) {
  auto r = json_response(status,
                         json{{"error", error}, {"retryAfter", seconds}});
  r.headers.emplace_back("Retry-After", std::to_string(seconds));
  return r;
}

response from_error(const caf::error& err) {
  auto text = render(err);
  if (err.category() == caf::atom("onceflow")) {
    switch (static_cast<ec>(err.code())) {
      case ec::overloaded:
        return retry_later(429, text, 1);
      case ec::draining:
        return retry_later(503, text, 5);
      case ec::store_failure:
      case ec::store_unknown_group:
      case ec::store_generation_changed:
      case ec::timeout:
        return retry_later(503, text, 1);
      case ec::invalid_event:
      case ec::invalid_config:
        return error_body(400, text);
      case ec::unknown_group:
      case ec::unknown_node:
        return error_body(404, text);
      case ec::node_down:
        return retry_later(503, text, 1);
      case ec::unauthorized:
        return error_body(401, text);
      case ec::forbidden:
        return error_body(403, text);
      default:
        return error_body(500, text);
    }
  }
  if (err.category() == caf::atom("system")
      && static_cast<caf::sec>(err.code()) == caf::sec::request_timeout)
    return retry_later(503, text, 1);
  return error_body(500, text);
}

response ingest_error(const caf::error& err, const char* key, const json& ids) {
  auto r = from_error(err);
  auto doc = json::parse(r.body, nullptr, false);
  if (doc.is_object()) {
    doc[key] = ids;
    r.body = dump(doc);
  }
  return r;
}

} // namespace onceflow::http
