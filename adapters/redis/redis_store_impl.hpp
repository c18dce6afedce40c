#pragma once

#include "adapters/ports.hpp"
#include "adapters/redis/redis_connection.hpp"
#include "adapters/redis/redis_generation.hpp"
#include "adapters/redis/redis_keys.hpp"
#include "adapters/redis/redis_reply.hpp"
#include "adapters/redis/redis_scripts.hpp"
#include "adapters/redis/redis_startup.hpp"
#include "adapters/redis/redis_store.hpp"
#include "adapters/redis/redis_url.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

/// The Redis store's class, internal to adapters/redis/: the ports over its
/// connection (redis_connection), key layout (redis_keys), store generation
/// (redis_generation) and scripts (redis_scripts). The commands each port
/// call costs: "Redis commands per port call" in docs/architecture.md. Its
/// definitions, by job:
/// - redis_store.cpp: opening, sending commands and scripts, ping, trim, the
///   settings port (redis_settings), make_redis_store;
/// - redis_log.cpp: the log port;
/// - redis_leases.cpp: claims and settlements, and the leases of taken
///   retries (renew_taken, release_taken);
/// - redis_retries.cpp: the retry schedule (take_due, next_due) and cancel;
/// - redis_dlq.cpp: the DLQ and processed records;
/// - redis_queries.cpp: status, history and listings.
/// The adoption of a new store generation by the calls that run once more
/// on the new data is `on_current_generation`, below (claim, settle,
/// cancel), and append's own (redis_log.cpp).
namespace onceflow {

class redis_store final : public store {
public:
  /// Opens (open()); with opts.wait_at_start, a server that cannot be
  /// reached leaves the store unopened instead of throwing.
  explicit redis_store(const redis_options& opts);

  ~redis_store() override;

  redis_store(const redis_store&) = delete;
  redis_store& operator=(const redis_store&) = delete;

  /// Connects and checks (types, layout and generation, eviction policy)
  /// and claims the node name (opts.claim_name); does nothing once open.
  void open();

  bool is_open() const {
    return open_;
  }

  /// Why the constructor left the store unopened.
  const std::string& open_error() const {
    return open_error_;
  }

  /// open() for a store whose open was put off: an unreachable server
  /// fails as "waiting for Redis: ...", any other failure as kind refused
  /// (it will not heal).
  void finish_open();

  // -- log_port: redis_log.cpp ------------------------------------------------

  void ensure_group(const group_spec& spec) override;

  std::vector<append_result> append(std::vector<event>& batch, millis_t now,
                                    millis_t dedup_window) override;

  std::vector<delivery> read_leased(const std::string& group, size_t max,
                                    millis_t now, const std::string& holder,
                                    millis_t ttl, uint32_t) override;
  std::vector<event> read_group(const std::string& group, size_t max,
                                millis_t now) override;

  std::vector<event> reclaim(const std::string& group, millis_t now,
                             millis_t min_idle, size_t max) override;

  uint64_t head() override;

  uint64_t backlog(const std::string& group) override;

  event find(const std::string& id) override;
  acceptance_record acceptance(uint64_t seq) override;

  // -- lease_port: redis_leases.cpp -------------------------------------------

  std::vector<claim_decision>
  claim(const std::vector<claim_request>& reqs, const std::string& holder,
        millis_t now, millis_t ttl, uint32_t crash_budget) override;

  std::vector<fence_decision> settle(const std::vector<settlement>& items,
                                     millis_t now) override;

  bool is_done(const std::string& group, uint64_t seq) override;

  // -- retry_port: redis_retries.cpp ------------------------------------------

  std::vector<delivery> take_due(millis_t now, size_t max) override;

  millis_t next_due() override;

  uint64_t renew_taken(const std::vector<taken_pair>& pairs,
                       millis_t now) override;

  uint64_t release_taken(const std::vector<taken_pair>& pairs) override;

  uint64_t scheduled() override;
  uint64_t scheduled(const std::string& group) override;

  uint64_t delayed() override;

  cancel_result cancel(const std::string& event_id, millis_t now) override;

  // -- dlq_port: redis_dlq.cpp ------------------------------------------------

  dlq_page dlq_list(const dlq_query& q) override;

  std::vector<dlq_entry> dlq_get(const std::string& event_id) override;

  size_t dlq_replay(const std::string& event_id, const std::string& group,
                    millis_t now) override;

  size_t dlq_purge(const std::string& event_id) override;

  size_t dlq_purge_group(const std::string& group) override;

  uint64_t dlq_size() override;

  uint64_t dlq_count(const std::string& group) override;

  // -- processed_port: redis_dlq.cpp ------------------------------------------

  uint64_t processed_count(const std::string& group) override;

  std::vector<processed_record>
  processed_of(const std::string& event_id) override;

  // -- settings_port: redis_store.cpp -----------------------------------------

