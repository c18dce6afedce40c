#include "adapters/redis/redis_store.hpp"

#include "adapters/codec.hpp"
#include "adapters/deferred_store.hpp"
#include "adapters/redis/redis_connection.hpp"
#include "adapters/redis/redis_generation.hpp"
#include "adapters/redis/redis_keys.hpp"
#include "adapters/redis/redis_reply.hpp"
#include "adapters/redis/redis_scripts.hpp"
#include "adapters/redis/redis_settings.hpp"
#include "adapters/redis/redis_startup.hpp"
#include "adapters/redis/redis_url.hpp"

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <unordered_set>
#include <utility>
#include <vector>

/// The ports of the Redis store over its connection (redis_connection),
/// key layout (redis_keys), store generation (redis_generation) and
/// scripts (redis_scripts). The commands each port call costs: "Redis
/// commands per port call" in docs/architecture.md.

namespace onceflow {

namespace {

using json = nlohmann::json;

/// The take holds of `opts` as arguments of scripts/due.lua: the default
/// hold, then group and hold per listed group. Throws store_error for a
/// hold that is not positive.
std::vector<std::string> take_hold_args(const redis_options& opts) {
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

using codec::dump;

std::string join_patterns(const std::vector<std::string>& patterns) {
  std::string out;
  for (size_t i = 0; i < patterns.size(); ++i) {
    if (i > 0)
      out += '\x1f';
    out += patterns[i];
  }
  return out;
}

// -- the store ---------------------------------------------------------------

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

  // -- log_port --------------------------------------------------------------

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

  uint64_t head() override {
    auto r = command({"GET", key("seq")}, "head");
    return u64_of(r.get());
  }

  uint64_t backlog(const std::string& group) override;

  event find(const std::string& id) override;

  // -- lease_port ------------------------------------------------------------

  std::vector<claim_decision>
  claim(const std::vector<claim_request>& reqs, const std::string& holder,
        millis_t now, millis_t ttl, uint32_t crash_budget) override;

  std::vector<fence_decision> settle(const std::vector<settlement>& items,
                                     millis_t now) override;

  bool is_done(const std::string& group, uint64_t seq) override {
    auto r = command({"HGET", gkey(group, "st"), std::to_string(seq)},
                     "is_done");
    return r->type == REDIS_REPLY_STRING && r->len > 0 && r->str[0] == 'D';
  }

  // -- retry_port ------------------------------------------------------------

  std::vector<delivery> take_due(millis_t now, size_t max) override;

  millis_t next_due() override;

  uint64_t renew_taken(const std::vector<taken_pair>& pairs,
                       millis_t now) override;

  uint64_t release_taken(const std::vector<taken_pair>& pairs) override;

  uint64_t scheduled() override {
    auto r = command({"ZCARD", key("retry:due")}, "scheduled");
    return u64_of(r.get());
  }

  uint64_t delayed() override {
    auto r = command({"ZCARD", key("delayed:wait")}, "delayed");
    return u64_of(r.get());
  }

  cancel_result cancel(const std::string& event_id, millis_t now) override;

  // -- dlq_port --------------------------------------------------------------

  dlq_page dlq_list(const dlq_query& q) override;

  std::vector<dlq_entry> dlq_get(const std::string& event_id) override;

  size_t dlq_replay(const std::string& event_id, const std::string& group,
                    millis_t now) override;

  size_t dlq_purge(const std::string& event_id) override;

  size_t dlq_purge_group(const std::string& group) override;

  uint64_t dlq_size() override {
    auto r = command({"XLEN", key("dlq")}, "dlq_size");
    return u64_of(r.get());
  }

  uint64_t dlq_count(const std::string& group) override {
    // g:<g>:dead holds one field per dead seq of the group.
    auto r = command({"HLEN", gkey(group, "dead")}, "dlq_count");
    return u64_of(r.get());
  }

  // -- processed_port --------------------------------------------------------

  uint64_t processed_count(const std::string& group) override {
    auto r = eval(sc_processed_count, {group}, "processed_count",
                  gen_check::none);
    return u64_of(r.get());
  }

  std::vector<processed_record>
  processed_of(const std::string& event_id) override;

  // -- settings_port ---------------------------------------------------------

  std::vector<group_overrides> group_overrides_all() override;

  group_overrides change_group_overrides(const group_overrides& change,
                                         uint8_t clear) override;

  // -- store -----------------------------------------------------------------

  std::vector<group_status> status_of(const std::string& event_id) override;

  std::vector<group_history> history_of(const std::string& event_id) override;

  event_listing list_events(const event_listing_query& q) override;

  void ping() override;

  uint64_t trim(millis_t now, millis_t retention, millis_t,
                size_t max) override {
    // Dedup keys (id:<id>) expire on their own (TTL: max(window,
    // retention)).
    auto r = eval(sc_trim,
                  {std::to_string(now), std::to_string(retention),
                   std::to_string(max)},
                  "trim", gen_check::none);
    return u64_of(r.get());
  }

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

// -- log_port ----------------------------------------------------------------

void redis_store::ensure_group(const group_spec& spec) {
  gen_.take_notice("ensure_group");
  eval(sc_ensure_group,
       {spec.name, join_patterns(spec.patterns), spec.from_start ? "1" : "0"},
       "ensure_group", gen_check::reader, spec.name);
}

std::vector<append_result> redis_store::append(std::vector<event>& batch,
                                               millis_t now,
                                               millis_t dedup_window) {
  std::vector<append_result> out;
  if (batch.empty())
    return out;
  std::vector<std::string> args;
  args.reserve(3 + batch.size() * 6);
  args.push_back(std::to_string(now));
  args.push_back(std::to_string(dedup_window));
  // An id key lives for the window and for the retention of its event
  // (lookups by id), whichever is longer.
  args.push_back(
    std::to_string(std::max<millis_t>({dedup_window, opts_.retention_ms, 1})));
  for (auto& ev : batch) {
    auto created = std::to_string(ev.created_at != 0 ? ev.created_at : now);
    args.push_back(ev.id);
    args.push_back(ev.type);
    args.push_back(created);
    std::string packed;
    packed.reserve(created.size() + ev.trace_id.size() + ev.payload.size() + 8);
    packed += std::to_string(static_cast<int>(ev.prio));
    packed += '\x1f';
    packed += created;
    packed += '\x1f';
    packed += ev.trace_id;
    packed += '\x1f';
    packed += ev.payload;
    args.push_back(std::move(packed));
    // A delayed event: its time, and its JSON for the schedule's deliveries
    // (the script adds the seq's place: take_due reads seq and group from
    // the schedule's member).
    if (ev.not_before > 0) {
      args.push_back(std::to_string(ev.not_before));
      auto copy = ev;
      copy.created_at = ev.created_at != 0 ? ev.created_at : now;
      copy.seq = 0;
      copy.delay = 0;
      args.push_back(dump(codec::to_json(copy)));
    } else {
      args.emplace_back();
      args.emplace_back();
    }
  }
  // A batch is new input, not something held from old data: if the store
  // generation changed (this store object learns it here), it goes into
  // the new data, once more.
  auto known = gen_.token();
  reply_ptr r;
  try {
    r = eval(sc_append, args, "append", gen_check::check);
  } catch (const store_error&) {
    if (gen_.token() == known)
      throw;
    r = eval(sc_append, std::move(args), "append", gen_check::check);
  }
  if (!is_array(r.get()) || r->elements != batch.size() * 2)
    fail("append", "unexpected reply from the append script");
  out.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    append_result res;
    res.id = batch[i].id;
    res.duplicate = int_of(r->element[2 * i]) == 1;
    res.seq = u64_of(r->element[2 * i + 1]);
    if (res.duplicate) {
      auto st = eval(sc_status, {"seq", std::to_string(res.seq)}, "append",
                     gen_check::none);
      if (is_array(st.get()) && st->elements >= 2)
        res.original = aggregate(read_statuses(st.get(), 2));
    } else {
      batch[i].seq = res.seq;
      if (batch[i].created_at == 0)
        batch[i].created_at = now;
    }
    out.push_back(std::move(res));
  }
  return out;
}

std::vector<event> redis_store::read_group(const std::string& group, size_t max,
                                           millis_t now) {
  auto dls = read_impl(group, max, now, "", 0);
  std::vector<event> out;
  out.reserve(dls.size());
  for (auto& dl : dls)
    out.push_back(std::move(dl.ev));
  return out;
}

std::vector<delivery>
redis_store::read_leased(const std::string& group, size_t max, millis_t now,
                         const std::string& holder, millis_t ttl, uint32_t) {
  // Only entries without a state get a lease (a first claim), so the crash
  // budget never decides here.
  return read_impl(group, max, now, holder, ttl);
}

std::vector<delivery>
redis_store::read_impl(const std::string& group, size_t max, millis_t now,
                       const std::string& holder, millis_t ttl) {
  gen_.take_notice("read_group");
  if (max == 0) {
    // Still reports an unknown group.
    auto r = command({"HEXISTS", key("groups"), group}, "read_group");
    if (int_of(r.get()) != 1)
      fail("read_group", "unknown group '" + group + "'",
           store_error::kind::unknown_group);
    return {};
  }
  // A native XREADGROUP (its entries go to the client without passing
  // through a script) between two small scripts, in one MULTI/EXEC so
  // that nothing runs in between: the first notes the group's last
  // delivered seq, the second mirrors what the XREADGROUP delivered into
  // the PEL mirror (and acknowledges entries of other types); the last
  // command checks the store generation. The scripts go as EVAL (cached
  // by the server after the first): a server that lost its script cache
  // must not run the XREADGROUP without them.
  const std::string op = "read_group";
  std::vector<delivery> out;
  auto ttl_arg = ttl > 0 ? std::to_string(ttl) : std::string{};
  while (out.size() < max) {
    auto want = max - out.size();
    auto rs = conn_.pipeline(
      {{"MULTI"},
       {"EVAL", script_text(sc_read_before), "0", keys_.prefix(), group, ""},
       {"XREADGROUP", "GROUP", group, opts_.consumer, "COUNT",
        std::to_string(want), "STREAMS", key("log"), ">"},
       {"EVAL", script_text(sc_read_after), "0", keys_.prefix(), group,
        std::to_string(now), ttl > 0 ? holder : std::string{}, ttl_arg, ""},
       {"EVAL", script_text(sc_gen_check), "0", keys_.prefix(), gen_.token()},
       {"EXEC"}},
      op, false);
    for (auto& r : rs)
      if (r->type == REDIS_REPLY_ERROR)
        keys_.fail_reply(r.get(), op, group);
    auto* ex = rs.back().get();
    if (!is_array(ex) || ex->elements != 4)
      fail(op, "unexpected reply to the read transaction");
    // A new generation first: the group is then unknown as well.
    if (ex->element[3]->type == REDIS_REPLY_ERROR) {
      gen_.check_error(str_of(ex->element[3]), op, gen_check::reader);
      keys_.fail_reply(ex->element[3], op, group);
    }
    for (size_t i = 0; i < 3; ++i)
      if (ex->element[i]->type == REDIS_REPLY_ERROR)
        keys_.fail_reply(ex->element[i], op, group);
    auto* got = ex->element[1];
    auto* mirrored = ex->element[2];
    if (!is_array(got) || got->elements == 0 || !is_array(got->element[0])
        || got->element[0]->elements < 2)
      break; // Nothing new.
    auto* entries = got->element[0]->element[1];
    if (!is_array(entries) || !is_array(mirrored) || mirrored->elements < 3)
      fail(op, "unexpected reply to the read transaction");
    bool all = int_of(mirrored->element[0]) == 1;
    // Leases: seq q >= first has epoch base + q - first (base 0: none).
    auto base = u64_of(mirrored->element[1]);
    auto first = u64_of(mirrored->element[2]);
    // The seqs to hand out, unless the group takes every entry.
    std::unordered_set<uint64_t> take;
    for (size_t i = 3; i < mirrored->elements; ++i)
      take.insert(u64_of(mirrored->element[i]));
    for (size_t i = 0; i < entries->elements; ++i) {
      auto* e = entries->element[i];
      if (!is_array(e) || e->elements < 2)
        continue;
      delivery dl;
      dl.ev = decode_event(e->element[0], e->element[1]);
      if (!all && take.count(dl.ev.seq) == 0)
        continue;
      // Delayed: the schedule hands it out (read_after acknowledged it).
      if (dl.ev.not_before > 0)
        continue;
      if (base > 0 && dl.ev.seq >= first) {
        dl.epoch = base + (dl.ev.seq - first);
        dl.lease_until = now + ttl;
      }
      dl.group = group;
      out.push_back(std::move(dl));
    }
    // Entries of other types were skipped: read on while the log may hold
    // more (a short read means it does not).
    if (all || entries->elements < want)
      break;
  }
  return out;
}

std::vector<event> redis_store::reclaim(const std::string& group, millis_t now,
                                        millis_t min_idle, size_t max) {
  gen_.take_notice("reclaim");
  auto r = eval(sc_reclaim,
                {group, opts_.consumer, std::to_string(now),
                 std::to_string(now - min_idle), std::to_string(max)},
                "reclaim", gen_check::reader, group);
  std::vector<event> out;
  if (!is_array(r.get()))
    return out;
  for (size_t i = 0; i < r->elements; ++i) {
    auto* e = r->element[i];
    if (!is_array(e) || e->elements < 2)
      continue;
    out.push_back(decode_event(e->element[0], e->element[1]));
  }
  std::sort(out.begin(), out.end(),
            [](const event& a, const event& b) { return a.seq < b.seq; });
  return out;
}

uint64_t redis_store::backlog(const std::string& group) {
  gen_.take_notice("backlog");
  constexpr size_t chunk = 10'000;
  std::string after;
  uint64_t pending = 0;
  uint64_t unread = 0;
  bool first = true;
  do {
    auto r = eval(sc_backlog, {group, after, std::to_string(chunk)}, "backlog",
                  gen_check::reader, group);
    if (!is_array(r.get()) || r->elements != 3)
      fail("backlog", "unexpected reply from the backlog script");
    if (first)
      pending = u64_of(r->element[0]);
    first = false;
    unread += u64_of(r->element[1]);
    after = str_of(r->element[2]);
  } while (!after.empty());
  return pending + unread;
}

event redis_store::find(const std::string& id) {
  auto r = eval(sc_find, {id}, "find", gen_check::none);
  if (!is_array(r.get()) || r->elements < 2)
    return event{};
  return decode_event(r->element[0], r->element[1]);
}

// -- lease_port --------------------------------------------------------------

std::vector<claim_decision>
redis_store::claim(const std::vector<claim_request>& reqs,
                   const std::string& holder, millis_t now, millis_t ttl,
                   uint32_t crash_budget) {
  if (reqs.empty())
    return {};
  return on_current_generation(
    [&] { return claim_once(reqs, holder, now, ttl, crash_budget); });
}

std::vector<claim_decision>
redis_store::claim_once(const std::vector<claim_request>& reqs,
                        const std::string& holder, millis_t now, millis_t ttl,
                        uint32_t crash_budget) {
  std::vector<claim_decision> out;
  std::vector<std::string> args;
  args.reserve(5 + reqs.size() * (gen_.verify() ? 4 : 3));
  args.push_back(holder);
  args.push_back(std::to_string(now));
  args.push_back(std::to_string(ttl));
  args.push_back(std::to_string(crash_budget));
  args.push_back(gen_.verify() ? "1" : "0");
  for (auto& rq : reqs) {
    args.push_back(rq.group);
    args.push_back(std::to_string(rq.seq));
    // A dead listener's lease to revoke goes as the negative epoch.
    args.push_back(rq.crashed && rq.takeover != 0
                     ? "-" + std::to_string(rq.takeover)
                     : std::to_string(rq.takeover));
    if (gen_.verify())
      args.push_back(rq.event_id);
  }
  auto r = eval(sc_claim, std::move(args), "claim", gen_check::check);
  if (!is_array(r.get()) || r->elements != reqs.size() * 4)
    fail("claim", "unexpected reply from the claim script");
  out.reserve(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    claim_decision d;
    d.kind = static_cast<claim_decision::kind_t>(int_of(r->element[4 * i]));
    d.epoch = u64_of(r->element[4 * i + 1]);
    d.expires_at = int_of(r->element[4 * i + 2]);
    d.redeliveries = static_cast<uint32_t>(int_of(r->element[4 * i + 3]));
    out.push_back(d);
  }
  return out;
}

std::vector<fence_decision>
redis_store::settle(const std::vector<settlement>& items, millis_t now) {
  if (items.empty())
    return {};
  return on_current_generation([&] { return settle_once(items, now); });
}

std::vector<fence_decision>
redis_store::settle_once(const std::vector<settlement>& items, millis_t now) {
  std::vector<fence_decision> out;
  std::vector<std::string> args;
  args.reserve(2 + items.size() * 8);
  args.push_back(std::to_string(now));
  args.push_back(gen_.verify() ? "1" : "0");
  for (auto& s : items) {
    args.push_back(std::to_string(static_cast<int>(s.kind)));
    args.push_back(s.dl.group);
    args.push_back(std::to_string(s.dl.ev.seq));
    args.push_back(std::to_string(s.dl.epoch));
    args.push_back(s.dl.ev.id);
    switch (s.kind) {
      case settle_kind::done:
        if (s.record_effect)
          args.push_back(dump(json{{"g", s.dl.group},
                                   {"i", s.dl.ev.id},
                                   {"s", s.dl.ev.seq},
                                   {"t", s.dl.ev.type},
                                   {"e", s.dl.epoch},
                                   {"a", s.dl.attempt},
                                   {"at", now}}));
        else
          args.emplace_back();
        args.push_back(codec::encode_attempts(s.dl.history));
        args.emplace_back();
        break;
      case settle_kind::retry: {
        auto doc = codec::to_json(s.dl);
        doc["attempt"] = s.dl.attempt + 1;
        doc["epoch"] = 0;
        args.push_back(std::to_string(s.due));
        args.push_back(dump(doc));
        args.emplace_back();
        break;
      }
      case settle_kind::dead:
        args.push_back(to_string(s.reason));
        args.push_back(s.error);
        args.push_back(dump(codec::to_json(s.dl)));
        break;
      default:
        args.emplace_back();
        args.emplace_back();
        args.emplace_back();
    }
  }
  auto r = eval(sc_settle, std::move(args), "settle", gen_check::check);
  if (!is_array(r.get()) || r->elements != items.size())
    fail("settle", "unexpected reply from the settle script");
  out.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i)
    out.push_back(static_cast<fence_decision>(int_of(r->element[i])));
  return out;
}

// -- retry_port --------------------------------------------------------------

std::vector<delivery> redis_store::take_due(millis_t now, size_t max) {
  // Entries are marked taken by the script that returns them: whatever was
  // taken reaches the caller, also when a later round fails (the error
  // then surfaces on the next call). An entry whose data cannot be decoded
  // is skipped (it stays in the schedule, reported when nothing else is).
  std::vector<delivery> out;
  std::string bad;
  size_t offset = 0;
  auto call = std::to_string(++take_calls_);
  while (out.size() < max) {
    auto count = max - out.size();
    reply_ptr r;
    try {
      std::vector<std::string> args{std::to_string(now),
                                    std::to_string(offset),
                                    std::to_string(count),
                                    opts_.consumer,
                                    instance_,
                                    call};
      args.insert(args.end(), hold_args_.begin(), hold_args_.end());
      r = eval(sc_due, std::move(args), "take_due", gen_check::check);
    } catch (const store_error&) {
      if (out.empty())
        throw;
      break;
    }
    if (!is_array(r.get()) || r->elements == 0)
      break;
    auto n = r->elements / 3;
    for (size_t i = 0; i < n && out.size() < max; ++i) {
      auto text = str_of(r->element[3 * i + 2]);
      if (text.empty())
        continue;
      try {
        out.push_back(codec::delivery_from_json(text));
        // The member "<group>\x1f<seq>" names the pair (a delayed first
        // attempt's document was written before its seq was known).
        auto member = str_of(r->element[3 * i]);
        auto sep = member.rfind('\x1f');
        if (sep != std::string::npos) {
          out.back().group = member.substr(0, sep);
          out.back().ev.seq = std::stoull(member.substr(sep + 1));
        }
      } catch (const codec::decode_error& ex) {
        bad = str_of(r->element[3 * i]) + ": " + ex.what();
      } catch (const std::exception&) {
        out.pop_back();
        bad = str_of(r->element[3 * i]) + ": bad member";
      }
    }
    if (n < count)
      break;
    offset += n;
  }
  if (out.empty() && !bad.empty())
    fail("take_due", "bad entry in the retry schedule (" + bad + ")");
  return out;
}

millis_t redis_store::next_due() {
  auto r = eval(sc_next_due, {opts_.consumer, instance_}, "next_due",
                gen_check::none);
  return int_of(r.get());
}

uint64_t redis_store::renew_taken(const std::vector<taken_pair>& pairs,
                                  millis_t now) {
  return mark_taken(pairs, now, "renew_taken");
}

uint64_t redis_store::release_taken(const std::vector<taken_pair>& pairs) {
  return mark_taken(pairs, -1, "release_taken");
}

uint64_t redis_store::mark_taken(const std::vector<taken_pair>& pairs,
                                 millis_t now, const std::string& op) {
  if (pairs.empty())
    return 0;
  // Marks name seqs of the current data: after a change of the store
  // generation these pairs name other entries (or none), so the call fails
  // like take_due's and changes nothing.
  std::vector<std::string> args{opts_.consumer, instance_};
  args.reserve(2 + pairs.size() * 2);
  for (auto& p : pairs) {
    args.push_back(p.group + '\x1f' + std::to_string(p.seq));
    args.push_back(now < 0 ? std::string{}
                           : std::to_string(now + take_hold(p.group)));
  }
  auto r = eval(sc_renew, std::move(args), op, gen_check::check);
  return u64_of(r.get());
}

cancel_result redis_store::cancel(const std::string& event_id, millis_t now) {
  auto r = on_current_generation([&] {
    return eval(sc_cancel, {event_id, std::to_string(now)}, "cancel",
                gen_check::check);
  });
  cancel_result out;
  if (!is_array(r.get()) || r->elements == 0)
    return out;
  if (r->elements < 3)
    fail("cancel", "unexpected reply from the cancel script");
  out.seq = u64_of(r->element[0]);
  out.delayed = int_of(r->element[1]) == 1;
  auto n = static_cast<size_t>(int_of(r->element[2]));
  if (r->elements < 3 + n)
    fail("cancel", "unexpected reply from the cancel script");
  for (size_t i = 0; i < n; ++i)
    out.cancelled.push_back(str_of(r->element[3 + i]));
  std::sort(out.cancelled.begin(), out.cancelled.end());
  out.groups = read_statuses(r.get(), 3 + n);
  std::sort(out.groups.begin(), out.groups.end(),
            [](const group_status& a, const group_status& b) {
              return a.group < b.group;
            });
  return out;
}

// -- dlq_port ----------------------------------------------------------------

dlq_page redis_store::dlq_list(const dlq_query& q) {
  dlq_page page;
  if (q.limit == 0)
    return page;
  auto r
    = eval(sc_dlq_read,
           {"list", std::to_string(q.after), std::to_string(q.limit), q.group},
           "dlq_list", gen_check::none);
  page.entries = decode_dlq(r.get(), &page.positions, nullptr, base_,
                            "dlq_list");
  return page;
}

std::vector<dlq_entry> redis_store::dlq_get(const std::string& event_id) {
  auto r = eval(sc_dlq_read, {"event", event_id}, "dlq_get", gen_check::none);
  return decode_dlq(r.get(), nullptr, nullptr, base_, "dlq_get");
}

size_t redis_store::dlq_replay(const std::string& event_id,
                               const std::string& group, millis_t now) {
  // Both steps check the generation: positions read from one data set
  // must not remove entries of another.
  auto r = eval(sc_dlq_read, {"event", event_id}, "dlq_replay",
                gen_check::check);
  std::vector<uint64_t> positions;
  std::vector<std::string> groups;
  auto entries = decode_dlq(r.get(), &positions, &groups, base_, "dlq_replay");
  std::vector<std::string> args{"replay", std::to_string(now)};
  size_t picked = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!group.empty() && groups[i] != group)
      continue;
    auto dl = entries[i].dl;
    dl.attempt = 1;
    dl.epoch = 0;
    dl.redeliveries = 0;
    args.push_back(std::to_string(positions[i]));
    args.push_back(dump(codec::to_json(dl)));
    ++picked;
  }
  if (picked == 0)
    return 0;
  auto n = eval(sc_dlq_remove, std::move(args), "dlq_replay", gen_check::check);
  return static_cast<size_t>(int_of(n.get()));
}

