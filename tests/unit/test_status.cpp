// Unit tests for actors/logic/status.hpp: an event's status over its groups.
#include "actors/logic/status.hpp"

#include <boost/test/unit_test.hpp>

using namespace onceflow;

namespace {

/// The aggregate's name (printable in failure messages).
std::string of(std::vector<event_status> xs) {
  std::vector<group_status> gs;
  for (auto x : xs)
    gs.push_back({"g" + std::to_string(gs.size()), x});
  return to_string(aggregate(gs));
}

std::string name(event_status x) {
  return to_string(x);
}

} // namespace

BOOST_AUTO_TEST_SUITE(status_aggregate)

BOOST_AUTO_TEST_CASE(no_groups_is_accepted) {
  BOOST_TEST(of({}) == name(event_status::accepted));
}

BOOST_AUTO_TEST_CASE(precedence_dead_retrying_in_flight) {
  using s = event_status;
  BOOST_TEST(of({s::processed, s::dead, s::retrying}) == name(s::dead));
  BOOST_TEST(of({s::processed, s::retrying, s::in_flight})
             == name(s::retrying));
  BOOST_TEST(of({s::accepted, s::in_flight, s::processed})
             == name(s::in_flight));
}

BOOST_AUTO_TEST_CASE(processed_only_when_every_group_processed) {
  using s = event_status;
  BOOST_TEST(of({s::processed, s::processed}) == name(s::processed));
  BOOST_TEST(of({s::processed, s::accepted}) == name(s::accepted));
  BOOST_TEST(of({s::processed, s::unknown}) == name(s::accepted));
}

BOOST_AUTO_TEST_SUITE_END()
