#pragma once

#include "config/node_config.hpp"
#include "runtime/http/gateway.hpp"
#include "runtime/node.hpp"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace onceflow::http {

struct api_context;

/// What the API needs of one HTTP request (the server fills it from Beast's
/// parsed request).
struct request {
  std::string method;
  /// Path and query, as sent ("/events?status=dead&limit=5").
  std::string target;
  std::string content_type;
  std::string authorization;
  std::string idempotency_key;
  std::string body;
};

struct response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Called once per request, from any thread.
using responder = std::function<void(response)>;

/// A check of `GET /ready` beyond the store and the broadcaster (an
/// external system the node's handlers need, e.g. MongoDB): `probe` returns
/// empty while all is well, else what is wrong. Called on an HTTP thread:
/// it must not block.
struct readiness_check {
  std::string name;
  std::function<std::string()> probe;
};

/// Answers GET /events?status= and GET /failed-events from elsewhere than
/// the store (the MongoDB records, [mongo] read-from): each returns false to
/// leave the request to the store. Called on an HTTP thread; may block for
/// its own bounded time. Empty functions: the store answers.
struct listing_source {
  std::function<bool(const event_listing_query&, event_listing&)> events;
  std::function<bool(const dlq_query&, dlq_page&)> failed;
};

/// The routes of docs/http-api.md (their table: runtime/http/routes.cpp):
/// authentication, input validation and JSON on the calling (HTTP) thread;
/// actor calls through the gateway.
class api {
public:
  api(const node_config& cfg, const node_actors& node,
      std::shared_ptr<gateway> gw, std::vector<readiness_check> checks = {},
      listing_source listings = {});

  ~api();

  api(const api&) = delete;
  api& operator=(const api&) = delete;

  /// Starts sampling the node once a second for GET /stats (a thread of
  /// its own until the api goes).
  void sample_stats();

  void handle(request req, responder done);

  /// A response for requests the server refuses before routing (malformed
  /// HTTP, body over the limit).
  response error_response(unsigned status, const std::string& error,
                          const std::string& field = {});

private:
  std::shared_ptr<api_context> cx_;
};

} // namespace onceflow::http
