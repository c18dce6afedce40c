// The lease port of the embedded store: claims (fenced leases from the
// lease table, epochs reserved in `meta`) and settlements, which commit the
// outcome (ledger, retry schedule, DLQ, processed record) and advance the
// durable cursors in one transaction.

#include "adapters/codec.hpp"
#include "adapters/embedded/sqlite_store_impl.hpp"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace onceflow::embedded {

using codec::dump;

namespace {

/// Epochs reserved (persisted in `meta`) at a time.
constexpr uint64_t epoch_block = 1'000'000;

} // namespace

void sqlite_store::reserve_epochs(size_t n) {
  if (n == 0)
    return;
  auto last = leases_.next_epoch() + n - 1;
  if (last <= epoch_limit_)
    return;
  auto limit = last + epoch_block;
  query{meta_set_, "claim"}
    .bind_text(1, epoch_key)
    .bind_int(2, static_cast<int64_t>(limit))
    .run();
  epoch_limit_ = limit;
}

std::vector<claim_decision>
sqlite_store::claim(const std::vector<claim_request>& reqs,
                    const std::string& /*holder: not kept*/, millis_t now,
                    millis_t ttl, uint32_t crash_budget) {
  std::vector<claim_decision> out;
  out.reserve(reqs.size());
  reserve_epochs(reqs.size());
  group_state* g = nullptr;
  for (auto& r : reqs) {
    if (g == nullptr || g->name != r.group)
      g = group_ptr(r.group);
    // An entry pending for its group has not been settled, so it cannot be
    // in the ledger: only other entries (retries, replays) need the lookup.
    bool pending = g != nullptr && g->pending.contains(r.seq);
    bool done = !pending
                && (ledger_has(r.group, r.seq, "claim")
                    || is_cancelled(r.group, r.seq)
                    || settled_by_trim(r.group, r.seq, "claim"));
    out.push_back(leases_.claim(r.group, std::to_string(r.seq), now, ttl,
                                crash_budget, done, r.takeover, r.crashed));
  }
  return out;
}

