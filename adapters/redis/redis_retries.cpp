// The retry port of the Redis store: the schedule (`retry:due`, delayed
// events in `delayed:wait`), take_due with its take marks (their renewal
// and release: redis_leases.cpp), next_due and cancel.

#include "adapters/codec.hpp"
#include "adapters/redis/redis_store_impl.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace onceflow {

// -- retry_port --------------------------------------------------------------

std::vector<delivery> redis_store::take_due(millis_t now, size_t max) {
  // Entries are marked taken by the script that returns them: whatever was
  // taken reaches the caller, also when a later round fails (the error
  // then surfaces on the next call). An entry whose data cannot be decoded
  // is skipped (it stays in the schedule, reported when nothing else is).
  std::vector<delivery> out;
  std::string bad;
  size_t offset = 0;
  auto call = std::to_string(++take_calls_);
  while (out.size() < max) {
    auto count = max - out.size();
    reply_ptr r;
    try {
      std::vector<std::string> args{std::to_string(now),
                                    std::to_string(offset),
                                    std::to_string(count),
                                    opts_.consumer,
                                    instance_,
                                    call};
      args.insert(args.end(), hold_args_.begin(), hold_args_.end());
      r = eval(sc_due, std::move(args), "take_due", gen_check::check);
    } catch (const store_error&) {
      if (out.empty())
        throw;
      break;
    }
    if (!is_array(r.get()) || r->elements == 0)
      break;
    auto n = r->elements / 3;
    for (size_t i = 0; i < n && out.size() < max; ++i) {
      auto text = str_of(r->element[3 * i + 2]);
      if (text.empty())
        continue;
      try {
        out.push_back(codec::delivery_from_json(text));
        // The member "<group>\x1f<seq>" names the pair (a delayed first
        // attempt's document was written before its seq was known).
        auto member = str_of(r->element[3 * i]);
        auto sep = member.rfind('\x1f');
        if (sep != std::string::npos) {
          out.back().group = member.substr(0, sep);
          out.back().ev.seq = std::stoull(member.substr(sep + 1));
        }
      } catch (const codec::decode_error& ex) {
        bad = str_of(r->element[3 * i]) + ": " + ex.what();
      } catch (const std::exception&) {
        out.pop_back();
        bad = str_of(r->element[3 * i]) + ": bad member";
      }
    }
    if (n < count)
      break;
    offset += n;
  }
  if (out.empty() && !bad.empty())
    fail("take_due", "bad entry in the retry schedule (" + bad + ")");
  return out;
}

millis_t redis_store::next_due() {
  auto r = eval(sc_next_due, {opts_.consumer, instance_}, "next_due",
                gen_check::none);
  return int_of(r.get());
}

cancel_result redis_store::cancel(const std::string& event_id, millis_t now) {
  auto r = on_current_generation([&] {
    return eval(sc_cancel, {event_id, std::to_string(now)}, "cancel",
                gen_check::check);
  });
  cancel_result out;
  if (!is_array(r.get()) || r->elements == 0)
    return out;
  if (r->elements < 3)
    fail("cancel", "unexpected reply from the cancel script");
  out.seq = u64_of(r->element[0]);
  out.delayed = int_of(r->element[1]) == 1;
  auto n = static_cast<size_t>(int_of(r->element[2]));
  if (r->elements < 3 + n)
    fail("cancel", "unexpected reply from the cancel script");
  for (size_t i = 0; i < n; ++i)
    out.cancelled.push_back(str_of(r->element[3 + i]));
  std::sort(out.cancelled.begin(), out.cancelled.end());
  out.groups = read_statuses(r.get(), 3 + n);
  std::sort(out.groups.begin(), out.groups.end(),
            [](const group_status& a, const group_status& b) {
              return a.group < b.group;
            });
  return out;
}

uint64_t redis_store::scheduled() {
  auto r = command({"ZCARD", key("retry:due")}, "scheduled");
  return u64_of(r.get());
}

uint64_t redis_store::scheduled(const std::string& group) {
  // The schedule is one sorted set by due time for every group: the
  // group's members ("<group>\x1f<seq>") are counted in Redis.
  auto r = eval(sc_scheduled_count, {group}, "scheduled", gen_check::none);
  return u64_of(r.get());
}

uint64_t redis_store::delayed() {
  auto r = command({"ZCARD", key("delayed:wait")}, "delayed");
  return u64_of(r.get());
}

} // namespace onceflow
