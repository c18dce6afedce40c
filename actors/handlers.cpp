#include "actors/handlers.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

namespace onceflow {

namespace {

/// Records the processed event in the store (the effect is committed with
/// the ledger entry, so it happens exactly once per group).
class store_handler : public handler {
public:
  handler_result handle(const event&, uint32_t) override {
    handler_result r;
    r.record_effect = true;
    return r;
  }
};

/// Logs the event at info level; the log line is an at-least-once effect.
class log_handler : public handler {
public:
  handler_result handle(const event& ev, uint32_t attempt) override {
    spdlog::info("event id={} type={} attempt={} payload={}", ev.id, ev.type,
                 attempt, ev.payload);
    return {};
  }
};

/// For demos and tests: configurable latency and failure rate, plus per-event
/// directives in `payload.simulate`. Records the effect on success.
class simulate_handler : public handler {
public:
  explicit simulate_handler(const handler_options& opts)
    : opts_(opts), rng_(opts.seed != 0 ? opts.seed : std::random_device{}()) {
    // nop
  }

  handler_result handle(const event& ev, uint32_t attempt) override {
    handler_result r;
    r.latency = opts_.latency;
    auto d = parse_simulate_directive(ev.payload);
    if (d.latency > 0)
      r.latency = d.latency;
    if (d.permanent) {
      r.result = outcome::permanent;
      r.error = "simulated permanent failure";
      return r;
    }
    if (attempt <= d.fail_attempts) {
      r.result = outcome::retryable;
      r.error = "simulated failure " + std::to_string(attempt) + " of "
                + std::to_string(d.fail_attempts);
      return r;
    }
    if (opts_.failure_rate > 0 && dist_(rng_) < opts_.failure_rate) {
      r.result = outcome::retryable;
      r.error = "simulated random failure";
      return r;
    }
    r.record_effect = true;
    return r;
  }

private:
  handler_options opts_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> dist_{0.0, 1.0};
};

/// Stands in for a handler whose factory threw: every event fails
/// retryably with the factory's error (retried, then dead-lettered, never
/// lost).
class broken_handler : public handler {
public:
  broken_handler(const std::string& name, const std::string& why)
    : error_("handler " + name + " could not be created: " + why) {
    // nop
  }

  handler_result handle(const event&, uint32_t) override {
    return handler_result::retry(error_);
  }

private:
  std::string error_;
};

} // namespace

handler_registry::handler_registry() {
  add("store",
      [](const handler_options&) { return std::make_unique<store_handler>(); });
  add("log",
      [](const handler_options&) { return std::make_unique<log_handler>(); });
  add("simulate", [](const handler_options& opts) {
    return std::make_unique<simulate_handler>(opts);
  });
}

void handler_registry::add(const std::string& name, handler_factory f,
                           handler_spec spec) {
  factories_[name] = entry{std::move(f), std::move(spec)};
}

handler_ptr handler_registry::make(const std::string& name,
                                   const handler_options& opts) const {
  auto i = factories_.find(name);
  if (i == factories_.end())
    return nullptr;
  std::string why;
  try {
    return i->second.factory(opts);
  } catch (const std::exception& e) {
    why = e.what();
  } catch (...) {
    why = "it threw an exception that is not a std::exception";
  }
  spdlog::error("handler {} of group {} could not be created: {}", name,
                opts.group, why);
  return std::make_unique<broken_handler>(name, why);
}

std::string handler_registry::check(const group_config& g) const {
  auto i = factories_.find(g.handler);
  if (i == factories_.end())
    return {};
  auto& spec = i->second.spec;
  auto path = "groups." + g.name + ".options";
  for (auto& kv : g.options.params)
    if (std::find(spec.options.begin(), spec.options.end(), kv.first)
        == spec.options.end()) {
      std::string known;
      for (auto& k : spec.options)
        known += (known.empty() ? "" : ", ") + k;
      return "unknown option '" + path + "." + kv.first + "': handler \""
             + g.handler + "\" takes "
             + (known.empty() ? std::string{"no options of its own"}
                              : "these: " + known);
    }
  std::string why;
  try {
    if (spec.check)
      if (auto e = spec.check(g.options); !e.empty())
        return "option '" + path + "' of handler \"" + g.handler + "\": " + e;
    i->second.factory(g.options);
    return {};
  } catch (const std::exception& e) {
    why = e.what();
  } catch (...) {
    why = "it threw an exception that is not a std::exception";
  }
  return "handler \"" + g.handler + "\" of group '" + g.name
         + "' could not be created: " + why;
}

bool handler_registry::contains(const std::string& name) const {
  return factories_.count(name) > 0;
}

std::vector<std::string> handler_registry::names() const {
  std::vector<std::string> result;
  for (auto& kv : factories_)
    result.push_back(kv.first);
  return result;
}

handler_registry& default_handlers() {
  static handler_registry instance;
  return instance;
}

} // namespace onceflow
