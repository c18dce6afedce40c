#include "actors/logic/group_book.hpp"

#include <algorithm>

namespace onceflow {

namespace {} // namespace

group_book::group_book(priority_weights w) : queue_(w) {
  // nop
}

bool group_book::enqueue(delivery dl) {
  if (!known_.insert(dl.ev.seq).second)
    return false;
  auto prio = dl.ev.prio;
  queue_.push(prio, std::move(dl));
  return true;
}

void group_book::take_back(delivery dl) {
  if (in_flight_.count(dl.ev.seq) > 0) {
    auto seq = dl.ev.seq;
    parked_[seq] = std::move(dl);
  } else {
    enqueue(std::move(dl));
  }
}

void group_book::requeue_front(uint64_t seq) {
  auto j = in_flight_.find(seq);
  if (j == in_flight_.end())
    return;
  auto dl = std::move(j->second.dl);
  in_flight_.erase(j);
  auto prio = dl.ev.prio;
  queue_.push_front(prio, std::move(dl));
}

void group_book::dispatched(const std::vector<delivery>& batch, uint32_t owner,
                            millis_t now) {
  for (auto& dl : batch) {
    auto& entry = in_flight_[dl.ev.seq];
    entry = {dl, owner, now, dl.lease_until,
             dl.epoch != 0 && (dl.lease_until > 0 || dl.lease_until == -1)};
    // The listener may run under the read's lease: a re-dispatch of this
    // copy claims.
    entry.dl.lease_until = 0;
  }
  counters_.dispatched += batch.size();
}

namespace {

/// A failed report (its claim or its settlement failed): the listener runs
/// under its lease no more. Its own lease is taken over by the next claim
/// at once (-1, no crash counted) instead of being waited for until it
/// expires; a dead listener's lease it was to revoke is revoked by the next
/// claim instead. Any other epoch the copy carries is left to the store (a
/// plain claim): it may be the lease of a listener that still runs, such as
/// the owner before the janitor handed the entry on.
void given_up(in_flight_entry& e) {
  if (e.dl.epoch == 0)
    return;
  if (e.own_epoch)
    e.dl.lease_until = -1;
  else if (e.handed_lease == lease_of_dead_listener)
    e.dl.lease_until = lease_of_dead_listener;
}

} // namespace

report_outcome
group_book::on_reports(uint32_t owner,
                       const std::vector<dispatch_report>& reports) {
  report_outcome result;
  std::vector<delivery> later;
  /// Attempts of entries that went back into the retry schedule.
  std::unordered_map<uint64_t, uint32_t> scheduled;
  for (auto& r : reports) {
    auto j = in_flight_.find(r.seq);
    if (j == in_flight_.end() || j->second.owner != owner)
      continue; // Re-dispatched meanwhile; the new owner reports.
    uint64_t late_epoch = 0;
    if (auto k = late_grants_.find(r.seq); k != late_grants_.end()) {
      late_epoch = k->second;
      late_grants_.erase(k);
    }
    switch (r.kind) {
      case dispatch_report::settled:
        ++counters_.settled;
        ++result.left;
        known_.erase(r.seq);
        in_flight_.erase(j);
        break;
      case dispatch_report::scheduled:
        // In the retry schedule: it comes back through take_back.
        scheduled[r.seq] = j->second.dl.attempt;
        ++counters_.settled;
        known_.erase(r.seq);
        in_flight_.erase(j);
        break;
      case dispatch_report::stale:
        // Refused although nobody else took it over (our lease ran out
        // while we worked): queue it again; the next claim decides.
        ++counters_.stale;
        requeue_front(r.seq);
        break;
      case dispatch_report::held:
      case dispatch_report::failed:
        if (late_epoch > j->second.dl.epoch) {
          // Held by (or failed for) a lease granted to a listener that had
          // gone down: the next claim revokes it.
          j->second.dl.epoch = late_epoch;
          j->second.dl.lease_until = lease_of_dead_listener;
          requeue_front(r.seq);
          break;
        }
        if (r.kind == dispatch_report::failed)
          given_up(j->second);
        ++counters_.held;
        later.push_back(std::move(j->second.dl));
        result.later_at
          = later.size() == 1 ? r.until : std::min(result.later_at, r.until);
        known_.erase(r.seq);
        in_flight_.erase(j);
        break;
    }
  }
  // Retries that arrived while their seq was in flight wait until it has
  // left the book (a stale entry went back to the queue: one copy only).
  for (auto& r : reports) {
    auto p = parked_.find(r.seq);
    if (p == parked_.end() || known_.count(r.seq) > 0)
      continue;
    if (auto k = scheduled.find(r.seq);
        k != scheduled.end() && p->second.attempt <= k->second) {
      // The delivery in flight went back into the retry schedule, which
      // now holds its next attempt: a parked copy of this attempt or an
      // earlier one (handed out again while it ran) must not run before the
      // backoff. A later attempt is the schedule's next one, taken already
      // (it fell due while this one reported): it runs.
      parked_.erase(p);
      continue;
    }
    auto dl = std::move(p->second);
    parked_.erase(p);
    enqueue(std::move(dl));
  }
  result.held_back = later.size();
  if (!later.empty())
    later_.emplace_back(result.later_at, std::move(later));
  return result;
}

std::pair<size_t, millis_t> group_book::release_due(millis_t now) {
  size_t taken = 0;
  millis_t next = -1;
  if (later_.empty())
    return {taken, next};
  std::vector<std::pair<millis_t, std::vector<delivery>>> keep;
  for (auto& l : later_) {
    if (l.first > now) {
      next = earliest_time(next, l.first);
      keep.push_back(std::move(l));
      continue;
    }
    for (auto& dl : l.second) {
      take_back(std::move(dl));
      ++taken;
    }
  }
  later_ = std::move(keep);
  return {taken, next};
}

std::vector<uint64_t> group_book::stalled(millis_t now, millis_t limit) const {
  std::vector<uint64_t> result;
  for (auto& kv : in_flight_)
    if (now - kv.second.dispatched_at > limit)
      result.push_back(kv.first);
  return result;
}

std::vector<uint64_t> group_book::owned_by(uint32_t owner) const {
  std::vector<uint64_t> result;
  for (auto& kv : in_flight_)
    if (kv.second.owner == owner)
      result.push_back(kv.first);
  return result;
}

void group_book::leased(uint32_t owner,
                        const std::vector<lease_grant>& grants) {
  for (auto& g : grants) {
    auto j = in_flight_.find(g.seq);
    if (j != in_flight_.end() && j->second.owner == owner) {
      j->second.dl.epoch = g.epoch;
      j->second.own_epoch = true;
    }
  }
}

void group_book::leased_after_down(const std::vector<lease_grant>& grants) {
  std::unordered_map<uint64_t, uint64_t> epochs;
  for (auto& g : grants)
    epochs[g.seq] = g.epoch;
  auto revoke = [&epochs](delivery& dl) {
    auto k = epochs.find(dl.ev.seq);
    if (k == epochs.end() || k->second <= dl.epoch)
      return false;
    dl.epoch = k->second;
    dl.lease_until = lease_of_dead_listener;
    epochs.erase(k);
    return true;
  };
  queue_.for_each([&revoke](delivery& dl) { revoke(dl); });
  std::vector<delivery> due;
  for (auto& l : later_)
    for (auto i = l.second.begin(); i != l.second.end();)
      if (revoke(*i)) {
        due.push_back(std::move(*i));
        i = l.second.erase(i);
      } else {
        ++i;
      }
  for (auto& dl : due)
    take_back(std::move(dl));
  for (auto& [seq, epoch] : epochs)
    if (in_flight_.count(seq) > 0)
      late_grants_[seq] = epoch;
}

size_t group_book::hand_back(uint32_t owner) {
  auto seqs = owned_by(owner);
  for (auto seq : seqs) {
    auto& dl = in_flight_[seq].dl;
    if (dl.epoch != 0)
      dl.lease_until = lease_of_dead_listener;
    requeue_front(seq);
  }
  return seqs.size();
}

std::vector<uint64_t> group_book::taken() const {
  std::vector<uint64_t> out;
  auto add = [&out](const delivery& dl) {
    if (dl.taken)
      out.push_back(dl.ev.seq);
  };
  queue_.for_each(add);
  for (auto& kv : in_flight_)
    add(kv.second.dl);
  for (auto& kv : parked_)
    add(kv.second);
  for (auto& l : later_)
    for (auto& dl : l.second)
      add(dl);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<uint64_t> group_book::drop_taken() {
  std::vector<uint64_t> out;
  for (auto& dl :
       queue_.extract_if([](const delivery& x) { return x.taken; })) {
    known_.erase(dl.ev.seq);
    out.push_back(dl.ev.seq);
  }
  for (auto i = parked_.begin(); i != parked_.end();) {
    if (i->second.taken) {
      out.push_back(i->first);
      i = parked_.erase(i);
    } else {
      ++i;
    }
  }
  for (auto& l : later_) {
    auto& xs = l.second;
    for (auto& dl : xs)
      if (dl.taken)
        out.push_back(dl.ev.seq);
    xs.erase(std::remove_if(xs.begin(), xs.end(),
                            [](const delivery& x) { return x.taken; }),
             xs.end());
  }
  later_.erase(std::remove_if(later_.begin(), later_.end(),
                              [](const auto& l) { return l.second.empty(); }),
               later_.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  out.erase(
    std::remove_if(out.begin(), out.end(),
                   [this](uint64_t seq) { return in_flight_.count(seq) > 0; }),
    out.end());
  return out;
}

std::pair<size_t, size_t> group_book::drop_all() {
  auto waiting = queue_.size() + parked_.size();
  for (auto& l : later_)
    waiting += l.second.size();
  auto running = in_flight_.size();
  queue_.clear();
  in_flight_.clear();
  known_.clear();
  parked_.clear();
  later_.clear();
  late_grants_.clear();
  return {waiting, running};
}

} // namespace onceflow
