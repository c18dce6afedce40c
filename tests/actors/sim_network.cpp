#include "tests/actors/sim_network.hpp"

#include "adapters/embedded/sqlite_store.hpp"
#include "runtime/cluster/schema.hpp"

#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/io/network/operation.hpp>
#include <caf/io/receive_policy.hpp>
#include <caf/io/scribe.hpp>
#include <caf/scoped_actor.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdlib>

namespace onceflow::test {

namespace {

/// A node's actor system: the test coordinator, CAF's test multiplexer as
/// network backend, the middleman's actor on the test coordinator, and the
/// network options every onceflow process sets (runtime/main.cpp): the
/// schema as the only application identifier, heartbeats and the
/// connection timeout of the cluster config.
struct sim_config : caf::actor_system_config {
  sim_config(const std::string& schema, const cluster_config& cc) {
    register_types(*this);
    load<caf::io::middleman>();
    set("scheduler.policy", caf::atom("testing"));
    set("logger.inline-output", true);
    set("middleman.network-backend", caf::atom("testing"));
    set("middleman.manual-multiplexing", true);
    set("middleman.workers", size_t{0});
    set("middleman.attach-utility-actors", true);
    set("middleman.app-identifiers", std::vector<std::string>{schema});
    set("middleman.heartbeat-interval",
        caf::timespan{std::chrono::milliseconds(cc.heartbeat_interval)});
    set("middleman.connection-timeout",
        caf::timespan{std::chrono::milliseconds(cc.connection_timeout)});
  }
};

/// Sets OF_TEST_SCHEMA_SALT (runtime/cluster/schema.cpp) while it lives,
/// then restores what was there.
class schema_salt {
public:
  explicit schema_salt(const std::string& salt) {
    if (const char* old = std::getenv(var)) // NOLINT(concurrency-mt-unsafe)
      old_ = old;
    if (!salt.empty())
      ::setenv(var, salt.c_str(), 1); // NOLINT(concurrency-mt-unsafe)
  }
  ~schema_salt() {
    if (old_)
      ::setenv(var, old_->c_str(), 1); // NOLINT(concurrency-mt-unsafe)
    else
      ::unsetenv(var); // NOLINT(concurrency-mt-unsafe)
  }
  schema_salt(const schema_salt&) = delete;
  schema_salt& operator=(const schema_salt&) = delete;

private:
  static constexpr const char* var = "OF_TEST_SCHEMA_SALT";
  std::optional<std::string> old_;
};

} // namespace

std::vector<uint64_t> test_seeds(size_t count) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
  if (const char* s = std::getenv("OF_TEST_SEED"); s != nullptr && *s != 0)
    return {std::strtoull(s, nullptr, 10)};
  std::vector<uint64_t> xs;
  for (size_t i = 0; i < count; ++i)
    xs.push_back(20261210 + i);
  return xs;
}

// -- recording_store ---------------------------------------------------------

std::vector<claim_decision>
recording_store::claim(const std::vector<claim_request>& reqs,
                       const std::string& holder, millis_t now, millis_t ttl,
                       uint32_t crash_budget) {
  auto ds = forwarding_store::claim(reqs, holder, now, ttl, crash_budget);
  for (size_t i = 0; i < ds.size() && i < reqs.size(); ++i) {
    claims.push_back({holder, reqs[i].event_id, ds[i].kind});
    if (ds[i].kind == claim_decision::granted)
      grants.push_back(
        {holder, reqs[i].event_id, ds[i].epoch, ds[i].expires_at});
  }
  return ds;
}

std::vector<delivery>
recording_store::read_leased(const std::string& group, size_t max, millis_t now,
                             const std::string& holder, millis_t ttl,
                             uint32_t crash_budget) {
  auto dls = forwarding_store::read_leased(group, max, now, holder, ttl,
                                           crash_budget);
  for (auto& dl : dls)
    if (dl.lease_until > 0)
      grants.push_back({holder, dl.ev.id, dl.epoch, dl.lease_until});
  return dls;
}

std::vector<fence_decision>
recording_store::settle(const std::vector<settlement>& items, millis_t now) {
  auto ds = forwarding_store::settle(items, now);
  for (size_t i = 0; i < ds.size() && i < items.size(); ++i) {
    auto& s = items[i];
    std::string listener;
    if (!s.dl.history.empty())
      listener = s.dl.history.back().listener;
    settlements.push_back({s.dl.ev.id, listener, s.dl.epoch, s.kind, ds[i]});
  }
  return ds;
}

