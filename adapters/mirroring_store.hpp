#pragma once

// A store that tells a record sink what it committed: accepted events,
// settlements the fence let through, cancels, DLQ replays and purges. The
// sink keeps records of them elsewhere (the MongoDB `events` and
// `dead_letters` collections, adapters/mongo/mongo_records.hpp). The
// store stays the truth: the sink is told after each commit, never
// before, and every read goes to the store.

#include "adapters/forwarding_store.hpp"

#include <memory>
#include <string>
#include <vector>

namespace onceflow {

/// Takes what a store committed. Calls come from several store actors
/// (ingest, lease, main), so implementations are thread-safe; they must
/// not block (queue and return).
class record_sink {
public:
  virtual ~record_sink() = default;

  /// Events `append` accepted (duplicates left out), with their seq.
  virtual void accepted(const std::vector<event>& evs, millis_t now) = 0;

  /// Settlements about to be committed (the fence may refuse some): a
  /// sink that keeps a journal writes them there first, so that a kill
  /// between the commit and `settled` loses nothing. Nothing by default.
  virtual void settling(const std::vector<settlement>& items, millis_t now) {
    (void) items;
    (void) now;
  }

  /// Settlements the store committed (release left out).
  virtual void settled(const std::vector<settlement>& items, millis_t now) = 0;
  /// The store call of `settling`'s items has returned (or failed): what
  /// `settled` did not take will not be committed by it. Nothing by
  /// default.
  virtual void settle_ended(const std::vector<settlement>& items) {
    (void) items;
  }

  /// Groups a cancel took the delayed event out of.
  virtual void cancelled(const std::string& event_id,
                         const std::vector<std::string>& groups, millis_t now)
    = 0;

  /// DLQ entries moved back into the retry schedule, due at `now`.
  virtual void replayed(const std::vector<dlq_entry>& entries, millis_t now)
    = 0;

  /// DLQ entries deleted: one event's (`event_id`), one group's (`group`),
  /// or every entry (both empty).
  virtual void
  purged(const std::string& event_id, const std::string& group, millis_t now)
    = 0;
};

using record_sink_ptr = std::shared_ptr<record_sink>;

class mirroring_store : public forwarding_store {
public:
  mirroring_store(std::shared_ptr<store> inner, record_sink_ptr sink)
    : forwarding_store(std::move(inner)), sink_(std::move(sink)) {
    // nop
  }

  std::vector<append_result> append(std::vector<event>& batch, millis_t now,
                                    millis_t dedup_window) override;
  std::vector<fence_decision> settle(const std::vector<settlement>& items,
                                     millis_t now) override;
  cancel_result cancel(const std::string& event_id, millis_t now) override;
  size_t dlq_replay(const std::string& event_id, const std::string& group,
                    millis_t now) override;
  size_t dlq_purge(const std::string& event_id) override;
  size_t dlq_purge_group(const std::string& group) override;

private:
  record_sink_ptr sink_;
};

} // namespace onceflow
