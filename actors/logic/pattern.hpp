#pragma once

#include <string>
#include <vector>

namespace onceflow {

/// Matches an event type against a subscription pattern where `*` matches
/// any (possibly empty) run of characters: `order.*`, `*.created`, `*`.
bool pattern_match(const std::string& pattern, const std::string& type);

/// True if any of the patterns matches the type.
bool matches_any(const std::vector<std::string>& patterns,
                 const std::string& type);

} // namespace onceflow
