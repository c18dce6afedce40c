#include "runtime/command_line.hpp"

#include "config/node_config.hpp"
#include "runtime/cluster/schema.hpp"
#include "runtime/cluster/tls.hpp"
#include "runtime/node.hpp"

#include <caf/actor_system.hpp>
#include <caf/config_value.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/remote_actor.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

namespace onceflow::command {

const char* const usage = R"(usage:
  onceflow node    --config FILE [--section.option=VALUE ...]
  onceflow publish --config FILE --type T --payload JSON [--id ID] [--priority P]
                   [--delay 30s | --not-before 2030-05-01T12:00:00Z]
  onceflow publish --config FILE --file events.jsonl [--verbose]
  onceflow status  --config FILE [--id ID]
  onceflow listeners add|remove --config FILE --group G --count K [--node N]
  onceflow console --config FILE [-e CMD ...] [--json] [--api-key K]

publish and status talk to the node's CAF endpoint ([node] host/port);
when the node has API keys, give one with --api-key KEY (or [client]
api-key in the config file): publish needs the publish role, status read.

publish --file prints a progress line to stderr every second and a summary
(accepted, duplicate, rejected, failed) at the end; --verbose prints one
line per event instead (and the summary to stderr). Invalid lines are
always named. publish exits 1 if any event was rejected or not published;
status --id exits 1 for an unknown id.

listeners add/remove changes how many listeners of group G run on node N
(default: the node it talks to; with a cluster config any node of it, on a
worker per core it serves) while the system runs; removed listeners finish
their batch first. It needs the admin role and lasts until N restarts.

console connects to every node of the config (its CAF endpoint) and opens
a shell (help lists its commands: nodes, actors, inspect, top, groups,
trace, pause, resume, listeners, dlq); -e runs one command and exits
(repeat -e for more), --json prints JSON. See docs/console.md.

Options from the config file can be overridden by environment variables,
e.g. ONCEFLOW_REDIS__URL=redis://host:6379/0 or
ONCEFLOW_GROUPS__ORDERS__CONCURRENCY=4, and on the command line, e.g.
--node.port=4711 or --groups.orders.concurrency=4 (the command line wins).
CAF's own options (--scheduler.max-threads=2, --middleman.*) pass through.
See docs/configuration.md for every option and variable.
)";

namespace {

bool is_caf_option(const std::string& key) {
  for (auto prefix : {"scheduler.", "middleman.", "logger.", "work-stealing.",
                      "stream.", "caf#"})
    if (key.rfind(prefix, 0) == 0)
      return true;
  return false;
}

} // namespace

std::string parse_cli(int argc, char** argv, cli& out) {
  if (argc < 2)
    return "missing command";
  out.command = argv[1];
  if (out.command != "node" && out.command != "publish"
      && out.command != "status" && out.command != "listeners"
      && out.command != "console")
    return "unknown command '" + out.command + "'";
  int first = 2;
  if (out.command == "listeners") {
    out.action = argc > 2 ? argv[2] : "";
    if (out.action != "add" && out.action != "remove")
      return "listeners: say add or remove (onceflow listeners add --group G "
             "--count K)";
    first = 3;
  }
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (out.command == "console" && (arg == "-e" || arg == "--json")) {
      if (arg == "--json")
        out.json = true;
      else if (i + 1 < argc)
        out.exec.emplace_back(argv[++i]);
      else
        return "option '-e' needs a command (-e 'actors --group orders')";
      continue;
    }
    if (arg.rfind("--", 0) != 0)
      return "unexpected argument '" + arg + "'";
    if (arg == "--verbose") {
      if (out.command != "publish")
        return "option '--verbose' is for publish";
      out.verbose = true;
      continue;
    }
    std::string key = arg.substr(2), value;
    auto eq = key.find('=');
    if (eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    } else {
      if (i + 1 >= argc)
        return "option '--" + key + "' needs a value";
      value = argv[++i];
    }
    if (key == "config")
      out.config_file = value;
    else if (key == "type")
      out.type = value;
    else if (key == "payload") {
      out.payload = value;
      out.has_payload = true;
    } else if (key == "id")
      out.id = value;
    else if (key == "priority")
      out.prio = value;
    else if (key == "file")
      out.file = value;
    else if (key == "api-key")
      out.api_key = value;
    else if (key == "delay")
      out.delay = value;
    else if (key == "not-before")
      out.not_before = value;
    else if (out.command == "listeners" && key == "group")
      out.group = value;
    else if (out.command == "listeners" && key == "node")
      out.node = value;
    else if (out.command == "listeners" && key == "count")
      out.count = value;
    else if (is_caf_option(key))
      out.caf_args.push_back("--" + key + "=" + value);
    else if (key.find('.') != std::string::npos)
      out.overrides.emplace_back(key, value);
    else
      return "unknown option '--" + key + "'";
  }
  if (out.config_file.empty())
    return "option '--config FILE' is required";
  if (out.command == "listeners") {
    if (out.group.empty())
      return "listeners: option '--group G' is required";
    if (out.count.empty()
        || out.count.find_first_not_of("0123456789") != std::string::npos
        || out.count.size() > 4 || std::stoi(out.count) < 1)
      return "listeners: option '--count K' needs a whole number from 1 to "
             "9999";
  }
  return {};
}

