// Unit tests for config/node_config.hpp: command-line overrides (never a
// group the file does not have). The settings come from CAF's own INI
// parser and option set, as in `onceflow`.
#include "config/node_config.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/config_option_set.hpp>
#include <caf/config_value.hpp>
#include <caf/settings.hpp>

#include <boost/test/unit_test.hpp>

#include <sstream>
#include <string>
#include <utility>
#include <vector>

using namespace onceflow;

namespace {

/// CAF's options, as `onceflow` passes them to CAF's INI parser.
struct caf_config : caf::actor_system_config {
  const caf::config_option_set& caf_options() const {
    return custom_options_;
  }
};

/// A valid config with one group, `a`, followed by `extra`.
std::string with_group(const std::string& extra = "") {
  return "[node]\nname=\"n\"\n[groups.a]\nhandler=\"store\"\n" + extra;
}

/// The settings CAF's INI parser makes of `ini` (which must parse).
caf::settings parse(const std::string& ini) {
  caf_config cfg;
  std::istringstream in{ini};
  caf::settings result;
  auto err = caf::actor_system_config::parse_config(in, cfg.caf_options(),
                                                    result);
  BOOST_REQUIRE_MESSAGE(!err, caf::to_string(err));
  return result;
}

/// read_node_config's error for `ini` plus `overrides`, or "".
std::string
read(const std::string& ini,
     const std::vector<std::pair<std::string, std::string>>& overrides = {}) {
  auto content = parse(ini);
  if (auto err = apply_overrides(content, overrides); !err.empty())
    return err;
  node_config out;
  return read_node_config(content, out);
}

} // namespace

BOOST_AUTO_TEST_SUITE(node_config_overrides)

BOOST_AUTO_TEST_CASE(an_override_changes_a_group_of_the_file) {
  auto content = parse(with_group());
  BOOST_TEST(apply_overrides(content, {{"groups.a.concurrency", "4"},
                                       {"node.name", "m"},
                                       {"groups.a.handler", "log"}})
             == "");
  node_config out;
  BOOST_TEST(read_node_config(content, out) == "");
  BOOST_REQUIRE(out.groups.size() == 1u);
  BOOST_TEST(out.groups[0].name == "a");
  BOOST_TEST(out.groups[0].concurrency == 4u);
  // A value that is no CAF value is a string.
  BOOST_TEST(out.groups[0].handler == "log");
  BOOST_TEST(out.name == "m");
}

BOOST_AUTO_TEST_CASE(an_override_never_adds_a_group) {
  // The group would take every event type with default options.
  BOOST_TEST(read(with_group(), {{"groups.orders.concurrency", "4"}})
             == "option '--groups.orders.concurrency' names group 'orders', "
                "which the config file does not have (its groups: a); an "
                "override cannot add a group: add a [groups.orders] section "
                "to the file");
  BOOST_TEST(read("[node]\nname=\"n\"\n", {{"groups.orders.handler", "log"}})
             == "option '--groups.orders.handler' names group 'orders', "
                "which the config file does not have (its groups: none); an "
                "override cannot add a group: add a [groups.orders] section "
                "to the file");
  // Nor does an earlier override make a group for a later one.
  BOOST_TEST(read(with_group(), {{"groups.x", "{handler=\"log\"}"},
                                 {"groups.x.concurrency", "1"}})
               .rfind("option '--groups.x' names group 'x'", 0)
             == 0u);
  // Not a group: a value in [groups] (no section of its own).
  BOOST_TEST(read(with_group("[groups]\nb=1\n"), {{"groups.b.seed", "1"}})
               .rfind("option '--groups.b.seed' names group 'b', which the "
                      "config file does not have (its groups: a)",
                      0)
             == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
