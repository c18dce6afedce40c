#include "adapters/redis/tls_link.hpp"

#include "adapters/ssl_error.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace onceflow {

namespace {

bool is_ip(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1
         || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

void set_timeout(int fd, int option, int ms) {
  timeval tv{ms / 1000, static_cast<suseconds_t>(ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv));
}

/// TCP connect with a timeout; returns the socket or throws.
int tcp_connect(const std::string& host, int port, int timeout_ms) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  auto rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints,
                          &res);
  if (rc != 0)
    throw tls_link_error(
      std::string{"cannot resolve host: "} + gai_strerror(rc), false);
  std::string last = "no address";
  int fd = -1;
  for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                  ai->ai_protocol);
    if (fd < 0) {
      last = std::strerror(errno);
      continue;
    }
    auto flags = ::fcntl(fd, F_GETFL, 0);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int err = 0;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        auto n = ::poll(&p, 1, timeout_ms > 0 ? timeout_ms : -1);
        if (n == 0) {
          err = ETIMEDOUT;
        } else {
          socklen_t len = sizeof(err);
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        }
      }
    }
    if (err == 0) {
      ::fcntl(fd, F_SETFL, flags);
      // As hiredis does: small pipelined writes go out at once.
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      break;
    }
    last = err == ETIMEDOUT ? "connection timed out" : std::strerror(err);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  if (fd < 0) {
    for (auto& c : last)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    throw tls_link_error(last, false, true);
  }
  return fd;
}

} // namespace

struct tls_link::impl {
  int fd = -1;
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  redisReader* reader = nullptr;
  int command_timeout_ms = 0;
  /// The server asked for a client certificate and none is configured: a
  /// server that requires one closes the connection after the handshake,
  /// and its "certificate required" alert may be lost in the reset.
  bool certificate_missing = false;

  /// "server closed the connection", naming a missing client certificate
  /// the server asked for.
  std::string closed_text() const {
    if (certificate_missing)
      return "server closed the connection: it asked for a client "
             "certificate (certificate required?) and none is configured "
             "([redis] tls-cert-file, tls-key-file)";
    return "server closed the connection";
  }

  ~impl() {
    if (ssl != nullptr)
      SSL_free(ssl);
    if (ctx != nullptr)
      SSL_CTX_free(ctx);
    if (fd >= 0)
      ::close(fd);
    if (reader != nullptr)
      redisReaderFree(reader);
    ERR_clear_error();
  }

  /// A failed SSL_read/SSL_write (`saved`: errno right after it): returns
  /// if the call is to be repeated (interrupted by a signal), else throws.
  void io_failed(int rc, int saved, const char* what) {
    auto e = SSL_get_error(ssl, rc);
    auto first = ERR_peek_error();
    auto reason = ERR_GET_REASON(first);
    char text[256] = "TLS error";
    if (first != 0)
      ERR_error_string_n(first, text, sizeof(text));
    ERR_clear_error();
    if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        && saved == EINTR)
      return;
    // A close without a TLS close alert (Redis drops the session without
    // one): OpenSSL 3 reports an unexpected EOF.
    if (e == SSL_ERROR_ZERO_RETURN
        || (e == SSL_ERROR_SSL && reason == SSL_R_UNEXPECTED_EOF_WHILE_READING))
      throw tls_link_error(closed_text(), true);
    if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_WANT_READ
        || e == SSL_ERROR_WANT_WRITE) {
      if (saved == EAGAIN || saved == EWOULDBLOCK)
        throw tls_link_error("timeout after "
                               + std::to_string(command_timeout_ms)
                               + " ms (resource temporarily unavailable)",
                             false);
      if (saved == 0 || saved == ECONNRESET || saved == EPIPE)
        throw tls_link_error(closed_text(), true);
      throw tls_link_error(std::string{what} + ": " + std::strerror(saved),
                           false);
    }
    throw tls_link_error(std::string{what} + ": " + text, false);
  }
};

