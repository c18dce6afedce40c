#define BOOST_TEST_MODULE webhook
#include <boost/test/unit_test.hpp>

#include "adapters/webhook/webhook_client.hpp"
#include "actors/handlers.hpp"
#include "adapters/webhook/webhook_handler.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

/// The webhook handler and client against a real HTTP server on loopback:
/// `test_server` is a small synchronous Boost.Beast server (one thread per
/// connection, keep-alive) that answers from a scripted function and
/// records every request.

using namespace onceflow;
using namespace std::chrono_literals;

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// -- test server -------------------------------------------------------------

/// One request as the server saw it.
struct recorded_request {
  std::string method;
  std::string target;
  /// Header names in lower case.
  std::map<std::string, std::string> headers;
  std::string body;
  /// Accepted connection it came on (1, 2, ...).
  int connection = 0;

  bool has(const std::string& name) const {
    return headers.count(name) != 0;
  }

  std::string header(const std::string& name) const {
    auto i = headers.find(name);
    return i == headers.end() ? std::string{} : i->second;
  }
};

/// What the server answers.
struct scripted_response {
  unsigned status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  /// Wait before answering (cut short when the server stops).
  std::chrono::milliseconds delay{0};
};

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class test_server {
public:
  /// Called concurrently from the connection threads.
  using responder = std::function<scripted_response(const recorded_request&)>;

  explicit test_server(responder r)
    : respond_(std::move(r)),
      acceptor_(ioc_, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~test_server() {
    stop();
  }

  unsigned short port() const {
    return port_;
  }

  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  std::vector<recorded_request> requests() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return requests_;
  }

  /// Waits until at least `n` requests arrived; false on timeout.
  bool wait_for_requests(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, timeout, [&] { return requests_.size() >= n; });
  }

  /// Most requests being answered at once so far.
  int max_in_flight() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return max_in_flight_;
  }

  /// Stops accepting, unblocks and joins every connection thread.
  void stop() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (stopped_)
        return;
      stopped_ = true;
      for (int fd : open_fds_)
        ::shutdown(fd, SHUT_RDWR);
    }
    cv_.notify_all();
    {
      // Unblocks the accept call.
      asio::io_context io;
      tcp::socket s{io};
      boost::system::error_code ec;
      s.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
    }
    accept_thread_.join();
    std::vector<std::thread> conns;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      conns.swap(conns_);
    }
    for (auto& t : conns)
      t.join();
  }

private:
  void accept_loop() {
    for (;;) {
      tcp::socket sock{ioc_};
      boost::system::error_code ec;
      acceptor_.accept(sock, ec);
      std::lock_guard<std::mutex> guard{mtx_};
      if (stopped_)
        return;
      if (ec)
        continue;
      open_fds_.insert(sock.native_handle());
      auto id = ++connections_;
      conns_.emplace_back([this, id, s = std::move(sock)]() mutable {
        serve(std::move(s), id);
      });
    }
  }

  void serve(tcp::socket sock, int id) {
    int fd = sock.native_handle();
    beast::flat_buffer buf;
    for (;;) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(sock, buf, req, ec);
      if (ec)
        break;
      recorded_request rec;
      rec.method = std::string(req.method_string().data(),
                               req.method_string().size());
      rec.target = std::string(req.target().data(), req.target().size());
      for (auto& f : req)
        rec.headers[lower(std::string(f.name_string().data(),
                                      f.name_string().size()))]
          = std::string(f.value().data(), f.value().size());
      rec.body = req.body();
      rec.connection = id;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        requests_.push_back(rec);
        max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
      }
      cv_.notify_all();
      auto sr = respond_(rec);
      bool stopped = false;
      {
        std::unique_lock<std::mutex> guard{mtx_};
        if (sr.delay.count() > 0)
          cv_.wait_for(guard, sr.delay, [&] { return stopped_; });
        stopped = stopped_;
        --in_flight_;
      }
      if (stopped)
        break;
      http::response<http::string_body> res;
      res.result(sr.status);
      res.version(req.version());
      for (auto& h : sr.headers)
        res.set(h.first, h.second);
      // 1xx, 204 and 304 responses carry no body.
      if (sr.status >= 200 && sr.status != 204 && sr.status != 304)
        res.body() = sr.body;
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(sock, res, ec);
      if (ec || !res.keep_alive())
        break;
    }
    {
      std::lock_guard<std::mutex> guard{mtx_};
      open_fds_.erase(fd);
    }
    boost::system::error_code ec;
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
  }

  responder respond_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::thread accept_thread_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::set<int> open_fds_;
  std::vector<std::thread> conns_;
  std::vector<recorded_request> requests_;
  int connections_ = 0;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
};

