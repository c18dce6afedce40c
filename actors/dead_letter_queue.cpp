#include "actors/dead_letter_queue.hpp"

#include "actors/logic/replay_pacer.hpp"
#include "actors/timeouts.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace onceflow {

namespace {

/// Most entries one step of a replay lists and replays.
constexpr uint64_t max_replay_step = 1000;

struct dlq_state {
  store_actor store;
  retry_timer_actor retry_timer;
  dlq_config cfg;
  uint64_t dead = 0;
  uint64_t replayed = 0;
  uint64_t purged = 0;
  /// The current replay-all run: its number (ticks of older runs are
  /// dropped), pace and what is left of it.
  uint64_t replay_run = 0;
  replay_pacer pacer;
  uint64_t replay_remaining = 0;
  /// Only this group ("" = all), and progress of the current run.
  std::string replay_group;
  uint64_t replay_total = 0;
  uint64_t replay_done = 0;
  bool replay_step_pending = false;
  static inline const char* name = "dead_letter_queue";
};

using dlq_pointer = dead_letter_queue_actor::stateful_pointer<dlq_state>;

millis_t now_of(dlq_pointer self) {
  return to_millis(self->clock().now());
}

bool configured(const dlq_state& st, const std::string& group) {
  return std::find(st.cfg.groups.begin(), st.cfg.groups.end(), group)
         != st.cfg.groups.end();
}

caf::error unknown_group(const dlq_state& st, const std::string& group) {
  std::string names;
  for (auto& g : st.cfg.groups)
    names += (names.empty() ? "" : ", ") + g;
  return make_error(ec::unknown_group,
                    "unknown group '" + group + "' (groups of this node: "
                      + (names.empty() ? "none" : names) + ")");
}

/// Runs `f` if `group` is "" or configured on this node or, for listings
/// and purges (`leftovers`), if the DLQ holds entries of it; else fails
/// `rp` with ec::unknown_group.
template <class Promise, class F>
void with_known_group(dlq_pointer self, const std::string& group,
                      bool leftovers, Promise rp, F f) {
  auto& st = self->state;
  if (group.empty() || configured(st, group)) {
    f();
    return;
  }
  if (!leftovers) {
    rp.deliver(unknown_group(st, group));
    return;
  }
  self->request(st.store, store_timeout, atom::count_v, group)
    .then(
      [self, rp, group, f](uint64_t n) mutable {
        if (n == 0)
          rp.deliver(unknown_group(self->state, group));
        else
          f();
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

/// Arms the next step of the current replay run when the pacer says.
void schedule_step(dlq_pointer self) {
  auto& st = self->state;
  if (st.replay_remaining == 0)
    return;
  auto wait = st.pacer.wait(now_of(self), st.replay_remaining);
  self->delayed_send(self, std::chrono::milliseconds(wait), atom::tick_v,
                     st.replay_run);
}

/// One step of replay-all: replays what the pacer gives now (at most
/// max_replay_step entries), then arms the next step. One step at a time.
void replay_step(dlq_pointer self) {
  auto& st = self->state;
  if (st.replay_remaining == 0 || st.replay_step_pending)
    return;
  auto now = now_of(self);
  auto n = st.pacer.take(now, std::min(st.replay_remaining, max_replay_step));
  if (n == 0) {
    schedule_step(self);
    return;
  }
  dlq_query q;
  q.group = st.replay_group;
  q.limit = static_cast<size_t>(n);
  st.replay_step_pending = true;
  auto run = st.replay_run;
  self->request(st.store, store_timeout, atom::list_v, q)
    .then(
      [self, now, run](dlq_page& page) {
        auto& st = self->state;
        if (page.entries.empty()) {
          st.replay_step_pending = false;
          if (run == st.replay_run)
            st.replay_remaining = 0;
          else
            replay_step(self); // a new run started meanwhile
          return;
        }
        auto pending = std::make_shared<size_t>(page.entries.size());
        auto finish = [self, pending] {
          if (--*pending > 0)
            return;
          self->state.replay_step_pending = false;
          schedule_step(self);
        };
        for (auto& e : page.entries) {
          self
            ->request(st.store, store_timeout, atom::replay_v, e.dl.ev.id,
                      e.dl.group, now)
            .then(
              [self, now, run, finish](uint64_t n) {
                auto& st = self->state;
                st.replayed += n;
                if (n > 0)
                  self->send(st.retry_timer, atom::schedule_v, now);
                if (run == st.replay_run) {
                  st.replay_done += n;
                  st.replay_remaining -= std::min<uint64_t>(
                    st.replay_remaining, std::max<uint64_t>(n, 1));
                }
                finish();
              },
              [finish](caf::error& err) {
                // The entry stays in the DLQ; a later step tries again.
                spdlog::warn("dlq replay failed: {}", render(err));
                finish();
              });
        }
      },
      [self, run](caf::error& err) {
        spdlog::warn("dlq replay-all stopped: {}", render(err));
        auto& st = self->state;
        st.replay_step_pending = false;
        if (run == st.replay_run)
          st.replay_remaining = 0;
        else
          replay_step(self);
      });
}

/// Starts replay run of `total` entries at `rate`, replacing a running one.
void start_replay(dlq_pointer self, double rate, const std::string& group,
                  uint64_t total) {
  auto& st = self->state;
  ++st.replay_run;
  st.pacer = replay_pacer{rate, now_of(self)};
  st.replay_group = group;
  st.replay_remaining = total;
  st.replay_total = total;
  st.replay_done = 0;
  // With a step of the old run in flight, its end arms the new run's first
  // step.
  replay_step(self);
}

dead_letter_queue_actor::behavior_type
dlq_impl(dlq_pointer self, store_actor store, retry_timer_actor retry_timer,
         dlq_config cfg) {
  self->state.store = std::move(store);
  self->state.retry_timer = std::move(retry_timer);
  self->state.cfg = std::move(cfg);
  return {
    [self](atom::dead, const std::vector<dlq_entry>& entries) {
      self->state.dead += entries.size();
      if (self->state.cfg.alerter)
        self->send(self->state.cfg.alerter, atom::dead_v, entries);
      for (auto& e : entries)
        spdlog::warn("dead letter: event {} group {} reason {} after {} "
                     "attempt(s): {}",
                     e.dl.ev.id, e.dl.group, to_string(e.reason), e.dl.attempt,
                     e.last_error);
    },
    [self](atom::list, dlq_query& q) {
      auto rp = self->make_response_promise<dlq_page>();
      auto group = q.group;
      with_known_group(self, group, true, rp, [self, rp, q]() mutable {
        self->request(self->state.store, store_timeout, atom::list_v, q)
          .then([rp](dlq_page& page) mutable { rp.deliver(std::move(page)); },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      });
      return rp;
    },
    [self](atom::inspect, std::string& id) {
      return self->delegate(self->state.store, atom::inspect_v, std::move(id));
    },
    [self](atom::replay, std::string& id, std::string& group) {
      auto rp = self->make_response_promise<uint64_t>();
      with_known_group(self, group, false, rp, [self, rp, id, group]() mutable {
        auto now = now_of(self);
        self
          ->request(self->state.store, store_timeout, atom::replay_v, id, group,
                    now)
          .then(
            [self, rp, now](uint64_t n) mutable {
              self->state.replayed += n;
              if (n > 0)
                self->send(self->state.retry_timer, atom::schedule_v, now);
              rp.deliver(n);
            },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      });
      return rp;
    },
    [self](atom::replay_all, double rate, std::string& group) {
      auto rp = self->make_response_promise<uint64_t>();
      if (!(rate > 0) || !std::isfinite(rate)) {
        rp.deliver(make_error(ec::invalid_event, "replay rate must be > 0"));
        return rp;
      }
      with_known_group(self, group, false, rp, [self, rp, rate, group] {
        auto start = [self, rp, rate, group](uint64_t total) mutable {
          start_replay(self, rate, group, total);
          rp.deliver(total);
        };
        auto fail = [rp](caf::error& err) mutable {
          rp.deliver(std::move(err));
        };
        if (group.empty()) {
          self->request(self->state.store, store_timeout, atom::status_v)
            .then(
              [start](caf::settings& s) mutable {
                start(caf::get_or(s, "store.dlq-size", uint64_t{0}));
              },
              fail);
        } else {
          self->request(self->state.store, store_timeout, atom::count_v, group)
            .then([start](uint64_t n) mutable { start(n); }, fail);
        }
      });
      return rp;
    },
    [self](atom::tick, uint64_t run) {
      if (run == self->state.replay_run)
        replay_step(self);
    },
    [self](atom::purge, std::string& id) {
      auto rp = self->make_response_promise<uint64_t>();
      self->request(self->state.store, store_timeout, atom::purge_v, id)
        .then(
          [self, rp](uint64_t n) mutable {
            self->state.purged += n;
            rp.deliver(n);
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self](atom::purge, atom::groups, std::string& group) {
      auto rp = self->make_response_promise<uint64_t>();
      with_known_group(self, group, true, rp, [self, rp, group]() mutable {
        self
          ->request(self->state.store, store_timeout, atom::purge_v,
                    atom::groups_v, group)
          .then(
            [self, rp, group](uint64_t n) mutable {
              self->state.purged += n;
              spdlog::info("dlq: purged {} entr{} of {}", n,
                           n == 1 ? "y" : "ies",
                           group.empty() ? "every group" : "group " + group);
              rp.deliver(n);
            },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      });
      return rp;
    },
    [self](atom::status) {
      auto& st = self->state;
      caf::settings result;
      caf::put(result, "dlq.dead-lettered", st.dead);
      caf::put(result, "dlq.mailbox",
               static_cast<uint64_t>(self->mailbox().size()));
      caf::put(result, "dlq.replayed", st.replayed);
      caf::put(result, "dlq.purged", st.purged);
      caf::put(result, "dlq.replay-remaining", st.replay_remaining);
      caf::put(result, "dlq.replay-rate",
               st.replay_run > 0 ? st.pacer.rate() : 0.0);
      caf::put(result, "dlq.replay-active", st.replay_remaining > 0);
      caf::put(result, "dlq.replay-total", st.replay_total);
      caf::put(result, "dlq.replay-done", st.replay_done);
      caf::put(result, "dlq.replay-group", st.replay_group);
      return result;
    },
  };
}

} // namespace

dead_letter_queue_actor
spawn_dead_letter_queue(caf::actor_system& sys, store_actor store,
                        retry_timer_actor retry_timer, dlq_config cfg) {
  return sys.spawn(dlq_impl, std::move(store), std::move(retry_timer),
                   std::move(cfg));
}

} // namespace onceflow
