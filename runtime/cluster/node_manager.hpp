#pragma once

#include "actors/handlers.hpp"
#include "actors/interfaces.hpp"
#include "actors/logic/metrics.hpp"
#include "config/node_config.hpp"

#include <memory>

namespace onceflow {

/// What a node manager manages on its node.
struct node_manager_config {
  node_config cfg;
  /// This binary's message schema (schema_id()).
  std::string schema;
  /// A core's actors (null handles on a worker).
  broadcaster_actor broadcaster;
  deduplicator_actor dedup;
  /// Local actors reported by `actors`: (kind, handle).
  std::vector<std::pair<std::string, caf::actor>> locals;
  /// A worker's handlers (to spawn listeners for cores); must outlive the
  /// manager.
  const handler_registry* handlers = nullptr;
  std::shared_ptr<metrics_registry> metrics;
};

/// Spawns the node manager (see node_manager_actor) and registers it by
/// name ("nodemgr"). With a cluster config it connects to every peer
/// (hello, schema check), keeps the membership view, and on a worker
/// attaches listeners to each core it serves.
node_manager_actor spawn_node_manager(caf::actor_system& sys,
                                      node_manager_config nm);

/// The atom the node manager is registered under.
caf::atom_value node_manager_name();

} // namespace onceflow
