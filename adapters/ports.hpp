#pragma once

#include "actors/logic/event.hpp"
#include "actors/logic/group_settings.hpp"
#include "actors/logic/lease_table.hpp"
#include "actors/logic/status.hpp"

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

/// Store ports: the small interfaces every store adapter (embedded SQLite,
/// Redis, MongoDB) implements. They follow Redis Streams' consumer-group
/// model so that a Redis adapter maps them one to one:
///
/// - log: `append` = dedup check (SET NX) + XADD, atomically per event;
///   `read_group` = XREADGROUP `>`; `reclaim` = XAUTOCLAIM.
/// - leases/ledger: `claim` = INCR epoch + lease; `settle` = one script that
///   checks the epoch and commits the outcome (ledger, retry ZSET, DLQ) and
///   XACKs the pending entry.
/// - retry schedule: `take_due` = ZRANGEBYSCORE on the retry ZSET, with a
///   take mark per entry handed out (a lease on the take: renewed by the
///   node that holds the entry, released when it will not run it).
/// - DLQ and processed events: listing, lookups, replay, purge.
/// - group settings: run-time overrides of a group's settings (pause,
///   rate limit, listener count), one field each (a Redis hash).
///
/// Every call is batched: one call carries many events. Calls are made from
/// one adapter actor, so implementations need not be thread-safe. Failures of
/// the backing store throw `store_error`.
namespace onceflow {

/// A failure of the backing store, with its kind: callers decide by the
/// kind, never by the text.
class store_error : public std::runtime_error {
public:
  enum class kind : uint8_t {
    /// I/O, corruption, an unreachable server, a refused command.
    failure,
    /// The store does not know the listener group named in the call (it
    /// lost it: Redis restarted without persistence).
    unknown_group,
    /// The store's data was replaced (Redis lost it and seqs start over):
    /// every seq the caller holds names nothing or another event.
    generation_changed,
    /// The store refuses this node for good (another live node holds its
    /// name; the server turned out to be unusable for it when a deferred
    /// open finished): the node must stop, not run on.
    refused,
  };

  explicit store_error(const std::string& what, kind k = kind::failure)
    : std::runtime_error(what), kind_(k) {
    // nop
  }

  kind which() const noexcept {
    return kind_;
  }

private:
  kind kind_;
};

/// Result of appending one event.
struct append_result {
  std::string id;
  /// True if the id was seen within the dedup window; nothing was appended.
  bool duplicate = false;
  /// Log position of the accepted event, or of the original for a duplicate.
  uint64_t seq = 0;
  /// For duplicates: the original's status, aggregated over its groups
  /// (dead > retrying > in_flight > accepted; processed only if all
  /// groups processed it).
  event_status original = event_status::unknown;
};

/// Who accepted a log entry, and its id's duplicate submissions.
struct acceptance_record {
  /// The node whose store appended it; empty if not recorded (appended by
  /// an earlier version, or trimmed: a trim takes the record of an append
  /// call once all its entries are gone).
  std::string node;
  /// Submissions of its id answered `duplicate` (within the dedup window,
  /// while the entry is in the log), the first and last one's time and
  /// the node that answered the last.
  uint64_t duplicates = 0;
  millis_t first_duplicate_at = 0;
  millis_t last_duplicate_at = 0;
  std::string last_duplicate_node;
};

/// A listener group as the log sees it.
struct group_spec {
  std::string name;
  /// Event-type patterns (`order.*`); entries of other types are skipped.
  std::vector<std::string> patterns;
  /// A new group reads the whole log instead of starting at the head (a
  /// node registering a group again after the store lost it).
  bool from_start = false;
};

class log_port {
public:
  virtual ~log_port() = default;

  /// Creates the group if it does not exist, reading from the current head
  /// (events appended earlier are not delivered to a new group), or from the
  /// start of the log with `from_start`. Updates the patterns of an
  /// existing group.
  virtual void ensure_group(const group_spec& spec) = 0;

  /// Appends the batch in order, durably, in one transaction. Sets `seq` of
  /// each accepted event. An id accepted within the last `dedup_window` ms
  /// (its created_at + window > now) is a duplicate, also within the batch.
  /// A delayed event (not_before > 0) goes, in the same transaction, into
  /// the retry schedule of every group whose patterns match its type, due
  /// at not_before as attempt 1 with no history: a delayed first attempt
  /// (see retry_port). The groups it goes to are decided here, at
  /// acceptance; a group created later does not get it (as with any
  /// event).
  virtual std::vector<append_result>
  append(std::vector<event>& batch, millis_t now, millis_t dedup_window) = 0;

