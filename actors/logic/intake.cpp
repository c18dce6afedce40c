#include "actors/logic/intake.hpp"

namespace onceflow {

intake_refusal check_intake(const std::vector<event>& batch,
                            const intake_limits& lim, uint64_t worst_unsettled,
                            uint32_t pending_appends) {
  if (batch.size() > lim.max_batch)
    return {intake_refusal::invalid, "batch of " + std::to_string(batch.size())
                                       + " events is over the limit of "
                                       + std::to_string(lim.max_batch)};
  for (size_t i = 0; i < batch.size(); ++i)
    if (auto problem = check_event(batch[i], lim.events))
      return {intake_refusal::invalid, "event " + std::to_string(i)
                                         + ": field '" + problem.field + "' "
                                         + problem.message};
  if (worst_unsettled + batch.size() > lim.max_backlog
      || pending_appends >= lim.max_pending_appends)
    // Ask to come back after roughly one dispatch round.
    return {intake_refusal::overloaded,
            "retry after 100 ms (" + std::to_string(worst_unsettled)
              + " events unsettled, limit " + std::to_string(lim.max_backlog)
              + ")"};
  return {};
}

} // namespace onceflow
