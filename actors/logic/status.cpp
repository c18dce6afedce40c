#include "actors/logic/status.hpp"

namespace onceflow {

event_status aggregate(const std::vector<group_status>& xs) {
  bool any_dead = false;
  bool any_retrying = false;
  bool any_in_flight = false;
  bool all_processed = !xs.empty();
  for (auto& x : xs) {
    any_dead |= x.status == event_status::dead;
    any_retrying |= x.status == event_status::retrying;
    any_in_flight |= x.status == event_status::in_flight;
    all_processed &= x.status == event_status::processed;
  }
  if (any_dead)
    return event_status::dead;
  if (any_retrying)
    return event_status::retrying;
  if (any_in_flight)
    return event_status::in_flight;
  if (all_processed)
    return event_status::processed;
  return event_status::accepted;
}

} // namespace onceflow
