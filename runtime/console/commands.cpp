#include "runtime/console/commands.hpp"

#include "actors/logic/status.hpp"
#include "runtime/http/views.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <thread>

namespace onceflow::console {

namespace {

answer failure(std::string why) {
  answer a;
  a.error = std::move(why);
  a.doc = json{{"error", a.error}};
  return a;
}

json down_list(client& c) {
  auto out = json::array();
  for (auto& n : c.nodes())
    if (!n.up)
      out.push_back({{"node", n.entry.name}, {"error", n.error}});
  return out;
}

/// A whole number option from 1 to `max` (`fallback` if not given).
bool count_option(const parsed_command& cmd, const std::string& name,
                  uint64_t fallback, uint64_t max, uint64_t& out,
                  std::string& error) {
  auto text = cmd.option(name);
  if (text.empty()) {
    out = fallback;
    return true;
  }
  if (text.size() > 6
      || text.find_first_not_of("0123456789") != std::string::npos
      || std::stoull(text) < 1 || std::stoull(text) > max) {
    error = cmd.name + ": --" + name + " must be a whole number from 1 to "
            + std::to_string(max) + " (got '" + text + "')";
    return false;
  }
  out = std::stoull(text);
  return true;
}

json dlq_entry_json(const dlq_entry& e) {
  return {{"eventId", e.dl.ev.id},
          {"group", e.dl.group},
          {"type", e.dl.ev.type},
          {"attempts", e.dl.attempt},
          {"reason", to_string(e.reason)},
          {"lastError", e.last_error},
          {"deadAt", e.dead_at}};
}

/// The error of a collect() where no node answered but some refused (an
/// API key problem), or empty.
std::string refusal_of(const json& collected) {
  auto& refused = collected["refused"];
  if (!collected["actors"].empty() || refused.empty())
    return {};
  std::string out;
  for (auto& r : refused)
    out += (out.empty() ? "node " : "; node ") + r["node"].get<std::string>()
           + ": " + r["error"].get<std::string>();
  return out;
}

} // namespace

command_runner::command_runner(client& c, std::vector<std::string> groups)
  : c_(c), groups_(std::move(groups)) {
  // nop
}

node_link* command_runner::core_for(answer& a, const char* what) {
  auto cores = c_.up_cores();
  if (cores.empty()) {
    a = failure(std::string{"no core node is up ("} + what
                + " asks a core): see nodes");
    return nullptr;
  }
  return cores.front();
}

answer command_runner::run(const parsed_command& cmd) {
  c_.refresh(cmd.name == "nodes");
  if (cmd.name == "nodes")
    return nodes();
  if (c_.up_nodes().empty()) {
    std::string why = "no node is up:";
    for (auto& n : c_.nodes())
      why += " " + n.entry.name + " (" + n.error + ")";
    return failure(why);
  }
  if (cmd.name == "actors")
    return actors(cmd);
  if (cmd.name == "inspect")
    return inspect(cmd.args[0]);
  if (cmd.name == "groups")
    return groups();
  if (cmd.name == "trace")
    return trace(cmd.args[0]);
  if (cmd.name == "pause" || cmd.name == "resume")
    return pause(cmd.args[0], cmd.name == "pause");
  if (cmd.name == "listeners")
    return listeners(cmd);
  if (cmd.name == "dlq")
    return dlq(cmd);
  if (cmd.name == "top") {
    // One frame (one-shot mode): two samples a second apart, so that the
    // rates show.
    sample();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    answer a;
    a.doc = top_view(sample(), 10);
    a.text = render_top(a.doc);
    return a;
  }
  return failure("command '" + cmd.name + "' is not run here");
}

answer command_runner::nodes() {
  auto t0 = wall_now();
  std::map<std::string, caf::settings> members;
  for (auto& [n, r] :
       c_.ask_all<caf::settings>(c_.up_nodes(), atom::members_v, c_.key()))
    if (r)
      members[n->entry.name] = std::move(*r);
    else if (!is_link_error(r.error()))
      n->error = c_.describe(r.error());
  auto rows = json::array();
  for (auto& n : c_.nodes()) {
    json row{{"name", n.entry.name},
             {"up", n.up},
             {"role", to_string(n.entry.role)},
             {"address", n.entry.host + ":" + std::to_string(n.entry.port)},
             {"since", n.since},
             {"rttMs", n.up ? json(n.rtt) : json(nullptr)},
             {"store", nullptr},
             {"version", nullptr},
             {"uptimeMs", nullptr},
             {"error", n.error}};
    if (auto i = members.find(n.entry.name); i != members.end()) {
      auto self = "nodes." + n.entry.name + ".";
      auto& m = i->second;
      row["version"] = caf::get_or(m, self + "version", std::string{});
      row["store"] = caf::get_or(m, self + "store", std::string{});
      row["since"] = caf::get_or(m, self + "since", int64_t{-1});
      row["uptimeMs"] = caf::get_or(m, self + "for-ms", int64_t{-1});
      // The node's own view of its peers.
      auto peers = json::object();
      if (auto xs = caf::get_if<caf::settings>(&m, "nodes"))
        for (auto& [peer, v] : *xs)
          if (peer != n.entry.name)
            if (auto p = caf::get_if<caf::settings>(&v))
              peers[peer] = caf::get_or(*p, "up", false);
      row["peers"] = std::move(peers);
    }
    rows.push_back(std::move(row));
  }
  answer a;
  a.doc = json{{"nodes", std::move(rows)}, {"elapsedMs", wall_now() - t0}};
  a.text = render_nodes(a.doc);
  return a;
}

json command_runner::collect() {
  auto rows = json::array();
  auto raw = json::object();
  auto now = wall_now();
  auto refused = json::array();
  std::vector<std::string> ids;
  for (auto& [n, r] :
       c_.ask_all<caf::settings>(c_.up_nodes(), atom::actors_v, c_.key())) {
    auto& name = n->entry.name;
    if (!r) {
      if (!is_link_error(r.error())) {
        n->error = c_.describe(r.error());
        refused.push_back({{"node", name}, {"error", n->error}});
      }
      continue;
    }
    auto actors = http::settings_json(*r);
    for (auto& [id, a] : actors.items()) {
      auto row = actor_row(name, id, a);
      rates_.observe(row["id"].get<std::string>(), row, now);
      ids.push_back(row["id"].get<std::string>());
      rows.push_back(std::move(row));
    }
    raw[name] = std::move(actors);
  }
  actor_ids_ = std::move(ids);
  std::vector<std::string> order;
  for (auto& n : c_.nodes())
    order.push_back(n.entry.name);
  sort_rows(rows, order);
  json out{{"actors", std::move(rows)},
           {"down", down_list(c_)},
           {"refused", std::move(refused)},
           {"raw", std::move(raw)}};
  auto groups = groups_of(out);
  std::set<std::string> paused;
  for (auto& g : groups)
    if (g.value("paused", false))
      paused.insert(g["name"].get<std::string>());
  mark_paused(out["actors"], paused);
  out["groups"] = std::move(groups);
  return out;
}

json command_runner::groups_of(const json& collected) {
  auto out = json::array();
  auto& raw = collected["raw"];
  // Listeners on workers, per (core they serve, group, worker).
  std::map<std::string, std::map<std::string, std::map<std::string, int>>>
    hosted;
  for (auto& row : collected["actors"])
    if (row["kind"] == "listener" && row["serves"] != row["node"])
      ++hosted[row["serves"].get<std::string>()]
              [row["group"].get<std::string>()][row["node"].get<std::string>()];
  std::set<std::string> seen;
  for (auto& [node, actors] : raw.items())
    for (auto& [id, a] : actors.items()) {
      if (a.value("kind", "") != "broadcaster" || !a.contains("status"))
        continue;
      auto& st = a["status"];
      if (!st.contains("groups"))
        continue;
      for (auto& [name, g] : st["groups"].items()) {
        seen.insert(name);
        auto listeners = json::object();
        auto total = g.value("listeners", int64_t{0});
        auto remote = g.value("remote-listeners", int64_t{0});
        listeners[node] = total - remote;
        for (auto& [worker, k] : hosted[node][name])
          listeners[worker] = k;
        out.push_back({{"name", name},
                       {"core", node},
                       {"paused", g.value("paused", false)},
                       {"backlog", g.value("unsettled", int64_t{0})},
                       {"queued", g.value("queued", int64_t{0})},
                       {"inFlight", g.value("in-flight", int64_t{0})},
                       {"settled", g.value("settled", int64_t{0})},
                       {"rate", g.value("rate", 0.0)},
                       {"listeners", std::move(listeners)}});
      }
    }
  for (auto& name : seen)
    if (std::find(groups_.begin(), groups_.end(), name) == groups_.end())
      groups_.push_back(name);
  return out;
}

json command_runner::sample() {
  c_.refresh();
  auto collected = collect();
  auto nodes = json::array();
  for (auto& n : c_.nodes())
    nodes.push_back({{"name", n.entry.name}, {"up", n.up}, {"error", n.error}});
  return {{"at", wall_now()},
          {"nodes", std::move(nodes)},
          {"actors", std::move(collected["actors"])},
          {"groups", std::move(collected["groups"])}};
}

completion_sources command_runner::sources() {
  if (actor_ids_.empty()) {
    c_.refresh();
    collect();
  }
  completion_sources src;
  for (auto& n : c_.nodes())
    src.nodes.push_back(n.entry.name);
  src.groups = groups_;
  src.actors = actor_ids_;
  return src;
}

answer command_runner::actors(const parsed_command& cmd) {
  auto t0 = wall_now();
  if (auto node = cmd.option("node"); !node.empty() && c_.find(node) == nullptr)
    return failure("actors: no node named '" + node + "' in the config");
  if (auto kind = cmd.option("kind"); !kind.empty()) {
    auto& kinds = actor_kinds();
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
      std::string all;
      for (auto& k : kinds)
        all += (all.empty() ? "" : ", ") + k;
      return failure("actors: unknown kind '" + kind + "' (kinds: " + all
                     + ")");
    }
  }
  auto collected = collect();
  if (auto why = refusal_of(collected); !why.empty())
    return failure("actors: " + why);
  auto rows = json::array();
  for (auto& r : collected["actors"]) {
    if (cmd.has("node") && r["node"] != cmd.option("node"))
      continue;
    if (cmd.has("group") && r["group"] != cmd.option("group"))
      continue;
    if (cmd.has("kind") && r["kind"] != cmd.option("kind"))
      continue;
    rows.push_back(r);
  }
  answer a;
  a.doc = json{{"actors", std::move(rows)},
               {"down", std::move(collected["down"])},
               {"refused", std::move(collected["refused"])},
               {"elapsedMs", wall_now() - t0}};
  a.text = render_actors(a.doc);
  return a;
}

