// The retry schedule, the DLQ and the processed records of the embedded
// store: due retries, listing, lookup, replay and purge of dead entries,
// and the effect records with their counts.

#include "adapters/codec.hpp"
#include "adapters/embedded/sqlite_codec.hpp"
#include "adapters/embedded/sqlite_store_impl.hpp"

#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace onceflow::embedded {

using codec::dump;

// -- retry_port ------------------------------------------------------------

std::vector<delivery> sqlite_store::take_due(millis_t now, size_t max) {
  auto picked = retries_.due(now, max);
  std::vector<delivery> out;
  out.reserve(picked.size());
  std::string text;
  for (auto& t : picked) {
    query q{retry_get_, "take_due"};
    q.bind_text(1, std::get<2>(t))
      .bind_int(2, static_cast<int64_t>(std::get<1>(t)));
    if (!q.step())
      continue;
    q.text_into(0, text);
    out.push_back(decode_delivery(conn_, text));
  }
  retries_.take(picked);
  return out;
}

uint64_t sqlite_store::renew_taken(const std::vector<taken_pair>& pairs,
                                   millis_t) {
  uint64_t n = 0;
  for (auto& p : pairs)
    if (retries_.is_taken(p.group, p.seq))
      ++n;
  return n;
}

uint64_t sqlite_store::release_taken(const std::vector<taken_pair>& pairs) {
  uint64_t n = 0;
  for (auto& p : pairs)
    if (retries_.untake(p.group, p.seq))
      ++n;
  return n;
}

cancel_result sqlite_store::cancel(const std::string& event_id, millis_t now) {
  const char* op = "cancel";
  cancel_result out;
  auto ev = find(event_id);
  if (ev.seq == 0)
    return out;
  out.seq = ev.seq;
  out.delayed = ev.not_before > 0;
  if (out.delayed) {
    auto id = std::to_string(ev.seq);
    auto seq_db = static_cast<int64_t>(ev.seq);
    transaction tx{*this, op};
    for (auto& kv : groups_) {
      auto& g = kv.second;
      auto* slot = retries_.find(g.name, ev.seq);
      // Not claimed yet: no lease was ever granted on the pair.
      if (slot == nullptr || !slot->delayed || leases_.known(g.name, id))
        continue;
      query{retry_delete_, op}.bind_text(1, g.name).bind_int(2, seq_db).run();
      query{cancelled_insert_, op}
        .bind_text(1, g.name)
        .bind_int(2, seq_db)
        .bind_int(3, now)
        .run();
      out.cancelled.push_back(g.name);
    }
    tx.commit();
    for (auto& grp : out.cancelled) {
      retries_.drop(grp, ev.seq);
      cancelled_.emplace(grp, ev.seq);
    }
  }
  out.groups = statuses(ev.seq, ev.type, op);
  return out;
}

// -- dlq_port --------------------------------------------------------------

namespace {

/// Reads pos, delivery, reason, error, dead_at from the current row.
dlq_entry read_dlq_entry(const connection& conn, const query& q) {
  dlq_entry e;
  e.dl = decode_delivery(conn, q.text_at(1));
  if (!parse_dlq_reason(q.text_at(2), e.reason))
    conn.fail("decode dlq entry", "bad reason");
  q.text_into(3, e.last_error);
  e.dead_at = q.int_at(4);
  return e;
}

} // namespace

dlq_page sqlite_store::dlq_list(const dlq_query& dq) {
  dlq_page page;
  query q{dlq_list_, "dlq_list"};
  q.bind_int(1, static_cast<int64_t>(dq.after))
    .bind_text(2, dq.group)
    .bind_int(3, to_limit(dq.limit));
  while (q.step()) {
    page.positions.push_back(q.u64_at(0));
    page.entries.push_back(read_dlq_entry(conn_, q));
  }
  return page;
}

std::vector<dlq_entry> sqlite_store::dlq_get(const std::string& event_id) {
  std::vector<dlq_entry> out;
  query q{dlq_of_event_, "dlq_get"};
  q.bind_text(1, event_id);
  while (q.step())
    out.push_back(read_dlq_entry(conn_, q));
  return out;
}

