#pragma once

// The node's recent history for the dashboard (GET /stats): one sample a
// second of its cumulative counters (what GET /metrics counts) and of each
// group's backlog and in-flight work, the last ten minutes kept in a ring.
// Pure: no CAF, no I/O; the sampler (runtime/http/stats.hpp) brings the
// numbers and the time.

#include "actors/logic/event.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>

namespace onceflow {

/// One group at one sample.
struct group_sample {
  /// Cumulative counts of this node's listeners (effects committed,
  /// failed attempts scheduled for a retry, deaths).
  uint64_t processed = 0;
  uint64_t retried = 0;
  uint64_t dead = 0;
  /// Entries not settled yet, and dispatched to listeners (gauges; -1 if
  /// the broadcaster did not answer for this sample).
  int64_t backlog = -1;
  int64_t in_flight = -1;
};

/// The node at one moment: cumulative counters since it started.
struct stats_sample {
  millis_t at = 0;
  uint64_t accepted = 0;
  uint64_t duplicates = 0;
  uint64_t rejected = 0;
  uint64_t processed = 0;
  uint64_t retried = 0;
  uint64_t dead = 0;
  std::map<std::string, group_sample> groups;
};

/// The last `capacity` samples, oldest first.
class stats_series {
public:
  explicit stats_series(size_t capacity = 600) : capacity_(capacity) {
    // nop
  }

  /// Appends a sample; the oldest goes beyond the capacity. One taken at
  /// the last one's time replaces it; an earlier one (its gauges came back
  /// late) is dropped.
  void add(stats_sample s);

  size_t size() const {
    return xs_.size();
  }

  /// {"intervalMs", "samples": [...]} with the samples taken after `since`
  /// (0: all). A sample: {"at", "accepted", "duplicates", "rejected",
  /// "processed", "retried", "failed" (retried + dead), "dead",
  /// "groups": {name: {"processed", "retried", "dead", "backlog",
  /// "inFlight"}}}; gauges not known are null.
  nlohmann::json to_json(millis_t since, millis_t interval_ms) const;

private:
  size_t capacity_;
  std::deque<stats_sample> xs_;
};

} // namespace onceflow
