// Deterministic actor tests: the whole node runs on CAF's test coordinator,
// time moves only when a test advances it, and effects are counted from the
// store's processed records (the handler's own record), not our counters.

#include "actors/dead_letter_queue.hpp"
#include "tests/actors/fixture.hpp"

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

BOOST_FIXTURE_TEST_SUITE(runtime, fixture)

BOOST_AUTO_TEST_CASE(three_listeners_one_event_one_effect) {
  add_group("g", 3, always_ok());
  start();
  auto rs = publish({make_event("e1", "order.created")});
  BOOST_REQUIRE_EQUAL(rs.size(), 1u);
  BOOST_CHECK(!rs[0].duplicate);
  BOOST_CHECK_GT(rs[0].seq, 0u);
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
  BOOST_CHECK_EQUAL(probes->count("e1"), 1u);
  BOOST_CHECK(status("e1", "g") == event_status::processed);
}

BOOST_AUTO_TEST_CASE(many_events_three_listeners_each_once) {
  add_group("g", 3, always_ok()).batch_size = 7;
  start();
  std::vector<event> evs;
  for (int i = 0; i < 500; ++i)
    evs.push_back(make_event("e" + std::to_string(i), "t"));
  publish(evs);
  for (int i = 0; i < 500; ++i)
    BOOST_CHECK_EQUAL(effects("e" + std::to_string(i)), 1u);
  BOOST_CHECK_EQUAL(st->processed_count("g"), 500u);
}

BOOST_AUTO_TEST_CASE(two_groups_one_effect_each) {
  add_group("billing", 2, always_ok(), {"order.*"});
  add_group("audit", 2, always_ok(), {"*"});
  add_group("users", 1, always_ok(), {"user.*"});
  start();
  publish({make_event("e1", "order.created")});
  BOOST_CHECK_EQUAL(effects("e1", "billing"), 1u);
  BOOST_CHECK_EQUAL(effects("e1", "audit"), 1u);
  BOOST_CHECK_EQUAL(effects("e1", "users"), 0u);
  BOOST_CHECK_EQUAL(effects("e1"), 2u);
}

BOOST_AUTO_TEST_CASE(failing_event_retried_with_backoff_then_dead) {
  auto& g = add_group("g", 1, [](const event&, uint32_t attempt, size_t) {
    return fail(outcome::retryable, "boom " + std::to_string(attempt));
  });
  g.retry.max_attempts = 5;
  start();
  publish({make_event("e1", "t")});
  BOOST_CHECK_EQUAL(probes->count("e1"), 1u);
  BOOST_CHECK(status("e1", "g") == event_status::retrying);
  // Retries at +1 s, +2 s, +4 s, +8 s after each failure (jitter pinned to
  // its ceiling). One millisecond early nothing happens.
  size_t expected = 1;
  for (auto delay : {1000ms, 2000ms, 4000ms, 8000ms}) {
    advance(delay - 1ms);
    BOOST_CHECK_EQUAL(probes->count("e1"), expected);
    advance(1ms);
    ++expected;
    BOOST_CHECK_EQUAL(probes->count("e1"), expected);
  }
  // Fifth attempt was the last: the event is dead with every attempt.
  BOOST_CHECK(status("e1", "g") == event_status::dead);
  auto dead = st->dlq_get("e1");
  BOOST_REQUIRE_EQUAL(dead.size(), 1u);
  BOOST_CHECK(dead[0].reason == dlq_reason::retries_exhausted);
  BOOST_CHECK_EQUAL(dead[0].last_error, "boom 5");
  BOOST_REQUIRE_EQUAL(dead[0].dl.history.size(), 5u);
  for (uint32_t i = 0; i < 5; ++i) {
    BOOST_CHECK_EQUAL(dead[0].dl.history[i].attempt, i + 1);
    BOOST_CHECK(dead[0].dl.history[i].result == outcome::retryable);
    BOOST_CHECK_GT(dead[0].dl.history[i].epoch, 0u);
  }
  // Nothing further happens.
  advance(600000ms);
  BOOST_CHECK_EQUAL(probes->count("e1"), 5u);
  BOOST_CHECK_EQUAL(effects("e1"), 0u);
}

