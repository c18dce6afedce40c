#include "actors/logic/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace onceflow {

namespace {

void append_escaped(std::string& out, const std::string& value) {
  for (auto ch : value) {
    switch (ch) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += ch;
    }
  }
}

std::string format_number(double x) {
  if (std::isinf(x))
    return x > 0 ? "+Inf" : "-Inf";
  if (std::isnan(x))
    return "NaN";
  if (x == std::floor(x) && std::fabs(x) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.0f", x);
    return buf;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", x);
  return buf;
}

/// `name{labels}` or `name{labels,extra}`.
std::string series(const std::string& name, const std::string& labels,
                   const std::string& extra = {}) {
  std::string out = name;
  if (labels.empty() && extra.empty())
    return out;
  out += '{';
  out += labels;
  if (!labels.empty() && !extra.empty())
    out += ',';
  out += extra;
  out += '}';
  return out;
}

const char* kind_name(metric_kind k) {
  switch (k) {
    case metric_kind::counter:
      return "counter";
    case metric_kind::gauge:
      return "gauge";
    default:
      return "histogram";
  }
}

} // namespace

std::string render_labels(const metric_labels& labels) {
  std::string out;
  for (auto& [k, v] : labels) {
    if (!out.empty())
      out += ',';
    out += k;
    out += "=\"";
    append_escaped(out, v);
    out += '"';
  }
  return out;
}

void metrics_batch::count(const std::string& name, const metric_labels& labels,
                          uint64_t n) {
  counts_[{name, render_labels(labels)}] += n;
}

void metrics_batch::observe(const std::string& name,
                            const metric_labels& labels, double value) {
  observations_.push_back({{name, render_labels(labels)}, {value}});
}

void metrics_batch::observe_all(const std::string& name,
                                const metric_labels& labels,
                                std::vector<double> values) {
  if (!values.empty())
    observations_.emplace_back(std::make_pair(name, render_labels(labels)),
                               std::move(values));
}

void metrics_registry::describe(const std::string& name, metric_kind kind,
                                std::string help, std::vector<double> buckets) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& f = families_[name];
  f.kind = kind;
  f.help = std::move(help);
  std::sort(buckets.begin(), buckets.end());
  f.bounds = std::move(buckets);
}

void metrics_registry::count_locked(const std::string& name,
                                    const std::string& labels, uint64_t n) {
  auto i = families_.find(name);
  if (i == families_.end() || i->second.kind != metric_kind::counter)
    return;
  auto& counters = i->second.counters;
  auto j = counters.find(labels);
  if (j != counters.end()) {
    j->second += n;
    return;
  }
  // Label values may come from clients (event types): past the cap, new
  // series fold into one so that memory and the exposition stay bounded.
  if (counters.size() >= max_series)
    counters["overflow=\"true\""] += n;
  else
    counters.emplace(labels, n);
}

void metrics_registry::observe_locked(const std::string& name,
                                      const std::string& labels, double value) {
  auto i = families_.find(name);
  if (i == families_.end() || i->second.kind != metric_kind::histogram)
    return;
  auto& f = i->second;
  auto& h = f.histograms[labels];
  if (h.buckets.size() != f.bounds.size())
    h.buckets.assign(f.bounds.size(), 0);
  // Buckets are stored non-cumulative; render() accumulates.
  auto pos = std::lower_bound(f.bounds.begin(), f.bounds.end(), value);
  if (pos != f.bounds.end())
    ++h.buckets[static_cast<size_t>(pos - f.bounds.begin())];
  ++h.count;
  h.sum += value;
}

void metrics_registry::count(const std::string& name,
                             const metric_labels& labels, uint64_t n) {
  auto text = render_labels(labels);
  std::lock_guard<std::mutex> guard{mtx_};
  count_locked(name, text, n);
}

void metrics_registry::observe(const std::string& name,
                               const metric_labels& labels, double value) {
  auto text = render_labels(labels);
  std::lock_guard<std::mutex> guard{mtx_};
  observe_locked(name, text, value);
}

