#pragma once

// The webhook handler and client against a real HTTP server on loopback:
// `test_server` is a small synchronous Boost.Beast server (one thread per
// connection, keep-alive) that answers from a scripted function and
// records every request. Plus the helpers the webhook test files share.

#include "adapters/webhook/webhook_client.hpp"
#include "adapters/webhook/webhook_handler.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace onceflow::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

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

class test_server {
public:
  /// Called concurrently from the connection threads.
  using responder = std::function<scripted_response(const recorded_request&)>;

  explicit test_server(responder r);

  ~test_server();

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
  void stop();

private:
  void accept_loop();

  void serve(tcp::socket sock, int id);

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
scripted_response status_from_target(const recorded_request& req);

/// A loopback port nobody listens on (bound once, then closed).
unsigned short closed_port();

// -- helpers -----------------------------------------------------------------

/// HMAC-SHA256 through OpenSSL's EVP_Q_mac (independent of the code under
/// test, which uses HMAC()).
std::string reference_hmac(const std::string& key, const std::string& data);

/// IMF-fixdate of `t` (seconds since the epoch).
std::string http_date(std::time_t t);

/// An order.created event of high priority with a JSON object payload.
event make_event(const std::string& id);

/// Options of a webhook handler of group "billing".
handler_options options_for(const std::string& url,
                            const std::string& secret = "",
                            millis_t timeout = 5000);

/// Runs one asynchronous attempt and waits for its result.
handler_result call(handler& h, const event& ev, uint32_t attempt = 1,
                    std::thread::id* callback_thread = nullptr);

bool contains(const std::string& text, const std::string& part);

} // namespace onceflow::test
