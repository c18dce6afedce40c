// The `onceflow` binary: `onceflow node`, `onceflow publish`,
// `onceflow status`, `onceflow listeners`, `onceflow console`. See
// docs/configuration.md, docs/console.md and README.md.

#include "actors/interfaces.hpp"
#include "actors/logic/validation.hpp"
#include "adapters/webhook/alert_webhook.hpp"
#include "adapters/webhook/webhook_handler.hpp"
#include "config/node_config.hpp"
#include "runtime/cluster/schema.hpp"
#include "runtime/cluster/tls.hpp"
#include "runtime/console/console.hpp"
#include "runtime/http/server.hpp"
#include "runtime/node.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/config_value.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>

using namespace onceflow;

namespace {

constexpr const char* usage = R"(usage:
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

bool is_caf_option(const std::string& key) {
  for (auto prefix : {"scheduler.", "middleman.", "logger.", "work-stealing.",
                      "stream.", "caf#"})
    if (key.rfind(prefix, 0) == 0)
      return true;
  return false;
}

/// Parses the command line; returns an error text or empty.
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

struct app_config : caf::actor_system_config {
  app_config() {
    register_types(*this);
    load<caf::io::middleman>();
    // 2 worker threads suit the 2-core machines we target; the config file
    // or --scheduler.max-threads override it.
    set("scheduler.max-threads", 2);
  }

