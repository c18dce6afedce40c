#pragma once

#include "actors/logic/event.hpp"
#include "config/group_config.hpp"

#include <functional>
#include <memory>

/// The handler port: what a listener runs for each event. Adapters
/// implement it (the webhook handler); actors/handlers.hpp holds the
/// registry and the built-ins.
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

/// Completion of an asynchronous handler call. Called exactly once, from
/// any thread.
using handler_callback = std::function<void(handler_result)>;

/// A handler: event in, success / retryable error / permanent error out.
/// Handlers run inside listener actors and must not block: one that waits
/// for I/O (a webhook) is asynchronous and completes through a callback.
class handler {
public:
  virtual ~handler() = default;

  /// Handles attempt `attempt` (1-based) of `ev` (synchronous handlers).
  virtual handler_result handle(const event& ev, uint32_t attempt) = 0;

  /// True if the listener must use `handle_async` instead of `handle`.
  virtual bool asynchronous() const {
    return false;
  }

  /// Starts attempt `attempt` of `ev` and returns at once; `done` receives
  /// the result later, from any thread. The default runs `handle`. `done`
  /// is taken by value: asynchronous handlers keep it.
  virtual void handle_async(const event& ev, uint32_t attempt,
                            handler_callback done) { // NOLINT
    done(handle(ev, attempt));
  }
};

using handler_ptr = std::unique_ptr<handler>;
using handler_factory = std::function<handler_ptr(const handler_options&)>;

} // namespace onceflow
