// Unit tests for actors/logic/group_settings.hpp: run-time overrides of a
// group's settings (their stored text, merging a change, the rules of
// their values), the settings a group runs with, and what a change of the
// listener count does to a group's listeners; and token_bucket::change,
// which a change of the rate limit makes.

#include "actors/logic/group_settings.hpp"
#include "actors/logic/token_bucket.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace onceflow;

namespace {

using gs = group_setting;

group_overrides with(gs s, double value) {
  group_overrides o;
  o.group = "g";
  switch (s) {
    case gs::paused:
      o.paused = value != 0;
      break;
    case gs::rate:
      o.rate = value;
      break;
    case gs::burst:
      o.burst = value;
      break;
    case gs::concurrency:
      o.concurrency = static_cast<uint32_t>(value);
      break;
  }
  o.fields = bit(s);
  return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(group_settings)

BOOST_AUTO_TEST_CASE(stored_texts_read_back_to_the_same_values) {
  group_overrides o;
  o.group = "g";
  o.fields = every_group_setting;
  o.paused = true;
  o.rate = 0.1;
  o.burst = 2.5;
  o.concurrency = 12;
  group_overrides back;
  back.group = "g";
  for (auto s : all_group_settings)
    BOOST_TEST(set_from_text(back, s, value_text(o, s)), to_string(s));
  BOOST_TEST(back.fields == every_group_setting);
  BOOST_TEST(back.paused);
  BOOST_TEST(back.rate == 0.1);
  BOOST_TEST(back.burst == 2.5);
  BOOST_TEST(back.concurrency == 12u);
  BOOST_TEST((back == o));
  BOOST_TEST(std::string{to_string(gs::paused)} == "paused");
  BOOST_TEST(std::string{to_string(gs::rate)} == "rate");
  BOOST_TEST(std::string{to_string(gs::burst)} == "burst");
  BOOST_TEST(std::string{to_string(gs::concurrency)} == "concurrency");
  for (auto s : all_group_settings) {
    group_setting back_s = gs::paused;
    BOOST_TEST(setting_from_string(to_string(s), back_s));
    BOOST_TEST((back_s == s));
  }
  group_setting none = gs::rate;
  BOOST_TEST(!setting_from_string("rate-limit", none));
  BOOST_TEST((none == gs::rate));
}

BOOST_AUTO_TEST_CASE(texts_that_are_no_value_are_refused) {
  group_overrides o;
  for (auto text : {"", "yes", "2", "-0"})
    BOOST_TEST(!set_from_text(o, gs::paused, text), text);
  for (auto text : {"", "x", "-1", "1e999", "nan", "1.5x"})
    BOOST_TEST(!set_from_text(o, gs::rate, text), text);
  for (auto text : {"", "-2", "1.5", "12345678901"})
    BOOST_TEST(!set_from_text(o, gs::concurrency, text), text);
  BOOST_TEST(o.fields == 0u);
}

BOOST_AUTO_TEST_CASE(a_change_sets_what_it_holds_and_drops_what_it_clears) {
  auto current = merge(with(gs::paused, 1), with(gs::rate, 100), 0);
  BOOST_TEST(current.fields == (bit(gs::paused) | bit(gs::rate)));
  BOOST_TEST(current.paused);
  BOOST_TEST(current.rate == 100);
  // Another setting leaves these alone.
  current = merge(current, with(gs::concurrency, 4), 0);
  BOOST_TEST(current.fields
             == (bit(gs::paused) | bit(gs::rate) | bit(gs::concurrency)));
  BOOST_TEST(current.concurrency == 4u);
  // Clearing drops a setting (back to the config's value).
  current = merge(current, group_overrides{}, bit(gs::paused));
  BOOST_TEST(!current.has(gs::paused));
  BOOST_TEST(current.has(gs::rate));
  // A setting both set and cleared is set.
  current = merge(current, with(gs::rate, 5), bit(gs::rate));
  BOOST_TEST(current.has(gs::rate));
  BOOST_TEST(current.rate == 5);
  current = merge(current, group_overrides{}, every_group_setting);
  BOOST_TEST(current.empty());
}

BOOST_AUTO_TEST_CASE(values_follow_the_config_files_rules) {
  BOOST_TEST(check(with(gs::rate, 0)).empty());
  BOOST_TEST(check(with(gs::rate, 0.001)).empty());
  BOOST_TEST(check(with(gs::rate, 1e9)).empty());
  BOOST_TEST(check(with(gs::rate, 0.0005)).field == "rateLimit");
  BOOST_TEST(check(with(gs::rate, 2e9)).message
             == "rateLimit must be 0 (unlimited) or 0.001 to 1e9 events/s");
  BOOST_TEST(check(with(gs::burst, 0)).empty());
  BOOST_TEST(check(with(gs::burst, 1)).empty());
  BOOST_TEST(check(with(gs::burst, 0.5)).field == "rateBurst");
  BOOST_TEST(check(with(gs::concurrency, 1)).empty());
  BOOST_TEST(check(with(gs::concurrency, 1024)).empty());
  BOOST_TEST(check(with(gs::concurrency, 0)).message
             == "concurrency must be 1 to 1024 listeners");
  BOOST_TEST(check(with(gs::concurrency, 1025)).field == "concurrency");
  // A value outside the change's fields is not looked at.
  auto o = with(gs::rate, 10);
  o.concurrency = 0;
  BOOST_TEST(check(o).empty());
}

BOOST_AUTO_TEST_CASE(overrides_replace_the_configs_values) {
  auto r = effective(50, 0, 2, group_overrides{});
  BOOST_TEST(!r.paused);
  BOOST_TEST(r.rate == 50);
  BOOST_TEST(r.bucket_size() == 50);
  BOOST_TEST(r.concurrency == 2u);
  BOOST_TEST(r.overridden == 0u);
  auto o = merge(with(gs::rate, 10), with(gs::concurrency, 4), 0);
  r = effective(50, 80, 2, o);
  BOOST_TEST(r.rate == 10);
  // A configured burst stays unless overridden too.
  BOOST_TEST(r.bucket_size() == 80);
  BOOST_TEST(r.concurrency == 4u);
  BOOST_TEST(r.overridden == (bit(gs::rate) | bit(gs::concurrency)));
  // A burst of 0 is the (overridden) rate.
  BOOST_TEST(effective(50, 0, 2, o).bucket_size() == 10);
  BOOST_TEST(effective(50, 0, 2, with(gs::paused, 1)).paused);
  BOOST_TEST(!effective(50, 0, 2, with(gs::paused, 0)).paused);
}

BOOST_AUTO_TEST_CASE(fewer_listeners_retire_idle_ones_first) {
  std::vector<listener_view> xs{
    {1, true, false}, {2, false, false}, {3, true, false}, {4, false, false}};
  auto p = resize_listeners(xs, 3);
  BOOST_TEST(p.retire == std::vector<uint32_t>({4}));
  BOOST_TEST(p.spawn == 0u);
  p = resize_listeners(xs, 1);
  // The idle ones, then the youngest busy one.
  BOOST_TEST(p.retire == std::vector<uint32_t>({4, 2, 3}));
  BOOST_TEST(p.keep.empty());
  // Already retiring ones do not count.
  xs[2].retiring = true;
  p = resize_listeners(xs, 2);
  BOOST_TEST(p.retire == std::vector<uint32_t>({4}));
  BOOST_TEST(resize_listeners(xs, 3).retire.empty());
  BOOST_TEST(resize_listeners(xs, 3).spawn == 0u);
}

BOOST_AUTO_TEST_CASE(more_listeners_keep_retiring_ones_first) {
  std::vector<listener_view> xs{
    {1, true, false}, {5, true, true}, {3, true, true}};
  auto p = resize_listeners(xs, 2);
  BOOST_TEST(p.keep == std::vector<uint32_t>({3}));
  BOOST_TEST(p.spawn == 0u);
  BOOST_TEST(p.retire.empty());
  p = resize_listeners(xs, 6);
  BOOST_TEST(p.keep == std::vector<uint32_t>({3, 5}));
  BOOST_TEST(p.spawn == 3u);
  p = resize_listeners({}, 2);
  BOOST_TEST(p.spawn == 2u);
  // Nothing to do.
  p = resize_listeners(xs, 1);
  BOOST_TEST(p.retire.empty());
  BOOST_TEST(p.keep.empty());
  BOOST_TEST(p.spawn == 0u);
}

BOOST_AUTO_TEST_CASE(a_rate_change_keeps_the_tokens_up_to_the_new_burst) {
  // 10/s, burst 10: full at 0, empty after taking 10.
  token_bucket b{10, 10, 0};
  BOOST_TEST(b.take(0, 10) == 10u);
  // 500 ms later 5 tokens; a change to 1000/s hands out no burst of its own.
  b.change(1000, 1000, 500);
  BOOST_TEST(b.take(500, 100) == 5u);
  // The new rate holds from the change on.
  BOOST_TEST(b.take(510, 100) == 10u);
  // Down to 1/s, burst 2: what was gathered is capped at the new burst.
  b.change(1, 2, 2000);
  BOOST_TEST(b.take(2000, 100) == 2u);
  BOOST_TEST(b.wait_time(2000) == 1000);
  BOOST_TEST(b.take(2999, 1) == 0u);
  BOOST_TEST(b.take(3000, 1) == 1u);
  // Unlimited, and back: a bucket that was unlimited starts full.
  b.change(0, 0, 3000);
  BOOST_TEST(b.unlimited());
  BOOST_TEST(b.take(3000, 100000) == 100000u);
  b.change(5, 3, 4000);
  BOOST_TEST(!b.unlimited());
  BOOST_TEST(b.take(4000, 100) == 3u);
}

BOOST_AUTO_TEST_SUITE_END()
