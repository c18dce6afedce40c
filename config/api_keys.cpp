#include "config/api_keys.hpp"

#include <algorithm>

namespace onceflow {

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

key_check check_api_key(const std::vector<api_key>& keys,
                        const std::string& given, api_role role) {
  key_check result;
  if (keys.empty())
    return result;
  if (given.empty()) {
    result.verdict = key_verdict::missing;
    return result;
  }
  // Every key is compared (no early exit): the time does not tell which.
  for (auto& k : keys)
    if (constant_time_equal(k.key, given))
      result.key = &k;
  if (result.key == nullptr)
    result.verdict = key_verdict::unknown;
  else if (!result.key->has(role))
    result.verdict = key_verdict::lacks_role;
  return result;
}

const char* to_string(api_role x) {
  switch (x) {
    case api_role::publish:
      return "publish";
    case api_role::read:
      return "read";
    default:
      return "admin";
  }
}

} // namespace onceflow