  /// Delivers up to `max` entries the group has not seen, in log order,
  /// skipping entries whose type matches none of its patterns and delayed
  /// entries (the schedule hands those out). Delivered entries stay pending
  /// for the group until settled.
  virtual std::vector<event>
  read_group(const std::string& group, size_t max, millis_t now) = 0;

  /// Returns pending entries of the group delivered at least `min_idle` ms
  /// ago (and redelivers them: their delivery time becomes `now`). After a
  /// restart, each unsettled entry comes back exactly once: through
  /// `reclaim` where the pending list survives (Redis PEL), or through
  /// `read_group` where it does not (embedded: nothing is pending after
  /// open).
  virtual std::vector<event>
  reclaim(const std::string& group, millis_t now, millis_t min_idle, size_t max)
    = 0;

  /// Highest seq in the log (0 when empty).
  virtual uint64_t head() = 0;

  /// Number of entries the group has not settled (pending + not yet read;
  /// delayed entries wait in the schedule and are not counted).
  virtual uint64_t backlog(const std::string& group) = 0;

  /// Looks an event up by id (the newest with that id); seq 0 if unknown.
  virtual event find(const std::string& id) = 0;

  /// Who accepted the entry at `seq` and the duplicate submissions of its
  /// id answered since (recorded once per append call, and per duplicate).
  virtual acceptance_record acceptance(uint64_t seq) = 0;
};

/// A lease claim on one (group, event).
struct claim_request {
  std::string group;
  std::string event_id;
  uint64_t seq = 0;
  /// The epoch of a lease nobody runs under (see lease_table::claim): one
  /// granted with the read and not run under, or one its listener gave up
  /// (its claim or settlement failed); or 0.
  uint64_t takeover = 0;
  /// With `takeover`: that lease belongs to a listener that went down (its
  /// broadcaster saw the DOWN), so it is replaced live or expired and counts
  /// a crash redelivery, as its expiry would have.
  bool crashed = false;
};

class lease_port {
public:
  virtual ~lease_port() = default;

  /// Claims each pair for `holder` (see lease_table::claim; `done` comes
  /// from the ledger). Epochs never repeat, also across restarts.
  virtual std::vector<claim_decision>
  claim(const std::vector<claim_request>& reqs, const std::string& holder,
        millis_t now, millis_t ttl, uint32_t crash_budget)
    = 0;

  /// Commits each settlement whose epoch is current and whose lease is live
  /// at `now`, all in one transaction; refuses the others (stale/no_lease)
  /// and leaves them untouched. `dead` settlements with epoch 0 (crash loop:
  /// no lease was granted) are committed without a fence check.
  virtual std::vector<fence_decision>
  settle(const std::vector<settlement>& items, millis_t now) = 0;

  /// True if the ledger has the effect of (group, seq).
  virtual bool is_done(const std::string& group, uint64_t seq) = 0;
};

/// What store::cancel did.
struct cancel_result {
  /// The event's seq; 0 if the store does not know the id.
  uint64_t seq = 0;
  /// The event is delayed (only delayed events can be cancelled).
  bool delayed = false;
  /// The groups this call cancelled the event in.
  std::vector<std::string> cancelled;
  /// Every group of the event with its status after the call.
  std::vector<group_status> groups;
};

/// A pair of the retry schedule handed out by take_due: (group, seq).
struct taken_pair {
  std::string group;
  uint64_t seq = 0;
};

/// The retry schedule holds deliveries due at a time: retries (attempt 2
/// and later, or a DLQ replay) and delayed first attempts, which `append`
/// puts there. A delayed first attempt is `scheduled` until a listener
/// claims it (then `in_flight`); once that attempt fails it is a retry like
/// any other. Until it is claimed, `cancel` takes it out for good.
class retry_port {
public:
  virtual ~retry_port() = default;

  /// Returns up to `max` scheduled deliveries due at `now`, earliest first,
  /// and marks them taken (a later take_due skips them). They stay in the
  /// schedule until settled; after a restart they are due again. A store
  /// shared by several nodes (Redis) makes the mark a lease: it lapses
  /// after a hold time (the lease TTL of the entry's group, by the callers'
  /// clocks) unless renew_taken extends it; an entry whose mark lapsed is
  /// handed out again, since the node that took it died or never got it (a
  /// reply that timed out); the lease claim lets one delivery run at a
  /// time.
  virtual std::vector<delivery> take_due(millis_t now, size_t max) = 0;

  /// When take_due next has something to hand out: the due time of the
  /// earliest untaken entry, or the time a mark lapses if earlier; -1 if
  /// neither.
  virtual millis_t next_due() = 0;