size_t sqlite_store::dlq_replay(const std::string& event_id,
                                const std::string& group, millis_t now) {
  struct row {
    int64_t pos;
    std::string grp;
    int64_t seq;
    std::string text;
  };
  std::vector<row> rows;
  transaction tx{*this, "dlq_replay"};
  {
    query q{dlq_of_event_, "dlq_replay"};
    q.bind_text(1, event_id);
    while (q.step()) {
      auto grp = q.text_at(5);
      if (!group.empty() && grp != group)
        continue;
      auto dl = decode_delivery(conn_, q.text_at(1));
      dl.attempt = 1;
      dl.epoch = 0;
      dl.redeliveries = 0;
      rows.push_back(row{q.int_at(0), std::move(grp), q.int_at(6),
                         dump(codec::to_json(dl))});
    }
  }
  for (auto& r : rows) {
    query{retry_upsert_, "dlq_replay"}
      .bind_text(1, r.grp)
      .bind_int(2, r.seq)
      .bind_int(3, now)
      .bind_int(4, 1)
      .bind_int(5, 0)
      .bind_text(6, r.text)
      .run();
    query{dlq_delete_, "dlq_replay"}.bind_int(1, r.pos).run();
  }
  tx.commit();
  for (auto& r : rows)
    retries_.put(r.grp, static_cast<uint64_t>(r.seq), now);
  return rows.size();
}

size_t sqlite_store::dlq_purge(const std::string& event_id) {
  struct row {
    int64_t pos;
    std::string grp;
    uint64_t seq;
  };
  std::vector<row> rows;
  transaction tx{*this, "dlq_purge"};
  if (event_id.empty()) {
    query q{dlq_all_, "dlq_purge"};
    while (q.step())
      rows.push_back(row{q.int_at(0), q.text_at(1), q.u64_at(2)});
  } else {
    query q{dlq_of_event_, "dlq_purge"};
    q.bind_text(1, event_id);
    while (q.step())
      rows.push_back(row{q.int_at(0), q.text_at(5), q.u64_at(6)});
  }
  for (auto& r : rows) {
    // Above the cursor, a tombstone keeps a restart from redelivering it.
    auto* g = group_ptr(r.grp);
    if (g != nullptr && r.seq > g->cursor)
      query{purged_insert_, "dlq_purge"}
        .bind_text(1, r.grp)
        .bind_int(2, static_cast<int64_t>(r.seq))
        .run();
    query{dlq_delete_, "dlq_purge"}.bind_int(1, r.pos).run();
  }
  tx.commit();
  return rows.size();
}

size_t sqlite_store::dlq_purge_group(const std::string& group) {
  transaction tx{*this, "dlq_purge_group"};
  // Above a group's cursor, tombstones keep a restart from redelivering
  // the purged pairs (as dlq_purge does one by one).
  auto tombstones = [this](const group_state& g) {
    query{purged_insert_group_, "dlq_purge_group"}
      .bind_text(1, g.name)
      .bind_int(2, static_cast<int64_t>(g.cursor))
      .run();
  };
  if (group.empty()) {
    for (auto& entry : groups_)
      tombstones(entry.second);
    query{dlq_delete_all_, "dlq_purge_group"}.run();
  } else {
    if (auto* g = group_ptr(group))
      tombstones(*g);
    query{dlq_delete_group_, "dlq_purge_group"}.bind_text(1, group).run();
  }
  auto n = static_cast<size_t>(sqlite3_changes(conn_.db));
  tx.commit();
  return n;
}

uint64_t sqlite_store::dlq_size() {
  query q{dlq_count_, "dlq_size"};
  return q.step() ? q.u64_at(0) : 0;
}

uint64_t sqlite_store::dlq_count(const std::string& group) {
  query q{dlq_count_group_, "dlq_count"};
  q.bind_text(1, group);
  return q.step() ? q.u64_at(0) : 0;
}

// -- processed_port --------------------------------------------------------

uint64_t sqlite_store::processed_count(const std::string& group) {
  // Counted in memory: a COUNT(*) would scan the table on every status.
  if (group.empty())
    return processed_total_;
  auto i = processed_counts_.find(group);
  return i != processed_counts_.end() ? i->second : 0;
}

std::vector<processed_record>
sqlite_store::processed_of(const std::string& event_id) {
  std::vector<processed_record> out;
  // Keyed by seq (inserts in log order are cheap): find the event's seq.
  auto ev = find(event_id);
  if (ev.seq == 0)
    return out;
  query q{processed_of_, "processed_of"};
  q.bind_int(1, static_cast<int64_t>(ev.seq));
  while (q.step()) {
    processed_record r;
    q.text_into(0, r.group);
    q.text_into(1, r.event_id);
    r.seq = q.u64_at(2);
    q.text_into(3, r.type);
    r.epoch = q.u64_at(4);
    r.attempt = static_cast<uint32_t>(q.int_at(5));
    r.at = q.int_at(6);
    out.push_back(std::move(r));
  }
  return out;
}

} // namespace onceflow::embedded
