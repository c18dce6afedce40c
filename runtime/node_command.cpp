// `onceflow node`: runs a core or worker node until SIGTERM/SIGINT.

#include "adapters/mirroring_store.hpp"
#include "adapters/mongo/mongo_handler.hpp"
#include "adapters/mongo/mongo_records.hpp"
#include "adapters/webhook/alert_webhook.hpp"
#include "adapters/webhook/webhook_handler.hpp"
#include "runtime/cluster/schema.hpp"
#include "runtime/command_line.hpp"
#include "runtime/http/server.hpp"
#include "runtime/node.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/scoped_actor.hpp>

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

namespace onceflow::command {

namespace {

/// How long a stopping node still writes its queued MongoDB records.
constexpr millis_t records_grace = 5000;

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

/// CAF 0.17 can block forever in the actor system's destructor, waiting
/// for the thread of a detached actor (the store actor) that keeps its own
/// last reference, although every actor has terminated (CAF issue #1196,
/// fixed in 0.18): on a loaded 2-core machine in 1 of 15 runs of test_cli's
/// stop and 10 of 30 stops in a loop, the node logging "stopped" and never
/// exiting. Declared before the actor
/// system, so that its destructor runs once the system's returned: after
/// `arm`, a process whose actor system is not gone within `grace` exits
/// with the code it was to return. By then every actor has terminated (the
/// stores closed, MongoDB's records written).
class shutdown_watchdog {
public:
  static constexpr auto grace = std::chrono::seconds(3);

  shutdown_watchdog() = default;
  shutdown_watchdog(const shutdown_watchdog&) = delete;
  shutdown_watchdog& operator=(const shutdown_watchdog&) = delete;

  ~shutdown_watchdog() {
    done_->store(true);
  }