  std::vector<group_overrides> group_overrides_all() override;

  group_overrides change_group_overrides(const group_overrides& change,
                                         uint8_t clear) override;

  // -- store: redis_queries.cpp, redis_store.cpp ------------------------------

  std::vector<group_status> status_of(const std::string& event_id) override;

  std::vector<group_history> history_of(const std::string& event_id) override;

  event_listing list_events(const event_listing_query& q) override;

  void ping() override;

  uint64_t trim(millis_t now, millis_t retention, millis_t,
                size_t max) override;

  std::string describe() const override {
    return base_ + "/" + std::to_string(url_.db) + " prefix=" + keys_.prefix();
  }

  std::vector<std::string> startup_warnings() const override {
    return warnings_;
  }

  millis_t heartbeat_interval() const override {
    return claim_ ? claim_->renew_interval() : 0;
  }

  void heartbeat() override {
    if (claim_)
      claim_->renew();
  }

private:
  /// The take holds of `opts` as arguments of scripts/due.lua: the default
  /// hold, then group and hold per listed group. Throws store_error for a
  /// hold that is not positive.
  static std::vector<std::string> take_hold_args(const redis_options& opts);

  std::string key(const char* name) const {
    return keys_.key(name);
  }

  std::string gkey(const std::string& group, const char* kind) const {
    return keys_.gkey(group, kind);
  }

  [[noreturn]] void fail(const std::string& op, const std::string& msg,
                         store_error::kind k = store_error::kind::failure) {
    conn_.fail(op, msg, k);
  }

  /// Sends one command; throws on I/O errors and error replies
  /// (redis_keys::fail_reply).
  reply_ptr command(const std::vector<std::string>& args,
                    const std::string& op);

  /// Runs a script (redis_connection::evalsha); ARGV[1] is the prefix,
  /// followed by `args` and the generation to check ('' for none). Throws
  /// on error replies: a changed generation (redis_generation::check_error)
  /// or else redis_keys::fail_reply, naming `group` for NOGROUP.
  reply_ptr eval(script_id id, std::vector<std::string> args,
                 const std::string& op, gen_check gc,
                 const std::string& group = {});

  /// Runs `call` (which builds its arguments afresh each time: the verify
  /// flag depends on the generation); if it failed because the store
  /// generation changed, which this store object has now adopted, runs it
  /// once more on the new data. For calls whose work is checked pair by
  /// pair against the new data (claim and settle verify each pair's event
  /// id from then on; the retry schedule and cancel name events of the data
  /// there is): they must not fail a delivery of the new data just because
  /// this store object was the last of the node to hear of the change.
  template <class Call>
  auto on_current_generation(Call call) -> decltype(call()) {
    auto known = gen_.token();
    try {
      return call();
    } catch (const store_error& ex) {
      if (ex.which() != store_error::kind::generation_changed
          || gen_.token() == known)
        throw;
    }
    return call();
  }

  /// read_group, with leases for `holder` when ttl > 0 (read_leased).
  std::vector<delivery> read_impl(const std::string& group, size_t max,
                                  millis_t now, const std::string& holder,
                                  millis_t ttl);

  /// One claim or settle script call (see on_current_generation).
  std::vector<claim_decision>
  claim_once(const std::vector<claim_request>& reqs, const std::string& holder,
             millis_t now, millis_t ttl, uint32_t crash_budget);
  std::vector<fence_decision> settle_once(const std::vector<settlement>& items,
                                          millis_t now);

  redis_options opts_;
  redis_url url_;
  std::string base_;
  std::vector<std::string> warnings_;
  redis_connection conn_;
  redis_keys keys_;
  redis_generation gen_;
  /// The node name's claim (opts.claim_name).
  std::unique_ptr<redis_node_claim> claim_;
  bool open_ = false;
  std::string open_error_;
  /// Numbers take_due calls (marks in `retry:taken`).
  uint64_t take_calls_ = 0;
  /// Identifies this store object in `retry:taken` (a restart is a new
  /// one; so is each further store object of a node).
  std::string instance_ = std::to_string(std::random_device{}())
                          + std::to_string(std::random_device{}());
  /// How long its take marks hold, as arguments of the due script.
  std::vector<std::string> hold_args_ = take_hold_args(opts_);

  /// The hold of a take mark of `group` (see redis_options::take_holds).
  millis_t take_hold(const std::string& group) const {
    auto i = opts_.take_holds.find(group);
    return i != opts_.take_holds.end() ? i->second : opts_.take_hold_ms;
  }

  /// Renews (`now` >= 0) or releases (`now` < 0) this store object's take
  /// marks of `pairs` (scripts/renew.lua).
  uint64_t mark_taken(const std::vector<taken_pair>& pairs, millis_t now,
                      const std::string& op);
};

} // namespace onceflow
