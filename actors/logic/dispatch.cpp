#include "actors/logic/dispatch.hpp"

#include "actors/logic/pattern.hpp"

#include <algorithm>

namespace onceflow {

namespace {

/// Takes a token from the bucket of the event's type, if it has one, or
/// tells when one will be available.
bool admit_type(group_limits& limits, const delivery& dl, millis_t now,
                millis_t& retry_at) {
  for (auto& kv : limits.types) {
    if (!pattern_match(kv.first, dl.ev.type))
      continue;
    auto wait = kv.second.wait_time(now);
    if (wait > 0) {
      retry_at = now + wait;
      return false;
    }
    kv.second.take(now, 1);
    return true;
  }
  return true;
}

} // namespace

batch_fill fill_batch(priority_queues<delivery>& queue, group_limits& limits,
                      size_t batch_size, millis_t now) {
  batch_fill result;
  std::vector<delivery> deferred;
  while (!queue.empty() && result.batch.size() < batch_size) {
    if (!limits.group.unlimited()) {
      auto wait = limits.group.wait_time(now);
      if (wait > 0) {
        result.retry_at = earliest_time(result.retry_at, now + wait);
        result.group_limited = true;
        break;
      }
    }
    auto dl = queue.pop();
    millis_t type_at = -1;
    if (!admit_type(limits, dl, now, type_at)) {
      result.retry_at = earliest_time(result.retry_at, type_at);
      deferred.push_back(std::move(dl));
      if (deferred.size() >= max_deferred_per_batch)
        break;
      continue;
    }
    limits.group.take(now, 1);
    result.batch.push_back(std::move(dl));
  }
  for (auto i = deferred.rbegin(); i != deferred.rend(); ++i) {
    auto prio = i->ev.prio;
    queue.push_front(prio, std::move(*i));
  }
  return result;
}

millis_t batch_wait::hold_until(size_t queued, size_t batch_size, millis_t wait,
                                millis_t now) {
  if (wait > 0 && queued < batch_size) {
    if (since_ < 0)
      since_ = now;
    if (now - since_ < wait)
      return since_ + wait;
  }
  since_ = -1;
  return -1;
}

} // namespace onceflow