std::vector<fence_decision>
sqlite_store::settle(const std::vector<settlement>& items, millis_t now) {
  std::vector<fence_decision> out(items.size(), fence_decision::stale);
  if (items.empty())
    return out;
  enum class lease_op : uint8_t { none, erase, release };
  // What to apply in memory once the transaction committed.
  struct effect {
    size_t idx;
    std::string lease_id;
    lease_op op;
    bool unpend;
    bool recorded;
  };
  std::vector<effect> effects;
  effects.reserve(items.size());
  // Pairs settled earlier in this batch: true if their lease was erased.
  std::unordered_map<std::string, bool> touched;
  touched.reserve(items.size());
  // Seqs leaving the pending lists, per group.
  std::unordered_map<group_state*, std::vector<uint64_t>> leaving;
  std::string key;
  std::string text;
  std::string reason;
  group_state* last_group = nullptr;
  transaction tx{*this, "settle"};
  for (size_t i = 0; i < items.size(); ++i) {
    auto& s = items[i];
    auto& grp = s.dl.group;
    auto seq = s.dl.ev.seq;
    auto seq_db = static_cast<int64_t>(seq);
    auto id = std::to_string(seq);
    key.assign(grp);
    key += '\x1f';
    key += id;
    auto prior = touched.find(key);
    fence_decision d;
    if (s.kind == settle_kind::dead && s.dl.epoch == 0) {
      // Crash loop: no lease was granted; commit unless already settled.
      if ((prior != touched.end() && prior->second)
          || ledger_has(grp, seq, "settle") || dlq_has(grp, seq, "settle")
          || is_cancelled(grp, seq) || settled_by_trim(grp, seq, "settle"))
        d = fence_decision::no_lease;
      else
        d = fence_decision::ok;
    } else if (prior != touched.end()) {
      d = prior->second ? fence_decision::no_lease : fence_decision::stale;
    } else {
      d = leases_.check(grp, id, s.dl.epoch, now);
    }
    out[i] = d;
    if (d != fence_decision::ok)
      continue;
    auto op = lease_op::none;
    bool unpend = false;
    bool recorded = false;
    if (s.kind == settle_kind::done) {
      query{ledger_insert_, "settle"}
        .bind_text(1, grp)
        .bind_int(2, seq_db)
        .bind_int(3, static_cast<int64_t>(s.dl.epoch))
        .bind_int(4, now)
        .bind_text(5, codec::encode_attempts(s.dl.history))
        .run();
      if (sqlite3_changes(conn_.db) == 0) {
        // Already in the ledger: never a second effect.
        out[i] = fence_decision::stale;
        continue;
      }
      recorded = s.record_effect;
      if (s.record_effect)
        query{processed_insert_, "settle"}
          .bind_text(1, grp)
          .bind_text(2, s.dl.ev.id)
          .bind_int(3, seq_db)
          .bind_text(4, s.dl.ev.type)
          .bind_int(5, static_cast<int64_t>(s.dl.epoch))
          .bind_int(6, s.dl.attempt)
          .bind_int(7, now)
          .run();
      if (retries_.has(grp, seq))
        query{retry_delete_, "settle"}
          .bind_text(1, grp)
          .bind_int(2, seq_db)
          .run();
      op = lease_op::erase;
      unpend = true;
    } else if (s.kind == settle_kind::retry) {
      auto doc = codec::to_json(s.dl);
      doc["attempt"] = s.dl.attempt + 1;
      doc["epoch"] = 0;
      text = dump(doc);
      query{retry_upsert_, "settle"}
        .bind_text(1, grp)
        .bind_int(2, seq_db)
        .bind_int(3, s.due)
        .bind_int(4, s.dl.attempt + 1)
        .bind_int(5, s.dl.redeliveries)
        .bind_text(6, text)
        .run();
      op = lease_op::release;
      unpend = true;
    } else if (s.kind == settle_kind::dead) {
      text = dump(codec::to_json(s.dl));
      reason = to_string(s.reason);
      query{dlq_insert_, "settle"}
        .bind_text(1, grp)
        .bind_int(2, seq_db)
        .bind_text(3, s.dl.ev.id)
        .bind_text(4, reason)
        .bind_text(5, s.error)
        .bind_int(6, now)
        .bind_text(7, text)
        .run();
      // Unconditional: a retry row may have been written in this batch.
      query{retry_delete_, "settle"}
        .bind_text(1, grp)
        .bind_int(2, seq_db)
        .run();
      op = lease_op::erase;
      unpend = true;
    } else {
      op = lease_op::release;
    }
    touched[key] = op == lease_op::erase;
    effects.push_back(effect{i, std::move(id), op, unpend, recorded});
    if (unpend) {
      if (last_group == nullptr || last_group->name != grp)
        last_group = group_ptr(grp);
      if (last_group != nullptr)
        leaving[last_group].push_back(seq);
    }
  }
  // Advance the durable cursors past everything settled.
  std::vector<std::pair<group_state*, uint64_t>> cursors;
  for (auto& kv : leaving) {
    auto* g = kv.first;
    auto& seqs = kv.second;
    std::sort(seqs.begin(), seqs.end());
    auto first = g->pending.first_except(seqs);
    auto cursor = first != 0 ? first - 1 : g->read_pos;
    if (cursor <= g->cursor)
      continue;
    query{group_cursor_, "settle"}
      .bind_text(1, g->name)
      .bind_int(2, static_cast<int64_t>(cursor))
      .run();
    cursors.emplace_back(g, cursor);
  }
  tx.commit();
  for (auto& e : effects) {
    auto& s = items[e.idx];
    auto& grp = s.dl.group;
    auto seq = s.dl.ev.seq;
    if (e.recorded) {
      ++processed_counts_[grp];
      ++processed_total_;
    }
    if (e.op == lease_op::erase)
      leases_.erase(grp, e.lease_id);
    else if (e.op == lease_op::release)
      leases_.release(grp, e.lease_id, s.dl.epoch, now);
    if (e.unpend) {
      if (last_group == nullptr || last_group->name != grp)
        last_group = group_ptr(grp);
      if (last_group != nullptr)
        last_group->pending.remove(seq);
    }
    if (s.kind == settle_kind::retry)
      retries_.put(grp, seq, s.due);
    else if (s.kind != settle_kind::release)
      retries_.drop(grp, seq);
  }
  for (auto& gc : cursors)
    gc.first->cursor = gc.second;
  return out;
}

bool sqlite_store::is_done(const std::string& group, uint64_t seq) {
  return ledger_has(group, seq, "is_done");
}

} // namespace onceflow::embedded
