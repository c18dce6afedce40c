#pragma once

// The broadcaster's state and the steps its files share (broadcaster.cpp:
// intake, dispatch and reports; broadcaster_rounds.cpp: the janitor and
// retention rounds; broadcaster_settings.cpp: the groups' run-time
// settings). Internal to the broadcaster.

#include "actors/broadcaster.hpp"
#include "actors/logic/dispatch.hpp"
#include "actors/logic/group_book.hpp"
#include "actors/logic/group_settings.hpp"

#include <caf/fwd.hpp>

#include <functional>
#include <limits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace onceflow::detail {

/// Batches a listener may hold at once: one on this node; two on a worker,
/// so that the next batch is there when one settles (a batch's dispatch,
/// claim, settlement and report cross the network, which one batch at a
/// time leaves idle). What is in flight to a remote listener stays bounded
/// by twice the group's batch size.
constexpr uint32_t local_listener_window = 1;
constexpr uint32_t remote_listener_window = 2;

struct listener_slot {
  listener_actor hdl;
  /// Batches dispatched and not yet reported back.
  uint32_t batches = 0;
  /// Unique within the group: owner of the entries it has in flight.
  uint32_t index = 0;
  /// The worker node it runs on (empty: this node). A remote listener is
  /// not respawned when it goes down: its node attaches new ones.
  std::string worker;
  /// The group has fewer listeners now: this one gets no new batch and
  /// stops once its batches are back (see resize_group).
  bool retiring = false;

  bool busy() const {
    return batches > 0;
  }
  /// It may take another batch.
  bool has_room() const {
    return batches
           < (worker.empty() ? local_listener_window : remote_listener_window);
  }
};

struct group_state {
  group_config cfg;
  /// Queued, in-flight, parked and held-back entries.
  group_book book;
  group_limits limits;
  batch_wait waiting;
  std::vector<listener_slot> listeners;
  /// Where dispatch looks for an idle listener first (round robin).
  size_t next_slot = 0;
  /// The store knows the group (join answered).
  bool joined = false;
  /// The last registration failed (logged once per outage).
  bool join_failing = false;
  /// The store lost the group once: register it reading the whole log.
  bool lost = false;
  bool reading = false;
  /// The last read came back short: nothing more until new appends.
  bool exhausted = false;
  /// Counts the moments new entries may have come (see may_have_new): a
  /// read that comes back short only exhausts the group if none passed
  /// while it was under way (else those entries would wait for the next
  /// janitor round).
  uint64_t news = 0;
  /// Accepted for this group and not yet settled (back pressure).
  uint64_t unsettled = 0;
  uint64_t restarts = 0;
  /// Entries handed back from listeners that went down (their leases
  /// revoked by the next claim).
  uint64_t revoked = 0;
  /// Deliveries read with a lease (store::read_leased), and such leases
  /// given back unused (pause, drain).
  uint64_t read_leases = 0;
  uint64_t read_leases_released = 0;
  uint32_t next_listener_index = 0;
  /// Listeners added (> 0) or removed (< 0) on this node at run time
  /// (atom::listeners with a delta), on top of run.concurrency; not kept
  /// in the store.
  int32_t local_delta = 0;
  /// Paused: nothing new is dispatched (run.paused).
  bool paused = false;
  /// The group's run-time overrides as the store last answered them, and
  /// the settings the group runs with (its config with them applied).
  group_overrides overrides;
  group_run_settings run;
  /// When the take marks of the group's due retries this node holds were
  /// last renewed (-1: not yet, or the renewal failed).
  millis_t takes_renewed_at = -1;
  /// Settled events per second (smoothed over janitor rounds).
  double rate = 0;
  uint64_t rate_settled = 0;
  millis_t rate_at = -1;
};

