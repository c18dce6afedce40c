// The node's CAF endpoint (what `onceflow publish` / `status` and C++
// clients reach over the network): every call carries an API key, checked
// like the HTTP API's bearer key when the node has keys (issue 13, defect
// 3: the endpoint accepted events with no key while HTTP refused them).

#include "tests/actors/fixture.hpp"

#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;

namespace {

api_key make_key(const std::string& spec) {
  api_key k;
  BOOST_REQUIRE_EQUAL(parse_api_key(spec, k), "");
  return k;
}

/// Sends a request to the endpoint and returns the error it answers with
/// (none if it succeeded).
template <class... Ts>
caf::error endpoint_error(fixture& f, Ts... xs) {
  f.self->send(f.n.endpoint, std::move(xs)...);
  f.run();
  caf::error result;
  BOOST_REQUIRE(!f.self->mailbox().empty());
  f.self->receive([](std::vector<append_result>&) {},
                  [](std::vector<group_status>&) {}, [](caf::settings&) {},
                  [&](caf::error& err) { result = std::move(err); });
  return result;
}

ec code_of(const caf::error& err) {
  BOOST_REQUIRE(err);
  BOOST_REQUIRE(err.category() == caf::atom("onceflow"));
  return static_cast<ec>(err.code());
}

struct keyed_fixture : fixture {
  keyed_fixture() {
    add_group("a", 1,
              [](const event&, uint32_t, size_t) { return ok_effect(); });
    ncfg.http.keys = {make_key("pub:p-secret:publish"),
                      make_key("ro:r-secret:read"),
                      make_key("ops:a-secret:admin")};
    start();
  }

