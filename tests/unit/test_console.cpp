// Unit tests for the console's pure parts: actors/logic/console_commands
// (words, commands, completion, help) and actors/logic/console_view (an
// actor's row from its status, rates, tables, durations).
#include "actors/logic/console_commands.hpp"
#include "actors/logic/console_view.hpp"

#include <boost/test/unit_test.hpp>

using namespace onceflow;
using namespace onceflow::console;

namespace {

std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::string err;
  BOOST_REQUIRE_MESSAGE(split_words(line, out, err), err);
  return out;
}

completion_sources sources() {
  completion_sources s;
  s.nodes = {"core", "w1", "w2"};
  s.groups = {"audit", "orders", "orders-eu"};
  s.actors = {"core/12", "core/13", "w1/7"};
  return s;
}

using strings = std::vector<std::string>;

} // namespace

BOOST_AUTO_TEST_SUITE(console_commands)

BOOST_AUTO_TEST_CASE(words_split_on_blanks_and_keep_quoted_text) {
  BOOST_TEST(words("  actors   --group orders ")
             == (strings{"actors", "--group", "orders"}));
  BOOST_TEST(words("trace 'an id' \"with \\\"quotes\\\"\"")
             == (strings{"trace", "an id", "with \"quotes\""}));
  BOOST_TEST(words("trace a\\ b") == (strings{"trace", "a b"}));
  strings out;
  std::string err;
  BOOST_TEST(!split_words("trace 'open", out, err));
  BOOST_TEST(err == "unterminated quote (')");
}

BOOST_AUTO_TEST_CASE(a_command_with_its_options_and_arguments) {
  auto c = parse_command("actors --node w1 --group=orders --json");
  BOOST_TEST(c.error == "");
  BOOST_TEST(c.name == "actors");
  BOOST_TEST(c.option("node") == "w1");
  BOOST_TEST(c.option("group") == "orders");
  BOOST_TEST(c.json);
  BOOST_TEST(!c.has("kind"));
  auto t = parse_command("trace e-1");
  BOOST_TEST(t.name == "trace");
  BOOST_TEST(t.args == (strings{"e-1"}));
  BOOST_TEST(parse_command("exit").name == "quit");
  auto blank = parse_command("   ");
  BOOST_TEST(blank.name == "");
  BOOST_TEST(blank.error == "");
}

