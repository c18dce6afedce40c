// Status, history and listings of the embedded store: where an event is
// for each group that matches it (ledger, DLQ, retry schedule, pending or
// accepted), every attempt, and events by status in pages.

#include "adapters/codec.hpp"
#include "adapters/embedded/sqlite_store_impl.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace onceflow::embedded {

std::vector<group_status>
sqlite_store::statuses(uint64_t seq, const std::string& type, const char* op) {
  std::vector<group_status> out;
  for (auto& kv : groups_) {
    auto& g = kv.second;
    if (seq <= g.start || !g.matches(type))
      continue;
    group_status st;
    st.group = g.name;
    if (ledger_has(g.name, seq, op))
      st.status = event_status::processed;
    else if (dlq_has(g.name, seq, op))
      st.status = event_status::dead;
    else if (is_cancelled(g.name, seq))
      st.status = event_status::cancelled;
    else if (auto* slot = retries_.find(g.name, seq))
      // A delayed first attempt waits for its time until a listener holds
      // its lease.
      st.status = !slot->delayed ? event_status::retrying
                  : leases_.held(g.name, std::to_string(seq))
                    ? event_status::in_flight
                    : event_status::scheduled;
    else if (g.pending.contains(seq))
      st.status = event_status::in_flight;
    else
      st.status = event_status::accepted;
    out.push_back(std::move(st));
  }
  return out;
}

std::vector<group_status> sqlite_store::status_of(const std::string& event_id) {
  auto ev = find(event_id);
  if (ev.seq == 0)
    return {};
  return statuses(ev.seq, ev.type, "status_of");
}

std::vector<group_history>
sqlite_store::history_of(const std::string& event_id) {
  const char* op = "history_of";
  auto ev = find(event_id);
  if (ev.seq == 0)
    return {};
  auto seq_db = static_cast<int64_t>(ev.seq);
  std::vector<group_history> out;
  auto read_delivery = [&](statement& st, const std::string& grp,
                           std::vector<attempt_record>& into) {
    query q{st, op};
    q.bind_text(1, grp).bind_int(2, seq_db);
    if (!q.step())
      return false;
    try {
      into = codec::delivery_from_json(q.text_at(0)).history;
    } catch (const codec::decode_error& e) {
      conn_.fail(op, e.what());
    }
    return true;
  };
  for (auto& gs : statuses(ev.seq, ev.type, op)) {
    group_history h;
    h.group = gs.group;
    h.status = gs.status;
    switch (gs.status) {
      case event_status::processed: {
        query q{ledger_history_, op};
        q.bind_text(1, gs.group).bind_int(2, seq_db);
        if (q.step()) {
          try {
            h.attempts = codec::decode_attempts(q.text_at(2));
          } catch (const codec::decode_error& e) {
            conn_.fail(op, e.what());
          }
          if (h.attempts.empty()) {
            // A row with an empty history (docs/architecture.md, Store
            // ports): the final attempt only.
            attempt_record r;
            r.epoch = q.u64_at(0);
            r.at = q.int_at(1);
            h.attempts.push_back(std::move(r));
          }
        }
        break;
      }
      case event_status::dead:
        read_delivery(dlq_delivery_, gs.group, h.attempts);
        break;
      default:
        read_delivery(retry_get_, gs.group, h.attempts);
        if (auto* slot = retries_.find(gs.group, ev.seq);
            slot != nullptr && !slot->taken)
          h.next_attempt_at = slot->due;
        break;
    }
    out.push_back(std::move(h));
  }
  return out;
}

event_listing sqlite_store::list_events(const event_listing_query& lq) {
  const char* op = "list_events";
  event_listing out;
  if (!lq.group.empty() && group_ptr(lq.group) == nullptr)
    return out;
  auto limit = std::max<size_t>(lq.limit, 1);
  auto budget = std::min<size_t>(std::max<size_t>(limit * 4, 256), 5000);
  // Keys only: payloads are not needed for a listing.
  query q{log_keys_, op};
  q.bind_int(1, static_cast<int64_t>(lq.after))
    .bind_int(2, static_cast<int64_t>(budget));
  std::vector<std::pair<uint64_t, event>> rows;
  while (q.step()) {
    event ev;
    ev.seq = q.u64_at(0);
    q.text_into(1, ev.id);
    q.text_into(2, ev.type);
    rows.emplace_back(ev.seq, std::move(ev));
  }
  uint64_t last = lq.after;
  bool stopped = false;
  for (auto& [seq, ev] : rows) {
    last = seq;
    for (auto& gs : statuses(seq, ev.type, op)) {
      if (gs.status != lq.status || (!lq.group.empty() && gs.group != lq.group))
        continue;
      out.items.push_back({gs.group, ev.id, ev.type, seq, gs.status});
    }
    if (out.items.size() >= limit) {
      stopped = true;
      break;
    }
  }
  // More to scan: the page ended early, or the scan used its whole budget.
  out.next = (stopped || rows.size() == budget) && last < head_ ? last : 0;
  return out;
}

} // namespace onceflow::embedded
