#pragma once

// Several onceflow nodes in one test process, each its own actor_system on
// CAF's test coordinator with CAF's test multiplexer as network backend
// (caf/io/network/test_multiplexer.hpp, as CAF's own io tests use it). This
// file plays the network between them: it moves bytes from one node's
// connection to its peer's, lets a connect reach the peer's acceptor, tells
// a side that its peer closed (EOF/RST), drops what crosses a cut, and runs
// ready actors and brokers one at a time, in an order a seeded PRNG picks
// (std::mt19937_64). The same seed gives the same run. Time moves only when
// a test advances it, on every node's clock alike.
//
// What runs is onceflow's and CAF's own code: the node manager connects
// through the middleman actor, BASP handshakes (with the schema as
// application identifier), heartbeats and connection timeouts are CAF's,
// and so are proxies dying with their node's last connection (DOWN).

#include "actors/handlers.hpp"
#include "adapters/forwarding_store.hpp"
#include "config/node_config.hpp"
#include "runtime/node.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/accept_handle.hpp>
#include <caf/io/connection_handle.hpp>
#include <caf/io/network/test_multiplexer.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace onceflow::test {

/// The seeds a scenario runs with: OF_TEST_SEED=N runs seed N alone (to
/// reproduce a failure); otherwise `count` seeds from a fixed base.
std::vector<uint64_t> test_seeds(size_t count);

/// A core's store that records what the deduplicator asked of it: every
/// claim with its decision, every lease granted (holder, event, epoch) and
/// every settlement with the fence's decision.
class recording_store : public forwarding_store {
public:
  using forwarding_store::forwarding_store;

  struct grant {
    std::string holder;
    std::string event_id;
    uint64_t epoch = 0;
    millis_t expires_at = 0;
  };

  struct settled {
    std::string event_id;
    std::string listener;
    uint64_t epoch = 0;
    settle_kind kind = settle_kind::done;
    fence_decision decision = fence_decision::ok;
  };

  struct claimed {
    std::string holder;
    std::string event_id;
    claim_decision::kind_t kind = claim_decision::granted;
  };

  /// Leases granted by claims and by reads.
  std::vector<grant> grants;
  /// Every claim with its decision (granted, held, done, crash loop).
  std::vector<claimed> claims;
  std::vector<settled> settlements;

  std::vector<claim_decision>
  claim(const std::vector<claim_request>& reqs, const std::string& holder,
        millis_t now, millis_t ttl, uint32_t crash_budget) override;

  /// Leases granted with a read are recorded as grants to the read's
  /// holder ("<node>/<group>/read").
  std::vector<delivery> read_leased(const std::string& group, size_t max,
                                    millis_t now, const std::string& holder,
                                    millis_t ttl,
                                    uint32_t crash_budget) override;

  std::vector<fence_decision> settle(const std::vector<settlement>& items,
                                     millis_t now) override;

  /// The leases granted to holders whose name starts with `prefix`.
  std::vector<grant> grants_to(const std::string& prefix) const;
};

/// One node: its actor system (test coordinator, test multiplexer), its
/// config and actors.
struct sim_node {
  std::string name;
  uint16_t port = 0;
  /// The handlers this node's listeners run; outlives the actor system.
  handler_registry handlers;
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  caf::io::network::test_multiplexer* mpx = nullptr;
  caf::io::accept_handle acceptor;
  node_config ncfg;
  node_actors n;
  /// A core's store (null on a worker).
  std::shared_ptr<recording_store> st;
  /// The schema this node speaks (middleman.app-identifiers).
  std::string schema;
  /// Publishes its endpoint: accepts connects.
  bool listening = false;
  /// Nothing of it runs (SIGSTOP): no actor, no broker, no socket event.
  bool frozen = false;
};

/// How a node is made.
struct sim_node_spec {
  std::string name;
  /// Makes the node speak another schema (OF_TEST_SCHEMA_SALT while it is
  /// built): in CAF's handshake (app identifiers) and in its hello.
  std::string salt;
  /// With `salt`: the app identifiers stay this binary's, only the hello
  /// says another schema (a peer without the connect-time guard).
  bool salt_hello_only = false;
};

/// One TCP connection between two nodes, as both multiplexers see it.
struct sim_link {
  size_t client = 0;
  size_t server = 0;
  caf::io::connection_handle client_hdl;
  caf::io::connection_handle server_hdl;
  /// The client's middleman took the connection (it connects).
  bool connecting = false;
  /// The connect reached the server's acceptor.
  bool arrived = false;
  /// Each side closed (its broker, or an EOF/RST it was told of).
  bool client_closed = false;
  bool server_closed = false;
};

