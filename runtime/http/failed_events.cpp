// The failed events routes: the DLQ listing, one event's entries, replay
// (one event or all, with progress), delete one event's entries and purge
// (one group's or all) (docs/http-api.md, Failed events).

#include "runtime/http/routes.hpp"
#include "runtime/http/views.hpp"

#include <caf/settings.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace onceflow::http {

namespace {

response not_in_dlq(const std::string& id) {
  return error_body(404, "event '" + id + "' is not in the DLQ", "id");
}

/// Answers a DLQ call that tells how many entries of `id` it changed: 404
/// for none, else 200 `{"eventId": id, key: n}`.
auto changed_entries(const std::string& id, const char* key,
                     const responder& done) {
  return [done, id, key](uint64_t n) {
    if (n == 0) {
      done(not_in_dlq(id));
      return;
    }
    done(json_response(200, json{{"eventId", id}, {key, n}}));
  };
}

} // namespace

void list_failed(const std::shared_ptr<api_context>& cx, const route_args& args,
                 const responder& done) {
  auto& t = args.t;
  dlq_query q;
  q.group = query_str(t, "group");
  uint64_t after = 0;
  auto limit = page_limit(t, done);
  if (!limit)
    return;
  // A cursor of the MongoDB archive is "m<position>" (its positions are
  // not the store's): it goes on in the archive.
  auto cursor = query_str(t, "after");
  bool archive = !cursor.empty() && cursor[0] == 'm';
  target sub;
  if (t.query.count("after") > 0)
    sub.query["after"] = archive ? cursor.substr(1) : cursor;
  if (!query_uint(sub, "after", after, 0, UINT64_MAX >> 1)
      || (archive && !cx->listings.failed)) {
    done(bad_cursor());
    return;
  }
  q.limit = *limit;
  q.after = after;
  auto answer = [done, q](const char* prefix, dlq_page& page) {
    auto arr = json::array();
    for (auto& e : page.entries)
      arr.push_back({{"eventId", e.dl.ev.id},
                     {"group", e.dl.group},
                     {"type", e.dl.ev.type},
                     {"reason", to_string(e.reason)},
                     {"error", e.last_error},
                     {"deadAt", e.dead_at},
                     {"attempts", e.dl.history.size()}});
    json doc{{"events", std::move(arr)}};
    doc["next"] = page.entries.size() >= q.limit && !page.positions.empty()
                    ? json(prefix + std::to_string(page.positions.back()))
                    : json(nullptr);
    done(json_response(200, doc));
  };
  if (cx->listings.failed && (archive || after == 0)) {
    if (dlq_page page; cx->listings.failed(q, page)) {
      answer("m", page);
      return;
    }
    if (archive) {
      done(error_body(503,
                      "the cursor is one of the MongoDB archive "
                      "(dead_letters), which cannot be read now: try again, "
                      "or start over without 'after' (the store answers)",
                      "after"));
      return;
    }
  }
  cx->call(
    cx->node.dlq, done, [answer](dlq_page& page) { answer("", page); },
    atom::list_v, q);
}

void get_failed(const std::shared_ptr<api_context>& cx, const route_args& args,
                const responder& done) {
  auto& id = args.params[0];
  cx->call(
    cx->node.dlq, done,
    [done, id](std::vector<dlq_entry>& es) {
      if (es.empty()) {
        done(not_in_dlq(id));
        return;
      }
      auto arr = json::array();
      for (auto& e : es)
        arr.push_back({{"group", e.dl.group},
                       {"reason", to_string(e.reason)},
                       {"error", e.last_error},
                       {"deadAt", e.dead_at},
                       {"event", event_json(e.dl.ev)},
                       {"attempts", attempts_json(e.dl.history)}});
      done(
        json_response(200, json{{"eventId", id}, {"entries", std::move(arr)}}));
    },
    atom::inspect_v, id);
}

void replay_one(const std::shared_ptr<api_context>& cx, const route_args& args,
                const responder& done) {
  auto& id = args.params[0];
  auto group = query_str(args.t, "group");
  cx->call(cx->node.dlq, done, changed_entries(id, "replayed", done),
           atom::replay_v, id, group);
}

void replay_all(const std::shared_ptr<api_context>& cx, const route_args& args,
                const responder& done) {
  auto& req = args.req;
  double rate = 100;
  std::string group;
  if (!req.body.empty()) {
    json doc;
    if (!cx->parse_object_body(req, doc, done))
      return;
    for (auto& [key, value] : doc.items()) {
      if (key == "rate") {
        if (!value.is_number() || !(value.get<double>() > 0)
            || value.get<double>() > 1e6) {
          done(error_body(400,
                          "rate must be a number of events/s in "
                          "(0, 1000000]",
                          "rate"));
          return;
        }
        rate = value.get<double>();
      } else if (key == "group") {
        if (!value.is_string()) {
          done(error_body(400, "group must be a string", "group"));
          return;
        }
        group = value.get<std::string>();
      } else {
        done(error_body(
          400, "unknown field '" + key + "' (expected rate, group)", key));
        return;
      }
    }
  }
  cx->call(
    cx->node.dlq, done,
    [done, rate](uint64_t n) {
      done(json_response(202, json{{"replaying", n}, {"rate", rate}}));
    },
    atom::replay_all_v, rate, group);
}

void replay_progress(const std::shared_ptr<api_context>& cx, const route_args&,
                     const responder& done) {
  cx->call(
    cx->node.dlq, done,
    [done](caf::settings& s) {
      auto d = caf::get_or(s, "dlq", caf::settings{});
      json doc{{"active", number_of(d, "replay-active") != 0},
               {"total", static_cast<uint64_t>(number_of(d, "replay-total"))},
               {"replayed", static_cast<uint64_t>(number_of(d, "replay-done"))},
               {"rate", number_of(d, "replay-rate")},
               {"group", caf::get_or(d, "replay-group", "")}};
      done(json_response(200, doc));
    },
    atom::status_v);
}

void delete_failed(const std::shared_ptr<api_context>& cx,
                   const route_args& args, const responder& done) {
  auto& id = args.params[0];
  cx->call(cx->node.dlq, done, changed_entries(id, "deleted", done),
           atom::purge_v, id);
}

void purge_failed(const std::shared_ptr<api_context>& cx,
                  const route_args& args, const responder& done) {
  auto& t = args.t;
  auto group = query_str(t, "group");
  if (t.query.count("group") > 0 && group.empty()) {
    // Not "everything": a client that lost its group name must not purge
    // the whole DLQ.
    done(error_body(400,
                    "group must name a group (no group purges the whole "
                    "DLQ)",
                    "group"));
    return;
  }
  cx->call(
    cx->node.dlq, done,
    [done, group](uint64_t n) {
      json doc{{"purged", n}};
      if (!group.empty())
        doc["group"] = group;
      done(json_response(200, doc));
    },
    atom::purge_v, atom::groups_v, group);
}

} // namespace onceflow::http
