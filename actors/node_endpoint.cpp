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

endpoint_actor::behavior_type
endpoint(endpoint_pointer self, broadcaster_actor broadcaster,
         std::vector<api_key> keys, node_manager_actor manager) {
  self->state.broadcaster = std::move(broadcaster);
  self->state.keys = std::move(keys);
  self->state.manager = std::move(manager);
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
  };
}

} // namespace

endpoint_actor
spawn_node_endpoint(caf::actor_system& sys, broadcaster_actor broadcaster,
                    std::vector<api_key> keys, node_manager_actor manager) {
  return sys.spawn(endpoint, std::move(broadcaster), std::move(keys),
                   std::move(manager));
}

} // namespace onceflow
