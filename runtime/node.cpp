#include "runtime/node.hpp"

#include "actors/broadcaster.hpp"
#include "actors/dead_letter_queue.hpp"
#include "actors/deduplicator.hpp"
#include "actors/dlq_alerter.hpp"
#include "actors/node_endpoint.hpp"
#include "actors/node_metrics.hpp"
#include "actors/retry_timer.hpp"
#include "actors/store_actor.hpp"
#include "adapters/embedded/sqlite_store.hpp"
#include "adapters/redis/redis_store.hpp"
#include "runtime/cluster/node_manager.hpp"
#include "runtime/cluster/schema.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/message.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

namespace onceflow {

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::onceflow>();
  cfg.add_message_types<caf::id_block::onceflow_handles>();
  cfg.add_error_category(caf::atom("onceflow"), [](uint8_t code,
                                                   caf::atom_value,
                                                   const caf::message& ctx) {
    return render(
      make_error(static_cast<ec>(code), ctx.match_elements<std::string>()
                                          ? ctx.get_as<std::string>(0)
                                          : std::string{}));
  });
}

namespace {

redis_options redis_options_of(const node_config& cfg) {
  redis_options ro;
  ro.url = cfg.redis_url;
  ro.prefix = cfg.redis_prefix;
  ro.connect_timeout_ms = static_cast<int>(cfg.redis_connect_timeout);
  ro.command_timeout_ms = static_cast<int>(cfg.redis_command_timeout);
  ro.tls_ca_file = cfg.redis_tls_ca_file;
  ro.tls_cert_file = cfg.redis_tls_cert_file;
  ro.tls_key_file = cfg.redis_tls_key_file;
  ro.consumer = cfg.name;
  ro.retention_ms = cfg.retention;
  // A due retry this node takes stays taken for its group's lease (the
  // broadcaster renews what it holds); other groups' retries for the
  // longest lease of this node's groups.
  if (!cfg.groups.empty())
    ro.take_hold_ms = 0;
  for (auto& g : cfg.groups) {
    ro.take_holds[g.name] = g.lease_ttl;
    ro.take_hold_ms = std::max(ro.take_hold_ms, g.lease_ttl);
  }
  ro.wait_at_start = cfg.redis_wait_at_start;
  return ro;
}

} // namespace

std::shared_ptr<store> open_extra_store(const node_config& cfg) {
  if (cfg.store_backend == "redis")
    return make_redis_store(redis_options_of(cfg));
  return nullptr;
}

extra_stores open_extra_stores(const node_config& cfg) {
  extra_stores out;
  out.ingest = open_extra_store(cfg);
  if (out.ingest)
    for (uint32_t i = 0; i < cfg.redis_pool_size; ++i)
      out.lease.push_back(open_extra_store(cfg));
  return out;
}

std::shared_ptr<store> open_store(const node_config& cfg) {
  if (cfg.store_backend == "redis") {
    // The main store claims the node's name and, if it opens late (Redis
    // could not be reached at start), logs what run_node logs for a store
    // that opens at once.
    auto ro = redis_options_of(cfg);
    ro.claim_name = true;
    ro.on_deferred_open = [](const store& st) {
      spdlog::info("store {} open: Redis answers", st.describe());
      for (auto& w : st.startup_warnings())
        spdlog::warn("{}", w);
    };
    return make_redis_store(ro);
  }
  sqlite_options so;
  so.path = cfg.effective_store_path();
  so.synchronous = cfg.sqlite_synchronous;
  so.node = cfg.name;
  if (so.path != ":memory:") {
    auto dir = std::filesystem::path(so.path).parent_path();
    std::error_code ec;
    if (!dir.empty() && !std::filesystem::create_directories(dir, ec) && ec)
      throw store_error("cannot create data directory '" + dir.string()
                        + "': " + ec.message());
  }
  return make_sqlite_store(so);
}