std::vector<recording_store::grant>
recording_store::grants_to(const std::string& prefix) const {
  std::vector<grant> out;
  for (auto& g : grants)
    if (g.holder.compare(0, prefix.size(), prefix) == 0)
      out.push_back(g);
  return out;
}

// -- sim_network -------------------------------------------------------------

sim_network::sim_network(uint64_t seed) : seed_(seed), rng_(seed) {
  // nop
}

sim_network::~sim_network() {
  for (auto& n : nodes)
    n->frozen = false;
  for (auto& n : nodes)
    if (n->sys)
      stop_node(*n->sys, n->n);
  // Exits travel over the network too (a core's broadcaster takes its
  // remote listeners down with it).
  for (size_t i = 0; i < 100'000 && step(); ++i)
    ; // repeat
  while (!nodes.empty()) {
    auto& n = nodes.back();
    n->n = node_actors{};
    // Whatever did not stop (a proxy's actor on a peer already gone) must
    // not hold the test.
    n->sys->await_actors_before_shutdown(false);
    nodes.pop_back();
  }
}

size_t sim_network::pick(size_t n) {
  return std::uniform_int_distribution<size_t>{0, n - 1}(rng_);
}

sim_node& sim_network::add(const sim_node_spec& spec,
                           const std::function<void(sim_node&)>& before_start) {
  const auto* entry = cluster.find(spec.name);
  BOOST_REQUIRE_MESSAGE(entry != nullptr,
                        "no node '" << spec.name << "' in the cluster");
  auto nd = std::make_unique<sim_node>();
  nd->name = spec.name;
  nd->port = entry->port;
  {
    schema_salt salt{spec.salt_hello_only ? std::string{} : spec.salt};
    nd->schema = schema_id();
  }
  nd->cfg = std::make_unique<sim_config>(nd->schema, cluster);
  nd->sys = std::make_unique<caf::actor_system>(*nd->cfg);
  nd->sched
    = &dynamic_cast<caf::scheduler::test_coordinator&>(nd->sys->scheduler());
  nd->mpx = &dynamic_cast<caf::io::network::test_multiplexer&>(
    nd->sys->middleman().backend());
  auto& c = nd->ncfg;
  c.name = entry->name;
  c.role = entry->role;
  c.host = entry->host;
  c.port = entry->port;
  c.cluster = cluster;
  c.groups = groups;
  for (auto& g : c.groups)
    g.concurrency = entry->listeners_of(g.name);
  if (before_start)
    before_start(*nd);
  {
    // The node manager takes this node's schema at its spawn.
    schema_salt salt{spec.salt};
    if (c.role == node_role::core) {
      sqlite_options so;
      so.path = ":memory:";
      nd->st = std::make_shared<recording_store>(make_sqlite_store(so));
      nd->n = start_node(
        *nd->sys, c, nd->st, false, [] { return 1.0; }, &nd->handlers);
    } else {
      nd->n = start_worker(*nd->sys, c, &nd->handlers);
    }
  }
  // Publish the endpoint on the node's port, as `onceflow node` does
  // (middleman::publish, which blocks, sends this to the middleman's actor):
  // the middleman's actor opens the port, the BASP broker takes it.
  nd->acceptor = caf::io::accept_handle::from_int(++next_hdl_);
  nd->mpx->provide_acceptor(nd->port, nd->acceptor);
  {
    caf::scoped_actor self{*nd->sys, true};
    auto mm = nd->sys->middleman().actor_handle();
    self->send(mm, caf::publish_atom_v, nd->port,
               caf::actor_cast<caf::strong_actor_ptr>(nd->n.endpoint),
               nd->sys->message_types(nd->n.endpoint), c.host, true);
    BOOST_REQUIRE(nd->sched->prioritize(mm));
    nd->sched->run_once();
    nd->mpx->flush_runnables();
    BOOST_REQUIRE(!self->mailbox().empty());
    self->receive([](uint16_t) {},
                  [&](caf::error& err) {
                    BOOST_FAIL("cannot publish " << spec.name << ": "
                                                 << nd->sys->render(err));
                  });
  }
  nd->listening = true;
  nodes.push_back(std::move(nd));
  return *nodes.back();
}

sim_node& sim_network::node(const std::string& name) {
  return *nodes[index_of(name)];
}

size_t sim_network::index_of(const std::string& name) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i]->name == name)
      return i;
  BOOST_FAIL("no simulated node '" << name << "'");
  return 0;
}

