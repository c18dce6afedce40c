#define BOOST_TEST_MODULE store_contract

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "adapters/embedded/sqlite_store.hpp"
#include "adapters/ports.hpp"
#include "tests/support/print.hpp"
#include "tests/support/temp_dir.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

/// The store contract: every store adapter must pass every test case here.
/// Each case runs once per backend in `backends()`; cases that need data to
/// survive a reopen run only on persistent backends. To add an adapter, add
/// a `backend` subclass and an entry to `backends()`.

/// Defined in store_contract_redis.cpp: true if redis-server is on PATH
/// (prints why the Redis backend is skipped otherwise), and a factory for a
/// fresh deployment (its own key prefix) on the shared test redis-server.
bool redis_backend_available();
std::function<onceflow::store_ptr()> make_redis_deployment();

namespace bdata = boost::unit_test::data;
namespace fs = std::filesystem;

using namespace onceflow;
using namespace onceflow::test;

namespace {

// -- backends ----------------------------------------------------------------

/// One backend under test. Each `open` opens a store over the same data
/// (for persistent backends, what earlier stores wrote).
class backend {
public:
  virtual ~backend() = default;

  virtual store_ptr open() = 0;

  /// How long a retry handed out by take_due stays taken before it is
  /// handed out again while unsettled (ports.hpp, take_due); -1: until it
  /// is settled or the store reopened.
  virtual millis_t taken_hold() const {
    return -1;
  }
};

/// SQLite, private in-memory database (not persistent).
class sqlite_memory_backend : public backend {
public:
  store_ptr open() override {
    return make_sqlite_store(sqlite_options{});
  }
};

/// SQLite file in a fresh temporary directory.
class sqlite_file_backend : public backend {
public:
  store_ptr open() override {
    sqlite_options opts;
    opts.path = (dir_.path() / "store.db").string();
    opts.synchronous = "normal";
    return make_sqlite_store(opts);
  }

private:
  temp_dir dir_{"onceflow-store"};
};

/// Redis: each backend is one deployment (key prefix) on the shared server.
class redis_backend : public backend {
public:
  store_ptr open() override {
    return open_();
  }

  millis_t taken_hold() const override {
    return 60'000;
  }

private:
  std::function<store_ptr()> open_ = make_redis_deployment();
};

struct backend_entry {
  std::string name;
  /// True if a reopened store sees what earlier stores wrote.
  bool persistent;
  std::function<std::unique_ptr<backend>()> make;
};

const std::vector<backend_entry>& backends() {
  static const std::vector<backend_entry> all = [] {
    std::vector<backend_entry> xs{
      {"sqlite-memory", false,
       [] { return std::make_unique<sqlite_memory_backend>(); }},
      {"sqlite-file", true,
       [] { return std::make_unique<sqlite_file_backend>(); }},
      // Redis and MongoDB adapters add their entries here.
    };
    if (redis_backend_available())
      xs.push_back({"redis", true,
                    [] { return std::make_unique<redis_backend>(); }});
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

const auto all_backends = backend_names(false);
const auto persistent_backends = backend_names(true);

/// A store under test plus the backend to reopen it from.
struct harness {
  explicit harness(const std::string& name) {
    for (auto& b : backends())
      if (b.name == name)
        be = b.make();
    BOOST_REQUIRE_MESSAGE(be != nullptr, "unknown backend " << name);
    s = be->open();
  }

  /// Closes the store and opens a new one over the same data.
  void reopen() {
    s.reset();
    s = be->open();
  }

  std::unique_ptr<backend> be;
  store_ptr s;
};

// -- helpers -----------------------------------------------------------------

constexpr millis_t t0 = 1'700'000'000'000;
constexpr millis_t minute = 60'000;
const std::string holder_a = "node-a/listener-1";
const std::string holder_b = "node-b/listener-1";

event make_event(const std::string& id, const std::string& type,
                 millis_t now) {
  event ev;
  ev.id = id;
  ev.type = type;
  ev.payload = R"({"id":")" + id + R"("})";
  ev.prio = priority::high;
  ev.created_at = now;
  ev.trace_id = "trace-" + id;
  return ev;
}

/// Appends one event that must be accepted; returns it with its seq.
event add(store& s, const std::string& id, const std::string& type,
          millis_t now, millis_t window = minute) {
  std::vector<event> batch{make_event(id, type, now)};
  auto res = s.append(batch, now, window);
  BOOST_REQUIRE_EQUAL(res.size(), 1u);
  BOOST_REQUIRE_MESSAGE(!res[0].duplicate, id << " was a duplicate");
  BOOST_REQUIRE_EQUAL(res[0].seq, batch[0].seq);
  return batch[0];
}

/// Ids of the events, comma-separated: "a,b,c".
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
                         const std::string& holder, millis_t now,
                         millis_t ttl = 1000, uint32_t budget = 3) {
  auto res = s.claim({claim_request{group, ev.id, ev.seq}}, holder, now, ttl,
                     budget);
  BOOST_REQUIRE_EQUAL(res.size(), 1u);
  return res[0];
}

/// Claims for `holder_a`; the lease must be granted. Returns the epoch.
uint64_t lease(store& s, const std::string& group, const event& ev,
               millis_t now, millis_t ttl = 1000) {
  auto d = claim_one(s, group, ev, holder_a, now, ttl);
  BOOST_REQUIRE_EQUAL(static_cast<int>(d.kind),
                      static_cast<int>(claim_decision::granted));
  BOOST_REQUIRE_GT(d.epoch, 0u);
  return d.epoch;
}

delivery make_delivery(const event& ev, const std::string& group,
                       uint64_t epoch, uint32_t attempt = 1) {
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

settlement done_of(const delivery& dl, bool record_effect = false) {
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

/// Claims and settles `done`; the commit must succeed.
void process(store& s, const std::string& group, const event& ev,
             millis_t now, bool record_effect = false) {
  auto epoch = lease(s, group, ev, now);
  auto d = settle_one(s, done_of(make_delivery(ev, group, epoch),
                                 record_effect), now);
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

/// "group:status ..." of the event, ordered by group.
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

} // namespace


BOOST_AUTO_TEST_SUITE(log_contract)

BOOST_DATA_TEST_CASE(append_assigns_increasing_seqs, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  BOOST_CHECK_EQUAL(s.head(), 0u);
  std::vector<event> batch{make_event("a", "order.created", t0),
                           make_event("b", "order.paid", t0),
                           make_event("c", "user.created", t0)};
  auto res = s.append(batch, t0, minute);
  BOOST_REQUIRE_EQUAL(res.size(), 3u);
  uint64_t prev = 0;
  for (size_t i = 0; i < res.size(); ++i) {
    BOOST_TEST_CONTEXT("event " << i) {
      BOOST_CHECK(!res[i].duplicate);
      BOOST_CHECK_EQUAL(res[i].id, batch[i].id);
      BOOST_CHECK_GT(res[i].seq, prev);
      BOOST_CHECK_EQUAL(batch[i].seq, res[i].seq);
      prev = res[i].seq;
    }
  }
  BOOST_CHECK_EQUAL(s.head(), prev);
  auto b = s.find("b");
  BOOST_CHECK_EQUAL(b.seq, res[1].seq);
  BOOST_CHECK_EQUAL(b.id, "b");
  BOOST_CHECK_EQUAL(b.type, "order.paid");
  BOOST_CHECK_EQUAL(b.payload, batch[1].payload);
  BOOST_CHECK(b.prio == priority::high);
  BOOST_CHECK_EQUAL(b.created_at, t0);
  BOOST_CHECK_EQUAL(b.trace_id, "trace-b");
  BOOST_CHECK_EQUAL(s.find("nope").seq, 0u);
  // A later batch continues after the head; an empty batch appends nothing.
  auto d = add(s, "d", "order.created", t0 + 1);
  BOOST_CHECK_GT(d.seq, prev);
  BOOST_CHECK_EQUAL(s.head(), d.seq);
  std::vector<event> none;
  BOOST_CHECK(s.append(none, t0 + 2, minute).empty());
  BOOST_CHECK_EQUAL(s.head(), d.seq);
}

BOOST_DATA_TEST_CASE(duplicate_within_window, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  auto a = add(s, "a", "order.created", t0, 1000);
  std::vector<event> batch{make_event("a", "order.created", t0 + 999),
                           make_event("b", "order.created", t0 + 999),
                           make_event("b", "order.paid", t0 + 999)};
  batch[0].payload = R"({"second":true})";
  auto res = s.append(batch, t0 + 999, 1000);
  BOOST_REQUIRE_EQUAL(res.size(), 3u);
  BOOST_CHECK(res[0].duplicate);
  BOOST_CHECK_EQUAL(res[0].id, "a");
  BOOST_CHECK_EQUAL(res[0].seq, a.seq);
  BOOST_CHECK_EQUAL(res[0].original, event_status::accepted);
  BOOST_CHECK(!res[1].duplicate);
  BOOST_CHECK_GT(res[1].seq, a.seq);
  // Duplicate of an event accepted earlier in the same batch.
  BOOST_CHECK(res[2].duplicate);
  BOOST_CHECK_EQUAL(res[2].seq, res[1].seq);
  BOOST_CHECK_EQUAL(res[2].original, event_status::accepted);
  BOOST_CHECK_EQUAL(s.head(), res[1].seq);
  // The original is kept unchanged.
  BOOST_CHECK_EQUAL(s.find("a").payload, a.payload);
  BOOST_CHECK_EQUAL(s.find("b").type, "order.created");
}

BOOST_DATA_TEST_CASE(same_id_after_window_is_new, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  auto a = add(s, "a", "order.created", t0, 1000);
  std::vector<event> batch{make_event("a", "order.paid", t0 + 1000)};
  auto res = s.append(batch, t0 + 1000, 1000);
  BOOST_REQUIRE_EQUAL(res.size(), 1u);
  BOOST_CHECK(!res[0].duplicate);
  BOOST_CHECK_GT(res[0].seq, a.seq);
  auto found = s.find("a");
  BOOST_CHECK_EQUAL(found.seq, res[0].seq);
  BOOST_CHECK_EQUAL(found.type, "order.paid");
  // The new acceptance starts a new window.
  std::vector<event> again{make_event("a", "order.paid", t0 + 1500)};
  auto res2 = s.append(again, t0 + 1500, 1000);
  BOOST_CHECK(res2[0].duplicate);
  BOOST_CHECK_EQUAL(res2[0].seq, res[0].seq);
}

BOOST_DATA_TEST_CASE(ensure_group_starts_at_head, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  add(s, "x1", "order.created", t0);
  add(s, "x2", "order.created", t0);
  s.ensure_group({"g", {"*"}});
  BOOST_CHECK(s.read_group("g", 10, t0).empty());
  BOOST_CHECK_EQUAL(s.backlog("g"), 0u);
  add(s, "x3", "order.created", t0);
  BOOST_CHECK_EQUAL(s.backlog("g"), 1u);
  BOOST_CHECK_EQUAL(ids_of(s.read_group("g", 10, t0)), "x3");
  // Ensuring again updates the patterns and keeps the position.
  s.ensure_group({"g", {"order.*"}});
  BOOST_CHECK(s.read_group("g", 10, t0).empty());
  add(s, "x4", "user.created", t0);
  add(s, "x5", "order.paid", t0);
  BOOST_CHECK_EQUAL(ids_of(s.read_group("g", 10, t0)), "x5");
}

BOOST_DATA_TEST_CASE(read_group_in_order_with_patterns,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"orders", {"order.*"}});
  s.ensure_group({"created", {"*.created", "audit"}});
  add(s, "o1", "order.created", t0);
  add(s, "u1", "user.created", t0);
  add(s, "o2", "order.paid", t0);
  add(s, "u2", "user.deleted", t0);
  add(s, "a1", "audit", t0);
  add(s, "o3", "order.created", t0);
  BOOST_CHECK_EQUAL(s.backlog("orders"), 3u);
  BOOST_CHECK_EQUAL(s.backlog("created"), 4u);
  auto first = s.read_group("orders", 2, t0);
  BOOST_CHECK_EQUAL(ids_of(first), "o1,o2");
  BOOST_REQUIRE_EQUAL(first.size(), 2u);
  BOOST_CHECK_LT(first[0].seq, first[1].seq);
  BOOST_CHECK_EQUAL(first[0].payload, R"({"id":"o1"})");
  BOOST_CHECK_EQUAL(first[0].trace_id, "trace-o1");
  BOOST_CHECK_EQUAL(ids_of(s.read_group("orders", 10, t0)), "o3");
  BOOST_CHECK_EQUAL(ids_of(s.read_group("created", 10, t0)),
                    "o1,u1,a1,o3");
  BOOST_CHECK(s.read_group("orders", 0, t0).empty());
}

BOOST_DATA_TEST_CASE(read_group_never_delivers_twice,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  for (int i = 0; i < 5; ++i)
    add(s, "e" + std::to_string(i), "t", t0);
  std::set<std::string> seen;
  for (int round = 0; round < 5; ++round)
    for (auto& ev : s.read_group("g", 2, t0 + round)) {
      BOOST_CHECK_MESSAGE(seen.insert(ev.id).second, ev.id << " twice");
    }
  BOOST_CHECK_EQUAL(seen.size(), 5u);
  auto e0 = s.find("e0");
  auto e1 = s.find("e1");
  // Neither a release nor a settlement makes an entry readable again.
  auto ep = lease(s, "g", e0, t0);
  BOOST_CHECK_EQUAL(settle_one(s, release_of(make_delivery(e0, "g", ep)), t0),
                    fence_decision::ok);
  process(s, "g", e1, t0);
  BOOST_CHECK(s.read_group("g", 10, t0 + 10).empty());
  add(s, "e5", "t", t0);
  BOOST_CHECK_EQUAL(ids_of(s.read_group("g", 10, t0 + 10)), "e5");
}

BOOST_DATA_TEST_CASE(reclaim_by_idle_time, bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  add(s, "e1", "t", t0);
  add(s, "e2", "t", t0);
  add(s, "e3", "t", t0);
  BOOST_CHECK_EQUAL(s.read_group("g", 2, t0).size(), 2u);
  BOOST_CHECK_EQUAL(s.read_group("g", 2, t0 + 40).size(), 1u);
  BOOST_CHECK(s.reclaim("g", t0 + 99, 100, 10).empty());
  BOOST_CHECK_EQUAL(ids_of(s.reclaim("g", t0 + 100, 100, 10)),
                    "e1,e2");
  // Reclaimed entries count as delivered now.
  BOOST_CHECK(s.reclaim("g", t0 + 100, 100, 10).empty());
  BOOST_CHECK_EQUAL(ids_of(s.reclaim("g", t0 + 140, 100, 10)), "e3");
  BOOST_CHECK_EQUAL(ids_of(s.reclaim("g", t0 + 200, 100, 1)), "e1");
  // Settled entries are no longer pending.
  process(s, "g", s.find("e1"), t0 + 300);
  process(s, "g", s.find("e2"), t0 + 300);
  auto rest = s.reclaim("g", t0 + 10'000, 0, 10);
  BOOST_CHECK_EQUAL(ids_of(rest), "e3");
  BOOST_REQUIRE_EQUAL(rest.size(), 1u);
  BOOST_CHECK_EQUAL(rest[0].seq, s.find("e3").seq);
  BOOST_CHECK_EQUAL(rest[0].type, "t");
}

BOOST_DATA_TEST_CASE(backlog_counts_unsettled, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"order.*"}});
  std::vector<event> evs;
  for (int i = 0; i < 5; ++i) {
    evs.push_back(add(s, "o" + std::to_string(i), "order.created", t0));
    add(s, "u" + std::to_string(i), "user.created", t0);
  }
  BOOST_CHECK_EQUAL(s.backlog("g"), 5u);
  BOOST_CHECK_EQUAL(s.read_group("g", 2, t0).size(), 2u);
  BOOST_CHECK_EQUAL(s.backlog("g"), 5u);
  process(s, "g", evs[0], t0);
  BOOST_CHECK_EQUAL(s.backlog("g"), 4u);
  auto ep = lease(s, "g", evs[1], t0);
  BOOST_CHECK_EQUAL(
    settle_one(s, retry_of(make_delivery(evs[1], "g", ep), t0 + 100), t0),
    fence_decision::ok);
  BOOST_CHECK_EQUAL(s.backlog("g"), 3u);
  BOOST_CHECK_EQUAL(s.read_group("g", 10, t0).size(), 3u);
  BOOST_CHECK_EQUAL(s.backlog("g"), 3u);
  ep = lease(s, "g", evs[2], t0);
  BOOST_CHECK_EQUAL(
    settle_one(s, release_of(make_delivery(evs[2], "g", ep)), t0),
    fence_decision::ok);
  BOOST_CHECK_EQUAL(s.backlog("g"), 3u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(lease_contract)

BOOST_DATA_TEST_CASE(claim_decisions, bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e = add(s, "e", "t", t0);
  auto f = add(s, "f", "t", t0);
  s.read_group("g", 10, t0);
  auto d1 = claim_one(s, "g", e, holder_a, t0, 1000, 1);
  BOOST_CHECK_EQUAL(d1.kind, claim_decision::granted);
  BOOST_CHECK_GT(d1.epoch, 0u);
  BOOST_CHECK_EQUAL(d1.expires_at, t0 + 1000);
  BOOST_CHECK_EQUAL(d1.redeliveries, 0u);
  auto d2 = claim_one(s, "g", e, holder_b, t0 + 999, 1000, 1);
  BOOST_CHECK_EQUAL(d2.kind, claim_decision::held);
  BOOST_CHECK_EQUAL(d2.epoch, d1.epoch);
  BOOST_CHECK_EQUAL(d2.expires_at, t0 + 1000);
  // The lease expired without a completion: a crash redelivery.
  auto d3 = claim_one(s, "g", e, holder_b, t0 + 1000, 1000, 1);
  BOOST_CHECK_EQUAL(d3.kind, claim_decision::granted);
  BOOST_CHECK_GT(d3.epoch, d1.epoch);
  BOOST_CHECK_EQUAL(d3.expires_at, t0 + 2000);
  BOOST_CHECK_EQUAL(d3.redeliveries, 1u);
  auto d4 = claim_one(s, "g", e, holder_a, t0 + 2000, 1000, 1);
  BOOST_CHECK_EQUAL(d4.kind, claim_decision::crash_loop);
  BOOST_CHECK_EQUAL(d4.redeliveries, 2u);
  // Other pairs get fresh, larger epochs; a batch gets increasing ones.
  auto d5 = claim_one(s, "g", f, holder_a, t0 + 2000);
  BOOST_CHECK_EQUAL(d5.kind, claim_decision::granted);
  BOOST_CHECK_GT(d5.epoch, d3.epoch);
  auto g1 = add(s, "g1", "t", t0);
  auto g2 = add(s, "g2", "t", t0);
  auto batch = s.claim({{"g", "g1", g1.seq}, {"g", "g2", g2.seq}}, holder_a,
                       t0 + 2000, 1000, 3);
  BOOST_REQUIRE_EQUAL(batch.size(), 2u);
  BOOST_CHECK_EQUAL(batch[0].kind, claim_decision::granted);
  BOOST_CHECK_EQUAL(batch[1].kind, claim_decision::granted);
  BOOST_CHECK_GT(batch[0].epoch, d5.epoch);
  BOOST_CHECK_GT(batch[1].epoch, batch[0].epoch);
  // Done comes from the ledger.
  BOOST_CHECK(!s.is_done("g", f.seq));
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(f, "g", d5.epoch)),
                               t0 + 2001),
                    fence_decision::ok);
  BOOST_CHECK(s.is_done("g", f.seq));
  BOOST_CHECK(!s.is_done("other", f.seq));
  BOOST_CHECK_EQUAL(claim_one(s, "g", f, holder_b, t0 + 2002).kind,
                    claim_decision::done);
}

