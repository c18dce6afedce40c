#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace onceflow {

/// Kind of a metric family in the Prometheus text format.
enum class metric_kind : uint8_t { counter, gauge, histogram };

/// Label pairs of one series, in the order given.
using metric_labels = std::vector<std::pair<std::string, std::string>>;

/// Renders labels as `a="x",b="y"` with Prometheus escaping (backslash,
/// double quote, newline).
std::string render_labels(const metric_labels& labels);

/// Counter increments and histogram observations collected by one actor
/// for one batch, merged into the registry under one lock.
class metrics_batch {
public:
  void count(const std::string& name, const metric_labels& labels,
             uint64_t n = 1);
  void observe(const std::string& name, const metric_labels& labels,
               double value);
  /// Many observations of one series (one label rendering for all).
  void observe_all(const std::string& name, const metric_labels& labels,
                   std::vector<double> values);
  bool empty() const {
    return counts_.empty() && observations_.empty();
  }

private:
  friend class metrics_registry;
  std::map<std::pair<std::string, std::string>, uint64_t> counts_;
  std::vector<
    std::pair<std::pair<std::string, std::string>, std::vector<double>>>
    observations_;
};

/// A sample of a gauge, taken at scrape time from actor status.
struct gauge_sample {
  std::string name;
  metric_labels labels;
  double value = 0;
};

/// Process-wide counters and histograms of one node, rendered in the
/// Prometheus text exposition format 0.0.4. Thread-safe; plain logic with no
/// I/O (the HTTP API serves the text).
class metrics_registry {
public:
  /// Declares a family; only declared families are rendered.
  void describe(const std::string& name, metric_kind kind, std::string help,
                std::vector<double> buckets = {});

  void count(const std::string& name, const metric_labels& labels,
             uint64_t n = 1);
  void observe(const std::string& name, const metric_labels& labels,
               double value);
  void merge(const metrics_batch& batch);

  /// Current value of one counter series (0 if absent).
  uint64_t counter_value(const std::string& name,
                         const metric_labels& labels) const;

  /// Sum of a counter over every series with label `key` = `value`.
  uint64_t counter_sum(const std::string& name, const std::string& key,
                       const std::string& value) const;

  /// Sum of a counter over all its series.
  uint64_t counter_total(const std::string& name) const;

  /// Sums of a counter per value of label `key` (series without it left
  /// out).
  std::map<std::string, uint64_t> counter_by(const std::string& name,
                                             const std::string& key) const;

  /// The whole exposition: declared families with their series, gauges
  /// from `gauges` (families declared as gauges), sorted by name.
  std::string render(const std::vector<gauge_sample>& gauges) const;

  /// Most series per counter family; further label sets are counted in
  /// one series `{overflow="true"}`.
  static constexpr size_t max_series = 1000;

  /// Buckets (upper bounds, seconds) for latencies from 1 ms to 5 min.
  static std::vector<double> latency_buckets();

private:
  struct histogram {
    std::vector<uint64_t> buckets;
    uint64_t count = 0;
    double sum = 0;
  };
  struct family {
    metric_kind kind = metric_kind::counter;
    std::string help;
    std::vector<double> bounds;
    std::map<std::string, uint64_t> counters;
    std::map<std::string, histogram> histograms;
  };
  void count_locked(const std::string& name, const std::string& labels,
                    uint64_t n);
  void observe_locked(const std::string& name, const std::string& labels,
                      double value);
  mutable std::mutex mtx_;
  std::map<std::string, family> families_;
};

} // namespace onceflow