  /// CAF's options: the sections of the config file that are CAF's.
  const caf::config_option_set& caf_options() const {
    return custom_options_;
  }
};

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

/// Loads the INI file, the environment's ONCEFLOW_* variables and the
/// command line's overrides into `cfg` (in this order: the later wins) and
/// reads our options. `sources` gets the variable of every option whose
/// value came from the environment (errors name it).
int load_config(const cli& args, app_config& cfg, node_config& ncfg,
                std::map<std::string, std::string>& sources) {
  if (!std::filesystem::exists(args.config_file)) {
    std::cerr << "onceflow: config file '" << args.config_file
              << "' does not exist\n";
    return 2;
  }
  std::vector<std::string> caf_args = args.caf_args;
  if (auto err = cfg.parse(caf_args, args.config_file.c_str())) {
    std::ifstream ini{args.config_file};
    std::cerr << "onceflow: cannot read config file '" << args.config_file
              << "': " << describe_parse_error(err, ini) << "\n";
    return 2;
  }
  env_config env;
  if (auto err = read_environment(environment(), cfg.content, cfg.caf_options(),
                                  env);
      !err.empty()) {
    std::cerr << "onceflow: bad environment: " << err << "\n";
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
    std::cerr << "onceflow: bad environment: " << err << "\n";
    return 2;
  }
  if (auto err = apply_overrides(cfg.content, args.overrides); !err.empty()) {
    std::cerr << "onceflow: bad config: " << err << "\n";
    return 2;
  }
  if (args.command != "node")
    pick_client_node(cfg.content);
  if (auto err = read_node_config(cfg.content, cfg.caf_options(), ncfg);
      !err.empty()) {
    std::cerr << "onceflow: bad config: " << name_sources(err, sources) << "\n";
    return 2;
  }
  set_network_options(cfg, ncfg);
  // Mutual TLS: the files are checked here, since CAF's OpenSSL module
  // loads them per connection and fails from its I/O thread.
  if (auto& tls = ncfg.cluster.tls; tls.enabled()) {
    if (auto err = check_tls_files(tls, args.command == "node"); !err.empty()) {
      std::cerr << "onceflow: bad config: " << name_sources(err, sources)
                << "\n";
      return 2;
    }
    enable_tls(cfg, tls);
  }
  return 0;
}

/// Publishes the node's endpoint on its host and port: with TLS on through
/// CAF's OpenSSL module only (nothing plain listens then).
caf::expected<uint16_t> publish_endpoint(caf::actor_system& sys,
                                         const node_config& ncfg,
                                         const endpoint_actor& ep) {
  auto& tls = ncfg.cluster.tls;
  if (!tls.enabled())
    return sys.middleman().publish(ep, ncfg.port, ncfg.host.c_str(), true);
  auto port = caf::openssl::publish(ep, ncfg.port, ncfg.host.c_str(), true);
  if (port)
    spdlog::info("mutual TLS on: CA {}, certificate {}", tls.ca_file,
                 tls.cert_file);
  return port;
}

std::atomic<int> stop_signal{0};

extern "C" void on_signal(int sig) {
  stop_signal = sig;
  // A second signal ends the process at once (e.g. a drain that hangs).
  std::signal(sig, SIG_DFL);
}

/// Starts the HTTP API; nullptr (after printing why) on failure.
std::unique_ptr<http::server>
start_http(caf::actor_system& sys, const node_config& ncfg,
           const node_actors& n, std::shared_ptr<http::gateway>& gw) {
  gw = http::gateway::make(sys, n.broadcaster, ncfg.max_ingest_batch,
                           n.metrics);
  auto routes = std::make_shared<http::api>(ncfg, n, gw);
  try {
    auto srv = std::make_unique<http::server>(ncfg.http.host, ncfg.http.port,
                                              ncfg.http.max_body_bytes,
                                              ncfg.http.threads, routes);
    spdlog::info("HTTP API listening on {}:{} ({} API key(s))", ncfg.http.host,
                 srv->port(), ncfg.http.keys.size());
    if (ncfg.http.keys.empty())
      spdlog::warn("HTTP API without authentication: set [http] api-keys "
                   "before exposing {} beyond this machine",
                   ncfg.http.host);
    return srv;
  } catch (const std::exception& e) {
    std::cerr << "onceflow: HTTP API: " << e.what() << "\n";
    gw->stop();
    return nullptr;
  }
}

/// Stops the HTTP API: queued submissions are answered, the gateway actor
/// has terminated (no callback reaches a closed connection), then the
/// server's threads end.
void stop_http(caf::actor_system& sys, std::shared_ptr<http::gateway>& gw,
               std::unique_ptr<http::server>& srv) {
  if (gw) {
    gw->stop();
    caf::scoped_actor self{sys};
    self->wait_for(gw->handle());
  }
  if (srv)
    srv->stop();
  srv.reset();
  gw.reset();
}

/// A worker node: listeners for the cores of the cluster config, no store.
/// Runs until SIGTERM/SIGINT; its listeners stop with it (the cores hand
/// their batches to other listeners).
int run_worker(app_config& cfg, const node_config& ncfg,
               std::unique_ptr<handler_registry> handlers) {
  for (auto& w : warnings(ncfg))
    spdlog::warn("{}", w);
  caf::actor_system sys{cfg};
  auto n = start_worker(sys, ncfg, handlers.get());
  auto port = publish_endpoint(sys, ncfg, n.endpoint);
  if (!port) {
    std::cerr << "onceflow: cannot listen on " << ncfg.host << ":" << ncfg.port
              << ": " << sys.render(port.error()) << "\n";
    stop_node(sys, n);
    return 1;
  }
  spdlog::info("worker node {} listening on {}:{} (schema {})", ncfg.name,
               ncfg.host, *port, schema_id());
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  caf::scoped_actor supervisor{sys};
  supervisor->monitor(n.manager);
  std::string died;
  while (stop_signal == 0 && died.empty()) {
    supervisor->receive(
      [&](caf::down_msg& msg) { died = caf::to_string(msg.reason); },
      caf::after(std::chrono::milliseconds(50)) >> [] {});
  }
  sys.middleman().unpublish(n.endpoint, *port);
  stop_node(sys, n);
  supervisor->wait_for(n.manager);
  handlers.reset();
  if (!died.empty()) {
    spdlog::critical("the node manager went down: {}", died);
    return 1;
  }
  spdlog::info("worker node {} stopped", ncfg.name);
  return 0;
}

int run_node(const cli& args) {
  app_config cfg;
  node_config ncfg;
  std::map<std::string, std::string> sources;
  if (auto rc = load_config(args, cfg, ncfg, sources))
    return rc;
  // The node's handlers: the built-ins plus `webhook` on one shared curl
  // worker. Both are released before the actor system goes (the client's
  // last callbacks still send to listeners).
  auto webhooks = std::make_shared<webhook_client>();
  auto handlers = std::make_unique<handler_registry>(default_handlers());
  handlers->add("webhook", webhook_handler_factory(webhooks));
  if (auto err = validate(ncfg, handlers->names()); !err.empty()) {
    std::cerr << "onceflow: bad config: " << name_sources(err, sources) << "\n";
    return 2;
  }
  if (ncfg.role == node_role::worker)
    return run_worker(cfg, ncfg, std::move(handlers));
  std::shared_ptr<store> st;
  extra_stores extra;
  try {
    st = open_store(ncfg);
    extra = open_extra_stores(ncfg);
  } catch (const std::exception& e) {
    std::cerr << "onceflow: cannot open the " << ncfg.store_backend
              << " store: " << e.what() << "\n";
    return 1;
  }
  auto store_name = st->describe();
  for (auto& w : warnings(ncfg))
    spdlog::warn("{}", w);
  for (auto& w : st->startup_warnings())
    spdlog::warn("{}", w);
  alert_sink_ptr alerts;
  if (!ncfg.alerts.dlq_webhook_url.empty()) {
    alerts = make_webhook_alert_sink(webhooks, ncfg.alerts.dlq_webhook_url,
                                     ncfg.alerts.dlq_webhook_secret,
                                     ncfg.alerts.dlq_webhook_timeout);
    spdlog::info("DLQ alerts to {} (window {} ms, at most one call per {} "
                 "ms, {} entries per call, {} retries)",
                 alerts->describe(), ncfg.alerts.dlq.window,
                 ncfg.alerts.dlq.min_interval, ncfg.alerts.dlq.max_entries,
                 ncfg.alerts.dlq.retries);
  }
  caf::actor_system sys{cfg};
  auto n = start_node(sys, ncfg, st, true, {}, handlers.get(), std::move(extra),
                      std::move(alerts));
  webhooks.reset();
  // Stops the actors; the registry (and the webhook client with it) goes
  // once the broadcaster, which spawns listeners from it, has terminated.
  auto stop_all = [&] {
    stop_node(sys, n);
    caf::scoped_actor {
      sys
      } -> wait_for(n.broadcaster);
    handlers.reset();
  };
  st.reset();
  auto port = publish_endpoint(sys, ncfg, n.endpoint);
  if (!port) {
    std::cerr << "onceflow: cannot listen on " << ncfg.host << ":" << ncfg.port
              << ": " << sys.render(port.error()) << "\n";
    stop_all();
    return 1;
  }
  spdlog::info("node {} listening on {}:{} (store {}, {} group(s))", ncfg.name,
               ncfg.host, *port, store_name, ncfg.groups.size());
  std::shared_ptr<http::gateway> gw;
  std::unique_ptr<http::server> srv;
  if (ncfg.http.enabled) {
    srv = start_http(sys, ncfg, n, gw);
    if (!srv) {
      sys.middleman().unpublish(n.endpoint, *port);
      stop_all();
      return 1;
    }
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  // A write to a connection the peer reset (Redis over hiredis or TLS,
  // webhooks) must fail with EPIPE, not end the process.
  std::signal(SIGPIPE, SIG_IGN);
  // Supervise the long-lived actors: if one dies the node cannot work, so
  // the process exits non-zero (a service manager restarts it; nothing
  // accepted is lost).
  caf::scoped_actor supervisor{sys};
  for (auto& x : n.lease_stores)
    supervisor->monitor(x);
  for (auto& a : {caf::actor_cast<caf::actor>(n.store),
                  caf::actor_cast<caf::actor>(n.ingest_store),
                  caf::actor_cast<caf::actor>(n.dedup),
                  caf::actor_cast<caf::actor>(n.retry_timer),
                  caf::actor_cast<caf::actor>(n.dlq),
                  caf::actor_cast<caf::actor>(n.broadcaster)})
    supervisor->monitor(a);
  if (n.alerter)
    supervisor->monitor(n.alerter);
  if (gw)
    supervisor->monitor(gw->handle());
  std::string died;
  while (stop_signal == 0 && died.empty()) {
    supervisor->receive(
      [&](caf::down_msg& msg) {
        died = caf::to_string(msg.source) + " (" + caf::to_string(msg.reason)
               + ")";
      },
      caf::after(std::chrono::milliseconds(50)) >>
        [] {
          // Look at stop_signal again.
        });
  }
  if (!died.empty()) {
    spdlog::critical("a core actor went down: {}; stopping the node", died);
    stop_http(sys, gw, srv);
    stop_all();
    return 1;
  }
  spdlog::info("signal {}: stopping intake, draining in-flight work",
               stop_signal.load());
  bool drained = false;
  {
    caf::scoped_actor self{sys};
    self
      ->request(n.broadcaster,
                std::chrono::milliseconds(ncfg.shutdown_timeout + 1000),
                atom::drain_v, ncfg.shutdown_timeout)
      .receive([&](bool ok) { drained = ok; },
               [&](caf::error& err) {
                 spdlog::warn("drain failed: {}", sys.render(err));
               });
  }
  // The HTTP API answered 503 during the drain; now it closes.
  stop_http(sys, gw, srv);
  sys.middleman().unpublish(n.endpoint, *port);
  stop_all();
  spdlog::info("node {} stopped ({})", ncfg.name,
               drained ? "drained" : "drain timed out");
  return 0;
}

/// Reads events to publish; invalid ones are reported and skipped.
/// What `publish` did with its events.
struct publish_tally {
  size_t accepted = 0;
  size_t duplicate = 0;
  /// Invalid lines or arguments (never sent).
  size_t rejected = 0;
  /// Valid events the node did not take (an error, or still overloaded
  /// after the retries).
  size_t failed = 0;

  std::string text(size_t sent, size_t total) const {
    return std::to_string(sent) + "/" + std::to_string(total) + " sent, "
           + std::to_string(accepted) + " accepted, "
           + std::to_string(duplicate) + " duplicate, "
           + std::to_string(rejected) + " rejected, " + std::to_string(failed)
           + " failed";
  }
};

/// Reads events to publish; invalid ones are reported (naming the line or
/// the field), counted as rejected and skipped.
std::vector<event> collect_events(const cli& args, const node_config& ncfg,
                                  publish_tally& tally, bool& had_errors) {
  std::vector<event> result;
  if (!args.file.empty()) {
    std::ifstream in{args.file};
    if (!in) {
      std::cout << "error: cannot open file '" << args.file << "'\n";
      had_errors = true;
      return result;
    }
    std::string line;
    size_t lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      if (line.find_first_not_of(" \t\r") == std::string::npos)
        continue;
      auto r = parse_event_json(line, ncfg.limits);
      if (r.ok)
        if (auto p = check_not_before(r.ev, ncfg.limits, wall_now())) {
          r.ok = false;
          r.field = p.field;
          r.message = p.message;
        }
      if (!r.ok) {
        std::cout << "line " << lineno << ": error: field '" << r.field << "' "
                  << r.message << "\n";
        ++tally.rejected;
        had_errors = true;
        continue;
      }
      result.push_back(std::move(r.ev));
    }
    return result;
  }
  submission sub{args.id,   args.type,  args.payload,
                 args.prio, args.delay, args.not_before};
  if (!args.has_payload)
    sub.payload = "{}";
  auto r = validate(sub, ncfg.limits);
  if (r.ok)
    if (auto p = check_not_before(r.ev, ncfg.limits, wall_now())) {
      r.ok = false;
      r.field = p.field;
      r.message = p.message;
    }
  if (!r.ok) {
    std::cout << "error: field '" << r.field << "' " << r.message << "\n";
    ++tally.rejected;
    had_errors = true;
    return result;
  }
  result.push_back(std::move(r.ev));
  return result;
}

/// Connects to a node's CAF endpoint; prints why not and returns nothing on
/// failure.
caf::optional<endpoint_actor> connect_node(caf::actor_system& sys,
                                           const node_config& ncfg) {
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
    std::cout << "error: cannot reach node at " << ncfg.host << ":" << ncfg.port
              << ": " << why << "\n";
    return caf::none;
  }
  return std::move(*b);
}