struct broadcaster_state {
  broadcaster_config cfg;
  store_actor store;
  deduplicator_actor dedup;
  std::vector<group_state> groups;
  std::unordered_map<caf::actor_addr, std::pair<size_t, size_t>> by_listener;
  /// Listeners that went down, by group: grants of claims that were in the
  /// store as they died arrive after the DOWN (see on_leased). Forgotten
  /// once there are many (a grant is answered within a store call).
  std::unordered_map<caf::actor_addr, size_t> gone_listeners;
  bool draining = false;
  std::vector<caf::typed_response_promise<bool>> drain_waiters;
  millis_t drain_deadline = -1;
  uint32_t pending_appends = 0;
  /// Every group has been registered with the store once. Until then
  /// appends wait in `before_groups`: a group registers at the log's head,
  /// so an event appended before its group would never reach it (appends
  /// may go over a store actor of their own, which does not wait for the
  /// main one's registrations).
  bool groups_registered = false;
  /// An append waiting for the groups: how to send it, and how to refuse
  /// it.
  struct waiting_append {
    std::function<void()> send;
    std::function<void(caf::error)> refuse;
  };
  std::vector<waiting_append> before_groups;
  /// Why registering a group failed last while not every group is
  /// registered (empty once they are): appends are refused at once
  /// meanwhile (the store cannot be reached: Redis down at start) instead
  /// of waiting for an answer they would get only after the client gave
  /// up.
  std::string join_error;
  bool janitor_armed = false;
  /// The groups' run-time overrides have been read from the store once:
  /// nothing is dispatched before (a group paused in the store must not
  /// run after a restart). A read is under way.
  bool overrides_loaded = false;
  bool overrides_reading = false;
  /// Release calls of read leases and take marks in flight (see
  /// release_read_leases, release_takes): a drain waits for them.
  uint32_t releasing = 0;
  /// The drain gave back every take mark it held (see check_drained).
  bool takes_given_back = false;
  /// Take marks of due retries renewed and given back, renewals that
  /// failed; the last renewal failed (logged once per change).
  uint64_t takes_renewed = 0;
  uint64_t takes_released = 0;
  uint64_t take_renew_failures = 0;
  bool take_renew_failing = false;
  /// A trim call is in flight (at most one).
  bool trimming = false;
  /// Log entries removed by this node's trims, and failed trim calls.
  uint64_t trimmed = 0;
  uint64_t trim_failures = 0;
  /// The last trim call failed (logged once per change).
  bool trim_failing = false;
  millis_t wake_at = -1;
  uint64_t accepted = 0;
  uint64_t duplicates = 0;
  uint64_t rejected_overloaded = 0;
  uint64_t rejected_draining = 0;
  uint64_t redelivered = 0;
  /// When the last append failed (-1: it succeeded), and its error.
  millis_t append_failed_at = -1;
  std::string append_error;
  static inline const char* name = "broadcaster";
};

using bc_pointer = broadcaster_actor::stateful_pointer<broadcaster_state>;

/// How long a failed append keeps the node from being ready (unless an
/// append succeeds meanwhile): /ready answers 503 while appends fail, and
/// is ready again soon after traffic stopped reaching it.
constexpr millis_t append_failure_window = 10000;

/// The actor clock as wall-clock milliseconds.
millis_t now_of(bc_pointer self);

/// The log may hold entries the group has not read (an append answered or
/// failed, the janitor's round): the group is no longer exhausted, and a
/// short read under way does not make it so.
void may_have_new(group_state& g);

/// Hands queued entries of the group to idle listeners.
void dispatch(bc_pointer self, size_t gi);

/// Reads more of the group's log if its queue runs low.
void maybe_read(bc_pointer self, size_t gi);

/// Asks for a `tick` at `at` unless one is due earlier already.
void wake_at(bc_pointer self, millis_t at);

/// Acts on a store failure by its kind (a lost group, replaced data).
void check_lost_group(bc_pointer self, size_t gi, const caf::error& err);

/// True while some group has entries queued or in flight.
bool has_work(const broadcaster_state& st);

/// Answers the drain's waiters once nothing is in flight (or its timeout
/// passed), after giving back the take marks of due retries this node did
/// not run.
void check_drained(bc_pointer self);

/// Gives back read leases of queued entries with less than `min_left` ms
/// left.
void release_read_leases(bc_pointer self, size_t gi, millis_t min_left);

