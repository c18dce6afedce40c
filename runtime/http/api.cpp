#include "runtime/http/api.hpp"

#include "actors/node_metrics.hpp"
#include "runtime/http/context.hpp"
#include "runtime/http/response.hpp"
#include "runtime/http/routes.hpp"
#include "runtime/http/stats.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <exception>

namespace onceflow::http {

api::api(const node_config& cfg, const node_actors& node,
         std::shared_ptr<gateway> gw, std::vector<readiness_check> checks,
         listing_source listings)
  : cx_(std::make_shared<api_context>()) {
  cx_->checks = std::move(checks);
  cx_->listings = std::move(listings);
  cx_->cfg = cfg.http;
  cx_->node_name = cfg.name;
  cx_->limits = cfg.limits;
  cx_->node = node;
  cx_->gw = std::move(gw);
  cx_->metrics = node.metrics;
}

api::~api() {
  if (cx_->stats)
    cx_->stats->stop();
}

void api::sample_stats() {
  if (!cx_->stats)
    cx_->stats = stats_sampler::start(cx_->metrics, cx_->gw, cx_->node);
}

namespace {

/// Answers a request exactly once: later calls are ignored, and if every
/// copy of the responder is dropped unanswered (work discarded at shutdown,
/// a failed actor), the destructor answers 503.
class once_responder {
public:
  once_responder(std::shared_ptr<metrics_registry> m, responder fn)
    : metrics_(std::move(m)), fn_(std::move(fn)) {
    // nop
  }

  ~once_responder() {
    if (!answered_.exchange(true)) {
      send(retry_later(503,
                       "the request was dropped: the node is shutting down "
                       "or failed; retry",
                       5));
    }
  }

  void operator()(response r) {
    if (!answered_.exchange(true))
      send(std::move(r));
  }

private:
  void send(response r) {
    if (metrics_)
      metrics_->count(metric::http_requests,
                      {{"code", std::to_string(r.status)}});
    fn_(std::move(r));
  }

  std::atomic<bool> answered_{false};
  std::shared_ptr<metrics_registry> metrics_;
  responder fn_;
};

} // namespace

void api::handle(request req, responder done) {
  auto guard = std::make_shared<once_responder>(cx_->metrics, std::move(done));
  responder once = [guard](response r) {
    (*guard)(std::move(r));
  };
  try {
    dispatch(cx_, req, once);
  } catch (const std::exception& e) {
    // Answers only if nothing answered yet; the text stays in the log.
    spdlog::error("http: {} {} failed: {}", req.method,
                  req.target.substr(0, req.target.find('?')), e.what());
    once(error_body(500, "internal error (see the node's log)"));
  }
}

response api::error_response(unsigned status, const std::string& error,
                             const std::string& field) {
  if (cx_->metrics) {
    cx_->metrics->count(metric::http_requests,
                        {{"code", std::to_string(status)}});
    if (status == 413)
      cx_->metrics->count(metric::rejected, {{"reason", "too_large"}});
  }
  return error_body(status, error, field);
}

} // namespace onceflow::http
