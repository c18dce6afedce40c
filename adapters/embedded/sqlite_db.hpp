#pragma once

#include "adapters/embedded/sqlite_lock.hpp"
#include "adapters/embedded/sqlite_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

/// SQLite plumbing of the embedded store: the connection (opening, pragmas,
/// schema, errors as store_error), prepared statements and one use of a
/// statement (`query`). Internal to adapters/embedded/, the only place that
/// includes <sqlite3.h>.
namespace onceflow::embedded {

/// Owns the database handle; builds error messages.
struct connection {
  /// One store per database file (taken before the database is opened,
  /// released after it is closed: declared first).
  file_lock lock;
  sqlite3* db = nullptr;
  std::string path;

  /// Opens the database, applies pragmas and creates the schema.
  explicit connection(const sqlite_options& opts);

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  ~connection() {
    if (db != nullptr)
      sqlite3_close_v2(db);
  }

  [[noreturn]] void
  fail(const char* op, const char* msg,
       store_error::kind k = store_error::kind::failure) const {
    std::string what = "sqlite:";
    what += path;
    what += ": ";
    what += op;
    what += ": ";
    what += msg;
    throw store_error(what, k);
  }

  [[noreturn]] void fail(const char* op) const {
    fail(op, db != nullptr ? sqlite3_errmsg(db) : "out of memory");
  }

  /// Runs SQL text without results (schema, pragmas).
  void exec(const char* sql, const char* op) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err != nullptr ? err : sqlite3_errmsg(db);
      sqlite3_free(err);
      fail(op, msg.c_str());
    }
  }
};

/// A prepared statement, prepared once and reused.
class statement {
public:
  statement(connection& conn, const char* sql) : conn_(&conn) {
    if (sqlite3_prepare_v3(conn.db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_,
                           nullptr)
        != SQLITE_OK) {
      std::string op = "prepare '";
      op += sql;
      op += "'";
      conn.fail(op.c_str());
    }
  }

  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  ~statement() {
    sqlite3_finalize(stmt_);
  }

  sqlite3_stmt* raw() const {
    return stmt_;
  }

  connection& conn() const {
    return *conn_;
  }

private:
  connection* conn_;
  sqlite3_stmt* stmt_ = nullptr;
};

/// One use of a statement: binds, steps, reads columns, resets on exit.
/// Text is bound without copying: bound strings must outlive the query.
class query {
public:
  query(statement& st, const char* op)
    : stmt_(st.raw()), conn_(st.conn()), op_(op) {
    // nop
  }

  query(const query&) = delete;
  query& operator=(const query&) = delete;

  ~query() {
    sqlite3_reset(stmt_);
  }

  query& bind_int(int idx, int64_t value) {
    if (sqlite3_bind_int64(stmt_, idx, value) != SQLITE_OK)
      conn_.fail(op_);
    return *this;
  }

  query& bind_text(int idx, const std::string& value) {
    if (sqlite3_bind_text(stmt_, idx, value.data(),
                          static_cast<int>(value.size()), SQLITE_STATIC)
        != SQLITE_OK)
      conn_.fail(op_);
    return *this;
  }

  /// Steps once: true for a row, false when done.
  bool step() {
    auto rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW)
      return true;
    if (rc == SQLITE_DONE)
      return false;
    conn_.fail(op_);
  }

  /// Steps through a statement without results.
  void run() {
    while (step()) {
      // nop
    }
  }

  int64_t int_at(int col) const {
    return sqlite3_column_int64(stmt_, col);
  }

  uint64_t u64_at(int col) const {
    return static_cast<uint64_t>(sqlite3_column_int64(stmt_, col));
  }

  /// Assigns column text to `out`, reusing its capacity.
  void text_into(int col, std::string& out) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    auto n = static_cast<size_t>(sqlite3_column_bytes(stmt_, col));
    if (p == nullptr)
      out.clear();
    else
      out.assign(p, n);
  }

  std::string text_at(int col) const {
    std::string out;
    text_into(col, out);
    return out;
  }

private:
  sqlite3_stmt* stmt_;
  connection& conn_;
  const char* op_;
};

/// A count as a LIMIT value (SQLite integers are signed).
inline int64_t to_limit(size_t n) {
  constexpr auto top = static_cast<size_t>(std::numeric_limits<int64_t>::max());
  return static_cast<int64_t>(std::min(n, top));
}

} // namespace onceflow::embedded
