// The MongoDB adapter, the `mongo` handler and the records against a real
// MongoDB-compatible server (FerretDB 1.24, tests/support/ferretdb/).

#define BOOST_TEST_MODULE mongo
#include "adapters/mongo/mongo_client.hpp"
#include "adapters/mongo/mongo_handler.hpp"
#include "adapters/mongo/mongo_records.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/ferretdb_server.hpp"
#include "tests/support/redis_server.hpp"

#include <boost/test/unit_test.hpp>
#include <mongoc/mongoc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace onceflow;
using namespace std::chrono_literals;

namespace {

/// One server for the whole suite (each test uses its own database).
test::ferretdb_server& server() {
  static test::ferretdb_server s;
  return s;
}

mongo_config config_for(const std::string& db) {
  mongo_config c;
  c.uri = server().uri(db);
  c.server_selection_timeout = 1000;
  c.pool_size = 2;
  return c;
}

mongo::processed_record record(const std::string& id, const std::string& group,
                               uint32_t attempt = 1) {
  mongo::processed_record r;
  r.ev.id = id;
  r.ev.type = "order.created";
  r.ev.payload = R"({"order": ")" + id + R"(", "items": [1, 2]})";
  r.ev.created_at = wall_now();
  r.group = group;
  r.node = "n1";
  r.listener = group + "/0";
  r.epoch = 7;
  r.attempt = attempt;
  r.started_at = wall_now();
  return r;
}

std::vector<mongo::write_result>
write(mongo::client& c, std::vector<mongo::processed_record> rs) {
  // Shared: set_value may still run on the writer thread after the future
  // is ready and this function has returned.
  auto p = std::make_shared<std::promise<std::vector<mongo::write_result>>>();
  auto f = p->get_future();
  c.write_processed(std::move(rs), [p](std::vector<mongo::write_result> xs) {
    p->set_value(std::move(xs));
  });
  if (f.wait_for(30s) != std::future_status::ready)
    throw std::runtime_error("no write result within 30 s");
  return f.get();
}

/// Counts documents matching `filter_json` through the driver directly.
int64_t count(const std::string& db, const std::string& filter_json = "{}",
              const std::string& coll = "processed_events") {
  bson_error_t err;
  auto* uri = mongoc_uri_new_with_error(server().uri(db).c_str(), &err);
  BOOST_REQUIRE(uri != nullptr);
  auto* cl = mongoc_client_new_from_uri(uri);
  auto* co = mongoc_client_get_collection(cl, db.c_str(), coll.c_str());
  auto* filter
    = bson_new_from_json(reinterpret_cast<const uint8_t*>(filter_json.data()),
                         static_cast<ssize_t>(filter_json.size()), &err);
  auto n = mongoc_collection_count_documents(co, filter, nullptr, nullptr,
                                             nullptr, &err);
  if (n < 0)
    BOOST_FAIL("count failed: " << err.message);
  bson_destroy(filter);
  mongoc_collection_destroy(co);
  mongoc_client_destroy(cl);
  mongoc_uri_destroy(uri);
  return n;
}

} // namespace

BOOST_AUTO_TEST_CASE(open_creates_the_unique_index_idempotently) {
  mongo::client c{config_for("openidem")};
  BOOST_TEST(c.open() == "");
  BOOST_TEST(c.open() == ""); // a second start finds the indexes in place
  BOOST_TEST(c.describe()
             == "127.0.0.1:" + std::to_string(server().port()) + "/openidem");
  BOOST_TEST(c.health() == "");
}

BOOST_AUTO_TEST_CASE(bulk_insert_with_duplicates_inside_and_across_batches) {
  mongo::client c{config_for("dups")};
  BOOST_REQUIRE(c.open() == "");
  // 200 records, of which 50 repeat an earlier (event, group) of the batch,
  // and the same events for a second group (a different pair).
  std::vector<mongo::processed_record> batch;
  batch.reserve(350);
  for (int i = 0; i < 150; ++i)
    batch.push_back(record("e" + std::to_string(i), "billing"));
  for (int i = 0; i < 50; ++i)
    batch.push_back(record("e" + std::to_string(i), "billing", 2));
  for (int i = 0; i < 150; ++i)
    batch.push_back(record("e" + std::to_string(i), "shipping"));
  auto rs = write(c, batch);
  BOOST_REQUIRE_EQUAL(rs.size(), batch.size());
  size_t dup = 0;
  for (auto& r : rs) {
    BOOST_TEST(mongo::to_string(r.verdict) == "done");
    dup += r.duplicate ? 1 : 0;
  }
  BOOST_TEST(dup == 50u);
  BOOST_TEST(count("dups") == 300);
  BOOST_TEST(count("dups", R"({"group": "billing"})") == 150);
  // The whole batch again (a redelivery after a crash before the
  // settlement): every record done, every one a duplicate, nothing new.
  auto again = write(c, batch);
  for (auto& r : again) {
    BOOST_TEST(mongo::to_string(r.verdict) == "done");
    BOOST_TEST(r.duplicate);
  }
  BOOST_TEST(count("dups") == 300);
  auto st = c.stats();
  BOOST_TEST(st.inserted == 300u);
  BOOST_TEST(st.duplicates == 50u + batch.size());
}

