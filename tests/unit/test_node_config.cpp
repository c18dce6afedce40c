// Unit tests for config/node_config.hpp: reading the config file's
// settings (unknown sections, options outside any section, CAF's own
// sections), command-line overrides (never a group the file does not
// have), the environment's ONCEFLOW_* variables (the mapping, precedence,
// refusals naming the variable) and the text of INI parse errors ('#'
// comments). The settings come from CAF's own INI parser and option set,
// as in `onceflow`.
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
  = "(known: alerts, client, cluster, events, groups.<name>, http, janitor, "
    "mongo, node, nodes.<name>, priorities, "
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

BOOST_AUTO_TEST_SUITE(node_config_environment)

namespace {

/// What read_environment makes of `env` over the file `ini`: its error,
/// or "" with `out` filled.
std::string from_env(const std::string& ini, const std::vector<env_var>& env,
                     env_config& out) {
  caf_config cfg;
  return read_environment(env, parse(ini), cfg.caf_options(), out);
}

std::string env_error(const std::string& ini, const std::vector<env_var>& env) {
  env_config out;
  return from_env(ini, env, out);
}

/// The node config of `ini` with the environment's overrides, then the
/// command line's; the error names the variable where one set the option.
std::string
read_with_env(const std::string& ini, const std::vector<env_var>& env,
              const std::vector<std::pair<std::string, std::string>>& cli,
              node_config& out) {
  caf_config cfg;
  auto content = parse(ini);
  env_config e;
  if (auto err = read_environment(env, content, cfg.caf_options(), e);
      !err.empty())
    return err;
  if (auto err = apply_overrides(content, e.overrides); !err.empty())
    return err;
  if (auto err = apply_overrides(content, cli); !err.empty())
    return err;
  for (auto& kv : cli)
    e.sources.erase(kv.first);
  return name_sources(read_node_config(content, cfg.caf_options(), out),
                      e.sources);
}

} // namespace

BOOST_AUTO_TEST_CASE(variable_names_follow_the_mapping) {
  BOOST_TEST(env_name("redis", "url") == "ONCEFLOW_REDIS__URL");
  BOOST_TEST(env_name("http", "api-keys") == "ONCEFLOW_HTTP__API_KEYS");
  BOOST_TEST(env_name("rate-limits", "types") == "ONCEFLOW_RATE_LIMITS__TYPES");
  BOOST_TEST(env_name("groups.orders", "concurrency")
             == "ONCEFLOW_GROUPS__ORDERS__CONCURRENCY");
  BOOST_TEST(env_name("groups.eu-orders", "rate-limit")
             == "ONCEFLOW_GROUPS__EU_ORDERS__RATE_LIMIT");
  BOOST_TEST(env_name("scheduler", "max-threads")
             == "ONCEFLOW_SCHEDULER__MAX_THREADS");
  BOOST_TEST(env_name("work-stealing", "moderate-poll-attempts")
             == "ONCEFLOW_WORK_STEALING__MODERATE_POLL_ATTEMPTS");
}

