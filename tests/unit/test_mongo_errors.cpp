#include "adapters/mongo/mongo_errors.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace onceflow::mongo;

BOOST_AUTO_TEST_SUITE(mongo_errors)

BOOST_AUTO_TEST_CASE(duplicate_key_is_done) {
  BOOST_TEST(std::string{to_string(classify_write_error(11000))} == "done");
}

BOOST_AUTO_TEST_CASE(documents_that_cannot_be_stored_are_permanent) {
  for (int code : {2, 14, 52, 57, 121, 10334, 17280})
    BOOST_TEST(std::string{to_string(classify_write_error(code))}
                 == "permanent",
               "code " << code);
}

BOOST_AUTO_TEST_CASE(everything_else_is_retried) {
  // Not primary, shutting down, network timeout, write conflict, write
  // concern failed, an unknown code.
  for (int code : {10107, 11600, 89, 112, 64, 91, 189, 0, 424242})
    BOOST_TEST(std::string{to_string(classify_write_error(code))}
                 == "retryable",
               "code " << code);
}

BOOST_AUTO_TEST_SUITE_END()
