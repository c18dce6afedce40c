#include "actors/logic/console_commands.hpp"

#include <algorithm>
#include <set>

namespace onceflow::console {

namespace {

std::vector<command_spec> make_commands() {
  std::vector<command_spec> xs;
  auto add = [&](command_spec x) {
    xs.push_back(std::move(x));
  };
  add({"nodes",
       "nodes",
       "every node of the config: up or down and since when, role, store, "
       "version, round-trip time, uptime",
       "A node that does not answer within the deadline is shown down with "
       "the reason; the console reconnects on every command and shows it up "
       "again once it answers.",
       {},
       {},
       0,
       0,
       false});
  add({"actors",
       "actors [--node N] [--group G] [--kind K]",
       "one row per actor of every node that is up",
       "Columns: node, id (NODE/NUMBER, what inspect takes), kind, group, "
       "state (idle, busy, paused, draining, unanswered), mailbox depth, work "
       "in flight, batches, leases, processed and failed counts, events/s "
       "(since the previous sample of this console) and last activity. Kinds: "
       "broadcaster, listener, deduplicator, retry_timer, dlq, store, "
       "node_manager.",
       {"node", "group", "kind"},
       {},
       0,
       0,
       false});
  add({"inspect",
       "inspect ACTOR",
       "everything one actor reports (ACTOR as `actors` shows it: NODE/ID)",
       "Prints the actor's whole status: counters, queue depths, config.",
       {},
       {},
       1,
       1,
       false});
  add({"top",
       "top",
       "a live view refreshed every second; q quits",
       "Busiest actors (events/s), deepest mailboxes, per-group rates and "
       "backlog, nodes that are down. In one-shot mode (-e) it prints one "
       "frame, after a second (for the rates).",
       {},
       {},
       0,
       0,
       false});
  add({"groups",
       "groups",
       "per group: backlog, queued, in flight, DLQ size, rate, listeners per "
       "node, paused",
       "Backlog counts the group's unsettled entries on its core; retries "
       "scheduled are the core store's (all groups).",
       {},
       {},
       0,
       0,
       false});
  add({"trace",
       "trace EVENT-ID",
       "an event's whole path: accepted, every attempt per group with node, "
       "listener, epoch and outcome, the DLQ verdict, the effect record",
       "Asks a core's store (the same records GET /events/{id} shows).",
       {},
       {},
       1,
       1,
       false});
  add({"pause",
       "pause GROUP",
       "stops dispatching a group (role admin)",
       "Kept in the store: it holds on every node sharing it and after a "
       "restart, until `resume`.",
       {},
       {},
       1,
       1,
       true});
  add({"resume",
       "resume GROUP",
       "resumes a paused group (role admin)",
       "",
       {},
       {},
       1,
       1,
       true});
  add({"listeners",
       "listeners add|remove GROUP [--count K] [--node N]",
       "adds or removes listeners of a group on a node (role admin)",
       "--count defaults to 1, --node to the first core. Removed listeners "
       "finish their batch first; the change lasts until the node restarts.",
       {"count", "node"},
       {},
       2,
       2,
       true});
  add({"dlq",
       "dlq list [--group G] [--limit N] | dlq show EVENT-ID | dlq replay "
       "EVENT-ID [--group G] | dlq purge EVENT-ID|--group G|--all",
       "the dead-letter queue: list, show, replay, purge (replay and purge "
       "need role admin)",
       "list pages through the DLQ (--limit, default 50); show prints an "
       "event's entries with their attempts; replay moves them back into the "
       "retry schedule; purge deletes them.",
       {"group", "limit"},
       {"all"},
       1,
       2,
       false});
  add({"help",
       "help [COMMAND]",
       "this list, or one command's help",
       "",
       {},
       {},
       0,
       1,
       false});
  add({"quit",
       "quit",
       "leaves the console (also exit, Ctrl-D)",
       "",
       {},
       {},
       0,
       0,
       false});
  return xs;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool contains(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

} // namespace

const std::vector<command_spec>& commands() {
  static const auto xs = make_commands();
  return xs;
}

const command_spec* find_command(const std::string& name) {
  auto n = name == "exit" ? std::string{"quit"} : name;
  for (auto& c : commands())
    if (c.name == n)
      return &c;
  return nullptr;
}

const std::vector<std::string>& actor_kinds() {
  static const std::vector<std::string> xs{"broadcaster", "deduplicator",
                                           "dlq",         "gateway",
                                           "listener",    "node_manager",
                                           "retry_timer", "store"};
  return xs;
}

std::string parsed_command::option(const std::string& name,
                                   const std::string& fallback) const {
  auto i = options.find(name);
  return i == options.end() ? fallback : i->second;
}

bool split_words(const std::string& line, std::vector<std::string>& out,
                 std::string& error) {
  out.clear();
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote != 0) {
      if (c == quote)
        quote = 0;
      else if (c == '\\' && quote == '"' && i + 1 < line.size())
        word += line[++i];
      else
        word += c;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word)
        out.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\'' || c == '"')
      quote = c;
    else if (c == '\\' && i + 1 < line.size())
      word += line[++i];
    else
      word += c;
  }
  if (quote != 0) {
    error = std::string{"unterminated quote ("} + quote + ")";
    return false;
  }
  if (in_word)
    out.push_back(std::move(word));
  return true;
}

