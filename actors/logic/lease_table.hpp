#pragma once

#include "actors/logic/event.hpp"

#include <cstdint>
#include <string>
#include <unordered_map>

namespace onceflow {

/// Answer to a lease claim on (group, event).
struct claim_decision {
  enum kind_t : uint8_t {
    granted = 0,    ///< New lease with `epoch`, valid until `expires_at`.
    held = 1,       ///< Another holder's lease is valid until `expires_at`.
    done = 2,       ///< The ledger already has the effect.
    crash_loop = 3, ///< Crash-redelivery budget exhausted: dead-letter it.
  };
  kind_t kind = granted;
  uint64_t epoch = 0;
  millis_t expires_at = 0;
  /// Number of expired leases seen for this pair (crash redeliveries).
  uint32_t redeliveries = 0;
};

/// Answer to a completion (or release) carrying a lease epoch.
enum class fence_decision : uint8_t {
  ok = 0,       ///< Epoch is current and the lease is live: commit.
  stale = 1,    ///< Epoch superseded or lease expired: refuse.
  no_lease = 2, ///< No lease known for the pair: refuse.
};

const char* to_string(claim_decision::kind_t k);
const char* to_string(fence_decision d);

/// Fenced leases for (group, event) pairs. Pure: time comes in as `now`.
/// Epochs increase monotonically across all pairs, starting at `first_epoch`
/// (adapters persist a high-water mark so epochs never repeat after restart).
class lease_table {
public:
  explicit lease_table(uint64_t first_epoch = 1) : next_epoch_(first_epoch) {
    // nop
  }

  /// Claims the pair. `already_done` comes from the ledger. Who holds a
  /// lease is not kept: the fence decides by epoch alone (a holder's name
  /// in every entry cost the store thread an allocation per lease).
  /// `takeover`: the epoch of a lease granted with a read that nobody ran
  /// under (see delivery::lease_until); if the pair's lease still has that
  /// epoch, it is replaced by a new one, live or expired, without counting
  /// a crash redelivery. 0: none. `crashed`: the lease with epoch
  /// `takeover` belongs to a listener that went down; it is replaced live or
  /// expired and counts a crash redelivery (see claim_request::crashed).
  claim_decision claim(const std::string& group, const std::string& event_id,
                       millis_t now, millis_t ttl, uint32_t crash_budget,
                       bool already_done, uint64_t takeover = 0,
                       bool crashed = false);

  /// Checks whether `epoch` may still commit for the pair at `now`.
  fence_decision check(const std::string& group, const std::string& event_id,
                       uint64_t epoch, millis_t now) const;

  /// Releases a live lease after a failed attempt (the retry schedule takes
  /// over); keeps the crash-redelivery count. Returns the fence decision.
  fence_decision release(const std::string& group, const std::string& event_id,
                         uint64_t epoch, millis_t now);

  /// Forgets the pair (effect committed or dead-lettered).
  void erase(const std::string& group, const std::string& event_id);

  /// True if the pair was claimed (a lease was granted and not erased
  /// since).
  bool known(const std::string& group, const std::string& event_id) const {
    return leases_.count(key(group, event_id)) > 0;
  }

  /// True if the pair's lease is held (granted and not released, live or
  /// expired).
  bool held(const std::string& group, const std::string& event_id) const {
    auto i = leases_.find(key(group, event_id));
    return i != leases_.end() && i->second.held;
  }

  /// Number of pairs tracked.
  size_t size() const {
    return leases_.size();
  }

  /// Number of pairs with a lease that is live at `now`.
  size_t live(millis_t now) const;

  /// The next epoch that will be handed out.
  uint64_t next_epoch() const {
    return next_epoch_;
  }

private:
  struct entry {
    uint64_t epoch = 0;
    millis_t expires_at = 0;
    bool held = false;
    uint32_t redeliveries = 0;
  };

  static std::string key(const std::string& group, const std::string& id) {
    std::string k;
    k.reserve(group.size() + id.size() + 1);
    k += group;
    k += '\x1f';
    k += id;
    return k;
  }

  std::unordered_map<std::string, entry> leases_;
  uint64_t next_epoch_;
};

} // namespace onceflow
