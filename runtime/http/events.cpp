// The events routes: POST /events, POST /events/batch, GET /events/{id},
// GET /events?status= and POST /events/{id}/cancel (docs/http-api.md,
// Events).

#include "actors/logic/status.hpp"
#include "actors/logic/validation.hpp"
#include "actors/node_metrics.hpp"
#include "runtime/http/routes.hpp"
#include "runtime/http/views.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace onceflow::http {

namespace {

/// parse_event_object, then the rule for notBefore that needs the clock.
validation_result parse_submission(const json& doc,
                                   const validation_limits& lim) {
  auto v = parse_event_object(doc, lim);
  check_not_before(v, lim, wall_now());
  return v;
}

/// 200 for a submission whose id was accepted before.
response duplicate_answer(const std::string& id, const json& original) {
  return json_response(200, json{{"eventId", id},
                                 {"status", "duplicate"},
                                 {"original", original}});
}

} // namespace

void post_event(const std::shared_ptr<api_context>& cx, const route_args& args,
                const responder& done) {
  auto& req = args.req;
  json doc;
  if (!cx->parse_body(req, doc, done))
    return;
  if (!doc.is_object()) {
    cx->reject(done, "invalid", 400, "body must be a JSON object", "body");
    return;
  }
  if (!req.idempotency_key.empty()) {
    auto i = doc.find("id");
    if (i != doc.end() && !(i->is_string() && *i == req.idempotency_key)) {
      cx->reject(done, "invalid", 400,
                 "the body's id differs from the Idempotency-Key header", "id");
      return;
    }
    doc["id"] = req.idempotency_key;
  }
  if (doc.find("payload") == doc.end())
    doc["payload"] = json::object();
  auto v = parse_submission(doc, cx->limits);
  if (!v.ok) {
    auto field = v.field;
    if (!req.idempotency_key.empty() && field == "id")
      field = "Idempotency-Key";
    cx->reject(done, v.too_large ? "too_large" : "invalid",
               v.too_large ? 413u : 400u, field + " " + v.message, field);
    return;
  }
  auto id = v.ev.id;
  std::vector<event> evs;
  evs.push_back(std::move(v.ev));
  cx->gw->ingest(std::move(evs), [cx, done,
                                  id](caf::expected<std::vector<append_result>>
                                        rs) {
    if (!rs) {
      // Carry the id: after a timeout the event may be stored, and a
      // retry with the same id cannot create a second one.
      done(ingest_error(rs.error(), "eventId", id));
      return;
    }
    if (rs->empty()) {
      done(error_body(500, "the store answered without a result"));
      return;
    }
    auto r = std::move(rs->front());
    if (!r.duplicate) {
      done(json_response(202, json{{"eventId", r.id}, {"status", "accepted"}}));
      return;
    }
    // A duplicate: tell the original's status per group.
    cx->gw->run([cx, done, r](gateway_pointer gp) {
      gp->request(cx->node.store, call_timeout, atom::query_v, r.id)
        .then(
          [done, r](std::vector<group_status>& gs) {
            // No groups: the append's own answer tells an event of no
            // group's type (accepted) from one trimmed since (unknown).
            auto status = gs.empty() ? r.original : aggregate(gs);
            done(
              duplicate_answer(r.id, json{{"status", to_string(status)},
                                          {"groups", groups_status_json(gs)}}));
          },
          [done, r](caf::error&) {
            done(
              duplicate_answer(r.id, json{{"status", to_string(r.original)}}));
          });
    });
  });
}

