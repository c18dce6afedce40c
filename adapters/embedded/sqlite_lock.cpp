#include "adapters/embedded/sqlite_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace onceflow::embedded {

namespace {

/// The pid the lock file names, or "unknown".
std::string holder_of(int fd) {
  char buf[32] = {};
  auto n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  std::string pid;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i)
    pid += buf[i];
  return pid.empty() ? "unknown" : pid;
}

} // namespace

std::string file_lock::acquire(const std::string& database_path) {
  auto path = database_path + ".lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    return "cannot open the lock file '" + path + "': " + std::strerror(errno);
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    auto saved = errno;
    std::string msg;
    if (saved == EWOULDBLOCK)
      msg = "the database is in use by another onceflow node (pid "
            + holder_of(fd_) + ", lock file '" + path
            + "'): one node per data directory";
    else
      msg = "cannot lock '" + path + "': " + std::strerror(saved);
    ::close(fd_);
    fd_ = -1;
    return msg;
  }
  auto pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0
      || ::pwrite(fd_, pid.data(), pid.size(), 0)
           != static_cast<ssize_t>(pid.size()))
    return "cannot write the lock file '" + path + "': " + std::strerror(errno);
  return {};
}

file_lock::~file_lock() {
  // Closing the descriptor releases the lock; the file stays (removing it
  // would race with a node taking the lock on it right now).
  if (fd_ >= 0)
    ::close(fd_);
}

} // namespace onceflow::embedded
