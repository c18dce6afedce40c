#include "adapters/redis/redis_generation.hpp"

#include "adapters/redis/redis_connection.hpp"
#include "adapters/redis/redis_keys.hpp"
#include "adapters/redis/redis_reply.hpp"
#include "adapters/redis/redis_scripts.hpp"

#include <hiredis/hiredis.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace onceflow {

namespace {

/// 16 hex digits naming a generation.
std::string new_generation_token() {
  std::random_device rd;
  uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(v));
  return buf;
}

} // namespace

redis_generation::redis_generation(redis_connection& conn, redis_keys& keys)
  : conn_(conn), keys_(keys) {
  // nop
}

void redis_generation::open() {
  // The layout first: data of another layout (an older onceflow: no
  // `layout` key, but its `ids` hash) is refused instead of misread.
  auto ls = conn_.pipeline(
    {{"GET", keys_.key("layout")}, {"EXISTS", keys_.key("ids")}}, "open");
  for (auto& r : ls)
    if (r->type == REDIS_REPLY_ERROR)
      keys_.fail_reply(r.get(), "open", {});
  auto layout = str_of(ls[0].get());
  if (layout.empty() && int_of(ls[1].get()) == 1)
    conn_.fail("open", "the data under prefix '" + keys_.prefix()
                         + "' has no layout version (written by an older "
                           "onceflow); drain it and delete its keys, or use "
                           "another prefix");
  if (layout == layout_upgradable) {
    // Entries a group of layout 2 still reads may be settled: see
    // scripts/layout_upgrade.lua.
    auto r = conn_.raw({"EVAL", layout_upgrade_script(), "3", keys_.key("seq"),
                        keys_.key("groups"), keys_.key("layout"),
                        keys_.prefix(), layout_version},
                       "open");
    if (r->type == REDIS_REPLY_ERROR)
      keys_.fail_reply(r.get(), "open", {});
    layout = layout_version;
  }
  if (layout == layout_before_delays) {
    auto r = conn_.raw({"SET", keys_.key("layout"), layout_version}, "open");
    if (r->type == REDIS_REPLY_ERROR)
      keys_.fail_reply(r.get(), "open", {});
    layout = layout_version;
  }
  if (!layout.empty() && layout != layout_version)
    conn_.fail("open", "the data under prefix '" + keys_.prefix()
                         + "' has layout " + layout
                         + ", this onceflow reads layout " + layout_version
                         + "; use the matching onceflow or another prefix");
  auto rs = conn_.pipeline(set_if_missing(), "open");
  for (auto& r : rs)
    if (r->type == REDIS_REPLY_ERROR)
      keys_.fail_reply(r.get(), "open", {});
  token_ = str_of(rs[1].get());
  if (token_.empty())
    conn_.fail("open", "cannot read the store generation (key '"
                         + keys_.key("gen") + "')");
}

void redis_generation::check_error(const std::string& msg,
                                   const std::string& op, gen_check gc) {
  if (gc != gen_check::none && msg.rfind("GENERATION ", 0) == 0)
    changed(op, msg.substr(11), gc);
}

void redis_generation::take_notice(const std::string& op) {
  if (!notice_)
    return;
  notice_ = false;
  fail(op, "now generation " + token_ + " (noticed by an earlier call)");
}

std::vector<std::vector<std::string>> redis_generation::set_if_missing() const {
  return {{"SET", keys_.key("gen"), new_generation_token(), "NX"},
          {"GET", keys_.key("gen")},
          {"SET", keys_.key("layout"), layout_version, "NX"}};
}

void redis_generation::changed(const std::string& op,
                               const std::string& current, gen_check gc) {
  auto now_gen = current;
  if (current == "none") {
    // The data was lost: start a new generation. SET NX, then GET: nodes
    // racing here agree on the first token set.
    auto rs = conn_.pipeline(set_if_missing(), op);
    now_gen = rs[1]->type == REDIS_REPLY_ERROR ? std::string{}
                                               : str_of(rs[1].get());
  }
  auto old = token_;
  if (!now_gen.empty() && now_gen != token_) {
    token_ = now_gen;
    verify_ = true;
    notice_ = gc != gen_check::reader;
  }
  fail(op, "generation " + old + " is gone, now "
             + (now_gen.empty() ? std::string{"none"} : now_gen));
}

void redis_generation::fail(const std::string& op, const std::string& detail) {
  throw store_error(conn_.name()
                      + ": store generation changed (Redis lost or "
                        "replaced its data): "
                      + op + " refused, " + detail
                      + "; what this node held of the old data is void",
                    store_error::kind::generation_changed);
}

} // namespace onceflow
