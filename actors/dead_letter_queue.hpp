#pragma once

#include "actors/interfaces.hpp"

#include <string>
#include <vector>

namespace onceflow {

/// What the DLQ actor knows of its node.
struct dlq_config {
  /// The listener groups configured on this node: replays name one of
  /// them; listings and purges also take a group the DLQ still holds
  /// entries of (one since removed from the config).
  std::vector<std::string> groups;
  /// Where new dead letters are also sent for alerts (none: no alerts).
  dlq_alerter_actor alerter;
};

/// Spawns the DLQ actor: logs and counts dead letters, and serves list,
/// inspect, replay (one, or all at a rate) and purge over the store's DLQ.
/// Replayed entries go back to the retry schedule, due now. A call naming a
/// group it does not know fails with ec::unknown_group.
dead_letter_queue_actor
spawn_dead_letter_queue(caf::actor_system& sys, store_actor store,
                        retry_timer_actor retry_timer, dlq_config cfg = {});

} // namespace onceflow
