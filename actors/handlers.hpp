#pragma once

#include "actors/logic/event.hpp"

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace onceflow {

/// What a handler returns for one event.
struct handler_result {
  /// success, retryable or permanent.
  outcome result = outcome::success;
  /// Error text for failures (kept in the attempt history and the DLQ).
  std::string error;
  /// Simulated processing time; the listener completes after it elapses.
  millis_t latency = 0;
  /// Record the processed event in the store, in the same commit as the
  /// ledger entry (exactly-once effect).
  bool record_effect = false;
  /// For retryable failures: the earliest time the receiver wants the next
  /// attempt, relative to now (a webhook's `Retry-After`); 0: backoff only.
  /// The next attempt waits max(backoff delay, retry_after).
  millis_t retry_after = 0;
};

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
};

/// Completion of an asynchronous handler call. Called exactly once, from
/// any thread.
using handler_callback = std::function<void(handler_result)>;

/// A handler: event in, success / retryable error / permanent error out.
/// Handlers run inside listener actors and must not block: one that waits
/// for I/O (a webhook) is asynchronous and completes through a callback.
class handler {
public:
  virtual ~handler();

  /// Handles attempt `attempt` (1-based) of `ev` (synchronous handlers).
  virtual handler_result handle(const event& ev, uint32_t attempt) = 0;

  /// True if the listener must use `handle_async` instead of `handle`.
  virtual bool asynchronous() const {
    return false;
  }

  /// Starts attempt `attempt` of `ev` and returns at once; `done` receives
  /// the result later, from any thread. The default runs `handle`.
  virtual void handle_async(const event& ev, uint32_t attempt,
                            handler_callback done) {
    done(handle(ev, attempt));
  }
};

using handler_ptr = std::unique_ptr<handler>;
using handler_factory = std::function<handler_ptr(const handler_options&)>;

/// Handlers by name. The built-ins `store`, `log` and `simulate` are always
/// registered; applications add their own before starting a node.
class handler_registry {
public:
  handler_registry();

  /// Registers (or replaces) a handler factory.
  void add(const std::string& name, handler_factory f);

  /// Creates a handler; nullptr for an unknown name.
  handler_ptr make(const std::string& name, const handler_options& opts) const;

  bool contains(const std::string& name) const;

  std::vector<std::string> names() const;

private:
  std::map<std::string, handler_factory> factories_;
};

/// The registry used by `onceflow node`.
handler_registry& default_handlers();

/// Reads `payload.simulate` of an event: fail_attempts (retryable failures
/// on the first N attempts) and permanent (always fail permanently).
struct simulate_directive {
  uint32_t fail_attempts = 0;
  bool permanent = false;
  millis_t latency = 0;
};

simulate_directive parse_simulate_directive(const std::string& payload);

} // namespace onceflow
