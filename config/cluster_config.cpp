#include "config/cluster_config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace onceflow {

const char* to_string(node_role x) {
  return x == node_role::worker ? "worker" : "core";
}

uint32_t cluster_node::listeners_of(const std::string& group) const {
  uint32_t n = 0;
  for (auto& [g, count] : listeners)
    if (g == group)
      n += count;
  return n;
}

const cluster_node* cluster_config::find(const std::string& name) const {
  for (auto& n : nodes)
    if (n.name == name)
      return &n;
  return nullptr;
}

std::vector<const cluster_node*> cluster_config::cores() const {
  std::vector<const cluster_node*> result;
  for (auto& n : nodes)
    if (n.role == node_role::core)
      result.push_back(&n);
  return result;
}

std::string parse_listener_spec(const std::string& spec,
                                std::pair<std::string, uint32_t>& out) {
  auto colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size())
    return "entry '" + spec + "' must look like \"group:count\"";
  auto digits = spec.substr(colon + 1);
  if (digits.size() > 4
      || !std::all_of(digits.begin(), digits.end(),
                      [](unsigned char c) { return std::isdigit(c) != 0; }))
    return "entry '" + spec + "' needs a count of 1..1024 after ':'";
  auto count = std::stoul(digits);
  if (count < 1 || count > 1024)
    return "entry '" + spec + "' needs a count of 1..1024 after ':'";
  out = {spec.substr(0, colon), static_cast<uint32_t>(count)};
  return {};
}

std::string validate(const cluster_tls& tls) {
  if (!tls.enabled())
    return {};
  struct file {
    const char* option;
    const std::string& path;
    const char* what;
  };
  const file files[] = {
    {"tls-ca-file", tls.ca_file, "the cluster's CA certificate"},
    {"tls-cert-file", tls.cert_file, "this node's certificate"},
    {"tls-key-file", tls.key_file, "that certificate's private key"},
  };
  for (auto& f : files)
    if (f.path.empty())
      return std::string{"option 'cluster."} + f.option
             + "' is required with TLS on (mutual TLS needs tls-ca-file, "
               "tls-cert-file and tls-key-file; "
             + f.option + ": " + f.what
             + "), or leave every cluster.tls-* option empty for no TLS";
  for (auto& f : files) {
    std::ifstream in{f.path};
    if (!in)
      return std::string{"option 'cluster."} + f.option
             + "': cannot read file '" + f.path + "' (" + std::strerror(errno)
             + ")";
  }
  return {};
}

} // namespace onceflow
