// Redis specifics (not part of the store contract): what the adapter keeps
// under its key prefix. Prefixes isolate deployments; wrong-type keys and
// unknown groups are named; ledger values, resent claims and settlements,
// the PEL mirror, read leases and the layout-2 upgrade, seen through the
// keys themselves.

#include "tests/integration/contract/backends.hpp"

#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;

BOOST_AUTO_TEST_SUITE(redis_adapter)

BOOST_AUTO_TEST_CASE(wrong_type_key_is_named) {
  if (skip_redis_tests())
    return;
  auto& server = shared_server();
  // At open.
  auto prefix = unique_prefix("wrongtype");
  BOOST_REQUIRE_EQUAL(raw_command(server.port(),
                                  {"SET", prefix + "groups", "not a hash"}),
                      "+OK");
  redis_options opts;
  opts.url = server.url();
  opts.prefix = prefix;
  expect_open_error(opts, {"key '" + prefix + "groups'", "WRONGTYPE"});
  // While running: a group's key replaced behind our back.
  auto prefix2 = unique_prefix("wrongtype");
  auto s = open_store(server.url(), prefix2);
  s->ensure_group({"g", {"*"}});
  std::vector<event> batch{make_event("a", "t")};
  s->append(batch, t0, 1000);
  BOOST_REQUIRE_EQUAL(
    raw_command(server.port(), {"SET", prefix2 + "g:g:pel", "oops"}), "+OK");
  try {
    s->read_group("g", 10, t0);
    BOOST_ERROR("read_group over a wrong-type key did not throw");
  } catch (const store_error& ex) {
    std::string what = ex.what();
    BOOST_TEST_MESSAGE("error: " << what);
    BOOST_CHECK(what.find("'" + prefix2 + "g:g:pel'") != std::string::npos);
    BOOST_CHECK(what.find("WRONGTYPE") != std::string::npos);
  }
  // The store object stays usable for other keys.
  BOOST_CHECK_EQUAL(s->head(), 1u);
  BOOST_CHECK_EQUAL(s->find("a").seq, 1u);
}

