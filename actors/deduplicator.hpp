#pragma once

#include "actors/interfaces.hpp"

#include <memory>

namespace onceflow {

/// Spawns the deduplicator: grants fenced leases and commits outcomes through
/// the store; tells the retry timer about new schedule entries and the DLQ
/// about new dead letters.
/// Claims and settlements go to `stores` in turn (one or more store actors
/// over the same data); reads that lease (store::read_leased) go to
/// `reader`, the store actor the broadcaster reads over otherwise too.
/// Committed outcomes of every listener it settles for (a worker's too) are
/// counted in `metrics` (processed, retried, dead, settled, effect latency).
deduplicator_actor
spawn_deduplicator(caf::actor_system& sys, store_actor reader,
                   std::vector<store_actor> stores,
                   retry_timer_actor retry_timer, dead_letter_queue_actor dlq,
                   std::shared_ptr<metrics_registry> metrics = nullptr);

} // namespace onceflow
