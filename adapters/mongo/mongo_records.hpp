#pragma once

#include "adapters/mirroring_store.hpp"
#include "adapters/mongo/mongo_client.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

/// The optional MongoDB records of a core node (docs/mongodb.md): the
/// `events` collection (one document per accepted event, its status per
/// group) and the `dead_letters` archive (every death with its attempts).
/// A record_sink: the node's stores tell it what they committed, and one
/// writer thread brings it to MongoDB in bulk, in order, retrying while
/// MongoDB is away.
namespace onceflow::mongo {

/// Orders the changes of one (event, group) pair, so that the latest wins
/// whatever order the changes reach MongoDB in (several nodes write; a
/// change may wait out an outage): 4 * epoch + phase, with phase 0 for
/// accepted or scheduled (epoch 0), 1 for cancelled (epoch 0), 2 for a
/// settlement under `epoch`, 3 for a replay of an entry that died under
/// `epoch`. Epochs only grow (the deduplicator's fence), and a pair's
/// record is `$max`ed with `v` as its first field.
uint64_t record_version(uint64_t epoch, unsigned phase);

/// The position of a dead letter in GET /failed-events: its death time
/// (ms) times 1024 plus 10 bits of a hash of (event id, group), so that
/// two deaths of one millisecond rarely share one (a page never ends
/// between two that do).
int64_t dead_letter_position(const std::string& event_id,
                             const std::string& group, millis_t dead_at);

struct records_stats {
  /// Changes waiting for MongoDB (queued or being written).
  uint64_t queued = 0;
  /// Changes MongoDB took.
  uint64_t written = 0;
  /// Changes dropped because the queue was full (MongoDB away too long).
  uint64_t dropped = 0;
  /// Changes MongoDB refused (logged with its error).
  uint64_t failed = 0;
  /// Written event changes waiting to be read back (a second after
  /// their write).
  uint64_t unchecked = 0;
  /// Written event changes the read-back did not find in their document
  /// (lost to another client's update of it) and wrote again.
  uint64_t repaired = 0;
};

/// Most changes waiting for MongoDB (also at most 256 MiB of them); beyond
/// it the oldest go (counted in `dropped` and logged): the store keeps
/// every event, and a node must not run out of memory while MongoDB is
/// away.
constexpr size_t max_queued_records = 200000;

class records : public record_sink {
public:
  /// `groups`: the node's listener groups (which groups an accepted event
  /// goes to; the status index of each). The client's config says which
  /// records are on and who answers the listings. `journal`: a file that
  /// keeps the changes not written yet (empty: none); what an earlier run
  /// left in it is queued first. Throws std::runtime_error if it cannot be
  /// opened.
  records(std::shared_ptr<client> c, std::vector<group_spec> groups,
          std::string journal = {});
  ~records() override;

  records(const records&) = delete;
  records& operator=(const records&) = delete;

  /// Creates the records' indexes (blocks). Returns what went wrong.
  std::string open();

  /// Writes what is queued for at most `grace` ms (while MongoDB answers),
  /// then ends the writer; later changes are dropped. Idempotent.
  void stop(millis_t grace);

  /// Waits until nothing is queued or waiting to be read back (true) or
  /// `timeout` ms passed (false).
  bool flush(millis_t timeout);

  records_stats stats() const;

  void accepted(const std::vector<event>& evs, millis_t now) override;
  void settling(const std::vector<settlement>& items, millis_t now) override;
  void settled(const std::vector<settlement>& items, millis_t now) override;
  void settle_ended(const std::vector<settlement>& items) override;

  /// Deaths an earlier run journaled as about to be committed but was
  /// killed before it saw the commit: each is archived if `dlq_of` (the
  /// store's DLQ entries of an event) holds it, with the store's entry.
  /// Called once at start, before the store's actors run; until then the
  /// journal keeps them.
  void reconcile(
    const std::function<std::vector<dlq_entry>(const std::string&)>& dlq_of);
  void cancelled(const std::string& event_id,
                 const std::vector<std::string>& groups, millis_t now) override;
  void replayed(const std::vector<dlq_entry>& entries, millis_t now) override;
  void purged(const std::string& event_id, const std::string& group,
              millis_t now) override;

  /// The listings of GET /events?status= and GET /failed-events from the
  /// records, for the HTTP API (on its thread; a query runs at most 5 s on
  /// the server). False leaves the request to the store: `read-from` is
  /// not "mongodb", or MongoDB cannot be read now. Dead letters are in
  /// death order; `positions` are dead_letter_position values.
  bool list_events(const event_listing_query& q, event_listing& out);
  bool dlq_list(const dlq_query& q, dlq_page& out);

  struct impl;

private:
  std::shared_ptr<impl> d_;
};

} // namespace onceflow::mongo