void post_batch(const std::shared_ptr<api_context>& cx, const route_args& args,
                const responder& done) {
  json doc;
  if (!cx->parse_body(args.req, doc, done))
    return;
  const json* items = nullptr;
  if (doc.is_array()) {
    items = &doc;
  } else if (doc.is_object()) {
    auto i = doc.find("events");
    if (i == doc.end() || !i->is_array() || doc.size() != 1) {
      cx->reject(done, "invalid", 400,
                 "body must be {\"events\": [...]} or an array of events",
                 "events");
      return;
    }
    items = &*i;
  } else {
    cx->reject(done, "invalid", 400, "body must be {\"events\": [...]}",
               "events");
    return;
  }
  if (items->size() > cx->cfg.max_batch) {
    cx->reject(done, "too_large", 413,
               "batch of " + std::to_string(items->size())
                 + " events is over the limit of "
                 + std::to_string(cx->cfg.max_batch),
               "events");
    return;
  }
  auto results = std::make_shared<json>(json::array());
  std::vector<event> evs;
  std::vector<size_t> positions;
  size_t rejected = 0;
  for (size_t i = 0; i < items->size(); ++i) {
    const auto& item = (*items)[i];
    json out{{"index", i}};
    validation_result v;
    if (item.is_object() && item.find("payload") == item.end()) {
      auto copy = item;
      copy["payload"] = json::object();
      v = parse_submission(copy, cx->limits);
    } else {
      v = parse_submission(item, cx->limits);
    }
    if (!v.ok) {
      ++rejected;
      cx->count(metric::rejected,
                {{"reason", v.too_large ? "too_large" : "invalid"}});
      out["status"] = "rejected";
      out["error"] = v.field + " " + v.message;
      out["field"] = v.field;
      out["code"] = v.too_large ? 413 : 400;
    } else {
      out["eventId"] = v.ev.id;
      positions.push_back(i);
      evs.push_back(std::move(v.ev));
    }
    results->push_back(std::move(out));
  }
  auto finish = [results, rejected](const std::vector<append_result>& rs,
                                    const std::vector<size_t>& pos) {
    size_t accepted = 0;
    size_t duplicates = 0;
    for (size_t k = 0; k < pos.size() && k < rs.size(); ++k) {
      auto& out = (*results)[pos[k]];
      if (rs[k].duplicate) {
        ++duplicates;
        out["status"] = "duplicate";
        out["original"] = {{"status", to_string(rs[k].original)}};
      } else {
        ++accepted;
        out["status"] = "accepted";
      }
    }
    return json_response(200, json{{"accepted", accepted},
                                   {"duplicates", duplicates},
                                   {"rejected", rejected},
                                   {"results", std::move(*results)}});
  };
  if (evs.empty()) {
    done(finish({}, {}));
    return;
  }
  // The ids per item (null for rejected ones) go into error answers too:
  // after a timeout the events may be stored; a retry with the same ids
  // cannot create second ones.
  auto ids = json::array();
  for (auto& item : *results)
    ids.push_back(item.contains("eventId") ? item["eventId"] : json(nullptr));
  cx->gw->ingest(std::move(evs),
                 [done, finish, positions,
                  ids](caf::expected<std::vector<append_result>> rs) {
                   if (!rs) {
                     done(ingest_error(rs.error(), "eventIds", ids));
                     return;
                   }
                   done(finish(*rs, positions));
                 });
}

void get_event(const std::shared_ptr<api_context>& cx, const route_args& args,
               const responder& done) {
  auto& id = args.params[0];
  cx->call(
    cx->node.store, done,
    [cx, done, id](event_history& h) {
      if (h.ev.seq == 0) {
        done(error_body(404, "event '" + id + "' not found", "id"));
        return;
      }
      auto doc = event_json(h.ev);
      std::vector<group_status> gs;
      auto groups = json::array();
      for (auto& g : h.groups) {
        gs.push_back({g.group, g.status});
        json entry{{"group", g.group},
                   {"status", to_string(g.status)},
                   {"attempts", attempts_json(g.attempts)}};
        if (g.next_attempt_at > 0)
          entry["nextAttemptAt"] = g.next_attempt_at;
        groups.push_back(std::move(entry));
      }
      doc["status"] = to_string(aggregate(gs));
      doc["groups"] = std::move(groups);
      doc["acceptedBy"] = h.accepted_by.empty() ? json(nullptr)
                                                : json(h.accepted_by);
      doc["duplicates"] = duplicates_json(h);
      // The effect records of the groups whose handler keeps them.
      cx->call(
        cx->node.store, done,
        [done, doc](std::vector<processed_record>& effects) mutable {
          for (auto& g : doc["groups"])
            for (auto& e : effects)
              if (e.group == g["group"].get<std::string>())
                g["effect"]
                  = {{"at", e.at}, {"epoch", e.epoch}, {"attempt", e.attempt}};
          done(json_response(200, doc));
        },
        atom::processed_v, id);
    },
    atom::history_v, id);
}

