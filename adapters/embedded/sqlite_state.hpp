#pragma once

#include "actors/logic/event.hpp"
#include "actors/logic/pattern.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

/// What the embedded store keeps in memory next to SQLite: pending entries
/// per group (as a Redis consumer group's PEL), the groups with their read
/// position, and the slots of the retry schedule with their `taken` marks.
namespace onceflow::embedded {

/// Pending entries of one group (the PEL), in seq order. Settled entries
/// become tombstones that are dropped from the front or by compaction.
class pending_list {
public:
  struct item {
    uint64_t seq;
    millis_t delivered_at;
    bool live;
  };

  /// Adds an entry; seqs must increase.
  void add(uint64_t seq, millis_t now) {
    items_.push_back(item{seq, now, true});
    ++live_;
  }

  item* find(uint64_t seq) {
    auto i
      = std::lower_bound(items_.begin(), items_.end(), seq,
                         [](const item& x, uint64_t s) { return x.seq < s; });
    if (i == items_.end() || i->seq != seq || !i->live)
      return nullptr;
    return &*i;
  }

  bool contains(uint64_t seq) {
    return find(seq) != nullptr;
  }

  void remove(uint64_t seq) {
    auto* x = find(seq);
    if (x == nullptr)
      return;
    x->live = false;
    --live_;
    while (!items_.empty() && !items_.front().live)
      items_.pop_front();
    if (items_.size() > 1024 && items_.size() > 4 * live_) {
      items_.erase(std::remove_if(items_.begin(), items_.end(),
                                  [](const item& y) { return !y.live; }),
                   items_.end());
    }
  }

  /// Smallest live seq not in `excluded` (sorted), or 0 if none.
  uint64_t first_except(const std::vector<uint64_t>& excluded) const {
    for (auto& x : items_)
      if (x.live
          && !std::binary_search(excluded.begin(), excluded.end(), x.seq))
        return x.seq;
    return 0;
  }

  size_t size() const {
    return live_;
  }

  std::deque<item>& items() {
    return items_;
  }

private:
  std::deque<item> items_;
  size_t live_ = 0;
};

struct group_state {
  std::string name;
  std::vector<std::string> patterns;
  /// Pattern verdict per event type.
  std::unordered_map<std::string, bool> verdicts;
  /// Head of the log when the group was created.
  uint64_t start = 0;
  /// Durable low-water mark: every seq <= cursor is settled.
  uint64_t cursor = 0;
  /// Highest seq examined by read_group.
  uint64_t read_pos = 0;
  pending_list pending;
  /// After a restart: seqs above the cursor already settled for the group.
  std::set<uint64_t> skip;

  bool matches(const std::string& type) {
    auto i = verdicts.find(type);
    if (i != verdicts.end())
      return i->second;
    bool ok = matches_any(patterns, type);
    verdicts.emplace(type, ok);
    return ok;
  }
};

using retry_key = std::pair<std::string, uint64_t>;

struct retry_slot {
  millis_t due = 0;
  bool taken = false;
  /// A delayed first attempt (put there by `append`; see retry_port).
  bool delayed = false;
};

/// The retry schedule in memory (the `retry` table holds the deliveries):
/// a slot per scheduled pair, and the untaken ones by due time. A taken
/// slot stays until the pair is settled or scheduled again.
class retry_slots {
public:
  /// An untaken slot: due time, seq, group.
  using due_entry = std::tuple<millis_t, uint64_t, std::string>;

  /// Schedules the pair at `due`, untaken (again, if it was scheduled); a
  /// delayed first attempt with `delayed`.
  void put(const std::string& group, uint64_t seq, millis_t due,
           bool delayed = false);

  /// Forgets the pair, taken or not.
  void drop(const std::string& group, uint64_t seq);

  bool has(const std::string& group, uint64_t seq) const {
    return slots_.count(retry_key{group, seq}) > 0;
  }

  /// The pair's slot, or null.
  const retry_slot* find(const std::string& group, uint64_t seq) const {
    auto i = slots_.find(retry_key{group, seq});
    return i == slots_.end() ? nullptr : &i->second;
  }

  /// Slots of delayed first attempts.
  size_t delayed() const {
    return delayed_;
  }

  /// Up to `max` untaken slots due at `now`, earliest first.
  std::vector<due_entry> due(millis_t now, size_t max) const;

  /// Marks slots that `due` returned taken.
  void take(const std::vector<due_entry>& picked);

  /// True if the pair is scheduled and taken.
  bool is_taken(const std::string& group, uint64_t seq) const {
    auto* slot = find(group, seq);
    return slot != nullptr && slot->taken;
  }

  /// Makes a taken slot untaken again (due at its time); returns whether
  /// the pair was taken.
  bool untake(const std::string& group, uint64_t seq);

  /// Due time of the earliest untaken slot, or -1 if none.
  millis_t next_due() const {
    return due_.empty() ? -1 : std::get<0>(*due_.begin());
  }

  /// Scheduled pairs, taken or not.
  size_t size() const {
    return slots_.size();
  }

  /// Scheduled pairs of one group, taken or not.
  size_t size(const std::string& group) const {
    auto i = per_group_.find(group);
    return i == per_group_.end() ? 0 : i->second;
  }

  /// The lowest scheduled seq above `after` over every group, or 0 if none.
  uint64_t first_above(uint64_t after) const;

private:
  std::map<retry_key, retry_slot> slots_;
  /// Untaken slots by (due, seq, group).
  std::set<due_entry> due_;
  size_t delayed_ = 0;
  /// Slots per group.
  std::map<std::string, size_t> per_group_;
};

} // namespace onceflow::embedded
