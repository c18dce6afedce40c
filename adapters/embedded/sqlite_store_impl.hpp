#pragma once

#include "adapters/embedded/sqlite_db.hpp"
#include "adapters/embedded/sqlite_state.hpp"
#include "adapters/embedded/sqlite_store.hpp"
#include "adapters/ports.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

/// The embedded store's class, internal to adapters/embedded/: the port
/// calls, the prepared statements they use, and the state kept in memory.
/// Its definitions, by job:
/// - sqlite_store.cpp: opening (`load`) and the lookups ports share;
/// - sqlite_log.cpp: the log port;
/// - sqlite_leases.cpp: claims and settlements;
/// - sqlite_dlq.cpp: the retry schedule, the DLQ, processed records;
/// - sqlite_queries.cpp: status, history and listings (`statuses`);
/// - sqlite_retention.cpp: `trim`;
/// - sqlite_settings.cpp: groups' run-time settings.
/// Beneath them: sqlite_db (connection, statements, schema), sqlite_state
/// (pending entries, groups, retry slots) and sqlite_codec (JSON texts).
namespace onceflow::embedded {

/// Keys of the `meta` table.
inline const std::string epoch_key = "epoch_hwm";
inline const std::string trimmed_key = "trimmed_to";

class sqlite_store final : public store {
public:
  explicit sqlite_store(const sqlite_options& opts);

  // -- log_port: sqlite_log.cpp ----------------------------------------------

  void ensure_group(const group_spec& spec) override;

  std::vector<append_result> append(std::vector<event>& batch, millis_t now,
                                    millis_t dedup_window) override;

  std::vector<event> read_group(const std::string& group, size_t max,
                                millis_t now) override;

  std::vector<event> reclaim(const std::string& group, millis_t now,
                             millis_t min_idle, size_t max) override;

  uint64_t head() override {
    return head_;
  }

  uint64_t backlog(const std::string& group) override;

  event find(const std::string& id) override;
  acceptance_record acceptance(uint64_t seq) override;

  // -- lease_port: sqlite_leases.cpp -----------------------------------------

  std::vector<claim_decision>
  claim(const std::vector<claim_request>& reqs, const std::string& holder,
        millis_t now, millis_t ttl, uint32_t crash_budget) override;

  std::vector<fence_decision> settle(const std::vector<settlement>& items,
                                     millis_t now) override;

  bool is_done(const std::string& group, uint64_t seq) override;

  // -- retry_port: sqlite_dlq.cpp --------------------------------------------

  std::vector<delivery> take_due(millis_t now, size_t max) override;

  millis_t next_due() override {
    return retries_.next_due();
  }

  uint64_t scheduled() override {
    return retries_.size();
  }

  uint64_t scheduled(const std::string& group) override {
    return retries_.size(group);
  }

  uint64_t delayed() override {
    return retries_.delayed();
  }

  /// One node: marks do not lapse, nothing to renew.
  uint64_t renew_taken(const std::vector<taken_pair>& pairs, millis_t) override;

  uint64_t release_taken(const std::vector<taken_pair>& pairs) override;

  cancel_result cancel(const std::string& event_id, millis_t now) override;

  // -- dlq_port: sqlite_dlq.cpp ----------------------------------------------

  dlq_page dlq_list(const dlq_query& q) override;

  std::vector<dlq_entry> dlq_get(const std::string& event_id) override;

  size_t dlq_replay(const std::string& event_id, const std::string& group,
                    millis_t now) override;

  size_t dlq_purge(const std::string& event_id) override;

  size_t dlq_purge_group(const std::string& group) override;

  uint64_t dlq_size() override;

  uint64_t dlq_count(const std::string& group) override;

  // -- processed_port: sqlite_dlq.cpp ----------------------------------------

  uint64_t processed_count(const std::string& group) override;

  std::vector<processed_record>
  processed_of(const std::string& event_id) override;

  // -- store: status, history, listings in sqlite_queries.cpp ----------------

  std::vector<group_status> status_of(const std::string& event_id) override;

  std::vector<group_history> history_of(const std::string& event_id) override;

  event_listing list_events(const event_listing_query& q) override;

  // -- store: retention in sqlite_retention.cpp ------------------------------

  uint64_t trim(millis_t now, millis_t retention, millis_t dedup_window,
                size_t max) override;

  // -- settings_port: sqlite_settings.cpp ------------------------------------

