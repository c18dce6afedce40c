#pragma once

// Every typed actor interface of onceflow, in one place. Each handler has a
// comment; every long-lived actor answers `status` with a settings
// dictionary of counters, queue depths and config (the console's and
// /metrics' backbone).

#include "actors/types.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace onceflow {

/// Every long-lived actor answers `status` with a dictionary of its
/// counters, queue depths and config: one fan-out inspects a whole node.
using status_handler = caf::replies_to<atom::status>::with<caf::settings>;

/// The adapter actor that owns the store connection (runs detached: store
/// calls block). Nothing else touches the store.
using store_actor = caf::typed_actor<
  /// Creates or updates a listener group in the log.
  caf::replies_to<atom::join, group_spec>::with<bool>,
  /// Appends a batch durably (dedup by id within the window); per-event
  /// results in order.
  caf::replies_to<atom::append, std::vector<event>, millis_t,
                  millis_t>::with<std::vector<append_result>>,
  /// Reads up to N new entries for a group (they become pending).
  caf::replies_to<atom::read, std::string, uint32_t,
                  millis_t>::with<std::vector<event>>,
  /// Reads and leases (group, max, now, holder, ttl, crash budget): the
  /// deliveries carry the leases granted with the read (store::read_leased).
  caf::replies_to<atom::read, std::string, uint32_t, millis_t, std::string,
                  millis_t, uint32_t>::with<std::vector<delivery>>,
  /// Unsettled entries of a group (not yet read, or pending).
  caf::replies_to<atom::backlog, std::string>::with<uint64_t>,
  /// Reclaims pending entries of a group idle for at least min_idle ms.
  caf::replies_to<atom::reclaim, std::string, millis_t, millis_t,
                  uint32_t>::with<std::vector<event>>,
  /// Claims leases: (requests, holder, now, ttl, crash budget).
  caf::replies_to<atom::claim, std::vector<claim_request>, std::string,
                  millis_t, millis_t,
                  uint32_t>::with<std::vector<claim_decision>>,
  /// Commits outcomes under the epoch fence, atomically per batch.
  caf::replies_to<atom::settle, std::vector<settlement>,
                  millis_t>::with<std::vector<fence_decision>>,
  /// Takes due retries: (now, max) -> (deliveries, next due or -1).
  caf::replies_to<atom::due, millis_t, uint32_t>::with<std::vector<delivery>,
                                                       millis_t>,
  /// Lists the DLQ.
  caf::replies_to<atom::list, dlq_query>::with<dlq_page>,
  /// DLQ entries of one event.
  caf::replies_to<atom::inspect, std::string>::with<std::vector<dlq_entry>>,
  /// Moves DLQ entries of (event id, group or "") into the retry schedule.
  caf::replies_to<atom::replay, std::string, std::string,
                  millis_t>::with<uint64_t>,
  /// Deletes DLQ entries of an event ("" = all).
  caf::replies_to<atom::purge, std::string>::with<uint64_t>,
  /// Deletes every DLQ entry of a group ("" = all groups), in bulk.
  caf::replies_to<atom::purge, atom::groups, std::string>::with<uint64_t>,
  /// DLQ entries of one group.
  caf::replies_to<atom::count, std::string>::with<uint64_t>,
  /// Retention: removes settled history (now, retention, dedup window, most
  /// log entries per call; see store::trim); replies with the number of
  /// log entries removed.
  caf::replies_to<atom::trim, millis_t, millis_t, millis_t,
                  uint32_t>::with<uint64_t>,
  /// Per-group status of an event.
  caf::replies_to<atom::query, std::string>::with<std::vector<group_status>>,
  /// Processed-event records of an event (the store handler's effects).
  caf::replies_to<atom::processed,
                  std::string>::with<std::vector<processed_record>>,
  /// The event with its per-group status and attempt histories (seq 0 if
  /// unknown).
  caf::replies_to<atom::history, std::string>::with<event_history>,
  /// Events of one status, cursor-paginated.
  caf::replies_to<atom::events, event_listing_query>::with<event_listing>,
  /// True if the store answers now; fails with ec::store_failure.
  caf::replies_to<atom::ping>::with<bool>,
  /// Counters and sizes.
  status_handler>;

/// Runs handlers on batches of deliveries for one group.
using listener_actor = caf::typed_actor<
  /// A batch to process; the listener reports to the sender when done.
  caf::reacts_to<atom::dispatch, std::vector<delivery>>,
  /// Internal: simulated handler latency of batch `token` has elapsed.
  caf::reacts_to<atom::tick, uint64_t>,
  /// Internal: an asynchronous handler finished item `index` of batch
  /// `token`.
  caf::reacts_to<atom::handled, uint64_t, uint32_t, handler_result>,
  /// Counters.
  status_handler>;

/// Grants fenced leases and keeps the ledger (through the store).
using deduplicator_actor = caf::typed_actor<
  /// Claims (group, event) pairs for a holder: (requests, holder, ttl,
  /// crash budget).
  caf::replies_to<atom::claim, std::vector<claim_request>, std::string,
                  millis_t, uint32_t>::with<std::vector<claim_decision>>,
  /// Reads new entries of a group and leases them in the same store call:
  /// (group, max, holder, ttl, crash budget); see store::read_leased.
  caf::replies_to<atom::read, std::string, uint32_t, std::string, millis_t,
                  uint32_t>::with<std::vector<delivery>>,
  /// Commits outcomes; refuses stale epochs.
  caf::replies_to<atom::settle,
                  std::vector<settlement>>::with<std::vector<fence_decision>>,
  /// Counters.
  status_handler>;

