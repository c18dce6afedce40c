#include "actors/broadcaster_state.hpp"
#include "actors/node_metrics.hpp"
#include "actors/timeouts.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

namespace onceflow::detail {

/// Takes the group's back-pressure count from the store: local counting
/// drifts (retries, replays, restarts, and with a shared store other nodes
/// settle our events). On failure the local count stays.
void resync_backlog(bc_pointer self, size_t gi) {
  auto& st = self->state;
  self
    ->request(st.store, store_timeout, atom::backlog_v, st.groups[gi].cfg.name)
    .then([self, gi](uint64_t n) { self->state.groups[gi].unsettled = n; },
          [self, gi](caf::error& err) { check_lost_group(self, gi, err); });
}

/// Runs the janitor periodically while work is in flight.
void arm_janitor(bc_pointer self) {
  auto& st = self->state;
  if (st.janitor_armed || (!has_work(st) && !st.cfg.reclaim))
    return;
  st.janitor_armed = true;
  self->delayed_send(self, std::chrono::milliseconds(st.cfg.janitor_interval),
                     atom::janitor_v);
}

void janitor(bc_pointer self) {
  auto& st = self->state;
  auto now = now_of(self);
  // Run-time overrides other nodes sharing the store changed (one call for
  // every group).
  read_overrides(self);
  // Keep the take marks of the due retries this node holds.
  renew_takes(self);
  for (size_t gi = 0; gi < st.groups.size(); ++gi) {
    auto& g = st.groups[gi];
    // Settled events per second, smoothed (weight of the newest round 0.5).
    if (g.rate_at >= 0 && now > g.rate_at) {
      auto r = static_cast<double>(g.book.counters().settled - g.rate_settled)
               * 1000.0 / static_cast<double>(now - g.rate_at);
      g.rate = 0.5 * g.rate + 0.5 * r;
    }
    g.rate_at = now;
    g.rate_settled = g.book.counters().settled;
    // In-flight entries past their lease: a listener stalled. Hand them to
    // another listener; the deduplicator fences the stalled one.
    auto limit = g.cfg.lease_ttl + st.cfg.janitor_interval;
    for (auto seq : g.book.stalled(now, limit))
      g.book.requeue_front(seq);
    // Queued entries whose read lease ran down below what a listener runs
    // under: give the leases back now, so that whoever claims the entries
    // next (this node, or another after a reclaim) counts no crash.
    release_read_leases(self, gi, read_lease_min_left(g.cfg.lease_ttl));
    resync_backlog(self, gi);
    // Entries may have arrived without an ingest here (other nodes, an
    // append that answered with an error but committed).
    may_have_new(g);
    if (st.cfg.reclaim) {
      self
        ->request(st.store, store_timeout, atom::reclaim_v, g.cfg.name, now,
                  g.cfg.lease_ttl * 2, uint32_t{1000})
        .then(
          [self, gi](std::vector<event>& evs) {
            auto& g = self->state.groups[gi];
            for (auto& ev : evs)
              g.book.enqueue(first_delivery(std::move(ev), g.cfg.name));
            if (!evs.empty())
              dispatch(self, gi);
          },
          [self, gi](caf::error& err) {
            // The next janitor round tries again.
            check_lost_group(self, gi, err);
          });
    }
    dispatch(self, gi);
  }
}

/// The janitor's retention round: one trim call at a time, every trim
/// interval, and at once again while a call removes `trim_max` entries (a
/// backlog of old history). It has its own timer because the janitor sleeps
/// while this node has no work, and old history must go all the same.
/// Failures are logged and tried again after an interval.
void trim_round(bc_pointer self) {
  auto& st = self->state;
  auto interval = std::chrono::milliseconds(st.cfg.trim_interval);
  if (st.trimming)
    return;
  if (st.draining) {
    self->delayed_send(self, interval, atom::trim_v);
    return;
  }
  st.trimming = true;
  auto max = st.cfg.trim_max;
  self
    ->request(st.store, store_timeout, atom::trim_v, now_of(self),
              st.cfg.retention, st.cfg.dedup_window, max)
    .then(
      [self, max, interval](uint64_t n) {
        auto& st = self->state;
        st.trimming = false;
        if (st.trim_failing) {
          st.trim_failing = false;
          spdlog::info("broadcaster: trimming the store works again");
        }
        st.trimmed += n;
        if (n > 0) {
          spdlog::debug("broadcaster: trimmed {} log entries", n);
          if (st.cfg.metrics)
            st.cfg.metrics->count(metric::trimmed, {}, n);
        }
        if (max > 0 && n >= max)
          self->send(self, atom::trim_v);
        else
          self->delayed_send(self, interval, atom::trim_v);
      },
      [self, interval](caf::error& err) {
        auto& st = self->state;
        st.trimming = false;
        ++st.trim_failures;
        if (!st.trim_failing)
          spdlog::warn("broadcaster: trimming the store failed (trying "
                       "again every {} ms): {}",
                       st.cfg.trim_interval, render(err));
        st.trim_failing = true;
        self->delayed_send(self, interval, atom::trim_v);
      });
}

} // namespace onceflow::detail
