#pragma once

#include "actors/logic/event.hpp"
#include "actors/logic/priority_queue.hpp"

#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace onceflow {

/// Result of one dispatched delivery, reported by a listener to the
/// broadcaster.
struct dispatch_report {
  enum kind_t : uint8_t {
    settled = 0,   ///< Done, scheduled for retry or dead-lettered.
    held = 1,      ///< Another lease holds it until `until`.
    stale = 2,     ///< Our lease was superseded; the new holder settles it.
    failed = 3,    ///< The store could not be reached; retry after `until`.
    scheduled = 4, ///< Failed; the retry schedule has it (not final).
  };
  uint64_t seq = 0;
  kind_t kind = settled;
  millis_t until = 0;
};

/// A lease a listener claimed for an entry of its batch (the epoch it runs
/// under), reported to the broadcaster so that the lease can be revoked if
/// the listener goes down (see group_book::hand_back).
struct lease_grant {
  uint64_t seq = 0;
  uint64_t epoch = 0;
};

/// A delivery handed to a listener.
struct in_flight_entry {
  delivery dl;
  /// The listener that has it (its index, unique within the group).
  uint32_t owner = 0;
  millis_t dispatched_at = 0;
  /// The copy's delivery::lease_until as it was handed out (the book's copy
  /// drops it): lease_of_dead_listener goes back on the copy if the
  /// listener's claim failed, so that the next claim still revokes the dead
  /// listener's lease and counts the crash.
  millis_t handed_lease = 0;
  /// `dl.epoch` is this owner's lease: granted with the read it was handed
  /// out with, or claimed by it (leased). Only such a lease may the next
  /// claim take over should the owner give it up (a failed report); any
  /// other epoch may be someone else's, still running.
  bool own_epoch = false;
};

/// Counters of a group_book.
struct book_counters {
  uint64_t dispatched = 0;
  /// Left for good (settled) or for the retry schedule.
  uint64_t settled = 0;
  /// Held by another lease, or failed to reach the store: queued again
  /// later.
  uint64_t held = 0;
  /// Refused as stale: queued again at once.
  uint64_t stale = 0;
};

/// What happened to a batch of reports (see group_book::on_reports).
struct report_outcome {
  /// Entries that left for good (settled): the group's unsettled count
  /// drops by this many.
  uint64_t left = 0;
  /// Held or failed entries now held back, and the earliest time they are
  /// due again (see release_due).
  size_t held_back = 0;
  millis_t later_at = -1;
};

/// The entries one listener group holds on this node, and every change a
/// delivery goes through there: queued by priority, in flight at a
/// listener, parked (a retry of a seq still in flight), or held back until
/// a time (a held or failed delivery). A seq is never queued or in flight
/// twice. Pure: the broadcaster's glue acts on what it returns.
class group_book {
public:
  explicit group_book(priority_weights w = {});

  // -- queue ---------------------------------------------------------------

  /// Queues a delivery unless its seq is queued or in flight already;
  /// returns whether it was queued.
  bool enqueue(delivery dl);

  /// A delivery that comes back (a retry, a held or failed one): queued, or
  /// parked while the same seq is still in flight.
  void take_back(delivery dl);

  /// Moves an in-flight entry back to the head of its queue (it stays
  /// known): its listener died, stalled past the lease, or lost the lease.
  void requeue_front(uint64_t seq);

  priority_queues<delivery>& queue() {
    return queue_;
  }

  const priority_queues<delivery>& queue() const {
    return queue_;
  }

  // -- dispatch and reports ------------------------------------------------

  /// Records a batch as handed to listener `owner` at `now`. The book's
  /// copies drop the leases granted with the read: a re-dispatch claims.
  void dispatched(const std::vector<delivery>& batch, uint32_t owner,
                  millis_t now);

