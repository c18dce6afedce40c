#include "actors/retry_timer.hpp"

#include "actors/timeouts.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

namespace onceflow {

namespace {

struct retry_timer_state {
  store_actor store;
  broadcaster_actor broadcaster;
  uint32_t batch_size = 1000;
  /// Due time the armed timer fires for; -1 when no timer is armed.
  millis_t armed_for = -1;
  /// A `due` request is outstanding.
  bool polling = false;
  /// Another poll was asked for while one was outstanding.
  bool poll_again = false;
  uint64_t redelivered = 0;
  uint64_t polls = 0;
  millis_t next_due = -1;
  /// Looks at the schedule this often (0: only when armed); see
  /// spawn_retry_timer.
  millis_t poll_interval = 0;
  /// The node drains: nothing more is taken.
  bool stopped = false;
  static inline const char* name = "retry_timer";
};

using timer_pointer = retry_timer_actor::stateful_pointer<retry_timer_state>;

void poll(timer_pointer self);

/// Arms the timer for `due` unless one fires earlier already.
void arm(timer_pointer self, millis_t due) {
  auto& st = self->state;
  if (st.next_due < 0 || due < st.next_due)
    st.next_due = due;
  auto now = to_millis(self->clock().now());
  if (due <= now) {
    poll(self);
    return;
  }
  if (st.armed_for >= 0 && st.armed_for <= due)
    return;
  st.armed_for = due;
  self->delayed_send(self, std::chrono::milliseconds(due - now), atom::tick_v);
}

void poll(timer_pointer self) {
  auto& st = self->state;
  if (!st.broadcaster || st.stopped)
    return;
  if (st.polling) {
    st.poll_again = true;
    return;
  }
  st.polling = true;
  ++st.polls;
  auto now = to_millis(self->clock().now());
  self->request(st.store, store_timeout, atom::due_v, now, st.batch_size)
    .then(
      [self](std::vector<delivery>& due, millis_t next) {
        auto& st = self->state;
        st.polling = false;
        st.next_due = next;
        auto full = due.size() >= st.batch_size;
        if (!due.empty()) {
          st.redelivered += due.size();
          // The broadcaster renews their take marks while it holds them.
          for (auto& dl : due)
            dl.taken = true;
          self->send(st.broadcaster, atom::redeliver_v, std::move(due));
        }
        if (full || st.poll_again) {
          st.poll_again = false;
          poll(self);
        } else if (next >= 0) {
          arm(self, next);
        }
      },
      [self](caf::error& err) {
        auto& st = self->state;
        st.polling = false;
        spdlog::warn("retry timer: cannot read the schedule: {}", render(err));
        // Try again in a second: the entries stay stored (one the store
        // handed out before failing is handed out again once its mark
        // lapses: see ports.hpp, take_due).
        arm(self, to_millis(self->clock().now()) + 1000);
      });
}

retry_timer_actor::behavior_type
retry_timer_impl(timer_pointer self, store_actor store, uint32_t batch_size,
                 millis_t poll_interval) {
  self->state.store = std::move(store);
  self->state.batch_size = batch_size;
  self->state.poll_interval = poll_interval;
  return {
    [self](atom::join, broadcaster_actor& b) {
      self->state.broadcaster = std::move(b);
      poll(self);
      if (self->state.poll_interval > 0)
        self->delayed_send(self,
                           std::chrono::milliseconds(self->state.poll_interval),
                           atom::janitor_v);
    },
    [self](atom::janitor) {
      // The periodic look (shared store): entries other nodes scheduled.
      poll(self);
      self->delayed_send(self,
                         std::chrono::milliseconds(self->state.poll_interval),
                         atom::janitor_v);
    },
    [self](atom::schedule, millis_t due) { arm(self, due); },
    [self](atom::drain) {
      // A poll under way still answers; the broadcaster gives back what it
      // brings.
      self->state.stopped = true;
    },
    [self](atom::tick) {
      auto now = to_millis(self->clock().now());
      auto& st = self->state;
      if (st.armed_for >= 0 && st.armed_for <= now)
        st.armed_for = -1;
      poll(self);
    },
    [self](atom::status) {
      auto& st = self->state;
      caf::settings result;
      caf::put(result, "retry-timer.redelivered", st.redelivered);
      caf::put(result, "retry-timer.polls", st.polls);
      caf::put(result, "retry-timer.mailbox",
               static_cast<uint64_t>(self->mailbox().size()));
      caf::put(result, "retry-timer.next-due", st.next_due);
      caf::put(result, "retry-timer.armed-for", st.armed_for);
      caf::put(result, "retry-timer.stopped", st.stopped);
      return result;
    },
  };
}

} // namespace

retry_timer_actor spawn_retry_timer(caf::actor_system& sys, store_actor store,
                                    uint32_t batch_size,
                                    millis_t poll_interval) {
  return sys.spawn(retry_timer_impl, std::move(store), batch_size,
                   poll_interval);
}

} // namespace onceflow
