#pragma once

#include "actors/logic/backoff.hpp"
#include "actors/logic/dlq_alerts.hpp"
#include "actors/logic/priority_queue.hpp"
#include "actors/logic/validation.hpp"
#include "config/cluster_config.hpp"
#include "config/group_config.hpp"
#include "config/mongo_config.hpp"

#include <caf/config_value.hpp>
#include <caf/fwd.hpp>

#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace onceflow {

/// Roles of an HTTP API key.
enum class api_role : uint8_t { publish = 1, read = 2, admin = 4 };

/// One HTTP API key: `name:key:role[+role...]`.
struct api_key {
  /// Shown in logs instead of the key.
  std::string name;
  std::string key;
  /// Bit set of api_role values; admin implies publish and read.
  uint8_t roles = 0;

  bool has(api_role r) const {
    return (roles & static_cast<uint8_t>(api_role::admin)) != 0
           || (roles & static_cast<uint8_t>(r)) != 0;
  }
};

/// Parses "name:key:role[+role...]"; returns an error text or empty.
std::string parse_api_key(const std::string& spec, api_key& out);

/// `[http]`: the node's HTTP API (docs/http-api.md).
struct http_config {
  bool enabled = true;
  std::string host = "127.0.0.1";
  /// 0: a free port (logged at start).
  uint16_t port = 8080;
  size_t max_body_bytes = size_t{4} * 1024 * 1024;
  uint32_t max_batch = 1000;
  uint32_t threads = 1;
  std::vector<api_key> keys;
  std::string keys_file;
};

/// `[alerts]`: the DLQ alert webhook (docs/configuration.md).
struct alerts_config {
  /// Where alerts go (http:// or https://); empty: no alerts.
  std::string dlq_webhook_url;
  /// Key of the X-Onceflow-Signature header (empty: no signature).
  std::string dlq_webhook_secret;
  /// Timeout of one call.
  millis_t dlq_webhook_timeout = 10000;
  /// Batching window, interval between calls, entries per call, retries.
  alert_limits dlq;
};

/// Everything `onceflow node` needs; see docs/configuration.md.
struct node_config {
  /// [node]
  std::string name = "node-1";
  std::string host = "127.0.0.1";
  uint16_t port = 4710;
  std::string data_dir = "./data";
  millis_t shutdown_timeout = 10000;
  /// [store]
  std::string store_backend = "embedded";
  std::string store_path; // default: <data-dir>/onceflow.db
  std::string sqlite_synchronous = "normal";
  /// Reads lease what they deliver (store::read_leased; docs/architecture.md,
  /// Leases). Not a config-file key: unset, it is on for a shared store
  /// (Redis: one record per read instead of a claim per event) and off for
  /// the embedded store (where it is a read and a claim in one store call;
  /// measured: +6% with one group, -10% with four, since the longer reads
  /// hold back appends). Unset, groups with listeners on worker nodes read
  /// with leases on every store (a claim would cost each remote batch a
  /// network round trip); false turns that off too. Tests and embedders
  /// set it.
  std::optional<bool> read_leases;
  /// Settled history older than this is trimmed (log, ledger, processed
  /// records; see docs/architecture.md, Retention).
  millis_t retention = 24LL * 3600 * 1000;
  /// How often the node trims.
  millis_t trim_interval = 10000;
  /// [redis] (store.backend = "redis")
  std::string redis_url = "redis://127.0.0.1:6379/0";
  std::string redis_prefix = "onceflow:";
  millis_t redis_connect_timeout = 2000;
  millis_t redis_command_timeout = 5000;
  /// Connections (store actors) for the deduplicator's claims and
  /// settlements; appends and everything else have one each.
  uint32_t redis_pool_size = 2;
  /// TLS (rediss:// URLs): CA file that verifies the server (empty: the
  /// system's), client certificate and key (both or neither).
  std::string redis_tls_ca_file;
  std::string redis_tls_cert_file;
  std::string redis_tls_key_file;
  /// Start while Redis cannot be reached (and open the store once it
  /// answers) instead of exiting 1.
  bool redis_wait_at_start = true;
  /// [events]
  validation_limits limits;
  millis_t dedup_window = 24LL * 3600 * 1000;
  uint32_t max_backlog = 200000;
  uint32_t max_ingest_batch = 10000;
  /// [priorities]
  priority_weights weights;
  /// [rate-limits]
  std::vector<type_rate_limit> type_limits;
  /// [janitor]
  millis_t janitor_interval = 1000;
  /// [groups.*]
  std::vector<group_config> groups;
  /// [http]
  http_config http;
  /// [cluster], [nodes.*]: empty for a single-node config.
  cluster_config cluster;
  /// This node's role (from its [nodes.NAME] entry; core without one).
  node_role role = node_role::core;
  /// [client] api-key: the key `onceflow publish` and `onceflow status`
  /// present to the node's CAF endpoint (or --api-key).
  std::string client_api_key;
  /// [alerts]
  alerts_config alerts;
  /// [mongo]
  mongo_config mongo;

