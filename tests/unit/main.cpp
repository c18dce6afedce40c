#define BOOST_TEST_MODULE onceflow_unit
#include <boost/test/unit_test.hpp>
