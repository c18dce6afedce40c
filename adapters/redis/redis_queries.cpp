// The queries of the Redis store: an event's status and history in its
// groups, and listings of events (one script call each).

#include "adapters/redis/redis_store_impl.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

namespace onceflow {

// -- store -------------------------------------------------------------------

std::vector<group_status> redis_store::status_of(const std::string& event_id) {
  auto r = eval(sc_status, {"id", event_id}, "status_of", gen_check::none);
  if (!is_array(r.get()) || r->elements < 2)
    return {};
  return read_statuses(r.get(), 2);
}

std::vector<group_history>
redis_store::history_of(const std::string& event_id) {
  const std::string op = "history_of";
  auto r = eval(sc_history, {event_id}, op, gen_check::none);
  auto out = decode_history(r.get(), base_, op);
  std::sort(out.begin(), out.end(),
            [](const group_history& a, const group_history& b) {
              return a.group < b.group;
            });
  return out;
}

event_listing redis_store::list_events(const event_listing_query& q) {
  auto limit = std::max<size_t>(q.limit, 1);
  auto budget = std::min<size_t>(std::max<size_t>(limit * 4, 256), 5000);
  auto r = eval(sc_list_events,
                {std::to_string(static_cast<int>(q.status)), q.group,
                 std::to_string(q.after), std::to_string(limit),
                 std::to_string(budget)},
                "list_events", gen_check::none, q.group);
  auto out = decode_listing(r.get(), q.status, base_, "list_events");
  // The script lists the groups of one seq in hash order.
  std::sort(out.items.begin(), out.items.end(),
            [](const event_listing_item& a, const event_listing_item& b) {
              return std::tie(a.seq, a.group) < std::tie(b.seq, b.group);
            });
  return out;
}

} // namespace onceflow
