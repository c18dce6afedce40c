#include "adapters/webhook/webhook_handler.hpp"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <utility>
#include <vector>

namespace onceflow {

namespace {

/// Most response body bytes quoted in an error text.
constexpr size_t max_quoted_body = 200;

/// Position and length of the userinfo in `url` (without the '@');
/// npos if there is none.
std::pair<size_t, size_t> find_userinfo(const std::string& url) {
  auto start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  auto end = url.find_first_of("/?#", start);
  if (end == std::string::npos)
    end = url.size();
  auto at = url.rfind('@', end == 0 ? 0 : end - 1);
  if (at == std::string::npos || at < start || at >= end)
    return {std::string::npos, 0};
  return {start, at - start};
}

/// Replaces every occurrence of `needle` in `text` with "***".
void scrub(std::string& text, const std::string& needle) {
  if (needle.empty())
    return;
  size_t pos = 0;
  while ((pos = text.find(needle, pos)) != std::string::npos) {
    text.replace(pos, needle.size(), "***");
    pos += 3;
  }
}

/// Length of the UTF-8 sequence starting at `s[i]`, or 0 if it is invalid.
size_t utf8_sequence(const std::string& s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = 0;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4;
  else
    return 0;
  if (i + n > s.size())
    return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80)
      return 0;
  return n;
}

/// The start of a response body for an error text: at most
/// `max_quoted_body` bytes of valid UTF-8, control characters as spaces.
std::string quote_body(const std::string& body) {
  std::string out;
  size_t i = 0;
  while (i < body.size()) {
    auto n = utf8_sequence(body, i);
    if (out.size() + std::max<size_t>(n, 1) > max_quoted_body)
      return trim_blank(out) + "...";
    if (n == 0) {
      out += '?';
      ++i;
    } else if (n == 1) {
      auto c = static_cast<unsigned char>(body[i]);
      out += (c < 0x20 || c == 0x7f) ? ' ' : body[i];
      ++i;
    } else {
      out.append(body, i, n);
      i += n;
    }
  }
  return trim_blank(out);
}

/// True for statuses worth retrying: 408, 429 and 5xx.
bool retryable_status(long status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

/// Checks `url`: parseable, scheme http or https, with a host.
bool valid_http_url(const std::string& url) {
  auto* h = curl_url();
  if (h == nullptr)
    throw std::runtime_error("webhook handler: curl_url failed");
  bool ok = false;
  if (curl_url_set(h, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    char* scheme = nullptr;
    char* host = nullptr;
    if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
        && curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
      std::string s = scheme;
      ok = (s == "http" || s == "https") && host[0] != '\0';
    }
    curl_free(scheme);
    curl_free(host);
  }
  curl_url_cleanup(h);
  return ok;
}

} // namespace

millis_t parse_retry_after(const std::string& value, millis_t now) {
  auto v = trim_blank(value);
  if (v.empty())
    return 0;
  if (std::all_of(v.begin(), v.end(),
                  [](char c) { return c >= '0' && c <= '9'; })) {
    // delta-seconds; more than 7 digits is far beyond the cap anyway.
    if (v.size() > 7)
      return max_retry_after;
    return std::min<millis_t>(std::stoll(v) * 1000, max_retry_after);
  }
  // Every HTTP-date form starts with a day name.
  if (!std::isalpha(static_cast<unsigned char>(v[0])))
    return 0;
  auto t = curl_getdate(v.c_str(), nullptr);
  if (t == -1)
    return 0;
  auto wait = static_cast<millis_t>(t) * 1000 - now;
  return std::clamp<millis_t>(wait, 0, max_retry_after);
}

std::string redact_url(const std::string& url) {
  auto out = url;
  // The query string often carries tokens: keep only that there is one.
  auto q = out.find('?');
  if (q != std::string::npos) {
    auto frag = out.find('#', q);
    out.replace(q + 1,
                frag == std::string::npos ? std::string::npos : frag - q - 1,
                "***");
  }
  auto ui = find_userinfo(out);
  if (ui.first != std::string::npos)
    out.replace(ui.first, ui.second, "***");
  return out;
}

handler_result classify_webhook_response(const webhook_response& resp,
                                         const std::string& url,
                                         millis_t timeout, millis_t now) {
  handler_result r;
  auto prefix = "webhook POST " + url + ": ";
  auto curl_detail = [&] {
    return resp.error.empty() ? std::string{} : " (curl: " + resp.error + ")";
  };
  switch (resp.failure) {
    case webhook_failure::none:
      break;
    case webhook_failure::timeout:
      r.result = outcome::retryable;
      r.error = prefix + "timeout after " + std::to_string(timeout) + " ms";
      return r;
    case webhook_failure::connect:
      r.result = outcome::retryable;
      r.error = prefix
                + (resp.os_errno == ECONNREFUSED ? "connection refused"
                                                 : "connection failed")
                + curl_detail();
      return r;
    case webhook_failure::resolve:
      r.result = outcome::retryable;
      r.error = prefix + "could not resolve host" + curl_detail();
      return r;
    case webhook_failure::shutdown:
      r.result = outcome::retryable;
      r.error = prefix + "webhook client shutting down";
      return r;
    case webhook_failure::transport:
      r.result = outcome::retryable;
      r.error = prefix + "transport error" + curl_detail();
      return r;
  }
  auto status = resp.status;
  if (status >= 200 && status <= 299) {
    r.record_effect = true;
    return r;
  }
  if (status == 0) {
    r.result = outcome::retryable;
    r.error = prefix + "no HTTP status in the response";
    return r;
  }
  r.error = prefix + "HTTP " + std::to_string(status);
  auto quoted = quote_body(resp.body);
  if (!quoted.empty())
    r.error += ": " + quoted;
  if (retryable_status(status)) {
    r.result = outcome::retryable;
    if (auto* ra = resp.header("retry-after"))
      r.retry_after = parse_retry_after(*ra, now);
  } else {
    r.result = outcome::permanent;
  }
  return r;
}

/// What a handler and its pending callbacks need.
struct webhook_handler::config {
  std::string url;
  std::string display_url;
  std::string secret;
  millis_t timeout = 0;
  std::string group;
  /// Strings that must never appear in error texts.
  std::vector<std::string> hidden;

