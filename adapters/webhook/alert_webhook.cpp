#include "adapters/webhook/alert_webhook.hpp"

#include "adapters/webhook/webhook_handler.hpp"

#include <chrono>
#include <stdexcept>
#include <utility>

namespace onceflow {

namespace {

class webhook_alert_sink : public alert_sink {
public:
  webhook_alert_sink(std::shared_ptr<webhook_client> client, std::string url,
                     std::string secret, millis_t timeout)
    : client_(std::move(client)),
      url_(std::move(url)),
      shown_(redact_url(url_)),
      secret_(std::move(secret)),
      timeout_(timeout) {
    // nop
  }

  void send(std::string key, std::string body, alert_callback done) override {
    webhook_request req;
    req.url = url_;
    req.timeout = timeout_;
    req.headers = {{"Content-Type", "application/json"},
                   {"Idempotency-Key", std::move(key)},
                   {"X-Onceflow-Alert", "dlq"}};
    if (!secret_.empty())
      req.headers.emplace_back("X-Onceflow-Signature",
                               "sha256=" + hmac_sha256_hex(secret_, body));
    req.body = std::move(body);
    client_->submit(
      std::move(req), [shown = shown_, timeout = timeout_,
                       done = std::move(done)](const webhook_response& resp) {
        auto r = classify_webhook_response(resp, shown, timeout, wall_now());
        done(r.result == outcome::success ? std::string{} : r.error);
      });
  }

  std::string describe() const override {
    return shown_;
  }

private:
  std::shared_ptr<webhook_client> client_;
  std::string url_;
  std::string shown_;
  std::string secret_;
  millis_t timeout_;
};

} // namespace

alert_sink_ptr make_webhook_alert_sink(std::shared_ptr<webhook_client> client,
                                       const std::string& url,
                                       const std::string& secret,
                                       millis_t timeout) {
  if (!client)
    throw std::invalid_argument("alert webhook needs a client");
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    throw std::invalid_argument("alert webhook URL must start with http:// "
                                "or https://");
  if (timeout <= 0)
    throw std::invalid_argument("alert webhook timeout must be > 0");
  return std::make_shared<webhook_alert_sink>(std::move(client), url, secret,
                                              timeout);
}

} // namespace onceflow
