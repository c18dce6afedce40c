#pragma once

// What the parts of config/node_config.cpp share: the options onceflow
// knows, CAF's sections and the reading of a cluster config. Internal to
// config/. The reading of a node's config is in three files:
// - node_config.cpp: the sections and options a file may have, the node's
//   own options and its groups, overrides, parse errors, warnings and
//   validate();
// - node_config_cluster.cpp: [cluster] (with its TLS options) and
//   [nodes.*];
// - node_config_env.cpp: the environment's ONCEFLOW_* variables.

#include "config/node_config.hpp"

#include <caf/fwd.hpp>

#include <map>
#include <set>
#include <string>

namespace onceflow::detail {

/// The options of onceflow's own sections; anything else in them is a typo
/// that would otherwise leave a default in place silently.
const std::map<std::string, std::set<std::string>>& known_options();

/// The sections CAF has options for; "global" holds the options that
/// stand outside any section.
std::set<std::string> caf_sections(const caf::config_option_set& opts);

/// Reads [cluster] and [nodes.*], checks the whole cluster and applies
/// the entry of `out.name` (see read_node_config). Nothing without
/// [nodes.*] sections.
std::string read_cluster(const caf::settings& content, node_config& out);

} // namespace onceflow::detail
