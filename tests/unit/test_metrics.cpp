// Unit tests for actors/logic/metrics.hpp: counters, histograms, gauges and
// the Prometheus text they render.
#include "actors/logic/metrics.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <thread>
#include <vector>

using namespace onceflow;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos
         || text.rfind(line + "\n", 0) == 0;
}

} // namespace

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(counters_render_with_help_type_and_labels) {
  metrics_registry r;
  r.describe("x_total", metric_kind::counter, "Things.");
  r.count("x_total", {{"group", "a"}, {"type", "t.1"}}, 3);
  r.count("x_total", {{"group", "a"}, {"type", "t.1"}});
  r.count("x_total", {{"group", "b"}, {"type", "t.1"}});
  auto text = r.render({});
  BOOST_CHECK(has_line(text, "# HELP x_total Things."));
  BOOST_CHECK(has_line(text, "# TYPE x_total counter"));
  BOOST_CHECK(has_line(text, "x_total{group=\"a\",type=\"t.1\"} 4"));
  BOOST_CHECK(has_line(text, "x_total{group=\"b\",type=\"t.1\"} 1"));
  BOOST_CHECK_EQUAL(
    r.counter_value("x_total", {{"group", "a"}, {"type", "t.1"}}), 4u);
}

BOOST_AUTO_TEST_CASE(counter_sum_adds_series_with_one_label_value) {
  metrics_registry r;
  r.describe("p_total", metric_kind::counter, "P.");
  r.count("p_total", {{"group", "a"}, {"type", "x"}}, 2);
  r.count("p_total", {{"group", "a"}, {"type", "y"}}, 3);
  r.count("p_total", {{"group", "ab"}, {"type", "x"}}, 7);
  r.count("p_total", {{"type", "a"}, {"group", "b"}}, 11);
  BOOST_CHECK_EQUAL(r.counter_sum("p_total", "group", "a"), 5u);
  BOOST_CHECK_EQUAL(r.counter_sum("p_total", "group", "ab"), 7u);
  BOOST_CHECK_EQUAL(r.counter_sum("p_total", "group", "b"), 11u);
  BOOST_CHECK_EQUAL(r.counter_sum("p_total", "group", "c"), 0u);
  BOOST_CHECK_EQUAL(r.counter_sum("none", "group", "a"), 0u);
}

BOOST_AUTO_TEST_CASE(counter_totals_and_sums_per_label_value) {
  metrics_registry r;
  r.describe("p_total", metric_kind::counter, "P.");
  r.count("p_total", {{"group", "a"}, {"type", "x"}}, 2);
  r.count("p_total", {{"group", "a"}, {"type", "y"}}, 3);
  r.count("p_total", {{"type", "group=\"b"}, {"group", "b,c"}}, 7);
  r.count("p_total", {{"type", "z"}}, 11);
  BOOST_CHECK_EQUAL(r.counter_total("p_total"), 23u);
  BOOST_CHECK_EQUAL(r.counter_total("none"), 0u);
  auto by = r.counter_by("p_total", "group");
  BOOST_CHECK_EQUAL(by.size(), 2u);
  BOOST_CHECK_EQUAL(by["a"], 5u);
  // A value with a comma, a label value that looks like a pair.
  BOOST_CHECK_EQUAL(by["b,c"], 7u);
  BOOST_CHECK(r.counter_by("none", "group").empty());
}

BOOST_AUTO_TEST_CASE(series_past_the_cap_fold_into_one) {
  metrics_registry r;
  r.describe("t_total", metric_kind::counter, "T.");
  for (size_t i = 0; i < metrics_registry::max_series + 50; ++i)
    r.count("t_total", {{"type", "t" + std::to_string(i)}});
  r.count("t_total", {{"type", "t0"}}, 2);
  BOOST_CHECK_EQUAL(r.counter_value("t_total", {{"type", "t0"}}), 3u);
  auto text = r.render({});
  BOOST_CHECK(has_line(text, "t_total{overflow=\"true\"} 50"));
  size_t lines = 0;
  for (auto c : text)
    lines += c == '\n' ? 1 : 0;
  BOOST_CHECK_EQUAL(lines, metrics_registry::max_series + 2 + 1);
}

BOOST_AUTO_TEST_CASE(undeclared_families_are_ignored) {
  metrics_registry r;
  r.count("nope_total", {}, 5);
  BOOST_CHECK_EQUAL(r.render({}), "");
  BOOST_CHECK_EQUAL(r.counter_value("nope_total", {}), 0u);
}

BOOST_AUTO_TEST_CASE(label_values_are_escaped) {
  metrics_registry r;
  r.describe("e_total", metric_kind::counter, "Escapes.");
  r.count("e_total", {{"type", "a\"b\\c\nd"}});
  BOOST_CHECK(has_line(r.render({}), "e_total{type=\"a\\\"b\\\\c\\nd\"} 1"));
}

BOOST_AUTO_TEST_CASE(histogram_buckets_are_cumulative) {
  metrics_registry r;
  r.describe("h_seconds", metric_kind::histogram, "Latency.", {0.1, 1, 0.5});
  for (double v : {0.05, 0.1, 0.3, 0.7, 2.0})
    r.observe("h_seconds", {{"group", "g"}}, v);
  auto text = r.render({});
  BOOST_CHECK(has_line(text, "# TYPE h_seconds histogram"));
  BOOST_CHECK(has_line(text, "h_seconds_bucket{group=\"g\",le=\"0.1\"} 2"));
  BOOST_CHECK(has_line(text, "h_seconds_bucket{group=\"g\",le=\"0.5\"} 3"));
  BOOST_CHECK(has_line(text, "h_seconds_bucket{group=\"g\",le=\"1\"} 4"));
  BOOST_CHECK(has_line(text, "h_seconds_bucket{group=\"g\",le=\"+Inf\"} 5"));
  BOOST_CHECK(has_line(text, "h_seconds_sum{group=\"g\"} 3.15"));
  BOOST_CHECK(has_line(text, "h_seconds_count{group=\"g\"} 5"));
}

BOOST_AUTO_TEST_CASE(gauges_come_from_samples) {
  metrics_registry r;
  r.describe("depth", metric_kind::gauge, "Depth.");
  r.describe("dlq", metric_kind::gauge, "DLQ.");
  auto text = r.render(
    {{"depth", {{"group", "a"}}, 12}, {"dlq", {}, 0}, {"unknown", {}, 7}});
  BOOST_CHECK(has_line(text, "depth{group=\"a\"} 12"));
  BOOST_CHECK(has_line(text, "dlq 0"));
  BOOST_CHECK(text.find("unknown") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(batches_merge_under_one_lock_from_many_threads) {
  metrics_registry r;
  r.describe("c_total", metric_kind::counter, "C.");
  r.describe("h", metric_kind::histogram, "H.", {1});
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&r] {
      for (int i = 0; i < 1000; ++i) {
        metrics_batch b;
        b.count("c_total", {{"k", "v"}}, 2);
        b.observe("h", {}, 0.5);
        r.merge(b);
      }
    });
  for (auto& t : ts)
    t.join();
  BOOST_CHECK_EQUAL(r.counter_value("c_total", {{"k", "v"}}), 8000u);
  BOOST_CHECK(has_line(r.render({}), "h_count 4000"));
}

BOOST_AUTO_TEST_SUITE_END()