  /// Extends the take marks of these pairs that this store object set
  /// (take_due) to the hold time after `now`: a node renews what it took
  /// and still holds (queued or running), well before the marks lapse. A
  /// mark another store object set, or none (the pair was settled, or
  /// released), is left as it is. Returns the number of marks renewed.
  /// Where marks do not lapse (one node: SQLite) it changes nothing and
  /// returns the number of these pairs that are taken.
  virtual uint64_t
  renew_taken(const std::vector<taken_pair>& pairs, millis_t now)
    = 0;

  /// Drops the take marks of these pairs that this store object set, so
  /// that take_due hands them out again at once (to any node): a draining
  /// node gives back what it took and will not run. Returns the number of
  /// marks dropped.
  virtual uint64_t release_taken(const std::vector<taken_pair>& pairs) = 0;

  /// Entries in the schedule (taken or not).
  virtual uint64_t scheduled() = 0;

  /// Entries of `group` in the retry schedule (as `scheduled`, for one
  /// group). On Redis this counts over the whole schedule: an operator's
  /// query, not a hot path.
  virtual uint64_t scheduled(const std::string& group) = 0;

  /// Delayed first attempts in the schedule ((event, group) pairs waiting
  /// for their time, or due and not settled yet).
  virtual uint64_t delayed() = 0;

  /// Cancels the delayed event with this id in every group where its first
  /// attempt has not been claimed (waiting for its time, or handed out by
  /// take_due but not claimed yet): out of the schedule, status
  /// `cancelled`, and it never runs there (a claim answers `done`; trimmed
  /// with the rest of the log). Groups where it was claimed (running, or
  /// run) keep it. One transaction.
  virtual cancel_result cancel(const std::string& event_id, millis_t now) = 0;
};

/// Query over the DLQ; entries are ordered by the time they died.
struct dlq_query {
  /// Only this group (empty: all).
  std::string group;
  /// Cursor: return entries after this position (0: from the start).
  uint64_t after = 0;
  size_t limit = 100;
};

struct dlq_page {
  std::vector<dlq_entry> entries;
  /// Positions of the entries, for the next query's `after`.
  std::vector<uint64_t> positions;
};

class dlq_port {
public:
  virtual ~dlq_port() = default;

  virtual dlq_page dlq_list(const dlq_query& q) = 0;

  /// Entries of the event (one per dead group); empty if none.
  virtual std::vector<dlq_entry> dlq_get(const std::string& event_id) = 0;

  /// Moves the event's entries (all groups, or `group` only) from the DLQ
  /// back into the retry schedule, due at `now`, attempt reset to 1 and
  /// history kept. Returns the number moved.
  virtual size_t dlq_replay(const std::string& event_id,
                            const std::string& group, millis_t now)
    = 0;

  /// Deletes the event's entries (empty id: every entry). Returns the count.
  virtual size_t dlq_purge(const std::string& event_id) = 0;

  /// Deletes every entry of `group` (empty: every entry of every group), in
  /// bulk. Returns the count. Like dlq_purge, a purged pair never runs
  /// again (not after a restart either) and stays settled.
  virtual size_t dlq_purge_group(const std::string& group) = 0;

  virtual uint64_t dlq_size() = 0;

  /// Entries of one group in the DLQ.
  virtual uint64_t dlq_count(const std::string& group) = 0;
};

/// A processed-event record written by the `store` handler's effect.
struct processed_record {
  std::string group;
  std::string event_id;
  uint64_t seq = 0;
  std::string type;
  uint64_t epoch = 0;
  uint32_t attempt = 0;
  millis_t at = 0;
};

class processed_port {
public:
  virtual ~processed_port() = default;

  /// Number of processed records (all groups, or one).
  virtual uint64_t processed_count(const std::string& group) = 0;

  /// Records of one event (one per group; more would be a double effect).
  virtual std::vector<processed_record>
  processed_of(const std::string& event_id) = 0;
};

/// Run-time overrides of listener groups' settings (pause, rate limit,
/// listener count; see group_overrides): kept in the store, so that they
/// survive a restart and hold on every node sharing it. Each setting is a
/// field of its own, so that changes of different settings (by different
/// nodes) never undo each other.
class settings_port {
public:
  virtual ~settings_port() = default;

  /// The overrides of every group that has any, by group name (one call
  /// for all groups: nodes read them every janitor round).
  virtual std::vector<group_overrides> group_overrides_all() = 0;

