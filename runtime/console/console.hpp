#pragma once

// `onceflow console` (docs/console.md): an interactive shell (libedit:
// history, tab completion) or one-shot commands (-e), over every node of a
// config.

#include "config/node_config.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace onceflow::console {

struct console_options {
  /// -e CMD (in order): run these and exit instead of the shell.
  std::vector<std::string> exec;
  /// --json: every command prints JSON.
  bool json = false;
  /// The API key presented to every node ("" for none).
  std::string key;
  /// The deadline of every request (and connect).
  std::chrono::milliseconds deadline{2000};
};

/// The nodes the console talks to: the cluster config's, or the single
/// node's [node] host/port.
std::vector<cluster_node> nodes_of(const node_config& cfg);

/// Runs the console; returns the exit code (1 if a one-shot command
/// failed).
int run_console(caf::actor_system& sys, const node_config& cfg,
                const console_options& opts);

} // namespace onceflow::console
