#pragma once

#include "actors/logic/event.hpp"
#include "config/group_config.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

/// The handler port: what a listener runs for each event. Adapters
/// implement it (the webhook handler), and so do applications (their own
/// handlers, docs/handlers.md); actors/handlers.hpp holds the registry and
/// the built-ins.
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

  /// The event's effect happened.
  static handler_result ok() {
    return {};
  }

  /// Failed for now: the group's retry policy decides when the next attempt
  /// runs (at least `after` ms from now) or, with no attempts left, that
  /// the event goes to the DLQ. `why` is kept in the attempt history.
  static handler_result retry(std::string why, millis_t after = 0) {
    handler_result r;
    r.result = outcome::retryable;
    r.error = std::move(why);
    r.retry_after = after;
    return r;
  }

  /// Failed for good: the event goes to the DLQ at once with `why`.
  static handler_result fail(std::string why) {
    handler_result r;
    r.result = outcome::permanent;
    r.error = std::move(why);
    return r;
  }
};

/// Completion of an asynchronous handler call. Called once, from any
/// thread; a second call is ignored (and logged).
using handler_callback = std::function<void(handler_result)>;

/// One event of a batch handed to a batch handler: the event and its
/// attempt (1-based). Valid until `handle_batch` returns (as the event of
/// `handle_async`): a handler that completes later copies what it needs.
struct handler_call {
  const event* ev = nullptr;
  uint32_t attempt = 1;
  /// The lease epoch the attempt runs under: the deduplicator's fence (a
  /// settlement under an older epoch is refused).
  uint64_t epoch = 0;
  /// The listener that runs it ("orders/2") and its node.
  std::string_view listener;
  std::string_view node;
};

/// Completion of a batch handler call: one result per call, in the calls'
/// order. Called once, from any thread.
using batch_callback = std::function<void(std::vector<handler_result>)>;

/// A handler: event in, success / retryable error / permanent error out.
/// Handlers run inside listener actors and must not block: one that waits
/// for I/O (a webhook) is asynchronous and completes through a callback.
class handler {
public:
  virtual ~handler() = default;

  /// Handles attempt `attempt` (1-based) of `ev` (synchronous handlers).
  /// The default fails permanently: a handler overrides this, or
  /// `handle_async` (asynchronous) or `handle_batch` (batched).
  virtual handler_result handle(const event& ev, uint32_t attempt);

  /// True if the listener must use `handle_async` instead of `handle`.
  virtual bool asynchronous() const {
    return false;
  }

  /// Starts attempt `attempt` of `ev` and returns at once; `done` receives
  /// the result later, from any thread. `ev` is valid until this returns
  /// (copy what the work needs). Calls of one batch run side by side, and a
  /// next batch's may start before the last `done`: the handler's own
  /// state must be thread-safe. The default runs `handle`. `done` is taken
  /// by value: asynchronous handlers keep it.
  virtual void handle_async(const event& ev, uint32_t attempt,
                            handler_callback done) { // NOLINT
    done(handle(ev, attempt));
  }

  /// True if the listener hands each batch to `handle_batch` in one call
  /// (instead of calling `handle` or `handle_async` per event).
  virtual bool batched() const {
    return false;
  }

  /// Starts the events of one batch and returns at once; `done` receives
  /// one result per call, in order, later and from any thread. `calls`
  /// and their events are valid until this returns (copy what the work
  /// needs); a next batch may start before the last `done`. Missing results
  /// count as retryable failures. The default runs `handle` on each.
  virtual void handle_batch(const std::vector<handler_call>& calls,
                            batch_callback done) { // NOLINT
    std::vector<handler_result> rs;
    rs.reserve(calls.size());
    for (auto& c : calls)
      rs.push_back(handle(*c.ev, c.attempt));
    done(std::move(rs));
  }
};

using handler_ptr = std::unique_ptr<handler>;

/// Makes the handler of one listener from its group's options. A factory
/// may throw std::invalid_argument for options it cannot use: the node
/// refuses to start and names the group.
using handler_factory = std::function<handler_ptr(const handler_options&)>;

/// What a handler's registration says of its own options (the keys of its
/// group's `options = {...}`): the keys it takes, and a check of their
/// values that returns what is wrong (empty: nothing).
struct handler_spec {
  std::vector<std::string> options;
  std::function<std::string(const handler_options&)> check;
};

/// Reads `payload.simulate` of an event (the `simulate` handler's per-event
/// directives, docs/configuration.md): fail_attempts (retryable failures on
/// the first N attempts), permanent (always fail permanently), latency_ms.
struct simulate_directive {
  uint32_t fail_attempts = 0;
  bool permanent = false;
  millis_t latency = 0;
};

simulate_directive parse_simulate_directive(const std::string& payload);

} // namespace onceflow
