#include "runtime/cluster/tls.hpp"

#include "adapters/ssl_error.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/openssl/manager.hpp>

#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace onceflow {

namespace {

/// Hands OpenSSL the configured passphrase: an encrypted key never makes
/// it ask on the terminal (CAF's module uses the same passphrase).
int passphrase_cb(char* buf, int size, int, void* user) {
  auto& pass = *static_cast<const std::string*>(user);
  if (pass.empty() || static_cast<int>(pass.size()) >= size)
    return 0;
  std::memcpy(buf, pass.c_str(), pass.size() + 1);
  return static_cast<int>(pass.size());
}

using ctx_ptr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;

/// A context with `tls`'s files, loaded and checked as CAF's module loads
/// them for every connection (caf/openssl/session.cpp: verify the peer and
/// require its certificate, ciphers "HIGH:!aNULL:!MD5"); null with `err`
/// set on failure. `tls` must outlive the context.
ctx_ptr make_context(const cluster_tls& tls, const SSL_METHOD* method,
                     std::string& err) {
  ERR_clear_error();
  ctx_ptr ctx{SSL_CTX_new(method), SSL_CTX_free};
  if (!ctx) {
    err = "TLS: " + ssl_error("cannot create a context");
    return ctx;
  }
  auto fail = [&](std::string text) {
    err = std::move(text);
    ctx.reset();
    return std::move(ctx);
  };
  SSL_CTX_set_default_passwd_cb(ctx.get(), passphrase_cb);
  SSL_CTX_set_default_passwd_cb_userdata(
    ctx.get(), const_cast<std::string*>(&tls.key_passphrase));
  if (SSL_CTX_load_verify_locations(ctx.get(), tls.ca_file.c_str(), nullptr)
      != 1)
    return fail("option 'cluster.tls-ca-file': cannot load CA certificates "
                "from '"
                + tls.ca_file + "': " + ssl_error("no certificate in it"));
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert_file.c_str()) != 1)
    return fail("option 'cluster.tls-cert-file': cannot load a certificate "
                "from '"
                + tls.cert_file + "': " + ssl_error("no certificate in it"));
  auto mismatch = [&] {
    return fail("option 'cluster.tls-key-file': the key in '" + tls.key_file
                + "' does not belong to the certificate in '" + tls.cert_file
                + "' (cluster.tls-cert-file): "
                + ssl_error("key values mismatch"));
  };
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key_file.c_str(),
                                  SSL_FILETYPE_PEM)
      != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
      return mismatch();
    return fail("option 'cluster.tls-key-file': cannot load the private key "
                "from '"
                + tls.key_file + "' ("
                + (tls.key_passphrase.empty()
                     ? "not a PEM key, or an encrypted one without "
                       "cluster.tls-key-passphrase"
                     : "not a PEM key, or a wrong cluster.tls-key-passphrase")
                + "): " + ssl_error("unreadable"));
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return mismatch();
  SSL_CTX_set_verify(
    ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  if (SSL_CTX_set_cipher_list(ctx.get(), "HIGH:!aNULL:!MD5") != 1)
    return fail("TLS: " + ssl_error("cannot set the cipher list"));
  return ctx;
}

/// Verifies the context's own certificate against its CA store for
/// `purpose` (X509_PURPOSE_SSL_CLIENT / _SERVER: what a peer checks);
/// returns OpenSSL's reason, or empty.
std::string verify_own(SSL_CTX* ctx, int purpose) {
  auto cert = SSL_CTX_get0_certificate(ctx);
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(ctx, &chain);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> v{
    X509_STORE_CTX_new(), X509_STORE_CTX_free};
  if (!v
      || X509_STORE_CTX_init(v.get(), SSL_CTX_get_cert_store(ctx), cert, chain)
           != 1)
    return ssl_error("cannot set up a verification");
  X509_STORE_CTX_set_purpose(v.get(), purpose);
  if (X509_verify_cert(v.get()) == 1)
    return {};
  ERR_clear_error();
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(v.get()));
}

/// A TCP connection within `timeout_ms` (blocking afterwards, with that
/// timeout on reads and writes); -1 with `err` set on failure.
int tcp_connect(const std::string& host, uint16_t port, int timeout_ms,
                std::string& err) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (auto rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(),
                              &hints, &res);
      rc != 0) {
    err = std::string{"cannot resolve "} + host + ": " + gai_strerror(rc);
    return -1;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard{res, freeaddrinfo};
  err = "no address for " + host;
  for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                      ai->ai_protocol);
    if (fd < 0) {
      err = std::strerror(errno);
      continue;
    }
    auto flags = ::fcntl(fd, F_GETFL, 0);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int code = 0;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      code = errno;
      if (code == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, timeout_ms) == 0) {
          code = ETIMEDOUT;
        } else {
          socklen_t len = sizeof(code);
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &len);
        }
      }
    }
    if (code != 0) {
      err = std::string{"TCP connect failed: "} + std::strerror(code);
      ::close(fd);
      continue;
    }
    ::fcntl(fd, F_SETFL, flags);
    timeval tv{timeout_ms / 1000,
               static_cast<suseconds_t>(timeout_ms % 1000) * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
  }
  return -1;
}

