#pragma once

#include "actors/interfaces.hpp"
#include "actors/listener.hpp"
#include "adapters/alert_sink.hpp"
#include "config/node_config.hpp"

#include <caf/fwd.hpp>

#include <memory>

namespace onceflow {

/// The long-lived actors of one node.
struct node_actors {
  store_actor store;
  /// The store actors for appends and for the deduplicator's claims and
  /// settlements: `store`, or one of their own over another connection
  /// (see start_node).
  store_actor ingest_store;
  std::vector<store_actor> lease_stores;
  retry_timer_actor retry_timer;
  dead_letter_queue_actor dlq;
  /// The DLQ alerter (only with an alert sink: `[alerts] dlq-webhook-url`).
  dlq_alerter_actor alerter;
  deduplicator_actor dedup;
  broadcaster_actor broadcaster;
  /// What the node publishes on its CAF port (API keys checked).
  endpoint_actor endpoint;
  /// The node manager (membership, local actors; registered by name).
  node_manager_actor manager;
  /// Counters and histograms for GET /metrics.
  std::shared_ptr<metrics_registry> metrics;
};

/// Registers onceflow's message types and error category with a config.
void register_types(caf::actor_system_config& cfg);

/// Opens the store the config names (embedded SQLite or Redis); throws
/// store_error with a message naming the store and the problem. On Redis
/// it claims the node's name (another live node of that name is refused)
/// and, with `[redis] wait-at-start`, opens late if Redis cannot be reached
/// now (make_redis_store).
std::shared_ptr<store> open_store(const node_config& cfg);

/// One more store over its own connection, where the backend has
/// connections (Redis); null for the embedded store (one writer). A node on
/// Redis opens two: appends go over one, claims and settlements over the
/// other, so that ingest, reading and settling run side by side instead of
/// one after the other on one connection.
std::shared_ptr<store> open_extra_store(const node_config& cfg);

/// The extra stores of start_node (null / none: the main store actor
/// serves).
struct extra_stores {
  std::shared_ptr<store> ingest;
  /// For claims and settlements, used in turn ([redis] pool-size).
  std::vector<std::shared_ptr<store>> lease;
};

/// The extra stores a node on this config opens (none for the embedded
/// store).
extra_stores open_extra_stores(const node_config& cfg);

/// Spawns and wires every actor of a node over `st`. The store actor runs
/// detached unless `detached_store` is false (deterministic tests). With
/// `extra.ingest`, appends go to a store actor of their own over it; with
/// `extra.lease`, the deduplicator's claims and settlements go to store
/// actors of their own, in turn. With `alerts`, dead letters are also sent
/// there as alerts (`cfg.alerts.dlq`: batching, interval, retries).
node_actors start_node(caf::actor_system& sys, const node_config& cfg,
                       std::shared_ptr<store> st, bool detached_store,
                       jitter_source jitter = {},
                       const handler_registry* handlers = nullptr,
                       extra_stores extra = {}, alert_sink_ptr alerts = {});

/// Spawns a worker node's actors (role worker: no store): the node
/// manager, which attaches listeners to the cores, and the endpoint.
node_actors start_worker(caf::actor_system& sys, const node_config& cfg,
                         const handler_registry* handlers);

/// Sends an exit message to every actor of the node.
void stop_node(caf::actor_system& sys, const node_actors& n);

} // namespace onceflow
