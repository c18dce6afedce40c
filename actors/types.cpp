#include "actors/types.hpp"

#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace onceflow {

const char* to_string(ec x) {
  switch (x) {
    case ec::none:
      return "none";
    case ec::overloaded:
      return "overloaded";
    case ec::draining:
      return "draining";
    case ec::store_failure:
      return "store_failure";
    case ec::invalid_event:
      return "invalid_event";
    case ec::timeout:
      return "timeout";
    case ec::unknown_group:
      return "unknown_group";
    case ec::invalid_config:
      return "invalid_config";
    case ec::store_unknown_group:
      return "store_unknown_group";
    case ec::store_generation_changed:
      return "store_generation_changed";
    case ec::unauthorized:
      return "unauthorized";
    case ec::forbidden:
      return "forbidden";
    case ec::unknown_node:
      return "unknown_node";
    case ec::node_down:
      return "node_down";
  }
  return "unknown";
}

caf::error make_error(ec x, std::string msg) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("onceflow"),
                    caf::make_message(std::move(msg))};
}

std::string render(const caf::error& err) {
  if (!err)
    return "none";
  if (err.category() == caf::atom("onceflow")) {
    std::string result = to_string(static_cast<ec>(err.code()));
    if (!err.context().empty() && err.context().match_elements<std::string>()) {
      auto& text = err.context().get_as<std::string>(0);
      if (!text.empty()) {
        result += ": ";
        result += text;
      }
    }
    return result;
  }
  if (err.category() == caf::atom("system"))
    return caf::to_string(static_cast<caf::sec>(err.code()));
  return caf::to_string(err);
}

bool is_store_failure(ec x) {
  return x == ec::store_failure || x == ec::store_unknown_group
         || x == ec::store_generation_changed;
}

ec to_ec(store_error::kind x) {
  switch (x) {
    case store_error::kind::unknown_group:
      return ec::store_unknown_group;
    case store_error::kind::generation_changed:
      return ec::store_generation_changed;
    case store_error::kind::failure:
    case store_error::kind::refused:
      break;
  }
  return ec::store_failure;
}

bool is_transient(ec x) {
  return x == ec::overloaded || x == ec::draining || x == ec::timeout
         || is_store_failure(x);
}

millis_t to_millis(std::chrono::steady_clock::time_point tp) {
  using namespace std::chrono;
  static const auto steady_base = steady_clock::now();
  static const auto wall_base
    = duration_cast<milliseconds>(system_clock::now().time_since_epoch())
        .count();
  return wall_base + duration_cast<milliseconds>(tp - steady_base).count();
}

} // namespace onceflow
