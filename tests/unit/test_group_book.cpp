// Unit tests for actors/logic/group_book.hpp: the entries one group holds on
// a node and what a listener's reports do to them.
#include "actors/logic/group_book.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <vector>

using namespace onceflow;

namespace {

delivery dl(uint64_t seq, priority p = priority::normal, uint32_t attempt = 1) {
  delivery d;
  d.ev.id = "e" + std::to_string(seq);
  d.ev.seq = seq;
  d.ev.prio = p;
  d.group = "g";
  d.attempt = attempt;
  return d;
}

dispatch_report report(uint64_t seq, dispatch_report::kind_t k,
                       millis_t until = 0) {
  return {seq, k, until};
}

/// Pops everything queued, in dispatch order.
std::vector<uint64_t> drain(group_book& b) {
  std::vector<uint64_t> seqs;
  while (!b.queue().empty())
    seqs.push_back(b.queue().pop().ev.seq);
  return seqs;
}

/// Takes `n` entries off the queue and dispatches them to `owner`.
std::vector<delivery> dispatch(group_book& b, size_t n, uint32_t owner,
                               millis_t now = 0) {
  std::vector<delivery> batch;
  while (batch.size() < n && !b.queue().empty())
    batch.push_back(b.queue().pop());
  b.dispatched(batch, owner, now);
  return batch;
}

} // namespace

BOOST_AUTO_TEST_SUITE(group_book_suite)

BOOST_AUTO_TEST_CASE(a_seq_is_never_queued_twice) {
  group_book b;
  BOOST_TEST(b.enqueue(dl(1)));
  BOOST_TEST(!b.enqueue(dl(1)));
  dispatch(b, 1, 7);
  // In flight: still known.
  BOOST_TEST(!b.enqueue(dl(1)));
  BOOST_TEST(b.queue().empty());
  BOOST_TEST(b.in_flight() == 1u);
}

BOOST_AUTO_TEST_CASE(dispatched_copies_drop_the_read_lease) {
  group_book b;
  auto d = dl(1);
  d.lease_until = 5000;
  b.enqueue(d);
  auto batch = dispatch(b, 1, 7);
  BOOST_TEST(batch[0].lease_until == 5000);
  // A requeued copy claims: its read lease is gone.
  b.requeue_front(1);
  BOOST_TEST(b.queue().pop().lease_until == 0);
}

BOOST_AUTO_TEST_CASE(a_dead_listeners_entries_go_back_marked_for_revocation) {
  group_book b;
  // 1 and 2 carry leases granted with the read; 3 was read without one.
  for (uint64_t seq : {1, 2, 3}) {
    auto d = dl(seq);
    if (seq != 3) {
      d.epoch = 10 + seq;
      d.lease_until = 5000;
    }
    b.enqueue(d);
  }
  b.enqueue(dl(4));
  dispatch(b, 3, 7);
  dispatch(b, 1, 8);
  // Listener 7 claimed 2 and 3 (a takeover, and a claim): it runs them under
  // the epochs it reports; a report for a seq it does not hold is ignored.
  b.leased(7, {{2, 42}, {3, 43}, {4, 99}});
  BOOST_TEST(b.hand_back(7) == 3u);
  BOOST_TEST(b.in_flight() == 1u);
  std::vector<delivery> back;
  while (!b.queue().empty())
    back.push_back(b.queue().pop());
  BOOST_REQUIRE(back.size() == 3u);
  std::sort(back.begin(), back.end(), [](const delivery& x, const delivery& y) {
    return x.ev.seq < y.ev.seq;
  });
  // Each names the lease the dead listener held: the read's, or its claim's.
  BOOST_TEST(back[0].epoch == 11u);
  BOOST_TEST(back[1].epoch == 42u);
  BOOST_TEST(back[2].epoch == 43u);
  for (auto& d : back)
    BOOST_TEST(d.lease_until == lease_of_dead_listener);
  // Listener 8's entry kept its epoch (none): nothing to revoke.
  BOOST_TEST(b.hand_back(8) == 1u);
  BOOST_TEST(b.queue().pop().lease_until == 0);
  BOOST_TEST(b.hand_back(8) == 0u);
}