BOOST_AUTO_TEST_CASE(document_fields) {
  mongo::client c{config_for("fields")};
  BOOST_REQUIRE(c.open() == "");
  auto r = record("x1", "g");
  r.ev.prio = priority::high;
  write(c, {r});
  BOOST_TEST(count("fields", R"({"eventId": "x1", "group": "g",
    "type": "order.created", "payload.order": "x1", "priority": "high",
    "node": "n1", "listener": "g/0", "epoch": 7, "attempt": 1})")
             == 1);
}

BOOST_AUTO_TEST_CASE(a_document_mongodb_refuses_is_permanent) {
  mongo::client c{config_for("refused")};
  BOOST_REQUIRE(c.open() == "");
  // Over MongoDB's 16 MiB document limit: never storable.
  auto big = record("big", "g");
  big.ev.payload = R"({"blob": ")" + std::string(size_t{17} * 1024 * 1024, 'x')
                   + R"("})";
  auto rs = write(c, {record("ok1", "g"), big, record("ok2", "g")});
  BOOST_REQUIRE_EQUAL(rs.size(), 3u);
  BOOST_TEST(mongo::to_string(rs[0].verdict) == "done");
  BOOST_TEST(mongo::to_string(rs[1].verdict) == "permanent");
  BOOST_TEST(!rs[1].error.empty());
  BOOST_TEST(mongo::to_string(rs[2].verdict) == "done");
  BOOST_TEST(count("refused") == 2);
}

BOOST_AUTO_TEST_CASE(a_document_the_driver_or_server_refuses_is_permanent) {
  mongo::client c{config_for("dollar")};
  BOOST_REQUIRE(c.open() == "");
  // Field names MongoDB's insert refuses ($-prefixed): only that record
  // fails, for good; the rest of the batch is written.
  auto bad = record("bad", "g");
  bad.ev.payload = R"({"$where": "x"})";
  auto rs = write(c, {record("d1", "g"), bad, record("d2", "g")});
  BOOST_REQUIRE_EQUAL(rs.size(), 3u);
  BOOST_TEST(mongo::to_string(rs[0].verdict) == "done");
  BOOST_TEST(mongo::to_string(rs[1].verdict) == "permanent");
  BOOST_TEST(rs[1].error.find("MongoDB") != std::string::npos);
  BOOST_TEST(mongo::to_string(rs[2].verdict) == "done");
  BOOST_TEST(count("dollar") == 2);
}

BOOST_AUTO_TEST_CASE(the_handler_answers_per_event) {
  auto c = std::make_shared<mongo::client>(config_for("handler"));
  BOOST_REQUIRE(c->open() == "");
  auto make = mongo_handler_factory(c);
  handler_options opts;
  opts.group = "billing";
  auto h = make(opts);
  BOOST_TEST(h->batched());
  std::vector<event> evs(3);
  for (size_t i = 0; i < evs.size(); ++i) {
    evs[i].id = "h" + std::to_string(i);
    evs[i].type = "t";
    evs[i].payload = "{}";
  }
  std::vector<handler_call> calls;
  calls.reserve(evs.size());
  for (auto& ev : evs)
    calls.push_back({&ev, 1, 3, "billing/1", "n1"});
  for (int round = 0; round < 2; ++round) { // the second: all duplicates
    auto p = std::make_shared<std::promise<std::vector<handler_result>>>();
    auto f = p->get_future();
    h->handle_batch(calls, [p](std::vector<handler_result> rs) {
      p->set_value(std::move(rs));
    });
    BOOST_REQUIRE(f.wait_for(30s) == std::future_status::ready);
    auto rs = f.get();
    BOOST_REQUIRE_EQUAL(rs.size(), 3u);
    for (auto& r : rs)
      BOOST_TEST((r.result == outcome::success));
  }
  BOOST_TEST(count("handler", R"({"group": "billing", "epoch": 3})") == 3);
  // Without a client (no [mongo] uri) the factory says what is missing.
  auto none = mongo_handler_factory(nullptr);
  BOOST_CHECK_EXCEPTION(
    none(opts), std::invalid_argument, [](const std::invalid_argument& e) {
      return std::string{e.what()}.find("mongo.uri") != std::string::npos;
    });
}

