#include "adapters/embedded/sqlite_db.hpp"

namespace onceflow::embedded {

namespace {

const char* const schema_sql = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL)
  WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log(seq INTEGER PRIMARY KEY, id TEXT NOT NULL,
  type TEXT NOT NULL, payload TEXT NOT NULL, prio INTEGER NOT NULL,
  created_at INTEGER NOT NULL, trace_id TEXT NOT NULL,
  not_before INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS dedup(id TEXT PRIMARY KEY, seq INTEGER NOT NULL,
  created_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS groups(name TEXT PRIMARY KEY,
  patterns TEXT NOT NULL, start INTEGER NOT NULL, cursor INTEGER NOT NULL)
  WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger(grp TEXT NOT NULL, seq INTEGER NOT NULL,
  epoch INTEGER NOT NULL, at INTEGER NOT NULL, history TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(grp, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS retry(grp TEXT NOT NULL, seq INTEGER NOT NULL,
  due INTEGER NOT NULL, attempt INTEGER NOT NULL,
  redeliveries INTEGER NOT NULL, delivery TEXT NOT NULL,
  delayed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(grp, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dlq(pos INTEGER PRIMARY KEY AUTOINCREMENT,
  grp TEXT NOT NULL, seq INTEGER NOT NULL, event_id TEXT NOT NULL,
  reason TEXT NOT NULL, error TEXT NOT NULL, dead_at INTEGER NOT NULL,
  delivery TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS dlq_by_event ON dlq(event_id);
CREATE INDEX IF NOT EXISTS dlq_by_group ON dlq(grp, seq);
CREATE TABLE IF NOT EXISTS purged(grp TEXT NOT NULL, seq INTEGER NOT NULL,
  PRIMARY KEY(grp, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS processed(grp TEXT NOT NULL,
  event_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
  epoch INTEGER NOT NULL, attempt INTEGER NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY(seq, grp, epoch)) WITHOUT ROWID;
-- Delayed events cancelled in a group before they started (status
-- `cancelled`; a claim answers done); trimmed with the log.
CREATE TABLE IF NOT EXISTS cancelled(grp TEXT NOT NULL, seq INTEGER NOT NULL,
  at INTEGER NOT NULL, PRIMARY KEY(grp, seq)) WITHOUT ROWID;
-- Dedup records of trimmed events whose window had not passed at the trim:
-- `trim` deletes them once it has (the dedup table has no index by seq).
CREATE TABLE IF NOT EXISTS dedup_trimmed(seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL, created_at INTEGER NOT NULL);
-- Who appended each range of seqs (one row per append call): the node
-- that accepted those events; trimmed with the log.
CREATE TABLE IF NOT EXISTS accepted(first INTEGER PRIMARY KEY,
  last INTEGER NOT NULL, node TEXT NOT NULL);
-- Duplicate submissions of logged entries' ids (count, first and last
-- time, the node of the last); trimmed with the log.
CREATE TABLE IF NOT EXISTS dups(seq INTEGER PRIMARY KEY,
  count INTEGER NOT NULL, first_at INTEGER NOT NULL,
  last_at INTEGER NOT NULL, node TEXT NOT NULL);
-- Run-time overrides of groups' settings (settings_port): one row per
-- group and setting, the value as text (group_settings.hpp's value_text).
CREATE TABLE IF NOT EXISTS group_settings(grp TEXT NOT NULL,
  name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(grp, name))
  WITHOUT ROWID;
)sql";

} // namespace

connection::connection(const sqlite_options& opts) : path(opts.path) {
  const char* sync = nullptr;
  if (opts.synchronous == "full")
    sync = "PRAGMA synchronous=FULL";
  else if (opts.synchronous == "normal")
    sync = "PRAGMA synchronous=NORMAL";
  else if (opts.synchronous == "off")
    sync = "PRAGMA synchronous=OFF";
  else
    fail("open",
         ("unknown synchronous mode '" + opts.synchronous + "'").c_str());
  auto flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    db = nullptr;
    fail("open", msg.c_str());
  }
  try {
    // Before anything is written: one store per database file.
    if (!path.empty() && path != ":memory:")
      if (auto err = lock.acquire(path); !err.empty())
        fail("open", err.c_str());
    sqlite3_busy_timeout(db, opts.busy_timeout_ms);
    if (!path.empty() && path != ":memory:")
      exec("PRAGMA journal_mode=WAL", "open");
    exec(sync, "open");
    exec("PRAGMA temp_store=MEMORY", "open");
    exec(schema_sql, "open");
    // Columns added since 0.1 (docs/architecture.md, Store ports): a table
    // without one gets it, with its default in the rows already there.
    auto add_column = [&](const char* probe_sql, const char* alter_sql) {
      sqlite3_stmt* probe = nullptr;
      if (sqlite3_prepare_v2(db, probe_sql, -1, &probe, nullptr) != SQLITE_OK)
        exec(alter_sql, "open");
      sqlite3_finalize(probe);
    };
    add_column("SELECT history FROM ledger LIMIT 0",
               "ALTER TABLE ledger ADD COLUMN history TEXT NOT NULL DEFAULT "
               "''");
    add_column("SELECT not_before FROM log LIMIT 0",
               "ALTER TABLE log ADD COLUMN not_before INTEGER NOT NULL "
               "DEFAULT 0");
    add_column("SELECT delayed FROM retry LIMIT 0",
               "ALTER TABLE retry ADD COLUMN delayed INTEGER NOT NULL "
               "DEFAULT 0");
  } catch (...) {
    sqlite3_close_v2(db);
    db = nullptr;
    throw;
  }
}

} // namespace onceflow::embedded