/// Answers with the status named in the target: "/status/503" -> 503.
scripted_response status_from_target(const recorded_request& req) {
  scripted_response r;
  auto pos = req.target.rfind('/');
  r.status = static_cast<unsigned>(std::stoi(req.target.substr(pos + 1)));
  r.body = "answer " + std::to_string(r.status);
  return r;
}

/// A loopback port nobody listens on (bound once, then closed).
unsigned short closed_port() {
  asio::io_context io;
  tcp::acceptor a{io, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}};
  auto port = a.local_endpoint().port();
  a.close();
  return port;
}

// -- helpers -----------------------------------------------------------------

std::string to_hex(const unsigned char* data, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 0x0f];
  }
  return out;
}

/// HMAC-SHA256 through OpenSSL's EVP_Q_mac (independent of the code under
/// test, which uses HMAC()).
std::string reference_hmac(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  auto* res = EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr,
                        key.data(), key.size(),
                        reinterpret_cast<const unsigned char*>(data.data()),
                        data.size(), out, sizeof(out), &len);
  if (res == nullptr)
    throw std::runtime_error("EVP_Q_mac failed");
  return to_hex(out, len);
}

/// IMF-fixdate of `t` (seconds since the epoch).
std::string http_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

event make_event(const std::string& id) {
  event ev;
  ev.id = id;
  ev.type = "order.created";
  ev.payload = R"({"order":42,"items":["a","b"],"note":"caf\u00e9"})";
  ev.prio = priority::high;
  ev.created_at = 1700000000123;
  ev.trace_id = "trace-" + id;
  return ev;
}

handler_options options_for(const std::string& url,
                            const std::string& secret = "",
                            millis_t timeout = 5000) {
  handler_options o;
  o.url = url;
  o.secret = secret;
  o.timeout = timeout;
  o.group = "billing";
  return o;
}

