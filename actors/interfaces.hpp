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
/// calls block). Nothing else touches the store. A store error of kind
/// `refused` (another live node holds this node's name) takes it down with
/// that error, and the node with it.
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
  /// Renews the take marks of due retries this store actor took and the
  /// node still holds: (pairs, now) -> marks renewed (store::renew_taken).
  caf::replies_to<atom::renew, std::vector<taken_pair>,
                  millis_t>::with<uint64_t>,
  /// Gives back take marks of due retries the node will not run, for
  /// other nodes to take at once: pairs -> marks dropped
  /// (store::release_taken).
  caf::replies_to<atom::release, std::vector<taken_pair>>::with<uint64_t>,
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
  /// Entries of one group in the retry schedule.
  caf::replies_to<atom::count, atom::schedule, std::string>::with<uint64_t>,
  /// Cancels a delayed event (id, now) where it has not started; see
  /// store::cancel.
  caf::replies_to<atom::cancel, std::string, millis_t>::with<cancel_result>,
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
  /// Every group's run-time overrides (settings_port).
  caf::replies_to<atom::overrides>::with<std::vector<group_overrides>>,
  /// Changes a group's overrides: (settings to set, bits of the settings to
  /// drop); replies with the group's overrides after the change.
  caf::replies_to<atom::overrides, group_overrides,
                  uint8_t>::with<group_overrides>,
  /// True if the store answers now; fails with ec::store_failure.
  caf::replies_to<atom::ping>::with<bool>,
  /// Internal: time for the store's heartbeat (store::heartbeat, every
  /// store::heartbeat_interval ms if that is not 0).
  caf::reacts_to<atom::tick>,
  /// Counters and sizes.
  status_handler>;

/// Runs handlers on batches of deliveries for one group.
using listener_actor = caf::typed_actor<
  /// A batch to process for the sender (a broadcaster): the listener
  /// hands its settlements to the deduplicator, which reports the batch to
  /// the sender; a batch without settlements the listener reports itself.
  caf::reacts_to<atom::dispatch, std::vector<delivery>>,
  /// Internal: simulated handler latency of batch `token` has elapsed.
  caf::reacts_to<atom::tick, uint64_t>,
  /// Internal: an asynchronous handler finished item `index` of batch
  /// `token`.
  caf::reacts_to<atom::handled, uint64_t, uint32_t, handler_result>,
  /// Internal: a batch handler finished batch `token` (a result per call).
  caf::reacts_to<atom::handled, uint64_t, std::vector<handler_result>>,
  /// Counters.
  status_handler>;

/// Accepts events into the log and fans them out to listener groups.
using broadcaster_actor = caf::typed_actor<
  /// Validated events in; per-event results once durable. Fails with
  /// ec::overloaded (retry later) or ec::draining.
  caf::replies_to<atom::ingest,
                  std::vector<event>>::with<std::vector<append_result>>,
  /// From a listener: outcome of its dispatched batch (one whose
  /// deliveries needed no settlement: held, already done, claim failed).
  caf::reacts_to<atom::done, std::vector<dispatch_report>>,
  /// From the deduplicator, on behalf of the listener (by address): the
  /// outcome of a batch it settled (see deduplicator_actor's atom::settle).
  /// Ignored from any other sender.
  caf::reacts_to<atom::done, caf::actor_addr, std::vector<dispatch_report>>,
  /// From the deduplicator, before the claimant hears of them: the leases
  /// a listener (by address) claimed for its batch, that is the epochs it
  /// runs under, revoked should it go down.
  caf::reacts_to<atom::claim, caf::actor_addr, std::vector<lease_grant>>,
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
  /// Listeners of a group on another node (a worker) join: they get
  /// batches like local ones and are monitored; when one goes down its
  /// in-flight entries go back to the queue. Fails with ec::unknown_group.
  caf::replies_to<atom::listeners, std::string, std::string,
                  std::vector<listener_actor>>::with<uint32_t>,
  /// (group, delta): adds (delta > 0) or removes (< 0) listeners of the
  /// group on this node while it runs (not kept in the store: a restart
  /// starts with the config's count and the overrides). Removed listeners
  /// get no new batch and stop once their batch is back. Replies with the
  /// group's local listeners after the change; fails with
  /// ec::unknown_group.
  caf::replies_to<atom::listeners, std::string, int32_t>::with<uint32_t>,
  /// (group, worker, count): retires that many of the worker's listeners
  /// of the group (idle ones first: they stop at once, busy ones once their
  /// batch is back, so nothing is redelivered as a crash). Replies with the
  /// worker's listeners of the group left; fails with ec::unknown_group.
  caf::replies_to<atom::retire, std::string, std::string,
                  uint32_t>::with<uint32_t>,
  /// Pauses (true) or resumes (false) dispatching of a group: kept in the
  /// store (a run-time override), so on every node sharing it and after a
  /// restart; fails with ec::unknown_group or a store failure.
  caf::replies_to<atom::pause, std::string, bool>::with<bool>,
  /// Changes a group's run-time overrides, kept in the store: (settings to
  /// set, with the group's name; bits of the settings to drop). Replies with
  /// the group's part of `status` after the change; fails with
  /// ec::unknown_group, ec::invalid_config (a value out of range) or a
  /// store failure.
  caf::replies_to<atom::overrides, group_overrides,
                  uint8_t>::with<caf::settings>,
  /// Stops accepting, waits for in-flight batches; replies when drained
  /// (true) or when the timeout passed with work left (false).
  caf::replies_to<atom::drain, millis_t>::with<bool>,
  /// The listeners it runs on this node (not those workers attached): the
  /// node manager lists them among the node's actors.
  caf::replies_to<atom::actors>::with<std::vector<listener_actor>>,
  /// Counters, queue depths per group and priority, listeners.
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
  /// A listener's batch: (the broadcaster that dispatched it, its
  /// settlements, the reports it made without one). Commits like the
  /// above, then reports the whole batch to that broadcaster on the
  /// listener's behalf (`done` with the sender's address): a report per
  /// settlement, settled or scheduled if the fence let it through, stale if
  /// not, failed (due again in a second) if the store could not commit. So a
  /// remote listener's batch crosses the network once each way: the
  /// dispatch, then this.
  caf::reacts_to<atom::settle, broadcaster_actor, std::vector<settlement>,
                 std::vector<dispatch_report>>,
  /// The broadcaster of this node, told of the leases its listeners claim
  /// (see broadcaster_actor's atom::claim).
  caf::reacts_to<atom::join, broadcaster_actor>,
  /// Counters.
  status_handler>;

