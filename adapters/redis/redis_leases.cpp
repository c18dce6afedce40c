// The lease port of the Redis store: claims and settlements (one script
// call per batch, run once more on a new store generation), and the leases
// of the retries take_due hands out: their marks in `retry:taken`, renewed
// and released here (scripts/renew.lua).

#include "adapters/codec.hpp"
#include "adapters/redis/redis_store_impl.hpp"

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace onceflow {

namespace {

using json = nlohmann::json;
using codec::dump;

} // namespace

// -- lease_port --------------------------------------------------------------

std::vector<claim_decision>
redis_store::claim(const std::vector<claim_request>& reqs,
                   const std::string& holder, millis_t now, millis_t ttl,
                   uint32_t crash_budget) {
  if (reqs.empty())
    return {};
  return on_current_generation(
    [&] { return claim_once(reqs, holder, now, ttl, crash_budget); });
}

std::vector<claim_decision>
redis_store::claim_once(const std::vector<claim_request>& reqs,
                        const std::string& holder, millis_t now, millis_t ttl,
                        uint32_t crash_budget) {
  std::vector<claim_decision> out;
  std::vector<std::string> args;
  args.reserve(5 + reqs.size() * (gen_.verify() ? 4 : 3));
  args.push_back(holder);
  args.push_back(std::to_string(now));
  args.push_back(std::to_string(ttl));
  args.push_back(std::to_string(crash_budget));
  args.push_back(gen_.verify() ? "1" : "0");
  for (auto& rq : reqs) {
    args.push_back(rq.group);
    args.push_back(std::to_string(rq.seq));
    // A dead listener's lease to revoke goes as the negative epoch.
    args.push_back(rq.crashed && rq.takeover != 0
                     ? "-" + std::to_string(rq.takeover)
                     : std::to_string(rq.takeover));
    if (gen_.verify())
      args.push_back(rq.event_id);
  }
  auto r = eval(sc_claim, std::move(args), "claim", gen_check::check);
  if (!is_array(r.get()) || r->elements != reqs.size() * 4)
    fail("claim", "unexpected reply from the claim script");
  out.reserve(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    claim_decision d;
    d.kind = static_cast<claim_decision::kind_t>(int_of(r->element[4 * i]));
    d.epoch = u64_of(r->element[4 * i + 1]);
    d.expires_at = int_of(r->element[4 * i + 2]);
    d.redeliveries = static_cast<uint32_t>(int_of(r->element[4 * i + 3]));
    out.push_back(d);
  }
  return out;
}

std::vector<fence_decision>
redis_store::settle(const std::vector<settlement>& items, millis_t now) {
  if (items.empty())
    return {};
  return on_current_generation([&] { return settle_once(items, now); });
}

std::vector<fence_decision>
redis_store::settle_once(const std::vector<settlement>& items, millis_t now) {
  std::vector<fence_decision> out;
  std::vector<std::string> args;
  args.reserve(2 + items.size() * 8);
  args.push_back(std::to_string(now));
  args.push_back(gen_.verify() ? "1" : "0");
  for (auto& s : items) {
    args.push_back(std::to_string(static_cast<int>(s.kind)));
    args.push_back(s.dl.group);
    args.push_back(std::to_string(s.dl.ev.seq));
    args.push_back(std::to_string(s.dl.epoch));
    args.push_back(s.dl.ev.id);
    switch (s.kind) {
      case settle_kind::done:
        if (s.record_effect)
          args.push_back(dump(json{{"g", s.dl.group},
                                   {"i", s.dl.ev.id},
                                   {"s", s.dl.ev.seq},
                                   {"t", s.dl.ev.type},
                                   {"e", s.dl.epoch},
                                   {"a", s.dl.attempt},
                                   {"at", now}}));
        else
          args.emplace_back();
        args.push_back(codec::encode_attempts(s.dl.history));
        args.emplace_back();
        break;
      case settle_kind::retry: {
        auto doc = codec::to_json(s.dl);
        doc["attempt"] = s.dl.attempt + 1;
        doc["epoch"] = 0;
        args.push_back(std::to_string(s.due));
        args.push_back(dump(doc));
        args.emplace_back();
        break;
      }
      case settle_kind::dead:
        args.push_back(to_string(s.reason));
        args.push_back(s.error);
        args.push_back(dump(codec::to_json(s.dl)));
        break;
      default:
        args.emplace_back();
        args.emplace_back();
        args.emplace_back();
    }
  }
  auto r = eval(sc_settle, std::move(args), "settle", gen_check::check);
  if (!is_array(r.get()) || r->elements != items.size())
    fail("settle", "unexpected reply from the settle script");
  out.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i)
    out.push_back(static_cast<fence_decision>(int_of(r->element[i])));
  return out;
}

bool redis_store::is_done(const std::string& group, uint64_t seq) {
  auto r = command({"HGET", gkey(group, "st"), std::to_string(seq)}, "is_done");
  return r->type == REDIS_REPLY_STRING && r->len > 0 && r->str[0] == 'D';
}

// -- the leases of taken retries ---------------------------------------------

uint64_t redis_store::renew_taken(const std::vector<taken_pair>& pairs,
                                  millis_t now) {
  return mark_taken(pairs, now, "renew_taken");
}

uint64_t redis_store::release_taken(const std::vector<taken_pair>& pairs) {
  return mark_taken(pairs, -1, "release_taken");
}

uint64_t redis_store::mark_taken(const std::vector<taken_pair>& pairs,
                                 millis_t now, const std::string& op) {
  if (pairs.empty())
    return 0;
  // Marks name seqs of the current data: after a change of the store
  // generation these pairs name other entries (or none), so the call fails
  // like take_due's and changes nothing.
  std::vector<std::string> args{opts_.consumer, instance_};
  args.reserve(2 + pairs.size() * 2);
  for (auto& p : pairs) {
    args.push_back(p.group + '\x1f' + std::to_string(p.seq));
    args.push_back(now < 0 ? std::string{}
                           : std::to_string(now + take_hold(p.group)));
  }
  auto r = eval(sc_renew, std::move(args), op, gen_check::check);
  return u64_of(r.get());
}

} // namespace onceflow
