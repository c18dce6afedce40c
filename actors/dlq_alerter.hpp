#pragma once

#include "actors/interfaces.hpp"
#include "actors/logic/dlq_alerts.hpp"
#include "adapters/alert_sink.hpp"

#include <string>

namespace onceflow {

/// What the DLQ alerter needs.
struct dlq_alerter_config {
  /// The node's name, in every alert.
  std::string node;
  alert_limits limits;
  /// Where the alerts go (required).
  alert_sink_ptr sink;
};

/// Spawns the DLQ alerter: collects dead letters and sends them as alerts
/// through the sink, batched, rate-limited and retried (see dlq_alerts).
dlq_alerter_actor spawn_dlq_alerter(caf::actor_system& sys,
                                    dlq_alerter_config cfg);

} // namespace onceflow
