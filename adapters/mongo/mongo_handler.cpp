#include "adapters/mongo/mongo_handler.hpp"

#include <stdexcept>
#include <utility>

namespace onceflow {

mongo_handler::mongo_handler(std::shared_ptr<mongo::client> client,
                             std::string group, bool simulate)
  : client_(std::move(client)), group_(std::move(group)), simulate_(simulate) {
  if (!client_)
    throw std::invalid_argument("the mongo handler needs a MongoDB client");
}

handler_result mongo_handler::handle(const event&, uint32_t) {
  return handler_result::retry("the mongo handler runs batches only");
}

void mongo_handler::handle_batch(const std::vector<handler_call>& calls,
                                 batch_callback done) {
  auto now = wall_now();
  std::vector<mongo::processed_record> records;
  records.reserve(calls.size());
  for (auto& c : calls) {
    mongo::processed_record r;
    r.ev = *c.ev;
    r.group = group_;
    r.node = std::string{c.node};
    r.listener = std::string{c.listener};
    r.epoch = c.epoch;
    r.attempt = c.attempt;
    r.started_at = now;
    records.push_back(std::move(r));
  }
  // Drills: the attempts whose acknowledgement is to be lost.
  std::vector<bool> lose;
  if (simulate_)
    for (auto& c : calls)
      lose.push_back(c.attempt
                     <= parse_simulate_directive(c.ev->payload).fail_attempts);
  client_->write_processed(
    std::move(records), [done = std::move(done), lose = std::move(lose)](
                          std::vector<mongo::write_result> rs) {
      std::vector<handler_result> out;
      out.reserve(rs.size());
      for (size_t i = 0; i < rs.size(); ++i) {
        out.push_back(to_handler_result(rs[i]));
        if (i < lose.size() && lose[i] && out.back().result == outcome::success)
          out.back() = handler_result::retry(
            "simulated failure after the write (mongo simulate = true)");
      }
      done(std::move(out));
    });
}

handler_result to_handler_result(const mongo::write_result& r) {
  switch (r.verdict) {
    case mongo::write_verdict::done:
      return handler_result::ok();
    case mongo::write_verdict::permanent:
      return handler_result::fail(r.error);
    case mongo::write_verdict::retryable:
      break;
  }
  return handler_result::retry(r.error, r.retry_after);
}

handler_factory
mongo_handler_factory(const std::shared_ptr<mongo::client>& client) {
  return [client](const handler_options& opts) -> handler_ptr {
    if (!client)
      throw std::invalid_argument(
        "MongoDB is not configured: set 'mongo.uri' in section [mongo]");
    return std::make_unique<mongo_handler>(client, opts.group,
                                           opts.param("simulate") == "true");
  };
}

handler_spec mongo_handler_spec() {
  handler_spec spec;
  spec.options = {"simulate"};
  spec.check = [](const handler_options& opts) -> std::string {
    auto v = opts.param("simulate", "false");
    if (v != "true" && v != "false")
      return "simulate must be true or false (got " + v + ")";
    return {};
  };
  return spec;
}

} // namespace onceflow