/// A first delivery of an event read from the log.
delivery first_delivery(event ev, const std::string& group);

/// Gives back the read leases of every queued entry (pause, drain).
constexpr millis_t all_leases = std::numeric_limits<millis_t>::max();

/// The group's part of `status` (keys without the "groups.<name>."
/// prefix).
caf::settings group_status(const group_state& g);

// -- broadcaster_listeners.cpp -----------------------------------------------

/// Spawns the listener of the group's slot (a new one, or in place of one
/// that went down).
void spawn_listener_slot(bc_pointer self, size_t gi, size_t slot);

/// Takes the listeners of the group that node `worker` attached; replies
/// with how many joined (those known already are skipped).
caf::result<uint32_t>
join_worker_listeners(bc_pointer self, const std::string& group,
                      const std::string& worker,
                      const std::vector<listener_actor>& hdls);

/// The reports of a batch of `listener`: its entries leave the book or go
/// back to the queue.
void on_done(bc_pointer self, const caf::actor_addr& listener,
             const std::vector<dispatch_report>& reports);

/// The leases a listener's claim was granted.
void on_leased(bc_pointer self, const caf::actor_addr& listener,
               const std::vector<lease_grant>& grants);

/// A listener went down: its batches go back to the queue at once.
void on_down(bc_pointer self, const caf::down_msg& msg);

// -- broadcaster_settings.cpp ------------------------------------------------

/// Reads every group's run-time overrides from the store (one call) and
/// applies them; at start nothing is dispatched until this answered once.
void read_overrides(bc_pointer self);

/// Applies the group's run-time overrides `o`: what changed takes effect
/// (pause, the token bucket, the listener count).
void apply_overrides(bc_pointer self, size_t gi, const group_overrides& o);

/// Stops listener `slot` of the group (idle, or gone) and forgets it.
void remove_listener_slot(bc_pointer self, size_t gi, size_t slot);

/// Adds (delta > 0) or removes listeners of the group on this node; replies
/// with its local listeners after the change.
caf::result<uint32_t> change_local_listeners(bc_pointer self,
                                             const std::string& group,
                                             int32_t delta);

/// Retires `count` of the worker's listeners of the group; replies with
/// those left.
caf::result<uint32_t>
retire_worker_listeners(bc_pointer self, const std::string& group,
                        const std::string& worker, uint32_t count);

/// Writes a change of the group's overrides to the store, applies what the
/// store answers and replies with the group's status part.
caf::result<caf::settings>
change_overrides(bc_pointer self, group_overrides change, uint8_t clear);

/// Pauses or resumes the group through its `paused` override.
caf::result<bool> pause_group(bc_pointer self, const std::string& name,
                              bool paused);

// -- broadcaster_takes.cpp ---------------------------------------------------

/// Renews the take marks of the due retries the node holds (queued, in
/// flight, parked, held back; see delivery::taken), for each group a third
/// of its lease after the last renewal: one store call for every group
/// due. A mark not renewed lapses after the group's lease and the retry
/// goes to another node; what the node dropped is not renewed.
void renew_takes(bc_pointer self);

/// Gives back the take marks of due retries this node will not run (a
/// drain), so that other nodes take them at once: those not in flight,
/// which leave the book, or with `all` every one it holds (the drain's
/// end). Returns whether a store call is under way (the drain waits for
/// it).
bool release_takes(bc_pointer self, bool all);

// -- broadcaster_rounds.cpp --------------------------------------------------

/// Takes the group's back-pressure count from the store.
void resync_backlog(bc_pointer self, size_t gi);

/// Runs the janitor periodically while work is in flight (or with a shared
/// store, always).
void arm_janitor(bc_pointer self);

/// One janitor round: the groups' run-time overrides, rates, stalled
/// entries, run-down read leases, back-pressure counts from the store,
/// reclaim.
void janitor(bc_pointer self);

/// One retention round (see trim_round in broadcaster_rounds.cpp).
void trim_round(bc_pointer self);

} // namespace onceflow::detail
