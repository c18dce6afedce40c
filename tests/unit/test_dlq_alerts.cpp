// Unit tests for actors/logic/dlq_alerts.hpp: DLQ alert calls batched over a
// window, at most one per interval, capped with a count of what was left
// out, retried with doubling waits, then given up; in simulated time.
#include "actors/logic/dlq_alerts.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using namespace onceflow;

namespace {

std::vector<alert_entry> entries(int first, int n) {
  std::vector<alert_entry> xs;
  for (int i = first; i < first + n; ++i) {
    alert_entry e;
    e.event_id = "e" + std::to_string(i);
    e.group = "g";
    e.type = "t";
    e.reason = "permanent_error";
    e.error = "down";
    e.attempts = 1;
    e.dead_at = i;
    xs.push_back(e);
  }
  return xs;
}

std::vector<std::string> ids(const alert_call& c) {
  std::vector<std::string> out;
  for (auto& e : c.entries)
    out.push_back(e.event_id);
  return out;
}

alert_limits limits(millis_t window, millis_t interval, size_t cap,
                    uint32_t retries = 3) {
  alert_limits l;
  l.window = window;
  l.min_interval = interval;
  l.max_entries = cap;
  l.retries = retries;
  return l;
}

} // namespace

BOOST_AUTO_TEST_SUITE(dlq_alerts_suite)

BOOST_AUTO_TEST_CASE(nothing_to_say_nothing_to_send) {
  dlq_alerts a{limits(100, 1000, 10)};
  BOOST_TEST(a.next_at() == -1);
  BOOST_TEST(!a.take(0));
  BOOST_TEST(!a.take(1000000));
  a.add({}, 5);
  BOOST_TEST(a.next_at() == -1);
}

BOOST_AUTO_TEST_CASE(dead_letters_are_batched_over_the_window) {
  dlq_alerts a{limits(5000, 60000, 100)};
  a.add(entries(0, 1), 1000);
  BOOST_TEST(a.next_at() == 6000);
  BOOST_TEST(!a.take(5999));
  a.add(entries(1, 2), 4000);
  BOOST_TEST(a.next_at() == 6000); // the window runs from the first one
  auto c = a.take(6000);
  BOOST_REQUIRE(c);
  BOOST_TEST(c->id == 1u);
  BOOST_TEST(c->attempt == 1u);
  BOOST_TEST(c->dropped == 0u);
  BOOST_TEST(ids(*c) == (std::vector<std::string>{"e0", "e1", "e2"}),
             boost::test_tools::per_element());
  BOOST_TEST(a.in_flight());
  BOOST_TEST(a.next_at() == -1);
  BOOST_TEST(!a.take(100000)); // one call at a time
  a.done(true, 6100);
  BOOST_TEST(!a.in_flight());
  BOOST_TEST(a.delivered_calls() == 1u);
  BOOST_TEST(a.delivered_entries() == 3u);
  BOOST_TEST(a.next_at() == -1);
}

BOOST_AUTO_TEST_CASE(at_most_one_call_per_interval) {
  dlq_alerts a{limits(1000, 60000, 100)};
  a.add(entries(0, 1), 0);
  auto c1 = a.take(1000);
  BOOST_REQUIRE(c1);
  // Arrives while the first call is in flight: the next call.
  a.add(entries(1, 1), 1200);
  a.done(true, 1500);
  a.add(entries(2, 1), 30000);
  // The window has passed long before, the interval has not.
  BOOST_TEST(a.next_at() == 61000);
  BOOST_TEST(!a.take(60999));
  auto c2 = a.take(61000);
  BOOST_REQUIRE(c2);
  BOOST_TEST(c2->id == 2u);
  BOOST_TEST(ids(*c2) == (std::vector<std::string>{"e1", "e2"}),
             boost::test_tools::per_element());
  a.done(true, 61010);
  // Quiet for long: the next one waits only its window.
  a.add(entries(3, 1), 500000);
  BOOST_TEST(a.next_at() == 501000);
}

BOOST_AUTO_TEST_CASE(entries_beyond_the_cap_are_counted) {
  dlq_alerts a{limits(100, 1000, 3)};
  a.add(entries(0, 5), 0);
  a.add(entries(5, 2), 50);
  auto c = a.take(100);
  BOOST_REQUIRE(c);
  BOOST_TEST(ids(*c) == (std::vector<std::string>{"e0", "e1", "e2"}),
             boost::test_tools::per_element());
  BOOST_TEST(c->dropped == 4u);
  BOOST_TEST(a.dropped_total() == 4u);
  // Meanwhile: capped again, counted for the call after.
  a.add(entries(7, 4), 200);
  a.done(true, 300);
  auto c2 = a.take(1100);
  BOOST_REQUIRE(c2);
  BOOST_TEST(c2->entries.size() == 3u);
  BOOST_TEST(c2->dropped == 1u);
  BOOST_TEST(a.dropped_total() == 5u);
}

