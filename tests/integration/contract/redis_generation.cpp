// Redis specifics (not part of the store contract): data loss (FLUSHALL)
// changes the store generation; calls prepared before the loss write
// nothing, and nodes agree on the new generation.

#include "tests/integration/contract/backends.hpp"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;

BOOST_AUTO_TEST_SUITE(redis_adapter)

namespace {

/// Expects `f` to throw store_error saying that the store generation
/// changed, naming the store.
template <class F>
void expect_generation_changed(const redis_server& server, F f,
                               const std::string& what) {
  try {
    f();
    BOOST_ERROR(what << " did not fail after the data loss");
  } catch (const store_error& ex) {
    std::string msg = ex.what();
    BOOST_TEST_MESSAGE(what << ": " << msg);
    auto store = "redis://127.0.0.1:" + std::to_string(server.port())
                 + ": store generation changed";
    BOOST_CHECK_MESSAGE(msg.find(store) != std::string::npos,
                        what << ": '" << msg << "' lacks '" << store << "'");
  }
}

settlement done_settlement(const event& ev, const std::string& group,
                           uint64_t epoch) {
  settlement st;
  st.kind = settle_kind::done;
  st.dl.ev = ev;
  st.dl.group = group;
  st.dl.epoch = epoch;
  st.record_effect = true;
  return st;
}

} // namespace

