#pragma once

#include "actors/logic/metrics.hpp"

#include <memory>
#include <string>
#include <vector>

/// Names of the metrics a node exposes at GET /metrics (docs/http-api.md).
namespace onceflow::metric {

constexpr const char* accepted = "onceflow_events_accepted_total";
constexpr const char* duplicate = "onceflow_events_duplicate_total";
constexpr const char* rejected = "onceflow_events_rejected_total";
constexpr const char* processed = "onceflow_events_processed_total";
constexpr const char* retried = "onceflow_events_retried_total";
constexpr const char* dead = "onceflow_events_dead_total";
constexpr const char* settled = "onceflow_settled_total";
constexpr const char* queue_depth = "onceflow_queue_depth";
constexpr const char* in_flight = "onceflow_in_flight";
constexpr const char* listeners = "onceflow_listeners";
constexpr const char* paused = "onceflow_group_paused";
constexpr const char* dlq_size = "onceflow_dlq_size";
constexpr const char* delayed = "onceflow_delayed_events";
constexpr const char* trimmed = "onceflow_trimmed_events_total";
constexpr const char* effect_latency = "onceflow_effect_latency_seconds";
constexpr const char* handler_duration = "onceflow_handler_duration_seconds";
constexpr const char* http_requests = "onceflow_http_requests_total";
constexpr const char* http_ingest_calls = "onceflow_http_ingest_calls_total";

/// A registry with every family of a node declared; the series of
/// `groups` that alerts compare against (settled) start at 0.
std::shared_ptr<metrics_registry>
make_node_registry(const std::vector<std::string>& groups = {});

} // namespace onceflow::metric
