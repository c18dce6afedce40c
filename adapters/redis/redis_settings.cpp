#include "adapters/redis/redis_settings.hpp"

#include "adapters/redis/redis_connection.hpp"
#include "adapters/redis/redis_keys.hpp"
#include "adapters/redis/redis_reply.hpp"

#include <hiredis/hiredis.h>

#include <iterator>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace onceflow {

namespace {

/// The field of a group's setting in `settings`: "<group>\x1f<setting>".
std::string setting_field(const std::string& group, group_setting s) {
  return group + '\x1f' + to_string(s);
}

} // namespace

std::vector<group_overrides> read_group_overrides(redis_connection& conn,
                                                  redis_keys& keys) {
  const std::string op = "group_overrides";
  auto r = conn.raw({"HGETALL", keys.key("settings")}, op);
  if (r->type == REDIS_REPLY_ERROR)
    keys.fail_reply(r.get(), op, {});
  if (!is_array(r.get()))
    conn.fail(op, "unexpected reply to HGETALL");
  // By group name, as the port promises.
  std::map<std::string, group_overrides> by_group;
  for (size_t i = 0; i + 1 < r->elements; i += 2) {
    auto field = str_of(r->element[i]);
    auto value = str_of(r->element[i + 1]);
    auto sep = field.rfind('\x1f');
    group_setting s = group_setting::paused;
    // A setting of a later version: not ours to apply.
    if (sep == std::string::npos
        || !setting_from_string(field.substr(sep + 1), s))
      continue;
    auto group = field.substr(0, sep);
    auto& o = by_group[group];
    o.group = group;
    if (!set_from_text(o, s, value))
      conn.fail(op, "group " + group + ": setting " + to_string(s) + " holds '"
                      + value
                      + "', which is no value of it (DELETE "
                        "/groups/<name>/overrides drops it)");
  }
  std::vector<group_overrides> out;
  out.reserve(by_group.size());
  for (auto& kv : by_group)
    out.push_back(std::move(kv.second));
  return out;
}

group_overrides write_group_overrides(redis_connection& conn, redis_keys& keys,
                                      const group_overrides& change,
                                      uint8_t clear) {
  const std::string op = "change_group_overrides";
  // One MULTI: the writes, then the group's fields as they are after them.
  // Run twice, it comes out the same (repeatable).
  std::vector<std::string> set{"HSET", keys.key("settings")};
  std::vector<std::string> drop{"HDEL", keys.key("settings")};
  std::vector<std::string> get{"HMGET", keys.key("settings")};
  for (auto s : all_group_settings) {
    auto field = setting_field(change.group, s);
    if (change.has(s)) {
      set.push_back(field);
      set.push_back(value_text(change, s));
    } else if ((clear & bit(s)) != 0) {
      drop.push_back(field);
    }
    get.push_back(field);
  }
  std::vector<std::vector<std::string>> cmds{{"MULTI"}};
  if (set.size() > 2)
    cmds.push_back(std::move(set));
  if (drop.size() > 2)
    cmds.push_back(std::move(drop));
  cmds.push_back(std::move(get));
  cmds.push_back({"EXEC"});
  auto rs = conn.pipeline(cmds, op);
  for (auto& r : rs)
    if (r->type == REDIS_REPLY_ERROR)
      keys.fail_reply(r.get(), op, {});
  auto* ex = rs.back().get();
  if (!is_array(ex) || ex->elements != cmds.size() - 2)
    conn.fail(op, "unexpected reply to the settings transaction");
  for (size_t i = 0; i < ex->elements; ++i)
    if (ex->element[i]->type == REDIS_REPLY_ERROR)
      keys.fail_reply(ex->element[i], op, {});
  auto* values = ex->element[ex->elements - 1];
  if (!is_array(values) || values->elements != std::size(all_group_settings))
    conn.fail(op, "unexpected reply to HMGET");
  group_overrides out;
  out.group = change.group;
  for (size_t i = 0; i < values->elements; ++i) {
    if (values->element[i]->type != REDIS_REPLY_STRING)
      continue;
    auto s = all_group_settings[i];
    auto value = str_of(values->element[i]);
    if (!set_from_text(out, s, value))
      conn.fail(op, "group " + change.group + ": setting " + to_string(s)
                      + " holds '" + value
                      + "', which is no value of it (DELETE "
                        "/groups/<name>/overrides drops it)");
  }
  return out;
}

} // namespace onceflow
