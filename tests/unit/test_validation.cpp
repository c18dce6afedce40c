// Unit tests for actors/logic/validation.hpp: event ids, types, payloads,
// priorities and JSON lines, good and bad, each failure naming its field.
#include "actors/logic/validation.hpp"
#include "tests/support/print.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <ostream>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace bdata = boost::unit_test::data;
using namespace onceflow;

namespace {

// Generated event ids are UUIDv7 (time-ordered).
const std::regex uuid_v7_re{
  "^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"};

const std::set<std::string> documented_fields = {"id", "type", "payload",
                                                 "priority", "line"};

const validation_limits defaults{};

// `depth` nested objects: {"a":{"a":{}}} has depth 3.
std::string nested_objects(size_t depth) {
  std::string s;
  for (size_t i = 1; i < depth; ++i)
    s += "{\"a\":";
  s += "{}";
  for (size_t i = 1; i < depth; ++i)
    s += "}";
  return s;
}

// One object holding `arrays` nested arrays: depth arrays + 1.
std::string object_with_arrays(size_t arrays) {
  return "{\"a\":" + std::string(arrays, '[') + std::string(arrays, ']') + "}";
}

// A compact JSON object of exactly `n` bytes (n >= 8): {"a":"xxx..."}.
std::string payload_of_size(size_t n) {
  std::string s = "{\"a\":\"";
  s += std::string(n - 8, 'x');
  s += "\"}";
  return s;
}

std::string printable_ascii_without_space() {
  std::string s;
  for (char c = 0x21; c <= 0x7E; ++c)
    s += c;
  return s;
}

// Makes control characters visible in test logs.
std::string escaped(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (out.size() > 80)
    out = out.substr(0, 60) + "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

// --- submissions -----------------------------------------------------------

struct sub_case {
  std::string name;
  submission sub;
  std::string field; // empty: must be accepted
  bool too_large = false;
};

std::ostream& operator<<(std::ostream& os, const sub_case& c) {
  return os << c.name << " {id='" << escaped(c.sub.id) << "', type='"
            << escaped(c.sub.type) << "', payload='" << escaped(c.sub.payload)
            << "', prio='" << escaped(c.sub.prio) << "'}";
}

submission sub(std::string id, std::string type, std::string payload,
               std::string prio = "") {
  return submission{std::move(id), std::move(type), std::move(payload),
                    std::move(prio)};
}

std::vector<sub_case> submission_cases() {
  const std::string ok_type = "order.created";
  const std::string ok_payload = "{\"amount\":42}";
  std::vector<sub_case> v = {
    // Good inputs.
    {"minimal", sub("", ok_type, "{}"), ""},
    {"client id", sub("order-1234", ok_type, ok_payload), ""},
    {"single char id", sub("x", ok_type, ok_payload), ""},
    {"id of 128 bytes", sub(std::string(128, 'k'), ok_type, ok_payload), ""},
    {"all printable id chars",
     sub(printable_ascii_without_space(), ok_type, ok_payload), ""},
    {"uuid-like id",
     sub("0f8fad5b-d9cb-469f-a165-70867728950e", ok_type, ok_payload), ""},
    {"single char type", sub("", "a", ok_payload), ""},
    {"type of 64 bytes", sub("", std::string(64, 't'), ok_payload), ""},
    {"type with every class", sub("", "Order_v2.created-EU.9", ok_payload), ""},
    {"type of dots", sub("", "...", ok_payload), ""},
    {"priority high", sub("", ok_type, ok_payload, "high"), ""},
    {"priority normal", sub("", ok_type, ok_payload, "normal"), ""},
    {"priority low", sub("", ok_type, ok_payload, "low"), ""},
    {"nested payload",
     sub("", ok_type, "{\"a\":{\"b\":[1,2,{\"c\":null}]},\"d\":true}"), ""},
    {"payload with whitespace",
     sub("", ok_type, "  {\n \"a\" : [ 1 , 2 ] \t}\n"), ""},
    {"payload with unicode",
     sub("", ok_type, "{\"name\":\"J\xC3\xBCrgen \\u00e9 \xE2\x82\xAC\"}"), ""},
    {"payload with numbers",
     sub("", ok_type, "{\"a\":-1.5e10,\"b\":18446744073709551615,\"c\":0}"),
     ""},
    {"payload at depth limit", sub("", ok_type, nested_objects(64)), ""},
    {"payload arrays at depth limit", sub("", ok_type, object_with_arrays(63)),
     ""},
    {"payload at size limit", sub("", ok_type, payload_of_size(256 * 1024)),
     ""},

    // Bad ids.
    {"id of 129 bytes", sub(std::string(129, 'k'), ok_type, ok_payload), "id"},
    {"id of 1000 bytes", sub(std::string(1000, 'k'), ok_type, ok_payload),
     "id"},
    {"id with tab", sub("a\tb", ok_type, ok_payload), "id"},
    {"id with newline", sub("a\nb", ok_type, ok_payload), "id"},
    {"id with NUL", sub(std::string("a\0b", 3), ok_type, ok_payload), "id"},
    {"id with DEL", sub("a\x7f", ok_type, ok_payload), "id"},
    {"id with control", sub("\x01", ok_type, ok_payload), "id"},
    {"id with escape", sub("\x1b[0m", ok_type, ok_payload), "id"},
    {"id with UTF-8", sub("caf\xC3\xA9", ok_type, ok_payload), "id"},
    {"id with high byte", sub("\xFF", ok_type, ok_payload), "id"},

    // Bad types.
    {"missing type", sub("", "", ok_payload), "type"},
    {"type of 65 bytes", sub("", std::string(65, 't'), ok_payload), "type"},
    {"type with space", sub("", "order created", ok_payload), "type"},
    {"type with slash", sub("", "order/created", ok_payload), "type"},
    {"type with star", sub("", "order.*", ok_payload), "type"},
    {"type with colon", sub("", "order:created", ok_payload), "type"},
    {"type with plus", sub("", "order+created", ok_payload), "type"},
    {"type with UTF-8", sub("", "ord\xC3\xA9r", ok_payload), "type"},
    {"type with newline", sub("", "order\n", ok_payload), "type"},
    {"type with NUL", sub("", std::string("ord\0er", 6), ok_payload), "type"},
    {"type with leading space", sub("", " order", ok_payload), "type"},

    // Bad priorities.
    {"priority upper case", sub("", ok_type, ok_payload, "HIGH"), "priority"},
    {"priority capitalised", sub("", ok_type, ok_payload, "Low"), "priority"},
    {"priority unknown", sub("", ok_type, ok_payload, "urgent"), "priority"},
    {"priority medium", sub("", ok_type, ok_payload, "medium"), "priority"},
    {"priority number", sub("", ok_type, ok_payload, "1"), "priority"},
    {"priority padded", sub("", ok_type, ok_payload, " high"), "priority"},

    // Bad payloads.
    {"missing payload", sub("", ok_type, ""), "payload"},
    {"payload array", sub("", ok_type, "[]"), "payload"},
    {"payload array of objects", sub("", ok_type, "[{}]"), "payload"},
    {"payload number", sub("", ok_type, "1"), "payload"},
    {"payload string", sub("", ok_type, "\"{}\""), "payload"},
    {"payload null", sub("", ok_type, "null"), "payload"},
    {"payload true", sub("", ok_type, "true"), "payload"},
    {"payload whitespace only", sub("", ok_type, "   "), "payload"},
    {"payload unterminated", sub("", ok_type, "{"), "payload"},
    {"payload missing value", sub("", ok_type, "{\"a\":}"), "payload"},
    {"payload trailing comma", sub("", ok_type, "{\"a\":1,}"), "payload"},
    {"payload single quotes", sub("", ok_type, "{'a':1}"), "payload"},
    {"payload unquoted key", sub("", ok_type, "{a:1}"), "payload"},
    {"payload NaN", sub("", ok_type, "{\"a\":NaN}"), "payload"},
    {"payload trailing garbage", sub("", ok_type, "{}x"), "payload"},
    {"payload two objects", sub("", ok_type, "{} {}"), "payload"},
    {"payload comment", sub("", ok_type, "{} // c"), "payload"},
    {"payload bad escape", sub("", ok_type, "{\"a\":\"\\q\"}"), "payload"},
    {"payload raw control char", sub("", ok_type, "{\"a\":\"x\ny\"}"),
     "payload"},
    {"payload invalid UTF-8", sub("", ok_type, "{\"a\":\"\xFF\"}"), "payload"},
    {"payload one too deep", sub("", ok_type, nested_objects(65)), "payload"},
    {"payload arrays one too deep", sub("", ok_type, object_with_arrays(64)),
     "payload"},
    {"payload deeply nested", sub("", ok_type, nested_objects(10000)),
     "payload"},
    {"payload arrays deeply nested",
     sub("", ok_type, object_with_arrays(100000)), "payload"},
    {"payload one byte over limit",
     sub("", ok_type, payload_of_size(256 * 1024 + 1)), "payload", true},
    {"payload far over limit", sub("", ok_type, payload_of_size(1 << 22)),
     "payload", true},
  };
  return v;
}

// --- JSON lines ------------------------------------------------------------

struct line_case {
  std::string name;
  std::string line;
  std::string field; // empty: must be accepted
  bool too_large = false;
};

std::ostream& operator<<(std::ostream& os, const line_case& c) {
  return os << c.name << " '" << escaped(c.line) << "'";
}

std::vector<line_case> line_cases() {
  return {
    // Good lines.
    {"minimal", R"({"type":"order.created","payload":{}})", ""},
    {"all fields",
     R"({"id":"k-1","type":"order.created","payload":{"a":1},"priority":"high"})",
     ""},
    {"any field order",
     R"({"payload":{"a":[1,2]},"priority":"low","type":"t","id":"k"})", ""},
    {"whitespace", " { \"type\" : \"t\" ,\t\"payload\" : { } } ", ""},
    {"nested payload",
     R"({"type":"t","payload":{"a":{"b":{"c":[true,false,null]}}}})", ""},
    {"payload at depth limit",
     "{\"type\":\"t\",\"payload\":" + nested_objects(64) + "}", ""},
    {"payload at size limit",
     "{\"type\":\"t\",\"payload\":" + payload_of_size(256 * 1024) + "}", ""},

    // Malformed lines.
    {"empty line", "", "line"},
    {"blank line", "   ", "line"},
    {"not JSON", "hello", "line"},
    {"unterminated", R"({"type":"t","payload":{})", "line"},
    {"trailing garbage", R"({"type":"t","payload":{}} x)", "line"},
    {"two objects", R"({"type":"t","payload":{}}{"type":"t","payload":{}})",
     "line"},
    {"line is an array", R"([{"type":"t","payload":{}}])", "line"},
    {"line is a number", "42", "line"},
    {"line is a string", R"("{\"type\":\"t\"}")", "line"},
    {"line is null", "null", "line"},
    {"trailing comma", R"({"type":"t","payload":{},})", "line"},
    {"single quotes", R"({'type':'t','payload':{}})", "line"},

    // Bad ids.
    {"id number", R"({"id":5,"type":"t","payload":{}})", "id"},
    {"id object", R"({"id":{},"type":"t","payload":{}})", "id"},
    {"id too long",
     "{\"id\":\"" + std::string(129, 'k') + "\",\"type\":\"t\",\"payload\":{}}",
     "id"},
    {"id with control char", R"({"id":"a\u0001b","type":"t","payload":{}})",
     "id"},
    {"id with newline", R"({"id":"a\nb","type":"t","payload":{}})", "id"},
    {"id with non-ASCII", R"({"id":"caf\u00e9","type":"t","payload":{}})",
     "id"},

    // Bad types.
    {"missing type", R"({"payload":{}})", "type"},
    {"type number", R"({"type":1,"payload":{}})", "type"},
    {"type array", R"({"type":["t"],"payload":{}})", "type"},
    {"type empty", R"({"type":"","payload":{}})", "type"},
    {"type with space", R"({"type":"a b","payload":{}})", "type"},
    {"type too long",
     "{\"type\":\"" + std::string(65, 't') + "\",\"payload\":{}}", "type"},

    // Bad priorities.
    {"priority unknown", R"({"type":"t","payload":{},"priority":"urgent"})",
     "priority"},
    {"priority upper case", R"({"type":"t","payload":{},"priority":"HIGH"})",
     "priority"},
    {"priority number", R"({"type":"t","payload":{},"priority":0})",
     "priority"},

    // Bad payloads.
    {"missing payload", R"({"type":"t"})", "payload"},
    {"payload array", R"({"type":"t","payload":[]})", "payload"},
    {"payload string", R"({"type":"t","payload":"{}"})", "payload"},
    {"payload number", R"({"type":"t","payload":1})", "payload"},
    {"payload null", R"({"type":"t","payload":null})", "payload"},
    {"payload false", R"({"type":"t","payload":false})", "payload"},
    {"payload one byte over limit",
     "{\"type\":\"t\",\"payload\":" + payload_of_size(256 * 1024 + 1) + "}",
     "payload", true},
    {"payload far over limit",
     "{\"type\":\"t\",\"payload\":" + payload_of_size(1 << 21) + "}", "payload",
     true},
  };
}

void check_result(const validation_result& r, const std::string& field,
                  bool too_large) {
  if (field.empty()) {
    BOOST_TEST(r.ok);
    BOOST_TEST(r.field.empty());
    BOOST_TEST(!r.too_large);
    BOOST_TEST(!r.ev.type.empty());
    BOOST_TEST(!r.ev.id.empty());
  } else {
    BOOST_TEST(!r.ok);
    BOOST_TEST(r.field == field);
    BOOST_TEST(!r.message.empty());
    BOOST_TEST(r.too_large == too_large);
  }
  if (!r.ok)
    BOOST_TEST_MESSAGE("field=" << r.field << " message=" << r.message);
}

} // namespace

BOOST_AUTO_TEST_SUITE(validation)

BOOST_AUTO_TEST_CASE(default_limits) {
  validation_limits lim;
  BOOST_TEST(lim.max_payload_bytes == 256u * 1024u);
  BOOST_TEST(lim.max_id_bytes == 128u);
  BOOST_TEST(lim.max_type_bytes == 64u);
  BOOST_TEST(lim.max_depth == 64u);
}

BOOST_DATA_TEST_CASE(submissions, bdata::make(submission_cases()), c) {
  auto r = validate(c.sub, defaults);
  check_result(r, c.field, c.too_large);
}

BOOST_AUTO_TEST_CASE(accepted_submission_becomes_event) {
  submission s = sub("order-1", "order.created", " {\"a\": 1} ", "low");
  auto r = validate(s, defaults);
  BOOST_REQUIRE(r.ok);
  BOOST_TEST(r.ev.id == "order-1");
  BOOST_TEST(r.ev.type == "order.created");
  BOOST_TEST(r.ev.payload == s.payload); // kept as validated text
  BOOST_TEST(r.ev.prio == priority::low);
  BOOST_TEST(!r.ev.trace_id.empty());
  BOOST_TEST(r.ev.created_at == 0); // the node stamps it
  BOOST_TEST(r.ev.seq == 0u);       // not in the log yet
}

BOOST_AUTO_TEST_CASE(empty_id_generates_uuid_v7_and_empty_prio_is_normal) {
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    auto r = validate(sub("", "t", "{}"), defaults);
    BOOST_REQUIRE(r.ok);
    BOOST_TEST(std::regex_match(r.ev.id, uuid_v7_re), r.ev.id);
    BOOST_TEST(r.ev.prio == priority::normal);
    BOOST_TEST(!r.ev.trace_id.empty());
    ids.insert(r.ev.id);
  }
  BOOST_TEST(ids.size() == 100u);
}

BOOST_AUTO_TEST_CASE(trace_ids_are_generated_per_event) {
  auto a = validate(sub("same", "t", "{}"), defaults);
  auto b = validate(sub("same", "t", "{}"), defaults);
  BOOST_REQUIRE(a.ok);
  BOOST_REQUIRE(b.ok);
  BOOST_TEST(a.ev.id == b.ev.id);
  BOOST_TEST(a.ev.trace_id != b.ev.trace_id);
}

BOOST_AUTO_TEST_CASE(custom_limits_are_honoured) {
  validation_limits lim;
  lim.max_id_bytes = 4;
  lim.max_type_bytes = 3;
  lim.max_payload_bytes = 16;
  lim.max_depth = 2;
  check_result(validate(sub("abcd", "abc", "{\"a\":{}}"), lim), "", false);
  check_result(validate(sub("abcde", "abc", "{}"), lim), "id", false);
  check_result(validate(sub("", "abcd", "{}"), lim), "type", false);
  check_result(validate(sub("", "abc", payload_of_size(16)), lim), "", false);
  check_result(validate(sub("", "abc", payload_of_size(17)), lim), "payload",
               true);
  check_result(validate(sub("", "abc", "{\"a\":{\"b\":{}}}"), lim), "payload",
               false);
  check_result(validate(sub("", "abc", "{\"a\":[[]]}"), lim), "payload", false);
}

BOOST_AUTO_TEST_CASE(valid_event_id_bounds) {
  BOOST_TEST(!valid_event_id("", defaults));
  BOOST_TEST(valid_event_id("a", defaults));
  BOOST_TEST(valid_event_id(std::string(128, 'a'), defaults));
  BOOST_TEST(!valid_event_id(std::string(129, 'a'), defaults));
  BOOST_TEST(valid_event_id(printable_ascii_without_space(), defaults));
  for (int c = 0; c < 256; ++c) {
    bool printable = c >= 0x21 && c <= 0x7E;
    if (c == 0x20)
      continue; // whether a space is "printable" is not pinned down here
    std::string id = "ab" + std::string(1, static_cast<char>(c)) + "cd";
    BOOST_TEST_CONTEXT("byte " << c) {
      BOOST_TEST(valid_event_id(id, defaults) == printable);
    }
  }
}

BOOST_AUTO_TEST_CASE(valid_event_type_bounds) {
  BOOST_TEST(!valid_event_type("", defaults));
  BOOST_TEST(valid_event_type("a", defaults));
  BOOST_TEST(valid_event_type(std::string(64, 'a'), defaults));
  BOOST_TEST(!valid_event_type(std::string(65, 'a'), defaults));
  for (int c = 0; c < 256; ++c) {
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                   || (c >= '0' && c <= '9') || c == '_' || c == '.'
                   || c == '-';
    std::string type = "ab" + std::string(1, static_cast<char>(c)) + "cd";
    BOOST_TEST_CONTEXT("byte " << c) {
      BOOST_TEST(valid_event_type(type, defaults) == allowed);
    }
  }
}

BOOST_AUTO_TEST_CASE(check_payload_direct) {
  bool too_large = false;
  BOOST_TEST(check_payload("{}", defaults, too_large).empty());
  BOOST_TEST(!too_large);
  BOOST_TEST(check_payload(nested_objects(64), defaults, too_large).empty());
  BOOST_TEST(!check_payload(nested_objects(65), defaults, too_large).empty());
  BOOST_TEST(!too_large);
  BOOST_TEST(!check_payload("[]", defaults, too_large).empty());
  BOOST_TEST(!too_large);
  BOOST_TEST(!check_payload("{", defaults, too_large).empty());
  BOOST_TEST(!too_large);
  BOOST_TEST(
    check_payload(payload_of_size(256 * 1024), defaults, too_large).empty());
  BOOST_TEST(!too_large);
  BOOST_TEST(
    !check_payload(payload_of_size(256 * 1024 + 1), defaults, too_large)
       .empty());
  BOOST_TEST(too_large);
}

BOOST_DATA_TEST_CASE(json_lines, bdata::make(line_cases()), c) {
  auto r = parse_event_json(c.line, defaults);
  check_result(r, c.field, c.too_large);
}

BOOST_AUTO_TEST_CASE(json_line_becomes_event) {
  auto r = parse_event_json(
    R"({"id":"k-9","type":"order.created","payload":{"a":[1,{"b":"c"}]},"priority":"high"})",
    defaults);
  BOOST_REQUIRE(r.ok);
  BOOST_TEST(r.ev.id == "k-9");
  BOOST_TEST(r.ev.type == "order.created");
  BOOST_TEST(r.ev.prio == priority::high);
  BOOST_TEST(nlohmann::json::parse(r.ev.payload)
             == nlohmann::json::parse(R"({"a":[1,{"b":"c"}]})"));
  BOOST_TEST(!r.ev.trace_id.empty());
  BOOST_TEST(r.ev.created_at == 0);
}

BOOST_AUTO_TEST_CASE(json_line_without_id_gets_uuid_and_normal_priority) {
  auto r = parse_event_json(R"({"type":"t","payload":{}})", defaults);
  BOOST_REQUIRE(r.ok);
  BOOST_TEST(std::regex_match(r.ev.id, uuid_v7_re), r.ev.id);
  BOOST_TEST(r.ev.prio == priority::normal);
}

BOOST_AUTO_TEST_CASE(json_line_unknown_field_is_rejected) {
  for (std::string line :
       {R"({"type":"t","payload":{},"extra":1})",
        R"({"type":"t","payload":{},"Type":"t"})",
        R"({"id":"k","type":"t","payload":{},"priority":"low","trace_id":"x"})",
        R"({"type":"t","payload":{},"created_at":5})",
        R"({"type":"t","payload":{},"":null})"}) {
    auto r = parse_event_json(line, defaults);
    BOOST_TEST_CONTEXT(line) {
      BOOST_TEST(!r.ok);
      BOOST_TEST(!r.message.empty());
      BOOST_TEST(!r.too_large);
      // The header documents field as one of id, type, payload, priority,
      // line; an unknown field is a problem of the line.
      BOOST_TEST(documented_fields.count(r.field) == 1u, "field=" << r.field);
    }
  }
}

BOOST_AUTO_TEST_CASE(json_line_deeply_nested_payload_names_payload) {
  // The payload is the offending field, however deep it goes: the same
  // payload through validate() is reported as "payload".
  for (size_t depth : {65u, 66u, 100u, 10000u}) {
    auto payload = nested_objects(depth);
    auto direct = validate(sub("", "t", payload), defaults);
    BOOST_TEST_CONTEXT("depth " << depth) {
      BOOST_TEST(!direct.ok);
      BOOST_TEST(direct.field == "payload");
      auto r = parse_event_json("{\"type\":\"t\",\"payload\":" + payload + "}",
                                defaults);
      BOOST_TEST(!r.ok);
      BOOST_TEST(r.field == "payload",
                 "field=" << r.field << " message=" << r.message);
    }
  }
}

BOOST_AUTO_TEST_CASE(json_line_custom_limits) {
  validation_limits lim;
  lim.max_payload_bytes = 32;
  lim.max_id_bytes = 3;
  auto ok = parse_event_json("{\"id\":\"abc\",\"type\":\"t\",\"payload\":"
                               + payload_of_size(32) + "}",
                             lim);
  BOOST_TEST(ok.ok, ok.field << ": " << ok.message);
  auto big = parse_event_json(
    "{\"type\":\"t\",\"payload\":" + payload_of_size(33) + "}", lim);
  BOOST_TEST(!big.ok);
  BOOST_TEST(big.field == "payload");
  BOOST_TEST(big.too_large);
  auto id = parse_event_json("{\"id\":\"abcd\",\"type\":\"t\",\"payload\":{}}",
                             lim);
  BOOST_TEST(!id.ok);
  BOOST_TEST(id.field == "id");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(json_nesting)

BOOST_AUTO_TEST_CASE(counts_arrays_and_objects_outside_strings) {
  BOOST_CHECK(!json_nesting_exceeds("{}", 1));
  BOOST_CHECK(json_nesting_exceeds("{\"a\":{}}", 1));
  BOOST_CHECK(!json_nesting_exceeds("{\"a\":{}}", 2));
  BOOST_CHECK(!json_nesting_exceeds("{\"a\":\"[[[[{{{{\"}", 1));
  BOOST_CHECK(!json_nesting_exceeds("{\"a\":\"\\\"[[[[\"}", 1));
  BOOST_CHECK(json_nesting_exceeds("[[[", 2));
  BOOST_CHECK(!json_nesting_exceeds("[],[],[]", 1));
}

BOOST_AUTO_TEST_CASE(survives_very_deep_and_truncated_input) {
  std::string deep(1000000, '[');
  BOOST_CHECK(json_nesting_exceeds(deep, 64));
  BOOST_CHECK(!json_nesting_exceeds("{\"a\":\"unterminated", 1));
  BOOST_CHECK(!json_nesting_exceeds("]]]]}}}}", 0));
}

BOOST_AUTO_TEST_CASE(parse_event_object_reports_unknown_fields_by_name) {
  auto doc
    = nlohmann::json::parse(R"({"type":"a.b","payload":{},"colour":"red"})");
  auto r = parse_event_object(doc, validation_limits{});
  BOOST_CHECK(!r.ok);
  BOOST_CHECK_EQUAL(r.field, "colour");
  auto arr = nlohmann::json::parse("[1]");
  auto r2 = parse_event_object(arr, validation_limits{});
  BOOST_CHECK(!r2.ok);
  BOOST_CHECK_EQUAL(r2.field, "event");
  auto ok = parse_event_object(
    nlohmann::json::parse(R"({"id":"x-1","type":"a.b","payload":{"k":1}})"),
    validation_limits{});
  BOOST_CHECK(ok.ok);
  BOOST_CHECK_EQUAL(ok.ev.id, "x-1");
  BOOST_CHECK_EQUAL(ok.ev.payload, R"({"k":1})");
}

BOOST_AUTO_TEST_SUITE_END()
