#include "adapters/redis/redis_reply.hpp"

#include "adapters/codec.hpp"

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <exception>
#include <string_view>
#include <utility>

namespace onceflow {

namespace {

using json = nlohmann::json;

/// Splits a log entry's `d` field: priority, created_at, trace id, payload
/// (the payload last: it may hold any byte).
void unpack_fields(event& ev, std::string_view d) {
  std::string_view parts[3];
  for (auto& part : parts) {
    auto sep = d.find('\x1f');
    if (sep == std::string_view::npos)
      throw store_error("decode log entry: bad 'd' field");
    part = d.substr(0, sep);
    d.remove_prefix(sep + 1);
  }
  try {
    ev.prio = codec::priority_from_int(std::stoi(std::string(parts[0])));
    ev.created_at = std::stoll(std::string(parts[1]));
  } catch (const std::exception&) {
    throw store_error("decode log entry: bad 'd' field");
  }
  ev.trace_id = std::string(parts[2]);
  ev.payload = std::string(d);
}

/// A status code of the scripts (event_status; unknown for others).
event_status status_of_code(int64_t st) {
  if (st < 0 || st > static_cast<int64_t>(event_status::cancelled))
    st = 0;
  return static_cast<event_status>(st);
}

} // namespace

void reply_deleter::operator()(redisReply* r) const {
  if (r != nullptr)
    freeReplyObject(r);
}

void fail_call(const std::string& server, const std::string& op,
               const std::string& msg, store_error::kind k) {
  throw store_error(server + ": " + op + ": " + msg, k);
}

// -- scalars -----------------------------------------------------------------

std::string str_of(const redisReply* r) {
  if (r == nullptr)
    return {};
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS
      || r->type == REDIS_REPLY_ERROR)
    return std::string(r->str, r->len);
  if (r->type == REDIS_REPLY_INTEGER)
    return std::to_string(r->integer);
  return {};
}