bool sim_network::is_cut(size_t a, size_t b) const {
  return cuts_.count({std::min(a, b), std::max(a, b)}) > 0;
}

void sim_network::cut(const std::string& a, const std::string& b) {
  auto x = index_of(a);
  auto y = index_of(b);
  cuts_.emplace(std::min(x, y), std::max(x, y));
}

void sim_network::heal(const std::string& a, const std::string& b) {
  auto x = index_of(a);
  auto y = index_of(b);
  cuts_.erase({std::min(x, y), std::max(x, y)});
}

bool sim_network::side_open(const sim_node& n,
                            caf::io::connection_handle h) const {
  auto& p = n.mpx->impl_ptr(h);
  return p != nullptr && p->parent() != nullptr;
}

void sim_network::close_side(sim_node& n, caf::io::connection_handle h) {
  // What the default multiplexer does on EOF or a reset: the scribe
  // detaches and its broker gets connection_closed_msg.
  if (side_open(n, h))
    n.mpx->impl_ptr(h)->io_failure(n.mpx, caf::io::network::operation::read);
}

void sim_network::reset(const std::string& a, const std::string& b) {
  auto x = index_of(a);
  auto y = index_of(b);
  for (auto& l : links_) {
    if (!((l.client == x && l.server == y) || (l.client == y && l.server == x)))
      continue;
    if (l.connecting && !l.client_closed) {
      close_side(*nodes[l.client], l.client_hdl);
      l.client_closed = true;
    }
    if (!l.server_closed) {
      if (l.arrived)
        close_side(*nodes[l.server], l.server_hdl);
      l.server_closed = true;
    }
  }
}

size_t sim_network::open_links(const std::string& a,
                               const std::string& b) const {
  auto x = index_of(a);
  auto y = index_of(b);
  size_t n = 0;
  for (auto& l : links_)
    if (((l.client == x && l.server == y) || (l.client == y && l.server == x))
        && l.arrived && !l.client_closed && !l.server_closed)
      ++n;
  return n;
}

bool sim_network::readable(const sim_node& n,
                           caf::io::connection_handle h) const {
  auto& mpx = *n.mpx;
  if (mpx.passive_mode(h))
    return false;
  auto& p = mpx.impl_ptr(h);
  if (p == nullptr || p->parent() == nullptr
      || !p->parent()->getf(caf::abstract_actor::is_initialized_flag))
    return false;
  auto& buf = mpx.virtual_network_buffer(h);
  auto conf = mpx.read_config(h);
  switch (conf.first) {
    case caf::io::receive_policy_flag::exactly:
    case caf::io::receive_policy_flag::at_least:
      return !buf.empty() && buf.size() >= conf.second;
    case caf::io::receive_policy_flag::at_most:
      return !buf.empty();
  }
  return false;
}

void sim_network::maintain() {
  for (auto& l : links_) {
    auto& c = *nodes[l.client];
    auto& s = *nodes[l.server];
    if (!l.connecting && !c.mpx->has_pending_scribe(s.ncfg.host, s.port))
      l.connecting = true;
    // A side its broker closed (graceful_shutdown of the scribe).
    if (l.connecting && !l.client_closed
        && c.mpx->stopped_reading(l.client_hdl))
      l.client_closed = true;
    if (l.arrived && !l.server_closed && s.mpx->stopped_reading(l.server_hdl))
      l.server_closed = true;
    // A client that gave up before its connect arrived: nothing to tell.
    if (l.client_closed && !l.arrived)
      l.server_closed = true;
    // Bytes that cross a cut are lost.
    if (is_cut(l.client, l.server)) {
      c.mpx->virtual_network_buffer(l.client_hdl).clear();
      s.mpx->virtual_network_buffer(l.server_hdl).clear();
    }
  }
  // Every client has a connection to take when it connects to a node that
  // listens and is not cut off from it; the connect reaches the server
  // only once the client made it.
  for (size_t ci = 0; ci < nodes.size(); ++ci)
    for (size_t si = 0; si < nodes.size(); ++si) {
      auto& c = *nodes[ci];
      auto& s = *nodes[si];
      if (ci == si || !s.listening || is_cut(ci, si)
          || c.mpx->has_pending_scribe(s.ncfg.host, s.port))
        continue;
      sim_link l;
      l.client = ci;
      l.server = si;
      l.client_hdl = caf::io::connection_handle::from_int(++next_hdl_);
      l.server_hdl = caf::io::connection_handle::from_int(++next_hdl_);
      s.mpx->prepare_connection(s.acceptor, l.server_hdl, *c.mpx, s.ncfg.host,
                                s.port, l.client_hdl);
      auto& pending = s.mpx->pending_connects();
      for (auto i = pending.begin(); i != pending.end(); ++i)
        if (i->second == l.server_hdl) {
          pending.erase(i);
          break;
        }
      links_.push_back(l);
    }
}

