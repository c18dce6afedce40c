// The groups routes: the listing, pause/resume and run-time changes of a
// group's settings (docs/http-api.md, Groups).

#include "actors/node_metrics.hpp"
#include "runtime/http/routes.hpp"
#include "runtime/http/views.hpp"

#include <caf/settings.hpp>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace onceflow::http {

namespace {

/// A setting's name in the HTTP API (PATCH bodies, `sources`).
const char* api_name(group_setting s) {
  switch (s) {
    case group_setting::paused:
      return "paused";
    case group_setting::rate:
      return "rateLimit";
    case group_setting::burst:
      return "rateBurst";
    case group_setting::concurrency:
      return "concurrency";
  }
  return "?";
}

/// A group of GET /groups, from the group's part of the broadcaster's
/// status.
json group_json(const std::string& name, const caf::settings& g,
                const std::shared_ptr<metrics_registry>& m) {
  auto subs = caf::get_or(g, "subscriptions", std::vector<std::string>{});
  json sources = json::object();
  for (auto s : all_group_settings)
    sources[api_name(s)] = caf::get_or(g, std::string{"source."} + to_string(s),
                                       "config");
  return {{"name", name},
          {"handler", caf::get_or(g, "handler", "")},
          {"paused", number_of(g, "paused") != 0},
          {"subscriptions", subs},
          {"listeners", static_cast<uint64_t>(number_of(g, "listeners"))},
          {"concurrency", static_cast<uint64_t>(number_of(g, "concurrency"))},
          {"rateLimit", number_of(g, "rate-limit")},
          {"rateBurst", number_of(g, "rate-burst")},
          {"sources", std::move(sources)},
          {"depth", static_cast<uint64_t>(number_of(g, "unsettled"))},
          {"queued", static_cast<uint64_t>(number_of(g, "queued"))},
          {"inFlight", static_cast<uint64_t>(number_of(g, "in-flight"))},
          {"dispatched", static_cast<uint64_t>(number_of(g, "dispatched"))},
          {"settled", static_cast<uint64_t>(number_of(g, "settled"))},
          {"processed",
           m ? m->counter_sum(metric::processed, "group", name) : 0},
          {"retried", m ? m->counter_sum(metric::retried, "group", name) : 0},
          {"failed", m ? m->counter_sum(metric::dead, "group", name) : 0},
          {"ratePerSecond", number_of(g, "rate")}};
}

void set_paused(const api_context& cx, const std::string& name, bool pause,
                const responder& done) {
  cx.call(
    cx.node.broadcaster, done,
    [done, name](bool paused) {
      done(json_response(200, json{{"group", name}, {"paused", paused}}));
    },
    atom::pause_v, name, pause);
}

/// Sends a change of the group's overrides; answers 200 with the group as
/// GET /groups shows it.
void change_group(const std::shared_ptr<api_context>& cx,
                  group_overrides change, uint8_t clear,
                  const responder& done) {
  auto m = cx->metrics;
  auto name = change.group;
  cx->call(
    cx->node.broadcaster, done,
    [done, m, name](caf::settings& g) {
      done(json_response(200, group_json(name, g, m)));
    },
    atom::overrides_v, std::move(change), clear);
}

/// Reads one setting of a PATCH body into `change` (or `clear` for null);
/// false after answering 400.
bool read_setting(group_setting s, const json& value, group_overrides& change,
                  uint8_t& clear, const responder& done) {
  auto name = api_name(s);
  if (value.is_null()) {
    clear |= bit(s);
    return true;
  }
  auto refuse = [&](const char* what) {
    done(error_body(400,
                    std::string{name} + " must be " + what
                      + ", or null to go back to the config's value",
                    name));
    return false;
  };
  switch (s) {
    case group_setting::paused:
      if (!value.is_boolean())
        return refuse("true or false");
      change.paused = value.get<bool>();
      break;
    case group_setting::concurrency: {
      if (!value.is_number_integer())
        return refuse("an integer (1 to 1024)");
      auto n = value.get<int64_t>();
      // Out of range: check() names the rule.
      change.concurrency = n >= 1 && n <= 1024 ? static_cast<uint32_t>(n) : 0;
      break;
    }
    case group_setting::rate:
    case group_setting::burst:
      if (!value.is_number())
        return refuse(s == group_setting::rate
                        ? "a number of events/s (0: unlimited)"
                        : "a number (0: the rate)");
      (s == group_setting::rate ? change.rate : change.burst)
        = value.get<double>();
      break;
  }
  change.fields |= bit(s);
  return true;
}

} // namespace

