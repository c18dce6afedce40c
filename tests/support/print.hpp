#pragma once

// Stream operators so Boost.Test can print onceflow enums in failure
// messages (BOOST_CHECK_EQUAL and friends). For every test binary.

#include "actors/logic/event.hpp"
#include "actors/logic/lease_table.hpp"

#include <ostream>

namespace onceflow {

inline std::ostream& operator<<(std::ostream& os, priority p) {
  return os << to_string(p);
}

inline std::ostream& operator<<(std::ostream& os, event_status s) {
  return os << to_string(s);
}

inline std::ostream& operator<<(std::ostream& os, dlq_reason r) {
  return os << to_string(r);
}

inline std::ostream& operator<<(std::ostream& os, outcome o) {
  return os << to_string(o);
}

inline std::ostream& operator<<(std::ostream& os, claim_decision::kind_t k) {
  return os << to_string(k);
}

inline std::ostream& operator<<(std::ostream& os, fence_decision d) {
  return os << to_string(d);
}

} // namespace onceflow
