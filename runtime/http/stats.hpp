#pragma once

#include "actors/logic/metrics.hpp"
#include "actors/logic/stats_series.hpp"
#include "runtime/http/gateway.hpp"
#include "runtime/node.hpp"

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace onceflow::http {

/// Samples the node once a second for GET /stats (the dashboard's charts):
/// its counters from the metrics registry, and each group's backlog and in
/// flight (the broadcaster's status, through the gateway). Ten minutes are
/// kept. Runs on a thread of its own until stop(); the gateway may be stopped
/// first (its jobs are then dropped).
class stats_sampler : public std::enable_shared_from_this<stats_sampler> {
public:
  static constexpr millis_t interval_ms = 1000;

  static std::shared_ptr<stats_sampler>
  start(std::shared_ptr<metrics_registry> metrics, std::shared_ptr<gateway> gw,
        node_actors node);

  /// Ends the thread (idempotent).
  void stop();

  /// The samples taken after `since` (stats_series::to_json).
  nlohmann::json series(millis_t since) const;

  ~stats_sampler();

private:
  stats_sampler() = default;
  void run();
  void sample();
  void add(stats_sample s);

  std::shared_ptr<metrics_registry> metrics_;
  std::shared_ptr<gateway> gw_;
  node_actors node_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  bool stopping_ = false;
  stats_series series_;
  std::thread thread_;
};

} // namespace onceflow::http
