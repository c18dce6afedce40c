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

const std::set<std::string> documented_fields
  = {"id", "type", "payload", "priority", "delay", "notBefore", "line"};

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
  return submission{std::move(id),
                    std::move(type),
                    std::move(payload),
                    std::move(prio),
                    {},
                    {}};
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

BOOST_AUTO_TEST_SUITE(delayed_events)

namespace {

constexpr millis_t hour = 3'600'000;

/// parse_delay's result in ms, or -1 with the error printed.
millis_t delay_of(const std::string& text) {
  millis_t out = -7;
  auto err = parse_delay(text, out);
  if (!err.empty()) {
    BOOST_TEST_MESSAGE("delay '" << text << "': " << err);
    return -1;
  }
  return out;
}

millis_t time_of(const std::string& text) {
  millis_t out = -7;
  auto err = parse_time(text, out);
  if (!err.empty()) {
    BOOST_TEST_MESSAGE("time '" << text << "': " << err);
    return -1;
  }
  return out;
}

validation_result line(const std::string& text,
                       const validation_limits& lim = validation_limits{}) {
  return parse_event_json(text, lim);
}

} // namespace

BOOST_AUTO_TEST_CASE(delay_units_as_in_the_config_and_bare_milliseconds) {
  BOOST_TEST(delay_of("500ms") == 500);
  BOOST_TEST(delay_of("30s") == 30'000);
  BOOST_TEST(delay_of("5min") == 300'000);
  BOOST_TEST(delay_of("5m") == 300'000);
  BOOST_TEST(delay_of("2h") == 2 * hour);
  BOOST_TEST(delay_of("30000") == 30'000);
  BOOST_TEST(delay_of("0") == 0);
  BOOST_TEST(delay_of("0s") == 0);
  BOOST_TEST(delay_of("007s") == 7'000);
}

BOOST_AUTO_TEST_CASE(bad_delays_say_what_is_wrong) {
  for (std::string bad :
       {"", "s", "30 s", " 30s", "30s ", "30S", "1.5s", "30sec", "2d", "1h30m",
        "+5s", "0x10", "ten", "30\n"}) {
    millis_t out = 42;
    auto err = parse_delay(bad, out);
    BOOST_TEST_CONTEXT("'" << bad << "'") {
      BOOST_TEST(err.find("must be a duration like 500ms, 30s, 5min or 2h")
                   != std::string::npos,
                 err);
      BOOST_TEST(out == 42);
    }
  }
  millis_t out = 0;
  BOOST_TEST(parse_delay("-5s", out) == "must not be negative (got '-5s')");
  BOOST_TEST(parse_delay("99999999999999999999", out).rfind("is too large", 0)
             == 0u);
  BOOST_TEST(parse_delay("9999999999999999h", out).rfind("is too large", 0)
             == 0u);
}

BOOST_AUTO_TEST_CASE(rfc3339_times_and_epoch_milliseconds) {
  // 2030-05-01T12:00:00Z
  constexpr millis_t t = 1'903'867'200'000;
  BOOST_TEST(time_of("2030-05-01T12:00:00Z") == t);
  BOOST_TEST(time_of("2030-05-01t12:00:00z") == t);
  BOOST_TEST(time_of("2030-05-01 12:00:00Z") == t);
  BOOST_TEST(time_of("2030-05-01T14:00:00+02:00") == t);
  BOOST_TEST(time_of("2030-05-01T07:30:00-04:30") == t);
  BOOST_TEST(time_of("2030-05-01T12:00:00.250Z") == t + 250);
  BOOST_TEST(time_of("2030-05-01T12:00:00.5Z") == t + 500);
  // Digits below the millisecond are dropped.
  BOOST_TEST(time_of("2030-05-01T12:00:00.123999Z") == t + 123);
  BOOST_TEST(time_of("1970-01-01T00:00:00Z") == 0);
  BOOST_TEST(time_of("2000-02-29T00:00:00Z") == 951'782'400'000);
  // A leap second is the next minute's first.
  BOOST_TEST(time_of("2016-12-31T23:59:60Z") == 1'483'228'800'000);
  BOOST_TEST(time_of(std::to_string(t)) == t);
}

BOOST_AUTO_TEST_CASE(bad_times_say_what_is_wrong) {
  for (std::string bad : {"",
                          "2030-05-01",
                          "2030-05-01T12:00:00",
                          "2030-05-01T12:00Z",
                          "2030-5-01T12:00:00Z",
                          "30-05-01T12:00:00Z",
                          "2030-13-01T12:00:00Z",
                          "2030-00-01T12:00:00Z",
                          "2030-04-31T12:00:00Z",
                          "2031-02-29T12:00:00Z",
                          "2030-05-01T24:00:00Z",
                          "2030-05-01T12:60:00Z",
                          "2030-05-01T12:00:61Z",
                          "2030-05-01T12:00:00.Z",
                          "2030-05-01T12:00:00+2:00",
                          "2030-05-01T12:00:00+24:00",
                          "2030-05-01T12:00:00+0200",
                          "2030-05-01T12:00:00Z ",
                          "2030-05-01X12:00:00Z",
                          "tomorrow",
                          "1.5",
                          "-1000",
                          "+1000"}) {
    millis_t out = 42;
    auto err = parse_time(bad, out);
    BOOST_TEST_CONTEXT("'" << bad << "'") {
      BOOST_TEST(err.find("must be an RFC 3339 time") != std::string::npos,
                 err);
      BOOST_TEST(out == 42);
    }
  }
  millis_t out = 0;
  BOOST_TEST(parse_time("99999999999999999999", out).rfind("is too large", 0)
             == 0u);
}

BOOST_AUTO_TEST_CASE(durations_print_in_their_largest_unit) {
  BOOST_TEST(format_duration(0) == "0ms");
  BOOST_TEST(format_duration(1500) == "1500ms");
  BOOST_TEST(format_duration(30'000) == "30s");
  BOOST_TEST(format_duration(300'000) == "5min");
  BOOST_TEST(format_duration(24 * hour) == "24h");
  BOOST_TEST(format_duration(90'000) == "90s");
}

BOOST_AUTO_TEST_CASE(delay_and_not_before_in_json_lines) {
  auto r = line(R"({"type":"t","payload":{},"delay":"30s"})");
  BOOST_REQUIRE(r.ok);
  BOOST_TEST(r.ev.delay == 30'000);
  BOOST_TEST(r.ev.not_before == 0);
  r = line(R"({"type":"t","payload":{},"delay":1500})");
  BOOST_REQUIRE(r.ok);
  BOOST_TEST(r.ev.delay == 1500);
  r = line(R"({"type":"t","payload":{},"notBefore":"2030-05-01T12:00:00Z"})");
  BOOST_REQUIRE(r.ok);
  BOOST_TEST(r.ev.not_before == 1'903'867'200'000);
  BOOST_TEST(r.ev.delay == 0);
  r = line(R"({"type":"t","payload":{},"notBefore":1903867200000})");
  BOOST_REQUIRE(r.ok);
  BOOST_TEST(r.ev.not_before == 1'903'867'200'000);
  // null is absent, as for the other fields.
  r = line(R"({"type":"t","payload":{},"delay":null,"notBefore":null})");
  BOOST_REQUIRE(r.ok);
  BOOST_TEST(r.ev.delay == 0);
  BOOST_TEST(r.ev.not_before == 0);
}

BOOST_AUTO_TEST_CASE(bad_delay_and_not_before_name_their_field) {
  struct bad_case {
    std::string json;
    std::string field;
    std::string says;
  };
  for (auto& c : std::vector<bad_case>{
         {R"("delay":"soon")", "delay", "must be a duration like"},
         {R"("delay":"")", "delay", "must not be empty"},
         {R"("delay":-5)", "delay", "must not be negative"},
         {R"("delay":"-5s")", "delay", "must not be negative"},
         {R"("delay":1.5)", "delay", "whole number of milliseconds"},
         {R"("delay":true)", "delay", "a duration text"},
         {R"("delay":["30s"])", "delay", "a duration text"},
         {R"("delay":"25h")", "delay",
          "of 25h is over the maximum delay of 24h ([events] max-delay)"},
         {R"("delay":86400001)", "delay", "over the maximum delay of 24h"},
         {R"("notBefore":"next week")", "notBefore", "must be an RFC 3339"},
         {R"("notBefore":"2030-05-01T12:00:00")", "notBefore", "with a zone"},
         {R"("notBefore":-1)", "notBefore", "must not be negative"},
         {R"("notBefore":{})", "notBefore", "an RFC 3339 text"},
         {R"("delay":"5s","notBefore":"2030-05-01T12:00:00Z")", "delay",
          "and notBefore were both given"},
         {R"("Delay":"5s")", "line", "unknown field 'Delay'"},
       }) {
    auto r = line(R"({"type":"t","payload":{},)" + c.json + "}");
    BOOST_TEST_CONTEXT(c.json) {
      BOOST_TEST(!r.ok);
      BOOST_TEST(r.field == c.field);
      BOOST_TEST(r.message.find(c.says) != std::string::npos, r.message);
      BOOST_TEST(!r.too_large);
    }
  }
}

BOOST_AUTO_TEST_CASE(submissions_of_the_cli) {
  submission s{"", "t", "{}", "", "2h", ""};
  auto r = validate(s, defaults);
  BOOST_REQUIRE(r.ok);
  BOOST_TEST(r.ev.delay == 2 * hour);
  s = submission{"", "t", "{}", "", "", "2030-05-01T12:00:00Z"};
  r = validate(s, defaults);
  BOOST_REQUIRE(r.ok);
  BOOST_TEST(r.ev.not_before == 1'903'867'200'000);
  s = submission{"", "t", "{}", "", "3d", ""};
  r = validate(s, defaults);
  BOOST_TEST(!r.ok);
  BOOST_TEST(r.field == "delay");
  s = submission{"", "t", "{}", "", "", "soon"};
  r = validate(s, defaults);
  BOOST_TEST(!r.ok);
  BOOST_TEST(r.field == "notBefore");
}

BOOST_AUTO_TEST_CASE(the_maximum_delay_is_configurable_and_zero_turns_it_off) {
  validation_limits lim;
  lim.max_delay = 5 * hour;
  BOOST_TEST(line(R"({"type":"t","payload":{},"delay":"5h"})", lim).ok);
  auto r = line(R"({"type":"t","payload":{},"delay":"301min"})", lim);
  BOOST_TEST(!r.ok);
  BOOST_TEST(r.message
             == "of 301min is over the maximum delay of 5h ([events] "
                "max-delay)");
  lim.max_delay = 0;
  r = line(R"({"type":"t","payload":{},"delay":"1ms"})", lim);
  BOOST_TEST(!r.ok);
  BOOST_TEST(r.message.find("delayed events are off") != std::string::npos);
  // A delay of 0 is no delay.
  BOOST_TEST(line(R"({"type":"t","payload":{},"delay":0})", lim).ok);
}

BOOST_AUTO_TEST_CASE(not_before_is_bounded_by_the_clock_of_the_check) {
  constexpr millis_t now = 1'700'000'000'000;
  validation_limits lim;
  event ev;
  ev.not_before = now + lim.max_delay;
  BOOST_TEST(!check_not_before(ev, lim, now));
  ev.not_before = now - 1000; // in the past: runs at once
  BOOST_TEST(!check_not_before(ev, lim, now));
  ev.not_before = now + lim.max_delay + 1;
  auto p = check_not_before(ev, lim, now);
  BOOST_TEST(p.field == "notBefore");
  BOOST_TEST(p.message
             == "is 86400001ms after now, over the maximum delay of 24h "
                "([events] max-delay)");
  ev.not_before = now + 2 * lim.max_delay;
  BOOST_TEST(check_not_before(ev, lim, now).message.rfind("is 48h after now", 0)
             == 0u);
  lim.max_delay = 0;
  ev.not_before = now + 1;
  BOOST_TEST(
    check_not_before(ev, lim, now).message.find("delayed events are off")
    != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