  /// Applies a listener's reports. Reports for seqs no longer in flight at
  /// `owner` (re-dispatched meanwhile) are ignored. Settled and scheduled
  /// entries leave; stale ones go back to the head of the queue; held and
  /// failed ones wait until their `until` (see release_due), a failed one
  /// marked to take over the lease its owner gave up (see
  /// in_flight_entry::own_epoch). Parked retries
  /// of seqs that left the book are queued, except where the entry went
  /// back into the retry schedule and the parked copy is not a later
  /// attempt (the schedule holds the next one); those of seqs still queued
  /// (stale, or requeued meanwhile) stay parked.
  report_outcome on_reports(uint32_t owner,
                            const std::vector<dispatch_report>& reports);

  /// Queues the held-back deliveries due at `now` (like take_back); returns
  /// how many were taken back and the next due time (-1 if none).
  std::pair<size_t, millis_t> release_due(millis_t now);

  /// Seqs in flight since before `now - limit` (their listener stalled).
  std::vector<uint64_t> stalled(millis_t now, millis_t limit) const;

  /// Seqs in flight at listener `owner`.
  std::vector<uint64_t> owned_by(uint32_t owner) const;

  /// Records the leases listener `owner` claimed for entries it holds (the
  /// book's copies take their epochs); ignores seqs no longer in flight
  /// there.
  void leased(uint32_t owner, const std::vector<lease_grant>& grants);

  /// Listener `owner` went down: its in-flight entries go back to the head
  /// of their queues, each marked (lease_of_dead_listener) so that the next
  /// claim revokes the lease it held: the lease granted with the read, or
  /// the one it claimed and reported (see leased). Returns how many.
  size_t hand_back(uint32_t owner);
  /// Leases granted to a listener after it went down (its claim was in the
  /// store as it died; the grant came after hand_back): wherever the entry
  /// is now, its next claim revokes that lease instead of waiting for it.
  /// A queued copy takes the epoch (marked lease_of_dead_listener); one
  /// held back until the lease ends is queued again with it; one in flight
  /// elsewhere is, should that claim be held (see on_reports).
  void leased_after_down(const std::vector<lease_grant>& grants);

  /// Drops every entry (queued, in flight, parked, held back). Returns the
  /// numbers dropped: (not in flight, in flight).
  std::pair<size_t, size_t> drop_all();

  // -- entries handed out by the retry schedule (delivery::taken) ----------

  /// Seqs of the taken entries the book holds (queued, in flight, parked or
  /// held back), each once, in ascending order: the node renews their
  /// take marks.
  std::vector<uint64_t> taken() const;

  /// Removes the taken entries that are not in flight (queued, parked,
  /// held back): they will not run here (a drain). Returns the seqs among
  /// them that have no copy in flight, each once (an in-flight copy keeps
  /// the pair's take mark until it settles).
  std::vector<uint64_t> drop_taken();

  // -- observers -----------------------------------------------------------

  size_t in_flight() const {
    return in_flight_.size();
  }

  /// Entries queued or in flight.
  bool has_work() const {
    return !in_flight_.empty() || !queue_.empty();
  }

  const book_counters& counters() const {
    return counters_;
  }

private:
  priority_queues<delivery> queue_;
  std::unordered_map<uint64_t, in_flight_entry> in_flight_;
  /// Seqs queued or in flight (no entry twice).
  std::unordered_set<uint64_t> known_;
  /// Retries that arrived while the same seq was still in flight; queued
  /// when that entry leaves.
  std::unordered_map<uint64_t, delivery> parked_;
  /// Held or failed deliveries to queue again at a time. Kept here rather
  /// than in a delayed message, so that drop_all drops them too.
  std::vector<std::pair<millis_t, std::vector<delivery>>> later_;
  /// Leases granted to listeners after they went down, of entries in
  /// flight elsewhere: seq -> epoch (see leased_after_down).
  std::unordered_map<uint64_t, uint64_t> late_grants_;
  book_counters counters_;
};

} // namespace onceflow
