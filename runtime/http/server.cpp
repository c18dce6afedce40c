#include "runtime/http/server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace onceflow::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

/// Idle keep-alive connections and slow senders are closed after this.
constexpr auto read_timeout = std::chrono::seconds(60);
constexpr auto write_timeout = std::chrono::seconds(30);

class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket&& socket, std::shared_ptr<api> routes, size_t max_body)
    : stream_(std::move(socket)),
      routes_(std::move(routes)),
      max_body_(max_body) {
    // nop
  }

  void start() {
    asio::dispatch(stream_.get_executor(),
                   [self = shared_from_this()] { self->read(); });
  }

  void close() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      self->stream_.close();
    });
  }

private:
  void read() {
    parser_.emplace();
    parser_->body_limit(max_body_);
    parser_->header_limit(16 * 1024);
    stream_.expires_after(read_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec,
                                                         size_t) {
                               self->on_header(ec);
                             });
  }

  /// Answers `Expect: 100-continue` before the body is read (RFC 9110,
  /// 10.1.1), then reads the rest of the request.
  void on_header(beast::error_code ec) {
    if (ec) {
      on_read(ec);
      return;
    }
    auto& req = parser_->get();
    auto expect = req[bhttp::field::expect];
    if (beast::iequals(expect, "100-continue") && !parser_->is_done()) {
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(
        bhttp::status::continue_, req.version());
      bhttp::async_write(stream_, *cont,
                         [self = shared_from_this(), cont](beast::error_code ec,
                                                           size_t) {
                           if (ec) {
                             self->shutdown();
                             return;
                           }
                           self->read_body();
                         });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](
                        beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof
        || ec == beast::error::timeout || ec == asio::error::operation_aborted
        || ec == asio::error::connection_reset) {
      shutdown();
      return;
    }
    if (ec == bhttp::error::body_limit) {
      keep_alive_ = false;
      reply(routes_->error_response(413,
                                    "request body over the limit of "
                                      + std::to_string(max_body_) + " bytes",
                                    "body"));
      return;
    }
    if (ec == bhttp::error::partial_message) {
      // The peer stopped sending before the end of the body; it may still
      // read the answer (a half-closed socket).
      keep_alive_ = false;
      reply(routes_->error_response(
        400, "request body ends before its declared length", "body"));
      return;
    }
    if (ec) {
      keep_alive_ = false;
      reply(routes_->error_response(400,
                                    "malformed HTTP request: " + ec.message()));
      return;
    }
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    request r;
    r.method = std::string{req.method_string()};
    r.target = std::string{req.target()};
    r.content_type = std::string{req[bhttp::field::content_type]};
    r.authorization = std::string{req[bhttp::field::authorization]};
    r.idempotency_key = std::string{req["Idempotency-Key"]};
    r.body = std::move(req.body());
    routes_->handle(std::move(r), [self = shared_from_this()](response res) {
      asio::post(self->stream_.get_executor(),
                 [self, res = std::move(res)]() mutable {
                   self->reply(std::move(res));
                 });
    });
  }

  void reply(response res) {
    auto msg = std::make_shared<bhttp::response<bhttp::string_body>>(
      static_cast<bhttp::status>(res.status), version_);
    msg->set(bhttp::field::server, "onceflow");
    msg->set(bhttp::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers)
      msg->set(k, v);
    msg->keep_alive(keep_alive_);
    msg->body() = std::move(res.body);
    msg->prepare_payload();
    stream_.expires_after(write_timeout);
    bhttp::async_write(stream_, *msg,
                       [self = shared_from_this(), msg](beast::error_code ec,
                                                        size_t) {
                         if (ec || !self->keep_alive_) {
                           self->shutdown();
                           return;
                         }
                         self->read();
                       });
  }

  void shutdown() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<api> routes_;
  size_t max_body_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

} // namespace

struct server::impl {
  asio::io_context ioc;
  /// The acceptor lives on its own strand: with several threads, its
  /// completion and the close at stop never run at the same time.
  tcp::acceptor acceptor{asio::make_strand(ioc)};
  uint16_t bound_port = 0;
  std::shared_ptr<api> routes;
  size_t max_body = 0;
  std::vector<std::thread> threads;
  std::mutex mtx;
  std::vector<std::weak_ptr<session>> sessions;
  std::atomic<bool> stopped{false};

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec,
                                                         tcp::socket socket) {
      if (stopped)
        return;
      if (!ec) {
        beast::error_code ignored;
        socket.set_option(tcp::no_delay{true}, ignored);
        auto s = std::make_shared<session>(std::move(socket), routes, max_body);
        {
          std::lock_guard<std::mutex> guard{mtx};
          // Drop handles of finished sessions now and then.
          if (sessions.size() > 1024)
            sessions.erase(std::remove_if(sessions.begin(), sessions.end(),
                                          [](auto& w) { return w.expired(); }),
                           sessions.end());
          sessions.push_back(s);
        }
        s->start();
      } else if (ec != asio::error::operation_aborted) {
        spdlog::warn("http: accept failed: {}", ec.message());
      }
      accept();
    });
  }
};

server::server(const std::string& host, uint16_t port, size_t max_body_bytes,
               uint32_t threads, std::shared_ptr<api> routes)
  : impl_(std::make_unique<impl>()) {
  impl_->routes = std::move(routes);
  impl_->max_body = max_body_bytes;
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec)
    throw std::runtime_error("http.host '" + host
                             + "' is not an IP address: " + ec.message());
  tcp::endpoint ep{addr, port};
  auto& acc = impl_->acceptor;
  auto where = host + ":" + std::to_string(port);
  acc.open(ep.protocol(), ec);
  if (!ec)
    acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec)
    acc.bind(ep, ec);
  if (!ec)
    acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
  // Read once here, before any thread runs the acceptor.
  impl_->bound_port = acc.local_endpoint(ec).port();
  impl_->accept();
  for (uint32_t i = 0; i < threads; ++i)
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
}

server::~server() {
  stop();
}

uint16_t server::port() const {
  return impl_->bound_port;
}

void server::stop() {
  if (impl_->stopped.exchange(true))
    return;
  asio::post(impl_->acceptor.get_executor(), [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    for (auto& w : impl_->sessions)
      if (auto s = w.lock())
        s->close();
  }
  // Let pending writes finish briefly, then stop the loop.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    bool any = false;
    {
      std::lock_guard<std::mutex> guard{impl_->mtx};
      for (auto& w : impl_->sessions)
        if (!w.expired())
          any = true;
    }
    if (!any)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  impl_->ioc.stop();
  for (auto& t : impl_->threads)
    if (t.joinable())
      t.join();
}

} // namespace onceflow::http
