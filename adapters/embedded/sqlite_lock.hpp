#pragma once

#include <string>

namespace onceflow::embedded {

/// An exclusive lock on a database file for the life of a store: a second
/// store on the same file (another node started on the same data
/// directory, in this process or another) is refused instead of writing
/// beside the first. It is an advisory lock (flock) on `<database>.lock`,
/// which holds the owner's pid; the kernel drops it when the owner exits,
/// also after a crash.
class file_lock {
public:
  /// Takes the lock. Returns an error text naming the holder's pid if
  /// another store holds it, or the reason the lock file cannot be used;
  /// empty on success.
  std::string acquire(const std::string& database_path);

  file_lock() = default;
  file_lock(const file_lock&) = delete;
  file_lock& operator=(const file_lock&) = delete;
  ~file_lock();

private:
  int fd_ = -1;
};

} // namespace onceflow::embedded
