#include "adapters/redis/redis_startup.hpp"

#include "adapters/ports.hpp"
#include "adapters/redis/redis_connection.hpp"
#include "adapters/redis/redis_keys.hpp"
#include "adapters/redis/redis_reply.hpp"
#include "adapters/redis/redis_scripts.hpp"

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <ctime>
#include <fstream>
#include <random>
#include <thread>
#include <utility>

namespace onceflow {

namespace {

using json = nlohmann::json;

std::string read_line(const char* path) {
  std::ifstream in{path};
  std::string line;
  std::getline(in, line);
  return line;
}

/// Boot id and pid namespace: two processes with the same pid are the same
/// only under both (a container has a pid namespace of its own).
std::string local_identity() {
  auto boot = read_line("/proc/sys/kernel/random/boot_id");
  char ns[128];
  auto n = ::readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
  if (boot.empty() || n <= 0)
    return {};
  return boot + "/" + std::string(ns, static_cast<size_t>(n));
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0)
    return "?";
  return buf;
}

bool pid_alive(int64_t pid) {
  if (pid <= 0)
    return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch())
    .count();
}

/// "2024-05-01T12:00:00Z".
std::string utc_text(millis_t ms) {
  auto secs = static_cast<time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// A holder as its key names it.
struct holder_info {
  std::string host;
  int64_t pid = 0;
  millis_t since = 0;
  std::string local;
  /// "host X pid Y, since ...", or the raw value if it is not a claim of
  /// ours.
  std::string text;
};

holder_info parse_holder(const std::string& value) {
  holder_info h;
  auto doc = json::parse(value, nullptr, false);
  if (doc.is_object() && doc.value("host", json{}).is_string()
      && doc.value("pid", json{}).is_number_integer()) {
    h.host = doc["host"].get<std::string>();
    h.pid = doc["pid"].get<int64_t>();
    h.since = doc.value("since", millis_t{0});
    h.local = doc.value("local", std::string{});
    h.text = "host " + h.host + " pid " + std::to_string(h.pid) + ", since "
             + utc_text(h.since);
  } else {
    h.text = "'" + value.substr(0, 200) + "'";
  }
  return h;
}

} // namespace

std::vector<std::string> eviction_warnings(redis_connection& conn,
                                           const std::string& store) {
  // An evicting Redis may drop accepted events, leases or ledger entries.
  auto r = conn.raw({"CONFIG", "GET", "maxmemory-policy"}, "open");
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2)
    return {store
            + ": cannot read maxmemory-policy (CONFIG GET refused?); make "
              "sure it is noeviction"};
  auto policy = str_of(r->element[1]);
  if (policy == "noeviction")
    return {};
  auto m = conn.raw({"CONFIG", "GET", "maxmemory"}, "open");
  auto limit = m && m->type == REDIS_REPLY_ARRAY && m->elements >= 2
                 ? str_of(m->element[1])
                 : std::string{"?"};
  if (limit == "0")
    return {}; // No memory limit: nothing is evicted.
  return {store + ": maxmemory-policy is " + policy + " (maxmemory " + limit
          + "): Redis may evict onceflow keys and lose accepted events; set "
            "maxmemory-policy noeviction"};
}

redis_node_claim::redis_node_claim(redis_connection& conn, redis_keys& keys,
                                   std::string name, millis_t ttl)
  : conn_(conn),
    keys_(keys),
    name_(std::move(name)),
    key_(keys.key("node:") + name_),
    ttl_(ttl),
    local_(local_identity()) {
  // nop
}

std::pair<bool, std::string> redis_node_claim::swap(const std::string& from,
                                                    const std::string& to) {
  auto r = conn_.raw({"EVAL", node_name_script(), "1", key_, from, to,
                      std::to_string(ttl_)},
                     "node name");
  if (r->type == REDIS_REPLY_ERROR)
    keys_.fail_reply(r.get(), "node name", {});
  if (r->type == REDIS_REPLY_INTEGER)
    return {r->integer == 1, {}};
  return {false, str_of(r.get())};
}

void redis_node_claim::refuse(const std::string& holder, const char* what,
                              const std::string& note) {
  throw store_error("node name '" + name_ + "' " + what + " (" + holder + note
                      + "); give each node its own [node] name",
                    store_error::kind::refused);
}

void redis_node_claim::claim() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  took_over_.clear();
  value_ = json{
    {"host", host_name()},
    {"pid", static_cast<int64_t>(::getpid())},
    {"since", wall_now()},
    {"instance", std::to_string(rng())},
    {"local",
     local_}}.dump();
  // The holder being watched, and its last PTTL.
  std::string watched;
  int64_t last_ttl = 0;
  int64_t watch_until = 0;
  // A bound for a key that changes hands all the time.
  auto give_up = steady_ms() + 3 * ttl_ + 1000;
  std::string last_holder;
  for (;;) {
    if (!last_holder.empty() && steady_ms() > give_up)
      refuse(last_holder, "is held by a live node");
    auto [done, other] = swap("", value_);
    if (done)
      return;
    if (other.empty())
      continue; // Gone meanwhile.
    auto h = parse_holder(other);
    last_holder = h.text;
    if (!local_.empty() && h.local == local_
        && (h.pid == ::getpid() || !pid_alive(h.pid))) {
      // Its process is gone (a restart after kill -9): at once.
      if (swap(other, value_).first) {
        took_over_ = h.text;
        return;
      }
      continue;
    }
    auto r = conn_.raw({"PTTL", key_}, "node name");
    auto left = int_of(r.get());
    if (left == -2)
      continue; // Lapsed meanwhile.
    if (left == -1)
      refuse(h.text, "is held by a live node",
             "; key '" + key_ + "' has no TTL: delete it if no such node runs");
    auto now = steady_ms();
    if (other != watched) {
      watched = other;
      watch_until = now + ttl_ + 1000;
    } else if (left > last_ttl) {
      refuse(h.text, "is held by a live node"); // It renewed its claim.
    }
    last_ttl = left;
    if (now > watch_until)
      refuse(h.text, "is held by a live node");
    std::this_thread::sleep_for(std::chrono::milliseconds(
      std::min<millis_t>(200, std::max<millis_t>(ttl_ / 20, 10))));
  }
}

void redis_node_claim::renew() {
  auto [done, other] = swap("", value_);
  if (!done)
    refuse(other.empty() ? std::string{"?"} : parse_holder(other).text,
           "was taken over by another node while this one could not renew "
           "its claim");
}

void redis_node_claim::release() noexcept {
  if (value_.empty())
    return;
  try {
    swap(value_, "");
  } catch (...) {
    // The claim lapses on its own.
  }
}

} // namespace onceflow
