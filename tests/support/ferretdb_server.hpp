#pragma once

// A real MongoDB-compatible server for tests: FerretDB 1.24 on SQLite (our
// Go main in tests/support/ferretdb/, built by scripts/test-servers.sh) as
// a child process on a free port of 127.0.0.1 with a temporary data
// directory, stopped by pid.

#include "tests/support/temp_dir.hpp"

#include <sys/types.h>

#include <string>

namespace onceflow::test {

/// The FerretDB binary: $ONCEFLOW_FERRETDB, else the one
/// scripts/test-servers.sh builds. Throws std::runtime_error naming the path if
/// it is missing.
std::string ferretdb_binary();

class ferretdb_server {
public:
  /// Starts FerretDB and waits until it takes connections.
  ferretdb_server();

  ferretdb_server(const ferretdb_server&) = delete;
  ferretdb_server& operator=(const ferretdb_server&) = delete;

  ~ferretdb_server();

  int port() const {
    return port_;
  }

  /// mongodb://127.0.0.1:PORT/DB with short timeouts for tests.
  std::string uri(const std::string& db = "onceflow") const;

  /// Stops the server (SIGTERM; the data directory stays).
  void stop_now();

  /// Starts it again on the same port and data directory.
  void start_again();

private:
  void start();

  temp_dir dir_{"onceflow-ferretdb"};
  int port_ = 0;
  pid_t pid_ = -1;
};

} // namespace onceflow::test