BOOST_AUTO_TEST_CASE(
  a_lease_granted_after_the_down_is_revoked_where_the_entry_is) {
  group_book b;
  // Listeners 6 and 7 went down with claims in the store: 7 for 1, 6 for
  // 2, 3 and 4.
  b.enqueue(dl(1));
  dispatch(b, 1, 7);
  for (uint64_t seq = 2; seq <= 4; ++seq)
    b.enqueue(dl(seq));
  dispatch(b, 3, 6);
  BOOST_TEST(b.hand_back(6) == 3u);
  // 2, 3 and 4 go to listener 8 (claims of fresh entries); 8's claim of 4
  // is held (until 30000) before the grants arrive; 1 is queued.
  dispatch(b, 3, 8);
  BOOST_TEST(b.hand_back(7) == 1u);
  auto out = b.on_reports(8, {report(4, dispatch_report::held, 30000)});
  BOOST_TEST(out.held_back == 1u);
  // The store answers the dead listeners' claims: epochs 51-54, granted
  // after their DOWN (9: an entry the book no longer holds).
  b.leased_after_down({{1, 51}, {2, 52}, {3, 53}, {4, 54}, {9, 59}});
  // The queued copy and the held-back one (queued again now) revoke their
  // leases with their next claims.
  std::vector<delivery> back;
  while (!b.queue().empty())
    back.push_back(b.queue().pop());
  BOOST_REQUIRE(back.size() == 2u);
  std::sort(back.begin(), back.end(), [](const delivery& x, const delivery& y) {
    return x.ev.seq < y.ev.seq;
  });
  BOOST_TEST(back[0].ev.seq == 1u);
  BOOST_TEST(back[0].epoch == 51u);
  BOOST_TEST(back[1].ev.seq == 4u);
  BOOST_TEST(back[1].epoch == 54u);
  for (auto& d : back)
    BOOST_TEST(d.lease_until == lease_of_dead_listener);
  // Nothing else is held back.
  BOOST_TEST(b.release_due(100000).first == 0u);
  // In flight at 8: 2's claim is held by the late lease: queued again at
  // once to revoke it; 3 settled under its own lease (nothing to revoke).
  out = b.on_reports(8, {report(2, dispatch_report::held, 30000),
                         report(3, dispatch_report::settled)});
  BOOST_TEST(out.held_back == 0u);
  BOOST_TEST(out.left == 1u);
  BOOST_REQUIRE(b.queue().size() == 1u);
  auto again = dispatch(b, 1, 8);
  BOOST_REQUIRE(again.size() == 1u);
  BOOST_TEST(again[0].ev.seq == 2u);
  BOOST_TEST(again[0].epoch == 52u);
  BOOST_TEST(again[0].lease_until == lease_of_dead_listener);
  // Once used, the late grant is gone: a later held report waits.
  out = b.on_reports(8, {report(2, dispatch_report::held, 40000)});
  BOOST_TEST(out.held_back == 1u);
}

BOOST_AUTO_TEST_CASE(settled_and_scheduled_leave_only_settled_count_as_left) {
  group_book b;
  for (uint64_t s = 1; s <= 3; ++s)
    b.enqueue(dl(s));
  dispatch(b, 3, 7);
  auto out = b.on_reports(7, {report(1, dispatch_report::settled),
                              report(2, dispatch_report::scheduled)});
  BOOST_TEST(out.left == 1u);
  BOOST_TEST(out.later_at == -1);
  BOOST_TEST(b.in_flight() == 1u);
  BOOST_TEST(b.counters().settled == 2u);
  BOOST_TEST(b.counters().dispatched == 3u);
  // Both may come again (a retry, a replay).
  BOOST_TEST(b.enqueue(dl(1)));
  BOOST_TEST(b.enqueue(dl(2)));
}

BOOST_AUTO_TEST_CASE(reports_of_another_owner_are_ignored) {
  group_book b;
  b.enqueue(dl(1));
  dispatch(b, 1, 7);
  // Stalled at 7, handed to 8.
  b.requeue_front(1);
  dispatch(b, 1, 8);
  auto out = b.on_reports(7, {report(1, dispatch_report::settled)});
  BOOST_TEST(out.left == 0u);
  BOOST_TEST(b.in_flight() == 1u);
  out = b.on_reports(8, {report(1, dispatch_report::settled)});
  BOOST_TEST(out.left == 1u);
  BOOST_TEST(b.in_flight() == 0u);
}

