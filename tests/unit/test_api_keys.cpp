// The one API-key check every way into a node uses (config/api_keys.hpp):
// the HTTP API and the node's CAF endpoint allow and refuse the same keys.

#include "config/api_keys.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace onceflow;

namespace {

std::vector<api_key> keys_of(std::vector<std::string> specs) {
  std::vector<api_key> result;
  for (auto& spec : specs) {
    api_key k;
    BOOST_REQUIRE_EQUAL(parse_api_key(spec, k), "");
    result.push_back(k);
  }
  return result;
}

bool has_warning(const node_config& cfg, const std::string& text) {
  for (auto& w : warnings(cfg))
    if (w.find(text) != std::string::npos)
      return true;
  return false;
}

} // namespace

BOOST_AUTO_TEST_SUITE(api_keys)

BOOST_AUTO_TEST_CASE(without_keys_every_call_is_allowed) {
  auto c = check_api_key({}, "", api_role::admin);
  BOOST_CHECK(c.verdict == key_verdict::allowed);
  BOOST_CHECK(c.key == nullptr);
}

BOOST_AUTO_TEST_CASE(a_missing_or_unknown_key_is_refused) {
  auto keys = keys_of({"pub:p1-secret:publish"});
  BOOST_CHECK(check_api_key(keys, "", api_role::publish).verdict
              == key_verdict::missing);
  BOOST_CHECK(check_api_key(keys, "p1-secre", api_role::publish).verdict
              == key_verdict::unknown);
  BOOST_CHECK(check_api_key(keys, "p1-secret ", api_role::publish).verdict
              == key_verdict::unknown);
  BOOST_CHECK(check_api_key(keys, "P1-secret", api_role::publish).verdict
              == key_verdict::unknown);
}

BOOST_AUTO_TEST_CASE(a_key_needs_the_role_and_admin_has_every_role) {
  auto keys = keys_of({"pub:p1-secret:publish", "ro:r1-secret:read",
                       "both:b1-secret:publish+read", "ops:a1-secret:admin"});
  auto c = check_api_key(keys, "r1-secret", api_role::publish);
  BOOST_CHECK(c.verdict == key_verdict::lacks_role);
  BOOST_REQUIRE(c.key != nullptr);
  BOOST_CHECK_EQUAL(c.key->name, "ro");
  BOOST_CHECK(check_api_key(keys, "p1-secret", api_role::publish).verdict
              == key_verdict::allowed);
  BOOST_CHECK(check_api_key(keys, "p1-secret", api_role::read).verdict
              == key_verdict::lacks_role);
  BOOST_CHECK(check_api_key(keys, "b1-secret", api_role::read).verdict
              == key_verdict::allowed);
  BOOST_CHECK(check_api_key(keys, "b1-secret", api_role::admin).verdict
              == key_verdict::lacks_role);
  for (auto role : {api_role::publish, api_role::read, api_role::admin})
    BOOST_CHECK(check_api_key(keys, "a1-secret", role).verdict
                == key_verdict::allowed);
}

BOOST_AUTO_TEST_CASE(constant_time_equal_compares_whole_strings) {
  BOOST_CHECK(constant_time_equal("abc", "abc"));
  BOOST_CHECK(!constant_time_equal("abc", "abd"));
  BOOST_CHECK(!constant_time_equal("abc", "abcd"));
  BOOST_CHECK(!constant_time_equal("", "a"));
  BOOST_CHECK(constant_time_equal("", ""));
}

BOOST_AUTO_TEST_CASE(an_endpoint_off_loopback_is_warned_about) {
  node_config cfg;
  BOOST_CHECK(!has_warning(cfg, "CAF endpoint"));
  cfg.host = "0.0.0.0";
  BOOST_CHECK(has_warning(cfg, "takes events from anyone"));
  cfg.http.keys = keys_of({"pub:p1-secret:publish"});
  BOOST_CHECK(!has_warning(cfg, "takes events from anyone"));
  BOOST_CHECK(has_warning(cfg, "unencrypted"));
  cfg.host = "127.0.0.1";
  BOOST_CHECK(!has_warning(cfg, "CAF endpoint"));
}

BOOST_AUTO_TEST_SUITE_END()
