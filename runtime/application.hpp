#pragma once

#include "actors/handlers.hpp"

/// Running onceflow from an application of your own (docs/handlers.md): the
/// `onceflow` command line with the application's handlers added.
namespace onceflow {

/// Runs onceflow's command line (`node`, `publish`, `status`, `listeners`,
/// `console`, `--help`; README.md and docs/configuration.md) with the
/// handlers of `handlers` (the built-ins, those the application added) and
/// `webhook`. `APP node --config FILE` runs a node until SIGTERM/SIGINT:
/// a single node, a core or a worker of a cluster, as the config says.
/// Returns the process's exit code (0 done, 1 failed, 2 bad usage or
/// config, with the reason on stderr).
int run_main(int argc, char** argv, const handler_registry& handlers);

} // namespace onceflow
