#pragma once

#include <string>

/// The address of a Redis server as `redis_options::url` names it:
/// redis[s]://[user:password@]host[:port][/db].
namespace onceflow {

struct redis_url {
  std::string host;
  int port = 6379;
  int db = 0;
  /// From the user:password part (percent-decoded). A part without a
  /// colon is the password; the user may be empty (redis://:secret@host).
  std::string user;
  std::string password;
  /// The URL has a user:password part: the connection authenticates.
  bool has_auth = false;
  /// rediss://: TLS (tls_link).
  bool tls = false;

  /// "redis://host:port" (rediss:// for TLS): how errors name the server.
  std::string name() const;
};

/// Parses `url`. Throws store_error "bad redis URL '<url>': <why> (expected
/// redis[s]://[user:password@]host[:port][/db])"; an IPv6 host goes in
/// brackets (redis://[::1]:6379).
redis_url parse_redis_url(const std::string& url);

} // namespace onceflow
