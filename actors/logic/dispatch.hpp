#pragma once

#include "actors/logic/event.hpp"
#include "actors/logic/priority_queue.hpp"
#include "actors/logic/token_bucket.hpp"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace onceflow {

/// Rate limits of one group: a bucket for everything it dispatches and one
/// per event-type pattern (the first pattern that matches a type limits it).
struct group_limits {
  token_bucket group;
  std::vector<std::pair<std::string, token_bucket>> types;

  /// No bucket limits anything.
  bool unlimited() const {
    return group.unlimited() && types.empty();
  }
};

/// Most refused (type-limited) events one batch looks past, so that a long
/// run of limited events costs bounded work per dispatch.
constexpr size_t max_deferred_per_batch = 1024;

/// A batch taken from a group's queue (see fill_batch).
struct batch_fill {
  std::vector<delivery> batch;
  /// When a refused event's bucket has a token again; -1 if none refused.
  millis_t retry_at = -1;
  /// The group's own bucket ran dry: no other listener gets a batch now.
  bool group_limited = false;
};

/// Takes up to `batch_size` deliveries from the queue in priority order,
/// one token each. The group's bucket limits everything; a type's bucket
/// only its own events: those are set aside (they keep their place at the
/// head of their queue) while other types go ahead.
batch_fill fill_batch(priority_queues<delivery>& queue, group_limits& limits,
                      size_t batch_size, millis_t now);

/// Batch wait: a partial batch may wait up to `wait` ms to fill up.
class batch_wait {
public:
  /// Returns -1 if a batch of `queued` entries goes now, else the time at
  /// which it goes anyway. The wait starts with the first partial batch
  /// that may not go and ends when a batch goes.
  millis_t hold_until(size_t queued, size_t batch_size, millis_t wait,
                      millis_t now);

  /// Forgets a wait under way (the queue was dropped).
  void reset() {
    since_ = -1;
  }

private:
  millis_t since_ = -1;
};

} // namespace onceflow
