#include "actors/logic/dlq_alerts.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <utility>

namespace onceflow {

std::string alert_body(const alert_call& call, const std::string& node,
                       millis_t now) {
  auto entries = nlohmann::json::array();
  for (auto& e : call.entries)
    entries.push_back({{"eventId", e.event_id},
                       {"group", e.group},
                       {"type", e.type},
                       {"reason", e.reason},
                       {"error", e.error},
                       {"attempts", e.attempts},
                       {"deadAt", e.dead_at}});
  nlohmann::json doc{{"alert", "dlq"},
                     {"node", node},
                     {"alertId", call.id},
                     {"attempt", call.attempt},
                     {"count", call.entries.size()},
                     {"dropped", call.dropped},
                     {"sentAt", now},
                     {"entries", std::move(entries)}};
  // Handler errors are arbitrary bytes: invalid UTF-8 is replaced.
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void dlq_alerts::add(const std::vector<alert_entry>& xs, millis_t now) {
  if (xs.empty())
    return;
  for (auto& x : xs) {
    if (pending_.size() < lim_.max_entries) {
      pending_.push_back(x);
    } else {
      ++dropped_;
      ++dropped_total_;
    }
  }
  if (waiting_since_ < 0)
    waiting_since_ = now;
}

millis_t dlq_alerts::next_at() const {
  if (flight_)
    return retry_at_;
  if (waiting_since_ < 0)
    return -1;
  auto at = waiting_since_ + lim_.window;
  if (last_start_ >= 0)
    at = std::max(at, last_start_ + lim_.min_interval);
  return at;
}

std::optional<alert_call> dlq_alerts::take(millis_t now) {
  if (flight_) {
    if (retry_at_ < 0 || now < retry_at_)
      return std::nullopt;
    retry_at_ = -1;
    ++flight_->attempt;
    return flight_;
  }
  auto at = next_at();
  if (at < 0 || now < at)
    return std::nullopt;
  alert_call call;
  call.id = next_id_++;
  call.entries = std::move(pending_);
  call.dropped = dropped_;
  pending_.clear();
  dropped_ = 0;
  waiting_since_ = -1;
  last_start_ = now;
  flight_ = call;
  return call;
}

void dlq_alerts::done(bool ok, millis_t now) {
  if (!flight_ || retry_at_ >= 0)
    return;
  if (ok) {
    ++delivered_calls_;
    delivered_entries_ += flight_->entries.size();
    flight_.reset();
    return;
  }
  ++failed_attempts_;
  if (flight_->attempt <= lim_.retries) {
    auto shift = std::min<uint32_t>(flight_->attempt - 1, 20);
    retry_at_ = now + lim_.retry_base * (millis_t{1} << shift);
    return;
  }
  // Given up: the next call reports what this one could not.
  ++given_up_;
  auto lost = flight_->entries.size();
  dropped_ += lost + flight_->dropped;
  dropped_total_ += lost;
  flight_.reset();
  if (waiting_since_ < 0)
    waiting_since_ = now;
}

} // namespace onceflow
