// Unit tests for config/node_config.hpp: reading the config file's
// settings (unknown sections, options outside any section, CAF's own
// sections) and command-line overrides (never a group the file does not
// have). The settings come from CAF's own INI parser and option set, as in
// `onceflow`.
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

/// CAF's options, as `onceflow` passes them to CAF's INI parser and to
/// read_node_config.
struct caf_config : caf::actor_system_config {
  const caf::config_option_set& caf_options() const {
    return custom_options_;
  }
};

const std::string known
  = "(known: events, groups.<name>, http, janitor, node, priorities, "
    "rate-limits, redis, store; CAF's: logger, middleman, opencl, openssl, "
    "scheduler, stream, work-stealing)";

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
  caf_config cfg;
  auto content = parse(ini);
  if (auto err = apply_overrides(content, overrides); !err.empty())
    return err;
  node_config out;
  return read_node_config(content, cfg.caf_options(), out);
}

} // namespace

BOOST_AUTO_TEST_SUITE(node_config_sections)

BOOST_AUTO_TEST_CASE(misspelled_sections_are_refused_by_name) {
  // [htpp] would leave the HTTP API without keys, [stor] would run on
  // SQLite, [grups.a] would drop the group.
  BOOST_TEST(read(with_group("[htpp]\napi-keys=[\"ops:0123456789:admin\"]\n"))
             == "unknown section [htpp] " + known);
  BOOST_TEST(read(with_group("[stor]\nbackend=\"redis\"\n"))
             == "unknown section [stor] " + known);
  BOOST_TEST(read(with_group("[grups.b]\nhandler=\"store\"\n"))
             == "unknown section [grups.b] " + known);
  // An empty one is a typo as well.
  BOOST_TEST(read(with_group("[htpp]\n")) == "unknown section [htpp] " + known);
  // [caf] is no section of CAF 0.17 (its options are [scheduler], ...).
  BOOST_TEST(read(with_group("[caf]\nlogger-verbosity='quiet'\n"))
             == "unknown section [caf] " + known);
  // [group] (singular) is not [groups.<name>].
  BOOST_TEST(read(with_group("[group]\nhandler=\"store\"\n"))
             == "unknown section [group] " + known);
}

BOOST_AUTO_TEST_CASE(unknown_sections_from_overrides_are_refused) {
  BOOST_TEST(read(with_group(), {{"htpp.port", "0"}})
             == "unknown section [htpp] " + known);
}

BOOST_AUTO_TEST_CASE(options_outside_any_section_are_refused) {
  // Before the first section header (CAF reads these as [global]).
  BOOST_TEST(read("port=4711\n" + with_group())
             == "option 'port' is outside any section " + known);
  BOOST_TEST(read(with_group("[global]\nname=\"x\"\n"))
             == "option 'name' is outside any section " + known);
  // CAF's own global options stay valid there.
  BOOST_TEST(read("[global]\ndump-config=false\n" + with_group()) == "");
}

BOOST_AUTO_TEST_CASE(onceflow_and_caf_sections_are_read) {
  auto ini = "[node]\nname=\"n\"\n[store]\nbackend=\"embedded\"\n"
             "[redis]\nprefix=\"x:\"\n[events]\nmax-depth=10\n"
             "[priorities]\nhigh=5\n[rate-limits]\ntypes=[]\n"
             "[janitor]\ninterval=1s\n[http]\nport=0\n"
             "[groups.a]\nhandler=\"store\"\n[groups.b]\nhandler=\"log\"\n"
             "[scheduler]\nmax-threads=2\n[middleman]\nheartbeat-interval=0s\n"
             "[logger]\nconsole='none'\n"
             "[work-stealing]\nmoderate-poll-attempts=500\n"
             "[stream]\nmax-batch-delay=5ms\n";
  caf_config cfg;
  node_config out;
  BOOST_TEST(read_node_config(parse(ini), cfg.caf_options(), out) == "");
  BOOST_TEST(out.name == "n");
  BOOST_TEST(out.groups.size() == 2u);
  BOOST_TEST(out.weights.high == 5u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(node_config_overrides)

BOOST_AUTO_TEST_CASE(an_override_changes_a_group_of_the_file) {
  caf_config cfg;
  auto content = parse(with_group());
  BOOST_TEST(apply_overrides(content, {{"groups.a.concurrency", "4"},
                                       {"node.name", "m"},
                                       {"groups.a.handler", "log"}})
             == "");
  node_config out;
  BOOST_TEST(read_node_config(content, cfg.caf_options(), out) == "");
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
