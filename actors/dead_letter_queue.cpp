#include "actors/dead_letter_queue.hpp"

#include "actors/timeouts.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace onceflow {

namespace {

struct dlq_state {
  store_actor store;
  retry_timer_actor retry_timer;
  uint64_t dead = 0;
  uint64_t replayed = 0;
  uint64_t purged = 0;
  /// Rate-limited replay of everything: events/s, remaining budget.
  double replay_rate = 0;
  uint64_t replay_remaining = 0;
  /// Only this group ("" = all), and progress of the current run.
  std::string replay_group;
  uint64_t replay_total = 0;
  uint64_t replay_done = 0;
  bool replay_step_pending = false;
  static inline const char* name = "dead_letter_queue";
};

using dlq_pointer = dead_letter_queue_actor::stateful_pointer<dlq_state>;

/// One step of replay-all: replays up to rate/10 events, every 100 ms.
void replay_step(dlq_pointer self) {
  auto& st = self->state;
  if (st.replay_remaining == 0 || st.replay_step_pending)
    return;
  auto per_step = std::max<uint64_t>(
    1, static_cast<uint64_t>(std::floor(st.replay_rate / 10.0)));
  dlq_query q;
  q.group = st.replay_group;
  q.limit = static_cast<size_t>(std::min(per_step, st.replay_remaining));
  st.replay_step_pending = true;
  self->request(st.store, store_timeout, atom::list_v, q)
    .then(
      [self](dlq_page& page) {
        auto& st = self->state;
        if (page.entries.empty()) {
          st.replay_remaining = 0;
          st.replay_step_pending = false;
          return;
        }
        auto now = to_millis(self->clock().now());
        auto pending = std::make_shared<size_t>(page.entries.size());
        for (auto& e : page.entries) {
          self
            ->request(st.store, store_timeout, atom::replay_v, e.dl.ev.id,
                      e.dl.group, now)
            .then(
              [self, pending, now](uint64_t n) {
                auto& st = self->state;
                st.replayed += n;
                st.replay_done += n;
                st.replay_remaining -= std::min<uint64_t>(
                  st.replay_remaining, std::max<uint64_t>(n, 1));
                if (--*pending == 0) {
                  st.replay_step_pending = false;
                  self->send(st.retry_timer, atom::schedule_v, now);
                  if (st.replay_remaining > 0)
                    self->delayed_send(self, std::chrono::milliseconds(100),
                                       atom::tick_v);
                }
              },
              [self, pending](caf::error& err) {
                spdlog::warn("dlq replay failed: {}", render(err));
                auto& st = self->state;
                if (--*pending == 0) {
                  st.replay_step_pending = false;
                  // Keep going: the failed entry stays in the DLQ and is
                  // tried again by a later step.
                  if (st.replay_remaining > 0)
                    self->delayed_send(self, std::chrono::milliseconds(100),
                                       atom::tick_v);
                }
              });
        }
      },
      [self](caf::error& err) {
        spdlog::warn("dlq replay-all stopped: {}", render(err));
        self->state.replay_step_pending = false;
        self->state.replay_remaining = 0;
      });
}

dead_letter_queue_actor::behavior_type
dlq_impl(dlq_pointer self, store_actor store, retry_timer_actor retry_timer) {
  self->state.store = std::move(store);
  self->state.retry_timer = std::move(retry_timer);
  return {
    [self](atom::dead, const std::vector<dlq_entry>& entries) {
      self->state.dead += entries.size();
      for (auto& e : entries)
        spdlog::warn("dead letter: event {} group {} reason {} after {} "
                     "attempt(s): {}",
                     e.dl.ev.id, e.dl.group, to_string(e.reason), e.dl.attempt,
                     e.last_error);
    },
    [self](atom::list, dlq_query& q) {
      return self->delegate(self->state.store, atom::list_v, std::move(q));
    },
    [self](atom::inspect, std::string& id) {
      return self->delegate(self->state.store, atom::inspect_v, std::move(id));
    },
    [self](atom::replay, std::string& id, std::string& group) {
      auto rp = self->make_response_promise<uint64_t>();
      auto now = to_millis(self->clock().now());
      self
        ->request(self->state.store, store_timeout, atom::replay_v,
                  std::move(id), std::move(group), now)
        .then(
          [self, rp, now](uint64_t n) mutable {
            self->state.replayed += n;
            if (n > 0)
              self->send(self->state.retry_timer, atom::schedule_v, now);
            rp.deliver(n);
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self](atom::replay_all, double rate, std::string& group) {
      auto rp = self->make_response_promise<uint64_t>();
      if (!(rate > 0)) {
        rp.deliver(make_error(ec::invalid_event, "replay rate must be > 0"));
        return rp;
      }
      auto start = [self, rp, rate, group](uint64_t total) mutable {
        auto& st = self->state;
        st.replay_rate = rate;
        st.replay_group = group;
        st.replay_remaining = total;
        st.replay_total = total;
        st.replay_done = 0;
        replay_step(self);
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
      return rp;
    },
    [self](atom::tick) { replay_step(self); },
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
    [self](atom::status) {
      auto& st = self->state;
      caf::settings result;
      caf::put(result, "dlq.dead-lettered", st.dead);
      caf::put(result, "dlq.replayed", st.replayed);
      caf::put(result, "dlq.purged", st.purged);
      caf::put(result, "dlq.replay-remaining", st.replay_remaining);
      caf::put(result, "dlq.replay-rate", st.replay_rate);
      caf::put(result, "dlq.replay-active", st.replay_remaining > 0);
      caf::put(result, "dlq.replay-total", st.replay_total);
      caf::put(result, "dlq.replay-done", st.replay_done);
      caf::put(result, "dlq.replay-group", st.replay_group);
      return result;
    },
  };
}

} // namespace

dead_letter_queue_actor spawn_dead_letter_queue(caf::actor_system& sys,
                                                store_actor store,
                                                retry_timer_actor retry_timer) {
  return sys.spawn(dlq_impl, std::move(store), std::move(retry_timer));
}

} // namespace onceflow
