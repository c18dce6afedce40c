#include <boost/test/unit_test.hpp>

#include "adapters/ports.hpp"
#include "adapters/redis/redis_store.hpp"
#include "tests/support/redis_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

/// The Redis backend of the store contract suite, plus Redis-specific tests.
/// A `redis_server` is a real `redis-server` (from PATH) on a free port in a
/// temporary directory, killed by pid at the end. Without redis-server on
/// PATH the Redis backend and these tests are skipped with a printed message
/// (CI installs it, so CI never skips).

namespace fs = std::filesystem;

using namespace onceflow;
using namespace onceflow::test;

// Used by store_contract.cpp to register the Redis backend.
bool redis_backend_available();
std::function<store_ptr()> make_redis_deployment();

namespace {

/// The server shared by every Redis backend of the contract suite.
redis_server& shared_server() {
  static std::unique_ptr<redis_server> server
    = std::make_unique<redis_server>();
  return *server;
}

/// A prefix no other deployment of this test run uses.
std::string unique_prefix(const std::string& tag) {
  static std::atomic<int> counter{0};
  return "t" + std::to_string(::getpid()) + "-" + tag + "-"
         + std::to_string(++counter) + ":";
}

store_ptr open_store(const std::string& url, const std::string& prefix) {
  redis_options opts;
  opts.url = url;
  opts.prefix = prefix;
  opts.connect_timeout_ms = 1000;
  opts.command_timeout_ms = 10'000;
  return make_redis_store(opts);
}

/// Expects make_redis_store to throw store_error containing every needle.
void expect_open_error(const redis_options& opts,
                       const std::vector<std::string>& needles) {
  try {
    make_redis_store(opts);
    BOOST_ERROR("opened " << opts.url << " without an error");
  } catch (const store_error& ex) {
    std::string what = ex.what();
    BOOST_TEST_MESSAGE("error: " << what);
    for (auto& n : needles)
      BOOST_CHECK_MESSAGE(what.find(n) != std::string::npos,
                          "'" << what << "' lacks '" << n << "'");
  }
}

bool skip_redis_tests() {
  if (redis_backend_available())
    return false;
  BOOST_TEST_MESSAGE("skipped: redis-server is not on PATH");
  return true;
}

constexpr millis_t t0 = 1'700'000'000'000;

event make_event(const std::string& id, const std::string& type) {
  event ev;
  ev.id = id;
  ev.type = type;
  ev.payload = R"({"id":")" + id + R"("})";
  ev.created_at = t0;
  ev.trace_id = "trace-" + id;
  return ev;
}

/// Appends events `<prefix>0` .. `<prefix><n-1>` of type "t" at t0 to a
/// store with group "g"; returns them with their seqs.
std::vector<event> append_numbered(store& s, const std::string& prefix,
                                   int n) {
  std::vector<event> batch;
  for (int i = 0; i < n; ++i)
    batch.push_back(make_event(prefix + std::to_string(i), "t"));
  s.append(batch, t0, 60'000);
  return batch;
}

/// Claims the events in group "g" at `now` and settles them done at
/// now + 10; every step must succeed.
void process_all(store& s, const std::vector<event>& evs, millis_t now) {
  std::vector<claim_request> reqs;
  for (auto& ev : evs)
    reqs.push_back({"g", ev.id, ev.seq});
  auto ds = s.claim(reqs, "n/l", now, 60'000, 3);
  std::vector<settlement> items;
  for (size_t i = 0; i < evs.size(); ++i) {
    BOOST_REQUIRE(ds.at(i).kind == claim_decision::granted);
    settlement st;
    st.kind = settle_kind::done;
    st.dl.group = "g";
    st.dl.ev = evs[i];
    st.dl.epoch = ds[i].epoch;
    items.push_back(st);
  }
  for (auto d : s.settle(items, now + 10))
    BOOST_REQUIRE(d == fence_decision::ok);
}

} // namespace

bool redis_backend_available() {
  static const bool available = [] {
    if (!find_on_path("redis-server").empty())
      return true;
    std::fprintf(stderr, "store_contract: redis-server is not on PATH: "
                         "skipping the Redis backend and the redis_adapter "
                         "tests (install redis-server to run them)\n");
    return false;
  }();
  return available;
}

std::function<store_ptr()> make_redis_deployment() {
  auto prefix = unique_prefix("contract");
  return [prefix] { return open_store(shared_server().url(), prefix); };
}

// -- Redis specifics (not part of the contract) ------------------------------

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
  expect_open_error(opts, {"redis://127.0.0.1:" + std::to_string(
                                                    secured.port()),
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

BOOST_AUTO_TEST_CASE(wrong_type_key_is_named) {
  if (skip_redis_tests())
    return;
  auto& server = shared_server();
  // At open.
  auto prefix = unique_prefix("wrongtype");
  BOOST_REQUIRE_EQUAL(raw_command(server.port(),
                                  {"SET", prefix + "groups", "not a hash"}),
                      "+OK");
  redis_options opts;
  opts.url = server.url();
  opts.prefix = prefix;
  expect_open_error(opts, {"key '" + prefix + "groups'", "WRONGTYPE"});
  // While running: a group's key replaced behind our back.
  auto prefix2 = unique_prefix("wrongtype");
  auto s = open_store(server.url(), prefix2);
  s->ensure_group({"g", {"*"}});
  std::vector<event> batch{make_event("a", "t")};
  s->append(batch, t0, 1000);
  BOOST_REQUIRE_EQUAL(raw_command(server.port(),
                                  {"SET", prefix2 + "g:g:pel", "oops"}),
                      "+OK");
  try {
    s->read_group("g", 10, t0);
    BOOST_ERROR("read_group over a wrong-type key did not throw");
  } catch (const store_error& ex) {
    std::string what = ex.what();
    BOOST_TEST_MESSAGE("error: " << what);
    BOOST_CHECK(what.find("'" + prefix2 + "g:g:pel'") != std::string::npos);
    BOOST_CHECK(what.find("WRONGTYPE") != std::string::npos);
  }
  // The store object stays usable for other keys.
  BOOST_CHECK_EQUAL(s->head(), 1u);
  BOOST_CHECK_EQUAL(s->find("a").seq, 1u);
}

BOOST_AUTO_TEST_CASE(prefix_isolates_deployments) {
  if (skip_redis_tests())
    return;
  auto& server = shared_server();
  auto a = open_store(server.url(), unique_prefix("iso-a"));
  auto b = open_store(server.url(), unique_prefix("iso-b"));
  a->ensure_group({"g", {"*"}});
  b->ensure_group({"g", {"order.*"}});
  std::vector<event> ba{make_event("x", "order.created"),
                        make_event("y", "user.created")};
  std::vector<event> bb{make_event("x", "order.created")};
  auto ra = a->append(ba, t0, 60'000);
  auto rb = b->append(bb, t0, 60'000);
  BOOST_CHECK(!ra.at(0).duplicate);
  BOOST_CHECK(!rb.at(0).duplicate); // same id, other deployment
  BOOST_CHECK_EQUAL(a->head(), 2u);
  BOOST_CHECK_EQUAL(b->head(), 1u);
  BOOST_CHECK_EQUAL(a->backlog("g"), 2u);
  BOOST_CHECK_EQUAL(b->backlog("g"), 1u);
  BOOST_CHECK_EQUAL(a->read_group("g", 10, t0).size(), 2u);
  auto evs = b->read_group("g", 10, t0);
  BOOST_REQUIRE_EQUAL(evs.size(), 1u);
  auto d = b->claim({{"g", "x", evs[0].seq}}, "n/l", t0, 1000, 3);
  settlement st;
  st.dl.ev = evs[0];
  st.dl.group = "g";
  st.dl.epoch = d.at(0).epoch;
  st.record_effect = true;
  BOOST_CHECK(b->settle({st}, t0 + 1).at(0) == fence_decision::ok);
  BOOST_CHECK(b->is_done("g", evs[0].seq));
  BOOST_CHECK(!a->is_done("g", evs[0].seq));
  BOOST_CHECK_EQUAL(a->processed_count(""), 0u);
  BOOST_CHECK_EQUAL(b->processed_count(""), 1u);
  BOOST_CHECK_EQUAL(a->backlog("g"), 2u);
  BOOST_CHECK_EQUAL(b->backlog("g"), 0u);
  BOOST_CHECK(a->describe().find("redis://127.0.0.1:") == 0);
  BOOST_CHECK(a->describe().find("s3cret") == std::string::npos);
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

BOOST_AUTO_TEST_CASE(history_reads_ledger_values_without_attempts) {
  if (skip_redis_tests())
    return;
  auto& server = shared_server();
  auto prefix = unique_prefix("ledger");
  auto s = open_store(server.url(), prefix);
  s->ensure_group({"g", {"*"}});
  std::vector<event> batch{make_event("a", "t"), make_event("b", "t")};
  s->append(batch, t0, 60'000);
  auto evs = s->read_group("g", 10, t0);
  BOOST_REQUIRE_EQUAL(evs.size(), 2u);
  auto d = s->claim({{"g", "a", evs[0].seq}}, "n/l", t0, 1000, 3);
  settlement st;
  st.dl.ev = evs[0];
  st.dl.group = "g";
  st.dl.epoch = d.at(0).epoch;
  attempt_record rec;
  rec.attempt = 1;
  rec.at = t0 + 1;
  rec.node = "n";
  rec.listener = "l";
  rec.epoch = st.dl.epoch;
  rec.error = "ok then";
  st.dl.history.push_back(rec);
  BOOST_REQUIRE(s->settle({st}, t0 + 2).at(0) == fence_decision::ok);
  auto h = s->history_of("a");
  BOOST_REQUIRE_EQUAL(h.size(), 1u);
  BOOST_REQUIRE_EQUAL(h[0].attempts.size(), 1u);
  BOOST_CHECK_EQUAL(h[0].attempts[0].error, "ok then");
  // A ledger entry without a history: "D<epoch> <at>".
  BOOST_REQUIRE_EQUAL(raw_command(server.port(),
                                  {"HSET", prefix + "g:g:st",
                                   std::to_string(evs[1].seq),
                                   "D42 1700000000123"}),
                      ":1");
  h = s->history_of("b");
  BOOST_REQUIRE_EQUAL(h.size(), 1u);
  BOOST_CHECK(h[0].status == event_status::processed);
  BOOST_REQUIRE_EQUAL(h[0].attempts.size(), 1u);
  BOOST_CHECK_EQUAL(h[0].attempts[0].epoch, 42u);
  BOOST_CHECK_EQUAL(h[0].attempts[0].at, 1700000000123);
  BOOST_CHECK(h[0].attempts[0].result == outcome::success);
  auto l = s->list_events({event_status::processed, "", 0, 10});
  BOOST_CHECK_EQUAL(l.items.size(), 2u);
  // A corrupt value is a store error, not a crash.
  BOOST_REQUIRE_EQUAL(raw_command(server.port(),
                                  {"HSET", prefix + "g:g:st",
                                   std::to_string(evs[1].seq),
                                   "D42 1700000000123 garbage"}),
                      ":0");
  BOOST_CHECK_THROW(s->history_of("b"), store_error);
}

/// A claim or settlement the adapter sends again after the connection broke
/// under it (same arguments) answers what the first run did and writes
/// nothing twice (redis_store.hpp, connections).
BOOST_AUTO_TEST_CASE(claims_and_settlements_sent_again_answer_the_same) {
  if (skip_redis_tests())
    return;
  auto s = open_store(shared_server().url(), unique_prefix("again"));
  s->ensure_group({"g", {"*"}});
  std::vector<event> batch{make_event("a", "t"), make_event("b", "t"),
                           make_event("c", "t")};
  s->append(batch, t0, 60'000);
  auto evs = s->read_group("g", 10, t0);
  BOOST_REQUIRE_EQUAL(evs.size(), 3u);
  std::vector<claim_request> reqs;
  for (auto& ev : evs)
    reqs.push_back({"g", ev.id, ev.seq});
  auto first = s->claim(reqs, "n/l", t0, 1000, 3);
  auto again = s->claim(reqs, "n/l", t0, 1000, 3);
  BOOST_REQUIRE_EQUAL(again.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    BOOST_CHECK(first[i].kind == claim_decision::granted);
    BOOST_CHECK(again[i].kind == claim_decision::granted);
    BOOST_CHECK_EQUAL(again[i].epoch, first[i].epoch);
  }
  // Another holder, or the same one later, is still refused.
  BOOST_CHECK(s->claim({reqs[0]}, "n/other", t0, 1000, 3)[0].kind
              == claim_decision::held);
  BOOST_CHECK(s->claim({reqs[0]}, "n/l", t0 + 1, 1000, 3)[0].kind
              == claim_decision::held);
  auto item = [&](size_t i, settle_kind kind) {
    settlement st;
    st.kind = kind;
    st.dl.ev = evs[i];
    st.dl.group = "g";
    st.dl.epoch = first[i].epoch;
    st.record_effect = true;
    st.due = t0 + 500;
    st.reason = dlq_reason::permanent_error;
    st.error = "bad";
    return st;
  };
  std::vector<settlement> items{item(0, settle_kind::done),
                                item(1, settle_kind::retry),
                                item(2, settle_kind::dead)};
  for (int round = 0; round < 2; ++round) {
    auto ds = s->settle(items, t0 + 10);
    BOOST_REQUIRE_EQUAL(ds.size(), 3u);
    for (auto d : ds)
      BOOST_CHECK(d == fence_decision::ok);
  }
  BOOST_CHECK_EQUAL(s->processed_count("g"), 1u);
  BOOST_CHECK_EQUAL(s->scheduled(), 1u);
  BOOST_CHECK_EQUAL(s->dlq_size(), 1u);
  // The same settlement later (another `now`) is a stale copy: refused.
  BOOST_CHECK(s->settle({items[0]}, t0 + 11)[0] != fence_decision::ok);
  BOOST_CHECK_EQUAL(s->processed_count("g"), 1u);
}

/// A read delivers entries and records them in the PEL mirror in one
/// transaction, also when the server has lost its script cache (SCRIPT
/// FLUSH, a restart): what was read can always be reclaimed.
BOOST_AUTO_TEST_CASE(reads_are_mirrored_after_a_script_flush) {
  if (skip_redis_tests())
    return;
  auto& server = shared_server();
  auto s = open_store(server.url(), unique_prefix("flush"));
  s->ensure_group({"g", {"*"}});
  s->ensure_group({"h", {"order.*"}});
  std::vector<event> batch{make_event("a", "order.x"), make_event("b", "t"),
                           make_event("c", "order.y")};
  s->append(batch, t0, 60'000);
  BOOST_REQUIRE_EQUAL(raw_command(server.port(), {"SCRIPT", "FLUSH"}), "+OK");
  BOOST_CHECK_EQUAL(s->read_group("g", 10, t0).size(), 3u);
  BOOST_REQUIRE_EQUAL(raw_command(server.port(), {"SCRIPT", "FLUSH"}), "+OK");
  auto h = s->read_group("h", 10, t0);
  BOOST_REQUIRE_EQUAL(h.size(), 2u);
  BOOST_CHECK_EQUAL(h[0].id, "a");
  BOOST_CHECK_EQUAL(h[1].id, "c");
  // Everything read is pending (and only that): reclaim finds it.
  BOOST_CHECK_EQUAL(s->reclaim("g", t0 + 60'000, 1000, 10).size(), 3u);
  BOOST_CHECK_EQUAL(s->reclaim("h", t0 + 60'000, 1000, 10).size(), 2u);
  BOOST_CHECK_EQUAL(s->backlog("h"), 2u);
}

/// The PEL mirror holds one member per read and per reclaim, not one per
/// entry; reclaim drops members whose entries were all settled.
BOOST_AUTO_TEST_CASE(pel_mirror_keeps_a_member_per_read) {
  if (skip_redis_tests())
    return;
  auto& server = shared_server();
  auto prefix = unique_prefix("mirror");
  auto s = open_store(server.url(), prefix);
  s->ensure_group({"g", {"*"}});
  auto batch = append_numbered(*s, "e", 500);
  auto zcard = [&] {
    return raw_command(server.port(), {"ZCARD", prefix + "g:g:pel"});
  };
  BOOST_CHECK_EQUAL(s->read_group("g", 300, t0).size(), 300u);
  BOOST_CHECK_EQUAL(s->read_group("g", 300, t0 + 10).size(), 200u);
  BOOST_CHECK_EQUAL(zcard(), ":2");
  // Settle everything but e7 and e420.
  std::vector<event> most;
  for (auto& ev : batch)
    if (ev.id != "e7" && ev.id != "e420")
      most.push_back(ev);
  process_all(*s, most, t0 + 20);
  BOOST_CHECK_EQUAL(s->backlog("g"), 2u);
  // One at a time: the first member gives e7; what it covers after e7 is
  // kept with the old score (unknown yet whether pending), e7 goes into a
  // member of its own.
  auto r1 = s->reclaim("g", t0 + 1000, 100, 1);
  BOOST_REQUIRE_EQUAL(r1.size(), 1u);
  BOOST_CHECK_EQUAL(r1[0].id, "e7");
  BOOST_CHECK_EQUAL(zcard(), ":3");
  // The rest of the first read has nothing pending (it goes); the second
  // read gives e420.
  auto r2 = s->reclaim("g", t0 + 1000, 100, 1);
  BOOST_REQUIRE_EQUAL(r2.size(), 1u);
  BOOST_CHECK_EQUAL(r2[0].id, "e420");
  BOOST_CHECK_EQUAL(zcard(), ":3");
  // Nothing idle long enough; the rest of the second read goes.
  BOOST_CHECK(s->reclaim("g", t0 + 1099, 100, 10).empty());
  BOOST_CHECK_EQUAL(zcard(), ":2");
  // Both reclaimed ones again, now into one member.
  auto r3 = s->reclaim("g", t0 + 1100, 100, 10);
  BOOST_CHECK_EQUAL(r3.size(), 2u);
  BOOST_CHECK_EQUAL(zcard(), ":1");
  // Once nothing is pending, one reclaim drops every member (below the
  // lowest pending entry: no look at each one), however many there are.
  for (int i = 0; i < 30; ++i) {
    std::vector<event> more{make_event("m" + std::to_string(i), "t")};
    s->append(more, t0 + 1200, 60'000);
    BOOST_REQUIRE_EQUAL(s->read_group("g", 10, t0 + 1200 + i).size(), 1u);
  }
  BOOST_CHECK_EQUAL(zcard(), ":31");
  std::vector<event> rest = r3;
  for (int i = 0; i < 30; ++i)
    rest.push_back(s->find("m" + std::to_string(i)));
  process_all(*s, rest, t0 + 1300);
  BOOST_CHECK(s->reclaim("g", t0 + 100'000, 100, 10).empty());
  BOOST_CHECK_EQUAL(zcard(), ":0");
}

/// A leasing read writes one record for its run (g:<g>:rl), nothing per
/// entry; settlements and claims find the lease there until the pair has a
/// state field; reclaim writes out the expired leases of what it takes (so
/// the next claim counts a crash redelivery) and drops the record. A group
/// registered again from the start leases only entries appended later.
BOOST_AUTO_TEST_CASE(read_leases_are_one_record_per_read) {
  if (skip_redis_tests())
    return;
  auto& server = shared_server();
  auto prefix = unique_prefix("rl");
  auto s = open_store(server.url(), prefix);
  s->ensure_group({"g", {"*"}});
  append_numbered(*s, "e", 100);
  auto cmd = [&](std::vector<std::string> args) {
    return raw_command(server.port(), args);
  };
  auto got = s->read_leased("g", 100, t0, "n/g/read", 1000, 3);
  BOOST_REQUIRE_EQUAL(got.size(), 100u);
  for (size_t i = 1; i < got.size(); ++i)
    BOOST_CHECK_EQUAL(got[i].epoch, got[0].epoch + i);
  BOOST_CHECK_EQUAL(cmd({"ZCARD", prefix + "g:g:rl"}), ":1");
  BOOST_CHECK_EQUAL(cmd({"HLEN", prefix + "g:g:st"}), ":0");
  std::vector<settlement> items;
  for (size_t i = 0; i < 98; ++i) {
    settlement st;
    st.kind = settle_kind::done;
    st.dl = got[i];
    items.push_back(st);
  }
  for (auto d : s->settle(items, t0 + 10))
    BOOST_REQUIRE(d == fence_decision::ok);
  BOOST_CHECK_EQUAL(cmd({"HLEN", prefix + "g:g:st"}), ":98");
  auto back = s->reclaim("g", t0 + 5000, 2000, 10);
  BOOST_REQUIRE_EQUAL(back.size(), 2u);
  BOOST_CHECK_EQUAL(cmd({"HLEN", prefix + "g:g:st"}), ":100");
  BOOST_CHECK_EQUAL(cmd({"ZCARD", prefix + "g:g:rl"}), ":0");
  auto d = s->claim({{"g", "e98", back[0].seq}}, "other", t0 + 5000, 1000, 3);
  BOOST_REQUIRE_EQUAL(d.size(), 1u);
  BOOST_CHECK(d[0].kind == claim_decision::granted);
  BOOST_CHECK_EQUAL(d[0].redeliveries, 1u);
  BOOST_CHECK_GT(d[0].epoch, got[99].epoch);
  // The group lost and registered again from the start: its entries come
  // back without leases (98 are settled), new ones with.
  BOOST_REQUIRE_EQUAL(cmd({"XGROUP", "DESTROY", prefix + "log", "g"}), ":1");
  BOOST_REQUIRE_EQUAL(cmd({"HDEL", prefix + "groups", "g"}), ":1");
  s->ensure_group({"g", {"*"}, true});
  std::vector<event> more{make_event("late", "t")};
  s->append(more, t0 + 6000, 60'000);
  auto again = s->read_leased("g", 200, t0 + 6000, "n/g/read", 1000, 3);
  BOOST_REQUIRE_EQUAL(again.size(), 101u);
  for (size_t i = 0; i < 100; ++i)
    BOOST_CHECK_EQUAL(again[i].lease_until, 0);
  BOOST_CHECK_EQUAL(again[100].ev.id, "late");
  BOOST_CHECK_EQUAL(again[100].lease_until, t0 + 7000);
  auto e0 = s->claim({{"g", "e0", again[0].ev.seq}}, "other", t0 + 6000,
                     1000, 3);
  BOOST_CHECK(e0.at(0).kind == claim_decision::done);
}

/// A CA, a server and a client certificate signed by it (the server's for
/// 127.0.0.1), and a second CA that signed nothing of these, made with the `openssl` CLI in a
/// temporary directory (removed at the end).
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
      "openssl req -x509" + key + " -days 2 -subj /CN=another-ca -keyout "
        + d + "/other.key -out " + d + "/other.crt",
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
    std::ofstream{dir_.path() / "san.ext"} << "subjectAltName=IP:127.0.0.1\n";
    std::ofstream{dir_.path() / "wrongip.ext"}
      << "subjectAltName=IP:127.0.0.2\n";
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
    BOOST_CHECK_MESSAGE(what.find("certificate required")
                          != std::string::npos,
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
  expect_open_error(mismatch, {"certificate not trusted", "IP address mismatch"});
  c->ping();
  c->ensure_group({"g", {"*"}});
  BOOST_CHECK_EQUAL(append_numbered(*c, "c", 3).size(), 3u);
  BOOST_CHECK_EQUAL(c->read_group("g", 10, t0).size(), 3u);
}

/// Data of layout 2 (a mirror member per pending seq) is taken over as it
/// is; data of an unknown layout is refused by name.
BOOST_AUTO_TEST_CASE(layout_2_is_taken_over_and_others_refused) {
  if (skip_redis_tests())
    return;
  auto& server = shared_server();
  auto prefix = unique_prefix("layout");
  auto s = open_store(server.url(), prefix);
  s->ensure_group({"g", {"*"}});
  std::vector<event> batch{make_event("a", "t"), make_event("b", "t"),
                           make_event("c", "t")};
  s->append(batch, t0, 60'000);
  BOOST_REQUIRE_EQUAL(s->read_group("g", 10, t0).size(), 3u);
  s.reset();
  auto pel = prefix + "g:g:pel";
  BOOST_REQUIRE_EQUAL(raw_command(server.port(), {"DEL", pel}), ":1");
  BOOST_REQUIRE_EQUAL(raw_command(server.port(),
                                  {"ZADD", pel, std::to_string(t0), "1",
                                   std::to_string(t0), "2",
                                   std::to_string(t0 + 5), "3"}),
                      ":3");
  BOOST_REQUIRE_EQUAL(raw_command(server.port(),
                                  {"SET", prefix + "layout", "2"}),
                      "+OK");
  s = open_store(server.url(), prefix);
  auto layout_is = [&](const std::string& v) {
    return raw_command(server.port(),
                       {"EVAL", "return redis.call('GET', KEYS[1]) == ARGV[1] "
                                "and 1 or 0",
                        "1", prefix + "layout", v});
  };
  BOOST_CHECK_EQUAL(layout_is("3"), ":1");
  auto r = s->reclaim("g", t0 + 100, 100, 10);
  BOOST_REQUIRE_EQUAL(r.size(), 2u);
  BOOST_CHECK_EQUAL(r[0].id, "a");
  BOOST_CHECK_EQUAL(r[1].id, "b");
  BOOST_CHECK_EQUAL(s->reclaim("g", t0 + 105, 100, 10).size(), 1u);
  s.reset();
  BOOST_REQUIRE_EQUAL(raw_command(server.port(),
                                  {"SET", prefix + "layout", "9"}),
                      "+OK");
  redis_options opts;
  opts.url = server.url();
  opts.prefix = prefix;
  expect_open_error(opts, {"has layout 9", "reads layout 3"});
}

BOOST_AUTO_TEST_CASE(unknown_group_throws) {
  if (skip_redis_tests())
    return;
  auto s = open_store(shared_server().url(), unique_prefix("nogroup"));
  BOOST_CHECK_THROW(s->read_group("missing", 1, t0), store_error);
  BOOST_CHECK_THROW(s->reclaim("missing", t0, 0, 1), store_error);
  BOOST_CHECK_THROW(s->backlog("missing"), store_error);
}

/// Expects `f` to throw store_error saying that the store generation
/// changed, naming the store.
template <class F>
void expect_generation_changed(const redis_server& server, F f,
                               const std::string& what) {
  try {
    f();
    BOOST_ERROR(what << " did not fail after the data loss");
  } catch (const store_error& ex) {
    std::string msg = ex.what();
    BOOST_TEST_MESSAGE(what << ": " << msg);
    auto store = "redis://127.0.0.1:" + std::to_string(server.port())
                 + ": store generation changed";
    BOOST_CHECK_MESSAGE(msg.find(store) != std::string::npos,
                        what << ": '" << msg << "' lacks '" << store << "'");
  }
}

settlement done_settlement(const event& ev, const std::string& group,
                           uint64_t epoch) {
  settlement st;
  st.kind = settle_kind::done;
  st.dl.ev = ev;
  st.dl.group = group;
  st.dl.epoch = epoch;
  st.record_effect = true;
  return st;
}

BOOST_AUTO_TEST_CASE(data_loss_changes_the_generation) {
  if (skip_redis_tests())
    return;
  // An own server: FLUSHALL must not touch other tests' data.
  redis_server server;
  auto prefix = unique_prefix("gen");
  auto s = open_store(server.url(), prefix);
  s->ensure_group({"g", {"*"}});
  std::vector<event> batch{make_event("a", "t"), make_event("b", "t")};
  s->append(batch, t0, 60'000);
  auto old = s->read_group("g", 10, t0);
  BOOST_REQUIRE_EQUAL(old.size(), 2u);
  auto d = s->claim({{"g", "a", old[0].seq}}, "n/l", t0, 10'000, 3);
  BOOST_REQUIRE(d.at(0).kind == claim_decision::granted);
  // Prepared before the loss: a's effect, and b dead-lettered as a crash
  // loop (epoch 0: committed without a lease check).
  auto stale_done = done_settlement(old[0], "g", d.at(0).epoch);
  settlement stale_dead;
  stale_dead.kind = settle_kind::dead;
  stale_dead.reason = dlq_reason::crash_loop;
  stale_dead.error = "crash loop";
  stale_dead.dl.ev = old[1];
  stale_dead.dl.group = "g";
  stale_dead.dl.epoch = 0;

  BOOST_REQUIRE_EQUAL(raw_command(server.port(), {"FLUSHALL"}), "+OK");

  // The next call that depends on seqs fails and writes nothing.
  expect_generation_changed(server, [&] { s->settle({stale_done}, t0 + 1); },
                            "settle");
  BOOST_CHECK_EQUAL(s->processed_count(""), 0u);
  BOOST_CHECK_EQUAL(s->head(), 0u);
  // The call after that works: the new generation is adopted. The new
  // event gets the seq `a` had.
  std::vector<event> fresh{make_event("c", "t")};
  auto res = s->append(fresh, t0 + 2, 60'000);
  BOOST_REQUIRE_EQUAL(res.size(), 1u);
  BOOST_CHECK(!res[0].duplicate);
  BOOST_CHECK_EQUAL(res[0].seq, old[0].seq);
  // The reader (the broadcaster) hears of the change once too, although
  // settle noticed it first: it must drop what it holds.
  expect_generation_changed(server,
                            [&] { s->ensure_group({"g", {"*"}, true}); },
                            "ensure_group after settle noticed the change");
  s->ensure_group({"g", {"*"}, true});
  auto evs = s->read_group("g", 10, t0 + 3);
  BOOST_REQUIRE_EQUAL(evs.size(), 1u);
  BOOST_CHECK_EQUAL(evs[0].id, "c");
  BOOST_CHECK_EQUAL(evs[0].seq, old[0].seq);

  // Copies of the old events: a claim of a's seq for `a` is answered done
  // and takes nothing; c's own claim is granted, with the epoch `a` had
  // (the counter started over with the data).
  auto dc = s->claim({{"g", "a", old[0].seq}, {"g", "c", evs[0].seq}}, "n/l",
                     t0 + 4, 10'000, 3);
  BOOST_REQUIRE_EQUAL(dc.size(), 2u);
  BOOST_CHECK(dc[0].kind == claim_decision::done);
  BOOST_REQUIRE(dc[1].kind == claim_decision::granted);
  BOOST_CHECK_EQUAL(dc[1].epoch, stale_done.dl.epoch);
  // The settlements prepared before the loss: refused, nothing written,
  // although seq and epoch match c's live lease.
  auto ds = s->settle({stale_done, stale_dead}, t0 + 5);
  BOOST_REQUIRE_EQUAL(ds.size(), 2u);
  BOOST_CHECK(ds[0] != fence_decision::ok);
  BOOST_CHECK(ds[1] != fence_decision::ok);
  BOOST_CHECK_EQUAL(s->processed_count(""), 0u);
  BOOST_CHECK(!s->is_done("g", evs[0].seq));
  BOOST_CHECK_EQUAL(s->dlq_size(), 0u);
  BOOST_CHECK(s->processed_of("a").empty());
  // c's lease is intact: its own settlement commits.
  auto okc = s->settle({done_settlement(evs[0], "g", dc[1].epoch)}, t0 + 6);
  BOOST_CHECK(okc.at(0) == fence_decision::ok);
  BOOST_CHECK_EQUAL(s->processed_count("g"), 1u);
  auto recs = s->processed_of("c");
  BOOST_REQUIRE_EQUAL(recs.size(), 1u);
  BOOST_CHECK_EQUAL(recs[0].seq, evs[0].seq);
  BOOST_CHECK_EQUAL(s->backlog("g"), 0u);

  // A second loss noticed by the reader itself: reported once, then the
  // group is gone (it registers again).
  BOOST_REQUIRE_EQUAL(raw_command(server.port(), {"FLUSHALL"}), "+OK");
  expect_generation_changed(server, [&] { s->read_group("g", 10, t0 + 7); },
                            "read_group");
  BOOST_CHECK_THROW(s->read_group("g", 10, t0 + 7), store_error);
  s->ensure_group({"g", {"*"}, true});
  BOOST_CHECK(s->read_group("g", 10, t0 + 8).empty());
  // A reopened store (a restarted node) works on the current generation.
  auto again = open_store(server.url(), prefix);
  std::vector<event> more{make_event("d", "t")};
  BOOST_CHECK_NO_THROW(again->append(more, t0 + 9, 60'000));
  BOOST_CHECK_EQUAL(again->read_group("g", 10, t0 + 9).size(), 1u);
}

BOOST_AUTO_TEST_CASE(nodes_agree_on_the_generation_after_a_loss) {
  if (skip_redis_tests())
    return;
  redis_server server;
  auto prefix = unique_prefix("gen-nodes");
  auto a = open_store(server.url(), prefix);
  auto b = open_store(server.url(), prefix);
  int n = 0;
  auto append_one = [&](store& s) {
    std::vector<event> batch{make_event("e" + std::to_string(++n), "t")};
    return s.append(batch, t0, 60'000).at(0).seq;
  };
  // A call that checks the generation (taking due retries).
  auto probe = [](store& s) { s.take_due(t0, 1); };
  append_one(*a);
  append_one(*b);
  for (int round = 0; round < 20; ++round) {
    BOOST_REQUIRE_EQUAL(raw_command(server.port(), {"FLUSHALL"}), "+OK");
    if (round % 2 == 0) {
      // One after the other: the first creates the new generation, the
      // second adopts it.
      expect_generation_changed(server, [&] { probe(*a); }, "node a");
      expect_generation_changed(server, [&] { probe(*b); }, "node b");
    } else {
      // Both at once: both find no generation; SET NX lets one win.
      std::atomic<int> failed{0};
      auto run = [&](store* s) {
        try {
          probe(*s);
        } catch (const store_error& ex) {
          if (std::string(ex.what()).find("store generation changed")
              != std::string::npos)
            ++failed;
        }
      };
      std::thread ta(run, a.get());
      std::thread tb(run, b.get());
      ta.join();
      tb.join();
      BOOST_CHECK_EQUAL(failed.load(), 2);
    }
    // From now on both work on one generation: no further failures.
    BOOST_CHECK_EQUAL(append_one(*a), 1u);
    BOOST_CHECK_EQUAL(append_one(*b), 2u);
    BOOST_CHECK_EQUAL(append_one(*a), 3u);
    BOOST_CHECK_NO_THROW(probe(*a));
    BOOST_CHECK_NO_THROW(probe(*b));
  }
  // An append is new input: it does not fail on a new generation but goes
  // into the new data (and the store object adopts the generation).
  BOOST_REQUIRE_EQUAL(raw_command(server.port(), {"FLUSHALL"}), "+OK");
  BOOST_CHECK_EQUAL(append_one(*a), 1u);
  BOOST_CHECK_NO_THROW(probe(*a));
  BOOST_CHECK_EQUAL(append_one(*b), 2u);
  BOOST_CHECK_NO_THROW(probe(*b));
}

BOOST_AUTO_TEST_SUITE_END()
