// The broadcaster decides on store failures by their kind (store_error's
// kind, mapped to an `ec` by the store actor), never by their text: a store
// that lost a group makes it register that group again, reading its log
// from the start; a store whose data was replaced makes it register every
// group again. The injected errors carry texts that name neither. While the
// groups cannot be registered (the store cannot be reached at start),
// appends are refused at once. The store actor's heartbeat, and a refusal
// (kind refused) that takes it down. A settlement the store cannot commit.

#include "adapters/forwarding_store.hpp"
#include "tests/actors/fixture.hpp"

#include <optional>
#include <set>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

namespace {

/// Fails reads of the groups in `lost` with the kind `fault` until the
/// group is registered again; records every registration.
class faulty_store : public forwarding_store {
public:
  using forwarding_store::forwarding_store;

  std::set<std::string> lost;
  store_error::kind fault = store_error::kind::unknown_group;
  std::vector<group_spec> joins;

  void ensure_group(const group_spec& spec) override {
    if (joins_fail)
      throw store_error("redis://x: connection refused (injected)");
    joins.push_back(spec);
    lost.erase(spec.name);
    forwarding_store::ensure_group(spec);
  }

  /// Registrations fail while set (a store that cannot be reached).
  bool joins_fail = false;

  /// Appends fail while set (the store still answers pings).
  bool appends_fail = false;

  /// The heartbeat's interval; what heartbeats throw while `beat_fault` is
  /// set; how many there were.
  millis_t beat_every = 0;
  std::optional<store_error::kind> beat_fault;
  size_t beats = 0;

  millis_t heartbeat_interval() const override {
    return beat_every;
  }

  void heartbeat() override {
    ++beats;
    if (beat_fault)
      throw store_error("node name 'n' is held by a live node (injected)",
                        *beat_fault);
  }

  std::vector<append_result> append(std::vector<event>& batch, millis_t now,
                                    millis_t window) override {
    if (appends_fail)
      throw store_error("UNIQUE constraint failed: log.seq (injected)");
    return forwarding_store::append(batch, now, window);
  }

  /// So many settlement calls fail (a store that cannot commit now).
  size_t settles_to_fail = 0;
  size_t settles = 0;

  std::vector<fence_decision> settle(const std::vector<settlement>& items,
                                     millis_t now) override {
    ++settles;
    if (settles_to_fail > 0) {
      --settles_to_fail;
      throw store_error("connection reset by peer (injected)");
    }
    return forwarding_store::settle(items, now);
  }

  std::vector<event> read_group(const std::string& group, size_t max,
                                millis_t now) override {
    if (lost.count(group) > 0)
      throw store_error("read refused (injected)", fault);
    return forwarding_store::read_group(group, max, now);
  }

  size_t joins_of(const std::string& group, bool from_start) const {
    size_t n = 0;
    for (auto& j : joins)
      if (j.name == group && j.from_start == from_start)
        ++n;
    return n;
  }
};

struct store_errors_fixture : fixture {
  std::shared_ptr<faulty_store> faulty;

  store_errors_fixture() {
    faulty = std::make_shared<faulty_store>(st);
    st = faulty;
  }

