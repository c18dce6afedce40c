#include "runtime/http/auth.hpp"

#include "config/api_keys.hpp"
#include "runtime/http/response.hpp"
#include "runtime/http/target.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace onceflow::http {

namespace {

/// The key role a route's access needs (not for open routes).
api_role role_of(access x) {
  return x == access::publish ? api_role::publish
         : x == access::read  ? api_role::read
                              : api_role::admin;
}

} // namespace

const char* role_name(access x) {
  return x == access::open ? "open" : to_string(role_of(x));
}

std::string presented_key(const std::string& authorization) {
  std::string given;
  // The scheme is case-insensitive (RFC 9110, 11.1).
  auto space = authorization.find(' ');
  if (space != std::string::npos
      && lower_trimmed(authorization.substr(0, space)) == "bearer") {
    given = authorization.substr(space + 1);
    while (!given.empty() && given.front() == ' ')
      given.erase(0, 1);
    while (!given.empty() && given.back() == ' ')
      given.pop_back();
    // "Bearer " with nothing after it is a key that matches none.
    if (given.empty())
      given = " ";
  } else if (!authorization.empty()) {
    given = " ";
  }
  return given;
}

std::string unknown_key_text(const std::string& authorization) {
  return authorization.empty() ? "missing API key (Authorization: Bearer <key>)"
                               : "unknown API key";
}

std::optional<response> authorize(const std::vector<api_key>& keys,
                                  const std::string& authorization,
                                  access needs) {
  if (needs == access::open || keys.empty())
    return std::nullopt;
  auto check = check_api_key(keys, presented_key(authorization),
                             role_of(needs));
  if (check.verdict == key_verdict::missing
      || check.verdict == key_verdict::unknown) {
    auto r = error_body(401, unknown_key_text(authorization), "Authorization");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }
  if (check.verdict == key_verdict::lacks_role) {
    auto name = role_name(needs);
    spdlog::info("http: key '{}' refused: needs role {}", check.key->name,
                 name);
    return error_body(
      403, "API key '" + check.key->name + "' lacks role '" + name + "'",
      "Authorization");
  }
  return std::nullopt;
}

} // namespace onceflow::http