answer command_runner::inspect(const std::string& ref) {
  std::string node;
  std::string id = ref;
  if (auto slash = ref.find('/'); slash != std::string::npos) {
    node = ref.substr(0, slash);
    id = ref.substr(slash + 1);
    auto* n = c_.find(node);
    if (n == nullptr)
      return failure("inspect: no node named '" + node + "' in the config");
    if (!n->up)
      return failure("inspect: node " + node + " is down: " + n->error);
  }
  auto collected = collect();
  if (auto why = refusal_of(collected); !why.empty())
    return failure("inspect: " + why);
  std::vector<json> hits;
  for (auto& [name, actors] : collected["raw"].items())
    if ((node.empty() || name == node) && actors.contains(id)) {
      auto row = actor_row(name, id, actors[id]);
      for (auto& r : collected["actors"])
        if (r["id"] == row["id"])
          row = r;
      row["status"] = actors[id].value("status", json::object());
      hits.push_back(std::move(row));
    }
  if (hits.empty())
    return failure("inspect: no actor '" + ref
                   + "' on any node that is up (actors lists the ids, as "
                     "NODE/ID)");
  if (hits.size() > 1) {
    std::string all;
    for (auto& h : hits)
      all += " " + h["id"].get<std::string>();
    return failure("inspect: '" + ref + "' names an actor on several nodes:"
                   + all + " (say NODE/ID)");
  }
  answer a;
  a.doc = std::move(hits.front());
  a.text = render_inspect(a.doc);
  return a;
}

