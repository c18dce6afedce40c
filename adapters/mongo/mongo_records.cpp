#include "adapters/mongo/mongo_records.hpp"

#include "adapters/mongo/mongo_bson.hpp"
#include "adapters/mongo/mongo_records_impl.hpp"

#include <mongoc/mongoc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

namespace onceflow::mongo {

uint64_t record_version(uint64_t epoch, unsigned phase) {
  return epoch * 4 + phase;
}

int64_t dead_letter_position(const std::string& event_id,
                             const std::string& group, millis_t dead_at) {
  uint32_t h = 2166136261U; // FNV-1a
  auto mix = [&h](const std::string& s) {
    for (unsigned char ch : s)
      h = (h ^ ch) * 16777619U;
  };
  mix(event_id);
  mix(std::string(1, '\0'));
  mix(group);
  return dead_at * 1024 + static_cast<int64_t>(h & 1023U);
}

namespace detail {

size_t bytes_of(const event& ev) {
  return ev.id.size() + ev.type.size() + ev.payload.size() + ev.trace_id.size()
         + 64;
}

bool time_to_log(millis_t& last) {
  auto now = wall_now();
  if (now - last < 10000)
    return false;
  last = now;
  return true;
}

} // namespace detail

using namespace detail;

namespace {

/// Writes of a change that failed with a duplicate key (two nodes upserted
/// one new event at once) or a write concern error are tried this often.
constexpr int max_tries = 3;

/// Changes per round of the writer.
constexpr size_t round_size = 1000;

/// Updates per bulk of the events collection: FerretDB 1.24 runs an
/// update as a scan, and a bulk of hundreds of them outlasted the socket
/// timeout here (then the whole bulk was sent again, and again); MongoDB
/// does not mind the extra round trips.
constexpr size_t update_chunk = 50;

/// Most bytes of changes waiting (payloads mostly): beside the count.
constexpr size_t max_queued_bytes = size_t{256} << 20;

/// A replay's or purge's mark that found no entry (its death is not
/// written yet: another node's queue, an outage) is tried again every
/// second, this often.
constexpr int mark_tries = 60;

/// How long after an event's document was written it is read back (ms):
/// a server whose updates are not atomic per document (FerretDB 1.24 on
/// SQLite reads, changes and writes a document back, and two clients
/// updating one document at once lose one update: 6 of 300 measured with
/// two writers) may have lost the change to another node's update of the
/// same event meanwhile. One read per round; MongoDB never needs a repair.
constexpr millis_t check_delay = 1000;

/// Rewrites of one change whose read-back keeps missing it, then it is
/// given up (logged, counted as failed).
constexpr int max_repairs = 10;

void append_group(bson_t* parent, const group_change& g) {
  bson_t doc;
  auto key = "groups." + g.group;
  BSON_APPEND_DOCUMENT_BEGIN(parent, key.c_str(), &doc);
  // `v` first: $max compares documents field by field.
  BSON_APPEND_INT64(&doc, "v", static_cast<int64_t>(g.v));
  BSON_APPEND_UTF8(&doc, "status", to_string(g.status));
  BSON_APPEND_DATE_TIME(&doc, "at", g.at);
  if (g.attempt > 0)
    BSON_APPEND_INT32(&doc, "attempt", static_cast<int32_t>(g.attempt));
  if (!g.error.empty())
    BSON_APPEND_UTF8(&doc, "error", g.error.c_str());
  if (g.next_at > 0)
    BSON_APPEND_DATE_TIME(&doc, "nextAttemptAt", g.next_at);
  bson_append_document_end(parent, &doc);
}

void append_attempts(bson_t* parent, const std::vector<attempt_record>& xs) {
  bson_t arr;
  BSON_APPEND_ARRAY_BEGIN(parent, "attempts", &arr);
  for (size_t i = 0; i < xs.size(); ++i) {
    auto& a = xs[i];
    bson_t doc;
    auto key = std::to_string(i);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, key.c_str(), &doc);
    BSON_APPEND_INT32(&doc, "attempt", static_cast<int32_t>(a.attempt));
    BSON_APPEND_DATE_TIME(&doc, "at", a.at);
    BSON_APPEND_UTF8(&doc, "node", a.node.c_str());
    BSON_APPEND_UTF8(&doc, "listener", a.listener.c_str());
    BSON_APPEND_INT64(&doc, "epoch", static_cast<int64_t>(a.epoch));
    BSON_APPEND_UTF8(&doc, "outcome", to_string(a.result));
    BSON_APPEND_UTF8(&doc, "error", a.error.c_str());
    bson_append_document_end(&arr, &doc);
  }
  bson_append_array_end(parent, &arr);
}

/// The writeErrors of a bulk reply: (index, code, message).
struct write_error {
  size_t index = 0;
  int64_t code = 0;
  std::string message;
};

std::vector<write_error> write_errors_of(const bson_t* reply) {
  std::vector<write_error> out;
  bson_iter_t it;
  bson_iter_t arr;
  if (!bson_iter_init_find(&it, reply, "writeErrors")
      || !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr))
    return out;
  while (bson_iter_next(&arr)) {
    uint32_t len = 0;
    const uint8_t* data = nullptr;
    if (!BSON_ITER_HOLDS_DOCUMENT(&arr))
      continue;
    bson_iter_document(&arr, &len, &data);
    bson_t e;
    if (bson_init_static(&e, data, len))
      out.push_back({static_cast<size_t>(int_of(&e, "index")),
                     int_of(&e, "code"), utf8_of(&e, "errmsg")});
  }
  return out;
}