  /// `text` with every hidden string replaced by "***".
  std::string scrubbed(std::string text) const {
    for (auto& h : hidden)
      scrub(text, h);
    return text;
  }
};

webhook_handler::webhook_handler(std::shared_ptr<webhook_client> client,
                                 const handler_options& opts)
  : client_(std::move(client)) {
  if (client_ == nullptr)
    throw std::invalid_argument("webhook handler needs a webhook client");
  if (opts.url.empty())
    throw std::invalid_argument("webhook handler needs option 'url'");
  auto cfg = std::make_shared<config>();
  cfg->url = opts.url;
  cfg->display_url = redact_url(opts.url);
  if (!valid_http_url(opts.url))
    throw std::invalid_argument("webhook handler: option 'url' must be an "
                                "http:// or https:// URL with a host, got '"
                                + cfg->display_url + "'");
  if (opts.timeout <= 0)
    throw std::invalid_argument("webhook handler: option 'timeout' must be "
                                "positive");
  cfg->secret = opts.secret;
  cfg->timeout = opts.timeout;
  cfg->group = opts.group;
  // The secret and the userinfo (and its password alone) stay out of errors.
  cfg->hidden.push_back(opts.secret);
  auto ui = find_userinfo(opts.url);
  if (ui.first != std::string::npos) {
    auto userinfo = opts.url.substr(ui.first, ui.second);
    cfg->hidden.push_back(userinfo);
    auto colon = userinfo.find(':');
    if (colon != std::string::npos)
      cfg->hidden.push_back(userinfo.substr(colon + 1));
  }
  if (auto q = opts.url.find('?'); q != std::string::npos)
    cfg->hidden.push_back(
      opts.url.substr(q + 1, opts.url.find('#', q) - q - 1));
  cfg->hidden.erase(std::remove(cfg->hidden.begin(), cfg->hidden.end(), ""),
                    cfg->hidden.end());
  // Longest first, so that a string containing another is hidden whole.
  std::sort(cfg->hidden.begin(), cfg->hidden.end(),
            [](const std::string& a, const std::string& b) {
              return a.size() > b.size();
            });
  cfg_ = std::move(cfg);
}

handler_result webhook_handler::handle(const event&, uint32_t) {
  handler_result r;
  r.result = outcome::retryable;
  r.error = "webhook handler is asynchronous";
  return r;
}

const std::string& webhook_handler::display_url() const {
  return cfg_->display_url;
}

webhook_request webhook_handler::make_request(const event& ev,
                                              uint32_t attempt) const {
  using json = nlohmann::ordered_json;
  json payload;
  try {
    payload = json::parse(ev.payload.empty() ? std::string{"{}"} : ev.payload);
  } catch (const json::exception& ex) {
    throw std::invalid_argument(std::string{"event payload is not valid "
                                            "JSON: "}
                                + ex.what());
  }
  json body;
  body["id"] = ev.id;
  body["type"] = ev.type;
  body["payload"] = std::move(payload);
  body["priority"] = to_string(ev.prio);
  body["createdAt"] = ev.created_at;
  body["traceId"] = ev.trace_id;
  body["attempt"] = attempt;
  body["group"] = cfg_->group;
  webhook_request req;
  req.url = cfg_->url;
  req.timeout = cfg_->timeout;
  req.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  req.headers = {
    {"Content-Type", "application/json"},
    {"Idempotency-Key", ev.id},
    {"X-Onceflow-Attempt", std::to_string(attempt)},
    {"X-Onceflow-Event-Type", ev.type},
    {"X-Onceflow-Group", cfg_->group},
  };
  if (!cfg_->secret.empty())
    req.headers.emplace_back("X-Onceflow-Signature",
                             "sha256="
                               + hmac_sha256_hex(cfg_->secret, req.body));
  return req;
}

void webhook_handler::handle_async(const event& ev, uint32_t attempt,
                                   handler_callback done) {
  webhook_request req;
  try {
    req = make_request(ev, attempt);
  } catch (const std::exception& ex) {
    handler_result r;
    r.result = outcome::permanent;
    r.error
      = cfg_->scrubbed("webhook POST " + cfg_->display_url + ": " + ex.what());
    done(std::move(r));
    return;
  }
  client_->submit(std::move(req), [cfg = cfg_, done = std::move(done)](
                                    const webhook_response& resp) {
    auto r = classify_webhook_response(resp, cfg->display_url, cfg->timeout,
                                       wall_now());
    r.error = cfg->scrubbed(std::move(r.error));
    done(std::move(r));
  });
}

handler_factory
webhook_handler_factory(const std::shared_ptr<webhook_client>& client) {
  if (client == nullptr)
    throw std::invalid_argument("webhook_handler_factory: null client");
  return [client](const handler_options& opts) -> handler_ptr {
    return std::make_unique<webhook_handler>(client, opts);
  };
}

} // namespace onceflow
