#pragma once

#include "actors/logic/backoff.hpp"
#include "actors/logic/event.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

/// Plain option structs of a listener group and its handler: below both
/// the node config and the actors that run the group.
namespace onceflow {

/// Options of a group's handler (from `[groups.<name>]` in the config).
struct handler_options {
  /// simulate: latency per event.
  millis_t latency = 0;
  /// simulate: probability of a retryable failure per attempt.
  double failure_rate = 0;
  /// simulate: random seed (0 = random).
  uint64_t seed = 0;
  /// webhook: the URL events are POSTed to (http:// or https://).
  std::string url;
  /// webhook: HMAC-SHA256 key for the `X-Onceflow-Signature` header (empty:
  /// no signature).
  std::string secret;
  /// webhook: timeout of one call (connect + response).
  millis_t timeout = 10000;
  /// The group's name (set by the node; handlers may use it in requests).
  std::string group;
  /// The application's own options of the group's handler: the keys of
  /// the group's `options = {key = value, ...}` and their values as text
  /// (numbers and booleans as written). The handler's registration names the
  /// keys it takes (handler_spec); the node refuses any other.
  std::map<std::string, std::string> params;

  /// The value of the handler option `key`, or `fallback` if it is not set.
  std::string param(const std::string& key,
                    const std::string& fallback = {}) const {
    auto i = params.find(key);
    return i != params.end() ? i->second : fallback;
  }
};

/// One listener group: `[groups.<name>]` in the config file.
struct group_config {
  std::string name;
  /// Handler name from the registry: store, log, simulate, ...
  std::string handler = "store";
  handler_options options;
  /// Number of listener actors.
  uint32_t concurrency = 2;
  /// Event-type patterns; `*` matches any run of characters.
  std::vector<std::string> subscriptions{"*"};
  /// Maximum events per dispatched batch.
  uint32_t batch_size = 256;
  /// How long a partial batch may wait for more events (0: dispatch now).
  millis_t batch_wait = 0;
  /// Lease time-to-live.
  millis_t lease_ttl = 30000;
  retry_policy retry;
  /// Events/s for the whole group (0: unlimited) and the bucket size.
  double rate_limit = 0;
  double rate_burst = 0;
};

/// A rate limit for event types matching a pattern (per group).
struct type_rate_limit {
  std::string pattern;
  double rate = 0;
};

} // namespace onceflow
