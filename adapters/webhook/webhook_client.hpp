#pragma once

#include "actors/logic/event.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

/// The webhook client: HTTP POSTs on one worker thread that drives libcurl's
/// multi interface (curl_multi_poll / curl_multi_wakeup). Callers never
/// block on I/O: `submit` queues the request and returns; the worker runs
/// many transfers at once over a shared connection cache (keep-alive and
/// connection reuse per host) and reports each result through its callback.
/// One client serves a whole node (all webhook groups).
namespace onceflow {

/// One HTTP POST.
struct webhook_request {
  /// http:// or https:// URL (other schemes are refused by curl).
  std::string url;
  /// Request body, sent as is.
  std::string body;
  /// Extra request headers as (name, value); an empty value sends the
  /// header with an empty value.
  std::vector<std::pair<std::string, std::string>> headers;
  /// Timeout of the whole call (connect + request + response), > 0.
  millis_t timeout = 10000;
};

/// Why a call produced no HTTP response.
enum class webhook_failure : uint8_t {
  none = 0,      ///< A response arrived (`status` holds its code).
  timeout = 1,   ///< The call did not finish within the request's timeout.
  connect = 2,   ///< TCP connect failed (refused, unreachable, ...).
  resolve = 3,   ///< The host name did not resolve.
  shutdown = 4,  ///< The client was destroyed before the call finished.
  transport = 5, ///< Any other transport error (TLS, send, receive, ...).
};

/// The outcome of one POST.
struct webhook_response {
  /// What went wrong below HTTP; `none` if a response arrived.
  webhook_failure failure = webhook_failure::none;
  /// HTTP status of the final response; 0 without a response.
  long status = 0;
  /// Response headers of the final response, names in lower case, in the
  /// order received.
  std::vector<std::pair<std::string, std::string>> headers;
  /// Response body (at most `webhook_client_options::max_response_bytes`).
  std::string body;
  /// For failures: curl's description (never contains the request body).
  std::string error;
  /// For connect failures: the OS errno (ECONNREFUSED, ...), else 0.
  int os_errno = 0;
  /// Time from submission to completion.
  millis_t elapsed = 0;

  /// The value of response header `name` (lower case), or nullptr.
  const std::string* header(const std::string& name) const;
};

/// Tuning of a webhook client.
struct webhook_client_options {
  /// Most transfers in progress at once; further requests wait in a queue.
  size_t max_concurrent = 256;
  /// Most idle connections kept open for reuse.
  long max_cached_connections = 256;
  /// Most response body bytes kept (the rest is read and discarded).
  size_t max_response_bytes = size_t{64} * 1024;
};

/// Runs HTTP POSTs asynchronously on one worker thread.
class webhook_client {
public:
  using callback = std::function<void(webhook_response)>;

  /// Starts the worker thread. Throws std::runtime_error if curl cannot be
  /// initialized.
  explicit webhook_client(webhook_client_options opts = {});

  /// Stops the worker. Every call still in progress or queued completes
  /// with `webhook_failure::shutdown` ("webhook client shutting down")
  /// before the destructor returns; when it runs on the worker thread
  /// itself (the last owner released inside a callback), they complete
  /// right after that callback returns.
  ~webhook_client();

  webhook_client(const webhook_client&) = delete;
  webhook_client& operator=(const webhook_client&) = delete;

  /// Queues `req` and returns at once; thread-safe. `done` is called exactly
  /// once, on the worker thread (or, if the client is already shutting
  /// down, inline with a shutdown failure). Callbacks must not block for
  /// long: they delay every other transfer. Exceptions thrown by a callback
  /// are logged and dropped.
  void submit(webhook_request req, callback done);

  /// Transfers in progress plus queued requests (for tests and metrics).
  size_t pending() const;

private:
  struct transfer;
  struct state;

  /// Shared with the worker thread, which keeps it alive until it exits
  /// (even if the client is destroyed from inside a callback).
  std::shared_ptr<state> st_;
  std::thread worker_;
};

/// Lowercase hex HMAC-SHA256 of `data` under `key` (OpenSSL).
std::string hmac_sha256_hex(const std::string& key, const std::string& data);

/// `s` without leading and trailing spaces, tabs, CRs and LFs.
std::string trim_blank(const std::string& s);

} // namespace onceflow