  /// Publishes one event while `group` reads fail with `kind`, then lets
  /// the broadcaster recover.
  void publish_while_lost(std::set<std::string> groups, store_error::kind k,
                          const std::string& id) {
    faulty->fault = k;
    faulty->lost = std::move(groups);
    publish({make_event(id, "t")});
    advance_in_steps(3s, 100ms);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(store_errors, store_errors_fixture)

BOOST_AUTO_TEST_CASE(unknown_group_registers_that_group_from_the_start) {
  add_group("a", 1, always_ok());
  add_group("b", 1, always_ok());
  start();
  BOOST_CHECK_EQUAL(faulty->joins_of("a", false), 1u);
  publish({make_event("e1", "t")});
  BOOST_CHECK_EQUAL(effects("e1", "a"), 1u);
  publish_while_lost({"a"}, store_error::kind::unknown_group, "e2");
  // Registered again reading the whole log; the other group untouched.
  BOOST_CHECK_EQUAL(faulty->joins_of("a", true), 1u);
  BOOST_CHECK_EQUAL(faulty->joins_of("b", true), 0u);
  BOOST_CHECK_EQUAL(effects("e2", "a"), 1u);
  BOOST_CHECK_EQUAL(effects("e2", "b"), 1u);
  BOOST_CHECK_EQUAL(effects("e1", "a"), 1u);
}

BOOST_AUTO_TEST_CASE(generation_change_registers_every_group_again) {
  add_group("a", 1, always_ok());
  add_group("b", 1, always_ok());
  start();
  publish({make_event("e1", "t")});
  publish_while_lost({"a"}, store_error::kind::generation_changed, "e2");
  // One group's read saw the change: every group starts over.
  BOOST_CHECK_EQUAL(faulty->joins_of("a", true), 1u);
  BOOST_CHECK_EQUAL(faulty->joins_of("b", true), 1u);
  BOOST_CHECK_EQUAL(effects("e2", "a"), 1u);
  BOOST_CHECK_EQUAL(effects("e2", "b"), 1u);
  BOOST_CHECK_EQUAL(effects("e1", "b"), 1u);
}

BOOST_AUTO_TEST_CASE(plain_failure_keeps_the_group) {
  add_group("a", 1, always_ok());
  start();
  publish_while_lost({"a"}, store_error::kind::failure, "e1");
  // Retried, never registered again: only a registration clears the fault.
  BOOST_CHECK_EQUAL(faulty->joins_of("a", true), 0u);
  BOOST_CHECK_EQUAL(effects("e1", "a"), 0u);
  faulty->lost.clear();
  advance_in_steps(3s, 100ms);
  BOOST_CHECK_EQUAL(effects("e1", "a"), 1u);
}

BOOST_AUTO_TEST_CASE(a_batch_the_store_could_not_settle_runs_again_once) {
  // The deduplicator settles a listener's batch and reports it to the
  // broadcaster for the listener: when the commit fails, the report says
  // failed and the entries come back a second later; the next run's
  // settlement commits, and the effect is recorded once.
  add_group("a", 1, always_ok());
  start();
  faulty->settles_to_fail = 1;
  publish({make_event("e1", "t"), make_event("e2", "t")});
  BOOST_CHECK_EQUAL(faulty->settles, 1u);
  BOOST_CHECK_EQUAL(probes->count("e1"), 1u);
  BOOST_CHECK_EQUAL(effects("e1", "a") + effects("e2", "a"), 0u);
  auto bc = [&](const char* key) {
    auto s = ask<caf::settings>(*this, n.broadcaster, atom::status_v);
    return caf::get_or(s, key, uint64_t{0});
  };
  // Reported (nothing in flight at the listener any more), not lost.
  BOOST_CHECK_EQUAL(bc("groups.a.in-flight"), 0u);
  BOOST_CHECK(status("e1", "a") == event_status::in_flight);
  advance(900ms);
  BOOST_CHECK_EQUAL(probes->count("e1"), 1u);
  advance_in_steps(2s, 100ms);
  BOOST_CHECK_EQUAL(probes->count("e1"), 2u);
  BOOST_CHECK_EQUAL(probes->count("e2"), 2u);
  BOOST_CHECK_EQUAL(effects("e1", "a"), 1u);
  BOOST_CHECK_EQUAL(effects("e2", "a"), 1u);
  BOOST_CHECK(status("e1", "a") == event_status::processed);
  BOOST_CHECK(status("e2", "a") == event_status::processed);
  BOOST_CHECK_EQUAL(bc("broadcaster.redelivered"), 2u);
  BOOST_CHECK_EQUAL(bc("groups.a.in-flight"), 0u);
}

BOOST_AUTO_TEST_CASE(failing_appends_show_in_the_status_for_readiness) {
  add_group("a", 1, always_ok());
  start();
  auto append_error = [&] {
    auto s = ask<caf::settings>(*this, n.broadcaster, atom::status_v);
    return caf::get_or(s, "broadcaster.append-error", std::string{"?"});
  };
  BOOST_CHECK_EQUAL(append_error(), "");
  faulty->appends_fail = true;
  publish_error({make_event("e1", "t")});
  BOOST_CHECK(append_error().find("UNIQUE constraint failed")
              != std::string::npos);
  // Still failing a moment later; an append that succeeds clears it.
  advance(1000ms);
  BOOST_CHECK(!append_error().empty());
  faulty->appends_fail = false;
  publish({make_event("e2", "t")});
  BOOST_CHECK_EQUAL(append_error(), "");
  // Without traffic, a failure stops counting after the window.
  faulty->appends_fail = true;
  publish_error({make_event("e3", "t")});
  BOOST_CHECK(!append_error().empty());
  advance_in_steps(10s, 1s);
  BOOST_CHECK_EQUAL(append_error(), "");
}

BOOST_AUTO_TEST_CASE(store_actor_maps_kinds_to_codes) {
  add_group("a", 1, always_ok());
  start();
  auto code_of = [&](store_error::kind k) {
    faulty->fault = k;
    faulty->lost = {"a"};
    self->send(n.store, atom::read_v, std::string{"a"}, uint32_t{10},
               millis_t{0});
    run();
    uint8_t code = 0;
    self->receive([&](std::vector<event>&) { BOOST_FAIL("read succeeded"); },
                  [&](caf::error& err) { code = err.code(); });
    faulty->lost.clear();
    return static_cast<ec>(code);
  };
  BOOST_CHECK(code_of(store_error::kind::failure) == ec::store_failure);
  BOOST_CHECK(code_of(store_error::kind::unknown_group)
              == ec::store_unknown_group);
  BOOST_CHECK(code_of(store_error::kind::generation_changed)
              == ec::store_generation_changed);
  BOOST_CHECK(is_transient(ec::store_unknown_group));
  BOOST_CHECK(is_transient(ec::store_generation_changed));
}

BOOST_AUTO_TEST_CASE(appends_are_refused_while_the_groups_cannot_register) {
  add_group("a", 1, always_ok());
  faulty->joins_fail = true;
  // An append that arrives before the first registration answers waits
  // for it; it fails, so the append is refused, and so are the next ones,
  // at once: nothing is stored that the client was told failed.
  n = start_node(
    sys, ncfg, st, false, [] { return 1.0; }, &handlers);
  self->send(n.broadcaster, atom::ingest_v,
             std::vector<event>{make_event("e0", "t")});
  run();
  caf::error first;
  self->receive(
    [&](std::vector<append_result>&) { BOOST_FAIL("ingest succeeded"); },
    [&](caf::error& err) { first = err; });
  for (auto& err : {first, publish_error({make_event("e1", "t")})}) {
    BOOST_CHECK(static_cast<ec>(err.code()) == ec::store_failure);
    auto text = render(err);
    BOOST_CHECK_MESSAGE(
      text.find("groups cannot be registered") != std::string::npos
        && text.find("connection refused (injected)") != std::string::npos,
      text);
  }
  advance_in_steps(3s, 100ms);
  BOOST_CHECK_EQUAL(st->head(), 0u);
  // Readiness sees it (/ready: "groups").
  auto groups_error = [&] {
    auto s = ask<caf::settings>(*this, n.broadcaster, atom::status_v);
    return caf::get_or(s, "broadcaster.groups-error", std::string{"?"});
  };
  BOOST_CHECK_MESSAGE(groups_error().find("connection refused (injected)")
                        != std::string::npos,
                      groups_error());
  // The store answers again: the groups register, appends go through.
  faulty->joins_fail = false;
  advance_in_steps(1500ms, 100ms);
  BOOST_CHECK_EQUAL(faulty->joins_of("a", false), 1u);
  BOOST_CHECK_EQUAL(groups_error(), "");
  publish({make_event("e2", "t")});
  advance_in_steps(1s, 100ms);
  BOOST_CHECK_EQUAL(effects("e2", "a"), 1u);
  BOOST_CHECK_EQUAL(effects("e0"), 0u);
  BOOST_CHECK_EQUAL(effects("e1"), 0u);
}

BOOST_AUTO_TEST_CASE(heartbeats_run_and_a_refusal_takes_the_store_down) {
  add_group("a", 1, always_ok());
  faulty->beat_every = 500;
  start();
  self->monitor(n.store);
  advance(499ms);
  BOOST_CHECK_EQUAL(faulty->beats, 0u);
  advance(1ms);
  BOOST_CHECK_EQUAL(faulty->beats, 1u);
  advance(500ms);
  BOOST_CHECK_EQUAL(faulty->beats, 2u);
  // A failing heartbeat is tried again; the store actor stays.
  faulty->beat_fault = store_error::kind::failure;
  advance(500ms);
  advance(500ms);
  BOOST_CHECK_EQUAL(faulty->beats, 4u);
  BOOST_CHECK(ask<bool>(*this, n.store, atom::ping_v));
  // A refusal: the store actor goes down with it (the node stops).
  faulty->beat_fault = store_error::kind::refused;
  advance(500ms);
  BOOST_CHECK_EQUAL(faulty->beats, 5u);
  bool down = false;
  self->receive(
    [&](caf::down_msg& msg) {
      down = true;
      BOOST_CHECK(msg.source == n.store.address());
      BOOST_CHECK_MESSAGE(render(msg.reason).find("held by a live node")
                            != std::string::npos,
                          render(msg.reason));
    },
    caf::after(std::chrono::seconds(0)) >> [] {});
  BOOST_CHECK(down);
  advance(2s);
  BOOST_CHECK_EQUAL(faulty->beats, 5u);
}

BOOST_AUTO_TEST_CASE(a_refused_call_takes_the_store_down) {
  add_group("a", 1, always_ok());
  start();
  self->monitor(n.store);
  faulty->fault = store_error::kind::refused;
  faulty->lost = {"a"};
  self->send(n.store, atom::read_v, std::string{"a"}, uint32_t{10},
             millis_t{0});
  run();
  bool failed = false;
  bool down = false;
  for (int i = 0; i < 2; ++i)
    self->receive([&](std::vector<event>&) { BOOST_FAIL("read succeeded"); },
                  [&](caf::error&) { failed = true; },
                  [&](caf::down_msg&) { down = true; },
                  caf::after(std::chrono::seconds(0)) >> [] {});
  BOOST_CHECK(failed);
  BOOST_CHECK(down);
}

BOOST_AUTO_TEST_SUITE_END()
