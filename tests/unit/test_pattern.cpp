// Unit tests for actors/logic/pattern.hpp: subscription pattern matching.
#include "actors/logic/pattern.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <ostream>
#include <string>
#include <vector>

namespace bdata = boost::unit_test::data;
using namespace onceflow;

namespace {

struct glob_case {
  std::string pattern;
  std::string type;
  bool match;
};

std::ostream& operator<<(std::ostream& os, const glob_case& c) {
  return os << "'" << c.pattern << "' vs '" << c.type << "' -> "
            << (c.match ? "match" : "no match");
}

const std::vector<glob_case> glob_cases = {
  // Exact patterns.
  {"order.created", "order.created", true},
  {"order.created", "order.created2", false},
  {"order.created", "order.create", false},
  {"order.created", "Order.created", false},
  {"", "", true},
  {"", "a", false},
  {"a", "", false},
  // A lone star matches everything, including the empty string.
  {"*", "order.created", true},
  {"*", "x", true},
  {"*", "", true},
  {"**", "abc", true},
  // Prefix patterns.
  {"order.*", "order.created", true},
  {"order.*", "order.shipped.late", true},
  {"order.*", "order.", true},
  {"order.*", "order", false},
  {"order.*", "orders.created", false},
  {"order.*", "xorder.created", false},
  {"order.*", "user.created", false},
  // Suffix patterns.
  {"*.created", "order.created", true},
  {"*.created", ".created", true},
  {"*.created", "a.b.created", true},
  {"*.created", "order.created.v2", false},
  {"*.created", "order.updated", false},
  {"*.created", "created", false},
  // Infix and multiple stars (backtracking).
  {"order.*.v1", "order.created.v1", true},
  {"order.*.v1", "order..v1", true},
  {"order.*.v1", "order.created.v2", false},
  {"a*b*c", "abc", true},
  {"a*b*c", "aXbYc", true},
  {"a*b*c", "abbbcbc", true},
  {"a*b*c", "acb", false},
  {"a*b*c", "abcd", false},
  {"*a*", "banana", true},
  {"*a*", "xyz", false},
  {"*ab", "aab", true},
  {"*ab", "abab", true},
  {"*ab", "aba", false},
  {"a*", "a", true},
  {"*a", "a", true},
  // Other characters are literal.
  {"order.created", "orderXcreated", false},
  {"order_?", "order_?", true},
  {"order_?", "order_x", false},
};

} // namespace

BOOST_AUTO_TEST_SUITE(pattern_match_suite)

BOOST_DATA_TEST_CASE(glob_patterns, bdata::make(glob_cases), c) {
  BOOST_TEST(pattern_match(c.pattern, c.type) == c.match);
}

BOOST_AUTO_TEST_CASE(long_inputs_with_many_stars) {
  std::string type(2000, 'a');
  BOOST_TEST(pattern_match("*a*a*a*a*a*a*a*a*a*a*", type));
  BOOST_TEST(!pattern_match("*a*a*a*a*a*a*a*a*a*a*b", type));
  BOOST_TEST(pattern_match(type, type));
  BOOST_TEST(pattern_match(std::string(2000, '*'), type));
}

BOOST_AUTO_TEST_CASE(matches_any_of_the_patterns) {
  BOOST_TEST(matches_any({"user.*", "order.*"}, "order.created"));
  BOOST_TEST(!matches_any({"user.*", "order.*"}, "invoice.sent"));
  BOOST_TEST(!matches_any({}, "order.created"));
}

BOOST_AUTO_TEST_SUITE_END()
