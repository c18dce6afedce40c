#define BOOST_TEST_MODULE onceflow_actors
#include <boost/test/unit_test.hpp>
