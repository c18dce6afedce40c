// Unit tests for actors/logic/priority_queue.hpp: three FIFO queues served by
// smooth weighted round robin, so high goes first and low never starves.
#include "actors/logic/priority_queue.hpp"
#include "tests/support/print.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <array>
#include <ostream>
#include <set>
#include <string>
#include <vector>

namespace bdata = boost::unit_test::data;
using namespace onceflow;

namespace {

struct item {
  priority p;
  int seq;
};

constexpr std::array<priority, 3> all_prios = {priority::high, priority::normal,
                                               priority::low};

size_t idx(priority p) {
  return static_cast<size_t>(p);
}

struct weights_sample {
  uint32_t high, normal, low;
};

std::ostream& operator<<(std::ostream& os, const weights_sample& w) {
  return os << w.high << "/" << w.normal << "/" << w.low;
}

const std::vector<weights_sample> weight_samples = {
  {6, 3, 1},  {1, 1, 1}, {5, 1, 1},    {1, 2, 3}, {2, 3, 4},
  {10, 5, 2}, {7, 2, 1}, {100, 10, 1}, {3, 3, 1},
};

priority_weights to_weights(const weights_sample& s) {
  priority_weights w;
  w.high = s.high;
  w.normal = s.normal;
  w.low = s.low;
  return w;
}

// Fills each level with `n` items tagged with their level and push order.
void fill(priority_queues<item>& q, int n) {
  for (auto p : all_prios)
    for (int i = 0; i < n; ++i)
      q.push(p, item{p, i});
}

// Checks that every window of `len` consecutive picks holds exactly
// `want[level]` picks of each level.
void check_windows(const std::vector<priority>& picks, size_t len,
                   const std::array<size_t, 3>& want) {
  BOOST_REQUIRE(picks.size() >= len);
  for (size_t start = 0; start + len <= picks.size(); ++start) {
    std::array<size_t, 3> got{{0, 0, 0}};
    for (size_t i = start; i < start + len; ++i)
      ++got[idx(picks[i])];
    BOOST_TEST_CONTEXT("window starting at pick " << start) {
      BOOST_TEST(got[0] == want[0]);
      BOOST_TEST(got[1] == want[1]);
      BOOST_TEST(got[2] == want[2]);
    }
    if (got != want)
      return; // one failing window is enough detail
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(priority_queue_suite)

BOOST_AUTO_TEST_CASE(default_weights_are_6_3_1) {
  priority_weights w;
  BOOST_TEST(w.high == 6u);
  BOOST_TEST(w.normal == 3u);
  BOOST_TEST(w.low == 1u);
  BOOST_TEST(validate(w).empty());
}

BOOST_AUTO_TEST_CASE(zero_weights_are_rejected) {
  for (int z = 0; z < 3; ++z) {
    priority_weights w;
    if (z == 0)
      w.high = 0;
    if (z == 1)
      w.normal = 0;
    if (z == 2)
      w.low = 0;
    BOOST_TEST_CONTEXT("zero weight at level " << z) {
      BOOST_TEST(!validate(w).empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(shares_over_1000_pops_under_full_load) {
  priority_queues<item> q;
  fill(q, 1000);
  std::vector<priority> picks;
  std::array<size_t, 3> count{{0, 0, 0}};
  for (int i = 0; i < 1000; ++i) {
    auto x = q.pop();
    picks.push_back(x.p);
    ++count[idx(x.p)];
  }
  BOOST_TEST(count[0] == 600u);
  BOOST_TEST(count[1] == 300u);
  BOOST_TEST(count[2] == 100u);
  BOOST_TEST(q.size() == 2000u);
  // Exact shares in every (sliding) window of 10 picks.
  check_windows(picks, 10, {{6, 3, 1}});
}

BOOST_DATA_TEST_CASE(shares_hold_over_any_window_of_sum_weights,
                     bdata::make(weight_samples), ws) {
  priority_queues<item> q{to_weights(ws)};
  size_t sum = ws.high + ws.normal + ws.low;
  size_t picks_n = sum * 20;
  fill(q, static_cast<int>(picks_n) + 1);
  std::vector<priority> picks;
  for (size_t i = 0; i < picks_n; ++i)
    picks.push_back(q.pop().p);
  check_windows(picks, sum, {{ws.high, ws.normal, ws.low}});
}

BOOST_AUTO_TEST_CASE(high_goes_first) {
  priority_queues<item> q;
  fill(q, 5);
  BOOST_TEST(q.next_priority() == priority::high);
}

BOOST_AUTO_TEST_CASE(one_of_each_comes_out_high_normal_low) {
  priority_queues<item> q;
  q.push(priority::low, item{priority::low, 0});
  q.push(priority::normal, item{priority::normal, 0});
  q.push(priority::high, item{priority::high, 0});
  BOOST_TEST(q.pop().p == priority::high);
  BOOST_TEST(q.pop().p == priority::normal);
  BOOST_TEST(q.pop().p == priority::low);
  BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(low_served_when_only_low_present) {
  priority_queues<item> q;
  for (int i = 0; i < 50; ++i)
    q.push(priority::low, item{priority::low, i});
  for (int i = 0; i < 50; ++i) {
    auto x = q.pop();
    BOOST_TEST(x.p == priority::low);
    BOOST_TEST(x.seq == i);
  }
  BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(normal_served_when_only_normal_present) {
  priority_queues<item> q;
  for (int i = 0; i < 5; ++i)
    q.push(priority::normal, item{priority::normal, i});
  for (int i = 0; i < 5; ++i)
    BOOST_TEST(q.pop().p == priority::normal);
}

BOOST_AUTO_TEST_CASE(shares_among_non_empty_levels_only) {
  // Only normal and low have work: 3:1 over every window of 4.
  {
    priority_queues<item> q;
    for (int i = 0; i < 400; ++i) {
      q.push(priority::normal, item{priority::normal, i});
      q.push(priority::low, item{priority::low, i});
    }
    std::vector<priority> picks;
    for (int i = 0; i < 400; ++i)
      picks.push_back(q.pop().p);
    check_windows(picks, 4, {{0, 3, 1}});
  }
  // Only high and low: 6:1 over every window of 7.
  {
    priority_queues<item> q;
    for (int i = 0; i < 700; ++i) {
      q.push(priority::high, item{priority::high, i});
      q.push(priority::low, item{priority::low, i});
    }
    std::vector<priority> picks;
    for (int i = 0; i < 700; ++i)
      picks.push_back(q.pop().p);
    check_windows(picks, 7, {{6, 0, 1}});
  }
}

BOOST_AUTO_TEST_CASE(low_never_starves_under_continuous_high_load) {
  priority_queues<item> q;
  fill(q, 100);
  // Keep high and normal topped up: low still gets 1 in every 10.
  int low_seen = 0;
  int since_low = 0;
  int max_gap = 0;
  for (int i = 0; i < 1000; ++i) {
    auto x = q.pop();
    if (x.p == priority::low) {
      ++low_seen;
      max_gap = std::max(max_gap, since_low);
      since_low = 0;
      q.push(priority::low, item{priority::low, 1000 + i});
    } else {
      ++since_low;
      q.push(x.p, item{x.p, 1000 + i});
    }
  }
  BOOST_TEST(low_seen == 100);
  BOOST_TEST(max_gap <= 9);
}

BOOST_AUTO_TEST_CASE(low_never_starves_with_extreme_weights) {
  priority_weights w;
  w.high = 1000;
  w.normal = 1000;
  w.low = 1;
  priority_queues<item> q{w};
  fill(q, 3000);
  bool low = false;
  for (int i = 0; i < 2001 && !low; ++i)
    low = q.pop().p == priority::low;
  BOOST_TEST(low);
}

BOOST_AUTO_TEST_CASE(fifo_inside_each_level) {
  priority_queues<item> q;
  // Interleave pushes across levels.
  for (int i = 0; i < 300; ++i)
    q.push(all_prios[static_cast<size_t>(i) % 3],
           item{all_prios[static_cast<size_t>(i) % 3], i});
  std::array<int, 3> last{{-1, -1, -1}};
  while (!q.empty()) {
    auto x = q.pop();
    BOOST_TEST(x.seq > last[idx(x.p)]);
    last[idx(x.p)] = x.seq;
  }
}

BOOST_AUTO_TEST_CASE(push_front_puts_item_at_head_of_its_level) {
  priority_queues<item> q;
  q.push(priority::normal, item{priority::normal, 1});
  q.push(priority::normal, item{priority::normal, 2});
  q.push_front(priority::normal, item{priority::normal, 0});
  BOOST_TEST(q.size() == 3u);
  BOOST_TEST(q.size(priority::normal) == 3u);
  BOOST_TEST(q.pop().seq == 0);
  BOOST_TEST(q.pop().seq == 1);
  BOOST_TEST(q.pop().seq == 2);
}

BOOST_AUTO_TEST_CASE(sizes_empty_clear_and_for_each) {
  priority_queues<item> q;
  BOOST_TEST(q.empty());
  BOOST_TEST(q.size() == 0u);
  q.push(priority::high, item{priority::high, 1});
  q.push(priority::low, item{priority::low, 2});
  q.push(priority::low, item{priority::low, 3});
  BOOST_TEST(!q.empty());
  BOOST_TEST(q.size() == 3u);
  BOOST_TEST(q.size(priority::high) == 1u);
  BOOST_TEST(q.size(priority::normal) == 0u);
  BOOST_TEST(q.size(priority::low) == 2u);
  std::set<int> visited;
  q.for_each([&](const item& x) { visited.insert(x.seq); });
  BOOST_TEST((visited == std::set<int>{1, 2, 3}));
  BOOST_TEST(q.size() == 3u); // visiting does not consume
  q.pop();
  BOOST_TEST(q.size() == 2u);
  q.clear();
  BOOST_TEST(q.empty());
  BOOST_TEST(q.size() == 0u);
  for (auto p : all_prios)
    BOOST_TEST(q.size(p) == 0u);
  // Usable after clear.
  q.push(priority::normal, item{priority::normal, 9});
  BOOST_TEST(q.pop().seq == 9);
}

BOOST_AUTO_TEST_SUITE_END()
