// OpenSSL's error queue is per thread, and SSL_get_error() reads it: an I/O
// call must start with an empty queue, or a stale error of another
// connection makes a harmless "want read" look like a failure (OpenSSL's
// SSL_get_error(3)). CAF 0.17's OpenSSL module never clears it (it drains
// it only in log statements, which Debian's build compiles out), and one
// multiplexer thread serves every connection: one failed handshake (a node
// with a certificate of another CA) then dropped the healthy links of that
// node within milliseconds (measured with TlsTest). So this executable
// interposes the four calls CAF makes and clears the queue before each, as
// OpenSSL asks of every caller. Linked into the `onceflow` executable and
// into libonceflow.so (the dynamic linker resolves libcaf_openssl's calls
// to these first, as long as the application links libonceflow before any
// libssl of its own).

#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

template <class F>
F real(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto f = real<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return f(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto f = real<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return f(ssl, buf, num);
}

int SSL_connect(SSL* ssl) {
  static auto f = real<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return f(ssl);
}

int SSL_accept(SSL* ssl) {
  static auto f = real<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return f(ssl);
}

} // extern "C"