answer command_runner::groups() {
  auto collected = collect();
  if (auto why = refusal_of(collected); !why.empty())
    return failure("groups: " + why);
  auto groups = std::move(collected["groups"]);
  // DLQ sizes from each group's core.
  for (auto& g : groups) {
    auto* core = c_.find(g["core"].get<std::string>());
    if (core == nullptr || !core->up)
      continue;
    auto n = c_.ask<uint64_t>(*core, atom::count_v, c_.key(),
                              g["name"].get<std::string>());
    g["dlq"] = n ? json(*n) : json(nullptr);
    auto r = c_.ask<uint64_t>(*core, atom::count_v, atom::schedule_v, c_.key(),
                              g["name"].get<std::string>());
    g["retries"] = r ? json(*r) : json(nullptr);
  }
  answer a;
  a.doc = json{{"groups", std::move(groups)},
               {"down", std::move(collected["down"])}};
  a.text = render_groups(a.doc);
  return a;
}

answer command_runner::trace(const std::string& id) {
  answer a;
  auto* core = core_for(a, "trace");
  if (core == nullptr)
    return a;
  auto h = c_.ask<event_history>(*core, atom::history_v, c_.key(), id);
  if (!h)
    return failure("trace: " + c_.describe(h.error()));
  if (h->ev.seq == 0)
    return failure("trace: event '" + id + "' not found (asked core "
                   + core->entry.name + ")");
  auto effects = c_.ask<std::vector<processed_record>>(*core, atom::processed_v,
                                                       c_.key(), id);
  auto dead = c_.ask<std::vector<dlq_entry>>(*core, atom::inspect_v, c_.key(),
                                             id);
  auto doc = http::event_json(h->ev);
  doc["core"] = core->entry.name;
  doc["acceptedBy"] = h->accepted_by.empty() ? json(nullptr)
                                             : json(h->accepted_by);
  doc["duplicates"] = http::duplicates_json(*h);
  std::vector<group_status> gs;
  auto groups = json::array();
  for (auto& g : h->groups) {
    gs.push_back({g.group, g.status});
    json entry{{"group", g.group},
               {"status", to_string(g.status)},
               {"attempts", http::attempts_json(g.attempts)}};
    if (g.next_attempt_at > 0)
      entry["nextAttemptAt"] = g.next_attempt_at;
    if (effects)
      for (auto& e : *effects)
        if (e.group == g.group) {
          entry["effect"] = {{"at", e.at},
                             {"epoch", e.epoch},
                             {"attempt", e.attempt},
                             {"seq", e.seq}};
          entry["settledAfterMs"] = e.at - h->ev.created_at;
        }
    if (dead) {
      auto xs = json::array();
      for (auto& e : *dead)
        if (e.dl.group == g.group) {
          xs.push_back({{"reason", to_string(e.reason)},
                        {"lastError", e.last_error},
                        {"deadAt", e.dead_at}});
          entry["settledAfterMs"] = e.dead_at - h->ev.created_at;
        }
      if (!xs.empty())
        entry["dlq"] = std::move(xs);
    }
    groups.push_back(std::move(entry));
  }
  doc["status"] = to_string(aggregate(gs));
  doc["groups"] = std::move(groups);
  a.doc = std::move(doc);
  a.text = render_trace(a.doc);
  return a;
}

