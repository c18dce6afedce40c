#include "actors/logic/pattern.hpp"

namespace onceflow {

bool pattern_match(const std::string& pattern, const std::string& type) {
  // Iterative glob with backtracking to the last '*'.
  size_t p = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < type.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == type[t]) {
      ++p;
      ++t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}

bool matches_any(const std::vector<std::string>& patterns,
                 const std::string& type) {
  for (auto& p : patterns)
    if (pattern_match(p, type))
      return true;
  return false;
}

} // namespace onceflow
