#include "tests/integration/contract/backends.hpp"

#include "adapters/embedded/sqlite_store.hpp"
#include "tests/support/temp_dir.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace onceflow::test {

namespace {

/// A factory for a fresh deployment (its own key prefix) on the shared
/// server.
std::function<store_ptr(const std::string&)> make_redis_deployment() {
  auto prefix = unique_prefix("contract");
  return [prefix](const std::string& node) {
    return open_store(shared_server().url(), prefix, node);
  };
}

/// SQLite, private in-memory database (not persistent).
class sqlite_memory_backend : public backend {
public:
  store_ptr open() override {
    sqlite_options opts;
    opts.node = node;
    return make_sqlite_store(opts);
  }
};

/// SQLite file in a fresh temporary directory.
class sqlite_file_backend : public backend {
public:
  store_ptr open() override {
    sqlite_options opts;
    opts.path = (dir_.path() / "store.db").string();
    opts.synchronous = "normal";
    opts.node = node;
    return make_sqlite_store(opts);
  }

private:
  temp_dir dir_{"onceflow-store"};
};

/// Redis: each backend is one deployment (key prefix) on the shared server.
class redis_backend : public backend {
public:
  store_ptr open() override {
    return open_(node);
  }

  millis_t taken_hold() const override {
    // No group has a hold of its own (redis_options::take_holds).
    return redis_options::default_take_hold_ms;
  }

private:
  std::function<store_ptr(const std::string&)> open_ = make_redis_deployment();
};

} // namespace

const std::vector<backend_entry>& backends() {
  static const std::vector<backend_entry> all = [] {
    std::vector<backend_entry> xs{
      {"sqlite-memory", false,
       [] {
         return std::make_unique<sqlite_memory_backend>();
       }},
      {"sqlite-file", true,
       [] {
         return std::make_unique<sqlite_file_backend>();
       }},
      // Redis and MongoDB adapters add their entries here.
    };
    if (redis_backend_available())
      xs.push_back({"redis", true, [] {
                      return std::make_unique<redis_backend>();
                    }});
    return xs;
  }();
  return all;
}

std::vector<std::string> backend_names(bool persistent_only) {
  std::vector<std::string> out;
  for (auto& b : backends())
    if (b.persistent || !persistent_only)
      out.push_back(b.name);
  return out;
}

// -- helpers -----------------------------------------------------------------

event make_event(const std::string& id, const std::string& type, millis_t now) {
  event ev;
  ev.id = id;
  ev.type = type;
  ev.payload = R"({"id":")" + id + R"("})";
  ev.prio = priority::high;
  ev.created_at = now;
  ev.trace_id = "trace-" + id;
  return ev;
}

event add(store& s, const std::string& id, const std::string& type,
          millis_t now, millis_t window) {
  std::vector<event> batch{make_event(id, type, now)};
  auto res = s.append(batch, now, window);
  BOOST_REQUIRE_EQUAL(res.size(), 1u);
  BOOST_REQUIRE_MESSAGE(!res[0].duplicate, id << " was a duplicate");
  BOOST_REQUIRE_EQUAL(res[0].seq, batch[0].seq);
  return batch[0];
}

std::string ids_of(const std::vector<event>& evs) {
  std::string out;
  for (auto& ev : evs)
    out += (out.empty() ? "" : ",") + ev.id;
  return out;
}

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : ",") + x;
  return out;
}

claim_decision claim_one(store& s, const std::string& group, const event& ev,
                         const std::string& holder, millis_t now, millis_t ttl,
                         uint32_t budget) {
  auto res = s.claim({claim_request{group, ev.id, ev.seq}}, holder, now, ttl,
                     budget);
  BOOST_REQUIRE_EQUAL(res.size(), 1u);
  return res[0];
}

uint64_t lease(store& s, const std::string& group, const event& ev,
               millis_t now, millis_t ttl) {
  auto d = claim_one(s, group, ev, holder_a, now, ttl);
  BOOST_REQUIRE_EQUAL(static_cast<int>(d.kind),
                      static_cast<int>(claim_decision::granted));
  BOOST_REQUIRE_GT(d.epoch, 0u);
  return d.epoch;
}

delivery make_delivery(const event& ev, const std::string& group,
                       uint64_t epoch, uint32_t attempt) {
  delivery dl;
  dl.ev = ev;
  dl.group = group;
  dl.attempt = attempt;
  dl.epoch = epoch;
  return dl;
}

attempt_record make_attempt(uint32_t n, millis_t at, uint64_t epoch,
                            outcome result, const std::string& error) {
  attempt_record a;
  a.attempt = n;
  a.at = at;
  a.node = "node-a";
  a.listener = "listener-1";
  a.epoch = epoch;
  a.result = result;
  a.error = error;
  return a;
}

