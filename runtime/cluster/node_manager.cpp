#include "runtime/cluster/node_manager.hpp"

#include "actors/listener.hpp"
#include "actors/timeouts.hpp"
#include "config/api_keys.hpp"
#include "runtime/cluster/schema.hpp"
#include "runtime/cluster/tls.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>

namespace onceflow {

namespace {

/// What this node knows of one peer of the cluster config.
struct peer_state {
  cluster_node entry;
  bool up = false;
  bool connecting = false;
  /// When `up` last changed (-1: never).
  millis_t since = -1;
  millis_t rtt = -1;
  std::string version;
  std::string last_error;
  uint32_t failures = 0;
  millis_t next_try = 0;
  node_manager_actor mgr;
  /// A core this worker attached listeners to, and its deduplicator.
  broadcaster_actor broadcaster;
  deduplicator_actor dedup;
  /// The listeners this worker hosts for that core, with their group.
  std::vector<std::pair<std::string, listener_actor>> hosted;
};

struct manager_state {
  node_manager_config nm;
  caf::io::middleman_actor mm;
  std::map<std::string, peer_state> peers;
  millis_t started = 0;
  uint32_t next_listener = 0;
  /// A worker's listeners per group for each core it serves: the config's
  /// count, changed at run time (atom::listeners).
  std::map<std::string, uint32_t> wanted;
  uint64_t hellos_refused = 0;
  static inline const char* name = "node_manager";
};

using mgr_pointer = node_manager_actor::stateful_pointer<manager_state>;

millis_t now_of(mgr_pointer self) {
  return to_millis(self->clock().now());
}

std::chrono::milliseconds timeout_of(const manager_state& st) {
  return std::chrono::milliseconds(st.nm.cfg.cluster.connection_timeout);
}

/// With TLS on, a second connection between two nodes breaks their link:
/// CAF's BASP closes the one it finds redundant, and over CAF's OpenSSL
/// module the link then stops carrying messages until the connection
/// timeout drops it (measured: each pair flapped every connection-timeout
/// when both dialled, before ssl_error_queue.cpp, which may have been the
/// cause; plain TCP is not affected). So of each pair only the
/// node whose name sorts first dials; the other takes the peer's node
/// manager from its hello (over the link the peer opened), and dials itself
/// only if no hello came within late_dial() (the first cannot reach it).
bool dials_late(const manager_state& st, const peer_state& p) {
  return st.nm.cfg.cluster.tls.enabled() && p.entry.name < st.nm.cfg.name;
}

millis_t late_dial(const manager_state& st) {
  return 2 * st.nm.cfg.cluster.connection_timeout;
}

void mark_down(mgr_pointer self, peer_state& p, const std::string& why) {
  auto& st = self->state;
  if (p.up || p.since < 0)
    spdlog::warn("cluster: node {} is down: {}", p.entry.name, why);
  p.up = false;
  p.connecting = false;
  p.since = now_of(self);
  p.last_error = why;
  p.mgr = nullptr;
  p.broadcaster = nullptr;
  p.dedup = nullptr;
  // The listeners this worker hosts for that core stop with it: nobody
  // dispatches to them any more (and nothing keeps this node alive for
  // them).
  for (auto& l : p.hosted)
    self->send_exit(l.second, caf::exit_reason::user_shutdown);
  p.hosted.clear();
  auto& c = st.nm.cfg.cluster;
  auto backoff = c.reconnect_min << std::min<uint32_t>(p.failures, 16);
  p.next_try = now_of(self) + std::min(backoff, c.reconnect_max);
  if (dials_late(st, p))
    p.next_try = std::max(p.next_try, now_of(self) + late_dial(st));
  ++p.failures;
}

/// The group's config on this node, or null.
const group_config* group_of(const manager_state& st, const std::string& name) {
  for (auto& g : st.nm.cfg.groups)
    if (g.name == name)
      return &g;
  return nullptr;
}

/// Spawns `count` listeners of group `g` for core `peer` and hands them to
/// its broadcaster; `then` gets how many joined (0 on a refusal).
void host_listeners(mgr_pointer self, const std::string& peer,
                    const group_config& g, uint32_t count,
                    const std::function<void(uint32_t)>& then = {}) {
  auto& st = self->state;
  auto& p = st.peers[peer];
  std::vector<listener_actor> hdls;
  for (uint32_t i = 0; i < count; ++i) {
    listener_config lc;
    lc.group = g;
    lc.node = st.nm.cfg.name;
    lc.name = g.name + "/" + st.nm.cfg.name + "/"
              + std::to_string(++st.next_listener);
    lc.metrics = st.nm.metrics;
    std::shared_ptr<handler> h = st.nm.handlers->make(g.handler, g.options);
    auto hdl = spawn_listener(self->system(), std::move(lc), std::move(h),
                              p.dedup);
    // A listener the core retires (or that fails) leaves the list.
    self->monitor(hdl);
    p.hosted.emplace_back(g.name, hdl);
    hdls.push_back(std::move(hdl));
  }
  self
    ->request(p.broadcaster, timeout_of(st), atom::listeners_v, g.name,
              st.nm.cfg.name, std::move(hdls))
    .then(
      [peer, group = g.name, then](uint32_t n) {
        spdlog::info("cluster: {} listener(s) of group {} serve core {}", n,
                     group, peer);
        if (then)
          then(n);
      },
      [peer, then](caf::error& err) {
        spdlog::warn("cluster: core {} refused listeners: {}", peer,
                     render(err));
        if (then)
          then(0);
      });
}

/// A worker attaches its listeners of every group to a core.
void attach(mgr_pointer self, const std::string& peer) {
  auto& st = self->state;
  auto& p = st.peers[peer];
  self->request(p.mgr, timeout_of(st), atom::attach_v, st.nm.cfg.name)
    .then(
      [self, peer](broadcaster_actor& b, deduplicator_actor& d) {
        auto& st = self->state;
        auto& p = st.peers[peer];
        if (!p.up)
          return;
        p.broadcaster = b;
        p.dedup = d;
        for (auto& g : st.nm.cfg.groups)
          if (auto n = st.wanted[g.name]; n > 0)
            host_listeners(self, peer, g, n);
      },
      [self, peer](caf::error& err) {
        auto& p = self->state.peers[peer];
        spdlog::warn("cluster: cannot attach to core {}: {}", peer,
                     render(err));
        mark_down(self, p, "attach failed: " + render(err));
      });
}

/// Whether this worker serves `core`.
bool serves(const manager_state& st, const cluster_node& core) {
  if (st.nm.cfg.role != node_role::worker || core.role != node_role::core)
    return false;
  auto self = st.nm.cfg.cluster.find(st.nm.cfg.name);
  return self->cores.empty()
         || std::find(self->cores.begin(), self->cores.end(), core.name)
              != self->cores.end();
}

/// The answer to a change of a node's listeners.
caf::settings listener_answer(const std::string& group, const std::string& node,
                              uint32_t listeners) {
  caf::settings s;
  caf::put(s, "group", group);
  caf::put(s, "node", node);
  caf::put(s, "listeners", listeners);
  return s;
}

/// A worker's change of its listeners of a group: `wanted` changes, and so
/// do the listeners of every core it is attached to (new ones join, or the
/// core retires some: idle ones at once, busy ones after their batch).
caf::result<caf::settings> change_hosted(mgr_pointer self,
                                         const group_config& g, int32_t delta) {
  auto& st = self->state;
  auto& c = st.nm.cfg;
  if (delta > 0 && !st.nm.handlers->contains(g.handler))
    return make_error(ec::invalid_config,
                      "node " + c.name + " has no handler '" + g.handler
                        + "' (group " + g.name
                        + "): build it into this node's binary");
  auto before = st.wanted[g.name];
  auto after
    = static_cast<uint32_t>(std::max<int64_t>(int64_t{before} + delta, 0));
  st.wanted[g.name] = after;
  spdlog::info("cluster: group {}: {} listener(s) per core on this node (was "
               "{})",
               g.name, after, before);
  std::vector<std::string> cores;
  for (auto& [name, p] : st.peers)
    if (p.up && p.broadcaster)
      cores.push_back(name);
  auto answer = listener_answer(g.name, c.name, after);
  if (cores.empty() || after == before)
    return answer; // The cores get them when they attach.
  auto rp = self->make_response_promise<caf::settings>();
  auto pending = std::make_shared<size_t>(cores.size());
  auto finish = [rp, pending, answer]() mutable {
    if (--*pending == 0)
      rp.deliver(answer);
  };
  for (auto& core : cores) {
    if (after > before) {
      host_listeners(self, core, g, after - before,
                     [finish](uint32_t) mutable { finish(); });
      continue;
    }
    self
      ->request(st.peers[core].broadcaster, timeout_of(st), atom::retire_v,
                g.name, c.name, before - after)
      .then([finish](uint32_t) mutable { finish(); },
            [finish, core](caf::error& err) mutable {
              spdlog::warn("cluster: core {} did not retire listeners: {}",
                           core, render(err));
              finish();
            });
  }
  return rp;
}

/// Adds (delta > 0) or removes listeners of a group on a node: this one
/// (its broadcaster's own listeners on a core; hosted ones on a worker) or
/// a peer (forwarded to its manager).
caf::result<caf::settings> change_listeners(mgr_pointer self,
                                            const std::string& group,
                                            std::string node, int32_t delta) {
  auto& st = self->state;
  auto& c = st.nm.cfg;
  if (node.empty())
    node = c.name;
  const auto* g = group_of(st, group);
  if (g == nullptr)
    return make_error(ec::unknown_group, "no group named '" + group + "'");
  if (delta == 0)
    return make_error(ec::invalid_config, "the count must be at least 1");
  if (node != c.name) {
    auto i = st.peers.find(node);
    if (i == st.peers.end())
      return make_error(ec::unknown_node,
                        "no node named '" + node + "' in the cluster config");
    if (!i->second.up || !i->second.mgr)
      return make_error(ec::node_down, "node " + node + " is down"
                                         + (i->second.last_error.empty()
                                              ? std::string{}
                                              : ": " + i->second.last_error));
    return self->delegate(i->second.mgr, atom::listeners_v, group, node, delta);
  }
  if (c.role == node_role::worker)
    return change_hosted(self, *g, delta);
  auto rp = self->make_response_promise<caf::settings>();
  self
    ->request(st.nm.broadcaster, actor_timeout, atom::listeners_v, group, delta)
    .then(
      [rp, group, node](uint32_t n) mutable {
        rp.deliver(listener_answer(group, node, n));
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

/// The peer answered our hello: it is up.
void peer_up(mgr_pointer self, const std::string& peer, node_manager_actor mgr,
             const std::string& version, const std::string& role,
             millis_t rtt) {
  auto& st = self->state;
  auto& p = st.peers[peer];
  if (p.up && p.mgr == mgr)
    return;
  if (p.up)
    mark_down(self, p, "it restarted");
  p.up = true;
  p.connecting = false;
  p.failures = 0;
  p.since = now_of(self);
  p.rtt = rtt;
  p.version = version;
  p.last_error.clear();
  p.mgr = std::move(mgr);
  self->monitor(p.mgr);
  spdlog::info("cluster: node {} is up ({} {}, onceflow {}, {} ms)", peer, role,
               p.entry.host + ":" + std::to_string(p.entry.port), version,
               p.rtt);
  if (serves(st, p.entry))
    attach(self, peer);
}

void hello(mgr_pointer self, const std::string& peer,
           const endpoint_actor& ep) {
  auto& st = self->state;
  auto& c = st.nm.cfg;
  auto t0 = now_of(self);
  self
    ->request(ep, timeout_of(st), atom::hello_v, st.nm.schema,
              std::string{onceflow_version()}, c.name,
              std::string{to_string(c.role)}, c.cluster.secret)
    .then(
      [self, peer, t0](std::string& schema, std::string& version,
                       std::string& name, std::string& role,
                       node_manager_actor& mgr) {
        auto& st = self->state;
        auto& p = st.peers[peer];
        if (name != peer) {
          mark_down(self, p,
                    "the node on " + p.entry.host + ":"
                      + std::to_string(p.entry.port) + " is '" + name
                      + "', the cluster config names '" + peer + "' there");
          return;
        }
        if (schema != st.nm.schema) {
          mark_down(self, p,
                    "node " + peer + " runs onceflow " + version + " (" + schema
                      + "), this node " + onceflow_version() + " ("
                      + st.nm.schema + ")");
          return;
        }
        peer_up(self, peer, std::move(mgr), version, role, now_of(self) - t0);
      },
      [self, peer](caf::error& err) {
        mark_down(self, self->state.peers[peer], "hello: " + render(err));
      });
}

/// A connect over TLS failed: CAF tells no more than that the connection
/// closed (its OpenSSL module logs nothing here), so a detached helper does
/// a TLS handshake of its own with this node's files and says what it saw;
/// the peer is down with CAF's error and that reason.
void diagnose(mgr_pointer self, const std::string& peer,
              const std::string& text) {
  auto& st = self->state;
  auto& p = st.peers[peer];
  auto ms = static_cast<int>(st.nm.cfg.cluster.connection_timeout);
  auto probe = self->spawn<caf::detached>(
    [host = p.entry.host, port = p.entry.port, tls = st.nm.cfg.cluster.tls,
     ms](caf::event_based_actor* probe) -> caf::behavior {
      return {
        [=](caf::get_atom) {
          probe->quit();
          return diagnose_tls(host, port, tls, ms);
        },
      };
    });
  self
    ->request(probe, std::chrono::milliseconds(2 * ms + 1000), caf::get_atom_v)
    .then(
      [self, peer, text](std::string& why) {
        mark_down(self, self->state.peers[peer],
                  "connect: " + text + (why.empty() ? "" : "; TLS: " + why));
      },
      [self, peer, text](caf::error& err) {
        mark_down(self, self->state.peers[peer],
                  "connect: " + text + " (TLS check: " + render(err) + ")");
      });
}

void connect(mgr_pointer self, const std::string& peer) {
  auto& st = self->state;
  auto& p = st.peers[peer];
  p.connecting = true;
  self
    ->request(st.mm, timeout_of(st), caf::connect_atom_v, p.entry.host,
              p.entry.port)
    .then(
      [self, peer](caf::node_id&, caf::strong_actor_ptr& ptr,
                   std::set<std::string>& ifs) {
        auto& st = self->state;
        auto expected = self->system().message_types<endpoint_actor>();
        if (!ptr) {
          mark_down(self, st.peers[peer], "no onceflow endpoint on the port");
          return;
        }
        if (ifs != expected) {
          mark_down(self, st.peers[peer],
                    "the actor on the port is not an onceflow endpoint of "
                    "this version");
          return;
        }
        hello(self, peer, caf::actor_cast<endpoint_actor>(ptr));
      },
      [self, peer](caf::error& err) {
        auto& st = self->state;
        auto text = render(err);
        if (err == caf::sec::incompatible_application_ids)
          text = "it speaks another message schema than this node ("
                 + st.nm.schema + ", onceflow "
                 + std::string{onceflow_version()}
                 + "): run the same onceflow version on every node";
        else if (st.nm.cfg.cluster.tls.enabled()
                 && (err == caf::sec::disconnect_during_handshake
                     || err == caf::sec::connection_timeout
                     // Without context: not a TCP connect that failed
                     // ("ip_connect failed"), but the TLS session.
                     || (err == caf::sec::cannot_connect_to_node
                         && err.context().empty())))
          return diagnose(self, peer, text);
        else if (err == caf::sec::disconnect_during_handshake
                 || err == caf::sec::connection_timeout)
          // A TLS peer closes on our plain handshake, or waits for a TLS
          // one until either side's timeout: which comes first depends on
          // timing.
          text += " (with TLS on at the peer, set the cluster's [cluster] "
                  "tls-* options on this node too)";
        mark_down(self, st.peers[peer], "connect: " + text);
      });
}

void round(mgr_pointer self) {
  auto& st = self->state;
  auto now = now_of(self);
  for (auto& [name, p] : st.peers) {
    if (p.connecting)
      continue;
    if (!p.up && now >= p.next_try) {
      connect(self, name);
    } else if (p.up && p.mgr) {
      auto t0 = now;
      self->request(p.mgr, timeout_of(st), atom::ping_v)
        .then(
          [self, peer = name, t0](bool) {
            auto& p = self->state.peers[peer];
            p.rtt = now_of(self) - t0;
          },
          [](caf::error&) {
            // A dead peer shows up as DOWN (heartbeats).
          });
    }
  }
  auto interval = std::max<millis_t>(st.nm.cfg.cluster.reconnect_min, 100);
  self->delayed_send(self, std::chrono::milliseconds(interval), atom::tick_v);
}

/// How long a status request to one actor (or one node) may take.
constexpr auto status_timeout = std::chrono::seconds(2);

/// This node's actors, each with its status (mailbox depth, in-flight
/// work, counters: what its `status` answers), to `done`: "<id>.kind",
/// ".serves" (the node whose work it does), ".group" (listeners) and
/// ".status" (or ".error" if it did not answer in time).
struct actor_entry {
  std::string kind;
  std::string serves;
  std::string group;
  caf::actor hdl;
};

void collect_actors(mgr_pointer self, std::vector<actor_entry> xs,
                    std::function<void(caf::settings)> done);

/// This node's actors with their status; a core's listeners come from its
/// broadcaster (which spawns them).
void local_actors(mgr_pointer self, std::function<void(caf::settings)> done) {
  auto& st = self->state;
  std::vector<actor_entry> xs;
  if (!st.nm.broadcaster) {
    collect_actors(self, std::move(xs), std::move(done));
    return;
  }
  auto shared
    = std::make_shared<std::function<void(caf::settings)>>(std::move(done));
  self->request(st.nm.broadcaster, status_timeout, atom::actors_v)
    .then(
      [self, shared](std::vector<listener_actor>& ls) {
        std::vector<actor_entry> xs;
        xs.reserve(ls.size());
        for (auto& l : ls)
          xs.push_back({"listener",
                        self->state.nm.cfg.name,
                        {},
                        caf::actor_cast<caf::actor>(l)});
        collect_actors(self, std::move(xs), std::move(*shared));
      },
      [self, shared](caf::error& err) {
        spdlog::warn("node manager: the broadcaster did not list its "
                     "listeners: {}",
                     render(err));
        collect_actors(self, {}, std::move(*shared));
      });
}

/// Adds the node's other actors to `xs` and asks each for its status.
void collect_actors(mgr_pointer self, std::vector<actor_entry> xs,
                    std::function<void(caf::settings)> done) {
  auto& st = self->state;
  for (auto& [kind, hdl] : st.nm.locals)
    if (hdl)
      xs.push_back({kind, st.nm.cfg.name, {}, hdl});
  for (auto& [name, p] : st.peers)
    for (auto& [group, l] : p.hosted)
      xs.push_back({"listener", name, group, caf::actor_cast<caf::actor>(l)});
  // The manager itself (its status: the membership view).
  xs.push_back(
    {"node_manager", st.nm.cfg.name, {}, caf::actor_cast<caf::actor>(self)});
  if (xs.empty()) {
    done({});
    return;
  }
  auto acc = std::make_shared<caf::settings>();
  auto left = std::make_shared<size_t>(xs.size());
  auto done_ptr
    = std::make_shared<std::function<void(caf::settings)>>(std::move(done));
  for (auto& x : xs) {
    auto id = std::to_string(x.hdl.id());
    caf::settings e;
    caf::put(e, "kind", x.kind);
    caf::put(e, "serves", x.serves);
    if (!x.group.empty())
      caf::put(e, "group", x.group);
    (*acc)[id] = std::move(e);
    auto finish = [acc, left, done_ptr, id](const std::string& key,
                                            caf::config_value value) {
      caf::put(*acc, id + "." + key, std::move(value));
      if (--*left == 0)
        (*done_ptr)(std::move(*acc));
    };
    self->request(x.hdl, status_timeout, atom::status_v)
      .then(
        [finish, acc, id, kind = x.kind,
         group = x.group](caf::settings& status) {
          // A core's own listeners: their group from their status.
          if (kind == "listener" && group.empty())
            if (auto g = caf::get_if<std::string>(&status, "listener.group"))
              caf::put(*acc, id + ".group", *g);
          finish("status", caf::config_value{std::move(status)});
        },
        [finish](caf::error& err) {
          finish("error", caf::config_value{render(err)});
        });
  }
}

/// The actors of every node that is up: "<node>.<id>..." as local_actors
/// gives them, or "<node>.error" for a node that did not answer.
caf::result<caf::settings> cluster_actors(mgr_pointer self) {
  auto& st = self->state;
  auto rp = self->make_response_promise<caf::settings>();
  auto acc = std::make_shared<caf::settings>();
  std::vector<std::pair<std::string, node_manager_actor>> peers;
  for (auto& [name, p] : st.peers)
    if (p.up && p.mgr)
      peers.emplace_back(name, p.mgr);
  auto left = std::make_shared<size_t>(1 + peers.size());
  auto finish = [rp, acc, left](const std::string& node,
                                caf::config_value value) mutable {
    (*acc)[node] = std::move(value);
    if (--*left == 0)
      rp.deliver(std::move(*acc));
  };
  local_actors(self, [finish, node = st.nm.cfg.name](caf::settings s) mutable {
    finish(node, caf::config_value{std::move(s)});
  });
  for (auto& [name, mgr] : peers)
    self->request(mgr, status_timeout, atom::actors_v)
      .then(
        [finish, node = name](caf::settings& s) mutable {
          finish(node, caf::config_value{std::move(s)});
        },
        [finish, node = name](caf::error& err) mutable {
          caf::settings e;
          caf::put(e, "error", render(err));
          finish(node, caf::config_value{std::move(e)});
        });
  return rp;
}

caf::settings members_of(mgr_pointer self) {
  auto& st = self->state;
  caf::settings s;
  auto now = now_of(self);
  auto put_node = [&](const cluster_node& n, bool up, millis_t since,
                      millis_t rtt, const std::string& version,
                      const std::string& error) {
    auto p = "nodes." + n.name + ".";
    caf::put(s, p + "role", std::string{to_string(n.role)});
    caf::put(s, p + "address", n.host + ":" + std::to_string(n.port));
    caf::put(s, p + "up", up);
    caf::put(s, p + "since", since);
    caf::put(s, p + "for-ms", since >= 0 ? now - since : int64_t{-1});
    caf::put(s, p + "rtt-ms", rtt);
    caf::put(s, p + "version", version);
    caf::put(s, p + "error", error);
  };
  caf::put(s, "self", st.nm.cfg.name);
  caf::put(s, "schema", st.nm.schema);
  auto& c = st.nm.cfg;
  auto put_self = [&](const cluster_node& n) {
    put_node(n, true, st.started, 0, onceflow_version(), "");
    caf::put(s, "nodes." + n.name + ".store",
             c.role == node_role::core ? c.store_backend : std::string{});
  };
  if (!c.cluster.enabled()) {
    // A single node: itself only.
    cluster_node n;
    n.name = c.name;
    n.host = c.host;
    n.port = c.port;
    put_self(n);
  }
  for (auto& n : c.cluster.nodes) {
    if (n.name == c.name) {
      put_self(n);
      continue;
    }
    auto& p = st.peers[n.name];
    put_node(n, p.up, p.since, p.up ? p.rtt : -1, p.version, p.last_error);
  }
  return s;
}

} // namespace

caf::atom_value node_manager_name() {
  return caf::atom("nodemgr");
}

node_manager_actor spawn_node_manager(caf::actor_system& sys,
                                      node_manager_config nm) {
  // Only a node with peers needs the middleman; without one (tests on the
  // test coordinator) the manager answers but connects to nobody.
  // With TLS on, connections go through CAF's OpenSSL module: its
  // middleman actor shares the BASP broker but opens TLS sockets.
  caf::io::middleman_actor mm;
  if (nm.cfg.cluster.nodes.size() > 1 && sys.has_middleman())
    mm = nm.cfg.cluster.tls.enabled() && sys.has_openssl_manager()
           ? sys.openssl_manager().actor_handle()
           : sys.middleman().actor_handle();
  auto hdl = sys.spawn([nm = std::move(nm), mm](mgr_pointer self) mutable
                       -> node_manager_actor::behavior_type {
    auto& st = self->state;
    st.nm = std::move(nm);
    st.mm = mm;
    st.started = now_of(self);
    for (auto& n : st.nm.cfg.cluster.nodes)
      if (n.name != st.nm.cfg.name) {
        auto& p = st.peers[n.name];
        p.entry = n;
        if (dials_late(st, p))
          p.next_try = st.started + late_dial(st);
      }
    for (auto& g : st.nm.cfg.groups)
      st.wanted[g.name] = g.concurrency;
    self->set_down_handler([self](const caf::down_msg& msg) {
      for (auto& [name, p] : self->state.peers) {
        if (p.mgr && p.mgr.address() == msg.source)
          mark_down(self, p, "connection lost (" + to_string(msg.reason) + ")");
        // A hosted listener stopped (retired by its core, or failed).
        auto& h = p.hosted;
        h.erase(std::remove_if(h.begin(), h.end(),
                               [&](const auto& x) {
                                 return x.second.address() == msg.source;
                               }),
                h.end());
      }
    });
    self->set_exit_handler([self](const caf::exit_msg& msg) {
      for (auto& [name, p] : self->state.peers)
        for (auto& l : p.hosted)
          self->send_exit(l.second, msg.reason);
      self->quit(msg.reason);
    });
    if (!st.peers.empty() && st.mm)
      self->send(self, atom::tick_v);
    return {
      [self](atom::hello, const std::string& schema, const std::string& version,
             const std::string& name, const std::string& role,
             const std::string& secret, const caf::strong_actor_ptr& sender)
        -> caf::result<std::string, std::string, std::string, std::string> {
        auto& st = self->state;
        auto& c = st.nm.cfg;
        auto refuse = [&](std::string why) {
          ++st.hellos_refused;
          spdlog::warn("cluster: hello from '{}' refused: {}", name, why);
          return make_error(ec::invalid_config, std::move(why));
        };
        if (!c.cluster.secret.empty()
            && !constant_time_equal(c.cluster.secret, secret))
          return refuse("wrong cluster secret");
        if (schema != st.nm.schema)
          return refuse("node " + name + " runs onceflow " + version + " ("
                        + schema + "), node " + c.name + " runs onceflow "
                        + onceflow_version() + " (" + st.nm.schema
                        + "): run the same version on every node");
        if (c.cluster.enabled()) {
          auto entry = c.cluster.find(name);
          if (entry == nullptr)
            return refuse("'" + name + "' is not a node of the cluster config");
          if (role != to_string(entry->role))
            return refuse("'" + name + "' says it is a " + role
                          + ", the cluster config says "
                          + to_string(entry->role));
          // A peer we wait for (dials_late) dialled us: the hello comes
          // from its node manager, over the link it opened.
          if (auto i = st.peers.find(name);
              i != st.peers.end() && dials_late(st, i->second)) {
            auto mgr = caf::actor_cast<node_manager_actor>(sender);
            if (mgr)
              peer_up(self, name, std::move(mgr), version, role, 0);
          }
        }
        return {st.nm.schema, std::string{onceflow_version()}, c.name,
                std::string{to_string(c.role)}};
      },
      [self](atom::attach, const std::string& worker)
        -> caf::result<broadcaster_actor, deduplicator_actor> {
        auto& st = self->state;
        if (st.nm.cfg.role != node_role::core || !st.nm.broadcaster)
          return make_error(ec::invalid_config,
                            "node " + st.nm.cfg.name + " is not a core");
        spdlog::info("cluster: worker {} attaches", worker);
        return {st.nm.broadcaster, st.nm.dedup};
      },
      [self](atom::members) { return members_of(self); },
      [self](atom::actors) -> caf::result<caf::settings> {
        auto rp = self->make_response_promise<caf::settings>();
        local_actors(self, [rp](caf::settings s) mutable {
          rp.deliver(std::move(s));
        });
        return rp;
      },
      [self](atom::actors, bool) -> caf::result<caf::settings> {
        return cluster_actors(self);
      },
      [self](atom::listeners, const std::string& group, std::string& node,
             int32_t delta) -> caf::result<caf::settings> {
        return change_listeners(self, group, std::move(node), delta);
      },
      [](atom::ping) { return true; },
      [self](atom::tick) { round(self); },
      [self](atom::local, std::string& kind, caf::actor& hdl) {
        self->state.nm.locals.emplace_back(std::move(kind), std::move(hdl));
      },
      [self](atom::status) {
        auto s = members_of(self);
        caf::put(s, "hellos-refused", self->state.hellos_refused);
        caf::put(s, "node-manager.mailbox",
                 static_cast<uint64_t>(self->mailbox().size()));
        return s;
      },
    };
  });
  sys.registry().put(node_manager_name(),
                     caf::actor_cast<caf::strong_actor_ptr>(hdl));
  return hdl;
}

} // namespace onceflow