/// What a failed SSL_connect or SSL_read (`rc`) says about the peer.
std::string explain(SSL* ssl, int rc, const cluster_tls& tls, int timeout_ms,
                    int saved_errno) {
  auto code = SSL_get_error(ssl, rc);
  auto e = ERR_peek_error();
  auto reason = ERR_GET_REASON(e);
  const char* reason_text = e != 0 ? ERR_reason_error_string(e) : nullptr;
  std::string alert = reason_text != nullptr ? reason_text : "";
  auto text = ssl_error("");
  if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
    return "the peer's certificate does not verify against this node's CA "
           "(cluster.tls-ca-file '"
           + tls.ca_file
           + "'): " + X509_verify_cert_error_string(SSL_get_verify_result(ssl));
  if (alert.find("alert") != std::string::npos) {
    if (alert.find("certificate") != std::string::npos
        || alert.find("unknown ca") != std::string::npos)
      return "the peer refused this node's certificate (TLS alert '" + alert
             + "'): it accepts certificates of the cluster's CA only "
               "(cluster.tls-cert-file '"
             + tls.cert_file + "')";
    return "the peer refused the TLS handshake (TLS alert '" + alert + "')";
  }
  if (code == SSL_ERROR_SYSCALL
      && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK))
    return "no TLS answer within " + std::to_string(timeout_ms) + " ms";
  if (reason == SSL_R_WRONG_VERSION_NUMBER
      || reason == SSL_R_UNEXPECTED_EOF_WHILE_READING
      || reason == SSL_R_PACKET_LENGTH_TOO_LONG
      || (code == SSL_ERROR_SYSCALL && e == 0) || code == SSL_ERROR_ZERO_RETURN)
    return "the peer closed the connection without a TLS answer: it does not "
           "speak TLS (every node needs the cluster's [cluster] tls-* "
           "options)";
  return "TLS handshake failed: "
         + (text.empty() ? std::string{"SSL error "} + std::to_string(code)
                         : text);
}

} // namespace

std::string check_tls_files(const cluster_tls& tls, bool serves) {
  std::string err;
  auto ctx = make_context(tls, TLS_method(), err);
  if (!ctx)
    return err;
  auto verify = [&](int purpose, const char* use) -> std::string {
    auto why = verify_own(ctx.get(), purpose);
    if (why.empty())
      return {};
    return "option 'cluster.tls-cert-file': the certificate in '"
           + tls.cert_file + "' does not verify against the CA in '"
           + tls.ca_file + "' (cluster.tls-ca-file) as a TLS " + use + ": "
           + why + "; the other nodes would refuse it";
  };
  if (auto e = verify(X509_PURPOSE_SSL_CLIENT, "client"); !e.empty())
    return e;
  if (serves)
    return verify(X509_PURPOSE_SSL_SERVER, "server");
  return {};
}

void enable_tls(caf::actor_system_config& cfg, const cluster_tls& tls) {
  cfg.openssl_cafile = tls.ca_file;
  cfg.openssl_certificate = tls.cert_file;
  cfg.openssl_key = tls.key_file;
  cfg.openssl_passphrase = tls.key_passphrase;
  cfg.load<caf::openssl::manager>();
}

std::string diagnose_tls(const std::string& host, uint16_t port,
                         const cluster_tls& tls, int timeout_ms) {
  std::string err;
  auto ctx = make_context(tls, TLS_client_method(), err);
  if (!ctx)
    return err;
  auto fd = tcp_connect(host, port, timeout_ms, err);
  if (fd < 0)
    return err;
  std::unique_ptr<int, void (*)(int*)> fd_guard{&fd, [](int* x) {
                                                  ::close(*x);
                                                }};
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl{SSL_new(ctx.get()), SSL_free};
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1)
    return "TLS: " + ssl_error("cannot create a session");
  ERR_clear_error();
  errno = 0;
  auto rc = SSL_connect(ssl.get());
  if (rc != 1)
    return explain(ssl.get(), rc, tls, timeout_ms, errno);
  // With TLS 1.3 the peer checks this certificate after our side of the
  // handshake is done: its refusal (an alert) or its first bytes (CAF's
  // handshake) come next.
  char byte = 0;
  errno = 0;
  rc = SSL_read(ssl.get(), &byte, 1);
  if (rc > 0)
    return {};
  return explain(ssl.get(), rc, tls, timeout_ms, errno);
}

} // namespace onceflow
