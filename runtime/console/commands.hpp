#pragma once

// The console's commands (docs/console.md): each asks the nodes through
// the client and answers with one JSON document (what --json prints) and
// its text.

#include "actors/logic/console_commands.hpp"
#include "actors/logic/console_view.hpp"
#include "runtime/console/client.hpp"

#include <string>
#include <vector>

namespace onceflow::console {

/// A command's answer: the document and its text, or an error.
struct answer {
  json doc;
  std::string text;
  /// Set when the command failed (the exit code of one-shot mode is 1).
  std::string error;
};

class command_runner {
public:
  /// `groups`: the config's groups (completion until a node tells more).
  command_runner(client& c, std::vector<std::string> groups);

  /// Runs a parsed command (not help or quit: the shell answers those).
  answer run(const parsed_command& cmd);

  /// One sample for `top`: {"at", "nodes", "actors", "groups"}.
  json sample();

  /// What tab completion offers: the config's nodes, the groups and the
  /// actor ids seen so far (one sample is taken if none was).
  completion_sources sources();

private:
  answer nodes();
  answer actors(const parsed_command& cmd);
  answer inspect(const std::string& ref);
  answer groups();
  answer trace(const std::string& id);
  answer pause(const std::string& group, bool pause);
  answer listeners(const parsed_command& cmd);
  answer dlq(const parsed_command& cmd);

  /// Every actor of every node that is up: {"actors": rows, "down":
  /// [{"node", "error"}], "raw": {node: {id: what the node reports}}}.
  json collect();

  /// The groups of the broadcasters in `collected` (see groups()).
  json groups_of(const json& collected);

  /// The first core that is up, or null (after setting `a.error`).
  node_link* core_for(answer& a, const char* what);

  client& c_;
  std::vector<std::string> groups_;
  std::vector<std::string> actor_ids_;
  rate_book rates_;
};

} // namespace onceflow::console
