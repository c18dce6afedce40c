#include "adapters/mirroring_store.hpp"

namespace onceflow {

std::vector<append_result> mirroring_store::append(std::vector<event>& batch,
                                                   millis_t now,
                                                   millis_t dedup_window) {
  auto rs = target().append(batch, now, dedup_window);
  std::vector<event> fresh;
  fresh.reserve(batch.size());
  for (size_t i = 0; i < batch.size() && i < rs.size(); ++i)
    if (!rs[i].duplicate)
      fresh.push_back(batch[i]);
  if (!fresh.empty())
    sink_->accepted(fresh, now);
  return rs;
}

std::vector<fence_decision>
mirroring_store::settle(const std::vector<settlement>& items, millis_t now) {
  sink_->settling(items, now);
  // settle_ended on every way out (a throw of the store or of the sink).
  struct ended {
    record_sink& sink;
    const std::vector<settlement>& items;
    ~ended() {
      sink.settle_ended(items);
    }
  } guard{*sink_, items};
  auto ds = target().settle(items, now);
  std::vector<settlement> done;
  for (size_t i = 0; i < items.size() && i < ds.size(); ++i)
    if (ds[i] == fence_decision::ok && items[i].kind != settle_kind::release)
      done.push_back(items[i]);
  if (!done.empty())
    sink_->settled(done, now);
  return ds;
}

cancel_result mirroring_store::cancel(const std::string& event_id,
                                      millis_t now) {
  auto r = target().cancel(event_id, now);
  if (!r.cancelled.empty())
    sink_->cancelled(event_id, r.cancelled, now);
  return r;
}

size_t mirroring_store::dlq_replay(const std::string& event_id,
                                   const std::string& group, millis_t now) {
  // The entries first: the replay moves them out of the DLQ.
  auto entries = target().dlq_get(event_id);
  auto n = target().dlq_replay(event_id, group, now);
  if (n > 0) {
    std::vector<dlq_entry> moved;
    for (auto& e : entries)
      if (group.empty() || e.dl.group == group)
        moved.push_back(std::move(e));
    sink_->replayed(moved, now);
  }
  return n;
}

size_t mirroring_store::dlq_purge(const std::string& event_id) {
  auto n = target().dlq_purge(event_id);
  if (n > 0)
    sink_->purged(event_id, {}, wall_now());
  return n;
}

size_t mirroring_store::dlq_purge_group(const std::string& group) {
  auto n = target().dlq_purge_group(group);
  if (n > 0)
    sink_->purged({}, group, wall_now());
  return n;
}

} // namespace onceflow