/// Re-delivers failed events when their backoff has elapsed.
using retry_timer_actor = caf::typed_actor<
  /// Sets the broadcaster that receives due deliveries (wiring at start).
  caf::reacts_to<atom::join, broadcaster_actor>,
  /// Something was scheduled; the earliest new due time is given.
  caf::reacts_to<atom::schedule, millis_t>,
  /// The node drains: take nothing more from the schedule (what falls due
  /// is left to other nodes, or to this node's next start).
  caf::reacts_to<atom::drain>,
  /// Internal: the timer for the earliest due time fired.
  caf::reacts_to<atom::tick>,
  /// Internal: the periodic look at a shared schedule (see
  /// spawn_retry_timer).
  caf::reacts_to<atom::janitor>,
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

/// A cluster peer's hello: what each side says about itself at connect
/// (strings only, so that it reads the same across every message schema
/// and a mismatch can be named): (schema, onceflow version, node name,
/// role, cluster secret).
using hello_reply = caf::replies_to<atom::hello, std::string, std::string,
                                    std::string, std::string, std::string>;

/// The node manager: one per node, registered by name ("nodemgr"). It
/// keeps the cluster membership (connects to every peer of the cluster
/// config, hello, heartbeats through CAF's middleman, reconnect with
/// backoff), knows every local actor (kind, group, whom it serves) and the
/// listeners this node hosts for cores.
using node_manager_actor = caf::typed_actor<
  /// A peer's hello, forwarded by this node's endpoint: (schema, version,
  /// name, role, secret, the hello's sender: the peer's node manager) ->
  /// our (schema, version, name, role) or an error naming the mismatch.
  caf::replies_to<atom::hello, std::string, std::string, std::string,
                  std::string, std::string, caf::strong_actor_ptr>::
    with<std::string, std::string, std::string, std::string>,
  /// A worker attaches to this core: (worker name) -> the core's
  /// broadcaster and deduplicator, which the worker's listeners report to.
  caf::replies_to<atom::attach, std::string>::with<broadcaster_actor,
                                                   deduplicator_actor>,
  /// The membership view: one entry per node of the cluster config.
  caf::replies_to<atom::members>::with<caf::settings>,
  /// Every local actor with its status: "<id>.kind", ".serves", ".group"
  /// (listeners), ".status" (what the actor's `status` answers: mailbox
  /// depth, in-flight work, leases, counters) or ".error".
  caf::replies_to<atom::actors>::with<caf::settings>,
  /// (true) The actors of every node that is up, by node: "<node>.<id>..."
  /// as above, or "<node>.error".
  caf::replies_to<atom::actors, bool>::with<caf::settings>,
  /// (group, node, delta): adds (delta > 0) or removes listeners of the
  /// group on a node of the cluster (this one, or forwarded to the node's
  /// manager); replies with (group, node, listeners: the node's count after
  /// the change; on a worker per core it serves). Fails with
  /// ec::unknown_group, ec::unknown_node, ec::node_down or
  /// ec::invalid_config (a handler the node lacks).
  caf::replies_to<atom::listeners, std::string, std::string,
                  int32_t>::with<caf::settings>,
  /// Liveness and round-trip time.
  caf::replies_to<atom::ping>::with<bool>,
  /// Internal: reconnect round.
  caf::reacts_to<atom::tick>,
  /// One more of this node's actors to list (kind, handle): the HTTP
  /// gateway, which starts after the node manager.
  caf::reacts_to<atom::local, std::string, caf::actor>, status_handler>;

