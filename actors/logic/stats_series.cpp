#include "actors/logic/stats_series.hpp"

#include <utility>

namespace onceflow {

namespace {

nlohmann::json gauge(int64_t x) {
  return x < 0 ? nlohmann::json(nullptr) : nlohmann::json(x);
}

} // namespace

void stats_series::add(stats_sample s) {
  if (capacity_ == 0)
    return;
  if (!xs_.empty() && s.at < xs_.back().at)
    return; // came late: a later one is there
  if (!xs_.empty() && s.at == xs_.back().at) {
    xs_.back() = std::move(s);
    return;
  }
  xs_.push_back(std::move(s));
  while (xs_.size() > capacity_)
    xs_.pop_front();
}

nlohmann::json stats_series::to_json(millis_t since,
                                     millis_t interval_ms) const {
  using nlohmann::json;
  auto samples = json::array();
  for (auto& s : xs_) {
    if (s.at <= since)
      continue;
    auto groups = json::object();
    for (auto& [name, g] : s.groups)
      groups[name] = {{"processed", g.processed},
                      {"retried", g.retried},
                      {"dead", g.dead},
                      {"backlog", gauge(g.backlog)},
                      {"inFlight", gauge(g.in_flight)}};
    samples.push_back({{"at", s.at},
                       {"accepted", s.accepted},
                       {"duplicates", s.duplicates},
                       {"rejected", s.rejected},
                       {"processed", s.processed},
                       {"retried", s.retried},
                       {"dead", s.dead},
                       {"failed", s.retried + s.dead},
                       {"groups", std::move(groups)}});
  }
  return {{"intervalMs", interval_ms}, {"samples", std::move(samples)}};
}

} // namespace onceflow
