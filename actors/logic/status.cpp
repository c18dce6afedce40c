#include "actors/logic/status.hpp"

namespace onceflow {

event_status aggregate(const std::vector<group_status>& xs) {
  bool any_dead = false;
  bool any_retrying = false;
  bool any_in_flight = false;
  bool any_scheduled = false;
  bool any_cancelled = false;
  // Every group is done with the event: processed or cancelled.
  bool all_settled = !xs.empty();
  for (auto& x : xs) {
    any_dead |= x.status == event_status::dead;
    any_retrying |= x.status == event_status::retrying;
    any_in_flight |= x.status == event_status::in_flight;
    any_scheduled |= x.status == event_status::scheduled;
    any_cancelled |= x.status == event_status::cancelled;
    all_settled &= x.status == event_status::processed
                   || x.status == event_status::cancelled;
  }
  if (any_dead)
    return event_status::dead;
  if (any_retrying)
    return event_status::retrying;
  if (any_in_flight)
    return event_status::in_flight;
  if (any_scheduled)
    return event_status::scheduled;
  if (all_settled)
    return any_cancelled ? event_status::cancelled : event_status::processed;
  return event_status::accepted;
}

} // namespace onceflow