BOOST_AUTO_TEST_CASE(prefix_isolates_deployments) {
  if (skip_redis_tests())
    return;
  auto& server = shared_server();
  auto a = open_store(server.url(), unique_prefix("iso-a"));
  auto b = open_store(server.url(), unique_prefix("iso-b"));
  a->ensure_group({"g", {"*"}});
  b->ensure_group({"g", {"order.*"}});
  std::vector<event> ba{make_event("x", "order.created"),
                        make_event("y", "user.created")};
  std::vector<event> bb{make_event("x", "order.created")};
  auto ra = a->append(ba, t0, 60'000);
  auto rb = b->append(bb, t0, 60'000);
  BOOST_CHECK(!ra.at(0).duplicate);
  BOOST_CHECK(!rb.at(0).duplicate); // same id, other deployment
  BOOST_CHECK_EQUAL(a->head(), 2u);
  BOOST_CHECK_EQUAL(b->head(), 1u);
  BOOST_CHECK_EQUAL(a->backlog("g"), 2u);
  BOOST_CHECK_EQUAL(b->backlog("g"), 1u);
  BOOST_CHECK_EQUAL(a->read_group("g", 10, t0).size(), 2u);
  auto evs = b->read_group("g", 10, t0);
  BOOST_REQUIRE_EQUAL(evs.size(), 1u);
  auto d = b->claim({{"g", "x", evs[0].seq}}, "n/l", t0, 1000, 3);
  settlement st;
  st.dl.ev = evs[0];
  st.dl.group = "g";
  st.dl.epoch = d.at(0).epoch;
  st.record_effect = true;
  BOOST_CHECK(b->settle({st}, t0 + 1).at(0) == fence_decision::ok);
  BOOST_CHECK(b->is_done("g", evs[0].seq));
  BOOST_CHECK(!a->is_done("g", evs[0].seq));
  BOOST_CHECK_EQUAL(a->processed_count(""), 0u);
  BOOST_CHECK_EQUAL(b->processed_count(""), 1u);
  BOOST_CHECK_EQUAL(a->backlog("g"), 2u);
  BOOST_CHECK_EQUAL(b->backlog("g"), 0u);
  BOOST_CHECK(a->describe().find("redis://127.0.0.1:") == 0);
  BOOST_CHECK(a->describe().find("s3cret") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(history_reads_ledger_values_without_attempts) {
  if (skip_redis_tests())
    return;
  auto& server = shared_server();
  auto prefix = unique_prefix("ledger");
  auto s = open_store(server.url(), prefix);
  s->ensure_group({"g", {"*"}});
  std::vector<event> batch{make_event("a", "t"), make_event("b", "t")};
  s->append(batch, t0, 60'000);
  auto evs = s->read_group("g", 10, t0);
  BOOST_REQUIRE_EQUAL(evs.size(), 2u);
  auto d = s->claim({{"g", "a", evs[0].seq}}, "n/l", t0, 1000, 3);
  settlement st;
  st.dl.ev = evs[0];
  st.dl.group = "g";
  st.dl.epoch = d.at(0).epoch;
  attempt_record rec;
  rec.attempt = 1;
  rec.at = t0 + 1;
  rec.node = "n";
  rec.listener = "l";
  rec.epoch = st.dl.epoch;
  rec.error = "ok then";
  st.dl.history.push_back(rec);
  BOOST_REQUIRE(s->settle({st}, t0 + 2).at(0) == fence_decision::ok);
  auto h = s->history_of("a");
  BOOST_REQUIRE_EQUAL(h.size(), 1u);
  BOOST_REQUIRE_EQUAL(h[0].attempts.size(), 1u);
  BOOST_CHECK_EQUAL(h[0].attempts[0].error, "ok then");
  // A ledger entry without a history: "D<epoch> <at>".
  BOOST_REQUIRE_EQUAL(raw_command(server.port(), {"HSET", prefix + "g:g:st",
                                                  std::to_string(evs[1].seq),
                                                  "D42 1700000000123"}),
                      ":1");
  h = s->history_of("b");
  BOOST_REQUIRE_EQUAL(h.size(), 1u);
  BOOST_CHECK(h[0].status == event_status::processed);
  BOOST_REQUIRE_EQUAL(h[0].attempts.size(), 1u);
  BOOST_CHECK_EQUAL(h[0].attempts[0].epoch, 42u);
  BOOST_CHECK_EQUAL(h[0].attempts[0].at, 1700000000123);
  BOOST_CHECK(h[0].attempts[0].result == outcome::success);
  auto l = s->list_events({event_status::processed, "", 0, 10});
  BOOST_CHECK_EQUAL(l.items.size(), 2u);
  // A corrupt value is a store error, not a crash.
  BOOST_REQUIRE_EQUAL(raw_command(server.port(), {"HSET", prefix + "g:g:st",
                                                  std::to_string(evs[1].seq),
                                                  "D42 1700000000123 garbage"}),
                      ":0");
  BOOST_CHECK_THROW(s->history_of("b"), store_error);
}

/// A claim or settlement the adapter sends again after the connection broke
/// under it (same arguments) answers what the first run did and writes
/// nothing twice (redis_store.hpp, connections).
BOOST_AUTO_TEST_CASE(claims_and_settlements_sent_again_answer_the_same) {
  if (skip_redis_tests())
    return;
  auto s = open_store(shared_server().url(), unique_prefix("again"));
  s->ensure_group({"g", {"*"}});
  std::vector<event> batch{make_event("a", "t"), make_event("b", "t"),
                           make_event("c", "t")};
  s->append(batch, t0, 60'000);
  auto evs = s->read_group("g", 10, t0);
  BOOST_REQUIRE_EQUAL(evs.size(), 3u);
  std::vector<claim_request> reqs;
  for (auto& ev : evs)
    reqs.push_back({"g", ev.id, ev.seq});
  auto first = s->claim(reqs, "n/l", t0, 1000, 3);
  auto again = s->claim(reqs, "n/l", t0, 1000, 3);
  BOOST_REQUIRE_EQUAL(again.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    BOOST_CHECK(first[i].kind == claim_decision::granted);
    BOOST_CHECK(again[i].kind == claim_decision::granted);
    BOOST_CHECK_EQUAL(again[i].epoch, first[i].epoch);
  }
  // Another holder, or the same one later, is still refused.
  BOOST_CHECK(s->claim({reqs[0]}, "n/other", t0, 1000, 3)[0].kind
              == claim_decision::held);
  BOOST_CHECK(s->claim({reqs[0]}, "n/l", t0 + 1, 1000, 3)[0].kind
              == claim_decision::held);
  auto item = [&](size_t i, settle_kind kind) {
    settlement st;
    st.kind = kind;
    st.dl.ev = evs[i];
    st.dl.group = "g";
    st.dl.epoch = first[i].epoch;
    st.record_effect = true;
    st.due = t0 + 500;
    st.reason = dlq_reason::permanent_error;
    st.error = "bad";
    return st;
  };
  std::vector<settlement> items{item(0, settle_kind::done),
                                item(1, settle_kind::retry),
                                item(2, settle_kind::dead)};
  for (int round = 0; round < 2; ++round) {
    auto ds = s->settle(items, t0 + 10);
    BOOST_REQUIRE_EQUAL(ds.size(), 3u);
    for (auto d : ds)
      BOOST_CHECK(d == fence_decision::ok);
  }
  BOOST_CHECK_EQUAL(s->processed_count("g"), 1u);
  BOOST_CHECK_EQUAL(s->scheduled(), 1u);
  BOOST_CHECK_EQUAL(s->dlq_size(), 1u);
  // The same settlement later (another `now`) is a stale copy: refused.
  BOOST_CHECK(s->settle({items[0]}, t0 + 11)[0] != fence_decision::ok);
  BOOST_CHECK_EQUAL(s->processed_count("g"), 1u);
}

/// A read delivers entries and records them in the PEL mirror in one
/// transaction, also when the server has lost its script cache (SCRIPT
/// FLUSH, a restart): what was read can always be reclaimed.
BOOST_AUTO_TEST_CASE(reads_are_mirrored_after_a_script_flush) {
  if (skip_redis_tests())
    return;
  auto& server = shared_server();
  auto s = open_store(server.url(), unique_prefix("flush"));
  s->ensure_group({"g", {"*"}});
  s->ensure_group({"h", {"order.*"}});
  std::vector<event> batch{make_event("a", "order.x"), make_event("b", "t"),
                           make_event("c", "order.y")};
  s->append(batch, t0, 60'000);
  BOOST_REQUIRE_EQUAL(raw_command(server.port(), {"SCRIPT", "FLUSH"}), "+OK");
  BOOST_CHECK_EQUAL(s->read_group("g", 10, t0).size(), 3u);
  BOOST_REQUIRE_EQUAL(raw_command(server.port(), {"SCRIPT", "FLUSH"}), "+OK");
  auto h = s->read_group("h", 10, t0);
  BOOST_REQUIRE_EQUAL(h.size(), 2u);
  BOOST_CHECK_EQUAL(h[0].id, "a");
  BOOST_CHECK_EQUAL(h[1].id, "c");
  // Everything read is pending (and only that): reclaim finds it.
  BOOST_CHECK_EQUAL(s->reclaim("g", t0 + 60'000, 1000, 10).size(), 3u);
  BOOST_CHECK_EQUAL(s->reclaim("h", t0 + 60'000, 1000, 10).size(), 2u);
  BOOST_CHECK_EQUAL(s->backlog("h"), 2u);
}

/// The PEL mirror holds one member per read and per reclaim, not one per
/// entry; reclaim drops members whose entries were all settled.
BOOST_AUTO_TEST_CASE(pel_mirror_keeps_a_member_per_read) {
  if (skip_redis_tests())
    return;
  auto& server = shared_server();
  auto prefix = unique_prefix("mirror");
  auto s = open_store(server.url(), prefix);
  s->ensure_group({"g", {"*"}});
  auto batch = append_numbered(*s, "e", 500);
  auto zcard = [&] {
    return raw_command(server.port(), {"ZCARD", prefix + "g:g:pel"});
  };
  BOOST_CHECK_EQUAL(s->read_group("g", 300, t0).size(), 300u);
  BOOST_CHECK_EQUAL(s->read_group("g", 300, t0 + 10).size(), 200u);
  BOOST_CHECK_EQUAL(zcard(), ":2");
  // Settle everything but e7 and e420.
  std::vector<event> most;
  for (auto& ev : batch)
    if (ev.id != "e7" && ev.id != "e420")
      most.push_back(ev);
  process_all(*s, most, t0 + 20);
  BOOST_CHECK_EQUAL(s->backlog("g"), 2u);
  // One at a time: the first member gives e7; what it covers after e7 is
  // kept with the old score (unknown yet whether pending), e7 goes into a
  // member of its own.
  auto r1 = s->reclaim("g", t0 + 1000, 100, 1);
  BOOST_REQUIRE_EQUAL(r1.size(), 1u);
  BOOST_CHECK_EQUAL(r1[0].id, "e7");
  BOOST_CHECK_EQUAL(zcard(), ":3");
  // The rest of the first read has nothing pending (it goes); the second
  // read gives e420.
  auto r2 = s->reclaim("g", t0 + 1000, 100, 1);
  BOOST_REQUIRE_EQUAL(r2.size(), 1u);
  BOOST_CHECK_EQUAL(r2[0].id, "e420");
  BOOST_CHECK_EQUAL(zcard(), ":3");
  // Nothing idle long enough; the rest of the second read goes.
  BOOST_CHECK(s->reclaim("g", t0 + 1099, 100, 10).empty());
  BOOST_CHECK_EQUAL(zcard(), ":2");
  // Both reclaimed ones again, now into one member.
  auto r3 = s->reclaim("g", t0 + 1100, 100, 10);
  BOOST_CHECK_EQUAL(r3.size(), 2u);
  BOOST_CHECK_EQUAL(zcard(), ":1");
  // Once nothing is pending, one reclaim drops every member (below the
  // lowest pending entry: no look at each one), however many there are.
  for (int i = 0; i < 30; ++i) {
    std::vector<event> more{make_event("m" + std::to_string(i), "t")};
    s->append(more, t0 + 1200, 60'000);
    BOOST_REQUIRE_EQUAL(s->read_group("g", 10, t0 + 1200 + i).size(), 1u);
  }
  BOOST_CHECK_EQUAL(zcard(), ":31");
  std::vector<event> rest = r3;
  for (int i = 0; i < 30; ++i)
    rest.push_back(s->find("m" + std::to_string(i)));
  process_all(*s, rest, t0 + 1300);
  BOOST_CHECK(s->reclaim("g", t0 + 100'000, 100, 10).empty());
  BOOST_CHECK_EQUAL(zcard(), ":0");
}

/// A leasing read writes one record for its run (g:<g>:rl), nothing per
/// entry; settlements and claims find the lease there until the pair has a
/// state field; reclaim writes out the expired leases of what it takes (so
/// the next claim counts a crash redelivery) and drops the record. A group
/// registered again from the start leases only entries appended later.
BOOST_AUTO_TEST_CASE(read_leases_are_one_record_per_read) {
  if (skip_redis_tests())
    return;
  auto& server = shared_server();
  auto prefix = unique_prefix("rl");
  auto s = open_store(server.url(), prefix);
  s->ensure_group({"g", {"*"}});
  append_numbered(*s, "e", 100);
  auto cmd = [&](std::vector<std::string> args) {
    return raw_command(server.port(), args);
  };
  auto got = s->read_leased("g", 100, t0, "n/g/read", 1000, 3);
  BOOST_REQUIRE_EQUAL(got.size(), 100u);
  for (size_t i = 1; i < got.size(); ++i)
    BOOST_CHECK_EQUAL(got[i].epoch, got[0].epoch + i);
  BOOST_CHECK_EQUAL(cmd({"ZCARD", prefix + "g:g:rl"}), ":1");
  BOOST_CHECK_EQUAL(cmd({"HLEN", prefix + "g:g:st"}), ":0");
  std::vector<settlement> items;
  for (size_t i = 0; i < 98; ++i) {
    settlement st;
    st.kind = settle_kind::done;
    st.dl = got[i];
    items.push_back(st);
  }
  for (auto d : s->settle(items, t0 + 10))
    BOOST_REQUIRE(d == fence_decision::ok);
  BOOST_CHECK_EQUAL(cmd({"HLEN", prefix + "g:g:st"}), ":98");
  auto back = s->reclaim("g", t0 + 5000, 2000, 10);
  BOOST_REQUIRE_EQUAL(back.size(), 2u);
  BOOST_CHECK_EQUAL(cmd({"HLEN", prefix + "g:g:st"}), ":100");
  BOOST_CHECK_EQUAL(cmd({"ZCARD", prefix + "g:g:rl"}), ":0");
  auto d = s->claim({{"g", "e98", back[0].seq}}, "other", t0 + 5000, 1000, 3);
  BOOST_REQUIRE_EQUAL(d.size(), 1u);
  BOOST_CHECK(d[0].kind == claim_decision::granted);
  BOOST_CHECK_EQUAL(d[0].redeliveries, 1u);
  BOOST_CHECK_GT(d[0].epoch, got[99].epoch);
  // The group lost and registered again from the start: its entries come
  // back without leases (98 are settled), new ones with.
  BOOST_REQUIRE_EQUAL(cmd({"XGROUP", "DESTROY", prefix + "log", "g"}), ":1");
  BOOST_REQUIRE_EQUAL(cmd({"HDEL", prefix + "groups", "g"}), ":1");
  s->ensure_group({"g", {"*"}, true});
  std::vector<event> more{make_event("late", "t")};
  s->append(more, t0 + 6000, 60'000);
  auto again = s->read_leased("g", 200, t0 + 6000, "n/g/read", 1000, 3);
  BOOST_REQUIRE_EQUAL(again.size(), 101u);
  for (size_t i = 0; i < 100; ++i)
    BOOST_CHECK_EQUAL(again[i].lease_until, 0);
  BOOST_CHECK_EQUAL(again[100].ev.id, "late");
  BOOST_CHECK_EQUAL(again[100].lease_until, t0 + 7000);
  auto e0 = s->claim({{"g", "e0", again[0].ev.seq}}, "other", t0 + 6000, 1000,
                     3);
  BOOST_CHECK(e0.at(0).kind == claim_decision::done);
}

/// Data of layout 2 (a mirror member per pending seq) is taken over as it
/// is; data of an unknown layout is refused by name.
BOOST_AUTO_TEST_CASE(layout_2_is_taken_over_and_others_refused) {
  if (skip_redis_tests())
    return;
  auto& server = shared_server();
  auto prefix = unique_prefix("layout");
  auto s = open_store(server.url(), prefix);
  s->ensure_group({"g", {"*"}});
  std::vector<event> batch{make_event("a", "t"), make_event("b", "t"),
                           make_event("c", "t")};
  s->append(batch, t0, 60'000);
  BOOST_REQUIRE_EQUAL(s->read_group("g", 10, t0).size(), 3u);
  s.reset();
  auto pel = prefix + "g:g:pel";
  BOOST_REQUIRE_EQUAL(raw_command(server.port(), {"DEL", pel}), ":1");
  BOOST_REQUIRE_EQUAL(raw_command(server.port(),
                                  {"ZADD", pel, std::to_string(t0), "1",
                                   std::to_string(t0), "2",
                                   std::to_string(t0 + 5), "3"}),
                      ":3");
  BOOST_REQUIRE_EQUAL(
    raw_command(server.port(), {"SET", prefix + "layout", "2"}), "+OK");
  s = open_store(server.url(), prefix);
  auto layout_is = [&](const std::string& v) {
    return raw_command(server.port(),
                       {"EVAL",
                        "return redis.call('GET', KEYS[1]) == ARGV[1] "
                        "and 1 or 0",
                        "1", prefix + "layout", v});
  };
  BOOST_CHECK_EQUAL(layout_is("4"), ":1");
  auto r = s->reclaim("g", t0 + 100, 100, 10);
  BOOST_REQUIRE_EQUAL(r.size(), 2u);
  BOOST_CHECK_EQUAL(r[0].id, "a");
  BOOST_CHECK_EQUAL(r[1].id, "b");
  BOOST_CHECK_EQUAL(s->reclaim("g", t0 + 105, 100, 10).size(), 1u);
  s.reset();
  BOOST_REQUIRE_EQUAL(
    raw_command(server.port(), {"SET", prefix + "layout", "9"}), "+OK");
  redis_options opts;
  opts.url = server.url();
  opts.prefix = prefix;
  expect_open_error(opts, {"has layout 9", "reads layout 4"});
}

/// Data of layout 3 (before delayed events) is taken over as it is and
/// marked layout 4, so that an onceflow of layout 3 refuses it from then on
/// instead of running delayed events at once.
BOOST_AUTO_TEST_CASE(layout_3_is_taken_over_as_layout_4) {
  if (skip_redis_tests())
    return;
  auto& server = shared_server();
  auto prefix = unique_prefix("layout3");
  auto s = open_store(server.url(), prefix);
  s->ensure_group({"g", {"*"}});
  add(*s, "a", "t", t0);
  s.reset();
  BOOST_REQUIRE_EQUAL(
    raw_command(server.port(), {"SET", prefix + "layout", "3"}), "+OK");
  s = open_store(server.url(), prefix);
  BOOST_CHECK_EQUAL(
    raw_command(server.port(),
                {"EVAL",
                 "return redis.status_reply(redis.call('GET', KEYS[1]))", "1",
                 prefix + "layout"}),
    "+4");
  BOOST_CHECK_EQUAL(ids_of(s->read_group("g", 10, t0)), "a");
}

/// Where a delayed event lives: its entry's field `n`, the `delayed` and
/// `delayed:wait` sets, the schedule, and an id key that lives longer by
/// its delay; cancelling leaves "C<time>" as the pair's state.
BOOST_AUTO_TEST_CASE(delayed_event_keys) {
  if (skip_redis_tests())
    return;
  auto& server = shared_server();
  auto prefix = unique_prefix("delayed");
  redis_options opts;
  opts.url = server.url();
  opts.prefix = prefix;
  opts.retention_ms = 60'000;
  auto s = make_redis_store(opts);
  s->ensure_group({"g", {"*"}});
  auto ev = make_event("d", "t", t0);
  ev.not_before = t0 + 3'600'000;
  std::vector<event> batch{ev};
  auto res = s->append(batch, t0, 60'000);
  BOOST_REQUIRE(!res.at(0).duplicate);
  auto seq = std::to_string(res[0].seq);
  auto due = std::to_string(t0 + 3'600'000);
  // The value of a Lua expression over the keys (P is the prefix, M the
  // pair's member, S the seq), as a status reply.
  auto value = [&](const std::string& expr) {
    return raw_command(server.port(),
                       {"EVAL",
                        "local P, M, S = ARGV[1], ARGV[2], ARGV[3] "
                        "return redis.status_reply(tostring("
                          + expr + "))",
                        "0", prefix, "g\x1f" + seq, seq});
  };
  BOOST_CHECK_EQUAL(
    value("redis.call('XRANGE', P .. 'log', '0-' .. S, '0-' .. S)[1][2][8]"),
    "+" + due);
  BOOST_CHECK_EQUAL(value("redis.call('ZSCORE', P .. 'delayed', S)"),
                    "+" + seq);
  BOOST_CHECK_EQUAL(value("redis.call('ZSCORE', P .. 'delayed:wait', M)"),
                    "+" + due);
  BOOST_CHECK_EQUAL(value("redis.call('ZSCORE', P .. 'retry:due', M)"),
                    "+" + due);
  BOOST_CHECK_EQUAL(value("redis.call('HGET', P .. 'g:g:st', S)"),
                    "+0 0 0 0 1 ");
  // The id key outlives the event's time by the retention (an hour plus a
  // minute here), not the retention alone.
  auto pttl = std::stoll(value("redis.call('PTTL', P .. 'id:d')").substr(1));
  BOOST_CHECK_GT(pttl, 3'600'000);
  BOOST_CHECK_LE(pttl, 3'660'000);
  s->cancel("d", t0 + 5);
  BOOST_CHECK_EQUAL(value("redis.call('HGET', P .. 'g:g:st', S)"),
                    "+C" + std::to_string(t0 + 5));
  BOOST_CHECK_EQUAL(value("redis.call('ZCARD', P .. 'delayed:wait')"), "+0");
  BOOST_CHECK_EQUAL(value("redis.call('HLEN', P .. 'retry:data')"), "+0");
}

BOOST_AUTO_TEST_CASE(unknown_group_throws) {
  if (skip_redis_tests())
    return;
  auto s = open_store(shared_server().url(), unique_prefix("nogroup"));
  BOOST_CHECK_THROW(s->read_group("missing", 1, t0), store_error);
  BOOST_CHECK_THROW(s->reclaim("missing", t0, 0, 1), store_error);
  BOOST_CHECK_THROW(s->backlog("missing"), store_error);
}

BOOST_AUTO_TEST_SUITE_END()