/// Ids of the deliveries, comma-separated.
std::string delivered_ids(const std::vector<delivery>& dls) {
  std::string out;
  for (auto& dl : dls)
    out += (out.empty() ? "" : ",") + dl.ev.id;
  return out;
}

BOOST_DATA_TEST_CASE(read_leased_leases_what_it_delivers,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"order.*"}});
  s.ensure_group({"all", {"*"}});
  auto o1 = add(s, "o1", "order.created", t0);
  add(s, "u1", "user.created", t0);
  auto o2 = add(s, "o2", "order.paid", t0);
  auto got = s.read_leased("g", 10, t0, holder_a, 1000, 3);
  BOOST_CHECK_EQUAL(delivered_ids(got), "o1,o2");
  BOOST_REQUIRE_EQUAL(got.size(), 2u);
  for (auto& dl : got) {
    BOOST_CHECK_EQUAL(dl.group, "g");
    BOOST_CHECK_GT(dl.epoch, 0u);
    BOOST_CHECK_EQUAL(dl.lease_until, t0 + 1000);
    BOOST_CHECK_EQUAL(dl.redeliveries, 0u);
    BOOST_CHECK_EQUAL(dl.attempt, 1u);
  }
  BOOST_CHECK_EQUAL(got[0].ev.seq, o1.seq);
  BOOST_CHECK_EQUAL(got[0].ev.payload, o1.payload);
  BOOST_CHECK_EQUAL(got[0].ev.trace_id, o1.trace_id);
  BOOST_CHECK_NE(got[0].epoch, got[1].epoch);
  // Never delivered twice, leased or not.
  BOOST_CHECK(s.read_leased("g", 10, t0 + 1, holder_a, 1000, 3).empty());
  BOOST_CHECK(s.read_group("g", 10, t0 + 1).empty());
  // The lease is a claim's: others are held off, it fences settlements.
  auto held = claim_one(s, "g", o1, holder_b, t0 + 999);
  BOOST_CHECK_EQUAL(held.kind, claim_decision::held);
  BOOST_CHECK_EQUAL(held.epoch, got[0].epoch);
  BOOST_CHECK_EQUAL(held.expires_at, t0 + 1000);
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(o1, "g", got[0].epoch
                                                                 + 1000)),
                               t0 + 10),
                    fence_decision::stale);
  BOOST_CHECK_EQUAL(
    settle_one(s, done_of(make_delivery(o1, "g", got[0].epoch)), t0 + 10),
    fence_decision::ok);
  BOOST_CHECK(s.is_done("g", o1.seq));
  // Left to expire, it counts as a crash redelivery like any lease.
  auto after = claim_one(s, "g", o2, holder_b, t0 + 1000);
  BOOST_CHECK_EQUAL(after.kind, claim_decision::granted);
  BOOST_CHECK_EQUAL(after.redeliveries, 1u);
  BOOST_CHECK_GT(after.epoch, got[1].epoch);
  // The entries stay pending until settled.
  BOOST_CHECK_EQUAL(ids_of(s.reclaim("g", t0 + 10'000, 100, 10)), "o2");
  // A group taking every type leases every entry; plain reads lease none.
  auto every = s.read_leased("all", 2, t0, holder_a, 500, 3);
  BOOST_CHECK_EQUAL(delivered_ids(every), "o1,u1");
  for (auto& dl : every)
    BOOST_CHECK_EQUAL(dl.lease_until, t0 + 500);
  auto plain = s.read_group("all", 10, t0);
  BOOST_CHECK_EQUAL(ids_of(plain), "o2");
  BOOST_CHECK_EQUAL(claim_one(s, "all", o2, holder_b, t0).kind,
                    claim_decision::granted);
}

BOOST_DATA_TEST_CASE(takeover_replaces_a_read_lease_without_redelivery,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e1 = add(s, "e1", "t", t0);
  auto e2 = add(s, "e2", "t", t0);
  auto e3 = add(s, "e3", "t", t0);
  auto e4 = add(s, "e4", "t", t0);
  auto got = s.read_leased("g", 10, t0, "node/g/read", 1000, 3);
  BOOST_REQUIRE_EQUAL(got.size(), 4u);
  auto take = [&](const event& ev, uint64_t epoch, millis_t now) {
    auto ds = s.claim({claim_request{"g", ev.id, ev.seq, epoch}}, holder_b,
                      now, 1000, 3);
    BOOST_REQUIRE_EQUAL(ds.size(), 1u);
    return ds[0];
  };
  // Live: replaced by a new lease; the read's epoch is fenced off.
  auto d1 = take(e1, got[0].epoch, t0 + 10);
  BOOST_CHECK_EQUAL(d1.kind, claim_decision::granted);
  BOOST_CHECK_GT(d1.epoch, got[3].epoch);
  BOOST_CHECK_EQUAL(d1.expires_at, t0 + 1010);
  BOOST_CHECK_EQUAL(d1.redeliveries, 0u);
  BOOST_CHECK_EQUAL(
    settle_one(s, done_of(make_delivery(e1, "g", got[0].epoch)), t0 + 20),
    fence_decision::stale);
  BOOST_CHECK_EQUAL(
    settle_one(s, done_of(make_delivery(e1, "g", d1.epoch)), t0 + 20),
    fence_decision::ok);
  // Expired: no crash redelivery either.
  auto d2 = take(e2, got[1].epoch, t0 + 5000);
  BOOST_CHECK_EQUAL(d2.kind, claim_decision::granted);
  BOOST_CHECK_EQUAL(d2.redeliveries, 0u);
  // Another epoch is no takeover: held while live, counted once expired.
  BOOST_CHECK_EQUAL(take(e3, got[0].epoch, t0 + 10).kind,
                    claim_decision::held);
  auto d3 = take(e3, got[0].epoch, t0 + 1000);
  BOOST_CHECK_EQUAL(d3.kind, claim_decision::granted);
  BOOST_CHECK_EQUAL(d3.redeliveries, 1u);
  // Once another claim replaced the read's lease, the read's epoch takes
  // nothing over: the new holder's lease holds.
  BOOST_CHECK_EQUAL(take(e3, got[2].epoch, t0 + 1001).kind,
                    claim_decision::held);
  // A read's lease given back (release) is claimed without a redelivery.
  BOOST_CHECK_EQUAL(
    settle_one(s, release_of(make_delivery(e4, "g", got[3].epoch)), t0 + 5),
    fence_decision::ok);
  auto d4 = claim_one(s, "g", e4, holder_b, t0 + 6);
  BOOST_CHECK_EQUAL(d4.kind, claim_decision::granted);
  BOOST_CHECK_EQUAL(d4.redeliveries, 0u);
}

BOOST_DATA_TEST_CASE(settle_done_is_fenced_and_idempotent,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e = add(s, "e", "order.created", t0);
  s.read_group("g", 10, t0);
  // Never claimed: no lease.
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(e, "g", 7)), t0),
                    fence_decision::no_lease);
  auto ep1 = lease(s, "g", e, t0, 1000);
  // Lease expired at t0 + 1000.
  BOOST_CHECK_EQUAL(
    settle_one(s, done_of(make_delivery(e, "g", ep1), true), t0 + 1000),
    fence_decision::stale);
  BOOST_CHECK(!s.is_done("g", e.seq));
  auto d = claim_one(s, "g", e, holder_b, t0 + 1000);
  BOOST_REQUIRE_EQUAL(d.kind, claim_decision::granted);
  auto ep2 = d.epoch;
  BOOST_CHECK_GT(ep2, ep1);
  // Superseded epoch, lease still live.
  BOOST_CHECK_EQUAL(
    settle_one(s, done_of(make_delivery(e, "g", ep1), true), t0 + 1100),
    fence_decision::stale);
  BOOST_CHECK(!s.is_done("g", e.seq));
  BOOST_CHECK_EQUAL(s.processed_count("g"), 0u);
  BOOST_CHECK_EQUAL(
    settle_one(s, done_of(make_delivery(e, "g", ep2), true), t0 + 1100),
    fence_decision::ok);
  BOOST_CHECK(s.is_done("g", e.seq));
  BOOST_CHECK_EQUAL(s.processed_count("g"), 1u);
  // A second completion is refused and writes nothing.
  BOOST_CHECK(settle_one(s, done_of(make_delivery(e, "g", ep2), true),
                         t0 + 1101)
              != fence_decision::ok);
  BOOST_CHECK_EQUAL(s.processed_count("g"), 1u);
  BOOST_CHECK_EQUAL(claim_one(s, "g", e, holder_a, t0 + 1200).kind,
                    claim_decision::done);
  BOOST_CHECK_EQUAL(s.backlog("g"), 0u);
  BOOST_CHECK(s.reclaim("g", t0 + 100'000, 0, 10).empty());
}

BOOST_DATA_TEST_CASE(settle_batch_decides_per_item, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  std::vector<event> evs;
  for (int i = 0; i < 5; ++i)
    evs.push_back(add(s, "e" + std::to_string(i), "t", t0));
  s.read_group("g", 10, t0);
  std::vector<uint64_t> eps;
  for (int i = 0; i < 4; ++i)
    eps.push_back(lease(s, "g", evs[i], t0));
  auto res = s.settle(
    {done_of(make_delivery(evs[0], "g", eps[0]), true),
     retry_of(make_delivery(evs[1], "g", eps[1]), t0 + 50),
     dead_of(make_delivery(evs[2], "g", eps[2]), dlq_reason::permanent_error,
             "bad"),
     release_of(make_delivery(evs[3], "g", eps[3])),
     done_of(make_delivery(evs[4], "g", 12345), true),
     // The same pair again within the batch: already settled.
     done_of(make_delivery(evs[0], "g", eps[0]), true)},
    t0 + 10);
  BOOST_REQUIRE_EQUAL(res.size(), 6u);
  BOOST_CHECK_EQUAL(res[0], fence_decision::ok);
  BOOST_CHECK_EQUAL(res[1], fence_decision::ok);
  BOOST_CHECK_EQUAL(res[2], fence_decision::ok);
  BOOST_CHECK_EQUAL(res[3], fence_decision::ok);
  BOOST_CHECK_EQUAL(res[4], fence_decision::no_lease);
  BOOST_CHECK(res[5] != fence_decision::ok);
  BOOST_CHECK(s.is_done("g", evs[0].seq));
  BOOST_CHECK(!s.is_done("g", evs[4].seq));
  BOOST_CHECK_EQUAL(s.processed_of("e0").size(), 1u);
  BOOST_CHECK_EQUAL(s.scheduled(), 1u);
  BOOST_CHECK_EQUAL(s.dlq_size(), 1u);
  // Released and unsettled entries stay pending.
  BOOST_CHECK_EQUAL(ids_of(s.reclaim("g", t0 + 100'000, 0, 10)),
                    "e3,e4");
  // Within one batch, a pair's first settlement decides: a retry followed
  // by a done (or a done followed by a retry) commits only the first.
  auto f = add(s, "f", "t", t0);
  auto k = add(s, "k", "t", t0);
  s.read_group("g", 10, t0);
  auto epf = lease(s, "g", f, t0 + 20);
  auto epk = lease(s, "g", k, t0 + 20);
  auto res2 = s.settle({retry_of(make_delivery(f, "g", epf), t0 + 500),
                        done_of(make_delivery(f, "g", epf), true),
                        done_of(make_delivery(k, "g", epk), true),
                        retry_of(make_delivery(k, "g", epk), t0 + 500),
                        release_of(make_delivery(k, "g", epk))},
                       t0 + 21);
  BOOST_REQUIRE_EQUAL(res2.size(), 5u);
  BOOST_CHECK_EQUAL(res2[0], fence_decision::ok);
  BOOST_CHECK(res2[1] != fence_decision::ok);
  BOOST_CHECK_EQUAL(res2[2], fence_decision::ok);
  BOOST_CHECK(res2[3] != fence_decision::ok);
  BOOST_CHECK(res2[4] != fence_decision::ok);
  BOOST_CHECK(!s.is_done("g", f.seq));
  BOOST_CHECK(s.processed_of("f").empty());
  BOOST_CHECK(s.is_done("g", k.seq));
  BOOST_CHECK_EQUAL(s.processed_of("k").size(), 1u);
  BOOST_CHECK_EQUAL(s.scheduled(), 2u);
  BOOST_CHECK_EQUAL(statuses(s, "k"), "g:processed");
}

BOOST_DATA_TEST_CASE(release_keeps_entry_pending, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e = add(s, "e", "t", t0);
  s.read_group("g", 10, t0);
  auto ep1 = lease(s, "g", e, t0, 1000);
  BOOST_CHECK_EQUAL(settle_one(s, release_of(make_delivery(e, "g", ep1)),
                               t0 + 10),
                    fence_decision::ok);
  BOOST_CHECK_EQUAL(status_map(s, "e")["g"], event_status::in_flight);
  BOOST_CHECK_EQUAL(s.backlog("g"), 1u);
  BOOST_CHECK_EQUAL(ids_of(s.reclaim("g", t0 + 100, 100, 10)), "e");
  // Released: another holder gets it at once, with a new epoch.
  auto d = claim_one(s, "g", e, holder_b, t0 + 20);
  BOOST_CHECK_EQUAL(d.kind, claim_decision::granted);
  BOOST_CHECK_GT(d.epoch, ep1);
  BOOST_CHECK_EQUAL(d.redeliveries, 0u);
  BOOST_CHECK_EQUAL(settle_one(s, release_of(make_delivery(e, "g", ep1)),
                               t0 + 30),
                    fence_decision::stale);
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(e, "g", d.epoch)),
                               t0 + 30),
                    fence_decision::ok);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(retry_contract)

BOOST_DATA_TEST_CASE(retry_due_once_at_due_time, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e = add(s, "e", "order.created", t0);
  s.read_group("g", 10, t0);
  BOOST_CHECK_EQUAL(s.next_due(), -1);
  BOOST_CHECK_EQUAL(s.scheduled(), 0u);
  auto ep1 = lease(s, "g", e, t0);
  auto dl = make_delivery(e, "g", ep1, 1);
  dl.history.push_back(
    make_attempt(1, t0 + 5, ep1, outcome::retryable, "timeout"));
  // A stale retry is refused and schedules nothing.
  BOOST_CHECK_EQUAL(settle_one(s, retry_of(make_delivery(e, "g", ep1 + 99),
                                           t0 + 500),
                               t0 + 10),
                    fence_decision::stale);
  BOOST_CHECK_EQUAL(s.scheduled(), 0u);
  BOOST_CHECK_EQUAL(settle_one(s, retry_of(dl, t0 + 1000), t0 + 10),
                    fence_decision::ok);
  BOOST_CHECK_EQUAL(s.scheduled(), 1u);
  BOOST_CHECK_EQUAL(s.next_due(), t0 + 1000);
  BOOST_CHECK_EQUAL(status_map(s, "e")["g"], event_status::retrying);
  BOOST_CHECK_EQUAL(s.backlog("g"), 0u);
  BOOST_CHECK(s.reclaim("g", t0 + 100'000, 0, 10).empty());
  BOOST_CHECK(s.take_due(t0 + 999, 10).empty());
  auto due = s.take_due(t0 + 1000, 10);
  BOOST_REQUIRE_EQUAL(due.size(), 1u);
  BOOST_CHECK_EQUAL(due[0].ev.id, "e");
  BOOST_CHECK_EQUAL(due[0].ev.seq, e.seq);
  BOOST_CHECK_EQUAL(due[0].ev.payload, e.payload);
  BOOST_CHECK_EQUAL(due[0].group, "g");
  BOOST_CHECK_EQUAL(due[0].attempt, 2u);
  BOOST_CHECK_EQUAL(due[0].epoch, 0u);
  BOOST_REQUIRE_EQUAL(due[0].history.size(), 1u);
  BOOST_CHECK_EQUAL(due[0].history[0].error, "timeout");
  BOOST_CHECK_EQUAL(due[0].history[0].epoch, ep1);
  BOOST_CHECK(due[0].history[0].result == outcome::retryable);
  // Taken: not handed out again, still scheduled until settled (or, where
  // marks lapse, until the hold is over).
  BOOST_CHECK(s.take_due(t0 + 5000, 10).empty());
  auto hold = h.be->taken_hold();
  BOOST_CHECK_EQUAL(s.next_due(), hold < 0 ? -1 : t0 + 1000 + hold);
  if (hold >= 0) {
    BOOST_CHECK(s.take_due(t0 + 1000 + hold - 1, 10).empty());
    auto again = s.take_due(t0 + 1000 + hold, 10);
    BOOST_REQUIRE_EQUAL(again.size(), 1u);
    BOOST_CHECK_EQUAL(again[0].ev.id, "e");
    BOOST_CHECK_EQUAL(s.next_due(), t0 + 1000 + 2 * hold);
  }
  BOOST_CHECK_EQUAL(s.scheduled(), 1u);
  auto ep2 = lease(s, "g", e, t0 + 1001);
  BOOST_CHECK_GT(ep2, ep1);
  auto dl2 = due[0];
  dl2.epoch = ep2;
  BOOST_CHECK_EQUAL(settle_one(s, done_of(dl2, true), t0 + 1002),
                    fence_decision::ok);
  BOOST_CHECK_EQUAL(s.scheduled(), 0u);
  BOOST_CHECK_EQUAL(status_map(s, "e")["g"], event_status::processed);
  auto recs = s.processed_of("e");
  BOOST_REQUIRE_EQUAL(recs.size(), 1u);
  BOOST_CHECK_EQUAL(recs[0].attempt, 2u);
}

BOOST_DATA_TEST_CASE(take_due_earliest_first, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto a = add(s, "a", "t", t0);
  auto b = add(s, "b", "t", t0);
  auto c = add(s, "c", "t", t0);
  s.read_group("g", 10, t0);
  auto ea = lease(s, "g", a, t0);
  auto eb = lease(s, "g", b, t0);
  auto ec = lease(s, "g", c, t0);
  auto res = s.settle({retry_of(make_delivery(a, "g", ea), t0 + 500),
                       retry_of(make_delivery(b, "g", eb), t0 + 300),
                       retry_of(make_delivery(c, "g", ec), t0 + 900)},
                      t0 + 1);
  for (auto d : res)
    BOOST_CHECK_EQUAL(d, fence_decision::ok);
  BOOST_CHECK_EQUAL(s.next_due(), t0 + 300);
  auto first = s.take_due(t0 + 600, 1);
  BOOST_REQUIRE_EQUAL(first.size(), 1u);
  BOOST_CHECK_EQUAL(first[0].ev.id, "b");
  BOOST_CHECK_EQUAL(s.next_due(), t0 + 500);
  auto second = s.take_due(t0 + 600, 10);
  BOOST_REQUIRE_EQUAL(second.size(), 1u);
  BOOST_CHECK_EQUAL(second[0].ev.id, "a");
  BOOST_CHECK_EQUAL(s.next_due(), t0 + 900);
  BOOST_CHECK_EQUAL(s.scheduled(), 3u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(dlq_contract)

BOOST_DATA_TEST_CASE(dlq_list_get_replay_purge, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g1", {"*"}});
  s.ensure_group({"g2", {"*"}});
  auto e1 = add(s, "e1", "order.created", t0);
  auto e2 = add(s, "e2", "order.created", t0);
  auto e3 = add(s, "e3", "order.created", t0);
  s.read_group("g1", 10, t0);
  s.read_group("g2", 10, t0);
  BOOST_CHECK_EQUAL(s.dlq_size(), 0u);
  auto kill = [&](const event& ev, const std::string& g, dlq_reason r,
                  const std::string& err, millis_t now) {
    auto ep = lease(s, g, ev, now);
    auto dl = make_delivery(ev, g, ep, 3);
    dl.history.push_back(make_attempt(1, now - 3, ep, outcome::retryable,
                                      "first"));
    dl.history.push_back(make_attempt(3, now - 1, ep, outcome::permanent,
                                      err));
    BOOST_REQUIRE_EQUAL(settle_one(s, dead_of(dl, r, err), now),
                        fence_decision::ok);
  };
  kill(e1, "g1", dlq_reason::permanent_error, "boom1", t0 + 10);
  kill(e2, "g1", dlq_reason::retries_exhausted, "boom2", t0 + 20);
  kill(e1, "g2", dlq_reason::permanent_error, "boom3", t0 + 30);
  // Handler errors are arbitrary bytes, not necessarily UTF-8.
  kill(e3, "g2", dlq_reason::retries_exhausted, "boom4 \xff\xfe", t0 + 40);
  BOOST_CHECK_EQUAL(s.dlq_size(), 4u);
  BOOST_CHECK_EQUAL(s.dlq_count("g1"), 2u);
  BOOST_CHECK_EQUAL(s.dlq_count("g2"), 2u);
  BOOST_CHECK_EQUAL(s.dlq_count("nope"), 0u);
  BOOST_CHECK_EQUAL(s.backlog("g1"), 1u); // e3 still pending in g1
  auto all = s.dlq_list({"", 0, 100});
  BOOST_REQUIRE_EQUAL(all.entries.size(), 4u);
  BOOST_REQUIRE_EQUAL(all.positions.size(), 4u);
  std::vector<std::string> order;
  for (size_t i = 0; i < 4; ++i) {
    order.push_back(all.entries[i].dl.ev.id + "@" + all.entries[i].dl.group);
    if (i > 0)
      BOOST_CHECK_GT(all.positions[i], all.positions[i - 1]);
  }
  BOOST_CHECK_EQUAL(join(order), "e1@g1,e2@g1,e1@g2,e3@g2");
  auto& first = all.entries[0];
  BOOST_CHECK_EQUAL(first.reason, dlq_reason::permanent_error);
  BOOST_CHECK_EQUAL(first.last_error, "boom1");
  BOOST_CHECK_EQUAL(first.dead_at, t0 + 10);
  BOOST_CHECK_EQUAL(first.dl.attempt, 3u);
  BOOST_CHECK_EQUAL(first.dl.ev.seq, e1.seq);
  BOOST_CHECK_EQUAL(first.dl.ev.payload, e1.payload);
  BOOST_REQUIRE_EQUAL(first.dl.history.size(), 2u);
  BOOST_CHECK_EQUAL(first.dl.history[1].error, "boom1");
  BOOST_CHECK_EQUAL(all.entries[1].reason, dlq_reason::retries_exhausted);
  // Pagination.
  auto p1 = s.dlq_list({"", 0, 2});
  BOOST_REQUIRE_EQUAL(p1.entries.size(), 2u);
  auto p2 = s.dlq_list({"", p1.positions.back(), 2});
  BOOST_REQUIRE_EQUAL(p2.entries.size(), 2u);
  BOOST_CHECK_EQUAL(p2.entries[0].dl.ev.id, "e1");
  BOOST_CHECK_EQUAL(p2.entries[0].dl.group, "g2");
  BOOST_CHECK(s.dlq_list({"", p2.positions.back(), 2}).entries.empty());
  // Group filter.
  auto g2 = s.dlq_list({"g2", 0, 100});
  BOOST_REQUIRE_EQUAL(g2.entries.size(), 2u);
  BOOST_CHECK_EQUAL(g2.entries[0].dl.ev.id, "e1");
  BOOST_CHECK_EQUAL(g2.entries[1].dl.ev.id, "e3");
  auto g2b = s.dlq_list({"g2", g2.positions[0], 100});
  BOOST_REQUIRE_EQUAL(g2b.entries.size(), 1u);
  BOOST_CHECK_EQUAL(g2b.entries[0].dl.ev.id, "e3");
  // Lookup by event.
  auto of_e1 = s.dlq_get("e1");
  BOOST_REQUIRE_EQUAL(of_e1.size(), 2u);
  std::set<std::string> groups{of_e1[0].dl.group, of_e1[1].dl.group};
  BOOST_CHECK(groups == (std::set<std::string>{"g1", "g2"}));
  BOOST_CHECK(s.dlq_get("nope").empty());
  BOOST_CHECK_EQUAL(statuses(s, "e1"),
                    "g1:dead g2:dead");
  // Replay one group: back in the retry schedule, due now.
  BOOST_CHECK_EQUAL(s.dlq_replay("e1", "g2", t0 + 100), 1u);
  BOOST_CHECK_EQUAL(s.dlq_size(), 3u);
  BOOST_CHECK_EQUAL(s.dlq_count("g2"), 1u);
  BOOST_CHECK_EQUAL(s.dlq_count("g1"), 2u);
  BOOST_REQUIRE_EQUAL(s.dlq_get("e1").size(), 1u);
  BOOST_CHECK_EQUAL(s.dlq_get("e1")[0].dl.group, "g1");
  BOOST_CHECK_EQUAL(s.scheduled(), 1u);
  BOOST_CHECK_EQUAL(s.next_due(), t0 + 100);
  BOOST_CHECK_EQUAL(statuses(s, "e1"),
                    "g1:dead g2:retrying");
  BOOST_CHECK(s.take_due(t0 + 99, 10).empty());
  auto due = s.take_due(t0 + 100, 10);
  BOOST_REQUIRE_EQUAL(due.size(), 1u);
  BOOST_CHECK_EQUAL(due[0].ev.id, "e1");
  BOOST_CHECK_EQUAL(due[0].group, "g2");
  BOOST_CHECK_EQUAL(due[0].attempt, 1u);
  BOOST_CHECK_EQUAL(due[0].epoch, 0u);
  BOOST_REQUIRE_EQUAL(due[0].history.size(), 2u);
  BOOST_CHECK_EQUAL(due[0].history[1].error, "boom3");
  // The replayed delivery can be processed.
  auto ep = lease(s, "g2", e1, t0 + 110);
  auto dl = due[0];
  dl.epoch = ep;
  BOOST_CHECK_EQUAL(settle_one(s, done_of(dl, true), t0 + 111),
                    fence_decision::ok);
  BOOST_CHECK_EQUAL(s.scheduled(), 0u);
  BOOST_CHECK_EQUAL(status_map(s, "e1")["g2"], event_status::processed);
  // Replay of all groups; unknown events move nothing.
  BOOST_CHECK_EQUAL(s.dlq_replay("nope", "", t0 + 200), 0u);
  BOOST_CHECK_EQUAL(s.dlq_replay("e1", "", t0 + 200), 1u);
  BOOST_CHECK_EQUAL(s.scheduled(), 1u);
  BOOST_CHECK_EQUAL(s.dlq_size(), 2u);
  // Purge one, then all.
  BOOST_CHECK_EQUAL(s.dlq_purge("nope"), 0u);
  BOOST_CHECK_EQUAL(s.dlq_purge("e2"), 1u);
  BOOST_CHECK_EQUAL(s.dlq_size(), 1u);
  BOOST_CHECK_EQUAL(s.dlq_count("g1"), 0u);
  BOOST_CHECK_EQUAL(s.dlq_count("g2"), 1u);
  BOOST_CHECK(s.dlq_get("e2").empty());
  kill(e2, "g2", dlq_reason::permanent_error, "boom5", t0 + 300);
  BOOST_CHECK_EQUAL(s.dlq_size(), 2u);
  BOOST_CHECK_EQUAL(s.dlq_purge(""), 2u);
  BOOST_CHECK_EQUAL(s.dlq_size(), 0u);
  BOOST_CHECK(s.dlq_list({"", 0, 100}).entries.empty());
}

BOOST_DATA_TEST_CASE(crash_loop_dead_without_lease, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e = add(s, "e", "t", t0);
  s.read_group("g", 10, t0);
  auto d1 = claim_one(s, "g", e, holder_a, t0, 100, 0);
  BOOST_REQUIRE_EQUAL(d1.kind, claim_decision::granted);
  auto d2 = claim_one(s, "g", e, holder_b, t0 + 100, 100, 0);
  BOOST_REQUIRE_EQUAL(d2.kind, claim_decision::crash_loop);
  auto dl = make_delivery(e, "g", 0);
  dl.redeliveries = d2.redeliveries;
  BOOST_CHECK_EQUAL(settle_one(s, dead_of(dl, dlq_reason::crash_loop,
                                          "lease expired 1 time(s)"),
                               t0 + 101),
                    fence_decision::ok);
  auto got = s.dlq_get("e");
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_CHECK_EQUAL(got[0].reason, dlq_reason::crash_loop);
  BOOST_CHECK_EQUAL(got[0].dl.redeliveries, 1u);
  BOOST_CHECK_EQUAL(s.backlog("g"), 0u);
  // A second crash-loop settlement of the same pair adds nothing.
  BOOST_CHECK(settle_one(s, dead_of(dl, dlq_reason::crash_loop, "again"),
                         t0 + 102)
              != fence_decision::ok);
  BOOST_CHECK_EQUAL(s.dlq_size(), 1u);
  // The old holder cannot complete.
  BOOST_CHECK(settle_one(s, done_of(make_delivery(e, "g", d1.epoch), true),
                         t0 + 103)
              != fence_decision::ok);
  BOOST_CHECK_EQUAL(s.processed_count(""), 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(status_contract)

BOOST_DATA_TEST_CASE(processed_records_once_per_pair,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  s.ensure_group({"h", {"*"}});
  auto e1 = add(s, "e1", "order.created", t0);
  auto e2 = add(s, "e2", "order.paid", t0);
  auto e3 = add(s, "e3", "order.paid", t0);
  s.read_group("g", 10, t0);
  s.read_group("h", 10, t0);
  // Without record_effect: ledger only.
  process(s, "g", e1, t0, false);
  BOOST_CHECK(s.is_done("g", e1.seq));
  BOOST_CHECK_EQUAL(s.processed_count("g"), 0u);
  BOOST_CHECK(s.processed_of("e1").empty());
  // With record_effect: one record with the delivery's details.
  auto ep = lease(s, "g", e2, t0 + 5);
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(e2, "g", ep, 4), true),
                               t0 + 7),
                    fence_decision::ok);
  auto recs = s.processed_of("e2");
  BOOST_REQUIRE_EQUAL(recs.size(), 1u);
  BOOST_CHECK_EQUAL(recs[0].group, "g");
  BOOST_CHECK_EQUAL(recs[0].event_id, "e2");
  BOOST_CHECK_EQUAL(recs[0].seq, e2.seq);
  BOOST_CHECK_EQUAL(recs[0].type, "order.paid");
  BOOST_CHECK_EQUAL(recs[0].epoch, ep);
  BOOST_CHECK_EQUAL(recs[0].attempt, 4u);
  BOOST_CHECK_EQUAL(recs[0].at, t0 + 7);
  // A stale holder racing a newer one: exactly one record.
  auto d1 = claim_one(s, "g", e3, holder_a, t0, 100);
  auto d2 = claim_one(s, "g", e3, holder_b, t0 + 100, 100);
  BOOST_REQUIRE_EQUAL(d2.kind, claim_decision::granted);
  BOOST_CHECK_EQUAL(settle_one(s, done_of(make_delivery(e3, "g", d2.epoch),
                                          true),
                               t0 + 150),
                    fence_decision::ok);
  BOOST_CHECK(settle_one(s, done_of(make_delivery(e3, "g", d1.epoch), true),
                         t0 + 150)
              != fence_decision::ok);
  BOOST_CHECK(settle_one(s, done_of(make_delivery(e3, "g", d2.epoch), true),
                         t0 + 151)
              != fence_decision::ok);
  BOOST_CHECK_EQUAL(s.processed_of("e3").size(), 1u);
  // Another group has its own record.
  process(s, "h", e3, t0 + 200, true);
  BOOST_CHECK_EQUAL(s.processed_of("e3").size(), 2u);
  BOOST_CHECK_EQUAL(s.processed_count("g"), 2u);
  BOOST_CHECK_EQUAL(s.processed_count("h"), 1u);
  BOOST_CHECK_EQUAL(s.processed_count(""), 3u);
}

BOOST_DATA_TEST_CASE(status_across_groups, bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"ga", {"order.*"}});
  s.ensure_group({"gb", {"*"}});
  s.ensure_group({"gc", {"user.*"}});
  auto o = add(s, "o", "order.created", t0);
  s.ensure_group({"gd", {"*"}}); // created after o: not its group
  BOOST_CHECK(s.status_of("nope").empty());
  BOOST_CHECK_EQUAL(statuses(s, "o"),
                    "ga:accepted gb:accepted");
  auto dup = [&](millis_t now) {
    std::vector<event> batch{make_event("o", "order.created", now)};
    auto res = s.append(batch, now, minute);
    BOOST_REQUIRE(res.at(0).duplicate);
    BOOST_CHECK_EQUAL(res[0].seq, o.seq);
    return res[0].original;
  };
  BOOST_CHECK_EQUAL(dup(t0 + 1), event_status::accepted);
  BOOST_CHECK_EQUAL(ids_of(s.read_group("ga", 10, t0 + 2)), "o");
  BOOST_CHECK_EQUAL(statuses(s, "o"),
                    "ga:in_flight gb:accepted");
  BOOST_CHECK_EQUAL(dup(t0 + 3), event_status::in_flight);
  process(s, "ga", o, t0 + 4);
  BOOST_CHECK_EQUAL(statuses(s, "o"),
                    "ga:processed gb:accepted");
  // Processed only when every group processed it.
  BOOST_CHECK_EQUAL(dup(t0 + 5), event_status::accepted);
  s.read_group("gb", 10, t0 + 6);
  auto ep = lease(s, "gb", o, t0 + 6);
  BOOST_CHECK_EQUAL(settle_one(s, retry_of(make_delivery(o, "gb", ep),
                                           t0 + 100),
                               t0 + 7),
                    fence_decision::ok);
  BOOST_CHECK_EQUAL(status_map(s, "o")["gb"], event_status::retrying);
  BOOST_CHECK_EQUAL(dup(t0 + 8), event_status::retrying);
  auto due = s.take_due(t0 + 100, 10);
  BOOST_REQUIRE_EQUAL(due.size(), 1u);
  ep = lease(s, "gb", o, t0 + 100);
  due[0].epoch = ep;
  BOOST_CHECK_EQUAL(
    settle_one(s, dead_of(due[0], dlq_reason::retries_exhausted, "x"),
               t0 + 101),
    fence_decision::ok);
  BOOST_CHECK_EQUAL(statuses(s, "o"),
                    "ga:processed gb:dead");
  BOOST_CHECK_EQUAL(dup(t0 + 102), event_status::dead);
  // All groups processed.
  auto p = add(s, "p", "order.paid", t0 + 200);
  for (auto g : {"ga", "gb", "gd"}) {
    s.read_group(g, 10, t0 + 200);
    process(s, g, p, t0 + 201);
  }
  BOOST_CHECK_EQUAL(statuses(s, "p"),
                    "ga:processed gb:processed gd:processed");
  std::vector<event> batch{make_event("p", "order.paid", t0 + 300)};
  auto res = s.append(batch, t0 + 300, minute);
  BOOST_REQUIRE(res.at(0).duplicate);
  BOOST_CHECK_EQUAL(res[0].original, event_status::processed);
}

BOOST_AUTO_TEST_SUITE_END()

// -- history and listing ---------------------------------------------------

namespace {

/// Checks every field of an attempt record.
void check_attempt(const attempt_record& got, const attempt_record& want) {
  BOOST_CHECK_EQUAL(got.attempt, want.attempt);
  BOOST_CHECK_EQUAL(got.at, want.at);
  BOOST_CHECK_EQUAL(got.node, want.node);
  BOOST_CHECK_EQUAL(got.listener, want.listener);
  BOOST_CHECK_EQUAL(got.epoch, want.epoch);
  BOOST_CHECK_EQUAL(got.result, want.result);
  BOOST_CHECK_EQUAL(got.error, want.error);
}

void check_attempts(const std::vector<attempt_record>& got,
                    const std::vector<attempt_record>& want) {
  BOOST_REQUIRE_EQUAL(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    BOOST_TEST_CONTEXT("attempt record " << i) {
      check_attempt(got[i], want[i]);
    }
  }
}

/// history_of by group; checks that it lists the groups of status_of with
/// the same statuses, each once.
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

/// The history of `id` in `group`, which must be listed.
group_history history_in(store& s, const std::string& id,
                         const std::string& group) {
  auto hs = history_map(s, id);
  BOOST_REQUIRE_MESSAGE(hs.count(group) == 1,
                        id << " has no history entry for " << group);
  return hs[group];
}

/// Claims and settles one pair as done, retry or dead, with one attempt
/// record (error "err-<id>" for failures).
void settle_as(store& s, const std::string& group, const event& ev,
               settle_kind kind, millis_t now) {
  auto ep = lease(s, group, ev, now);
  auto dl = make_delivery(ev, group, ep);
  auto failed = kind != settle_kind::done;
  dl.history.push_back(make_attempt(1, now, ep,
                                    failed ? outcome::permanent
                                           : outcome::success,
                                    failed ? "err-" + ev.id : ""));
  settlement st;
  switch (kind) {
    case settle_kind::done:
      st = done_of(dl, true);
      break;
    case settle_kind::retry:
      st = retry_of(dl, now + minute);
      break;
    default:
      st = dead_of(dl, dlq_reason::permanent_error, "err-" + ev.id);
  }
  BOOST_REQUIRE_EQUAL(settle_one(s, st, now + 1), fence_decision::ok);
}

/// "id@group" of the items, in their order.
std::string items_of(const event_listing& l) {
  std::string out;
  for (auto& it : l.items)
    out += (out.empty() ? "" : ",") + it.event_id + "@" + it.group;
  return out;
}

event_listing_query listing(event_status st, const std::string& group = "",
                            uint64_t after = 0, size_t limit = 100) {
  event_listing_query q;
  q.status = st;
  q.group = group;
  q.after = after;
  q.limit = limit;
  return q;
}

/// Walks every page of `q` (starting at q.after) with its limit; checks
/// the page invariants and returns all items.
std::vector<event_listing_item> walk(store& s, event_listing_query q,
                                     size_t* pages = nullptr) {
  std::vector<event_listing_item> all;
  size_t n = 0;
  auto head = s.head();
  while (true) {
    BOOST_TEST_CONTEXT("page " << n << " after " << q.after << " limit "
                               << q.limit) {
      BOOST_REQUIRE_LT(n, head + 2); // every page makes progress
      auto page = s.list_events(q);
      ++n;
      for (size_t i = 0; i < page.items.size(); ++i) {
        auto& it = page.items[i];
        BOOST_CHECK_GT(it.seq, q.after);
        BOOST_CHECK_EQUAL(it.status, q.status);
        if (i > 0) {
          auto& prev = page.items[i - 1];
          BOOST_CHECK_MESSAGE(
            prev.seq < it.seq || (prev.seq == it.seq && prev.group < it.group),
            "items out of order: " << prev.seq << "@" << prev.group
                                   << " before " << it.seq << "@"
                                   << it.group);
        }
        // Beyond the limit only the groups of the last seq follow.
        if (i >= q.limit)
          BOOST_CHECK_EQUAL(it.seq, page.items[q.limit - 1].seq);
      }
      if (page.next != 0) {
        BOOST_CHECK_GT(page.next, q.after);
        BOOST_CHECK_LT(page.next, head);
        if (!page.items.empty())
          BOOST_CHECK_GE(page.next, page.items.back().seq);
      }
      all.insert(all.end(), page.items.begin(), page.items.end());
      if (page.next == 0)
        break;
      q.after = page.next;
    }
  }
  if (pages != nullptr)
    *pages = n;
  return all;
}

std::string items_of(const std::vector<event_listing_item>& xs) {
  event_listing l;
  l.items = xs;
  return items_of(l);
}

} // namespace

BOOST_AUTO_TEST_SUITE(history_contract)

BOOST_DATA_TEST_CASE(history_after_one_attempt, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e = add(s, "e", "order.created", t0);
  // Nothing attempted yet.
  auto gh = history_in(s, "e", "g");
  BOOST_CHECK_EQUAL(gh.status, event_status::accepted);
  BOOST_CHECK(gh.attempts.empty());
  s.read_group("g", 10, t0);
  auto ep = lease(s, "g", e, t0 + 1);
  gh = history_in(s, "e", "g");
  BOOST_CHECK_EQUAL(gh.status, event_status::in_flight);
  BOOST_CHECK(gh.attempts.empty());
  auto dl = make_delivery(e, "g", ep);
  auto rec = make_attempt(1, t0 + 5, ep, outcome::success, "");
  rec.node = "node-7";
  rec.listener = "billing listener 2";
  dl.history.push_back(rec);
  BOOST_REQUIRE_EQUAL(settle_one(s, done_of(dl, true), t0 + 6),
                      fence_decision::ok);
  auto hs = s.history_of("e");
  BOOST_REQUIRE_EQUAL(hs.size(), 1u);
  BOOST_CHECK_EQUAL(hs[0].group, "g");
  BOOST_CHECK_EQUAL(hs[0].status, event_status::processed);
  check_attempts(hs[0].attempts, {rec});
  // Also without a processed record (record_effect off).
  auto f = add(s, "f", "order.created", t0 + 10);
  s.read_group("g", 10, t0 + 10);
  auto epf = lease(s, "g", f, t0 + 10);
  auto dlf = make_delivery(f, "g", epf);
  auto recf = make_attempt(1, t0 + 11, epf, outcome::success, "");
  dlf.history.push_back(recf);
  BOOST_REQUIRE_EQUAL(settle_one(s, done_of(dlf), t0 + 12),
                      fence_decision::ok);
  check_attempts(history_in(s, "f", "g").attempts, {recf});
}

BOOST_DATA_TEST_CASE(history_of_retry_retry_done, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e = add(s, "e", "order.created", t0);
  s.read_group("g", 10, t0);
  const std::string err1 = "connection refused (next try in 2 s)";
  // Spaces, non-ASCII UTF-8 and a newline survive.
  const std::string err2
    = "Zeitüberschreitung: Größe – 日本語 ✓ after 30 s\nsecond line";
  auto ep1 = lease(s, "g", e, t0);
  auto dl = make_delivery(e, "g", ep1, 1);
  auto a1 = make_attempt(1, t0 + 10, ep1, outcome::retryable, err1);
  dl.history.push_back(a1);
  BOOST_REQUIRE_EQUAL(settle_one(s, retry_of(dl, t0 + 100), t0 + 11),
                      fence_decision::ok);
  // Retrying: the history of the scheduled delivery.
  auto gh = history_in(s, "e", "g");
  BOOST_CHECK_EQUAL(gh.status, event_status::retrying);
  check_attempts(gh.attempts, {a1});
  auto due = s.take_due(t0 + 100, 10);
  BOOST_REQUIRE_EQUAL(due.size(), 1u);
  auto ep2 = lease(s, "g", e, t0 + 101);
  // Running again: still the history of the schedule entry.
  check_attempts(history_in(s, "e", "g").attempts, {a1});
  auto dl2 = due[0];
  dl2.epoch = ep2;
  auto a2 = make_attempt(2, t0 + 102, ep2, outcome::crashed, err2);
  a2.node = "node-b";
  dl2.history.push_back(a2);
  BOOST_REQUIRE_EQUAL(settle_one(s, retry_of(dl2, t0 + 200), t0 + 103),
                      fence_decision::ok);
  gh = history_in(s, "e", "g");
  BOOST_CHECK_EQUAL(gh.status, event_status::retrying);
  check_attempts(gh.attempts, {a1, a2});
  due = s.take_due(t0 + 200, 10);
  BOOST_REQUIRE_EQUAL(due.size(), 1u);
  BOOST_CHECK_EQUAL(due[0].attempt, 3u);
  auto ep3 = lease(s, "g", e, t0 + 201);
  auto dl3 = due[0];
  dl3.epoch = ep3;
  auto a3 = make_attempt(3, t0 + 205, ep3, outcome::success, "");
  dl3.history.push_back(a3);
  BOOST_REQUIRE_EQUAL(settle_one(s, done_of(dl3, true), t0 + 206),
                      fence_decision::ok);
  gh = history_in(s, "e", "g");
  BOOST_CHECK_EQUAL(gh.status, event_status::processed);
  check_attempts(gh.attempts, {a1, a2, a3});
}

BOOST_DATA_TEST_CASE(history_of_dead_event, bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e = add(s, "e", "order.created", t0);
  auto c = add(s, "c", "order.created", t0);
  s.read_group("g", 10, t0);
  auto ep = lease(s, "g", e, t0);
  auto dl = make_delivery(e, "g", ep, 2);
  auto a1 = make_attempt(1, t0 + 1, ep - 1, outcome::retryable, "first try");
  auto a2 = make_attempt(2, t0 + 2, ep, outcome::permanent,
                         "bad payload: ümlaut € field 'x'");
  dl.history = {a1, a2};
  BOOST_REQUIRE_EQUAL(
    settle_one(s, dead_of(dl, dlq_reason::permanent_error, a2.error), t0 + 3),
    fence_decision::ok);
  auto gh = history_in(s, "e", "g");
  BOOST_CHECK_EQUAL(gh.status, event_status::dead);
  check_attempts(gh.attempts, {a1, a2});
  // Replayed: retrying with the history kept.
  BOOST_REQUIRE_EQUAL(s.dlq_replay("e", "", t0 + 10), 1u);
  gh = history_in(s, "e", "g");
  BOOST_CHECK_EQUAL(gh.status, event_status::retrying);
  check_attempts(gh.attempts, {a1, a2});
  // Dead without any attempt (crash loop, no lease): no records.
  auto crash = make_delivery(c, "g", 0);
  BOOST_REQUIRE_EQUAL(settle_one(s, dead_of(crash, dlq_reason::crash_loop,
                                            "lease expired 3 time(s)"),
                                 t0 + 20),
                      fence_decision::ok);
  gh = history_in(s, "c", "g");
  BOOST_CHECK_EQUAL(gh.status, event_status::dead);
  BOOST_CHECK(gh.attempts.empty());
}

BOOST_DATA_TEST_CASE(history_of_unknown_or_groupless_event,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  BOOST_CHECK(s.history_of("nope").empty());
  add(s, "early", "order.created", t0); // before any group
  s.ensure_group({"g", {"*"}});
  BOOST_CHECK(s.history_of("early").empty());
  BOOST_CHECK(s.status_of("early").empty());
  BOOST_CHECK(s.history_of("nope").empty());
}

BOOST_DATA_TEST_CASE(history_lists_matching_groups_only,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"orders", {"order.*"}});
  s.ensure_group({"users", {"user.*"}});
  s.ensure_group({"all", {"*"}});
  auto o = add(s, "o", "order.created", t0);
  auto u = add(s, "u", "user.created", t0);
  s.ensure_group({"late", {"*"}}); // after o and u: not their group
  for (auto g : {"orders", "users", "all"})
    s.read_group(g, 10, t0);
  settle_as(s, "orders", o, settle_kind::done, t0 + 1);
  settle_as(s, "users", u, settle_kind::retry, t0 + 2);
  auto ho = history_map(s, "o");
  BOOST_CHECK_EQUAL(ho.size(), 2u);
  BOOST_REQUIRE(ho.count("orders") == 1 && ho.count("all") == 1);
  BOOST_CHECK_EQUAL(ho["orders"].status, event_status::processed);
  BOOST_REQUIRE_EQUAL(ho["orders"].attempts.size(), 1u);
  BOOST_CHECK_EQUAL(ho["orders"].attempts[0].result, outcome::success);
  BOOST_CHECK_EQUAL(ho["all"].status, event_status::in_flight);
  BOOST_CHECK(ho["all"].attempts.empty());
  auto hu = history_map(s, "u");
  BOOST_CHECK_EQUAL(hu.size(), 2u);
  BOOST_REQUIRE(hu.count("users") == 1 && hu.count("all") == 1);
  BOOST_CHECK_EQUAL(hu["users"].status, event_status::retrying);
  BOOST_REQUIRE_EQUAL(hu["users"].attempts.size(), 1u);
  BOOST_CHECK_EQUAL(hu["users"].attempts[0].error, "err-u");
  BOOST_CHECK(hu["all"].attempts.empty());
  // The newest event with the id counts (same id, after the window).
  std::vector<event> again{make_event("o", "user.deleted", t0 + 2 * minute)};
  auto res = s.append(again, t0 + 2 * minute, minute);
  BOOST_REQUIRE(!res.at(0).duplicate);
  auto hn = history_map(s, "o");
  BOOST_CHECK_EQUAL(hn.size(), 3u);
  for (auto g : {"users", "all", "late"}) {
    BOOST_TEST_CONTEXT("group " << g) {
      BOOST_REQUIRE(hn.count(g) == 1);
      BOOST_CHECK_EQUAL(hn[g].status, event_status::accepted);
      BOOST_CHECK(hn[g].attempts.empty());
    }
  }
}