/// The node's CAF endpoint: the one actor the node publishes on its CAF
/// port ([node] host/port), for `onceflow publish` / `onceflow status` and
/// C++ clients. Every call carries an API key (first argument, "" for
/// none), checked like the HTTP API's bearer key: with `[http] api-keys`
/// set, a call without a key fails with ec::unauthorized and a key without
/// the call's role with ec::forbidden. Besides ingest and status it serves
/// the console's reads (role read) and its admin calls (pause, listeners,
/// DLQ replay and purge: role admin); nothing else of the node (no drain,
/// no other store call) is reachable through it.
using endpoint_actor = caf::typed_actor<
  /// (key, events): ingest, role publish; per-event results once durable.
  caf::replies_to<atom::ingest, std::string,
                  std::vector<event>>::with<std::vector<append_result>>,
  /// (key, event id): per-group status of an event, role read.
  caf::replies_to<atom::query, std::string,
                  std::string>::with<std::vector<group_status>>,
  /// (key): the broadcaster's counters, role read.
  caf::replies_to<atom::status, std::string>::with<caf::settings>,
  /// (key, group, node, delta): adds or removes listeners of a group on a
  /// node (see node_manager_actor), role admin.
  caf::replies_to<atom::listeners, std::string, std::string, std::string,
                  int32_t>::with<caf::settings>,
  /// A cluster peer's hello (see node_manager_actor), answered with the
  /// node manager's handle: peers check their schema here first.
  hello_reply::with<std::string, std::string, std::string, std::string,
                    node_manager_actor>,
  // -- the console's calls (runtime/console; docs/console.md) ---------------
  /// (key): the node manager's membership view, role read.
  caf::replies_to<atom::members, std::string>::with<caf::settings>,
  /// (key): this node's actors with their status (node_manager_actor's
  /// atom::actors), role read.
  caf::replies_to<atom::actors, std::string>::with<caf::settings>,
  /// (key, event id): the event with its attempt histories (seq 0 if
  /// unknown), role read; a core's store.
  caf::replies_to<atom::history, std::string, std::string>::with<event_history>,
  /// (key, event id): the event's effect records, role read; a core's store.
  caf::replies_to<atom::processed, std::string,
                  std::string>::with<std::vector<processed_record>>,
  /// (key, group): the group's DLQ entries, role read; a core's store.
  caf::replies_to<atom::count, std::string, std::string>::with<uint64_t>,
  /// (key, group): the group's entries in the retry schedule, role read; a
  /// core's store.
  caf::replies_to<atom::count, atom::schedule, std::string,
                  std::string>::with<uint64_t>,
  /// (key, query): a page of the DLQ, role read; a core's DLQ.
  caf::replies_to<atom::list, std::string, dlq_query>::with<dlq_page>,
  /// (key, event id): the event's DLQ entries, role read; a core's DLQ.
  caf::replies_to<atom::inspect, std::string,
                  std::string>::with<std::vector<dlq_entry>>,
  /// (key, event id, group or ""): replays the event's DLQ entries, role
  /// admin; a core's DLQ.
  caf::replies_to<atom::replay, std::string, std::string,
                  std::string>::with<uint64_t>,
  /// (key, event id or "" for all): deletes DLQ entries, role admin.
  caf::replies_to<atom::purge, std::string, std::string>::with<uint64_t>,
  /// (key, groups, group): deletes a group's DLQ entries, role admin.
  caf::replies_to<atom::purge, std::string, atom::groups,
                  std::string>::with<uint64_t>,
  /// (key, group, true to pause / false to resume), role admin; a core's
  /// broadcaster (see broadcaster_actor's atom::pause).
  caf::replies_to<atom::pause, std::string, std::string, bool>::with<bool>>;

/// The HTTP API's bridge into the actor system (node-local): HTTP threads
/// queue work and wake it; it batches single-event submissions into one
/// `ingest` and runs the other calls.
using http_gateway_actor = caf::typed_actor<
  /// Work was queued: drain the queue.
  caf::reacts_to<atom::tick>,
  /// Counters: ingest calls in flight and made, events sent, jobs run.
  status_handler>;

} // namespace onceflow

// Handles that travel in messages need type IDs as well.
CAF_BEGIN_TYPE_ID_BLOCK(onceflow_handles, caf::first_custom_type_id + 200)
CAF_ADD_TYPE_ID(onceflow_handles, (onceflow::broadcaster_actor))
CAF_ADD_TYPE_ID(onceflow_handles, (onceflow::endpoint_actor))
CAF_ADD_TYPE_ID(onceflow_handles, (onceflow::deduplicator_actor))
CAF_ADD_TYPE_ID(onceflow_handles, (onceflow::listener_actor))
CAF_ADD_TYPE_ID(onceflow_handles, (std::vector<onceflow::listener_actor>) )
CAF_ADD_TYPE_ID(onceflow_handles, (onceflow::node_manager_actor))
CAF_END_TYPE_ID_BLOCK(onceflow_handles)
