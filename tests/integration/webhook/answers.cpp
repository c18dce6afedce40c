// How a webhook call's answer is classified: every status class, the body
// quoted in errors, Retry-After in both forms, and transport failures
// (timeouts, refused connections, unresolvable hosts).

#include "tests/integration/webhook/test_server.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <ctime>
#include <string>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

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
  BOOST_TEST(parse_retry_after("99999999999999999999", now) == max_retry_after);
  BOOST_TEST(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now) == 10000);
  BOOST_TEST(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now) == 10000);
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
  webhook_handler h{client,
                    options_for("http://no-such-host.invalid/x", "", 2000)};
  auto r = call(h, make_event("evt"));
  BOOST_TEST(static_cast<int>(r.result)
             == static_cast<int>(outcome::retryable));
  BOOST_TEST(contains(r.error, "webhook POST http://no-such-host.invalid/x: "));
  BOOST_TEST(!r.error.empty());
}
