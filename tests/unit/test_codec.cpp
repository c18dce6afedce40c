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

BOOST_AUTO_TEST_SUITE(codec_deliveries)

BOOST_AUTO_TEST_CASE(a_delayed_event_keeps_its_time_and_old_documents_read) {
  delivery dl;
  dl.ev.id = "remind-1";
  dl.ev.type = "reminder.due";
  dl.ev.payload = R"({"user":7})";
  dl.ev.created_at = 1795000000000;
  dl.ev.not_before = 1795000030000;
  dl.ev.seq = 12;
  dl.group = "mail";
  auto text = codec::dump(codec::to_json(dl));
  auto back = codec::delivery_from_json(text);
  BOOST_CHECK_EQUAL(back.ev.not_before, 1795000030000);
  BOOST_CHECK_EQUAL(back.ev.created_at, 1795000000000);
  BOOST_CHECK_EQUAL(back.ev.delay, 0);
  // An event that is not delayed writes no not_before: documents of
  // before delayed events look the same, and read with 0.
  dl.ev.not_before = 0;
  auto plain = codec::to_json(dl);
  BOOST_CHECK(plain["ev"].find("not_before") == plain["ev"].end());
  BOOST_CHECK_EQUAL(codec::delivery_from_json(codec::dump(plain)).ev.not_before,
                    0);
  auto old = R"({"ev":{"id":"a","type":"t","payload":"{}","prio":1,)"
             R"("created_at":5,"trace_id":"x","seq":3},"group":"g",)"
             R"("attempt":2,"epoch":0,"redeliveries":0,"history":[]})";
  auto o = codec::delivery_from_json(old);
  BOOST_CHECK_EQUAL(o.ev.not_before, 0);
  BOOST_CHECK_EQUAL(o.attempt, 2u);
}

BOOST_AUTO_TEST_SUITE_END()
