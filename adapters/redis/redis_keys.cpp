#include "adapters/redis/redis_keys.hpp"

#include "adapters/redis/redis_connection.hpp"
#include "adapters/redis/redis_reply.hpp"

#include <hiredis/hiredis.h>

#include <utility>
#include <vector>

namespace onceflow {

redis_keys::redis_keys(redis_connection& conn, std::string prefix)
  : conn_(conn), prefix_(std::move(prefix)) {
  // nop
}

void redis_keys::fail_reply(const redisReply* r, const std::string& op,
                            const std::string& group) {
  auto msg = str_of(r);
  if (msg.find("NOGROUP") != std::string::npos)
    conn_.fail(op, group.empty() ? msg : "unknown group '" + group + "'",
               store_error::kind::unknown_group);
  if (msg.find("WRONGTYPE") != std::string::npos) {
    check_types(op);
    conn_.fail(op, msg + " (a key under prefix '" + prefix_
                     + "' has the wrong type)");
  }
  conn_.fail(op, msg);
}

void redis_keys::check_types(const std::string& op) {
  std::vector<std::pair<std::string, std::string>> expect{
    {key("seq"), "string"},     {key("log"), "stream"},
    {key("groups"), "hash"},    {key("epoch"), "string"},
    {key("retry:due"), "zset"}, {key("retry:data"), "hash"},
    {key("dlq"), "stream"},     {key("retry:taken"), "hash"},
    {key("retry:seq"), "zset"}, {key("trimmed"), "string"},
    {key("log:t"), "zset"},     {key("dlq:seq"), "string"},
    {key("delayed"), "zset"},   {key("delayed:wait"), "zset"},
    {key("gen"), "string"},     {key("layout"), "string"},
    {key("settings"), "hash"},  {key("log:a"), "zset"},
  };
  auto check = [&](const std::vector<std::pair<std::string, std::string>>& xs) {
    std::vector<std::vector<std::string>> cmds;
    cmds.reserve(xs.size());
    for (auto& x : xs)
      cmds.push_back({"TYPE", x.first});
    auto replies = conn_.pipeline(cmds, op);
    for (size_t i = 0; i < xs.size(); ++i) {
      auto got = str_of(replies[i].get());
      if (replies[i]->type == REDIS_REPLY_ERROR)
        conn_.fail(op, "TYPE " + xs[i].first + ": " + got);
      if (got != "none" && got != xs[i].second)
        conn_.fail(op, "key '" + xs[i].first + "' holds a " + got
                         + ", expected a " + xs[i].second
                         + " (WRONGTYPE): not an onceflow store, or another "
                           "deployment uses the prefix '"
                         + prefix_ + "'");
    }
  };
  check(expect);
  // Per-group keys of the groups we know of.
  auto r = conn_.raw({"HKEYS", key("groups")}, op);
  if (!is_array(r.get()))
    return;
  std::vector<std::pair<std::string, std::string>> per_group;
  for (size_t i = 0; i < r->elements; ++i) {
    auto g = str_of(r->element[i]);
    per_group.emplace_back(gkey(g, "pel"), "zset");
    per_group.emplace_back(gkey(g, "st"), "hash");
    per_group.emplace_back(gkey(g, "rd"), "string");
    per_group.emplace_back(gkey(g, "rl"), "zset");
    per_group.emplace_back(gkey(g, "rlfrom"), "string");
    per_group.emplace_back(gkey(g, "proc"), "hash");
    per_group.emplace_back(gkey(g, "proc:dup"), "hash");
    per_group.emplace_back(gkey(g, "dead"), "hash");
  }
  if (!per_group.empty())
    check(per_group);
}

} // namespace onceflow
