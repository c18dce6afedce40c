#include "runtime/http/views.hpp"

namespace onceflow::http {

using json = nlohmann::json;

namespace {

json payload_json(const std::string& text) {
  auto doc = json::parse(text, nullptr, false);
  return doc.is_discarded() ? json(text) : doc;
}

} // namespace

json attempts_json(const std::vector<attempt_record>& xs) {
  auto arr = json::array();
  for (auto& a : xs)
    arr.push_back({{"attempt", a.attempt},
                   {"at", a.at},
                   {"node", a.node},
                   {"listener", a.listener},
                   {"epoch", a.epoch},
                   {"outcome", to_string(a.result)},
                   {"error", a.error}});
  return arr;
}

json duplicates_json(const event_history& h) {
  if (h.duplicates == 0)
    return {{"count", 0},
            {"firstAt", nullptr},
            {"lastAt", nullptr},
            {"lastNode", nullptr}};
  return {{"count", h.duplicates},
          {"firstAt", h.first_duplicate_at},
          {"lastAt", h.last_duplicate_at},
          {"lastNode", h.last_duplicate_node}};
}

json event_json(const event& ev) {
  json doc{{"eventId", ev.id},
           {"type", ev.type},
           {"priority", to_string(ev.prio)},
           {"payload", payload_json(ev.payload)},
           {"createdAt", ev.created_at},
           {"traceId", ev.trace_id},
           {"seq", ev.seq}};
  // A delayed event: when it runs (at the earliest).
  if (ev.not_before > 0)
    doc["notBefore"] = ev.not_before;
  return doc;
}

json groups_status_json(const std::vector<group_status>& xs) {
  auto arr = json::array();
  for (auto& g : xs)
    arr.push_back({{"group", g.group}, {"status", to_string(g.status)}});
  return arr;
}

nlohmann::json settings_json(const caf::settings& s) {
  auto out = nlohmann::json::object();
  for (auto& [key, value] : s) {
    if (auto d = caf::get_if<caf::settings>(&value))
      out[key] = settings_json(*d);
    else if (auto i = caf::get_if<int64_t>(&value))
      out[key] = *i;
    else if (auto r = caf::get_if<double>(&value))
      out[key] = *r;
    else if (auto b = caf::get_if<bool>(&value))
      out[key] = *b;
    else if (auto t = caf::get_if<std::string>(&value))
      out[key] = *t;
    else
      out[key] = caf::to_string(value);
  }
  return out;
}

double number_of(const caf::settings& s, const std::string& key) {
  auto i = s.find(key);
  if (i == s.end())
    return 0;
  auto& v = i->second;
  if (auto x = caf::get_if<int64_t>(&v))
    return static_cast<double>(*x);
  if (auto x = caf::get_if<double>(&v))
    return *x;
  if (auto x = caf::get_if<bool>(&v))
    return *x ? 1 : 0;
  return 0;
}

} // namespace onceflow::http
