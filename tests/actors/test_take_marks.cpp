// A take of the retry schedule is a lease (issue 13, defect 7): the node
// renews the take marks of the due retries it holds, a third of the
// group's lease apart, until they settle; a draining node takes no more
// and gives back what it took and will not run, so that other nodes take
// it at once.

#include "adapters/forwarding_store.hpp"
#include "tests/actors/fixture.hpp"

#include <algorithm>
#include <limits>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

namespace {

/// Records the calls about take marks.
class recording_store : public forwarding_store {
public:
  using forwarding_store::forwarding_store;

  struct renewal {
    std::vector<taken_pair> pairs;
    millis_t now;
  };

  std::vector<renewal> renewals;
  std::vector<std::vector<taken_pair>> releases;
  size_t takes = 0;

  std::vector<delivery> take_due(millis_t now, size_t max) override {
    ++takes;
    return forwarding_store::take_due(now, max);
  }

  uint64_t renew_taken(const std::vector<taken_pair>& pairs,
                       millis_t now) override {
    renewals.push_back({pairs, now});
    return forwarding_store::renew_taken(pairs, now);
  }

  uint64_t release_taken(const std::vector<taken_pair>& pairs) override {
    releases.push_back(pairs);
    return forwarding_store::release_taken(pairs);
  }
};

bool has_pair(const std::vector<taken_pair>& xs, const std::string& group,
              uint64_t seq) {
  return std::any_of(xs.begin(), xs.end(), [&](const taken_pair& p) {
    return p.group == group && p.seq == seq;
  });
}

struct take_marks_fixture : fixture {
  std::shared_ptr<recording_store> rec;

  take_marks_fixture() {
    rec = std::make_shared<recording_store>(st);
    st = rec;
  }

  /// A group whose first attempt of every event fails (retry after
  /// `base`), with a lease of 3 s: its marks are renewed every second.
  void add_failing_once(const std::string& name, millis_t base) {
    auto& g = add_group(name, 1, first_attempt_fails());
    g.retry.base = base;
    g.lease_ttl = 3000;
  }

  void pause(const std::string& group, bool paused) {
    // Answers whether the group is paused now.
    BOOST_REQUIRE_EQUAL(ask<bool>(*this, n.broadcaster, atom::pause_v,
                                  std::string{group}, paused),
                        paused);
  }

  uint64_t seq_of(const std::string& id) {
    return st->find(id).seq;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(take_marks, take_marks_fixture)

BOOST_AUTO_TEST_CASE(held_retries_are_renewed_until_they_settle) {
  add_failing_once("g", 100);
  start();
  publish({make_event("e1", "t")});
  BOOST_REQUIRE_EQUAL(probes->count("e1"), 1u);
  // Paused: the retry is taken when due and waits in the queue here.
  pause("g", true);
  advance_in_steps(500ms, 100ms);
  BOOST_REQUIRE_GE(rec->takes, 1u);
  BOOST_REQUIRE_EQUAL(probes->count("e1"), 1u);
  rec->renewals.clear();
  advance_in_steps(5s, 100ms);
  // Renewed each third of the lease (1 s) while it is held.
  std::vector<millis_t> times;
  for (auto& r : rec->renewals)
    if (has_pair(r.pairs, "g", seq_of("e1")))
      times.push_back(r.now);
  BOOST_REQUIRE_GE(times.size(), 4u);
  for (size_t i = 1; i < times.size(); ++i)
    BOOST_CHECK_GE(times[i] - times[i - 1], 1000);
  // Resumed, it runs and settles: its mark is gone, nothing is renewed.
  pause("g", false);
  advance_in_steps(1s, 100ms);
  BOOST_CHECK_EQUAL(probes->count("e1"), 2u);
  BOOST_CHECK_EQUAL(effects("e1", "g"), 1u);
  rec->renewals.clear();
  advance_in_steps(5s, 100ms);
  for (auto& r : rec->renewals)
    BOOST_CHECK(!has_pair(r.pairs, "g", seq_of("e1")));
  BOOST_CHECK(rec->releases.empty());
}

BOOST_AUTO_TEST_CASE(a_drain_gives_back_what_it_took_and_takes_no_more) {
  add_failing_once("g", 100);
  add_failing_once("h", 3000);
  start();
  publish({make_event("e1", "t")});
  BOOST_REQUIRE_EQUAL(probes->count("e1"), 2u);
  pause("g", true);
  // g's retry is taken and waits here; h's falls due in 3 s.
  advance_in_steps(1s, 100ms);
  auto seq = seq_of("e1");
  auto takes = rec->takes;
  self->send(n.broadcaster, atom::drain_v, millis_t{5000});
  run();
  bool drained = false;
  self->receive([&](bool ok) { drained = ok; },
                [&](caf::error& err) {
                  BOOST_FAIL("drain failed: " << render(err));
                });
  BOOST_CHECK(drained);
  BOOST_REQUIRE_EQUAL(rec->releases.size(), 1u);
  BOOST_CHECK(has_pair(rec->releases[0], "g", seq));
  BOOST_CHECK_EQUAL(rec->releases[0].size(), 1u);
  // Nothing more is taken: h's retry stays for other nodes (or the next
  // start), and so does g's, free to take at once.
  advance_in_steps(5s, 100ms);
  BOOST_CHECK_EQUAL(rec->takes, takes);
  BOOST_CHECK_EQUAL(probes->count("e1"), 2u);
  auto s = ask<caf::settings>(*this, n.retry_timer, atom::status_v);
  BOOST_CHECK(caf::get_or(s, "retry-timer.stopped", false));
  auto later = std::numeric_limits<millis_t>::max() / 4;
  auto due = st->take_due(later, 10);
  BOOST_CHECK_EQUAL(due.size(), 2u);
}

BOOST_AUTO_TEST_SUITE_END()
