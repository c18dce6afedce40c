// The client commands of the `onceflow` binary: publish, status, console,
// listeners. Each talks to a node's CAF endpoint.

#include "actors/logic/validation.hpp"
#include "runtime/command_line.hpp"
#include "runtime/console/console.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

namespace onceflow::command {

namespace {

/// What `publish` did with its events.
struct publish_tally {
  size_t accepted = 0;
  size_t duplicate = 0;
  /// Invalid lines or arguments (never sent).
  size_t rejected = 0;
  /// Valid events the node did not take (an error, or still overloaded
  /// after the retries).
  size_t failed = 0;

  std::string text(size_t sent, size_t total) const {
    return std::to_string(sent) + "/" + std::to_string(total) + " sent, "
           + std::to_string(accepted) + " accepted, "
           + std::to_string(duplicate) + " duplicate, "
           + std::to_string(rejected) + " rejected, " + std::to_string(failed)
           + " failed";
  }
};

/// Reads events to publish; invalid ones are reported (naming the line or
/// the field), counted as rejected and skipped.
std::vector<event> collect_events(const cli& args, const node_config& ncfg,
                                  publish_tally& tally, bool& had_errors) {
  std::vector<event> result;
  if (!args.file.empty()) {
    std::ifstream in{args.file};
    if (!in) {
      std::cout << "error: cannot open file '" << args.file << "'\n";
      had_errors = true;
      return result;
    }
    std::string line;
    size_t lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      if (line.find_first_not_of(" \t\r") == std::string::npos)
        continue;
      auto r = parse_event_json(line, ncfg.limits);
      check_not_before(r, ncfg.limits, wall_now());
      if (!r.ok) {
        std::cout << "line " << lineno << ": error: field '" << r.field << "' "
                  << r.message << "\n";
        ++tally.rejected;
        had_errors = true;
        continue;
      }
      result.push_back(std::move(r.ev));
    }
    return result;
  }
  submission sub{args.id,   args.type,  args.payload,
                 args.prio, args.delay, args.not_before};
  if (!args.has_payload)
    sub.payload = "{}";
  auto r = validate(sub, ncfg.limits);
  check_not_before(r, ncfg.limits, wall_now());
  if (!r.ok) {
    std::cout << "error: field '" << r.field << "' " << r.message << "\n";
    ++tally.rejected;
    had_errors = true;
    return result;
  }
  result.push_back(std::move(r.ev));
  return result;
}

/// Connects to the node's endpoint; prints why not and returns nothing on
/// failure.
caf::optional<endpoint_actor> connect_node(caf::actor_system& sys,
                                           const node_config& ncfg) {
  endpoint_actor hdl;
  if (auto err = connect_endpoint(sys, ncfg, hdl); !err.empty()) {
    std::cout << "error: " << err << "\n";
    return caf::none;
  }
  return hdl;
}

void print_settings(const caf::settings& xs, const std::string& prefix) {
  for (auto& kv : xs) {
    if (auto sub = caf::get_if<caf::settings>(&kv.second))
      print_settings(*sub, prefix + kv.first + ".");
    else
      std::cout << prefix << kv.first << " = " << caf::to_string(kv.second)
                << "\n";
  }
}

/// A client command with one exchange with the node's endpoint: loads the
/// config, connects, and calls `f(self, endpoint, key, on_error)`, where
/// on_error prints the error and makes the exit code 1; returns the exit
/// code (`f` may set it through its `int& rc`).
template <class F>
int with_endpoint(const cli& args, F f) {
  app_config cfg;
  node_config ncfg;
  std::map<std::string, std::string> sources;
  if (auto rc = load_config(args, cfg, ncfg, sources))
    return rc;
  caf::actor_system sys{cfg};
  auto b = connect_node(sys, ncfg);
  if (!b)
    return 1;
  auto key = args.api_key.value_or(ncfg.client_api_key);
  caf::scoped_actor self{sys};
  int rc = 0;
  auto on_error = [&](caf::error& err) {
    std::cout << "error: " << render(err) << "\n";
    rc = 1;
  };
  f(self, *b, key, on_error, rc);
  return rc;
}

} // namespace

