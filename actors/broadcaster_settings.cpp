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

/// Brings the group's listeners on `worker` (empty: this node) that are not
/// retiring to `target`: retiring ones stay, new ones are spawned (on this
/// node only: a worker attaches its own); fewer: idle ones stop at once,
/// busy ones once their batch is back (nothing in flight is lost, nor run
/// twice). Returns how many are left, not counting retiring ones.
uint32_t resize_slots(bc_pointer self, size_t gi, const std::string& worker,
                      uint32_t target) {
  auto& g = self->state.groups[gi];
  std::vector<listener_view> views;
  views.reserve(g.listeners.size());
  for (auto& slot : g.listeners)
    if (slot.worker == worker)
      views.push_back({slot.index, slot.busy(), slot.retiring});
  auto plan = resize_listeners(views, target);
  for (auto index : plan.keep)
    g.listeners[slot_of(g, index)].retiring = false;
  for (auto index : plan.retire) {
    auto slot = slot_of(g, index);
    if (g.listeners[slot].busy())
      g.listeners[slot].retiring = true;
    else
      remove_listener_slot(self, gi, slot);
  }
  if (worker.empty())
    for (size_t i = 0; i < plan.spawn; ++i) {
      g.listeners.emplace_back();
      spawn_listener_slot(self, gi, g.listeners.size() - 1);
    }
  uint32_t left = 0;
  for (auto& slot : g.listeners)
    if (slot.worker == worker && !slot.retiring)
      ++left;
  return left;
}

/// This node's listener count of the group: the settings it runs with and
/// the run-time delta.
uint32_t local_target(const group_state& g) {
  auto n = static_cast<int64_t>(g.run.concurrency) + g.local_delta;
  return static_cast<uint32_t>(std::max<int64_t>(n, 0));
}

/// Brings this node's listeners of the group to its local target (the
/// count is this node's: listeners other nodes attached stay).
void resize_group(bc_pointer self, size_t gi) {
  resize_slots(self, gi, {}, local_target(self->state.groups[gi]));
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

caf::result<uint32_t> change_local_listeners(bc_pointer self,
                                             const std::string& group,
                                             int32_t delta) {
  auto& st = self->state;
  auto gi = group_index(st, group);
  if (gi == st.groups.size())
    return make_error(ec::unknown_group, "no group named '" + group + "'");
  auto& g = st.groups[gi];
  auto before = local_target(g);
  // The delta stays within what the count can become: removing more
  // listeners than there are leaves none, and a later add starts from
  // there.
  auto target = std::max<int64_t>(int64_t{before} + delta, 0);
  g.local_delta
    = static_cast<int32_t>(target - static_cast<int64_t>(g.run.concurrency));
  auto left = resize_slots(self, gi, {}, local_target(g));
  spdlog::info("broadcaster: group {}: {} listener(s) on this node (was {})",
               group, left, before);
  dispatch(self, gi);
  return left;
}

caf::result<uint32_t>
retire_worker_listeners(bc_pointer self, const std::string& group,
                        const std::string& worker, uint32_t count) {
  auto& st = self->state;
  auto gi = group_index(st, group);
  if (gi == st.groups.size())
    return make_error(ec::unknown_group, "no group named '" + group + "'");
  if (worker.empty())
    return make_error(ec::invalid_config, "retire: no worker named");
  uint32_t have = 0;
  for (auto& slot : st.groups[gi].listeners)
    if (slot.worker == worker && !slot.retiring)
      ++have;
  auto left = resize_slots(self, gi, worker, have - std::min(have, count));
  spdlog::info("broadcaster: group {}: {} listener(s) of node {} retired, "
               "{} left",
               group, have - left, worker, left);
  return left;
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
