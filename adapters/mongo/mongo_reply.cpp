#include "adapters/mongo/mongo_reply.hpp"

#include <set>

namespace onceflow::mongo {

namespace {

/// True unless a duplicate key error says it is another index's: by its
/// keyPattern (MongoDB 4.4+), else by the index the message names
/// ("... index: NAME dup key: ..."; FerretDB names none).
bool duplicate_of_unique_index(const bson_iter_t& error,
                               const std::string& msg) {
  bson_iter_t it = error;
  bson_iter_t keys;
  if (bson_iter_find(&it, "keyPattern") && BSON_ITER_HOLDS_DOCUMENT(&it)
      && bson_iter_recurse(&it, &keys)) {
    std::set<std::string> names;
    while (bson_iter_next(&keys))
      names.insert(bson_iter_key(&keys));
    return names == std::set<std::string>{"eventId", "group"};
  }
  auto at = msg.find("index: ");
  if (at == std::string::npos)
    return true;
  return msg.compare(at + 7, std::string{unique_index}.size(), unique_index)
         == 0;
}

} // namespace

reply_summary apply_bulk_reply(const bson_t* reply, bool ok,
                               const std::string& error,
                               const std::vector<size_t>& slot,
                               std::vector<write_result>& out) {
  for (auto i : slot)
    out[i] = write_result{};
  std::vector<bool> named(slot.size(), false);
  size_t n_named = 0;
  int64_t inserted = 0;
  bson_iter_t it;
  bson_iter_t child;
  if (bson_iter_init_find(&it, reply, "nInserted"))
    inserted = bson_iter_as_int64(&it);
  if (bson_iter_init_find(&it, reply, "writeErrors")
      && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &child)) {
    while (bson_iter_next(&child)) {
      bson_iter_t e;
      if (!BSON_ITER_HOLDS_DOCUMENT(&child) || !bson_iter_recurse(&child, &e))
        continue;
      bson_iter_t start = e;
      int64_t index = -1;
      int32_t code = 0;
      std::string msg;
      while (bson_iter_next(&e)) {
        std::string key = bson_iter_key(&e);
        if (key == "index")
          index = bson_iter_as_int64(&e);
        else if (key == "code")
          code = static_cast<int32_t>(bson_iter_as_int64(&e));
        else if (key == "errmsg" && BSON_ITER_HOLDS_UTF8(&e))
          msg = bson_iter_utf8(&e, nullptr);
      }
      if (index < 0 || static_cast<size_t>(index) >= slot.size()
          || named[static_cast<size_t>(index)])
        continue;
      named[static_cast<size_t>(index)] = true;
      ++n_named;
      auto& r = out[slot[static_cast<size_t>(index)]];
      r.verdict = classify_write_error(code);
      if (r.verdict == write_verdict::done) {
        if (duplicate_of_unique_index(start, msg)) {
          r.duplicate = true;
        } else {
          r.verdict = write_verdict::permanent;
          r.error = "MongoDB refused the document: a duplicate key on another "
                    "unique index than "
                    + std::string{unique_index} + ": " + msg;
        }
      } else {
        r.error = "MongoDB refused the document (code " + std::to_string(code)
                  + "): " + msg;
      }
    }
  }
  // The documents may be written, but not as durably as asked: retried
  // (a retry that finds them counts as done).
  if (bson_iter_init_find(&it, reply, "writeConcernErrors")
      && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &child)) {
    std::string msg;
    bool any = false;
    while (bson_iter_next(&child)) {
      any = true;
      bson_iter_t e;
      if (BSON_ITER_HOLDS_DOCUMENT(&child) && bson_iter_recurse(&child, &e)
          && bson_iter_find(&e, "errmsg") && BSON_ITER_HOLDS_UTF8(&e))
        msg = bson_iter_utf8(&e, nullptr);
    }
    if (any)
      for (size_t k = 0; k < slot.size(); ++k)
        if (auto& r = out[slot[k]];
            r.verdict == write_verdict::done && !r.duplicate) {
          r.verdict = write_verdict::retryable;
          r.error = "MongoDB write concern not satisfied: "
                    + (msg.empty() ? std::string{"(no message)"} : msg);
        }
  }
  reply_summary sum;
  if (!ok && static_cast<size_t>(inserted) + n_named < slot.size()) {
    for (size_t k = 0; k < slot.size(); ++k)
      if (!named[k]) {
        auto& r = out[slot[k]];
        r.verdict = write_verdict::retryable;
        r.duplicate = false;
        r.error = "MongoDB write failed: " + error;
        ++sum.unaccounted;
      }
  }
  return sum;
}

} // namespace onceflow::mongo
