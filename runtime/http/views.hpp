#pragma once

#include "actors/types.hpp"

#include <caf/settings.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace onceflow::http {

// JSON views of what the actors answer, shared by the routes.

/// `[{"attempt", "at", "node", "listener", "epoch", "outcome", "error"}]`.
nlohmann::json attempts_json(const std::vector<attempt_record>& xs);

/// The event with its payload as JSON (as text if it does not parse).
nlohmann::json event_json(const event& ev);

/// `{"count", "firstAt", "lastAt", "lastNode"}`: the duplicate
/// submissions of the event's id (times and node null while none).
nlohmann::json duplicates_json(const event_history& h);

/// `[{"group", "status"}]`.
nlohmann::json groups_status_json(const std::vector<group_status>& xs);

/// Settings as a JSON object (nested dictionaries as objects).
nlohmann::json settings_json(const caf::settings& s);

/// Settings value as a number (integers, reals and booleans).
double number_of(const caf::settings& s, const std::string& key);

/// Calls `f(name, settings)` for every group of a broadcaster status.
template <class F>
void for_each_group(const caf::settings& status, F f) {
  if (auto groups = caf::get_if<caf::settings>(&status, "groups"))
    for (auto& [name, value] : *groups)
      if (auto g = caf::get_if<caf::settings>(&value))
        f(name, *g);
}

} // namespace onceflow::http
