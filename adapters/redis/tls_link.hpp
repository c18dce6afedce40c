#pragma once

#include <hiredis/hiredis.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

/// A TLS connection to Redis (`rediss://`). Debian 12's hiredis 0.14 has no
/// TLS, so this speaks TLS with OpenSSL over its own socket and RESP with
/// hiredis's formatter (redisFormatCommandArgv) and reply reader
/// (redisReader): the replies are the same `redisReply` objects a hiredis
/// context returns. Blocking, with the connect and command timeouts of the
/// plain connection. Used only by the Redis store.
namespace onceflow {

/// A failure of the link; `closed` if the server closed the connection
/// (end of stream, reset), not a timeout; `unreachable` if the TCP connect
/// failed (refused, timed out, no route), before any TLS.
class tls_link_error : public std::runtime_error {
public:
  tls_link_error(const std::string& what, bool closed, bool unreachable = false)
    : std::runtime_error(what), closed(closed), unreachable(unreachable) {
    // nop
  }
  bool closed;
  bool unreachable;
};

/// The argument vector of one command as hiredis takes it (pointers into
/// the strings of `args`, which must outlive it).
struct command_argv {
  std::vector<const char*> argv;
  std::vector<size_t> lens;

  void set(const std::vector<std::string>& args) {
    argv.clear();
    lens.clear();
    for (auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
  }

  int argc() const {
    return static_cast<int>(argv.size());
  }
};

/// True if the peer of an idle connection closed it (or sent something,
/// which an idle Redis connection never does but on its way out): end of
/// stream, an error other than "nothing to read", or a readable byte.
bool peer_closed(int fd);

struct tls_link_options {
  /// CA certificates (PEM) that verify the server; empty: the system's.
  std::string ca_file;
  /// Client certificate chain and key (PEM), for servers that require
  /// them (`tls-auth-clients yes`); both or neither.
  std::string cert_file;
  std::string key_file;
  int connect_timeout_ms = 2000;
  int command_timeout_ms = 5000;
};

class tls_link {
public:
  /// Connects (TCP, then the TLS handshake, verifying the server's
  /// certificate against `host`: name or IP address). Throws
  /// tls_link_error naming the step that failed.
  tls_link(const std::string& host, int port, const tls_link_options& opts);
  ~tls_link();

  tls_link(const tls_link&) = delete;
  tls_link& operator=(const tls_link&) = delete;

  /// Sends the commands in one write.
  void send(const std::vector<std::vector<std::string>>& cmds);

  /// The next reply (owned by the caller: freeReplyObject).
  redisReply* receive();

  /// True if the server closed the connection (or sent something) while
  /// nothing was outstanding.
  bool closed_by_server();

private:
  struct impl;
  std::unique_ptr<impl> d_;
};

} // namespace onceflow
