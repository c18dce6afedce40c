// The cluster protocol's actor side, deterministic on CAF's test
// coordinator (issue 14): listeners of another node joined to a core's
// broadcaster get batches like local ones; one that goes down with a batch
// in flight hands its entries back and is not respawned; a late settlement
// of a cut-off listener is refused by the fence; the node manager's hello
// refuses another schema (naming both versions), a wrong secret and an
// unknown node. The network between nodes is CAF's (tested with real
// processes in tests/integration/test_cluster.py); here the "remote"
// listeners live in the same actor system.

#include "actors/listener.hpp"
#include "actors/node_metrics.hpp"
#include "adapters/forwarding_store.hpp"
#include "runtime/cluster/node_manager.hpp"
#include "runtime/cluster/schema.hpp"
#include "tests/actors/fixture.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <set>
#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

namespace {

struct item_v1 {
  uint64_t seq = 0;
  std::string key;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_v1& x) {
  return f(caf::meta::type_name("item"), x.seq, x.key);
}

struct item_v2 {
  uint64_t seq = 0;
  std::string key;
  uint32_t added = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_v2& x) {
  return f(caf::meta::type_name("item"), x.seq, x.key, x.added);
}

/// An asynchronous handler that holds every call until the test completes
/// it (a worker that hangs with its batch, or is cut off while it runs).
class holding_handler : public handler {
public:
  explicit holding_handler(std::shared_ptr<std::vector<handler_callback>> held)
    : held_(std::move(held)) {
    // nop
  }
  bool asynchronous() const override {
    return true;
  }
  handler_result handle(const event&, uint32_t) override {
    return ok_effect();
  }
  void handle_async(const event&, uint32_t, handler_callback done) override {
    held_->push_back(std::move(done));
  }

private:
  std::shared_ptr<std::vector<handler_callback>> held_;
};

struct cluster_fixture : fixture {
  uint32_t next = 0;

  /// The config of a listener of `group` as worker w1 would spawn it.
  listener_config worker_config(const std::string& group) {
    listener_config lc;
    for (auto& g : ncfg.groups)
      if (g.name == group)
        lc.group = g;
    lc.node = "w1";
    lc.name = group + "/w1/" + std::to_string(++next);
    lc.jitter = [] {
      return 1.0;
    };
    return lc;
  }

  /// A listener as a worker would spawn it, whose handler calls wait in
  /// `held` until the test completes them.
  listener_actor
  holding_listener(const std::string& group,
                   std::shared_ptr<std::vector<handler_callback>> held) {
    return spawn_listener(sys, worker_config(group),
                          std::make_shared<holding_handler>(std::move(held)),
                          n.dedup);
  }

  /// A worker's listener runs a batch under leases (granted with the read,
  /// or claimed) and is cut off: the core sees its DOWN while it lives on.
  /// Its entries run elsewhere at once (no lease expiry awaited: simulated
  /// time does not move), each effect once; its late settlements are
  /// refused by the fence.
  void cut_off_in_the_middle_of_a_batch(bool read_leases) {
    ncfg.read_leases = read_leases;
    add_group("a", 0, always_ok()).batch_size = 5; // lease-ttl 30 s
    start();
    auto held = std::make_shared<std::vector<handler_callback>>();
    auto cut = holding_listener("a", held);
    join("a", {cut});
    publish(events("e", 5));
    run();
    BOOST_REQUIRE_EQUAL(held->size(), 5u);
    BOOST_CHECK_EQUAL(num(group_status("a"), "in-flight"), 5);
    // Heartbeats time out: the core's broadcaster gets the DOWN of the
    // cut-off listener, which itself still runs.
    caf::anon_send(caf::actor_cast<caf::actor>(n.broadcaster),
                   caf::down_msg{cut.address(),
                                 caf::exit_reason::remote_link_unreachable});
    run();
    auto gs = group_status("a");
    BOOST_CHECK_EQUAL(num(gs, "handed-back"), 5);
    BOOST_CHECK_EQUAL(num(gs, "queued"), 5);
    join("a", {worker_listener("a", always_ok())});
    run();
    for (int i = 0; i < 5; ++i) {
      auto id = "e" + std::to_string(i);
      BOOST_CHECK_EQUAL(effects(id, "a"), 1u);
      auto hs = st->history_of(id);
      BOOST_REQUIRE_EQUAL(hs.size(), 1u);
      BOOST_REQUIRE_EQUAL(hs[0].attempts.size(), 2u);
      BOOST_CHECK(hs[0].attempts[0].result == outcome::crashed);
      BOOST_CHECK_EQUAL(hs[0].attempts[0].error,
                        "listener went down without completion");
      BOOST_CHECK(hs[0].attempts[1].result == outcome::success);
    }
    // The cut-off node wakes up and completes its calls: its settlements
    // carry the revoked epochs.
    for (auto& done : *held)
      done(ok_effect());
    run();
    auto ds = ask<caf::settings>(*this, n.dedup, atom::status_v);
    BOOST_CHECK_EQUAL(num(ds, "deduplicator.refused-stale"), 5);
    for (int i = 0; i < 5; ++i)
      BOOST_CHECK_EQUAL(effects("e" + std::to_string(i), "a"), 1u);
    self->send_exit(cut, caf::exit_reason::kill);
    run();
  }

