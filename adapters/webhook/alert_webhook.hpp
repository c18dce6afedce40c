#pragma once

#include "adapters/alert_sink.hpp"
#include "adapters/webhook/webhook_client.hpp"

#include <memory>
#include <string>

namespace onceflow {

/// DLQ alerts as HTTP POSTs over the node's webhook client: body as given,
/// headers Content-Type: application/json, Idempotency-Key: <the call's
/// key>, X-Onceflow-Alert: dlq and, with a secret, X-Onceflow-Signature:
/// sha256=<hex HMAC-SHA256 of the body> (as the webhook handler signs). A
/// 2xx answer is delivered; anything else (status, timeout, connection
/// error) is a failure named without the secret or the URL's userinfo.
/// Throws std::invalid_argument for a null client, a URL that is not
/// http(s)://, or a timeout <= 0.
alert_sink_ptr make_webhook_alert_sink(std::shared_ptr<webhook_client> client,
                                       const std::string& url,
                                       const std::string& secret,
                                       millis_t timeout);

} // namespace onceflow
