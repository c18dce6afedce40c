#include "adapters/codec.hpp"

namespace onceflow::codec {

using json = nlohmann::json;

json to_json(const delivery& dl) {
  json hist = json::array();
  for (auto& a : dl.history)
    hist.push_back({{"attempt", a.attempt},
                    {"at", a.at},
                    {"node", a.node},
                    {"listener", a.listener},
                    {"epoch", a.epoch},
                    {"result", static_cast<int>(a.result)},
                    {"error", a.error}});
  return {{"ev",
           {{"id", dl.ev.id},
            {"type", dl.ev.type},
            {"payload", dl.ev.payload},
            {"prio", static_cast<int>(dl.ev.prio)},
            {"created_at", dl.ev.created_at},
            {"trace_id", dl.ev.trace_id},
            {"seq", dl.ev.seq}}},
          {"group", dl.group},
          {"attempt", dl.attempt},
          {"epoch", dl.epoch},
          {"redeliveries", dl.redeliveries},
          {"history", std::move(hist)}};
}

std::string dump(const json& doc) {
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

priority priority_from_int(int64_t value) {
  if (value < 0 || value > static_cast<int64_t>(priority::low))
    return priority::normal;
  return static_cast<priority>(value);
}

delivery delivery_from_json(const std::string& text) {
  try {
    auto doc = json::parse(text);
    delivery dl;
    auto& ev = doc.at("ev");
    ev.at("id").get_to(dl.ev.id);
    ev.at("type").get_to(dl.ev.type);
    ev.at("payload").get_to(dl.ev.payload);
    dl.ev.prio = priority_from_int(ev.at("prio").get<int64_t>());
    ev.at("created_at").get_to(dl.ev.created_at);
    ev.at("trace_id").get_to(dl.ev.trace_id);
    ev.at("seq").get_to(dl.ev.seq);
    doc.at("group").get_to(dl.group);
    doc.at("attempt").get_to(dl.attempt);
    doc.at("epoch").get_to(dl.epoch);
    doc.at("redeliveries").get_to(dl.redeliveries);
    for (auto& a : doc.at("history")) {
      attempt_record rec;
      a.at("attempt").get_to(rec.attempt);
      a.at("at").get_to(rec.at);
      a.at("node").get_to(rec.node);
      a.at("listener").get_to(rec.listener);
      a.at("epoch").get_to(rec.epoch);
      auto result = a.at("result").get<int>();
      if (result < 0 || result > static_cast<int>(outcome::crashed))
        throw decode_error("decode delivery: bad outcome "
                           + std::to_string(result));
      rec.result = static_cast<outcome>(result);
      a.at("error").get_to(rec.error);
      dl.history.push_back(std::move(rec));
    }
    return dl;
  } catch (const json::exception& ex) {
    throw decode_error(std::string{"decode delivery: "} + ex.what());
  }
}

event_status aggregate(const std::vector<group_status>& xs) {
  bool any_dead = false;
  bool any_retrying = false;
  bool any_in_flight = false;
  bool all_processed = !xs.empty();
  for (auto& x : xs) {
    any_dead |= x.status == event_status::dead;
    any_retrying |= x.status == event_status::retrying;
    any_in_flight |= x.status == event_status::in_flight;
    all_processed &= x.status == event_status::processed;
  }
  if (any_dead)
    return event_status::dead;
  if (any_retrying)
    return event_status::retrying;
  if (any_in_flight)
    return event_status::in_flight;
  if (all_processed)
    return event_status::processed;
  return event_status::accepted;
}

} // namespace onceflow::codec
