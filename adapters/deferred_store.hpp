#pragma once

#include "adapters/forwarding_store.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace onceflow {

/// A store whose open was put off (the Redis store when Redis could not be
/// reached at start: [redis] wait-at-start). Every call first tries to
/// finish the open (`finish`, which throws store_error while it cannot),
/// then goes to the inner store; a failed attempt fails the call with
/// finish's error. Until the open is done, startup_warnings() is
/// `waiting` (what the node logs at start: that it waits, and why); once it
/// is done, `on_open` is called once with the inner store (the node logs
/// its startup warnings then) and every call goes straight through.
class deferred_store final : public forwarding_store {
public:
  deferred_store(std::shared_ptr<store> inner, std::function<void()> finish,
                 std::string waiting,
                 std::function<void(const store&)> on_open = {});

  bool is_open() const {
    return open_;
  }

  std::vector<std::string> startup_warnings() const override;

protected:
  store& target() override;

private:
  std::function<void()> finish_;
  std::string waiting_;
  std::function<void(const store&)> on_open_;
  bool open_ = false;
};

} // namespace onceflow
