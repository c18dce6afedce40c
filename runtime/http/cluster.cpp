// GET /cluster: the node manager's membership view (docs/http-api.md,
// Cluster; docs/cluster.md).

#include "runtime/http/routes.hpp"
#include "runtime/http/views.hpp"

#include <caf/settings.hpp>

#include <memory>
#include <string>

namespace onceflow::http {

namespace {

std::string text_of(const caf::settings& s, const std::string& key) {
  return caf::get_or(s, key, std::string{});
}

} // namespace

void get_cluster(const std::shared_ptr<api_context>& cx, const route_args&,
                 const responder& done) {
  auto node = cx->node;
  cx->call(
    node.manager, done,
    [cx, done](caf::settings& members) {
      auto nodes = json::array();
      if (auto xs = caf::get_if<caf::settings>(&members, "nodes"))
        for (auto& [name, value] : *xs) {
          auto n = caf::get_if<caf::settings>(&value);
          if (n == nullptr)
            continue;
          nodes.push_back({{"name", name},
                           {"role", text_of(*n, "role")},
                           {"address", text_of(*n, "address")},
                           {"up", caf::get_or(*n, "up", false)},
                           {"since", number_of(*n, "since")},
                           {"rttMs", number_of(*n, "rtt-ms")},
                           {"version", text_of(*n, "version")},
                           {"error", text_of(*n, "error")}});
        }
      auto self = text_of(members, "self");
      auto schema = text_of(members, "schema");
      cx->call(
        cx->node.manager, done,
        [done, self, schema, nodes](caf::settings& actors) mutable {
          auto arr = json::array();
          for (auto& [id, value] : actors) {
            auto a = caf::get_if<caf::settings>(&value);
            if (a == nullptr)
              continue;
            arr.push_back({{"id", id},
                           {"kind", text_of(*a, "kind")},
                           {"serves", text_of(*a, "serves")}});
          }
          done(json_response(200, json{{"self", self},
                                       {"schema", schema},
                                       {"nodes", std::move(nodes)},
                                       {"actors", std::move(arr)}}));
        },
        atom::actors_v);
    },
    atom::members_v);
}

} // namespace onceflow::http
