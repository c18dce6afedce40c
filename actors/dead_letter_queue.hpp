#pragma once

#include "actors/interfaces.hpp"

namespace onceflow {

/// Spawns the DLQ actor: logs and counts dead letters, and serves list,
/// inspect, replay (one, or all at a rate) and purge over the store's DLQ.
/// Replayed entries go back to the retry schedule, due now.
dead_letter_queue_actor spawn_dead_letter_queue(caf::actor_system& sys,
                                                store_actor store,
                                                retry_timer_actor retry_timer);

} // namespace onceflow
