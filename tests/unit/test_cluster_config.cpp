// Unit tests for the cluster config (config/cluster_config.hpp and
// read_node_config with [cluster] and [nodes.*]): every node takes its own
// entry from one file; bad configs are refused naming the entry.

#include "config/node_config.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/config_option_set.hpp>
#include <caf/settings.hpp>

#include <boost/test/unit_test.hpp>

#include <sstream>
#include <string>

using namespace onceflow;

namespace {

struct caf_config : caf::actor_system_config {
  const caf::config_option_set& caf_options() const {
    return custom_options_;
  }
};

const std::string groups = R"(
[groups.orders]
handler="store"
[groups.mails]
handler="log"
)";

const std::string nodes = R"(
[cluster]
heartbeat-interval=500ms
connection-timeout=3s
[nodes.core-1]
role="core"
port=4710
http-port=8080
listeners=["orders:2"]
[nodes.worker-1]
role="worker"
port=4711
listeners=["orders:4", "mails:1"]
[nodes.worker-2]
role="worker"
host="127.0.0.2"
port=4710
http-port=8081
listeners=["mails:3"]
)";

/// read_node_config of `ini` for node `name`: the error ("" if none) and
/// the config.
std::pair<std::string, node_config> read(const std::string& ini,
                                         const std::string& name) {
  caf_config cfg;
  std::istringstream in{ini};
  caf::settings content;
  auto perr = caf::actor_system_config::parse_config(in, cfg.caf_options(),
                                                     content);
  BOOST_REQUIRE_MESSAGE(!perr, caf::to_string(perr));
  BOOST_REQUIRE(apply_overrides(content, {{"node.name", name}}).empty());
  node_config out;
  auto err = read_node_config(content, cfg.caf_options(), out);
  return {err, out};
}

std::string error_of(const std::string& ini, const std::string& name) {
  return read(ini, name).first;
}

uint32_t listeners(const node_config& cfg, const std::string& group) {
  for (auto& g : cfg.groups)
    if (g.name == group)
      return g.concurrency;
  BOOST_FAIL("no group " << group);
  return 0;
}

#define CHECK_ERROR(ini, name, text)                                           \
  do {                                                                         \
    auto err = error_of(ini, name);                                            \
    BOOST_CHECK_MESSAGE(err.find(text) != std::string::npos,                   \
                        "error '" << err << "' lacks '" << text << "'");       \
  } while (false)

} // namespace

BOOST_AUTO_TEST_SUITE(cluster_config)

BOOST_AUTO_TEST_CASE(each_node_takes_its_own_entry) {
  auto [err, core] = read(groups + nodes, "core-1");
  BOOST_REQUIRE_EQUAL(err, "");
  BOOST_CHECK(core.cluster.enabled());
  BOOST_CHECK_EQUAL(core.cluster.nodes.size(), 3u);
  BOOST_CHECK(core.role == node_role::core);
  BOOST_CHECK_EQUAL(core.port, 4710);
  BOOST_CHECK_EQUAL(core.http.port, 8080);
  BOOST_CHECK(core.http.enabled);
  BOOST_CHECK_EQUAL(listeners(core, "orders"), 2u);
  BOOST_CHECK_EQUAL(listeners(core, "mails"), 0u);
  BOOST_CHECK_EQUAL(core.cluster.heartbeat_interval, 500);
  BOOST_CHECK_EQUAL(core.cluster.connection_timeout, 3000);
  auto [err1, w1] = read(groups + nodes, "worker-1");
  BOOST_REQUIRE_EQUAL(err1, "");
  BOOST_CHECK(w1.role == node_role::worker);
  BOOST_CHECK_EQUAL(w1.port, 4711);
  BOOST_CHECK(!w1.http.enabled);
  BOOST_CHECK_EQUAL(listeners(w1, "orders"), 4u);
  BOOST_CHECK_EQUAL(listeners(w1, "mails"), 1u);
  auto [err2, w2] = read(groups + nodes, "worker-2");
  BOOST_REQUIRE_EQUAL(err2, "");
  BOOST_CHECK_EQUAL(w2.host, "127.0.0.2");
  BOOST_CHECK_EQUAL(w2.http.port, 8081);
  BOOST_CHECK_EQUAL(listeners(w2, "orders"), 0u);
}

BOOST_AUTO_TEST_CASE(a_config_without_nodes_is_a_single_node_config) {
  auto [err, cfg] = read("[node]\nport=4999\n" + groups, "n");
  BOOST_REQUIRE_EQUAL(err, "");
  BOOST_CHECK(!cfg.cluster.enabled());
  BOOST_CHECK(cfg.role == node_role::core);
  BOOST_CHECK_EQUAL(cfg.port, 4999);
  BOOST_CHECK_EQUAL(listeners(cfg, "orders"), 2u);
  CHECK_ERROR(groups + "[cluster]\nsecret=\"x\"\n", "n",
              "section [cluster] needs the cluster's nodes");
}

