#include "actors/logic/validation.hpp"

#include <nlohmann/json.hpp>

namespace onceflow {

namespace {

/// SAX consumer that checks shape and depth without building a DOM.
class payload_checker : public nlohmann::json_sax<nlohmann::json> {
public:
  explicit payload_checker(size_t max_depth) : max_depth_(max_depth) {
    // nop
  }

  bool null() override {
    return scalar();
  }
  bool boolean(bool) override {
    return scalar();
  }
  bool number_integer(number_integer_t) override {
    return scalar();
  }
  bool number_unsigned(number_unsigned_t) override {
    return scalar();
  }
  bool number_float(number_float_t, const string_t&) override {
    return scalar();
  }
  bool string(string_t&) override {
    return scalar();
  }
  bool binary(binary_t&) override {
    return scalar();
  }
  bool start_object(std::size_t) override {
    return open(true);
  }
  bool key(string_t&) override {
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    return open(false);
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t pos, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    if (error.empty())
      error = "invalid JSON at byte " + std::to_string(pos) + ": " + ex.what();
    return false;
  }

  std::string error;
  bool too_deep = false;

private:
  bool scalar() {
    if (depth_ == 0) {
      error = "must be a JSON object";
      return false;
    }
    return true;
  }
  bool open(bool is_object) {
    if (depth_ == 0 && !is_object) {
      error = "must be a JSON object";
      return false;
    }
    if (++depth_ > max_depth_) {
      too_deep = true;
      error = "nested deeper than " + std::to_string(max_depth_) + " levels";
      return false;
    }
    return true;
  }

  size_t depth_ = 0;
  size_t max_depth_;
};

validation_result fail(std::string field, std::string message,
                       bool too_large = false) {
  validation_result r;
  r.field = std::move(field);
  r.message = std::move(message);
  r.too_large = too_large;
  return r;
}

} // namespace

bool valid_event_id(const std::string& id, const validation_limits& lim) {
  if (id.empty() || id.size() > lim.max_id_bytes)
    return false;
  for (unsigned char c : id)
    if (c < 0x21 || c > 0x7E)
      return false;
  return true;
}

bool valid_event_type(const std::string& type, const validation_limits& lim) {
  if (type.empty() || type.size() > lim.max_type_bytes)
    return false;
  for (unsigned char c : type) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok)
      return false;
  }
  return true;
}

namespace {

std::string check_json(const std::string& json, const validation_limits& lim,
                       bool& too_large, bool& too_deep) {
  too_large = false;
  too_deep = false;
  if (json.size() > lim.max_payload_bytes) {
    too_large = true;
    return "is " + std::to_string(json.size()) + " bytes, over the limit of "
           + std::to_string(lim.max_payload_bytes) + " bytes";
  }
  payload_checker checker{lim.max_depth};
  bool ok = nlohmann::json::sax_parse(
    json, &checker, nlohmann::json::input_format_t::json, true, false);
  too_deep = checker.too_deep;
  if (!ok || !checker.error.empty())
    return checker.error.empty() ? "invalid JSON" : checker.error;
  return {};
}

} // namespace

std::string check_payload(const std::string& json, const validation_limits& lim,
                          bool& too_large) {
  bool too_deep = false;
  return check_json(json, lim, too_large, too_deep);
}

namespace {

/// The rules of check_event before the payload's: id (unless the node
/// generated it), type, priority.
event_problem check_fields(const event& ev, const validation_limits& lim,
                           bool generated_id = false) {
  if (!generated_id && !valid_event_id(ev.id, lim))
    return {"id", "must be 1.." + std::to_string(lim.max_id_bytes)
                    + " printable ASCII characters without spaces"};
  if (!valid_event_type(ev.type, lim))
    return {"type", ev.type.empty()
                      ? "is required"
                      : "must match [A-Za-z0-9_.-]{1,"
                          + std::to_string(lim.max_type_bytes) + "}"};
  if (static_cast<uint8_t>(ev.prio) > static_cast<uint8_t>(priority::low))
    return {"priority", "must be one of high, normal, low"};
  return {};
}

validation_result fail(event_problem p) {
  return fail(std::move(p.field), std::move(p.message), p.too_large);
}

/// Checks id, type and priority and builds the event; the payload is
/// checked by the caller.
validation_result validate_fields(const submission& sub,
                                  const validation_limits& lim) {
  validation_result r;
  r.ev.id = sub.id;
  r.ev.type = sub.type;
  if (auto problem = check_fields(r.ev, lim, sub.id.empty()))
    return fail(std::move(problem));
  if (!sub.prio.empty() && !parse_priority(sub.prio, r.ev.prio))
    return fail("priority",
                "must be one of high, normal, low (got '" + sub.prio + "')");
  r.ok = true;
  if (sub.id.empty())
    r.ev.id = make_uuid_v7();
  r.ev.payload = sub.payload;
  r.ev.trace_id = make_uuid_v4();
  return r;
}

/// The rule of check_event for the payload: present, a JSON object within
/// the limits.
event_problem check_payload_field(const std::string& payload,
                                  const validation_limits& lim) {
  if (payload.empty())
    return {"payload", "is required"};
  bool too_large = false;
  auto err = check_payload(payload, lim, too_large);
  if (!err.empty())
    return {"payload", std::move(err), too_large};
  return {};
}

} // namespace

