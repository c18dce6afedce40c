#pragma once

#include "runtime/http/api.hpp"

#include <caf/error.hpp>

#include <nlohmann/json.hpp>

#include <string>

namespace onceflow::http {

using json = nlohmann::json;

/// Compact JSON text; invalid UTF-8 in strings becomes U+FFFD.
std::string dump(const json& doc);

response json_response(unsigned status, const json& doc);

/// `{"error": error, "field": field}` (no `field` when empty).
response error_body(unsigned status, const std::string& error,
                    const std::string& field = {});

/// `{"error": error, "retryAfter": seconds}` with a Retry-After header.
response retry_later(unsigned status, const std::string& error, int seconds);

/// Maps an actor error to an HTTP answer (retryable ones with Retry-After).
response from_error(const caf::error& err);

/// An ingest failure with the ids of the submission under `key` (after a
/// timeout the events may be stored: a retry with the same ids cannot
/// create second ones).
response ingest_error(const caf::error& err, const char* key, const json& ids);

} // namespace onceflow::http
