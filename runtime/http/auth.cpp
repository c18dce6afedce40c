#include "runtime/http/auth.hpp"

#include "runtime/http/response.hpp"
#include "runtime/http/target.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace onceflow::http {

const char* role_name(access x) {
  switch (x) {
    case access::open:
      return "open";
    case access::publish:
      return "publish";
    case access::read:
      return "read";
    default:
      return "admin";
  }
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  // Compares every byte of the longer one: the time does not tell where
  // the first difference is.
  size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

std::optional<response> authorize(const std::vector<api_key>& keys,
                                  const std::string& authorization,
                                  access needs) {
  if (needs == access::open || keys.empty())
    return std::nullopt;
  const api_key* found = nullptr;
  // The scheme is case-insensitive (RFC 9110, 11.1).
  auto space = authorization.find(' ');
  if (space != std::string::npos
      && lower_trimmed(authorization.substr(0, space)) == "bearer") {
    auto given = authorization.substr(space + 1);
    while (!given.empty() && given.front() == ' ')
      given.erase(0, 1);
    while (!given.empty() && given.back() == ' ')
      given.pop_back();
    for (auto& k : keys)
      if (constant_time_equal(k.key, given))
        found = &k;
  }
  if (!found) {
    auto r = error_body(401,
                        authorization.empty()
                          ? "missing API key (Authorization: Bearer "
                            "<key>)"
                          : "unknown API key",
                        "Authorization");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }
  auto role = needs == access::publish ? api_role::publish
              : needs == access::read  ? api_role::read
                                       : api_role::admin;
  if (!found->has(role)) {
    auto name = role_name(needs);
    spdlog::info("http: key '{}' refused: needs role {}", found->name, name);
    return error_body(403,
                      "API key '" + found->name + "' lacks role '" + name + "'",
                      "Authorization");
  }
  return std::nullopt;
}

} // namespace onceflow::http