/// Runs one asynchronous attempt and waits for its result.
handler_result call(handler& h, const event& ev, uint32_t attempt = 1,
                    std::thread::id* callback_thread = nullptr) {
  auto p = std::make_shared<std::promise<std::pair<handler_result,
                                                   std::thread::id>>>();
  auto f = p->get_future();
  h.handle_async(ev, attempt, [p](handler_result r) {
    p->set_value({std::move(r), std::this_thread::get_id()});
  });
  if (f.wait_for(10s) != std::future_status::ready)
    throw std::runtime_error("webhook call did not complete within 10 s");
  auto res = f.get();
  if (callback_thread != nullptr)
    *callback_thread = res.second;
  return res.first;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

// -- HMAC --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(hmac_matches_rfc4231_vectors) {
  struct vector {
    std::string key;
    std::string data;
    std::string mac;
  };
  std::string key4;
  for (char c = 1; c <= 25; ++c)
    key4 += c;
  std::vector<vector> vectors = {
    {std::string(20, '\x0b'), "Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    {"Jefe", "what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {std::string(20, '\xaa'), std::string(50, '\xdd'),
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
    {key4, std::string(50, '\xcd'),
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
    {std::string(131, '\xaa'),
     "Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    {std::string(131, '\xaa'),
     "This is a test using a larger than block-size key and a larger than "
     "block-size data. The key needs to be hashed before being used by the "
     "HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (auto& v : vectors) {
    BOOST_TEST(hmac_sha256_hex(v.key, v.data) == v.mac);
    BOOST_TEST(reference_hmac(v.key, v.data) == v.mac);
  }
  const std::string empty_mac =
    "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad";
  BOOST_TEST(hmac_sha256_hex("", "") == empty_mac);
  BOOST_TEST(reference_hmac("", "") == empty_mac);
}

// -- success -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(success_sends_body_headers_and_signature) {
  test_server server{[](const recorded_request&) {
    scripted_response r;
    r.status = 200;
    r.body = "ok";
    return r;
  }};
  auto client = std::make_shared<webhook_client>();
  const std::string secret = "s3cret-key";
  webhook_handler h{client, options_for(server.url("/hook?x=1"), secret)};
  BOOST_TEST(h.asynchronous());
  auto ev = make_event("evt-1");
  std::thread::id cb_thread;
  auto r = call(h, ev, 3, &cb_thread);
  BOOST_TEST(static_cast<int>(r.result) == static_cast<int>(outcome::success));
  BOOST_TEST(r.record_effect);
  BOOST_TEST(r.error.empty());
  BOOST_TEST(r.retry_after == 0);
  BOOST_TEST((cb_thread != std::this_thread::get_id()));

  auto reqs = server.requests();
  BOOST_REQUIRE_EQUAL(reqs.size(), 1u);
  auto& req = reqs[0];
  BOOST_TEST(req.method == "POST");
  BOOST_TEST(req.target == "/hook?x=1");
  BOOST_TEST(req.header("content-type") == "application/json");
  BOOST_TEST(req.header("idempotency-key") == "evt-1");
  BOOST_TEST(req.header("x-onceflow-attempt") == "3");
  BOOST_TEST(req.header("x-onceflow-event-type") == "order.created");
  BOOST_TEST(req.header("x-onceflow-group") == "billing");
  BOOST_TEST(!req.has("expect"));
  BOOST_TEST(req.header("x-onceflow-signature")
             == "sha256=" + reference_hmac(secret, req.body));
  BOOST_TEST(req.header("x-onceflow-signature")
             != "sha256=" + reference_hmac("other", req.body));

  auto body = nlohmann::json::parse(req.body);
  BOOST_TEST(body["id"] == "evt-1");
  BOOST_TEST(body["type"] == "order.created");
  BOOST_REQUIRE(body["payload"].is_object());
  BOOST_TEST(body["payload"] == nlohmann::json::parse(ev.payload));
  BOOST_TEST(body["payload"]["order"] == 42);
  BOOST_TEST(body["priority"] == "high");
  BOOST_TEST(body["createdAt"] == 1700000000123LL);
  BOOST_TEST(body["traceId"] == "trace-evt-1");
  BOOST_TEST(body["attempt"] == 3);
  BOOST_TEST(body["group"] == "billing");
  BOOST_TEST(body.size() == 8u);
}

BOOST_AUTO_TEST_CASE(no_secret_means_no_signature_and_any_2xx_succeeds) {
  test_server server{status_from_target};
  auto client = std::make_shared<webhook_client>();
  for (int status : {200, 201, 202, 204}) {
    auto url = server.url("/status/" + std::to_string(status));
    webhook_handler h{client, options_for(url)};
    auto r = call(h, make_event("evt-" + std::to_string(status)));
    BOOST_TEST_INFO("status " << status);
    BOOST_TEST(static_cast<int>(r.result)
               == static_cast<int>(outcome::success));
    BOOST_TEST(r.record_effect);
  }
  auto reqs = server.requests();
  BOOST_REQUIRE_EQUAL(reqs.size(), 4u);
  for (auto& req : reqs)
    BOOST_TEST(!req.has("x-onceflow-signature"));
}

BOOST_AUTO_TEST_CASE(connections_are_reused) {
  test_server server{status_from_target};
  auto client = std::make_shared<webhook_client>();
  webhook_handler h{client, options_for(server.url("/status/200"))};
  for (int i = 0; i < 3; ++i) {
    auto r = call(h, make_event("evt-" + std::to_string(i)));
    BOOST_TEST(static_cast<int>(r.result)
               == static_cast<int>(outcome::success));
  }
  auto reqs = server.requests();
  BOOST_REQUIRE_EQUAL(reqs.size(), 3u);
  BOOST_TEST(reqs[1].connection == reqs[0].connection);
  BOOST_TEST(reqs[2].connection == reqs[0].connection);
}

// -- retryable and permanent statuses ----------------------------------------

BOOST_AUTO_TEST_CASE(server_errors_408_and_429_are_retryable) {
  test_server server{status_from_target};
  auto client = std::make_shared<webhook_client>();
  for (int status : {500, 502, 503, 504, 408, 429}) {
    auto url = server.url("/status/" + std::to_string(status));
    webhook_handler h{client, options_for(url)};
    auto r = call(h, make_event("evt"));
    BOOST_TEST_INFO("status " << status);
    BOOST_TEST(static_cast<int>(r.result)
               == static_cast<int>(outcome::retryable));
    BOOST_TEST(!r.record_effect);
    BOOST_TEST(r.retry_after == 0);
    BOOST_TEST(r.error
               == "webhook POST " + url + ": HTTP " + std::to_string(status)
                    + ": answer " + std::to_string(status));
  }
}

BOOST_AUTO_TEST_CASE(client_errors_and_redirects_are_permanent) {
  test_server server{[](const recorded_request& req) {
    auto r = status_from_target(req);
    if (r.status == 301)
      r.headers.emplace_back("Location", "/elsewhere");
    return r;
  }};
  auto client = std::make_shared<webhook_client>();
  for (int status : {400, 401, 403, 404, 409, 410, 413, 422, 301}) {
    auto url = server.url("/status/" + std::to_string(status));
    webhook_handler h{client, options_for(url)};
    auto r = call(h, make_event("evt"));
    BOOST_TEST_INFO("status " << status);
    BOOST_TEST(static_cast<int>(r.result)
               == static_cast<int>(outcome::permanent));
    BOOST_TEST(!r.record_effect);
    BOOST_TEST(contains(r.error, "HTTP " + std::to_string(status)));
  }
  // The redirect was not followed: one request per status, none elsewhere.
  auto reqs = server.requests();
  BOOST_TEST(reqs.size() == 9u);
  for (auto& req : reqs)
    BOOST_TEST(req.target != "/elsewhere");
}

BOOST_AUTO_TEST_CASE(error_quotes_at_most_200_bytes_of_the_body) {
  test_server server{[](const recorded_request&) {
    scripted_response r;
    r.status = 500;
    r.body = std::string(1000, 'x') + "\r\nend";
    return r;
  }};
  auto client = std::make_shared<webhook_client>();
  auto url = server.url();
  webhook_handler h{client, options_for(url)};
  auto r = call(h, make_event("evt"));
  BOOST_TEST(static_cast<int>(r.result)
             == static_cast<int>(outcome::retryable));
  BOOST_TEST(r.error
             == "webhook POST " + url + ": HTTP 500: " + std::string(200, 'x')
                  + "...");
}

// -- Retry-After -------------------------------------------------------------

BOOST_AUTO_TEST_CASE(retry_after_delta_seconds_and_http_date) {
  const auto in_5s = http_date(std::time(nullptr) + 5);
  test_server server{[&](const recorded_request& req) {
    scripted_response r;
    if (req.target == "/delta") {
      r.status = 503;
      r.headers.emplace_back("Retry-After", "3");
    } else if (req.target == "/date") {
      r.status = 429;
      r.headers.emplace_back("Retry-After", in_5s);
    } else if (req.target == "/garbage") {
      r.status = 503;
      r.headers.emplace_back("Retry-After", "soon");
    } else if (req.target == "/huge") {
      r.status = 503;
      r.headers.emplace_back("Retry-After", "86400");
    } else {
      r.status = 200;
      r.headers.emplace_back("Retry-After", "3");
    }
    return r;
  }};
  auto client = std::make_shared<webhook_client>();
  auto run = [&](const std::string& path) {
    webhook_handler h{client, options_for(server.url(path))};
    return call(h, make_event("evt"));
  };
  auto delta = run("/delta");
  BOOST_TEST(static_cast<int>(delta.result)
             == static_cast<int>(outcome::retryable));
  BOOST_TEST(delta.retry_after == 3000);
  auto date = run("/date");
  BOOST_TEST(static_cast<int>(date.result)
             == static_cast<int>(outcome::retryable));
  BOOST_TEST(date.retry_after >= 2500);
  BOOST_TEST(date.retry_after <= 6000);
  BOOST_TEST(run("/garbage").retry_after == 0);
  BOOST_TEST(run("/huge").retry_after == max_retry_after);
  auto ok = run("/ok");
  BOOST_TEST(static_cast<int>(ok.result) == static_cast<int>(outcome::success));
  BOOST_TEST(ok.retry_after == 0);
}

BOOST_AUTO_TEST_CASE(parse_retry_after_forms) {
  // Sun, 06 Nov 1994 08:49:37 GMT
  const millis_t date = 784111777LL * 1000;
  const millis_t now = date - 10000;
  BOOST_TEST(parse_retry_after("120", now) == 120000);
  BOOST_TEST(parse_retry_after("  7 ", now) == 7000);
  BOOST_TEST(parse_retry_after("0", now) == 0);
  BOOST_TEST(parse_retry_after("3601", now) == max_retry_after);
  BOOST_TEST(parse_retry_after("99999999999999999999", now)
             == max_retry_after);
  BOOST_TEST(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now)
             == 10000);
  BOOST_TEST(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now)
             == 10000);
  BOOST_TEST(parse_retry_after("Sun Nov  6 08:49:37 1994", now) == 10000);
  BOOST_TEST(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date + 5000)
             == 0);
  BOOST_TEST(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT",
                               date - 2 * max_retry_after)
             == max_retry_after);
  BOOST_TEST(parse_retry_after("", now) == 0);
  BOOST_TEST(parse_retry_after("-1", now) == 0);
  BOOST_TEST(parse_retry_after("1.5", now) == 0);
  BOOST_TEST(parse_retry_after("soon", now) == 0);
  BOOST_TEST(parse_retry_after("Xyz, 99 Foo 1994 99:99:99 GMT", now) == 0);
}