BOOST_AUTO_TEST_CASE(bad_commands_are_named) {
  BOOST_TEST(parse_command("florp").error
             == "unknown command 'florp' (try help)");
  BOOST_TEST(parse_command("actors --colour red").error
             == "actors: unknown option '--colour' (usage: actors [--node N] "
                "[--group G] [--kind K])");
  BOOST_TEST(parse_command("actors --node").error
             == "actors: option '--node' needs a value");
  BOOST_TEST(parse_command("actors --node=").error
             == "actors: option '--node' needs a value");
  BOOST_TEST(parse_command("trace").error
             == "trace: missing argument (usage: trace EVENT-ID)");
  BOOST_TEST(parse_command("pause a b").error
             == "pause: too many arguments (usage: pause GROUP)");
  BOOST_TEST(parse_command("nodes extra").error.find("too many arguments")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(completion_offers_what_fits_where_the_cursor_is) {
  auto src = sources();
  BOOST_TEST(complete("", src).size() == commands().size() + 1);
  BOOST_TEST(complete("in", src) == (strings{"inspect"}));
  BOOST_TEST(complete("pause or", src) == (strings{"orders", "orders-eu"}));
  BOOST_TEST(complete("pause orders-", src) == (strings{"orders-eu"}));
  BOOST_TEST(complete("pause orders ", src).empty());
  BOOST_TEST(complete("actors --node ", src) == (strings{"core", "w1", "w2"}));
  BOOST_TEST(complete("actors --group a", src) == (strings{"audit"}));
  BOOST_TEST(complete("actors --kind l", src) == (strings{"listener"}));
  BOOST_TEST(complete("actors --g", src) == (strings{"--group"}));
  BOOST_TEST(complete("inspect core/", src) == (strings{"core/12", "core/13"}));
  BOOST_TEST(complete("listeners ", src) == (strings{"add", "remove"}));
  BOOST_TEST(complete("listeners add au", src) == (strings{"audit"}));
  BOOST_TEST(complete("listeners add --node w", src) == (strings{"w1", "w2"}));
  BOOST_TEST(complete("dlq re", src) == (strings{"replay"}));
  BOOST_TEST(complete("help to", src) == (strings{"top"}));
  BOOST_TEST(complete("florp ", src).empty());
  BOOST_TEST(complete("trace 'open", src).empty());
}

BOOST_AUTO_TEST_CASE(help_lists_every_command_and_explains_one) {
  auto all = help_text();
  for (auto& c : commands())
    BOOST_TEST_CONTEXT(c.name) {
      BOOST_TEST(all.find(c.usage) != std::string::npos);
    }
  BOOST_TEST(help_text("trace").rfind("usage: trace EVENT-ID\n", 0) == 0);
  BOOST_TEST(help_text("florp") == "unknown command 'florp' (try help)\n");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(console_view)

BOOST_AUTO_TEST_CASE(a_listener_row_from_its_status) {
  auto a = json::parse(R"({"kind": "listener", "serves": "core",
    "group": "orders", "status": {"listener": {"name": "orders/w1/3",
    "batches": 7, "succeeded": 40, "failed": 2, "running": 3,
    "read-leases": 5, "mailbox": 1}}})");
  auto r = actor_row("w1", "42", a);
  BOOST_TEST(r["id"] == "w1/42");
  BOOST_TEST(r["kind"] == "listener");
  BOOST_TEST(r["group"] == "orders");
  BOOST_TEST(r["state"] == "busy");
  BOOST_TEST(r["mailbox"] == 1);
  BOOST_TEST(r["inFlight"] == 3);
  BOOST_TEST(r["batches"] == 7);
  BOOST_TEST(r["leases"] == 5);
  BOOST_TEST(r["processed"] == 40);
  BOOST_TEST(r["failed"] == 2);
  BOOST_TEST(r["name"] == "orders/w1/3");
}

BOOST_AUTO_TEST_CASE(a_broadcaster_sums_its_groups_and_shows_draining) {
  auto a = json::parse(R"({"kind": "broadcaster", "status": {
    "broadcaster": {"mailbox": 0, "accepted": 100, "draining": false,
      "pending-appends": 0, "rejected-overloaded": 3},
    "groups": {"a": {"in-flight": 2, "queued": 5, "paused": false},
               "b": {"in-flight": 1, "queued": 0, "paused": true}}}})");
  auto r = actor_row("core", "3", a);
  BOOST_TEST(r["state"] == "busy");
  BOOST_TEST(r["inFlight"] == 3);
  BOOST_TEST(r["queued"] == 5);
  BOOST_TEST(r["processed"] == 100);
  BOOST_TEST(r["failed"] == 3);
  a["status"]["broadcaster"]["draining"] = true;
  BOOST_TEST(actor_row("core", "3", a)["state"] == "draining");
  a["status"]["broadcaster"]["draining"] = false;
  a["status"]["groups"]["a"]["paused"] = true;
  BOOST_TEST(actor_row("core", "3", a)["state"] == "paused");
}

BOOST_AUTO_TEST_CASE(an_actor_that_did_not_answer_is_unanswered) {
  auto r = actor_row("core", "9",
                     json{{"kind", "store"}, {"error", "request_timeout"}});
  BOOST_TEST(r["state"] == "unanswered");
  BOOST_TEST(r["error"] == "request_timeout");
  BOOST_TEST(r["processed"] == 0);
}

BOOST_AUTO_TEST_CASE(idle_listeners_of_a_paused_group_are_paused) {
  auto rows = json::array();
  rows.push_back({{"kind", "listener"}, {"group", "a"}, {"state", "idle"}});
  rows.push_back({{"kind", "listener"}, {"group", "a"}, {"state", "busy"}});
  rows.push_back({{"kind", "listener"}, {"group", "b"}, {"state", "idle"}});
  mark_paused(rows, {"a"});
  BOOST_TEST(rows[0]["state"] == "paused");
  BOOST_TEST(rows[1]["state"] == "busy");
  BOOST_TEST(rows[2]["state"] == "idle");
}

BOOST_AUTO_TEST_CASE(rates_and_last_activity_between_samples) {
  rate_book book;
  json row{{"processed", 10}};
  book.observe("w1/3", row, 1000);
  BOOST_TEST(row["rate"].is_null());
  BOOST_TEST(row["lastActivity"].is_null());
  row["processed"] = 30;
  book.observe("w1/3", row, 3000);
  BOOST_TEST(row["rate"].get<double>() == 10.0);
  BOOST_TEST(row["lastActivity"] == 0);
  book.observe("w1/3", row, 4000);
  BOOST_TEST(row["rate"].get<double>() == 0.0);
  BOOST_TEST(row["lastActivity"] == 1000);
}

BOOST_AUTO_TEST_CASE(tables_align_columns_and_numbers) {
  auto t = table({{"NAME", "N"}, {"a", "5"}, {"long-name", "120"}});
  BOOST_TEST(t == "NAME         N\na            5\nlong-name  120\n");
  BOOST_TEST(table({}) == "");
  // Versions and units are text; a column of "-" too.
  BOOST_TEST(table({{"V", "E"}, {"0.1.0", "-"}}) == "V      E\n0.1.0  -\n");
}