int run_publish(const cli& args) {
  app_config cfg;
  node_config ncfg;
  std::map<std::string, std::string> sources;
  if (auto rc = load_config(args, cfg, ncfg, sources))
    return rc;
  if (args.file.empty() && args.type.empty()) {
    std::cerr << "onceflow publish: give --type T --payload JSON, or --file "
                 "events.jsonl\n";
    return 2;
  }
  if (!args.file.empty() && (!args.delay.empty() || !args.not_before.empty())) {
    std::cerr << "onceflow publish: --delay and --not-before go with --type; "
                 "in --file each line has its own \"delay\" or "
                 "\"notBefore\"\n";
    return 2;
  }
  // One event from the command line: its answer, as with --verbose.
  bool per_event = args.verbose || args.file.empty();
  bool had_errors = false;
  publish_tally tally;
  auto events = collect_events(args, ncfg, tally, had_errors);
  auto summary = [&] {
    if (args.file.empty())
      return;
    auto line = "summary: " + std::to_string(events.size() + tally.rejected)
                + " events: " + std::to_string(tally.accepted) + " accepted, "
                + std::to_string(tally.duplicate) + " duplicate, "
                + std::to_string(tally.rejected) + " rejected, "
                + std::to_string(tally.failed) + " failed\n";
    // stdout is one line per event with --verbose.
    (args.verbose ? std::cerr : std::cout) << line;
  };
  if (events.empty()) {
    summary();
    return had_errors ? 1 : 0;
  }
  caf::actor_system sys{cfg};
  auto b = connect_node(sys, ncfg);
  if (!b)
    return 1;
  auto key = args.api_key.value_or(ncfg.client_api_key);
  caf::scoped_actor self{sys};
  size_t batch_size = std::min<size_t>(1000, ncfg.max_ingest_batch);
  using clock = std::chrono::steady_clock;
  auto last_progress = clock::now();
  size_t batches = 0;
  bool refused = false;
  for (size_t first = 0; !refused && first < events.size();
       first += batch_size) {
    auto last = std::min(events.size(), first + batch_size);
    std::vector<event> batch(events.begin() + first, events.begin() + last);
    bool done = false;
    auto fail_batch = [&](const std::string& why) {
      tally.failed += batch.size();
      had_errors = true;
      if (per_event) {
        for (auto& ev : batch)
          std::cout << ev.id << " error: " << why << "\n";
        return;
      }
      std::cout << "error: " << batch.size() << " event(s) not published ("
                << batch.front().id << " .. " << batch.back().id << "): " << why
                << "\n";
    };
    for (int attempt = 0; !done && attempt < 100; ++attempt) {
      self->request(*b, std::chrono::seconds(60), atom::ingest_v, key, batch)
        .receive(
          [&](std::vector<append_result>& rs) {
            for (auto& r : rs) {
              if (r.duplicate)
                ++tally.duplicate;
              else
                ++tally.accepted;
              if (!per_event)
                continue;
              if (r.duplicate)
                std::cout << r.id << " duplicate (original status: "
                          << to_string(r.original) << ")\n";
              else
                std::cout << r.id << " accepted\n";
            }
            done = true;
          },
          [&](caf::error& err) {
            if (err.category() == caf::atom("onceflow")
                && static_cast<ec>(err.code()) == ec::overloaded) {
              std::this_thread::sleep_for(std::chrono::milliseconds(100));
              return;
            }
            if (err.category() == caf::atom("onceflow")
                && (static_cast<ec>(err.code()) == ec::unauthorized
                    || static_cast<ec>(err.code()) == ec::forbidden)) {
              // The same answer for every batch: say it once and stop
              // (the events after this batch are never sent).
              refused = true;
              tally.failed += events.size() - last;
            }
            fail_batch(render(err));
            done = true;
          });
    }
    if (!done)
      fail_batch("overloaded, gave up after retries");
    // Progress now and then: every second, and every 10 batches.
    auto now = clock::now();
    ++batches;
    if (!per_event && last < events.size()
        && (batches % 10 == 0
            || now - last_progress >= std::chrono::seconds(1))) {
      last_progress = now;
      std::cerr << "progress: " << tally.text(last, events.size()) << std::endl;
    }
  }
  summary();
  std::cout.flush();
  return had_errors || refused ? 1 : 0;
}