bool has_write_concern_errors(const bson_t* reply) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, reply, "writeConcernErrors"))
    return false;
  uint32_t len = 0;
  const uint8_t* data = nullptr;
  if (!BSON_ITER_HOLDS_ARRAY(&it))
    return false;
  bson_iter_array(&it, &len, &data);
  return len > 5; // an empty BSON array is 5 bytes
}

/// A failure of a whole call that passes (the driver's retryable write
/// label, or the codes of a replica set changing its primary or a server
/// shutting down).
bool transient(const bson_t* reply, const bson_error_t& err) {
  if (mongoc_error_has_label(reply, "RetryableWriteError"))
    return true;
  switch (err.code) {
    case 6:     // HostUnreachable
    case 7:     // HostNotFound
    case 89:    // NetworkTimeout
    case 91:    // ShutdownInProgress
    case 189:   // PrimarySteppedDown
    case 262:   // ExceededTimeLimit
    case 9001:  // SocketException
    case 10107: // NotWritablePrimary
    case 11600: // InterruptedAtShutdown
    case 11602: // InterruptedDueToReplStateChange
    case 13435: // NotPrimaryNoSecondaryOk
    case 13436: // NotPrimaryOrSecondary
      return true;
    default:
      return false;
  }
}

/// An integer or date field of `doc` at a dotted path; false if absent.
bool int_at(const bson_t* doc, const std::string& path, int64_t& out) {
  bson_iter_t it;
  bson_iter_t found;
  if (!bson_iter_init(&it, doc)
      || !bson_iter_find_descendant(&it, path.c_str(), &found))
    return false;
  if (BSON_ITER_HOLDS_DATE_TIME(&found))
    out = bson_iter_date_time(&found);
  else if (BSON_ITER_HOLDS_NUMBER(&found))
    out = bson_iter_as_int64(&found);
  else
    return false;
  return true;
}

} // namespace

void records::impl::push(std::vector<queued> xs) {
  if (xs.empty())
    return;
  std::lock_guard<std::mutex> g{mtx};
  if (journal >= 0)
    append_journal(xs);
  if (ended) { // kept in the journal (if any) for the next start
    dropped.fetch_add(xs.size());
    return;
  }
  for (auto& x : xs) {
    q_bytes += x.bytes;
    q.push_back(std::move(x));
  }
  trim_queue();
  cv.notify_one();
}

