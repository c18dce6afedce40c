#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace onceflow::http {

/// A request target split into decoded path segments (empty ones dropped)
/// and query parameters.
struct target {
  std::vector<std::string> segments;
  std::map<std::string, std::string> query;
  /// False if a segment or parameter had a bad percent-escape.
  bool ok = true;
};

/// Percent-decodes one path segment or query component (`+` is a space
/// if `plus_space`); false on a bad escape.
bool url_decode(const std::string& in, std::string& out, bool plus_space);

/// Splits "/a/b?k=v&..." into segments and query parameters.
target parse_target(const std::string& raw);

/// Reads an unsigned query parameter; false if present and not a number
/// within [min, max] (`out` keeps its value when absent).
bool query_uint(const target& t, const std::string& key, uint64_t& out,
                uint64_t min, uint64_t max);

/// The error text for query parameters of `t` not in `accepted` (e.g.
/// "unknown query parameter 'statuss' (GET /events takes status, group)"),
/// naming the route as `route`; empty if every parameter is accepted.
/// `field` gets the first unknown parameter.
std::string unknown_query_parameters(const target& t,
                                     const std::vector<std::string>& accepted,
                                     const std::string& route,
                                     std::string& field);

/// A query parameter, or empty when absent.
std::string query_str(const target& t, const std::string& key);

/// Lower case, without leading and trailing spaces and tabs.
std::string lower_trimmed(const std::string& in);

/// application/json, optionally with charset=utf-8 (JSON is UTF-8: RFC 8259).
bool is_json_content_type(const std::string& ct);

} // namespace onceflow::http
