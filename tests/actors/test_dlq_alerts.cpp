// Deterministic actor tests of the DLQ alerter (`[alerts]`): dead letters of
// the whole node reach the alert sink batched over the window, at most one
// call per interval, retried after a failure with the same id, and the DLQ
// actor never waits for a call. The sink is scripted: the test completes
// each call by hand, as the webhook client would from its thread.

#include "tests/actors/fixture.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

namespace {

/// Records every call; the test completes them.
struct scripted_sink : alert_sink {
  struct call {
    std::string key;
    nlohmann::json body;
    alert_callback done;
  };
  std::vector<call> calls;

  void send(std::string key, std::string body, alert_callback done) override {
    calls.push_back(
      {std::move(key), nlohmann::json::parse(body), std::move(done)});
  }

  std::string describe() const override {
    return "scripted";
  }
};

struct alert_fixture : fixture {
  std::shared_ptr<scripted_sink> sink = std::make_shared<scripted_sink>();

  alert_fixture() {
    add_group("g", 1, [](const event&, uint32_t, size_t) {
      return fail(outcome::permanent, "down");
    });
    ncfg.alerts.dlq.window = 500;
    ncfg.alerts.dlq.min_interval = 10000;
    ncfg.alerts.dlq.max_entries = 3;
    ncfg.alerts.dlq.retries = 2;
    n = start_node(
      sys, ncfg, st, false, [] { return 1.0; }, &handlers, {}, sink);
    run();
  }

  void kill(int first, int count) {
    std::vector<event> evs;
    for (int i = first; i < first + count; ++i)
      evs.push_back(make_event("e" + std::to_string(i), "t"));
    publish(evs);
  }

  /// Completes the last call: "" delivered, else failed with that error.
  void complete(const std::string& error) {
    BOOST_REQUIRE(!sink->calls.empty());
    sink->calls.back().done(error);
    run();
  }

  std::vector<std::string> ids(const nlohmann::json& body) {
    std::vector<std::string> out;
    for (auto& e : body["entries"])
      out.push_back(e["eventId"].get<std::string>());
    return out;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(dlq_alerts, alert_fixture)

BOOST_AUTO_TEST_CASE(dead_letters_are_alerted_in_batches) {
  kill(0, 2);
  BOOST_CHECK(sink->calls.empty()); // the window runs
  advance(499ms);
  BOOST_CHECK(sink->calls.empty());
  kill(2, 3); // five in the window; three listed, two counted
  advance(1ms);
  BOOST_REQUIRE_EQUAL(sink->calls.size(), 1u);
  auto& c = sink->calls[0];
  BOOST_CHECK_EQUAL(c.key, "node-1-1");
  BOOST_CHECK_EQUAL(c.body["alert"], "dlq");
  BOOST_CHECK_EQUAL(c.body["node"], "node-1");
  BOOST_CHECK_EQUAL(c.body["alertId"], 1);
  BOOST_CHECK_EQUAL(c.body["count"], 3);
  BOOST_CHECK_EQUAL(c.body["dropped"], 2);
  BOOST_CHECK((ids(c.body) == std::vector<std::string>{"e0", "e1", "e2"}));
  auto& e = c.body["entries"][0];
  BOOST_CHECK_EQUAL(e["group"], "g");
  BOOST_CHECK_EQUAL(e["type"], "t");
  BOOST_CHECK_EQUAL(e["reason"], "permanent_error");
  BOOST_CHECK_EQUAL(e["error"], "down");
  BOOST_CHECK_EQUAL(e["attempts"], 1);
  // The DLQ actor answers while the call is open.
  auto page = ask<dlq_page>(*this, n.dlq, atom::list_v, dlq_query{"", 0, 10});
  BOOST_CHECK_EQUAL(page.entries.size(), 5u);
  complete("");
  // More dead letters: the next call waits for the interval.
  kill(5, 1);
  advance_in_steps(9400ms, 100ms);
  BOOST_CHECK_EQUAL(sink->calls.size(), 1u);
  advance_in_steps(600ms, 100ms);
  BOOST_REQUIRE_EQUAL(sink->calls.size(), 2u);
  BOOST_CHECK_EQUAL(sink->calls[1].key, "node-1-2");
  BOOST_CHECK((ids(sink->calls[1].body) == std::vector<std::string>{"e5"}));
  BOOST_CHECK_EQUAL(sink->calls[1].body["dropped"], 0);
  complete("");
  auto s = ask<caf::settings>(*this, n.alerter, atom::status_v);
  BOOST_CHECK_EQUAL(num(s, "alerts.delivered-calls"), 2);
  BOOST_CHECK_EQUAL(num(s, "alerts.delivered-entries"), 4);
  BOOST_CHECK_EQUAL(num(s, "alerts.dropped-entries"), 2);
}

BOOST_AUTO_TEST_CASE(failed_calls_are_retried_then_given_up) {
  kill(0, 1);
  advance(500ms);
  BOOST_REQUIRE_EQUAL(sink->calls.size(), 1u);
  complete("HTTP 503: busy");
  advance(999ms);
  BOOST_CHECK_EQUAL(sink->calls.size(), 1u);
  advance(1ms); // first retry after 1 s, same id
  BOOST_REQUIRE_EQUAL(sink->calls.size(), 2u);
  BOOST_CHECK_EQUAL(sink->calls[1].key, "node-1-1");
  BOOST_CHECK_EQUAL(sink->calls[1].body["attempt"], 2);
  kill(1, 1); // for the next call
  complete("timeout");
  advance(2000ms); // second retry after 2 s
  BOOST_REQUIRE_EQUAL(sink->calls.size(), 3u);
  BOOST_CHECK_EQUAL(sink->calls[2].body["attempt"], 3);
  BOOST_CHECK((ids(sink->calls[2].body) == std::vector<std::string>{"e0"}));
  complete("refused");
  // Given up: the next call (after the interval) lists e1 and says e0 was
  // dropped.
  advance_in_steps(10000ms, 100ms);
  BOOST_REQUIRE_EQUAL(sink->calls.size(), 4u);
  BOOST_CHECK_EQUAL(sink->calls[3].key, "node-1-2");
  BOOST_CHECK((ids(sink->calls[3].body) == std::vector<std::string>{"e1"}));
  BOOST_CHECK_EQUAL(sink->calls[3].body["dropped"], 1);
  complete("");
  auto s = ask<caf::settings>(*this, n.alerter, atom::status_v);
  BOOST_CHECK_EQUAL(num(s, "alerts.failed-attempts"), 3);
  BOOST_CHECK_EQUAL(num(s, "alerts.given-up-calls"), 1);
  BOOST_CHECK_EQUAL(num(s, "alerts.delivered-calls"), 1);
}

BOOST_AUTO_TEST_SUITE_END()

// Without a sink there is no alerter.
BOOST_FIXTURE_TEST_CASE(no_alerter_without_a_sink, fixture) {
  add_group("g", 1, always_ok());
  start();
  BOOST_CHECK(!n.alerter);
}