  /// The node stopped and returns `code`; its actor system goes next.
  void arm(int code) {
    std::thread([done = done_, code] {
      std::this_thread::sleep_for(grace);
      if (done->load())
        return;
      spdlog::warn("the actor system did not shut down within {} s (CAF "
                   "0.17's shutdown hang with detached actors); exiting",
                   grace.count());
      spdlog::default_logger()->flush();
      std::fflush(nullptr);
      std::_Exit(code);
    }).detach();
  }

private:
  std::shared_ptr<std::atomic<bool>> done_
    = std::make_shared<std::atomic<bool>>(false);
};

extern "C" void on_signal(int sig) {
  stop_signal = sig;
  // A second signal ends the process at once (e.g. a drain that hangs).
  std::signal(sig, SIG_DFL);
}

/// Starts the HTTP API; nullptr (after printing why) on failure.
std::unique_ptr<http::server>
start_http(caf::actor_system& sys, const node_config& ncfg,
           const node_actors& n, std::shared_ptr<http::gateway>& gw,
           std::vector<http::readiness_check> checks,
           http::listing_source listings) {
  gw = http::gateway::make(sys, n.broadcaster, ncfg.max_ingest_batch,
                           n.metrics);
  auto routes = std::make_shared<http::api>(ncfg, n, gw, std::move(checks),
                                            std::move(listings));
  routes->sample_stats();
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
               std::unique_ptr<handler_registry> handlers,
               const std::shared_ptr<mongo::client>& mongodb) {
  for (auto& w : warnings(ncfg))
    spdlog::warn("{}", w);
  shutdown_watchdog watchdog;
  caf::actor_system sys{cfg};
  auto n = start_worker(sys, ncfg, handlers.get());
  auto port = publish_endpoint(sys, ncfg, n.endpoint);
  if (!port) {
    std::cerr << "onceflow: cannot listen on " << ncfg.host << ":" << ncfg.port
              << ": " << sys.render(port.error()) << "\n";
    stop_node(sys, n);
    watchdog.arm(1);
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
  if (mongodb) // no callback after the actor system
    mongodb->stop();
  handlers.reset();
  if (!died.empty()) {
    spdlog::critical("the node manager went down: {}", died);
    watchdog.arm(1);
    return 1;
  }
  spdlog::info("worker node {} stopped", ncfg.name);
  watchdog.arm(0);
  return 0;
}

} // namespace

int run_node(const cli& args, const handler_registry& app_handlers) {
  app_config cfg;
  node_config ncfg;
  std::map<std::string, std::string> sources;
  if (auto rc = load_config(args, cfg, ncfg, sources))
    return rc;
  // The node's handlers: the built-ins, the application's, and `webhook`
  // on one shared curl worker. Both are released before the actor system
  // goes (the client's last callbacks still send to listeners).
  auto webhooks = std::make_shared<webhook_client>();
  auto handlers = std::make_unique<handler_registry>(app_handlers);
  handlers->add("webhook", webhook_handler_factory(webhooks));
  // `mongo` on the node's MongoDB client (none without [mongo] uri: then a
  // group using the handler is refused, naming the missing option).
  std::shared_ptr<mongo::client> mongodb;
  if (ncfg.mongo.enabled() && validate(ncfg.mongo).empty()) {
    try {
      mongodb = std::make_shared<mongo::client>(ncfg.mongo);
    } catch (const std::exception& e) {
      std::cerr << "onceflow: bad config: " << e.what() << "\n";
      return 2;
    }
  }
  handlers->add("mongo", mongo_handler_factory(mongodb), mongo_handler_spec());
  auto err = validate(ncfg, handlers->names());
  // The options of the handlers this node runs (in a cluster, the groups
  // with listeners here).
  for (auto& g : ncfg.groups)
    if (err.empty() && handlers->contains(g.handler)
        && (!ncfg.cluster.enabled() || g.concurrency > 0))
      err = handlers->check(g);
  if (!err.empty()) {
    std::cerr << "onceflow: bad config: " << name_sources(err, sources) << "\n";
    return 2;
  }
  std::vector<http::readiness_check> checks;
  if (mongodb) {
    // A node that runs `mongo` listeners reaches MongoDB and makes the
    // indexes at start; one that runs none (yet: listeners may be added)
    // connects at its first write.
    bool runs_mongo = false;
    for (auto& g : ncfg.groups)
      runs_mongo |= g.handler == "mongo"
                    && (!ncfg.cluster.enabled() || g.concurrency > 0);
    if (runs_mongo) {
      if (auto e = mongodb->open(); !e.empty()) {
        std::cerr << "onceflow: " << e << "\n";
        return 1;
      }
      spdlog::info("MongoDB {}: effects of the mongo handler in {}",
                   mongodb->describe(), ncfg.mongo.processed_collection);
    }
    checks.push_back({"mongodb", [m = mongodb] {
                        return m->health();
                      }});
  }
  if (ncfg.role == node_role::worker)
    return run_worker(cfg, ncfg, std::move(handlers), mongodb);
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
  // The optional MongoDB records: every store object of the node tells
  // them what it committed.
  std::shared_ptr<mongo::records> records;
  if (mongodb && ncfg.mongo.records()) {
    std::vector<group_spec> specs;
    for (auto& g : ncfg.groups)
      specs.push_back({g.name, g.subscriptions, false});
    if (auto e = mongodb->open(); !e.empty()) {
      std::cerr << "onceflow: " << e << "\n";
      return 1;
    }
    // The journal of changes not written yet, in the node's data
    // directory (named by the node: Redis nodes may share a directory).
    auto journal = std::filesystem::path{ncfg.data_dir}
                   / ("mongo-records-" + ncfg.name + ".journal");
    std::error_code ec;
    std::filesystem::create_directories(ncfg.data_dir, ec);
    if (ec) {
      spdlog::warn("MongoDB records without a journal: cannot create {}: {} "
                   "(changes not written when the node is killed are lost)",
                   ncfg.data_dir, ec.message());
      journal.clear();
    }
    try {
      records = std::make_shared<mongo::records>(mongodb, std::move(specs),
                                                 journal.string());
    } catch (const std::exception& e) {
      std::cerr << "onceflow: " << e.what() << "\n";
      return 1;
    }
    if (auto e = records->open(); !e.empty()) {
      std::cerr << "onceflow: " << e << "\n";
      return 1;
    }
    // Deaths an earlier run was committing when it was killed: archived
    // if the store's DLQ holds them (before any actor uses the store).
    records->reconcile(
      [&st](const std::string& id) { return st->dlq_get(id); });
    auto wrap = [&](std::shared_ptr<store>& x) {
      if (x)
        x = std::make_shared<mirroring_store>(std::move(x), records);
    };
    wrap(st);
    wrap(extra.ingest);
    for (auto& x : extra.lease)
      wrap(x);
    spdlog::info("MongoDB {}: records of {}{}{} (listings read from {})",
                 mongodb->describe(),
                 ncfg.mongo.events ? ncfg.mongo.events_collection : "",
                 ncfg.mongo.events && ncfg.mongo.dead_letters ? " and " : "",
                 ncfg.mongo.dead_letters ? ncfg.mongo.dead_letters_collection
                                         : "",
                 ncfg.mongo.read_from);
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
  shutdown_watchdog watchdog;
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
    if (records) {
      // What the store actors committed last (they end after the
      // broadcaster), while MongoDB answers.
      caf::scoped_actor self{sys};
      self->wait_for(n.store, n.ingest_store);
      for (auto& x : n.lease_stores)
        self->wait_for(x);
      records->stop(records_grace);
    }
    if (mongodb) // no callback after the actor system
      mongodb->stop();
    handlers.reset();
  };
  st.reset();
  auto port = publish_endpoint(sys, ncfg, n.endpoint);
  if (!port) {
    std::cerr << "onceflow: cannot listen on " << ncfg.host << ":" << ncfg.port
              << ": " << sys.render(port.error()) << "\n";
    stop_all();
    watchdog.arm(1);
    return 1;
  }
  spdlog::info("node {} listening on {}:{} (store {}, {} group(s))", ncfg.name,
               ncfg.host, *port, store_name, ncfg.groups.size());
  std::shared_ptr<http::gateway> gw;
  std::unique_ptr<http::server> srv;
  if (ncfg.http.enabled) {
    http::listing_source listings;
    if (records && ncfg.mongo.read_from == "mongodb") {
      listings.events = [records](const event_listing_query& q,
                                  event_listing& out) {
        return records->list_events(q, out);
      };
      listings.failed = [records](const dlq_query& q, dlq_page& out) {
        return records->dlq_list(q, out);
      };
    }
    srv = start_http(sys, ncfg, n, gw, std::move(checks), std::move(listings));
    if (srv)
      caf::anon_send(n.manager, atom::local_v, std::string{"gateway"},
                     caf::actor_cast<caf::actor>(gw->handle()));
    if (!srv) {
      sys.middleman().unpublish(n.endpoint, *port);
      stop_all();
      watchdog.arm(1);
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
    watchdog.arm(1);
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
  watchdog.arm(0);
  return 0;
}

} // namespace onceflow::command
