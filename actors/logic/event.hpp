#pragma once

#include <cstdint>
#include <string>
#include <vector>

/// The event model. Plain data with no framework dependency: actors/types.hpp
/// adds the CAF type IDs and `inspect` overloads that let these types cross
/// actor and node boundaries.
namespace onceflow {

/// Milliseconds since the Unix epoch (wall clock). Every persisted time uses
/// it.
using millis_t = int64_t;

/// This machine's wall clock, in milliseconds since the Unix epoch.
millis_t wall_now();

/// The earlier of `a` and `b`, where a negative `a` means none yet.
inline millis_t earliest_time(millis_t a, millis_t b) {
  return a < 0 || b < a ? b : a;
}

/// Dispatch priority of an event.
enum class priority : uint8_t { high = 0, normal = 1, low = 2 };

/// Returns "high", "normal" or "low".
const char* to_string(priority p);

/// Parses "high", "normal" or "low"; returns false for anything else.
bool parse_priority(const std::string& str, priority& out);

/// Status of an event for one listener group.
enum class event_status : uint8_t {
  unknown = 0,   ///< The store has no such event.
  accepted = 1,  ///< In the log, not yet delivered.
  in_flight = 2, ///< A listener holds a lease on it.
  retrying = 3,  ///< Failed at least once; waits in the retry schedule.
  processed = 4, ///< The effect is recorded in the ledger.
  dead = 5,      ///< In the dead-letter queue.
  /// A delayed event waiting in the schedule for its time: its first
  /// attempt has not started.
  scheduled = 6,
  /// A delayed event cancelled before it started: it never runs.
  cancelled = 7,
};

const char* to_string(event_status s);

/// Parses a status as to_string writes it; false for anything else.
bool parse_event_status(const std::string& str, event_status& out);

/// One event as accepted by onceflow.
struct event {
  /// Idempotency key: client-supplied (<= 128 printable bytes) or a
  /// generated UUIDv7.
  std::string id;
  /// Event type, `[A-Za-z0-9_.-]{1,64}`.
  std::string type;
  /// A JSON object, kept as validated text.
  std::string payload;
  priority prio = priority::normal;
  /// Wall-clock time of acceptance (set by the node, not the client).
  millis_t created_at = 0;
  /// Trace id for correlating logs (generated when absent).
  std::string trace_id;
  /// Position in the durable log; 0 until the store accepted the event.
  uint64_t seq = 0;
  /// A delayed event: the earliest time (wall clock, ms) it runs in its
  /// groups; 0 runs at once. Kept with the event in the store.
  millis_t not_before = 0;
  /// A delay asked at submission (ms after acceptance). The node turns it
  /// into `not_before` when it accepts the event (created_at + delay) and
  /// sets it back to 0, so that a delay counts by the node's clock, not a
  /// client's. Never stored.
  millis_t delay = 0;
};

/// When a delivery of `ev` could run first: its not_before if delayed, else
/// its acceptance (for latencies from "due" to effect).
millis_t due_time(const event& ev);

/// How one delivery attempt ended.
enum class outcome : uint8_t {
  success = 0,    ///< Handler succeeded; effect committed.
  retryable = 1,  ///< Handler failed with a transient error.
  permanent = 2,  ///< Handler failed with a permanent error.
  lease_lost = 3, ///< Completion refused: the lease had expired (stale epoch).
  crashed = 4,    ///< The lease expired without a completion (listener died).
};

const char* to_string(outcome o);

/// One delivery attempt, as kept for the DLQ and the status API.
struct attempt_record {
  uint32_t attempt = 0;
  millis_t at = 0;
  std::string node;
  std::string listener;
  uint64_t epoch = 0;
  outcome result = outcome::success;
  std::string error;
};

/// delivery::lease_until of a copy whose listener went down holding the
/// lease with the copy's epoch.
constexpr millis_t lease_of_dead_listener = -2;

/// One (event, group) pair on its way through the runtime.
struct delivery {
  event ev;
  std::string group;
  /// 1 for the first attempt; incremented by each retry.
  uint32_t attempt = 1;
  /// Lease epoch granted by the deduplicator for the current attempt.
  uint64_t epoch = 0;
  /// How often the lease expired without a completion (crash redeliveries).
  uint32_t redeliveries = 0;
  /// Earlier attempts, oldest first.
  std::vector<attempt_record> history;
  /// Positive while the delivery carries a lease the store granted with the
  /// read (store::read_leased) and nobody has run under yet: `epoch` is
  /// that lease's, live until this time. A listener runs under it without
  /// claiming (see use_read_lease). -1: such a lease that nobody ran under
  /// was given back (or is too short), or a lease its listener gave up (its
  /// claim or settlement failed, dispatch_report::failed): the listener
  /// claims, taking it over (claim_request::takeover) in case the claim
  /// overtakes the release.
  /// Once dispatched, the broadcaster's copy drops it (0), so that a
  /// re-dispatch claims as any other. lease_of_dead_listener: the listener
  /// this copy was dispatched to went down (DOWN) while it held the lease
  /// with `epoch`: the next claim revokes that lease (claim_request::crashed)
  /// instead of waiting for it to expire.
  millis_t lease_until = 0;
  /// Handed out by the retry schedule (take_due) to this node: the
  /// schedule's take mark names the node, which renews it while it holds
  /// this copy (a shared store lets a mark that is not renewed lapse, and
  /// the entry goes to another node), and gives it back when it will not
  /// run it (a drain).
  bool taken = false;
};

/// True if a listener may run `dl` under the lease granted with its read:
/// one is there and at least `min_left` ms of it remain at `now`. Otherwise
/// it claims, taking the read's lease over (claim_request::takeover).
bool use_read_lease(const delivery& dl, millis_t now, millis_t min_left);

/// How much of a lease granted with the read must be left for a listener to
/// run under it: 3/4 of the TTL (the rest would be short for a batch).
millis_t read_lease_min_left(millis_t lease_ttl);

/// Reason codes for dead-lettered events.
enum class dlq_reason : uint8_t {
  retries_exhausted = 0,
  permanent_error = 1,
  crash_loop = 2,
};

const char* to_string(dlq_reason r);
bool parse_dlq_reason(const std::string& str, dlq_reason& out);

/// An event in the dead-letter queue.
struct dlq_entry {
  delivery dl;
  dlq_reason reason = dlq_reason::retries_exhausted;
  std::string last_error;
  millis_t dead_at = 0;
};

/// How a delivery ends at the store.
enum class settle_kind : uint8_t {
  done = 0,    ///< Effect committed: ledger (+ processed record), ack.
  retry = 1,   ///< Failed: into the retry schedule at `due`, ack.
  dead = 2,    ///< Into the DLQ, ack.
  release = 3, ///< Give the lease back unprocessed (shutdown); stays pending.
};

struct settlement {
  settle_kind kind = settle_kind::done;
  /// The delivery, its current attempt's record already in `history`.
  delivery dl;
  /// For retry: when the next attempt is due (the store schedules attempt
  /// `dl.attempt + 1`).
  millis_t due = 0;
  /// For dead: why.
  dlq_reason reason = dlq_reason::retries_exhausted;
  std::string error;
  /// For done: also write a processed-events record (the `store` handler's
  /// effect), in the same commit as the ledger entry.
  bool record_effect = false;
};

// For done, the store keeps `dl.history` with the ledger entry (see
// codec::encode_attempts) so that the status API shows every attempt.

/// Generates a random UUIDv4 in its canonical 36-character text form.
std::string make_uuid_v4();

/// Generates a UUIDv7 (RFC 9562: 48-bit Unix time in ms, then 74 random
/// bits) for `now_ms`. Ids generated later sort after earlier ones (to the
/// millisecond), so an index of them grows at its end instead of at random
/// places.
std::string make_uuid_v7(millis_t now_ms);

/// make_uuid_v7 for the current wall-clock time.
std::string make_uuid_v7();

} // namespace onceflow
