// The environment's ONCEFLOW_* variables: their names (env_name), what
// each sets (read_environment: onceflow's options, CAF's, and the options
// of the config file's groups and nodes) and errors naming the variable.

#include "config/node_config.hpp"
#include "config/node_config_impl.hpp"

#include <caf/config_option.hpp>
#include <caf/config_option_set.hpp>
#include <caf/config_value.hpp>
#include <caf/settings.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace onceflow {

namespace {

using detail::caf_sections;
using detail::known_options;

constexpr const char* env_prefix = "ONCEFLOW_";

/// A name as a part of a variable name: upper-cased, every character other
/// than a letter or a digit as '_'.
std::string env_part(const std::string& name) {
  std::string out;
  out.reserve(name.size());
  for (auto ch : name) {
    auto c = static_cast<unsigned char>(ch);
    out += std::isalnum(c) != 0 ? static_cast<char>(std::toupper(c)) : '_';
  }
  return out;
}

std::string joined(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : ", ") + x;
  return out;
}

/// Why `var`, an ONCEFLOW_* variable, names no option (`known`: variable
/// -> dotted key of the options outside the groups): the options of the
/// section it names, or how variables look.
std::string unknown_variable(const std::string& var,
                             const std::map<std::string, std::string>& known,
                             const std::set<std::string>& caf_sections) {
  auto head = "unknown environment variable " + var;
  auto tail = var.substr(9);
  auto section = tail.substr(0, tail.find("__"));
  std::vector<std::string> options;
  std::string section_name;
  for (auto& kv : known) {
    auto& key = kv.second;
    auto dot = key.rfind('.');
    if (env_part(key.substr(0, dot)) == section) {
      section_name = key.substr(0, dot);
      options.push_back(key.substr(dot + 1));
    }
  }
  if (!options.empty())
    return head + ": section [" + section_name
           + "] has no such option (known: " + joined(options) + ")";
  std::vector<std::string> ours;
  for (auto& kv : known_options())
    if (kv.first != "group" && kv.first != "cluster-node")
      ours.push_back(kv.first);
  return head + ": it names no option; variables are ONCEFLOW_<SECTION>__"
         + "<OPTION> (sections: " + joined(ours)
         + "; CAF's: " + joined({caf_sections.begin(), caf_sections.end()})
         + "), ONCEFLOW_GROUPS__<GROUP>__<OPTION> for a group of the "
           "config file and ONCEFLOW_NODES__<NODE>__<OPTION> for a node of "
           "its cluster (see docs/configuration.md)";
}

/// The variables read_environment knows: every option outside the groups
/// (onceflow's and CAF's) and the options of the config file's groups.
class env_map {
public:
  env_map(const caf::settings& content,
          const caf::config_option_set& caf_options)
    : caf_sections_(caf_sections(caf_options)) {
    for (auto& [section, options] : known_options())
      if (section != "group" && section != "cluster-node")
        for (auto& option : options)
          known_.emplace(env_name(section, option), section + "." + option);
    for (auto& opt : caf_options) {
      std::string category{opt.category().begin(), opt.category().end()};
      std::string name{opt.long_name().begin(), opt.long_name().end()};
      if (category == "global")
        continue;
      auto var = env_name(category, name);
      known_.emplace(var, category + "." + name);
      cafs_.emplace(var, &opt);
    }
    for (auto& kind : kinds())
      if (auto gs = caf::get_if<caf::settings>(&content,
                                               std::string{kind.section}))
        for (auto& [name, value] : *gs)
          if (caf::holds_alternative<caf::settings>(value)) {
            groups_[kind.section][env_part(name)].push_back(name);
            group_names_[kind.section].push_back(name);
          }
  }

