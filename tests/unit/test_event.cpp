// Unit tests for actors/logic/event.hpp: UUIDv4 generation, enum names and
// their parse round trips, and the defaults of the event model.
#include "actors/logic/event.hpp"
#include "tests/support/print.hpp"

#include <boost/test/unit_test.hpp>

#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace onceflow;

namespace {

// Canonical RFC 4122 text form, version 4, variant 10xx, lower-case hex.
const std::regex uuid_v4_re{
  "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"};

} // namespace

BOOST_AUTO_TEST_SUITE(event_model)

BOOST_AUTO_TEST_CASE(uuid_v4_format) {
  for (int i = 0; i < 2000; ++i) {
    auto id = make_uuid_v4();
    BOOST_TEST_CONTEXT("uuid " << id) {
      BOOST_TEST(id.size() == 36u);
      BOOST_TEST(std::regex_match(id, uuid_v4_re));
    }
  }
}

BOOST_AUTO_TEST_CASE(uuid_v7_format_time_and_order) {
  const std::regex v7{
    "^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"};
  // 1795478400000 ms (2026-11-24T00:00:00Z) = 0x01a2_0ada_2c00.
  auto id = make_uuid_v7(1795478400000);
  BOOST_TEST(std::regex_match(id, v7), id);
  BOOST_TEST(id.substr(0, 13) == "01a20ada-2c00", id);
  // Later milliseconds sort after earlier ones, as text too.
  std::string prev;
  for (millis_t t = 1795478400000; t < 1795478400000 + 300; ++t) {
    auto x = make_uuid_v7(t);
    BOOST_TEST(std::regex_match(x, v7), x);
    BOOST_TEST(x > prev, x << " after " << prev);
    prev = x;
  }
  // The current-time overload is a v7 too, and ids of one ms differ.
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i)
    ids.insert(make_uuid_v7());
  BOOST_TEST(ids.size() == 1000u);
  BOOST_TEST(std::regex_match(*ids.begin(), v7));
}

BOOST_AUTO_TEST_CASE(uuid_v4_is_unique) {
  std::set<std::string> ids;
  for (int i = 0; i < 20000; ++i)
    ids.insert(make_uuid_v4());
  BOOST_TEST(ids.size() == 20000u);
}

BOOST_AUTO_TEST_CASE(uuid_v4_random_bits_vary) {
  // Every hex position that is not fixed by the version or the variant takes
  // more than one value across many samples.
  std::vector<std::set<char>> seen(36);
  for (int i = 0; i < 2000; ++i) {
    auto id = make_uuid_v4();
    BOOST_REQUIRE(id.size() == 36u);
    for (size_t j = 0; j < 36; ++j)
      seen[j].insert(id[j]);
  }
  for (size_t j = 0; j < 36; ++j) {
    BOOST_TEST_CONTEXT("position " << j) {
      if (j == 8 || j == 13 || j == 18 || j == 23)
        BOOST_TEST(seen[j] == std::set<char>{'-'});
      else if (j == 14)
        BOOST_TEST(seen[j] == std::set<char>{'4'});
      else if (j == 19)
        BOOST_TEST(seen[j].size() == 4u); // 8, 9, a, b
      else
        BOOST_TEST(seen[j].size() > 8u);
    }
  }
}

BOOST_AUTO_TEST_CASE(uuid_v4_unique_across_threads) {
  std::vector<std::vector<std::string>> out(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < out.size(); ++t)
    threads.emplace_back([&out, t] {
      for (int i = 0; i < 2000; ++i)
        out[t].push_back(make_uuid_v4());
    });
  for (auto& th : threads)
    th.join();
  std::set<std::string> all;
  for (auto& v : out)
    for (auto& id : v) {
      BOOST_TEST(std::regex_match(id, uuid_v4_re));
      all.insert(id);
    }
  BOOST_TEST(all.size() == 8000u);
}

