// Unit tests for actors/logic/dispatch.hpp and intake.hpp: batches filled
// under token buckets and priority weights, batch wait, and the checks of an
// ingest batch.
#include "actors/logic/dispatch.hpp"
#include "actors/logic/intake.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace onceflow;

namespace {

delivery dl(uint64_t seq, const std::string& type = "t",
            priority p = priority::normal) {
  delivery d;
  d.ev.seq = seq;
  d.ev.type = type;
  d.ev.prio = p;
  return d;
}

std::vector<uint64_t> seqs(const std::vector<delivery>& xs) {
  std::vector<uint64_t> out;
  for (auto& x : xs)
    out.push_back(x.ev.seq);
  return out;
}

event ev(const std::string& id, const std::string& type = "t",
         std::string payload = "{}") {
  event e;
  e.id = id;
  e.type = type;
  e.payload = std::move(payload);
  return e;
}

} // namespace

BOOST_AUTO_TEST_SUITE(fill_batch_suite)

BOOST_AUTO_TEST_CASE(unlimited_takes_batch_size_in_priority_order) {
  priority_queues<delivery> q{priority_weights{6, 3, 1}};
  q.push(priority::low, dl(1, "t", priority::low));
  for (uint64_t s = 2; s <= 5; ++s)
    q.push(priority::high, dl(s, "t", priority::high));
  group_limits lim;
  BOOST_TEST(lim.unlimited());
  auto f = fill_batch(q, lim, 3, 0);
  BOOST_TEST((seqs(f.batch) == std::vector<uint64_t>{2, 3, 4}));
  BOOST_TEST(f.retry_at == -1);
  BOOST_TEST(!f.group_limited);
  BOOST_TEST(q.size() == 2u);
}

BOOST_AUTO_TEST_CASE(group_bucket_limits_the_batch_and_says_when) {
  priority_queues<delivery> q;
  for (uint64_t s = 1; s <= 10; ++s)
    q.push(priority::normal, dl(s));
  group_limits lim;
  lim.group = token_bucket{10, 2, 0}; // 10/s, burst 2
  auto f = fill_batch(q, lim, 10, 0);
  BOOST_TEST((seqs(f.batch) == std::vector<uint64_t>{1, 2}));
  BOOST_TEST(f.group_limited);
  BOOST_TEST(f.retry_at == 100);
  // One token after 100 ms.
  f = fill_batch(q, lim, 10, 100);
  BOOST_TEST((seqs(f.batch) == std::vector<uint64_t>{3}));
}

BOOST_AUTO_TEST_CASE(type_bucket_sets_its_events_aside_in_their_place) {
  priority_queues<delivery> q;
  q.push(priority::normal, dl(1, "mail.sent"));
  q.push(priority::normal, dl(2, "mail.sent"));
  q.push(priority::normal, dl(3, "order.created"));
  q.push(priority::normal, dl(4, "mail.sent"));
  group_limits lim;
  lim.types.emplace_back("mail.*", token_bucket{1, 1, 0});
  BOOST_TEST(!lim.unlimited());
  auto f = fill_batch(q, lim, 10, 0);
  // One mail (the bucket's token), the order goes ahead of the others.
  BOOST_TEST((seqs(f.batch) == std::vector<uint64_t>{1, 3}));
  BOOST_TEST(!f.group_limited);
  BOOST_TEST(f.retry_at == 1000);
  // The deferred mails kept their order at the head of the queue.
  BOOST_TEST(q.pop().ev.seq == 2u);
  BOOST_TEST(q.pop().ev.seq == 4u);
}

