// The cluster part of a node's config: [cluster] (heartbeats, reconnects,
// the secret and TLS between nodes) and the [nodes.*] sections, checked as
// a whole; the node takes its own entry.

#include "config/node_config_impl.hpp"
#include "config/settings_reader.hpp"

#include <caf/settings.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace onceflow {

namespace {

using detail::reader;

std::string names_of(const std::vector<cluster_node>& nodes) {
  std::string result;
  for (auto& n : nodes)
    result += (result.empty() ? "" : ", ") + n.name;
  return result;
}

} // namespace

std::string detail::read_cluster(const caf::settings& content,
                                 node_config& out) {
  auto nodes = caf::get_if<caf::settings>(&content, "nodes");
  if (!nodes || nodes->empty()) {
    if (caf::get_if<caf::settings>(&content, "cluster"))
      return "section [cluster] needs the cluster's nodes: add a "
             "[nodes.<name>] section for each (docs/cluster.md)";
    return {};
  }
  std::string err;
  reader r{content, err};
  auto& c = out.cluster;
  r.duration("cluster.heartbeat-interval", c.heartbeat_interval, 10);
  r.duration("cluster.connection-timeout", c.connection_timeout, 10);
  r.duration("cluster.reconnect-min", c.reconnect_min, 1);
  r.duration("cluster.reconnect-max", c.reconnect_max, 1);
  r.str("cluster.secret", c.secret);
  r.str("cluster.tls-ca-file", c.tls.ca_file);
  r.str("cluster.tls-cert-file", c.tls.cert_file);
  r.str("cluster.tls-key-file", c.tls.key_file);
  r.str("cluster.tls-key-passphrase", c.tls.key_passphrase);
  if (!err.empty())
    return err;
  if (auto e = validate(c.tls); !e.empty())
    return e;
  if (c.connection_timeout < 3 * c.heartbeat_interval)
    return "option 'cluster.connection-timeout' ("
           + std::to_string(c.connection_timeout)
           + " ms) must be at least 3 x 'cluster.heartbeat-interval' ("
           + std::to_string(c.heartbeat_interval)
           + " ms): a healthy peer would be dropped between heartbeats";
  if (c.reconnect_max < c.reconnect_min)
    return "option 'cluster.reconnect-max' must not be below "
           "'cluster.reconnect-min'";
  for (auto& kv : *nodes) {
    auto p = "nodes." + kv.first;
    if (!caf::holds_alternative<caf::settings>(kv.second))
      return "option '" + p + "' must be a section [" + p + "]";
    cluster_node n;
    n.name = kv.first;
    std::string role = "core";
    r.str(p + ".role", role);
    r.str(p + ".host", n.host);
    r.integer(p + ".port", n.port, 1, 65535);
    r.integer(p + ".http-port", n.http_port, 1, 65535);
    std::vector<std::string> specs;
    r.strings(p + ".listeners", specs);
    r.strings(p + ".cores", n.cores);
    if (!err.empty())
      return err;
    if (role == "worker")
      n.role = node_role::worker;
    else if (role != "core")
      return "option '" + p + ".role' must be \"core\" or \"worker\" (got \""
             + role + "\")";
    if (n.port == 0)
      return "option '" + p + ".port' is required (the node's CAF port)";
    if (n.host.empty())
      return "option '" + p + ".host' must not be empty";
    if (n.role == node_role::core && n.http_port == 0)
      return "option '" + p + ".http-port' is required for a core node";
    for (auto& spec : specs) {
      std::pair<std::string, uint32_t> l;
      if (auto e = parse_listener_spec(spec, l); !e.empty())
        return "option '" + p + ".listeners': " + e;
      auto known = std::any_of(out.groups.begin(), out.groups.end(),
                               [&](auto& g) { return g.name == l.first; });
      if (!known) {
        std::string have;
        for (auto& g : out.groups)
          have += (have.empty() ? "" : ", ") + g.name;
        return "option '" + p + ".listeners' names group '" + l.first
               + "', which the config does not have (its groups: "
               + (have.empty() ? "none" : have) + ")";
      }
      n.listeners.push_back(std::move(l));
    }
    if (n.role == node_role::core && !n.cores.empty())
      return "option '" + p + ".cores' is for workers (the cores they serve)";
    c.nodes.push_back(std::move(n));
  }
  // Two nodes (or one node's two ports) on one address.
  std::map<std::string, std::string> bound;
  for (auto& n : c.nodes) {
    for (auto [port, option] :
         {std::pair{n.port, "port"}, std::pair{n.http_port, "http-port"}}) {
      if (port == 0)
        continue;
      auto where = n.host + ":" + std::to_string(port);
      auto what = "nodes." + n.name + "." + option;
      auto [i, added] = bound.emplace(where, what);
      if (!added)
        return "options '" + i->second + "' and '" + what + "' both use "
               + where + ": each node needs ports of its own";
    }
  }
  auto cores = c.cores();
  if (cores.empty())
    return "the cluster has no core node (role=\"core\": it owns the store); "
           "nodes: "
           + names_of(c.nodes);
  if (out.store_backend == "embedded" && cores.size() > 1)
    return "store.backend \"embedded\" has one core per cluster (it owns the "
           "store file), but nodes '"
           + cores[0]->name + "' and '" + cores[1]->name
           + "' are cores: make the others workers, or use "
             "the Redis store for several cores";
  for (auto& n : c.nodes)
    for (auto& name : n.cores) {
      auto target = c.find(name);
      if (target == nullptr || target->role != node_role::core)
        return "option 'nodes." + n.name + ".cores' names '" + name
               + "', which is not a core node of the cluster (cores: " +
               [&] {
                 std::string xs;
                 for (auto x : cores)
                   xs += (xs.empty() ? "" : ", ") + x->name;
                 return xs;
               }()
               + ")";
    }
  for (auto& g : out.groups) {
    if (caf::get_if(&content, "groups." + g.name + ".concurrency"))
      return "option 'groups." + g.name
             + ".concurrency' does not apply in a cluster config: the "
               "listeners per node come from [nodes.NAME] listeners";
    auto anywhere = std::any_of(c.nodes.begin(), c.nodes.end(), [&](auto& n) {
      return n.listeners_of(g.name) > 0;
    });
    if (!anywhere)
      return "group '" + g.name + "' has no listeners on any node: add \""
             + g.name + ":N\" to the listeners of some [nodes.NAME]";
  }
  // This node's entry.
  auto self = c.find(out.name);
  if (self == nullptr)
    return "node.name '" + out.name
           + "' is not a node of the cluster config (its nodes: "
           + names_of(c.nodes) + "): start each node with --node.name=NAME";
  out.role = self->role;
  out.host = self->host;
  out.port = self->port;
  if (self->http_port != 0)
    out.http.port = self->http_port;
  else
    out.http.enabled = false;
  for (auto& g : out.groups)
    g.concurrency = self->listeners_of(g.name);
  return {};
}

} // namespace onceflow
