#include "actors/logic/console_view.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <tuple>

namespace onceflow::console {

namespace {

/// The number at `key` of object `x` (0 if missing or not a number;
/// booleans count as 0/1).
double num(const json& x, const std::string& key) {
  if (!x.is_object())
    return 0;
  auto i = x.find(key);
  if (i == x.end())
    return 0;
  if (i->is_number())
    return i->get<double>();
  if (i->is_boolean())
    return i->get<bool>() ? 1 : 0;
  return 0;
}

/// A whole number at `key`, or `fallback` (missing, null, not a number).
millis_t whole_or(const json& x, const std::string& key, millis_t fallback) {
  if (!x.is_object())
    return fallback;
  auto i = x.find(key);
  if (i == x.end() || !i->is_number())
    return fallback;
  return i->get<millis_t>();
}

bool flag(const json& x, const std::string& key) {
  return num(x, key) != 0;
}

const json& sub(const json& x, const std::string& key) {
  static const json empty = json::object();
  if (!x.is_object())
    return empty;
  auto i = x.find(key);
  return i == x.end() || !i->is_object() ? empty : *i;
}

std::string text(const json& x, const std::string& key) {
  if (!x.is_object())
    return {};
  auto i = x.find(key);
  return i != x.end() && i->is_string() ? i->get<std::string>() : std::string{};
}

uint64_t whole(double x) {
  return x <= 0 ? 0 : static_cast<uint64_t>(std::llround(x));
}

/// "12", "-3", "4.5": a cell that aligns right.
bool is_number_text(const std::string& s) {
  size_t digits = 0;
  size_t dots = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= '0' && c <= '9')
      ++digits;
    else if (c == '.')
      ++dots;
    else if (c != '-' || i != 0)
      return false;
  }
  return digits > 0 && dots <= 1;
}

std::string fixed1(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", x);
  return buf;
}

/// key = value lines of a nested object, sorted (json objects are).
void flatten(const json& x, const std::string& prefix, std::string& out) {
  for (auto& [k, v] : x.items()) {
    if (v.is_object()) {
      flatten(v, prefix + k + ".", out);
      continue;
    }
    out += "  " + prefix + k + " = "
           + (v.is_string() ? v.get<std::string>() : v.dump()) + "\n";
  }
}

std::string rate_cell(const json& row) {
  auto i = row.find("rate");
  if (i == row.end() || !i->is_number())
    return "-";
  return fixed1(i->get<double>());
}

std::string ago_cell(const json& row) {
  auto i = row.find("lastActivity");
  if (i == row.end() || !i->is_number())
    return "-";
  return format_duration(i->get<millis_t>()) + " ago";
}

} // namespace

