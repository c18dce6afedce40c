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

BOOST_AUTO_TEST_CASE(scheduled_below_in_flight_above_the_rest) {
  using s = event_status;
  BOOST_TEST(of({s::scheduled, s::scheduled}) == name(s::scheduled));
  // A delayed event running in one group and waiting in another.
  BOOST_TEST(of({s::scheduled, s::in_flight}) == name(s::in_flight));
  BOOST_TEST(of({s::scheduled, s::retrying}) == name(s::retrying));
  BOOST_TEST(of({s::scheduled, s::dead}) == name(s::dead));
  BOOST_TEST(of({s::processed, s::scheduled}) == name(s::scheduled));
  BOOST_TEST(of({s::cancelled, s::scheduled}) == name(s::scheduled));
}

BOOST_AUTO_TEST_CASE(cancelled_when_every_group_is_done_with_it) {
  using s = event_status;
  BOOST_TEST(of({s::cancelled}) == name(s::cancelled));
  BOOST_TEST(of({s::cancelled, s::cancelled}) == name(s::cancelled));
  // Ran in one group before the cancel reached it, cancelled in the other.
  BOOST_TEST(of({s::processed, s::cancelled}) == name(s::cancelled));
  BOOST_TEST(of({s::cancelled, s::in_flight}) == name(s::in_flight));
  BOOST_TEST(of({s::cancelled, s::dead}) == name(s::dead));
  BOOST_TEST(of({s::cancelled, s::accepted}) == name(s::accepted));
}

BOOST_AUTO_TEST_CASE(statuses_read_back_from_their_names) {
  using s = event_status;
  for (auto x : {s::unknown, s::accepted, s::in_flight, s::retrying,
                 s::processed, s::dead, s::scheduled, s::cancelled}) {
    event_status back = s::unknown;
    BOOST_TEST(parse_event_status(to_string(x), back), to_string(x));
    BOOST_TEST(name(back) == name(x));
  }
  event_status out = s::dead;
  BOOST_TEST(!parse_event_status("Scheduled", out));
  BOOST_TEST(!parse_event_status("", out));
  BOOST_TEST(name(out) == name(s::dead));
}

BOOST_AUTO_TEST_SUITE_END()