BOOST_AUTO_TEST_CASE(rows_sort_by_node_kind_group_and_id) {
  auto rows = json::array();
  rows.push_back({{"node", "w1"}, {"kind", "listener"}, {"id", "w1/12"}});
  rows.push_back({{"node", "core"}, {"kind", "store"}, {"id", "core/6"}});
  rows.push_back({{"node", "w1"}, {"kind", "listener"}, {"id", "w1/9"}});
  rows.push_back(
    {{"node", "core"}, {"kind", "broadcaster"}, {"id", "core/10"}});
  sort_rows(rows, {"core", "w1"});
  std::vector<std::string> ids;
  for (auto& r : rows)
    ids.push_back(r["id"]);
  BOOST_TEST(ids == (strings{"core/10", "core/6", "w1/9", "w1/12"}));
}

BOOST_AUTO_TEST_CASE(durations_and_times) {
  BOOST_TEST(format_duration(850) == "850ms");
  BOOST_TEST(format_duration(4200) == "4.2s");
  BOOST_TEST(format_duration(192'000) == "3m12s");
  BOOST_TEST(format_duration(7'500'000) == "2h05m");
  BOOST_TEST(format_duration(3 * 86'400'000LL + 4 * 3'600'000LL) == "3d04h");
  BOOST_TEST(format_duration(-1) == "-");
  BOOST_TEST(format_time(1'700'000'000'123) == "2023-11-14 22:13:20.123");
}

BOOST_AUTO_TEST_CASE(a_trace_lists_every_attempt_in_order_with_its_node) {
  auto doc = json::parse(R"({"eventId": "e1", "type": "order.created",
    "status": "processed", "createdAt": 1700000000000, "seq": 4,
    "core": "core", "acceptedBy": "edge-2", "duplicates": {"count": 2,
      "firstAt": 1700000000100, "lastAt": 1700000000200, "lastNode": "core"},
    "groups": [{"group": "orders", "status": "processed",
      "attempts": [
        {"attempt": 1, "at": 1700000000010, "node": "w1",
         "listener": "orders/w1/1", "epoch": 1, "outcome": "retryable",
         "error": "boom"},
        {"attempt": 2, "at": 1700000000500, "node": "core",
         "listener": "orders/2", "epoch": 2, "outcome": "success",
         "error": ""}],
      "effect": {"at": 1700000000501, "epoch": 2, "attempt": 2},
      "settledAfterMs": 501}]})");
  auto text = render_trace(doc);
  auto first = text.find("attempt 1  node w1");
  auto second = text.find("attempt 2  node core");
  BOOST_TEST(first != std::string::npos);
  BOOST_TEST(second != std::string::npos);
  BOOST_TEST(first < second);
  BOOST_TEST(text.find("retryable: boom") != std::string::npos);
  BOOST_TEST(text.find("effect recorded (attempt 2, epoch 2)")
             != std::string::npos);
  BOOST_TEST(text.find("accepted on node edge-2 (seq 4, store of core core)")
             != std::string::npos);
  BOOST_TEST(text.find("2 duplicate submission(s) answered `duplicate` "
                       "(first 2023-11-14 22:13:20.100, last on node core)")
             != std::string::npos);
  // Not recorded (accepted by an earlier version): said so.
  doc["acceptedBy"] = nullptr;
  BOOST_TEST(render_trace(doc).find("accepted (seq 4, store of core core; the "
                                    "accepting node not recorded)")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(top_picks_the_busiest_and_the_deepest) {
  auto sample = json::parse(R"({"at": 1, "nodes": [
      {"name": "core", "up": true}, {"name": "w1", "up": false,
       "error": "connection lost"}],
    "actors": [
      {"id": "core/1", "rate": 5.0, "processed": 10, "mailbox": 0},
      {"id": "core/2", "rate": 50.0, "processed": 1, "mailbox": 9},
      {"id": "core/3", "rate": null, "processed": 99, "mailbox": 3}],
    "groups": []})");
  auto v = top_view(sample, 2);
  BOOST_TEST(v["busiest"].size() == 2u);
  BOOST_TEST(v["busiest"][0]["id"] == "core/2");
  BOOST_TEST(v["busiest"][1]["id"] == "core/1");
  BOOST_TEST(v["deepest"][0]["id"] == "core/2");
  BOOST_TEST(v["deepest"][1]["id"] == "core/3");
  BOOST_TEST(v["down"].size() == 1u);
  BOOST_TEST(render_top(v).find("node w1 is DOWN: connection lost")
             != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