BOOST_AUTO_TEST_CASE(fails_twice_then_succeeds_once) {
  add_group("g", 2, [](const event&, uint32_t attempt, size_t) {
    return attempt <= 2 ? fail(outcome::retryable, "not yet") : ok_effect();
  });
  start();
  publish({make_event("e1", "t")});
  advance(1000ms);
  advance(2000ms);
  BOOST_CHECK_EQUAL(probes->count("e1"), 3u);
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
  BOOST_CHECK(status("e1", "g") == event_status::processed);
}

BOOST_AUTO_TEST_CASE(permanent_error_goes_straight_to_dlq) {
  add_group("g", 1, [](const event&, uint32_t, size_t) {
    return fail(outcome::permanent, "bad data");
  });
  start();
  publish({make_event("e1", "t")});
  BOOST_CHECK_EQUAL(probes->count("e1"), 1u);
  auto dead = st->dlq_get("e1");
  BOOST_REQUIRE_EQUAL(dead.size(), 1u);
  BOOST_CHECK(dead[0].reason == dlq_reason::permanent_error);
  BOOST_CHECK_EQUAL(dead[0].last_error, "bad data");
}

BOOST_AUTO_TEST_CASE(listener_dies_mid_event_runs_again_at_once_one_effect) {
  auto& g = add_group("g", 2, [](const event&, uint32_t, size_t call) {
    if (call == 1)
      throw crash_listener{};
    return ok_effect();
  });
  g.lease_ttl = 5000;
  start();
  publish({make_event("e1", "t")});
  // The first listener died holding the lease: its DOWN hands the entry
  // back and the next claim revokes that lease (no wait for its expiry).
  BOOST_CHECK_EQUAL(probes->count("e1"), 2u);
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
  auto hs = st->history_of("e1");
  BOOST_REQUIRE_EQUAL(hs.size(), 1u);
  BOOST_REQUIRE_EQUAL(hs[0].attempts.size(), 2u);
  BOOST_CHECK(hs[0].attempts[0].result == outcome::crashed);
  BOOST_CHECK_EQUAL(hs[0].attempts[0].error,
                    "listener went down without completion");
  advance(60000ms);
  BOOST_CHECK_EQUAL(probes->count("e1"), 2u);
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
}

BOOST_AUTO_TEST_CASE(crash_loop_goes_to_dlq_after_budget) {
  auto& g = add_group("g", 1,
                      [](const event&, uint32_t, size_t) -> handler_result {
                        throw crash_listener{};
                      });
  g.lease_ttl = 1000;
  g.retry.crash_budget = 2;
  start();
  publish({make_event("e1", "t")});
  advance_in_steps(20000ms, 500ms);
  // First delivery plus two crash redeliveries; the next claim is refused.
  BOOST_CHECK_EQUAL(probes->count("e1"), 3u);
  auto dead = st->dlq_get("e1");
  BOOST_REQUIRE_EQUAL(dead.size(), 1u);
  BOOST_CHECK(dead[0].reason == dlq_reason::crash_loop);
  BOOST_CHECK_EQUAL(effects("e1"), 0u);
}

