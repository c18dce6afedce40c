#pragma once

#include "actors/interfaces.hpp"
#include "actors/listener.hpp"
#include "config/node_config.hpp"

#include <caf/fwd.hpp>

#include <memory>

namespace onceflow {

/// The long-lived actors of one node.
struct node_actors {
  store_actor store;
  /// The store actor for appends: `store`, or a second one over its own
  /// connection (see start_node).
  store_actor ingest_store;
  retry_timer_actor retry_timer;
  dead_letter_queue_actor dlq;
  deduplicator_actor dedup;
  broadcaster_actor broadcaster;
  /// Counters and histograms for GET /metrics.
  std::shared_ptr<metrics_registry> metrics;
};

/// Registers onceflow's message types and error category with a config.
void register_types(caf::actor_system_config& cfg);

/// Opens the store the config names (embedded SQLite or Redis); throws
/// store_error with a message naming the store and the problem.
std::shared_ptr<store> open_store(const node_config& cfg);

/// A second store for appends only, over its own connection, where the
/// backend has connections (Redis): ingest and processing calls then run
/// side by side. Null for the embedded store (one writer).
std::shared_ptr<store> open_ingest_store(const node_config& cfg);

/// Spawns and wires every actor of a node over `st`. The store actor runs
/// detached unless `detached_store` is false (deterministic tests). With
/// `ingest_st`, appends go to a second store actor over it.
node_actors start_node(caf::actor_system& sys, const node_config& cfg,
                       std::shared_ptr<store> st, bool detached_store,
                       jitter_source jitter = {},
                       const handler_registry* handlers = nullptr,
                       std::shared_ptr<store> ingest_st = nullptr);

/// Sends an exit message to every actor of the node.
void stop_node(caf::actor_system& sys, const node_actors& n);

} // namespace onceflow
