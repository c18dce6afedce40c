#include "actors/store_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <string_view>

namespace onceflow {

namespace {

/// Calls, items and time spent per store operation.
struct op_stats {
  uint64_t calls = 0;
  uint64_t items = 0;
  uint64_t micros = 0;
};

struct store_state {
  std::shared_ptr<store> st;
  uint64_t calls = 0;
  uint64_t failures = 0;
  /// store::heartbeat_interval (0: no heartbeat), and whether the last
  /// heartbeat failed (logged once per outage).
  millis_t heartbeat_interval = 0;
  bool heartbeat_failing = false;
  std::map<std::string, op_stats> ops;
  static inline const char* name = "store";
};

using store_pointer = store_actor::stateful_pointer<store_state>;

template <class T>
size_t count_items(const std::vector<T>& xs) {
  return xs.size();
}

template <class T>
size_t count_items(const T&) {
  return 1;
}

/// Runs one store call, timing it; maps store failures to the `ec` of their
/// kind (other exceptions to ec::store_failure).
/// The code of a store call's exception: its kind for a store_error.
ec code_of(const std::exception& e) {
  auto* se = dynamic_cast<const store_error*>(&e);
  return se != nullptr ? to_ec(se->which()) : ec::store_failure;
}

/// A store error of kind refused: the node must stop.
bool is_refusal(const std::exception& e) {
  auto* se = dynamic_cast<const store_error*>(&e);
  return se != nullptr && se->which() == store_error::kind::refused;
}

caf::error failed(store_pointer self, const char* what,
                  const std::exception& e) {
  ++self->state.failures;
  auto err = make_error(code_of(e), std::string{what} + ": " + e.what());
  if (is_refusal(e)) {
    // Goes down with the error: the node's supervisor stops the node.
    spdlog::critical("store: {}; stopping the node", e.what());
    self->quit(err);
  } else if (std::string_view{what} != "trim") {
    // The broadcaster logs failing trims itself, once per outage.
    spdlog::warn("store {} failed: {}", what, e.what());
  }
  return err;
}

/// Renews what the store holds for the node (store::heartbeat); failures
/// are logged once per outage.
void heartbeat(store_pointer self) {
  auto& st = self->state;
  try {
    st.st->heartbeat();
    if (st.heartbeat_failing)
      spdlog::info("store: heartbeat works again");
    st.heartbeat_failing = false;
  } catch (const std::exception& e) {
    if (is_refusal(e)) {
      failed(self, "heartbeat", e);
      return;
    }
    if (!st.heartbeat_failing)
      spdlog::warn("store heartbeat failed (trying again every {} ms): {}",
                   st.heartbeat_interval, e.what());
    st.heartbeat_failing = true;
  }
  self->delayed_send(self, std::chrono::milliseconds(st.heartbeat_interval),
                     atom::tick_v);
}

template <class F>
auto guarded(store_pointer self, const char* what, F f)
  -> caf::result<decltype(f())> {
  ++self->state.calls;
  try {
    auto t0 = std::chrono::steady_clock::now();
    auto result = f();
    auto t1 = std::chrono::steady_clock::now();
    auto& op = self->state.ops[what];
    ++op.calls;
    op.items += count_items(result);
    op.micros += static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count());
    return result;
  } catch (const std::exception& e) {
    return failed(self, what, e);
  }
}

store_actor::behavior_type store_impl(store_pointer self,
                                      std::shared_ptr<store> st) {
  self->state.st = std::move(st);
  self->state.heartbeat_interval = self->state.st->heartbeat_interval();
  if (self->state.heartbeat_interval > 0)
    self->delayed_send(
      self, std::chrono::milliseconds(self->state.heartbeat_interval),
      atom::tick_v);
  return {
    [self](atom::join, const group_spec& spec) -> caf::result<bool> {
      return guarded(self, "join", [&] {
        self->state.st->ensure_group(spec);
        return true;
      });
    },
    [self](atom::append, std::vector<event>& batch, millis_t now,
           millis_t window) -> caf::result<std::vector<append_result>> {
      return guarded(self, "append", [&] {
        return self->state.st->append(batch, now, window);
      });
    },
    [self](atom::read, const std::string& group, uint32_t max,
           millis_t now) -> caf::result<std::vector<event>> {
      return guarded(self, "read", [&] {
        return self->state.st->read_group(group, max, now);
      });
    },
    [self](atom::read, const std::string& group, uint32_t max, millis_t now,
           const std::string& holder, millis_t ttl,
           uint32_t budget) -> caf::result<std::vector<delivery>> {
      return guarded(self, "read", [&] {
        return self->state.st->read_leased(group, max, now, holder, ttl,
                                           budget);
      });
    },
    [self](atom::backlog, const std::string& group) -> caf::result<uint64_t> {
      return guarded(self, "backlog",
                     [&] { return self->state.st->backlog(group); });
    },
    [self](atom::reclaim, const std::string& group, millis_t now,
           millis_t min_idle, uint32_t max) -> caf::result<std::vector<event>> {
      return guarded(self, "reclaim", [&] {
        return self->state.st->reclaim(group, now, min_idle, max);
      });
    },
    [self](atom::claim, const std::vector<claim_request>& reqs,
           const std::string& holder, millis_t now, millis_t ttl,
           uint32_t budget) -> caf::result<std::vector<claim_decision>> {
      return guarded(self, "claim", [&] {
        return self->state.st->claim(reqs, holder, now, ttl, budget);
      });
    },
    [self](atom::settle, const std::vector<settlement>& items,
           millis_t now) -> caf::result<std::vector<fence_decision>> {
      return guarded(self, "settle",
                     [&] { return self->state.st->settle(items, now); });
    },
    [self](atom::due, millis_t now,
           uint32_t max) -> caf::result<std::vector<delivery>, millis_t> {
      ++self->state.calls;
      try {
        auto due = self->state.st->take_due(now, max);
        millis_t next = -1;
        try {
          next = self->state.st->next_due();
        } catch (const std::exception& e) {
          // The deliveries are taken: they must reach the caller. Ask it to
          // look again in a second.
          if (is_refusal(e))
            return failed(self, "due", e);
          ++self->state.failures;
          spdlog::warn("store: next_due failed after take_due: {}", e.what());
          next = now + 1000;
        }
        return {std::move(due), next};
      } catch (const std::exception& e) {
        if (is_refusal(e))
          return failed(self, "due", e);
        ++self->state.failures;
        return make_error(code_of(e), std::string{"due: "} + e.what());
      }
    },
    [self](atom::renew, const std::vector<taken_pair>& pairs,
           millis_t now) -> caf::result<uint64_t> {
      return guarded(self, "renew taken",
                     [&] { return self->state.st->renew_taken(pairs, now); });
    },
    [self](atom::release,
           const std::vector<taken_pair>& pairs) -> caf::result<uint64_t> {
      return guarded(self, "release taken",
                     [&] { return self->state.st->release_taken(pairs); });
    },
    [self](atom::list, const dlq_query& q) -> caf::result<dlq_page> {
      return guarded(self, "dlq list",
                     [&] { return self->state.st->dlq_list(q); });
    },
    [self](atom::inspect,
           const std::string& id) -> caf::result<std::vector<dlq_entry>> {
      return guarded(self, "dlq get",
                     [&] { return self->state.st->dlq_get(id); });
    },
    [self](atom::replay, const std::string& id, const std::string& group,
           millis_t now) -> caf::result<uint64_t> {
      return guarded(self, "dlq replay", [&] {
        return static_cast<uint64_t>(
          self->state.st->dlq_replay(id, group, now));
      });
    },
    [self](atom::purge, const std::string& id) -> caf::result<uint64_t> {
      return guarded(self, "dlq purge", [&] {
        return static_cast<uint64_t>(self->state.st->dlq_purge(id));
      });
    },
    [self](atom::cancel, const std::string& id,
           millis_t now) -> caf::result<cancel_result> {
      return guarded(self, "cancel",
                     [&] { return self->state.st->cancel(id, now); });
    },
    [self](atom::purge, atom::groups,
           const std::string& group) -> caf::result<uint64_t> {
      return guarded(self, "dlq purge group", [&] {
        return static_cast<uint64_t>(self->state.st->dlq_purge_group(group));
      });
    },
    [self](atom::count, const std::string& group) -> caf::result<uint64_t> {
      return guarded(self, "dlq count",
                     [&] { return self->state.st->dlq_count(group); });
    },
    [self](atom::count, atom::schedule,
           const std::string& group) -> caf::result<uint64_t> {
      return guarded(self, "retries count",
                     [&] { return self->state.st->scheduled(group); });
    },
    [self](atom::trim, millis_t now, millis_t retention, millis_t window,
           uint32_t max) -> caf::result<uint64_t> {
      return guarded(self, "trim", [&] {
        return self->state.st->trim(now, retention, window, max);
      });
    },
    [self](atom::query,
           const std::string& id) -> caf::result<std::vector<group_status>> {
      return guarded(self, "status",
                     [&] { return self->state.st->status_of(id); });
    },
    [self](atom::processed, const std::string& id)
      -> caf::result<std::vector<processed_record>> {
      return guarded(self, "processed",
                     [&] { return self->state.st->processed_of(id); });
    },
    [self](atom::history, const std::string& id) -> caf::result<event_history> {
      return guarded(self, "history", [&] {
        event_history result;
        result.ev = self->state.st->find(id);
        if (result.ev.seq != 0) {
          result.groups = self->state.st->history_of(id);
          auto a = self->state.st->acceptance(result.ev.seq);
          result.accepted_by = std::move(a.node);
          result.duplicates = a.duplicates;
          result.first_duplicate_at = a.first_duplicate_at;
          result.last_duplicate_at = a.last_duplicate_at;
          result.last_duplicate_node = std::move(a.last_duplicate_node);
        }
        return result;
      });
    },
    [self](atom::events,
           const event_listing_query& q) -> caf::result<event_listing> {
      return guarded(self, "list events",
                     [&] { return self->state.st->list_events(q); });
    },
    [self](atom::overrides) -> caf::result<std::vector<group_overrides>> {
      return guarded(self, "group overrides",
                     [&] { return self->state.st->group_overrides_all(); });
    },
    [self](atom::overrides, const group_overrides& change,
           uint8_t clear) -> caf::result<group_overrides> {
      return guarded(self, "change group overrides", [&] {
        return self->state.st->change_group_overrides(change, clear);
      });
    },
    [self](atom::ping) -> caf::result<bool> {
      return guarded(self, "ping", [&] {
        self->state.st->ping();
        return true;
      });
    },
    [self](atom::tick) { heartbeat(self); },
    [self](atom::status) -> caf::result<caf::settings> {
      caf::settings result;
      caf::put(result, "store.backend", self->state.st->describe());
      caf::put(result, "store.calls", self->state.calls);
      caf::put(result, "store.mailbox",
               static_cast<uint64_t>(self->mailbox().size()));
      caf::put(result, "store.failures", self->state.failures);
      for (auto& [name, op] : self->state.ops) {
        auto key = "store.ops." + name;
        caf::put(result, key + ".calls", op.calls);
        caf::put(result, key + ".items", op.items);
        caf::put(result, key + ".micros", op.micros);
      }
      try {
        caf::put(result, "store.head", self->state.st->head());
        caf::put(result, "store.retry-scheduled", self->state.st->scheduled());
        caf::put(result, "store.delayed", self->state.st->delayed());
        caf::put(result, "store.dlq-size", self->state.st->dlq_size());
        caf::put(result, "store.processed",
                 self->state.st->processed_count(""));
      } catch (const std::exception& e) {
        if (is_refusal(e))
          failed(self, "status", e);
        caf::put(result, "store.error", std::string{e.what()});
      }
      return result;
    },
  };
}

} // namespace

store_actor spawn_store(caf::actor_system& sys, std::shared_ptr<store> st,
                        bool detached) {
  if (detached)
    return sys.spawn<caf::detached>(store_impl, std::move(st));
  return sys.spawn(store_impl, std::move(st));
}

} // namespace onceflow