void metrics_registry::merge(const metrics_batch& batch) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [key, n] : batch.counts_)
    count_locked(key.first, key.second, n);
  for (auto& [key, vs] : batch.observations_)
    for (auto v : vs)
      observe_locked(key.first, key.second, v);
}

uint64_t metrics_registry::counter_value(const std::string& name,
                                         const metric_labels& labels) const {
  auto text = render_labels(labels);
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = families_.find(name);
  if (i == families_.end())
    return 0;
  auto j = i->second.counters.find(text);
  return j == i->second.counters.end() ? 0 : j->second;
}

uint64_t metrics_registry::counter_total(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = families_.find(name);
  if (i == families_.end())
    return 0;
  uint64_t sum = 0;
  for (auto& [labels, n] : i->second.counters)
    sum += n;
  return sum;
}

std::map<std::string, uint64_t>
metrics_registry::counter_by(const std::string& name,
                             const std::string& key) const {
  std::map<std::string, uint64_t> out;
  auto needle = key + "=\"";
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = families_.find(name);
  if (i == families_.end())
    return out;
  for (auto& [labels, n] : i->second.counters) {
    size_t pos = 0;
    while ((pos = labels.find(needle, pos)) != std::string::npos) {
      if (pos != 0 && labels[pos - 1] != ',') {
        pos += needle.size();
        continue;
      }
      // The value up to the closing quote, unescaped (render_labels).
      std::string value;
      auto j = pos + needle.size();
      for (; j < labels.size() && labels[j] != '"'; ++j) {
        if (labels[j] == '\\' && j + 1 < labels.size()) {
          ++j;
          value += labels[j] == 'n' ? '\n' : labels[j];
        } else {
          value += labels[j];
        }
      }
      out[value] += n;
      break;
    }
  }
  return out;
}

uint64_t metrics_registry::counter_sum(const std::string& name,
                                       const std::string& key,
                                       const std::string& value) const {
  std::string needle;
  append_escaped(needle, value);
  needle = key + "=\"" + needle + "\"";
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = families_.find(name);
  if (i == families_.end())
    return 0;
  uint64_t sum = 0;
  for (auto& [labels, n] : i->second.counters) {
    // Match whole pairs: at the start or after a comma, ending at a comma
    // or the end.
    size_t pos = 0;
    while ((pos = labels.find(needle, pos)) != std::string::npos) {
      auto end = pos + needle.size();
      if ((pos == 0 || labels[pos - 1] == ',')
          && (end == labels.size() || labels[end] == ',')) {
        sum += n;
        break;
      }
      pos = end;
    }
  }
  return sum;
}

std::string
metrics_registry::render(const std::vector<gauge_sample>& gauges) const {
  std::string out;
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [name, f] : families_) {
    out += "# HELP " + name + " " + f.help + "\n";
    out += "# TYPE " + name + " " + kind_name(f.kind) + "\n";
    switch (f.kind) {
      case metric_kind::counter:
        for (auto& [labels, n] : f.counters)
          out += series(name, labels) + " " + std::to_string(n) + "\n";
        break;
      case metric_kind::gauge:
        for (auto& g : gauges)
          if (g.name == name)
            out += series(name, render_labels(g.labels)) + " "
                   + format_number(g.value) + "\n";
        break;
      case metric_kind::histogram:
        for (auto& [labels, h] : f.histograms) {
          uint64_t acc = 0;
          for (size_t i = 0; i < f.bounds.size(); ++i) {
            acc += i < h.buckets.size() ? h.buckets[i] : 0;
            out += series(name + "_bucket", labels,
                          "le=\"" + format_number(f.bounds[i]) + "\"")
                   + " " + std::to_string(acc) + "\n";
          }
          out += series(name + "_bucket", labels, "le=\"+Inf\"") + " "
                 + std::to_string(h.count) + "\n";
          out += series(name + "_sum", labels) + " " + format_number(h.sum)
                 + "\n";
          out += series(name + "_count", labels) + " " + std::to_string(h.count)
                 + "\n";
        }
        break;
    }
  }
  return out;
}

std::vector<double> metrics_registry::latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
          0.5,   1,      2.5,   5,    10,    30,   60,  300};
}

} // namespace onceflow