// -- transport failures ------------------------------------------------------

BOOST_AUTO_TEST_CASE(slow_receiver_times_out_as_retryable) {
  test_server server{[](const recorded_request&) {
    scripted_response r;
    r.delay = 5000ms;
    return r;
  }};
  auto client = std::make_shared<webhook_client>();
  auto url = server.url();
  webhook_handler h{client, options_for(url, "", 300)};
  auto t0 = std::chrono::steady_clock::now();
  auto r = call(h, make_event("evt"));
  auto took = std::chrono::steady_clock::now() - t0;
  BOOST_TEST(static_cast<int>(r.result)
             == static_cast<int>(outcome::retryable));
  BOOST_TEST(r.error == "webhook POST " + url + ": timeout after 300 ms");
  BOOST_TEST((took >= 250ms));
  BOOST_TEST((took < 3000ms));
  BOOST_TEST(server.requests().size() == 1u);
}

BOOST_AUTO_TEST_CASE(connection_refused_is_retryable) {
  auto port = closed_port();
  auto client = std::make_shared<webhook_client>();
  auto url = "http://127.0.0.1:" + std::to_string(port) + "/x";
  webhook_handler h{client, options_for(url)};
  auto r = call(h, make_event("evt"));
  BOOST_TEST(static_cast<int>(r.result)
             == static_cast<int>(outcome::retryable));
  const auto expected = "webhook POST " + url + ": connection refused (curl: ";
  BOOST_TEST(r.error.rfind(expected, 0) == 0u);
  BOOST_TEST(r.error.back() == ')');
}