void sim_network::note(uint64_t x) {
  digest_ = (digest_ ^ x) * 1099511628211ULL;
}

bool sim_network::perform(const action& a) {
  auto& n = *nodes[a.node];
  note(static_cast<uint64_t>(a.kind));
  note(a.node);
  note(a.link * 2 + (a.to_client ? 1 : 0));
  switch (a.kind) {
    case act::job: {
      auto& jobs = n.sched->jobs;
      auto j = static_cast<ptrdiff_t>(pick(jobs.size()));
      note(static_cast<uint64_t>(j));
      std::rotate(jobs.begin(), jobs.begin() + j, jobs.begin() + j + 1);
      return n.sched->try_run_once();
    }
    case act::runnable:
      return n.mpx->try_exec_runnable();
    case act::arrive: {
      auto& l = links_[a.link];
      n.mpx->add_pending_connect(n.acceptor, l.server_hdl);
      l.arrived = true;
      n.mpx->accept_connection(n.acceptor);
      return true;
    }
    case act::read: {
      auto& l = links_[a.link];
      return n.mpx->read_data(a.to_client ? l.client_hdl : l.server_hdl);
    }
    case act::eof: {
      auto& l = links_[a.link];
      if (a.to_client) {
        close_side(n, l.client_hdl);
        l.client_closed = true;
      } else {
        close_side(n, l.server_hdl);
        l.server_closed = true;
      }
      return true;
    }
  }
  return false;
}

bool sim_network::step() {
  maintain();
  std::vector<action> xs;
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto& n = *nodes[i];
    if (n.frozen)
      continue;
    if (n.sched->has_job())
      xs.push_back({act::job, i, 0, false});
    xs.push_back({act::runnable, i, 0, false});
  }
  for (size_t k = 0; k < links_.size(); ++k) {
    auto& l = links_[k];
    if (is_cut(l.client, l.server))
      continue;
    auto& c = *nodes[l.client];
    auto& s = *nodes[l.server];
    if (l.connecting && !l.arrived && !l.client_closed && !s.frozen)
      xs.push_back({act::arrive, l.server, k, false});
    if (l.connecting && !l.client_closed && !c.frozen
        && readable(c, l.client_hdl))
      xs.push_back({act::read, l.client, k, true});
    if (l.arrived && !l.server_closed && !s.frozen && readable(s, l.server_hdl))
      xs.push_back({act::read, l.server, k, false});
    if (l.server_closed && l.connecting && !l.client_closed && !c.frozen)
      xs.push_back({act::eof, l.client, k, true});
    if (l.client_closed && l.arrived && !l.server_closed && !s.frozen)
      xs.push_back({act::eof, l.server, k, false});
  }
  while (!xs.empty()) {
    auto i = pick(xs.size());
    if (perform(xs[i])) {
      ++steps_;
      return true;
    }
    xs.erase(xs.begin() + static_cast<ptrdiff_t>(i));
  }
  return false;
}

size_t sim_network::run(size_t max_steps) {
  size_t n = 0;
  while (step())
    if (++n >= max_steps)
      BOOST_FAIL("the simulated network still runs after "
                 << n << " steps (seed " << seed_ << ")");
  return n;
}

bool sim_network::run_until(const std::function<bool()>& pred,
                            size_t max_steps) {
  for (size_t n = 0; n < max_steps; ++n) {
    if (pred())
      return true;
    if (!step())
      return pred();
  }
  return pred();
}

void sim_network::advance(std::chrono::milliseconds d) {
  for (auto& n : nodes)
    n->sched->advance_time(d);
  elapsed_ += d;
  run();
}

std::optional<std::chrono::milliseconds>
sim_network::advance_until(const std::function<bool()>& pred,
                           std::chrono::milliseconds limit,
                           std::chrono::milliseconds step) {
  auto start = elapsed_;
  run();
  while (!pred()) {
    if (elapsed_ - start >= limit)
      return std::nullopt;
    advance(step);
  }
  return elapsed_ - start;
}

} // namespace onceflow::test
