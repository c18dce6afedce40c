// Redis specifics (not part of the store contract): rediss:// against
// redis-server's tls-port, with certificates made for the test.

#include "tests/integration/contract/backends.hpp"

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;

BOOST_AUTO_TEST_SUITE(redis_adapter)

namespace {

/// A CA, a server and a client certificate signed by it (the server's for
/// 127.0.0.1), and a second CA that signed nothing of these, made with the
/// `openssl` CLI in a temporary directory (removed at the end).
class test_certs {
public:
  test_certs() {
    auto d = dir_.path().string();
    auto key = std::string{" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
                           " -nodes"};
    std::vector<std::string> steps{
      "openssl req -x509" + key + " -days 2 -subj /CN=onceflow-test-ca"
        + " -keyout " + d + "/ca.key -out " + d + "/ca.crt",
      "openssl req" + key + " -subj /CN=127.0.0.1 -keyout " + d
        + "/server.key -out " + d + "/server.csr",
      "openssl x509 -req -in " + d + "/server.csr -CA " + d + "/ca.crt"
        + " -CAkey " + d + "/ca.key -CAcreateserial -days 2 -extfile " + d
        + "/san.ext -out " + d + "/server.crt",
      "openssl req -x509" + key + " -days 2 -subj /CN=another-ca -keyout " + d
        + "/other.key -out " + d + "/other.crt",
      "openssl req" + key + " -subj /CN=127.0.0.2 -keyout " + d
        + "/wrongip.key -out " + d + "/wrongip.csr",
      "openssl x509 -req -in " + d + "/wrongip.csr -CA " + d + "/ca.crt"
        + " -CAkey " + d + "/ca.key -CAcreateserial -days 2 -extfile " + d
        + "/wrongip.ext -out " + d + "/wrongip.crt",
      "openssl req" + key + " -subj /CN=onceflow-node -keyout " + d
        + "/client.key -out " + d + "/client.csr",
      "openssl x509 -req -in " + d + "/client.csr -CA " + d + "/ca.crt"
        + " -CAkey " + d + "/ca.key -CAcreateserial -days 2 -out " + d
        + "/client.crt",
    };
    auto& dir = dir_.path();
    std::ofstream{dir / "san.ext"} << "subjectAltName=IP:127.0.0.1\n";
    std::ofstream{dir / "wrongip.ext"} << "subjectAltName=IP:127.0.0.2\n";
    for (auto& step : steps)
      if (std::system((step + " >/dev/null 2>&1").c_str()) != 0)
        throw std::runtime_error("certificate step failed: " + step);
  }

  std::string path(const std::string& name) const {
    return (dir_.path() / name).string();
  }

private:
  temp_dir dir_{"onceflow-certs"};
};

} // namespace

