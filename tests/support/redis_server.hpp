#pragma once

// A real redis-server for tests: a child process (redis-server from PATH)
// on a free port of 127.0.0.1 in a temporary directory, killed by pid at
// the end (and with the test process, should that one crash). Plus the
// socket helpers the Redis tests use: a free port and one raw command.

#include "tests/support/temp_dir.hpp"

#include <sys/types.h>

#include <string>
#include <vector>

namespace onceflow::test {

/// Full path of `name` on PATH, or empty.
std::string find_on_path(const std::string& name);

/// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port();

/// Sends one command (RESP) to 127.0.0.1:port and returns the first line of
/// the reply ("+OK", "-ERR ...", ":1"), or "" if the connection failed.
std::string raw_command(int port, const std::vector<std::string>& args);

/// A redis-server child process on a free port of 127.0.0.1.
class redis_server {
public:
  /// Starts redis-server with `extra` arguments and waits until it answers
  /// PING (an error such as NOAUTH counts as an answer).
  explicit redis_server(std::vector<std::string> extra = {});

  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  ~redis_server();

  int port() const {
    return port_;
  }

  std::string url(const std::string& userinfo = "") const {
    return "redis://" + (userinfo.empty() ? "" : userinfo + "@")
           + "127.0.0.1:" + std::to_string(port_) + "/0";
  }

  /// Stops the server (SIGTERM); `start_again` brings it back on the same
  /// port with the same arguments.
  void stop_now() {
    stop();
  }

  void start_again();

private:
  void start(const std::vector<std::string>& args);

  bool wait_ready();

  void stop();

  temp_dir dir_{"onceflow-redis"};
  int port_ = 0;
  pid_t pid_ = -1;
  std::vector<std::string> args_;
};

} // namespace onceflow::test