json actor_row(const std::string& node, const std::string& id,
               const json& actor) {
  json row{{"node", node},
           {"id", node + "/" + id},
           {"kind", text(actor, "kind")},
           {"group", text(actor, "group")},
           {"serves", text(actor, "serves")}};
  auto& st = sub(actor, "status");
  auto kind = text(actor, "kind");
  double mailbox = 0;
  double in_flight = 0;
  double queued = 0;
  double batches = 0;
  double leases = 0;
  double processed = 0;
  double failed = 0;
  bool draining = false;
  bool paused = false;
  if (kind == "broadcaster") {
    auto& b = sub(st, "broadcaster");
    mailbox = num(b, "mailbox");
    processed = num(b, "accepted");
    failed = num(b, "rejected-overloaded") + num(b, "rejected-draining");
    draining = flag(b, "draining");
    in_flight = num(b, "pending-appends");
    auto& groups = sub(st, "groups");
    size_t n_paused = 0;
    for (auto& [name, g] : groups.items()) {
      in_flight += num(g, "in-flight");
      queued += num(g, "queued");
      leases += num(g, "read-leases");
      batches += num(g, "dispatched");
      if (flag(g, "paused"))
        ++n_paused;
    }
    paused = !groups.empty() && n_paused == groups.size();
  } else if (kind == "listener") {
    auto& l = sub(st, "listener");
    mailbox = num(l, "mailbox");
    in_flight = num(l, "running");
    batches = num(l, "batches");
    leases = num(l, "read-leases");
    processed = num(l, "succeeded");
    failed = num(l, "failed");
    if (auto name = text(l, "name"); !name.empty())
      row["name"] = name;
  } else if (kind == "deduplicator") {
    auto& d = sub(st, "deduplicator");
    mailbox = num(d, "mailbox");
    leases = num(d, "leases-granted");
    processed = num(d, "settled");
    failed = num(d, "refused-stale");
  } else if (kind == "retry_timer") {
    auto& r = sub(st, "retry-timer");
    mailbox = num(r, "mailbox");
    processed = num(r, "redelivered");
    draining = flag(r, "stopped");
  } else if (kind == "dlq") {
    auto& d = sub(st, "dlq");
    mailbox = num(d, "mailbox");
    processed = num(d, "dead-lettered");
    in_flight = num(d, "replay-remaining");
  } else if (kind == "store") {
    auto& s = sub(st, "store");
    mailbox = num(s, "mailbox");
    processed = num(s, "calls");
    failed = num(s, "failures");
    if (auto backend = text(s, "backend"); !backend.empty())
      row["backend"] = backend;
  } else if (kind == "node_manager") {
    mailbox = num(sub(st, "node-manager"), "mailbox");
  } else if (kind == "gateway") {
    auto& g = sub(st, "gateway");
    mailbox = num(g, "mailbox");
    in_flight = num(g, "in-flight");
    batches = num(g, "calls");
    processed = num(g, "events");
  }
  std::string state = "idle";
  if (auto err = text(actor, "error"); !err.empty()) {
    state = "unanswered";
    row["error"] = err;
  } else if (draining) {
    state = "draining";
  } else if (paused) {
    state = "paused";
  } else if (in_flight > 0 || mailbox > 0) {
    state = "busy";
  }
  row["state"] = state;
  row["mailbox"] = whole(mailbox);
  row["inFlight"] = whole(in_flight);
  row["queued"] = whole(queued);
  row["batches"] = whole(batches);
  row["leases"] = whole(leases);
  row["processed"] = whole(processed);
  row["failed"] = whole(failed);
  row["rate"] = nullptr;
  row["lastActivity"] = nullptr;
  return row;
}

void sort_rows(json& rows, const std::vector<std::string>& nodes) {
  auto rank = [](const std::string& kind) {
    static const std::vector<std::string> order{"broadcaster",  "deduplicator",
                                                "retry_timer",  "dlq",
                                                "store",        "gateway",
                                                "node_manager", "listener"};
    auto i = std::find(order.begin(), order.end(), kind);
    return static_cast<size_t>(i - order.begin());
  };
  auto node_rank = [&](const std::string& node) {
    auto i = std::find(nodes.begin(), nodes.end(), node);
    return static_cast<size_t>(i - nodes.begin());
  };
  auto number = [](const std::string& id) {
    auto slash = id.rfind('/');
    auto tail = slash == std::string::npos ? id : id.substr(slash + 1);
    return is_number_text(tail) ? std::stoull(tail) : 0ULL;
  };
  std::vector<json> xs(rows.begin(), rows.end());
  std::stable_sort(xs.begin(), xs.end(), [&](const json& a, const json& b) {
    auto ka = std::make_tuple(node_rank(text(a, "node")), text(a, "node"),
                              rank(text(a, "kind")), text(a, "group"),
                              number(text(a, "id")));
    auto kb = std::make_tuple(node_rank(text(b, "node")), text(b, "node"),
                              rank(text(b, "kind")), text(b, "group"),
                              number(text(b, "id")));
    return ka < kb;
  });
  rows = json(xs);
}

void mark_paused(json& rows, const std::set<std::string>& paused) {
  for (auto& row : rows)
    if (text(row, "kind") == "listener" && text(row, "state") == "idle"
        && paused.count(text(row, "group")) > 0)
      row["state"] = "paused";
}

void rate_book::observe(const std::string& key, json& row, millis_t now) {
  auto processed = num(row, "processed");
  auto i = entries_.find(key);
  if (i == entries_.end()) {
    entries_[key] = entry{processed, now, -1};
    row["rate"] = nullptr;
    row["lastActivity"] = nullptr;
    return;
  }
  auto& e = i->second;
  auto dt = now - e.at;
  if (dt > 0) {
    auto delta = processed - e.processed;
    row["rate"] = delta > 0 ? delta * 1000.0 / static_cast<double>(dt) : 0.0;
  } else {
    row["rate"] = nullptr;
  }
  if (processed != e.processed)
    e.changed = now;
  e.processed = processed;
  e.at = now;
  if (e.changed >= 0)
    row["lastActivity"] = now - e.changed;
  else
    row["lastActivity"] = nullptr;
}