BOOST_AUTO_TEST_CASE(an_unknown_node_name_is_refused) {
  CHECK_ERROR(groups + nodes, "core-2",
              "node.name 'core-2' is not a node of the cluster config (its "
              "nodes: core-1, worker-1, worker-2): start each node with "
              "--node.name=NAME");
}

BOOST_AUTO_TEST_CASE(two_nodes_on_one_port_are_refused) {
  auto ini = groups + nodes + "[nodes.worker-3]\nrole=\"worker\"\nport=4711\n";
  CHECK_ERROR(ini, "core-1",
              "options 'nodes.worker-1.port' and 'nodes.worker-3.port' both "
              "use 127.0.0.1:4711");
  ini = groups + nodes + "[nodes.worker-3]\nrole=\"worker\"\nport=8080\n";
  CHECK_ERROR(ini, "core-1",
              "options 'nodes.core-1.http-port' and 'nodes.worker-3.port' "
              "both use 127.0.0.1:8080");
}

BOOST_AUTO_TEST_CASE(a_group_without_listeners_anywhere_is_refused) {
  auto ini = groups + "[groups.audit]\nhandler=\"log\"\n" + nodes;
  CHECK_ERROR(ini, "core-1",
              "group 'audit' has no listeners on any node: add \"audit:N\"");
}

BOOST_AUTO_TEST_CASE(bad_entries_are_named) {
  auto node = [](const std::string& body) {
    return groups
           + "[nodes.core-1]\nport=4710\nhttp-port=8080\n"
             "listeners=[\"orders:1\", \"mails:1\"]\n[nodes.w]\n"
           + body;
  };
  CHECK_ERROR(node("role=\"wroker\"\nport=1\n"), "w",
              "option 'nodes.w.role' must be \"core\" or \"worker\" (got "
              "\"wroker\")");
  CHECK_ERROR(node("role=\"worker\"\n"), "w",
              "option 'nodes.w.port' is required");
  CHECK_ERROR(node("role=\"worker\"\nport=1\nlisteners=[\"orders\"]\n"), "w",
              "option 'nodes.w.listeners': entry 'orders' must look like "
              "\"group:count\"");
  CHECK_ERROR(node("role=\"worker\"\nport=1\nlisteners=[\"orders:0\"]\n"), "w",
              "needs a count of 1..1024");
  CHECK_ERROR(node("role=\"worker\"\nport=1\nlisteners=[\"ordres:2\"]\n"), "w",
              "option 'nodes.w.listeners' names group 'ordres', which the "
              "config does not have (its groups: mails, orders)");
  CHECK_ERROR(node("role=\"worker\"\nport=1\nlistners=[\"orders:2\"]\n"), "w",
              "unknown option 'nodes.w.listners'");
  CHECK_ERROR(node("role=\"worker\"\nport=1\ncores=[\"w\"]\n"), "w",
              "option 'nodes.w.cores' names 'w', which is not a core node of "
              "the cluster (cores: core-1)");
  CHECK_ERROR(node("role=\"core\"\nport=1\n"), "w",
              "option 'nodes.w.http-port' is required for a core node");
}

BOOST_AUTO_TEST_CASE(the_embedded_store_has_one_core) {
  auto ini = groups + nodes + "[nodes.core-2]\nport=4720\nhttp-port=8090\n";
  CHECK_ERROR(ini, "core-1",
              "store.backend \"embedded\" has one core per cluster (it owns "
              "the store file), but nodes 'core-1' and 'core-2' are cores");
  BOOST_CHECK_EQUAL(error_of("[store]\nbackend=\"redis\"\n" + ini, "core-2"),
                    "");
}

BOOST_AUTO_TEST_CASE(concurrency_in_a_cluster_config_is_refused) {
  auto ini = "[groups.orders]\nhandler=\"store\"\nconcurrency=3\n"
             "[groups.mails]\nhandler=\"log\"\n"
             + nodes;
  CHECK_ERROR(ini, "core-1",
              "option 'groups.orders.concurrency' does not apply in a cluster "
              "config");
}

BOOST_AUTO_TEST_CASE(heartbeats_must_fit_the_timeout) {
  auto ini = groups + nodes + "";
  auto pos = ini.find("connection-timeout=3s");
  ini.replace(pos, 21, "connection-timeout=1s");
  CHECK_ERROR(ini, "core-1",
              "option 'cluster.connection-timeout' (1000 ms) must be at least "
              "3 x 'cluster.heartbeat-interval' (500 ms)");
}

