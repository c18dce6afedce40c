#pragma once

#include "config/node_config.hpp"

#include <cstdint>
#include <string>
#include <vector>

/// The one check of an API key, shared by every way into a node: the HTTP
/// API (`Authorization: Bearer`) and the node's CAF endpoint (`onceflow
/// publish` / `status` and C++ clients), so that both refuse and allow the
/// same keys for the same calls.
namespace onceflow {

enum class key_verdict : uint8_t {
  /// No keys configured, or the key exists and has the role.
  allowed,
  /// Keys are configured and the call carries none.
  missing,
  /// The key matches no configured key.
  unknown,
  /// The key exists but lacks the role.
  lacks_role,
};

struct key_check {
  key_verdict verdict = key_verdict::allowed;
  /// The matching key (for its name in logs and errors), or null.
  const api_key* key = nullptr;
};

/// True if `a` and `b` are equal, in a time that does not tell where the
/// first difference is.
bool constant_time_equal(const std::string& a, const std::string& b);

/// Checks `given` against `keys` for `role`. With no keys configured every
/// call is allowed (the open mode, warned about at start).
key_check check_api_key(const std::vector<api_key>& keys,
                        const std::string& given, api_role role);

/// The role's name as in `api-keys`.
const char* to_string(api_role x);

} // namespace onceflow