namespace {

/// `publish` and `status` with a cluster config talk to a core: the first
/// one (by name) unless --node.name names another node.
void pick_client_node(caf::settings& content) {
  if (caf::get_if(&content, "node.name"))
    return;
  auto nodes = caf::get_if<caf::settings>(&content, "nodes");
  if (!nodes)
    return;
  for (auto& kv : *nodes) {
    auto role = caf::get_if<std::string>(&content,
                                         "nodes." + kv.first + ".role");
    if (!role || *role == "core") {
      caf::put(content, "node.name", kv.first);
      return;
    }
  }
}

/// The process's environment variables.
std::vector<env_var> environment() {
  std::vector<env_var> out;
  for (char** p = environ; p != nullptr && *p != nullptr; ++p) {
    std::string entry{*p};
    auto eq = entry.find('=');
    if (eq != std::string::npos)
      out.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return out;
}

} // namespace

/// CAF's network options every onceflow process sets: the message schema
/// as the only application identifier (CAF refuses connections between
/// different ones: primer §3b), and in a cluster the middleman's
/// heartbeats and connection timeout (on every node and every client, or
/// an idle healthy link is dropped).
void set_network_options(app_config& cfg, const node_config& ncfg) {
  cfg.set("middleman.app-identifiers", std::vector<std::string>{schema_id()});
  if (!ncfg.cluster.enabled())
    return;
  using std::chrono::milliseconds;
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{milliseconds(ncfg.cluster.heartbeat_interval)});
  cfg.set("middleman.connection-timeout",
          caf::timespan{milliseconds(ncfg.cluster.connection_timeout)});
}