void list_events(const std::shared_ptr<api_context>& cx, const route_args& args,
                 const responder& done) {
  auto& t = args.t;
  event_listing_query q;
  auto status = query_str(t, "status");
  if (!parse_event_status(status, q.status)
      || (q.status != event_status::processed && q.status != event_status::dead
          && q.status != event_status::retrying
          && q.status != event_status::scheduled
          && q.status != event_status::cancelled)) {
    done(error_body(400,
                    status.empty()
                      ? "query parameter status is required (processed, "
                        "dead, retrying, scheduled or cancelled)"
                      : "status must be processed, dead, retrying, scheduled "
                        "or cancelled (got '"
                          + status + "')",
                    "status"));
    return;
  }
  q.group = query_str(t, "group");
  auto limit = page_limit(t, done);
  if (!limit)
    return;
  // The cursor is "<seq>" or "<seq>:<group>" (a page that ended inside
  // the groups of one event): the store pages by seq, this cuts pages at
  // exactly `limit` items.
  uint64_t after = 0;
  std::string after_group;
  {
    auto cursor = query_str(t, "after");
    auto colon = cursor.find(':');
    target sub;
    if (t.query.count("after") > 0)
      sub.query["after"] = cursor.substr(0, colon);
    if (colon != std::string::npos)
      after_group = cursor.substr(colon + 1);
    if (!query_uint(sub, "after", after, 0, UINT64_MAX >> 1)
        || (colon != std::string::npos
            && (after_group.empty() || after == 0))) {
      done(bad_cursor());
      return;
    }
  }
  q.limit = *limit;
  q.after = after_group.empty() ? after : after - 1;
  auto answer = [done, limit = *limit, after,
                 after_group](event_listing& page) {
    auto arr = json::array();
    json next = page.next == 0 ? json(nullptr)
                               : json(std::to_string(page.next));
    size_t n = 0;
    for (auto& it : page.items) {
      if (!after_group.empty() && it.seq == after && it.group <= after_group)
        continue;
      if (n == limit) {
        auto& last = arr.back();
        next = std::to_string(last["seq"].get<uint64_t>()) + ":"
               + last["group"].get<std::string>();
        break;
      }
      ++n;
      arr.push_back({{"eventId", it.event_id},
                     {"group", it.group},
                     {"seq", it.seq},
                     {"type", it.type},
                     {"status", to_string(it.status)}});
    }
    json doc{{"events", std::move(arr)}};
    doc["next"] = std::move(next);
    done(json_response(200, doc));
  };
  // The MongoDB records page by seq as the store does: a cursor of one
  // goes on in the other.
  if (event_listing page; cx->listings.events && cx->listings.events(q, page)) {
    answer(page);
    return;
  }
  cx->call(cx->node.store, done, answer, atom::events_v, q);
}

void cancel_event(const std::shared_ptr<api_context>& cx,
                  const route_args& args, const responder& done) {
  auto& id = args.params[0];
  cx->call(
    cx->node.store, done,
    [done, id](cancel_result& r) {
      if (r.seq == 0) {
        done(error_body(404, "event '" + id + "' not found", "id"));
        return;
      }
      json doc{{"eventId", id},
               {"status", to_string(aggregate(r.groups))},
               {"cancelled", r.cancelled.size()},
               {"groups", groups_status_json(r.groups)}};
      if (!r.delayed) {
        doc["error"] = "event '" + id
                       + "' is not delayed: only delayed events can be "
                         "cancelled";
        done(json_response(409, doc));
        return;
      }
      bool any = !r.cancelled.empty();
      for (auto& g : r.groups)
        any |= g.status == event_status::cancelled;
      if (!any) {
        // Nothing to cancel: it started (or ran) in every group.
        doc["error"] = "event '" + id
                       + "' already started in every group: nothing was "
                         "cancelled";
        done(json_response(409, doc));
        return;
      }
      done(json_response(200, doc));
    },
    atom::cancel_v, id, wall_now());
}

} // namespace onceflow::http