  /// A listener as a worker would spawn it for this core.
  listener_actor worker_listener(const std::string& group,
                                 probe_handler::script s) {
    return spawn_listener(
      sys, worker_config(group),
      std::make_shared<probe_handler>(probe_handler{probes, std::move(s)}),
      n.dedup);
  }

  /// A listener that takes batches and never reports (a node that went
  /// silent).
  listener_actor silent_listener() {
    return sys.spawn(
      [](listener_actor::pointer) -> listener_actor::behavior_type {
        return {
          [](atom::dispatch, std::vector<delivery>&) {},
          [](atom::tick, uint64_t) {},
          [](atom::handled, uint64_t, uint32_t, handler_result&) {},
          [](atom::handled, uint64_t, std::vector<handler_result>&) {},
          [](atom::status) { return caf::settings{}; },
        };
      });
  }

  uint32_t join(const std::string& group, std::vector<listener_actor> ls) {
    return ask<uint32_t>(*this, n.broadcaster, atom::listeners_v, group,
                         std::string{"w1"}, std::move(ls));
  }

  std::vector<event> events(const std::string& prefix, int count) {
    std::vector<event> xs;
    for (int i = 0; i < count; ++i)
      xs.push_back(make_event(prefix + std::to_string(i), "order.created"));
    return xs;
  }

  caf::settings group_status(const std::string& group) {
    auto s = ask<caf::settings>(*this, n.broadcaster, atom::status_v);
    return caf::get_or(s, "groups." + group, caf::settings{});
  }

  /// The listener names in an event's history.
  std::vector<std::string> listeners_of(const std::string& id) {
    std::vector<std::string> result;
    for (auto& g : st->history_of(id))
      for (auto& a : g.attempts)
        result.push_back(a.listener);
    return result;
  }
};

/// Records the payload and trace id of every settlement by kind.
class settle_recorder : public forwarding_store {
public:
  using forwarding_store::forwarding_store;

  std::vector<settlement> seen;