BOOST_AUTO_TEST_CASE(every_option_maps_back_to_its_key) {
  // Every option of every section of onceflow's, and of a group.
  std::vector<std::pair<std::string, std::vector<std::string>>> sections{
    {"node", {"name", "host", "port", "data-dir", "shutdown-timeout"}},
    {"store", {"backend", "path", "synchronous", "retention", "trim-interval"}},
    {"redis",
     {"url", "prefix", "connect-timeout", "command-timeout", "pool-size",
      "tls-ca-file", "tls-cert-file", "tls-key-file", "wait-at-start"}},
    {"events",
     {"max-payload-bytes", "max-depth", "dedup-window", "max-backlog",
      "max-ingest-batch"}},
    {"priorities", {"high", "normal", "low"}},
    {"rate-limits", {"types"}},
    {"janitor", {"interval"}},
    {"http",
     {"enabled", "host", "port", "max-body-bytes", "max-batch", "threads",
      "api-keys", "api-keys-file"}},
    {"groups.a-b",
     {"handler",    "concurrency",  "subscriptions",  "batch-size",
      "batch-wait", "lease-ttl",    "retry-base",     "retry-factor",
      "retry-cap",  "max-attempts", "jitter",         "crash-budget",
      "rate-limit", "rate-burst",   "latency",        "failure-rate",
      "seed",       "webhook-url",  "webhook-secret", "webhook-timeout"}},
  };
  auto ini = "[groups.a-b]\nhandler=\"store\"\n";
  for (auto& [section, options] : sections)
    for (auto& option : options) {
      env_config out;
      auto var = env_name(section, option);
      BOOST_TEST_REQUIRE(from_env(ini, {{var, "v"}}, out) == "", var);
      BOOST_REQUIRE(out.overrides.size() == 1u);
      BOOST_TEST(out.overrides[0].first == section + "." + option);
      BOOST_TEST(out.overrides[0].second == "v");
      BOOST_TEST(out.sources[section + "." + option] == var);
    }
  // And every option of CAF's sections, parsed by CAF's option.
  env_config out;
  BOOST_TEST(from_env(ini, {{"ONCEFLOW_SCHEDULER__MAX_THREADS", "4"}}, out)
             == "");
  BOOST_REQUIRE(out.caf.size() == 1u);
  BOOST_TEST(out.caf[0].first == "scheduler.max-threads");
  auto threads = caf::get_if<int64_t>(&out.caf[0].second);
  BOOST_TEST_REQUIRE(threads != nullptr);
  BOOST_TEST(*threads == 4);
  BOOST_TEST(out.overrides.empty());
  caf_config cfg;
  size_t n = 0;
  for (auto& opt : cfg.caf_options()) {
    std::string category{opt.category().begin(), opt.category().end()};
    std::string name{opt.long_name().begin(), opt.long_name().end()};
    if (category == "global")
      continue;
    env_config one;
    auto err = from_env(ini, {{env_name(category, name), "0"}}, one);
    // Refused values name the variable; the name itself is known.
    BOOST_TEST(err.find("unknown") == std::string::npos, err);
    ++n;
  }
  BOOST_TEST(n > 10u);
}

BOOST_AUTO_TEST_CASE(other_variables_are_ignored) {
  BOOST_TEST(env_error(with_group(), {{"PATH", "/bin"},
                                      {"ONCEFLOWX", "1"},
                                      {"REDIS_URL", "redis://x"},
                                      {"MY_ONCEFLOW_REDIS__URL", "x"}})
             == "");
}

BOOST_AUTO_TEST_CASE(file_then_environment_then_command_line) {
  auto ini = "[node]\nname=\"file\"\nport=1\n[http]\nport=2\n"
             "[redis]\nurl=\"redis://file:6379/0\"\n"
             "[groups.orders]\nhandler=\"store\"\nconcurrency=2\n";
  node_config out;
  BOOST_TEST(
    read_with_env(ini,
                  {{"ONCEFLOW_REDIS__URL", "redis://env:6379/1"},
                   {"ONCEFLOW_HTTP__PORT", "8081"},
                   {"ONCEFLOW_NODE__PORT", "4711"},
                   {"ONCEFLOW_GROUPS__ORDERS__CONCURRENCY", "4"},
                   {"ONCEFLOW_HTTP__API_KEYS", "[\"ops:0123456789:admin\"]"}},
                  {{"node.port", "4712"}}, out)
    == "");
  BOOST_TEST(out.name == "file");
  BOOST_TEST(out.redis_url == "redis://env:6379/1");
  BOOST_TEST(out.http.port == 8081u);
  BOOST_TEST(out.port == 4712u);
  BOOST_REQUIRE(out.groups.size() == 1u);
  BOOST_TEST(out.groups[0].concurrency == 4u);
  BOOST_REQUIRE(out.http.keys.size() == 1u);
  BOOST_TEST(out.http.keys[0].name == "ops");
}