BOOST_AUTO_TEST_CASE(stale_goes_back_to_the_head_of_its_queue) {
  group_book b;
  b.enqueue(dl(1));
  b.enqueue(dl(2));
  dispatch(b, 1, 7);
  b.on_reports(7, {report(1, dispatch_report::stale)});
  BOOST_TEST(b.counters().stale == 1u);
  BOOST_TEST((drain(b) == std::vector<uint64_t>{1, 2}));
}

BOOST_AUTO_TEST_CASE(held_and_failed_wait_until_the_earliest_time) {
  group_book b;
  for (uint64_t s = 1; s <= 3; ++s)
    b.enqueue(dl(s));
  dispatch(b, 3, 7);
  auto out = b.on_reports(7, {report(1, dispatch_report::held, 900),
                              report(2, dispatch_report::failed, 500)});
  BOOST_TEST(out.held_back == 2u);
  BOOST_TEST(out.later_at == 500);
  BOOST_TEST(b.counters().held == 2u);
  BOOST_TEST(b.in_flight() == 1u);
  // Nothing due before the time; then both come back together.
  auto [taken, next] = b.release_due(499);
  BOOST_TEST(taken == 0u);
  BOOST_TEST(next == 500);
  std::tie(taken, next) = b.release_due(500);
  BOOST_TEST(taken == 2u);
  BOOST_TEST(next == -1);
  BOOST_TEST((drain(b) == std::vector<uint64_t>{1, 2}));
}

BOOST_AUTO_TEST_CASE(
  a_failed_entry_comes_back_to_take_over_its_given_up_lease) {
  // The listener's claim or settlement failed: it runs under its lease no
  // more, so the next claim takes that lease over (lease_until -1 with the
  // epoch) instead of waiting for it to expire. A held entry's lease is
  // another holder's: it is waited for.
  group_book b;
  for (uint64_t s = 1; s <= 3; ++s)
    b.enqueue(dl(s));
  dispatch(b, 3, 7);
  b.leased(7, {{1, 41}, {2, 42}});
  b.on_reports(7, {report(1, dispatch_report::failed, 500),
                   report(2, dispatch_report::held, 500),
                   report(3, dispatch_report::failed, 500)});
  b.release_due(500);
  auto one = b.queue().pop();
  auto two = b.queue().pop();
  auto three = b.queue().pop();
  BOOST_TEST(one.ev.seq == 1u);
  BOOST_TEST(one.epoch == 41u);
  BOOST_TEST(one.lease_until == -1);
  BOOST_TEST(two.ev.seq == 2u);
  BOOST_TEST(two.lease_until == 0);
  // No lease known (the claim failed before any grant): a plain claim.
  BOOST_TEST(three.ev.seq == 3u);
  BOOST_TEST(three.epoch == 0u);
  BOOST_TEST(three.lease_until == 0);
}

BOOST_AUTO_TEST_CASE(a_failed_claim_never_takes_over_a_lease_it_did_not_get) {
  // Listener 7 claimed seq 1 (epoch 41) and stalled: the janitor handed the
  // entry on to listener 8, whose claim failed. Epoch 41 is 7's, which may
  // still run under it: the next claim asks plainly (held until it ends).
  group_book b;
  b.enqueue(dl(1));
  dispatch(b, 1, 7);
  b.leased(7, {{1, 41}});
  b.requeue_front(1);
  dispatch(b, 1, 8);
  b.on_reports(8, {report(1, dispatch_report::failed, 500)});
  b.release_due(500);
  auto again = b.queue().pop();
  BOOST_TEST(again.epoch == 41u);
  BOOST_TEST(again.lease_until == 0);
}