BOOST_AUTO_TEST_CASE(bad_uri_and_unreachable_server) {
  mongo_config bad;
  bad.uri = "mongodb://[::1";
  BOOST_CHECK_EXCEPTION(mongo::client{bad}, std::invalid_argument,
                        [](const std::invalid_argument& e) {
                          return std::string{e.what()}.find("mongo.uri")
                                 != std::string::npos;
                        });
  // Nothing listens on the port.
  auto port = test::free_port();
  mongo_config cfg;
  cfg.uri = "mongodb://127.0.0.1:" + std::to_string(port) + "/x";
  cfg.server_selection_timeout = 300;
  mongo::client c{cfg};
  auto err = c.open();
  BOOST_TEST(
    err.find("cannot reach MongoDB at 127.0.0.1:" + std::to_string(port))
    != std::string::npos);
  auto rs = write(c, {record("u1", "g"), record("u2", "g")});
  for (auto& r : rs) {
    BOOST_TEST(mongo::to_string(r.verdict) == "retryable");
    BOOST_TEST(r.error.find("MongoDB") != std::string::npos);
  }
  BOOST_TEST(c.health().find("cannot be reached") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(outage_fails_retryably_and_writing_resumes) {
  mongo::client c{config_for("outage")};
  BOOST_REQUIRE(c.open() == "");
  BOOST_TEST(mongo::to_string(write(c, {record("o1", "g")})[0].verdict)
             == "done");
  server().stop_now();
  auto down = write(c, {record("o2", "g"), record("o3", "g")});
  for (auto& r : down)
    BOOST_TEST(mongo::to_string(r.verdict) == "retryable");
  BOOST_TEST(c.health() != "");
  // Known down: the next batch fails at once, without waiting for the
  // server selection timeout.
  auto t0 = std::chrono::steady_clock::now();
  auto fast = write(c, {record("o4", "g")});
  BOOST_TEST(mongo::to_string(fast[0].verdict) == "retryable");
  BOOST_TEST(fast[0].retry_after == mongo::probe_interval);
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 500ms));
  server().start_again();
  // The probe notices within a few seconds; writing resumes by itself.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (c.health() != "" && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  BOOST_TEST(c.health() == "");
  auto up = write(c, {record("o2", "g"), record("o3", "g"), record("o1", "g")});
  BOOST_TEST(mongo::to_string(up[0].verdict) == "done");
  BOOST_TEST(mongo::to_string(up[1].verdict) == "done");
  BOOST_TEST(up[2].duplicate); // written before the outage
  BOOST_TEST(count("outage") == 3);
}

// -- the records (events, dead_letters) ---------------------------------------

namespace {

mongo_config records_config(const std::string& db) {
  auto c = config_for(db);
  c.events = true;
  c.dead_letters = true;
  c.read_from = "mongodb";
  return c;
}

std::vector<group_spec> record_groups() {
  return {{"orders", {"order.*"}, false}, {"audit", {"*"}, false}};
}

event record_event(const std::string& id, uint64_t seq) {
  event ev;
  ev.id = id;
  ev.type = "order.created";
  ev.payload = R"({"order": ")" + id + R"("})";
  ev.created_at = wall_now();
  ev.seq = seq;
  return ev;
}

settlement settled(const event& ev, const std::string& group, settle_kind k,
                   uint64_t epoch, uint32_t attempt) {
  settlement s;
  s.kind = k;
  s.dl.ev = ev;
  s.dl.group = group;
  s.dl.epoch = epoch;
  s.dl.attempt = attempt;
  s.dl.history.push_back(
    {attempt, wall_now(), "n1", group + "/0", epoch,
     k == settle_kind::done ? outcome::success : outcome::permanent,
     k == settle_kind::done ? "" : "boom"});
  s.error = k == settle_kind::dead ? "boom" : "";
  s.reason = dlq_reason::permanent_error;
  s.due = wall_now() + 1000;
  return s;
}

} // namespace