BOOST_AUTO_TEST_CASE(wait_at_start_is_on_unless_the_file_or_a_variable_says) {
  auto ini = with_group();
  node_config out;
  BOOST_TEST(read_with_env(ini, {}, {}, out) == "");
  BOOST_TEST(out.redis_wait_at_start);
  node_config off;
  BOOST_TEST(read_with_env(ini + "[redis]\nwait-at-start=false\n", {}, {}, off)
             == "");
  BOOST_TEST(!off.redis_wait_at_start);
  node_config env_off;
  BOOST_TEST(read_with_env(ini, {{"ONCEFLOW_REDIS__WAIT_AT_START", "false"}},
                           {}, env_off)
             == "");
  BOOST_TEST(!env_off.redis_wait_at_start);
  node_config bad;
  auto err = read_with_env(ini, {{"ONCEFLOW_REDIS__WAIT_AT_START", "maybe"}},
                           {}, bad);
  BOOST_TEST(err.find("ONCEFLOW_REDIS__WAIT_AT_START") != std::string::npos,
             err);
  BOOST_TEST(err.find("true or false") != std::string::npos, err);
}

BOOST_AUTO_TEST_CASE(a_cluster_nodes_options_come_from_nodes_variables) {
  auto ini = with_group("[nodes.core-1]\nport=4710\nhttp-port=8080\n"
                        "listeners=[\"a:1\"]\n");
  env_config out;
  BOOST_REQUIRE_EQUAL(
    from_env(ini, {{"ONCEFLOW_NODES__CORE_1__PORT", "5000"}}, out), "");
  BOOST_REQUIRE_EQUAL(out.overrides.size(), 1u);
  BOOST_CHECK_EQUAL(out.overrides[0].first, "nodes.core-1.port");
  BOOST_CHECK_EQUAL(out.overrides[0].second, "5000");
  BOOST_CHECK_EQUAL(env_name("nodes.core-1", "http-port"),
                    "ONCEFLOW_NODES__CORE_1__HTTP_PORT");
  auto err = env_error(ini, {{"ONCEFLOW_NODES__W9__PORT", "1"}});
  BOOST_CHECK_MESSAGE(err.find("names node W9, which the config file does "
                               "not have (its nodes: core-1)")
                        != std::string::npos,
                      err);
  err = env_error(ini, {{"ONCEFLOW_NODES__CORE_1__PROT", "1"}});
  BOOST_CHECK_MESSAGE(
    err.find("a node has no option PROT") != std::string::npos, err);
}

