#include "config/node_config.hpp"

#include "config/node_config_impl.hpp"
#include "config/settings_reader.hpp"

#include <caf/atom.hpp>
#include <caf/config_option_set.hpp>
#include <caf/config_value.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/message.hpp>
#include <caf/pec.hpp>
#include <caf/settings.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <istream>
#include <limits>
#include <map>
#include <set>
#include <utility>

namespace onceflow {

const std::map<std::string, std::set<std::string>>& detail::known_options() {
  static const std::map<std::string, std::set<std::string>> known{
    {"node", {"name", "host", "port", "data-dir", "shutdown-timeout"}},
    {"store", {"backend", "path", "synchronous", "retention", "trim-interval"}},
    {"redis",
     {"url", "prefix", "connect-timeout", "command-timeout", "pool-size",
      "tls-ca-file", "tls-cert-file", "tls-key-file", "wait-at-start"}},
    {"events",
     {"max-payload-bytes", "max-depth", "dedup-window", "max-backlog",
      "max-ingest-batch", "max-delay"}},
    {"priorities", {"high", "normal", "low"}},
    {"rate-limits", {"types"}},
    {"janitor", {"interval"}},
    {"http",
     {"enabled", "host", "port", "max-body-bytes", "max-batch", "threads",
      "api-keys", "api-keys-file"}},
    {"alerts",
     {"dlq-webhook-url", "dlq-webhook-secret", "dlq-webhook-timeout",
      "dlq-window", "dlq-min-interval", "dlq-max-entries", "dlq-retries"}},
    {"client", {"api-key"}},
    {"mongo",
     {"uri", "database", "processed-collection", "write-concern", "journal",
      "server-selection-timeout", "connect-timeout", "socket-timeout",
      "pool-size", "events", "events-collection", "dead-letters",
      "dead-letters-collection", "read-from"}},
    {"cluster",
     {"heartbeat-interval", "connection-timeout", "reconnect-min",
      "reconnect-max", "secret", "tls-ca-file", "tls-cert-file", "tls-key-file",
      "tls-key-passphrase"}},
    {"cluster-node",
     {"role", "host", "port", "http-port", "listeners", "cores"}},
    {"group",
     {"handler",    "concurrency",  "subscriptions",  "batch-size",
      "batch-wait", "lease-ttl",    "retry-base",     "retry-factor",
      "retry-cap",  "max-attempts", "jitter",         "crash-budget",
      "rate-limit", "rate-burst",   "latency",        "failure-rate",
      "seed",       "webhook-url",  "webhook-secret", "webhook-timeout",
      "options"}},
  };
  return known;
}

std::set<std::string> detail::caf_sections(const caf::config_option_set& opts) {
  std::set<std::string> result;
  for (auto& opt : opts) {
    auto category = opt.category();
    if (category != "global")
      result.emplace(category.data(), category.size());
  }
  return result;
}

namespace {

using detail::caf_sections;
using detail::known_options;
using detail::reader;

constexpr int64_t max_u32 = std::numeric_limits<uint32_t>::max();

/// Reads a group's `options = {key = value, ...}` (the handler's own
/// options) into `out` as text; returns what is wrong with it, or empty.
std::string read_handler_params(const caf::settings& content,
                                const std::string& path,
                                std::map<std::string, std::string>& out) {
  auto value = caf::get_if(&content, path);
  if (value == nullptr)
    return {};
  auto xs = caf::get_if<caf::settings>(value);
  if (xs == nullptr)
    return "must be a map of the handler's own options, like options = "
           "{ledger-file = \"x.txt\", max-amount = 100}";
  for (auto& [key, x] : *xs) {
    if (auto str = caf::get_if<std::string>(&x))
      out[key] = *str;
    else if (caf::holds_alternative<caf::settings>(x))
      return "must hold plain values (" + key + " is a map)";
    else
      out[key] = caf::to_string(x);
  }
  return {};
}

/// Returns an error naming the first unknown option of `section`.
std::string check_known(const caf::settings& content,
                        const std::string& section, const std::string& kind) {
  auto xs = caf::get_if<caf::settings>(&content, section);
  if (!xs)
    return {};
  auto& allowed = known_options().at(kind);
  for (auto& kv : *xs)
    if (allowed.count(kv.first) == 0) {
      std::string list;
      for (auto& k : allowed)
        list += (list.empty() ? "" : ", ") + k;
      return "unknown option '" + section + "." + kv.first + "' (known: " + list
             + ")";
    }
  return {};
}

/// Returns an error naming the first section of `content` that is neither
/// onceflow's nor CAF's, or an option outside any section that is not one
/// of CAF's global options.
std::string check_sections(const caf::settings& content,
                           const caf::config_option_set& caf_options) {
  auto theirs = caf_sections(caf_options);
  auto known = [&] {
    std::set<std::string> shown;
    for (auto& kv : known_options())
      shown.insert(kv.first == "group"          ? "groups.<name>"
                   : kv.first == "cluster-node" ? "nodes.<name>"
                                                : kv.first);
    std::string ours;
    for (auto& name : shown)
      ours += (ours.empty() ? "" : ", ") + name;
    std::string cafs;
    for (auto& name : theirs)
      cafs += (cafs.empty() ? "" : ", ") + name;
    return "(known: " + ours + "; CAF's: " + cafs + ")";
  };
  for (auto& [name, value] : content) {
    auto section = caf::get_if<caf::settings>(&value);
    if (section == nullptr) {
      if (caf_options.qualified_name_lookup("global", name) != nullptr)
        continue;
      return "option '" + name + "' is outside any section " + known();
    }
    if (name == "groups" || name == "nodes" || theirs.count(name) > 0
        || (name != "group" && name != "cluster-node"
            && known_options().count(name) > 0))
      continue;
    // [a.b] is a section b inside a section a: name it as it was written.
    auto shown = name;
    if (!section->empty()
        && std::all_of(section->begin(), section->end(), [](auto& kv) {
             return caf::holds_alternative<caf::settings>(kv.second);
           }))
      shown += "." + section->begin()->first;
    return "unknown section [" + shown + "] " + known();
  }
  return {};
}

} // namespace

std::string parse_api_key(const std::string& spec, api_key& out) {
  // The key itself is never part of an error text.
  // name:key:roles; the key may hold colons (roles never do).
  auto c1 = spec.find(':');
  auto c2 = spec.rfind(':');
  if (c1 == std::string::npos || c2 == c1)
    return "entries must look like \"name:key:role[+role...]\"";
  out.name = spec.substr(0, c1);
  out.key = spec.substr(c1 + 1, c2 - c1 - 1);
  if (out.name.empty())
    return "an entry has an empty name";
  if (out.key.size() < 8)
    return "the key of '" + out.name + "' is shorter than 8 characters";
  for (auto ch : out.key)
    if (!std::isgraph(static_cast<unsigned char>(ch)))
      return "the key of '" + out.name + "' has a space or control character";
  out.roles = 0;
  auto roles = spec.substr(c2 + 1);
  size_t pos = 0;
  while (pos <= roles.size()) {
    auto plus = roles.find('+', pos);
    auto role = roles.substr(pos, plus == std::string::npos ? std::string::npos
                                                            : plus - pos);
    if (role == "publish")
      out.roles |= static_cast<uint8_t>(api_role::publish);
    else if (role == "read")
      out.roles |= static_cast<uint8_t>(api_role::read);
    else if (role == "admin")
      out.roles |= static_cast<uint8_t>(api_role::admin);
    else
      return "key '" + out.name + "' has unknown role '" + role
             + "' (known: publish, read, admin)";
    if (plus == std::string::npos)
      break;
    pos = plus + 1;
  }
  return {};
}

std::string node_config::effective_store_path() const {
  if (!store_path.empty())
    return store_path;
  return data_dir + "/onceflow.db";
}

std::string read_node_config(const caf::settings& content,
                             const caf::config_option_set& caf_options,
                             node_config& out) {
  if (auto e = check_sections(content, caf_options); !e.empty())
    return e;
  // CAF's [openssl] options would half-configure its OpenSSL module: the
  // cluster's TLS options set them (and load the module) as a whole.
  if (auto xs = caf::get_if<caf::settings>(&content, "openssl"))
    for (auto& kv : *xs)
      if (auto str = caf::get_if<std::string>(&kv.second);
          str == nullptr || !str->empty())
        return "option 'openssl." + kv.first
               + "' is CAF's: set TLS between nodes with [cluster] "
                 "tls-ca-file, tls-cert-file, tls-key-file and "
                 "tls-key-passphrase (docs/cluster.md)";
  for (auto& kv : known_options()) {
    if (kv.first == "group" || kv.first == "cluster-node")
      continue;
    if (auto e = check_known(content, kv.first, kv.first); !e.empty())
      return e;
  }
  // Named sections: [groups.<name>] and [nodes.<name>].
  using named_kind = std::pair<std::string, std::string>;
  for (const auto& [parent, kind] :
       {named_kind{"groups", "group"}, named_kind{"nodes", "cluster-node"}})
    if (auto named = caf::get_if<caf::settings>(&content, parent))
      for (auto& kv : *named)
        if (caf::holds_alternative<caf::settings>(kv.second))
          if (auto e = check_known(content, parent + "." + kv.first, kind);
              !e.empty())
            return e;
  std::string err;
  reader r{content, err};
  r.str("node.name", out.name);
  r.str("node.host", out.host);
  r.integer("node.port", out.port, 0, 65535);
  r.str("node.data-dir", out.data_dir);
  r.duration("node.shutdown-timeout", out.shutdown_timeout);
  r.str("store.backend", out.store_backend);
  r.str("store.path", out.store_path);
  r.str("store.synchronous", out.sqlite_synchronous);
  r.duration("store.retention", out.retention, 1);
  r.duration("store.trim-interval", out.trim_interval, 1);
  r.str("redis.url", out.redis_url);
  r.str("redis.prefix", out.redis_prefix);
  r.duration("redis.connect-timeout", out.redis_connect_timeout, 1);
  r.duration("redis.command-timeout", out.redis_command_timeout, 1);
  r.integer("redis.pool-size", out.redis_pool_size, 1, 64);
  r.str("redis.tls-ca-file", out.redis_tls_ca_file);
  r.str("redis.tls-cert-file", out.redis_tls_cert_file);
  r.str("redis.tls-key-file", out.redis_tls_key_file);
  r.boolean("redis.wait-at-start", out.redis_wait_at_start);
  r.str("mongo.uri", out.mongo.uri);
  r.str("mongo.database", out.mongo.database);
  r.str("mongo.processed-collection", out.mongo.processed_collection);
  r.str("mongo.write-concern", out.mongo.write_concern);
  r.boolean("mongo.journal", out.mongo.journal);
  r.duration("mongo.server-selection-timeout",
             out.mongo.server_selection_timeout, 1);
  r.duration("mongo.connect-timeout", out.mongo.connect_timeout, 1);
  r.duration("mongo.socket-timeout", out.mongo.socket_timeout, 1);
  r.integer("mongo.pool-size", out.mongo.pool_size, 1, 64);
  r.boolean("mongo.events", out.mongo.events);
  r.str("mongo.events-collection", out.mongo.events_collection);
  r.boolean("mongo.dead-letters", out.mongo.dead_letters);
  r.str("mongo.dead-letters-collection", out.mongo.dead_letters_collection);
  r.str("mongo.read-from", out.mongo.read_from);
  r.integer("events.max-payload-bytes", out.limits.max_payload_bytes, 2,
            int64_t{64} * 1024 * 1024);
  r.integer("events.max-depth", out.limits.max_depth, 1, 10000);
  r.duration("events.dedup-window", out.dedup_window, 1);
  r.integer("events.max-backlog", out.max_backlog, 1, max_u32);
  r.integer("events.max-ingest-batch", out.max_ingest_batch, 1, max_u32);
  r.duration("events.max-delay", out.limits.max_delay);
  r.integer("priorities.high", out.weights.high, 1, 1000);
  r.integer("priorities.normal", out.weights.normal, 1, 1000);
  r.integer("priorities.low", out.weights.low, 1, 1000);
  r.duration("janitor.interval", out.janitor_interval, 1);
  std::vector<std::string> limits;
  r.strings("rate-limits.types", limits);
  for (auto& spec : limits) {
    auto eq = spec.rfind('=');
    type_rate_limit l;
    if (eq == std::string::npos || eq == 0) {
      r.fail("rate-limits.types",
             "entry '" + spec + "' must look like \"pattern=rate\"");
      break;
    }
    l.pattern = spec.substr(0, eq);
    try {
      size_t used = 0;
      l.rate = std::stod(spec.substr(eq + 1), &used);
      if (used != spec.size() - eq - 1 || !(l.rate >= 0.001))
        throw std::invalid_argument("rate");
    } catch (std::exception&) {
      r.fail("rate-limits.types",
             "entry '" + spec + "' needs a rate >= 0.001 (events/s) after '='");
      break;
    }
    out.type_limits.push_back(l);
  }
  r.boolean("http.enabled", out.http.enabled);
  r.str("http.host", out.http.host);
  r.integer("http.port", out.http.port, 0, 65535);
  r.integer("http.max-body-bytes", out.http.max_body_bytes, 1024,
            1024LL * 1024 * 1024);
  r.integer("http.max-batch", out.http.max_batch, 1, 100000);
  // Unset, it follows a smaller events.max-ingest-batch (set, validate()
  // insists that it fits).
  if (!caf::get_if(&content, "http.max-batch"))
    out.http.max_batch = std::min(out.http.max_batch, out.max_ingest_batch);
  r.integer("http.threads", out.http.threads, 1, 64);
  std::vector<std::string> keys;
  r.strings("http.api-keys", keys);
  r.str("http.api-keys-file", out.http.keys_file);
  r.str("client.api-key", out.client_api_key);
  for (auto& spec : keys) {
    api_key k;
    if (auto e = parse_api_key(spec, k); !e.empty()) {
      r.fail("http.api-keys", e);
      break;
    }
    out.http.keys.push_back(std::move(k));
  }
  if (err.empty() && !out.http.keys_file.empty()) {
    std::ifstream in{out.http.keys_file};
    if (!in)
      r.fail("http.api-keys-file",
             "names a file that cannot be read: " + out.http.keys_file);
    std::string line;
    for (int n = 1; in && std::getline(in, line); ++n) {
      while (!line.empty()
             && std::isspace(static_cast<unsigned char>(line.back())))
        line.pop_back();
      if (line.empty() || line[0] == '#')
        continue;
      api_key k;
      if (auto e = parse_api_key(line, k); !e.empty()) {
        r.fail("http.api-keys-file", "line " + std::to_string(n) + " of "
                                       + out.http.keys_file + ": " + e);
        break;
      }
      out.http.keys.push_back(std::move(k));
    }
  }
  r.str("alerts.dlq-webhook-url", out.alerts.dlq_webhook_url);
  r.str("alerts.dlq-webhook-secret", out.alerts.dlq_webhook_secret);
  r.duration("alerts.dlq-webhook-timeout", out.alerts.dlq_webhook_timeout, 1);
  r.duration("alerts.dlq-window", out.alerts.dlq.window);
  r.duration("alerts.dlq-min-interval", out.alerts.dlq.min_interval);
  r.integer("alerts.dlq-max-entries", out.alerts.dlq.max_entries, 1, 100000);
  r.integer("alerts.dlq-retries", out.alerts.dlq.retries, 0, 100);
  if (auto groups = caf::get_if<caf::settings>(&content, "groups")) {
    out.groups.clear();
    for (auto& kv : *groups) {
      group_config g;
      g.name = kv.first;
      auto p = "groups." + kv.first + ".";
      if (!caf::holds_alternative<caf::settings>(kv.second)) {
        r.fail("groups." + kv.first,
               "must be a section [groups." + kv.first + "]");
        break;
      }
      r.str(p + "handler", g.handler);
      r.integer(p + "concurrency", g.concurrency, 1, 1024);
      r.strings(p + "subscriptions", g.subscriptions);
      r.integer(p + "batch-size", g.batch_size, 1, 100000);
      r.duration(p + "batch-wait", g.batch_wait);
      r.duration(p + "lease-ttl", g.lease_ttl, 1);
      r.duration(p + "retry-base", g.retry.base, 1);
      r.real(p + "retry-factor", g.retry.factor, 1.0);
      r.duration(p + "retry-cap", g.retry.cap, 1);
      r.integer(p + "max-attempts", g.retry.max_attempts, 1, 1000);
      r.boolean(p + "jitter", g.retry.jitter);
      r.integer(p + "crash-budget", g.retry.crash_budget, 0, 1000);
      r.real(p + "rate-limit", g.rate_limit, 0);
      r.real(p + "rate-burst", g.rate_burst, 0);
      r.duration(p + "latency", g.options.latency);
      r.real(p + "failure-rate", g.options.failure_rate, 0);
      r.integer(p + "seed", g.options.seed, 0,
                std::numeric_limits<int64_t>::max());
      r.str(p + "webhook-url", g.options.url);
      r.str(p + "webhook-secret", g.options.secret);
      r.duration(p + "webhook-timeout", g.options.timeout, 1);
      if (auto e = read_handler_params(content, p + "options",
                                       g.options.params);
          !e.empty()) {
        r.fail(p + "options", e);
        break;
      }
      g.options.group = g.name;
      out.groups.push_back(std::move(g));
    }
  }
  if (err.empty())
    err = detail::read_cluster(content, out);
  return err;
}

std::string
apply_overrides(caf::settings& content,
                const std::vector<std::pair<std::string, std::string>>& xs) {
  for (auto& [key, text] : xs) {
    if (key.rfind("groups.", 0) == 0) {
      // Groups come from the file only: defaults for a group that is not
      // there would handle every event type (subscriptions ["*"]).
      auto name = key.substr(7, key.find('.', 7) - 7);
      auto i = content.find("groups");
      auto groups = i != content.end() ? caf::get_if<caf::settings>(&i->second)
                                       : nullptr;
      auto is_group = [](const caf::config_value& x) {
        return caf::holds_alternative<caf::settings>(x);
      };
      if (groups == nullptr || groups->count(name) == 0
          || !is_group(groups->find(name)->second)) {
        std::string have;
        if (groups != nullptr)
          for (auto& kv : *groups)
            if (is_group(kv.second))
              have += (have.empty() ? "" : ", ") + kv.first;
        return "option '--" + key + "' names group '" + name
               + "', which the config file does not have (its groups: "
               + (have.empty() ? "none" : have)
               + "); an override cannot add a group: add a [groups." + name
               + "] section to the file";
      }
    }
    auto parsed = caf::config_value::parse(text);
    caf::config_value value = parsed ? std::move(*parsed)
                                     : caf::config_value{text};
    caf::put(content, key, std::move(value));
  }
  return {};
}

namespace {

/// Whether `line` holds a '#' outside quotes (a comment as other INI
/// dialects write it).
bool has_hash_comment(const std::string& line) {
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    auto ch = line[i];
    if (quote != 0) {
      if (ch == '\\')
        ++i;
      else if (ch == quote)
        quote = 0;
    } else if (ch == '"' || ch == '\'') {
      quote = ch;
    } else if (ch == '#') {
      return true;
    }
  }
  return false;
}

} // namespace

