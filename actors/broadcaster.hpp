#pragma once

#include "actors/handlers.hpp"
#include "actors/interfaces.hpp"
#include "actors/listener.hpp"
#include "actors/logic/intake.hpp"
#include "config/group_config.hpp"

namespace onceflow {

/// What the broadcaster needs from the node config.
struct broadcaster_config {
  std::string node = "node-1";
  std::vector<group_config> groups;
  std::vector<type_rate_limit> type_limits;
  priority_weights weights;
  millis_t dedup_window = 24LL * 3600 * 1000;
  /// What ingest takes at once: batch size, event rules (checked again:
  /// clients are not trusted), back pressure.
  intake_limits intake;
  /// Janitor period: stalled in-flight entries, store reclaim.
  millis_t janitor_interval = 1000;
  /// Retention: settled history older than this is trimmed from the store.
  millis_t retention = 24LL * 3600 * 1000;
  /// How often the janitor trims the store (the first time one interval
  /// after start).
  millis_t trim_interval = 10000;
  /// Most log entries one trim call removes; a call that removes this many
  /// is followed by the next at once.
  uint32_t trim_max = 10000;
  /// The store is shared with other nodes (Redis): reclaim idle pending
  /// entries (other nodes' crashes) and take the back-pressure counts from
  /// the store, since other nodes settle what this one accepted.
  bool reclaim = false;
  /// Reads of groups without a rate limit lease what they deliver (through
  /// the deduplicator, store::read_leased).
  bool read_leases = true;
  /// Reads of groups with a listener on a worker node lease what they
  /// deliver even when `read_leases` is off: a claim would cost each of
  /// the remote listener's batches a network round trip before it runs.
  bool remote_read_leases = true;
  /// Handlers for the groups.
  const handler_registry* handlers = &default_handlers();
  /// Jitter for listeners (tests pin it; empty: random).
  jitter_source jitter;
  /// The node's metrics (accepted, duplicates, listeners' counts); may be
  /// null.
  std::shared_ptr<metrics_registry> metrics;
  /// Told the earliest due time of the delayed events of each append (they
  /// go into the retry schedule with it); may be null.
  retry_timer_actor retry_timer;
  /// Where appends go when not to the main store actor: a second store
  /// actor over its own connection (Redis), so that ingest and processing
  /// calls run side by side instead of one after the other. Null: the main
  /// store actor.
  store_actor ingest_store;
};

/// Spawns the broadcaster with its listeners (`concurrency` per group),
/// which it monitors and respawns.
broadcaster_actor spawn_broadcaster(caf::actor_system& sys,
                                    broadcaster_config cfg, store_actor store,
                                    deduplicator_actor dedup);

} // namespace onceflow
