// The dashboard (docs/dashboard.md): its files, built into the binary
// (GET /ui), and the two endpoints only it needs besides the documented
// API: the node's recent samples (GET /stats) and what a key may do
// (GET /auth).

#include "config/api_keys.hpp"
#include "runtime/http/auth.hpp"
#include "runtime/http/response.hpp"
#include "runtime/http/routes.hpp"
#include "runtime/http/stats.hpp"
#include "ui_files.hpp"

#include <string>

namespace onceflow::http {

namespace {

response file_response(const ui_files::file& f) {
  response r;
  r.content_type = std::string{f.content_type};
  r.body = std::string{f.text};
  // Everything the page runs comes from this node: no inline scripts, no
  // other origin.
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; img-src 'self' data:; "
                         "frame-ancestors 'none'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

} // namespace

void get_ui(const std::shared_ptr<api_context>&, const route_args&,
            const responder& done) {
  if (auto* f = ui_files::find("index.html"))
    done(file_response(*f));
  else
    done(error_body(404, "the dashboard is not in this build"));
}

void get_ui_file(const std::shared_ptr<api_context>&, const route_args& args,
                 const responder& done) {
  auto& name = args.params[0];
  if (auto* f = ui_files::find(name))
    done(file_response(*f));
  else
    done(error_body(404, "no file '" + name + "' in the dashboard", "file"));
}

void get_stats(const std::shared_ptr<api_context>& cx, const route_args& args,
               const responder& done) {
  uint64_t since = 0;
  if (!query_uint(args.t, "since", since, 0, UINT64_MAX >> 1)) {
    done(
      error_body(400, "since must be a time in ms since the epoch", "since"));
    return;
  }
  json doc = cx->stats ? cx->stats->series(static_cast<millis_t>(since))
                       : json{{"intervalMs", stats_sampler::interval_ms},
                              {"samples", json::array()}};
  doc["node"] = cx->node_name;
  doc["now"] = wall_now();
  done(json_response(200, doc));
}

void get_auth(const std::shared_ptr<api_context>& cx, const route_args& args,
              const responder& done) {
  // Always 200 (the page asks before it has a key): a missing or unknown
  // key has no roles, and `error` says which. Without keys every call may
  // do everything.
  auto& keys = cx->cfg.keys;
  auto& authorization = args.req.authorization;
  auto check = check_api_key(keys, presented_key(authorization),
                             api_role::read);
  bool known = check.verdict != key_verdict::missing
               && check.verdict != key_verdict::unknown;
  auto roles = json::array();
  if (known)
    for (auto r : {api_role::publish, api_role::read, api_role::admin})
      if (check.key == nullptr || check.key->has(r))
        roles.push_back(to_string(r));
  json doc{{"keys", !keys.empty()},
           {"name",
            check.key != nullptr ? json(check.key->name) : json(nullptr)},
           {"roles", std::move(roles)}};
  if (!known)
    doc["error"] = unknown_key_text(authorization);
  done(json_response(200, doc));
}

} // namespace onceflow::http
