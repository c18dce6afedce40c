#pragma once

#include "config/node_config.hpp"
#include "runtime/http/api.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace onceflow::http {

/// Who may call a route (docs/http-api.md, Authentication).
enum class access : uint8_t {
  /// Anyone, with or without a key (the probes).
  open,
  /// A key with this role (admin has every role).
  publish,
  read,
  admin,
};

/// The role's name as in `api-keys` ("open" for open routes).
const char* role_name(access x);

/// The key an `Authorization` header value presents, as check_api_key
/// takes it: "" for none, " " (a key that matches none) for another scheme
/// or a bearer without a key.
std::string presented_key(const std::string& authorization);

/// What a 401 says for this header value: the key is missing or unknown.
std::string unknown_key_text(const std::string& authorization);

/// Checks the bearer key of an `Authorization` header value for `needs`:
/// nothing when the call may go on, else the 401 or 403 answer. With no
/// keys configured every call may go on.
std::optional<response> authorize(const std::vector<api_key>& keys,
                                  const std::string& authorization,
                                  access needs);

} // namespace onceflow::http
