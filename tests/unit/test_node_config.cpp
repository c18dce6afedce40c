// Unit tests for config/node_config.hpp: reading the config file's
// settings (unknown sections, options outside any section, CAF's own
// sections), command-line overrides (never a group the file does not
// have) and the text of INI parse errors ('#' comments). The settings come
// from CAF's own INI parser and option set, as in `onceflow`.
#include "config/node_config.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/config_option_set.hpp>
#include <caf/config_value.hpp>
#include <caf/pec.hpp>
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
  = "(known: alerts, events, groups.<name>, http, janitor, node, "
    "priorities, "
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

/// describe_parse_error's text for `ini`, which CAF must refuse.
std::string parse_error(const std::string& ini) {
  caf_config cfg;
  std::istringstream in{ini};
  caf::settings content;
  auto err = caf::actor_system_config::parse_config(in, cfg.caf_options(),
                                                    content);
  BOOST_REQUIRE_MESSAGE(err, "CAF parsed: " << ini);
  std::istringstream again{ini};
  return describe_parse_error(err, again);
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

BOOST_AUTO_TEST_CASE(alerts_are_read_and_checked) {
  caf_config cfg;
  node_config out;
  BOOST_TEST(read_node_config(parse(with_group()), cfg.caf_options(), out)
             == "");
  BOOST_TEST(out.alerts.dlq_webhook_url.empty()); // off by default
  BOOST_TEST(out.alerts.dlq.window == 5000);
  BOOST_TEST(out.alerts.dlq.min_interval == 60000);
  BOOST_TEST(out.alerts.dlq.max_entries == 100u);
  BOOST_TEST(out.alerts.dlq.retries == 3u);
  BOOST_TEST(out.alerts.dlq_webhook_timeout == 10000);
  auto ini = with_group(
    "[alerts]\ndlq-webhook-url=\"http://127.0.0.1:9/dlq\"\n"
    "dlq-webhook-secret=\"s3cret\"\ndlq-webhook-timeout=2s\n"
    "dlq-window=250ms\ndlq-min-interval=1s\ndlq-max-entries=7\n"
    "dlq-retries=0\n");
  node_config alerts;
  BOOST_TEST(read_node_config(parse(ini), cfg.caf_options(), alerts) == "");
  BOOST_TEST(alerts.alerts.dlq_webhook_url == "http://127.0.0.1:9/dlq");
  BOOST_TEST(alerts.alerts.dlq_webhook_secret == "s3cret");
  BOOST_TEST(alerts.alerts.dlq_webhook_timeout == 2000);
  BOOST_TEST(alerts.alerts.dlq.window == 250);
  BOOST_TEST(alerts.alerts.dlq.min_interval == 1000);
  BOOST_TEST(alerts.alerts.dlq.max_entries == 7u);
  BOOST_TEST(alerts.alerts.dlq.retries == 0u);
  BOOST_TEST(validate(alerts, {"store"}) == "");
  // Typos and bad values are named.
  BOOST_TEST(read(with_group("[alerts]\ndlq-webhok-url=\"x\"\n"))
               .rfind("unknown option 'alerts.dlq-webhok-url' (known: ", 0)
             == 0u);
  BOOST_TEST(read(with_group("[alerts]\ndlq-max-entries=0\n"))
               .rfind("option 'alerts.dlq-max-entries' ", 0)
             == 0u);
  node_config bad = alerts;
  bad.alerts.dlq_webhook_url = "ftp://x/";
  BOOST_TEST(validate(bad, {"store"})
             == "option 'alerts.dlq-webhook-url' must start with http:// or "
                "https://");
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

BOOST_AUTO_TEST_SUITE(node_config_parse_errors)

BOOST_AUTO_TEST_CASE(a_hash_comment_names_its_line) {
  const std::string says = ": INI comments start with ';', not '#'";
  BOOST_TEST(parse_error("# onceflow\n[node]\nname=\"n\"\n")
             == "line 1" + says);
  BOOST_TEST(parse_error("[node]\nname=\"n\"\n  # later\nport=1\n")
             == "line 3" + says);
  BOOST_TEST(parse_error("[groups.a]\nhandler=\"log\"\n# b\n")
             == "line 3" + says);
  BOOST_TEST(parse_error("[node]\nport=1 # the default\n") == "line 2" + says);
  // A '#' inside a string is text: the parser stops elsewhere.
  auto other = parse_error("[node]\nname=\"a#b\" ]\n");
  BOOST_TEST(other.find("INI comments") == std::string::npos);
  BOOST_TEST(other.find("parser_error(trailing_character") == 0u, other);
}

BOOST_AUTO_TEST_CASE(without_a_line_the_first_hash_comment_is_named) {
  std::istringstream ini{"[node]\nname=\"#\"\n# here\n"};
  BOOST_TEST(
    describe_parse_error(caf::make_error(caf::pec::trailing_character), ini)
    == "line 3: INI comments start with ';', not '#'");
}

BOOST_AUTO_TEST_CASE(other_errors_keep_cafs_text) {
  auto err = parse_error("[node]\nport=\n");
  BOOST_TEST(err.find("parser_error(") == 0u);
  BOOST_TEST(err.find("INI comments") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
