// Webhook calls at once and at shutdown: concurrent submissions complete
// exactly once, the concurrency cap queues the rest, and destroying the
// client completes every outstanding callback once, also from inside one.

#include "tests/integration/webhook/test_server.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

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
  client->submit(std::move(req), [c = client, &p](webhook_response resp) {
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