  std::vector<group_overrides> group_overrides_all() override;

  group_overrides change_group_overrides(const group_overrides& change,
                                         uint8_t clear) override;

  // -- store: sqlite_store.cpp -----------------------------------------------

  void ping() override;

  std::string describe() const override {
    return "sqlite:" + conn_.path;
  }

private:
  /// Begins a transaction; rolls it back unless committed.
  class transaction {
  public:
    transaction(sqlite_store& st, const char* op) : st_(st), op_(op) {
      query{st_.begin_, op_}.run();
    }

    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;

    ~transaction() {
      if (!done_)
        sqlite3_exec(st_.conn_.db, "ROLLBACK", nullptr, nullptr, nullptr);
    }

    void commit() {
      query{st_.commit_, op_}.run();
      done_ = true;
    }

  private:
    sqlite_store& st_;
    const char* op_;
    bool done_ = false;
  };

  void load();

  group_state& group_ref(const std::string& name, const char* op);

  group_state* group_ptr(const std::string& name) {
    auto i = groups_.find(name);
    return i == groups_.end() ? nullptr : &i->second;
  }

  /// Reads the log entry `seq` into `ev`; false if there is none.
  bool load_event(uint64_t seq, event& ev, const char* op);

  /// Reads the event columns of the current row of a log query.
  static void read_event(const query& q, event& ev);

  bool ledger_has(const std::string& group, uint64_t seq, const char* op);

  bool dlq_has(const std::string& group, uint64_t seq, const char* op);

  bool is_cancelled(const std::string& group, uint64_t seq) const {
    return !cancelled_.empty() && cancelled_.count(retry_key{group, seq}) > 0;
  }

  /// True if the pair's entry was trimmed while settled: below the trim
  /// point and neither in the retry schedule nor in the DLQ (its ledger
  /// entry went with the trim).
  bool settled_by_trim(const std::string& group, uint64_t seq, const char* op) {
    return seq != 0 && seq <= trimmed_to_ && !retries_.has(group, seq)
           && !dlq_has(group, seq, op);
  }

  /// The lowest seq `trim` must keep: every group's oldest unsettled entry
  /// (pending or not yet read) and the lowest seq in the retry schedule
  /// above the trim point (head + 1 if none).
  uint64_t trim_bound() const;

  /// Per-group statuses of the entry `seq` of type `type`.
  std::vector<group_status> statuses(uint64_t seq, const std::string& type,
                                     const char* op);

  /// Makes sure `n` more epochs are reserved in `meta`.
  void reserve_epochs(size_t n);

  // Declared first: destroyed after the statements.
  connection conn_;
  /// The node's name, recorded with each append.
  std::string node_;