std::string describe_parse_error(const caf::error& err, std::istream& ini) {
  auto caf_text = caf::to_string(err);
  // CAF's INI parser stops at a '#' with "trailing character".
  if (err.category() != caf::atom("parser")
      || err.code() != static_cast<uint8_t>(caf::pec::trailing_character))
    return caf_text;
  // CAF 0.17.6 tells where it stopped as {"line" = L, "column" = C}; without
  // a line, the first '#' of the file is the one.
  int64_t line = 0;
  auto& ctx = err.context();
  if (ctx.match_elements<caf::settings>())
    if (auto l = caf::get_if<int64_t>(&ctx.get_as<caf::settings>(0), "line"))
      line = *l;
  std::string text;
  for (int64_t n = 1; std::getline(ini, text); ++n) {
    if (line != 0 && n != line)
      continue;
    if (has_hash_comment(text))
      return "line " + std::to_string(n)
             + ": INI comments start with ';', not '#'";
    if (line != 0)
      break;
  }
  return caf_text;
}

std::vector<std::string> warnings(const node_config& cfg) {
  std::vector<std::string> result;
  for (auto& g : cfg.groups)
    if (g.handler == "webhook" && g.options.timeout * 5 >= g.lease_ttl * 4)
      result.push_back("group " + g.name + ": webhook-timeout ("
                       + std::to_string(g.options.timeout)
                       + " ms) is not below 4/5 of lease-ttl ("
                       + std::to_string(g.lease_ttl)
                       + " ms): calls still open then are failed as "
                         "retryable and the event is delivered again");
  for (auto& g : cfg.groups)
    if (g.options.latency * static_cast<millis_t>(g.batch_size) >= g.lease_ttl)
      result.push_back("group " + g.name + ": lease-ttl ("
                       + std::to_string(g.lease_ttl)
                       + " ms) does not exceed batch-size x latency ("
                       + std::to_string(g.options.latency * g.batch_size)
                       + " ms): batches outlive their leases and events end "
                         "up as crash_loop");
  for (auto& g : cfg.groups)
    if (cfg.store_backend == "redis" && cfg.janitor_interval * 3 > g.lease_ttl)
      result.push_back("group " + g.name + ": lease-ttl ("
                       + std::to_string(g.lease_ttl)
                       + " ms) is less than 3x janitor.interval ("
                       + std::to_string(cfg.janitor_interval)
                       + " ms): the node renews its takes of due retries in "
                         "janitor rounds, so a take may lapse while the node "
                         "holds the retry and another node takes it too (the "
                         "lease claim lets one run)");
  auto loopback = [](const std::string& host) {
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
  };
  auto where = cfg.host + ":" + std::to_string(cfg.port);
  if (!loopback(cfg.host) && cfg.http.keys.empty())
    result.push_back("node.host: the CAF endpoint on " + where
                     + " takes events from anyone who reaches it: set [http] "
                       "api-keys (they protect this port too) or bind it to "
                       "127.0.0.1");
  if (!loopback(cfg.host) && !cfg.http.keys.empty())
    result.push_back("node.host: API keys reach the CAF endpoint on " + where
                     + " unencrypted: keep the port on a private network or "
                       "tunnel it (docs/operations.md)");
  if (cfg.limits.max_delay > cfg.retention)
    result.push_back(
      "events.max-delay (" + std::to_string(cfg.limits.max_delay)
      + " ms) is longer than store.retention (" + std::to_string(cfg.retention)
      + " ms): a delayed event holds the log back until it is due, so the "
        "store keeps up to max-delay of history (docs/architecture.md, "
        "Delayed events)");
  return result;
}

