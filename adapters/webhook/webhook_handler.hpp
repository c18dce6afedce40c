#pragma once

#include "adapters/handler.hpp"
#include "adapters/webhook/webhook_client.hpp"

#include <memory>
#include <string>

/// The `webhook` handler: POSTs each event as JSON to the group's URL
/// through the node's shared `webhook_client` and maps the answer onto a
/// handler result.
///
/// Request: body {"id", "type", "payload" (the event's JSON object),
/// "priority", "createdAt" (ms since the epoch), "traceId", "attempt",
/// "group"}; headers Content-Type: application/json, Idempotency-Key: <event
/// id>, X-Onceflow-Attempt, X-Onceflow-Event-Type, X-Onceflow-Group and,
/// with a secret, X-Onceflow-Signature: sha256=<hex HMAC-SHA256 of the exact
/// body bytes>.
///
/// Result: 2xx is a success (the effect is recorded); 408, 429, 5xx,
/// timeouts and transport errors are retryable (honouring Retry-After);
/// every other status is permanent. Error texts never contain the secret or
/// the URL's userinfo.
namespace onceflow {

/// Longest Retry-After honoured (longer waits are cut to this).
constexpr millis_t max_retry_after = millis_t{3600} * 1000;

/// Parses a Retry-After value: delta-seconds or an HTTP-date (IMF-fixdate,
/// RFC 850 or asctime), relative to `now` (ms since the epoch). Returns the
/// wait in ms, clamped to [0, max_retry_after]; 0 for unparsable values and
/// dates in the past.
millis_t parse_retry_after(const std::string& value, millis_t now);

/// `url` with its userinfo (user:password@) replaced by `***@`.
std::string redact_url(const std::string& url);

/// Maps a response onto a handler result. `url` is the URL as it may appear
/// in error texts (already redacted), `timeout` the request's timeout and
/// `now` the current wall-clock time (for HTTP-date Retry-After values).
handler_result classify_webhook_response(const webhook_response& resp,
                                         const std::string& url,
                                         millis_t timeout, millis_t now);

/// POSTs events to one URL (one instance per listener; all share a client).
class webhook_handler : public handler {
public:
  /// Throws std::invalid_argument for a null client, an empty or non-HTTP(S)
  /// `opts.url`, or a timeout <= 0.
  webhook_handler(std::shared_ptr<webhook_client> client,
                  const handler_options& opts);

  /// Not used by the runtime (the handler is asynchronous): returns a
  /// retryable error at once instead of blocking the listener.
  handler_result handle(const event& ev, uint32_t attempt) override;

  bool asynchronous() const override {
    return true;
  }

  /// Submits the POST for attempt `attempt` of `ev` and returns at once;
  /// `done` runs on the client's worker thread (or at once, with a permanent
  /// error, if the event's payload is not valid JSON).
  void handle_async(const event& ev, uint32_t attempt,
                    handler_callback done) override;

  /// The request for attempt `attempt` of `ev` (body, headers, timeout).
  /// Throws std::invalid_argument if the payload is not valid JSON.
  webhook_request make_request(const event& ev, uint32_t attempt) const;

  /// The options' URL with userinfo redacted, as used in error texts.
  const std::string& display_url() const;

private:
  struct config;

  std::shared_ptr<webhook_client> client_;
  /// Shared with pending callbacks, which may outlive the handler.
  std::shared_ptr<const config> cfg_;
};

/// The factory of the `webhook` handler (registered under that name by the
/// node): every handler it makes uses `client` (one client per node). The
/// factory reads the options url, secret, timeout and group, and throws
/// std::invalid_argument("webhook handler needs option 'url'") without a
/// URL. Throws std::invalid_argument for a null client.
handler_factory
webhook_handler_factory(const std::shared_ptr<webhook_client>& client);

} // namespace onceflow