BOOST_AUTO_TEST_CASE(unknown_variables_are_refused_by_name) {
  BOOST_TEST(env_error(with_group(), {{"ONCEFLOW_REDIS__URLL", "x"}})
             == "unknown environment variable ONCEFLOW_REDIS__URLL: section "
                "[redis] has no such option (known: command-timeout, "
                "connect-timeout, pool-size, prefix, tls-ca-file, "
                "tls-cert-file, tls-key-file, url, wait-at-start)");
  auto err = env_error(with_group(), {{"ONCEFLOW_FOO", "1"}});
  BOOST_TEST(err.rfind("unknown environment variable ONCEFLOW_FOO: it names "
                       "no option; variables are ONCEFLOW_<SECTION>__<OPTION> "
                       "(sections: alerts, client, cluster, events, http, "
                       "janitor, mongo, node, priorities, rate-limits, redis, "
                       "store; "
                       "CAF's: ",
                       0)
               == 0u,
             err);
  BOOST_TEST(env_error(with_group(), {{"ONCEFLOW_redis__url", "x"}})
             == "unknown environment variable ONCEFLOW_redis__url (variable "
                "names are upper-case: did you mean ONCEFLOW_REDIS__URL?)");
  BOOST_TEST(env_error(with_group(), {{"ONCEFLOW_GROUPS__a__concurrency", "1"}})
             == "unknown environment variable "
                "ONCEFLOW_GROUPS__a__concurrency (variable names are "
                "upper-case: did you mean "
                "ONCEFLOW_GROUPS__A__CONCURRENCY?)");
  BOOST_TEST(env_error(with_group(), {{"ONCEFLOW_GROUPS__CONCURRENCY", "1"}})
               .rfind("unknown environment variable "
                      "ONCEFLOW_GROUPS__CONCURRENCY",
                      0)
             == 0u);
  BOOST_TEST(env_error(with_group(), {{"ONCEFLOW_GROUPS__A__CONCURENCY", "1"}})
               .rfind("unknown environment variable "
                      "ONCEFLOW_GROUPS__A__CONCURENCY: a group has no option "
                      "CONCURENCY (known: ",
                      0)
             == 0u);
  // One refusal among good ones.
  BOOST_TEST(env_error(with_group(), {{"ONCEFLOW_NODE__NAME", "x"},
                                      {"ONCEFLOW_HTPP__PORT", "1"}})
               .rfind("unknown environment variable ONCEFLOW_HTPP__PORT", 0)
             == 0u);
}

BOOST_AUTO_TEST_CASE(a_variable_never_adds_a_group) {
  BOOST_TEST(
    env_error(with_group(), {{"ONCEFLOW_GROUPS__ORDERS__CONCURRENCY", "4"}})
    == "environment variable ONCEFLOW_GROUPS__ORDERS__CONCURRENCY names group "
       "ORDERS, which the config file does not have (its groups: a); the "
       "environment cannot add a group: add a [groups.<name>] section to the "
       "file");
  // Two groups with one name in a variable: neither is guessed.
  BOOST_TEST(env_error("[groups.a-b]\nhandler=\"log\"\n[groups.a_b]\n"
                       "handler=\"log\"\n",
                       {{"ONCEFLOW_GROUPS__A_B__CONCURRENCY", "4"}})
             == "environment variable ONCEFLOW_GROUPS__A_B__CONCURRENCY is "
                "ambiguous: groups a-b, a_b of the config file have the same "
                "name in a variable; set the option in the file or on the "
                "command line");
  // A group name with "__" in its variable part.
  env_config out;
  BOOST_TEST(from_env("[groups.a--b]\nhandler=\"log\"\n",
                      {{"ONCEFLOW_GROUPS__A__B__RATE_LIMIT", "5"}}, out)
             == "");
  BOOST_REQUIRE(out.overrides.size() == 1u);
  BOOST_TEST(out.overrides[0].first == "groups.a--b.rate-limit");
}

