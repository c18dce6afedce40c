#include "actors/logic/validation.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>

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

constexpr millis_t ms_per_minute = 60'000;
constexpr millis_t ms_per_hour = 3'600'000;

/// A text for an error message: at most 40 bytes of it.
std::string quoted(const std::string& text) {
  if (text.size() <= 40)
    return "'" + text + "'";
  return "'" + text.substr(0, 40) + "...'";
}

/// The rules for delay and notBefore that need no clock: not both, a delay
/// neither negative nor over the maximum.
event_problem check_timing(const event& ev, const validation_limits& lim) {
  if (ev.delay < 0)
    return {"delay", "must not be negative"};
  if (ev.delay > 0 && ev.not_before != 0)
    return {"delay", "and notBefore were both given: give one of them"};
  if (ev.delay > 0 && lim.max_delay <= 0)
    return {"delay", "is not allowed: delayed events are off ([events] "
                     "max-delay is 0)"};
  if (ev.delay > lim.max_delay)
    return {"delay",
            "of " + format_duration(ev.delay) + " is over the maximum delay of "
              + format_duration(lim.max_delay) + " ([events] max-delay)"};
  return {};
}

/// The rules of check_event before the payload's: id (unless the node
/// generated it), type, priority, delay and notBefore.
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
  return check_timing(ev, lim);
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
  if (!sub.delay.empty())
    if (auto err = parse_delay(sub.delay, r.ev.delay); !err.empty())
      return fail("delay", std::move(err));
  if (!sub.not_before.empty())
    if (auto err = parse_time(sub.not_before, r.ev.not_before); !err.empty())
      return fail("notBefore", std::move(err));
  if (auto problem = check_timing(r.ev, lim))
    return fail(std::move(problem));
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

event_problem check_not_before(const event& ev, const validation_limits& lim,
                               millis_t now) {
  if (ev.not_before <= now)
    return {};
  if (lim.max_delay <= 0)
    return {"notBefore", "is not allowed: delayed events are off ([events] "
                         "max-delay is 0)"};
  if (ev.not_before - now > lim.max_delay)
    return {"notBefore", "is " + format_duration(ev.not_before - now)
                           + " after now, over the maximum delay of "
                           + format_duration(lim.max_delay)
                           + " ([events] max-delay)"};
  return {};
}

void check_not_before(validation_result& r, const validation_limits& lim,
                      millis_t now) {
  if (!r.ok)
    return;
  if (auto p = check_not_before(r.ev, lim, now)) {
    r.ok = false;
    r.field = std::move(p.field);
    r.message = std::move(p.message);
  }
}

namespace {

/// Reads the digits at `pos` (at least one, at most `max_digits`) as a
/// number; false if there are none or they overflow.
bool read_number(const std::string& text, size_t& pos, size_t max_digits,
                 int64_t& out) {
  auto start = pos;
  int64_t n = 0;
  while (pos < text.size() && pos - start < max_digits && text[pos] >= '0'
         && text[pos] <= '9') {
    auto d = text[pos] - '0';
    if (n > (std::numeric_limits<int64_t>::max() - d) / 10)
      return false;
    n = n * 10 + d;
    ++pos;
  }
  out = n;
  return pos > start;
}

bool is_leap(int64_t y) {
  return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

int64_t days_in_month(int64_t y, int64_t m) {
  static constexpr int64_t days[] = {31, 28, 31, 30, 31, 30,
                                     31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/// Days since 1970-01-01 of a proleptic Gregorian date (y >= 0).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  auto era = (y >= 0 ? y : y - 399) / 400;
  auto yoe = y - era * 400;
  auto doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  auto doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool expect(const std::string& text, size_t& pos, const char* any_of) {
  if (pos >= text.size())
    return false;
  for (auto p = any_of; *p != 0; ++p)
    if (text[pos] == *p) {
      ++pos;
      return true;
    }
  return false;
}

/// RFC 3339 date-time into ms since the epoch; false if malformed or out of
/// range.
bool read_rfc3339(const std::string& text, millis_t& out) {
  size_t pos = 0;
  int64_t y = 0;
  int64_t mo = 0;
  int64_t d = 0;
  int64_t h = 0;
  int64_t mi = 0;
  int64_t sec = 0;
  auto two = [&](int64_t& x) {
    auto start = pos;
    return read_number(text, pos, 2, x) && pos - start == 2;
  };
  auto start = pos;
  if (!read_number(text, pos, 4, y) || pos - start != 4
      || !expect(text, pos, "-") || !two(mo) || !expect(text, pos, "-")
      || !two(d) || !expect(text, pos, "Tt ") || !two(h)
      || !expect(text, pos, ":") || !two(mi) || !expect(text, pos, ":")
      || !two(sec))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23
      || mi > 59 || sec > 60) // 60: a leap second
    return false;
  int64_t frac_ms = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    auto digits = pos;
    int64_t scale = 100;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      frac_ms += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == digits)
      return false;
  }
  int64_t offset_min = 0;
  if (expect(text, pos, "Zz")) {
    // UTC
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    auto sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int64_t oh = 0;
    int64_t om = 0;
    if (!two(oh) || !expect(text, pos, ":") || !two(om) || oh > 23 || om > 59)
      return false;
    offset_min = sign * (oh * 60 + om);
  } else {
    return false;
  }
  if (pos != text.size())
    return false;
  auto days = days_from_civil(y, mo, d);
  out = ((days * 24 + h) * 60 + mi - offset_min) * ms_per_minute + sec * 1000
        + frac_ms;
  return true;
}

} // namespace

