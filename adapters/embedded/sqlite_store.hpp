#pragma once

#include "adapters/ports.hpp"

#include <string>

/// The embedded store: every port over one SQLite database (a file in WAL
/// mode, or a private in-memory database).
///
/// Durable state lives in SQLite: the log, the dedup index, the groups with
/// their durable cursor, the ledger, the retry schedule, the DLQ, processed
/// records and an epoch high-water mark. Volatile state lives in memory, as
/// it does in a Redis consumer group's PEL: pending entries per group, the
/// leases (`lease_table`) and the `taken` marks of the retry schedule.
///
/// Conventions this adapter fixes where ports.hpp leaves room:
/// - `append` sets `created_at` of events that have none (0) to `now`; the
///   dedup window is measured from the original's `created_at`.
/// - `read_group`, `reclaim` and `backlog` throw `store_error` for a group
///   that `ensure_group` never created. A group with no patterns receives
///   nothing.
/// - After a restart nothing is pending: unsettled entries are delivered
///   again by `read_group` (as new), entries already settled for the group
///   (ledger, retry schedule, DLQ, purged from the DLQ) are not.
/// - `settle` of kind `retry` schedules the *next* attempt: `take_due`
///   returns the delivery with `attempt` incremented by one and `epoch` 0.
/// - `dlq_replay` also resets `redeliveries` to 0 (the lease, and with it
///   the crash count, was dropped when the entry died).
/// - A `dead` settlement with epoch 0 is refused (`no_lease`) if the pair is
///   already in the ledger or the DLQ.
/// - `processed_of(id)` and `status_of(id)` look at the newest event with
///   that id (an id reused after the dedup window names the new event).
/// - Processed records are counted in memory (loaded at open), so
///   `processed_count` is O(1) and status polling stays cheap. It counts
///   the records kept: `trim` lowers it.
/// - `trim`: the trim point T is the lowest of each group's oldest pending
///   entry (or, with none pending, the entry after the last one it read; a
///   group reads again from its durable cursor after a restart), the lowest
///   seq in the retry schedule above the previous trim point, and the first
///   entry within retention. One transaction deletes the log rows below T,
///   their ledger and processed rows, the dedup rows whose window has
///   passed, raises every group's cursor to T - 1 and persists T - 1 as
///   `trimmed_to` in `meta`. Claims (and epoch-0 dead settlements) of a
///   seq up to `trimmed_to` answer `done` (refuse) unless the pair is in
///   the retry schedule or the DLQ. Dedup rows still within their window
///   are listed in `dedup_trimmed` and deleted by a later `trim` once it
///   has passed. `is_done` reports the ledger only: false for a trimmed
///   pair. Retry entries of trimmed events (DLQ replays) hold nothing back;
///   their ledger and processed rows, once settled, go with the next trim.
namespace onceflow {

/// Options of the embedded store.
struct sqlite_options {
  /// Database file, or ":memory:" for a private in-memory database.
  std::string path = ":memory:";
  /// "full" or "normal" ("off" is accepted for benchmarks).
  std::string synchronous = "normal";
  int busy_timeout_ms = 5000;
  /// The node's name, recorded with each append (accepted_by).
  std::string node;
};

/// Opens (creating if needed) the store; throws store_error naming the path
/// and the SQLite message on failure.
store_ptr make_sqlite_store(const sqlite_options& opts);

} // namespace onceflow
