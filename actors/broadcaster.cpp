#include "actors/broadcaster.hpp"

#include "actors/broadcaster_state.hpp"
#include "actors/logic/intake.hpp"
#include "actors/logic/pattern.hpp"
#include "actors/node_metrics.hpp"
#include "actors/timeouts.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <unordered_map>

namespace onceflow {

namespace detail {

namespace {

/// Drops every entry the group holds (queued, in flight, parked, waiting to
/// be queued again). Reports of its listeners for them are ignored later
/// (the book only takes reports of seqs in flight, of the same listener).
std::pair<size_t, size_t> drop_entries(group_state& g) {
  g.waiting.reset();
  return g.book.drop_all();
}

/// Reads of a group lease what they deliver (store::read_leased) unless
/// the group is rate-limited: a rate-limited entry may wait in the queue
/// for longer than its lease, and another node's claim of it would count
/// a crash redelivery.
bool leases_at_read(const broadcaster_state& st, const group_state& g) {
  // A remote listener would otherwise claim each batch over the network
  // before running it (a round trip per batch on the critical path).
  auto remote = st.cfg.remote_read_leases
                && std::any_of(g.listeners.begin(), g.listeners.end(),
                               [](const listener_slot& slot) {
                                 return !slot.worker.empty();
                               });
  return (st.cfg.read_leases || remote) && g.limits.unlimited();
}

/// The refusal of an append while the groups cannot be registered.
caf::error unregistered(const broadcaster_state& st) {
  return make_error(ec::store_failure,
                    "store unavailable, the groups cannot be registered ("
                      + st.join_error + ")");
}

/// Registers every group the store does not know yet; retries failures.
void join_missing(bc_pointer self) {
  auto& st = self->state;
  for (size_t gi = 0; gi < st.groups.size(); ++gi) {
    auto& g = st.groups[gi];
    if (g.joined)
      continue;
    self
      ->request(st.store, store_timeout, atom::join_v,
                group_spec{g.cfg.name, g.cfg.subscriptions, g.lost})
      .then(
        [self, gi](bool) {
          auto& g = self->state.groups[gi];
          if (g.joined)
            return;
          g.joined = true;
          if (g.join_failing)
            spdlog::info("broadcaster: registered group {}", g.cfg.name);
          g.join_failing = false;
          auto& st = self->state;
          if (!st.groups_registered
              && std::all_of(st.groups.begin(), st.groups.end(),
                             [](const group_state& x) { return x.joined; })) {
            st.groups_registered = true;
            st.join_error.clear();
            auto waiting = std::move(st.before_groups);
            st.before_groups.clear();
            for (auto& w : waiting)
              w.send();
          }
          // Start from the store's count of what waits for the group.
          resync_backlog(self, gi);
          maybe_read(self, gi);
        },
        [self, gi](caf::error& err) {
          auto& st = self->state;
          auto& g = st.groups[gi];
          if (!g.join_failing)
            spdlog::error("broadcaster: cannot register group {} (retrying "
                          "every second): {}",
                          g.cfg.name, render(err));
          g.join_failing = true;
          if (!st.groups_registered) {
            // Appends waiting for the groups would wait for as long as the
            // store fails: refuse them, and the next ones at once.
            st.join_error = render(err);
            auto waiting = std::move(st.before_groups);
            st.before_groups.clear();
            for (auto& w : waiting)
              w.refuse(unregistered(st));
          }
          // The store's data may have been replaced meanwhile.
          check_lost_group(self, gi, err);
          wake_at(self, now_of(self) + 1000);
        });
  }
}

/// Answers an append of `n` events with `err` (counted as rejected for a
/// store failure).
void refuse_append(bc_pointer self,
                   caf::typed_response_promise<std::vector<append_result>>& rp,
                   size_t n, caf::error err) {
  auto& st = self->state;
  --st.pending_appends;
  if (st.cfg.metrics)
    st.cfg.metrics->count(metric::rejected, {{"reason", "store_failure"}}, n);
  rp.deliver(std::move(err));
}

} // namespace

void check_drained(bc_pointer self) {
  auto& st = self->state;
  if (!st.draining || st.drain_waiters.empty())
    return;
  // Reads in flight may still bring leases to give back.
  bool drained
    = st.releasing == 0
      && std::none_of(st.groups.begin(), st.groups.end(),
                      [](const group_state& g) { return g.reading; });
  for (auto& g : st.groups)
    if (g.book.in_flight() > 0)
      drained = false;
  if (!drained && now_of(self) < st.drain_deadline)
    return;
  // Due retries this node took and did not run (also those still in
  // flight after a timeout) go back to the schedule's other takers at once
  // instead of after their marks' lease; the answer comes back here.
  if (!st.takes_given_back) {
    st.takes_given_back = true;
    if (release_takes(self, true))
      return;
  }
  if (!drained)
    spdlog::warn("broadcaster: drain timeout with work in flight; its leases "
                 "expire and the events are delivered after a restart");
  for (auto& rp : st.drain_waiters)
    rp.deliver(drained);
  st.drain_waiters.clear();
}

millis_t now_of(bc_pointer self) {
  return to_millis(self->clock().now());
}

void may_have_new(group_state& g) {
  g.exhausted = false;
  ++g.news;
}

/// The store no longer knows the group (e.g. Redis restarted without
/// persistence): register it again on the next tick.
///
/// The store's data was replaced altogether (Redis lost its data and seqs
/// start over): every seq this node holds, of every group, now names
/// nothing or another event. Drop them all and register every group again,
/// reading its new log from the start; copies that still come back (a
/// listener's batch, a retry on its way) are refused by the store, which
/// checks event ids after such a change.
void check_lost_group(bc_pointer self, size_t gi, const caf::error& err) {
  if (err.category() != caf::atom("onceflow"))
    return;
  switch (static_cast<ec>(err.code())) {
    case ec::store_generation_changed: {
      auto& st = self->state;
      // The new data has none of our groups: appends wait again until they
      // are registered (see groups_registered).
      st.groups_registered = st.groups.empty();
      size_t queued = 0;
      size_t in_flight = 0;
      for (auto& g : st.groups) {
        auto [waiting, running] = drop_entries(g);
        queued += waiting;
        in_flight += running;
        g.unsettled = 0;
        may_have_new(g);
        g.joined = false;
        g.lost = true;
      }
      spdlog::warn("broadcaster: the store's data was replaced (Redis lost "
                   "it?); dropping {} queued and {} in-flight entries of the "
                   "old data and reading every group's new log from the "
                   "start: {}",
                   queued, in_flight, render(err));
      wake_at(self, now_of(self) + 1000);
      return;
    }
    case ec::store_unknown_group: {
      auto& g = self->state.groups[gi];
      if (g.joined) {
        // Seqs start over in a store that lost its data: old entries would
        // collide with new ones.
        auto [queued, in_flight] = drop_entries(g);
        spdlog::warn("broadcaster: the store lost group {}; registering it "
                     "again and dropping {} queued and {} in-flight entries "
                     "it no longer has",
                     g.cfg.name, queued, in_flight);
      }
      g.joined = false;
      g.lost = true;
      wake_at(self, now_of(self) + 1000);
      return;
    }
    default:
      return;
  }
}

/// Asks for a `tick` at `at` unless one is due earlier already.
void wake_at(bc_pointer self, millis_t at) {
  auto& st = self->state;
  auto now = now_of(self);
  if (st.wake_at >= 0 && st.wake_at <= at && st.wake_at > now)
    return;
  st.wake_at = at;
  self->delayed_send(self,
                     std::chrono::milliseconds(std::max<millis_t>(1, at - now)),
                     atom::tick_v);
}

bool has_work(const broadcaster_state& st) {
  return std::any_of(st.groups.begin(), st.groups.end(),
                     [](const group_state& g) { return g.book.has_work(); });
}

/// Gives back the leases granted with the read of the group's queued
/// entries that have less than `min_left` ms left (all of them on pause and
/// drain; in the janitor, those a listener would no longer run under):
/// they wait here unrun, and a lease left to expire would count a crash
/// redelivery at the entry's next claim (another node's after a reclaim,
/// or this node's after a restart). A drain waits for the answer.
void release_read_leases(bc_pointer self, size_t gi, millis_t min_left) {
  auto& st = self->state;
  auto& g = st.groups[gi];
  auto now = now_of(self);
  std::vector<settlement> items;
  g.book.queue().for_each([&](delivery& dl) {
    if (dl.lease_until <= 0 || dl.lease_until - now >= min_left)
      return;
    if (dl.lease_until > now) {
      settlement s;
      s.kind = settle_kind::release;
      s.dl = dl;
      items.push_back(std::move(s));
    }
    // Claimed with a takeover of this epoch: safe whether the release
    // lands first (then there is nothing to take over) or not.
    dl.lease_until = -1;
  });
  if (items.empty())
    return;
  ++st.releasing;
  auto n = items.size();
  self->request(st.dedup, store_timeout, atom::settle_v, std::move(items))
    .then(
      [self, gi](std::vector<fence_decision>& ds) {
        auto& st = self->state;
        --st.releasing;
        for (auto d : ds)
          if (d == fence_decision::ok)
            ++st.groups[gi].read_leases_released;
        check_drained(self);
      },
      [self, gi, n](caf::error& err) {
        auto& st = self->state;
        --st.releasing;
        spdlog::warn("broadcaster: giving back {} unused read leases of "
                     "group {} failed (they expire instead): {}",
                     n, st.groups[gi].cfg.name, render(err));
        check_drained(self);
      });
}

void dispatch(bc_pointer self, size_t gi) {
  auto& st = self->state;
  auto& g = st.groups[gi];
  // Before the run-time overrides are known, the group may be paused.
  if (st.draining || g.paused || !st.overrides_loaded)
    return;
  auto now = now_of(self);
  // Round robin over the listeners: the next batch goes to the first one
  // with room after the listener that got the last one, so that work
  // spreads over every listener (and node) even when a few would keep up
  // alone. A second pass fills the second place of remote listeners.
  auto n = g.listeners.size();
  auto start = g.next_slot;
  for (size_t k = 0; k < n * remote_listener_window; ++k) {
    auto pos = (start + k) % n;
    auto& slot = g.listeners[pos];
    auto& queue = g.book.queue();
    if (queue.empty())
      break;
    if (!slot.has_room() || slot.retiring || !slot.hdl)
      continue;
    auto hold = g.waiting.hold_until(queue.size(), g.cfg.batch_size,
                                     g.cfg.batch_wait, now);
    if (hold >= 0) {
      wake_at(self, hold);
      break;
    }
    auto fill = fill_batch(queue, g.limits, g.cfg.batch_size, now);
    if (fill.retry_at >= 0)
      wake_at(self, fill.retry_at);
    if (fill.batch.empty())
      break;
    g.book.dispatched(fill.batch, slot.index, now);
    ++slot.batches;
    g.next_slot = pos + 1;
    self->send(slot.hdl, atom::dispatch_v, std::move(fill.batch));
    if (fill.group_limited)
      break;
  }
  arm_janitor(self);
  maybe_read(self, gi);
}

delivery first_delivery(event ev, const std::string& group) {
  delivery dl;
  dl.group = group;
  dl.ev = std::move(ev);
  return dl;
}

void maybe_read(bc_pointer self, size_t gi) {
  auto& st = self->state;
  auto& g = st.groups[gi];
  auto low_water = static_cast<size_t>(g.cfg.batch_size)
                   * std::max<size_t>(1, g.run.concurrency) * 2;
  // A paused group leaves new entries in the log (status "accepted").
  if (!g.joined || g.reading || g.exhausted || st.draining || g.paused
      || !st.overrides_loaded || g.book.queue().size() >= low_water)
    return;
  g.reading = true;
  auto want = static_cast<uint32_t>(low_water * 2 - g.book.queue().size());
  auto on_error = [self, gi](caf::error& err) {
    auto& g = self->state.groups[gi];
    g.reading = false;
    spdlog::warn("broadcaster: read for group {} failed: {}", g.cfg.name,
                 render(err));
    check_lost_group(self, gi, err);
    wake_at(self, now_of(self) + 1000);
  };
  auto on_read = [self, gi, want, news = g.news](std::vector<delivery> dls) {
    auto& g = self->state.groups[gi];
    g.reading = false;
    g.exhausted = dls.size() < want && g.news == news;
    for (auto& dl : dls) {
      if (dl.lease_until > 0)
        ++g.read_leases;
      g.book.enqueue(std::move(dl));
    }
    // A read that answers after a pause or drain began: its leases go back
    // like those queued before.
    if (g.paused || self->state.draining)
      release_read_leases(self, gi, all_leases);
    dispatch(self, gi);
  };
  if (leases_at_read(st, g)) {
    self
      ->request<caf::message_priority::high>(
        st.dedup, actor_timeout, atom::read_v, g.cfg.name, want,
        st.cfg.node + "/" + g.cfg.name + "/read", g.cfg.lease_ttl,
        g.cfg.retry.crash_budget)
      .then([on_read](std::vector<delivery>& dls) { on_read(std::move(dls)); },
            on_error);
    return;
  }
  self
    ->request<caf::message_priority::high>(
      st.store, store_timeout, atom::read_v, g.cfg.name, want, now_of(self))
    .then(
      [on_read, gi, self](std::vector<event>& evs) {
        std::vector<delivery> dls;
        dls.reserve(evs.size());
        auto& name = self->state.groups[gi].cfg.name;
        for (auto& ev : evs)
          dls.push_back(first_delivery(std::move(ev), name));
        on_read(std::move(dls));
      },
      on_error);
}

namespace {

/// A delivery that comes back (a retry, a held or failed one).
void take_back(broadcaster_state& st, group_state& g, delivery dl) {
  ++st.redelivered;
  g.book.take_back(std::move(dl));
}

/// Queues the group's held or failed deliveries whose time has come (like
/// `redeliver`); asks for a tick for the others.
void release_later(bc_pointer self, size_t gi, millis_t now) {
  auto& st = self->state;
  auto [taken, next] = st.groups[gi].book.release_due(now);
  st.redelivered += taken;
  if (next >= 0)
    wake_at(self, next);
}

} // namespace

caf::settings group_status(const group_state& g) {
  caf::settings s;
  caf::put(s, "handler", g.cfg.handler);
  uint64_t remote = 0;
  for (auto& slot : g.listeners)
    if (!slot.worker.empty())
      ++remote;
  caf::put(s, "listeners", static_cast<uint64_t>(g.listeners.size()));
  caf::put(s, "remote-listeners", remote);
  auto& queue = g.book.queue();
  auto& counters = g.book.counters();
  caf::put(s, "queued", static_cast<uint64_t>(queue.size()));
  caf::put(s, "queued-high", static_cast<uint64_t>(queue.size(priority::high)));
  caf::put(s, "queued-normal",
           static_cast<uint64_t>(queue.size(priority::normal)));
  caf::put(s, "queued-low", static_cast<uint64_t>(queue.size(priority::low)));
  caf::put(s, "in-flight", static_cast<uint64_t>(g.book.in_flight()));
  caf::put(s, "unsettled", g.unsettled);
  caf::put(s, "dispatched", counters.dispatched);
  caf::put(s, "read-leases", g.read_leases);
  caf::put(s, "read-leases-released", g.read_leases_released);
  caf::put(s, "settled", counters.settled);
  caf::put(s, "held", counters.held);
  caf::put(s, "stale", counters.stale);
  caf::put(s, "listener-restarts", g.restarts);
  caf::put(s, "handed-back", g.revoked);
  caf::put(s, "paused", g.paused);
  // The settings that change at run time: the values in effect and where
  // each comes from.
  caf::put(s, "concurrency", uint64_t{g.run.concurrency});
  caf::put(s, "rate-limit", g.run.rate);
  caf::put(s, "rate-burst", g.run.burst);
  for (auto x : all_group_settings)
    caf::put(s, std::string{"source."} + to_string(x),
             std::string{(g.run.overridden & bit(x)) != 0 ? "override"
                                                          : "config"});
  caf::put(s, "rate", g.rate);
  caf::put(s, "subscriptions", g.cfg.subscriptions);
  return s;
}

namespace {

caf::settings status_of(bc_pointer self) {
  auto& st = self->state;
  caf::settings s;
  caf::put(s, "broadcaster.node", st.cfg.node);
  caf::put(s, "broadcaster.mailbox",
           static_cast<uint64_t>(self->mailbox().size()));
  caf::put(s, "broadcaster.accepted", st.accepted);
  caf::put(s, "broadcaster.duplicates", st.duplicates);
  caf::put(s, "broadcaster.rejected-overloaded", st.rejected_overloaded);
  caf::put(s, "broadcaster.rejected-draining", st.rejected_draining);
  caf::put(s, "broadcaster.redelivered", st.redelivered);
  caf::put(s, "broadcaster.takes-renewed", st.takes_renewed);
  caf::put(s, "broadcaster.takes-released", st.takes_released);
  caf::put(s, "broadcaster.take-renew-failures", st.take_renew_failures);
  caf::put(s, "broadcaster.pending-appends", uint64_t{st.pending_appends});
  caf::put(s, "broadcaster.draining", st.draining);
  // The last append failed a short while ago (readiness: the store may
  // answer pings while appends fail).
  auto failing = st.append_failed_at >= 0
                 && now_of(self) - st.append_failed_at < append_failure_window;
  caf::put(s, "broadcaster.append-error",
           failing ? st.append_error : std::string{});
  // Registering the groups fails (appends are refused meanwhile).
  caf::put(s, "broadcaster.groups-error",
           st.groups_registered ? std::string{} : st.join_error);
  caf::put(s, "broadcaster.trimmed", st.trimmed);
  caf::put(s, "broadcaster.trim-failures", st.trim_failures);
  caf::put(s, "broadcaster.retention", st.cfg.retention);
  for (auto& g : st.groups)
    caf::put(s, "groups." + g.cfg.name, group_status(g));
  return s;
}

broadcaster_actor::behavior_type
broadcaster_impl(bc_pointer self, broadcaster_config cfg, store_actor store,
                 deduplicator_actor dedup) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.store = std::move(store);
  st.dedup = std::move(dedup);
  auto now = now_of(self);
  st.groups.resize(st.cfg.groups.size());
  for (size_t gi = 0; gi < st.groups.size(); ++gi) {
    auto& g = st.groups[gi];
    g.cfg = st.cfg.groups[gi];
    g.book = group_book{st.cfg.weights};
    g.overrides.group = g.cfg.name;
    g.run = effective(g.cfg.rate_limit, g.cfg.rate_burst, g.cfg.concurrency,
                      g.overrides);
    g.limits.group = token_bucket{g.run.rate, g.run.bucket_size(), now};
    for (auto& tl : st.cfg.type_limits)
      g.limits.types.emplace_back(tl.pattern,
                                  token_bucket{tl.rate, tl.rate, now});
    g.listeners.resize(g.cfg.concurrency);
    for (size_t slot = 0; slot < g.listeners.size(); ++slot)
      spawn_listener_slot(self, gi, slot);
  }
  // Register the groups, then catch up on what the log holds for them (once
  // the run-time overrides are known).
  st.groups_registered = st.groups.empty();
  join_missing(self);
  read_overrides(self);
  self->delayed_send(self, std::chrono::milliseconds(st.cfg.trim_interval),
                     atom::trim_v);
  self->set_down_handler(
    [self](const caf::down_msg& msg) { on_down(self, msg); });
  // Listeners are monitored, not linked: take them down with us.
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    for (auto& g : self->state.groups)
      for (auto& slot : g.listeners)
        if (slot.hdl)
          self->send_exit(slot.hdl, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [self](atom::listeners, const std::string& group, const std::string& worker,
           std::vector<listener_actor>& hdls) -> caf::result<uint32_t> {
      return join_worker_listeners(self, group, worker, hdls);
    },
    [self](atom::actors) {
      std::vector<listener_actor> out;
      for (auto& g : self->state.groups)
        for (auto& slot : g.listeners)
          if (slot.hdl && slot.worker.empty())
            out.push_back(slot.hdl);
      return out;
    },
    [self](atom::ingest, std::vector<event>& batch)
      -> caf::result<std::vector<append_result>> {
      auto& st = self->state;
      if (st.draining) {
        ++st.rejected_draining;
        if (st.cfg.metrics)
          st.cfg.metrics->count(metric::rejected, {{"reason", "draining"}},
                                batch.size());
        return make_error(ec::draining, "node is shutting down");
      }
      uint64_t worst = 0;
      for (auto& g : st.groups)
        worst = std::max(worst, g.unsettled);
      auto now = now_of(self);
      auto refusal = check_intake(batch, st.cfg.intake, worst,
                                  st.pending_appends, now);
      if (refusal.kind == intake_refusal::invalid)
        return make_error(ec::invalid_event, std::move(refusal.message));
      if (refusal.kind == intake_refusal::overloaded) {
        ++st.rejected_overloaded;
        if (st.cfg.metrics)
          st.cfg.metrics->count(metric::rejected, {{"reason", "overloaded"}},
                                batch.size());
        return make_error(ec::overloaded, std::move(refusal.message));
      }
      for (auto& ev : batch)
        ev.created_at = now;
      // Delays become times by this node's clock; delayed events go into
      // their groups' schedules with the append (the retry timer hands them
      // out at their time), not through the groups' reads.
      auto earliest_due = resolve_delays(batch, now);
      ++st.pending_appends;
      auto rp = self->make_response_promise<std::vector<append_result>>();
      auto types = std::make_shared<std::vector<std::string>>();
      auto delayed = std::make_shared<std::vector<bool>>();
      types->reserve(batch.size());
      delayed->reserve(batch.size());
      for (auto& ev : batch) {
        types->push_back(ev.type);
        delayed->push_back(ev.not_before > 0);
      }
      auto send = [self, rp, types, delayed, earliest_due, now,
                   batch = std::move(batch)]() mutable {
        auto& st = self->state;
        self
          ->request(st.cfg.ingest_store ? st.cfg.ingest_store : st.store,
                    store_timeout, atom::append_v, std::move(batch), now,
                    st.cfg.dedup_window)
          .then(
            [self, rp, types, delayed,
             earliest_due](std::vector<append_result>& rs) mutable {
              auto& st = self->state;
              --st.pending_appends;
              st.append_failed_at = -1;
              if (earliest_due >= 0 && st.cfg.retry_timer)
                self->send(st.cfg.retry_timer, atom::schedule_v, earliest_due);
              bool any = false;
              // Per (duplicate, type): one label set per distinct pair.
              std::map<std::pair<bool, std::string>, uint64_t> counts;
              for (size_t i = 0; i < rs.size(); ++i) {
                if (st.cfg.metrics)
                  ++counts[{rs[i].duplicate, (*types)[i]}];
                if (rs[i].duplicate) {
                  ++st.duplicates;
                  continue;
                }
                ++st.accepted;
                // A delayed event waits in the schedule, not in the
                // groups' backlogs (like a retry).
                if ((*delayed)[i])
                  continue;
                any = true;
                for (auto& g : st.groups)
                  if (matches_any(g.cfg.subscriptions, (*types)[i]))
                    ++g.unsettled;
              }
              if (st.cfg.metrics && !counts.empty()) {
                metrics_batch b;
                for (auto& [key, n] : counts)
                  b.count(key.first ? metric::duplicate : metric::accepted,
                          {{"type", key.second}}, n);
                st.cfg.metrics->merge(b);
              }
              rp.deliver(std::move(rs));
              if (any)
                for (size_t gi = 0; gi < st.groups.size(); ++gi) {
                  may_have_new(st.groups[gi]);
                  maybe_read(self, gi);
                }
            },
            [self, rp, n = types->size()](caf::error& err) mutable {
              auto& st = self->state;
              st.append_failed_at = now_of(self);
              st.append_error = render(err);
              // A timed-out append may still have committed.
              for (auto& g : st.groups)
                may_have_new(g);
              refuse_append(self, rp, n, std::move(err));
            });
      };
      if (st.groups_registered) {
        send();
      } else {
        auto refuse = [self, rp, n = types->size()](caf::error err) mutable {
          refuse_append(self, rp, n, std::move(err));
        };
        if (st.join_error.empty())
          st.before_groups.push_back({std::move(send), std::move(refuse)});
        else
          refuse(unregistered(st));
      }
      return rp;
    },
    [self](atom::done, std::vector<dispatch_report>& reports) {
      on_done(self, caf::actor_cast<caf::actor_addr>(self->current_sender()),
              reports);
    },
    [self](atom::done, caf::actor_addr& listener,
           std::vector<dispatch_report>& reports) {
      // Only the deduplicator reports for a listener.
      if (caf::actor_cast<caf::actor_addr>(self->current_sender())
          != self->state.dedup.address())
        return;
      on_done(self, listener, reports);
    },
    [self](atom::claim, caf::actor_addr& listener,
           std::vector<lease_grant>& grants) {
      on_leased(self, listener, grants);
    },
    [self](atom::redeliver, std::vector<delivery>& dls) {
      auto& st = self->state;
      std::vector<bool> touched(st.groups.size(), false);
      for (auto& dl : dls) {
        for (size_t gi = 0; gi < st.groups.size(); ++gi) {
          if (st.groups[gi].cfg.name != dl.group)
            continue;
          take_back(st, st.groups[gi], std::move(dl));
          touched[gi] = true;
          break;
        }
      }
      // Taken while the drain began (a poll under way): given back.
      if (st.draining)
        release_takes(self, false);
      for (size_t gi = 0; gi < st.groups.size(); ++gi)
        if (touched[gi])
          dispatch(self, gi);
    },
    [self](atom::tick) {
      auto& st = self->state;
      auto now = now_of(self);
      if (st.wake_at >= 0 && st.wake_at <= now)
        st.wake_at = -1;
      join_missing(self);
      if (!st.overrides_loaded)
        read_overrides(self);
      for (size_t gi = 0; gi < st.groups.size(); ++gi) {
        release_later(self, gi, now);
        dispatch(self, gi);
      }
      check_drained(self);
    },
    [self](atom::janitor) {
      self->state.janitor_armed = false;
      janitor(self);
      arm_janitor(self);
      check_drained(self);
    },
    [self](atom::trim) { trim_round(self); },
    [self](atom::query, std::string& id) {
      return self->delegate(self->state.store, atom::query_v, std::move(id));
    },
    [self](atom::drain, millis_t timeout) {
      auto& st = self->state;
      auto rp = self->make_response_promise<bool>();
      if (!st.draining)
        spdlog::info("broadcaster: draining (timeout {} ms)", timeout);
      st.draining = true;
      st.drain_deadline = now_of(self) + timeout;
      for (size_t gi = 0; gi < st.groups.size(); ++gi)
        release_read_leases(self, gi, all_leases);
      // Take no more due retries, and give back those taken and queued
      // here: other nodes run them.
      if (st.cfg.retry_timer)
        self->send(st.cfg.retry_timer, atom::drain_v);
      release_takes(self, false);
      st.drain_waiters.push_back(rp);
      check_drained(self);
      if (!st.drain_waiters.empty())
        wake_at(self, st.drain_deadline);
      return rp;
    },
    [self](atom::listeners, const std::string& group,
           int32_t delta) -> caf::result<uint32_t> {
      return change_local_listeners(self, group, delta);
    },
    [self](atom::retire, const std::string& group, const std::string& worker,
           uint32_t count) -> caf::result<uint32_t> {
      return retire_worker_listeners(self, group, worker, count);
    },
    [self](atom::pause, std::string& name, bool paused) -> caf::result<bool> {
      return pause_group(self, name, paused);
    },
    [self](atom::overrides, group_overrides& change,
           uint8_t clear) -> caf::result<caf::settings> {
      return change_overrides(self, std::move(change), clear);
    },
    [self](atom::status) { return status_of(self); },
  };
}

} // namespace

} // namespace detail

broadcaster_actor spawn_broadcaster(caf::actor_system& sys,
                                    broadcaster_config cfg, store_actor store,
                                    deduplicator_actor dedup) {
  return sys.spawn(detail::broadcaster_impl, std::move(cfg), std::move(store),
                   std::move(dedup));
}

} // namespace onceflow
