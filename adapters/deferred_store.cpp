#include "adapters/deferred_store.hpp"

#include <utility>

namespace onceflow {

deferred_store::deferred_store(std::shared_ptr<store> inner,
                               std::function<void()> finish,
                               std::string waiting,
                               std::function<void(const store&)> on_open)
  : forwarding_store(std::move(inner)),
    finish_(std::move(finish)),
    waiting_(std::move(waiting)),
    on_open_(std::move(on_open)) {
  // nop
}

std::vector<std::string> deferred_store::startup_warnings() const {
  if (!open_)
    return {waiting_};
  return inner_->startup_warnings();
}

store& deferred_store::target() {
  if (!open_) {
    finish_();
    open_ = true;
    if (on_open_)
      on_open_(*inner_);
  }
  return *inner_;
}

} // namespace onceflow