answer command_runner::pause(const std::string& group, bool pause) {
  auto cores = c_.up_cores();
  if (cores.empty())
    return failure(std::string{pause ? "pause" : "resume"}
                   + ": no core node is up");
  auto per_core = json::object();
  std::string first_error;
  bool any = false;
  for (auto& [n, r] :
       c_.ask_all<bool>(cores, atom::pause_v, c_.key(), group, pause)) {
    if (r) {
      any = true;
      per_core[n->entry.name] = *r;
    } else {
      auto why = c_.describe(r.error());
      per_core[n->entry.name] = why;
      if (first_error.empty())
        first_error = n->entry.name + ": " + why;
    }
  }
  if (!any)
    return failure(std::string{pause ? "pause" : "resume"} + " " + group + ": "
                   + first_error);
  answer a;
  a.doc = json{{"group", group}, {"paused", pause}, {"cores", per_core}};
  a.text = "group " + group + (pause ? " paused" : " resumed") + " on";
  for (auto& [core, r] : per_core.items())
    a.text += " " + core + (r.is_boolean() ? "" : " (" + cell(r) + ")");
  a.text += "\n";
  return a;
}

answer command_runner::listeners(const parsed_command& cmd) {
  auto& action = cmd.args[0];
  if (action != "add" && action != "remove")
    return failure("listeners: say add or remove (usage: listeners "
                   "add|remove GROUP [--count K] [--node N])");
  uint64_t count = 0;
  std::string err;
  if (!count_option(cmd, "count", 1, 1000, count, err))
    return failure(err);
  auto node = cmd.option("node");
  node_link* target = nullptr;
  if (!node.empty()) {
    target = c_.find(node);
    if (target == nullptr)
      return failure("listeners: no node named '" + node + "' in the config");
    if (!target->up)
      return failure("listeners: node " + node + " is down: " + target->error);
  } else {
    answer a;
    target = core_for(a, "listeners");
    if (target == nullptr)
      return a;
  }
  auto delta = action == "add" ? static_cast<int32_t>(count)
                               : -static_cast<int32_t>(count);
  auto r = c_.ask<caf::settings>(*target, atom::listeners_v, c_.key(),
                                 cmd.args[1], node, delta);
  if (!r)
    return failure("listeners: " + c_.describe(r.error()));
  answer a;
  a.doc = http::settings_json(*r);
  a.text = "group " + caf::get_or(*r, "group", std::string{}) + " on node "
           + caf::get_or(*r, "node", std::string{}) + ": "
           + std::to_string(caf::get_or(*r, "listeners", int64_t{0}))
           + " listener(s)\n";
  return a;
}

