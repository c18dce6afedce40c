// Unit tests for adapters/redis/redis_url.hpp: the URLs of redis_options
// (host, port, database, user:password, rediss://) and every rejection
// with its message. No server needed.
#include "adapters/ports.hpp"
#include "adapters/redis/redis_url.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace onceflow;

namespace {

const std::string expected_form
  = " (expected redis[s]://[user:password@]host[:port][/db])";

// The message parse_redis_url throws for `url`, or "" if it parses.
std::string rejection(const std::string& url) {
  try {
    parse_redis_url(url);
  } catch (const store_error& ex) {
    BOOST_TEST((ex.which() == store_error::kind::failure));
    return ex.what();
  }
  return {};
}

struct bad_case {
  std::string url;
  std::string why;
};

} // namespace

BOOST_AUTO_TEST_SUITE(redis_url_parsing)

BOOST_AUTO_TEST_CASE(host_port_and_database) {
  auto u = parse_redis_url("redis://127.0.0.1:6379/0");
  BOOST_TEST(u.host == "127.0.0.1");
  BOOST_TEST(u.port == 6379);
  BOOST_TEST(u.db == 0);
  BOOST_TEST(!u.has_auth);
  BOOST_TEST(u.user.empty());
  BOOST_TEST(u.password.empty());
  BOOST_TEST(!u.tls);
  auto v = parse_redis_url("redis://cache.internal:7000/15");
  BOOST_TEST(v.host == "cache.internal");
  BOOST_TEST(v.port == 7000);
  BOOST_TEST(v.db == 15);
}

BOOST_AUTO_TEST_CASE(port_and_database_have_defaults) {
  for (auto url : {"redis://localhost", "redis://localhost/"}) {
    BOOST_TEST_CONTEXT(url) {
      auto u = parse_redis_url(url);
      BOOST_TEST(u.host == "localhost");
      BOOST_TEST(u.port == 6379);
      BOOST_TEST(u.db == 0);
    }
  }
  BOOST_TEST(parse_redis_url("redis://h/3").port == 6379);
  BOOST_TEST(parse_redis_url("redis://h:6380").db == 0);
}

BOOST_AUTO_TEST_CASE(bounds_of_port_and_database) {
  BOOST_TEST(parse_redis_url("redis://h:1").port == 1);
  BOOST_TEST(parse_redis_url("redis://h:65535").port == 65535);
  BOOST_TEST(parse_redis_url("redis://h:00080").port == 80);
  BOOST_TEST(parse_redis_url("redis://h/1048576").db == 1048576);
}

BOOST_AUTO_TEST_CASE(ipv6_hosts_in_brackets) {
  auto u = parse_redis_url("redis://[::1]:7000/2");
  BOOST_TEST(u.host == "::1");
  BOOST_TEST(u.port == 7000);
  BOOST_TEST(u.db == 2);
  auto v = parse_redis_url("redis://[fe80::1]");
  BOOST_TEST(v.host == "fe80::1");
  BOOST_TEST(v.port == 6379);
}

BOOST_AUTO_TEST_CASE(user_and_password) {
  auto u = parse_redis_url("redis://alice:secret@h:6379/1");
  BOOST_TEST(u.has_auth);
  BOOST_TEST(u.user == "alice");
  BOOST_TEST(u.password == "secret");
  BOOST_TEST(u.host == "h");
  BOOST_TEST(u.db == 1);
  // An empty user: AUTH with the password only.
  auto v = parse_redis_url("redis://:secret@h");
  BOOST_TEST(v.has_auth);
  BOOST_TEST(v.user.empty());
  BOOST_TEST(v.password == "secret");
  // Without a colon the part is the password.
  auto w = parse_redis_url("redis://secret@h");
  BOOST_TEST(w.has_auth);
  BOOST_TEST(w.user.empty());
  BOOST_TEST(w.password == "secret");
  auto x = parse_redis_url("redis://alice:@h");
  BOOST_TEST(x.has_auth);
  BOOST_TEST(x.user == "alice");
  BOOST_TEST(x.password.empty());
}