BOOST_DATA_TEST_CASE(ping_live_store, bdata::make(all_backends), name) {
  harness h{name};
  BOOST_CHECK_NO_THROW(h.s->ping());
  add(*h.s, "e", "t", t0);
  BOOST_CHECK_NO_THROW(h.s->ping());
  BOOST_CHECK_NO_THROW(h.s->ping());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(listing_contract)

BOOST_DATA_TEST_CASE(list_events_by_status_and_group,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  // Created out of name order: items of one seq come in name order anyway.
  s.ensure_group({"b", {"*"}});
  s.ensure_group({"c", {"user.*"}});
  s.ensure_group({"a", {"order.*"}});
  auto o1 = add(s, "o1", "order.created", t0);
  auto u1 = add(s, "u1", "user.created", t0);
  auto o2 = add(s, "o2", "order.paid", t0);
  auto u2 = add(s, "u2", "user.created", t0);
  auto o3 = add(s, "o3", "order.created", t0);
  auto x1 = add(s, "x1", "misc", t0);
  add(s, "o4", "order.created", t0); // read, never settled
  for (auto g : {"a", "b", "c"})
    s.read_group(g, 100, t0);
  using k = settle_kind;
  settle_as(s, "a", o1, k::done, t0 + 1);
  settle_as(s, "b", o1, k::done, t0 + 1);
  settle_as(s, "b", u1, k::done, t0 + 2);
  settle_as(s, "c", u1, k::dead, t0 + 2);
  settle_as(s, "a", o2, k::retry, t0 + 3);
  settle_as(s, "b", o2, k::dead, t0 + 3);
  settle_as(s, "c", u2, k::done, t0 + 4);
  settle_as(s, "a", o3, k::dead, t0 + 5);
  settle_as(s, "b", o3, k::retry, t0 + 5);
  settle_as(s, "b", x1, k::done, t0 + 6);
  auto processed = s.list_events(listing(event_status::processed));
  BOOST_CHECK_EQUAL(items_of(processed), "o1@a,o1@b,u1@b,u2@c,x1@b");
  BOOST_CHECK_EQUAL(processed.next, 0u);
  BOOST_REQUIRE_EQUAL(processed.items.size(), 5u);
  auto& it = processed.items[2];
  BOOST_CHECK_EQUAL(it.group, "b");
  BOOST_CHECK_EQUAL(it.event_id, "u1");
  BOOST_CHECK_EQUAL(it.type, "user.created");
  BOOST_CHECK_EQUAL(it.seq, u1.seq);
  BOOST_CHECK_EQUAL(it.status, event_status::processed);
  BOOST_CHECK_EQUAL(processed.items[4].type, "misc");
  BOOST_CHECK_EQUAL(processed.items[4].seq, x1.seq);
  BOOST_CHECK_EQUAL(items_of(s.list_events(listing(event_status::processed,
                                                   "b"))),
                    "o1@b,u1@b,x1@b");
  BOOST_CHECK_EQUAL(items_of(s.list_events(listing(event_status::processed,
                                                   "c"))),
                    "u2@c");
  auto dead = s.list_events(listing(event_status::dead));
  BOOST_CHECK_EQUAL(items_of(dead), "u1@c,o2@b,o3@a");
  BOOST_CHECK_EQUAL(dead.next, 0u);
  for (auto& d : dead.items)
    BOOST_CHECK_EQUAL(d.status, event_status::dead);
  BOOST_CHECK_EQUAL(items_of(s.list_events(listing(event_status::dead,
                                                   "a"))),
                    "o3@a");
  auto retrying = s.list_events(listing(event_status::retrying));
  BOOST_CHECK_EQUAL(items_of(retrying), "o2@a,o3@b");
  BOOST_CHECK_EQUAL(retrying.next, 0u);
  BOOST_CHECK_EQUAL(items_of(s.list_events(listing(event_status::retrying,
                                                   "b"))),
                    "o3@b");
  auto none = s.list_events(listing(event_status::retrying, "c"));
  BOOST_CHECK(none.items.empty());
  BOOST_CHECK_EQUAL(none.next, 0u);
  // A cursor skips what came before it.
  BOOST_CHECK_EQUAL(items_of(s.list_events(listing(event_status::processed,
                                                   "", o1.seq))),
                    "u1@b,u2@c,x1@b");
  BOOST_CHECK_EQUAL(items_of(s.list_events(listing(event_status::dead, "",
                                                   o2.seq))),
                    "o3@a");
  // Unknown group: nothing, no next page.
  for (auto st : {event_status::processed, event_status::dead,
                  event_status::retrying}) {
    auto unknown = s.list_events(listing(st, "zzz"));
    BOOST_CHECK(unknown.items.empty());
    BOOST_CHECK_EQUAL(unknown.next, 0u);
  }
  // Status changes show: the retry is replayed from the DLQ, o2 dies in a.
  BOOST_REQUIRE_EQUAL(s.dlq_replay("o2", "b", t0 + 10), 1u);
  BOOST_CHECK_EQUAL(items_of(s.list_events(listing(event_status::retrying))),
                    "o2@a,o2@b,o3@b");
  BOOST_CHECK_EQUAL(items_of(s.list_events(listing(event_status::dead))),
                    "u1@c,o3@a");
}

BOOST_DATA_TEST_CASE(list_events_pages_never_split_a_seq,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"a", {"*"}});
  s.ensure_group({"b", {"*"}});
  s.ensure_group({"c", {"even.*"}});
  std::vector<event> evs;
  for (int i = 0; i < 30; ++i)
    evs.push_back(add(s, "e" + std::to_string(i),
                      i % 2 == 0 ? "even.x" : "odd.x", t0));
  for (auto g : {"a", "b", "c"})
    s.read_group(g, 100, t0);
  for (int i = 0; i < 30; ++i) {
    auto& ev = evs[i];
    if (i % 5 != 3)
      settle_as(s, "a", ev, i % 7 == 0 ? settle_kind::dead : settle_kind::done,
                t0 + i);
    if (i % 3 != 1)
      settle_as(s, "b", ev, settle_kind::done, t0 + i);
    if (i % 2 == 0 && i % 4 != 2)
      settle_as(s, "c", ev, settle_kind::done, t0 + i);
  }
  add(s, "tail", "odd.x", t0 + 100); // an entry after the last item
  // Expected, built from the settlements above.
  std::vector<std::string> want_all, want_b;
  for (int i = 0; i < 30; ++i) {
    auto id = "e" + std::to_string(i);
    if (i % 5 != 3 && i % 7 != 0)
      want_all.push_back(id + "@a");
    if (i % 3 != 1) {
      want_all.push_back(id + "@b");
      want_b.push_back(id + "@b");
    }
    if (i % 2 == 0 && i % 4 != 2)
      want_all.push_back(id + "@c");
  }
  auto full = s.list_events(listing(event_status::processed, "", 0, 1000));
  BOOST_CHECK_EQUAL(items_of(full), join(want_all));
  BOOST_CHECK_EQUAL(full.next, 0u);
  // Pages of any size walk every item exactly once, in order.
  for (size_t limit : {1, 2, 3, 5, 7}) {
    BOOST_TEST_CONTEXT("limit " << limit) {
      size_t pages = 0;
      auto got = walk(s, listing(event_status::processed, "", 0, limit),
                      &pages);
      BOOST_CHECK_EQUAL(items_of(got), join(want_all));
      BOOST_CHECK_GE(pages, want_all.size() / (limit + 2));
      auto got_b = walk(s, listing(event_status::processed, "b", 0, limit));
      BOOST_CHECK_EQUAL(items_of(got_b), join(want_b));
    }
  }
  // Limit 1 on a seq processed by three groups: one page with all three.
  auto p = s.list_events(listing(event_status::processed, "", 0, 1));
  BOOST_CHECK_EQUAL(items_of(p), "e0@b,e0@c");
  BOOST_CHECK_EQUAL(p.next, evs[0].seq);
  p = s.list_events(listing(event_status::processed, "", evs[11].seq, 1));
  BOOST_CHECK_EQUAL(items_of(p), "e12@a,e12@b,e12@c");
  BOOST_CHECK_EQUAL(p.next, evs[12].seq);
  // The last page ends at the head.
  p = s.list_events(listing(event_status::processed, "", evs[29].seq, 1));
  BOOST_CHECK(p.items.empty());
  BOOST_CHECK_EQUAL(p.next, 0u);
  // Beyond the head: nothing.
  p = s.list_events(listing(event_status::processed, "", s.head(), 10));
  BOOST_CHECK(p.items.empty());
  BOOST_CHECK_EQUAL(p.next, 0u);
  // Dead ones too.
  auto dead = walk(s, listing(event_status::dead, "a", 0, 1));
  BOOST_CHECK_EQUAL(items_of(dead), "e0@a,e7@a,e14@a,e21@a"); // 28 % 5 == 3
}