parsed_command parse_command(const std::string& line) {
  parsed_command out;
  std::vector<std::string> words;
  if (!split_words(line, words, out.error))
    return out;
  if (words.empty())
    return out;
  const auto* spec = find_command(words[0]);
  if (spec == nullptr) {
    out.error = "unknown command '" + words[0] + "' (try help)";
    return out;
  }
  for (size_t i = 1; i < words.size(); ++i) {
    auto& w = words[i];
    if (w.size() < 3 || !starts_with(w, "--")) {
      out.args.push_back(w);
      continue;
    }
    auto key = w.substr(2);
    std::string value;
    auto eq = key.find('=');
    bool has_value = eq != std::string::npos;
    if (has_value) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    }
    if (key == "json" && !has_value) {
      out.json = true;
      continue;
    }
    if (contains(spec->flags, key) && !has_value) {
      out.options[key] = "";
      continue;
    }
    if (!contains(spec->options, key)) {
      out.error = spec->name + ": unknown option '--" + key
                  + "' (usage: " + spec->usage + ")";
      return out;
    }
    if (!has_value) {
      if (i + 1 >= words.size()) {
        out.error = spec->name + ": option '--" + key + "' needs a value";
        return out;
      }
      value = words[++i];
    }
    if (value.empty()) {
      out.error = spec->name + ": option '--" + key + "' needs a value";
      return out;
    }
    out.options[key] = value;
  }
  if (out.args.size() < spec->min_args || out.args.size() > spec->max_args) {
    out.error = spec->name + ": "
                + (out.args.size() < spec->min_args ? "missing argument"
                                                    : "too many arguments")
                + " (usage: " + spec->usage + ")";
    return out;
  }
  out.name = spec->name;
  return out;
}

std::vector<std::string> complete(const std::string& line,
                                  const completion_sources& src) {
  std::vector<std::string> words;
  std::string ignored;
  // A line with an open quote completes nothing.
  if (!split_words(line, words, ignored))
    return {};
  bool fresh = line.empty() || line.back() == ' ' || line.back() == '\t';
  std::string partial;
  if (!fresh && !words.empty()) {
    partial = words.back();
    words.pop_back();
  }
  std::vector<std::string> pool;
  if (words.empty()) {
    for (auto& c : commands())
      pool.push_back(c.name);
    pool.emplace_back("exit");
  } else {
    const auto* spec = find_command(words[0]);
    if (spec == nullptr)
      return {};
    auto& prev = words.back();
    // Positional arguments so far (option values are not).
    size_t args = 0;
    for (size_t i = 1; i < words.size(); ++i) {
      if (starts_with(words[i], "--")) {
        if (words[i].find('=') == std::string::npos
            && contains(spec->options, words[i].substr(2)))
          ++i;
        continue;
      }
      ++args;
    }
    // A group name: after --group, as pause's or resume's argument, and
    // as the group of `listeners add|remove`.
    bool group_here = prev == "--group"
                      || ((spec->name == "pause" || spec->name == "resume")
                          && args == 0)
                      || (spec->name == "listeners" && args == 1);
    if (prev == "--node") {
      pool = src.nodes;
    } else if (group_here && !starts_with(partial, "-")) {
      pool = src.groups;
    } else if (prev == "--kind") {
      pool = actor_kinds();
    } else if (prev == "--count" || prev == "--limit") {
      return {};
    } else if (starts_with(partial, "-")) {
      for (auto& o : spec->options)
        pool.push_back("--" + o);
      for (auto& f : spec->flags)
        pool.push_back("--" + f);
      pool.emplace_back("--json");
    } else if (spec->name == "help" && args == 0) {
      for (auto& c : commands())
        pool.push_back(c.name);
    } else if (spec->name == "inspect" && args == 0) {
      pool = src.actors;
    } else if (spec->name == "listeners" && args == 0) {
      pool = {"add", "remove"};
    } else if (spec->name == "dlq" && args == 0) {
      pool = {"list", "purge", "replay", "show"};
    }
  }
  std::set<std::string> out;
  for (auto& x : pool)
    if (starts_with(x, partial))
      out.insert(x);
  return {out.begin(), out.end()};
}

std::string help_text(const std::string& command) {
  if (command.empty()) {
    std::string out = "commands (each takes --json):\n";
    size_t width = 0;
    for (auto& c : commands())
      width = std::max(width, c.usage.size() > 44 ? 0 : c.usage.size());
    for (auto& c : commands()) {
      out += "  " + c.usage;
      if (c.usage.size() <= width)
        out += std::string(width - c.usage.size() + 2, ' ');
      else
        out += "\n  " + std::string(width + 2, ' ');
      out += c.summary + "\n";
    }
    out += "help COMMAND tells more. Tab completes commands, nodes, groups "
           "and actor ids.\n";
    return out;
  }
  const auto* spec = find_command(command);
  if (spec == nullptr)
    return "unknown command '" + command + "' (try help)\n";
  std::string out = "usage: " + spec->usage + "\n  " + spec->summary + "\n";
  if (!spec->details.empty())
    out += "  " + spec->details + "\n";
  return out;
}

} // namespace onceflow::console