BOOST_AUTO_TEST_CASE(unresolvable_host_is_retryable) {
  auto client = std::make_shared<webhook_client>();
  webhook_handler h{client, options_for("http://no-such-host.invalid/x", "",
                                        2000)};
  auto r = call(h, make_event("evt"));
  BOOST_TEST(static_cast<int>(r.result)
             == static_cast<int>(outcome::retryable));
  BOOST_TEST(contains(r.error, "webhook POST http://no-such-host.invalid/x: "));
  BOOST_TEST(!r.error.empty());
}

// -- redaction ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(userinfo_and_secret_never_appear_in_errors) {
  BOOST_TEST(redact_url("https://alice:pw@example.com/a@b")
             == "https://***@example.com/a@b");
  BOOST_TEST(redact_url("http://tok@example.com:8080")
             == "http://***@example.com:8080");
  BOOST_TEST(redact_url("http://example.com/x?u=a@b")
             == "http://example.com/x?***");
  BOOST_TEST(redact_url("https://u:p@example.com/x?token=t0k#frag")
             == "https://***@example.com/x?***#frag");

  auto client = std::make_shared<webhook_client>();
  // Transport error.
  auto port = closed_port();
  webhook_handler refused{client,
                          options_for("http://alice:s3cr3tpw@127.0.0.1:"
                                        + std::to_string(port) + "/x",
                                      "hmac-secret-1")};
  BOOST_TEST(refused.display_url()
             == "http://***@127.0.0.1:" + std::to_string(port) + "/x");
  auto r = call(refused, make_event("evt"));
  BOOST_TEST(static_cast<int>(r.result)
             == static_cast<int>(outcome::retryable));
  BOOST_TEST(contains(r.error, "***@127.0.0.1"));
  BOOST_TEST(!contains(r.error, "s3cr3tpw"));
  BOOST_TEST(!contains(r.error, "alice"));

  // An HTTP error whose body echoes the secret and the password.
  test_server server{[](const recorded_request&) {
    scripted_response s;
    s.status = 401;
    s.body = "bad signature, expected key hmac-secret-1 for s3cr3tpw";
    return s;
  }};
  webhook_handler echoed{client,
                         options_for("http://alice:s3cr3tpw@127.0.0.1:"
                                       + std::to_string(server.port())
                                       + "/hook",
                                     "hmac-secret-1")};
  r = call(echoed, make_event("evt"));
  BOOST_TEST(static_cast<int>(r.result)
             == static_cast<int>(outcome::permanent));
  BOOST_TEST(contains(r.error, "HTTP 401"));
  BOOST_TEST(!contains(r.error, "hmac-secret-1"));
  BOOST_TEST(!contains(r.error, "s3cr3tpw"));
  BOOST_TEST(!contains(r.error, "alice"));
  // The credentials still reached the server as Basic auth.
  auto reqs = server.requests();
  BOOST_REQUIRE_EQUAL(reqs.size(), 1u);
  BOOST_TEST(reqs[0].header("authorization").rfind("Basic ", 0) == 0u);
}

