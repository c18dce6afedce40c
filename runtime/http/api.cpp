#include "runtime/http/api.hpp"

#include "actors/logic/validation.hpp"
#include "actors/node_metrics.hpp"
#include "adapters/codec.hpp"
#include "runtime/http/auth.hpp"
#include "runtime/http/context.hpp"
#include "runtime/http/response.hpp"
#include "runtime/http/target.hpp"
#include "runtime/http/views.hpp"

#include <caf/settings.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

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

/// 200 for a submission whose id was accepted before.
response duplicate_answer(const std::string& id, const json& original) {
  return json_response(200, json{{"eventId", id},
                                 {"status", "duplicate"},
                                 {"original", original}});
}

} // namespace

struct api::impl : api_context, std::enable_shared_from_this<api::impl> {
  // -- events -----------------------------------------------------------------

  void post_event(const request& req, const responder& done) {
    json doc;
    if (!parse_body(req, doc, done))
      return;
    if (!doc.is_object()) {
      reject(done, "invalid", 400, "body must be a JSON object", "body");
      return;
    }
    if (!req.idempotency_key.empty()) {
      auto i = doc.find("id");
      if (i != doc.end() && !(i->is_string() && *i == req.idempotency_key)) {
        reject(done, "invalid", 400,
               "the body's id differs from the Idempotency-Key header", "id");
        return;
      }
      doc["id"] = req.idempotency_key;
    }
    if (doc.find("payload") == doc.end())
      doc["payload"] = json::object();
    auto v = parse_event_object(doc, limits);
    if (!v.ok) {
      auto field = v.field;
      if (!req.idempotency_key.empty() && field == "id")
        field = "Idempotency-Key";
      reject(done, v.too_large ? "too_large" : "invalid",
             v.too_large ? 413u : 400u, field + " " + v.message, field);
      return;
    }
    auto self = shared_from_this();
    auto id = v.ev.id;
    std::vector<event> evs;
    evs.push_back(std::move(v.ev));
    gw->ingest(std::move(evs), [self, done, id](
                                 caf::expected<std::vector<append_result>> rs) {
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
        done(json_response(202,
                           json{{"eventId", r.id}, {"status", "accepted"}}));
        return;
      }
      // A duplicate: tell the original's status per group.
      self->gw->run([self, done, r](gateway_pointer gp) {
        gp->request(self->node.store, call_timeout, atom::query_v, r.id)
          .then(
            [done, r](std::vector<group_status>& gs) {
              // No groups: the append's own answer tells an event of no
              // group's type (accepted) from one trimmed since (unknown).
              auto status = gs.empty() ? r.original : codec::aggregate(gs);
              done(duplicate_answer(
                r.id, json{{"status", to_string(status)},
                           {"groups", groups_status_json(gs)}}));
            },
            [done, r](caf::error&) {
              done(duplicate_answer(
                r.id, json{{"status", to_string(r.original)}}));
            });
      });
    });
  }

  void post_batch(const request& req, const responder& done) {
    json doc;
    if (!parse_body(req, doc, done))
      return;
    const json* items = nullptr;
    if (doc.is_array()) {
      items = &doc;
    } else if (doc.is_object()) {
      auto i = doc.find("events");
      if (i == doc.end() || !i->is_array() || doc.size() != 1) {
        reject(done, "invalid", 400,
               "body must be {\"events\": [...]} or an array of events",
               "events");
        return;
      }
      items = &*i;
    } else {
      reject(done, "invalid", 400, "body must be {\"events\": [...]}",
             "events");
      return;
    }
    if (items->size() > cfg.max_batch) {
      reject(done, "too_large", 413,
             "batch of " + std::to_string(items->size())
               + " events is over the limit of "
               + std::to_string(cfg.max_batch),
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
        v = parse_event_object(copy, limits);
      } else {
        v = parse_event_object(item, limits);
      }
      if (!v.ok) {
        ++rejected;
        count(metric::rejected,
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
    gw->ingest(std::move(evs),
               [done, finish, positions, ids](
                 caf::expected<std::vector<append_result>> rs) {
                 if (!rs) {
                   done(ingest_error(rs.error(), "eventIds", ids));
                   return;
                 }
                 done(finish(*rs, positions));
               });
  }

  void get_event(const std::string& id, const responder& done) {
    call(node.store, done,
      [done, id](event_history& h) {
        if (h.ev.seq == 0) {
          done(error_body(404, "event '" + id + "' not found", "id"));
          return;
        }
        auto doc = event_json(h.ev);
        std::vector<group_status> gs;
        auto groups = json::array();
        for (auto& g : h.groups) {
          gs.push_back({g.group, g.status});
          groups.push_back({{"group", g.group},
                            {"status", to_string(g.status)},
                            {"attempts", attempts_json(g.attempts)}});
        }
        doc["status"] = to_string(codec::aggregate(gs));
        doc["groups"] = std::move(groups);
        done(json_response(200, doc));
      },
      atom::history_v, id);
  }

  void list_events(const target& t, const responder& done) {
    event_listing_query q;
    auto status = query_str(t, "status");
    if (status == "processed")
      q.status = event_status::processed;
    else if (status == "dead")
      q.status = event_status::dead;
    else if (status == "retrying")
      q.status = event_status::retrying;
    else {
      done(error_body(400,
                      status.empty()
                        ? "query parameter status is required (processed, "
                          "dead or retrying)"
                        : "status must be processed, dead or retrying (got '"
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
    call(node.store, done,
      [done, limit = *limit, after, after_group](event_listing& page) {
        auto arr = json::array();
        json next = page.next == 0 ? json(nullptr)
                                   : json(std::to_string(page.next));
        size_t n = 0;
        for (auto& it : page.items) {
          if (!after_group.empty() && it.seq == after
              && it.group <= after_group)
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
      },
      atom::events_v, q);
  }

  // -- failed events ------------------------------------------------------------

  void list_failed(const target& t, const responder& done) {
    dlq_query q;
    q.group = query_str(t, "group");
    uint64_t after = 0;
    auto limit = page_limit(t, done);
    if (!limit)
      return;
    if (!query_uint(t, "after", after, 0, UINT64_MAX >> 1)) {
      done(bad_cursor());
      return;
    }
    q.limit = *limit;
    q.after = after;
    call(node.dlq, done,
      [done, q](dlq_page& page) {
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
        doc["next"] = page.entries.size() >= q.limit
                            && !page.positions.empty()
                          ? json(std::to_string(page.positions.back()))
                          : json(nullptr);
        done(json_response(200, doc));
      },
      atom::list_v, q);
  }

  void get_failed(const std::string& id, const responder& done) {
    call(node.dlq, done,
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
        done(json_response(200, json{{"eventId", id},
                                     {"entries", std::move(arr)}}));
      },
      atom::inspect_v, id);
  }

  void replay_one(const std::string& id, const target& t,
                  const responder& done) {
    auto group = query_str(t, "group");
    call(node.dlq, done, changed_entries(id, "replayed", done),
         atom::replay_v, id, group);
  }

  void replay_all(const request& req, const responder& done) {
    double rate = 100;
    std::string group;
    if (!req.body.empty()) {
      json doc;
      if (!parse_body(req, doc, done))
        return;
      if (!doc.is_object()) {
        done(error_body(400, "body must be a JSON object", "body"));
        return;
      }
      for (auto& [key, value] : doc.items()) {
        if (key == "rate") {
          if (!value.is_number() || !(value.get<double>() > 0)
              || value.get<double>() > 1e6) {
            done(error_body(400, "rate must be a number of events/s in "
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
          done(error_body(400, "unknown field '" + key
                                 + "' (expected rate, group)",
                          key));
          return;
        }
      }
    }
    call(node.dlq, done,
      [done, rate](uint64_t n) {
        done(json_response(202, json{{"replaying", n}, {"rate", rate}}));
      },
      atom::replay_all_v, rate, group);
  }

  void replay_progress(const responder& done) {
    call(node.dlq, done,
      [done](caf::settings& s) {
        auto d = caf::get_or(s, "dlq", caf::settings{});
        json doc{{"active", number_of(d, "replay-active") != 0},
                 {"total", static_cast<uint64_t>(
                             number_of(d, "replay-total"))},
                 {"replayed",
                  static_cast<uint64_t>(number_of(d, "replay-done"))},
                 {"rate", number_of(d, "replay-rate")},
                 {"group", caf::get_or(d, "replay-group", "")}};
        done(json_response(200, doc));
      },
      atom::status_v);
  }

  void delete_failed(const std::string& id, const responder& done) {
    call(node.dlq, done, changed_entries(id, "deleted", done),
         atom::purge_v, id);
  }

  // -- groups, metrics, health ---------------------------------------------------

  void list_groups(const responder& done) {
    auto m = metrics;
    call(node.broadcaster, done, [done, m](caf::settings& s) {
      auto arr = json::array();
      for_each_group(s, [&](const std::string& name, const caf::settings& g) {
        auto subs = caf::get_or(g, "subscriptions",
                                std::vector<std::string>{});
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
           {"retried",
            m ? m->counter_sum(metric::retried, "group", name) : 0},
           {"failed", m ? m->counter_sum(metric::dead, "group", name) : 0},
           {"ratePerSecond", number_of(g, "rate")}});
      });
      done(json_response(200, json{{"groups", std::move(arr)}}));
    }, atom::status_v);
  }

  void pause_group(const std::string& name, bool pause,
                   const responder& done) {
    call(node.broadcaster, done,
      [done, name](bool paused) {
        done(json_response(200, json{{"group", name}, {"paused", paused}}));
      },
      atom::pause_v, name, pause);
  }

  void get_metrics(const responder& done) {
    auto self = shared_from_this();
    // Gauges from the broadcaster's and the store's status, then the text.
    call(node.broadcaster, done,
      [self, done](caf::settings& bs) {
        std::vector<gauge_sample> gauges;
        for_each_group(bs, [&](const std::string& name,
                               const caf::settings& g) {
          metric_labels l{{"group", name}};
          gauges.push_back(
            {metric::queue_depth, l, number_of(g, "unsettled")});
          gauges.push_back({metric::in_flight, l, number_of(g, "in-flight")});
          gauges.push_back({metric::listeners, l, number_of(g, "listeners")});
          gauges.push_back({metric::paused, l, number_of(g, "paused")});
        });
        self->call(self->node.store, done,
          [self, done, gauges](caf::settings& ss) mutable {
            auto st = caf::get_or(ss, "store", caf::settings{});
            if (st.count("dlq-size") > 0)
              gauges.push_back(
                {metric::dlq_size, {}, number_of(st, "dlq-size")});
            response r;
            r.content_type = "text/plain; version=0.0.4; charset=utf-8";
            r.body = self->metrics ? self->metrics->render(gauges)
                                   : std::string{};
            done(std::move(r));
          },
          atom::status_v);
      },
      atom::status_v);
  }

  void health(const responder& done) {
    auto self = shared_from_this();
    gw->run([self, done](gateway_pointer gp) {
      gp->request(self->node.broadcaster, probe_timeout, atom::status_v)
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

  void ready(const responder& done) {
    auto self = shared_from_this();
    gw->run([self, done](gateway_pointer gp) {
      auto checks = std::make_shared<json>(json::object());
      auto failed = std::make_shared<json>(json::array());
      // Every store actor (on Redis each has its own connection, with its
      // own reconnect backoff): ready only when all of them reach the
      // store.
      std::vector<store_actor> stores{self->node.store};
      auto add_store = [&](const store_actor& x) {
        if (std::find(stores.begin(), stores.end(), x) == stores.end())
          stores.push_back(x);
      };
      add_store(self->node.ingest_store);
      for (auto& x : self->node.lease_stores)
        add_store(x);
      auto remaining = std::make_shared<int>(static_cast<int>(stores.size())
                                             + 1);
      auto finish = [done, checks, failed, remaining] {
        if (--*remaining > 0)
          return;
        if (failed->empty())
          done(json_response(200, json{{"status", "ready"},
                                       {"checks", *checks}}));
        else
          done(json_response(503, json{{"status", "not ready"},
                                       {"failed", *failed},
                                       {"checks", *checks}}));
      };
      (*checks)["store"] = "ok";
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
      gp->request(self->node.broadcaster, probe_timeout, atom::status_v)
        .then(
          [checks, failed, finish](caf::settings& s) {
            auto draining = caf::get_or(s, "broadcaster.draining", false);
            (*checks)["draining"] = draining ? "yes" : "no";
            if (draining)
              failed->push_back("draining");
            finish();
          },
          [checks, failed, finish](caf::error& err) {
            (*checks)["broadcaster"] = render(err);
            failed->push_back("broadcaster");
            finish();
          });
    });
  }

  // -- routing ------------------------------------------------------------------

  /// Checks the bearer key for `role`; answers 401/403 and returns false.
  bool authorize(const request& req, access role, const responder& done) {
    auto refusal = http::authorize(cfg.keys, req.authorization, role);
    if (refusal)
      done(std::move(*refusal));
    return !refusal;
  }

  void route(const request& req, const responder& done) {
    auto t = parse_target(req.target);
    if (!t.ok) {
      done(error_body(400, "bad percent-encoding in the URL", "url"));
      return;
    }
    auto& seg = t.segments;
    auto& m = req.method;
    auto not_allowed = [&](const char* allow) {
      auto r = error_body(405, "method " + m + " is not allowed here");
      r.headers.emplace_back("Allow", allow);
      done(std::move(r));
    };
    auto n = seg.size();
    auto first = n > 0 ? seg[0] : std::string{};
    if (n == 1 && first == "health") {
      if (m != "GET")
        return not_allowed("GET");
      return health(done);
    }
    if (n == 1 && first == "ready") {
      if (m != "GET")
        return not_allowed("GET");
      return ready(done);
    }
    if (first == "events") {
      if (n == 1) {
        if (m == "POST") {
          if (authorize(req, access::publish, done))
            post_event(req, done);
          return;
        }
        if (m == "GET") {
          if (authorize(req, access::read, done))
            list_events(t, done);
          return;
        }
        return not_allowed("GET, POST");
      }
      if (n == 2 && seg[1] == "batch") {
        if (m != "POST")
          return not_allowed("POST");
        if (authorize(req, access::publish, done))
          post_batch(req, done);
        return;
      }
      if (n == 2) {
        if (m != "GET")
          return not_allowed("GET");
        if (authorize(req, access::read, done))
          get_event(seg[1], done);
        return;
      }
    }
    if (first == "failed-events") {
      if (n == 1) {
        if (m != "GET")
          return not_allowed("GET");
        if (authorize(req, access::read, done))
          list_failed(t, done);
        return;
      }
      if (n == 2 && seg[1] == "replay") {
        if (m == "POST") {
          if (authorize(req, access::admin, done))
            replay_all(req, done);
          return;
        }
        if (m == "GET") {
          if (authorize(req, access::read, done))
            replay_progress(done);
          return;
        }
        return not_allowed("GET, POST");
      }
      if (n == 2) {
        if (m == "GET") {
          if (authorize(req, access::read, done))
            get_failed(seg[1], done);
          return;
        }
        if (m == "DELETE") {
          if (authorize(req, access::admin, done))
            delete_failed(seg[1], done);
          return;
        }
        return not_allowed("GET, DELETE");
      }
      if (n == 3 && seg[2] == "replay") {
        if (m != "POST")
          return not_allowed("POST");
        if (authorize(req, access::admin, done))
          replay_one(seg[1], t, done);
        return;
      }
    }
    if (first == "groups") {
      if (n == 1) {
        if (m != "GET")
          return not_allowed("GET");
        if (authorize(req, access::read, done))
          list_groups(done);
        return;
      }
      if (n == 3 && (seg[2] == "pause" || seg[2] == "resume")) {
        if (m != "POST")
          return not_allowed("POST");
        if (authorize(req, access::admin, done))
          pause_group(seg[1], seg[2] == "pause", done);
        return;
      }
    }
    if (n == 1 && first == "metrics") {
      if (m != "GET")
        return not_allowed("GET");
      if (authorize(req, access::read, done))
        get_metrics(done);
      return;
    }
    done(error_body(404, "no route for " + m + " "
                           + req.target.substr(0, req.target.find('?'))));
  }
};

api::api(const node_config& cfg, const node_actors& node,
         std::shared_ptr<gateway> gw)
  : impl_(std::make_shared<impl>()) {
  impl_->cfg = cfg.http;
  impl_->limits = cfg.limits;
  impl_->node = node;
  impl_->gw = std::move(gw);
  impl_->metrics = node.metrics;
}

namespace {

/// Answers a request exactly once: later calls are ignored, and if every
/// copy of the responder is dropped unanswered (work discarded at shutdown,
/// a failed actor), the destructor answers 503.
class once_responder {
public:
  once_responder(std::shared_ptr<metrics_registry> m, responder fn)
    : metrics_(std::move(m)), fn_(std::move(fn)) {
    // nop
  }

  ~once_responder() {
    if (!answered_.exchange(true)) {
      send(retry_later(503,
                       "the request was dropped: the node is shutting down "
                       "or failed; retry",
                       5));
    }
  }

  void operator()(response r) {
    if (!answered_.exchange(true))
      send(std::move(r));
  }

private:
  void send(response r) {
    if (metrics_)
      metrics_->count(metric::http_requests,
                      {{"code", std::to_string(r.status)}});
    fn_(std::move(r));
  }

  std::atomic<bool> answered_{false};
  std::shared_ptr<metrics_registry> metrics_;
  responder fn_;
};

} // namespace

void api::handle(request req, responder done) {
  auto guard = std::make_shared<once_responder>(impl_->metrics,
                                                std::move(done));
  responder once = [guard](response r) { (*guard)(std::move(r)); };
  try {
    impl_->route(req, once);
  } catch (const std::exception& e) {
    // Answers only if nothing answered yet; the text stays in the log.
    spdlog::error("http: {} {} failed: {}", req.method,
                  req.target.substr(0, req.target.find('?')), e.what());
    once(error_body(500, "internal error (see the node's log)"));
  }
}

response api::error_response(unsigned status, const std::string& error,
                             const std::string& field) {
  if (impl_->metrics) {
    impl_->metrics->count(metric::http_requests,
                          {{"code", std::to_string(status)}});
    if (status == 413)
      impl_->metrics->count(metric::rejected, {{"reason", "too_large"}});
  }
  return error_body(status, error, field);
}

} // namespace onceflow::http
