// The groups routes: the listing and pause/resume (docs/http-api.md,
// Groups).

#include "actors/node_metrics.hpp"
#include "runtime/http/routes.hpp"
#include "runtime/http/views.hpp"

#include <caf/settings.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace onceflow::http {

namespace {

void set_paused(const api_context& cx, const std::string& name, bool pause,
                const responder& done) {
  cx.call(
    cx.node.broadcaster, done,
    [done, name](bool paused) {
      done(json_response(200, json{{"group", name}, {"paused", paused}}));
    },
    atom::pause_v, name, pause);
}

} // namespace

void list_groups(const std::shared_ptr<api_context>& cx, const route_args&,
                 const responder& done) {
  auto m = cx->metrics;
  cx->call(
    cx->node.broadcaster, done,
    [done, m](caf::settings& s) {
      auto arr = json::array();
      for_each_group(s, [&](const std::string& name, const caf::settings& g) {
        auto subs = caf::get_or(g, "subscriptions", std::vector<std::string>{});
        arr.push_back(
          {{"name", name},
           {"handler", caf::get_or(g, "handler", "")},
           {"paused", number_of(g, "paused") != 0},
           {"subscriptions", subs},
           {"listeners", static_cast<uint64_t>(number_of(g, "listeners"))},
           {"depth", static_cast<uint64_t>(number_of(g, "unsettled"))},
           {"queued", static_cast<uint64_t>(number_of(g, "queued"))},
           {"inFlight", static_cast<uint64_t>(number_of(g, "in-flight"))},
           {"dispatched", static_cast<uint64_t>(number_of(g, "dispatched"))},
           {"settled", static_cast<uint64_t>(number_of(g, "settled"))},
           {"processed",
            m ? m->counter_sum(metric::processed, "group", name) : 0},
           {"retried", m ? m->counter_sum(metric::retried, "group", name) : 0},
           {"failed", m ? m->counter_sum(metric::dead, "group", name) : 0},
           {"ratePerSecond", number_of(g, "rate")}});
      });
      done(json_response(200, json{{"groups", std::move(arr)}}));
    },
    atom::status_v);
}

void pause_group(const std::shared_ptr<api_context>& cx, const route_args& args,
                 const responder& done) {
  set_paused(*cx, args.params[0], true, done);
}

void resume_group(const std::shared_ptr<api_context>& cx,
                  const route_args& args, const responder& done) {
  set_paused(*cx, args.params[0], false, done);
}

} // namespace onceflow::http
