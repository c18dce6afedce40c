// The DLQ port of the Redis store (the stream `dlq`, indexed by event and
// by group) and its processed records.

#include "adapters/codec.hpp"
#include "adapters/redis/redis_store_impl.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace onceflow {

namespace {

using codec::dump;

} // namespace

// -- dlq_port ----------------------------------------------------------------

dlq_page redis_store::dlq_list(const dlq_query& q) {
  dlq_page page;
  if (q.limit == 0)
    return page;
  auto r
    = eval(sc_dlq_read,
           {"list", std::to_string(q.after), std::to_string(q.limit), q.group},
           "dlq_list", gen_check::none);
  page.entries = decode_dlq(r.get(), &page.positions, nullptr, base_,
                            "dlq_list");
  return page;
}

std::vector<dlq_entry> redis_store::dlq_get(const std::string& event_id) {
  auto r = eval(sc_dlq_read, {"event", event_id}, "dlq_get", gen_check::none);
  return decode_dlq(r.get(), nullptr, nullptr, base_, "dlq_get");
}

size_t redis_store::dlq_replay(const std::string& event_id,
                               const std::string& group, millis_t now) {
  // Both steps check the generation: positions read from one data set
  // must not remove entries of another.
  auto r = eval(sc_dlq_read, {"event", event_id}, "dlq_replay",
                gen_check::check);
  std::vector<uint64_t> positions;
  std::vector<std::string> groups;
  auto entries = decode_dlq(r.get(), &positions, &groups, base_, "dlq_replay");
  std::vector<std::string> args{"replay", std::to_string(now)};
  size_t picked = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!group.empty() && groups[i] != group)
      continue;
    auto dl = entries[i].dl;
    dl.attempt = 1;
    dl.epoch = 0;
    dl.redeliveries = 0;
    args.push_back(std::to_string(positions[i]));
    args.push_back(dump(codec::to_json(dl)));
    ++picked;
  }
  if (picked == 0)
    return 0;
  auto n = eval(sc_dlq_remove, std::move(args), "dlq_replay", gen_check::check);
  return static_cast<size_t>(int_of(n.get()));
}

size_t redis_store::dlq_purge(const std::string& event_id) {
  if (event_id.empty()) {
    auto n = eval(sc_dlq_remove, {"purge_all", "0"}, "dlq_purge",
                  gen_check::none);
    return static_cast<size_t>(int_of(n.get()));
  }
  auto r = command({"SMEMBERS", key("dlq:ev:") + event_id}, "dlq_purge");
  if (!is_array(r.get()) || r->elements == 0)
    return 0;
  std::vector<std::string> args{"purge", "0"};
  for (size_t i = 0; i < r->elements; ++i)
    args.push_back(str_of(r->element[i]));
  auto n = eval(sc_dlq_remove, std::move(args), "dlq_purge", gen_check::check);
  return static_cast<size_t>(int_of(n.get()));
}

size_t redis_store::dlq_purge_group(const std::string& group) {
  if (group.empty())
    return dlq_purge("");
  // Bounded script calls: each removes at most `per_call` entries.
  constexpr size_t per_call = 1000;
  size_t total = 0;
  while (true) {
    auto n = eval(sc_dlq_remove,
                  {"purge_group", "0", group, std::to_string(per_call)},
                  "dlq_purge_group", gen_check::none);
    auto removed = static_cast<size_t>(int_of(n.get()));
    total += removed;
    if (removed < per_call)
      return total;
  }
}

uint64_t redis_store::dlq_size() {
  auto r = command({"XLEN", key("dlq")}, "dlq_size");
  return u64_of(r.get());
}

uint64_t redis_store::dlq_count(const std::string& group) {
  // g:<g>:dead holds one field per dead seq of the group.
  auto r = command({"HLEN", gkey(group, "dead")}, "dlq_count");
  return u64_of(r.get());
}

// -- processed_port ----------------------------------------------------------

std::vector<processed_record>
redis_store::processed_of(const std::string& event_id) {
  auto r = eval(sc_processed_of, {event_id}, "processed_of", gen_check::none);
  auto out = decode_processed(r.get(), base_, "processed_of");
  std::sort(out.begin(), out.end(),
            [](const processed_record& a, const processed_record& b) {
              return std::tie(a.at, a.group) < std::tie(b.at, b.group);
            });
  return out;
}

uint64_t redis_store::processed_count(const std::string& group) {
  auto r = eval(sc_processed_count, {group}, "processed_count",
                gen_check::none);
  return u64_of(r.get());
}

} // namespace onceflow
