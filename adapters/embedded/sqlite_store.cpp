// The embedded store: opening (the state kept in memory is loaded from the
// database), the lookups several ports share, and make_sqlite_store. The
// port calls are in a file per port (see sqlite_store_impl.hpp).

#include "adapters/embedded/sqlite_store.hpp"

#include "adapters/embedded/sqlite_codec.hpp"
#include "adapters/embedded/sqlite_store_impl.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

namespace onceflow {

namespace embedded {

sqlite_store::sqlite_store(const sqlite_options& opts)
  : conn_(opts), node_(opts.node) {
  load();
}

void sqlite_store::load() {
  {
    query q{meta_get_, "open"};
    q.bind_text(1, epoch_key);
    if (q.step())
      epoch_limit_ = q.u64_at(0);
  }
  leases_ = lease_table{epoch_limit_ + 1};
  {
    query q{processed_counts_all_, "open"};
    while (q.step()) {
      auto n = q.u64_at(1);
      processed_counts_[q.text_at(0)] += n;
      processed_total_ += n;
    }
  }
  {
    query q{meta_get_, "open"};
    q.bind_text(1, trimmed_key);
    if (q.step())
      trimmed_to_ = q.u64_at(0);
  }
  {
    query q{log_head_, "open"};
    if (q.step())
      head_ = q.u64_at(0);
  }
  // Seqs are never reused, also when the trim took every entry.
  head_ = std::max(head_, trimmed_to_);
  // Tombstones of purged DLQ entries matter only above a group's cursor.
  conn_.exec("DELETE FROM purged WHERE NOT EXISTS (SELECT 1 FROM groups "
             "WHERE groups.name=purged.grp AND groups.cursor<purged.seq)",
             "open");
  {
    query q{group_all_, "open"};
    while (q.step()) {
      group_state g;
      g.name = q.text_at(0);
      g.patterns = decode_patterns(conn_, q.text_at(1));
      g.start = q.u64_at(2);
      g.cursor = q.u64_at(3);
      g.read_pos = g.cursor;
      auto name = g.name;
      groups_.emplace(std::move(name), std::move(g));
    }
  }
  for (auto& kv : groups_) {
    auto& g = kv.second;
    query q{group_settled_, "open"};
    q.bind_text(1, g.name).bind_int(2, static_cast<int64_t>(g.cursor));
    while (q.step())
      g.skip.insert(q.u64_at(0));
  }
  {
    query q{retry_all_, "open"};
    while (q.step())
      retries_.put(q.text_at(0), q.u64_at(1), q.int_at(2), q.int_at(3) != 0);
  }
  {
    query q{cancelled_all_, "open"};
    while (q.step())
      cancelled_.emplace(q.text_at(0), q.u64_at(1));
  }
}

group_state& sqlite_store::group_ref(const std::string& name, const char* op) {
  auto* g = group_ptr(name);
  if (g == nullptr)
    conn_.fail(op, ("unknown group '" + name + "'").c_str(),
               store_error::kind::unknown_group);
  return *g;
}

bool sqlite_store::ledger_has(const std::string& group, uint64_t seq,
                              const char* op) {
  query q{ledger_has_, op};
  q.bind_text(1, group).bind_int(2, static_cast<int64_t>(seq));
  return q.step();
}

bool sqlite_store::dlq_has(const std::string& group, uint64_t seq,
                           const char* op) {
  query q{dlq_has_, op};
  q.bind_text(1, group).bind_int(2, static_cast<int64_t>(seq));
  return q.step();
}

void sqlite_store::ping() {
  query q{log_head_, "ping"};
  q.step();
}

} // namespace embedded

store_ptr make_sqlite_store(const sqlite_options& opts) {
  return std::make_unique<embedded::sqlite_store>(opts);
}

} // namespace onceflow