/// Drops the oldest changes over the queue's bounds (mtx held).
void records::impl::trim_queue() {
  size_t over = 0;
  while (!q.empty()
         && (q.size() > max_queued_records || q_bytes > max_queued_bytes)) {
    q_bytes -= q.front().bytes;
    q.pop_front();
    ++over;
  }
  if (over > 0) {
    dropped.fetch_add(over);
    if (time_to_log(last_drop_log)) {
      spdlog::error("MongoDB records: {} changes ({} MiB) waiting for {} "
                    "(the most kept): the oldest are dropped ({} so far); "
                    "the store still has every event",
                    q.size(), q_bytes >> 20, cl->describe(), dropped.load());
    }
  }
}

/// Puts changes back at the front (in their order) for the next round
/// (mtx held).
void records::impl::requeue(std::vector<queued>& xs) {
  for (auto i = xs.rbegin(); i != xs.rend(); ++i) {
    if (i->due > 0) { // a mark that waits
      later.push_back(std::move(*i));
      continue;
    }
    q_bytes += i->bytes;
    q.push_front(std::move(*i));
  }
  xs.clear();
}

void records::impl::run() {
  for (;;) {
    std::vector<queued> round;
    std::vector<queued> due_checks;
    {
      std::unique_lock<std::mutex> g{mtx};
      in_round = 0;
      drained();
      idle_cv.notify_all();
      // Up to a second, or until the first read-back is due.
      auto wait = probe_interval;
      if (!checks.empty())
        wait = std::clamp<millis_t>(checks.front().due - wall_now(), 1,
                                    probe_interval);
      if (stopping && q.empty() && !checks.empty())
        cv.wait_for(g, std::chrono::milliseconds(std::clamp<millis_t>(
                         std::min(wait, stop_deadline - wall_now()), 1,
                         probe_interval))); // read-backs only
      else
        cv.wait_for(g, std::chrono::milliseconds(wait),
                    [this] { return stopping || !q.empty(); });
      auto now = wall_now();
      if (stopping && ((q.empty() && checks.empty()) || now > stop_deadline)) {
        auto left = q.size() + later.size();
        // Written (and counted), not read back: kept in the journal too.
        auto unchecked = checks.size();
        if (left + unchecked > 0 && journal >= 0)
          spdlog::warn("MongoDB records: {} changes not written and {} not "
                       "read back at stop: kept in {} for the next start",
                       left, unchecked, journal_path);
        else if (left + unchecked > 0)
          spdlog::warn("MongoDB records: {} changes not written and {} not "
                       "read back at stop",
                       left, unchecked);
        dropped.fetch_add(left);
        q.clear();
        later.clear();
        checks.clear();
        q_bytes = 0;
        c_bytes = 0;
        ended = true;
        idle_cv.notify_all();
        return;
      }
      for (auto i = later.begin(); i != later.end();) {
        if (i->due <= now) {
          round.push_back(std::move(*i));
          round.back().due = 0;
          i = later.erase(i);
        } else {
          ++i;
        }
      }
      while (!q.empty() && round.size() < round_size) {
        q_bytes -= q.front().bytes;
        round.push_back(std::move(q.front()));
        q.pop_front();
      }
      while (!checks.empty() && checks.front().due <= now
             && due_checks.size() < round_size) {
        c_bytes -= checks.front().bytes;
        due_checks.push_back(std::move(checks.front()));
        checks.pop_front();
      }
      in_round = round.size() + due_checks.size();
      if (round.empty() && due_checks.empty())
        continue;
    }
    std::vector<queued> again;
    std::vector<queued> fresh;
    bool whole = false;
    bool checked = due_checks.empty();
    bool ran = cl->with_connection([&](mongoc_client_t* c) {
      whole = !write_round(c, round, again, fresh);
      if (!whole && !checked)
        checked = read_back(c, due_checks, again);
    });
    {
      // In one step, so that flush never sees a round's changes nowhere.
      std::lock_guard<std::mutex> g{mtx};
      requeue(again);
      to_check(fresh, due_checks, checked);
      if (!ran || whole)
        requeue(round); // `round` holds what was not written
      in_round = 0;
    }
    if (!ran || whole) {
      std::unique_lock<std::mutex> g{mtx};
      cv.wait_for(g, std::chrono::milliseconds(probe_interval),
                  [this] { return stopping && wall_now() > stop_deadline; });
    }
  }
}

