#pragma once

#include "runtime/http/api.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace onceflow::http {

/// The HTTP/1.1 server (Boost.Beast over Asio): keep-alive connections,
/// bodies up to a limit, one request at a time per connection. Runs its own
/// threads; handlers answer asynchronously.
class server {
public:
  /// Binds host:port (0: a free port); throws std::runtime_error naming the
  /// address on failure.
  server(const std::string& host, uint16_t port, size_t max_body_bytes,
         uint32_t threads, std::shared_ptr<api> routes);

  ~server();

  /// The port actually bound.
  uint16_t port() const;

  /// Stops accepting, closes connections and joins the threads.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace onceflow::http
