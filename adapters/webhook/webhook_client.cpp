#include "adapters/webhook/webhook_client.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace onceflow {

namespace {

using steady = std::chrono::steady_clock;

/// Longest wait of one curl_multi_poll; curl shortens it to its own timers
/// and curl_multi_wakeup interrupts it.
constexpr int max_poll_ms = 1000;

std::string to_lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// Drops CR and LF so that a value cannot start a new header line.
std::string header_safe(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    if (c != '\r' && c != '\n')
      out += c;
  return out;
}

} // namespace

const std::string* webhook_response::header(const std::string& name) const {
  for (auto& kv : headers)
    if (kv.first == name)
      return &kv.second;
  return nullptr;
}

/// One request from submission to completion.
struct webhook_client::transfer {
  webhook_request req;
  callback done;
  steady::time_point submitted;
  size_t max_body = 0;
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  webhook_response resp;
  char errbuf[CURL_ERROR_SIZE] = {0};

  ~transfer() {
    if (easy != nullptr)
      curl_easy_cleanup(easy);
    if (header_list != nullptr)
      curl_slist_free_all(header_list);
  }

  static size_t on_body(char* ptr, size_t size, size_t n, void* user) {
    auto* t = static_cast<transfer*>(user);
    auto len = size * n;
    auto& body = t->resp.body;
    if (body.size() < t->max_body)
      body.append(ptr, std::min(len, t->max_body - body.size()));
    return len;
  }

  static size_t on_header(char* ptr, size_t size, size_t n, void* user) {
    auto* t = static_cast<transfer*>(user);
    auto len = size * n;
    std::string line(ptr, len);
    if (line.compare(0, 5, "HTTP/") == 0) {
      // A new response (after 100 Continue, say): forget earlier headers.
      t->resp.headers.clear();
      return len;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0)
      return len;
    t->resp.headers.emplace_back(to_lower(trim_blank(line.substr(0, colon))),
                                 trim_blank(line.substr(colon + 1)));
    return len;
  }
};

namespace {

millis_t elapsed_since(steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now()
                                                               - t)
    .count();
}

void invoke(std::function<void(webhook_response)>& done,
            webhook_response resp) {
  try {
    done(std::move(resp));
  } catch (const std::exception& ex) {
    spdlog::error("webhook client: completion callback threw: {}", ex.what());
  } catch (...) {
    spdlog::error("webhook client: completion callback threw");
  }
}

webhook_response shutdown_response(steady::time_point submitted) {
  webhook_response resp;
  resp.failure = webhook_failure::shutdown;
  resp.error = "webhook client shutting down";
  resp.elapsed = elapsed_since(submitted);
  return resp;
}

} // namespace

/// Everything the worker thread touches. The queue, the counters and the
/// stop flag are guarded by `mtx`; the multi handle and `running` belong to
/// the worker thread (other threads only call curl_multi_wakeup, which
/// libcurl allows from any thread).
struct webhook_client::state {
  webhook_client_options opts;
  std::mutex mtx;
  std::deque<std::unique_ptr<transfer>> queue;
  size_t active = 0;
  bool stopping = false;
  CURLM* multi = nullptr;
  std::map<CURL*, std::unique_ptr<transfer>> running;

