#pragma once

/// onceflow's public C++ API (installed as <onceflow/onceflow.hpp>; see
/// docs/handlers.md):
/// - handlers of your own: `handler` and `handler_result`
///   (adapters/handler.hpp), registered in a `handler_registry` with the
///   options they take (actors/handlers.hpp);
/// - running a node (single, core or worker) with them: `run_main`
///   (runtime/application.hpp);
/// - publishing from C++: `client` (runtime/client.hpp);
/// - the event and the group's handler options (actors/logic/event.hpp,
///   config/group_config.hpp).

#include "actors/handlers.hpp"
#include "actors/logic/event.hpp"
#include "adapters/handler.hpp"
#include "config/group_config.hpp"
#include "runtime/application.hpp"
#include "runtime/client.hpp"
