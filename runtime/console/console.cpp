#include "runtime/console/console.hpp"

#include "runtime/console/commands.hpp"

#include <caf/actor_system.hpp>

#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

// libedit's readline interface (after the standard headers: it needs
// stdio's FILE).
#include <editline/readline.h>

namespace onceflow::console {

namespace {

/// What a command prints: its JSON document or its text; an error goes to
/// stdout as well (as {"error": ...} with --json), so that a script reads
/// one stream.
void print(const answer& a, bool as_json) {
  if (as_json) {
    std::cout << a.doc.dump(2) << std::endl;
    return;
  }
  if (!a.error.empty())
    std::cout << "error: " << a.error << std::endl;
  else
    std::cout << a.text << std::flush;
}

/// The shell's own commands (help, quit) or the runner's; false for quit.
bool dispatch(command_runner& runner, const std::string& line, bool all_json,
              int& rc) {
  auto cmd = parse_command(line);
  if (!cmd.error.empty()) {
    rc = 1;
    answer a;
    a.error = cmd.error;
    a.doc = {{"error", cmd.error}};
    print(a, all_json || line.find("--json") != std::string::npos);
    return true;
  }
  if (cmd.name.empty())
    return true;
  if (cmd.name == "quit")
    return false;
  bool as_json = all_json || cmd.json;
  if (cmd.name == "help") {
    auto topic = cmd.args.empty() ? std::string{} : cmd.args[0];
    if (!topic.empty() && find_command(topic) == nullptr)
      rc = 1;
    if (as_json) {
      auto xs = json::array();
      for (auto& c : commands())
        if (topic.empty() || c.name == topic)
          xs.push_back({{"name", c.name},
                        {"usage", c.usage},
                        {"summary", c.summary},
                        {"details", c.details},
                        {"admin", c.admin}});
      std::cout << json{{"commands", xs}}.dump(2) << std::endl;
    } else {
      std::cout << help_text(topic) << std::flush;
    }
    return true;
  }
  auto a = runner.run(cmd);
  if (!a.error.empty())
    rc = 1;
  print(a, as_json);
  return true;
}

/// Puts the terminal into single-key mode while it lives.
class raw_terminal {
public:
  raw_terminal() {
    ok_ = isatty(STDIN_FILENO) != 0 && tcgetattr(STDIN_FILENO, &saved_) == 0;
    if (!ok_)
      return;
    auto raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
  }

  ~raw_terminal() {
    if (ok_)
      tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }

  raw_terminal(const raw_terminal&) = delete;
  raw_terminal& operator=(const raw_terminal&) = delete;

private:
  bool ok_ = false;
  termios saved_{};
};

/// Waits up to `ms` for a key; true if it was q (or stdin ended).
bool quit_key_within(int ms) {
  pollfd p{STDIN_FILENO, POLLIN, 0};
  auto deadline = wall_now() + ms;
  for (auto left = ms; left > 0;
       left = static_cast<int>(deadline - wall_now())) {
    if (poll(&p, 1, left) <= 0)
      return false;
    char c = 0;
    auto n = read(STDIN_FILENO, &c, 1);
    if (n <= 0)
      return true;
    if (c == 'q' || c == 'Q')
      return true;
  }
  return false;
}

/// `top` in the shell: a frame every second until q.
void run_top(command_runner& runner, bool as_json) {
  raw_terminal raw;
  do {
    auto view = top_view(runner.sample(), 10);
    if (as_json)
      std::cout << view.dump() << std::endl;
    else
      std::cout << "\x1b[H\x1b[2J" << render_top(view) << std::flush;
  } while (!quit_key_within(1000));
  if (!as_json)
    std::cout << "\n";
}

// -- libedit -----------------------------------------------------------------

command_runner* completion_runner = nullptr;
std::vector<std::string> completion_candidates;

char* completion_entry(const char*, int state) {
  static size_t next = 0;
  if (state == 0)
    next = 0;
  if (next >= completion_candidates.size())
    return nullptr;
  return strdup(completion_candidates[next++].c_str());
}

char** attempt_completion(const char* text, int, int end) {
  rl_attempted_completion_over = 1;
  if (completion_runner == nullptr)
    return nullptr;
  std::string line{rl_line_buffer, static_cast<size_t>(std::max(end, 0))};
  completion_candidates = complete(line, completion_runner->sources());
  if (completion_candidates.empty())
    return nullptr;
  return rl_completion_matches(text, completion_entry);
}

std::string history_file() {
  const char* home = std::getenv("HOME");
  return home != nullptr && *home != '\0'
           ? std::string{home} + "/.onceflow_history"
           : std::string{};
}

int shell(command_runner& runner, client& c, const console_options& opts) {
  std::string names;
  for (auto& n : c.nodes())
    names += (names.empty() ? "" : ", ") + n.entry.name;
  std::cout << "onceflow console: " << c.nodes().size() << " node(s) (" << names
            << "); help lists the commands, tab completes, q or Ctrl-D "
               "leaves top and the console"
            << std::endl;
  int rc = 0;
  bool tty = isatty(STDIN_FILENO) != 0;
  if (!tty) {
    // Commands from a pipe: no line editing.
    std::string line;
    while (std::getline(std::cin, line))
      if (!dispatch(runner, line, opts.json, rc))
        break;
    return rc;
  }
  completion_runner = &runner;
  rl_attempted_completion_function = attempt_completion;
  rl_completion_append_character = ' ';
  auto hist = history_file();
  using_history();
  stifle_history(1000);
  if (!hist.empty())
    read_history(hist.c_str());
  for (;;) {
    char* raw = readline("onceflow> ");
    if (raw == nullptr) {
      std::cout << std::endl;
      break;
    }
    std::string line{raw};
    std::free(raw);
    if (line.find_first_not_of(" \t") == std::string::npos)
      continue;
    add_history(line.c_str());
    auto cmd = parse_command(line);
    if (cmd.error.empty() && cmd.name == "top") {
      run_top(runner, opts.json || cmd.json);
      continue;
    }
    int ignored = 0;
    if (!dispatch(runner, line, opts.json, ignored))
      break;
  }
  if (!hist.empty())
    write_history(hist.c_str());
  completion_runner = nullptr;
  return rc;
}

} // namespace

std::vector<cluster_node> nodes_of(const node_config& cfg) {
  if (cfg.cluster.enabled())
    return cfg.cluster.nodes;
  cluster_node n;
  n.name = cfg.name;
  n.host = cfg.host;
  n.port = cfg.port;
  return {n};
}

int run_console(caf::actor_system& sys, const node_config& cfg,
                const console_options& opts) {
  std::vector<std::string> groups;
  for (auto& g : cfg.groups)
    groups.push_back(g.name);
  client c{sys, nodes_of(cfg), opts.key, cfg.cluster.tls.enabled(),
           opts.deadline};
  command_runner runner{c, groups};
  c.refresh(true);
  if (opts.exec.empty())
    return shell(runner, c, opts);
  int rc = 0;
  for (auto& line : opts.exec)
    if (!dispatch(runner, line, opts.json, rc))
      break;
  return rc;
}

} // namespace onceflow::console