BOOST_AUTO_TEST_CASE(user_and_password_are_percent_decoded) {
  auto u = parse_redis_url("redis://al%69ce:s%40c%3Ar%2Ft%25@h");
  BOOST_TEST(u.user == "alice");
  BOOST_TEST(u.password == "s@c:r/t%");
  // The last @ ends the user:password part, the first colon splits it.
  auto v = parse_redis_url("redis://a:b:c@d@h:7000");
  BOOST_TEST(v.user == "a");
  BOOST_TEST(v.password == "b:c@d");
  BOOST_TEST(v.host == "h");
  BOOST_TEST(v.port == 7000);
}

BOOST_AUTO_TEST_CASE(rediss_is_tls) {
  auto u = parse_redis_url("rediss://:pw@redis.example:6380/2");
  BOOST_TEST(u.tls);
  BOOST_TEST(u.host == "redis.example");
  BOOST_TEST(u.port == 6380);
  BOOST_TEST(u.db == 2);
  BOOST_TEST(u.password == "pw");
  BOOST_TEST(parse_redis_url("rediss://h").port == 6379);
}

BOOST_AUTO_TEST_CASE(name_is_scheme_host_and_port) {
  BOOST_TEST(parse_redis_url("redis://u:p@h/3").name() == "redis://h:6379");
  BOOST_TEST(parse_redis_url("rediss://h:6380").name() == "rediss://h:6380");
  BOOST_TEST(parse_redis_url("redis://[::1]:7000").name()
             == "redis://::1:7000");
}

BOOST_AUTO_TEST_CASE(rejections_name_the_url_and_the_reason) {
  const std::vector<bad_case> cases = {
    {"http://h:6379", "the scheme must be redis:// or rediss:// (TLS; no "
                      "unix sockets)"},
    {"unix:///tmp/redis.sock", "the scheme must be redis:// or rediss:// "
                               "(TLS; no unix sockets)"},
    {"REDIS://h", "the scheme must be redis:// or rediss:// (TLS; no unix "
                  "sockets)"},
    {"", "the scheme must be redis:// or rediss:// (TLS; no unix sockets)"},
    {"redis://", "missing host"},
    {"redis://:6379", "missing host"},
    {"redis:///0", "missing host"},
    {"redis://u:p@", "missing host"},
    {"redis://[]:6379", "missing host"},
    {"redis://h:", "empty port"},
    {"redis://[::1]:", "empty port"},
    {"redis://[::1:6379", "unterminated [ in the host"},
    {"redis://[::1]6379", "junk after the host"},
    {"redis://h:port", "port 'port' is not a number"},
    {"redis://h:-1", "port '-1' is not a number"},
    {"redis://h:+1", "port '+1' is not a number"},
    {"redis://h:1234567890", "port '1234567890' is not a number"},
    {"redis://h:0", "port 0 is out of range"},
    {"redis://h:65536", "port 65536 is out of range"},
    {"redis://h:99999", "port 99999 is out of range"},
    {"redis://h/zero", "database 'zero' is not a number"},
    {"redis://h/1/2", "database '1/2' is not a number"},
    {"redis://h/-1", "database '-1' is not a number"},
    {"redis://h/1048577", "database 1048577 is out of range"},
    {"redis://h/1234567890", "database '1234567890' is not a number"},
    {"redis://u:p%4@h", "bad percent escape in the user:password part"},
    {"redis://u:p%zz@h", "bad percent escape in the user:password part"},
    {"redis://%@h", "bad percent escape in the user:password part"},
    {"redis://u%2:p@h", "bad percent escape in the user:password part"},
    // A slash ends the host part: a password holding one is written %2F.
    {"redis://:a/b@h", "database 'b@h' is not a number"},
  };
  for (auto& c : cases) {
    BOOST_TEST_CONTEXT(c.url) {
      BOOST_TEST(rejection(c.url)
                 == "bad redis URL '" + c.url + "': " + c.why + expected_form);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