int64_t int_of(const redisReply* r) {
  if (r == nullptr)
    return 0;
  if (r->type == REDIS_REPLY_INTEGER)
    return r->integer;
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
    std::string s(r->str, r->len);
    try {
      size_t used = 0;
      // Scores may come as "1700000000100" or in exponent form.
      if (s.find_first_of(".eE") != std::string::npos)
        return static_cast<int64_t>(std::stod(s));
      auto v = std::stoll(s, &used);
      return v;
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

uint64_t u64_of(const redisReply* r) {
  return static_cast<uint64_t>(int_of(r));
}

bool is_array(const redisReply* r) {
  return r != nullptr && r->type == REDIS_REPLY_ARRAY;
}

// -- entries and script replies ----------------------------------------------

event decode_event(const redisReply* id, const redisReply* fields) {
  event ev;
  auto sid = str_of(id);
  if (sid.size() > 2)
    ev.seq = std::stoull(sid.substr(2));
  if (!is_array(fields))
    return ev;
  for (size_t j = 0; j + 1 < fields->elements; j += 2) {
    auto name = str_of(fields->element[j]);
    auto* v = fields->element[j + 1];
    if (name == "i")
      ev.id = str_of(v);
    else if (name == "t")
      ev.type = str_of(v);
    else if (name == "p")
      ev.payload = str_of(v);
    else if (name == "r")
      ev.prio = codec::priority_from_int(int_of(v));
    else if (name == "c")
      ev.created_at = int_of(v);
    else if (name == "tr")
      ev.trace_id = str_of(v);
    else if (name == "n")
      ev.not_before = int_of(v);
    else if (name == "d" && v != nullptr && v->type == REDIS_REPLY_STRING)
      unpack_fields(ev, std::string_view(v->str, v->len));
  }
  return ev;
}

std::vector<group_status> read_statuses(const redisReply* r, size_t from) {
  std::vector<group_status> out;
  for (size_t i = from; i + 1 < r->elements; i += 2) {
    group_status gs;
    gs.group = str_of(r->element[i]);
    gs.status = status_of_code(int_of(r->element[i + 1]));
    out.push_back(std::move(gs));
  }
  return out;
}

delivery decode_delivery(const std::string& text, const std::string& server,
                         const std::string& op) {
  try {
    return codec::delivery_from_json(text);
  } catch (const codec::decode_error& ex) {
    fail_call(server, op, ex.what());
  }
}

std::vector<attempt_record> decode_ledger(const std::string& value,
                                          const std::string& server,
                                          const std::string& op) {
  // "<epoch> <at>" optionally followed by " <encoded attempts>"; the
  // attempts may contain spaces, so only the first two separate fields.
  auto sp1 = value.find(' ');
  auto sp2 = sp1 == std::string::npos ? sp1 : value.find(' ', sp1 + 1);
  auto head_end = sp2 == std::string::npos ? value.size() : sp2;
  std::vector<attempt_record> out;
  if (sp2 != std::string::npos) {
    try {
      out = codec::decode_attempts(value.substr(sp2 + 1));
    } catch (const codec::decode_error& ex) {
      fail_call(server, op, ex.what());
    }
  }
  if (out.empty()) {
    // Committed without a history (or before histories were kept): the
    // final attempt only, as far as the ledger knows it.
    if (sp1 == std::string::npos)
      fail_call(server, op, "decode ledger entry: bad value");
    attempt_record r;
    try {
      r.epoch = std::stoull(value.substr(0, sp1));
      r.at = std::stoll(value.substr(sp1 + 1, head_end - sp1 - 1));
    } catch (const std::exception&) {
      fail_call(server, op, "decode ledger entry: bad value");
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<dlq_entry>
decode_dlq(const redisReply* r, std::vector<uint64_t>* positions,
           std::vector<std::string>* groups, const std::string& server,
           const std::string& op) {
  std::vector<dlq_entry> out;
  if (!is_array(r))
    return out;
  for (size_t i = 0; i + 2 < r->elements; i += 3) {
    auto pos = u64_of(r->element[i]);
    auto* f = r->element[i + 1];
    dlq_entry e;
    e.dl = decode_delivery(str_of(r->element[i + 2]), server, op);
    std::string grp;
    if (is_array(f))
      for (size_t j = 0; j + 1 < f->elements; j += 2) {
        auto name = str_of(f->element[j]);
        auto* v = f->element[j + 1];
        if (name == "r") {
          if (!parse_dlq_reason(str_of(v), e.reason))
            fail_call(server, op, "decode dlq entry: bad reason");
        } else if (name == "e") {
          e.last_error = str_of(v);
        } else if (name == "t") {
          e.dead_at = int_of(v);
        } else if (name == "g") {
          grp = str_of(v);
        }
      }
    if (positions != nullptr)
      positions->push_back(pos);
    if (groups != nullptr)
      groups->push_back(std::move(grp));
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<group_history> decode_history(const redisReply* r,
                                          const std::string& server,
                                          const std::string& op) {
  std::vector<group_history> out;
  if (!is_array(r) || r->elements < 1)
    return out;
  if ((r->elements - 1) % 4 != 0)
    fail_call(server, op, "unexpected reply from the history script");
  for (size_t i = 1; i + 3 < r->elements; i += 4) {
    group_history h;
    h.group = str_of(r->element[i]);
    h.status = status_of_code(int_of(r->element[i + 1]));
    auto src = str_of(r->element[i + 2]);
    if (h.status == event_status::processed)
      h.attempts = decode_ledger(src, server, op);
    else if (!src.empty())
      h.attempts = decode_delivery(src, server, op).history;
    if (auto due = str_of(r->element[i + 3]); !due.empty())
      h.next_attempt_at = std::stoll(due);
    out.push_back(std::move(h));
  }
  return out;
}

event_listing decode_listing(const redisReply* r, event_status status,
                             const std::string& server, const std::string& op) {
  event_listing out;
  if (!is_array(r) || r->elements < 1 || (r->elements - 1) % 4 != 0)
    fail_call(server, op, "unexpected reply from the list_events script");
  out.next = u64_of(r->element[0]);
  out.items.reserve((r->elements - 1) / 4);
  for (size_t i = 1; i + 3 < r->elements; i += 4) {
    event_listing_item it;
    it.group = str_of(r->element[i]);
    it.event_id = str_of(r->element[i + 1]);
    it.type = str_of(r->element[i + 2]);
    it.seq = u64_of(r->element[i + 3]);
    it.status = status;
    out.items.push_back(std::move(it));
  }
  return out;
}

std::vector<processed_record> decode_processed(const redisReply* r,
                                               const std::string& server,
                                               const std::string& op) {
  std::vector<processed_record> out;
  if (!is_array(r))
    return out;
  for (size_t i = 0; i < r->elements; ++i) {
    try {
      auto doc = json::parse(str_of(r->element[i]));
      processed_record rec;
      doc.at("g").get_to(rec.group);
      doc.at("i").get_to(rec.event_id);
      doc.at("s").get_to(rec.seq);
      doc.at("t").get_to(rec.type);
      doc.at("e").get_to(rec.epoch);
      doc.at("a").get_to(rec.attempt);
      doc.at("at").get_to(rec.at);
      out.push_back(std::move(rec));
    } catch (const json::exception& ex) {
      fail_call(server, op, std::string("decode record: ") + ex.what());
    }
  }
  return out;
}

} // namespace onceflow