// -- factory and handler contract --------------------------------------------

BOOST_AUTO_TEST_CASE(factory_validates_options) {
  auto client = std::make_shared<webhook_client>();
  handler_registry reg;
  reg.add("webhook", webhook_handler_factory(client));
  BOOST_TEST(reg.contains("webhook"));

  handler_options empty;
  try {
    reg.make("webhook", empty);
    BOOST_FAIL("an empty url must throw");
  } catch (const std::invalid_argument& ex) {
    BOOST_TEST(std::string{ex.what()} == "webhook handler needs option 'url'");
  }
  BOOST_CHECK_THROW(reg.make("webhook", options_for("ftp://example.com/x")),
                    std::invalid_argument);
  BOOST_CHECK_THROW(reg.make("webhook", options_for("example.com/x")),
                    std::invalid_argument);
  BOOST_CHECK_THROW(reg.make("webhook", options_for("http://h/x", "", 0)),
                    std::invalid_argument);
  try {
    reg.make("webhook", options_for("ftp://bob:hunter2@example.com/x"));
    BOOST_FAIL("an ftp url must throw");
  } catch (const std::invalid_argument& ex) {
    BOOST_TEST(!contains(ex.what(), "hunter2"));
  }
  BOOST_CHECK_THROW(webhook_handler_factory(nullptr), std::invalid_argument);

  auto h = reg.make("webhook", options_for("https://example.com/hook"));
  BOOST_REQUIRE(h != nullptr);
  BOOST_TEST(h->asynchronous());
  auto r = h->handle(make_event("evt"), 1);
  BOOST_TEST(static_cast<int>(r.result)
             == static_cast<int>(outcome::retryable));
  BOOST_TEST(r.error == "webhook handler is asynchronous");
}

