#include "actors/dlq_alerter.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include <chrono>

namespace onceflow {

namespace {

struct dlq_alerter_state {
  dlq_alerter_config cfg;
  dlq_alerts alerts;
  /// The call in flight (its id and attempt), for the log.
  uint64_t call = 0;
  uint32_t attempt = 0;
  /// When the armed wake-up fires; -1 if none is armed.
  millis_t wake_at = -1;
  static inline const char* name = "dlq_alerter";
};

using alerter_pointer = dlq_alerter_actor::stateful_pointer<dlq_alerter_state>;

millis_t now_of(alerter_pointer self) {
  return to_millis(self->clock().now());
}

/// Makes the call that is due, if any, then arms a wake-up for the next.
void pump(alerter_pointer self) {
  auto& st = self->state;
  auto now = now_of(self);
  if (auto call = st.alerts.take(now)) {
    st.call = call->id;
    st.attempt = call->attempt;
    auto hdl = caf::actor_cast<dlq_alerter_actor>(self);
    auto id = call->id;
    // The sink returns at once; its callback (another thread) reports back.
    st.cfg.sink->send(
      st.cfg.node + "-" + std::to_string(id),
      alert_body(*call, st.cfg.node, now), [hdl, id](std::string error) {
        caf::anon_send(hdl, atom::handled_v, id, std::move(error));
      });
  }
  auto at = st.alerts.next_at();
  if (at < 0 || (st.wake_at >= 0 && st.wake_at <= at))
    return;
  st.wake_at = at;
  self->delayed_send(self,
                     std::chrono::milliseconds(std::max<millis_t>(0, at - now)),
                     atom::tick_v);
}

dlq_alerter_actor::behavior_type dlq_alerter_impl(alerter_pointer self,
                                                  dlq_alerter_config cfg) {
  self->state.alerts = dlq_alerts{cfg.limits};
  self->state.cfg = std::move(cfg);
  return {
    [self](atom::dead, const std::vector<dlq_entry>& entries) {
      std::vector<alert_entry> xs;
      xs.reserve(entries.size());
      for (auto& e : entries)
        xs.push_back(alert_entry{
          e.dl.ev.id, e.dl.group, e.dl.ev.type, to_string(e.reason),
          e.last_error, static_cast<uint32_t>(e.dl.history.size()), e.dead_at});
      self->state.alerts.add(xs, now_of(self));
      pump(self);
    },
    [self](atom::tick) {
      auto& st = self->state;
      if (st.wake_at >= 0 && st.wake_at <= now_of(self))
        st.wake_at = -1;
      pump(self);
    },
    [self](atom::handled, uint64_t id, std::string& error) {
      auto& st = self->state;
      if (id != st.call || !st.alerts.in_flight())
        return;
      if (error.empty()) {
        spdlog::debug("dlq alert {} delivered to {}", id,
                      st.cfg.sink->describe());
      } else {
        spdlog::warn("dlq alert {} (attempt {}) failed: {}", id, st.attempt,
                     error);
      }
      auto given_up = st.alerts.given_up_calls();
      st.alerts.done(error.empty(), now_of(self));
      if (st.alerts.given_up_calls() > given_up)
        spdlog::warn("dlq alert {} given up after {} attempt(s); the next "
                     "alert counts its entries as dropped",
                     id, st.attempt);
      pump(self);
    },
    [self](atom::status) {
      auto& a = self->state.alerts;
      caf::settings result;
      caf::put(result, "alerts.url", self->state.cfg.sink->describe());
      caf::put(result, "alerts.delivered-calls", a.delivered_calls());
      caf::put(result, "alerts.failed-attempts", a.failed_attempts());
      caf::put(result, "alerts.given-up-calls", a.given_up_calls());
      caf::put(result, "alerts.delivered-entries", a.delivered_entries());
      caf::put(result, "alerts.dropped-entries", a.dropped_total());
      caf::put(result, "alerts.pending", static_cast<uint64_t>(a.pending()));
      return result;
    },
  };
}

} // namespace

dlq_alerter_actor spawn_dlq_alerter(caf::actor_system& sys,
                                    dlq_alerter_config cfg) {
  return sys.spawn(dlq_alerter_impl, std::move(cfg));
}

} // namespace onceflow
