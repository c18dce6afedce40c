#define BOOST_TEST_MODULE webhook
#include <boost/test/unit_test.hpp>
