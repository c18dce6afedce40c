// Retention in the embedded store: the trim point that no group's unsettled
// entry and no scheduled retry lets pass, and the trim itself, one
// transaction over the log, ledger, processed records, dedup index and
// cursors.

#include "adapters/embedded/sqlite_store_impl.hpp"

#include <algorithm>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

namespace onceflow::embedded {

uint64_t sqlite_store::trim_bound() const {
  auto bound = head_ + 1;
  for (auto& kv : groups_) {
    auto& g = kv.second;
    // Everything up to read_pos is settled or pending for the group (or not
    // its type); what comes after has not been read.
    auto first = g.pending.first_except({});
    bound = std::min(bound, first != 0 ? first : g.read_pos + 1);
  }
  // The lowest scheduled seq above the trim point. Entries at or below it
  // are replays of trimmed events from the DLQ: they need no log entry and
  // hold nothing back.
  if (auto first = retries_.first_above(trimmed_to_); first != 0)
    bound = std::min(bound, first);
  return bound;
}

uint64_t sqlite_store::trim(millis_t now, millis_t retention,
                            millis_t dedup_window, size_t max) {
  const char* op = "trim";
  if (max == 0)
    return 0;
  struct row {
    uint64_t seq;
    std::string id;
    millis_t created_at;
  };
  auto bound = trim_bound();
  std::vector<row> gone;
  std::vector<std::pair<std::string, uint64_t>> uncounted;
  transaction tx{*this, op};
  // The prefix below the bound, up to the first entry within retention.
  {
    query q{log_trim_scan_, op};
    q.bind_int(1, static_cast<int64_t>(bound)).bind_int(2, to_limit(max));
    while (q.step()) {
      auto created = q.int_at(2);
      // A delayed event's history counts from its time.
      if (now - std::max(created, q.int_at(3)) < retention)
        break;
      gone.push_back(row{q.u64_at(0), q.text_at(1), created});
    }
  }
  auto last = gone.empty() ? trimmed_to_ : gone.back().seq;
  if (!gone.empty()) {
    auto last_db = static_cast<int64_t>(last);
    query{log_trim_, op}.bind_int(1, last_db).run();
    query{accepted_trim_, op}.bind_int(1, last_db).run();
    query{dups_trim_, op}.bind_int(1, last_db).run();
    {
      query q{processed_trim_counts_, op};
      q.bind_int(1, last_db);
      while (q.step())
        uncounted.emplace_back(q.text_at(0), q.u64_at(1));
    }
    query{processed_trim_, op}.bind_int(1, last_db).run();
    // Per group: ledger rows (also those of DLQ replays settled below an
    // earlier trim point), purge tombstones, and the durable cursor (every
    // seq up to the trim point is settled).
    for (auto& kv : groups_) {
      auto& g = kv.second;
      query{ledger_trim_, op}.bind_text(1, g.name).bind_int(2, last_db).run();
      query{purged_trim_, op}.bind_text(1, g.name).bind_int(2, last_db).run();
      query{cancelled_trim_, op}
        .bind_text(1, g.name)
        .bind_int(2, last_db)
        .run();
      if (g.cursor < last)
        query{group_cursor_, op}
          .bind_text(1, g.name)
          .bind_int(2, last_db)
          .run();
    }
    // A dedup record still within its window keeps answering duplicate;
    // it goes later, from `dedup_trimmed`. Records that an id reused after
    // the window took over (another seq) stay.
    for (auto& r : gone) {
      auto seq_db = static_cast<int64_t>(r.seq);
      if (now - r.created_at >= dedup_window)
        query{dedup_drop_, op}.bind_text(1, r.id).bind_int(2, seq_db).run();
      else
        query{dedup_trimmed_insert_, op}
          .bind_int(1, seq_db)
          .bind_text(2, r.id)
          .bind_int(3, r.created_at)
          .run();
    }
    query{meta_set_, op}.bind_text(1, trimmed_key).bind_int(2, last_db).run();
  }
  // Dedup records of events trimmed earlier whose window has passed since,
  // oldest first, up to the first one still within its window.
  {
    std::vector<row> expired;
    {
      query q{dedup_trimmed_scan_, op};
      q.bind_int(1, to_limit(max));
      while (q.step()) {
        auto created = q.int_at(2);
        if (now - created < dedup_window)
          break;
        expired.push_back(row{q.u64_at(0), q.text_at(1), created});
      }
    }
    for (auto& r : expired)
      query{dedup_drop_, op}
        .bind_text(1, r.id)
        .bind_int(2, static_cast<int64_t>(r.seq))
        .run();
    if (!expired.empty())
      query{dedup_trimmed_delete_, op}
        .bind_int(1, static_cast<int64_t>(expired.back().seq))
        .run();
  }
  tx.commit();
  trimmed_to_ = last;
  for (auto& [grp, n] : uncounted) {
    auto& count = processed_counts_[grp];
    auto k = std::min(count, n);
    count -= k;
    processed_total_ -= std::min(processed_total_, k);
  }
  for (auto& kv : groups_) {
    auto& g = kv.second;
    g.cursor = std::max(g.cursor, last);
    g.skip.erase(g.skip.begin(), g.skip.upper_bound(last));
  }
  // Cancelled pairs of trimmed entries: a claim of them answers done as
  // settled_by_trim.
  for (auto i = cancelled_.begin(); i != cancelled_.end();)
    i = i->second <= last ? cancelled_.erase(i) : std::next(i);
  return gone.size();
}

} // namespace onceflow::embedded
