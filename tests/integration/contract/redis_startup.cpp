// Redis specifics (not part of the store contract): opening. A store that
// may wait ([redis] wait-at-start) opens once an unreachable server answers,
// with the checks of an open at start; a problem that will not heal is still
// refused. The node name's claim: a live holder is refused, a dead one of
// this machine is taken over at once, another one's claim once it lapses.

#include "tests/integration/contract/backends.hpp"

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

BOOST_AUTO_TEST_SUITE(redis_adapter)

namespace {

/// One command on 127.0.0.1:port; the reply as text ("" for nil).
std::string redis_cmd(int port, const std::vector<std::string>& args) {
  std::unique_ptr<redisContext, void (*)(redisContext*)> c{
    redisConnect("127.0.0.1", port), redisFree};
  BOOST_REQUIRE(c && c->err == 0);
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(
    c.get(), static_cast<int>(argv.size()), argv.data(), lens.data()));
  BOOST_REQUIRE(r != nullptr);
  std::string out;
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS
      || r->type == REDIS_REPLY_ERROR)
    out.assign(r->str, r->len);
  else if (r->type == REDIS_REPLY_INTEGER)
    out = std::to_string(r->integer);
  freeReplyObject(r);
  return out;
}

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

/// Calls `f` until it stops throwing (at most `within`); rethrows the last
/// error after that, and a refusal at once.
template <class F>
void until_ok(F f, std::chrono::milliseconds within) {
  auto deadline = std::chrono::steady_clock::now() + within;
  for (;;) {
    try {
      f();
      return;
    } catch (const store_error& ex) {
      if (ex.which() == store_error::kind::refused
          || std::chrono::steady_clock::now() > deadline)
        throw;
    }
    std::this_thread::sleep_for(50ms);
  }
}

/// Expects `f` to throw store_error of kind refused containing `needle`.
template <class F>
void expect_refused(F f, const std::string& needle) {
  try {
    f();
    BOOST_ERROR("not refused (expected '" << needle << "')");
  } catch (const store_error& ex) {
    BOOST_TEST_MESSAGE("refused: " << ex.what());
    BOOST_CHECK(ex.which() == store_error::kind::refused);
    BOOST_CHECK_MESSAGE(std::string{ex.what()}.find(needle)
                          != std::string::npos,
                        "'" << ex.what() << "' lacks '" << needle << "'");
  }
}

redis_options claim_options(const redis_server& server,
                            const std::string& prefix) {
  redis_options opts;
  opts.url = server.url();
  opts.prefix = prefix;
  opts.consumer = "node-x";
  opts.claim_name = true;
  opts.name_ttl_ms = 1000;
  return opts;
}

/// The value a store of this process writes when it claims a name: a
/// holder on this machine (pid changed by the callers).
json own_claim(const redis_server& server, const std::string& prefix) {
  auto s = make_redis_store(claim_options(server, prefix));
  auto doc
    = json::parse(redis_cmd(server.port(), {"GET", prefix + "node:node-x"}));
  BOOST_CHECK_EQUAL(doc.value("pid", int64_t{0}),
                    static_cast<int64_t>(::getpid()));
  return doc;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_store_may_wait_for_an_unreachable_server) {
  if (skip_redis_tests())
    return;
  // maxmemory-policy allkeys-lru with a limit: the open warns, also when
  // it happens late.
  redis_server server{
    {"--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"}};
  auto port = std::to_string(server.port());
  server.stop_now();
  redis_options opts;
  opts.url = server.url();
  opts.prefix = unique_prefix("wait");
  opts.connect_timeout_ms = 500;
  // Not waiting: the error of today.
  expect_open_error(opts,
                    {"redis://127.0.0.1:" + port + ": connection refused"});
  opts.wait_at_start = true;
  std::vector<std::string> opened;
  opts.on_deferred_open = [&](const store& st) {
    opened.push_back(st.describe());
    for (auto& w : st.startup_warnings())
      opened.push_back(w);
  };
  auto s = make_redis_store(opts);
  auto ws = s->startup_warnings();
  BOOST_REQUIRE_EQUAL(ws.size(), 1u);
  BOOST_CHECK_MESSAGE(ws[0].find("Redis cannot be reached (redis://127.0.0.1:"
                                 + port + ": connection refused); waiting")
                        != std::string::npos,
                      ws[0]);
  for (int i = 0; i < 3; ++i) {
    try {
      s->ping();
      BOOST_ERROR("ping succeeded without a server");
    } catch (const store_error& ex) {
      BOOST_CHECK(ex.which() == store_error::kind::failure);
      BOOST_CHECK_MESSAGE(std::string{ex.what()}.rfind(
                            "waiting for Redis: redis://127.0.0.1:" + port, 0)
                            == 0,
                          ex.what());
    }
  }
  BOOST_CHECK(opened.empty());
  server.start_again();
  // The connection's backoff is at most 5 s (with jitter).
  until_ok([&] { s->ensure_group({"g", {"*"}}); }, 10s);
  BOOST_REQUIRE_EQUAL(opened.size(), 2u);
  BOOST_CHECK_EQUAL(opened[0], s->describe());
  BOOST_CHECK_MESSAGE(opened[1].find("maxmemory-policy is allkeys-lru")
                        != std::string::npos,
                      opened[1]);
  BOOST_CHECK_EQUAL(join(s->startup_warnings()), opened[1]);
  std::vector<event> batch{make_event("a", "t")};
  BOOST_CHECK(!s->append(batch, t0, 1000).at(0).duplicate);
  BOOST_CHECK_EQUAL(ids_of(s->read_group("g", 10, t0)), "a");
  // The store generation and layout were set by the late open.
  BOOST_CHECK_EQUAL(
    redis_cmd(server.port(), {"GET", opts.prefix + "layout"}).empty(), false);
  BOOST_CHECK_EQUAL(opened.size(), 2u);
}