tls_link::tls_link(const std::string& host, int port,
                   const tls_link_options& opts)
  : d_(std::make_unique<impl>()) {
  d_->command_timeout_ms = opts.command_timeout_ms;
  d_->fd = tcp_connect(host, port, opts.connect_timeout_ms);
  // The handshake runs under the connect timeout, then the command one.
  if (opts.connect_timeout_ms > 0) {
    set_timeout(d_->fd, SO_RCVTIMEO, opts.connect_timeout_ms);
    set_timeout(d_->fd, SO_SNDTIMEO, opts.connect_timeout_ms);
  }
  ERR_clear_error();
  d_->ctx = SSL_CTX_new(TLS_client_method());
  if (d_->ctx == nullptr)
    throw tls_link_error("TLS: " + ssl_error("cannot create a context"), false);
  SSL_CTX_set_min_proto_version(d_->ctx, TLS1_2_VERSION);
  // An encrypted client key would make OpenSSL ask on the terminal: never.
  SSL_CTX_set_default_passwd_cb(d_->ctx, [](char*, int, int, void*) -> int {
    return 0;
  });
  if (!opts.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(d_->ctx, opts.ca_file.c_str(), nullptr)
        != 1)
      throw tls_link_error("TLS: cannot load CA file '" + opts.ca_file
                             + "': " + ssl_error("unreadable"),
                           false);
  } else if (SSL_CTX_set_default_verify_paths(d_->ctx) != 1) {
    throw tls_link_error("TLS: cannot load the system's CA certificates: "
                           + ssl_error("unreadable"),
                         false);
  }
  SSL_CTX_set_verify(d_->ctx, SSL_VERIFY_PEER, nullptr);
  if (!opts.cert_file.empty() || !opts.key_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(d_->ctx, opts.cert_file.c_str())
        != 1)
      throw tls_link_error("TLS: cannot load client certificate '"
                             + opts.cert_file + "': " + ssl_error("unreadable"),
                           false);
    if (SSL_CTX_use_PrivateKey_file(d_->ctx, opts.key_file.c_str(),
                                    SSL_FILETYPE_PEM)
          != 1
        || SSL_CTX_check_private_key(d_->ctx) != 1)
      throw tls_link_error("TLS: cannot load client key '" + opts.key_file
                             + "' (an unencrypted PEM key): "
                             + ssl_error("unreadable"),
                           false);
  } else {
    // Called only when the server asks for a certificate we do not have.
    SSL_CTX_set_client_cert_cb(d_->ctx, [](SSL* ssl, X509**, EVP_PKEY**) {
      static_cast<impl*>(SSL_get_app_data(ssl))->certificate_missing = true;
      return 0;
    });
  }
  d_->ssl = SSL_new(d_->ctx);
  if (d_->ssl == nullptr)
    throw tls_link_error("TLS: " + ssl_error("cannot create a session"), false);
  SSL_set_app_data(d_->ssl, d_.get());
  if (SSL_set_fd(d_->ssl, d_->fd) != 1)
    throw tls_link_error("TLS: " + ssl_error("cannot use the socket"), false);
  // The server's certificate must name the host (IP address or DNS name):
  // without this check any certificate of a trusted CA would do.
  auto* param = SSL_get0_param(d_->ssl);
  bool named = false;
  if (is_ip(host)) {
    named = X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
  } else {
    X509_VERIFY_PARAM_set_hostflags(param,
                                    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    named = SSL_set_tlsext_host_name(d_->ssl, host.c_str()) == 1
            && X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0) == 1;
  }
  if (!named)
    throw tls_link_error("TLS: cannot check the server's name '" + host
                           + "': " + ssl_error("rejected"),
                         false);
  int rc = 0;
  int saved = 0;
  for (;;) {
    ERR_clear_error();
    errno = 0;
    rc = SSL_connect(d_->ssl);
    saved = errno;
    if (rc == 1)
      break;
    auto e = SSL_get_error(d_->ssl, rc);
    if (saved == EINTR
        && (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE))
      continue;
    auto verify = SSL_get_verify_result(d_->ssl);
    if (verify != X509_V_OK) {
      ERR_clear_error();
      throw tls_link_error(std::string{"TLS handshake failed: server "
                                       "certificate not trusted ("}
                             + X509_verify_cert_error_string(verify) + ")",
                           false);
    }
    std::string why;
    if ((e == SSL_ERROR_SYSCALL || e == SSL_ERROR_WANT_READ
         || e == SSL_ERROR_WANT_WRITE)
        && (saved == EAGAIN || saved == EWOULDBLOCK))
      why = "timeout (is this a TLS port?)";
    else if (e == SSL_ERROR_SYSCALL && saved != 0)
      why = std::strerror(saved);
    else
      why = ssl_error("connection closed (is this a TLS port?)");
    throw tls_link_error("TLS handshake failed: " + why, false);
  }
  // Belt and braces: a completed handshake has a verified certificate.
  if (SSL_get0_peer_certificate(d_->ssl) == nullptr
      || SSL_get_verify_result(d_->ssl) != X509_V_OK)
    throw tls_link_error("TLS handshake failed: no verified server "
                         "certificate",
                         false);
  set_timeout(d_->fd, SO_RCVTIMEO, opts.command_timeout_ms);
  set_timeout(d_->fd, SO_SNDTIMEO, opts.command_timeout_ms);
  d_->reader = redisReaderCreate();
  if (d_->reader == nullptr)
    throw tls_link_error("cannot allocate a reply reader", false);
}

tls_link::~tls_link() = default;

void tls_link::send(const std::vector<std::vector<std::string>>& cmds) {
  std::string out;
  command_argv cmd;
  for (auto& args : cmds) {
    cmd.set(args);
    char* buf = nullptr;
    auto n = redisFormatCommandArgv(&buf, cmd.argc(), cmd.argv.data(),
                                    cmd.lens.data());
    if (n < 0 || buf == nullptr)
      throw tls_link_error("cannot format a command", false);
    out.append(buf, static_cast<size_t>(n));
    std::free(buf);
  }
  size_t sent = 0;
  while (sent < out.size()) {
    ERR_clear_error();
    errno = 0;
    size_t n = 0;
    auto rc = SSL_write_ex(d_->ssl, out.data() + sent, out.size() - sent, &n);
    auto saved = errno;
    if (rc != 1) {
      d_->io_failed(rc, saved, "write");
      continue;
    }
    sent += n;
  }
}

redisReply* tls_link::receive() {
  char buf[16384];
  for (;;) {
    void* reply = nullptr;
    if (redisReaderGetReply(d_->reader, &reply) != REDIS_OK)
      throw tls_link_error(std::string{"protocol error: "} + d_->reader->errstr,
                           false);
    if (reply != nullptr)
      return static_cast<redisReply*>(reply);
    ERR_clear_error();
    errno = 0;
    auto n = SSL_read(d_->ssl, buf, sizeof(buf));
    auto saved = errno;
    if (n <= 0) {
      d_->io_failed(n, saved, "read");
      continue;
    }
    redisReaderFeed(d_->reader, buf, static_cast<size_t>(n));
  }
}

bool tls_link::closed_by_server() {
  return SSL_pending(d_->ssl) > 0 || peer_closed(d_->fd);
}

bool peer_closed(int fd) {
  char c;
  auto n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0)
    return true;
  if (n < 0)
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  return true;
}

} // namespace onceflow