/// Writes the round: archive inserts, then event upserts, then marks.
/// Changes to try again go to `again`. Returns false if MongoDB could
/// not be reached (or a whole call failed): then `round` holds every
/// change not written yet.
bool records::impl::write_round(mongoc_client_t* c, std::vector<queued>& round,
                                std::vector<queued>& again,
                                std::vector<queued>& fresh) {
  std::vector<queued> events;
  std::vector<queued> deads;
  std::vector<queued> marks;
  for (auto& x : round) {
    if (std::holds_alternative<event_change>(x.c))
      events.push_back(std::move(x));
    else if (std::holds_alternative<dead_change>(x.c))
      deads.push_back(std::move(x));
    else
      marks.push_back(std::move(x));
  }
  round.clear();
  auto keep_rest = [&] {
    for (auto* xs : {&deads, &events, &marks})
      for (auto& x : *xs)
        round.push_back(std::move(x));
  };
  if (!deads.empty() && !write_deads(c, deads, again)) {
    keep_rest();
    return false;
  }
  deads.clear();
  events = coalesce(std::move(events));
  while (!events.empty()) {
    auto n = std::min(events.size(), update_chunk);
    std::vector<queued> part(std::make_move_iterator(events.begin()),
                             std::make_move_iterator(events.begin() + n));
    events.erase(events.begin(), events.begin() + n);
    if (!write_events(c, part, again, fresh)) {
      events.insert(events.begin(), std::make_move_iterator(part.begin()),
                    std::make_move_iterator(part.end()));
      keep_rest();
      return false;
    }
  }
  while (!marks.empty()) {
    auto& m = marks.front();
    auto matched = write_mark(c, std::get<mark_change>(m.c));
    if (matched < 0) {
      keep_rest();
      return false;
    }
    if (matched == 0 && ++m.tries < mark_tries) {
      m.due = wall_now() + probe_interval;
      again.push_back(std::move(m));
    } else {
      written.fetch_add(1);
    }
    marks.erase(marks.begin());
  }
  return true;
}

/// One change per event: its groups' changes merged (the highest
/// version of each group), the event's fields from any that has them.
std::vector<queued> records::impl::coalesce(std::vector<queued> xs) {
  std::vector<queued> out;
  std::map<std::string, size_t> at;
  for (auto& x : xs) {
    auto& e = std::get<event_change>(x.c);
    auto [i, fresh] = at.emplace(e.id, out.size());
    if (fresh) {
      out.push_back(std::move(x));
      continue;
    }
    auto& m = std::get<event_change>(out[i->second].c);
    out[i->second].tries = std::max(out[i->second].tries, x.tries);
    if (e.set_event || (e.has_event && !m.has_event)) {
      m.ev = std::move(e.ev);
      m.has_event = true;
      m.set_event = m.set_event || e.set_event;
      m.accepted_at = std::max(m.accepted_at, e.accepted_at);
    }
    for (auto& g : e.groups) {
      auto j = std::find_if(m.groups.begin(), m.groups.end(),
                            [&](auto& h) { return h.group == g.group; });
      if (j == m.groups.end())
        m.groups.push_back(std::move(g));
      else if (g.v > j->v)
        *j = std::move(g);
    }
  }
  return out;
}

