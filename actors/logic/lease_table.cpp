#include "actors/logic/lease_table.hpp"

namespace onceflow {

const char* to_string(claim_decision::kind_t k) {
  switch (k) {
    case claim_decision::granted:
      return "granted";
    case claim_decision::held:
      return "held";
    case claim_decision::done:
      return "done";
    case claim_decision::crash_loop:
      return "crash_loop";
  }
  return "unknown";
}

const char* to_string(fence_decision d) {
  switch (d) {
    case fence_decision::ok:
      return "ok";
    case fence_decision::stale:
      return "stale";
    case fence_decision::no_lease:
      return "no_lease";
  }
  return "unknown";
}

claim_decision
lease_table::claim(const std::string& group, const std::string& event_id,
                   millis_t now, millis_t ttl, uint32_t crash_budget,
                   bool already_done, uint64_t takeover, bool crashed) {
  claim_decision d;
  if (already_done) {
    leases_.erase(key(group, event_id));
    d.kind = claim_decision::done;
    return d;
  }
  auto& e = leases_[key(group, event_id)];
  if (e.held && takeover != 0 && e.epoch == takeover) {
    // A lease nobody runs under (granted with a read and never run under,
    // or given up by its listener): replaced as if it had been released. A
    // dead listener's: replaced as if it had expired.
    if (crashed)
      ++e.redeliveries;
    e.held = false;
  }
  if (e.held) {
    if (now < e.expires_at) {
      d.kind = claim_decision::held;
      d.epoch = e.epoch;
      d.expires_at = e.expires_at;
      d.redeliveries = e.redeliveries;
      return d;
    }
    // The previous holder neither completed nor released in time.
    ++e.redeliveries;
    e.held = false;
  }
  d.redeliveries = e.redeliveries;
  if (e.redeliveries > crash_budget) {
    d.kind = claim_decision::crash_loop;
    d.epoch = e.epoch;
    return d;
  }
  e.epoch = next_epoch_++;
  e.expires_at = now + ttl;
  e.held = true;
  d.kind = claim_decision::granted;
  d.epoch = e.epoch;
  d.expires_at = e.expires_at;
  return d;
}

fence_decision lease_table::check(const std::string& group,
                                  const std::string& event_id, uint64_t epoch,
                                  millis_t now) const {
  auto i = leases_.find(key(group, event_id));
  if (i == leases_.end() || i->second.epoch == 0)
    return fence_decision::no_lease;
  auto& e = i->second;
  if (!e.held || e.epoch != epoch || now >= e.expires_at)
    return fence_decision::stale;
  return fence_decision::ok;
}

fence_decision lease_table::release(const std::string& group,
                                    const std::string& event_id, uint64_t epoch,
                                    millis_t now) {
  auto d = check(group, event_id, epoch, now);
  if (d == fence_decision::ok) {
    leases_[key(group, event_id)].held = false;
  }
  return d;
}

void lease_table::erase(const std::string& group, const std::string& event_id) {
  leases_.erase(key(group, event_id));
}

size_t lease_table::live(millis_t now) const {
  size_t n = 0;
  for (auto& kv : leases_)
    if (kv.second.held && now < kv.second.expires_at)
      ++n;
  return n;
}

} // namespace onceflow
