#pragma once

#include <string>
#include <vector>

/// The store generation of the Redis store. Seqs (and lease epochs) start
/// over when Redis loses its data (a restart without persistence,
/// FLUSHALL), so a seq a node still holds in memory may name another event
/// afterwards. The key `gen` names the generation of the data (16 hex
/// digits, set with SET NX by the first store that finds it missing, so
/// that racing nodes agree on one).
///
/// Every script whose work depends on what the caller holds (append,
/// ensure_group, read_group, reclaim, backlog, claim, settle, take_due, the
/// DLQ replay's read and removal, the removal of a purge by event) gets the
/// generation the store object knows as its last argument and first
/// compares it with `gen` (one GET; scripts/prelude.lua): on a mismatch it
/// answers "GENERATION <token or none>" and does nothing. The store object
/// then adopts the new generation and throws store_error (kind
/// generation_changed) "<store>: store generation changed (Redis lost or
/// replaced its data): ..."; the next calls work. Appends, claims,
/// settlements and cancels do not fail but run once more on the new data
/// (redis_store's on_current_generation): a batch is new input, and claims
/// and settlements verify each pair from then on (below), so the first
/// deliveries of the new data are not failed by a connection of the node
/// that learns of the loss after the others. The reader of the log
/// (ensure_group, read_group, reclaim, backlog: the broadcaster) gets that
/// error too if another call noticed the change first, once, so that it drops
/// everything it holds of the old data. From then on the store object's claims
/// and settlements also check that each seq still holds the event they name
/// (`verify`: GET id:<id>, XRANGE if the newest event with the id has another
/// seq), so that late copies of old events cannot take a seq of the new data;
/// this costs one GET per pair until the node restarts. Read-only queries
/// (find, status, history, list, processed, DLQ list/get) and plain commands
/// (head, ping, is_done, ...) do not check: they answer from the data there is.
namespace onceflow {

class redis_connection;
class redis_keys;

/// How a script call treats the store generation.
enum class gen_check {
  /// No check: reads that depend on nothing the caller holds.
  none,
  /// The data must be the generation this store object knows.
  check,
  /// Like check, for the calls of the log's reader (ensure_group,
  /// read_group, reclaim, backlog): a change another call noticed first
  /// is reported to the reader too (once), so that it drops what it
  /// holds.
  reader,
};

/// The generation one store object works on.
class redis_generation {
public:
  redis_generation(redis_connection& conn, redis_keys& keys);

  /// At open: checks the key layout (refusing data of another layout,
  /// taking over layout 2) and reads the generation, creating one (SET NX)
  /// if there is none.
  void open();

  /// The generation this store object knows.
  const std::string& token() const {
    return token_;
  }

  /// The last argument of a script call: the generation to check, or ''
  /// for none.
  std::string argument(gen_check gc) const {
    return gc == gen_check::none ? std::string{} : token_;
  }

  /// A generation change was seen: claims and settlements check that each
  /// seq still holds the event they name (copies of the old data may still
  /// be around in the node), until the store object is reopened.
  bool verify() const {
    return verify_;
  }

  /// Handles the error reply `msg` of a call that checked the generation
  /// as `gc`: if a script found another generation than ours
  /// ("GENERATION <token or none>"), adopts it (creating a new one with
  /// SET NX if none) for the next calls and throws the "store generation
  /// changed" error. Returns for other errors.
  void check_error(const std::string& msg, const std::string& op, gen_check gc);

  /// For the reader's calls: reports a change that another call noticed.
  void take_notice(const std::string& op);

private:
  /// SET gen <new token> NX, GET gen (the generation there is, the new one
  /// if there was none), SET layout NX.
  std::vector<std::vector<std::string>> set_if_missing() const;

  [[noreturn]] void changed(const std::string& op, const std::string& current,
                            gen_check gc);

  /// The "store generation changed" error.
  [[noreturn]] void fail(const std::string& op, const std::string& detail);

  redis_connection& conn_;
  redis_keys& keys_;
  std::string token_;
  bool verify_ = false;
  /// A call other than the reader's noticed a generation change: the
  /// reader's next call reports it too.
  bool notice_ = false;
};

} // namespace onceflow
