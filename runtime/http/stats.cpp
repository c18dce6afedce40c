#include "runtime/http/stats.hpp"

#include "actors/node_metrics.hpp"
#include "runtime/http/views.hpp"

#include <caf/settings.hpp>

#include <chrono>
#include <utility>

namespace onceflow::http {

namespace {

/// How long the broadcaster and the store may take to answer a sample.
constexpr auto sample_timeout = std::chrono::milliseconds(900);

} // namespace

std::shared_ptr<stats_sampler>
stats_sampler::start(std::shared_ptr<metrics_registry> metrics,
                     std::shared_ptr<gateway> gw, node_actors node) {
  std::shared_ptr<stats_sampler> s{new stats_sampler};
  s->metrics_ = std::move(metrics);
  s->gw_ = std::move(gw);
  s->node_ = std::move(node);
  s->thread_ = std::thread{[s = s.get()] {
    s->run();
  }};
  return s;
}

stats_sampler::~stats_sampler() {
  stop();
}

void stats_sampler::stop() {
  {
    std::lock_guard<std::mutex> g{mtx_};
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id())
    thread_.join();
}

nlohmann::json stats_sampler::series(millis_t since) const {
  std::lock_guard<std::mutex> g{mtx_};
  return series_.to_json(since, interval_ms);
}

void stats_sampler::run() {
  auto next = std::chrono::steady_clock::now();
  for (;;) {
    {
      std::unique_lock<std::mutex> g{mtx_};
      if (cv_.wait_until(g, next, [this] { return stopping_; }))
        return;
    }
    next += std::chrono::milliseconds(interval_ms);
    sample();
  }
}

void stats_sampler::add(stats_sample s) {
  std::lock_guard<std::mutex> g{mtx_};
  series_.add(std::move(s));
}

void stats_sampler::sample() {
  stats_sample s;
  s.at = wall_now();
  if (metrics_) {
    s.accepted = metrics_->counter_total(metric::accepted);
    s.duplicates = metrics_->counter_total(metric::duplicate);
    s.rejected = metrics_->counter_total(metric::rejected);
    s.processed = metrics_->counter_total(metric::processed);
    s.retried = metrics_->counter_total(metric::retried);
    s.dead = metrics_->counter_total(metric::dead);
    for (auto& [g, n] : metrics_->counter_by(metric::processed, "group"))
      s.groups[g].processed = n;
    for (auto& [g, n] : metrics_->counter_by(metric::retried, "group"))
      s.groups[g].retried = n;
    for (auto& [g, n] : metrics_->counter_by(metric::dead, "group"))
      s.groups[g].dead = n;
  }
  if (!node_.broadcaster || !gw_) { // a worker: counters only
    add(std::move(s));
    return;
  }
  // The gauges: the broadcaster's groups; the sample goes in when it
  // answered (or failed).
  std::weak_ptr<stats_sampler> weak = shared_from_this();
  auto bc = node_.broadcaster;
  gw_->run([weak, bc, s = std::move(s)](gateway_pointer gp) mutable {
    gp->request(bc, sample_timeout, atom::status_v)
      .then(
        [weak, s](caf::settings& bs) mutable {
          for_each_group(bs, [&](const std::string& name,
                                 const caf::settings& g) {
            auto& x = s.groups[name];
            x.backlog = static_cast<int64_t>(number_of(g, "unsettled"));
            x.in_flight = static_cast<int64_t>(number_of(g, "in-flight"));
          });
          if (auto self = weak.lock())
            self->add(std::move(s));
        },
        [weak, s](caf::error&) mutable {
          if (auto self = weak.lock())
            self->add(std::move(s));
        });
  });
}

} // namespace onceflow::http
