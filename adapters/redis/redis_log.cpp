// The log port of the Redis store: groups, appends (with dedup and delayed
// events), reads (a native XREADGROUP between two small scripts, in one
// MULTI), reclaims, the backlog and lookups by id.

#include "adapters/codec.hpp"
#include "adapters/redis/redis_store_impl.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace onceflow {

namespace {

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

} // namespace

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
  args.push_back(opts_.consumer);
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

namespace {

/// The fields of "<a>:<b>:<c>...": the first `n` split at ':', the rest
/// (a node name may hold ':') last; fewer if there are not that many.
std::vector<std::string> split_fields(const std::string& x, size_t n) {
  std::vector<std::string> out;
  size_t at = 0;
  while (out.size() + 1 < n) {
    auto i = x.find(':', at);
    if (i == std::string::npos)
      return out;
    out.push_back(x.substr(at, i - at));
    at = i + 1;
  }
  out.push_back(x.substr(at));
  return out;
}

uint64_t u64_or_zero(const std::string& x) {
  try {
    return std::stoull(x);
  } catch (const std::exception&) {
    return 0;
  }
}

} // namespace

acceptance_record redis_store::acceptance(uint64_t seq) {
  // The append index `log:a`: per append call "<first>:<last>:<node>",
  // score its first seq; `dups` field <seq>: "<count>:<first>:<last>:<node>"
  // (scripts/append.lua).
  auto s = std::to_string(seq);
  auto rs = conn_.pipeline(
    {{"ZREVRANGEBYSCORE", key("log:a"), s, "-inf", "LIMIT", "0", "1"},
     {"HGET", key("dups"), s}},
    "acceptance");
  for (auto& r : rs)
    if (r->type == REDIS_REPLY_ERROR)
      keys_.fail_reply(r.get(), "acceptance", {});
  acceptance_record out;
  if (rs.size() == 2 && is_array(rs[0].get()) && rs[0]->elements > 0) {
    auto f = split_fields(str_of(rs[0]->element[0]), 3);
    if (f.size() == 3 && seq <= u64_or_zero(f[1]))
      out.node = f[2];
  }
  if (rs.size() == 2 && rs[1] && rs[1]->type == REDIS_REPLY_STRING) {
    auto f = split_fields(str_of(rs[1].get()), 4);
    if (f.size() == 4) {
      out.duplicates = u64_or_zero(f[0]);
      out.first_duplicate_at = static_cast<millis_t>(u64_or_zero(f[1]));
      out.last_duplicate_at = static_cast<millis_t>(u64_or_zero(f[2]));
      out.last_duplicate_node = f[3];
    }
  }
  return out;
}

uint64_t redis_store::head() {
  auto r = command({"GET", key("seq")}, "head");
  return u64_of(r.get());
}

} // namespace onceflow