  /// Puts what `var` sets into `out`; returns an error text or empty.
  std::string resolve(const std::string& var, const std::string& value,
                      env_config& out) const {
    if (auto i = cafs_.find(var); i != cafs_.end()) {
      auto& key = known_.at(var);
      auto parsed = i->second->parse(value);
      if (!parsed)
        return "environment variable " + var + ": '" + value
               + "' is no value of CAF's option '" + key
               + "': " + caf::to_string(parsed.error());
      out.caf.emplace_back(key, std::move(*parsed));
      out.sources[key] = var;
      return {};
    }
    if (auto i = known_.find(var); i != known_.end()) {
      out.overrides.emplace_back(i->second, value);
      out.sources[i->second] = var;
      return {};
    }
    auto tail = var.substr(9);
    const section_kind* kind = nullptr;
    for (auto& k : kinds())
      if (tail.rfind(k.prefix, 0) == 0)
        kind = &k;
    if (kind == nullptr)
      return unknown(var);
    // GROUPS__<GROUP>__<OPTION>: option names hold no "__", so the last one
    // ends the group's part (which may hold "__" itself). Likewise
    // NODES__<NODE>__<OPTION> for a cluster's nodes.
    auto rest = tail.substr(std::char_traits<char>::length(kind->prefix));
    auto cut = rest.rfind("__");
    if (cut == std::string::npos || cut == 0)
      return unknown(var) + " (a " + kind->what + "'s option is ONCEFLOW_"
             + kind->prefix + "<" + env_part(kind->what) + ">__<OPTION>)";
    auto group_part = rest.substr(0, cut);
    auto option_part = rest.substr(cut + 2);
    auto& options = known_options().at(kind->options);
    auto& groups_of_kind = groups_.at(kind->section);
    auto& names_of_kind = group_names_.at(kind->section);
    auto option = std::find_if(options.begin(), options.end(),
                               [&](const std::string& o) {
                                 return env_part(o) == option_part;
                               });
    if (option == options.end())
      return hint(var, "unknown environment variable " + var + ": a "
                         + kind->what + " has no option " + option_part
                         + " (known: "
                         + joined({options.begin(), options.end()}) + ")");
    auto g = groups_of_kind.find(group_part);
    if (g == groups_of_kind.end())
      return hint(
        var, "environment variable " + var + " names " + kind->what + " "
               + group_part + ", which the config file does not have (its "
               + kind->section + ": "
               + (names_of_kind.empty() ? "none" : joined(names_of_kind))
               + "); the environment cannot add a " + kind->what + ": add a ["
               + kind->section + ".<name>] section to the file");
    if (g->second.size() > 1)
      return "environment variable " + var + " is ambiguous: " + kind->section
             + " " + joined(g->second)
             + " of the config file have the same name in a variable; set "
               "the option in the file or on the command line";
    auto key = std::string{kind->section} + "." + g->second.front() + "."
               + *option;
    out.overrides.emplace_back(key, value);
    out.sources[key] = var;
    return {};
  }

private:
  std::string unknown(const std::string& var) const {
    return hint(var, unknown_variable(var, known_, caf_sections_));
  }

  /// `err`, or a hint at the upper-case spelling of `var` if that one is
  /// known.
  std::string hint(const std::string& var, const std::string& err) const {
    auto upper = env_prefix + env_part(var.substr(9));
    env_config scratch;
    if (upper != var
        && (known_.count(upper) > 0 || resolve(upper, "", scratch).empty()))
      return "unknown environment variable " + var
             + " (variable names are upper-case: did you mean " + upper + "?)";
    return err;
  }

  /// Sections holding one section per name: [groups.NAME], [nodes.NAME].
  struct section_kind {
    const char* section;
    const char* prefix;
    const char* options;
    const char* what;
  };

  static const std::vector<section_kind>& kinds() {
    static const std::vector<section_kind> xs{
      {"groups", "GROUPS__", "group", "group"},
      {"nodes", "NODES__", "cluster-node", "node"}};
    return xs;
  }

  std::set<std::string> caf_sections_;
  std::map<std::string, std::string> known_;
  std::map<std::string, const caf::config_option*> cafs_;
  /// Per kind's section: the names' variable parts -> the names.
  std::map<std::string, std::map<std::string, std::vector<std::string>>>
    groups_{{"groups", {}}, {"nodes", {}}};
  std::map<std::string, std::vector<std::string>> group_names_{{"groups", {}},
                                                               {"nodes", {}}};
};

} // namespace

std::string env_name(const std::string& section, const std::string& option) {
  std::string out = env_prefix;
  if (section.rfind("groups.", 0) == 0)
    out += "GROUPS__" + env_part(section.substr(7));
  else if (section.rfind("nodes.", 0) == 0)
    out += "NODES__" + env_part(section.substr(6));
  else
    out += env_part(section);
  return out + "__" + env_part(option);
}

std::string
read_environment(const std::vector<env_var>& env, const caf::settings& content,
                 const caf::config_option_set& caf_options, env_config& out) {
  env_map known{content, caf_options};
  for (auto& [var, value] : env)
    if (var.rfind(env_prefix, 0) == 0)
      if (auto err = known.resolve(var, value, out); !err.empty())
        return err;
  return {};
}

std::string name_sources(std::string err,
                         const std::map<std::string, std::string>& sources) {
  // The option named first.
  auto first = std::string::npos;
  size_t end = 0;
  std::string insert;
  for (auto& [key, var] : sources) {
    auto needle = "'" + key + "'";
    auto at = err.find(needle);
    if (at < first) {
      first = at;
      end = at + needle.size();
      insert = " (from " + var + ")";
    }
  }
  if (first != std::string::npos)
    err.insert(end, insert);
  return err;
}

} // namespace onceflow