answer command_runner::dlq(const parsed_command& cmd) {
  auto& sub = cmd.args[0];
  auto usage = std::string{" (usage: "} + find_command("dlq")->usage + ")";
  bool list = sub == "list";
  if (!list && sub != "show" && sub != "replay" && sub != "purge")
    return failure("dlq: unknown sub-command '" + sub + "'" + usage);
  if (cmd.has("limit") && !list)
    return failure("dlq " + sub + ": --limit is for dlq list");
  if (cmd.has("all") && sub != "purge")
    return failure("dlq " + sub + ": --all is for dlq purge");
  if (cmd.has("group") && sub == "show")
    return failure("dlq show: takes an event id only");
  bool needs_id = sub == "show" || sub == "replay"
                  || (sub == "purge" && !cmd.has("group") && !cmd.has("all"));
  if (needs_id != (cmd.args.size() == 2))
    return failure("dlq " + sub + ": "
                   + (needs_id ? "missing event id" : "too many arguments")
                   + usage);
  if (sub == "purge" && cmd.has("group") && cmd.has("all"))
    return failure("dlq purge: give an event id, --group G or --all" + usage);
  answer a;
  auto* core = core_for(a, "dlq");
  if (core == nullptr)
    return a;
  auto& key = c_.key();
  auto group = cmd.option("group");
  if (list) {
    uint64_t limit = 0;
    std::string err;
    if (!count_option(cmd, "limit", 50, 1000, limit, err))
      return failure(err);
    dlq_query q;
    q.group = group;
    q.limit = limit;
    auto page = c_.ask<dlq_page>(*core, atom::list_v, key, q);
    if (!page)
      return failure("dlq list: " + c_.describe(page.error()));
    auto entries = json::array();
    for (size_t i = 0; i < page->entries.size(); ++i) {
      auto e = dlq_entry_json(page->entries[i]);
      if (i < page->positions.size())
        e["position"] = page->positions[i];
      entries.push_back(std::move(e));
    }
    json next = nullptr;
    if (page->entries.size() == limit && !page->positions.empty())
      next = page->positions.back();
    a.doc = json{{"core", core->entry.name},
                 {"entries", std::move(entries)},
                 {"next", next}};
    a.text = render_dlq_list(a.doc);
    return a;
  }
  auto id = cmd.args.size() == 2 ? cmd.args[1] : std::string{};
  if (sub == "show") {
    auto xs = c_.ask<std::vector<dlq_entry>>(*core, atom::inspect_v, key, id);
    if (!xs)
      return failure("dlq show: " + c_.describe(xs.error()));
    auto entries = json::array();
    for (auto& e : *xs) {
      auto j = dlq_entry_json(e);
      j["history"] = http::attempts_json(e.dl.history);
      j["payload"] = http::event_json(e.dl.ev)["payload"];
      entries.push_back(std::move(j));
    }
    a.doc = json{{"eventId", id}, {"entries", std::move(entries)}};
    a.text = render_dlq_show(a.doc);
    return a;
  }
  if (sub == "replay") {
    auto n = c_.ask<uint64_t>(*core, atom::replay_v, key, id, group);
    if (!n)
      return failure("dlq replay: " + c_.describe(n.error()));
    a.doc = json{{"eventId", id}, {"replayed", *n}};
    a.text = *n == 0 ? "event " + id + " has no DLQ entry to replay\n"
                     : "replayed " + std::to_string(*n) + " DLQ entr"
                         + (*n == 1 ? "y" : "ies") + " of event " + id
                         + " (back in the retry schedule)\n";
    return a;
  }
  caf::expected<uint64_t> n{uint64_t{0}};
  if (cmd.has("group"))
    n = c_.ask<uint64_t>(*core, atom::purge_v, key, atom::groups_v, group);
  else
    n = c_.ask<uint64_t>(*core, atom::purge_v, key, id);
  if (!n)
    return failure("dlq purge: " + c_.describe(n.error()));
  a.doc = json{{"purged", *n}};
  a.text = "purged " + std::to_string(*n) + " DLQ entr"
           + (*n == 1 ? "y" : "ies") + "\n";
  return a;
}

} // namespace onceflow::console