/// Accepts events into the log and fans them out to listener groups.
using broadcaster_actor = caf::typed_actor<
  /// Validated events in; per-event results once durable. Fails with
  /// ec::overloaded (retry later) or ec::draining.
  caf::replies_to<atom::ingest,
                  std::vector<event>>::with<std::vector<append_result>>,
  /// From a listener: outcome of its dispatched batch.
  caf::reacts_to<atom::done, std::vector<dispatch_report>>,
  /// Deliveries due again (retries, held leases).
  caf::reacts_to<atom::redeliver, std::vector<delivery>>,
  /// Internal: rate-limit, batch-wait, drain and retry wake-ups.
  caf::reacts_to<atom::tick>,
  /// Internal: the periodic janitor (stalled work, reclaim, counts, joins).
  caf::reacts_to<atom::janitor>,
  /// Internal: the janitor's retention round (trims the store every trim
  /// interval, at once again while a call removes its maximum).
  caf::reacts_to<atom::trim>,
  /// Per-group status of an event.
  caf::replies_to<atom::query, std::string>::with<std::vector<group_status>>,
  /// Pauses (true) or resumes (false) dispatching of a group on this node;
  /// fails with ec::unknown_group.
  caf::replies_to<atom::pause, std::string, bool>::with<bool>,
  /// Stops accepting, waits for in-flight batches; replies when drained
  /// (true) or when the timeout passed with work left (false).
  caf::replies_to<atom::drain, millis_t>::with<bool>,
  /// Counters, queue depths per group and priority, listeners.
  status_handler>;

/// Re-delivers failed events when their backoff has elapsed.
using retry_timer_actor = caf::typed_actor<
  /// Sets the broadcaster that receives due deliveries (wiring at start).
  caf::reacts_to<atom::join, broadcaster_actor>,
  /// Something was scheduled; the earliest new due time is given.
  caf::reacts_to<atom::schedule, millis_t>,
  /// Internal: the timer for the earliest due time fired.
  caf::reacts_to<atom::tick>,
  /// Counters.
  status_handler>;

/// Sends DLQ alerts to the alert webhook (`[alerts]`): batched,
/// rate-limited and retried (logic/dlq_alerts); the calls run on the
/// webhook client, never blocking it or the DLQ actor.
using dlq_alerter_actor = caf::typed_actor<
  /// These entries were just dead-lettered (from the DLQ actor).
  caf::reacts_to<atom::dead, std::vector<dlq_entry>>,
  /// Internal: a batching window, the interval or a retry wait ended.
  caf::reacts_to<atom::tick>,
  /// Internal: alert call N ended ("" = delivered, else why not).
  caf::reacts_to<atom::handled, uint64_t, std::string>,
  /// Counters: calls delivered and failed, entries alerted and dropped.
  status_handler>;

/// Keeps dead-lettered events for inspection and replay.
using dead_letter_queue_actor = caf::typed_actor<
  /// Notification: these entries were just dead-lettered.
  caf::reacts_to<atom::dead, std::vector<dlq_entry>>,
  /// Lists entries (cursor-paginated); fails with ec::unknown_group for a
  /// group neither configured nor in the DLQ.
  caf::replies_to<atom::list, dlq_query>::with<dlq_page>,
  /// Entries of one event.
  caf::replies_to<atom::inspect, std::string>::with<std::vector<dlq_entry>>,
  /// Replays one event (all its dead groups, or one configured group).
  caf::replies_to<atom::replay, std::string, std::string>::with<uint64_t>,
  /// Replays every entry (of one configured group, or "" for all) at `rate`
  /// events/s (any rate > 0); replies with how many will be replayed;
  /// progress shows in status. A new replay replaces a running one.
  caf::replies_to<atom::replay_all, double, std::string>::with<uint64_t>,
  /// Internal: next step of replay run N (steps of older runs are dropped).
  caf::reacts_to<atom::tick, uint64_t>,
  /// Deletes one event's entries ("" = all); replies with the count.
  caf::replies_to<atom::purge, std::string>::with<uint64_t>,
  /// Deletes every entry of a group ("" = every group); replies with the
  /// count. Fails with ec::unknown_group for a group neither configured
  /// nor in the DLQ.
  caf::replies_to<atom::purge, atom::groups, std::string>::with<uint64_t>,
  /// Counters.
  status_handler>;

/// The HTTP API's bridge into the actor system (node-local): HTTP threads
/// queue work and wake it; it batches single-event submissions into one
/// `ingest` and runs the other calls.
using http_gateway_actor = caf::typed_actor<
  /// Work was queued: drain the queue.
  caf::reacts_to<atom::tick>>;

} // namespace onceflow

// Handles that travel in messages need type IDs as well.
CAF_BEGIN_TYPE_ID_BLOCK(onceflow_handles, caf::first_custom_type_id + 200)
CAF_ADD_TYPE_ID(onceflow_handles, (onceflow::broadcaster_actor))
CAF_END_TYPE_ID_BLOCK(onceflow_handles)