BOOST_AUTO_TEST_CASE(stale_epoch_completion_rejected) {
  add_group("g", 1, always_ok(), {"other.*"});
  start();
  // Drive the deduplicator directly: claim, let the lease lapse, re-claim.
  std::vector<event> evs{make_event("e1", "nobody.listens")};
  auto appended = st->append(evs, 0, 1000);
  claim_request req{"g", "e1", appended[0].seq};
  auto claim = [&](millis_t ttl) {
    claim_decision d;
    self->send(n.dedup, atom::claim_v, std::vector<claim_request>{req},
               std::string{"test"}, ttl, uint32_t{3});
    run();
    self->receive([&](std::vector<claim_decision>& ds) { d = ds.at(0); },
                  [&](caf::error& err) { BOOST_FAIL(render(err)); });
    return d;
  };
  auto first = claim(1000);
  BOOST_REQUIRE(first.kind == claim_decision::granted);
  auto held = claim(1000);
  BOOST_CHECK(held.kind == claim_decision::held);
  advance(1001ms);
  auto second = claim(1000);
  BOOST_REQUIRE(second.kind == claim_decision::granted);
  BOOST_CHECK_GT(second.epoch, first.epoch);
  auto settle = [&](uint64_t epoch) {
    settlement s;
    s.kind = settle_kind::done;
    s.dl.ev = evs[0];
    s.dl.group = "g";
    s.dl.epoch = epoch;
    s.record_effect = true;
    fence_decision d = fence_decision::no_lease;
    self->send(n.dedup, atom::settle_v, std::vector<settlement>{s});
    run();
    self->receive([&](std::vector<fence_decision>& ds) { d = ds.at(0); },
                  [&](caf::error& err) { BOOST_FAIL(render(err)); });
    return d;
  };
  BOOST_CHECK(settle(first.epoch) == fence_decision::stale);
  BOOST_CHECK_EQUAL(effects("e1"), 0u);
  BOOST_CHECK(settle(second.epoch) == fence_decision::ok);
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
  BOOST_CHECK(settle(second.epoch) != fence_decision::ok);
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
}

BOOST_AUTO_TEST_CASE(stalled_listener_is_fenced_effect_once) {
  // The first call takes 40 s with a 30 s lease: the janitor hands the
  // event to the other listener; the stalled one's completion is refused.
  auto& g = add_group("g", 2, [](const event&, uint32_t, size_t call) {
    auto r = ok_effect();
    if (call == 1)
      r.latency = 40000;
    return r;
  });
  g.lease_ttl = 30000;
  start();
  publish({make_event("e1", "t")});
  advance_in_steps(45000ms, 1000ms);
  BOOST_CHECK_EQUAL(probes->count("e1"), 2u);
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
  caf::settings s;
  self->send(n.dedup, atom::status_v);
  run();
  self->receive([&](caf::settings& x) { s = x; });
  BOOST_CHECK_EQUAL(caf::get_or(s, "deduplicator.refused-stale", uint64_t{0}),
                    1u);
  // The stalled run counts as a crash redelivery (its lease expired
  // unsettled): the history shows it before the success.
  auto h = st->history_of("e1");
  BOOST_REQUIRE_EQUAL(h.size(), 1u);
  BOOST_REQUIRE_EQUAL(h[0].attempts.size(), 2u);
  BOOST_CHECK(h[0].attempts[0].result == outcome::crashed);
  BOOST_CHECK(h[0].attempts[1].result == outcome::success);
}

BOOST_AUTO_TEST_CASE(batch_outliving_its_leases_is_requeued_not_lost) {
  // Two events in one batch, 600 ms each on the first call: the batch
  // settles after 1.2 s, past the 1 s leases, before the janitor would take
  // the work away. The refused events must be queued again, not dropped.
  auto& g = add_group("g", 1, [](const event&, uint32_t, size_t call) {
    auto r = ok_effect();
    if (call == 1)
      r.latency = 600;
    return r;
  });
  g.lease_ttl = 1000;
  g.batch_size = 2;
  ncfg.janitor_interval = 5000;
  start();
  publish({make_event("e1", "t"), make_event("e2", "t")});
  advance(1200ms);
  advance(1ms);
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
  BOOST_CHECK_EQUAL(effects("e2"), 1u);
  BOOST_CHECK(status("e1", "g") == event_status::processed);
  BOOST_CHECK(status("e2", "g") == event_status::processed);
  advance(60000ms);
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
  BOOST_CHECK_EQUAL(effects("e2"), 1u);
}

BOOST_AUTO_TEST_CASE(duplicate_submission_answered_duplicate) {
  add_group("g", 1, always_ok());
  start();
  auto first = publish({make_event("order-42", "t")});
  BOOST_REQUIRE(!first.at(0).duplicate);
  auto again = publish({make_event("order-42", "t"), make_event("x", "t")});
  BOOST_REQUIRE_EQUAL(again.size(), 2u);
  BOOST_CHECK(again[0].duplicate);
  BOOST_CHECK_EQUAL(again[0].seq, first[0].seq);
  BOOST_CHECK(again[0].original == event_status::processed);
  BOOST_CHECK(!again[1].duplicate);
  BOOST_CHECK_EQUAL(probes->count("order-42"), 1u);
  BOOST_CHECK_EQUAL(effects("order-42"), 1u);
}