  /// The SQLite path in effect.
  std::string effective_store_path() const;
};

/// Reads a node_config from CAF settings (INI content plus overrides).
/// With `[nodes.*]` sections (a cluster config) the node takes the entry
/// of its `node.name`: host, port, HTTP port, role and the listener count
/// of each group on this node (0 for groups it runs no listener of); the
/// whole cluster is checked (unknown node name, two nodes on one port, a
/// group without listeners anywhere, ...).
/// Returns an error text naming the offending option, or empty on success.
/// A section must be onceflow's or one that CAF has options for in
/// `caf_options` (its own options, e.g. [scheduler]); an option outside any
/// section must be one of CAF's global options. Anything else is a typo
/// that would leave defaults in place silently, and an error.
std::string read_node_config(const caf::settings& content,
                             const caf::config_option_set& caf_options,
                             node_config& out);

/// Puts command-line overrides (`--section.option=VALUE` as key and value
/// text) into `content`, which holds the config file's settings. A value
/// that does not parse as a CAF config value is a string. An override may
/// change a group's options but never creates a group: one naming a group
/// without a [groups.<name>] section in `content` is refused. Returns an
/// error text naming the override, or empty on success.
std::string
apply_overrides(caf::settings& content,
                const std::vector<std::pair<std::string, std::string>>& xs);

/// An environment variable: name and value.
using env_var = std::pair<std::string, std::string>;

/// What the ONCEFLOW_* variables of the environment set (see
/// docs/configuration.md, "Environment variables").
struct env_config {
  /// onceflow's options: dotted key and value text. They go into the file's
  /// settings like command-line overrides (apply_overrides), before those.
  std::vector<std::pair<std::string, std::string>> overrides;
  /// CAF's options: dotted key and the value CAF's option parsed.
  std::vector<std::pair<std::string, caf::config_value>> caf;
  /// The variable each dotted key came from (for name_sources).
  std::map<std::string, std::string> sources;
};

/// The environment variable of an option: `ONCEFLOW_`, the section, `__`
/// and the option, each upper-cased with every character other than a
/// letter or a digit as `_` (`redis`, `tls-ca-file` ->
/// `ONCEFLOW_REDIS__TLS_CA_FILE`). A group's options are in the section
/// `groups.<name>`, whose `.` becomes `__` as well
/// (`ONCEFLOW_GROUPS__ORDERS__CONCURRENCY`).
std::string env_name(const std::string& section, const std::string& option);

/// Maps the ONCEFLOW_* variables of `env` to options (other variables are
/// ignored). `content` holds the config file's settings: a variable may set
/// an option of a group of the file, never add a group; `caf_options` are
/// CAF's (their values are parsed by CAF's option). Returns an error text
/// naming the variable (unknown, ambiguous, naming a group the file does
/// not have, a value CAF refuses), or empty on success.
std::string
read_environment(const std::vector<env_var>& env, const caf::settings& content,
                 const caf::config_option_set& caf_options, env_config& out);

/// `err` with the environment variable named after the first option it
/// names ('key') that `sources` maps to one: "option 'http.port' (from
/// ONCEFLOW_HTTP__PORT) must be an integer".
std::string name_sources(std::string err,
                         const std::map<std::string, std::string>& sources);

/// The text for an error of CAF's INI parser, `err`, on the file `ini`:
/// names the line of a `#` comment (CAF's INI takes only `;`), else CAF's
/// own rendering of `err`.
std::string describe_parse_error(const caf::error& err, std::istream& ini);

/// Settings that work but are probably wrong (logged at start-up).
std::vector<std::string> warnings(const node_config& cfg);

/// Checks `[mongo]` (the URI's scheme, names, write concern; the adapter
/// parses the whole URI when it starts); an error naming the option, or
/// empty.
std::string validate(const mongo_config& cfg);

/// Checks cross-field rules; returns an error naming the option, or empty.
/// `handlers` names the handlers a group may use.
std::string validate(const node_config& cfg,
                     const std::vector<std::string>& handlers);

} // namespace onceflow
