#include "tests/integration/webhook/test_server.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/evp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <future>
#include <memory>
#include <stdexcept>

using namespace std::chrono_literals;

namespace onceflow::test {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string to_hex(const unsigned char* data, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 0x0f];
  }
  return out;
}

} // namespace

// -- test server -------------------------------------------------------------

test_server::test_server(responder r)
  : respond_(std::move(r)),
    acceptor_(ioc_, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}) {
  port_ = acceptor_.local_endpoint().port();
  accept_thread_ = std::thread([this] { accept_loop(); });
}

test_server::~test_server() {
  stop();
}

void test_server::stop() {
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

void test_server::accept_loop() {
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
    conns_.emplace_back(
      [this, id, s = std::move(sock)]() mutable { serve(std::move(s), id); });
  }
}

void test_server::serve(tcp::socket sock, int id) {
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
      rec.headers[lower(
        std::string(f.name_string().data(), f.name_string().size()))]
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

scripted_response status_from_target(const recorded_request& req) {
  scripted_response r;
  auto pos = req.target.rfind('/');
  r.status = static_cast<unsigned>(std::stoi(req.target.substr(pos + 1)));
  r.body = "answer " + std::to_string(r.status);
  return r;
}

unsigned short closed_port() {
  asio::io_context io;
  tcp::acceptor a{io, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}};
  auto port = a.local_endpoint().port();
  a.close();
  return port;
}

std::string reference_hmac(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  auto* res = EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(),
                        key.size(),
                        reinterpret_cast<const unsigned char*>(data.data()),
                        data.size(), out, sizeof(out), &len);
  if (res == nullptr)
    throw std::runtime_error("EVP_Q_mac failed");
  return to_hex(out, len);
}

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

handler_options options_for(const std::string& url, const std::string& secret,
                            millis_t timeout) {
  handler_options o;
  o.url = url;
  o.secret = secret;
  o.timeout = timeout;
  o.group = "billing";
  return o;
}

handler_result call(handler& h, const event& ev, uint32_t attempt,
                    std::thread::id* callback_thread) {
  auto p = std::make_shared<
    std::promise<std::pair<handler_result, std::thread::id>>>();
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

} // namespace onceflow::test
