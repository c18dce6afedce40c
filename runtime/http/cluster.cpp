// GET /cluster: the node manager's membership view; POST and DELETE
// /groups/{name}/listeners: listeners on demand (docs/http-api.md, Cluster;
// docs/cluster.md).

#include "runtime/http/response.hpp"
#include "runtime/http/routes.hpp"
#include "runtime/http/target.hpp"
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
        [done, self, schema, nodes](caf::settings& by_node) mutable {
          auto arr = json::array();
          auto errors = json::object();
          for (auto& [node, value] : by_node) {
            auto actors = caf::get_if<caf::settings>(&value);
            if (actors == nullptr)
              continue;
            for (auto& [id, a_value] : *actors) {
              if (id == "error") {
                errors[node] = caf::to_string(a_value);
                continue;
              }
              auto a = caf::get_if<caf::settings>(&a_value);
              if (a == nullptr)
                continue;
              json entry{{"node", node},
                         {"id", id},
                         {"kind", text_of(*a, "kind")},
                         {"serves", text_of(*a, "serves")}};
              if (auto group = text_of(*a, "group"); !group.empty())
                entry["group"] = group;
              if (auto st = caf::get_if<caf::settings>(a, "status"))
                entry["status"] = settings_json(*st);
              if (auto err = text_of(*a, "error"); !err.empty())
                entry["error"] = err;
              arr.push_back(std::move(entry));
            }
          }
          json doc{{"self", self},
                   {"schema", schema},
                   {"nodes", std::move(nodes)},
                   {"actors", std::move(arr)}};
          if (!errors.empty())
            doc["unanswered"] = std::move(errors);
          done(json_response(200, doc));
        },
        atom::actors_v, true);
    },
    atom::members_v);
}

namespace {

/// The most listeners one call adds or removes.
constexpr uint64_t max_listener_change = 1000;

/// Sends the change to the node manager, which applies it on `node` (or
/// forwards it there); answers 200 {"group", "node", "listeners"}.
void change_listeners(const std::shared_ptr<api_context>& cx,
                      const std::string& group, const std::string& node,
                      int32_t delta, const responder& done) {
  cx->call(
    cx->node.manager, done,
    [done](caf::settings& s) {
      done(json_response(
        200,
        json{{"group", text_of(s, "group")},
             {"node", text_of(s, "node")},
             {"listeners", static_cast<int64_t>(number_of(s, "listeners"))}}));
    },
    atom::listeners_v, group, node, delta);
}

} // namespace

void post_listeners(const std::shared_ptr<api_context>& cx,
                    const route_args& args, const responder& done) {
  json doc;
  if (!cx->parse_object_body(args.req, doc, done))
    return;
  std::string node;
  uint64_t count = 0;
  for (auto& [key, value] : doc.items()) {
    if (key == "node") {
      if (!value.is_string()) {
        done(error_body(400, "node must be a string (a node's name)", key));
        return;
      }
      node = value.get<std::string>();
    } else if (key == "count") {
      if (!value.is_number_unsigned() || value.get<uint64_t>() == 0
          || value.get<uint64_t>() > max_listener_change) {
        done(error_body(400,
                        "count must be a whole number from 1 to "
                          + std::to_string(max_listener_change),
                        key));
        return;
      }
      count = value.get<uint64_t>();
    } else {
      done(error_body(400, "unknown field '" + key + "' (expected node, count)",
                      key));
      return;
    }
  }
  if (count == 0) {
    done(error_body(400, "count is required (listeners to add)", "count"));
    return;
  }
  change_listeners(cx, args.params[0], node, static_cast<int32_t>(count), done);
}

void delete_listeners(const std::shared_ptr<api_context>& cx,
                      const route_args& args, const responder& done) {
  uint64_t count = 0;
  if (!query_uint(args.t, "count", count, 1, max_listener_change)
      || count == 0) {
    done(error_body(400,
                    "count is required: a whole number from 1 to "
                      + std::to_string(max_listener_change)
                      + " (listeners to remove)",
                    "count"));
    return;
  }
  change_listeners(cx, args.params[0], query_str(args.t, "node"),
                   -static_cast<int32_t>(count), done);
}

} // namespace onceflow::http
