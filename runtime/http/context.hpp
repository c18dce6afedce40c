#pragma once

#include "actors/logic/metrics.hpp"
#include "actors/logic/validation.hpp"
#include "config/node_config.hpp"
#include "runtime/http/api.hpp"
#include "runtime/http/gateway.hpp"
#include "runtime/http/response.hpp"
#include "runtime/http/target.hpp"
#include "runtime/node.hpp"

#include <caf/error.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace onceflow::http {

class stats_sampler;

/// Actor calls made for one HTTP request.
constexpr auto call_timeout = std::chrono::seconds(10);

/// Readiness and liveness probes answer quickly or fail.
constexpr auto probe_timeout = std::chrono::seconds(2);

/// What every route shares: the settings, the node's actors, the gateway
/// into the actor system and the metrics.
struct api_context {
  http_config cfg;
  /// The node's name ([node] name).
  std::string node_name;
  validation_limits limits;
  node_actors node;
  std::shared_ptr<gateway> gw;
  std::shared_ptr<metrics_registry> metrics;
  /// GET /ready's checks of external systems (MongoDB).
  std::vector<readiness_check> checks;
  /// Where the listings come from besides the store.
  listing_source listings;
  /// The samples of GET /stats (null: not sampled, e.g. in tests).
  std::shared_ptr<stats_sampler> stats;

  /// Makes one request from the gateway actor: `ok` gets the answer, an
  /// error becomes the HTTP error answer.
  template <class Handle, class F, class... Ts>
  void call(const Handle& hdl, const responder& done, F ok, Ts... xs) const {
    gw->run([hdl, done, ok, xs...](gateway_pointer gp) mutable {
      gp->request(hdl, call_timeout, std::move(xs)...)
        .then(std::move(ok),
              [done](caf::error& err) { done(from_error(err)); });
    });
  }

  void count(const char* name, const metric_labels& labels) const;

  /// Counts a submission rejected for `reason` (a label of
  /// onceflow_events_rejected_total) and answers with an error.
  void reject(const responder& done, const char* reason, unsigned status,
              const std::string& error, const std::string& field) const;

  /// Parses a request body into JSON with clear errors; false after
  /// answering.
  bool parse_body(const request& req, json& doc, const responder& done) const;

  /// parse_body for routes whose body must be a JSON object: anything else
  /// is answered 400 "body must be a JSON object".
  bool parse_object_body(const request& req, json& doc,
                         const responder& done) const;
};

/// Reads the `limit` query parameter of a listing (1 to 1000, default
/// 100); nothing after answering 400.
std::optional<uint64_t> page_limit(const target& t, const responder& done);

/// The answer to an `after` cursor that no page handed out.
response bad_cursor();

} // namespace onceflow::http
