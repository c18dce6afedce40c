#define BOOST_TEST_MODULE store_contract
#include <boost/test/unit_test.hpp>