BOOST_AUTO_TEST_CASE(a_failed_claim_still_revokes_a_dead_listeners_lease) {
  // Listener 7 went down holding epoch 41; listener 8's claim, which was
  // to revoke it, failed: the next claim revokes it (a crash counted), not
  // a takeover of 8's own.
  group_book b;
  b.enqueue(dl(1));
  dispatch(b, 1, 7);
  b.leased(7, {{1, 41}});
  b.hand_back(7);
  auto batch = dispatch(b, 1, 8);
  BOOST_TEST(batch[0].lease_until == lease_of_dead_listener);
  b.on_reports(8, {report(1, dispatch_report::failed, 500)});
  b.release_due(500);
  auto again = b.queue().pop();
  BOOST_TEST(again.epoch == 41u);
  BOOST_TEST(again.lease_until == lease_of_dead_listener);
  // Had 8's claim been granted (epoch 42) and its settlement failed, 42
  // would be taken over.
  b.dispatched({again}, 9, 0);
  b.leased(9, {{1, 42}});
  b.on_reports(9, {report(1, dispatch_report::failed, 900)});
  b.release_due(900);
  again = b.queue().pop();
  BOOST_TEST(again.epoch == 42u);
  BOOST_TEST(again.lease_until == -1);
}

BOOST_AUTO_TEST_CASE(a_retry_of_a_seq_in_flight_is_parked_until_it_leaves) {
  group_book b;
  b.enqueue(dl(1));
  dispatch(b, 1, 7);
  b.take_back(dl(1, priority::normal, 2));
  BOOST_TEST(b.queue().empty());
  b.on_reports(7, {report(1, dispatch_report::settled)});
  auto next = b.queue().pop();
  BOOST_TEST(next.ev.seq == 1u);
  BOOST_TEST(next.attempt == 2u);
}

BOOST_AUTO_TEST_CASE(a_parked_copy_is_dropped_when_the_entry_is_scheduled) {
  group_book b;
  auto first = dl(1, priority::normal, 3);
  b.enqueue(first);
  dispatch(b, 1, 7);
  // The same attempt handed out again while it ran (a lapsed take mark).
  b.take_back(first);
  // The retry schedule holds the next attempt: the parked copy is older.
  b.on_reports(7, {report(1, dispatch_report::scheduled)});
  BOOST_TEST(b.queue().empty());
  BOOST_TEST(b.enqueue(dl(1)));
}

BOOST_AUTO_TEST_CASE(a_parked_later_attempt_runs_when_the_entry_is_scheduled) {
  group_book b;
  b.enqueue(dl(1));
  dispatch(b, 1, 7);
  // Attempt 2 fell due and was taken from the schedule before attempt 1
  // reported: it is the schedule's next attempt and must run.
  b.take_back(dl(1, priority::normal, 2));
  b.on_reports(7, {report(1, dispatch_report::scheduled)});
  BOOST_TEST(b.queue().size() == 1u);
  BOOST_TEST(b.queue().pop().attempt == 2u);
}

BOOST_AUTO_TEST_CASE(a_parked_retry_waits_while_its_seq_is_queued_again) {
  group_book b;
  b.enqueue(dl(1));
  dispatch(b, 1, 7);
  b.take_back(dl(1, priority::normal, 2));
  // Refused as stale: the entry goes back to the queue, the retry waits.
  b.on_reports(7, {report(1, dispatch_report::stale)});
  BOOST_TEST((drain(b) == std::vector<uint64_t>{1}));
}

BOOST_AUTO_TEST_CASE(a_parked_retry_waits_while_its_seq_is_requeued) {
  group_book b;
  b.enqueue(dl(1));
  dispatch(b, 1, 7);
  b.take_back(dl(1, priority::normal, 2));
  // Stalled at 7 (requeued by the janitor); 7's late report is ignored.
  b.requeue_front(1);
  b.on_reports(7, {report(1, dispatch_report::settled)});
  BOOST_TEST(b.queue().size() == 1u);
  // The requeued copy runs at 8 and settles: now the retry is queued.
  auto batch = dispatch(b, 1, 8);
  BOOST_TEST(batch.at(0).attempt == 1u);
  b.on_reports(8, {report(1, dispatch_report::settled)});
  BOOST_TEST(b.queue().size() == 1u);
  BOOST_TEST(b.queue().pop().attempt == 2u);
}

BOOST_AUTO_TEST_CASE(stalled_and_owned_entries) {
  group_book b;
  for (uint64_t s = 1; s <= 4; ++s)
    b.enqueue(dl(s));
  dispatch(b, 2, 7, 0);
  dispatch(b, 2, 8, 1000);
  auto st = b.stalled(1500, 1000);
  std::sort(st.begin(), st.end());
  BOOST_TEST((st == std::vector<uint64_t>{1, 2}));
  BOOST_TEST(b.stalled(1000, 1000).empty());
  auto own = b.owned_by(8);
  std::sort(own.begin(), own.end());
  BOOST_TEST((own == std::vector<uint64_t>{3, 4}));
}

