#include "adapters/ports.hpp"

#include "adapters/handler.hpp"

#include <nlohmann/json.hpp>

namespace onceflow {

handler_result handler::handle(const event&, uint32_t) {
  return handler_result::fail("the handler implements none of handle, "
                              "handle_async and handle_batch");
}

std::vector<delivery> store::read_leased(const std::string& group, size_t max,
                                         millis_t now,
                                         const std::string& holder,
                                         millis_t ttl, uint32_t crash_budget) {
  auto evs = read_group(group, max, now);
  std::vector<claim_request> reqs;
  reqs.reserve(evs.size());
  for (auto& ev : evs)
    reqs.push_back({group, ev.id, ev.seq});
  std::vector<claim_decision> ds;
  try {
    if (!reqs.empty())
      ds = claim(reqs, holder, now, ttl, crash_budget);
  } catch (const store_error&) {
    // The entries are read (pending) already: hand them out without
    // leases, their listeners claim them.
    ds.clear();
  }
  std::vector<delivery> out;
  out.reserve(evs.size());
  for (size_t i = 0; i < evs.size(); ++i) {
    delivery dl;
    dl.group = group;
    dl.ev = std::move(evs[i]);
    if (i < ds.size() && ds[i].kind == claim_decision::granted) {
      dl.epoch = ds[i].epoch;
      dl.lease_until = ds[i].expires_at;
      dl.redeliveries = ds[i].redeliveries;
    }
    out.push_back(std::move(dl));
  }
  return out;
}

simulate_directive parse_simulate_directive(const std::string& payload) {
  simulate_directive d;
  // Cheap pre-check: most payloads carry no directive.
  if (payload.find("\"simulate\"") == std::string::npos)
    return d;
  auto doc = nlohmann::json::parse(payload, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return d;
  auto i = doc.find("simulate");
  if (i == doc.end() || !i->is_object())
    return d;
  auto& s = *i;
  if (auto j = s.find("fail_attempts"); j != s.end() && j->is_number_unsigned())
    d.fail_attempts = j->get<uint32_t>();
  if (auto j = s.find("permanent"); j != s.end() && j->is_boolean())
    d.permanent = j->get<bool>();
  if (auto j = s.find("latency_ms"); j != s.end() && j->is_number_unsigned())
    d.latency = j->get<millis_t>();
  return d;
}

} // namespace onceflow