BOOST_AUTO_TEST_CASE(what_will_not_heal_is_refused_also_when_waiting) {
  if (skip_redis_tests())
    return;
  redis_server server{{"--requirepass", "s3cret"}};
  redis_options opts;
  opts.url = server.url(":wrong");
  opts.prefix = unique_prefix("nowait");
  opts.wait_at_start = true;
  // Reachable at start: refused at once, as without waiting.
  expect_open_error(opts, {"authentication failed (WRONGPASS"});
  opts.url = "redis://127.0.0.1:port/0";
  expect_open_error(opts, {"bad redis URL"});
  // Unreachable at start, wrong password once it answers: the open that
  // finishes late refuses for good (the node stops).
  opts.url = server.url(":wrong");
  server.stop_now();
  auto s = make_redis_store(opts);
  server.start_again();
  expect_refused([&] { until_ok([&] { s->ping(); }, 10s); },
                 "cannot open the redis store: redis://127.0.0.1:"
                   + std::to_string(server.port())
                   + ": authentication failed (WRONGPASS");
}

BOOST_AUTO_TEST_CASE(a_live_holder_of_the_name_is_refused) {
  if (skip_redis_tests())
    return;
  redis_server server;
  auto prefix = unique_prefix("claim");
  auto key = prefix + "node:node-x";
  auto own = own_claim(server, prefix);
  // Gone with its store.
  BOOST_CHECK_EQUAL(redis_cmd(server.port(), {"EXISTS", key}), "0");
  // Another machine's node that renews its claim (here: a thread).
  auto other = own;
  other["local"] = "another-machine";
  other["host"] = "elsewhere";
  other["pid"] = 4242;
  other["instance"] = "1";
  redis_cmd(server.port(), {"SET", key, other.dump(), "PX", "1000"});
  std::atomic<bool> stop{false};
  std::thread renewer{[&] {
    while (!stop) {
      redis_cmd(server.port(), {"PEXPIRE", key, "1000"});
      std::this_thread::sleep_for(200ms);
    }
  }};
  auto t = steady_ms();
  expect_refused([&] { make_redis_store(claim_options(server, prefix)); },
                 "node name 'node-x' is held by a live node (host elsewhere "
                 "pid 4242, since ");
  BOOST_CHECK_LT(steady_ms() - t, 3000);
  // A process of this machine that is alive (our parent) and renews:
  // refused as well.
  auto here = own;
  here["pid"] = static_cast<int64_t>(::getppid());
  here["instance"] = "2";
  redis_cmd(server.port(), {"SET", key, here.dump(), "PX", "1000"});
  expect_refused([&] { make_redis_store(claim_options(server, prefix)); },
                 "pid " + std::to_string(::getppid()));
  stop = true;
  renewer.join();
  // The holder's claim is still there, unchanged.
  BOOST_CHECK_EQUAL(redis_cmd(server.port(), {"GET", key}), here.dump());
}