/// Runs a bulk and sorts its changes: written, again (duplicate key or
/// write concern error, up to max_tries), refused (logged). False if
/// the call failed as a whole (`xs` untouched).
bool records::impl::execute(mongoc_bulk_operation_t* bulk,
                            std::vector<queued>& xs, std::vector<queued>& again,
                            bool duplicate_is_done, const char* what,
                            std::vector<queued>* done) {
  bson_doc reply;
  bson_error_t err;
  bool ok = mongoc_bulk_operation_execute(bulk, reply.get(), &err) != 0;
  if (!ok && unreachable(err)) {
    // Perhaps partly written: all again (the writes are idempotent).
    cl->report_unreachable(text_of(err));
    return false;
  }
  if (!ok && transient(reply.get(), err)) {
    // A primary stepping down, a server shutting down: all again after
    // a wait, without using up tries.
    spdlog::warn("MongoDB records: writing {} failed for now: {}", what,
                 text_of(err));
    return false;
  }
  auto errors = write_errors_of(reply.get());
  bool concern = has_write_concern_errors(reply.get());
  if (!ok && errors.empty() && !concern) {
    // Refused as a whole by a server that answers: each change is tried
    // a few times, then given up (logged), so that one bad round does
    // not hold up the queue.
    for (auto& x : xs) {
      if (++x.tries < max_tries) {
        again.push_back(std::move(x));
      } else {
        failed.fetch_add(1);
        spdlog::error("MongoDB records: writing {} failed: {}", what,
                      text_of(err));
      }
    }
    return true;
  }
  std::vector<const write_error*> by_index(xs.size(), nullptr);
  for (auto& e : errors)
    if (e.index < xs.size())
      by_index[e.index] = &e;
  for (size_t i = 0; i < xs.size(); ++i) {
    auto* e = by_index[i];
    bool dup = e != nullptr && e->code == 11000;
    if (e == nullptr || (dup && duplicate_is_done)) {
      if (concern && ++xs[i].tries < max_tries) {
        again.push_back(std::move(xs[i]));
      } else {
        written.fetch_add(1);
        if (done != nullptr)
          done->push_back(std::move(xs[i]));
      }
    } else if (dup && ++xs[i].tries < max_tries) {
      again.push_back(std::move(xs[i]));
    } else {
      failed.fetch_add(1);
      spdlog::error("MongoDB records: {} refused: {} (code {})", what,
                    e->message, e->code);
    }
  }
  return true;
}

bool records::impl::write_deads(mongoc_client_t* c, std::vector<queued>& xs,
                                std::vector<queued>& again) {
  auto* coll = mongoc_client_get_collection(
    c, cl->database().c_str(), cfg.dead_letters_collection.c_str());
  bson_doc opts;
  BSON_APPEND_BOOL(opts.get(), "ordered", false);
  cl->append_write_concern(opts.get());
  auto* bulk = mongoc_collection_create_bulk_operation_with_opts(coll,
                                                                 opts.get());
  for (auto& x : xs) {
    auto& d = std::get<dead_change>(x.c);
    auto& dl = d.e.dl;
    bson_doc doc;
    auto id = dl.ev.id + "/" + dl.group + "/" + std::to_string(d.v);
    BSON_APPEND_UTF8(doc.get(), "_id", id.c_str());
    append_event(doc.get(), dl.ev);
    BSON_APPEND_INT64(doc.get(), "seq", static_cast<int64_t>(dl.ev.seq));
    BSON_APPEND_UTF8(doc.get(), "group", dl.group.c_str());
    BSON_APPEND_UTF8(doc.get(), "reason", to_string(d.e.reason));
    BSON_APPEND_UTF8(doc.get(), "error", d.e.last_error.c_str());
    BSON_APPEND_DATE_TIME(doc.get(), "deadAt", d.e.dead_at);
    BSON_APPEND_INT64(doc.get(), "pos",
                      dead_letter_position(dl.ev.id, dl.group, d.e.dead_at));
    BSON_APPEND_INT64(doc.get(), "epoch", static_cast<int64_t>(dl.epoch));
    BSON_APPEND_INT64(doc.get(), "v", static_cast<int64_t>(d.v));
    append_attempts(doc.get(), dl.history);
    bson_error_t err;
    if (!mongoc_bulk_operation_insert_with_opts(bulk, doc.get(), nullptr,
                                                &err)) {
      // The driver refuses it (too big, a bad key): never writable.
      failed.fetch_add(1);
      spdlog::error("MongoDB records: dead letter {} refused: {}", id,
                    text_of(err));
      d.v = UINT64_MAX; // marks it for removal below
    }
  }
  xs.erase(std::remove_if(xs.begin(), xs.end(),
                          [](auto& x) {
                            return std::get<dead_change>(x.c).v == UINT64_MAX;
                          }),
           xs.end());
  bool ok = xs.empty() || execute(bulk, xs, again, true, "a dead letter");
  mongoc_bulk_operation_destroy(bulk);
  mongoc_collection_destroy(coll);
  return ok;
}