size_t redis_store::dlq_purge(const std::string& event_id) {
  if (event_id.empty()) {
    auto n = eval(sc_dlq_remove, {"purge_all", "0"}, "dlq_purge",
                  gen_check::none);
    return static_cast<size_t>(int_of(n.get()));
  }
  auto r = command({"SMEMBERS", key("dlq:ev:") + event_id}, "dlq_purge");
  if (!is_array(r.get()) || r->elements == 0)
    return 0;
  std::vector<std::string> args{"purge", "0"};
  for (size_t i = 0; i < r->elements; ++i)
    args.push_back(str_of(r->element[i]));
  auto n = eval(sc_dlq_remove, std::move(args), "dlq_purge", gen_check::check);
  return static_cast<size_t>(int_of(n.get()));
}

size_t redis_store::dlq_purge_group(const std::string& group) {
  if (group.empty())
    return dlq_purge("");
  // Bounded script calls: each removes at most `per_call` entries.
  constexpr size_t per_call = 1000;
  size_t total = 0;
  while (true) {
    auto n = eval(sc_dlq_remove,
                  {"purge_group", "0", group, std::to_string(per_call)},
                  "dlq_purge_group", gen_check::none);
    auto removed = static_cast<size_t>(int_of(n.get()));
    total += removed;
    if (removed < per_call)
      return total;
  }
}

