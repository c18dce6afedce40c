#pragma once

// A small deterministic fixture on CAF's test coordinator (no CAF test DSL):
// every actor of a node runs on this thread; time only moves when a test
// advances it.

#include "actors/interfaces.hpp"
#include "adapters/embedded/sqlite_store.hpp"
#include "runtime/node.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>

#include <boost/test/unit_test.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>

namespace onceflow::test {

/// Calls seen by probe handlers: event id -> attempts (in order).
struct probe_log {
  std::vector<std::pair<std::string, uint32_t>> calls;
  size_t count(const std::string& id) const {
    size_t n = 0;
    for (auto& c : calls)
      if (c.first == id)
        ++n;
    return n;
  }
};

/// A handler whose behaviour per call is scripted by the test.
class probe_handler : public handler {
public:
  using script
    = std::function<handler_result(const event&, uint32_t, size_t call)>;
  probe_handler(std::shared_ptr<probe_log> log, script s)
    : log_(std::move(log)), script_(std::move(s)) {
    // nop
  }
  handler_result handle(const event& ev, uint32_t attempt) override {
    log_->calls.emplace_back(ev.id, attempt);
    auto r = script_(ev, attempt, log_->count(ev.id));
    return r;
  }

private:
  std::shared_ptr<probe_log> log_;
  script script_;
};

/// Thrown by a probe handler to crash its listener (not a std::exception,
/// so the listener does not catch it).
struct crash_listener {};

struct config : caf::actor_system_config {
  config() {
    register_types(*this);
    set("scheduler.policy", caf::atom("testing"));
    set("logger.inline-output", true);
  }
};

struct fixture {
  config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  caf::scoped_actor self{sys, true};
  std::shared_ptr<store> st;
  node_config ncfg;
  node_actors n;
  handler_registry handlers;
  std::shared_ptr<probe_log> probes = std::make_shared<probe_log>();

  fixture() {
    sqlite_options so;
    so.path = ":memory:";
    st = make_sqlite_store(so);
    ncfg.janitor_interval = 1000;
  }

  ~fixture() {
    stop_node(sys, n);
    run();
  }

  /// Adds a group with the probe handler running `s`.
  group_config& add_group(const std::string& name, uint32_t concurrency,
                          probe_handler::script s,
                          std::vector<std::string> subs = {"*"}) {
    auto log = probes;
    handlers.add("probe-" + name, [log, s](const handler_options&) {
      return std::make_unique<probe_handler>(log, s);
    });
    group_config g;
    g.name = name;
    g.handler = "probe-" + name;
    g.concurrency = concurrency;
    g.subscriptions = std::move(subs);
    g.retry.jitter = false;
    g.lease_ttl = 30000;
    ncfg.groups.push_back(g);
    return ncfg.groups.back();
  }

  void start() {
    n = start_node(
      sys, ncfg, st, false, [] { return 1.0; }, &handlers);
    run();
  }

  /// Runs all ready jobs (never fires timers).
  void run() {
    while (sched.has_job())
      sched.run();
  }

  /// Advances simulated time, firing due timers, and runs what they cause.
  void advance(std::chrono::milliseconds d) {
    sched.advance_time(d);
    run();
  }

  /// Advances time in steps of `step` up to `total`.
  void advance_in_steps(std::chrono::milliseconds total,
                        std::chrono::milliseconds step) {
    for (auto t = std::chrono::milliseconds{0}; t < total; t += step)
      advance(step);
  }

  static event make_event(const std::string& id, const std::string& type,
                          std::string payload = "{}",
                          priority p = priority::normal) {
    event ev;
    ev.id = id;
    ev.type = type;
    ev.payload = std::move(payload);
    ev.prio = p;
    ev.trace_id = "t-" + id;
    return ev;
  }

  /// Publishes events and returns the broadcaster's answer.
  std::vector<append_result> publish(std::vector<event> evs) {
    self->send(n.broadcaster, atom::ingest_v, std::move(evs));
    run();
    std::vector<append_result> result;
    self->receive([&](std::vector<append_result>& rs) { result = rs; },
                  [&](caf::error& err) {
                    BOOST_FAIL("ingest failed: " << render(err));
                  });
    return result;
  }

  caf::error publish_error(std::vector<event> evs) {
    self->send(n.broadcaster, atom::ingest_v, std::move(evs));
    run();
    caf::error result;
    self->receive(
      [&](std::vector<append_result>&) { BOOST_FAIL("ingest succeeded"); },
      [&](caf::error& err) { result = err; });
    return result;
  }

  /// Effects recorded by the store (processed records) for an event.
  size_t effects(const std::string& id, const std::string& group = "") {
    size_t n = 0;
    for (auto& r : st->processed_of(id))
      if (group.empty() || r.group == group)
        ++n;
    return n;
  }

  event_status status(const std::string& id, const std::string& group) {
    for (auto& gs : st->status_of(id))
      if (gs.group == group)
        return gs.status;
    return event_status::unknown;
  }
};

/// Sends a request, runs the node and returns the (single) reply.
template <class T, class Handle, class... Ts>
T ask(fixture& f, const Handle& hdl, Ts... xs) {
  f.self->send(hdl, std::move(xs)...);
  f.run();
  T result{};
  if (f.self->mailbox().empty()) {
    BOOST_FAIL("no reply to a request");
    return result;
  }
  f.self->receive([&](T& x) { result = std::move(x); },
                  [&](caf::error& err) {
                    BOOST_FAIL("request failed: " << render(err));
                  });
  return result;
}

/// An integer from a status dictionary; -1 if absent.
inline int64_t num(const caf::settings& s, const std::string& key) {
  return caf::get_or(s, key, int64_t{-1});
}

/// Handler results for scripts.
inline handler_result ok_effect() {
  handler_result r;
  r.record_effect = true;
  return r;
}

inline handler_result fail(outcome o, std::string msg) {
  handler_result r;
  r.result = o;
  r.error = std::move(msg);
  return r;
}

/// A script that succeeds with an effect record on every call.
inline probe_handler::script always_ok() {
  return [](const event&, uint32_t, size_t) {
    return ok_effect();
  };
}

/// A script whose first attempt of every event fails retryably; later
/// attempts succeed with an effect record.
inline probe_handler::script first_attempt_fails() {
  return [](const event&, uint32_t attempt, size_t) {
    return attempt == 1 ? fail(outcome::retryable, "first attempt fails")
                        : ok_effect();
  };
}

} // namespace onceflow::test
