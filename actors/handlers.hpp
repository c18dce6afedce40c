#pragma once

#include "actors/logic/event.hpp"
#include "adapters/handler.hpp"
#include "config/group_config.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace onceflow {

/// Handlers by name. The built-ins `store`, `log` and `simulate` are always
/// registered; applications add their own before starting a node
/// (runtime/application.hpp, docs/handlers.md).
class handler_registry {
public:
  handler_registry();

  /// Registers (or replaces) a handler factory; `spec` names the handler's
  /// own options (the keys of its group's `options = {...}`) and checks
  /// them.
  void add(const std::string& name, handler_factory f, handler_spec spec = {});

  /// Creates a handler; nullptr for an unknown name. A factory that throws
  /// gives a handler that fails each event retryably with the factory's
  /// error (logged), so its events are retried, not lost.
  handler_ptr make(const std::string& name, const handler_options& opts) const;

  bool contains(const std::string& name) const;

  std::vector<std::string> names() const;

  /// What is wrong with group `g`'s handler options: a key the handler does
  /// not take, a value its check refuses, or options its factory throws on
  /// (the node refuses to start with this text). Empty: nothing (or an
  /// unknown handler, which validate() reports).
  std::string check(const group_config& g) const;

private:
  struct entry {
    handler_factory factory;
    handler_spec spec;
  };
  std::map<std::string, entry> factories_;
};

/// The registry used by `onceflow node`.
handler_registry& default_handlers();

} // namespace onceflow
