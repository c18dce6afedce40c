#pragma once

#include <openssl/err.h>

#include <string>

namespace onceflow {

/// The OpenSSL error queue's first (oldest) entry, or `fallback`; clears
/// the queue. (Redis TLS links and the cluster's TLS checks.)
inline std::string ssl_error(const std::string& fallback) {
  auto e = ERR_get_error();
  ERR_clear_error();
  if (e == 0)
    return fallback;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

} // namespace onceflow
