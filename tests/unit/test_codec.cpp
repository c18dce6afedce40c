// Unit tests for adapters/codec.hpp's attempt-history text (kept with
// every ledger entry).
#include "adapters/codec.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace onceflow;

BOOST_AUTO_TEST_SUITE(codec_attempts)

BOOST_AUTO_TEST_CASE(round_trip_keeps_every_field) {
  std::vector<attempt_record> xs{
    {1, 1795000000120, "node-1", "orders/1", 31, outcome::retryable,
     "HTTP 503: busy, try later"},
    {2, 1795000001350, "node-2", "", 0, outcome::crashed,
     "lease expired without completion"},
    {3, 1795000002000, "node-1", "orders/0", 33, outcome::success, ""}};
  auto back = codec::decode_attempts(codec::encode_attempts(xs));
  BOOST_REQUIRE_EQUAL(back.size(), 3u);
  for (size_t i = 0; i < xs.size(); ++i) {
    BOOST_CHECK_EQUAL(back[i].attempt, xs[i].attempt);
    BOOST_CHECK_EQUAL(back[i].at, xs[i].at);
    BOOST_CHECK_EQUAL(back[i].node, xs[i].node);
    BOOST_CHECK_EQUAL(back[i].listener, xs[i].listener);
    BOOST_CHECK_EQUAL(back[i].epoch, xs[i].epoch);
    BOOST_CHECK(back[i].result == xs[i].result);
    BOOST_CHECK_EQUAL(back[i].error, xs[i].error);
  }
}

BOOST_AUTO_TEST_CASE(separator_bytes_in_texts_are_dropped) {
  std::vector<attempt_record> xs{{1, 5,
                                  "n\x1e"
                                  "1",
                                  "l\x1f"
                                  "2",
                                  7, outcome::permanent,
                                  "a\x1e\x1f"
                                  "b ü"}};
  auto back = codec::decode_attempts(codec::encode_attempts(xs));
  BOOST_REQUIRE_EQUAL(back.size(), 1u);
  BOOST_CHECK_EQUAL(back[0].node, "n1");
  BOOST_CHECK_EQUAL(back[0].listener, "l2");
  BOOST_CHECK_EQUAL(back[0].error, "ab ü");
}

BOOST_AUTO_TEST_CASE(empty_history_is_empty_text) {
  BOOST_CHECK_EQUAL(codec::encode_attempts({}), "");
  BOOST_CHECK(codec::decode_attempts("").empty());
}

BOOST_AUTO_TEST_CASE(bad_text_throws) {
  BOOST_CHECK_THROW(codec::decode_attempts("1\x1f"
                                           "2"),
                    codec::decode_error);
  BOOST_CHECK_THROW(codec::decode_attempts("x\x1f"
                                           "2\x1fn\x1fl\x1f"
                                           "3\x1f"
                                           "0\x1f"),
                    codec::decode_error);
  BOOST_CHECK_THROW(codec::decode_attempts("1\x1f"
                                           "2\x1fn\x1fl\x1f"
                                           "3\x1f"
                                           "9\x1f"),
                    codec::decode_error);
}

BOOST_AUTO_TEST_SUITE_END()
