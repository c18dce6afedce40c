#pragma once

#include "runtime/http/api.hpp"
#include "runtime/http/auth.hpp"
#include "runtime/http/context.hpp"
#include "runtime/http/target.hpp"

#include <memory>
#include <string>
#include <vector>

namespace onceflow::http {

/// One request on its way to its handler.
struct route_args {
  const request& req;
  const target& t;
  /// The values of the route pattern's `{parameters}`, in order.
  std::vector<std::string> params;
};

/// Answers one request through `done` (exactly once, or never: then the
/// api answers 503 for it).
using route_handler = void (*)(const std::shared_ptr<api_context>& cx,
                               const route_args& args, const responder& done);

/// One endpoint of docs/http-api.md.
struct route {
  const char* method;
  /// "/events/{id}": literal segments and `{parameters}`, one segment each.
  const char* pattern;
  access role;
  route_handler handler;
  /// The query parameters it takes; any other is a 400 naming it.
  std::vector<std::string> query;
};

/// Every endpoint, with its role (runtime/http/routes.cpp).
const std::vector<route>& route_table();

/// Answers one request: 400 for a bad URL, 404 for no route, 405 (with
/// `Allow`) for a known path and another method, 401/403 from the role
/// check, 400 for a query parameter the route does not take, else the
/// route's handler.
void dispatch(const std::shared_ptr<api_context>& cx, const request& req,
              const responder& done);

// -- events (runtime/http/events.cpp) -----------------------------------------

/// POST /events
void post_event(const std::shared_ptr<api_context>& cx, const route_args& args,
                const responder& done);

/// POST /events/batch
void post_batch(const std::shared_ptr<api_context>& cx, const route_args& args,
                const responder& done);

/// GET /events/{id}
void get_event(const std::shared_ptr<api_context>& cx, const route_args& args,
               const responder& done);

/// GET /events?status=&group=&limit=&after=
void list_events(const std::shared_ptr<api_context>& cx, const route_args& args,
                 const responder& done);

/// POST /events/{id}/cancel
void cancel_event(const std::shared_ptr<api_context>& cx,
                  const route_args& args, const responder& done);

// -- failed events (runtime/http/failed_events.cpp) ---------------------------

/// GET /failed-events?group=&limit=&after=
void list_failed(const std::shared_ptr<api_context>& cx, const route_args& args,
                 const responder& done);

/// GET /failed-events/{id}
void get_failed(const std::shared_ptr<api_context>& cx, const route_args& args,
                const responder& done);

/// POST /failed-events/{id}/replay[?group=]
void replay_one(const std::shared_ptr<api_context>& cx, const route_args& args,
                const responder& done);

/// POST /failed-events/replay
void replay_all(const std::shared_ptr<api_context>& cx, const route_args& args,
                const responder& done);

/// GET /failed-events/replay
void replay_progress(const std::shared_ptr<api_context>& cx,
                     const route_args& args, const responder& done);

/// DELETE /failed-events[?group=]
void purge_failed(const std::shared_ptr<api_context>& cx,
                  const route_args& args, const responder& done);

/// DELETE /failed-events/{id}
void delete_failed(const std::shared_ptr<api_context>& cx,
                   const route_args& args, const responder& done);

// -- groups (runtime/http/groups.cpp) -----------------------------------------

/// GET /cluster: the membership view and this node's actors.
void get_cluster(const std::shared_ptr<api_context>& cx, const route_args& args,
                 const responder& done);

/// POST /groups/{name}/listeners {"node": N, "count": K}: K more listeners
/// of the group on node N (default: this node).
void post_listeners(const std::shared_ptr<api_context>& cx,
                    const route_args& args, const responder& done);

/// DELETE /groups/{name}/listeners?node=N&count=K: K fewer.
void delete_listeners(const std::shared_ptr<api_context>& cx,
                      const route_args& args, const responder& done);

/// GET /groups
void list_groups(const std::shared_ptr<api_context>& cx, const route_args& args,
                 const responder& done);

/// PATCH /groups/{name}: run-time overrides of the group's settings.
void patch_group(const std::shared_ptr<api_context>& cx, const route_args& args,
                 const responder& done);

/// DELETE /groups/{name}/overrides: back to the config's values.
void reset_group(const std::shared_ptr<api_context>& cx, const route_args& args,
                 const responder& done);

/// POST /groups/{name}/pause
void pause_group(const std::shared_ptr<api_context>& cx, const route_args& args,
                 const responder& done);

/// POST /groups/{name}/resume
void resume_group(const std::shared_ptr<api_context>& cx,
                  const route_args& args, const responder& done);

// -- operations (runtime/http/operations.cpp) ---------------------------------

/// GET /metrics
void get_metrics(const std::shared_ptr<api_context>& cx, const route_args& args,
                 const responder& done);

/// GET /health
void health(const std::shared_ptr<api_context>& cx, const route_args& args,
            const responder& done);

/// GET /ready
void ready(const std::shared_ptr<api_context>& cx, const route_args& args,
           const responder& done);

// -- the dashboard (runtime/http/ui.cpp) --------------------------------------

/// GET /ui: the dashboard's page.
void get_ui(const std::shared_ptr<api_context>& cx, const route_args& args,
            const responder& done);

/// GET /ui/{file}: its script and style.
void get_ui_file(const std::shared_ptr<api_context>& cx, const route_args& args,
                 const responder& done);

/// GET /stats?since=: the node's samples of the last ten minutes.
void get_stats(const std::shared_ptr<api_context>& cx, const route_args& args,
               const responder& done);

/// GET /auth: whether the API has keys, and the presented key's roles.
void get_auth(const std::shared_ptr<api_context>& cx, const route_args& args,
              const responder& done);

} // namespace onceflow::http
