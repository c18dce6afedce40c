// The Redis store: opening (connection, key types, layout and generation,
// the node name's claim), sending commands and scripts, ping, trim, the
// settings port (redis_settings) and make_redis_store. The port calls are
// in a file per port (see redis_store_impl.hpp).

#include "adapters/redis/redis_store.hpp"

#include "adapters/deferred_store.hpp"
#include "adapters/redis/redis_settings.hpp"
#include "adapters/redis/redis_store_impl.hpp"

#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace onceflow {

std::vector<std::string>
redis_store::take_hold_args(const redis_options& opts) {
  auto check = [](const std::string& what, millis_t hold) {
    if (hold <= 0)
      throw store_error("redis store: the take hold of " + what
                        + " must be positive (got " + std::to_string(hold)
                        + " ms)");
    return std::to_string(hold);
  };
  std::vector<std::string> out{check("unlisted groups", opts.take_hold_ms)};
  for (auto& [group, hold] : opts.take_holds) {
    out.push_back(group);
    out.push_back(check("group " + group, hold));
  }
  return out;
}

redis_store::redis_store(const redis_options& opts)
  : opts_(opts),
    url_(parse_redis_url(opts.url)),
    base_(url_.name()),
    conn_(url_, opts),
    keys_(conn_, opts.prefix),
    gen_(conn_, keys_) {
  if (opts_.consumer.empty())
    throw store_error(base_ + ": the consumer name must not be empty");
  if (opts_.claim_name)
    claim_ = std::make_unique<redis_node_claim>(conn_, keys_, opts_.consumer,
                                                opts_.name_ttl_ms);
  try {
    open();
  } catch (const store_error& ex) {
    if (!opts_.wait_at_start || !conn_.unreachable()
        || ex.which() == store_error::kind::refused)
      throw;
    open_error_ = ex.what();
  }
}

redis_store::~redis_store() {
  if (claim_ && open_)
    claim_->release();
}

void redis_store::open() {
  if (open_)
    return;
  conn_.ensure_connected();
  keys_.check_types("open");
  gen_.open();
  warnings_ = eviction_warnings(conn_, base_);
  if (claim_) {
    claim_->claim();
    if (!claim_->took_over().empty())
      warnings_.push_back(base_ + ": took over node name '" + opts_.consumer
                          + "' from a process of this machine that is gone ("
                          + claim_->took_over() + ")");
  }
  open_ = true;
}

void redis_store::finish_open() {
  try {
    open();
  } catch (const store_error& ex) {
    if (ex.which() == store_error::kind::refused || !conn_.unreachable())
      throw store_error(std::string{"cannot open the redis store: "}
                          + ex.what(),
                        store_error::kind::refused);
    throw store_error(std::string{"waiting for Redis: "} + ex.what());
  }
}

reply_ptr redis_store::command(const std::vector<std::string>& args,
                               const std::string& op) {
  auto r = conn_.raw(args, op);
  if (r->type == REDIS_REPLY_ERROR)
    keys_.fail_reply(r.get(), op, {});
  return r;
}

reply_ptr redis_store::eval(script_id id, std::vector<std::string> args,
                            const std::string& op, gen_check gc,
                            const std::string& group) {
  args.push_back(gen_.argument(gc));
  args.insert(args.begin(), keys_.prefix());
  auto r = conn_.evalsha(id, args, op);
  if (r->type == REDIS_REPLY_ERROR) {
    gen_.check_error(str_of(r.get()), op, gc);
    keys_.fail_reply(r.get(), op, group);
  }
  return r;
}

// -- settings_port -----------------------------------------------------------

std::vector<group_overrides> redis_store::group_overrides_all() {
  return read_group_overrides(conn_, keys_);
}

group_overrides
redis_store::change_group_overrides(const group_overrides& change,
                                    uint8_t clear) {
  return write_group_overrides(conn_, keys_, change, clear);
}

// -- store -------------------------------------------------------------------

void redis_store::ping() {
  command({"PING"}, "ping");
}

uint64_t redis_store::trim(millis_t now, millis_t retention, millis_t,
                           size_t max) {
  // Dedup keys (id:<id>) expire on their own (TTL: max(window,
  // retention)).
  auto r = eval(sc_trim,
                {std::to_string(now), std::to_string(retention),
                 std::to_string(max)},
                "trim", gen_check::none);
  return u64_of(r.get());
}

store_ptr make_redis_store(const redis_options& opts) {
  auto st = std::make_unique<redis_store>(opts);
  if (st->is_open())
    return st;
  auto* raw = st.get();
  auto waiting = raw->describe() + ": Redis cannot be reached ("
                 + raw->open_error()
                 + "); waiting for it ([redis] wait-at-start): /ready "
                   "answers 503 and publishing is refused until the store "
                   "opens";
  return std::make_unique<deferred_store>(
    std::move(st), [raw] { raw->finish_open(); }, std::move(waiting),
    opts.on_deferred_open);
}

} // namespace onceflow
