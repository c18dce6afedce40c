#pragma once

#include "actors/handlers.hpp"
#include "actors/interfaces.hpp"
#include "actors/logic/metrics.hpp"
#include "config/group_config.hpp"

#include <functional>
#include <memory>

namespace onceflow {

/// Uniform random numbers in [0, 1] for backoff jitter; tests pin it.
using jitter_source = std::function<double()>;

/// Everything a listener needs to know about its group and node.
struct listener_config {
  group_config group;
  std::string node;
  /// Name used in attempt histories ("orders/2").
  std::string name;
  /// Jitter source; a default-constructed one uses a random generator.
  jitter_source jitter;
  /// The node's metrics (processed, retried, dead, latencies); may be null.
  std::shared_ptr<metrics_registry> metrics;
};

/// Spawns a listener: claims each dispatched batch from the deduplicator,
/// runs the handler, settles the outcomes (done, retry with backoff, or
/// dead-letter) and reports to the dispatching broadcaster.
listener_actor spawn_listener(caf::actor_system& sys, listener_config cfg,
                              std::shared_ptr<handler> h,
                              deduplicator_actor dedup);

} // namespace onceflow