  /// Sets the settings `change` holds to its values and drops those in
  /// `clear` that it does not hold, for the group `change.group`, in one
  /// step; returns the group's overrides after it. A group need not be
  /// known to the log.
  virtual group_overrides
  change_group_overrides(const group_overrides& change, uint8_t clear)
    = 0;
};

/// Status of one event in one group with its attempt history.
struct group_history {
  std::string group;
  event_status status = event_status::unknown;
  /// Attempts, oldest first: from the ledger (processed), the retry
  /// schedule (retrying) or the DLQ (dead); empty while nothing was
  /// attempted or the current attempt is still running.
  std::vector<attempt_record> attempts;
  /// While a next attempt waits in the retry schedule (retrying, or a
  /// delayed event's first): when it is due; 0 otherwise (none, or taken
  /// by a node and running).
  millis_t next_attempt_at = 0;
};

/// A scan over the log for events in one status.
struct event_listing_query {
  /// Any status but unknown.
  event_status status = event_status::processed;
  /// Only this group (empty: all).
  std::string group;
  /// Cursor: entries with a seq above this (0: from the start).
  uint64_t after = 0;
  size_t limit = 100;
};

struct event_listing_item {
  std::string group;
  std::string event_id;
  std::string type;
  uint64_t seq = 0;
  event_status status = event_status::unknown;
};

struct event_listing {
  /// In seq order (groups of one seq in name order).
  std::vector<event_listing_item> items;
  /// The `after` of the next page; 0 when the scan reached the log's head.
  /// Each call scans a bounded number of log entries, so a page may hold
  /// fewer than `limit` items and still have a next one.
  uint64_t next = 0;
};

/// One store: all ports over one backend.
class store : public log_port,
              public lease_port,
              public retry_port,
              public dlq_port,
              public processed_port,
              public settings_port {
public:
  /// Per-group status of the event with this id (empty if unknown).
  virtual std::vector<group_status> status_of(const std::string& event_id) = 0;

  /// Per-group status with the attempt history (empty if unknown).
  virtual std::vector<group_history> history_of(const std::string& event_id)
    = 0;

  /// Events of one status, in log order, cursor-paginated.
  virtual event_listing list_events(const event_listing_query& q) = 0;

  /// Retention: removes settled history older than `retention`, oldest
  /// first, at most `max` log entries per call (call again while it returns
  /// `max`). Only a prefix of the log goes: every entry below the trim point
  /// T, where T is the lowest of
  ///   - each group's oldest entry it has not settled (pending, not yet
  ///     read, or in the retry schedule: a delayed event holds the log back
  ///     until it settles),
  ///   - the first entry whose created_at + retention > now (for a delayed
  ///     event, not_before + retention: its history counts from its
  ///     time).
  /// With a trimmed entry go its id mapping (find/status_of/history_of
  /// answer unknown), its ledger entries and processed records (list_events
  /// no longer shows it). What stays: head() and every seq number (never
  /// reused), the dedup window's answers (a duplicate of a trimmed event
  /// within the window is still a duplicate, with status unknown), DLQ
  /// entries (they hold their own copy of the delivery; replaying one of a
  /// trimmed event still works and runs the effect once), and the refusal
  /// of settled pairs: a claim of a trimmed seq that is not in the DLQ or
  /// the retry schedule answers `done` (so does a cancelled pair's, with or
  /// without a trim). Returns the number of log entries
  /// removed. Dedup records whose window has passed (created_at +
  /// dedup_window <= now) and whose event is trimmed go as well (stores
  /// whose dedup records expire on their own, like Redis keys with a TTL,
  /// need not do anything for them here).
  virtual uint64_t
  trim(millis_t now, millis_t retention, millis_t dedup_window, size_t max)
    = 0;

  /// Reads like read_group and leases each delivered entry to `holder` as
  /// claim would (epochs, expiry, fence and crash budget alike), so that the
  /// first delivery of an entry needs no claim of its own: a delivery with
  /// a lease has its `epoch` and `lease_until` (= now + ttl) set; one whose
  /// claim was not granted comes without (lease_until 0) and is claimed by
  /// its listener. This default reads, then claims; a store may do both in
  /// one step (Redis: in the read's transaction).
  virtual std::vector<delivery>
  read_leased(const std::string& group, size_t max, millis_t now,
              const std::string& holder, millis_t ttl, uint32_t crash_budget);

  /// Throws store_error if the backing store cannot be reached now.
  virtual void ping() = 0;

  /// Short description for logs and status ("sqlite:/var/lib/x.db").
  virtual std::string describe() const = 0;

  /// Problems of the backing store's setup found at open that do not stop
  /// the node but put accepted events at risk (logged at start-up). None by
  /// default.
  virtual std::vector<std::string> startup_warnings() const {
    return {};
  }

  /// How often (ms) the owner calls heartbeat() while the store is open;
  /// 0: never (the default).
  virtual millis_t heartbeat_interval() const {
    return 0;
  }

  /// Renews what the store holds for the node while it runs (the Redis
  /// store: the claim of the node's name). Throws store_error; kind
  /// `refused` means the node must stop.
  virtual void heartbeat() {
    // nop
  }
};

using store_ptr = std::unique_ptr<store>;

} // namespace onceflow