BOOST_AUTO_TEST_CASE(replay_from_dlq_processes_once) {
  add_group("g", 1, [](const event&, uint32_t, size_t call) {
    return call == 1 ? fail(outcome::permanent, "bad") : ok_effect();
  });
  start();
  publish({make_event("e1", "t")});
  BOOST_REQUIRE(status("e1", "g") == event_status::dead);
  uint64_t replayed = 0;
  self->send(n.dlq, atom::replay_v, std::string{"e1"}, std::string{});
  run();
  self->receive([&](uint64_t x) { replayed = x; },
                [&](caf::error& err) { BOOST_FAIL(render(err)); });
  BOOST_CHECK_EQUAL(replayed, 1u);
  advance(1ms);
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
  BOOST_CHECK(status("e1", "g") == event_status::processed);
  BOOST_CHECK(st->dlq_get("e1").empty());
  // Replaying again finds nothing and changes nothing.
  self->send(n.dlq, atom::replay_v, std::string{"e1"}, std::string{});
  run();
  self->receive([&](uint64_t x) { BOOST_CHECK_EQUAL(x, 0u); },
                [&](caf::error& err) { BOOST_FAIL(render(err)); });
  advance(10ms);
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
}

BOOST_AUTO_TEST_CASE(priorities_order_high_first_low_not_starved) {
  auto& g = add_group("g", 1, always_ok());
  g.batch_size = 1;
  start();
  std::vector<event> evs;
  for (int i = 0; i < 10; ++i) {
    evs.push_back(
      make_event("l" + std::to_string(i), "t", "{}", priority::low));
    evs.push_back(
      make_event("n" + std::to_string(i), "t", "{}", priority::normal));
    evs.push_back(
      make_event("h" + std::to_string(i), "t", "{}", priority::high));
  }
  publish(evs);
  BOOST_REQUIRE_EQUAL(probes->calls.size(), 30u);
  // The batch is appended and read at once, so the first pick is high.
  BOOST_CHECK_EQUAL(probes->calls[0].first[0], 'h');
  double pos[3] = {0, 0, 0};
  size_t low_in_first_10 = 0;
  for (size_t i = 0; i < probes->calls.size(); ++i) {
    auto c = probes->calls[i].first[0];
    pos[c == 'h' ? 0 : (c == 'n' ? 1 : 2)] += static_cast<double>(i);
    if (c == 'l' && i < 10)
      ++low_in_first_10;
  }
  BOOST_CHECK_LT(pos[0], pos[1]);
  BOOST_CHECK_LT(pos[1], pos[2]);
  BOOST_CHECK_GE(low_in_first_10, 1u); // weighted share: low never starves
}

BOOST_AUTO_TEST_CASE(rate_limit_delays_never_drops) {
  auto& g = add_group("g", 1, always_ok());
  g.rate_limit = 10; // events/s
  g.rate_burst = 1;
  g.batch_size = 100;
  start();
  std::vector<event> evs;
  for (int i = 0; i < 20; ++i)
    evs.push_back(make_event("e" + std::to_string(i), "t"));
  publish(evs);
  BOOST_CHECK_EQUAL(probes->calls.size(), 1u);
  advance_in_steps(1000ms, 100ms);
  BOOST_CHECK_GE(probes->calls.size(), 10u);
  BOOST_CHECK_LE(probes->calls.size(), 12u);
  advance_in_steps(2000ms, 100ms);
  BOOST_CHECK_EQUAL(probes->calls.size(), 20u);
  BOOST_CHECK_EQUAL(st->processed_count("g"), 20u);
}

