#include "actors/node_metrics.hpp"

namespace onceflow::metric {

std::shared_ptr<metrics_registry>
make_node_registry(const std::vector<std::string>& groups) {
  auto r = std::make_shared<metrics_registry>();
  using k = metric_kind;
  r->describe(accepted, k::counter, "Events accepted (durable), by type.");
  r->describe(duplicate, k::counter,
              "Submissions answered as duplicates of an accepted id, by type.");
  r->describe(rejected, k::counter, "Submissions refused, by reason.");
  r->describe(processed, k::counter,
              "Effects committed by this node's listeners, by group and type.");
  r->describe(retried, k::counter,
              "Failed attempts scheduled for a retry, by group and type.");
  r->describe(dead, k::counter,
              "Events moved to the dead-letter queue, by group and type.");
  r->describe(settled, k::counter,
              "Deliveries this node's listeners settled (processed, "
              "scheduled for a retry or dead-lettered), by group.");
  // From the start, so that "no progress" (no increase while a backlog
  // waits) also fires for a group that never settled anything.
  for (auto& g : groups)
    r->count(settled, {{"group", g}}, 0);
  r->describe(queue_depth, k::gauge,
              "Events of a group not yet settled (queued, in flight, unread).");
  r->describe(in_flight, k::gauge, "Events dispatched to listeners, by group.");
  r->describe(listeners, k::gauge, "Listener actors per group.");
  r->describe(paused, k::gauge, "1 if the group is paused on this node.");
  r->describe(dlq_size, k::gauge, "Entries in the dead-letter queue.");
  r->describe(delayed, k::gauge,
              "Delayed (event, group) pairs waiting in the schedule for their "
              "first attempt, or running it.");
  r->describe(trimmed, k::counter,
              "Log entries removed by this node's retention trims.");
  // Unlabelled: shown as 0 until the first trim removes something.
  r->count(trimmed, {}, 0);
  r->describe(effect_latency, k::histogram,
              "Time from acceptance to the committed effect, by group.",
              metrics_registry::latency_buckets());
  r->describe(handler_duration, k::histogram,
              "Time a handler took for one event, by group.",
              metrics_registry::latency_buckets());
  r->describe(http_requests, k::counter, "HTTP requests served, by code.");
  r->describe(http_ingest_calls, k::counter,
              "Ingest calls the HTTP API made to the broadcaster (each "
              "carries the events of every submission waiting then).");
  return r;
}

} // namespace onceflow::metric
