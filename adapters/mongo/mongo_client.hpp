#pragma once

#include "actors/logic/event.hpp"
#include "adapters/mongo/mongo_errors.hpp"
#include "config/mongo_config.hpp"

#include <bson/bson.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

// libmongoc's connection type (mongoc/mongoc.h), for with_connection.
// NOLINTNEXTLINE(modernize-use-using,bugprone-reserved-identifier)
typedef struct _mongoc_client_t mongoc_client_t;

/// The MongoDB adapter: a `mongoc_client_pool_t` and writer threads that
/// run its operations, so that actors never wait on MongoDB. One client
/// serves a whole node (every `mongo` group's listeners).
namespace onceflow::mongo {

/// One effect of the `mongo` handler: the event and the delivery that
/// produced it (a document of the processed collection).
struct processed_record {
  event ev;
  std::string group;
  std::string node;
  std::string listener;
  /// The lease epoch the attempt ran under (the deduplicator's fence).
  uint64_t epoch = 0;
  uint32_t attempt = 1;
  /// When the handler took the event (wall clock, ms).
  millis_t started_at = 0;
};

/// What became of one record.
struct write_result {
  write_verdict verdict = write_verdict::done;
  /// For retryable and permanent: why (the server's or the driver's text).
  std::string error;
  /// Done by an earlier attempt (the unique index refused a second copy).
  bool duplicate = false;
  /// For retryable: the earliest sensible next attempt, in ms from now
  /// (MongoDB cannot be reached: not before the next probe).
  millis_t retry_after = 0;
};

/// How often a client that lost MongoDB pings it, and how long the writes
/// that failed meanwhile wait at least before their retry.
constexpr millis_t probe_interval = 1000;

/// How often a client pings MongoDB while all is well (for /ready).
constexpr millis_t health_interval = 5000;

using write_callback = std::function<void(std::vector<write_result>)>;

/// An ascending index of a collection.
struct index_spec {
  std::string name;
  std::vector<std::string> keys;
  bool unique = false;
};

/// Counters of a client (for logs, tests and benchmarks).
struct client_stats {
  uint64_t bulk_writes = 0;
  uint64_t inserted = 0;
  uint64_t duplicates = 0;
  uint64_t failed = 0;
};

class client {
public:
  /// Parses `cfg.uri` and makes the pool (nothing connects yet). Throws
  /// std::invalid_argument naming what is wrong with the URI or options.
  explicit client(mongo_config cfg);

  /// Stops (see stop()).
  ~client();

  /// Fails the writes still queued (retryably: "the node is stopping"),
  /// waits for those under way and ends the writer threads; later writes
  /// fail at once. Call it before the actor system the callbacks send to
  /// goes away. Idempotent.
  void stop();

  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// For start-up (blocks up to the server selection timeout): reaches the
  /// server and creates the processed collection's indexes (idempotent).
  /// Returns what went wrong (unreachable, credentials refused, ...) or
  /// empty.
  std::string open();

  /// Creates the indexes of `collection` it lacks (an index of the same
  /// name counts as there). An index named `unique_name` that exists
  /// without being unique is an error. Blocks; returns what went wrong or
  /// empty.
  std::string ensure_indexes(const std::string& collection,
                             const std::vector<index_spec>& specs);

  /// Runs `fn` on the calling thread with a connection of the pool.
  /// Returns false without running it while MongoDB is known to be down
  /// or the client stops.
  bool with_connection(const std::function<void(mongoc_client_t*)>& fn);

  /// A call on another thread found MongoDB unreachable: as a failed
  /// write would, /ready tells it until the probe reaches the server.
  void report_unreachable(const std::string& why);

  const mongo_config& config() const;

  /// Adds the configured write concern to a write's options.
  void append_write_concern(bson_t* opts) const;

  /// Queues one unordered bulk insert of `records` into the processed
  /// collection and returns at once; `done` receives one result per record,
  /// in order, on a writer thread. While MongoDB is known to be down, every
  /// record fails retryably at once (a probe reconnects in the
  /// background).
  void write_processed(std::vector<processed_record> records,
                       write_callback done);

  /// Empty while MongoDB answers; else why not, and since when.
  std::string health() const;

  /// The server(s) and database, without credentials ("127.0.0.1:27017/db").
  std::string describe() const;

  /// The database and processed collection in use.
  const std::string& database() const;
  const std::string& processed_collection() const;

  client_stats stats() const;

private:
  struct impl;
  std::shared_ptr<impl> d_;
};

/// Debian's libmongoc initializes itself when it is loaded and keeps its
/// performance counters in /dev/shm/mongoc-<pid> until mongoc_cleanup at
/// exit. A process killed with -9 leaves that file behind, and a later
/// process with the same pid then prints "Falling back to malloc for
/// counters" on stderr. onceflow reads no counters from shared memory:
/// call this first thing in main to unlink the name (the mapping stays).
void drop_shared_counters();

} // namespace onceflow::mongo
