#pragma once

#include "adapters/ports.hpp"

#include <functional>
#include <map>
#include <string>

/// The Redis store: every port over one Redis server (standalone, RESP2,
/// hiredis 0.14, or OpenSSL for rediss:// (tls_link.hpp), one synchronous
/// connection owned by the store object; a
/// node opens several store objects over the same data, one per store
/// actor: see runtime/node.hpp). The key layout is the table "Redis keys"
/// in docs/architecture.md; every key lives under `redis_options::prefix`,
/// so several deployments can share a server.
///
/// Round trips: every batched port call is one Lua script call (EVALSHA),
/// i.e. one round trip carrying the whole batch (append, read_group, claim,
/// settle, reclaim, take_due, renew_taken, release_taken, trim), atomic on
/// the server.
///
/// Decisions where ports.hpp leaves room or Redis differs (the conventions of
/// the SQLite adapter hold otherwise: retry schedules attempt+1 with epoch 0,
/// created_at=now when 0, unknown group throws, crash-loop dead without a
/// lease, dlq_replay resets attempt/redeliveries, ...):
/// - Time is the caller's `now`, never Redis' clock: the delivery times of
///   the pending entries are kept in a ZSET (`g:<group>:pel`, one member
///   per read or reclaim, the run of seqs it delivered), because
///   XAUTOCLAIM's idle time is server wall-clock time. `reclaim` takes the
///   oldest members first and answers their still pending entries (XPENDING
///   over the runs) in seq order.
/// - read_leased: one record per read (`g:<group>:rl`: run, epoch of its
///   first seq, expiry, holder) instead of a state field per entry; a pair
///   without a state field is under it. Claims and settlements look it up
///   (once per read and call); every change of the pair writes its state
///   field, after which the record no longer applies to it.
/// - Dedup: one key per event id (`id:<id>` -> "seq created_at", SET NX PX)
///   serves the dedup check (created_at + window > now, against the
///   caller's clock, so virtual time holds) and `find`/`status_of`. Its
///   TTL is the longer of the window and the retention, so it expires on
///   its own; an event a group holds back beyond that is not found by id.
/// - One state field per (group, seq) in `g:<group>:st`: the lease while
///   the pair is pending (fencing works across nodes; epochs come from the
///   persistent `epoch` counter and never repeat while Redis keeps its
///   data), then the outcome (ledger entry, dead, purged). Trimming
///   (store::trim) removes the log entries, states and processed records of
///   settled history; claims of trimmed seqs without a state answer done.
/// - `take_due` marks entries taken in `retry:taken` with this store
///   object's instance and the time the mark lapses: the caller's `now`
///   plus the hold of the entry's group (`redis_options::take_holds`, the
///   group's lease TTL). A take is a lease: the node that holds the entry
///   renews the mark (renew_taken) until the entry settles (which drops the
///   mark), and a draining node releases (release_taken) what it will not
///   run. Until the mark lapses, this and other nodes skip the entry;
///   then it is due again (its taker died, or the reply to the take got
///   lost), so a retry taken by a node that died goes to another after
///   about one lease, like its in-flight entries (reclaimed after twice the
///   lease). The lease claim lets only one delivery run at a time, and a
///   node drops a copy it got again while the first was still running once
///   that one went back into the schedule.
/// - Groups (patterns, start) are read from Redis on every call, so groups
///   created by another node are seen at once.
/// - Scripts build key names from the prefix (they do not declare KEYS):
///   standalone Redis only; hiredis 0.14 has no cluster support anyway.
/// - A Redis error inside a script may leave the earlier writes of that
///   script applied (Redis scripts are atomic but not rolled back); the
///   scripts take their counters first (epochs, the trim mark), so such an
///   error can waste numbers but never hands one out twice. The only such
///   errors are server-side (OOM, wrong-type keys), which open() and the
///   WRONGTYPE diagnosis report.
/// - Connections: after a failed attempt the next one waits (backoff 100 ms
///   doubling to 5 s, jittered) and calls fail at once meanwhile. Before
///   sending, a call checks whether the server closed the connection while
///   it was idle (restart, idle timeout) and reconnects first; a connection
///   that fails after a call was sent fails the call, except for calls that
///   answer a second run like the first, which are sent once more over a
///   new connection: reads, group registration, ping, and claim, settle
///   and take_due, whose scripts recognise their own earlier run (same
///   holder or epoch and the same `now`) and answer what it did.
/// - `history_of` and `list_events` are one script call each;
///   `list_events` scans at most max(limit * 4, 256) log entries (at most
///   5000) per call, in chunks of 256, stopping at the end of the seq whose
///   items reach the limit.
/// - A committed effect keeps the delivery's attempt history with its
///   ledger entry (codec::encode_attempts): a short string, no extra
///   command on the settle path.
/// - Store generation (key `gen`, see redis_generation.hpp): when Redis
///   loses its data, seqs and epochs start over. A call that depends on what
///   the caller holds and finds a new generation adopts it. Appends, claims,
///   settlements and cancels then run once more on the new data (a batch is
///   new input; claims and settlements check each pair's event id from then
///   on, one GET more per pair until the store object is reopened, so copies
///   of old events are answered `done` / `no_lease` and change nothing,
///   while deliveries of the new data go through: a node's lease
///   connections hear of the change after its reader, and must not fail the
///   first new events). The other calls (take_due, the DLQ's) fail once
///   per store object with store_error "<store>: store generation changed
///   (Redis lost or replaced its data): ..."; the reader's calls
///   (ensure_group, read_group, reclaim, backlog) report a change another
///   call noticed first, once, so that the broadcaster drops every seq of
///   the old data.
/// - Opening: a server that cannot be reached at start may be waited for
///   (redis_options::wait_at_start, make_redis_store); the node's main
///   store claims the node's name (key `node:<name>`, redis_startup.hpp).
/// - Layout: the key `layout` names the version of this key layout; a
///   store refuses to open data of another layout (written by an older
///   onceflow) instead of misreading it.
namespace onceflow {

/// Options of the Redis store.
struct redis_options {
  /// Default of `take_hold_ms`: a group's default lease TTL.
  static constexpr millis_t default_take_hold_ms = 30000;
  /// redis[s]://[user:password@]host[:port][/db]; user may be empty
  /// (redis://:secret@host); userinfo is percent-decoded; rediss:// is
  /// TLS (verifying the server's certificate and name).
  std::string url = "redis://127.0.0.1:6379/0";
  /// Prefix of every key (several deployments may share one Redis).
  std::string prefix = "onceflow:";
  int connect_timeout_ms = 2000;
  int command_timeout_ms = 5000;
  /// For rediss:// URLs (TLS; plain redis:// is the default): CA
  /// certificates (PEM) that verify the server (empty: the system's), and a
  /// client certificate and key for servers that require one.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  /// Consumer name in the consumer groups (one per node).
  std::string consumer = "node-1";
  /// How long settled history is kept ([store] retention): also the least
  /// lifetime of an event's id key (dedup and lookups by id).
  millis_t retention_ms = 24LL * 3600 * 1000;
  /// How long a due retry that take_due hands out stays taken unless
  /// renewed (renew_taken), by group: the group's lease TTL ([groups.*]
  /// lease-ttl), so that a retry taken by a node that died is taken by
  /// another after about one lease. Groups not listed: `take_hold_ms` (a
  /// node sets it to the longest lease TTL of its groups).
  std::map<std::string, millis_t> take_holds;
  millis_t take_hold_ms = default_take_hold_ms;
  /// If Redis cannot be reached at open (refused, timed out, still loading
  /// its data): false throws, true returns a store that finishes opening on
  /// a later call, once Redis answers ([redis] wait-at-start).
  bool wait_at_start = false;
  /// Claim the node name `consumer` (redis_startup.hpp: key
  /// node:<consumer>), renew it with heartbeat() and give it back when the
  /// store goes. The node's main store does; its other store objects and
  /// tests do not.
  bool claim_name = false;
  /// How long a name claim lasts without renewal (renewed every ttl / 5).
  millis_t name_ttl_ms = 10000;
  /// Called once when a store whose open was put off opens (with the
  /// store: its description and startup warnings, for the node's log).
  std::function<void(const store&)> on_deferred_open;
};

/// Connects, authenticates, selects the database, loads the scripts,
/// checks the types of the keys under the prefix and the store's layout and
/// generation, reads the eviction policy (startup_warnings) and, with
/// `claim_name`, claims the node name. Throws store_error with a clear
/// message: "redis://host:port: connection refused", "redis://host:
/// port: authentication failed (WRONGPASS ...)", "bad redis URL '...': ...",
/// "... key 'onceflow:ids' holds a string, expected a hash (WRONGTYPE) ...",
/// "node name 'node-1' is held by a live node (...)" (kind refused).
///
/// With `wait_at_start`, a server that cannot be reached (and only that:
/// the other errors above are thrown all the same) leaves the store
/// unopened (a deferred_store): every call first tries to finish the open,
/// at the pace of the connection's backoff, and fails meanwhile with
/// store_error "waiting for Redis: redis://host:port: connection refused
/// ..."; startup_warnings() says that the node waits. A finished open whose
/// other checks fail then throws kind refused (the node stops).
store_ptr make_redis_store(const redis_options& opts);

} // namespace onceflow