BOOST_AUTO_TEST_CASE(priority_names) {
  BOOST_TEST(std::string{to_string(priority::high)} == "high");
  BOOST_TEST(std::string{to_string(priority::normal)} == "normal");
  BOOST_TEST(std::string{to_string(priority::low)} == "low");
}

BOOST_AUTO_TEST_CASE(priority_round_trip) {
  for (auto p : {priority::high, priority::normal, priority::low}) {
    priority out = p == priority::low ? priority::high : priority::low;
    BOOST_TEST_CONTEXT(to_string(p)) {
      BOOST_TEST(parse_priority(to_string(p), out));
      BOOST_TEST(static_cast<int>(out) == static_cast<int>(p));
    }
  }
}

BOOST_AUTO_TEST_CASE(priority_order_high_normal_low) {
  BOOST_TEST(static_cast<int>(priority::high)
             < static_cast<int>(priority::normal));
  BOOST_TEST(static_cast<int>(priority::normal)
             < static_cast<int>(priority::low));
}

BOOST_AUTO_TEST_CASE(priority_parse_rejects_anything_else) {
  for (std::string bad : std::vector<std::string>{
         "", "HIGH", "High", "Normal", "LOW", " high", "high ", "hi", "highest",
         "urgent", "medium", "0", "1", "2", std::string("high\0", 5),
         "normal\n"}) {
    priority out = priority::normal;
    BOOST_TEST_CONTEXT("'" << bad << "'") {
      BOOST_TEST(!parse_priority(bad, out));
    }
  }
}

BOOST_AUTO_TEST_CASE(dlq_reason_round_trip) {
  std::set<std::string> names;
  for (auto r : {dlq_reason::retries_exhausted, dlq_reason::permanent_error,
                 dlq_reason::crash_loop}) {
    std::string name = to_string(r);
    BOOST_TEST(!name.empty());
    names.insert(name);
    dlq_reason out = r == dlq_reason::crash_loop ? dlq_reason::retries_exhausted
                                                 : dlq_reason::crash_loop;
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(parse_dlq_reason(name, out));
      BOOST_TEST(static_cast<int>(out) == static_cast<int>(r));
    }
  }
  BOOST_TEST(names.size() == 3u);
}

BOOST_AUTO_TEST_CASE(dlq_reason_parse_rejects_unknown) {
  for (std::string bad : {"", "unknown", "CRASH_LOOP", "crash-loop", "retries",
                          " crash_loop", "permanent"}) {
    dlq_reason out = dlq_reason::retries_exhausted;
    BOOST_TEST_CONTEXT("'" << bad << "'") {
      BOOST_TEST(!parse_dlq_reason(bad, out));
    }
  }
}

BOOST_AUTO_TEST_CASE(status_and_outcome_names_are_distinct) {
  std::set<std::string> statuses;
  for (auto s :
       {event_status::unknown, event_status::accepted, event_status::in_flight,
        event_status::retrying, event_status::processed, event_status::dead}) {
    std::string name = to_string(s);
    BOOST_TEST(!name.empty());
    statuses.insert(name);
  }
  BOOST_TEST(statuses.size() == 6u);
  std::set<std::string> outcomes;
  for (auto o : {outcome::success, outcome::retryable, outcome::permanent,
                 outcome::lease_lost, outcome::crashed}) {
    std::string name = to_string(o);
    BOOST_TEST(!name.empty());
    outcomes.insert(name);
  }
  BOOST_TEST(outcomes.size() == 5u);
}

BOOST_AUTO_TEST_CASE(model_defaults) {
  event ev;
  BOOST_TEST(static_cast<int>(ev.prio) == static_cast<int>(priority::normal));
  BOOST_TEST(ev.created_at == 0);
  BOOST_TEST(ev.seq == 0u);
  delivery dl;
  BOOST_TEST(dl.attempt == 1u);
  BOOST_TEST(dl.epoch == 0u);
  BOOST_TEST(dl.redeliveries == 0u);
  BOOST_TEST(dl.history.empty());
}

BOOST_AUTO_TEST_SUITE_END()
