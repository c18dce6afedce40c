#pragma once

#include "actors/logic/group_settings.hpp"

#include <cstdint>
#include <vector>

/// The Redis store's settings port: the groups' run-time overrides, one
/// field per (group, setting) in the hash `settings` ("<group>\x1f<setting>"
/// -> value; see docs/architecture.md, Redis keys).
namespace onceflow {

class redis_connection;
class redis_keys;

/// store::group_overrides_all: every group's overrides, by group name;
/// fields of settings this version does not know are skipped.
std::vector<group_overrides> read_group_overrides(redis_connection& conn,
                                                  redis_keys& keys);

/// store::change_group_overrides: one MULTI (the writes, then the group's
/// fields as they are after them; repeatable).
group_overrides write_group_overrides(redis_connection& conn, redis_keys& keys,
                                      const group_overrides& change,
                                      uint8_t clear);

} // namespace onceflow