std::string table(const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty())
    return {};
  std::vector<size_t> width;
  for (auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i)
        width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  // A column of numbers (and "-") aligns right, its header too.
  std::vector<bool> numeric(width.size(), false);
  std::vector<bool> other(width.size(), false);
  for (size_t ri = 1; ri < rows.size(); ++ri)
    for (size_t i = 0; i < rows[ri].size(); ++i) {
      if (is_number_text(rows[ri][i]))
        numeric[i] = true;
      else if (rows[ri][i] != "-")
        other[i] = true;
    }
  for (size_t i = 0; i < numeric.size(); ++i)
    numeric[i] = numeric[i] && !other[i];
  std::string out;
  for (size_t ri = 0; ri < rows.size(); ++ri) {
    auto& r = rows[ri];
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      auto pad = std::string(width[i] - r[i].size(), ' ');
      bool right = numeric[i] || (ri > 0 && is_number_text(r[i]));
      line += right ? pad + r[i] : r[i] + (i + 1 < r.size() ? pad : "");
      if (i + 1 < r.size())
        line += "  ";
    }
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string format_time(millis_t ms) {
  if (ms <= 0)
    return "-";
  auto secs = static_cast<time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d.%03d",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

std::string format_duration(millis_t ms) {
  if (ms < 0)
    return "-";
  char buf[32];
  if (ms < 1000) {
    std::snprintf(buf, sizeof(buf), "%lldms", static_cast<long long>(ms));
  } else if (ms < 60'000) {
    std::snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(ms) / 1000);
  } else if (ms < 3'600'000) {
    std::snprintf(buf, sizeof(buf), "%lldm%02llds",
                  static_cast<long long>(ms / 60'000),
                  static_cast<long long>(ms / 1000 % 60));
  } else if (ms < 86'400'000) {
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm",
                  static_cast<long long>(ms / 3'600'000),
                  static_cast<long long>(ms / 60'000 % 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%lldd%02lldh",
                  static_cast<long long>(ms / 86'400'000),
                  static_cast<long long>(ms / 3'600'000 % 24));
  }
  return buf;
}

std::string cell(const json& x) {
  if (x.is_null())
    return "-";
  if (x.is_string())
    return x.get<std::string>().empty() ? "-" : x.get<std::string>();
  if (x.is_boolean())
    return x.get<bool>() ? "yes" : "no";
  if (x.is_number_float())
    return fixed1(x.get<double>());
  return x.dump();
}

std::string render_nodes(const json& doc) {
  std::vector<std::vector<std::string>> rows{{"NODE", "STATE", "SINCE", "ROLE",
                                              "ADDRESS", "STORE", "VERSION",
                                              "RTT", "UPTIME", "ERROR"}};
  for (auto& n : doc.value("nodes", json::array())) {
    bool up = n.value("up", false);
    auto since = whole_or(n, "since", -1);
    auto uptime = whole_or(n, "uptimeMs", -1);
    auto rtt = whole_or(n, "rttMs", -1);
    rows.push_back(
      {text(n, "name"), up ? "up" : "DOWN",
       since > 0 ? format_time(since) : "-", cell(n.value("role", json{})),
       cell(n.value("address", json{})), cell(n.value("store", json{})),
       cell(n.value("version", json{})),
       rtt >= 0 ? std::to_string(rtt) + "ms" : "-",
       up && uptime >= 0 ? format_duration(uptime) : "-",
       cell(n.value("error", json{}))});
  }
  return table(rows);
}

std::string render_actors(const json& doc) {
  std::vector<std::vector<std::string>> rows{
    {"NODE", "ID", "KIND", "GROUP", "STATE", "MAILBOX", "INFLIGHT", "BATCHES",
     "LEASES", "PROCESSED", "FAILED", "EV/S", "LAST"}};
  for (auto& r : doc.value("actors", json::array()))
    rows.push_back({text(r, "node"), text(r, "id"), text(r, "kind"),
                    cell(r.value("group", json{})), text(r, "state"),
                    cell(r["mailbox"]), cell(r["inFlight"]), cell(r["batches"]),
                    cell(r["leases"]), cell(r["processed"]), cell(r["failed"]),
                    rate_cell(r), ago_cell(r)});
  auto out = table(rows);
  for (auto& d : doc.value("down", json::array()))
    out += "node " + text(d, "node") + " is down: " + text(d, "error") + "\n";
  for (auto& d : doc.value("refused", json::array()))
    out += "node " + text(d, "node") + " refused: " + text(d, "error") + "\n";
  out += std::to_string(doc.value("actors", json::array()).size())
         + " actor(s)\n";
  return out;
}

std::string render_inspect(const json& doc) {
  std::string out = text(doc, "id") + "  " + text(doc, "kind");
  if (auto g = text(doc, "group"); !g.empty())
    out += "  group " + g;
  out += "  on node " + text(doc, "node") + "  (" + text(doc, "state") + ")\n";
  if (auto e = text(doc, "error"); !e.empty())
    out += "  error: " + e + "\n";
  flatten(sub(doc, "status"), "", out);
  return out;
}

std::string render_groups(const json& doc) {
  std::vector<std::vector<std::string>> rows{
    {"GROUP", "CORE", "PAUSED", "BACKLOG", "QUEUED", "INFLIGHT", "RETRIES",
     "DLQ", "EV/S", "LISTENERS"}};
  for (auto& g : doc.value("groups", json::array())) {
    std::string listeners;
    auto per_node = g.value("listeners", json::object());
    for (auto& [node, n] : per_node.items())
      listeners += (listeners.empty() ? "" : " ") + node + ":" + cell(n);
    rows.push_back({text(g, "name"), text(g, "core"), cell(g["paused"]),
                    cell(g["backlog"]), cell(g["queued"]), cell(g["inFlight"]),
                    cell(g.value("retries", json{})),
                    cell(g.value("dlq", json{})), cell(g["rate"]),
                    listeners.empty() ? "-" : listeners});
  }
  auto out = table(rows);
  for (auto& d : doc.value("down", json::array()))
    out += "node " + text(d, "node") + " is down: " + text(d, "error") + "\n";
  return out;
}

std::string render_trace(const json& doc) {
  std::string out = "event " + text(doc, "eventId") + "  type "
                    + text(doc, "type") + "  status " + text(doc, "status")
                    + "\n";
  auto by = text(doc, "acceptedBy");
  out += "  " + format_time(whole_or(doc, "createdAt", 0)) + "  accepted "
         + (by.empty() ? std::string{} : "on node " + by + " ") + "(seq "
         + cell(doc.value("seq", json{})) + ", store of core "
         + text(doc, "core")
         + (by.empty() ? "; the accepting node not recorded" : "") + ")\n";
  if (auto d = doc.value("duplicates", json::object());
      d.is_object() && whole_or(d, "count", 0) > 0)
    out += "  " + format_time(whole_or(d, "lastAt", 0)) + "  "
           + cell(d["count"]) + " duplicate submission(s) answered `duplicate`"
           + " (first " + format_time(whole_or(d, "firstAt", 0))
           + ", last on node " + text(d, "lastNode") + ")\n";
  for (auto& g : doc.value("groups", json::array())) {
    out += "  group " + text(g, "group") + ": " + text(g, "status") + "\n";
    for (auto& a : g.value("attempts", json::array())) {
      out += "    " + format_time(whole_or(a, "at", 0)) + "  attempt "
             + cell(a["attempt"]) + "  node " + cell(a["node"]) + "  listener "
             + cell(a["listener"]) + "  epoch " + cell(a["epoch"]) + "  "
             + text(a, "outcome");
      if (auto e = text(a, "error"); !e.empty())
        out += ": " + e;
      out += "\n";
    }
    if (g.contains("nextAttemptAt"))
      out += "    " + format_time(whole_or(g, "nextAttemptAt", 0))
             + "  next attempt due\n";
    if (g.contains("dlq"))
      for (auto& d : g["dlq"])
        out += "    " + format_time(whole_or(d, "deadAt", 0))
               + "  dead-lettered (" + text(d, "reason")
               + "): " + text(d, "lastError") + "\n";
    if (g.contains("effect")) {
      auto& e = g["effect"];
      out += "    " + format_time(whole_or(e, "at", 0))
             + "  effect recorded (attempt " + cell(e["attempt"]) + ", epoch "
             + cell(e["epoch"]) + "); settled\n";
    }
    if (g.contains("settledAfterMs"))
      out += "    settled "
             + format_duration(g["settledAfterMs"].get<millis_t>())
             + " after acceptance\n";
  }
  if (doc.value("groups", json::array()).empty())
    out += "  no group subscribes to this event's type\n";
  return out;
}

std::string render_dlq_list(const json& doc) {
  std::vector<std::vector<std::string>> rows{
    {"EVENT", "GROUP", "TYPE", "ATTEMPTS", "REASON", "DEAD AT", "LAST ERROR"}};
  for (auto& e : doc.value("entries", json::array()))
    rows.push_back({text(e, "eventId"), text(e, "group"), text(e, "type"),
                    cell(e["attempts"]), text(e, "reason"),
                    format_time(whole_or(e, "deadAt", 0)),
                    cell(e.value("lastError", json{}))});
  auto out = table(rows);
  out += std::to_string(doc.value("entries", json::array()).size())
         + " entr(ies)";
  if (auto next = doc.value("next", json{}); !next.is_null())
    out += "; more after position " + cell(next);
  return out + "\n";
}

std::string render_dlq_show(const json& doc) {
  auto entries = doc.value("entries", json::array());
  if (entries.empty())
    return "event " + text(doc, "eventId") + " has no DLQ entry\n";
  std::string out;
  for (auto& e : entries) {
    out += "event " + text(e, "eventId") + "  group " + text(e, "group")
           + "  type " + text(e, "type") + "\n  dead at "
           + format_time(whole_or(e, "deadAt", 0)) + " (" + text(e, "reason")
           + "): " + text(e, "lastError") + "\n";
    for (auto& a : e.value("history", json::array()))
      out += "    " + format_time(whole_or(a, "at", 0)) + "  attempt "
             + cell(a["attempt"]) + "  node " + cell(a["node"]) + "  listener "
             + cell(a["listener"]) + "  epoch " + cell(a["epoch"]) + "  "
             + text(a, "outcome")
             + (text(a, "error").empty() ? "" : ": " + text(a, "error")) + "\n";
  }
  return out;
}

json top_view(const json& sample, size_t n) {
  auto actors = sample.value("actors", json::array());
  std::vector<json> xs(actors.begin(), actors.end());
  auto rate = [](const json& r) {
    auto i = r.find("rate");
    return i != r.end() && i->is_number() ? i->get<double>() : 0.0;
  };
  std::stable_sort(xs.begin(), xs.end(), [&](const json& a, const json& b) {
    if (rate(a) != rate(b))
      return rate(a) > rate(b);
    return num(a, "processed") > num(b, "processed");
  });
  json busiest = json::array();
  for (size_t i = 0; i < xs.size() && i < n; ++i)
    busiest.push_back(xs[i]);
  std::stable_sort(xs.begin(), xs.end(), [](const json& a, const json& b) {
    return num(a, "mailbox") > num(b, "mailbox");
  });
  json deepest = json::array();
  for (size_t i = 0; i < xs.size() && i < n; ++i)
    deepest.push_back(xs[i]);
  json down = json::array();
  for (auto& node : sample.value("nodes", json::array()))
    if (!node.value("up", false))
      down.push_back(node);
  return {{"at", whole_or(sample, "at", 0)},
          {"busiest", std::move(busiest)},
          {"deepest", std::move(deepest)},
          {"groups", sample.value("groups", json::array())},
          {"down", std::move(down)},
          {"actors", actors.size()}};
}

std::string render_top(const json& view) {
  std::string out = "onceflow top  " + format_time(whole_or(view, "at", 0))
                    + "  " + cell(view["actors"])
                    + " actors  (q quits)\n\nbusiest actors\n";
  std::vector<std::vector<std::string>> rows{
    {"ID", "KIND", "GROUP", "STATE", "EV/S", "PROCESSED", "FAILED", "MAILBOX"}};
  for (auto& r : view.value("busiest", json::array()))
    rows.push_back({text(r, "id"), text(r, "kind"),
                    cell(r.value("group", json{})), text(r, "state"),
                    rate_cell(r), cell(r["processed"]), cell(r["failed"]),
                    cell(r["mailbox"])});
  out += table(rows) + "\ndeepest mailboxes\n";
  rows = {{"ID", "KIND", "GROUP", "MAILBOX", "INFLIGHT"}};
  for (auto& r : view.value("deepest", json::array()))
    rows.push_back({text(r, "id"), text(r, "kind"),
                    cell(r.value("group", json{})), cell(r["mailbox"]),
                    cell(r["inFlight"])});
  out += table(rows) + "\ngroups\n";
  rows = {{"GROUP", "PAUSED", "BACKLOG", "INFLIGHT", "EV/S"}};
  for (auto& g : view.value("groups", json::array()))
    rows.push_back({text(g, "name"), cell(g["paused"]), cell(g["backlog"]),
                    cell(g["inFlight"]), cell(g["rate"])});
  out += table(rows);
  for (auto& d : view.value("down", json::array()))
    out += "node " + text(d, "name") + " is DOWN: " + text(d, "error") + "\n";
  return out;
}

} // namespace onceflow::console
