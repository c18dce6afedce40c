#pragma once

#include "actors/logic/event.hpp"

#include <array>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace onceflow {

/// Relative dispatch shares of the three priorities. With the defaults, out
/// of every 10 dispatches under full load, 6 are high, 3 normal and 1 low:
/// high goes first, yet low never starves.
struct priority_weights {
  uint32_t high = 6;
  uint32_t normal = 3;
  uint32_t low = 1;
};

std::string validate(const priority_weights& w);

/// Three FIFO queues served by smooth weighted round robin over the
/// non-empty ones (the nginx algorithm): deterministic, and the shares hold
/// over any window of sum(weights) picks.
template <class T>
class priority_queues {
public:
  explicit priority_queues(priority_weights w = {})
    : weights_{{w.high, w.normal, w.low}} {
    // nop
  }

  void push(priority p, T x) {
    queues_[static_cast<size_t>(p)].push_back(std::move(x));
    ++size_;
  }

  /// Puts `x` back at the head of its queue (e.g. rate-limited).
  void push_front(priority p, T x) {
    queues_[static_cast<size_t>(p)].push_front(std::move(x));
    ++size_;
  }

  bool empty() const {
    return size_ == 0;
  }

  size_t size() const {
    return size_;
  }

  size_t size(priority p) const {
    return queues_[static_cast<size_t>(p)].size();
  }

  /// Picks the priority to serve next; requires !empty().
  priority next_priority() {
    int64_t total = 0;
    size_t best = 3;
    for (size_t i = 0; i < 3; ++i) {
      if (queues_[i].empty())
        continue;
      current_[i] += weights_[i];
      total += weights_[i];
      if (best == 3 || current_[i] > current_[best])
        best = i;
    }
    current_[best] -= total;
    return static_cast<priority>(best);
  }

  /// Removes and returns the next element; requires !empty().
  T pop() {
    auto& q = queues_[static_cast<size_t>(next_priority())];
    T x = std::move(q.front());
    q.pop_front();
    --size_;
    return x;
  }

  /// Visits every element (for status and shutdown).
  template <class F>
  void for_each(F f) const {
    for (auto& q : queues_)
      for (auto& x : q)
        f(x);
  }

  /// Visits every element, which `f` may change (not its priority).
  template <class F>
  void for_each(F f) {
    for (auto& q : queues_)
      for (auto& x : q)
        f(x);
  }

  /// Removes the elements for which `pred` holds and returns them, in
  /// queue order (high first).
  template <class Pred>
  std::vector<T> extract_if(Pred pred) {
    std::vector<T> out;
    for (auto& q : queues_) {
      std::deque<T> keep;
      for (auto& x : q) {
        if (pred(x))
          out.push_back(std::move(x));
        else
          keep.push_back(std::move(x));
      }
      q.swap(keep);
    }
    size_ -= out.size();
    return out;
  }

  void clear() {
    for (auto& q : queues_)
      q.clear();
    size_ = 0;
  }

private:
  std::array<int64_t, 3> weights_;
  std::array<int64_t, 3> current_{{0, 0, 0}};
  std::array<std::deque<T>, 3> queues_;
  size_t size_ = 0;
};

} // namespace onceflow
