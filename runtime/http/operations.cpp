// The operations routes: GET /metrics, GET /health and GET /ready
// (docs/http-api.md, Metrics and Health).

#include "actors/node_metrics.hpp"
#include "runtime/http/routes.hpp"
#include "runtime/http/views.hpp"

#include <caf/settings.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace onceflow::http {

void get_metrics(const std::shared_ptr<api_context>& cx, const route_args&,
                 const responder& done) {
  // Gauges from the broadcaster's and the store's status, then the text.
  cx->call(
    cx->node.broadcaster, done,
    [cx, done](caf::settings& bs) {
      std::vector<gauge_sample> gauges;
      for_each_group(bs, [&](const std::string& name, const caf::settings& g) {
        metric_labels l{{"group", name}};
        gauges.push_back({metric::queue_depth, l, number_of(g, "unsettled")});
        gauges.push_back({metric::in_flight, l, number_of(g, "in-flight")});
        gauges.push_back({metric::listeners, l, number_of(g, "listeners")});
        gauges.push_back({metric::paused, l, number_of(g, "paused")});
      });
      cx->call(
        cx->node.store, done,
        [cx, done, gauges](caf::settings& ss) mutable {
          auto st = caf::get_or(ss, "store", caf::settings{});
          if (st.count("dlq-size") > 0)
            gauges.push_back({metric::dlq_size, {}, number_of(st, "dlq-size")});
          if (st.count("delayed") > 0)
            gauges.push_back({metric::delayed, {}, number_of(st, "delayed")});
          response r;
          r.content_type = "text/plain; version=0.0.4; charset=utf-8";
          r.body = cx->metrics ? cx->metrics->render(gauges) : std::string{};
          done(std::move(r));
        },
        atom::status_v);
    },
    atom::status_v);
}

void health(const std::shared_ptr<api_context>& cx, const route_args&,
            const responder& done) {
  cx->gw->run([cx, done](gateway_pointer gp) {
    gp->request(cx->node.broadcaster, probe_timeout, atom::status_v)
      .then(
        [done](caf::settings&) {
          done(json_response(200, json{{"status", "ok"}}));
        },
        [done](caf::error&) {
          done(json_response(503, json{{"status", "failing"},
                                       {"failed", "broadcaster"}}));
        });
  });
}

void ready(const std::shared_ptr<api_context>& cx, const route_args&,
           const responder& done) {
  cx->gw->run([cx, done](gateway_pointer gp) {
    auto checks = std::make_shared<json>(json::object());
    auto failed = std::make_shared<json>(json::array());
    // Every store actor (on Redis each has its own connection, with its
    // own reconnect backoff): ready only when all of them reach the
    // store.
    std::vector<store_actor> stores{cx->node.store};
    auto add_store = [&](const store_actor& x) {
      if (std::find(stores.begin(), stores.end(), x) == stores.end())
        stores.push_back(x);
    };
    add_store(cx->node.ingest_store);
    for (auto& x : cx->node.lease_stores)
      add_store(x);
    auto remaining = std::make_shared<int>(static_cast<int>(stores.size()) + 1);
    auto finish = [done, checks, failed, remaining] {
      if (--*remaining > 0)
        return;
      if (failed->empty())
        done(
          json_response(200, json{{"status", "ready"}, {"checks", *checks}}));
      else
        done(json_response(503, json{{"status", "not ready"},
                                     {"failed", *failed},
                                     {"checks", *checks}}));
    };
    (*checks)["store"] = "ok";
    for (auto& c : cx->checks) {
      auto problem = c.probe();
      (*checks)[c.name] = problem.empty() ? std::string{"ok"} : problem;
      if (!problem.empty())
        failed->push_back(c.name);
    }
    for (auto& x : stores)
      gp->request(x, probe_timeout, atom::ping_v)
        .then([finish](bool) { finish(); },
              [checks, failed, finish](caf::error& err) {
                if ((*checks)["store"] == "ok") {
                  (*checks)["store"] = render(err);
                  failed->push_back("store");
                }
                finish();
              });
    gp->request(cx->node.broadcaster, probe_timeout, atom::status_v)
      .then(
        [checks, failed, finish](caf::settings& s) {
          auto draining = caf::get_or(s, "broadcaster.draining", false);
          (*checks)["draining"] = draining ? "yes" : "no";
          if (draining)
            failed->push_back("draining");
          // Appends failing although the store answers pings (the check
          // shows only while they fail).
          auto appends = caf::get_or(s, "broadcaster.append-error",
                                     std::string{});
          if (!appends.empty()) {
            (*checks)["appends"] = appends;
            failed->push_back("appends");
          }
          // The groups cannot be registered (appends are refused).
          auto groups = caf::get_or(s, "broadcaster.groups-error",
                                    std::string{});
          if (!groups.empty()) {
            (*checks)["groups"] = groups;
            failed->push_back("groups");
          }
          finish();
        },
        [checks, failed, finish](caf::error& err) {
          (*checks)["broadcaster"] = render(err);
          failed->push_back("broadcaster");
          finish();
        });
  });
}

} // namespace onceflow::http