  std::vector<event> one(const std::string& id) {
    return {make_event(id, "order.created")};
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(endpoint, keyed_fixture)

BOOST_AUTO_TEST_CASE(ingest_without_a_key_is_refused_and_nothing_is_appended) {
  auto err = endpoint_error(*this, atom::ingest_v, std::string{}, one("e1"));
  BOOST_CHECK(code_of(err) == ec::unauthorized);
  BOOST_CHECK_NE(render(err).find("missing API key"), std::string::npos);
  BOOST_CHECK_EQUAL(st->find("e1").seq, 0u);
}

BOOST_AUTO_TEST_CASE(ingest_with_an_unknown_key_is_refused) {
  auto err = endpoint_error(*this, atom::ingest_v, std::string{"p-secreT"},
                            one("e1"));
  BOOST_CHECK(code_of(err) == ec::unauthorized);
  BOOST_CHECK_NE(render(err).find("unknown API key"), std::string::npos);
  BOOST_CHECK_EQUAL(st->find("e1").seq, 0u);
}

BOOST_AUTO_TEST_CASE(ingest_with_a_read_key_is_forbidden) {
  auto err = endpoint_error(*this, atom::ingest_v, std::string{"r-secret"},
                            one("e1"));
  BOOST_CHECK(code_of(err) == ec::forbidden);
  BOOST_CHECK_NE(render(err).find("'ro' lacks role 'publish'"),
                 std::string::npos);
  BOOST_CHECK_EQUAL(st->find("e1").seq, 0u);
}

BOOST_AUTO_TEST_CASE(ingest_with_a_publish_or_admin_key_runs_the_event) {
  auto rs = ask<std::vector<append_result>>(*this, n.endpoint, atom::ingest_v,
                                            std::string{"p-secret"}, one("e1"));
  BOOST_REQUIRE_EQUAL(rs.size(), 1u);
  BOOST_CHECK(!rs[0].duplicate);
  rs = ask<std::vector<append_result>>(*this, n.endpoint, atom::ingest_v,
                                       std::string{"a-secret"}, one("e2"));
  BOOST_REQUIRE_EQUAL(rs.size(), 1u);
  run();
  BOOST_CHECK_EQUAL(effects("e1", "a"), 1u);
  BOOST_CHECK_EQUAL(effects("e2", "a"), 1u);
}

BOOST_AUTO_TEST_CASE(query_and_status_need_the_read_role) {
  publish(one("e1"));
  BOOST_CHECK(code_of(endpoint_error(*this, atom::query_v, std::string{},
                                     std::string{"e1"}))
              == ec::unauthorized);
  BOOST_CHECK(
    code_of(endpoint_error(*this, atom::query_v, std::string{"p-secret"},
                           std::string{"e1"}))
    == ec::forbidden);
  BOOST_CHECK(code_of(endpoint_error(*this, atom::status_v, std::string{}))
              == ec::unauthorized);
  auto xs = ask<std::vector<group_status>>(*this, n.endpoint, atom::query_v,
                                           std::string{"r-secret"},
                                           std::string{"e1"});
  BOOST_REQUIRE_EQUAL(xs.size(), 1u);
  BOOST_CHECK_EQUAL(xs[0].group, "a");
  auto s = ask<caf::settings>(*this, n.endpoint, atom::status_v,
                              std::string{"a-secret"});
  BOOST_CHECK(!s.empty());
}

BOOST_AUTO_TEST_CASE(the_consoles_reads_need_read_and_its_changes_admin) {
  publish(one("e1"));
  run();
  std::string none;
  std::string pub{"p-secret"};
  std::string ro{"r-secret"};
  std::string ops{"a-secret"};
  std::string id{"e1"};
  std::string group{"a"};
  // Reads: refused without a key or with a publish key.
  BOOST_CHECK(code_of(endpoint_error(*this, atom::members_v, none))
              == ec::unauthorized);
  BOOST_CHECK(code_of(endpoint_error(*this, atom::actors_v, pub))
              == ec::forbidden);
  BOOST_CHECK(code_of(endpoint_error(*this, atom::history_v, pub, id))
              == ec::forbidden);
  BOOST_CHECK(code_of(endpoint_error(*this, atom::list_v, none, dlq_query{}))
              == ec::unauthorized);
  // ... and answered with a read key.
  auto members = ask<caf::settings>(*this, n.endpoint, atom::members_v, ro);
  BOOST_CHECK_EQUAL(caf::get_or(members, "self", std::string{}), ncfg.name);
  auto actors = ask<caf::settings>(*this, n.endpoint, atom::actors_v, ro);
  BOOST_CHECK(!actors.empty());
  auto h = ask<event_history>(*this, n.endpoint, atom::history_v, ro, id);
  BOOST_CHECK_EQUAL(h.ev.id, "e1");
  BOOST_REQUIRE_EQUAL(h.groups.size(), 1u);
  auto rs = ask<std::vector<processed_record>>(*this, n.endpoint,
                                               atom::processed_v, ro, id);
  BOOST_REQUIRE_EQUAL(rs.size(), 1u);
  BOOST_CHECK_EQUAL(rs[0].group, "a");
  BOOST_CHECK_EQUAL(ask<uint64_t>(*this, n.endpoint, atom::count_v, ro, group),
                    0u);
  auto page = ask<dlq_page>(*this, n.endpoint, atom::list_v, ro, dlq_query{});
  BOOST_CHECK(page.entries.empty());
  // Changes: refused with a read key, done with an admin key.
  BOOST_CHECK(code_of(endpoint_error(*this, atom::pause_v, ro, group, true))
              == ec::forbidden);
  BOOST_CHECK(code_of(endpoint_error(*this, atom::replay_v, ro, id, group))
              == ec::forbidden);
  BOOST_CHECK(code_of(endpoint_error(*this, atom::purge_v, ro, id))
              == ec::forbidden);
  BOOST_CHECK(
    code_of(endpoint_error(*this, atom::purge_v, ro, atom::groups_v, group))
    == ec::forbidden);
  BOOST_CHECK(ask<bool>(*this, n.endpoint, atom::pause_v, ops, group, true));
  BOOST_CHECK(!ask<bool>(*this, n.endpoint, atom::pause_v, ops, group, false));
  BOOST_CHECK_EQUAL(ask<uint64_t>(*this, n.endpoint, atom::purge_v, ops, id),
                    0u);
  BOOST_CHECK(code_of(endpoint_error(*this, atom::pause_v, ops,
                                     std::string{"nope"}, true))
              == ec::unknown_group);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(endpoint_without_keys, fixture)

BOOST_AUTO_TEST_CASE(every_call_is_allowed_when_the_node_has_no_keys) {
  add_group("a", 1, [](const event&, uint32_t, size_t) { return ok_effect(); });
  start();
  auto rs = ask<std::vector<append_result>>(
    *this, n.endpoint, atom::ingest_v, std::string{},
    std::vector<event>{make_event("e1", "t")});
  BOOST_REQUIRE_EQUAL(rs.size(), 1u);
  run();
  BOOST_CHECK_EQUAL(effects("e1", "a"), 1u);
}

BOOST_AUTO_TEST_SUITE_END()