BOOST_AUTO_TEST_CASE(deferral_is_bounded_per_batch) {
  priority_queues<delivery> q;
  for (uint64_t s = 1; s <= max_deferred_per_batch + 10; ++s)
    q.push(priority::normal, dl(s, "mail.sent"));
  q.push(priority::normal, dl(99999, "order.created"));
  group_limits lim;
  lim.types.emplace_back("mail.*", token_bucket{1, 1, 0});
  auto f = fill_batch(q, lim, 10, 0);
  // One mail taken, then at most max_deferred_per_batch looked past.
  BOOST_TEST(f.batch.size() == 1u);
  BOOST_TEST(q.size() == max_deferred_per_batch + 10u);
  BOOST_TEST(q.pop().ev.seq == 2u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(batch_wait_suite)

BOOST_AUTO_TEST_CASE(partial_batch_waits_then_goes) {
  batch_wait w;
  BOOST_TEST(w.hold_until(3, 10, 50, 1000) == 1050);
  BOOST_TEST(w.hold_until(5, 10, 50, 1049) == 1050);
  BOOST_TEST(w.hold_until(5, 10, 50, 1050) == -1);
  // The next partial batch waits anew.
  BOOST_TEST(w.hold_until(1, 10, 50, 1060) == 1110);
}

BOOST_AUTO_TEST_CASE(full_batch_or_no_wait_goes_at_once) {
  batch_wait w;
  BOOST_TEST(w.hold_until(10, 10, 50, 0) == -1);
  BOOST_TEST(w.hold_until(3, 10, 0, 0) == -1);
  BOOST_TEST(w.hold_until(3, 10, 50, 0) == 50);
  w.reset();
  BOOST_TEST(w.hold_until(3, 10, 50, 20) == 70);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(intake_suite)

/// The node's clock at ingest.
constexpr millis_t now = 1'700'000'000'000;

BOOST_AUTO_TEST_CASE(batch_over_the_limit_is_invalid) {
  intake_limits lim;
  lim.max_batch = 2;
  auto r = check_intake({ev("a"), ev("b"), ev("c")}, lim, 0, 0, now);
  BOOST_TEST(r.kind == intake_refusal::invalid);
  BOOST_TEST(r.message == "batch of 3 events is over the limit of 2");
}

BOOST_AUTO_TEST_CASE(first_bad_event_is_named_by_index_and_field) {
  intake_limits lim;
  auto r = check_intake({ev("a"), ev("b", "bad type")}, lim, 0, 0, now);
  BOOST_TEST(r.kind == intake_refusal::invalid);
  BOOST_TEST(r.message.rfind("event 1: field 'type' must match", 0) == 0u,
             r.message);
  r = check_intake({ev("a", "t", "[1]")}, lim, 0, 0, now);
  BOOST_TEST(r.message == "event 0: field 'payload' must be a JSON object");
  r = check_intake({ev("")}, lim, 0, 0, now);
  BOOST_TEST(r.message.rfind("event 0: field 'id'", 0) == 0u, r.message);
  auto bad = ev("a");
  bad.prio = static_cast<priority>(7);
  r = check_intake({bad}, lim, 0, 0, now);
  BOOST_TEST(r.message
             == "event 0: field 'priority' must be one of high, "
                "normal, low");
}

BOOST_AUTO_TEST_CASE(back_pressure_after_the_checks) {
  intake_limits lim;
  lim.max_backlog = 10;
  lim.max_pending_appends = 2;
  BOOST_TEST(!check_intake({ev("a"), ev("b")}, lim, 8, 1, now));
  auto r = check_intake({ev("a"), ev("b")}, lim, 9, 1, now);
  BOOST_TEST(r.kind == intake_refusal::overloaded);
  BOOST_TEST(r.message == "retry after 100 ms (9 events unsettled, limit 10)");
  BOOST_TEST(check_intake({ev("a")}, lim, 0, 2, now).kind
             == intake_refusal::overloaded);
  // An invalid batch is invalid, also when overloaded.
  BOOST_TEST(check_intake({ev("")}, lim, 100, 5, now).kind
             == intake_refusal::invalid);
}

BOOST_AUTO_TEST_CASE(delays_are_checked_against_the_maximum_at_ingest) {
  intake_limits lim;
  lim.events.max_delay = 60'000;
  auto a = ev("a");
  a.delay = 60'000;
  auto b = ev("b");
  b.not_before = now + 60'000;
  BOOST_TEST(!check_intake({a, b}, lim, 0, 0, now));
  // One millisecond more, by delay or by time, refuses the batch.
  a.delay = 60'001;
  auto r = check_intake({ev("x"), a}, lim, 0, 0, now);
  BOOST_TEST(r.kind == intake_refusal::invalid);
  BOOST_TEST(r.message
               == "event 1: field 'delay' of 60001ms is over the maximum "
                  "delay of 1min ([events] max-delay)",
             r.message);
  b.not_before = now + 60'001;
  r = check_intake({b}, lim, 0, 0, now);
  BOOST_TEST(r.message
               == "event 0: field 'notBefore' is 60001ms after now, over the "
                  "maximum delay of 1min ([events] max-delay)",
             r.message);
  // A time in the past is fine (it runs at once); both at once are not.
  b.not_before = now - 5;
  BOOST_TEST(!check_intake({b}, lim, 0, 0, now));
  b.delay = 5;
  b.not_before = now + 10;
  r = check_intake({b}, lim, 0, 0, now);
  BOOST_TEST(r.message.rfind("event 0: field 'delay' and notBefore", 0) == 0u,
             r.message);
  auto neg = ev("n");
  neg.delay = -1;
  BOOST_TEST(check_intake({neg}, lim, 0, 0, now).message
             == "event 0: field 'delay' must not be negative");
}

BOOST_AUTO_TEST_CASE(delays_become_times_at_acceptance) {
  auto a = ev("a");
  a.delay = 30'000;
  auto b = ev("b");
  b.not_before = now + 10'000;
  auto c = ev("c");
  c.not_before = now; // due already: runs at once
  auto d = ev("d");   // not delayed
  std::vector<event> batch{a, b, c, d};
  BOOST_TEST(resolve_delays(batch, now) == now + 10'000);
  BOOST_TEST(batch[0].not_before == now + 30'000);
  BOOST_TEST(batch[0].delay == 0);
  BOOST_TEST(batch[1].not_before == now + 10'000);
  BOOST_TEST(batch[2].not_before == 0);
  BOOST_TEST(batch[3].not_before == 0);
  std::vector<event> none{ev("x")};
  BOOST_TEST(resolve_delays(none, now) == -1);
}

BOOST_AUTO_TEST_SUITE_END()
