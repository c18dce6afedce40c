#pragma once

#include "actors/interfaces.hpp"

namespace onceflow {

/// Spawns the retry timer: keeps one timer armed for the earliest due entry
/// of the store's retry schedule and hands due deliveries to the broadcaster
/// (set with `join`). At `join` it looks for entries left from before a
/// restart. With `poll_interval` > 0 (a store shared by several nodes) it
/// also looks every `poll_interval` ms, for entries other nodes scheduled.
/// The deliveries it hands out are `taken` (see delivery::taken). At
/// `drain` it stops taking.
retry_timer_actor spawn_retry_timer(caf::actor_system& sys, store_actor store,
                                    uint32_t batch_size = 1000,
                                    millis_t poll_interval = 0);

} // namespace onceflow