BOOST_AUTO_TEST_CASE(a_node_needs_only_the_handlers_it_runs) {
  auto ini = "[groups.orders]\nhandler=\"store\"\n[groups.mails]\n"
             "handler=\"app-mailer\"\n"
             + nodes;
  auto [err, core] = read(ini, "core-1");
  BOOST_REQUIRE_EQUAL(err, "");
  BOOST_CHECK_EQUAL(validate(core, {"store", "log"}), "");
  auto [err1, w1] = read(ini, "worker-1");
  BOOST_REQUIRE_EQUAL(err1, "");
  auto verr = validate(w1, {"store", "log"});
  BOOST_CHECK_MESSAGE(verr.find("option 'groups.mails.handler' names unknown "
                                "handler \"app-mailer\"")
                        != std::string::npos,
                      verr);
}

BOOST_AUTO_TEST_CASE(tls_is_off_by_default) {
  auto [err, core] = read(groups + nodes, "core-1");
  BOOST_REQUIRE_EQUAL(err, "");
  BOOST_CHECK(!core.cluster.tls.enabled());
}

BOOST_AUTO_TEST_CASE(tls_options_are_read) {
  // Any readable files do for reading the config (their content is
  // checked with OpenSSL at start: test_cluster.py TlsTest).
  auto ini = groups + nodes;
  ini.insert(ini.find("[nodes.core-1]"), "tls-ca-file=\"/proc/self/status\"\n"
                                         "tls-cert-file=\"/proc/self/stat\"\n"
                                         "tls-key-file=\"/proc/self/cmdline\"\n"
                                         "tls-key-passphrase=\"pw\"\n");
  auto [err, w1] = read(ini, "worker-1");
  BOOST_REQUIRE_EQUAL(err, "");
  BOOST_CHECK(w1.cluster.tls.enabled());
  BOOST_CHECK_EQUAL(w1.cluster.tls.ca_file, "/proc/self/status");
  BOOST_CHECK_EQUAL(w1.cluster.tls.cert_file, "/proc/self/stat");
  BOOST_CHECK_EQUAL(w1.cluster.tls.key_file, "/proc/self/cmdline");
  BOOST_CHECK_EQUAL(w1.cluster.tls.key_passphrase, "pw");
}

BOOST_AUTO_TEST_CASE(tls_is_all_or_nothing) {
  auto with = [](const std::string& options) {
    auto ini = groups + nodes;
    ini.insert(ini.find("[nodes.core-1]"), options);
    return ini;
  };
  const std::string ca = "tls-ca-file=\"/proc/self/status\"\n";
  const std::string cert = "tls-cert-file=\"/proc/self/stat\"\n";
  const std::string key = "tls-key-file=\"/proc/self/cmdline\"\n";
  CHECK_ERROR(with(ca + cert), "core-1",
              "option 'cluster.tls-key-file' is required with TLS on");
  CHECK_ERROR(with(ca + key), "core-1",
              "option 'cluster.tls-cert-file' is required with TLS on");
  CHECK_ERROR(with(cert + key), "core-1",
              "option 'cluster.tls-ca-file' is required with TLS on");
  CHECK_ERROR(with("tls-key-passphrase=\"pw\"\n"), "core-1",
              "option 'cluster.tls-ca-file' is required with TLS on");
  // An empty value is no value.
  CHECK_ERROR(with(ca + cert + "tls-key-file=\"\"\n"), "core-1",
              "option 'cluster.tls-key-file' is required with TLS on");
}

BOOST_AUTO_TEST_CASE(unreadable_tls_files_are_named) {
  auto ini = groups + nodes;
  ini.insert(ini.find("[nodes.core-1]"),
             "tls-ca-file=\"/proc/self/status\"\n"
             "tls-cert-file=\"/nonexistent/node.pem\"\n"
             "tls-key-file=\"/proc/self/cmdline\"\n");
  CHECK_ERROR(ini, "core-1",
              "option 'cluster.tls-cert-file': cannot read file "
              "'/nonexistent/node.pem' (No such file or directory)");
}

BOOST_AUTO_TEST_CASE(cafs_openssl_section_is_refused) {
  CHECK_ERROR(groups + nodes + "[openssl]\ncertificate=\"a.pem\"\n", "core-1",
              "option 'openssl.certificate' is CAF's: set TLS between nodes "
              "with [cluster] tls-ca-file");
}

BOOST_AUTO_TEST_SUITE_END()