bool records::impl::write_events(mongoc_client_t* c, std::vector<queued>& xs,
                                 std::vector<queued>& again,
                                 std::vector<queued>& fresh) {
  auto* coll = mongoc_client_get_collection(c, cl->database().c_str(),
                                            cfg.events_collection.c_str());
  bson_doc opts;
  BSON_APPEND_BOOL(opts.get(), "ordered", false);
  cl->append_write_concern(opts.get());
  auto* bulk = mongoc_collection_create_bulk_operation_with_opts(coll,
                                                                 opts.get());
  bson_doc upsert;
  BSON_APPEND_BOOL(upsert.get(), "upsert", true);
  std::vector<queued> sent;
  for (auto& x : xs) {
    auto& e = std::get<event_change>(x.c);
    bson_doc sel;
    BSON_APPEND_UTF8(sel.get(), "_id", e.id.c_str());
    bson_doc upd;
    if (e.has_event) {
      bson_t fields;
      BSON_APPEND_DOCUMENT_BEGIN(
        upd.get(), e.set_event ? "$set" : "$setOnInsert", &fields);
      if (e.set_event) {
        append_event(&fields, e.ev);
      } else { // no payload: the acceptance sets it
        BSON_APPEND_UTF8(&fields, "eventId", e.ev.id.c_str());
        BSON_APPEND_UTF8(&fields, "type", e.ev.type.c_str());
        BSON_APPEND_DATE_TIME(&fields, "createdAt", e.ev.created_at);
      }
      BSON_APPEND_INT64(&fields, "seq", static_cast<int64_t>(e.ev.seq));
      if (e.set_event)
        BSON_APPEND_DATE_TIME(&fields, "acceptedAt", e.accepted_at);
      bson_append_document_end(upd.get(), &fields);
    } else {
      bson_t fields;
      BSON_APPEND_DOCUMENT_BEGIN(upd.get(), "$setOnInsert", &fields);
      BSON_APPEND_UTF8(&fields, "eventId", e.id.c_str());
      bson_append_document_end(upd.get(), &fields);
    }
    if (!e.groups.empty()) {
      bson_t mx;
      BSON_APPEND_DOCUMENT_BEGIN(upd.get(), "$max", &mx);
      for (auto& g : e.groups)
        append_group(&mx, g);
      bson_append_document_end(upd.get(), &mx);
    }
    bson_error_t err;
    if (mongoc_bulk_operation_update_one_with_opts(bulk, sel.get(), upd.get(),
                                                   upsert.get(), &err)) {
      sent.push_back(std::move(x));
    } else {
      failed.fetch_add(1);
      spdlog::error("MongoDB records: event {} refused: {}", e.id,
                    text_of(err));
    }
  }
  bool ok = sent.empty()
            || execute(bulk, sent, again, false, "an event", &fresh);
  mongoc_bulk_operation_destroy(bulk);
  mongoc_collection_destroy(coll);
  xs = std::move(sent);
  return ok;
}

/// The entries the mark matched (marked now or before), -1 if MongoDB
/// could not be reached.
int64_t records::impl::write_mark(mongoc_client_t* c, const mark_change& m) {
  auto* coll = mongoc_client_get_collection(
    c, cl->database().c_str(), cfg.dead_letters_collection.c_str());
  bson_doc sel;
  if (!m.event_id.empty())
    BSON_APPEND_UTF8(sel.get(), "eventId", m.event_id.c_str());
  if (!m.group.empty())
    BSON_APPEND_UTF8(sel.get(), "group", m.group.c_str());
  bson_t cond;
  if (m.below > 0) {
    BSON_APPEND_DOCUMENT_BEGIN(sel.get(), "v", &cond);
    BSON_APPEND_INT64(&cond, "$lt", static_cast<int64_t>(m.below));
  } else {
    BSON_APPEND_DOCUMENT_BEGIN(sel.get(), "deadAt", &cond);
    BSON_APPEND_DATE_TIME(&cond, "$lte", m.at);
  }
  bson_append_document_end(sel.get(), &cond);
  bson_doc upd;
  bson_t set;
  BSON_APPEND_DOCUMENT_BEGIN(upd.get(), "$min", &set);
  BSON_APPEND_DATE_TIME(&set, m.field, m.at);
  bson_append_document_end(upd.get(), &set);
  bson_doc opts;
  cl->append_write_concern(opts.get());
  bson_doc reply;
  bson_error_t err;
  bool ok = mongoc_collection_update_many(coll, sel.get(), upd.get(),
                                          opts.get(), reply.get(), &err);
  mongoc_collection_destroy(coll);
  if (ok)
    return int_of(reply.get(), "matchedCount");
  if (unreachable(err)) {
    cl->report_unreachable(text_of(err));
    return -1;
  }
  failed.fetch_add(1);
  spdlog::error("MongoDB records: marking dead letters of {} {} refused: {}",
                m.event_id.empty() ? "every event" : m.event_id,
                m.group.empty() ? "" : "(group " + m.group + ")", text_of(err));
  return 1; // given up: not tried again
}