std::string parse_delay(const std::string& text, millis_t& out) {
  auto form = "must be a duration like 500ms, 30s, 5min or 2h, or a whole "
              "number of milliseconds (got "
              + quoted(text) + ")";
  if (!text.empty() && text[0] == '-')
    return "must not be negative (got " + quoted(text) + ")";
  size_t pos = 0;
  int64_t n = 0;
  if (!read_number(text, pos, text.size(), n)) {
    if (pos < text.size() && text[pos] >= '0' && text[pos] <= '9')
      return "is too large (got " + quoted(text) + ")";
    return form;
  }
  if (pos < text.size() && text[pos] >= '0' && text[pos] <= '9')
    return "is too large (got " + quoted(text) + ")";
  auto unit = text.substr(pos);
  int64_t scale = 0;
  if (unit.empty() || unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "m" || unit == "min")
    scale = ms_per_minute;
  else if (unit == "h")
    scale = ms_per_hour;
  else
    return form;
  if (n > std::numeric_limits<int64_t>::max() / scale)
    return "is too large (got " + quoted(text) + ")";
  out = n * scale;
  return {};
}

std::string parse_time(const std::string& text, millis_t& out) {
  if (!text.empty()
      && text.find_first_not_of("0123456789") == std::string::npos) {
    size_t pos = 0;
    int64_t n = 0;
    if (!read_number(text, pos, text.size(), n) || pos != text.size())
      return "is too large (got " + quoted(text) + ")";
    out = n;
    return {};
  }
  if (read_rfc3339(text, out))
    return {};
  return "must be an RFC 3339 time with a zone, like 2030-05-01T12:00:00Z "
         "or 2030-05-01T14:00:00.250+02:00, or a whole number of "
         "milliseconds since the Unix epoch (got "
         + quoted(text) + ")";
}

std::string format_duration(millis_t ms) {
  if (ms != 0 && ms % ms_per_hour == 0)
    return std::to_string(ms / ms_per_hour) + "h";
  if (ms != 0 && ms % ms_per_minute == 0)
    return std::to_string(ms / ms_per_minute) + "min";
  if (ms != 0 && ms % 1000 == 0)
    return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
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
  // delay and notBefore: text, or a whole number of milliseconds (read by
  // validate_fields as its digits).
  auto get_time = [&](const char* key, std::string& out) -> std::string {
    auto i = doc.find(key);
    if (i == doc.end() || i->is_null())
      return {};
    if (i->is_string()) {
      out = i->get<std::string>();
      if (out.empty())
        return "must not be empty (leave it out to run at once)";
      return {};
    }
    if (i->is_number_unsigned()) {
      out = std::to_string(i->get<uint64_t>());
      return {};
    }
    if (i->is_number_integer())
      return "must not be negative";
    return std::string{"must be "}
           + (std::string{key} == "delay"
                ? "a duration text like \"30s\" or a whole number of "
                  "milliseconds"
                : "an RFC 3339 text like \"2030-05-01T12:00:00Z\" or a "
                  "whole number of milliseconds since the epoch");
  };
  if (auto err = get_time("delay", sub.delay); !err.empty())
    return fail("delay", std::move(err));
  if (auto err = get_time("notBefore", sub.not_before); !err.empty())
    return fail("notBefore", std::move(err));
  for (auto& [key, value] : doc.items()) {
    (void) value;
    if (key != "id" && key != "type" && key != "payload" && key != "priority"
        && key != "delay" && key != "notBefore")
      return fail(unknown_field.empty() ? key : unknown_field,
                  "has unknown field '" + key
                    + "' (expected id, type, payload, priority, delay, "
                      "notBefore)");
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
