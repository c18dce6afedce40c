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

/// Checks the bearer key of an `Authorization` header value for `needs`:
/// nothing when the call may go on, else the 401 or 403 answer. With no
/// keys configured every call may go on. With `who`, any known key may go
/// on whatever its roles, and `*who` is set to it (null: no keys).
std::optional<response> authorize(const std::vector<api_key>& keys,
                                  const std::string& authorization,
                                  access needs, const api_key** who = nullptr);

} // namespace onceflow::http