BOOST_AUTO_TEST_CASE(drop_all_counts_and_forgets_everything) {
  group_book b;
  for (uint64_t s = 1; s <= 5; ++s)
    b.enqueue(dl(s));
  dispatch(b, 2, 7);
  b.take_back(dl(1, priority::normal, 2)); // parked
  b.on_reports(7, {report(2, dispatch_report::held, 100)});
  auto [waiting, running] = b.drop_all();
  // Queued 3, 4, 5; parked 1 (still in flight); held 2.
  BOOST_TEST(waiting == 5u);
  BOOST_TEST(running == 1u);
  BOOST_TEST(!b.has_work());
  BOOST_TEST(b.release_due(1000).first == 0u);
  BOOST_TEST(b.enqueue(dl(1)));
}

namespace {

/// A delivery handed out by the retry schedule (take_due).
delivery taken(uint64_t seq, uint32_t attempt = 2) {
  auto d = dl(seq, priority::normal, attempt);
  d.taken = true;
  return d;
}

} // namespace

BOOST_AUTO_TEST_CASE(taken_entries_are_listed_wherever_the_book_holds_them) {
  group_book b;
  b.enqueue(dl(1)); // read from the log: no take mark
  b.take_back(taken(2));
  b.take_back(taken(3));
  b.take_back(taken(4));
  BOOST_TEST(b.taken() == (std::vector<uint64_t>{2, 3, 4}));
  // In flight (2, 3), then 3 held back; 2 taken again while in flight
  // (parked); 4 still queued.
  dispatch(b, 3, 7);
  b.take_back(taken(2, 3));
  b.on_reports(7, {report(3, dispatch_report::held, 500)});
  BOOST_TEST(b.taken() == (std::vector<uint64_t>{2, 3, 4}));
  // Settled entries leave: nothing of them to renew.
  b.on_reports(7, {report(1, dispatch_report::settled),
                   report(2, dispatch_report::settled)});
  // The parked copy of 2 (a later attempt) is queued now.
  BOOST_TEST(b.taken() == (std::vector<uint64_t>{2, 3, 4}));
  dispatch(b, 5, 8);
  b.on_reports(8, {report(2, dispatch_report::settled),
                   report(4, dispatch_report::scheduled)});
  BOOST_TEST(b.taken() == (std::vector<uint64_t>{3}));
  b.release_due(500);
  dispatch(b, 1, 8);
  b.on_reports(8, {report(3, dispatch_report::settled)});
  BOOST_TEST(b.taken().empty());
}

BOOST_AUTO_TEST_CASE(drop_taken_keeps_what_runs_and_first_deliveries) {
  group_book b;
  b.enqueue(dl(1)); // read from the log
  b.take_back(taken(2));
  b.take_back(taken(3));
  dispatch(b, 2, 7);        // 1 and 2 in flight
  b.take_back(taken(2, 3)); // parked behind 2
  b.take_back(taken(4));
  b.take_back(taken(5));
  dispatch(b, 1, 8);                                          // 3 in flight
  b.on_reports(8, {report(3, dispatch_report::failed, 900)}); // held back
  // 4 and 5 queued, 3 held back, 2's parked copy: they leave the book; 2
  // keeps its mark (its copy in flight runs and settles it).
  BOOST_TEST(b.drop_taken() == (std::vector<uint64_t>{3, 4, 5}));
  BOOST_TEST(b.queue().empty());
  BOOST_TEST(b.in_flight() == 2u);
  BOOST_TEST(b.taken() == (std::vector<uint64_t>{2}));
  BOOST_TEST(b.release_due(900).first == 0u);
  // The parked copy is gone: once 2 settles, nothing of it is queued.
  b.on_reports(7, {report(1, dispatch_report::settled),
                   report(2, dispatch_report::settled)});
  BOOST_TEST(b.queue().empty());
  BOOST_TEST(!b.has_work());
  // A seq dropped from the queue may be queued again.
  BOOST_TEST(b.enqueue(dl(4)));
  BOOST_TEST(b.drop_taken().empty());
}

BOOST_AUTO_TEST_SUITE_END()