BOOST_AUTO_TEST_CASE(failed_calls_are_retried_then_reported_as_dropped) {
  dlq_alerts a{limits(100, 1000, 10, 2)};
  a.add(entries(0, 2), 0);
  auto c = a.take(100);
  BOOST_REQUIRE(c);
  a.add(entries(2, 1), 150); // for the next call, not the retries
  a.done(false, 200);
  BOOST_TEST(!a.in_flight());
  BOOST_TEST(a.next_at() == 1200); // 1 s later
  BOOST_TEST(!a.take(1199));
  auto r1 = a.take(1200);
  BOOST_REQUIRE(r1);
  BOOST_TEST(r1->id == 1u);
  BOOST_TEST(r1->attempt == 2u);
  BOOST_TEST(ids(*r1) == ids(*c), boost::test_tools::per_element());
  a.done(false, 1300);
  BOOST_TEST(a.next_at() == 3300); // 2 s later
  auto r2 = a.take(3300);
  BOOST_REQUIRE(r2);
  BOOST_TEST(r2->attempt == 3u);
  a.done(false, 3400);
  // Two retries failed: given up; the next call says two were lost.
  BOOST_TEST(a.failed_attempts() == 3u);
  BOOST_TEST(a.given_up_calls() == 1u);
  // e2 has waited since 150 and the interval since the call's start (100)
  // has passed: due at once.
  BOOST_TEST(a.next_at() == 1100);
  auto next = a.take(3400);
  BOOST_REQUIRE(next);
  BOOST_TEST(next->id == 2u);
  BOOST_TEST(next->attempt == 1u);
  BOOST_TEST(ids(*next) == (std::vector<std::string>{"e2"}),
             boost::test_tools::per_element());
  BOOST_TEST(next->dropped == 2u);
  BOOST_TEST(a.dropped_total() == 2u);
  a.done(true, 3600);
  BOOST_TEST(a.delivered_entries() == 1u);
  // A lost call with nothing new still gets reported.
  dlq_alerts b{limits(100, 1000, 10, 0)};
  b.add(entries(0, 3), 0);
  BOOST_REQUIRE(b.take(100));
  b.done(false, 150);
  auto report = b.take(b.next_at());
  BOOST_REQUIRE(report);
  BOOST_TEST(report->entries.empty());
  BOOST_TEST(report->dropped == 3u);
  BOOST_TEST(b.next_at() == -1);
}

// A dead letter every 100 ms for 10 minutes: calls start at least the
// interval apart, and every dead letter is listed once or counted as
// dropped (never both, never neither).
BOOST_AUTO_TEST_CASE(a_steady_stream_is_rate_limited_and_accounted) {
  dlq_alerts a{limits(2000, 30000, 50)};
  std::vector<millis_t> starts;
  uint64_t listed = 0;
  uint64_t dropped = 0;
  int added = 0;
  for (millis_t now = 0; now <= 600000; now += 100) {
    a.add(entries(added++, 1), now);
    if (auto c = a.take(now)) {
      starts.push_back(now);
      listed += c->entries.size();
      dropped += c->dropped;
      a.done(true, now + 50);
    }
  }
  for (size_t i = 1; i < starts.size(); ++i)
    BOOST_TEST(starts[i] - starts[i - 1] >= 30000);
  BOOST_TEST(starts.size() >= 19u);
  BOOST_TEST(starts.size() <= 21u);
  // Listed, dropped (reported, or counted for the next call) or waiting.
  BOOST_TEST(listed + a.dropped_total() + a.pending()
             == static_cast<uint64_t>(added));
  BOOST_TEST(dropped <= a.dropped_total());
  BOOST_TEST(dropped > 0u); // 300 a window, 50 listed per call
  BOOST_TEST(listed == a.delivered_entries());
}

BOOST_AUTO_TEST_CASE(body_carries_every_field) {
  alert_call c;
  c.id = 7;
  c.attempt = 2;
  c.entries = entries(0, 2);
  c.entries[1].error = "bad \xff bytes";
  c.dropped = 3;
  auto doc = nlohmann::json::parse(alert_body(c, "node-1", 12345));
  BOOST_TEST(doc["alert"] == "dlq");
  BOOST_TEST(doc["node"] == "node-1");
  BOOST_TEST(doc["alertId"] == 7);
  BOOST_TEST(doc["attempt"] == 2);
  BOOST_TEST(doc["count"] == 2);
  BOOST_TEST(doc["dropped"] == 3);
  BOOST_TEST(doc["sentAt"] == 12345);
  BOOST_REQUIRE(doc["entries"].size() == 2u);
  auto& e = doc["entries"][0];
  BOOST_TEST(e["eventId"] == "e0");
  BOOST_TEST(e["group"] == "g");
  BOOST_TEST(e["type"] == "t");
  BOOST_TEST(e["reason"] == "permanent_error");
  BOOST_TEST(e["error"] == "down");
  BOOST_TEST(e["attempts"] == 1);
  BOOST_TEST(e["deadAt"] == 0);
  BOOST_TEST(doc["entries"][1]["error"].get<std::string>().rfind("bad ", 0)
             == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