node_actors start_node(caf::actor_system& sys, const node_config& cfg,
                       std::shared_ptr<store> st, bool detached_store,
                       jitter_source jitter, const handler_registry* handlers,
                       extra_stores extra, alert_sink_ptr alerts) {
  node_actors n;
  std::vector<std::string> group_names;
  for (auto& g : cfg.groups)
    group_names.push_back(g.name);
  n.metrics = metric::make_node_registry(group_names);
  n.store = spawn_store(sys, std::move(st), detached_store);
  auto extra_actor = [&](std::shared_ptr<store>& x) {
    return x ? spawn_store(sys, std::move(x), detached_store) : n.store;
  };
  n.ingest_store = extra_actor(extra.ingest);
  for (auto& x : extra.lease)
    n.lease_stores.push_back(extra_actor(x));
  if (n.lease_stores.empty())
    n.lease_stores.push_back(n.store);
  // With a store shared by several nodes, the retry timer also looks at
  // the schedule every janitor interval: other nodes put entries there
  // (delayed events, retries) that nobody tells this node about.
  n.retry_timer = spawn_retry_timer(
    sys, n.store, 1000,
    cfg.store_backend != "embedded" ? cfg.janitor_interval : 0);
  dlq_config dc;
  dc.groups = group_names;
  if (alerts) {
    n.alerter = spawn_dlq_alerter(
      sys, dlq_alerter_config{cfg.name, cfg.alerts.dlq, std::move(alerts)});
    dc.alerter = n.alerter;
  }
  n.dlq = spawn_dead_letter_queue(sys, n.store, n.retry_timer, std::move(dc));
  n.dedup = spawn_deduplicator(sys, n.store, n.lease_stores, n.retry_timer,
                               n.dlq, n.metrics);
  broadcaster_config bc;
  bc.node = cfg.name;
  bc.groups = cfg.groups;
  bc.type_limits = cfg.type_limits;
  bc.weights = cfg.weights;
  bc.dedup_window = cfg.dedup_window;
  bc.intake.events = cfg.limits;
  bc.intake.max_backlog = cfg.max_backlog;
  bc.intake.max_batch = cfg.max_ingest_batch;
  bc.janitor_interval = cfg.janitor_interval;
  bc.retention = cfg.retention;
  bc.trim_interval = cfg.trim_interval;
  bc.jitter = std::move(jitter);
  bc.reclaim = cfg.store_backend != "embedded";
  bc.read_leases = cfg.read_leases.value_or(cfg.store_backend != "embedded");
  bc.remote_read_leases = cfg.read_leases.value_or(true);
  bc.metrics = n.metrics;
  if (n.ingest_store != n.store)
    bc.ingest_store = n.ingest_store;
  if (handlers != nullptr)
    bc.handlers = handlers;
  bc.retry_timer = n.retry_timer;
  n.broadcaster = spawn_broadcaster(sys, std::move(bc), n.store, n.dedup);
  caf::anon_send(n.retry_timer, atom::join_v, n.broadcaster);
  caf::anon_send(n.dedup, atom::join_v, n.broadcaster);
  node_manager_config nm;
  nm.cfg = cfg;
  nm.schema = schema_id();
  nm.broadcaster = n.broadcaster;
  nm.dedup = n.dedup;
  nm.locals = {{"broadcaster", caf::actor_cast<caf::actor>(n.broadcaster)},
               {"deduplicator", caf::actor_cast<caf::actor>(n.dedup)},
               {"retry_timer", caf::actor_cast<caf::actor>(n.retry_timer)},
               {"dlq", caf::actor_cast<caf::actor>(n.dlq)},
               {"store", caf::actor_cast<caf::actor>(n.store)}};
  nm.handlers = handlers;
  nm.metrics = n.metrics;
  n.manager = spawn_node_manager(sys, std::move(nm));
  n.endpoint = spawn_node_endpoint(sys, n.broadcaster, cfg.http.keys, n.manager,
                                   n.store, n.dlq);
  return n;
}

node_actors start_worker(caf::actor_system& sys, const node_config& cfg,
                         const handler_registry* handlers) {
  node_actors n;
  n.metrics = metric::make_node_registry();
  node_manager_config nm;
  nm.cfg = cfg;
  nm.schema = schema_id();
  nm.handlers = handlers;
  nm.metrics = n.metrics;
  n.manager = spawn_node_manager(sys, std::move(nm));
  n.endpoint = spawn_node_endpoint(sys, broadcaster_actor{}, cfg.http.keys,
                                   n.manager);
  return n;
}

void stop_node(caf::actor_system&, const node_actors& n) {
  auto reason = caf::exit_reason::user_shutdown;
  caf::anon_send_exit(n.endpoint, reason);
  caf::anon_send_exit(n.manager, reason);
  if (!n.broadcaster)
    return; // A worker.
  caf::anon_send_exit(n.broadcaster, reason);
  caf::anon_send_exit(n.dedup, reason);
  caf::anon_send_exit(n.dlq, reason);
  if (n.alerter)
    caf::anon_send_exit(n.alerter, reason);
  caf::anon_send_exit(n.retry_timer, reason);
  caf::anon_send_exit(n.store, reason);
  auto others = n.lease_stores;
  others.push_back(n.ingest_store);
  for (auto& x : others)
    if (x != n.store)
      caf::anon_send_exit(x, reason);
}

} // namespace onceflow
