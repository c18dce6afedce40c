// The broadcaster's run-time settings of its groups: the overrides kept in
// the store (pause, rate limit, listener count), read at start and in every
// janitor round, changed through `pause` and `overrides`, and what a change
// does (the token bucket, pausing, listeners spawned or retired).

#include "actors/broadcaster_state.hpp"
#include "actors/timeouts.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace onceflow::detail {

namespace {

/// The group's slot of listener `index`, or its number of slots.
size_t slot_of(const group_state& g, uint32_t index) {
  for (size_t slot = 0; slot < g.listeners.size(); ++slot)
    if (g.listeners[slot].index == index)
      return slot;
  return g.listeners.size();
}

/// Brings the group's listeners to `run.concurrency`: retiring ones stay,
/// new ones are spawned; fewer: idle ones stop at once, busy ones once
/// their batch is back (nothing in flight is lost, nor run twice).
void resize_group(bc_pointer self, size_t gi) {
  auto& g = self->state.groups[gi];
  std::vector<listener_view> views;
  views.reserve(g.listeners.size());
  // The count is this node's: listeners other nodes attached stay.
  for (auto& slot : g.listeners)
    if (slot.worker.empty())
      views.push_back({slot.index, slot.busy, slot.retiring});
  auto plan = resize_listeners(views, g.run.concurrency);
  for (auto index : plan.keep)
    g.listeners[slot_of(g, index)].retiring = false;
  for (auto index : plan.retire) {
    auto slot = slot_of(g, index);
    if (g.listeners[slot].busy)
      g.listeners[slot].retiring = true;
    else
      remove_listener_slot(self, gi, slot);
  }
  for (size_t i = 0; i < plan.spawn; ++i) {
    g.listeners.emplace_back();
    spawn_listener_slot(self, gi, g.listeners.size() - 1);
  }
}

/// Pauses or resumes dispatching of the group.
void set_paused(bc_pointer self, size_t gi, bool paused) {
  auto& g = self->state.groups[gi];
  if (g.paused == paused)
    return;
  spdlog::info("broadcaster: group {} {}", g.cfg.name,
               paused ? "paused" : "resumed");
  g.paused = paused;
  if (paused) {
    // Queued entries wait here unrun: their read leases go back.
    release_read_leases(self, gi, all_leases);
    return;
  }
  maybe_read(self, gi);
  dispatch(self, gi);
}

/// "paused, rate 100/s" of the overridden settings (for logs).
std::string describe(const group_overrides& o) {
  std::string out;
  for (auto s : all_group_settings)
    if (o.has(s))
      out += (out.empty() ? "" : ", ") + std::string{to_string(s)} + " "
             + value_text(o, s);
  return out.empty() ? "none (the config's values)" : out;
}

size_t group_index(const broadcaster_state& st, const std::string& name) {
  for (size_t gi = 0; gi < st.groups.size(); ++gi)
    if (st.groups[gi].cfg.name == name)
      return gi;
  return st.groups.size();
}

} // namespace

void remove_listener_slot(bc_pointer self, size_t gi, size_t slot) {
  auto& st = self->state;
  auto& g = st.groups[gi];
  if (auto hdl = g.listeners[slot].hdl) {
    st.by_listener.erase(hdl.address());
    // Gone for good: no down message, no respawn.
    self->demonitor(hdl.address());
    self->send_exit(hdl, caf::exit_reason::user_shutdown);
  }
  g.listeners.erase(g.listeners.begin() + static_cast<ptrdiff_t>(slot));
  for (size_t i = slot; i < g.listeners.size(); ++i)
    if (g.listeners[i].hdl)
      st.by_listener[g.listeners[i].hdl.address()] = {gi, i};
}

void apply_overrides(bc_pointer self, size_t gi, const group_overrides& o) {
  auto& g = self->state.groups[gi];
  auto before = g.run;
  g.overrides = o;
  g.overrides.group = g.cfg.name;
  g.run = effective(g.cfg.rate_limit, g.cfg.rate_burst, g.cfg.concurrency,
                    g.overrides);
  if (g.run == before)
    return;
  spdlog::info("broadcaster: group {}: run-time overrides {}", g.cfg.name,
               describe(g.overrides));
  if (g.run.rate != before.rate || g.run.bucket_size() != before.bucket_size())
    g.limits.group.change(g.run.rate, g.run.bucket_size(), now_of(self));
  if (g.run.concurrency != before.concurrency)
    resize_group(self, gi);
  set_paused(self, gi, g.run.paused);
  maybe_read(self, gi);
  dispatch(self, gi);
}

void read_overrides(bc_pointer self) {
  auto& st = self->state;
  if (st.overrides_reading)
    return;
  st.overrides_reading = true;
  self->request(st.store, store_timeout, atom::overrides_v)
    .then(
      [self](std::vector<group_overrides>& xs) {
        auto& st = self->state;
        st.overrides_reading = false;
        auto first = !st.overrides_loaded;
        st.overrides_loaded = true;
        for (size_t gi = 0; gi < st.groups.size(); ++gi) {
          auto i = std::find_if(xs.begin(), xs.end(),
                                [&](const group_overrides& o) {
                                  return o.group == st.groups[gi].cfg.name;
                                });
          apply_overrides(self, gi, i != xs.end() ? *i : group_overrides{});
          if (first) {
            maybe_read(self, gi);
            dispatch(self, gi);
          }
        }
      },
      [self](caf::error& err) {
        auto& st = self->state;
        st.overrides_reading = false;
        // Later: the next janitor round reads them again.
        if (st.overrides_loaded)
          return;
        spdlog::warn("broadcaster: cannot read the groups' run-time settings "
                     "(nothing is dispatched until they are read; retrying "
                     "in 1 s): {}",
                     render(err));
        wake_at(self, now_of(self) + 1000);
      });
}

caf::result<caf::settings>
change_overrides(bc_pointer self, group_overrides change, uint8_t clear) {
  auto& st = self->state;
  auto gi = group_index(st, change.group);
  if (gi == st.groups.size())
    return make_error(ec::unknown_group,
                      "no group named '" + change.group + "'");
  if (auto problem = check(change); !problem.empty())
    return make_error(ec::invalid_config, problem.message);
  change.fields &= every_group_setting;
  clear &= every_group_setting;
  auto rp = self->make_response_promise<caf::settings>();
  self
    ->request(st.store, store_timeout, atom::overrides_v, std::move(change),
              clear)
    .then(
      [self, gi, rp](group_overrides& after) mutable {
        apply_overrides(self, gi, after);
        rp.deliver(group_status(self->state.groups[gi]));
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

caf::result<bool> pause_group(bc_pointer self, const std::string& name,
                              bool paused) {
  auto& st = self->state;
  auto gi = group_index(st, name);
  if (gi == st.groups.size())
    return make_error(ec::unknown_group, "no group named '" + name + "'");
  // Paused is an override; resumed is the config's state (running).
  group_overrides change;
  change.group = name;
  change.fields = paused ? bit(group_setting::paused) : 0;
  change.paused = paused;
  auto clear = paused ? uint8_t{0} : bit(group_setting::paused);
  auto rp = self->make_response_promise<bool>();
  self
    ->request(st.store, store_timeout, atom::overrides_v, std::move(change),
              clear)
    .then(
      [self, gi, rp](group_overrides& after) mutable {
        apply_overrides(self, gi, after);
        rp.deliver(self->state.groups[gi].paused);
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

} // namespace onceflow::detail