BOOST_AUTO_TEST_CASE(invalid_payload_is_permanent_without_a_request) {
  test_server server{status_from_target};
  auto client = std::make_shared<webhook_client>();
  webhook_handler h{client, options_for(server.url("/status/200"))};
  auto ev = make_event("evt");
  ev.payload = "{not json";
  auto r = call(h, ev);
  BOOST_TEST(static_cast<int>(r.result)
             == static_cast<int>(outcome::permanent));
  BOOST_TEST(contains(r.error, "payload is not valid JSON"));
  BOOST_TEST(server.requests().empty());
}

// -- concurrency and shutdown ------------------------------------------------

BOOST_AUTO_TEST_CASE(concurrent_submissions_complete_exactly_once) {
  test_server server{[](const recorded_request&) {
    scripted_response r;
    r.status = 200;
    r.delay = 20ms;
    return r;
  }};
  auto client = std::make_shared<webhook_client>();
  auto h = std::make_unique<webhook_handler>(client,
                                             options_for(server.url(), "k"));
  constexpr int threads = 4;
  constexpr int per_thread = 50;
  constexpr int total = threads * per_thread;
  std::mutex mtx;
  std::condition_variable cv;
  std::map<std::string, int> calls;
  std::map<std::string, handler_result> results;
  int done = 0;
  std::vector<std::thread> submitters;
  for (int t = 0; t < threads; ++t)
    submitters.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        auto id = "evt-" + std::to_string(t) + "-" + std::to_string(i);
        h->handle_async(make_event(id), 1, [&, id](handler_result r) {
          std::lock_guard<std::mutex> guard{mtx};
          ++calls[id];
          results[id] = std::move(r);
          ++done;
          cv.notify_all();
        });
      }
    });
  for (auto& t : submitters)
    t.join();
  {
    std::unique_lock<std::mutex> guard{mtx};
    BOOST_REQUIRE(cv.wait_for(guard, 15s, [&] { return done >= total; }));
  }
  // Anything still owed or duplicated shows up once the client is gone (its
  // destructor completes every outstanding call).
  h.reset();
  client.reset();
  std::lock_guard<std::mutex> guard{mtx};
  BOOST_TEST(done == total);
  BOOST_TEST(calls.size() == static_cast<size_t>(total));
  for (auto& kv : calls) {
    BOOST_TEST_INFO(kv.first);
    BOOST_TEST(kv.second == 1);
    BOOST_TEST(static_cast<int>(results[kv.first].result)
               == static_cast<int>(outcome::success));
  }
  std::map<std::string, int> seen;
  for (auto& req : server.requests())
    ++seen[req.header("idempotency-key")];
  BOOST_TEST(seen.size() == static_cast<size_t>(total));
  for (auto& kv : calls)
    BOOST_TEST(seen[kv.first] == 1);
  BOOST_TEST(server.max_in_flight() > 1);
}

BOOST_AUTO_TEST_CASE(concurrency_cap_queues_excess_requests) {
  test_server server{[](const recorded_request&) {
    scripted_response r;
    r.status = 200;
    r.delay = 100ms;
    return r;
  }};
  webhook_client_options opts;
  opts.max_concurrent = 2;
  auto client = std::make_shared<webhook_client>(opts);
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<long> statuses;
  for (int i = 0; i < 8; ++i) {
    webhook_request req;
    req.url = server.url();
    req.body = "{}";
    req.timeout = 5000;
    client->submit(std::move(req), [&](webhook_response resp) {
      std::lock_guard<std::mutex> guard{mtx};
      statuses.push_back(resp.status);
      cv.notify_all();
    });
  }
  BOOST_TEST(client->pending() > 0u);
  {
    std::unique_lock<std::mutex> guard{mtx};
    BOOST_REQUIRE(
      cv.wait_for(guard, 10s, [&] { return statuses.size() >= 8; }));
  }
  BOOST_TEST(client->pending() == 0u);
  std::lock_guard<std::mutex> guard{mtx};
  BOOST_TEST(statuses.size() == 8u);
  for (auto s : statuses)
    BOOST_TEST(s == 200);
  BOOST_TEST(server.max_in_flight() <= 2);
  BOOST_TEST(server.requests().size() == 8u);
}

