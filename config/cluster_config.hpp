#pragma once

#include "actors/logic/event.hpp"

#include <caf/fwd.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

/// The cluster config: one INI file describes every node of a cluster
/// (`[cluster]` and one `[nodes.NAME]` section per node); every node is
/// started from the same file with `--node.name=NAME` and takes its own
/// entry (docs/cluster.md). A file without `[nodes.*]` sections is a
/// single-node config, as before.
namespace onceflow {

enum class node_role : uint8_t {
  /// Owns a store (embedded or Redis) with the broadcaster, deduplicator,
  /// retry timer and DLQ; may run listeners too.
  core,
  /// Runs listeners only, for the cores it serves: no store, no data
  /// directory.
  worker,
};

const char* to_string(node_role x);

/// `[nodes.NAME]`: one node of the cluster.
struct cluster_node {
  std::string name;
  node_role role = node_role::core;
  /// The node's CAF endpoint (peers, `onceflow publish`, the console).
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  /// The node's HTTP API; 0: none (workers may go without).
  uint16_t http_port = 0;
  /// Listeners this node runs: (group, count), from "group:count".
  std::vector<std::pair<std::string, uint32_t>> listeners;
  /// A worker: the cores it serves (empty: every core).
  std::vector<std::string> cores;

  /// Listeners of `group` on this node (0 if none).
  uint32_t listeners_of(const std::string& group) const;
};

/// `[cluster] tls-*`: mutual TLS between the nodes (and the CLI) through
/// CAF's OpenSSL module. Off while every field is empty; on, it needs the
/// CA file, the certificate and the key (docs/cluster.md, Security).
struct cluster_tls {
  /// PEM: the cluster's CA; a peer's certificate must chain to it.
  std::string ca_file;
  /// PEM: this process's certificate (chain), signed by that CA.
  std::string cert_file;
  /// PEM: the certificate's private key, encrypted with `key_passphrase`
  /// when that is set.
  std::string key_file;
  std::string key_passphrase;

  bool enabled() const {
    return !ca_file.empty() || !cert_file.empty() || !key_file.empty()
           || !key_passphrase.empty();
  }
};

/// `[cluster]`: options every node shares, and the nodes.
struct cluster_config {
  std::vector<cluster_node> nodes;
  /// CAF's middleman heartbeats, set on every node (the primer, §3b: a
  /// hung peer is found only with heartbeats on both sides and a
  /// connection timeout of several intervals).
  millis_t heartbeat_interval = 500;
  millis_t connection_timeout = 3000;
  /// Reconnect backoff towards a peer that is down: from min, doubling, to
  /// max.
  millis_t reconnect_min = 200;
  millis_t reconnect_max = 5000;
  /// A shared secret peers present in their hello (empty: none asked).
  std::string secret;
  /// Mutual TLS between nodes (off by default).
  cluster_tls tls;

  bool enabled() const {
    return !nodes.empty();
  }

  /// The entry of `name`, or null.
  const cluster_node* find(const std::string& name) const;

  /// The core nodes, in the file's order.
  std::vector<const cluster_node*> cores() const;
};

/// Parses one `listeners` entry, "group:count" (count 1..1024); returns an
/// error text or empty.
std::string parse_listener_spec(const std::string& spec,
                                std::pair<std::string, uint32_t>& out);

/// Checks that TLS is all or nothing (a CA file, a certificate and its key)
/// and that each file can be opened; returns an error naming the option (and
/// the file), or empty. Whether the files hold what they should is checked
/// with OpenSSL at start (runtime/cluster/tls.hpp).
std::string validate(const cluster_tls& tls);

} // namespace onceflow