std::string validate(const mongo_config& cfg) {
  if (!cfg.enabled()) {
    if (cfg.records() || cfg.read_from != "store")
      return "options 'mongo.events', 'mongo.dead-letters' and "
             "'mongo.read-from' need 'mongo.uri'";
    return {};
  }
  if (cfg.uri.rfind("mongodb://", 0) != 0
      && cfg.uri.rfind("mongodb+srv://", 0) != 0)
    return "option 'mongo.uri' must look like "
           "mongodb://[user:password@]host[:port]/[database][?options]";
  for (auto [key, name] :
       {std::pair{"processed-collection", &cfg.processed_collection},
        std::pair{"events-collection", &cfg.events_collection},
        std::pair{"dead-letters-collection", &cfg.dead_letters_collection}}) {
    if (name->empty())
      return std::string{"option 'mongo."} + key + "' must not be empty";
    if (name->find('$') != std::string::npos)
      return std::string{"option 'mongo."} + key + "' must not contain '$'";
  }
  // The collections in use (the records' only when they are on) differ.
  if ((cfg.events && cfg.events_collection == cfg.processed_collection)
      || (cfg.dead_letters
          && (cfg.dead_letters_collection == cfg.processed_collection
              || (cfg.events
                  && cfg.dead_letters_collection == cfg.events_collection))))
    return "options 'mongo.processed-collection', 'mongo.events-collection' "
           "and 'mongo.dead-letters-collection' must name different "
           "collections";
  if (cfg.read_from != "store" && cfg.read_from != "mongodb")
    return "option 'mongo.read-from' must be \"store\" or \"mongodb\" "
           "(got \""
           + cfg.read_from + "\")";
  if (cfg.read_from == "mongodb" && !(cfg.events && cfg.dead_letters))
    return "option 'mongo.read-from' = \"mongodb\" needs mongo.events = true "
           "and mongo.dead-letters = true (the records it reads)";
  if (cfg.database.find_first_of("/\\. \"$") != std::string::npos)
    return "option 'mongo.database' must not contain any of /\\. \"$";
  auto& w = cfg.write_concern;
  if (w != "majority"
      && (w.empty() || w.size() > 2
          || w.find_first_not_of("0123456789") != std::string::npos
          || w == "0"))
    return "option 'mongo.write-concern' must be \"majority\" or a number "
           "of members from 1 (got \""
           + w + "\")";
  return {};
}