BOOST_AUTO_TEST_CASE(record_versions_order_the_changes_of_a_pair) {
  using mongo::record_version;
  BOOST_TEST(record_version(0, 0) < record_version(0, 1));
  BOOST_TEST(record_version(0, 1) < record_version(1, 2));
  BOOST_TEST(record_version(1, 2) < record_version(1, 3));
  BOOST_TEST(record_version(1, 3) < record_version(2, 2));
  auto a = mongo::dead_letter_position("e1", "orders", 1000);
  BOOST_TEST(a / 1024 == 1000);
  BOOST_TEST(mongo::dead_letter_position("e1", "orders", 1001) > a);
}

BOOST_AUTO_TEST_CASE(record_changes_in_any_order_end_in_the_latest) {
  auto c = std::make_shared<mongo::client>(records_config("rec_order"));
  mongo::records r{c, record_groups()};
  BOOST_REQUIRE(r.open() == "");
  auto ev = record_event("e1", 41);
  // As if another node's changes came first: the settlement under epoch
  // 10, then an older retry (epoch 6), then the acceptance.
  r.settled({settled(ev, "orders", settle_kind::done, 10, 2)}, wall_now());
  BOOST_REQUIRE(r.flush(20000));
  r.settled({settled(ev, "orders", settle_kind::retry, 6, 1)}, wall_now());
  BOOST_REQUIRE(r.flush(20000));
  r.accepted({ev}, wall_now());
  BOOST_REQUIRE(r.flush(20000));
  BOOST_TEST(count("rec_order",
                   R"({"_id": "e1", "groups.orders.status": "processed",
                       "groups.orders.attempt": 2,
                       "groups.audit.status": "accepted", "seq": 41,
                       "payload.order": "e1", "type": "order.created"})",
                   "events")
             == 1);
  // A cancel of an event whose acceptance is not there yet: the
  // acceptance fills in the event and leaves the cancel.
  r.cancelled("e2", {"orders", "audit"}, wall_now());
  BOOST_REQUIRE(r.flush(20000));
  BOOST_TEST(
    count("rec_order", R"({"_id": "e2", "type": {"$exists": true}})", "events")
    == 0);
  auto later = record_event("e2", 42);
  later.not_before = wall_now() + 3600000;
  r.accepted({later}, wall_now());
  BOOST_REQUIRE(r.flush(20000));
  BOOST_TEST(count("rec_order",
                   R"({"_id": "e2", "groups.orders.status": "cancelled",
                       "groups.audit.status": "cancelled",
                       "type": "order.created"})",
                   "events")
             == 1);
  // A death: the event's status and one archive document; the same
  // death told twice (a retried write) stays one document.
  auto ev3 = record_event("e3", 43);
  auto death = settled(ev3, "audit", settle_kind::dead, 12, 1);
  r.settled({death}, wall_now());
  r.settled({death}, wall_now());
  BOOST_REQUIRE(r.flush(20000));
  BOOST_TEST(count("rec_order",
                   R"({"eventId": "e3", "group": "audit",
                       "reason": "permanent_error", "error": "boom"})",
                   "dead_letters")
             == 1);
  event_listing_query q;
  q.status = event_status::dead;
  event_listing page;
  BOOST_REQUIRE(r.list_events(q, page));
  BOOST_REQUIRE(page.items.size() == 1u);
  BOOST_TEST(page.items[0].event_id == "e3");
  BOOST_TEST(page.items[0].group == "audit");
  dlq_page dp;
  BOOST_REQUIRE(r.dlq_list(dlq_query{}, dp));
  BOOST_REQUIRE(dp.entries.size() == 1u);
  BOOST_TEST(dp.entries[0].dl.history.size() == 1u);
  BOOST_TEST(dp.entries[0].last_error == "boom");
  auto st = r.stats();
  BOOST_TEST(st.failed == 0u);
  BOOST_TEST(st.dropped == 0u);
  r.stop(1000);
  c->stop();
}

