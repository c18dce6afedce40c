#pragma once

// The fixture of the store contract suite: the backends every contract case
// runs against, a harness that opens (and reopens) a store of one of them,
// and the helpers the contract files share; the Redis server the Redis
// backend and the redis_adapter tests share, and their helpers.
//
// The contract: every store adapter must pass every test case of the
// *_contract suites (one file per port in this folder). Each case is a data
// test case over `all_backends`, so it runs once per backend; cases that
// need data to survive a reopen run over `persistent_backends` only. To add
// an adapter, add a `backend` subclass and an entry to `backends()`
// (backends.cpp).

#include "adapters/ports.hpp"
#include "adapters/redis/redis_store.hpp"
#include "tests/support/print.hpp"
#include "tests/support/redis_server.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace onceflow::test {

namespace bdata = boost::unit_test::data;

// -- backends ----------------------------------------------------------------

/// One backend under test. Each `open` opens a store over the same data
/// (for persistent backends, what earlier stores wrote).
class backend {
public:
  virtual ~backend() = default;

  virtual store_ptr open() = 0;

  /// The node name the stores `open` makes are opened for.
  std::string node = "node-1";

  /// How long a retry handed out by take_due stays taken before it is
  /// handed out again while unsettled and not renewed (ports.hpp,
  /// take_due); -1: until it is settled, released or the store reopened.
  virtual millis_t taken_hold() const {
    return -1;
  }
};

struct backend_entry {
  std::string name;
  /// True if a reopened store sees what earlier stores wrote.
  bool persistent;
  std::function<std::unique_ptr<backend>()> make;
};

/// Every backend of this run: SQLite in memory, SQLite on a file, and Redis
/// (each backend a deployment on the shared server) if redis-server is on
/// PATH.
const std::vector<backend_entry>& backends();

/// Names of the backends (of the persistent ones if `persistent_only`).
std::vector<std::string> backend_names(bool persistent_only);

/// The samples of the contract cases. Inline variables: initialized before
/// the test cases of each file that includes this header register.
inline const auto all_backends = backend_names(false);
inline const auto persistent_backends = backend_names(true);

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

inline constexpr millis_t t0 = 1'700'000'000'000;
inline constexpr millis_t minute = 60'000;
inline const std::string holder_a = "node-a/listener-1";
inline const std::string holder_b = "node-b/listener-1";

/// An event of high priority with the payload {"id":"<id>"}.
event make_event(const std::string& id, const std::string& type, millis_t now);

/// Appends one event that must be accepted; returns it with its seq.
event add(store& s, const std::string& id, const std::string& type,
          millis_t now, millis_t window = minute);

/// Ids of the events, comma-separated: "a,b,c".
std::string ids_of(const std::vector<event>& evs);

/// The strings, comma-separated.
std::string join(const std::vector<std::string>& xs);

/// Claims one pair for `holder`; returns the decision.
claim_decision claim_one(store& s, const std::string& group, const event& ev,
                         const std::string& holder, millis_t now,
                         millis_t ttl = 1000, uint32_t budget = 3);

/// Claims for `holder_a`; the lease must be granted. Returns the epoch.
uint64_t lease(store& s, const std::string& group, const event& ev,
               millis_t now, millis_t ttl = 1000);

delivery make_delivery(const event& ev, const std::string& group,
                       uint64_t epoch, uint32_t attempt = 1);

/// An attempt record of node-a/listener-1.
attempt_record make_attempt(uint32_t n, millis_t at, uint64_t epoch,
                            outcome result, const std::string& error);

settlement done_of(const delivery& dl, bool record_effect = false);

settlement retry_of(const delivery& dl, millis_t due);

settlement dead_of(const delivery& dl, dlq_reason reason,
                   const std::string& error);

settlement release_of(const delivery& dl);

/// Settles one item; returns its decision.
fence_decision settle_one(store& s, const settlement& st, millis_t now);

/// Claims and settles `done`; the commit must succeed.
void process(store& s, const std::string& group, const event& ev, millis_t now,
             bool record_effect = false);

/// status_of by group; checks that no group is listed twice.
std::map<std::string, event_status> status_map(store& s, const std::string& id);

/// "group:status ..." of the event, ordered by group.
std::string statuses(store& s, const std::string& id);

/// history_of by group; checks that it lists the groups of status_of with
/// the same statuses, each once.
std::map<std::string, group_history> history_map(store& s,
                                                 const std::string& id);

/// The history of `id` in `group`, which must be listed.
group_history history_in(store& s, const std::string& id,
                         const std::string& group);

/// "id@group" of the items, in their order.
std::string items_of(const event_listing& l);

std::string items_of(const std::vector<event_listing_item>& xs);

/// A list_events query.
event_listing_query listing(event_status st, const std::string& group = "",
                            uint64_t after = 0, size_t limit = 100);

// -- Redis -------------------------------------------------------------------

/// True if redis-server is on PATH; prints once, otherwise, that the Redis
/// backend and the redis_adapter tests are skipped (CI installs it, so CI
/// never skips).
bool redis_backend_available();

/// True, with a message, if the test is to be skipped (no redis-server).
bool skip_redis_tests();

/// The server shared by every Redis backend of the contract suite and the
/// redis_adapter tests that need no server of their own.
redis_server& shared_server();

/// A prefix no other deployment of this test run uses.
std::string unique_prefix(const std::string& tag);

/// A Redis store on `url` with the key prefix `prefix`.
store_ptr open_store(const std::string& url, const std::string& prefix,
                     const std::string& node = "node-1");

/// Expects make_redis_store to throw store_error containing every needle.
void expect_open_error(const redis_options& opts,
                       const std::vector<std::string>& needles);

/// An event of normal priority created at t0, with the payload
/// {"id":"<id>"}.
event make_event(const std::string& id, const std::string& type);

/// Appends events `<prefix>0` .. `<prefix><n-1>` of type "t" at t0 to a
/// store with group "g"; returns them with their seqs.
std::vector<event> append_numbered(store& s, const std::string& prefix, int n);

/// Claims the events in group "g" at `now` and settles them done at
/// now + 10; every step must succeed.
void process_all(store& s, const std::vector<event>& evs, millis_t now);

} // namespace onceflow::test
