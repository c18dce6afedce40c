#pragma once

#include <cstdint>
#include <string>
#include <vector>

/// A listener group's settings that change at run time (pause, rate limit,
/// listener count): the overrides the store keeps (store::settings_port),
/// what a group runs with once they are applied to its config, and what a
/// change of the listener count does to a group's listeners. Pure.
namespace onceflow {

/// A setting of a listener group that can change at run time; the values
/// are bits of group_overrides::fields.
enum class group_setting : uint8_t {
  /// Nothing new is dispatched (the config has no such option: running).
  paused = 1,
  /// The group's rate limit in events/s (0: unlimited): `rate-limit`.
  rate = 2,
  /// The group's bucket size (0: the rate): `rate-burst`.
  burst = 4,
  /// Listener actors of the group on each node: `concurrency`.
  concurrency = 8,
};

/// Every group_setting, in the order of their bits.
constexpr group_setting all_group_settings[]
  = {group_setting::paused, group_setting::rate, group_setting::burst,
     group_setting::concurrency};

/// The bits of every group_setting.
constexpr uint8_t every_group_setting = 15;

/// The setting's bit.
constexpr uint8_t bit(group_setting s) {
  return static_cast<uint8_t>(s);
}

/// The setting's name in the store: "paused", "rate", "burst",
/// "concurrency".
const char* to_string(group_setting s);

/// The setting named `name` (to_string's names); false if none is.
bool setting_from_string(const std::string& name, group_setting& out);

/// Run-time overrides of one group's settings: each setting whose bit is
/// in `fields` replaces the config's value; the others come from the
/// config.
struct group_overrides {
  std::string group;
  uint8_t fields = 0;
  bool paused = false;
  double rate = 0;
  double burst = 0;
  uint32_t concurrency = 0;

  bool has(group_setting s) const {
    return (fields & bit(s)) != 0;
  }

  bool empty() const {
    return fields == 0;
  }

  friend bool operator==(const group_overrides& x, const group_overrides& y);
};

/// The stored text of setting `s` of `o` ("1", "2.5", "4").
std::string value_text(const group_overrides& o, group_setting s);

/// Sets setting `s` of `o` from its stored text; false (and `o` unchanged)
/// if the text is no valid value of it.
bool set_from_text(group_overrides& o, group_setting s,
                   const std::string& text);

/// `current` after a change: the settings `change` holds take its values,
/// the settings in `clear` that `change` does not hold are dropped.
group_overrides merge(group_overrides current, const group_overrides& change,
                      uint8_t clear);

/// Why a change's values cannot be applied: the setting at fault (its
/// name in the HTTP API) and the rule; both empty if they can.
struct overrides_problem {
  std::string field;
  std::string message;

  bool empty() const {
    return message.empty();
  }
};

/// The rules of the config file's options: a rate of 0 (unlimited) or
/// 0.001 to 1e9 events/s, a burst of 0 (the rate) or 1 to 1e9, 1 to 1024
/// listeners.
overrides_problem check(const group_overrides& change);

/// What a group runs with: its config's values with the overrides
/// applied.
struct group_run_settings {
  bool paused = false;
  /// Events/s; 0: unlimited.
  double rate = 0;
  /// The bucket size as configured (0: the rate).
  double burst = 0;
  uint32_t concurrency = 1;
  /// Bits of the settings that come from overrides.
  uint8_t overridden = 0;

  /// The token bucket's size: the burst, or the rate if that is 0.
  double bucket_size() const {
    return burst > 0 ? burst : rate;
  }

  friend bool operator==(const group_run_settings& x,
                         const group_run_settings& y);
};

/// The settings of a group whose config says `rate`, `burst` and
/// `concurrency`, with `o` applied.
group_run_settings effective(double rate, double burst, uint32_t concurrency,
                             const group_overrides& o);

/// A listener of a group, as the broadcaster keeps it.
struct listener_view {
  /// Unique within the group.
  uint32_t index = 0;
  /// It has a batch in flight.
  bool busy = false;
  /// It gets no new batch and stops once its batch is back.
  bool retiring = false;
};

/// What a change of a group's listener count does (see resize_listeners).
struct listener_plan {
  /// Listeners to retire: idle ones stop now, busy ones once their batch
  /// is back (so nothing in flight is lost or run twice).
  std::vector<uint32_t> retire;
  /// Retiring listeners that stay after all.
  std::vector<uint32_t> keep;
  /// New listeners to spawn.
  size_t spawn = 0;
};

/// Brings the listeners that are not retiring to `target`: fewer by
/// retiring idle ones first, then those with the highest index; more by
/// keeping retiring ones first, then spawning.
listener_plan resize_listeners(const std::vector<listener_view>& xs,
                               uint32_t target);

} // namespace onceflow
