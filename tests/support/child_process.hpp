#pragma once

// Child processes of a test (servers it starts): started with
// fork/exec, killed with the test process should that one crash, stopped
// by pid.

#include <sys/types.h>

#include <string>
#include <vector>

namespace onceflow::test {

/// Starts `args[0]` with `args`; its output goes to `log` (empty: the
/// test's own). Dies with the test process. Throws std::runtime_error if
/// fork fails.
pid_t spawn_child(const std::vector<std::string>& args,
                  const std::string& log = {});

/// True while `pid` runs (reaps it once it ended).
bool child_running(pid_t pid);

/// SIGTERM, then SIGKILL after `grace_ms`; reaps the child. A pid <= 0 is
/// ignored.
void stop_child(pid_t pid, int grace_ms = 5000);

/// True if a TCP connection to 127.0.0.1:port succeeds.
bool port_open(int port);

} // namespace onceflow::test