// -- processed_port ----------------------------------------------------------

std::vector<processed_record>
redis_store::processed_of(const std::string& event_id) {
  auto r = eval(sc_processed_of, {event_id}, "processed_of", gen_check::none);
  auto out = decode_processed(r.get(), base_, "processed_of");
  std::sort(out.begin(), out.end(),
            [](const processed_record& a, const processed_record& b) {
              return std::tie(a.at, a.group) < std::tie(b.at, b.group);
            });
  return out;
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

std::vector<group_status> redis_store::status_of(const std::string& event_id) {
  auto r = eval(sc_status, {"id", event_id}, "status_of", gen_check::none);
  if (!is_array(r.get()) || r->elements < 2)
    return {};
  return read_statuses(r.get(), 2);
}

std::vector<group_history>
redis_store::history_of(const std::string& event_id) {
  const std::string op = "history_of";
  auto r = eval(sc_history, {event_id}, op, gen_check::none);
  auto out = decode_history(r.get(), base_, op);
  std::sort(out.begin(), out.end(),
            [](const group_history& a, const group_history& b) {
              return a.group < b.group;
            });
  return out;
}

event_listing redis_store::list_events(const event_listing_query& q) {
  auto limit = std::max<size_t>(q.limit, 1);
  auto budget = std::min<size_t>(std::max<size_t>(limit * 4, 256), 5000);
  auto r = eval(sc_list_events,
                {std::to_string(static_cast<int>(q.status)), q.group,
                 std::to_string(q.after), std::to_string(limit),
                 std::to_string(budget)},
                "list_events", gen_check::none, q.group);
  auto out = decode_listing(r.get(), q.status, base_, "list_events");
  // The script lists the groups of one seq in hash order.
  std::sort(out.items.begin(), out.items.end(),
            [](const event_listing_item& a, const event_listing_item& b) {
              return std::tie(a.seq, a.group) < std::tie(b.seq, b.group);
            });
  return out;
}

void redis_store::ping() {
  command({"PING"}, "ping");
}

} // namespace

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