BOOST_AUTO_TEST_CASE(two_writers_of_one_document_both_stay) {
  // Two nodes settle the two groups of the same events at the same time.
  // FerretDB 1.24 reads, changes and writes a document back, so one of
  // two concurrent updates of a document can overwrite the other (about 2%
  // of them with two writers, measured): the read-back a second after
  // each write finds those and writes them again.
  auto c1 = std::make_shared<mongo::client>(records_config("rec_race"));
  auto c2 = std::make_shared<mongo::client>(records_config("rec_race"));
  mongo::records r1{c1, record_groups()};
  mongo::records r2{c2, record_groups()};
  BOOST_REQUIRE(r1.open() == "");
  BOOST_REQUIRE(r2.open() == "");
  constexpr int n = 400;
  std::vector<event> evs;
  for (int i = 0; i < n; ++i)
    evs.push_back(record_event("x" + std::to_string(i), 100 + i));
  r1.accepted(evs, wall_now());
  BOOST_REQUIRE(r1.flush(30000));
  std::vector<settlement> orders;
  std::vector<settlement> audit;
  for (auto& ev : evs) {
    orders.push_back(settled(ev, "orders", settle_kind::done, 5, 1));
    audit.push_back(settled(ev, "audit", settle_kind::done, 7, 1));
  }
  r1.settled(orders, wall_now());
  r2.settled(audit, wall_now());
  BOOST_REQUIRE(r1.flush(60000));
  BOOST_REQUIRE(r2.flush(60000));
  auto repaired = r1.stats().repaired + r2.stats().repaired;
  BOOST_TEST_MESSAGE(
    "changes written again after their read-back: " << repaired);
  BOOST_TEST(count("rec_race",
                   R"({"groups.orders.status": "processed",
                       "groups.audit.status": "processed",
                       "payload.order": {"$exists": true}})",
                   "events")
             == n);
  BOOST_TEST(r1.stats().unchecked == 0u);
  BOOST_TEST(r2.stats().unchecked == 0u);
}

BOOST_AUTO_TEST_CASE(a_replay_marks_earlier_deaths_in_any_order) {
  auto c = std::make_shared<mongo::client>(records_config("rec_marks"));
  mongo::records r{c, record_groups()};
  BOOST_REQUIRE(r.open() == "");
  auto ev = record_event("e5", 55);
  auto first = settled(ev, "audit", settle_kind::dead, 20, 1);
  dlq_entry entry{first.dl, dlq_reason::permanent_error, "boom", wall_now()};
  // The replay's mark gets there before the death it marks (another
  // node's queue): it waits for it.
  r.replayed({entry}, wall_now());
  BOOST_TEST(!r.flush(300));
  r.settled({first}, wall_now());
  BOOST_REQUIRE(r.flush(20000));
  BOOST_TEST(count("rec_marks",
                   R"({"eventId": "e5", "replayedAt": {"$exists": true}})",
                   "dead_letters")
             == 1);
  // The replayed event dies again: that death stays listed.
  r.settled({settled(ev, "audit", settle_kind::dead, 25, 1)}, wall_now());
  BOOST_REQUIRE(r.flush(20000));
  dlq_page page;
  BOOST_REQUIRE(r.dlq_list(dlq_query{}, page));
  BOOST_REQUIRE(page.entries.size() == 1u);
  BOOST_TEST(page.entries[0].dl.epoch == 25u);
  BOOST_TEST(count("rec_marks",
                   R"({"_id": "e5", "groups.audit.status": "dead"})", "events")
             == 1);
  r.stop(1000);
  c->stop();
}

BOOST_AUTO_TEST_CASE(the_journal_keeps_what_was_not_written) {
  auto journal = std::string{"/tmp/onceflow-records-test-"}
                 + std::to_string(getpid()) + ".journal";
  std::remove(journal.c_str());
  auto c = std::make_shared<mongo::client>(records_config("rec_journal"));
  BOOST_REQUIRE(c->open() == "");
  server().stop_now();
  {
    auto r1 = std::make_unique<mongo::records>(c, record_groups(), journal);
    std::vector<event> evs;
    evs.reserve(20);
    for (int i = 0; i < 20; ++i)
      evs.push_back(record_event("j" + std::to_string(i), 200 + i));
    r1->accepted(evs, wall_now());
    r1->stop(0); // MongoDB is away: the changes stay in the journal
    // Another records object on the same journal is refused while the
    // first holds it.
    BOOST_CHECK_THROW(mongo::records(c, record_groups(), journal),
                      std::runtime_error);
  }
  {
    // A kill in the middle of a write leaves half a line.
    std::ofstream out{journal, std::ios::app};
    out << R"({"k":"e","id":"half)";
  }
  server().start_again();
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (c->health() != "" && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  mongo::records r2{c, record_groups(), journal};
  BOOST_REQUIRE(r2.flush(30000));
  BOOST_TEST(
    count("rec_journal", R"({"groups.orders.status": "accepted"})", "events")
    == 20);
  // Written: the journal is empty again.
  std::ifstream in{journal, std::ios::ate};
  BOOST_TEST(static_cast<long>(in.tellg()) == 0);
  r2.stop(1000);
  c->stop();
  std::remove(journal.c_str());
}