  statement begin_{conn_, "BEGIN IMMEDIATE"};
  statement commit_{conn_, "COMMIT"};
  statement meta_get_{conn_, "SELECT value FROM meta WHERE key=?1"};
  statement meta_set_{conn_, "INSERT OR REPLACE INTO meta(key, value) "
                             "VALUES(?1, ?2)"};
  statement dedup_upsert_{
    conn_, "INSERT INTO dedup(id, seq, created_at) VALUES(?1, ?2, ?3) "
           "ON CONFLICT(id) DO UPDATE SET seq=excluded.seq, "
           "created_at=excluded.created_at "
           "WHERE dedup.created_at + ?4 <= ?5"};
  statement dedup_get_{conn_, "SELECT seq FROM dedup WHERE id=?1"};
  statement log_insert_{
    conn_, "INSERT INTO log(seq, id, type, payload, prio, created_at, "
           "trace_id, not_before) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"};
  statement log_range_{
    conn_, "SELECT seq, id, type, payload, prio, created_at, trace_id, "
           "not_before FROM log WHERE seq>?1 ORDER BY seq LIMIT ?2"};
  statement log_keys_{
    conn_, "SELECT seq, id, type FROM log WHERE seq>?1 ORDER BY seq LIMIT ?2"};
  statement log_get_{
    conn_, "SELECT seq, id, type, payload, prio, created_at, trace_id, "
           "not_before FROM log WHERE seq=?1"};
  // Entries a group will read (delayed ones wait in the schedule).
  statement log_types_{conn_, "SELECT type, count(*) FROM log WHERE seq>?1 "
                              "AND not_before=0 GROUP BY type"};
  statement log_head_{conn_, "SELECT coalesce(max(seq), 0) FROM log"};
  statement group_insert_{conn_,
                          "INSERT INTO groups(name, patterns, start, cursor) "
                          "VALUES(?1, ?2, ?3, ?3)"};
  statement group_patterns_{conn_,
                            "UPDATE groups SET patterns=?2 WHERE name=?1"};
  statement group_cursor_{conn_, "UPDATE groups SET cursor=?2 WHERE name=?1"};
  statement group_all_{conn_,
                       "SELECT name, patterns, start, cursor FROM groups"};
  statement group_settled_{
    conn_, "SELECT seq FROM ledger WHERE grp=?1 AND seq>?2 "
           "UNION SELECT seq FROM retry WHERE grp=?1 AND seq>?2 "
           "UNION SELECT seq FROM dlq WHERE grp=?1 AND seq>?2 "
           "UNION SELECT seq FROM purged WHERE grp=?1 AND seq>?2 "
           "UNION SELECT seq FROM cancelled WHERE grp=?1 AND seq>?2"};
  statement ledger_insert_{
    conn_, "INSERT OR IGNORE INTO ledger(grp, seq, epoch, at, history) "
           "VALUES(?1, ?2, ?3, ?4, ?5)"};
  statement ledger_history_{
    conn_, "SELECT epoch, at, history FROM ledger WHERE grp=?1 AND seq=?2"};
  statement dlq_delivery_{conn_,
                          "SELECT delivery FROM dlq WHERE grp=?1 AND seq=?2 "
                          "ORDER BY pos DESC LIMIT 1"};
  statement ledger_has_{conn_, "SELECT 1 FROM ledger WHERE grp=?1 AND seq=?2"};
  statement processed_insert_{
    conn_, "INSERT INTO processed(grp, event_id, seq, type, epoch, attempt, "
           "at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"};
  statement processed_counts_all_{
    conn_, "SELECT grp, count(*) FROM processed GROUP BY grp"};
  statement processed_of_{conn_,
                          "SELECT grp, event_id, seq, type, epoch, attempt, at "
                          "FROM processed WHERE seq=?1 ORDER BY at, grp"};
  statement retry_upsert_{
    conn_, "INSERT OR REPLACE INTO retry(grp, seq, due, attempt, "
           "redeliveries, delivery) VALUES(?1, ?2, ?3, ?4, ?5, ?6)"};
  statement retry_delete_{conn_, "DELETE FROM retry WHERE grp=?1 AND seq=?2"};
  statement retry_get_{conn_,
                       "SELECT delivery FROM retry WHERE grp=?1 AND seq=?2"};
  statement retry_all_{conn_, "SELECT grp, seq, due, delayed FROM retry"};
  // A delayed first attempt (see retry_port), put there by `append`.
  statement retry_insert_delayed_{
    conn_, "INSERT OR REPLACE INTO retry(grp, seq, due, attempt, "
           "redeliveries, delivery, delayed) VALUES(?1, ?2, ?3, 1, 0, ?4, 1)"};
  statement cancelled_insert_{
    conn_, "INSERT OR IGNORE INTO cancelled(grp, seq, at) VALUES(?1, ?2, ?3)"};
  statement cancelled_all_{conn_, "SELECT grp, seq FROM cancelled"};
  statement dlq_insert_{
    conn_, "INSERT INTO dlq(grp, seq, event_id, reason, error, dead_at, "
           "delivery) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"};
  statement dlq_list_{
    conn_, "SELECT pos, delivery, reason, error, dead_at FROM dlq "
           "WHERE pos>?1 AND (?2='' OR grp=?2) ORDER BY pos LIMIT ?3"};
  statement dlq_of_event_{
    conn_, "SELECT pos, delivery, reason, error, dead_at, grp, seq "
           "FROM dlq WHERE event_id=?1 ORDER BY pos"};
  statement dlq_all_{conn_, "SELECT pos, grp, seq FROM dlq"};
  statement dlq_has_{conn_,
                     "SELECT 1 FROM dlq WHERE grp=?1 AND seq=?2 LIMIT 1"};
  statement dlq_delete_{conn_, "DELETE FROM dlq WHERE pos=?1"};
  statement dlq_count_{conn_, "SELECT count(*) FROM dlq"};
  statement dlq_count_group_{conn_, "SELECT count(*) FROM dlq WHERE grp=?1"};
  statement purged_insert_{
    conn_, "INSERT OR IGNORE INTO purged(grp, seq) VALUES(?1, ?2)"};
  statement purged_insert_group_{
    conn_, "INSERT OR IGNORE INTO purged(grp, seq) "
           "SELECT grp, seq FROM dlq WHERE grp=?1 AND seq>?2"};
  statement dlq_delete_group_{conn_, "DELETE FROM dlq WHERE grp=?1"};
  statement dlq_delete_all_{conn_, "DELETE FROM dlq"};
  // Retention: every statement walks a primary key from its start.
  statement log_trim_scan_{
    conn_, "SELECT seq, id, created_at, not_before FROM log WHERE seq<?1 "
           "ORDER BY seq LIMIT ?2"};
  statement log_trim_{conn_, "DELETE FROM log WHERE seq<=?1"};
  statement accepted_insert_{conn_, "INSERT OR REPLACE INTO accepted(first, "
                                    "last, node) VALUES(?1, ?2, ?3)"};
  statement accepted_get_{conn_, "SELECT last, node FROM accepted WHERE "
                                 "first<=?1 ORDER BY first DESC LIMIT 1"};
  statement accepted_trim_{conn_, "DELETE FROM accepted WHERE last<=?1"};
  statement dups_add_{
    conn_, "INSERT INTO dups(seq, count, first_at, last_at, node) "
           "VALUES(?1, 1, ?2, ?2, ?3) ON CONFLICT(seq) DO UPDATE SET "
           "count=count+1, last_at=excluded.last_at, node=excluded.node"};
  statement dups_get_{
    conn_, "SELECT count, first_at, last_at, node FROM dups WHERE seq=?1"};
  statement dups_trim_{conn_, "DELETE FROM dups WHERE seq<=?1"};
  statement ledger_trim_{conn_, "DELETE FROM ledger WHERE grp=?1 AND seq<=?2"};
  statement purged_trim_{conn_, "DELETE FROM purged WHERE grp=?1 AND seq<=?2"};
  statement cancelled_trim_{conn_,
                            "DELETE FROM cancelled WHERE grp=?1 AND seq<=?2"};
  statement processed_trim_counts_{
    conn_, "SELECT grp, count(*) FROM processed WHERE seq<=?1 GROUP BY grp"};
  statement processed_trim_{conn_, "DELETE FROM processed WHERE seq<=?1"};
  statement dedup_drop_{conn_, "DELETE FROM dedup WHERE id=?1 AND seq=?2"};
  statement dedup_trimmed_insert_{
    conn_, "INSERT OR REPLACE INTO dedup_trimmed(seq, id, created_at) "
           "VALUES(?1, ?2, ?3)"};
  statement dedup_trimmed_scan_{
    conn_, "SELECT seq, id, created_at FROM dedup_trimmed ORDER BY seq "
           "LIMIT ?1"};
  statement dedup_trimmed_delete_{conn_,
                                  "DELETE FROM dedup_trimmed WHERE seq<=?1"};

