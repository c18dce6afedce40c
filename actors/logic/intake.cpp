#include "actors/logic/intake.hpp"

namespace onceflow {

intake_refusal check_intake(const std::vector<event>& batch,
                            const intake_limits& lim, uint64_t worst_unsettled,
                            uint32_t pending_appends, millis_t now) {
  if (batch.size() > lim.max_batch)
    return {intake_refusal::invalid, "batch of " + std::to_string(batch.size())
                                       + " events is over the limit of "
                                       + std::to_string(lim.max_batch)};
  for (size_t i = 0; i < batch.size(); ++i) {
    auto problem = check_event(batch[i], lim.events);
    if (!problem)
      problem = check_not_before(batch[i], lim.events, now);
    if (problem)
      return {intake_refusal::invalid, "event " + std::to_string(i)
                                         + ": field '" + problem.field + "' "
                                         + problem.message};
  }
  if (worst_unsettled + batch.size() > lim.max_backlog
      || pending_appends >= lim.max_pending_appends)
    // Ask to come back after roughly one dispatch round.
    return {intake_refusal::overloaded,
            "retry after 100 ms (" + std::to_string(worst_unsettled)
              + " events unsettled, limit " + std::to_string(lim.max_backlog)
              + ")"};
  return {};
}

millis_t resolve_delays(std::vector<event>& batch, millis_t now) {
  millis_t earliest = -1;
  for (auto& ev : batch) {
    if (ev.delay > 0) {
      ev.not_before = now + ev.delay;
      ev.delay = 0;
    }
    if (ev.not_before <= now)
      ev.not_before = 0;
    else if (earliest < 0 || ev.not_before < earliest)
      earliest = ev.not_before;
  }
  return earliest;
}

} // namespace onceflow