  std::vector<fence_decision> settle(const std::vector<settlement>& items,
                                     millis_t now) override {
    seen.insert(seen.end(), items.begin(), items.end());
    return forwarding_store::settle(items, now);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(cluster, cluster_fixture)

BOOST_AUTO_TEST_CASE(the_cores_metrics_count_remote_listeners_outcomes) {
  probe_handler::script script = [](const event& ev, uint32_t, size_t) {
    if (ev.id == "d")
      return fail(outcome::permanent, "never");
    return ok_effect();
  };
  add_group("a", 0, script);
  start();
  // A worker's listener: its node's metrics are not the core's.
  join("a", {worker_listener("a", script)});
  publish({make_event("e1", "order.created"), make_event("e2", "order.created"),
           make_event("d", "order.failed")});
  run();
  auto& m = *n.metrics;
  BOOST_CHECK_EQUAL(
    m.counter_value(metric::processed,
                    {{"group", "a"}, {"type", "order.created"}}),
    2u);
  BOOST_CHECK_EQUAL(m.counter_value(metric::dead,
                                    {{"group", "a"}, {"type", "order.failed"}}),
                    1u);
  BOOST_CHECK_EQUAL(m.counter_value(metric::settled, {{"group", "a"}}), 3u);
  BOOST_CHECK(
    m.render({}).find("onceflow_effect_latency_seconds_count{group=\"a\"} 2")
    != std::string::npos);
}

BOOST_AUTO_TEST_CASE(done_settlements_carry_no_payload) {
  auto rec = std::make_shared<settle_recorder>(st);
  st = rec;
  probe_handler::script script = [](const event& ev, uint32_t attempt, size_t) {
    if (ev.id == "f" && attempt == 1)
      return fail(outcome::retryable, "once");
    if (ev.id == "d")
      return fail(outcome::permanent, "never");
    return ok_effect();
  };
  add_group("a", 0, script);
  start();
  join("a", {worker_listener("a", script)});
  auto big = std::string(2048, 'x');
  std::vector<event> evs;
  for (auto id : {"e", "f", "d"})
    evs.push_back(make_event(id, "order.created", "{\"p\":\"" + big + "\"}"));
  publish(evs);
  run();
  advance_in_steps(5s, 500ms);
  size_t done = 0;
  size_t kept = 0;
  for (auto& s : rec->seen) {
    if (s.kind == settle_kind::done) {
      ++done;
      BOOST_CHECK(s.dl.ev.payload.empty());
      BOOST_CHECK(s.dl.ev.trace_id.empty());
      BOOST_CHECK(!s.dl.history.empty());
    } else if (s.kind == settle_kind::retry || s.kind == settle_kind::dead) {
      // What comes back (a retry) or is kept (the DLQ) keeps its payload.
      ++kept;
      BOOST_CHECK(s.dl.ev.payload.find(big) != std::string::npos);
      BOOST_CHECK_EQUAL(s.dl.ev.trace_id, "t-" + s.dl.ev.id);
    }
  }
  BOOST_CHECK_EQUAL(done, 2u);
  BOOST_CHECK_EQUAL(kept, 2u);
  // The event keeps its payload where it is asked for.
  BOOST_CHECK(st->find("e").payload.find(big) != std::string::npos);
  BOOST_CHECK_EQUAL(effects("e", "a"), 1u);
  BOOST_CHECK_EQUAL(effects("f", "a"), 1u);
  auto dead = st->dlq_get("d");
  BOOST_REQUIRE_EQUAL(dead.size(), 1u);
  BOOST_CHECK(dead[0].dl.ev.payload.find(big) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_joined_remote_listener_runs_the_groups_events) {
  add_group("a", 0, always_ok());
  start();
  BOOST_CHECK_EQUAL(join("a", {worker_listener("a", always_ok())}), 1u);
  auto gs = group_status("a");
  BOOST_CHECK_EQUAL(num(gs, "listeners"), 1);
  BOOST_CHECK_EQUAL(num(gs, "remote-listeners"), 1);
  publish(events("e", 20));
  run();
  for (int i = 0; i < 20; ++i) {
    auto id = "e" + std::to_string(i);
    BOOST_CHECK_EQUAL(effects(id, "a"), 1u);
    BOOST_CHECK(listeners_of(id) == std::vector<std::string>{"a/w1/1"});
  }
}

BOOST_AUTO_TEST_CASE(a_remote_listener_going_down_hands_its_batch_back) {
  add_group("a", 0, always_ok()).batch_size = 5;
  start();
  auto silent = silent_listener();
  join("a", {silent});
  publish(events("e", 5));
  run();
  // The silent listener holds the batch: nothing ran.
  BOOST_CHECK_EQUAL(probes->calls.size(), 0u);
  BOOST_CHECK_EQUAL(num(group_status("a"), "in-flight"), 5);
  self->send_exit(silent, caf::exit_reason::remote_link_unreachable);
  run();
  // Back in the queue; the remote slot is gone, not respawned.
  auto gs = group_status("a");
  BOOST_CHECK_EQUAL(num(gs, "in-flight"), 0);
  BOOST_CHECK_EQUAL(num(gs, "queued"), 5);
  BOOST_CHECK_EQUAL(num(gs, "listeners"), 0);
  BOOST_CHECK_EQUAL(num(gs, "listener-restarts"), 0);
  // The node comes back with a new listener: every entry runs once (no
  // claim was made, so nothing waits for a lease).
  join("a", {worker_listener("a", always_ok())});
  run();
  for (int i = 0; i < 5; ++i)
    BOOST_CHECK_EQUAL(effects("e" + std::to_string(i), "a"), 1u);
}

BOOST_AUTO_TEST_CASE(a_cut_off_listeners_claimed_leases_are_revoked_at_down) {
  cut_off_in_the_middle_of_a_batch(false);
}

BOOST_AUTO_TEST_CASE(a_cut_off_listeners_read_leases_are_revoked_at_down) {
  cut_off_in_the_middle_of_a_batch(true);
}

BOOST_AUTO_TEST_CASE(a_late_settlement_of_a_cut_off_listener_is_refused) {
  auto& g = add_group("a", 0, always_ok());
  g.lease_ttl = 2000;
  // The listener claims (no lease granted with the read).
  ncfg.read_leases = false;
  start();
  auto silent = silent_listener();
  join("a", {silent});
  publish(events("e", 1));
  run();
  auto ev = st->find("e0");
  // The cut-off listener had claimed the pair before it went silent.
  auto ds = ask<std::vector<claim_decision>>(
    *this, n.dedup, atom::claim_v,
    std::vector<claim_request>{{"a", "e0", ev.seq, 0}},
    std::string{"a/w1/silent"}, millis_t{2000}, uint32_t{3});
  BOOST_REQUIRE_EQUAL(ds.size(), 1u);
  BOOST_REQUIRE(ds[0].kind == claim_decision::granted);
  auto old_epoch = ds[0].epoch;
  // Heartbeats time out: DOWN. Another listener takes over once the lease
  // has expired.
  self->send_exit(silent, caf::exit_reason::remote_link_unreachable);
  run();
  join("a", {worker_listener("a", always_ok())});
  advance_in_steps(4s, 500ms);
  BOOST_CHECK_EQUAL(effects("e0", "a"), 1u);
  // The cut-off node wakes up and settles its old attempt: refused.
  settlement late;
  late.kind = settle_kind::done;
  late.dl.ev = ev;
  late.dl.group = "a";
  late.dl.attempt = 1;
  late.dl.epoch = old_epoch;
  late.record_effect = true;
  auto fs = ask<std::vector<fence_decision>>(*this, n.dedup, atom::settle_v,
                                             std::vector<settlement>{late});
  BOOST_REQUIRE_EQUAL(fs.size(), 1u);
  BOOST_CHECK(fs[0] != fence_decision::ok);
  BOOST_CHECK_EQUAL(effects("e0", "a"), 1u);
}

BOOST_AUTO_TEST_CASE(listeners_of_an_unknown_group_are_refused) {
  add_group("a", 1, always_ok());
  start();
  self->send(n.broadcaster, atom::listeners_v, std::string{"nope"},
             std::string{"w1"},
             std::vector<listener_actor>{worker_listener("a", always_ok())});
  run();
  caf::error err;
  self->receive([](uint32_t) { BOOST_FAIL("accepted"); },
                [&](caf::error& e) { err = e; });
  BOOST_CHECK_EQUAL(render(err), "unknown_group: no group named 'nope'");
}

BOOST_AUTO_TEST_CASE(retired_remote_listeners_finish_their_batch_first) {
  add_group("a", 0, always_ok()).batch_size = 5;
  start();
  // Each call takes 20 ms (simulated), a batch of 5 100 ms: both
  // listeners are busy below.
  auto slow = [](const event&, uint32_t, size_t) {
    auto r = ok_effect();
    r.latency = 20;
    return r;
  };
  auto l1 = worker_listener("a", slow);
  auto l2 = worker_listener("a", slow);
  join("a", {l1, l2});
  self->monitor(l1);
  self->monitor(l2);
  publish(events("e", 10));
  run();
  BOOST_CHECK_EQUAL(num(group_status("a"), "in-flight"), 10);
  // The worker removes one while both are busy: it gets no new batch and
  // stops once its batch is back, nothing is handed back or redelivered.
  BOOST_CHECK_EQUAL(ask<uint32_t>(*this, n.broadcaster, atom::retire_v,
                                  std::string{"a"}, std::string{"w1"},
                                  uint32_t{1}),
                    1u);
  BOOST_CHECK_EQUAL(num(group_status("a"), "listeners"), 2);
  BOOST_CHECK_EQUAL(num(group_status("a"), "in-flight"), 10);
  advance(100ms);
  auto gs = group_status("a");
  BOOST_CHECK_EQUAL(num(gs, "listeners"), 1);
  BOOST_CHECK_EQUAL(num(gs, "in-flight"), 0);
  BOOST_CHECK_EQUAL(num(gs, "listener-restarts"), 0);
  for (int i = 0; i < 10; ++i)
    BOOST_CHECK_EQUAL(effects("e" + std::to_string(i), "a"), 1u);
  // The retired one is stopped (by the core: the worker sees it DOWN).
  size_t downs = 0;
  while (!self->mailbox().empty())
    self->receive([&](caf::down_msg&) { ++downs; });
  BOOST_CHECK_EQUAL(downs, 1u);
  // New work runs on the one left; removing more than there are leaves
  // none (and is no error).
  publish(events("f", 5));
  advance(100ms);
  for (int i = 0; i < 5; ++i)
    BOOST_CHECK_EQUAL(effects("f" + std::to_string(i), "a"), 1u);
  BOOST_CHECK_EQUAL(ask<uint32_t>(*this, n.broadcaster, atom::retire_v,
                                  std::string{"a"}, std::string{"w1"},
                                  uint32_t{5}),
                    0u);
  BOOST_CHECK_EQUAL(num(group_status("a"), "listeners"), 0);
}

BOOST_AUTO_TEST_CASE(local_listeners_are_added_and_removed_at_run_time) {
  add_group("a", 1, always_ok()).batch_size = 2;
  start();
  auto change = [&](int32_t delta) {
    return ask<caf::settings>(*this, n.manager, atom::listeners_v,
                              std::string{"a"}, std::string{}, delta);
  };
  auto added = change(2);
  BOOST_CHECK_EQUAL(caf::get_or(added, "group", std::string{}), "a");
  BOOST_CHECK_EQUAL(caf::get_or(added, "node", std::string{}), ncfg.name);
  BOOST_CHECK_EQUAL(num(added, "listeners"), 3);
  BOOST_CHECK_EQUAL(num(group_status("a"), "listeners"), 3);
  publish(events("e", 12));
  run();
  for (int i = 0; i < 12; ++i)
    BOOST_CHECK_EQUAL(effects("e" + std::to_string(i), "a"), 1u);
  // The three shared the work (batches of 2).
  std::set<std::string> used;
  for (int i = 0; i < 12; ++i)
    for (auto& l : listeners_of("e" + std::to_string(i)))
      used.insert(l);
  BOOST_CHECK_EQUAL(used.size(), 3u);
  // Fewer than none is none; then one again.
  BOOST_CHECK_EQUAL(num(change(-5), "listeners"), 0);
  BOOST_CHECK_EQUAL(num(group_status("a"), "listeners"), 0);
  publish(events("f", 2));
  run();
  BOOST_CHECK_EQUAL(effects("f0", "a"), 0u);
  BOOST_CHECK_EQUAL(num(change(1), "listeners"), 1);
  run();
  BOOST_CHECK_EQUAL(effects("f0", "a"), 1u);
  BOOST_CHECK_EQUAL(effects("f1", "a"), 1u);
}

BOOST_AUTO_TEST_CASE(the_node_manager_lists_its_actors_with_their_status) {
  add_group("a", 1, always_ok());
  start();
  publish(events("e", 3));
  run();
  auto by_node = ask<caf::settings>(*this, n.manager, atom::actors_v, true);
  auto actors = caf::get_or(by_node, ncfg.name, caf::settings{});
  std::set<std::string> kinds;
  for (auto& [id, value] : actors) {
    auto a = caf::get_if<caf::settings>(&value);
    BOOST_REQUIRE(a != nullptr);
    auto kind = caf::get_or(*a, "kind", std::string{});
    kinds.insert(kind);
    BOOST_CHECK_EQUAL(caf::get_or(*a, "serves", std::string{}), ncfg.name);
    // Each answered its status, with its mailbox depth.
    auto prefix = kind == "retry_timer"    ? std::string{"retry-timer"}
                  : kind == "node_manager" ? std::string{"node-manager"}
                                           : kind;
    BOOST_CHECK_MESSAGE(caf::get_if(a, "status." + prefix + ".mailbox"),
                        kind << " has no mailbox depth");
  }
  // The core's own listener too (its broadcaster spawned it), with its
  // group.
  BOOST_CHECK(
    kinds
    == (std::set<std::string>{"broadcaster", "deduplicator", "retry_timer",
                              "dlq", "store", "node_manager", "listener"}));
  size_t listeners = 0;
  for (auto& [id, value] : actors)
    if (auto a = caf::get_if<caf::settings>(&value);
        a != nullptr && caf::get_or(*a, "kind", std::string{}) == "listener") {
      ++listeners;
      BOOST_CHECK_EQUAL(caf::get_or(*a, "group", std::string{}), "a");
    }
  BOOST_CHECK_EQUAL(listeners, 1u);
  int64_t accepted = -1;
  for (auto& [id, value] : actors)
    if (auto a = caf::get_if<caf::settings>(&value);
        a != nullptr && caf::get_or(*a, "kind", std::string{}) == "broadcaster")
      accepted = num(*a, "status.broadcaster.accepted");
  BOOST_CHECK_EQUAL(accepted, 3);
}

BOOST_AUTO_TEST_CASE(listener_changes_name_what_is_wrong) {
  add_group("a", 1, always_ok());
  ncfg.name = "core";
  cluster_node core;
  core.name = "core";
  core.port = 1;
  core.http_port = 2;
  cluster_node w1;
  w1.name = "w1";
  w1.role = node_role::worker;
  w1.port = 3;
  ncfg.cluster.nodes = {core, w1};
  start();
  auto refusal = [&](std::string group, std::string node, int32_t delta) {
    self->send(n.manager, atom::listeners_v, std::move(group), std::move(node),
               delta);
    run();
    std::string result;
    self->receive([&](caf::settings&) { result = "ok"; },
                  [&](caf::error& err) { result = render(err); });
    return result;
  };
  BOOST_CHECK_EQUAL(refusal("nope", "core", 1),
                    "unknown_group: no group named 'nope'");
  BOOST_CHECK_EQUAL(refusal("a", "w9", 1),
                    "unknown_node: no node named 'w9' in the cluster config");
  // Not connected (no middleman in this test): down, said so.
  BOOST_CHECK_EQUAL(
    refusal("a", "w1", 1).rfind("node_down: node w1 is down", 0), 0u);
  BOOST_CHECK_EQUAL(refusal("a", "core", 0),
                    "invalid_config: the count must be at least 1");
  BOOST_CHECK_EQUAL(refusal("a", "core", 1), "ok");
}

BOOST_AUTO_TEST_CASE(hello_checks_schema_secret_and_node) {
  add_group("a", 1, always_ok());
  ncfg.name = "core";
  ncfg.cluster.secret = "s3cret";
  cluster_node core;
  core.name = "core";
  core.port = 1;
  core.http_port = 2;
  cluster_node w1;
  w1.name = "w1";
  w1.role = node_role::worker;
  w1.port = 3;
  ncfg.cluster.nodes = {core, w1};
  start();
  auto hello = [&](std::string schema, std::string secret, std::string name,
                   std::string role) {
    self->send(n.endpoint, atom::hello_v, std::move(schema),
               std::string{"9.9.9"}, std::move(name), std::move(role),
               std::move(secret));
    run();
    std::string result;
    self->receive(
      [&](std::string& s, std::string&, std::string& peer, std::string& r,
          node_manager_actor& mgr) {
        BOOST_CHECK_EQUAL(s, schema_id());
        BOOST_CHECK_EQUAL(peer, "core");
        BOOST_CHECK_EQUAL(r, "core");
        BOOST_CHECK(mgr == n.manager);
        result = "ok";
      },
      [&](caf::error& err) { result = render(err); });
    return result;
  };
  BOOST_CHECK_EQUAL(hello(schema_id(), "s3cret", "w1", "worker"), "ok");
  auto other = hello("onceflow-schema-0000000000000000", "s3cret", "w1",
                     "worker");
  BOOST_CHECK_MESSAGE(
    other.find("node w1 runs onceflow 9.9.9 (onceflow-schema-0000000000000000)"
               ", node core runs onceflow "
               + std::string{onceflow_version()} + " (" + schema_id() + ")")
      != std::string::npos,
    other);
  BOOST_CHECK_NE(
    hello(schema_id(), "wrong", "w1", "worker").find("wrong cluster secret"),
    std::string::npos);
  BOOST_CHECK_NE(hello(schema_id(), "s3cret", "w9", "worker")
                   .find("'w9' is not a node of the cluster config"),
                 std::string::npos);
  BOOST_CHECK_NE(hello(schema_id(), "s3cret", "w1", "core")
                   .find("'w1' says it is a core, the cluster config says "
                         "worker"),
                 std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_batch_crosses_caf_serializers_as_one_byte_string) {
  // What the middleman writes for a listener's settlements: one string,
  // the batch codec's bytes, not CAF's element-by-element encoding.
  std::vector<settlement> xs(2);
  xs[0].dl.ev.id = "0192f0c4-7d3e-7a11-9c2b-3f6a2d9e8b01";
  xs[0].dl.ev.seq = 41;
  xs[0].dl.group = "orders";
  xs[0].dl.epoch = 7;
  xs[0].dl.history.push_back({1, 5, "w1", "orders/3", 7, outcome::success, ""});
  xs[0].record_effect = true;
  xs[1].kind = settle_kind::retry;
  xs[1].dl.ev.seq = 42;
  xs[1].due = 1234;
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  BOOST_REQUIRE(!sink(xs));
  std::string blob;
  encode_batch(xs, blob);
  std::vector<char> expected;
  caf::binary_serializer as_string{nullptr, expected};
  BOOST_REQUIRE(!as_string(blob));
  BOOST_CHECK(buf == expected);
  caf::binary_deserializer source{nullptr, buf};
  std::vector<settlement> back;
  BOOST_REQUIRE(!source(back));
  BOOST_REQUIRE_EQUAL(back.size(), 2u);
  BOOST_CHECK_EQUAL(back[0].dl.ev.id, xs[0].dl.ev.id);
  BOOST_CHECK_EQUAL(back[0].dl.history.at(0).listener, "orders/3");
  BOOST_CHECK(back[0].record_effect);
  BOOST_CHECK(back[1].kind == settle_kind::retry);
  BOOST_CHECK_EQUAL(back[1].due, 1234);
  // A dispatch's deliveries alike; a damaged batch is an error, not a
  // half-read vector.
  std::vector<delivery> dls{xs[0].dl, xs[1].dl};
  std::vector<char> dbuf;
  caf::binary_serializer dsink{nullptr, dbuf};
  BOOST_REQUIRE(!dsink(dls));
  blob.clear();
  encode_batch(dls, blob);
  std::vector<char> dexpected;
  caf::binary_serializer das_string{nullptr, dexpected};
  BOOST_REQUIRE(!das_string(blob));
  BOOST_CHECK(dbuf == dexpected);
  blob.pop_back();
  std::vector<char> damaged;
  caf::binary_serializer again{nullptr, damaged};
  BOOST_REQUIRE(!again(blob));
  caf::binary_deserializer bad{nullptr, damaged};
  std::vector<delivery> none;
  BOOST_CHECK(bad(none));
}

BOOST_AUTO_TEST_CASE(the_schema_fingerprint_sees_a_changed_struct) {
  // Two versions of one message type under one name, as two binaries
  // would send it: CAF 0.17 would not notice, the fingerprint does.
  BOOST_CHECK_NE(type_fingerprint<item_v1>(1, "item"),
                 type_fingerprint<item_v2>(1, "item"));
  BOOST_CHECK_EQUAL(type_fingerprint<item_v1>(1, "item"),
                    type_fingerprint<item_v1>(1, "item"));
  // Two versions of one actor interface under one name (a handler added):
  // the handle's fingerprint differs.
  using if_v1 = caf::typed_actor<caf::reacts_to<atom::done, uint64_t>>;
  using if_v2 = caf::typed_actor<caf::reacts_to<atom::done, uint64_t>,
                                 caf::reacts_to<atom::done, std::string>>;
  BOOST_CHECK_NE(handle_fingerprint<if_v1>(1, "onceflow::listener_actor"),
                 handle_fingerprint<if_v2>(1, "onceflow::listener_actor"));
  BOOST_CHECK_EQUAL(handle_fingerprint<if_v1>(1, "onceflow::listener_actor"),
                    handle_fingerprint<if_v1>(1, "onceflow::listener_actor"));
  // The real one covers onceflow's types and is stable.
  BOOST_CHECK_EQUAL(schema_fingerprint(), schema_fingerprint());
  BOOST_CHECK_EQUAL(schema_id().size(),
                    std::string{"onceflow-schema-"}.size() + 16);
}

BOOST_AUTO_TEST_SUITE_END()
