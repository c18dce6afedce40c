#pragma once

// Typed reading of CAF settings for config/ (node_config.cpp,
// cluster_config.cpp): each value read with its option's full name in the
// error. Internal to config/.

#include "actors/logic/event.hpp"

#include <caf/atom.hpp>
#include <caf/config_value.hpp>
#include <caf/settings.hpp>
#include <caf/timespan.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace onceflow::detail {

/// Reads typed values from settings, recording the first error with the
/// option's full name. Wrong types are errors, never silently ignored.
class reader {
public:
  reader(const caf::settings& root, std::string& err) : root_(root), err_(err) {
    // nop
  }

  const caf::config_value* find(const std::string& path) {
    return caf::get_if(&root_, path);
  }

  void str(const std::string& path, std::string& out) {
    if (auto v = find(path)) {
      if (auto s = caf::get_if<std::string>(v))
        out = *s;
      else if (auto a = caf::get_if<caf::atom_value>(v))
        out = caf::to_string(*a);
      else
        fail(path, "must be a string");
    }
  }

  template <class T>
  void integer(const std::string& path, T& out, int64_t min, int64_t max) {
    if (auto v = find(path)) {
      auto i = caf::get_if<int64_t>(v);
      if (!i)
        return fail(path, "must be an integer");
      if (*i < min || *i > max)
        return fail(path, "must be between " + std::to_string(min) + " and "
                            + std::to_string(max));
      out = static_cast<T>(*i);
    }
  }

  void real(const std::string& path, double& out, double min) {
    if (auto v = find(path)) {
      double x;
      if (auto d = caf::get_if<double>(v))
        x = *d;
      else if (auto i = caf::get_if<int64_t>(v))
        x = static_cast<double>(*i);
      else
        return fail(path, "must be a number");
      if (!std::isfinite(x) || x < min)
        return fail(path, "must be a number >= " + std::to_string(min));
      out = x;
    }
  }

  void boolean(const std::string& path, bool& out) {
    if (auto v = find(path)) {
      if (auto b = caf::get_if<bool>(v))
        out = *b;
      else
        fail(path, "must be true or false");
    }
  }

  void duration(const std::string& path, millis_t& out, millis_t min = 0) {
    if (auto v = find(path)) {
      auto t = caf::get_if<caf::timespan>(v);
      if (!t)
        return fail(path, "must be a duration such as 500ms, 30s or 5min");
      auto ms
        = std::chrono::duration_cast<std::chrono::milliseconds>(*t).count();
      if (ms < min)
        return fail(path, "must be at least " + std::to_string(min) + "ms");
      out = ms;
    }
  }

  void strings(const std::string& path, std::vector<std::string>& out) {
    if (auto v = find(path)) {
      auto l = caf::get_if<caf::config_value::list>(v);
      if (!l)
        return fail(path, "must be a list of strings like [\"a\", \"b\"]");
      std::vector<std::string> result;
      for (auto& x : *l) {
        auto s = caf::get_if<std::string>(&x);
        if (!s)
          return fail(path, "must be a list of strings like [\"a\", \"b\"]");
        result.push_back(*s);
      }
      out = std::move(result);
    }
  }

  void fail(const std::string& path, const std::string& what) {
    if (err_.empty())
      err_ = "option '" + path + "' " + what;
  }

private:
  const caf::settings& root_;
  std::string& err_;
};

} // namespace onceflow::detail
