// The log port of the embedded store: groups, appends (with the dedup
// check), reads, reclaims of idle entries, the backlog and lookups by id.

#include "adapters/codec.hpp"
#include "adapters/embedded/sqlite_codec.hpp"
#include "adapters/embedded/sqlite_store_impl.hpp"

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace onceflow::embedded {

namespace {

/// Rows scanned per query while `read_group` skips filtered entries.
constexpr int64_t min_scan = 256;

} // namespace

void sqlite_store::read_event(const query& q, event& ev) {
  ev.seq = q.u64_at(0);
  q.text_into(1, ev.id);
  q.text_into(2, ev.type);
  q.text_into(3, ev.payload);
  ev.prio = codec::priority_from_int(q.int_at(4));
  ev.created_at = q.int_at(5);
  q.text_into(6, ev.trace_id);
  ev.not_before = q.int_at(7);
}

bool sqlite_store::load_event(uint64_t seq, event& ev, const char* op) {
  query q{log_get_, op};
  q.bind_int(1, static_cast<int64_t>(seq));
  if (!q.step())
    return false;
  read_event(q, ev);
  return true;
}

void sqlite_store::ensure_group(const group_spec& spec) {
  auto text = encode_patterns(spec.patterns);
  if (auto* g = group_ptr(spec.name)) {
    if (g->patterns != spec.patterns) {
      query{group_patterns_, "ensure_group"}
        .bind_text(1, spec.name)
        .bind_text(2, text)
        .run();
      g->patterns = spec.patterns;
      g->verdicts.clear();
    }
    return;
  }
  auto start = spec.from_start ? uint64_t{0} : head_;
  query{group_insert_, "ensure_group"}
    .bind_text(1, spec.name)
    .bind_text(2, text)
    .bind_int(3, static_cast<int64_t>(start))
    .run();
  group_state g;
  g.name = spec.name;
  g.patterns = spec.patterns;
  g.start = g.cursor = g.read_pos = start;
  groups_.emplace(spec.name, std::move(g));
}

std::vector<append_result> sqlite_store::append(std::vector<event>& batch,
                                                millis_t now,
                                                millis_t dedup_window) {
  std::vector<append_result> out;
  out.reserve(batch.size());
  if (batch.empty())
    return out;
  // Delayed first attempts to put into the schedule once committed: group,
  // seq, due.
  std::vector<std::tuple<std::string, uint64_t, millis_t>> delayed;
  std::string text;
  transaction tx{*this, "append"};
  auto seq = head_;
  for (auto& ev : batch) {
    append_result r;
    r.id = ev.id;
    auto created = ev.created_at != 0 ? ev.created_at : now;
    query{dedup_upsert_, "append"}
      .bind_text(1, ev.id)
      .bind_int(2, static_cast<int64_t>(seq + 1))
      .bind_int(3, created)
      .bind_int(4, dedup_window)
      .bind_int(5, now)
      .run();
    if (sqlite3_changes(conn_.db) == 0) {
      r.duplicate = true;
      {
        query q{dedup_get_, "append"};
        q.bind_text(1, ev.id);
        if (q.step())
          r.seq = q.u64_at(0);
      }
      event orig;
      if (load_event(r.seq, orig, "append")) {
        r.original = aggregate(statuses(r.seq, orig.type, "append"));
        query{dups_add_, "append"}
          .bind_int(1, static_cast<int64_t>(r.seq))
          .bind_int(2, now)
          .bind_text(3, node_)
          .run();
      }
    } else {
      ++seq;
      query{log_insert_, "append"}
        .bind_int(1, static_cast<int64_t>(seq))
        .bind_text(2, ev.id)
        .bind_text(3, ev.type)
        .bind_text(4, ev.payload)
        .bind_int(5, static_cast<int64_t>(ev.prio))
        .bind_int(6, created)
        .bind_text(7, ev.trace_id)
        .bind_int(8, ev.not_before > 0 ? ev.not_before : 0)
        .run();
      r.seq = seq;
      if (ev.not_before > 0) {
        // Into the schedule of every group of its type, due at its time.
        delivery dl;
        dl.ev = ev;
        dl.ev.seq = seq;
        dl.ev.created_at = created;
        dl.ev.delay = 0;
        for (auto& kv : groups_) {
          auto& g = kv.second;
          if (!g.matches(ev.type))
            continue;
          dl.group = g.name;
          text = codec::dump(codec::to_json(dl));
          query{retry_insert_delayed_, "append"}
            .bind_text(1, g.name)
            .bind_int(2, static_cast<int64_t>(seq))
            .bind_int(3, ev.not_before)
            .bind_text(4, text)
            .run();
          delayed.emplace_back(g.name, seq, ev.not_before);
        }
      }
    }
    out.push_back(std::move(r));
  }
  if (seq > head_)
    query{accepted_insert_, "append"}
      .bind_int(1, static_cast<int64_t>(head_ + 1))
      .bind_int(2, static_cast<int64_t>(seq))
      .bind_text(3, node_)
      .run();
  tx.commit();
  head_ = seq;
  for (auto& [grp, q, due] : delayed)
    retries_.put(grp, q, due, true);
  for (size_t i = 0; i < batch.size(); ++i) {
    if (out[i].duplicate)
      continue;
    batch[i].seq = out[i].seq;
    if (batch[i].created_at == 0)
      batch[i].created_at = now;
  }
  return out;
}

std::vector<event> sqlite_store::read_group(const std::string& group,
                                            size_t max, millis_t now) {
  auto& g = group_ref(group, "read_group");
  std::vector<event> out;
  if (max == 0)
    return out;
  out.reserve(std::min<size_t>(max, 4096));
  std::string type;
  while (out.size() < max && g.read_pos < head_) {
    auto want = std::min<size_t>(max - out.size(), 1u << 20);
    auto limit = std::max(static_cast<int64_t>(want), min_scan);
    query q{log_range_, "read_group"};
    q.bind_int(1, static_cast<int64_t>(g.read_pos)).bind_int(2, limit);
    bool any = false;
    while (out.size() < max && q.step()) {
      any = true;
      auto seq = q.u64_at(0);
      g.read_pos = seq;
      if (!g.skip.empty() && g.skip.erase(seq) > 0)
        continue;
      // Delayed: the schedule hands it out (see append).
      if (q.int_at(7) > 0)
        continue;
      q.text_into(2, type);
      if (!g.matches(type))
        continue;
      event ev;
      read_event(q, ev);
      g.pending.add(seq, now);
      out.push_back(std::move(ev));
    }
    if (!any)
      break;
  }
  return out;
}

std::vector<event> sqlite_store::reclaim(const std::string& group, millis_t now,
                                         millis_t min_idle, size_t max) {
  auto& g = group_ref(group, "reclaim");
  std::vector<uint64_t> seqs;
  for (auto& x : g.pending.items()) {
    if (seqs.size() >= max)
      break;
    if (x.live && now - x.delivered_at >= min_idle)
      seqs.push_back(x.seq);
  }
  std::vector<event> out;
  out.reserve(seqs.size());
  for (auto seq : seqs) {
    event ev;
    if (load_event(seq, ev, "reclaim"))
      out.push_back(std::move(ev));
  }
  for (auto seq : seqs)
    if (auto* x = g.pending.find(seq))
      x->delivered_at = now;
  return out;
}

uint64_t sqlite_store::backlog(const std::string& group) {
  auto& g = group_ref(group, "backlog");
  uint64_t unread = 0;
  if (g.read_pos < head_) {
    {
      query q{log_types_, "backlog"};
      q.bind_int(1, static_cast<int64_t>(g.read_pos));
      std::string type;
      while (q.step()) {
        q.text_into(0, type);
        if (g.matches(type))
          unread += q.u64_at(1);
      }
    }
    // Entries settled before a restart are not read again (delayed ones
    // were not counted).
    event ev;
    for (auto seq : g.skip)
      if (seq > g.read_pos && unread > 0 && load_event(seq, ev, "backlog")
          && ev.not_before == 0 && g.matches(ev.type))
        --unread;
  }
  return g.pending.size() + unread;
}

acceptance_record sqlite_store::acceptance(uint64_t seq) {
  acceptance_record out;
  {
    query q{accepted_get_, "acceptance"};
    q.bind_int(1, static_cast<int64_t>(seq));
    if (q.step() && q.u64_at(0) >= seq)
      out.node = q.text_at(1);
  }
  query q{dups_get_, "acceptance"};
  q.bind_int(1, static_cast<int64_t>(seq));
  if (q.step()) {
    out.duplicates = q.u64_at(0);
    out.first_duplicate_at = q.int_at(1);
    out.last_duplicate_at = q.int_at(2);
    out.last_duplicate_node = q.text_at(3);
  }
  return out;
}

event sqlite_store::find(const std::string& id) {
  uint64_t seq = 0;
  {
    query q{dedup_get_, "find"};
    q.bind_text(1, id);
    if (q.step())
      seq = q.u64_at(0);
  }
  event ev;
  if (seq == 0 || !load_event(seq, ev, "find"))
    return event{};
  return ev;
}

} // namespace onceflow::embedded
