#include "adapters/codec.hpp"

namespace onceflow::codec {

using json = nlohmann::json;

json to_json(const event& ev) {
  json doc{{"id", ev.id},
           {"type", ev.type},
           {"payload", ev.payload},
           {"prio", static_cast<int>(ev.prio)},
           {"created_at", ev.created_at},
           {"trace_id", ev.trace_id},
           {"seq", ev.seq}};
  // Only delayed events carry it: documents of others stay as they were.
  if (ev.not_before != 0)
    doc["not_before"] = ev.not_before;
  return doc;
}

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
  return {{"ev", to_json(dl.ev)},
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
    // Absent in documents of events that are not delayed (and in those
    // written before delayed events existed).
    if (auto nb = ev.find("not_before"); nb != ev.end())
      nb->get_to(dl.ev.not_before);
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

namespace {

void append_clean(std::string& out, const std::string& text) {
  for (auto ch : text)
    if (ch != '\x1e' && ch != '\x1f')
      out += ch;
}

uint64_t parse_u64(const std::string& text, const char* what) {
  if (text.empty())
    throw decode_error(std::string{"decode attempts: empty "} + what);
  uint64_t x = 0;
  for (auto ch : text) {
    if (ch < '0' || ch > '9')
      throw decode_error(std::string{"decode attempts: bad "} + what + " '"
                         + text + "'");
    x = x * 10 + static_cast<uint64_t>(ch - '0');
  }
  return x;
}

} // namespace

std::string encode_attempts(const std::vector<attempt_record>& xs) {
  std::string out;
  out.reserve(xs.size() * 48);
  for (auto& x : xs) {
    if (!out.empty())
      out += '\x1e';
    out += std::to_string(x.attempt);
    out += '\x1f';
    out += std::to_string(x.at);
    out += '\x1f';
    append_clean(out, x.node);
    out += '\x1f';
    append_clean(out, x.listener);
    out += '\x1f';
    out += std::to_string(x.epoch);
    out += '\x1f';
    out += std::to_string(static_cast<int>(x.result));
    out += '\x1f';
    append_clean(out, x.error);
  }
  return out;
}

std::vector<attempt_record> decode_attempts(const std::string& text) {
  std::vector<attempt_record> result;
  if (text.empty())
    return result;
  size_t pos = 0;
  while (pos <= text.size()) {
    auto end = text.find('\x1e', pos);
    if (end == std::string::npos)
      end = text.size();
    std::vector<std::string> f;
    size_t p = pos;
    while (true) {
      auto q = text.find('\x1f', p);
      if (q == std::string::npos || q > end) {
        f.push_back(text.substr(p, end - p));
        break;
      }
      f.push_back(text.substr(p, q - p));
      p = q + 1;
    }
    if (f.size() != 7)
      throw decode_error("decode attempts: record with "
                         + std::to_string(f.size()) + " fields");
    attempt_record r;
    r.attempt = static_cast<uint32_t>(parse_u64(f[0], "attempt"));
    r.at = static_cast<millis_t>(parse_u64(f[1], "time"));
    r.node = f[2];
    r.listener = f[3];
    r.epoch = parse_u64(f[4], "epoch");
    auto o = parse_u64(f[5], "outcome");
    if (o > static_cast<uint64_t>(outcome::crashed))
      throw decode_error("decode attempts: bad outcome " + f[5]);
    r.result = static_cast<outcome>(o);
    r.error = f[6];
    result.push_back(std::move(r));
    if (end == text.size())
      break;
    pos = end + 1;
  }
  return result;
}

} // namespace onceflow::codec