/// Reads back the documents of written event changes (`xs`, due): a
/// change its document does not show (another client's update of the
/// same document overwrote it, on a server whose updates are not atomic
/// per document) goes to `again`, to be written and read back once more.
/// False if the documents could not be read (`xs` untouched).
bool records::impl::read_back(mongoc_client_t* c, std::vector<queued>& xs,
                              std::vector<queued>& again) {
  std::map<std::string, std::vector<size_t>> by_id;
  for (size_t i = 0; i < xs.size(); ++i)
    by_id[std::get<event_change>(xs[i].c).id].push_back(i);
  bson_doc filter;
  {
    bson_t id;
    bson_t in;
    BSON_APPEND_DOCUMENT_BEGIN(filter.get(), "_id", &id);
    BSON_APPEND_ARRAY_BEGIN(&id, "$in", &in);
    size_t k = 0;
    for (auto& [x, _] : by_id) {
      auto key = std::to_string(k++);
      BSON_APPEND_UTF8(&in, key.c_str(), x.c_str());
    }
    bson_append_array_end(&id, &in);
    bson_append_document_end(filter.get(), &id);
  }
  bson_doc opts;
  {
    bson_t proj;
    BSON_APPEND_DOCUMENT_BEGIN(opts.get(), "projection", &proj);
    BSON_APPEND_INT32(&proj, "groups", 1);
    BSON_APPEND_INT32(&proj, "acceptedAt", 1);
    bson_append_document_end(opts.get(), &proj);
  }
  BSON_APPEND_INT64(opts.get(), "maxTimeMS", read_timeout);
  std::vector<bool> shown(xs.size(), false);
  auto* coll = mongoc_client_get_collection(c, cl->database().c_str(),
                                            cfg.events_collection.c_str());
  auto* cur = mongoc_collection_find_with_opts(coll, filter.get(), opts.get(),
                                               nullptr);
  const bson_t* doc = nullptr;
  while (mongoc_cursor_next(cur, &doc)) {
    auto i = by_id.find(utf8_of(doc, "_id"));
    if (i != by_id.end())
      for (auto k : i->second)
        shown[k] = shows(doc, std::get<event_change>(xs[k].c));
  }
  bson_error_t err;
  bool ok = !mongoc_cursor_error(cur, &err);
  mongoc_cursor_destroy(cur);
  mongoc_collection_destroy(coll);
  if (!ok) {
    if (unreachable(err)) {
      cl->report_unreachable(text_of(err));
      return false;
    }
    // Written, and the server answers: not read back (logged, counted
    // as failed).
    failed.fetch_add(xs.size());
    spdlog::warn("MongoDB records: reading back {} written events failed: "
                 "{}",
                 xs.size(), text_of(err));
    xs.clear();
    return true;
  }
  size_t lost = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    if (shown[k])
      continue;
    auto& x = xs[k];
    if (++x.repairs > max_repairs) {
      failed.fetch_add(1);
      spdlog::error("MongoDB records: event {} still not as written after "
                    "{} rewrites: given up",
                    std::get<event_change>(x.c).id, max_repairs);
      continue;
    }
    ++lost;
    x.due = 0;
    again.push_back(std::move(x));
  }
  xs.clear();
  if (lost > 0) {
    repaired.fetch_add(lost);
    if (time_to_log(last_repair_log)) {
      spdlog::warn("MongoDB records: {} written event changes were not in "
                   "their documents when read back (another client's update "
                   "of the same document overwrote them: the server's "
                   "updates are not atomic per document): written again "
                   "({} so far)",
                   lost, repaired.load());
    }
  }
  return true;
}