BOOST_AUTO_TEST_CASE(back_pressure_refuses_with_overloaded) {
  auto& g = add_group("g", 1, [](const event&, uint32_t, size_t) {
    auto r = ok_effect();
    r.latency = 1000;
    return r;
  });
  g.batch_size = 1;
  ncfg.max_backlog = 5;
  start();
  std::vector<event> evs;
  for (int i = 0; i < 5; ++i)
    evs.push_back(make_event("e" + std::to_string(i), "t"));
  publish(evs);
  auto err = publish_error({make_event("x", "t")});
  BOOST_CHECK_EQUAL(err.code(), static_cast<uint8_t>(ec::overloaded));
  BOOST_CHECK(render(err).find("retry after") != std::string::npos);
  // Accepted events are all processed; then ingest works again.
  advance_in_steps(6000ms, 500ms);
  BOOST_CHECK_EQUAL(st->processed_count("g"), 5u);
  auto rs = publish({make_event("x", "t")});
  BOOST_CHECK(!rs.at(0).duplicate);
}

BOOST_AUTO_TEST_CASE(ingest_revalidates_events) {
  add_group("g", 1, always_ok());
  start();
  auto bad_type = make_event("ok-id", "bad type");
  auto err = publish_error({make_event("a", "t"), bad_type});
  BOOST_CHECK_EQUAL(err.code(), static_cast<uint8_t>(ec::invalid_event));
  BOOST_CHECK(render(err).find("event 1: field 'type'") != std::string::npos);
  err = publish_error({make_event("b", "t", "[1,2]")});
  BOOST_CHECK(render(err).find("field 'payload' must be a JSON object")
              != std::string::npos);
  err = publish_error({make_event("", "t")});
  BOOST_CHECK(render(err).find("field 'id'") != std::string::npos);
  // Nothing of a refused batch was accepted.
  BOOST_CHECK(status("a", "g") == event_status::unknown);
}

BOOST_AUTO_TEST_CASE(shutdown_drains_in_flight_then_refuses) {
  add_group("g", 1, [](const event&, uint32_t, size_t) {
    auto r = ok_effect();
    r.latency = 2000;
    return r;
  });
  start();
  publish({make_event("e1", "t")});
  BOOST_CHECK_EQUAL(effects("e1"), 0u);
  self->send(n.broadcaster, atom::drain_v, millis_t{10000});
  run();
  BOOST_CHECK(self->mailbox().empty());
  auto err = publish_error({make_event("e2", "t")});
  BOOST_CHECK_EQUAL(err.code(), static_cast<uint8_t>(ec::draining));
  advance(2000ms);
  BOOST_CHECK_EQUAL(effects("e1"), 1u);
  bool drained = false;
  self->receive([&](bool x) { drained = x; });
  BOOST_CHECK(drained);
}

/// Appends over a store actor of their own (as on Redis) must not overtake
/// the registration of the groups: a group registers at the log's head, so
/// an event appended first would never reach it. Here the ingest store
/// actor always runs first (two actors over one store object: safe on the
/// test coordinator's single thread).
BOOST_AUTO_TEST_CASE(appends_wait_for_the_groups_registration) {
  add_group("g", 1,
            [](const event&, uint32_t, size_t) { return handler_result{}; });
  n = start_node(
    sys, ncfg, st, false, [] { return 1.0; }, &handlers, extra_stores{st, {}});
  BOOST_REQUIRE(n.ingest_store != n.store);
  self->send(n.broadcaster, atom::ingest_v,
             std::vector<event>{make_event("early", "t")});
  while (sched.has_job()) {
    sched.prioritize(n.ingest_store);
    sched.run_once();
  }
  std::vector<append_result> rs;
  self->receive([&](std::vector<append_result>& x) { rs = std::move(x); },
                [&](caf::error& err) {
                  BOOST_FAIL("ingest failed: " << render(err));
                });
  BOOST_REQUIRE_EQUAL(rs.size(), 1u);
  BOOST_CHECK(!rs[0].duplicate);
  advance(std::chrono::milliseconds(100));
  BOOST_CHECK_EQUAL(probes->count("early"), 1u);
  BOOST_CHECK(status("early", "g") == event_status::processed);
}

BOOST_AUTO_TEST_SUITE_END()