BOOST_AUTO_TEST_CASE(a_death_committed_before_a_kill_is_archived_at_restart) {
  // A node killed after its store committed two deaths and before the
  // records saw the commit: the next start archives the one the store's
  // DLQ holds, and not the one the store refused (a stale lease).
  auto journal = std::string{"/tmp/onceflow-records-dead-"}
                 + std::to_string(getpid()) + ".journal";
  std::remove(journal.c_str());
  auto c = std::make_shared<mongo::client>(records_config("rec_tentative"));
  BOOST_REQUIRE(c->open() == "");
  auto kept = settled(record_event("t1", 301), "orders", settle_kind::dead, 4,
                      2);
  auto refused = settled(record_event("t2", 302), "audit", settle_kind::dead, 3,
                         1);
  auto later = settled(record_event("t3", 303), "orders", settle_kind::dead, 9,
                       1);
  {
    mongo::records r1{c, record_groups(), journal};
    BOOST_REQUIRE(r1.open() == "");
    r1.settling({kept, refused}, wall_now());
    // A death seen through to its commit is archived in this run and
    // needs no confirmation.
    r1.settling({later}, wall_now());
    r1.settled({later}, wall_now());
    r1.settle_ended({later});
    BOOST_REQUIRE(r1.flush(30000));
    r1.stop(1000); // as if killed: `kept` and `refused` never ended
  }
  {
    std::ifstream in{journal, std::ios::ate};
    BOOST_TEST(static_cast<long>(in.tellg()) > 0);
  }
  mongo::records r2{c, record_groups(), journal};
  std::vector<std::string> asked;
  r2.reconcile([&](const std::string& id) {
    asked.push_back(id);
    std::vector<dlq_entry> out;
    if (id == "t1") // the store's DLQ: t1's death, under its epoch
      out.push_back(
        {kept.dl, dlq_reason::retries_exhausted, "boom", wall_now()});
    return out;
  });
  BOOST_REQUIRE(r2.flush(30000));
  std::sort(asked.begin(), asked.end());
  BOOST_TEST(asked == (std::vector<std::string>{"t1", "t2"}));
  BOOST_TEST(count("rec_tentative", R"({"eventId": "t1", "group": "orders",
                                        "reason": "retries_exhausted"})",
                   "dead_letters")
             == 1);
  BOOST_TEST(count("rec_tentative", R"({"eventId": "t2"})", "dead_letters")
             == 0);
  BOOST_TEST(count("rec_tentative", R"({"eventId": "t3"})", "dead_letters")
             == 1);
  // Confirmed and written: the journal is empty again.
  std::ifstream in{journal, std::ios::ate};
  BOOST_TEST(static_cast<long>(in.tellg()) == 0);
  r2.stop(1000);
  c->stop();
  std::remove(journal.c_str());
}

BOOST_AUTO_TEST_CASE(records_wait_out_an_outage) {
  auto c = std::make_shared<mongo::client>(records_config("rec_outage"));
  mongo::records r{c, record_groups()};
  BOOST_REQUIRE(r.open() == "");
  server().stop_now();
  std::vector<event> evs;
  evs.reserve(50);
  for (int i = 0; i < 50; ++i)
    evs.push_back(record_event("o" + std::to_string(i), 100 + i));
  r.accepted(evs, wall_now());
  BOOST_TEST(!r.flush(1500)); // nothing can be written meanwhile
  // While MongoDB is away, the listings are left to the store.
  event_listing page;
  BOOST_TEST(!r.list_events(event_listing_query{}, page));
  server().start_again();
  BOOST_REQUIRE(r.flush(30000));
  BOOST_TEST(
    count("rec_outage", R"({"groups.orders.status": "accepted"})", "events")
    == 50);
  BOOST_TEST(r.stats().written >= 50u);
  BOOST_TEST(r.stats().dropped == 0u);
  r.stop(1000);
  c->stop();
}
