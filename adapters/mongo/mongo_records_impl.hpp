#pragma once

// The internals of the MongoDB records (mongo_records.cpp: the writer and
// its life cycle; mongo_records_changes.cpp: the store's notifications as
// changes; mongo_records_journal.cpp: the journal;
// mongo_records_reads.cpp: the listings for the HTTP API): the change
// model and records::impl. Included only by those files.

#include "adapters/mongo/mongo_records.hpp"

#include <mongoc/mongoc.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

namespace onceflow::mongo {

namespace detail {

/// The state of one (event, group) pair at a version.
struct group_change {
  std::string group;
  uint64_t v = 0;
  event_status status = event_status::accepted;
  millis_t at = 0;
  uint32_t attempt = 0;
  std::string error;
  millis_t next_at = 0;
};

/// A change of one event's document. `set_event`: the event's fields are
/// written (acceptance); else, with `has_event`, only if the document is
/// new (a settlement that got there first).
struct event_change {
  std::string id;
  event ev;
  bool has_event = false;
  bool set_event = false;
  millis_t accepted_at = 0;
  std::vector<group_change> groups;
};

/// A death for the archive.
struct dead_change {
  dlq_entry e;
  uint64_t v = 0;
};

/// Marks the archive's entries of an event and/or group (both empty: all)
/// with `field` ("replayedAt", "purgedAt"): for a replay, the deaths of the
/// pair below version `below` (a later death of the replayed event stays
/// unmarked); for a purge, those dead at or before `at`. An entry marked
/// already keeps its time ($min).
struct mark_change {
  std::string event_id;
  std::string group;
  const char* field = "";
  millis_t at = 0;
  uint64_t below = 0;
};

/// A death about to be committed (journaled so that a kill between the
/// store's commit and `settled` does not lose its archive entry).
struct tentative_death {
  std::string event_id;
  std::string group;
  uint64_t v = 0;

  std::string key() const {
    return event_id + '\x1f' + group + '\x1f' + std::to_string(v);
  }
};

struct queued {
  std::variant<event_change, dead_change, mark_change> c;
  int tries = 0;
  /// Bytes it holds (for the queue's budget).
  size_t bytes = 0;
  /// Not written before this time (a mark waiting for its death); for a
  /// written event change waiting in `checks`, when it is read back.
  millis_t due = 0;
  /// Rewrites after a read-back missed it.
  int repairs = 0;
};

/// The bytes a change of `ev` holds (for the queue's budget).
size_t bytes_of(const event& ev);

/// True at most every 10 s per `last` (the time it last said true): for
/// errors that would otherwise be logged on every write.
bool time_to_log(millis_t& last);

/// How long a listing's query may run on the server (ms).
constexpr int64_t read_timeout = 5000;

/// The journal's line of a change, of a tentative death.
nlohmann::json journal_entry(const queued& x);
nlohmann::json journal_entry(const tentative_death& t);

} // namespace detail

struct records::impl {
  std::shared_ptr<client> cl;
  mongo_config cfg;
  std::vector<group_spec> groups;

  mutable std::mutex mtx;
  std::condition_variable cv;      // the writer waits for changes
  std::condition_variable idle_cv; // flush waits for the writer
  std::deque<detail::queued> q;
  size_t q_bytes = 0;
  size_t in_round = 0;
  bool stopping = false;
  /// The writer has ended: later changes are dropped (and counted).
  bool ended = false;
  /// Marks waiting for their deaths (the writer's own).
  std::vector<detail::queued> later;
  /// Written event changes to read back (in due order): kept in the
  /// journal until then.
  std::deque<detail::queued> checks;
  size_t c_bytes = 0;
  /// Deaths between `settling` and the end of their store call, and those
  /// an earlier run left (until reconcile): kept in the journal.
  std::map<std::string, std::pair<detail::tentative_death, int>> tentative;
  /// The journal (-1: none): every change pushed since the queue was last
  /// empty, so that a node killed with -9 writes them after its restart.
  int journal = -1;
  std::string journal_path;
  /// Bytes in the journal (rewritten from the queue when it grows well
  /// past what the queue holds).
  size_t journal_bytes = 0;
  millis_t last_journal_log = 0;

  ~impl() {
    if (journal >= 0)
      ::close(journal);
  }
  millis_t stop_deadline = 0;
  std::thread writer;

  std::atomic<uint64_t> written{0};
  std::atomic<uint64_t> dropped{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> repaired{0};
  millis_t last_drop_log = 0;
  millis_t last_repair_log = 0;

  // The queue and the writer (mongo_records.cpp).
  void push(std::vector<detail::queued> xs);
  void trim_queue();
  void requeue(std::vector<detail::queued>& xs);
  void run();
  bool write_round(mongoc_client_t* c, std::vector<detail::queued>& round,
                   std::vector<detail::queued>& again,
                   std::vector<detail::queued>& fresh);
  static std::vector<detail::queued> coalesce(std::vector<detail::queued> xs);
  bool execute(mongoc_bulk_operation_t* bulk, std::vector<detail::queued>& xs,
               std::vector<detail::queued>& again, bool duplicate_is_done,
               const char* what, std::vector<detail::queued>* done = nullptr);
  bool write_deads(mongoc_client_t* c, std::vector<detail::queued>& xs,
                   std::vector<detail::queued>& again);
  bool write_events(mongoc_client_t* c, std::vector<detail::queued>& xs,
                    std::vector<detail::queued>& again,
                    std::vector<detail::queued>& fresh);
  int64_t write_mark(mongoc_client_t* c, const detail::mark_change& m);
  bool read_back(mongoc_client_t* c, std::vector<detail::queued>& xs,
                 std::vector<detail::queued>& again);
  static bool shows(const bson_t* doc, const detail::event_change& e);
  void to_check(std::vector<detail::queued>& fresh,
                std::vector<detail::queued>& due, bool checked);

  // The journal (mongo_records_journal.cpp).
  void open_journal();
  void append_journal(const std::vector<detail::queued>& xs);
  void append_journal_text(const std::string& text);
  void compact_journal();
  void drained();

  // The listings (mongo_records_reads.cpp).
  template <class F>
  bool find(const std::string& collection, const bson_t* filter,
            const bson_t* opts, F&& f);
};

} // namespace onceflow::mongo
