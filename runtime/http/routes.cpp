#include "runtime/http/routes.hpp"

#include "runtime/http/response.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace onceflow::http {

const std::vector<route>& route_table() {
  // Every endpoint of docs/http-api.md, who may call it (access::open:
  // no key needed) and the query parameters it takes (any other is a 400
  // naming it). Where a literal segment and a {parameter} both match a
  // path, the literal wins: /events/batch is not the event "batch". A 405
  // lists a path's methods in `Allow` in the order of this table.
  // clang-format off
  static const std::vector<route> table{
    // {method, pattern, role, handler, query parameters}
    {"GET",    "/health",                    access::open,    health, {}},
    {"GET",    "/ready",                     access::open,    ready, {}},
    {"GET",    "/metrics",                   access::read,    get_metrics, {}},
    {"GET",    "/events",                    access::read,    list_events,
     {"status", "group", "limit", "after"}},
    {"POST",   "/events",                    access::publish, post_event, {}},
    {"POST",   "/events/batch",              access::publish, post_batch, {}},
    {"GET",    "/events/{id}",               access::read,    get_event, {}},
    {"GET",    "/failed-events",             access::read,    list_failed,
     {"group", "limit", "after"}},
    {"DELETE", "/failed-events",             access::admin,   purge_failed,
     {"group"}},
    {"GET",    "/failed-events/replay",      access::read,    replay_progress,
     {}},
    {"POST",   "/failed-events/replay",      access::admin,   replay_all, {}},
    {"GET",    "/failed-events/{id}",        access::read,    get_failed, {}},
    {"DELETE", "/failed-events/{id}",        access::admin,   delete_failed,
     {}},
    {"POST",   "/failed-events/{id}/replay", access::admin,   replay_one,
     {"group"}},
    {"GET",    "/groups",                    access::read,    list_groups,
     {"counts"}},
    {"POST",   "/groups/{name}/pause",       access::admin,   pause_group, {}},
    {"POST",   "/groups/{name}/resume",      access::admin,   resume_group,
     {}},
    {"POST",   "/events/{id}/cancel",        access::publish, cancel_event,
     {}},
    {"PATCH",  "/groups/{name}",             access::admin,   patch_group, {}},
    {"DELETE", "/groups/{name}/overrides",   access::admin,   reset_group, {}},
    {"GET",    "/cluster",                   access::read,    get_cluster, {}},
    {"GET",    "/stats",                     access::read,    get_stats,
     {"since"}},
    {"GET",    "/auth",                      access::open,    get_auth, {}},
    {"GET",    "/ui",                        access::open,    get_ui, {}},
    {"GET",    "/ui/{file}",                 access::open,    get_ui_file, {}},
    {"POST",   "/groups/{name}/listeners",   access::admin,   post_listeners,
     {}},
    {"DELETE", "/groups/{name}/listeners",   access::admin,   delete_listeners,
     {"node", "count"}},
  };
  // clang-format on
  return table;
}

namespace {

/// A route with its pattern split into segments (once, at first use).
struct compiled_route {
  const route* def;
  std::vector<std::string> segments;
  /// How many segments are literal (not `{parameters}`).
  size_t literals = 0;
};

const std::vector<compiled_route>& compiled_routes() {
  static const auto result = [] {
    std::vector<compiled_route> xs;
    for (auto& r : route_table()) {
      compiled_route c{&r, parse_target(r.pattern).segments};
      for (auto& seg : c.segments)
        if (seg.empty() || seg.front() != '{')
          ++c.literals;
      xs.push_back(std::move(c));
    }
    return xs;
  }();
  return result;
}

/// The values of the route's parameters if `path` matches its pattern.
std::optional<std::vector<std::string>>
match(const compiled_route& r, const std::vector<std::string>& path) {
  if (r.segments.size() != path.size())
    return std::nullopt;
  std::vector<std::string> params;
  for (size_t i = 0; i < path.size(); ++i) {
    auto& seg = r.segments[i];
    if (!seg.empty() && seg.front() == '{')
      params.push_back(path[i]);
    else if (seg != path[i])
      return std::nullopt;
  }
  return params;
}

} // namespace

void dispatch(const std::shared_ptr<api_context>& cx, const request& req,
              const responder& done) {
  auto t = parse_target(req.target);
  if (!t.ok) {
    done(error_body(400, "bad percent-encoding in the URL", "url"));
    return;
  }
  // The path's pattern: of those that match, the one with the most
  // literal segments.
  const compiled_route* best = nullptr;
  for (auto& r : compiled_routes())
    if ((!best || r.literals > best->literals) && match(r, t.segments))
      best = &r;
  if (!best) {
    done(error_body(404, "no route for " + req.method + " "
                           + req.target.substr(0, req.target.find('?'))));
    return;
  }
  std::string allow;
  for (auto& r : compiled_routes()) {
    if (std::string_view{r.def->pattern} != best->def->pattern)
      continue;
    if (req.method != r.def->method) {
      if (!allow.empty())
        allow += ", ";
      allow += r.def->method;
      continue;
    }
    if (auto refusal = authorize(cx->cfg.keys, req.authorization,
                                 r.def->role)) {
      done(std::move(*refusal));
      return;
    }
    std::string field;
    auto unknown = unknown_query_parameters(
      t, r.def->query, req.method + " " + r.def->pattern, field);
    if (!unknown.empty()) {
      done(error_body(400, unknown, field));
      return;
    }
    r.def->handler(cx, route_args{req, t, *match(r, t.segments)}, done);
    return;
  }
  auto r = error_body(405, "method " + req.method + " is not allowed here");
  r.headers.emplace_back("Allow", allow);
  done(std::move(r));
}

} // namespace onceflow::http
