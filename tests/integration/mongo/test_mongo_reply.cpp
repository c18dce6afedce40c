// Bulk insert replies no test server sends on demand: a duplicate of
// another unique index, write concern errors, a call that failed partway.

#include "adapters/mongo/mongo_reply.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::mongo;

namespace {

/// A reply from its JSON (extended JSON: numbers as int32/int64).
struct reply {
  explicit reply(const std::string& json) {
    bson_error_t err;
    doc = bson_new_from_json(reinterpret_cast<const uint8_t*>(json.data()),
                             static_cast<ssize_t>(json.size()), &err);
    BOOST_REQUIRE_MESSAGE(doc != nullptr, err.message);
  }
  reply(const reply&) = delete;
  reply& operator=(const reply&) = delete;
  ~reply() {
    bson_destroy(doc);
  }
  bson_t* doc = nullptr;
};

std::vector<std::string> verdicts(const std::vector<write_result>& out) {
  std::vector<std::string> result;
  result.reserve(out.size());
  for (auto& r : out)
    result.emplace_back(std::string{to_string(r.verdict)}
                        + (r.duplicate ? "+dup" : ""));
  return result;
}

} // namespace

BOOST_AUTO_TEST_SUITE(mongo_reply)

BOOST_AUTO_TEST_CASE(write_errors_by_index_and_the_rest_inserted) {
  // Records 0..3 in bulk order 0, 2, 3 (record 1 was not sent).
  std::vector<write_result> out(4);
  out[1].verdict = write_verdict::permanent;
  reply r{R"({"nInserted": 1, "writeErrors": [
    {"index": 1, "code": 11000, "errmsg": "E11000 duplicate key error"},
    {"index": 2, "code": 121, "errmsg": "Document failed validation"}]})"};
  auto sum = apply_bulk_reply(r.doc, false, "bulk failed", {0, 2, 3}, out);
  BOOST_TEST(sum.unaccounted == 0u);
  BOOST_TEST(verdicts(out)
               == (std::vector<std::string>{"done", "permanent", "done+dup",
                                            "permanent"}),
             boost::test_tools::per_element());
  BOOST_TEST(out[3].error.find("code 121") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_duplicate_of_another_unique_index_is_permanent) {
  std::vector<write_result> out(3);
  reply r{R"({"nInserted": 0, "writeErrors": [
    {"index": 0, "code": 11000, "keyPattern": {"eventId": 1, "group": 1},
     "errmsg": "E11000 ... index: eventId_group dup key"},
    {"index": 1, "code": 11000, "keyPattern": {"orderNo": 1},
     "errmsg": "E11000 ... index: orderNo_1 dup key"},
    {"index": 2, "code": 11000,
     "errmsg": "E11000 duplicate key error collection: db.c index: sku_1 dup key"}]})"};
  apply_bulk_reply(r.doc, false, "", {0, 1, 2}, out);
  BOOST_TEST(
    verdicts(out)
      == (std::vector<std::string>{"done+dup", "permanent", "permanent"}),
    boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(write_concern_errors_retry_what_was_inserted_now) {
  std::vector<write_result> out(2);
  reply r{R"({"nInserted": 1, "writeErrors": [
    {"index": 1, "code": 11000, "errmsg": "E11000"}],
    "writeConcernErrors": [{"code": 64}]})"};
  apply_bulk_reply(r.doc, false, "", {0, 1}, out);
  BOOST_TEST(verdicts(out)
               == (std::vector<std::string>{"retryable", "done+dup"}),
             boost::test_tools::per_element());
  BOOST_TEST(out[0].error.find("write concern") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_call_that_failed_partway_acknowledges_nothing_unknown) {
  // Four documents; the reply knows of one duplicate and one insert, then
  // the connection broke: the two it cannot account for are retried (all
  // not named, since it does not say which one was inserted).
  std::vector<write_result> out(4);
  reply r{R"({"nInserted": 1, "writeErrors": [
    {"index": 0, "code": 11000, "errmsg": "E11000"}]})"};
  auto sum = apply_bulk_reply(r.doc, false, "connection reset", {0, 1, 2, 3},
                              out);
  BOOST_TEST(sum.unaccounted == 3u);
  BOOST_TEST(verdicts(out)
               == (std::vector<std::string>{"done+dup", "retryable",
                                            "retryable", "retryable"}),
             boost::test_tools::per_element());
  BOOST_TEST(out[1].error.find("connection reset") != std::string::npos);
  // The same reply from a call that succeeded: nothing to doubt.
  std::vector<write_result> ok(2);
  reply none{R"({"nInserted": 2})"};
  BOOST_TEST(apply_bulk_reply(none.doc, true, "", {0, 1}, ok).unaccounted
             == 0u);
  BOOST_TEST(verdicts(ok) == (std::vector<std::string>{"done", "done"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