/// The network and its nodes.
class sim_network {
public:
  explicit sim_network(uint64_t seed);
  ~sim_network();

  sim_network(const sim_network&) = delete;
  sim_network& operator=(const sim_network&) = delete;

  uint64_t seed() const {
    return seed_;
  }

  /// The cluster config every node shares (set before adding nodes).
  cluster_config cluster;
  /// The groups of the cluster (each node runs its `listeners` entries).
  std::vector<group_config> groups;

  /// Adds a node of the cluster config (its entry in `cluster`), spawns its
  /// actors (a core on an embedded store in memory) and publishes its
  /// endpoint. Nothing runs yet.
  sim_node& add(const sim_node_spec& spec,
                const std::function<void(sim_node&)>& before_start = {});

  sim_node& node(const std::string& name);
  size_t index_of(const std::string& name) const;

  /// Runs one event chosen by the PRNG: a ready actor (a random one of the
  /// node's ready actors, one message), a broker's turn, a socket read, an
  /// accept, a connect reaching its acceptor, an EOF reaching a side.
  /// Returns false when nothing is ready on any node that is not frozen.
  bool step();

  /// Steps until nothing is ready; fails the test after `max_steps`.
  size_t run(size_t max_steps = 2'000'000);

  /// Steps until `pred` holds (checked between steps) or nothing is ready;
  /// returns whether it holds.
  bool run_until(const std::function<bool()>& pred,
                 size_t max_steps = 2'000'000);

  /// Moves every node's clock by `d` (timers fire: their messages wait
  /// for their actors to run), then runs.
  void advance(std::chrono::milliseconds d);

  /// Advances in steps of `step` until `pred` holds; returns the simulated
  /// time it took, or nothing if it did not hold within `limit`.
  std::optional<std::chrono::milliseconds> advance_until(
    const std::function<bool()>& pred, std::chrono::milliseconds limit,
    std::chrono::milliseconds step = std::chrono::milliseconds{100});

  /// Simulated time since the start.
  std::chrono::milliseconds now() const {
    return elapsed_;
  }

  /// Cuts the network between two nodes: nothing crosses (bytes in flight
  /// are lost, connects never arrive, no EOF is seen) until `heal`. Each
  /// side finds out through its heartbeats (connection timeout).
  void cut(const std::string& a, const std::string& b);
  void heal(const std::string& a, const std::string& b);

  /// Every connection between two nodes dies now and both sides see it
  /// (the kernel resets them, as at a kill -9 of the process that holds
  /// them): CAF's proxies of the other node die, DOWN.
  void reset(const std::string& a, const std::string& b);

  /// Open connections between two nodes.
  size_t open_links(const std::string& a, const std::string& b) const;

  const std::vector<sim_link>& links() const {
    return links_;
  }

  /// A random number below `n` from the run's PRNG.
  size_t pick(size_t n);

  /// A digest of every event run so far (which kind, on which node or
  /// connection, which of the ready actors): equal for equal runs.
  uint64_t digest() const {
    return digest_;
  }

  /// Events run so far.
  uint64_t steps() const {
    return steps_;
  }

  std::vector<std::unique_ptr<sim_node>> nodes;

private:
  enum class act : uint8_t { job, runnable, read, arrive, eof };

  struct action {
    act kind;
    size_t node;
    size_t link;
    bool to_client;
  };

  bool is_cut(size_t a, size_t b) const;
  bool side_open(const sim_node& n, caf::io::connection_handle h) const;
  bool readable(const sim_node& n, caf::io::connection_handle h) const;
  void close_side(sim_node& n, caf::io::connection_handle h);
  /// Bookkeeping between steps: which sides closed, which connects the
  /// clients began, fresh connections for clients to use, bytes lost in
  /// cuts.
  void maintain();
  bool perform(const action& a);
  void note(uint64_t x);

  uint64_t seed_;
  std::mt19937_64 rng_;
  std::vector<sim_link> links_;
  std::set<std::pair<size_t, size_t>> cuts_;
  int64_t next_hdl_ = 0;
  uint64_t digest_ = 14695981039346656037ULL;
  uint64_t steps_ = 0;
  std::chrono::milliseconds elapsed_{0};
};

} // namespace onceflow::test