/// True if `doc` shows the change: its groups at their versions or
/// later, and the event's fields if it sets them.
bool records::impl::shows(const bson_t* doc, const event_change& e) {
  int64_t n = 0;
  if (e.set_event && (!int_at(doc, "acceptedAt", n) || n < e.accepted_at))
    return false;
  for (auto& g : e.groups)
    if (!int_at(doc, "groups." + g.group + ".v", n)
        || static_cast<uint64_t>(n) < g.v)
      return false;
  return true;
}

/// Written event changes (`fresh`) wait to be read back; read-backs that
/// did not run (`checked` false) go back to the front (mtx held).
void records::impl::to_check(std::vector<queued>& fresh,
                             std::vector<queued>& due, bool checked) {
  if (!checked)
    for (auto i = due.rbegin(); i != due.rend(); ++i) {
      c_bytes += i->bytes;
      checks.push_front(std::move(*i));
    }
  auto at = wall_now() + check_delay;
  for (auto& x : fresh) {
    x.due = at;
    c_bytes += x.bytes;
    checks.push_back(std::move(x));
  }
  fresh.clear();
  due.clear();
}

records::records(std::shared_ptr<client> c, std::vector<group_spec> groups,
                 std::string journal)
  : d_(std::make_shared<impl>()) {
  d_->cfg = c->config();
  d_->cl = std::move(c);
  d_->groups = std::move(groups);
  std::sort(d_->groups.begin(), d_->groups.end(),
            [](auto& a, auto& b) { return a.name < b.name; });
  d_->journal_path = std::move(journal);
  if (!d_->journal_path.empty())
    d_->open_journal();
  d_->writer = std::thread{[d = d_] {
    d->run();
  }};
}

records::~records() {
  stop(0);
}

std::string records::open() {
  if (d_->cfg.events) {
    std::vector<index_spec> specs{{"type_createdAt", {"type", "createdAt"}},
                                  {"createdAt", {"createdAt"}},
                                  {"seq", {"seq"}}};
    for (auto& g : d_->groups)
      specs.push_back(
        {"status_" + g.name, {"groups." + g.name + ".status", "seq"}});
    if (auto e = d_->cl->ensure_indexes(d_->cfg.events_collection, specs);
        !e.empty())
      return e;
  }
  if (d_->cfg.dead_letters)
    return d_->cl->ensure_indexes(d_->cfg.dead_letters_collection,
                                  {{"pos", {"pos"}},
                                   {"group_deadAt", {"group", "deadAt"}},
                                   {"type_deadAt", {"type", "deadAt"}},
                                   {"eventId", {"eventId"}}});
  return {};
}

void records::stop(millis_t grace) {
  {
    std::lock_guard<std::mutex> g{d_->mtx};
    if (d_->stopping)
      return;
    d_->stopping = true;
    d_->stop_deadline = wall_now() + grace;
  }
  d_->cv.notify_all();
  if (d_->writer.get_id() == std::this_thread::get_id())
    d_->writer.detach();
  else if (d_->writer.joinable())
    d_->writer.join();
}

bool records::flush(millis_t timeout) {
  std::unique_lock<std::mutex> g{d_->mtx};
  return d_->idle_cv.wait_for(g, std::chrono::milliseconds(timeout), [this] {
    return d_->q.empty() && d_->in_round == 0 && d_->later.empty()
           && d_->checks.empty();
  });
}

records_stats records::stats() const {
  records_stats s;
  {
    std::lock_guard<std::mutex> g{d_->mtx};
    s.queued = d_->q.size() + d_->in_round + d_->later.size();
    s.unchecked = d_->checks.size();
  }
  s.repaired = d_->repaired.load();
  s.written = d_->written.load();
  s.dropped = d_->dropped.load();
  s.failed = d_->failed.load();
  return s;
}

} // namespace onceflow::mongo
