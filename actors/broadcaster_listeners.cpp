// The broadcaster's listeners: spawning this node's, joining and retiring
// those other nodes attach, their batches' reports, the leases they claim,
// and what happens when one goes down.

#include "actors/broadcaster_state.hpp"
#include "actors/listener.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <vector>

namespace onceflow::detail {

void spawn_listener_slot(bc_pointer self, size_t gi, size_t slot) {
  auto& st = self->state;
  auto& g = st.groups[gi];
  listener_config lc;
  lc.group = g.cfg;
  lc.node = st.cfg.node;
  lc.name = g.cfg.name + "/" + std::to_string(++g.next_listener_index);
  lc.jitter = st.cfg.jitter;
  lc.metrics = st.cfg.metrics;
  std::shared_ptr<handler> h = st.cfg.handlers->make(g.cfg.handler,
                                                     g.cfg.options);
  auto hdl = spawn_listener(self->system(), std::move(lc), std::move(h),
                            st.dedup);
  self->monitor(hdl);
  g.listeners[slot].hdl = hdl;
  g.listeners[slot].batches = 0;
  g.listeners[slot].retiring = false;
  g.listeners[slot].index = g.next_listener_index;
  st.by_listener[hdl.address()] = {gi, slot};
}

caf::result<uint32_t>
join_worker_listeners(bc_pointer self, const std::string& group,
                      const std::string& worker,
                      const std::vector<listener_actor>& hdls) {
  auto& st = self->state;
  size_t gi = 0;
  while (gi < st.groups.size() && st.groups[gi].cfg.name != group)
    ++gi;
  if (gi == st.groups.size())
    return make_error(ec::unknown_group, "no group named '" + group + "'");
  auto& g = st.groups[gi];
  uint32_t added = 0;
  for (auto& hdl : hdls) {
    if (!hdl || st.by_listener.count(hdl.address()) > 0)
      continue;
    listener_slot slot;
    slot.hdl = hdl;
    slot.index = ++g.next_listener_index;
    slot.worker = worker;
    self->monitor(hdl);
    st.by_listener[hdl.address()] = {gi, g.listeners.size()};
    g.listeners.push_back(std::move(slot));
    ++added;
  }
  spdlog::info("broadcaster: {} listener(s) of group {} joined from "
               "node {}",
               added, group, worker);
  dispatch(self, gi);
  return added;
}

/// The reports of a batch of `listener` (from the listener itself, or
/// from the deduplicator that settled the batch on its behalf).
void on_done(bc_pointer self, const caf::actor_addr& listener,
             const std::vector<dispatch_report>& reports) {
  auto& st = self->state;
  if (!listener)
    return;
  auto i = st.by_listener.find(listener);
  if (i == st.by_listener.end())
    return;
  auto [gi, slot] = i->second;
  auto& g = st.groups[gi];
  auto& batches = g.listeners[slot].batches;
  batches -= std::min<uint32_t>(batches, 1);
  auto out = g.book.on_reports(g.listeners[slot].index, reports);
  g.unsettled -= std::min(g.unsettled, out.left);
  if (out.held_back > 0)
    wake_at(self, out.later_at);
  // Its batches are back: a retiring listener stops now (what it did not
  // settle went back to the queue with the reports).
  if (g.listeners[slot].retiring && !g.listeners[slot].busy())
    remove_listener_slot(self, gi, slot);
  dispatch(self, gi);
  check_drained(self);
}

/// A listener's claimed leases (from the deduplicator): the book notes the
/// epochs its entries run under (revoked should the listener go down).
void on_leased(bc_pointer self, const caf::actor_addr& listener,
               const std::vector<lease_grant>& grants) {
  auto& st = self->state;
  auto i = st.by_listener.find(listener);
  if (i == st.by_listener.end()) {
    // Granted as the listener died (its claim was in the store at the
    // DOWN): the entries revoke these leases instead of waiting for them.
    if (auto k = st.gone_listeners.find(listener);
        k != st.gone_listeners.end()) {
      st.groups[k->second].book.leased_after_down(grants);
      dispatch(self, k->second);
    }
    return;
  }
  auto [gi, slot] = i->second;
  auto& g = st.groups[gi];
  g.book.leased(g.listeners[slot].index, grants);
}

/// How many listeners that went down the broadcaster remembers (see
/// broadcaster_state::gone_listeners).
constexpr size_t max_gone_listeners = 4096;

void on_down(bc_pointer self, const caf::down_msg& msg) {
  auto& st = self->state;
  auto i = st.by_listener.find(msg.source);
  if (i == st.by_listener.end())
    return;
  auto [gi, slot] = i->second;
  st.by_listener.erase(i);
  if (st.gone_listeners.size() >= max_gone_listeners)
    st.gone_listeners.clear();
  st.gone_listeners[msg.source] = gi;
  auto& g = st.groups[gi];
  spdlog::warn("listener {}/{} of group {} went down: {}", g.cfg.name,
               g.listeners[slot].index, g.cfg.name, caf::to_string(msg.reason));
  // Its in-flight entries go back to the queue at once; their next claims
  // revoke the leases it held (counting a crash redelivery) instead of
  // waiting for them to expire. Should it still run (a network cut), its
  // settlements carry a superseded epoch: the fence refuses them.
  auto back = g.book.hand_back(g.listeners[slot].index);
  g.revoked += back;
  g.listeners[slot].hdl = nullptr;
  // A retiring listener was to stop anyway; a worker's listener is not
  // respawned here (its entries are back in the queue for the others, and
  // the worker attaches new listeners when it returns).
  if (g.listeners[slot].retiring || !g.listeners[slot].worker.empty()) {
    remove_listener_slot(self, gi, slot);
    dispatch(self, gi);
  } else if (!st.draining) {
    ++g.restarts;
    spawn_listener_slot(self, gi, slot);
    dispatch(self, gi);
  }
  check_drained(self);
}

} // namespace onceflow::detail