settlement done_of(const delivery& dl, bool record_effect) {
  settlement st;
  st.kind = settle_kind::done;
  st.dl = dl;
  st.record_effect = record_effect;
  return st;
}

settlement retry_of(const delivery& dl, millis_t due) {
  settlement st;
  st.kind = settle_kind::retry;
  st.dl = dl;
  st.due = due;
  return st;
}

settlement dead_of(const delivery& dl, dlq_reason reason,
                   const std::string& error) {
  settlement st;
  st.kind = settle_kind::dead;
  st.dl = dl;
  st.reason = reason;
  st.error = error;
  return st;
}

settlement release_of(const delivery& dl) {
  settlement st;
  st.kind = settle_kind::release;
  st.dl = dl;
  return st;
}

fence_decision settle_one(store& s, const settlement& st, millis_t now) {
  auto res = s.settle({st}, now);
  BOOST_REQUIRE_EQUAL(res.size(), 1u);
  return res[0];
}

void process(store& s, const std::string& group, const event& ev, millis_t now,
             bool record_effect) {
  auto epoch = lease(s, group, ev, now);
  auto d = settle_one(
    s, done_of(make_delivery(ev, group, epoch), record_effect), now);
  BOOST_REQUIRE(d == fence_decision::ok);
}

std::map<std::string, event_status> status_map(store& s,
                                               const std::string& id) {
  std::map<std::string, event_status> out;
  for (auto& gs : s.status_of(id)) {
    BOOST_CHECK_MESSAGE(out.count(gs.group) == 0,
                        "group " << gs.group << " listed twice");
    out[gs.group] = gs.status;
  }
  return out;
}

std::string statuses(store& s, const std::string& id) {
  std::string out;
  for (auto& kv : status_map(s, id)) {
    if (!out.empty())
      out += ' ';
    out += kv.first;
    out += ':';
    out += to_string(kv.second);
  }
  return out;
}

std::map<std::string, group_history> history_map(store& s,
                                                 const std::string& id) {
  std::map<std::string, group_history> out;
  for (auto& gh : s.history_of(id)) {
    BOOST_CHECK_MESSAGE(out.count(gh.group) == 0,
                        "group " << gh.group << " listed twice");
    out[gh.group] = gh;
  }
  auto st = status_map(s, id);
  BOOST_CHECK_EQUAL(out.size(), st.size());
  for (auto& kv : st) {
    BOOST_TEST_CONTEXT("group " << kv.first) {
      BOOST_REQUIRE(out.count(kv.first) == 1);
      BOOST_CHECK_EQUAL(out[kv.first].status, kv.second);
    }
  }
  return out;
}

group_history history_in(store& s, const std::string& id,
                         const std::string& group) {
  auto hs = history_map(s, id);
  BOOST_REQUIRE_MESSAGE(hs.count(group) == 1,
                        id << " has no history entry for " << group);
  return hs[group];
}

std::string items_of(const event_listing& l) {
  std::string out;
  for (auto& it : l.items)
    out += (out.empty() ? "" : ",") + it.event_id + "@" + it.group;
  return out;
}

event_listing_query listing(event_status st, const std::string& group,
                            uint64_t after, size_t limit) {
  event_listing_query q;
  q.status = st;
  q.group = group;
  q.after = after;
  q.limit = limit;
  return q;
}

std::string items_of(const std::vector<event_listing_item>& xs) {
  event_listing l;
  l.items = xs;
  return items_of(l);
}

// -- Redis -------------------------------------------------------------------

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

bool skip_redis_tests() {
  if (redis_backend_available())
    return false;
  BOOST_TEST_MESSAGE("skipped: redis-server is not on PATH");
  return true;
}

redis_server& shared_server() {
  static std::unique_ptr<redis_server> server
    = std::make_unique<redis_server>();
  return *server;
}

std::string unique_prefix(const std::string& tag) {
  static std::atomic<int> counter{0};
  return "t" + std::to_string(::getpid()) + "-" + tag + "-"
         + std::to_string(++counter) + ":";
}

store_ptr open_store(const std::string& url, const std::string& prefix,
                     const std::string& node) {
  redis_options opts;
  opts.url = url;
  opts.prefix = prefix;
  opts.consumer = node;
  opts.connect_timeout_ms = 1000;
  opts.command_timeout_ms = 10'000;
  return make_redis_store(opts);
}

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

event make_event(const std::string& id, const std::string& type) {
  auto ev = make_event(id, type, t0);
  ev.prio = event{}.prio;
  return ev;
}

std::vector<event> append_numbered(store& s, const std::string& prefix, int n) {
  std::vector<event> batch;
  for (int i = 0; i < n; ++i)
    batch.push_back(make_event(prefix + std::to_string(i), "t"));
  s.append(batch, t0, 60'000);
  return batch;
}

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

} // namespace onceflow::test
