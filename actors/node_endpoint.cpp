#include "actors/node_endpoint.hpp"

#include "actors/timeouts.hpp"
#include "config/api_keys.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

namespace onceflow {

namespace {

struct endpoint_state {
  broadcaster_actor broadcaster;
  node_manager_actor manager;
  /// A core's store and DLQ (null on a worker): the console's reads.
  store_actor store;
  dead_letter_queue_actor dlq;
  std::vector<api_key> keys;
  uint64_t allowed = 0;
  uint64_t refused = 0;
  static inline const char* name = "node_endpoint";
};

using endpoint_pointer = endpoint_actor::stateful_pointer<endpoint_state>;

/// The refusal of a call with `key` that needs `role`, or none.
caf::error refusal(endpoint_pointer self, const std::string& key, api_role role,
                   const char* call) {
  auto& st = self->state;
  auto check = check_api_key(st.keys, key, role);
  switch (check.verdict) {
    case key_verdict::allowed:
      ++st.allowed;
      return {};
    case key_verdict::missing:
      ++st.refused;
      return make_error(ec::unauthorized,
                        std::string{"missing API key: the node has API keys; "
                                    "give --api-key KEY or set [client] "
                                    "api-key"});
    case key_verdict::unknown:
      ++st.refused;
      spdlog::info("endpoint: {} refused: unknown API key", call);
      return make_error(ec::unauthorized, "unknown API key");
    case key_verdict::lacks_role:
      break;
  }
  ++st.refused;
  spdlog::info("endpoint: {} refused: key '{}' lacks role {}", call,
               check.key->name, to_string(role));
  return make_error(ec::forbidden, "API key '" + check.key->name
                                     + "' lacks role '" + to_string(role)
                                     + "'");
}

/// The refusal of a call that needs a broadcaster on a worker, or none.
caf::error no_broadcaster(endpoint_pointer self) {
  if (self->state.broadcaster)
    return {};
  return make_error(ec::invalid_config,
                    "this node is a worker (it runs listeners only): publish "
                    "to a core node of the cluster");
}

/// The refusal of a console call that needs a core's store or DLQ, or
/// none.
template <class Handle>
caf::error no_core(const Handle& hdl) {
  if (hdl)
    return {};
  return make_error(ec::invalid_config,
                    "this node is a worker (it has no store): ask a core node "
                    "of the cluster");
}

/// A call a core answers: the key's role first (counted like every call),
/// then whether this node has the actor it goes to.
template <class Handle>
caf::error core_refusal(endpoint_pointer self, const std::string& key,
                        api_role role, const char* call, const Handle& to) {
  if (auto err = refusal(self, key, role, call))
    return err;
  return no_core(to);
}

endpoint_actor::behavior_type
endpoint(endpoint_pointer self, broadcaster_actor broadcaster,
         std::vector<api_key> keys, node_manager_actor manager,
         store_actor store, dead_letter_queue_actor dlq) {
  self->state.broadcaster = std::move(broadcaster);
  self->state.keys = std::move(keys);
  self->state.manager = std::move(manager);
  self->state.store = std::move(store);
  self->state.dlq = std::move(dlq);
  return {
    [self](atom::ingest, const std::string& key,
           std::vector<event>& xs) -> caf::result<std::vector<append_result>> {
      if (auto err = refusal(self, key, api_role::publish, "ingest"))
        return err;
      if (auto err = no_broadcaster(self))
        return err;
      return self->delegate(self->state.broadcaster, atom::ingest_v,
                            std::move(xs));
    },
    [self](atom::query, const std::string& key,
           std::string& id) -> caf::result<std::vector<group_status>> {
      if (auto err = refusal(self, key, api_role::read, "query"))
        return err;
      if (auto err = no_broadcaster(self))
        return err;
      return self->delegate(self->state.broadcaster, atom::query_v,
                            std::move(id));
    },
    [self](atom::status, const std::string& key) -> caf::result<caf::settings> {
      if (auto err = refusal(self, key, api_role::read, "status"))
        return err;
      if (auto err = no_broadcaster(self))
        return err;
      return self->delegate(self->state.broadcaster, atom::status_v);
    },
    [self](atom::listeners, const std::string& key, std::string& group,
           std::string& node, int32_t delta) -> caf::result<caf::settings> {
      if (auto err = refusal(self, key, api_role::admin, "listeners"))
        return err;
      return self->delegate(self->state.manager, atom::listeners_v,
                            std::move(group), std::move(node), delta);
    },
    [self](atom::hello, std::string& schema, std::string& version,
           std::string& name, std::string& role, std::string& secret)
      -> caf::result<std::string, std::string, std::string, std::string,
                     node_manager_actor> {
      auto& st = self->state;
      // The peer's node manager (the response promise takes the sender).
      auto sender = self->current_sender();
      auto rp
        = self->make_response_promise<std::string, std::string, std::string,
                                      std::string, node_manager_actor>();
      self
        ->request(st.manager, actor_timeout, atom::hello_v, std::move(schema),
                  std::move(version), std::move(name), std::move(role),
                  std::move(secret), std::move(sender))
        .then(
          [self, rp](std::string& s, std::string& v, std::string& n,
                     std::string& r) mutable {
            rp.deliver(std::move(s), std::move(v), std::move(n), std::move(r),
                       self->state.manager);
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    // -- the console's calls --------------------------------------------
    [self](atom::members,
           const std::string& key) -> caf::result<caf::settings> {
      if (auto err = refusal(self, key, api_role::read, "members"))
        return err;
      return self->delegate(self->state.manager, atom::members_v);
    },
    [self](atom::actors, const std::string& key) -> caf::result<caf::settings> {
      if (auto err = refusal(self, key, api_role::read, "actors"))
        return err;
      return self->delegate(self->state.manager, atom::actors_v);
    },
    [self](atom::history, const std::string& key,
           std::string& id) -> caf::result<event_history> {
      if (auto err = core_refusal(self, key, api_role::read, "history",
                                  self->state.store))
        return err;
      return self->delegate(self->state.store, atom::history_v, std::move(id));
    },
    [self](atom::processed, const std::string& key,
           std::string& id) -> caf::result<std::vector<processed_record>> {
      if (auto err = core_refusal(self, key, api_role::read, "processed",
                                  self->state.store))
        return err;
      return self->delegate(self->state.store, atom::processed_v,
                            std::move(id));
    },
    [self](atom::count, const std::string& key,
           std::string& group) -> caf::result<uint64_t> {
      if (auto err = core_refusal(self, key, api_role::read, "count",
                                  self->state.store))
        return err;
      return self->delegate(self->state.store, atom::count_v, std::move(group));
    },
    [self](atom::count, atom::schedule, const std::string& key,
           std::string& group) -> caf::result<uint64_t> {
      if (auto err = core_refusal(self, key, api_role::read, "retries count",
                                  self->state.store))
        return err;
      return self->delegate(self->state.store, atom::count_v, atom::schedule_v,
                            std::move(group));
    },
    [self](atom::list, const std::string& key,
           dlq_query& q) -> caf::result<dlq_page> {
      if (auto err = core_refusal(self, key, api_role::read, "dlq list",
                                  self->state.dlq))
        return err;
      return self->delegate(self->state.dlq, atom::list_v, std::move(q));
    },
    [self](atom::inspect, const std::string& key,
           std::string& id) -> caf::result<std::vector<dlq_entry>> {
      if (auto err = core_refusal(self, key, api_role::read, "dlq show",
                                  self->state.dlq))
        return err;
      return self->delegate(self->state.dlq, atom::inspect_v, std::move(id));
    },
    [self](atom::replay, const std::string& key, std::string& id,
           std::string& group) -> caf::result<uint64_t> {
      if (auto err = core_refusal(self, key, api_role::admin, "dlq replay",
                                  self->state.dlq))
        return err;
      return self->delegate(self->state.dlq, atom::replay_v, std::move(id),
                            std::move(group));
    },
    [self](atom::purge, const std::string& key,
           std::string& id) -> caf::result<uint64_t> {
      if (auto err = core_refusal(self, key, api_role::admin, "dlq purge",
                                  self->state.dlq))
        return err;
      return self->delegate(self->state.dlq, atom::purge_v, std::move(id));
    },
    [self](atom::purge, const std::string& key, atom::groups,
           std::string& group) -> caf::result<uint64_t> {
      if (auto err = core_refusal(self, key, api_role::admin, "dlq purge",
                                  self->state.dlq))
        return err;
      return self->delegate(self->state.dlq, atom::purge_v, atom::groups_v,
                            std::move(group));
    },
    [self](atom::pause, const std::string& key, std::string& group,
           bool pause) -> caf::result<bool> {
      if (auto err = refusal(self, key, api_role::admin,
                             pause ? "pause" : "resume"))
        return err;
      if (auto err = no_broadcaster(self))
        return err;
      return self->delegate(self->state.broadcaster, atom::pause_v,
                            std::move(group), pause);
    },
  };
}

} // namespace

endpoint_actor
spawn_node_endpoint(caf::actor_system& sys, broadcaster_actor broadcaster,
                    std::vector<api_key> keys, node_manager_actor manager,
                    store_actor store, dead_letter_queue_actor dlq) {
  return sys.spawn(endpoint, std::move(broadcaster), std::move(keys),
                   std::move(manager), std::move(store), std::move(dlq));
}

} // namespace onceflow
