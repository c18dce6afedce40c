#include "tests/support/redis_server.hpp"

#include "tests/support/child_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace onceflow::test {

/// Full path of `name` on PATH, or empty.
std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr)
    return {};
  std::string all = path;
  size_t start = 0;
  while (start <= all.size()) {
    auto end = all.find(':', start);
    if (end == std::string::npos)
      end = all.size();
    auto dir = all.substr(start, end - start);
    if (!dir.empty()) {
      auto candidate = dir + "/" + name;
      if (::access(candidate.c_str(), X_OK) == 0)
        return candidate;
    }
    start = end + 1;
  }
  return {};
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind failed");
  }
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

/// Sends one command (RESP) to 127.0.0.1:port and returns the first line of
/// the reply ("+OK", "-ERR ...", ":1"), or "" if the connection failed.
std::string raw_command(int port, const std::vector<std::string>& args) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return {};
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return {};
  }
  std::string req = "*" + std::to_string(args.size()) + "\r\n";
  for (auto& a : args)
    req += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  size_t sent = 0;
  while (sent < req.size()) {
    auto n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      return {};
    }
    sent += static_cast<size_t>(n);
  }
  std::string line;
  char c = 0;
  while (::recv(fd, &c, 1, 0) == 1) {
    if (c == '\n')
      break;
    if (c != '\r')
      line += c;
  }
  ::close(fd);
  return line;
}

redis_server::redis_server(std::vector<std::string> extra) {
  auto exe = find_on_path("redis-server");
  if (exe.empty())
    throw std::runtime_error("redis-server is not on PATH");
  auto& dir = dir_.path();
  for (int tries = 0; tries < 5 && pid_ <= 0; ++tries) {
    port_ = free_port();
    std::vector<std::string> args{exe,
                                  "--port",
                                  std::to_string(port_),
                                  "--bind",
                                  "127.0.0.1",
                                  "--save",
                                  "",
                                  "--appendonly",
                                  "no",
                                  "--daemonize",
                                  "no",
                                  "--dir",
                                  dir.string(),
                                  "--logfile",
                                  (dir / "redis.log").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    args_ = args;
    start(args);
    if (!wait_ready()) {
      stop();
      continue;
    }
  }
  if (pid_ <= 0)
    throw std::runtime_error("redis-server did not answer PING");
}

redis_server::~redis_server() {
  stop();
}

void redis_server::start_again() {
  start(args_);
  if (!wait_ready())
    throw std::runtime_error("redis-server did not come back");
}

void redis_server::start(const std::vector<std::string>& args) {
  pid_ = spawn_child(args);
}

bool redis_server::wait_ready() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1; // exited (port taken?)
      return false;
    }
    auto line = raw_command(port_, {"PING"});
    if (!line.empty())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void redis_server::stop() {
  stop_child(pid_);
  pid_ = -1;
}

} // namespace onceflow::test