BOOST_AUTO_TEST_CASE(a_dead_holder_of_the_name_is_taken_over) {
  if (skip_redis_tests())
    return;
  redis_server server;
  auto prefix = unique_prefix("takeover");
  auto key = prefix + "node:node-x";
  auto own = own_claim(server, prefix);
  // A process of this machine that is gone (kill -9): at once, although
  // its claim has a long time left.
  auto child = ::fork();
  if (child == 0)
    ::_exit(0);
  BOOST_REQUIRE(child > 0);
  int status = 0;
  ::waitpid(child, &status, 0);
  auto dead = own;
  dead["pid"] = static_cast<int64_t>(child);
  dead["instance"] = "1";
  redis_cmd(server.port(), {"SET", key, dead.dump(), "PX", "60000"});
  auto t = steady_ms();
  auto s = make_redis_store(claim_options(server, prefix));
  BOOST_CHECK_LT(steady_ms() - t, 1000);
  auto ws = join(s->startup_warnings());
  BOOST_CHECK_MESSAGE(ws.find("took over node name 'node-x' from a process of "
                              "this machine that is gone (host ")
                        != std::string::npos,
                      ws);
  auto now = json::parse(redis_cmd(server.port(), {"GET", key}));
  BOOST_CHECK_EQUAL(now.value("pid", int64_t{0}),
                    static_cast<int64_t>(::getpid()));
  s.reset();
  // Our own pid (a restart in a container, pid 1 again): the holder is
  // gone too.
  auto again = own;
  again["instance"] = "2";
  redis_cmd(server.port(), {"SET", key, again.dump(), "PX", "60000"});
  t = steady_ms();
  s = make_redis_store(claim_options(server, prefix));
  BOOST_CHECK_LT(steady_ms() - t, 1000);
  s.reset();
  // Another machine's claim that is not renewed: taken once it lapses.
  auto other = own;
  other["local"] = "another-machine";
  other["instance"] = "3";
  redis_cmd(server.port(), {"SET", key, other.dump(), "PX", "700"});
  t = steady_ms();
  s = make_redis_store(claim_options(server, prefix));
  auto took = steady_ms() - t;
  BOOST_TEST_MESSAGE("took the lapsed claim after " << took << " ms");
  BOOST_CHECK_GE(took, 500);
  now = json::parse(redis_cmd(server.port(), {"GET", key}));
  BOOST_CHECK_EQUAL(now.value("pid", int64_t{0}),
                    static_cast<int64_t>(::getpid()));
  BOOST_CHECK(join(s->startup_warnings()).find("took over")
              == std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_heartbeat_renews_the_claim) {
  if (skip_redis_tests())
    return;
  redis_server server;
  auto prefix = unique_prefix("renew");
  auto key = prefix + "node:node-x";
  auto s = make_redis_store(claim_options(server, prefix));
  BOOST_CHECK_EQUAL(s->heartbeat_interval(), 200);
  auto mine = redis_cmd(server.port(), {"GET", key});
  // Renewed: the TTL is back up.
  std::this_thread::sleep_for(300ms);
  s->heartbeat();
  BOOST_CHECK_GT(std::stoll(redis_cmd(server.port(), {"PTTL", key})), 900);
  // Lapsed (Redis lost it, or the node could not renew for a while):
  // claimed again.
  redis_cmd(server.port(), {"DEL", key});
  s->heartbeat();
  BOOST_CHECK_EQUAL(redis_cmd(server.port(), {"GET", key}), mine);
  // Taken by another node meanwhile: refused (the node stops), and the
  // other's claim stays when the store goes.
  auto other = json::parse(mine);
  other["local"] = "another-machine";
  other["host"] = "elsewhere";
  other["instance"] = "9";
  redis_cmd(server.port(), {"SET", key, other.dump(), "PX", "60000"});
  expect_refused([&] { s->heartbeat(); },
                 "node name 'node-x' was taken over by another node while "
                 "this one could not renew its claim (host elsewhere");
  s.reset();
  BOOST_CHECK_EQUAL(redis_cmd(server.port(), {"GET", key}), other.dump());
  // Stores that do not claim have no heartbeat.
  auto plain = open_store(server.url(), prefix);
  BOOST_CHECK_EQUAL(plain->heartbeat_interval(), 0);
}

BOOST_AUTO_TEST_SUITE_END()