void print_settings(const caf::settings& xs, const std::string& prefix) {
  for (auto& kv : xs) {
    if (auto sub = caf::get_if<caf::settings>(&kv.second))
      print_settings(*sub, prefix + kv.first + ".");
    else
      std::cout << prefix << kv.first << " = " << caf::to_string(kv.second)
                << "\n";
  }
}

/// A client command with one exchange with the node's endpoint: loads the
/// config, connects, and calls `f(self, endpoint, key, on_error)`, where
/// on_error prints the error and makes the exit code 1; returns the exit
/// code (`f` may set it through its `int& rc`).
template <class F>
int with_endpoint(const cli& args, F f) {
  app_config cfg;
  node_config ncfg;
  std::map<std::string, std::string> sources;
  if (auto rc = load_config(args, cfg, ncfg, sources))
    return rc;
  caf::actor_system sys{cfg};
  auto b = connect_node(sys, ncfg);
  if (!b)
    return 1;
  auto key = args.api_key.value_or(ncfg.client_api_key);
  caf::scoped_actor self{sys};
  int rc = 0;
  auto on_error = [&](caf::error& err) {
    std::cout << "error: " << render(err) << "\n";
    rc = 1;
  };
  f(self, *b, key, on_error, rc);
  return rc;
}

int run_status(const cli& args) {
  return with_endpoint(
    args, [&](caf::scoped_actor& self, const endpoint_actor& b,
              const std::string& key, auto& on_error, int& rc) {
      if (!args.id.empty()) {
        self->request(b, std::chrono::seconds(10), atom::query_v, key, args.id)
          .receive(
            [&](std::vector<group_status>& xs) {
              if (xs.empty()) {
                std::cout << args.id << " unknown\n";
                rc = 1;
              }
              for (auto& x : xs)
                std::cout << args.id << " " << x.group << " "
                          << to_string(x.status) << "\n";
            },
            on_error);
        return;
      }
      self->request(b, std::chrono::seconds(10), atom::status_v, key)
        .receive([&](caf::settings& xs) { print_settings(xs, ""); }, on_error);
    });
}

