#pragma once

#include "actors/interfaces.hpp"
#include "config/node_config.hpp"

#include <vector>

namespace onceflow {

/// Spawns the node's CAF endpoint (see endpoint_actor): checks each call's
/// API key against `keys` (the HTTP API's keys: one check for every way
/// in, config/api_keys.hpp) and forwards what it allows to the
/// broadcaster. With no keys every call is allowed.
endpoint_actor spawn_node_endpoint(caf::actor_system& sys,
                                   broadcaster_actor broadcaster,
                                   std::vector<api_key> keys);

} // namespace onceflow
