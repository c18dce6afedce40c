// Unit tests for actors/logic/stats_series.hpp: the dashboard's ring of
// per-second samples and its JSON.
#include "actors/logic/stats_series.hpp"

#include <boost/test/unit_test.hpp>

using namespace onceflow;

namespace {

stats_sample at(millis_t t, uint64_t processed) {
  stats_sample s;
  s.at = t;
  s.accepted = processed + 1;
  s.processed = processed;
  s.retried = 2;
  s.dead = 1;
  s.groups["orders"].processed = processed;
  s.groups["orders"].backlog = 7;
  return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(stats_series_suite)

BOOST_AUTO_TEST_CASE(keeps_the_last_samples_in_order) {
  stats_series xs{3};
  for (millis_t t = 1000; t <= 5000; t += 1000)
    xs.add(at(t, static_cast<uint64_t>(t / 100)));
  BOOST_CHECK_EQUAL(xs.size(), 3u);
  auto doc = xs.to_json(0, 1000);
  BOOST_CHECK_EQUAL(doc["intervalMs"], 1000);
  auto& s = doc["samples"];
  BOOST_REQUIRE_EQUAL(s.size(), 3u);
  BOOST_CHECK_EQUAL(s[0]["at"], 3000);
  BOOST_CHECK_EQUAL(s[2]["at"], 5000);
  BOOST_CHECK_EQUAL(s[2]["processed"], 50);
  BOOST_CHECK_EQUAL(s[2]["failed"], 3); // retried + dead
  BOOST_CHECK_EQUAL(s[2]["groups"]["orders"]["backlog"], 7);
  // A gauge nobody answered is null.
  BOOST_CHECK(s[2]["groups"]["orders"]["inFlight"].is_null());
}

BOOST_AUTO_TEST_CASE(since_gives_only_later_samples) {
  stats_series xs;
  xs.add(at(1000, 1));
  xs.add(at(2000, 2));
  xs.add(at(3000, 3));
  auto s = xs.to_json(2000, 1000)["samples"];
  BOOST_REQUIRE_EQUAL(s.size(), 1u);
  BOOST_CHECK_EQUAL(s[0]["at"], 3000);
  BOOST_CHECK(xs.to_json(3000, 1000)["samples"].empty());
}

BOOST_AUTO_TEST_CASE(
  a_late_sample_is_dropped_and_one_at_the_same_time_replaces) {
  stats_series xs;
  xs.add(at(2000, 2));
  xs.add(at(1000, 1)); // its gauges came back after the next sample's
  BOOST_CHECK_EQUAL(xs.size(), 1u);
  xs.add(at(2000, 5));
  BOOST_CHECK_EQUAL(xs.size(), 1u);
  BOOST_CHECK_EQUAL(xs.to_json(0, 1000)["samples"][0]["processed"], 5);
}

BOOST_AUTO_TEST_SUITE_END()