namespace {

/// Adds each group's DLQ size (`dlq`) and scheduled retries (`retries`)
/// from the store, then answers (null where the store did not answer).
void answer_with_counts(const std::shared_ptr<api_context>& cx, json groups,
                        const responder& done) {
  struct pending {
    json groups;
    size_t left = 0;
    responder done;
  };
  auto p = std::make_shared<pending>();
  p->groups = std::move(groups);
  p->done = done;
  p->left = p->groups.size() * 2;
  if (p->left == 0) {
    done(json_response(200, json{{"groups", std::move(p->groups)}}));
    return;
  }
  auto store = cx->node.store;
  cx->gw->run([p, store](gateway_pointer gp) {
    auto finish = [p] {
      if (--p->left == 0)
        p->done(json_response(200, json{{"groups", std::move(p->groups)}}));
    };
    for (size_t i = 0; i < p->groups.size(); ++i) {
      auto name = p->groups[i]["name"].get<std::string>();
      auto set = [p, i, finish](const char* field, json value) {
        p->groups[i][field] = std::move(value);
        finish();
      };
      gp->request(store, call_timeout, atom::count_v, name)
        .then([set](uint64_t n) { set("dlq", n); },
              [set](caf::error&) { set("dlq", nullptr); });
      gp->request(store, call_timeout, atom::count_v, atom::schedule_v, name)
        .then([set](uint64_t n) { set("retries", n); },
              [set](caf::error&) { set("retries", nullptr); });
    }
  });
}

} // namespace

void list_groups(const std::shared_ptr<api_context>& cx, const route_args& args,
                 const responder& done) {
  auto m = cx->metrics;
  auto counts = query_str(args.t, "counts");
  if (!counts.empty() && counts != "true" && counts != "false") {
    done(error_body(400, "counts must be true or false", "counts"));
    return;
  }
  cx->call(
    cx->node.broadcaster, done,
    [cx, done, m, counts = counts == "true"](caf::settings& s) {
      auto arr = json::array();
      for_each_group(s, [&](const std::string& name, const caf::settings& g) {
        arr.push_back(group_json(name, g, m));
      });
      if (counts)
        answer_with_counts(cx, std::move(arr), done);
      else
        done(json_response(200, json{{"groups", std::move(arr)}}));
    },
    atom::status_v);
}

void patch_group(const std::shared_ptr<api_context>& cx, const route_args& args,
                 const responder& done) {
  json doc;
  if (!cx->parse_object_body(args.req, doc, done))
    return;
  group_overrides change;
  change.group = args.params[0];
  uint8_t clear = 0;
  for (auto& [key, value] : doc.items()) {
    auto s = std::find_if(
      std::begin(all_group_settings), std::end(all_group_settings),
      [&name = key](group_setting x) { return name == api_name(x); });
    if (s == std::end(all_group_settings)) {
      done(error_body(400,
                      "unknown field '" + key
                        + "' (expected paused, concurrency, rateLimit, "
                          "rateBurst)",
                      key));
      return;
    }
    if (!read_setting(*s, value, change, clear, done))
      return;
  }
  if (change.fields == 0 && clear == 0) {
    done(error_body(400,
                    "nothing to change: give paused, concurrency, rateLimit "
                    "or rateBurst (null goes back to the config's value)",
                    "body"));
    return;
  }
  if (auto problem = check(change); !problem.empty()) {
    done(error_body(400, problem.message, problem.field));
    return;
  }
  change_group(cx, std::move(change), clear, done);
}

void reset_group(const std::shared_ptr<api_context>& cx, const route_args& args,
                 const responder& done) {
  group_overrides none;
  none.group = args.params[0];
  change_group(cx, std::move(none), every_group_setting, done);
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