BOOST_AUTO_TEST_CASE(data_loss_changes_the_generation) {
  if (skip_redis_tests())
    return;
  // An own server: FLUSHALL must not touch other tests' data.
  redis_server server;
  auto prefix = unique_prefix("gen");
  auto s = open_store(server.url(), prefix);
  s->ensure_group({"g", {"*"}});
  std::vector<event> batch{make_event("a", "t"), make_event("b", "t")};
  s->append(batch, t0, 60'000);
  auto old = s->read_group("g", 10, t0);
  BOOST_REQUIRE_EQUAL(old.size(), 2u);
  auto d = s->claim({{"g", "a", old[0].seq}}, "n/l", t0, 10'000, 3);
  BOOST_REQUIRE(d.at(0).kind == claim_decision::granted);
  // Prepared before the loss: a's effect, and b dead-lettered as a crash
  // loop (epoch 0: committed without a lease check).
  auto stale_done = done_settlement(old[0], "g", d.at(0).epoch);
  settlement stale_dead;
  stale_dead.kind = settle_kind::dead;
  stale_dead.reason = dlq_reason::crash_loop;
  stale_dead.error = "crash loop";
  stale_dead.dl.ev = old[1];
  stale_dead.dl.group = "g";
  stale_dead.dl.epoch = 0;

  BOOST_REQUIRE_EQUAL(raw_command(server.port(), {"FLUSHALL"}), "+OK");

  // The next call that depends on seqs adopts the new generation and is
  // answered pair by pair against the new data: a's settlement is refused
  // and writes nothing.
  auto first = s->settle({stale_done}, t0 + 1);
  BOOST_REQUIRE_EQUAL(first.size(), 1u);
  BOOST_CHECK(first[0] != fence_decision::ok);
  BOOST_CHECK_EQUAL(s->processed_count(""), 0u);
  BOOST_CHECK_EQUAL(s->head(), 0u);
  // The call after that works: the new generation is adopted. The new
  // event gets the seq `a` had.
  std::vector<event> fresh{make_event("c", "t")};
  auto res = s->append(fresh, t0 + 2, 60'000);
  BOOST_REQUIRE_EQUAL(res.size(), 1u);
  BOOST_CHECK(!res[0].duplicate);
  BOOST_CHECK_EQUAL(res[0].seq, old[0].seq);
  // The reader (the broadcaster) hears of the change once too, although
  // settle noticed it first: it must drop what it holds.
  expect_generation_changed(
    server,
    [&] {
      s->ensure_group({"g", {"*"}, true});
    },
    "ensure_group after settle noticed the change");
  s->ensure_group({"g", {"*"}, true});
  auto evs = s->read_group("g", 10, t0 + 3);
  BOOST_REQUIRE_EQUAL(evs.size(), 1u);
  BOOST_CHECK_EQUAL(evs[0].id, "c");
  BOOST_CHECK_EQUAL(evs[0].seq, old[0].seq);

  // Copies of the old events: a claim of a's seq for `a` is answered done
  // and takes nothing; c's own claim is granted, with the epoch `a` had
  // (the counter started over with the data).
  auto dc = s->claim({{"g", "a", old[0].seq}, {"g", "c", evs[0].seq}}, "n/l",
                     t0 + 4, 10'000, 3);
  BOOST_REQUIRE_EQUAL(dc.size(), 2u);
  BOOST_CHECK(dc[0].kind == claim_decision::done);
  BOOST_REQUIRE(dc[1].kind == claim_decision::granted);
  BOOST_CHECK_EQUAL(dc[1].epoch, stale_done.dl.epoch);
  // The settlements prepared before the loss: refused, nothing written,
  // although seq and epoch match c's live lease.
  auto ds = s->settle({stale_done, stale_dead}, t0 + 5);
  BOOST_REQUIRE_EQUAL(ds.size(), 2u);
  BOOST_CHECK(ds[0] != fence_decision::ok);
  BOOST_CHECK(ds[1] != fence_decision::ok);
  BOOST_CHECK_EQUAL(s->processed_count(""), 0u);
  BOOST_CHECK(!s->is_done("g", evs[0].seq));
  BOOST_CHECK_EQUAL(s->dlq_size(), 0u);
  BOOST_CHECK(s->processed_of("a").empty());
  // c's lease is intact: its own settlement commits.
  auto okc = s->settle({done_settlement(evs[0], "g", dc[1].epoch)}, t0 + 6);
  BOOST_CHECK(okc.at(0) == fence_decision::ok);
  BOOST_CHECK_EQUAL(s->processed_count("g"), 1u);
  auto recs = s->processed_of("c");
  BOOST_REQUIRE_EQUAL(recs.size(), 1u);
  BOOST_CHECK_EQUAL(recs[0].seq, evs[0].seq);
  BOOST_CHECK_EQUAL(s->backlog("g"), 0u);

  // A second loss noticed by the reader itself: reported once, then the
  // group is gone (it registers again).
  BOOST_REQUIRE_EQUAL(raw_command(server.port(), {"FLUSHALL"}), "+OK");
  expect_generation_changed(
    server, [&] { s->read_group("g", 10, t0 + 7); }, "read_group");
  BOOST_CHECK_THROW(s->read_group("g", 10, t0 + 7), store_error);
  s->ensure_group({"g", {"*"}, true});
  BOOST_CHECK(s->read_group("g", 10, t0 + 8).empty());
  // A reopened store (a restarted node) works on the current generation.
  auto again = open_store(server.url(), prefix);
  std::vector<event> more{make_event("d", "t")};
  BOOST_CHECK_NO_THROW(again->append(more, t0 + 9, 60'000));
  BOOST_CHECK_EQUAL(again->read_group("g", 10, t0 + 9).size(), 1u);
}

// A node reads the log over one connection and claims and settles over
// others (its lease pool), which hear of a data loss later than the reader.
// The first events after the loss must not fail on them: a failed
// settlement after the handler ran would be recorded as a crashed attempt
// and the pair run again once its lease lapsed (issue 13, defect 5).
BOOST_AUTO_TEST_CASE(lease_connections_commit_the_first_events_after_a_loss) {
  if (skip_redis_tests())
    return;
  redis_server server;
  auto prefix = unique_prefix("gen-pool");
  auto reader = open_store(server.url(), prefix);
  auto settler = open_store(server.url(), prefix);
  auto claimer = open_store(server.url(), prefix);
  reader->ensure_group({"g", {"*"}, true});
  std::vector<event> before{make_event("old", "t")};
  reader->append(before, t0, 60'000);
  auto held = reader->read_leased("g", 10, t0, "n", 10'000, 3);
  BOOST_REQUIRE_EQUAL(held.size(), 1u);

  BOOST_REQUIRE_EQUAL(raw_command(server.port(), {"FLUSHALL"}), "+OK");

  // The reader's connection appends the new events (adopting the new
  // generation), hears of the change once and registers its group again.
  std::vector<event> fresh{make_event("new1", "t"), make_event("new2", "t")};
  reader->append(fresh, t0 + 1, 60'000);
  expect_generation_changed(
    server,
    [&] {
      reader->ensure_group({"g", {"*"}, true});
    },
    "the reader after the append noticed the change");
  reader->ensure_group({"g", {"*"}, true});
  auto dls = reader->read_leased("g", 10, t0 + 2, "n", 10'000, 3);
  BOOST_REQUIRE_EQUAL(dls.size(), 2u);
  BOOST_CHECK_EQUAL(dls[0].ev.id, "new1");
  // They were appended before the group registered again: no read lease,
  // the listener claims them (the group may have settled them already).
  BOOST_CHECK_EQUAL(dls[0].epoch, 0u);
  // A lease connection that has not heard of the loss grants the claim
  // (not a failure that hands the batch back) ...
  auto dc = claimer->claim({{"g", "new1", dls[0].ev.seq, 0}}, "n/l", t0 + 3,
                           10'000, 3);
  BOOST_REQUIRE_EQUAL(dc.size(), 1u);
  BOOST_REQUIRE(dc[0].kind == claim_decision::granted);
  BOOST_CHECK_EQUAL(dc[0].redeliveries, 0u);
  // ... and another one commits the effect (not a failure after the
  // handler ran, which would come back as a crash) ...
  settlement s1;
  s1.kind = settle_kind::done;
  s1.dl = dls[0];
  s1.dl.epoch = dc[0].epoch;
  s1.record_effect = true;
  auto ok = settler->settle({s1}, t0 + 4);
  BOOST_REQUIRE_EQUAL(ok.size(), 1u);
  BOOST_CHECK(ok[0] == fence_decision::ok);
  BOOST_CHECK(settler->is_done("g", dls[0].ev.seq));
  // ... while the old delivery a listener still held is refused: its seq
  // now holds new1.
  settlement stale;
  stale.kind = settle_kind::done;
  stale.dl = held[0];
  stale.record_effect = true;
  auto refused = claimer->settle({stale}, t0 + 5);
  BOOST_CHECK(refused.at(0) != fence_decision::ok);
  // Exactly one effect: new1's, recorded once.
  BOOST_CHECK_EQUAL(reader->processed_count("g"), 1u);
  BOOST_CHECK(reader->processed_of("old").empty());
  BOOST_CHECK_EQUAL(reader->processed_of("new1").size(), 1u);
}

BOOST_AUTO_TEST_CASE(nodes_agree_on_the_generation_after_a_loss) {
  if (skip_redis_tests())
    return;
  redis_server server;
  auto prefix = unique_prefix("gen-nodes");
  auto a = open_store(server.url(), prefix);
  auto b = open_store(server.url(), prefix);
  int n = 0;
  auto append_one = [&](store& s) {
    std::vector<event> batch{make_event("e" + std::to_string(++n), "t")};
    return s.append(batch, t0, 60'000).at(0).seq;
  };
  // A call that checks the generation (taking due retries).
  auto probe = [](store& s) {
    s.take_due(t0, 1);
  };
  append_one(*a);
  append_one(*b);
  for (int round = 0; round < 20; ++round) {
    BOOST_REQUIRE_EQUAL(raw_command(server.port(), {"FLUSHALL"}), "+OK");
    if (round % 2 == 0) {
      // One after the other: the first creates the new generation, the
      // second adopts it.
      expect_generation_changed(
        server, [&] { probe(*a); }, "node a");
      expect_generation_changed(
        server, [&] { probe(*b); }, "node b");
    } else {
      // Both at once: both find no generation; SET NX lets one win.
      std::atomic<int> failed{0};
      auto run = [&](store* s) {
        try {
          probe(*s);
        } catch (const store_error& ex) {
          if (std::string(ex.what()).find("store generation changed")
              != std::string::npos)
            ++failed;
        }
      };
      std::thread ta(run, a.get());
      std::thread tb(run, b.get());
      ta.join();
      tb.join();
      BOOST_CHECK_EQUAL(failed.load(), 2);
    }
    // From now on both work on one generation: no further failures.
    BOOST_CHECK_EQUAL(append_one(*a), 1u);
    BOOST_CHECK_EQUAL(append_one(*b), 2u);
    BOOST_CHECK_EQUAL(append_one(*a), 3u);
    BOOST_CHECK_NO_THROW(probe(*a));
    BOOST_CHECK_NO_THROW(probe(*b));
  }
  // An append is new input: it does not fail on a new generation but goes
  // into the new data (and the store object adopts the generation).
  BOOST_REQUIRE_EQUAL(raw_command(server.port(), {"FLUSHALL"}), "+OK");
  BOOST_CHECK_EQUAL(append_one(*a), 1u);
  BOOST_CHECK_NO_THROW(probe(*a));
  BOOST_CHECK_EQUAL(append_one(*b), 2u);
  BOOST_CHECK_NO_THROW(probe(*b));
}

BOOST_AUTO_TEST_SUITE_END()