event_problem check_event(const event& ev, const validation_limits& lim) {
  if (auto problem = check_fields(ev, lim))
    return problem;
  return check_payload_field(ev.payload, lim);
}

validation_result validate(const submission& sub,
                           const validation_limits& lim) {
  auto r = validate_fields(sub, lim);
  if (!r.ok)
    return r;
  if (auto problem = check_payload_field(sub.payload, lim))
    return fail(std::move(problem));
  return r;
}

validation_result parse_event_json(const std::string& line,
                                   const validation_limits& lim) {
  // Bound the whole line before parsing: payload limit plus room for fields.
  if (line.size() > lim.max_payload_bytes + 1024)
    return fail("payload",
                "line is " + std::to_string(line.size())
                  + " bytes, over the payload limit of "
                  + std::to_string(lim.max_payload_bytes) + " bytes",
                true);
  bool too_large = false;
  bool too_deep = false;
  validation_limits outer = lim;
  outer.max_payload_bytes = lim.max_payload_bytes + 1024;
  outer.max_depth = lim.max_depth + 1;
  auto err = check_json(line, outer, too_large, too_deep);
  if (too_deep) // Only the payload can nest: the event itself is flat.
    return fail("payload", "nested deeper than " + std::to_string(lim.max_depth)
                             + " levels");
  if (!err.empty())
    return fail("line", "event " + err);
  return parse_event_object(nlohmann::json::parse(line), lim, "line");
}

validation_result parse_event_object(const nlohmann::json& doc,
                                     const validation_limits& lim,
                                     const std::string& unknown_field) {
  if (!doc.is_object())
    return fail(unknown_field.empty() ? "event" : unknown_field,
                "must be a JSON object");
  submission sub;
  auto get_string = [&](const char* key, std::string& out,
                        std::string& problem) {
    auto i = doc.find(key);
    if (i == doc.end() || i->is_null())
      return;
    if (!i->is_string())
      problem = std::string{key};
    else
      out = i->get<std::string>();
  };
  std::string problem;
  get_string("id", sub.id, problem);
  if (!problem.empty())
    return fail("id", "must be a string");
  if (sub.id.empty() && doc.find("id") != doc.end() && !doc["id"].is_null())
    return fail("id", "must not be empty (leave it out to get a generated "
                      "id)");
  get_string("type", sub.type, problem);
  if (!problem.empty())
    return fail("type", "must be a string");
  get_string("priority", sub.prio, problem);
  if (!problem.empty())
    return fail("priority", "must be a string");
  for (auto& [key, value] : doc.items()) {
    (void) value;
    if (key != "id" && key != "type" && key != "payload" && key != "priority")
      return fail(unknown_field.empty() ? key : unknown_field,
                  "has unknown field '" + key
                    + "' (expected id, type, payload, priority)");
  }
  auto p = doc.find("payload");
  if (p == doc.end())
    return fail("payload", "is required");
  if (!p->is_object())
    return fail("payload", "must be a JSON object");
  // The payload is parsed already: check its depth on the tree (with an
  // explicit stack, stopping past the limit) instead of parsing its text
  // again.
  {
    std::vector<std::pair<const nlohmann::json*, size_t>> walk{{&*p, 1}};
    while (!walk.empty()) {
      auto [node, depth] = walk.back();
      walk.pop_back();
      if (depth > lim.max_depth)
        return fail("payload", "nested deeper than "
                                 + std::to_string(lim.max_depth) + " levels");
      if (node->is_structured())
        for (auto& child : *node)
          if (child.is_structured())
            walk.emplace_back(&child, depth + 1);
    }
  }
  sub.payload = p->dump(-1, ' ', false,
                        nlohmann::json::error_handler_t::strict);
  if (sub.payload.size() > lim.max_payload_bytes)
    return fail("payload",
                "is " + std::to_string(sub.payload.size())
                  + " bytes, over the limit of "
                  + std::to_string(lim.max_payload_bytes) + " bytes",
                true);
  return validate_fields(sub, lim);
}

bool json_nesting_exceeds(const std::string& text, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (auto ch : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (ch == '\\')
        escaped = true;
      else if (ch == '"')
        in_string = false;
      continue;
    }
    switch (ch) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth)
          return true;
        break;
      case ']':
      case '}':
        if (depth > 0)
          --depth;
        break;
      default:
        break;
    }
  }
  return false;
}

} // namespace onceflow
