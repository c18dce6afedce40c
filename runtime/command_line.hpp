#pragma once

// The `onceflow` command line, shared by the `onceflow` binary and by
// applications that run it with handlers of their own
// (runtime/application.hpp): parsing, the config files, and the commands.

#include "actors/handlers.hpp"
#include "actors/interfaces.hpp"
#include "config/node_config.hpp"
#include "runtime/node.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace onceflow::command {

/// The usage text (`onceflow --help`).
extern const char* const usage;

struct cli {
  std::string command;
  std::string config_file;
  /// Our own overrides: dotted key -> value text.
  std::vector<std::pair<std::string, std::string>> overrides;
  /// Arguments for CAF (scheduler, middleman, logger).
  std::vector<std::string> caf_args;
  /// publish / status arguments.
  std::string type, payload, id, prio, file;
  /// publish: a delayed event (see docs/http-api.md, POST /events).
  std::string delay, not_before;
  bool has_payload = false;
  /// --api-key: presented to the node's CAF endpoint.
  std::optional<std::string> api_key;
  /// publish --file: one line per event instead of progress and summary.
  bool verbose = false;
  /// listeners: add or remove, the group, the node (empty: the one the
  /// command talks to) and how many.
  std::string action, group, node;
  std::string count;
  /// console: -e commands and --json.
  std::vector<std::string> exec;
  bool json = false;
};

/// Parses the command line; returns an error text or empty.
std::string parse_cli(int argc, char** argv, cli& out);

/// The scheduler settings every onceflow process starts from (the config
/// file or the command line override them).
inline void set_scheduler_defaults(caf::actor_system_config& cfg) {
  // 2 worker threads suit the 2-core machines we target.
  cfg.set("scheduler.max-threads", 2);
  // An idle worker spins briefly, then waits on its condition variable
  // instead of CAF's 500 further polls ~50 us apart: those wake-ups cost
  // more CPU than the work between them (docs/benchmarks.md, "Idle
  // polling"). The wait ends when work is put into the worker's own queue
  // from outside, or after the relaxed sleep, when it steals: work another
  // worker queued for itself waits at most that long (1 ms instead of
  // CAF's 10 ms).
  cfg.set("work-stealing.moderate-poll-attempts", 0);
  cfg.set("work-stealing.relaxed-sleep-duration",
          caf::timespan{std::chrono::milliseconds(1)});
}

/// CAF's config for every onceflow process: our message types, the
/// middleman, the scheduler defaults.
struct app_config : caf::actor_system_config {
  app_config() {
    register_types(*this);
    load<caf::io::middleman>();
    set_scheduler_defaults(*this);
  }

  /// CAF's options: the sections of the config file that are CAF's.
  const caf::config_option_set& caf_options() const {
    return custom_options_;
  }
};

/// CAF's network options every onceflow process sets (the message schema
/// as application identifier; in a cluster the middleman's heartbeats and
/// connection timeout).
void set_network_options(app_config& cfg, const node_config& ncfg);

/// Loads the INI file, the environment's ONCEFLOW_* variables and the
/// command line's overrides into `cfg` (in this order: the later wins) and
/// reads our options. `sources` gets the variable of every option whose
/// value came from the environment (errors name it). Returns an exit code:
/// 0, or 2 with what is wrong in `error` ("config file 'x' does not
/// exist", "bad config: ...").
int load_config(const cli& args, app_config& cfg, node_config& ncfg,
                std::map<std::string, std::string>& sources,
                std::string& error);

/// load_config that prints the error ("onceflow: ...") to stderr.
int load_config(const cli& args, app_config& cfg, node_config& ncfg,
                std::map<std::string, std::string>& sources);

/// Connects to the CAF endpoint of the node `ncfg` names (host, port, TLS);
/// returns empty, or why not ("cannot reach node at host:port: ...", with a
/// hint for TLS).
std::string connect_endpoint(caf::actor_system& sys, const node_config& ncfg,
                             endpoint_actor& out);

/// One ingest call for `batch` at endpoint `ep` (each with `timeout`),
/// repeated every 100 ms while the node answers overloaded, for up to
/// `overloaded_wait`. The per-event results in order, or the error
/// (ec::overloaded if the node never took the batch).
caf::expected<std::vector<append_result>>
ingest_batch(caf::scoped_actor& self, const endpoint_actor& ep,
             const std::string& key, const std::vector<event>& batch,
             std::chrono::milliseconds timeout,
             std::chrono::milliseconds overloaded_wait);

/// True for the node's refusal of an API key (unauthorized, forbidden):
/// the same answer for every further call.
bool is_refusal(const caf::error& err);

/// True for the node's "overloaded" answer (retry later).
bool is_overloaded(const caf::error& err);

/// `onceflow node`: runs a node (core or worker) with `handlers` and the
/// webhook handler until SIGTERM/SIGINT.
int run_node(const cli& args, const handler_registry& handlers);

/// The client commands: `publish`, `status`, `console`, `listeners`.
int run_publish(const cli& args);
int run_status(const cli& args);
int run_console(const cli& args);
int run_listeners(const cli& args);

} // namespace onceflow::command
