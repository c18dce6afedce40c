// What a webhook call sends: HMAC-SHA256 signatures (RFC 4231 vectors),
// body and headers, connection reuse, credentials and secrets kept out of
// errors; options the factory refuses and payloads never sent.

#include "actors/handlers.hpp"
#include "tests/integration/webhook/test_server.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

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
  const std::string empty_mac
    = "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad";
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
  webhook_handler refused{client, options_for("http://alice:s3cr3tpw@127.0.0.1:"
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
  webhook_handler echoed{client, options_for("http://alice:s3cr3tpw@127.0.0.1:"
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

  // The registry's check at start names what the factory refused.
  group_config g;
  g.name = "hooks";
  g.handler = "webhook";
  BOOST_TEST(reg.check(g)
             == "handler \"webhook\" of group 'hooks' could not be created: "
                "webhook handler needs option 'url'");
  for (auto bad :
       {options_for("ftp://example.com/x"), options_for("example.com/x"),
        options_for("http://h/x", "", 0)}) {
    g.options = bad;
    BOOST_TEST(!reg.check(g).empty());
    // Made at run time anyway, it fails each event retryably (never lost).
    auto h = reg.make("webhook", bad);
    BOOST_REQUIRE(h != nullptr);
    auto r = h->handle(event{}, 1);
    BOOST_TEST((r.result == outcome::retryable));
    BOOST_TEST(r.error.find("could not be created") != std::string::npos);
  }
  g.options = options_for("ftp://bob:hunter2@example.com/x");
  BOOST_TEST(!contains(reg.check(g), "hunter2"));
  BOOST_TEST(!contains(reg.make("webhook", g.options)->handle(event{}, 1).error,
                       "hunter2"));
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