BOOST_AUTO_TEST_CASE(destroying_the_client_completes_every_callback_once) {
  test_server server{[](const recorded_request&) {
    scripted_response r;
    r.status = 200;
    r.delay = 10000ms;
    return r;
  }};
  webhook_client_options opts;
  opts.max_concurrent = 3;
  auto client = std::make_unique<webhook_client>(opts);
  constexpr int total = 8;
  std::mutex mtx;
  std::vector<int> calls(total, 0);
  std::vector<webhook_response> responses(total);
  for (int i = 0; i < total; ++i) {
    webhook_request req;
    req.url = server.url();
    req.body = "{}";
    req.timeout = 20000;
    client->submit(std::move(req), [&, i](webhook_response resp) {
      std::lock_guard<std::mutex> guard{mtx};
      ++calls[i];
      responses[i] = std::move(resp);
    });
  }
  // Three transfers reach the server; five wait in the queue.
  BOOST_REQUIRE(server.wait_for_requests(3, 5s));
  BOOST_TEST(client->pending() == static_cast<size_t>(total));
  auto t0 = std::chrono::steady_clock::now();
  client.reset();
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 2s));
  std::lock_guard<std::mutex> guard{mtx};
  for (int i = 0; i < total; ++i) {
    BOOST_TEST_INFO("request " << i);
    BOOST_TEST(calls[i] == 1);
    BOOST_TEST(static_cast<int>(responses[i].failure)
               == static_cast<int>(webhook_failure::shutdown));
    BOOST_TEST(responses[i].error == "webhook client shutting down");
  }
  BOOST_TEST(server.requests().size() == 3u);
}

BOOST_AUTO_TEST_CASE(shutdown_reaches_the_handler_as_retryable) {
  test_server server{[](const recorded_request&) {
    scripted_response r;
    r.delay = 10000ms;
    return r;
  }};
  auto client = std::make_shared<webhook_client>();
  auto url = server.url();
  std::promise<handler_result> p;
  auto f = p.get_future();
  {
    webhook_handler h{client, options_for(url, "", 20000)};
    h.handle_async(make_event("evt"), 1,
                   [&p](handler_result r) { p.set_value(std::move(r)); });
  } // the handler goes away before its call completes
  BOOST_REQUIRE(server.wait_for_requests(1, 5s));
  client.reset();
  BOOST_REQUIRE(f.wait_for(0s) == std::future_status::ready);
  auto r = f.get();
  BOOST_TEST(static_cast<int>(r.result)
             == static_cast<int>(outcome::retryable));
  BOOST_TEST(r.error
             == "webhook POST " + url + ": webhook client shutting down");
}

BOOST_AUTO_TEST_CASE(client_released_inside_its_own_callback) {
  test_server server{status_from_target};
  auto client = std::make_shared<webhook_client>();
  std::promise<long> p;
  auto f = p.get_future();
  webhook_request req;
  req.url = server.url("/status/202");
  req.body = "{}";
  // The callback holds the last reference: the client is destroyed on its
  // own worker thread once the callback returns.
  client->submit(std::move(req),
                 [c = client, &p](webhook_response resp) {
                   p.set_value(resp.status);
                 });
  std::weak_ptr<webhook_client> weak = client;
  client.reset();
  BOOST_REQUIRE(f.wait_for(10s) == std::future_status::ready);
  BOOST_TEST(f.get() == 202);
  for (int i = 0; i < 100 && !weak.expired(); ++i)
    std::this_thread::sleep_for(10ms);
  BOOST_TEST(weak.expired());
  // Give the detached worker time to drain and release curl.
  std::this_thread::sleep_for(100ms);
}