BOOST_DATA_TEST_CASE(list_events_scans_a_bounded_range,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"match.*"}});
  // Far more non-matching entries than one call scans (at most
  // max(limit * 4, 256) per call).
  std::vector<event> noise;
  for (int i = 0; i < 600; ++i)
    noise.push_back(make_event("n" + std::to_string(i), "noise", t0));
  s.append(noise, t0, minute);
  auto m = add(s, "m", "match.x", t0);
  add(s, "after", "noise", t0);
  s.read_group("g", 10, t0);
  settle_as(s, "g", m, settle_kind::done, t0 + 1);
  auto first = s.list_events(listing(event_status::processed, "", 0, 1));
  BOOST_CHECK(first.items.empty());
  BOOST_CHECK_GT(first.next, 0u);
  BOOST_CHECK_LT(first.next, m.seq);
  size_t pages = 0;
  auto all = walk(s, listing(event_status::processed, "", 0, 1), &pages);
  BOOST_CHECK_EQUAL(items_of(all), "m@g");
  BOOST_CHECK_GE(pages, 2u);
  BOOST_CHECK_LE(pages, 4u);
  // A larger limit scans further per call.
  auto big = s.list_events(listing(event_status::processed, "", 0, 1000));
  BOOST_CHECK_EQUAL(items_of(big), "m@g");
  BOOST_CHECK_EQUAL(big.next, 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(persistence_contract)

BOOST_DATA_TEST_CASE(reopen_keeps_state, bdata::make(persistent_backends),
                     name) {
  harness h{name};
  std::vector<event> evs;
  uint64_t max_epoch = 0;
  {
    auto& s = *h.s;
    s.ensure_group({"g", {"*"}});
    s.ensure_group({"other", {"user.*"}});
    for (int i = 1; i <= 8; ++i)
      evs.push_back(add(s, "e" + std::to_string(i), "order.created", t0));
    BOOST_REQUIRE_EQUAL(s.read_group("g", 10, t0).size(), 8u);
    std::vector<uint64_t> eps(9, 0);
    for (int i : {1, 2, 3, 4, 5, 7, 8}) {
      eps[i] = lease(s, "g", evs[i - 1], t0, 10 * minute);
      max_epoch = std::max(max_epoch, eps[i]);
    }
    auto dl = [&](int i) { return make_delivery(evs[i - 1], "g", eps[i]); };
    auto res = s.settle(
      {done_of(dl(1), true), retry_of(dl(2), t0 + 100),
       dead_of(dl(3), dlq_reason::permanent_error, "boom"), release_of(dl(4)),
       dead_of(dl(5), dlq_reason::permanent_error, "purge me"),
       done_of(dl(7)), done_of(dl(8))},
      t0 + 1);
    for (auto d : res)
      BOOST_REQUIRE_EQUAL(d, fence_decision::ok);
    BOOST_REQUIRE_EQUAL(s.take_due(t0 + 100, 10).size(), 1u);
    BOOST_REQUIRE_EQUAL(s.dlq_purge("e5"), 1u);
    evs.push_back(add(s, "e9", "order.created", t0 + 2)); // never read
  }
  auto head = h.s->head();
  h.reopen();
  auto& s = *h.s;
  BOOST_CHECK_EQUAL(s.head(), head);
  for (auto& ev : evs) {
    auto found = s.find(ev.id);
    BOOST_CHECK_EQUAL(found.seq, ev.seq);
    BOOST_CHECK_EQUAL(found.payload, ev.payload);
    BOOST_CHECK_EQUAL(found.trace_id, ev.trace_id);
  }
  // The dedup window survives the restart.
  std::vector<event> batch{make_event("e1", "order.created", t0 + 10)};
  auto res = s.append(batch, t0 + 10, minute);
  BOOST_CHECK(res.at(0).duplicate);
  BOOST_CHECK_EQUAL(res[0].seq, evs[0].seq);
  BOOST_CHECK_EQUAL(res[0].original, event_status::processed);
  // Unsettled entries come back exactly once (as pending or as new);
  // settled ones (done, retry, dead, purged) do not.
  BOOST_CHECK_EQUAL(s.backlog("g"), 3u);
  std::vector<std::string> again;
  for (auto& ev : s.reclaim("g", t0 + 20 * minute, 0, 100))
    again.push_back(ev.id);
  for (auto& ev : s.read_group("g", 100, t0 + 20 * minute))
    again.push_back(ev.id);
  std::sort(again.begin(), again.end());
  BOOST_CHECK_EQUAL(join(again), "e4,e6,e9");
  BOOST_CHECK(s.read_group("other", 100, t0 + 20 * minute).empty());
  // Ledger kept.
  for (int i : {1, 7, 8})
    BOOST_CHECK(s.is_done("g", evs[i - 1].seq));
  BOOST_CHECK(!s.is_done("g", evs[3].seq));
  BOOST_CHECK_EQUAL(claim_one(s, "g", evs[0], holder_a, t0 + 30).kind,
                    claim_decision::done);
  BOOST_CHECK_EQUAL(s.processed_count(""), 1u);
  // Epochs never repeat.
  auto ep = lease(s, "g", evs[3], t0 + 20 * minute);
  BOOST_CHECK_GT(ep, max_epoch);
  // DLQ kept (the purged entry stays purged).
  BOOST_CHECK_EQUAL(s.dlq_size(), 1u);
  auto dead = s.dlq_get("e3");
  BOOST_REQUIRE_EQUAL(dead.size(), 1u);
  BOOST_CHECK_EQUAL(dead[0].last_error, "boom");
  BOOST_CHECK_EQUAL(dead[0].reason, dlq_reason::permanent_error);
  BOOST_CHECK_EQUAL(dead[0].dead_at, t0 + 1);
  // A retry taken before the restart is due again.
  BOOST_CHECK_EQUAL(s.scheduled(), 1u);
  BOOST_CHECK_EQUAL(s.next_due(), t0 + 100);
  auto due = s.take_due(t0 + 100, 10);
  BOOST_REQUIRE_EQUAL(due.size(), 1u);
  BOOST_CHECK_EQUAL(due[0].ev.id, "e2");
  BOOST_CHECK_EQUAL(due[0].attempt, 2u);
  BOOST_CHECK_EQUAL(status_map(s, "e2")["g"], event_status::retrying);
  BOOST_CHECK_EQUAL(status_map(s, "e3")["g"], event_status::dead);
}

BOOST_DATA_TEST_CASE(epochs_increase_across_reopens,
                     bdata::make(persistent_backends), name) {
  harness h{name};
  h.s->ensure_group({"g", {"*"}});
  uint64_t last = 0;
  for (int round = 0; round < 3; ++round) {
    auto& s = *h.s;
    auto ev = add(s, "e" + std::to_string(round), "t", t0);
    s.read_group("g", 10, t0);
    auto d = s.claim({{"g", ev.id, ev.seq}}, holder_a, t0, 1000, 3);
    BOOST_REQUIRE_EQUAL(d.at(0).kind, claim_decision::granted);
    BOOST_CHECK_GT(d[0].epoch, last);
    last = d[0].epoch;
    h.reopen();
  }
}

BOOST_AUTO_TEST_SUITE_END()

// -- retention ---------------------------------------------------------------

namespace {

constexpr millis_t hour = 60 * minute;

/// Checks that a trimmed event is unknown to every lookup by id.
void check_trimmed(store& s, const event& ev) {
  BOOST_TEST_CONTEXT("trimmed event " << ev.id) {
    BOOST_CHECK_EQUAL(s.find(ev.id).seq, 0u);
    BOOST_CHECK(s.status_of(ev.id).empty());
    BOOST_CHECK(s.history_of(ev.id).empty());
    BOOST_CHECK(s.processed_of(ev.id).empty());
  }
}

/// Claims the pair for `holder_b`; returns the decision's kind.
claim_decision::kind_t claim_kind(store& s, const std::string& group,
                                  const event& ev, millis_t now) {
  return claim_one(s, group, ev, holder_b, now).kind;
}

/// Claims and settles `dead` (permanent error `error`) for one pair.
void kill_one(store& s, const std::string& group, const event& ev,
              millis_t now, const std::string& error) {
  auto ep = lease(s, group, ev, now);
  auto dl = make_delivery(ev, group, ep);
  dl.history.push_back(make_attempt(1, now, ep, outcome::permanent, error));
  BOOST_REQUIRE_EQUAL(settle_one(s, dead_of(dl, dlq_reason::permanent_error,
                                            error),
                                 now),
                      fence_decision::ok);
}

/// Takes the one due delivery (`ev`'s in `group`), claims it and settles it
/// done with an effect record; returns the settled delivery.
delivery process_due(store& s, const std::string& group, const event& ev,
                     millis_t now) {
  auto due = s.take_due(now, 10);
  BOOST_REQUIRE_EQUAL(due.size(), 1u);
  BOOST_REQUIRE_EQUAL(due[0].ev.id, ev.id);
  BOOST_REQUIRE_EQUAL(due[0].group, group);
  auto d = claim_one(s, group, ev, holder_a, now);
  BOOST_REQUIRE_EQUAL(d.kind, claim_decision::granted);
  due[0].epoch = d.epoch;
  BOOST_REQUIRE_EQUAL(settle_one(s, done_of(due[0], true), now),
                      fence_decision::ok);
  return due[0];
}

/// Appends `id` once more at `now`; returns the answer.
append_result append_again(store& s, const std::string& id,
                           const std::string& type, millis_t now,
                           millis_t window) {
  std::vector<event> batch{make_event(id, type, now)};
  auto res = s.append(batch, now, window);
  BOOST_REQUIRE_EQUAL(res.size(), 1u);
  return res[0];
}

} // namespace

BOOST_AUTO_TEST_SUITE(retention_contract)

BOOST_DATA_TEST_CASE(trim_on_empty_store_removes_nothing,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  BOOST_CHECK_EQUAL(s.trim(t0, minute, minute, 100), 0u);
  s.ensure_group({"g", {"*"}});
  BOOST_CHECK_EQUAL(s.trim(t0 + hour, minute, minute, 100), 0u);
  BOOST_CHECK_EQUAL(s.head(), 0u);
  auto e = add(s, "e", "t", t0 + hour);
  BOOST_CHECK_GT(e.seq, 0u);
  BOOST_CHECK_EQUAL(s.head(), e.seq);
  BOOST_CHECK_EQUAL(ids_of(s.read_group("g", 10, t0 + hour)), "e");
}

BOOST_DATA_TEST_CASE(trim_removes_settled_old_entries,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  s.ensure_group({"h", {"order.*"}});
  auto a = add(s, "a", "order.created", t0);
  auto b = add(s, "b", "user.created", t0); // not h's type
  auto c = add(s, "c", "order.paid", t0 + 1);
  auto d = add(s, "d", "order.paid", t0 + 40 * minute);
  s.read_group("g", 10, t0 + 40 * minute);
  s.read_group("h", 10, t0 + 40 * minute);
  for (auto& ev : {a, b, c, d})
    process(s, "g", ev, t0 + 41 * minute, true);
  for (auto& ev : {a, c, d})
    process(s, "h", ev, t0 + 41 * minute, true);
  BOOST_REQUIRE_EQUAL(s.processed_count(""), 7u);
  auto head = s.head();
  // a, b and c are an hour old; d 20 minutes, within the 30 of retention.
  auto now = t0 + hour;
  BOOST_CHECK_EQUAL(s.trim(now, 30 * minute, minute, 100), 3u);
  for (auto& ev : {a, b, c})
    check_trimmed(s, ev);
  BOOST_CHECK_EQUAL(items_of(s.list_events(listing(event_status::processed))),
                    "d@g,d@h");
  BOOST_CHECK_EQUAL(s.processed_count(""), 2u);
  BOOST_CHECK_EQUAL(s.processed_count("g"), 1u);
  BOOST_CHECK_EQUAL(s.processed_count("h"), 1u);
  // The ledger entries went, yet every pair stays refused as done (also
  // in a group the type never matched).
  BOOST_CHECK(!s.is_done("g", a.seq));
  BOOST_CHECK(!s.is_done("h", c.seq));
  for (auto& ev : {a, b, c})
    BOOST_CHECK_EQUAL(claim_kind(s, "g", ev, now), claim_decision::done);
  for (auto& ev : {a, b, c})
    BOOST_CHECK_EQUAL(claim_kind(s, "h", ev, now), claim_decision::done);
  // The young entry is untouched.
  BOOST_CHECK_EQUAL(s.find("d").seq, d.seq);
  BOOST_CHECK_EQUAL(s.find("d").payload, d.payload);
  BOOST_CHECK_EQUAL(statuses(s, "d"), "g:processed h:processed");
  BOOST_CHECK_EQUAL(s.processed_of("d").size(), 2u);
  BOOST_CHECK_EQUAL(history_in(s, "d", "g").status, event_status::processed);
  BOOST_CHECK(s.is_done("g", d.seq));
  BOOST_CHECK_EQUAL(s.backlog("g"), 0u);
  BOOST_CHECK_EQUAL(s.backlog("h"), 0u);
  // Seqs are never reused; nothing trimmed comes back.
  BOOST_CHECK_EQUAL(s.head(), head);
  auto e = add(s, "e", "order.created", now);
  BOOST_CHECK_GT(e.seq, head);
  BOOST_CHECK_EQUAL(ids_of(s.read_group("g", 10, now)), "e");
  BOOST_CHECK_EQUAL(ids_of(s.read_group("h", 10, now)), "e");
  BOOST_CHECK_EQUAL(ids_of(s.reclaim("g", now, 0, 10)), "e");
  // Nothing else is old enough; later d goes, e (pending) stays.
  BOOST_CHECK_EQUAL(s.trim(now, 30 * minute, minute, 100), 0u);
  BOOST_CHECK_EQUAL(s.trim(now + 10 * minute, 30 * minute, minute, 100), 1u);
  check_trimmed(s, d);
  BOOST_CHECK_EQUAL(s.find("e").seq, e.seq);
  BOOST_CHECK_EQUAL(statuses(s, "e"), "g:in_flight h:in_flight");
  BOOST_CHECK(s.list_events(listing(event_status::processed)).items.empty());
  BOOST_CHECK_EQUAL(s.processed_count(""), 0u);
  BOOST_CHECK_EQUAL(s.head(), e.seq);
}

BOOST_DATA_TEST_CASE(trim_stops_at_every_groups_oldest_unsettled_entry,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  s.ensure_group({"h", {"*"}});
  auto e1 = add(s, "e1", "t", t0);
  auto e2 = add(s, "e2", "t", t0);
  auto e3 = add(s, "e3", "t", t0);
  auto e4 = add(s, "e4", "t", t0);
  auto e5 = add(s, "e5", "t", t0);
  auto e6 = add(s, "e6", "t", t0);
  BOOST_REQUIRE_EQUAL(s.read_group("g", 10, t0).size(), 6u);
  BOOST_REQUIRE_EQUAL(ids_of(s.read_group("h", 1, t0)), "e1");
  // g: e4 into the retry schedule, e5 leased and unsettled (pending).
  for (auto& ev : {e1, e2, e3, e6})
    process(s, "g", ev, t0 + 1, true);
  auto ep4 = lease(s, "g", e4, t0 + 1);
  BOOST_REQUIRE_EQUAL(settle_one(s, retry_of(make_delivery(e4, "g", ep4),
                                             t0 + minute),
                                 t0 + 2),
                      fence_decision::ok);
  lease(s, "g", e5, t0 + 1, hour);
  process(s, "h", e1, t0 + 1);
  auto now = t0 + hour;
  auto trim = [&] { return s.trim(now, minute, minute, 100); };
  // h has not read e2 yet: only e1 goes.
  BOOST_CHECK_EQUAL(trim(), 1u);
  check_trimmed(s, e1);
  BOOST_CHECK_EQUAL(s.find("e2").seq, e2.seq);
  BOOST_CHECK_EQUAL(trim(), 0u);
  BOOST_REQUIRE_EQUAL(ids_of(s.read_group("h", 10, now)), "e2,e3,e4,e5,e6");
  for (auto& ev : {e2, e3, e4, e5, e6})
    process(s, "h", ev, now, true);
  // g's retry of e4 holds the log back.
  BOOST_CHECK_EQUAL(trim(), 2u);
  check_trimmed(s, e3);
  BOOST_CHECK_EQUAL(s.find("e4").seq, e4.seq);
  BOOST_CHECK_EQUAL(statuses(s, "e4"), "g:retrying h:processed");
  BOOST_CHECK_EQUAL(trim(), 0u);
  auto due = s.take_due(now, 10);
  BOOST_REQUIRE_EQUAL(due.size(), 1u);
  BOOST_CHECK_EQUAL(due[0].ev.id, "e4");
  // Taken but not settled: still in the schedule.
  BOOST_CHECK_EQUAL(trim(), 0u);
  auto d = claim_one(s, "g", e4, holder_a, now);
  BOOST_REQUIRE_EQUAL(d.kind, claim_decision::granted);
  due[0].epoch = d.epoch;
  BOOST_REQUIRE_EQUAL(settle_one(s, done_of(due[0], true), now),
                      fence_decision::ok);
  // g's pending e5 holds it back.
  BOOST_CHECK_EQUAL(trim(), 1u);
  check_trimmed(s, e4);
  BOOST_CHECK_EQUAL(statuses(s, "e5"), "g:in_flight h:processed");
  BOOST_CHECK_EQUAL(trim(), 0u);
  process(s, "g", e5, now + hour);
  BOOST_CHECK_EQUAL(s.trim(now + hour, minute, minute, 100), 2u);
  check_trimmed(s, e5);
  check_trimmed(s, e6);
  BOOST_CHECK_EQUAL(s.head(), e6.seq);
  BOOST_CHECK_EQUAL(s.backlog("g"), 0u);
  BOOST_CHECK_EQUAL(s.backlog("h"), 0u);
  BOOST_CHECK_EQUAL(s.processed_count(""), 0u);
}

BOOST_DATA_TEST_CASE(trim_keeps_entries_within_retention,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto e1 = add(s, "e1", "t", t0);
  auto e2 = add(s, "e2", "t", t0 + minute);
  auto e3 = add(s, "e3", "t", t0 + 2 * minute);
  // Older than e3, but after it in the log: only a prefix goes.
  auto e4 = add(s, "e4", "t", t0);
  s.read_group("g", 10, t0 + 2 * minute);
  for (auto& ev : {e1, e2, e3, e4})
    process(s, "g", ev, t0 + 2 * minute);
  // created_at + retention <= now goes (e2 exactly at the bound); e3 is
  // the first entry within retention and ends the prefix.
  BOOST_CHECK_EQUAL(s.trim(t0 + 10 * minute, 9 * minute, minute, 100), 2u);
  check_trimmed(s, e1);
  check_trimmed(s, e2);
  BOOST_CHECK_EQUAL(s.find("e3").seq, e3.seq);
  BOOST_CHECK_EQUAL(s.find("e4").seq, e4.seq);
  BOOST_CHECK(s.is_done("g", e4.seq));
  BOOST_CHECK_EQUAL(s.trim(t0 + 11 * minute - 1, 9 * minute, minute, 100),
                    0u);
  BOOST_CHECK_EQUAL(s.trim(t0 + 11 * minute, 9 * minute, minute, 100), 2u);
  check_trimmed(s, e3);
  check_trimmed(s, e4);
}

/// Entries of one append batch may have different created_at: the prefix
/// still ends at the first entry within retention, inside a batch too.
BOOST_DATA_TEST_CASE(trim_ends_inside_a_batch_at_its_first_young_entry,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  std::vector<event> one{make_event("a", "t", t0),
                         make_event("b", "t", t0 + 10 * minute),
                         make_event("c", "t", t0)};
  s.append(one, t0, minute);
  std::vector<event> two{make_event("d", "t", t0), make_event("e", "t", t0)};
  s.append(two, t0, minute);
  auto evs = s.read_group("g", 10, t0);
  BOOST_REQUIRE_EQUAL(ids_of(evs), "a,b,c,d,e");
  for (auto& ev : evs)
    process(s, "g", ev, t0 + 1);
  // a is old, b within retention: only a goes.
  BOOST_CHECK_EQUAL(s.trim(t0 + 5 * minute, minute, minute, 100), 1u);
  check_trimmed(s, evs[0]);
  for (size_t i = 1; i < evs.size(); ++i)
    BOOST_CHECK_EQUAL(s.find(evs[i].id).seq, evs[i].seq);
  BOOST_CHECK_EQUAL(s.trim(t0 + 11 * minute - 1, minute, minute, 100), 0u);
  // Once b is old too, the rest goes, at most `max` at a time.
  BOOST_CHECK_EQUAL(s.trim(t0 + 11 * minute, minute, minute, 3), 3u);
  BOOST_CHECK_EQUAL(s.find("e").seq, evs[4].seq);
  BOOST_CHECK_EQUAL(s.trim(t0 + 11 * minute, minute, minute, 3), 1u);
  for (auto& ev : evs)
    check_trimmed(s, ev);
  // New batches after a full trim are indexed and trimmed as well.
  std::vector<event> three{make_event("f", "t", t0 + 20 * minute),
                           make_event("g", "t", t0 + 20 * minute)};
  s.append(three, t0 + 20 * minute, minute);
  auto more = s.read_group("g", 10, t0 + 20 * minute);
  BOOST_REQUIRE_EQUAL(ids_of(more), "f,g");
  for (auto& ev : more)
    process(s, "g", ev, t0 + 20 * minute);
  BOOST_CHECK_EQUAL(s.trim(t0 + 20 * minute, minute, minute, 100), 0u);
  BOOST_CHECK_EQUAL(s.trim(t0 + 21 * minute, minute, minute, 100), 2u);
  BOOST_CHECK_EQUAL(s.head(), more[1].seq);
}

BOOST_DATA_TEST_CASE(trim_removes_at_most_max_oldest_first,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  std::vector<event> evs;
  for (int i = 0; i < 10; ++i)
    evs.push_back(add(s, "e" + std::to_string(i), "t", t0 + i));
  s.read_group("g", 100, t0 + 10);
  for (auto& ev : evs)
    process(s, "g", ev, t0 + 10);
  auto head = s.head();
  std::vector<std::string> counts;
  size_t gone = 0;
  for (int call = 0; call < 6; ++call) {
    auto n = s.trim(t0 + hour, minute, minute, 3);
    counts.push_back(std::to_string(n));
    gone += n;
    BOOST_TEST_CONTEXT("after call " << call) {
      for (size_t i = 0; i < evs.size(); ++i)
        BOOST_CHECK_EQUAL(s.find(evs[i].id).seq, i < gone ? 0u : evs[i].seq);
    }
    if (n < 3)
      break;
  }
  BOOST_CHECK_EQUAL(join(counts), "3,3,3,1");
  BOOST_CHECK_EQUAL(s.trim(t0 + hour, minute, minute, 3), 0u);
  BOOST_CHECK_EQUAL(s.head(), head);
  // max 0 removes nothing.
  auto e = add(s, "late", "t", t0 + hour);
  s.read_group("g", 100, t0 + hour);
  process(s, "g", e, t0 + hour);
  BOOST_CHECK_EQUAL(s.trim(t0 + 3 * hour, minute, minute, 0), 0u);
  BOOST_CHECK_EQUAL(s.find("late").seq, e.seq);
  BOOST_CHECK_EQUAL(s.trim(t0 + 3 * hour, minute, minute, 1), 1u);
  check_trimmed(s, e);
}

BOOST_DATA_TEST_CASE(trim_keeps_dedup_answers_within_window,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto a = add(s, "a", "order.created", t0, hour);
  s.read_group("g", 10, t0);
  process(s, "g", a, t0 + 1);
  // Retention (1 min) shorter than the dedup window (1 h).
  BOOST_CHECK_EQUAL(s.trim(t0 + 2 * minute, minute, hour, 100), 1u);
  check_trimmed(s, a);
  auto dup = append_again(s, "a", "order.created", t0 + 3 * minute, hour);
  BOOST_CHECK(dup.duplicate);
  BOOST_CHECK_EQUAL(dup.seq, a.seq);
  BOOST_CHECK_EQUAL(dup.original, event_status::unknown);
  BOOST_CHECK_EQUAL(s.head(), a.seq);
  BOOST_CHECK_EQUAL(s.trim(t0 + hour - 1, minute, hour, 100), 0u);
  dup = append_again(s, "a", "order.created", t0 + hour - 1, hour);
  BOOST_CHECK(dup.duplicate);
  BOOST_CHECK_EQUAL(dup.seq, a.seq);
  // Past the window the id is new again.
  auto again = append_again(s, "a", "order.paid", t0 + hour, hour);
  BOOST_CHECK(!again.duplicate);
  BOOST_CHECK_GT(again.seq, a.seq);
  BOOST_CHECK_EQUAL(s.find("a").seq, again.seq);
  // Clearing the trimmed event's dedup memory (its window has passed)
  // leaves the new event's alone.
  BOOST_CHECK_EQUAL(s.trim(t0 + 2 * hour, minute, hour, 100), 0u);
  BOOST_CHECK_EQUAL(s.find("a").type, "order.paid");
  dup = append_again(s, "a", "order.paid", t0 + 2 * hour - 1, hour);
  BOOST_CHECK(dup.duplicate);
  BOOST_CHECK_EQUAL(dup.seq, again.seq);
  BOOST_CHECK_EQUAL(dup.original, event_status::accepted);
}

BOOST_DATA_TEST_CASE(trim_keeps_dlq_entries_replayable_once,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  s.ensure_group({"h", {"*"}});
  auto x = add(s, "x", "order.created", t0);
  auto y = add(s, "y", "order.created", t0);
  s.read_group("g", 10, t0);
  s.read_group("h", 10, t0);
  // x dies in g and is processed in h; y is processed in both.
  kill_one(s, "g", x, t0 + 1, "boom");
  process(s, "h", x, t0 + 2, true);
  process(s, "g", y, t0 + 2, true);
  process(s, "h", y, t0 + 2, true);
  auto now = t0 + hour;
  BOOST_CHECK_EQUAL(s.trim(now, minute, minute, 100), 2u);
  check_trimmed(s, x);
  check_trimmed(s, y);
  BOOST_CHECK_EQUAL(s.processed_count("g"), 0u);
  // The DLQ keeps its own copy of the delivery.
  BOOST_CHECK_EQUAL(s.dlq_size(), 1u);
  BOOST_CHECK_EQUAL(s.dlq_count("g"), 1u);
  auto listed = s.dlq_list({"", 0, 100});
  BOOST_REQUIRE_EQUAL(listed.entries.size(), 1u);
  BOOST_CHECK_EQUAL(listed.entries[0].dl.ev.id, "x");
  auto dead = s.dlq_get("x");
  BOOST_REQUIRE_EQUAL(dead.size(), 1u);
  BOOST_CHECK_EQUAL(dead[0].dl.group, "g");
  BOOST_CHECK_EQUAL(dead[0].dl.ev.seq, x.seq);
  BOOST_CHECK_EQUAL(dead[0].dl.ev.payload, x.payload);
  BOOST_CHECK_EQUAL(dead[0].last_error, "boom");
  BOOST_REQUIRE_EQUAL(dead[0].dl.history.size(), 1u);
  // Where it was processed, it stays refused.
  BOOST_CHECK_EQUAL(claim_kind(s, "h", x, now), claim_decision::done);
  // Replayed: due now, with the event and its history.
  BOOST_CHECK_EQUAL(s.dlq_replay("x", "", now), 1u);
  BOOST_CHECK_EQUAL(s.dlq_size(), 0u);
  BOOST_CHECK_EQUAL(s.scheduled(), 1u);
  auto dl = process_due(s, "g", x, now + 1);
  BOOST_CHECK_EQUAL(dl.ev.seq, x.seq);
  BOOST_CHECK_EQUAL(dl.ev.payload, x.payload);
  BOOST_CHECK_EQUAL(dl.attempt, 1u);
  BOOST_CHECK_EQUAL(dl.history.size(), 1u);
  BOOST_CHECK_EQUAL(s.scheduled(), 0u);
  BOOST_CHECK_EQUAL(s.processed_count("g"), 1u);
  // Once: a second completion and a new claim are refused.
  BOOST_CHECK(settle_one(s, done_of(dl, true), now + 3)
              != fence_decision::ok);
  BOOST_CHECK_EQUAL(claim_kind(s, "g", x, now + 4), claim_decision::done);
  BOOST_CHECK_EQUAL(s.processed_count("g"), 1u);
  BOOST_CHECK(s.dlq_list({"", 0, 100}).entries.empty());
}

/// Not spelled out in ports.hpp: a replay of an event trimmed earlier sits
/// in the retry schedule below the trim point. It needs no log entry, so it
/// does not hold the rest of the log back.
BOOST_DATA_TEST_CASE(trim_not_held_back_by_replays_of_trimmed_events,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto x = add(s, "x", "t", t0);
  s.read_group("g", 10, t0);
  kill_one(s, "g", x, t0 + 1, "boom");
  BOOST_CHECK_EQUAL(s.trim(t0 + hour, minute, minute, 100), 1u);
  BOOST_REQUIRE_EQUAL(s.dlq_replay("x", "g", t0 + hour), 1u);
  auto z = add(s, "z", "t", t0 + hour);
  s.read_group("g", 10, t0 + hour);
  process(s, "g", z, t0 + hour);
  BOOST_CHECK_EQUAL(s.trim(t0 + 2 * hour, minute, minute, 100), 1u);
  check_trimmed(s, z);
  // The replay is still scheduled and runs once.
  BOOST_CHECK_EQUAL(s.scheduled(), 1u);
  process_due(s, "g", x, t0 + 2 * hour);
  BOOST_CHECK_EQUAL(claim_kind(s, "g", x, t0 + 2 * hour),
                    claim_decision::done);
}

/// A group registered from the start after a trim (a group the store lost
/// and a node registered again) reads and counts only what is left.
BOOST_DATA_TEST_CASE(group_from_start_after_trim_counts_what_is_left,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  s.ensure_group({"g", {"*"}});
  auto a = add(s, "a", "t", t0);
  auto b = add(s, "b", "t", t0);
  s.read_group("g", 10, t0);
  process(s, "g", a, t0 + 1);
  process(s, "g", b, t0 + 1);
  BOOST_REQUIRE_EQUAL(s.trim(t0 + hour, minute, minute, 100), 2u);
  auto c = add(s, "c", "t", t0 + hour);
  s.ensure_group({"late", {"*"}, true});
  BOOST_CHECK_EQUAL(s.backlog("late"), 1u);
  BOOST_CHECK_EQUAL(ids_of(s.read_group("late", 10, t0 + hour)), "c");
  BOOST_CHECK_EQUAL(s.backlog("late"), 1u);
  process(s, "late", c, t0 + hour);
  BOOST_CHECK_EQUAL(s.backlog("late"), 0u);
  BOOST_CHECK_EQUAL(s.backlog("g"), 1u);
}

BOOST_DATA_TEST_CASE(trim_survives_reopen, bdata::make(persistent_backends),
                     name) {
  harness h{name};
  std::vector<event> evs;
  uint64_t head = 0;
  {
    auto& s = *h.s;
    s.ensure_group({"g", {"*"}});
    for (int i = 1; i <= 5; ++i)
      evs.push_back(add(s, "e" + std::to_string(i), "order.created", t0,
                        hour));
    BOOST_REQUIRE_EQUAL(s.read_group("g", 3, t0).size(), 3u);
    process(s, "g", evs[0], t0 + 1, true);
    kill_one(s, "g", evs[1], t0 + 1, "boom");
    lease(s, "g", evs[2], t0 + 1); // e3 pending; e4 and e5 not read
    BOOST_CHECK_EQUAL(s.trim(t0 + 2 * minute, minute, hour, 100), 2u);
    head = s.head();
  }
  h.reopen();
  {
    auto& s = *h.s;
    auto now = t0 + 3 * minute;
    BOOST_CHECK_EQUAL(s.head(), head);
    check_trimmed(s, evs[0]);
    check_trimmed(s, evs[1]);
    BOOST_CHECK_EQUAL(claim_kind(s, "g", evs[0], now), claim_decision::done);
    BOOST_CHECK_EQUAL(s.processed_count(""), 0u);
    auto dup = append_again(s, "e1", "order.created", now, hour);
    BOOST_CHECK(dup.duplicate);
    BOOST_CHECK_EQUAL(dup.seq, evs[0].seq);
    // Unsettled entries come back (as pending or as new), trimmed never.
    BOOST_CHECK_EQUAL(s.backlog("g"), 3u);
    std::vector<std::string> again;
    for (auto& ev : s.reclaim("g", now, 0, 100))
      again.push_back(ev.id);
    for (auto& ev : s.read_group("g", 100, now))
      again.push_back(ev.id);
    std::sort(again.begin(), again.end());
    BOOST_CHECK_EQUAL(join(again), "e3,e4,e5");
    // The DLQ entry of the trimmed e2 is kept and replays.
    BOOST_REQUIRE_EQUAL(s.dlq_get("e2").size(), 1u);
    BOOST_REQUIRE_EQUAL(s.dlq_replay("e2", "g", now), 1u);
    process_due(s, "g", evs[1], now);
    for (int i : {2, 3, 4})
      process(s, "g", evs[i], now + 1, true);
    BOOST_CHECK_EQUAL(s.trim(now + 10 * minute, minute, hour, 100), 3u);
    BOOST_CHECK_EQUAL(s.head(), head);
  }
  // Everything trimmed: the head, the refusals and the dedup memory stay.
  h.reopen();
  auto& s = *h.s;
  auto now = t0 + 20 * minute;
  BOOST_CHECK_EQUAL(s.head(), head);
  for (auto& ev : evs) {
    check_trimmed(s, ev);
    BOOST_CHECK_EQUAL(claim_kind(s, "g", ev, now), claim_decision::done);
  }
  BOOST_CHECK(s.read_group("g", 100, now).empty());
  BOOST_CHECK(s.reclaim("g", now, 0, 100).empty());
  BOOST_CHECK_EQUAL(s.backlog("g"), 0u);
  BOOST_CHECK(s.dlq_list({"", 0, 100}).entries.empty());
  BOOST_CHECK(append_again(s, "e5", "order.created", now, hour).duplicate);
  auto f = add(s, "f", "order.created", now, hour);
  BOOST_CHECK_GT(f.seq, head);
  BOOST_CHECK_EQUAL(ids_of(s.read_group("g", 100, now)), "f");
}

BOOST_AUTO_TEST_SUITE_END()

// -- SQLite specifics (not part of the contract) ---------------------------

BOOST_AUTO_TEST_SUITE(sqlite_adapter)

BOOST_AUTO_TEST_CASE(open_failure_names_path_and_reason) {
  sqlite_options opts;
  opts.path = "/nonexistent-onceflow-dir/sub/store.db";
  try {
    make_sqlite_store(opts);
    BOOST_FAIL("opened a store in a missing directory");
  } catch (const store_error& ex) {
    std::string what = ex.what();
    BOOST_TEST_MESSAGE(what);
    BOOST_CHECK(what.find(opts.path) != std::string::npos);
    BOOST_CHECK(what.find("unable to open") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(not_a_database_is_refused) {
  temp_dir dir;
  auto file = dir.path() / "garbage.db";
  {
    std::FILE* f = std::fopen(file.c_str(), "wb");
    BOOST_REQUIRE(f != nullptr);
    std::string junk(4096, 'x');
    std::fwrite(junk.data(), 1, junk.size(), f);
    std::fclose(f);
  }
  sqlite_options opts;
  opts.path = file.string();
  BOOST_CHECK_EXCEPTION(make_sqlite_store(opts), store_error,
                        [&](const store_error& ex) {
                          std::string what = ex.what();
                          return what.find(opts.path) != std::string::npos;
                        });
}

/// White box: the first column of the first row of `sql` on the database
/// file, read through a second connection (-1 without a row).
int64_t read_db_int(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  BOOST_REQUIRE_EQUAL(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY,
                                      nullptr),
                      SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  BOOST_REQUIRE_EQUAL(sqlite3_prepare_v2(db, sql, -1, &st, nullptr),
                      SQLITE_OK);
  int64_t value = -1;
  if (sqlite3_step(st) == SQLITE_ROW)
    value = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return value;
}

/// White box: the durable cursor and the epoch high-water mark as stored.
BOOST_AUTO_TEST_CASE(cursor_and_epoch_mark_are_persisted) {
  temp_dir dir;
  sqlite_options opts;
  opts.path = (dir.path() / "store.db").string();
  auto s = make_sqlite_store(opts);
  auto read_int = [&](const char* sql) { return read_db_int(opts.path, sql); };
  const char* cursor_sql = "SELECT cursor FROM groups WHERE name='g'";
  add(*s, "x", "t", t0);
  s->ensure_group({"g", {"*"}});
  BOOST_CHECK_EQUAL(read_int(cursor_sql), 1);
  std::vector<event> evs;
  for (int i = 1; i <= 5; ++i)
    evs.push_back(add(*s, "e" + std::to_string(i), "t", t0));
  BOOST_REQUIRE_EQUAL(s->read_group("g", 10, t0).size(), 5u);
  uint64_t max_epoch = 0;
  for (int i : {1, 2, 4}) {
    auto ep = lease(*s, "g", evs[i - 1], t0);
    max_epoch = std::max(max_epoch, ep);
    BOOST_REQUIRE_EQUAL(
      settle_one(*s, done_of(make_delivery(evs[i - 1], "g", ep)), t0),
      fence_decision::ok);
  }
  BOOST_CHECK_EQUAL(read_int(cursor_sql), 3); // e3 (seq 4) pending
  BOOST_CHECK_GE(read_int("SELECT value FROM meta WHERE key='epoch_hwm'"),
                 static_cast<int64_t>(max_epoch));
  process(*s, "g", evs[2], t0);
  BOOST_CHECK_EQUAL(read_int(cursor_sql), 5); // e5 (seq 6) pending
  process(*s, "g", evs[4], t0);
  BOOST_CHECK_EQUAL(read_int(cursor_sql), 6);
}

/// White box: the rows `trim` deletes, the ones it keeps, and its marks.
BOOST_AUTO_TEST_CASE(trim_deletes_rows_and_persists_its_marks) {
  temp_dir dir;
  sqlite_options opts;
  opts.path = (dir.path() / "store.db").string();
  auto s = make_sqlite_store(opts);
  auto count = [&](const std::string& table) {
    return read_db_int(opts.path, ("SELECT count(*) FROM " + table).c_str());
  };
  s->ensure_group({"g", {"*"}});
  s->ensure_group({"h", {"*"}});
  // e1 and e2 at t0, e3 and e4 half an hour later; the dedup window is an
  // hour, retention a minute.
  constexpr millis_t hour = 60 * minute;
  std::vector<event> evs;
  for (int i = 1; i <= 4; ++i)
    evs.push_back(add(*s, "e" + std::to_string(i), "t",
                      i <= 2 ? t0 : t0 + 30 * minute, hour));
  s->read_group("g", 10, t0 + 30 * minute);
  s->read_group("h", 10, t0 + 30 * minute);
  for (auto& ev : evs) {
    process(*s, "g", ev, t0 + 30 * minute, true);
    process(*s, "h", ev, t0 + 30 * minute, true);
  }
  BOOST_REQUIRE_EQUAL(count("ledger"), 8);
  BOOST_REQUIRE_EQUAL(count("processed"), 8);
  // At t0 + 1 h the window of e1 and e2 has passed, not that of e3 and e4.
  BOOST_REQUIRE_EQUAL(s->trim(t0 + hour, minute, hour, 100), 4u);
  BOOST_CHECK_EQUAL(count("log"), 0);
  BOOST_CHECK_EQUAL(count("ledger"), 0);
  BOOST_CHECK_EQUAL(count("processed"), 0);
  BOOST_CHECK_EQUAL(count("dedup"), 2);
  BOOST_CHECK_EQUAL(count("dedup_trimmed"), 2);
  BOOST_CHECK_EQUAL(
    read_db_int(opts.path, "SELECT value FROM meta WHERE key='trimmed_to'"),
    4);
  BOOST_CHECK_EQUAL(
    read_db_int(opts.path, "SELECT min(cursor) FROM groups"), 4);
  // The rest of the dedup memory goes once its window has passed.
  BOOST_CHECK_EQUAL(s->trim(t0 + 90 * minute - 1, minute, hour, 100), 0u);
  BOOST_CHECK_EQUAL(count("dedup"), 2);
  BOOST_CHECK_EQUAL(s->trim(t0 + 90 * minute, minute, hour, 100), 0u);
  BOOST_CHECK_EQUAL(count("dedup"), 0);
  BOOST_CHECK_EQUAL(count("dedup_trimmed"), 0);
  BOOST_CHECK_EQUAL(s->head(), evs.back().seq);
}

BOOST_AUTO_TEST_CASE(bad_options_and_unknown_group) {
  sqlite_options opts;
  opts.synchronous = "sometimes";
  BOOST_CHECK_THROW(make_sqlite_store(opts), store_error);
  auto s = make_sqlite_store(sqlite_options{});
  BOOST_CHECK_EQUAL(s->describe(), "sqlite::memory:");
  BOOST_CHECK_THROW(s->read_group("missing", 1, t0), store_error);
  BOOST_CHECK_THROW(s->reclaim("missing", t0, 0, 1), store_error);
  BOOST_CHECK_THROW(s->backlog("missing"), store_error);
}

BOOST_AUTO_TEST_SUITE_END()
