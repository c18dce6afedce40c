#pragma once

#include <functional>
#include <memory>
#include <string>

/// The alert port: where DLQ alerts go (adapters/webhook/alert_webhook: an
/// HTTP POST to `[alerts] dlq-webhook-url`).
namespace onceflow {

/// Completion of one alert call: empty if it was delivered, else why not.
/// Called exactly once, from any thread.
using alert_callback = std::function<void(std::string error)>;

/// Sends alert bodies (JSON) somewhere without blocking the caller.
class alert_sink {
public:
  virtual ~alert_sink() = default;

  /// Starts sending `body` under the idempotency key `key` and returns at
  /// once; `done` reports the outcome later.
  virtual void send(std::string key, std::string body, alert_callback done) = 0;

  /// Where the alerts go, fit for logs (no secrets).
  virtual std::string describe() const = 0;
};

using alert_sink_ptr = std::shared_ptr<alert_sink>;

} // namespace onceflow
