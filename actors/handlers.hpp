#pragma once

#include "actors/logic/event.hpp"
#include "adapters/handler.hpp"
#include "config/group_config.hpp"

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace onceflow {

/// Handlers by name. The built-ins `store`, `log` and `simulate` are always
/// registered; applications add their own before starting a node.
class handler_registry {
public:
  handler_registry();

  /// Registers (or replaces) a handler factory.
  void add(const std::string& name, handler_factory f);

  /// Creates a handler; nullptr for an unknown name.
  handler_ptr make(const std::string& name, const handler_options& opts) const;

  bool contains(const std::string& name) const;

  std::vector<std::string> names() const;

private:
  std::map<std::string, handler_factory> factories_;
};

/// The registry used by `onceflow node`.
handler_registry& default_handlers();

/// Reads `payload.simulate` of an event: fail_attempts (retryable failures
/// on the first N attempts) and permanent (always fail permanently).
struct simulate_directive {
  uint32_t fail_attempts = 0;
  bool permanent = false;
  millis_t latency = 0;
};

simulate_directive parse_simulate_directive(const std::string& payload);

} // namespace onceflow
