// The store contract of the settings port: groups' run-time overrides
// (pause, rate limit, listener count) are set and dropped setting by
// setting, read for every group in one call, survive a reopen, and (Redis)
// are seen at once by every store over the same data.

#include "tests/integration/contract/backends.hpp"

#include <string>
#include <vector>

using namespace onceflow;
using namespace onceflow::test;

namespace {

using gs = group_setting;

group_overrides paused(const std::string& group, bool value = true) {
  group_overrides o;
  o.group = group;
  o.fields = bit(gs::paused);
  o.paused = value;
  return o;
}

group_overrides rate(const std::string& group, double r, double burst = -1) {
  group_overrides o;
  o.group = group;
  o.fields = bit(gs::rate);
  o.rate = r;
  if (burst >= 0) {
    o.fields |= bit(gs::burst);
    o.burst = burst;
  }
  return o;
}

group_overrides concurrency(const std::string& group, uint32_t n) {
  group_overrides o;
  o.group = group;
  o.fields = bit(gs::concurrency);
  o.concurrency = n;
  return o;
}

/// "group:setting=value ..." of every group's overrides, in their order.
std::string shown(const std::vector<group_overrides>& xs) {
  std::string out;
  for (auto& o : xs)
    for (auto s : all_group_settings)
      if (o.has(s))
        out += (out.empty() ? "" : " ") + o.group + ":" + to_string(s) + "="
               + value_text(o, s);
  return out;
}

std::string shown(const group_overrides& o) {
  return shown(std::vector<group_overrides>{o});
}

} // namespace

BOOST_AUTO_TEST_SUITE(settings_contract)

BOOST_DATA_TEST_CASE(overrides_are_set_and_dropped_setting_by_setting,
                     bdata::make(all_backends), name) {
  harness h{name};
  auto& s = *h.s;
  BOOST_CHECK(s.group_overrides_all().empty());
  // A change answers the group's overrides after it.
  BOOST_CHECK_EQUAL(shown(s.change_group_overrides(paused("orders"), 0)),
                    "orders:paused=1");
  // Another setting leaves the first alone.
  BOOST_CHECK_EQUAL(shown(s.change_group_overrides(rate("orders", 0.5, 2), 0)),
                    "orders:paused=1 orders:rate=0.5 orders:burst=2");
  BOOST_CHECK_EQUAL(shown(s.change_group_overrides(concurrency("audit", 7), 0)),
                    "audit:concurrency=7");
  // Every group in one call, by name.
  BOOST_CHECK_EQUAL(shown(s.group_overrides_all()),
                    "audit:concurrency=7 orders:paused=1 orders:rate=0.5 "
                    "orders:burst=2");
  // A setting set again takes the new value; paused=false is a value too.
  BOOST_CHECK_EQUAL(shown(s.change_group_overrides(paused("orders", false), 0)),
                    "orders:paused=0 orders:rate=0.5 orders:burst=2");
  // Dropping settings, some of which are not there.
  group_overrides none;
  none.group = "orders";
  BOOST_CHECK_EQUAL(
    shown(s.change_group_overrides(none, bit(gs::paused) | bit(gs::burst)
                                           | bit(gs::concurrency))),
    "orders:rate=0.5");
  // Set and dropped in one change: set.
  BOOST_CHECK_EQUAL(
    shown(s.change_group_overrides(rate("orders", 1e9), bit(gs::rate))),
    "orders:rate=1000000000");
  // Dropping every setting: the group has none left and is not listed.
  auto after = s.change_group_overrides(none, every_group_setting);
  BOOST_CHECK(after.empty());
  BOOST_CHECK_EQUAL(after.group, "orders");
  BOOST_CHECK_EQUAL(shown(s.group_overrides_all()), "audit:concurrency=7");
  // A group the store has never heard of: nothing to drop.
  none.group = "nobody";
  BOOST_CHECK(s.change_group_overrides(none, every_group_setting).empty());
  BOOST_CHECK_EQUAL(shown(s.group_overrides_all()), "audit:concurrency=7");
}

BOOST_DATA_TEST_CASE(values_keep_their_precision, bdata::make(all_backends),
                     name) {
  harness h{name};
  auto& s = *h.s;
  s.change_group_overrides(rate("g", 0.001, 1.5), 0);
  s.change_group_overrides(rate("h", 123456.789), 0);
  auto all = s.group_overrides_all();
  BOOST_REQUIRE_EQUAL(all.size(), 2u);
  BOOST_CHECK_EQUAL(all[0].group, "g");
  BOOST_CHECK_EQUAL(all[0].rate, 0.001);
  BOOST_CHECK_EQUAL(all[0].burst, 1.5);
  BOOST_CHECK_EQUAL(all[1].rate, 123456.789);
  BOOST_CHECK(!all[1].has(gs::burst));
  // Group names with the characters of other groups' names.
  s.change_group_overrides(concurrency("g-1_x.y", 3), 0);
  BOOST_CHECK_EQUAL(shown(s.group_overrides_all()),
                    "g:rate=0.001 g:burst=1.5 g-1_x.y:concurrency=3 "
                    "h:rate=123456.789");
}

BOOST_DATA_TEST_CASE(overrides_survive_a_reopen,
                     bdata::make(persistent_backends), name) {
  harness h{name};
  h.s->change_group_overrides(paused("orders"), 0);
  h.s->change_group_overrides(concurrency("orders", 4), 0);
  h.s->change_group_overrides(rate("audit", 10), 0);
  h.reopen();
  BOOST_CHECK_EQUAL(shown(h.s->group_overrides_all()),
                    "audit:rate=10 orders:paused=1 orders:concurrency=4");
}

BOOST_AUTO_TEST_CASE(every_store_over_the_data_sees_a_change_at_once) {
  // Redis: the stores of several nodes share one server (the contract's
  // backends are opened one at a time, SQLite's file by one store).
  if (skip_redis_tests())
    return;
  auto prefix = unique_prefix("settings");
  auto a = open_store(shared_server().url(), prefix);
  auto b = open_store(shared_server().url(), prefix);
  a->change_group_overrides(paused("orders"), 0);
  BOOST_CHECK_EQUAL(shown(b->group_overrides_all()), "orders:paused=1");
  // Changes of different settings by different nodes never undo each
  // other.
  b->change_group_overrides(rate("orders", 5), 0);
  a->change_group_overrides(concurrency("orders", 2), 0);
  BOOST_CHECK_EQUAL(shown(a->group_overrides_all()),
                    "orders:paused=1 orders:rate=5 orders:concurrency=2");
  group_overrides none;
  none.group = "orders";
  b->change_group_overrides(none, bit(gs::paused));
  BOOST_CHECK_EQUAL(shown(a->group_overrides_all()),
                    "orders:rate=5 orders:concurrency=2");
}

BOOST_AUTO_TEST_SUITE_END()
