// Redis specifics (not part of the store contract): connections. Bad URLs,
// unreachable servers and wrong passwords are named; a dropped connection or
// a restarted server costs no call, and a server that is down is backed off.

#include "tests/integration/contract/backends.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;

BOOST_AUTO_TEST_SUITE(redis_adapter)

BOOST_AUTO_TEST_CASE(unreachable_redis_is_a_clear_error) {
  if (skip_redis_tests())
    return;
  auto port = free_port(); // nothing listens there
  redis_options opts;
  opts.url = "redis://127.0.0.1:" + std::to_string(port) + "/0";
  opts.connect_timeout_ms = 500;
  expect_open_error(opts, {"redis://127.0.0.1:" + std::to_string(port)
                           + ": connection refused"});
}

BOOST_AUTO_TEST_CASE(bad_urls_name_the_part) {
  redis_options opts;
  opts.url = "http://127.0.0.1:6379/0";
  expect_open_error(opts, {"bad redis URL", "redis://"});
  opts.url = "redis://127.0.0.1:port/0";
  expect_open_error(opts, {"bad redis URL", "port 'port'"});
  opts.url = "redis://127.0.0.1:6379/zero";
  expect_open_error(opts, {"bad redis URL", "database 'zero'"});
  opts.url = "redis://:6379/0";
  expect_open_error(opts, {"bad redis URL", "missing host"});
  opts.url = "redis://127.0.0.1:99999/0";
  expect_open_error(opts, {"bad redis URL", "port 99999"});
  opts.url = "unix:///run/redis.sock";
  expect_open_error(opts, {"bad redis URL", "redis:// or rediss://"});
  // TLS to a port nobody listens on: named like a plain connection.
  opts.url = "rediss://127.0.0.1:" + std::to_string(free_port()) + "/0";
  expect_open_error(opts, {"rediss://127.0.0.1", "connection refused"});
}

BOOST_AUTO_TEST_CASE(wrong_password_is_a_clear_error) {
  if (skip_redis_tests())
    return;
  redis_server secured{{"--requirepass", "s3cret"}};
  redis_options opts;
  opts.prefix = unique_prefix("auth");
  opts.url = secured.url(":wrong");
  expect_open_error(opts,
                    {"redis://127.0.0.1:" + std::to_string(secured.port()),
                     "authentication failed (WRONGPASS"});
  opts.url = secured.url();
  expect_open_error(opts, {"authentication required (NOAUTH"});
  opts.url = secured.url("default:s3cret");
  auto s = make_redis_store(opts);
  s->ensure_group({"g", {"*"}});
  std::vector<event> batch{make_event("a", "t")};
  auto res = s->append(batch, t0, 1000);
  BOOST_CHECK(!res.at(0).duplicate);
  BOOST_CHECK_EQUAL(s->read_group("g", 10, t0).size(), 1u);
  // A select of a database that does not exist.
  opts.url = "redis://:s3cret@127.0.0.1:" + std::to_string(secured.port())
             + "/12345";
  expect_open_error(opts, {"SELECT 12345 failed"});
}

BOOST_AUTO_TEST_CASE(ping_reconnects_and_names_the_store) {
  if (skip_redis_tests())
    return;
  auto server = std::make_unique<redis_server>();
  auto port = server->port();
  auto s = open_store(server->url(), unique_prefix("ping"));
  BOOST_CHECK_NO_THROW(s->ping());
  // The server drops our connection: ping reconnects instead of failing.
  auto killed = raw_command(port, {"CLIENT", "KILL", "TYPE", "normal"});
  BOOST_REQUIRE_MESSAGE(killed.rfind(":", 0) == 0 && killed != ":0",
                        "CLIENT KILL answered " << killed);
  BOOST_CHECK_NO_THROW(s->ping());
  BOOST_CHECK_NO_THROW(s->ping());
  // The server is gone: ping fails, naming the store.
  server.reset();
  for (int i = 0; i < 2; ++i) {
    try {
      s->ping();
      BOOST_ERROR("ping succeeded without a server");
    } catch (const store_error& ex) {
      std::string what = ex.what();
      BOOST_TEST_MESSAGE("error: " << what);
      auto store = "redis://127.0.0.1:" + std::to_string(port);
      BOOST_CHECK_MESSAGE(what.find(store) != std::string::npos,
                          "'" << what << "' does not name " << store);
    }
  }
}

BOOST_AUTO_TEST_CASE(calls_survive_a_closed_connection_and_back_off) {
  if (skip_redis_tests())
    return;
  auto server = std::make_unique<redis_server>();
  auto port = server->port();
  auto s = open_store(server->url(), unique_prefix("reconnect"));
  s->ensure_group({"g", {"*"}});
  std::vector<event> batch{make_event("a", "t")};
  BOOST_REQUIRE(!s->append(batch, t0, 1000).at(0).duplicate);
  // The server closes our connection (CLIENT KILL, like an idle timeout or
  // a proxy): the next calls of every kind work, none fails once first.
  auto kill_clients = [&] {
    auto killed = raw_command(port, {"CLIENT", "KILL", "TYPE", "normal"});
    BOOST_REQUIRE_MESSAGE(killed.rfind(":", 0) == 0 && killed != ":0",
                          "CLIENT KILL answered " << killed);
  };
  kill_clients();
  std::vector<event> more{make_event("b", "t")};
  BOOST_CHECK(!s->append(more, t0, 1000).at(0).duplicate);
  kill_clients();
  BOOST_CHECK_EQUAL(s->read_group("g", 10, t0).size(), 2u);
  kill_clients();
  BOOST_CHECK_EQUAL(s->head(), 2u);
  // A restart (data kept: the server is stopped cleanly with no
  // persistence, so only plain commands are asked for) is the same.
  server->stop_now();
  // Down: the first call tries and names the refusal; calls within the
  // backoff fail at once saying so, without trying to connect.
  auto expect_failure = [&](const std::string& needle) {
    try {
      s->head();
      BOOST_ERROR("a call succeeded without a server");
    } catch (const store_error& ex) {
      std::string what = ex.what();
      BOOST_TEST_MESSAGE("error: " << what);
      BOOST_CHECK_MESSAGE(what.find(needle) != std::string::npos,
                          "'" << what << "' lacks '" << needle << "'");
      BOOST_CHECK_MESSAGE(what.find("127.0.0.1:" + std::to_string(port))
                            != std::string::npos,
                          "'" << what << "' does not name the store");
    }
  };
  expect_failure("refused");
  expect_failure("reconnecting: next attempt in");
  // Back: calls work again once the backoff has passed (at most 5 s).
  server->start_again();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool back = false;
  while (!back && std::chrono::steady_clock::now() < deadline) {
    try {
      s->ping();
      back = true;
    } catch (const store_error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  BOOST_CHECK_MESSAGE(back, "no reconnect within 10 s of the server's return");
}

BOOST_AUTO_TEST_SUITE_END()
