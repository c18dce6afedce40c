#pragma once

#include "actors/interfaces.hpp"

#include <memory>

namespace onceflow {

/// Spawns the adapter actor that owns `st`. Store calls block, so the node
/// spawns it detached; deterministic tests spawn it on the test scheduler.
store_actor spawn_store(caf::actor_system& sys, std::shared_ptr<store> st,
                        bool detached);

} // namespace onceflow