std::string validate(const node_config& cfg,
                     const std::vector<std::string>& handlers) {
  if (cfg.name.empty())
    return "option 'node.name' must not be empty";
  if (cfg.store_backend != "embedded" && cfg.store_backend != "redis")
    return "option 'store.backend' must be \"embedded\" or \"redis\" (got \""
           + cfg.store_backend + "\")";
  if (cfg.store_backend == "redis" && cfg.redis_url.rfind("redis://", 0) != 0
      && cfg.redis_url.rfind("rediss://", 0) != 0)
    return "option 'redis.url' must look like "
           "redis[s]://[user:password@]host[:port][/db]";
  if (cfg.store_backend == "redis" && cfg.redis_url.rfind("rediss://", 0) != 0
      && !(cfg.redis_tls_ca_file.empty() && cfg.redis_tls_cert_file.empty()
           && cfg.redis_tls_key_file.empty()))
    return "options 'redis.tls-*' need a rediss:// URL in 'redis.url' (with "
           "redis:// the connection, and its password, would not be "
           "encrypted)";
  if (cfg.redis_tls_cert_file.empty() != cfg.redis_tls_key_file.empty())
    return "options 'redis.tls-cert-file' and 'redis.tls-key-file' go "
           "together (a client certificate and its key)";
  if (cfg.store_backend == "redis" && cfg.redis_prefix.empty())
    return "option 'redis.prefix' must not be empty";
  if (cfg.sqlite_synchronous != "normal" && cfg.sqlite_synchronous != "full")
    return "option 'store.synchronous' must be \"normal\" or \"full\"";
  if (auto e = validate(cfg.weights); !e.empty())
    return "section [priorities]: " + e;
  if (cfg.http.enabled && cfg.http.host.empty())
    return "option 'http.host' must not be empty";
  if (cfg.http.max_batch > cfg.max_ingest_batch)
    return "option 'http.max-batch' (" + std::to_string(cfg.http.max_batch)
           + ") must not exceed 'events.max-ingest-batch' ("
           + std::to_string(cfg.max_ingest_batch) + ")";
  {
    std::set<std::string> seen;
    for (auto& k : cfg.http.keys)
      if (!seen.insert(k.name).second)
        return "section [http]: API key name '" + k.name + "' is used twice";
  }
  if (auto& url = cfg.alerts.dlq_webhook_url; !url.empty()
                                              && url.rfind("http://", 0) != 0
                                              && url.rfind("https://", 0) != 0)
    return "option 'alerts.dlq-webhook-url' must start with http:// or "
           "https://";
  if (auto e = validate(cfg.mongo); !e.empty())
    return e;
  if (cfg.groups.empty())
    return "no listener groups: add at least one [groups.<name>] section";
  if (cfg.max_backlog < cfg.max_ingest_batch)
    return "option 'events.max-backlog' (" + std::to_string(cfg.max_backlog)
           + ") must be at least 'events.max-ingest-batch' ("
           + std::to_string(cfg.max_ingest_batch)
           + "), or full batches are always refused";
  std::set<std::string> names;
  for (auto& g : cfg.groups) {
    auto p = "groups." + g.name;
    // In a cluster, a node needs the handlers of the groups it runs
    // listeners of (a worker's own handler may be missing on the core).
    auto runs_here = !cfg.cluster.enabled() || g.concurrency > 0;
    if (runs_here
        && std::find(handlers.begin(), handlers.end(), g.handler)
             == handlers.end()) {
      std::string known;
      for (auto& n : handlers)
        known += (known.empty() ? "" : ", ") + n;
      return "option '" + p + ".handler' names unknown handler \"" + g.handler
             + "\" (known: " + known + ")";
    }
    if (g.subscriptions.empty())
      return "option '" + p + ".subscriptions' must not be empty";
    if (auto e = validate(g.retry); !e.empty())
      return "section [" + p + "]: " + e;
    if (g.options.failure_rate > 1.0)
      return "option '" + p + ".failure-rate' must be between 0 and 1";
    if (g.handler == "webhook" && g.options.url.empty())
      return "option '" + p
             + ".webhook-url' is required by handler \"webhook\"";
    if (g.handler == "webhook" && g.options.url.rfind("http://", 0) != 0
        && g.options.url.rfind("https://", 0) != 0)
      return "option '" + p
             + ".webhook-url' must start with http:// or https://";
    if (g.rate_limit > 0 && g.rate_limit < 0.001)
      return "option '" + p + ".rate-limit' must be 0 (unlimited) or >= 0.001";
  }
  return {};
}

} // namespace onceflow