int run_console(const cli& args) {
  app_config cfg;
  node_config ncfg;
  std::map<std::string, std::string> sources;
  if (auto rc = load_config(args, cfg, ncfg, sources))
    return rc;
  if (!caf::get_if<caf::settings>(&cfg.content, "node")
      && caf::get_or(cfg.content, "nodes", caf::settings{}).empty()) {
    std::cerr << "onceflow console: config file '" << args.config_file
              << "' names no node: give [node] host/port (one node) or "
                 "[nodes.NAME] sections (a cluster)\n";
    return 2;
  }
  caf::actor_system sys{cfg};
  console::console_options opts;
  opts.exec = args.exec;
  opts.json = args.json;
  opts.key = args.api_key.value_or(ncfg.client_api_key);
  return console::run_console(sys, ncfg, opts);
}

int run_listeners(const cli& args) {
  auto n = std::stoi(args.count);
  auto delta = static_cast<int32_t>(args.action == "add" ? n : -n);
  return with_endpoint(args, [&](caf::scoped_actor& self,
                                 const endpoint_actor& b,
                                 const std::string& key, auto& on_error, int&) {
    self
      ->request(b, std::chrono::seconds(30), atom::listeners_v, key, args.group,
                args.node, delta)
      .receive(
        [&](caf::settings& s) {
          std::cout << "group " << caf::get_or(s, "group", std::string{})
                    << " on node " << caf::get_or(s, "node", std::string{})
                    << ": " << caf::get_or(s, "listeners", int64_t{0})
                    << " listener(s)\n";
        },
        on_error);
  });
}

} // namespace

int main(int argc, char** argv) {
  cli args;
  if (argc >= 2
      && (std::string{argv[1]} == "--help" || std::string{argv[1]} == "-h"
          || std::string{argv[1]} == "help")) {
    std::cout << usage;
    return 0;
  }
  if (auto err = parse_cli(argc, argv, args); !err.empty()) {
    std::cerr << "onceflow: " << err << "\n\n" << usage;
    return 2;
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  if (args.command == "node")
    return run_node(args);
  if (args.command == "publish")
    return run_publish(args);
  if (args.command == "listeners")
    return run_listeners(args);
  if (args.command == "console")
    return run_console(args);
  return run_status(args);
}