int run_publish(const cli& args) {
  app_config cfg;
  node_config ncfg;
  std::map<std::string, std::string> sources;
  if (auto rc = load_config(args, cfg, ncfg, sources))
    return rc;
  if (args.file.empty() && args.type.empty()) {
    std::cerr << "onceflow publish: give --type T --payload JSON, or --file "
                 "events.jsonl\n";
    return 2;
  }
  if (!args.file.empty() && (!args.delay.empty() || !args.not_before.empty())) {
    std::cerr << "onceflow publish: --delay and --not-before go with --type; "
                 "in --file each line has its own \"delay\" or "
                 "\"notBefore\"\n";
    return 2;
  }
  // One event from the command line: its answer, as with --verbose.
  bool per_event = args.verbose || args.file.empty();
  bool had_errors = false;
  publish_tally tally;
  auto events = collect_events(args, ncfg, tally, had_errors);
  auto summary = [&] {
    if (args.file.empty())
      return;
    auto line = "summary: " + std::to_string(events.size() + tally.rejected)
                + " events: " + std::to_string(tally.accepted) + " accepted, "
                + std::to_string(tally.duplicate) + " duplicate, "
                + std::to_string(tally.rejected) + " rejected, "
                + std::to_string(tally.failed) + " failed\n";
    // stdout is one line per event with --verbose.
    (args.verbose ? std::cerr : std::cout) << line;
  };
  if (events.empty()) {
    summary();
    return had_errors ? 1 : 0;
  }
  caf::actor_system sys{cfg};
  auto b = connect_node(sys, ncfg);
  if (!b)
    return 1;
  auto key = args.api_key.value_or(ncfg.client_api_key);
  caf::scoped_actor self{sys};
  size_t batch_size = std::min<size_t>(1000, ncfg.max_ingest_batch);
  using clock = std::chrono::steady_clock;
  auto last_progress = clock::now();
  size_t batches = 0;
  bool refused = false;
  for (size_t first = 0; !refused && first < events.size();
       first += batch_size) {
    auto last = std::min(events.size(), first + batch_size);
    std::vector<event> batch(events.begin() + first, events.begin() + last);
    auto fail_batch = [&](const std::string& why) {
      tally.failed += batch.size();
      had_errors = true;
      if (per_event) {
        for (auto& ev : batch)
          std::cout << ev.id << " error: " << why << "\n";
        return;
      }
      std::cout << "error: " << batch.size() << " event(s) not published ("
                << batch.front().id << " .. " << batch.back().id << "): " << why
                << "\n";
    };
    auto got = ingest_batch(self, *b, key, batch, std::chrono::seconds(60),
                            std::chrono::seconds(10));
    if (got) {
      for (auto& r : *got) {
        if (r.duplicate)
          ++tally.duplicate;
        else
          ++tally.accepted;
        if (!per_event)
          continue;
        if (r.duplicate)
          std::cout << r.id
                    << " duplicate (original status: " << to_string(r.original)
                    << ")\n";
        else
          std::cout << r.id << " accepted\n";
      }
    } else {
      if (is_refusal(got.error())) {
        // The same answer for every batch: say it once and stop (the
        // events after this batch are never sent).
        refused = true;
        tally.failed += events.size() - last;
      }
      fail_batch(is_overloaded(got.error())
                   ? std::string{"overloaded, gave up after retries"}
                   : render(got.error()));
    }
    // Progress now and then: every second, and every 10 batches.
    auto now = clock::now();
    ++batches;
    if (!per_event && last < events.size()
        && (batches % 10 == 0
            || now - last_progress >= std::chrono::seconds(1))) {
      last_progress = now;
      std::cerr << "progress: " << tally.text(last, events.size()) << std::endl;
    }
  }
  summary();
  std::cout.flush();
  return had_errors || refused ? 1 : 0;
}

int run_status(const cli& args) {
  return with_endpoint(
    args, [&](caf::scoped_actor& self, const endpoint_actor& b,
              const std::string& key, auto& on_error, int& rc) {
      if (!args.id.empty()) {
        self->request(b, std::chrono::seconds(10), atom::query_v, key, args.id)
          .receive(
            [&](std::vector<group_status>& xs) {
              if (xs.empty()) {
                std::cout << args.id << " unknown\n";
                rc = 1;
              }
              for (auto& x : xs)
                std::cout << args.id << " " << x.group << " "
                          << to_string(x.status) << "\n";
            },
            on_error);
        return;
      }
      self->request(b, std::chrono::seconds(10), atom::status_v, key)
        .receive([&](caf::settings& xs) { print_settings(xs, ""); }, on_error);
    });
}

int run_console(const cli& args) {
  app_config cfg;
  node_config ncfg;
  std::map<std::string, std::string> sources;
  if (auto rc = load_config(args, cfg, ncfg, sources))
    return rc;
  if (!caf::get_if<caf::settings>(&cfg.content, "node")
      && caf::get_or(cfg.content, "nodes", caf::settings{}).empty()) {
    std::cerr << "onceflow console: config file '" << args.config_file
              << "' names no node: give [node] host/port (one node) or "
                 "[nodes.NAME] sections (a cluster)\n";
    return 2;
  }
  caf::actor_system sys{cfg};
  console::console_options opts;
  opts.exec = args.exec;
  opts.json = args.json;
  opts.key = args.api_key.value_or(ncfg.client_api_key);
  return console::run_console(sys, ncfg, opts);
}

int run_listeners(const cli& args) {
  auto n = std::stoi(args.count);
  auto delta = static_cast<int32_t>(args.action == "add" ? n : -n);
  return with_endpoint(args, [&](caf::scoped_actor& self,
                                 const endpoint_actor& b,
                                 const std::string& key, auto& on_error, int&) {
    self
      ->request(b, std::chrono::seconds(30), atom::listeners_v, key, args.group,
                args.node, delta)
      .receive(
        [&](caf::settings& s) {
          std::cout << "group " << caf::get_or(s, "group", std::string{})
                    << " on node " << caf::get_or(s, "node", std::string{})
                    << ": " << caf::get_or(s, "listeners", int64_t{0})
                    << " listener(s)\n";
        },
        on_error);
  });
}

} // namespace onceflow::command
