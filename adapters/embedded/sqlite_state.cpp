#include "adapters/embedded/sqlite_state.hpp"

#include <limits>

namespace onceflow::embedded {

void retry_slots::put(const std::string& group, uint64_t seq, millis_t due,
                      bool delayed) {
  auto ins = slots_.emplace(retry_key{group, seq}, retry_slot{});
  auto& slot = ins.first->second;
  if (ins.second)
    ++per_group_[group];
  if (!ins.second && !slot.taken)
    due_.erase(std::make_tuple(slot.due, seq, group));
  if (slot.delayed)
    --delayed_;
  slot.due = due;
  slot.taken = false;
  slot.delayed = delayed;
  if (delayed)
    ++delayed_;
  due_.emplace(due, seq, group);
}

void retry_slots::drop(const std::string& group, uint64_t seq) {
  auto i = slots_.find(retry_key{group, seq});
  if (i == slots_.end())
    return;
  if (!i->second.taken)
    due_.erase(std::make_tuple(i->second.due, seq, group));
  if (i->second.delayed)
    --delayed_;
  slots_.erase(i);
  if (auto g = per_group_.find(group);
      g != per_group_.end() && --g->second == 0)
    per_group_.erase(g);
}

std::vector<retry_slots::due_entry> retry_slots::due(millis_t now,
                                                     size_t max) const {
  std::vector<due_entry> picked;
  for (auto i = due_.begin();
       i != due_.end() && picked.size() < max && std::get<0>(*i) <= now; ++i)
    picked.push_back(*i);
  return picked;
}

void retry_slots::take(const std::vector<due_entry>& picked) {
  for (auto& t : picked) {
    due_.erase(t);
    slots_[retry_key{std::get<2>(t), std::get<1>(t)}].taken = true;
  }
}

bool retry_slots::untake(const std::string& group, uint64_t seq) {
  auto i = slots_.find(retry_key{group, seq});
  if (i == slots_.end() || !i->second.taken)
    return false;
  i->second.taken = false;
  due_.emplace(i->second.due, seq, group);
  return true;
}

uint64_t retry_slots::first_above(uint64_t after) const {
  uint64_t first = 0;
  // Per group: its lowest seq above `after`, then on to the next group.
  for (auto i = slots_.begin(); i != slots_.end();) {
    const auto& grp = i->first.first;
    auto j = slots_.lower_bound(retry_key{grp, after + 1});
    if (j != slots_.end() && j->first.first == grp
        && (first == 0 || j->first.second < first))
      first = j->first.second;
    i = slots_.upper_bound(
      retry_key{grp, std::numeric_limits<uint64_t>::max()});
  }
  return first;
}

} // namespace onceflow::embedded
