#include "actors/logic/group_settings.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace onceflow {

namespace {

constexpr double max_rate = 1e9;
constexpr uint32_t max_concurrency = 1024;

/// A double as text that reads back to the same value.
std::string exact(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", x);
  return buf;
}

/// Reads all of `text` as a finite double.
bool read_double(const std::string& text, double& out) {
  if (text.empty())
    return false;
  errno = 0;
  char* end = nullptr;
  auto x = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(x))
    return false;
  out = x;
  return true;
}

} // namespace

const char* to_string(group_setting s) {
  switch (s) {
    case group_setting::paused:
      return "paused";
    case group_setting::rate:
      return "rate";
    case group_setting::burst:
      return "burst";
    case group_setting::concurrency:
      return "concurrency";
  }
  return "?";
}

bool setting_from_string(const std::string& name, group_setting& out) {
  for (auto s : all_group_settings)
    if (name == to_string(s)) {
      out = s;
      return true;
    }
  return false;
}

bool operator==(const group_overrides& x, const group_overrides& y) {
  if (x.group != y.group || x.fields != y.fields)
    return false;
  using gs = group_setting;
  return (!x.has(gs::paused) || x.paused == y.paused)
         && (!x.has(gs::rate) || x.rate == y.rate)
         && (!x.has(gs::burst) || x.burst == y.burst)
         && (!x.has(gs::concurrency) || x.concurrency == y.concurrency);
}

std::string value_text(const group_overrides& o, group_setting s) {
  switch (s) {
    case group_setting::paused:
      return o.paused ? "1" : "0";
    case group_setting::rate:
      return exact(o.rate);
    case group_setting::burst:
      return exact(o.burst);
    case group_setting::concurrency:
      return std::to_string(o.concurrency);
  }
  return {};
}

bool set_from_text(group_overrides& o, group_setting s,
                   const std::string& text) {
  switch (s) {
    case group_setting::paused:
      if (text != "0" && text != "1")
        return false;
      o.paused = text == "1";
      break;
    case group_setting::rate:
    case group_setting::burst: {
      double x = 0;
      if (!read_double(text, x) || x < 0)
        return false;
      (s == group_setting::rate ? o.rate : o.burst) = x;
      break;
    }
    case group_setting::concurrency: {
      if (text.empty() || text.size() > 9
          || !std::all_of(text.begin(), text.end(),
                          [](char c) { return c >= '0' && c <= '9'; }))
        return false;
      o.concurrency = static_cast<uint32_t>(std::stoul(text));
      break;
    }
  }
  o.fields |= bit(s);
  return true;
}

group_overrides merge(group_overrides current, const group_overrides& change,
                      uint8_t clear) {
  current.fields &= static_cast<uint8_t>(~clear);
  for (auto s : all_group_settings) {
    if (!change.has(s))
      continue;
    switch (s) {
      case group_setting::paused:
        current.paused = change.paused;
        break;
      case group_setting::rate:
        current.rate = change.rate;
        break;
      case group_setting::burst:
        current.burst = change.burst;
        break;
      case group_setting::concurrency:
        current.concurrency = change.concurrency;
        break;
    }
    current.fields |= bit(s);
  }
  return current;
}

overrides_problem check(const group_overrides& change) {
  using gs = group_setting;
  if (change.has(gs::rate)
      && !(change.rate == 0
           || (change.rate >= 0.001 && change.rate <= max_rate)))
    return {"rateLimit",
            "rateLimit must be 0 (unlimited) or 0.001 to 1e9 events/s"};
  if (change.has(gs::burst)
      && !(change.burst == 0
           || (change.burst >= 1 && change.burst <= max_rate)))
    return {"rateBurst", "rateBurst must be 0 (the rate) or 1 to 1e9"};
  if (change.has(gs::concurrency)
      && (change.concurrency < 1 || change.concurrency > max_concurrency))
    return {"concurrency", "concurrency must be 1 to 1024 listeners"};
  return {};
}

bool operator==(const group_run_settings& x, const group_run_settings& y) {
  return x.paused == y.paused && x.rate == y.rate && x.burst == y.burst
         && x.concurrency == y.concurrency && x.overridden == y.overridden;
}

group_run_settings effective(double rate, double burst, uint32_t concurrency,
                             const group_overrides& o) {
  using gs = group_setting;
  group_run_settings r;
  r.paused = o.has(gs::paused) && o.paused;
  r.rate = o.has(gs::rate) ? o.rate : rate;
  r.burst = o.has(gs::burst) ? o.burst : burst;
  r.concurrency = o.has(gs::concurrency) ? o.concurrency : concurrency;
  r.overridden = o.fields & every_group_setting;
  return r;
}

listener_plan resize_listeners(const std::vector<listener_view>& xs,
                               uint32_t target) {
  listener_plan plan;
  std::vector<listener_view> active;
  std::vector<listener_view> retiring;
  for (auto& x : xs)
    (x.retiring ? retiring : active).push_back(x);
  if (active.size() > target) {
    // Idle ones first, then the youngest (highest index).
    std::sort(active.begin(), active.end(),
              [](const listener_view& a, const listener_view& b) {
                if (a.busy != b.busy)
                  return !a.busy;
                return a.index > b.index;
              });
    for (size_t i = 0; i < active.size() - target; ++i)
      plan.retire.push_back(active[i].index);
    return plan;
  }
  auto missing = target - active.size();
  std::sort(retiring.begin(), retiring.end(),
            [](const listener_view& a, const listener_view& b) {
              return a.index < b.index;
            });
  for (size_t i = 0; i < retiring.size() && missing > 0; ++i, --missing)
    plan.keep.push_back(retiring[i].index);
  plan.spawn = missing;
  return plan;
}

} // namespace onceflow
