#pragma once

#include "actors/logic/event.hpp"

#include <string>
#include <vector>

namespace onceflow {

/// Status of one event in one group.
struct group_status {
  std::string group;
  event_status status = event_status::unknown;
};

/// An event's status over its groups, as answered for duplicates and by the
/// status API: dead > retrying > in_flight > scheduled > processed (every
/// group) > cancelled (every group processed or cancelled, one at least
/// cancelled) > accepted.
event_status aggregate(const std::vector<group_status>& xs);

} // namespace onceflow
