// Deterministic actor tests of replaying the whole DLQ at a rate
// (POST /failed-events/replay): any rate, also below 10/s and fractional,
// holds in simulated time; a new replay replaces a running one; a group
// the node does not know is refused (ec::unknown_group) by every DLQ call
// that names one.

#include "actors/dead_letter_queue.hpp"
#include "actors/logic/replay_pacer.hpp"
#include "tests/actors/fixture.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

#include <cmath>
#include <ostream>
#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;
namespace bdata = boost::unit_test::data;

namespace {

/// A node whose group `g` fails permanently until healed, with `count`
/// events in its DLQ; then healed, so that every replayed event succeeds.
struct dlq_fixture : fixture {
  std::shared_ptr<bool> healed = std::make_shared<bool>(false);

  void fill(size_t count, std::vector<std::string> extra_groups = {}) {
    auto h = healed;
    add_group("g", 2, [h](const event&, uint32_t, size_t) {
      return *h ? ok_effect() : fail(outcome::permanent, "down");
    });
    for (auto& name : extra_groups)
      add_group(name, 1, [](const event&, uint32_t, size_t) {
        return fail(outcome::permanent, "down");
      });
    start();
    for (size_t first = 0; first < count; first += 500) {
      std::vector<event> evs;
      for (size_t i = first; i < std::min(count, first + 500); ++i)
        evs.push_back(make_event("e" + std::to_string(i), "t"));
      publish(evs);
    }
    BOOST_REQUIRE_EQUAL(st->dlq_count("g"), count);
    *healed = true;
  }

  caf::settings dlq_status() {
    return ask<caf::settings>(*this, n.dlq, atom::status_v);
  }

  /// Entries the current replay run has replayed.
  uint64_t replayed() {
    return static_cast<uint64_t>(num(dlq_status(), "dlq.replay-done"));
  }

  uint64_t replay_all(double rate, const std::string& group = "") {
    return ask<uint64_t>(*this, n.dlq, atom::replay_all_v, rate, group);
  }

  /// The error a DLQ call fails with (none if it succeeds).
  template <class T, class... Ts>
  caf::error error_of(Ts... xs) {
    self->send(n.dlq, std::move(xs)...);
    run();
    caf::error result;
    self->receive([](T&) {}, [&](caf::error& err) { result = err; });
    return result;
  }
};

struct rate_case {
  double rate;
  /// How long the test watches the replay.
  std::chrono::milliseconds span;
};

std::ostream& operator<<(std::ostream& os, const rate_case& c) {
  return os << c.rate << "/s over " << c.span.count() << " ms";
}

const std::vector<rate_case> rate_cases = {
  {0.5, 20000ms}, {1, 10000ms}, {3, 10000ms}, {7.5, 4000ms}, {250, 4000ms},
};

} // namespace

BOOST_AUTO_TEST_SUITE(replay_rate)

// The asked rate holds, also below 10/s and fractional: the first step
// runs at once, then `rate` events per second (rate 1 over 10 s: 10 + 1,
// rate 0.5 over 20 s: 10 + 1). The old pacing (max(1, floor(rate/10))
// every 100 ms) replayed 10/s for any rate below 20.
BOOST_DATA_TEST_CASE_F(dlq_fixture, holds_the_asked_rate,
                       bdata::make(rate_cases), c) {
  auto secs = std::chrono::duration<double>(c.span).count();
  auto expected = c.rate * secs;
  auto step = replay_pacer{c.rate, 0}.step_size();
  auto count = static_cast<size_t>(expected + static_cast<double>(step)) + 20;
  fill(count);
  BOOST_CHECK_EQUAL(replay_all(c.rate), count);
  uint64_t at_one_second = 0;
  for (auto t = 10ms; t <= c.span; t += 10ms) {
    advance(10ms);
    if (t == 1000ms)
      at_one_second = replayed();
  }
  auto total = static_cast<double>(replayed());
  BOOST_TEST_MESSAGE(c << ": " << total << " replayed, " << at_one_second
                       << " after 1 s");
  // Within one event of rate x span, plus the first step.
  BOOST_TEST(total >= std::floor(expected));
  BOOST_TEST(total <= expected + static_cast<double>(step) + 1e-9);
  // After the first second, exactly the rate (within one event).
  auto later = total - static_cast<double>(at_one_second);
  BOOST_TEST(std::abs(later - c.rate * (secs - 1)) <= 1.0);
  // What was replayed ran once and left the DLQ.
  BOOST_TEST(st->processed_count("g") == static_cast<uint64_t>(total));
  BOOST_TEST(st->dlq_count("g") == count - static_cast<uint64_t>(total));
  BOOST_TEST(caf::get_or(dlq_status(), "dlq.replay-rate", 0.0) == c.rate);
}