  explicit state(webhook_client_options o) : opts(o) {
    if (opts.max_concurrent == 0)
      opts.max_concurrent = 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw std::runtime_error("webhook client: curl_global_init failed");
    multi = curl_multi_init();
    if (multi == nullptr) {
      curl_global_cleanup();
      throw std::runtime_error("webhook client: curl_multi_init failed");
    }
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS,
                      std::max(1L, opts.max_cached_connections));
  }

  ~state() {
    running.clear();
    curl_multi_cleanup(multi);
    curl_global_cleanup();
  }

  /// Completes `t` (not in the multi handle any more) and frees it.
  void finish(std::unique_ptr<transfer> t) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      --active;
    }
    auto resp = std::move(t->resp);
    resp.elapsed = elapsed_since(t->submitted);
    auto done = std::move(t->done);
    t.reset(); // releases the easy handle before the callback runs
    invoke(done, std::move(resp));
  }

  /// Completes `t` with a transport failure before it reached curl.
  void fail(std::unique_ptr<transfer> t, const char* what) {
    t->resp.failure = webhook_failure::transport;
    t->resp.error = what;
    finish(std::move(t));
  }

  /// Hands `t` to curl; completes it at once if curl refuses it.
  void start(std::unique_ptr<transfer> t) {
    t->easy = curl_easy_init();
    if (t->easy == nullptr)
      return fail(std::move(t), "curl_easy_init failed");
    for (auto& kv : t->req.headers) {
      auto name = header_safe(kv.first);
      auto value = header_safe(kv.second);
      // "Name;" is curl's spelling of a header with an empty value.
      auto line = value.empty() ? name + ";" : name + ": " + value;
      auto* next = curl_slist_append(t->header_list, line.c_str());
      if (next == nullptr)
        return fail(std::move(t), "curl_slist_append failed");
      t->header_list = next;
    }
    // No "Expect: 100-continue" round trip for large bodies.
    auto* next = curl_slist_append(t->header_list, "Expect:");
    if (next == nullptr)
      return fail(std::move(t), "curl_slist_append failed");
    t->header_list = next;
    auto* e = t->easy;
    auto timeout = std::max<millis_t>(1, t->req.timeout);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout));
    curl_easy_setopt(e, CURLOPT_USERAGENT, "onceflow-webhook");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->header_list);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->req.body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(t->req.body.size()));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &transfer::on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &transfer::on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    if (curl_easy_setopt(e, CURLOPT_URL, t->req.url.c_str()) != CURLE_OK)
      return fail(std::move(t), "curl refused the URL");
    if (curl_multi_add_handle(multi, e) != CURLM_OK)
      return fail(std::move(t), "curl_multi_add_handle failed");
    running.emplace(e, std::move(t));
  }

  /// Turns a finished easy handle into a response and completes it.
  void complete(CURL* e, CURLcode rc) {
    auto i = running.find(e);
    if (i == running.end())
      return;
    auto t = std::move(i->second);
    running.erase(i);
    curl_multi_remove_handle(multi, e);
    auto& resp = t->resp;
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OK) {
      resp.status = status;
    } else {
      resp.headers.clear();
      resp.body.clear();
      switch (rc) {
        case CURLE_OPERATION_TIMEDOUT:
          resp.failure = webhook_failure::timeout;
          break;
        case CURLE_COULDNT_CONNECT: {
          resp.failure = webhook_failure::connect;
          long os_errno = 0;
          curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
          resp.os_errno = static_cast<int>(os_errno);
          break;
        }
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
          resp.failure = webhook_failure::resolve;
          break;
        default:
          resp.failure = webhook_failure::transport;
      }
      resp.error = t->errbuf[0] != '\0' ? std::string{t->errbuf}
                                        : std::string{curl_easy_strerror(rc)};
    }
    finish(std::move(t));
  }

  /// The worker loop: until stopped, start queued requests (up to the
  /// concurrency cap), drive curl, complete finished transfers, and wait
  /// for sockets, timers or a wakeup.
  void run() {
    for (;;) {
      std::vector<std::unique_ptr<transfer>> fresh;
      {
        std::lock_guard<std::mutex> guard{mtx};
        if (stopping)
          break;
        while (!queue.empty() && active < opts.max_concurrent) {
          fresh.push_back(std::move(queue.front()));
          queue.pop_front();
          ++active;
        }
      }
      for (auto& t : fresh)
        start(std::move(t));
      int still_running = 0;
      curl_multi_perform(multi, &still_running);
      int left = 0;
      while (auto* msg = curl_multi_info_read(multi, &left))
        if (msg->msg == CURLMSG_DONE)
          complete(msg->easy_handle, msg->data.result);
      curl_multi_poll(multi, nullptr, 0, max_poll_ms, nullptr);
    }
    // Shutting down: fail every transfer in progress, then every queued
    // one. New submissions complete inline now (stopping is set).
    while (!running.empty()) {
      auto i = running.begin();
      auto t = std::move(i->second);
      running.erase(i);
      curl_multi_remove_handle(multi, t->easy);
      t->resp = shutdown_response(t->submitted);
      finish(std::move(t));
    }
    for (;;) {
      std::unique_ptr<transfer> t;
      {
        std::lock_guard<std::mutex> guard{mtx};
        if (queue.empty())
          break;
        t = std::move(queue.front());
        queue.pop_front();
      }
      auto done = std::move(t->done);
      auto submitted = t->submitted;
      t.reset();
      invoke(done, shutdown_response(submitted));
    }
  }
};

webhook_client::webhook_client(webhook_client_options opts)
  : st_(std::make_shared<state>(opts)) {
  worker_ = std::thread([st = st_] { st->run(); });
}

webhook_client::~webhook_client() {
  {
    std::lock_guard<std::mutex> guard{st_->mtx};
    st_->stopping = true;
  }
  curl_multi_wakeup(st_->multi);
  if (worker_.get_id() == std::this_thread::get_id())
    worker_.detach(); // the worker drains and exits after this callback
  else
    worker_.join();
}

size_t webhook_client::pending() const {
  std::lock_guard<std::mutex> guard{st_->mtx};
  return st_->queue.size() + st_->active;
}

void webhook_client::submit(webhook_request req, callback done) {
  auto t = std::make_unique<transfer>();
  t->req = std::move(req);
  t->done = std::move(done);
  t->submitted = steady::now();
  t->max_body = st_->opts.max_response_bytes;
  {
    std::unique_lock<std::mutex> guard{st_->mtx};
    if (!st_->stopping) {
      st_->queue.push_back(std::move(t));
      guard.unlock();
      curl_multi_wakeup(st_->multi);
      return;
    }
  }
  invoke(t->done, shutdown_response(t->submitted));
}

std::string hmac_sha256_hex(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static const unsigned char empty = 0;
  auto* k = key.empty() ? &empty
                        : reinterpret_cast<const unsigned char*>(key.data());
  auto* d = data.empty() ? &empty
                         : reinterpret_cast<const unsigned char*>(data.data());
  if (HMAC(EVP_sha256(), k, static_cast<int>(key.size()), d, data.size(), mac,
           &len)
      == nullptr)
    throw std::runtime_error("HMAC-SHA256 failed");
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size_t{len} * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += digits[mac[i] >> 4];
    out += digits[mac[i] & 0x0f];
  }
  return out;
}

std::string trim_blank(const std::string& s) {
  auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
  };
  size_t b = 0;
  size_t e = s.size();
  while (b < e && is_space(s[b]))
    ++b;
  while (e > b && is_space(s[e - 1]))
    --e;
  return s.substr(b, e - b);
}

} // namespace onceflow
