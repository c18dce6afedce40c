#include "adapters/mongo/mongo_bson.hpp"
#include "adapters/mongo/mongo_records.hpp"
#include "adapters/mongo/mongo_records_impl.hpp"

#include <mongoc/mongoc.h>
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace onceflow::mongo {

using namespace detail;

namespace {

std::vector<attempt_record> attempts_of(const bson_t* doc) {
  std::vector<attempt_record> out;
  bson_iter_t it;
  bson_iter_t arr;
  if (!bson_iter_init_find(&it, doc, "attempts") || !BSON_ITER_HOLDS_ARRAY(&it)
      || !bson_iter_recurse(&it, &arr))
    return out;
  while (bson_iter_next(&arr)) {
    if (!BSON_ITER_HOLDS_DOCUMENT(&arr))
      continue;
    uint32_t len = 0;
    const uint8_t* data = nullptr;
    bson_iter_document(&arr, &len, &data);
    bson_t a;
    if (!bson_init_static(&a, data, len))
      continue;
    attempt_record r;
    r.attempt = static_cast<uint32_t>(int_of(&a, "attempt"));
    r.at = int_of(&a, "at");
    r.node = utf8_of(&a, "node");
    r.listener = utf8_of(&a, "listener");
    r.epoch = static_cast<uint64_t>(int_of(&a, "epoch"));
    auto o = utf8_of(&a, "outcome");
    for (auto x : {outcome::success, outcome::retryable, outcome::permanent,
                   outcome::lease_lost, outcome::crashed})
      if (o == to_string(x))
        r.result = x;
    r.error = utf8_of(&a, "error");
    out.push_back(std::move(r));
  }
  return out;
}

/// A page of a listing: `field` above `after` in the filter; sorted by it,
/// at most `limit`, and at most read_timeout on the server in the options.
void page_after(bson_t* filter, bson_t* opts, const char* field, uint64_t after,
                size_t limit) {
  bson_t gt;
  BSON_APPEND_DOCUMENT_BEGIN(filter, field, &gt);
  BSON_APPEND_INT64(&gt, "$gt", static_cast<int64_t>(after));
  bson_append_document_end(filter, &gt);
  bson_t sort;
  BSON_APPEND_DOCUMENT_BEGIN(opts, "sort", &sort);
  BSON_APPEND_INT32(&sort, field, 1);
  bson_append_document_end(opts, &sort);
  BSON_APPEND_INT64(opts, "limit", static_cast<int64_t>(limit));
  BSON_APPEND_INT64(opts, "maxTimeMS", read_timeout);
}

} // namespace

/// Runs a find on `collection`; false if it cannot be read now.
template <class F>
bool records::impl::find(const std::string& collection, const bson_t* filter,
                         const bson_t* opts, F&& f) {
  bool ok = false;
  cl->with_connection([&](mongoc_client_t* c) {
    auto* coll = mongoc_client_get_collection(c, cl->database().c_str(),
                                              collection.c_str());
    auto* cur = mongoc_collection_find_with_opts(coll, filter, opts, nullptr);
    const bson_t* doc = nullptr;
    while (mongoc_cursor_next(cur, &doc))
      f(doc);
    bson_error_t err;
    ok = !mongoc_cursor_error(cur, &err);
    if (!ok) {
      if (unreachable(err))
        cl->report_unreachable(text_of(err));
      spdlog::warn("MongoDB records: reading {} failed ({}): the store "
                   "answers",
                   collection, text_of(err));
    }
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(coll);
  });
  return ok;
}

bool records::list_events(const event_listing_query& q, event_listing& out) {
  if (d_->cfg.read_from != "mongodb" || !d_->cfg.events || d_->groups.empty())
    return false;
  std::vector<std::string> names;
  for (auto& g : d_->groups)
    if (q.group.empty() || g.name == q.group)
      names.push_back(g.name);
  if (names.empty())
    return false; // a group this node does not know: the store says so
  auto status = to_string(q.status);
  bson_doc filter;
  bson_t cond;
  BSON_APPEND_ARRAY_BEGIN(filter.get(), "$or", &cond);
  for (size_t i = 0; i < names.size(); ++i) {
    bson_t one;
    auto key = std::to_string(i);
    BSON_APPEND_DOCUMENT_BEGIN(&cond, key.c_str(), &one);
    auto path = "groups." + names[i] + ".status";
    BSON_APPEND_UTF8(&one, path.c_str(), status);
    bson_append_document_end(&cond, &one);
  }
  bson_append_array_end(filter.get(), &cond);
  bson_doc opts;
  page_after(filter.get(), opts.get(), "seq", q.after, q.limit);
  size_t docs = 0;
  uint64_t last = 0;
  event_listing page;
  bool ok = d_->find(d_->cfg.events_collection, filter.get(), opts.get(),
                     [&](const bson_t* doc) {
                       ++docs;
                       last = static_cast<uint64_t>(int_of(doc, "seq"));
                       for (auto& n : names) {
                         auto path = "groups." + n + ".status";
                         if (utf8_of(doc, path.c_str()) == status)
                           page.items.push_back({n, utf8_of(doc, "eventId"),
                                                 utf8_of(doc, "type"), last,
                                                 q.status});
                       }
                     });
  if (!ok)
    return false;
  page.next = docs >= q.limit ? last : 0;
  out = std::move(page);
  return true;
}

bool records::dlq_list(const dlq_query& q, dlq_page& out) {
  if (d_->cfg.read_from != "mongodb" || !d_->cfg.dead_letters)
    return false;
  bson_doc filter;
  for (auto* field : {"replayedAt", "purgedAt"}) {
    bson_t ex;
    BSON_APPEND_DOCUMENT_BEGIN(filter.get(), field, &ex);
    BSON_APPEND_BOOL(&ex, "$exists", false);
    bson_append_document_end(filter.get(), &ex);
  }
  if (!q.group.empty())
    BSON_APPEND_UTF8(filter.get(), "group", q.group.c_str());
  bson_doc opts;
  // Some past the limit: a page does not end between two of one position.
  page_after(filter.get(), opts.get(), "pos", q.after, q.limit + 64);
  dlq_page page;
  bool ok = d_->find(
    d_->cfg.dead_letters_collection, filter.get(), opts.get(),
    [&](const bson_t* doc) {
      auto pos = static_cast<uint64_t>(int_of(doc, "pos"));
      if (page.entries.size() >= q.limit && pos != page.positions.back())
        return;
      dlq_entry e;
      e.dl.ev.id = utf8_of(doc, "eventId");
      e.dl.ev.type = utf8_of(doc, "type");
      e.dl.ev.seq = static_cast<uint64_t>(int_of(doc, "seq"));
      e.dl.ev.created_at = int_of(doc, "createdAt");
      e.dl.group = utf8_of(doc, "group");
      e.dl.epoch = static_cast<uint64_t>(int_of(doc, "epoch"));
      parse_dlq_reason(utf8_of(doc, "reason"), e.reason);
      e.last_error = utf8_of(doc, "error");
      e.dead_at = int_of(doc, "deadAt");
      e.dl.history = attempts_of(doc);
      e.dl.attempt = e.dl.history.empty() ? 1 : e.dl.history.back().attempt;
      page.entries.push_back(std::move(e));
      page.positions.push_back(pos);
    });
  if (!ok)
    return false;
  out = std::move(page);
  return true;
}

} // namespace onceflow::mongo