  statement settings_all_{
    conn_, "SELECT grp, name, value FROM group_settings ORDER BY grp"};
  statement settings_of_{
    conn_, "SELECT grp, name, value FROM group_settings WHERE grp=?1"};
  statement settings_put_{conn_, "INSERT OR REPLACE INTO group_settings(grp, "
                                 "name, value) VALUES(?1, ?2, ?3)"};
  statement settings_drop_{
    conn_, "DELETE FROM group_settings WHERE grp=?1 AND name=?2"};

  /// Reads the rows of a group_settings query into `out` (by group).
  void read_settings(query& q, std::vector<group_overrides>& out,
                     const char* op);

  uint64_t head_ = 0;
  /// Trim point (persisted in `meta`): every log entry up to it is gone.
  uint64_t trimmed_to_ = 0;
  /// Processed records per group and in all, kept in step with the table.
  std::unordered_map<std::string, uint64_t> processed_counts_;
  uint64_t processed_total_ = 0;
  /// Highest epoch reserved in `meta`; epochs handed out never exceed it.
  uint64_t epoch_limit_ = 0;
  lease_table leases_;
  std::map<std::string, group_state, std::less<>> groups_;
  retry_slots retries_;
  /// The `cancelled` table's pairs.
  std::set<retry_key> cancelled_;
};

} // namespace onceflow::embedded
