#include "tests/support/ferretdb_server.hpp"

#include "tests/support/child_process.hpp"
#include "tests/support/redis_server.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace onceflow::test {

std::string ferretdb_binary() {
  std::string path;
  if (const char* env = std::getenv("ONCEFLOW_FERRETDB"); env && *env)
    path = env;
  else
    path = ONCEFLOW_SOURCE_DIR "/tests/support/ferretdb/bin/ferretdb-test";
  if (::access(path.c_str(), X_OK) != 0)
    throw std::runtime_error("FerretDB is not built at " + path
                             + ": run scripts/test-servers.sh");
  return path;
}

ferretdb_server::ferretdb_server() {
  port_ = free_port();
  start();
}

ferretdb_server::~ferretdb_server() {
  stop_now();
}

std::string ferretdb_server::uri(const std::string& db) const {
  return "mongodb://127.0.0.1:" + std::to_string(port_) + "/" + db
         + "?serverSelectionTimeoutMS=1000&connectTimeoutMS=500";
}

void ferretdb_server::stop_now() {
  stop_child(pid_);
  pid_ = -1;
}

void ferretdb_server::start_again() {
  start();
}

void ferretdb_server::start() {
  auto dir = dir_.path().string();
  pid_ = spawn_child({ferretdb_binary(), "--listen",
                      "127.0.0.1:" + std::to_string(port_), "--data-dir",
                      dir + "/data"},
                     dir + "/ferretdb.log");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!child_running(pid_)) {
      pid_ = -1;
      throw std::runtime_error("FerretDB exited at start; see " + dir
                               + "/ferretdb.log");
    }
    if (port_open(port_))
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("FerretDB did not listen on port "
                           + std::to_string(port_) + " within 20 s");
}

} // namespace onceflow::test
