#pragma once

#include "actors/interfaces.hpp"
#include "config/node_config.hpp"

#include <vector>

namespace onceflow {

/// Spawns the node's CAF endpoint (see endpoint_actor): checks each call's
/// API key against `keys` (the HTTP API's keys: one check for every way
/// in, config/api_keys.hpp) and forwards what it allows to the
/// broadcaster. With no keys every call is allowed.
/// A worker has no broadcaster (null): its endpoint refuses ingest and
/// status, naming the cores. Hellos go to `manager`. The console's reads
/// of events and the DLQ go to `store` and `dlq` (null on a worker: those
/// calls are refused, naming the cores).
endpoint_actor
spawn_node_endpoint(caf::actor_system& sys, broadcaster_actor broadcaster,
                    std::vector<api_key> keys, node_manager_actor manager,
                    store_actor store = {}, dead_letter_queue_actor dlq = {});

} // namespace onceflow
