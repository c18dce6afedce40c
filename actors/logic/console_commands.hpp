#pragma once

// The console's command language (`onceflow console`, docs/console.md):
// splitting a line into words, checking a command against its table entry,
// the help texts and tab completion. Pure: no CAF, no I/O.

#include <map>
#include <string>
#include <vector>

namespace onceflow::console {

/// One command of the console.
struct command_spec {
  std::string name;
  /// "actors [--node N] [--group G] [--kind K]".
  std::string usage;
  /// One line for `help`.
  std::string summary;
  /// More lines for `help COMMAND`.
  std::string details;
  /// Options that take a value ("node" for --node N).
  std::vector<std::string> options;
  /// Options without a value (besides --json, which every command takes).
  std::vector<std::string> flags;
  /// Positional arguments: at least, at most.
  size_t min_args = 0;
  size_t max_args = 0;
  /// Needs an API key with role admin.
  bool admin = false;
};

/// Every command, in the order `help` lists them.
const std::vector<command_spec>& commands();

/// The entry of `name`, or null.
const command_spec* find_command(const std::string& name);

/// A command line as the user typed it, checked against its spec.
struct parsed_command {
  /// Empty with `error` set when the line is not a valid command; empty
  /// without an error for a blank line.
  std::string name;
  std::vector<std::string> args;
  /// Options given: name without "--" -> value ("" for flags).
  std::map<std::string, std::string> options;
  /// --json: print JSON instead of text.
  bool json = false;
  std::string error;

  bool has(const std::string& option) const {
    return options.count(option) > 0;
  }

  std::string option(const std::string& name,
                     const std::string& fallback = {}) const;
};

/// Splits a line into words: blanks separate, '...' and "..." quote, a
/// backslash escapes the next character. Returns false (with `error`) for an
/// unterminated quote.
bool split_words(const std::string& line, std::vector<std::string>& out,
                 std::string& error);

/// Parses and checks a command line: the command exists, its options are
/// known and have values, the number of arguments fits.
parsed_command parse_command(const std::string& line);

/// What a name completes against.
struct completion_sources {
  std::vector<std::string> nodes;
  std::vector<std::string> groups;
  std::vector<std::string> actors;
};

/// The candidates for the last (partial) word of `line` (everything before
/// the cursor), sorted: command names first, then per command and option
/// what fits there (node names after --node, group names after --group or
/// as a group argument, actor ids for inspect, sub-commands, kinds).
std::vector<std::string> complete(const std::string& line,
                                  const completion_sources& src);

/// `help` (every command with its summary) or `help COMMAND`; an unknown
/// command gets a message naming it.
std::string help_text(const std::string& command = {});

/// The actor kinds `actors --kind` accepts.
const std::vector<std::string>& actor_kinds();

} // namespace onceflow::console