/// rediss://: the store works over TLS (also with replies longer than one
/// TLS record), verifies the server's certificate, and names what fails.
BOOST_AUTO_TEST_CASE(tls_connections_verify_the_server) {
  if (skip_redis_tests())
    return;
  BOOST_REQUIRE_MESSAGE(!find_on_path("openssl").empty(),
                        "the openssl CLI is not on PATH (scripts/"
                        "install-deps.sh installs it)");
  test_certs certs;
  auto tls_port = std::to_string(free_port());
  redis_server server{{"--tls-port", tls_port, "--tls-cert-file",
                       certs.path("server.crt"), "--tls-key-file",
                       certs.path("server.key"), "--tls-ca-cert-file",
                       certs.path("ca.crt"), "--tls-auth-clients", "no"}};
  redis_options opts;
  opts.url = "rediss://127.0.0.1:" + tls_port + "/0";
  opts.prefix = unique_prefix("tls");
  opts.tls_ca_file = certs.path("ca.crt");
  opts.connect_timeout_ms = 2000;
  opts.command_timeout_ms = 10'000;
  auto s = make_redis_store(opts);
  BOOST_CHECK(s->describe().find("rediss://127.0.0.1") != std::string::npos);
  s->ping();
  s->ensure_group({"g", {"*"}});
  auto evs = append_numbered(*s, "e", 20);
  std::vector<event> big{make_event("big", "t")};
  big[0].payload = "{\"k\":\"" + std::string(100'000, 'x') + "\"}";
  s->append(big, t0, 60'000);
  auto got = s->read_leased("g", 50, t0, "n/g/read", 1000, 3);
  BOOST_REQUIRE_EQUAL(got.size(), 21u);
  BOOST_CHECK_EQUAL(got[20].ev.payload, big[0].payload);
  std::vector<settlement> items;
  for (auto& dl : got) {
    settlement st;
    st.kind = settle_kind::done;
    st.dl = dl;
    items.push_back(st);
  }
  for (auto d : s->settle(items, t0 + 10))
    BOOST_CHECK(d == fence_decision::ok);
  BOOST_CHECK(s->is_done("g", got[0].ev.seq));
  BOOST_CHECK_EQUAL(s->find("big").payload, big[0].payload);
  // The server drops the connection (no TLS close alert): the next calls
  // go over a new one.
  BOOST_REQUIRE_EQUAL(raw_command(server.port(),
                                  {"CLIENT", "KILL", "TYPE", "normal"})
                        .rfind(":", 0),
                      0u);
  s->ping();
  BOOST_CHECK_EQUAL(s->find("e3").id, "e3");
  // Another CA: the server is not trusted.
  auto other = opts;
  other.tls_ca_file = certs.path("other.crt");
  expect_open_error(other, {"rediss://127.0.0.1", "certificate not trusted"});
  // TLS against the plain port.
  auto plain = opts;
  plain.url = "rediss://127.0.0.1:" + std::to_string(server.port()) + "/0";
  expect_open_error(plain, {"TLS handshake failed"});
  // A CA file that is not there.
  auto missing = opts;
  missing.tls_ca_file = certs.path("nope.crt");
  expect_open_error(missing, {"cannot load CA file", "nope.crt"});
  // A server that wants client certificates: refused without one, served
  // with the node's.
  auto tls_port2 = std::to_string(free_port());
  redis_server strict{{"--tls-port", tls_port2, "--tls-cert-file",
                       certs.path("server.crt"), "--tls-key-file",
                       certs.path("server.key"), "--tls-ca-cert-file",
                       certs.path("ca.crt"), "--tls-auth-clients", "yes"}};
  auto anon = opts;
  anon.url = "rediss://127.0.0.1:" + tls_port2 + "/0";
  try {
    make_redis_store(anon)->ping();
    BOOST_ERROR("a server requiring client certificates served one without");
  } catch (const store_error& ex) {
    BOOST_TEST_MESSAGE("error: " << ex.what());
    std::string what = ex.what();
    BOOST_CHECK(what.find("rediss://127.0.0.1") != std::string::npos);
    BOOST_CHECK_MESSAGE(what.find("certificate required") != std::string::npos,
                        what);
  }
  auto with_cert = anon;
  with_cert.tls_cert_file = certs.path("client.crt");
  with_cert.tls_key_file = certs.path("client.key");
  auto c = make_redis_store(with_cert);
  // A certificate of the trusted CA, but for another address: refused.
  auto tls_port3 = std::to_string(free_port());
  redis_server elsewhere{{"--tls-port", tls_port3, "--tls-cert-file",
                          certs.path("wrongip.crt"), "--tls-key-file",
                          certs.path("wrongip.key"), "--tls-ca-cert-file",
                          certs.path("ca.crt"), "--tls-auth-clients", "no"}};
  auto mismatch = opts;
  mismatch.url = "rediss://127.0.0.1:" + tls_port3 + "/0";
  expect_open_error(mismatch,
                    {"certificate not trusted", "IP address mismatch"});
  c->ping();
  c->ensure_group({"g", {"*"}});
  BOOST_CHECK_EQUAL(append_numbered(*c, "c", 3).size(), 3u);
  BOOST_CHECK_EQUAL(c->read_group("g", 10, t0).size(), 3u);
}

BOOST_AUTO_TEST_SUITE_END()
