// The embedded store's settings port: groups' run-time overrides, a row per
// group and setting in `group_settings`.

#include "adapters/embedded/sqlite_store_impl.hpp"

#include <string>
#include <vector>

namespace onceflow::embedded {

void sqlite_store::read_settings(query& q, std::vector<group_overrides>& out,
                                 const char* op) {
  std::string group;
  std::string name;
  std::string value;
  while (q.step()) {
    q.text_into(0, group);
    q.text_into(1, name);
    q.text_into(2, value);
    group_setting s = group_setting::paused;
    // A setting of a later version: not ours to apply.
    if (!setting_from_string(name, s))
      continue;
    if (out.empty() || out.back().group != group) {
      out.emplace_back();
      out.back().group = group;
    }
    if (!set_from_text(out.back(), s, value))
      conn_.fail(op,
                 ("group " + group + ": setting " + name + " holds '" + value
                  + "', which is no value of it (DELETE "
                    "/groups/<name>/overrides drops it)")
                   .c_str());
  }
}

std::vector<group_overrides> sqlite_store::group_overrides_all() {
  std::vector<group_overrides> out;
  query q{settings_all_, "group_overrides"};
  read_settings(q, out, "group_overrides");
  return out;
}

group_overrides
sqlite_store::change_group_overrides(const group_overrides& change,
                                     uint8_t clear) {
  const char* op = "change_group_overrides";
  transaction tx{*this, op};
  for (auto s : all_group_settings) {
    std::string name = to_string(s);
    if (change.has(s)) {
      auto value = value_text(change, s);
      query q{settings_put_, op};
      q.bind_text(1, change.group).bind_text(2, name).bind_text(3, value);
      q.run();
    } else if ((clear & bit(s)) != 0) {
      query q{settings_drop_, op};
      q.bind_text(1, change.group).bind_text(2, name);
      q.run();
    }
  }
  std::vector<group_overrides> after;
  {
    query q{settings_of_, op};
    q.bind_text(1, change.group);
    read_settings(q, after, op);
  }
  tx.commit();
  if (after.empty()) {
    group_overrides none;
    none.group = change.group;
    return none;
  }
  return after.front();
}

} // namespace onceflow::embedded
