#include "adapters/mongo/mongo_client.hpp"

#include "adapters/mongo/mongo_bson.hpp"
#include "adapters/mongo/mongo_reply.hpp"

#include <mongoc/mongoc.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

namespace onceflow::mongo {

namespace {

/// mongoc_init once per process (Debian's build also runs it when the
/// library is loaded; its cleanup is left to the process end:
/// several clients may live one after the other), and the driver's log
/// lines into spdlog instead of stdout. The pool's monitor logs every
/// failed heartbeat at debug level; onceflow reports outages itself.
void init_driver() {
  static std::once_flag once;
  std::call_once(once, [] {
    mongoc_init();
    mongoc_log_set_handler(
      [](mongoc_log_level_t level, const char* domain, const char* message,
         void*) {
        switch (level) {
          case MONGOC_LOG_LEVEL_ERROR:
          case MONGOC_LOG_LEVEL_CRITICAL:
            spdlog::error("mongoc {}: {}", domain, message);
            break;
          case MONGOC_LOG_LEVEL_WARNING:
            // Servers without sessions (FerretDB) refuse the endSessions a
            // pool sends when it goes: nothing to warn about.
            if (std::strstr(message, "endSessions") != nullptr)
              spdlog::debug("mongoc {}: {}", domain, message);
            else
              spdlog::warn("mongoc {}: {}", domain, message);
            break;
          default:
            spdlog::debug("mongoc {}: {}", domain, message);
        }
      },
      nullptr);
  });
}

} // namespace

void drop_shared_counters() {
  // The name mongoc-counters.c gives the segment.
  auto name = "/mongoc-" + std::to_string(static_cast<unsigned>(getpid()));
  shm_unlink(name.c_str());
}

namespace {

/// A document built for a bulk write (bson_t is over-aligned: a container
/// of bson_t* would drop its alignment attribute).
struct built_doc {
  bson_t* doc = nullptr;
};

/// MongoDB's largest document (maxBsonObjectSize).
constexpr uint32_t max_document_bytes = 16 * 1024 * 1024;

/// The document of one processed record.
void build_document(bson_t* doc, const processed_record& r, millis_t now) {
  append_event(doc, r.ev);
  BSON_APPEND_UTF8(doc, "group", r.group.c_str());
  BSON_APPEND_UTF8(doc, "node", r.node.c_str());
  BSON_APPEND_UTF8(doc, "listener", r.listener.c_str());
  BSON_APPEND_INT64(doc, "epoch", static_cast<int64_t>(r.epoch));
  BSON_APPEND_INT32(doc, "attempt", static_cast<int32_t>(r.attempt));
  BSON_APPEND_DATE_TIME(doc, "startedAt", r.started_at);
  BSON_APPEND_DATE_TIME(doc, "processedAt", now);
  // From when the event was due to its effect, and in the handler.
  BSON_APPEND_INT64(doc, "latencyMs", now - due_time(r.ev));
  BSON_APPEND_INT64(doc, "handlerMs", now - r.started_at);
}

} // namespace

struct client::impl {
  mongo_config cfg;
  mongoc_uri_t* uri = nullptr;
  mongoc_client_pool_t* pool = nullptr;
  mongoc_write_concern_t* wc = nullptr;
  std::string db;
  std::string where;

  std::mutex mtx;
  /// Writers wait on `cv` for jobs, the prober on `probe_cv` for an
  /// outage (one variable for both could hand a job's wake-up to the
  /// prober).
  std::condition_variable cv;
  std::condition_variable probe_cv;
  std::deque<std::function<void(mongoc_client_t*)>> jobs;
  bool stopping = false;
  bool stopped = false;
  std::vector<std::thread> writers;
  std::thread prober;

  /// MongoDB cannot be reached: jobs fail at once; the prober pings.
  std::atomic<bool> down{false};
  std::string down_error; // guarded by mtx
  millis_t down_since = 0;