/// Loads the INI file, the environment's ONCEFLOW_* variables and the
/// command line's overrides into `cfg` (in this order: the later wins) and
/// reads our options. `sources` gets the variable of every option whose
/// value came from the environment (errors name it).
int load_config(const cli& args, app_config& cfg, node_config& ncfg,
                std::map<std::string, std::string>& sources,
                std::string& error) {
  if (!std::filesystem::exists(args.config_file)) {
    error = "config file '" + args.config_file + "' does not exist";
    return 2;
  }
  std::vector<std::string> caf_args = args.caf_args;
  if (auto err = cfg.parse(caf_args, args.config_file.c_str())) {
    std::ifstream ini{args.config_file};
    error = "cannot read config file '" + args.config_file
            + "': " + describe_parse_error(err, ini);
    return 2;
  }
  env_config env;
  if (auto err = read_environment(environment(), cfg.content, cfg.caf_options(),
                                  env);
      !err.empty()) {
    error = "bad environment: " + err;
    return 2;
  }
  // What the command line sets comes from there, not from the environment.
  std::set<std::string> on_command_line;
  for (auto& arg : args.caf_args)
    on_command_line.insert(arg.substr(2, arg.find('=') - 2));
  for (auto& kv : args.overrides)
    on_command_line.insert(kv.first);
  for (auto& [key, value] : env.caf)
    if (on_command_line.count(key) == 0)
      caf::put(cfg.content, key, value);
  for (auto& key : on_command_line)
    env.sources.erase(key);
  sources = env.sources;
  // The environment's groups were checked against the file's already.
  if (auto err = apply_overrides(cfg.content, env.overrides); !err.empty()) {
    error = "bad environment: " + err;
    return 2;
  }
  if (auto err = apply_overrides(cfg.content, args.overrides); !err.empty()) {
    error = "bad config: " + err;
    return 2;
  }
  if (args.command != "node")
    pick_client_node(cfg.content);
  if (auto err = read_node_config(cfg.content, cfg.caf_options(), ncfg);
      !err.empty()) {
    error = "bad config: " + name_sources(err, sources);
    return 2;
  }
  set_network_options(cfg, ncfg);
  // Mutual TLS: the files are checked here, since CAF's OpenSSL module
  // loads them per connection and fails from its I/O thread.
  if (auto& tls = ncfg.cluster.tls; tls.enabled()) {
    if (auto err = check_tls_files(tls, args.command == "node"); !err.empty()) {
      error = "bad config: " + name_sources(err, sources);
      return 2;
    }
    enable_tls(cfg, tls);
  }
  return 0;
}

int load_config(const cli& args, app_config& cfg, node_config& ncfg,
                std::map<std::string, std::string>& sources) {
  std::string error;
  auto rc = load_config(args, cfg, ncfg, sources, error);
  if (rc != 0)
    std::cerr << "onceflow: " << error << "\n";
  return rc;
}

std::string connect_endpoint(caf::actor_system& sys, const node_config& ncfg,
                             endpoint_actor& out) {
  auto& tls = ncfg.cluster.tls;
  auto b
    = tls.enabled()
        ? caf::openssl::remote_actor<endpoint_actor>(sys, ncfg.host, ncfg.port)
        : sys.middleman().remote_actor<endpoint_actor>(ncfg.host, ncfg.port);
  if (!b) {
    std::string why = sys.render(b.error());
    // CAF says no more than that the connection closed: a handshake of our
    // own tells what TLS saw.
    if (tls.enabled()) {
      auto ms = static_cast<int>(ncfg.cluster.connection_timeout);
      if (auto tls_why = diagnose_tls(ncfg.host, ncfg.port, tls, ms);
          !tls_why.empty())
        why += "; TLS: " + tls_why;
    } else if (b.error() == caf::sec::disconnect_during_handshake) {
      why += " (with TLS on at the node, set the cluster's [cluster] tls-* "
             "options here too)";
    }
    return "cannot reach node at " + ncfg.host + ":" + std::to_string(ncfg.port)
           + ": " + why;
  }
  out = std::move(*b);
  return {};
}

namespace {

bool is_ec(const caf::error& err, ec x) {
  return err.category() == caf::atom("onceflow")
         && static_cast<ec>(err.code()) == x;
}

} // namespace

caf::expected<std::vector<append_result>>
ingest_batch(caf::scoped_actor& self, const endpoint_actor& ep,
             const std::string& key, const std::vector<event>& batch,
             std::chrono::milliseconds timeout,
             std::chrono::milliseconds overloaded_wait) {
  auto give_up = std::chrono::steady_clock::now() + overloaded_wait;
  for (;;) {
    caf::expected<std::vector<append_result>> result{caf::error{}};
    self->request(ep, timeout, atom::ingest_v, key, batch)
      .receive([&](std::vector<append_result>& rs) { result = std::move(rs); },
               [&](caf::error& err) { result = std::move(err); });
    if (result || !is_overloaded(result.error())
        || std::chrono::steady_clock::now() >= give_up)
      return result;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

bool is_overloaded(const caf::error& err) {
  return is_ec(err, ec::overloaded);
}

bool is_refusal(const caf::error& err) {
  return is_ec(err, ec::unauthorized) || is_ec(err, ec::forbidden);
}

} // namespace onceflow::command