BOOST_AUTO_TEST_CASE(bad_values_name_the_variable) {
  node_config out;
  BOOST_TEST(
    read_with_env(with_group(), {{"ONCEFLOW_HTTP__PORT", "eighty"}}, {}, out)
    == "option 'http.port' (from ONCEFLOW_HTTP__PORT) must be an "
       "integer");
  BOOST_TEST(read_with_env(with_group(),
                           {{"ONCEFLOW_GROUPS__A__CONCURRENCY", "0"}}, {}, out)
             == "option 'groups.a.concurrency' (from "
                "ONCEFLOW_GROUPS__A__CONCURRENCY) must be between 1 and 1024");
  // The command line's value is the one read: no variable to name.
  BOOST_TEST(read_with_env(with_group(), {{"ONCEFLOW_HTTP__PORT", "80"}},
                           {{"http.port", "x"}}, out)
             == "option 'http.port' must be an integer");
  // CAF's options: CAF's parser refuses the value, naming the variable.
  auto err = env_error(with_group(),
                       {{"ONCEFLOW_SCHEDULER__MAX_THREADS", "many"}});
  BOOST_TEST(err.rfind("environment variable ONCEFLOW_SCHEDULER__MAX_THREADS: "
                       "'many' is no value of CAF's option "
                       "'scheduler.max-threads': ",
                       0)
               == 0u,
             err);
  // validate()'s errors name it too.
  BOOST_TEST(name_sources("option 'redis.url' must look like x",
                          {{"redis.url", "ONCEFLOW_REDIS__URL"},
                           {"node.name", "ONCEFLOW_NODE__NAME"}})
             == "option 'redis.url' (from ONCEFLOW_REDIS__URL) must look like "
                "x");
  BOOST_TEST(name_sources("option 'a' x 'b'", {{"b", "B"}, {"a", "A"}})
             == "option 'a' (from A) x 'b'");
  BOOST_TEST(name_sources("no option", {{"a", "A"}}) == "no option");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(node_config_max_delay)

/// The node config of `ini`, which must be read without an error.
node_config config_of(const std::string& ini) {
  caf_config cfg;
  auto content = parse(ini);
  node_config out;
  auto err = read_node_config(content, cfg.caf_options(), out);
  BOOST_REQUIRE_MESSAGE(err.empty(), err);
  return out;
}

BOOST_AUTO_TEST_CASE(max_delay_defaults_to_the_retention_and_is_read) {
  auto dflt = config_of(with_group());
  BOOST_TEST(dflt.limits.max_delay == 24LL * 3600 * 1000);
  BOOST_TEST(dflt.limits.max_delay == dflt.retention);
  auto set = config_of(with_group("[events]\nmax-delay=90min\n"));
  BOOST_TEST(set.limits.max_delay == 90LL * 60 * 1000);
  auto off = config_of(with_group("[events]\nmax-delay=0s\n"));
  BOOST_TEST(off.limits.max_delay == 0);
  auto bad = read(with_group("[events]\nmax-delay=\"soon\"\n"));
  BOOST_TEST(bad.find("events.max-delay") != std::string::npos, bad);
}

BOOST_AUTO_TEST_CASE(a_lease_too_short_to_renew_takes_is_warned_about) {
  auto takes = [](const std::string& extra) {
    bool warned = false;
    for (auto& w : warnings(config_of(with_group(extra))))
      warned |= w.find("group a: lease-ttl (2000 ms) is less than 3x "
                       "janitor.interval (1000 ms)")
                != std::string::npos;
    return warned;
  };
  BOOST_TEST(takes("lease-ttl=2s\n[store]\nbackend=\"redis\"\n"));
  // Three renewal chances per lease; one node (SQLite) renews nothing.
  BOOST_TEST(!takes("lease-ttl=3s\n[store]\nbackend=\"redis\"\n"));
  BOOST_TEST(!takes("lease-ttl=2s\n"));
}

BOOST_AUTO_TEST_CASE(a_max_delay_longer_than_the_retention_is_warned_about) {
  auto cfg = config_of(with_group("[events]\nmax-delay=24h\n"));
  for (auto& w : warnings(cfg))
    BOOST_TEST(w.find("max-delay") == std::string::npos, w);
  cfg = config_of(with_group("[events]\nmax-delay=48h\n"));
  bool warned = false;
  for (auto& w : warnings(cfg))
    warned |= w.find("events.max-delay") != std::string::npos
              && w.find("holds the log back") != std::string::npos;
  BOOST_TEST(warned);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(node_config_mongo)

BOOST_AUTO_TEST_CASE(mongo_section_is_read_and_checked) {
  onceflow::mongo_config m;
  BOOST_TEST(onceflow::validate(m) == ""); // not configured
  m.uri = "mongodb://u:p@db:27017/shop?replicaSet=rs0";
  BOOST_TEST(onceflow::validate(m) == "");
  m.write_concern = "1";
  BOOST_TEST(onceflow::validate(m) == "");
  m.write_concern = "0";
  BOOST_TEST(onceflow::validate(m).find("mongo.write-concern")
             != std::string::npos);
  m.write_concern = "many";
  BOOST_TEST(onceflow::validate(m).find("mongo.write-concern")
             != std::string::npos);
  m.write_concern = "majority";
  m.uri = "http://db:27017";
  BOOST_TEST(onceflow::validate(m).find("mongo.uri") != std::string::npos);
  m.uri = "mongodb+srv://cluster.example.com/shop";
  BOOST_TEST(onceflow::validate(m) == "");
  m.database = "a.b";
  BOOST_TEST(onceflow::validate(m).find("mongo.database") != std::string::npos);
  m.database = "shop";
  m.processed_collection = "";
  BOOST_TEST(onceflow::validate(m).find("mongo.processed-collection")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(mongo_options_from_the_file) {
  caf_config cfg;
  auto content = parse(
    with_group("[mongo]\nuri=\"mongodb://db:27017/x\"\nwrite-concern=\"1\"\n"
               "journal=false\nserver-selection-timeout=2s\npool-size=8\n"
               "processed-collection=\"effects\"\n"));
  node_config out;
  BOOST_REQUIRE(read_node_config(content, cfg.caf_options(), out) == "");
  BOOST_TEST(out.mongo.enabled());
  BOOST_TEST(out.mongo.uri == "mongodb://db:27017/x");
  BOOST_TEST(out.mongo.write_concern == "1");
  BOOST_TEST(!out.mongo.journal);
  BOOST_TEST(out.mongo.server_selection_timeout == 2000);
  BOOST_TEST(out.mongo.pool_size == 8u);
  BOOST_TEST(out.mongo.processed_collection == "effects");
  BOOST_TEST(read(with_group("[mongo]\npool-size=0\n")).find("pool-size")
             != std::string::npos);
  BOOST_TEST(read(with_group("[mongo]\nurl=\"x\"\n")).find("url")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(mongo_records_options) {
  caf_config cfg;
  auto content = parse(
    with_group("[mongo]\nuri=\"mongodb://db:27017/x\"\nevents=true\n"
               "dead-letters=true\nevents-collection=\"ev\"\n"
               "dead-letters-collection=\"dlq\"\nread-from=\"mongodb\"\n"));
  node_config out;
  BOOST_REQUIRE(read_node_config(content, cfg.caf_options(), out) == "");
  BOOST_TEST(out.mongo.events);
  BOOST_TEST(out.mongo.dead_letters);
  BOOST_TEST(out.mongo.records());
  BOOST_TEST(out.mongo.events_collection == "ev");
  BOOST_TEST(out.mongo.dead_letters_collection == "dlq");
  BOOST_TEST(out.mongo.read_from == "mongodb");
  onceflow::mongo_config m;
  m.uri = "mongodb://db:27017/x";
  BOOST_TEST(!m.records()); // off by default
  // Names of records that are off are not compared.
  m.processed_collection = "events";
  BOOST_TEST(onceflow::validate(m) == "");
  m.processed_collection = "processed_events";
  m.read_from = "mongo";
  BOOST_TEST(onceflow::validate(m).find("mongo.read-from")
             != std::string::npos);
  m.read_from = "mongodb"; // without the records it reads
  BOOST_TEST(onceflow::validate(m).find("needs mongo.events = true")
             != std::string::npos);
  m.events = m.dead_letters = true;
  BOOST_TEST(onceflow::validate(m) == "");
  m.events_collection = m.processed_collection;
  BOOST_TEST(onceflow::validate(m).find("different collections")
             != std::string::npos);
  m.events_collection = "ev$";
  BOOST_TEST(onceflow::validate(m).find("mongo.events-collection")
             != std::string::npos);
  // Records without a server are refused, not ignored.
  onceflow::mongo_config none;
  none.events = true;
  BOOST_TEST(onceflow::validate(none).find("need 'mongo.uri'")
             != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