  std::atomic<uint64_t> bulk_writes{0};
  std::atomic<uint64_t> inserted{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> failed{0};

  /// Runs when the last thread that held it ended and the client is gone.
  ~impl() {
    if (pool != nullptr)
      mongoc_client_pool_destroy(pool);
    if (wc != nullptr)
      mongoc_write_concern_destroy(wc);
    if (uri != nullptr)
      mongoc_uri_destroy(uri);
  }

  void mark_down(const std::string& why) {
    std::lock_guard<std::mutex> g{mtx};
    if (!down.exchange(true)) {
      down_since = wall_now();
      spdlog::error("MongoDB {} cannot be reached: {}", where, why);
    }
    down_error = why;
    probe_cv.notify_all();
  }

  void mark_up() {
    std::lock_guard<std::mutex> g{mtx};
    if (down.exchange(false))
      spdlog::info("MongoDB {} answers again", where);
  }

  bool ping(mongoc_client_t* c, std::string& why) {
    bson_doc cmd;
    BSON_APPEND_INT32(cmd.get(), "ping", 1);
    bson_doc reply;
    bson_error_t err;
    if (mongoc_client_command_simple(c, "admin", cmd.get(), nullptr,
                                     reply.get(), &err))
      return true;
    why = text_of(err);
    if (err.domain == MONGOC_ERROR_CLIENT
        && err.code == MONGOC_ERROR_CLIENT_AUTHENTICATE)
      why = "the server refused the credentials of mongo.uri: " + why;
    return false;
  }

  bool stopping_now() {
    std::lock_guard<std::mutex> g{mtx};
    return stopping;
  }

  void run_writer() {
    for (;;) {
      std::function<void(mongoc_client_t*)> job;
      {
        std::unique_lock<std::mutex> g{mtx};
        cv.wait(g, [this] { return stopping || !jobs.empty(); });
        if (jobs.empty())
          return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      if (down.load() || stopping_now()) {
        job(nullptr);
        continue;
      }
      auto* c = mongoc_client_pool_pop(pool);
      job(c);
      mongoc_client_pool_push(pool, c);
    }
  }

  /// A ping every `probe_interval` while MongoDB is down (until it
  /// answers), else every `health_interval` (so that /ready also tells an
  /// outage on a node with nothing to write).
  void run_prober() {
    for (;;) {
      {
        std::unique_lock<std::mutex> g{mtx};
        auto wait = down.load() ? probe_interval : health_interval;
        probe_cv.wait_for(g, std::chrono::milliseconds(wait),
                          [this] { return stopping; });
        if (stopping)
          return;
      }
      auto* c = mongoc_client_pool_pop(pool);
      std::string why;
      bool ok = ping(c, why);
      mongoc_client_pool_push(pool, c);
      if (ok)
        mark_up();
      else
        mark_down(why);
    }
  }

  /// One unordered bulk insert of `docs[i]` for each i in `which`, its
  /// verdicts into `out`. Returns how many documents a failed call left
  /// unaccounted for (retryable in `out`; the error in `err`).
  size_t insert_bulk(mongoc_client_t* c, const std::vector<built_doc>& docs,
                     const std::vector<size_t>& which,
                     std::vector<write_result>& out, bson_error_t& err) {
    auto* coll = mongoc_client_get_collection(c, db.c_str(),
                                              cfg.processed_collection.c_str());
    bson_doc opts;
    BSON_APPEND_BOOL(opts.get(), "ordered", false);
    mongoc_write_concern_append(wc, opts.get());
    auto* bulk = mongoc_collection_create_bulk_operation_with_opts(coll,
                                                                   opts.get());
    std::vector<size_t> slot;
    slot.reserve(which.size());
    for (auto i : which) {
      bson_error_t e;
      if (mongoc_bulk_operation_insert_with_opts(bulk, docs[i].doc, nullptr,
                                                 &e)) {
        slot.push_back(i);
      } else {
        out[i].verdict = write_verdict::permanent;
        out[i].error = "MongoDB cannot take the document: " + text_of(e);
      }
    }
    reply_summary sum;
    if (!slot.empty()) {
      bson_doc reply;
      bool ok = mongoc_bulk_operation_execute(bulk, reply.get(), &err) != 0;
      bulk_writes.fetch_add(1);
      sum = apply_bulk_reply(reply.get(), ok, ok ? std::string{} : text_of(err),
                             slot, out);
    }
    mongoc_bulk_operation_destroy(bulk);
    mongoc_collection_destroy(coll);
    return sum.unaccounted;
  }

  std::vector<write_result>
  write_bulk(mongoc_client_t* c, const std::vector<processed_record>& rs) {
    std::vector<write_result> out(rs.size());
    auto now = wall_now();
    std::vector<built_doc> docs(rs.size());
    std::vector<size_t> which;
    which.reserve(rs.size());
    for (size_t i = 0; i < rs.size(); ++i) {
      docs[i].doc = bson_new();
      build_document(docs[i].doc, rs[i], now);
      if (docs[i].doc->len > max_document_bytes) {
        out[i].verdict = write_verdict::permanent;
        out[i].error = "the event's document has "
                       + std::to_string(docs[i].doc->len)
                       + " bytes, over MongoDB's limit of "
                       + std::to_string(max_document_bytes);
      } else {
        which.push_back(i);
      }
    }
    bson_error_t err;
    auto unaccounted = which.empty() ? 0
                                     : insert_bulk(c, docs, which, out, err);
    if (unaccounted > 0 && unreachable(err)) {
      mark_down(text_of(err));
      for (auto i : which)
        if (out[i].verdict == write_verdict::retryable)
          out[i].retry_after = probe_interval;
    } else if (unaccounted == which.size() && which.size() > 1) {
      // Refused as a whole for a reason that may be one document's (the
      // driver's checks): each alone, so that the others are written and
      // only that one fails.
      for (auto i : which)
        insert_bulk(c, docs, {i}, out, err);
    } else if (unaccounted == 0 && down.load()) {
      mark_up();
    }
    for (auto& d : docs)
      bson_destroy(d.doc);
    for (auto& r : out) {
      if (r.verdict != write_verdict::done)
        failed.fetch_add(1);
      else if (r.duplicate)
        duplicates.fetch_add(1);
      else
        inserted.fetch_add(1);
    }
    return out;
  }
};

client::client(mongo_config cfg) : d_(std::make_shared<impl>()) {
  init_driver();
  d_->cfg = std::move(cfg);
  auto& c = d_->cfg;
  bson_error_t err;
  d_->uri = mongoc_uri_new_with_error(c.uri.c_str(), &err);
  if (d_->uri == nullptr)
    throw std::invalid_argument("option 'mongo.uri' cannot be parsed: "
                                + text_of(err));
  auto set_default = [&](const char* key, millis_t value) {
    if (!mongoc_uri_has_option(d_->uri, key))
      mongoc_uri_set_option_as_int32(d_->uri, key, static_cast<int32_t>(value));
  };
  set_default(MONGOC_URI_SERVERSELECTIONTIMEOUTMS, c.server_selection_timeout);
  set_default(MONGOC_URI_CONNECTTIMEOUTMS, c.connect_timeout);
  set_default(MONGOC_URI_SOCKETTIMEOUTMS, c.socket_timeout);
  if (!c.database.empty())
    d_->db = c.database;
  else if (auto* db = mongoc_uri_get_database(d_->uri); db != nullptr && *db)
    d_->db = db;
  else
    d_->db = "onceflow";
  for (auto* h = mongoc_uri_get_hosts(d_->uri); h != nullptr; h = h->next)
    d_->where += (d_->where.empty() ? "" : ",")
                 + std::string{static_cast<const char*>(h->host_and_port)};
  d_->where += "/" + d_->db;
  d_->wc = mongoc_write_concern_new();
  if (c.write_concern == "majority")
    mongoc_write_concern_set_wmajority(d_->wc, 0);
  else
    mongoc_write_concern_set_w(d_->wc, std::stoi(c.write_concern));
  mongoc_write_concern_set_journal(d_->wc, c.journal);
  d_->pool = mongoc_client_pool_new_with_error(d_->uri, &err);
  if (d_->pool == nullptr)
    throw std::invalid_argument("option 'mongo.uri' cannot be used: "
                                + text_of(err));
  mongoc_client_pool_set_error_api(d_->pool, MONGOC_ERROR_API_VERSION_2);
  if (!mongoc_uri_has_option(d_->uri, MONGOC_URI_MAXPOOLSIZE))
    // The writers' connections, plus the prober's, the records writer's
    // and one for the HTTP API's reads of the records.
    mongoc_client_pool_max_size(d_->pool, c.pool_size + 3);
  if (mongoc_uri_get_appname(d_->uri) == nullptr)
    mongoc_client_pool_set_appname(d_->pool, "onceflow");
  // The threads share the state: the pool outlives the last of them, even
  // one the client was destroyed on (a callback held the last handler).
  for (uint32_t i = 0; i < c.pool_size; ++i)
    d_->writers.emplace_back([d = d_] { d->run_writer(); });
  d_->prober = std::thread{[d = d_] {
    d->run_prober();
  }};
}

client::~client() {
  stop();
}

void client::stop() {
  {
    std::lock_guard<std::mutex> g{d_->mtx};
    if (d_->stopped)
      return;
    d_->stopped = true;
    d_->stopping = true;
  }
  d_->cv.notify_all();
  d_->probe_cv.notify_all();
  // A ping may wait for the server selection timeout: the prober ends by
  // itself. Writers are joined (their callbacks must not outlive the
  // caller's actor system), except the one this runs on.
  d_->prober.detach();
  auto self = std::this_thread::get_id();
  for (auto& t : d_->writers)
    (t.get_id() == self ? t.detach() : t.join());
}

std::string client::open() {
  auto* c = mongoc_client_pool_pop(d_->pool);
  std::string why;
  if (!d_->ping(c, why)) {
    mongoc_client_pool_push(d_->pool, c);
    return "cannot reach MongoDB at " + d_->where + ": " + why;
  }
  mongoc_client_pool_push(d_->pool, c);
  // The unique index that makes an effect happen once, and the indexes of
  // the queries users run (docs/mongodb.md).
  return ensure_indexes(d_->cfg.processed_collection,
                        {{"eventId_group", {"eventId", "group"}, true},
                         {"type_processedAt", {"type", "processedAt"}, false},
                         {"group_processedAt", {"group", "processedAt"}, false},
                         {"processedAt", {"processedAt"}, false}});
}

std::string client::ensure_indexes(const std::string& collection,
                                   const std::vector<index_spec>& specs) {
  // Only the missing ones are created: FerretDB 1.24 drops the connection
  // on a createIndexes that names several existing indexes.
  auto* c = mongoc_client_pool_pop(d_->pool);
  std::map<std::string, bool> existing; // name -> unique
  auto* coll = mongoc_client_get_collection(c, d_->db.c_str(),
                                            collection.c_str());
  auto* cur = mongoc_collection_find_indexes_with_opts(coll, nullptr);
  const bson_t* found = nullptr;
  while (mongoc_cursor_next(cur, &found)) {
    bson_iter_t it;
    std::string name;
    if (bson_iter_init_find(&it, found, "name") && BSON_ITER_HOLDS_UTF8(&it))
      name = bson_iter_utf8(&it, nullptr);
    existing[name] = bson_iter_init_find(&it, found, "unique")
                     && bson_iter_as_bool(&it);
  }
  bson_error_t err;
  bool listed = !mongoc_cursor_error(cur, &err);
  mongoc_cursor_destroy(cur);
  mongoc_collection_destroy(coll);
  if (!listed) {
    mongoc_client_pool_push(d_->pool, c);
    return "cannot list the indexes of MongoDB collection " + collection
           + " at " + d_->where + ": " + text_of(err);
  }
  for (auto& s : specs)
    if (auto i = existing.find(s.name);
        s.unique && i != existing.end() && !i->second) {
      mongoc_client_pool_push(d_->pool, c);
      return "MongoDB collection " + collection + " at " + d_->where
             + " has an index " + s.name
             + " that is not unique: drop it (the node creates it unique)";
    }
  bson_doc cmd;
  BSON_APPEND_UTF8(cmd.get(), "createIndexes", collection.c_str());
  bson_t indexes;
  BSON_APPEND_ARRAY_BEGIN(cmd.get(), "indexes", &indexes);
  int n = 0;
  for (auto& s : specs) {
    if (existing.count(s.name) > 0)
      continue;
    bson_t index;
    bson_t key;
    auto pos = std::to_string(n++);
    BSON_APPEND_DOCUMENT_BEGIN(&indexes, pos.c_str(), &index);
    BSON_APPEND_DOCUMENT_BEGIN(&index, "key", &key);
    for (auto& k : s.keys)
      BSON_APPEND_INT32(&key, k.c_str(), 1);
    bson_append_document_end(&index, &key);
    BSON_APPEND_UTF8(&index, "name", s.name.c_str());
    if (s.unique)
      BSON_APPEND_BOOL(&index, "unique", true);
    bson_append_document_end(&indexes, &index);
  }
  bson_append_array_end(cmd.get(), &indexes);
  bool ok = true;
  if (n > 0) {
    auto* db = mongoc_client_get_database(c, d_->db.c_str());
    bson_doc reply;
    ok = mongoc_database_write_command_with_opts(db, cmd.get(), nullptr,
                                                 reply.get(), &err);
    mongoc_database_destroy(db);
  }
  mongoc_client_pool_push(d_->pool, c);
  if (!ok)
    return "cannot create the indexes of MongoDB collection " + collection
           + " at " + d_->where + ": " + text_of(err);
  return {};
}

bool client::with_connection(const std::function<void(mongoc_client_t*)>& fn) {
  if (d_->down.load() || d_->stopping_now())
    return false;
  auto* c = mongoc_client_pool_pop(d_->pool);
  fn(c);
  mongoc_client_pool_push(d_->pool, c);
  return true;
}

void client::report_unreachable(const std::string& why) {
  d_->mark_down(why);
}

void client::append_write_concern(bson_t* opts) const {
  mongoc_write_concern_append(d_->wc, opts);
}

const mongo_config& client::config() const {
  return d_->cfg;
}

void client::write_processed(std::vector<processed_record> records,
                             write_callback done) {
  auto job = [d = d_.get(), rs = std::move(records),
              done = std::move(done)](mongoc_client_t* c) {
    if (c == nullptr) {
      std::string why;
      {
        std::lock_guard<std::mutex> g{d->mtx};
        why = d->stopping ? std::string{"the node is stopping"}
                          : "MongoDB " + d->where
                              + " cannot be reached: " + d->down_error;
      }
      d->failed.fetch_add(rs.size());
      done(std::vector<write_result>(rs.size(),
                                     write_result{write_verdict::retryable, why,
                                                  false, probe_interval}));
      return;
    }
    done(d->write_bulk(c, rs));
  };
  {
    std::lock_guard<std::mutex> g{d_->mtx};
    if (!d_->stopping) {
      d_->jobs.push_back(std::move(job));
      d_->cv.notify_one();
      return;
    }
  }
  job(nullptr);
}

std::string client::health() const {
  if (!d_->down.load())
    return {};
  std::lock_guard<std::mutex> g{d_->mtx};
  return "MongoDB " + d_->where + " cannot be reached since "
         + std::to_string((wall_now() - d_->down_since) / 1000)
         + " s: " + d_->down_error;
}

std::string client::describe() const {
  return d_->where;
}

const std::string& client::database() const {
  return d_->db;
}

const std::string& client::processed_collection() const {
  return d_->cfg.processed_collection;
}

client_stats client::stats() const {
  return {d_->bulk_writes.load(), d_->inserted.load(), d_->duplicates.load(),
          d_->failed.load()};
}

} // namespace onceflow::mongo
