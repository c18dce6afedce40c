// SQLite specifics (not part of the store contract): open errors, and white
// box checks of what the embedded store keeps in its database file.

#include "adapters/embedded/sqlite_store.hpp"
#include "tests/integration/contract/backends.hpp"
#include "tests/support/temp_dir.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;

BOOST_AUTO_TEST_SUITE(sqlite_adapter)

BOOST_AUTO_TEST_CASE(open_failure_names_path_and_reason) {
  sqlite_options opts;
  opts.path = "/nonexistent-onceflow-dir/sub/store.db";
  try {
    make_sqlite_store(opts);
    BOOST_FAIL("opened a store in a missing directory");
  } catch (const store_error& ex) {
    std::string what = ex.what();
    BOOST_TEST_MESSAGE(what);
    BOOST_CHECK(what.find(opts.path) != std::string::npos);
    BOOST_CHECK(what.find("unable to open") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(one_store_per_database_file) {
  temp_dir dir;
  sqlite_options opts;
  opts.path = (dir.path() / "onceflow.db").string();
  auto first = make_sqlite_store(opts);
  std::vector<event> batch{make_event("e1", "t")};
  first->append(batch, 1000, 60000);
  // A second store on the same file (a second node on the same data
  // directory) is refused, naming the holder; the first goes on.
  try {
    make_sqlite_store(opts);
    BOOST_ERROR("a second store opened a database in use");
  } catch (const store_error& ex) {
    std::string what = ex.what();
    BOOST_TEST_MESSAGE(what);
    BOOST_CHECK(what.find(opts.path) != std::string::npos);
    BOOST_CHECK(what.find("in use by another onceflow node (pid "
                          + std::to_string(::getpid()) + ",")
                != std::string::npos);
  }
  std::vector<event> more{make_event("e2", "t")};
  auto rs = first->append(more, 1001, 60000);
  BOOST_CHECK(!rs.at(0).duplicate);
  // Once the first is closed, the file is free again.
  first.reset();
  auto again = make_sqlite_store(opts);
  BOOST_CHECK_EQUAL(again->find("e2").id, "e2");
}

BOOST_AUTO_TEST_CASE(not_a_database_is_refused) {
  temp_dir dir;
  auto file = dir.path() / "garbage.db";
  {
    std::FILE* f = std::fopen(file.c_str(), "wb");
    BOOST_REQUIRE(f != nullptr);
    std::string junk(4096, 'x');
    std::fwrite(junk.data(), 1, junk.size(), f);
    std::fclose(f);
  }
  sqlite_options opts;
  opts.path = file.string();
  BOOST_CHECK_EXCEPTION(make_sqlite_store(opts), store_error,
                        [&](const store_error& ex) {
                          std::string what = ex.what();
                          return what.find(opts.path) != std::string::npos;
                        });
}

/// White box: the first column of the first row of `sql` on the database
/// file, read through a second connection (-1 without a row).
int64_t read_db_int(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  BOOST_REQUIRE_EQUAL(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY,
                                      nullptr),
                      SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  BOOST_REQUIRE_EQUAL(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK);
  int64_t value = -1;
  if (sqlite3_step(st) == SQLITE_ROW)
    value = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return value;
}

/// White box: the durable cursor and the epoch high-water mark as stored.
BOOST_AUTO_TEST_CASE(cursor_and_epoch_mark_are_persisted) {
  temp_dir dir;
  sqlite_options opts;
  opts.path = (dir.path() / "store.db").string();
  auto s = make_sqlite_store(opts);
  auto read_int = [&](const char* sql) {
    return read_db_int(opts.path, sql);
  };
  const char* cursor_sql = "SELECT cursor FROM groups WHERE name='g'";
  add(*s, "x", "t", t0);
  s->ensure_group({"g", {"*"}});
  BOOST_CHECK_EQUAL(read_int(cursor_sql), 1);
  std::vector<event> evs;
  for (int i = 1; i <= 5; ++i)
    evs.push_back(add(*s, "e" + std::to_string(i), "t", t0));
  BOOST_REQUIRE_EQUAL(s->read_group("g", 10, t0).size(), 5u);
  uint64_t max_epoch = 0;
  for (int i : {1, 2, 4}) {
    auto ep = lease(*s, "g", evs[i - 1], t0);
    max_epoch = std::max(max_epoch, ep);
    BOOST_REQUIRE_EQUAL(
      settle_one(*s, done_of(make_delivery(evs[i - 1], "g", ep)), t0),
      fence_decision::ok);
  }
  BOOST_CHECK_EQUAL(read_int(cursor_sql), 3); // e3 (seq 4) pending
  BOOST_CHECK_GE(read_int("SELECT value FROM meta WHERE key='epoch_hwm'"),
                 static_cast<int64_t>(max_epoch));
  process(*s, "g", evs[2], t0);
  BOOST_CHECK_EQUAL(read_int(cursor_sql), 5); // e5 (seq 6) pending
  process(*s, "g", evs[4], t0);
  BOOST_CHECK_EQUAL(read_int(cursor_sql), 6);
}

/// White box: the rows `trim` deletes, the ones it keeps, and its marks.
BOOST_AUTO_TEST_CASE(trim_deletes_rows_and_persists_its_marks) {
  temp_dir dir;
  sqlite_options opts;
  opts.path = (dir.path() / "store.db").string();
  auto s = make_sqlite_store(opts);
  auto count = [&](const std::string& table) {
    return read_db_int(opts.path, ("SELECT count(*) FROM " + table).c_str());
  };
  s->ensure_group({"g", {"*"}});
  s->ensure_group({"h", {"*"}});
  // e1 and e2 at t0, e3 and e4 half an hour later; the dedup window is an
  // hour, retention a minute.
  constexpr millis_t hour = 60 * minute;
  std::vector<event> evs;
  for (int i = 1; i <= 4; ++i)
    evs.push_back(add(*s, "e" + std::to_string(i), "t",
                      i <= 2 ? t0 : t0 + 30 * minute, hour));
  s->read_group("g", 10, t0 + 30 * minute);
  s->read_group("h", 10, t0 + 30 * minute);
  for (auto& ev : evs) {
    process(*s, "g", ev, t0 + 30 * minute, true);
    process(*s, "h", ev, t0 + 30 * minute, true);
  }
  BOOST_REQUIRE_EQUAL(count("ledger"), 8);
  BOOST_REQUIRE_EQUAL(count("processed"), 8);
  // At t0 + 1 h the window of e1 and e2 has passed, not that of e3 and e4.
  BOOST_REQUIRE_EQUAL(s->trim(t0 + hour, minute, hour, 100), 4u);
  BOOST_CHECK_EQUAL(count("log"), 0);
  BOOST_CHECK_EQUAL(count("ledger"), 0);
  BOOST_CHECK_EQUAL(count("processed"), 0);
  BOOST_CHECK_EQUAL(count("dedup"), 2);
  BOOST_CHECK_EQUAL(count("dedup_trimmed"), 2);
  BOOST_CHECK_EQUAL(
    read_db_int(opts.path, "SELECT value FROM meta WHERE key='trimmed_to'"), 4);
  BOOST_CHECK_EQUAL(read_db_int(opts.path, "SELECT min(cursor) FROM groups"),
                    4);
  // The rest of the dedup memory goes once its window has passed.
  BOOST_CHECK_EQUAL(s->trim(t0 + 90 * minute - 1, minute, hour, 100), 0u);
  BOOST_CHECK_EQUAL(count("dedup"), 2);
  BOOST_CHECK_EQUAL(s->trim(t0 + 90 * minute, minute, hour, 100), 0u);
  BOOST_CHECK_EQUAL(count("dedup"), 0);
  BOOST_CHECK_EQUAL(count("dedup_trimmed"), 0);
  BOOST_CHECK_EQUAL(s->head(), evs.back().seq);
}

/// A database written before delayed events (no log.not_before, no
/// retry.delayed, no cancelled table) opens: its rows read as before, a
/// retry scheduled in it is a retry, and delayed events work in it.
BOOST_AUTO_TEST_CASE(a_database_from_before_delayed_events_opens) {
  temp_dir dir;
  sqlite_options opts;
  opts.path = (dir.path() / "old.db").string();
  {
    sqlite3* db = nullptr;
    BOOST_REQUIRE_EQUAL(sqlite3_open(opts.path.c_str(), &db), SQLITE_OK);
    const char* old_schema
      = R"sql(
CREATE TABLE log(seq INTEGER PRIMARY KEY, id TEXT NOT NULL,
  type TEXT NOT NULL, payload TEXT NOT NULL, prio INTEGER NOT NULL,
  created_at INTEGER NOT NULL, trace_id TEXT NOT NULL);
CREATE TABLE dedup(id TEXT PRIMARY KEY, seq INTEGER NOT NULL,
  created_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE groups(name TEXT PRIMARY KEY, patterns TEXT NOT NULL,
  start INTEGER NOT NULL, cursor INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE retry(grp TEXT NOT NULL, seq INTEGER NOT NULL,
  due INTEGER NOT NULL, attempt INTEGER NOT NULL,
  redeliveries INTEGER NOT NULL, delivery TEXT NOT NULL,
  PRIMARY KEY(grp, seq)) WITHOUT ROWID;
INSERT INTO groups VALUES('g', '["*"]', 0, 0);
INSERT INTO log VALUES(1, 'old-1', 't', '{}', 1, 1700000000000, 'tr-1');
INSERT INTO log VALUES(2, 'old-2', 't', '{}', 1, 1700000000000, 'tr-2');
INSERT INTO dedup VALUES('old-1', 1, 1700000000000);
INSERT INTO dedup VALUES('old-2', 2, 1700000000000);
INSERT INTO retry VALUES('g', 2, 1700000005000, 2, 0, '{"ev":{"id":"old-2",)sql"
        R"sql("type":"t","payload":"{}","prio":1,"created_at":1700000000000,)sql"
        R"sql("trace_id":"tr-2","seq":2},"group":"g","attempt":2,"epoch":0,)sql"
        R"sql("redeliveries":0,"history":[]}');
)sql";
    char* err = nullptr;
    auto rc = sqlite3_exec(db, old_schema, nullptr, nullptr, &err);
    BOOST_REQUIRE_MESSAGE(rc == SQLITE_OK, (err != nullptr ? err : ""));
    sqlite3_close(db);
  }
  auto s = make_sqlite_store(opts);
  BOOST_CHECK_EQUAL(s->find("old-1").not_before, 0);
  BOOST_CHECK_EQUAL(statuses(*s, "old-2"), "g:retrying");
  BOOST_CHECK_EQUAL(s->delayed(), 0u);
  BOOST_CHECK_EQUAL(ids_of(s->read_group("g", 10, t0)), "old-1");
  auto d = make_event("d", "t", t0);
  d.not_before = t0 + minute;
  std::vector<event> batch{d};
  BOOST_REQUIRE(!s->append(batch, t0, minute).at(0).duplicate);
  BOOST_CHECK_EQUAL(statuses(*s, "d"), "g:scheduled");
  BOOST_CHECK_EQUAL(s->cancel("d", t0).cancelled.size(), 1u);
  s.reset();
  s = make_sqlite_store(opts);
  BOOST_CHECK_EQUAL(statuses(*s, "d"), "g:cancelled");
  BOOST_CHECK_EQUAL(statuses(*s, "old-2"), "g:retrying");
}

BOOST_AUTO_TEST_CASE(bad_options_and_unknown_group) {
  sqlite_options opts;
  opts.synchronous = "sometimes";
  BOOST_CHECK_THROW(make_sqlite_store(opts), store_error);
  auto s = make_sqlite_store(sqlite_options{});
  BOOST_CHECK_EQUAL(s->describe(), "sqlite::memory:");
  BOOST_CHECK_THROW(s->read_group("missing", 1, t0), store_error);
  BOOST_CHECK_THROW(s->reclaim("missing", t0, 0, 1), store_error);
  BOOST_CHECK_THROW(s->backlog("missing"), store_error);
}

BOOST_AUTO_TEST_SUITE_END()