// A replay at 1/s, replaced after 2.5 s by one at 2/s: from then on 2/s,
// never both (the first run's pending step is dropped).
BOOST_FIXTURE_TEST_CASE(a_new_replay_replaces_the_running_one, dlq_fixture) {
  fill(40);
  BOOST_CHECK_EQUAL(replay_all(1), 40u);
  advance_in_steps(2500ms, 10ms);
  BOOST_CHECK_EQUAL(replayed(), 3u); // at 0, 1 s, 2 s
  BOOST_CHECK_EQUAL(replay_all(2), 37u);
  advance_in_steps(5000ms, 10ms);
  // The new run: one at once, then 2/s for 5 s.
  BOOST_CHECK_EQUAL(replayed(), 11u);
  BOOST_CHECK_EQUAL(st->processed_count("g"), 14u);
  BOOST_CHECK_EQUAL(st->dlq_count("g"), 26u);
}

// Everything replayed, the run ends and nothing more happens.
BOOST_FIXTURE_TEST_CASE(a_replay_ends_when_the_dlq_is_empty, dlq_fixture) {
  fill(5);
  BOOST_CHECK_EQUAL(replay_all(0.5, "g"), 5u);
  advance_in_steps(10000ms, 100ms);
  auto s = dlq_status();
  BOOST_CHECK_EQUAL(num(s, "dlq.replay-done"), 5);
  BOOST_CHECK_EQUAL(num(s, "dlq.replay-remaining"), 0);
  BOOST_CHECK(!caf::get_or(s, "dlq.replay-active", true));
  BOOST_CHECK_EQUAL(st->dlq_size(), 0u);
  BOOST_CHECK_EQUAL(st->processed_count("g"), 5u);
}

BOOST_FIXTURE_TEST_CASE(rates_must_be_positive, dlq_fixture) {
  fill(1);
  for (double rate : {0.0, -1.0, std::nan("")}) {
    auto err = error_of<uint64_t>(atom::replay_all_v, rate, std::string{});
    BOOST_CHECK_EQUAL(render(err), "invalid_event: replay rate must be > 0");
  }
}

// A group the node does not run: 404 material, naming the group and the
// node's groups (it answered "0 replayed" before). Listings also take a
// group the DLQ still holds entries of (one since removed from the config).
BOOST_FIXTURE_TEST_CASE(unknown_groups_are_refused, dlq_fixture) {
  fill(2, {"old"});
  BOOST_REQUIRE_EQUAL(st->dlq_count("old"), 2u);
  auto expect_unknown = [](const caf::error& err, const std::string& text) {
    BOOST_REQUIRE(err);
    BOOST_CHECK(err.category() == caf::atom("onceflow"));
    BOOST_CHECK(static_cast<ec>(err.code()) == ec::unknown_group);
    BOOST_CHECK_EQUAL(render(err), text);
  };
  auto nope = "unknown_group: unknown group 'nope' (groups of this node: g, "
              "old)";
  expect_unknown(
    error_of<uint64_t>(atom::replay_all_v, 10.0, std::string{"nope"}), nope);
  expect_unknown(error_of<uint64_t>(atom::replay_v, std::string{"e0"},
                                    std::string{"nope"}),
                 nope);
  expect_unknown(error_of<dlq_page>(atom::list_v, dlq_query{"nope", 0, 10}),
                 nope);
  // Nothing was replayed; known groups still work.
  BOOST_CHECK_EQUAL(st->dlq_size(), 4u);
  auto page = ask<dlq_page>(*this, n.dlq, atom::list_v,
                            dlq_query{"old", 0, 10});
  BOOST_CHECK_EQUAL(page.entries.size(), 2u);
  // A DLQ actor of a node that no longer runs "old": its leftovers can be
  // listed, not replayed.
  auto other = spawn_dead_letter_queue(sys, n.store, n.retry_timer,
                                       dlq_config{{"g"}, {}});
  self->send(other, atom::list_v, dlq_query{"old", 0, 10});
  run();
  self->receive([](dlq_page& p) { BOOST_CHECK_EQUAL(p.entries.size(), 2u); },
                [](caf::error& err) {
                  BOOST_FAIL("listing leftovers failed: " << render(err));
                });
  self->send(other, atom::replay_all_v, 1.0, std::string{"old"});
  run();
  self->receive([](uint64_t) { BOOST_FAIL("replay of a removed group"); },
                [&](caf::error& err) {
                  expect_unknown(err, "unknown_group: unknown group 'old' "
                                      "(groups of this node: g)");
                });
  self->send_exit(other, caf::exit_reason::user_shutdown);
  run();
}

BOOST_AUTO_TEST_SUITE_END()
