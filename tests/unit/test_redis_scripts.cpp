// Unit tests for adapters/redis/redis_scripts.hpp: the scripts the build
// embeds from adapters/redis/scripts/*.lua (prelude first, descriptions
// left out) and which of them may be sent again. No server needed.
#include "adapters/redis/redis_scripts.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace onceflow;

BOOST_AUTO_TEST_SUITE(redis_scripts)

BOOST_AUTO_TEST_CASE(every_script_starts_with_the_prelude) {
  const std::string prelude_start = "\nlocal P = ARGV[1]\n";
  const auto& first = script_text(sc_append);
  // The prelude is the text before the append body, up to its empty line.
  auto body = first.find("\n\nlocal now = tonumber(ARGV[2])\n");
  BOOST_REQUIRE(body != std::string::npos);
  auto prelude = first.substr(0, body + 2);
  for (size_t i = 0; i < sc_count; ++i) {
    BOOST_TEST_CONTEXT("script " << i) {
      const auto& text = script_text(static_cast<script_id>(i));
      BOOST_TEST(text.compare(0, prelude_start.size(), prelude_start) == 0);
      BOOST_TEST(text.compare(0, prelude.size(), prelude) == 0);
      // The file's description ("-- ARGV: ...") is not part of the text.
      auto own = text.substr(prelude.size());
      BOOST_TEST(!own.empty());
      BOOST_TEST(own.compare(0, 2, "--") != 0);
      BOOST_TEST(own.find("-- ARGV:") == std::string::npos);
      BOOST_TEST(text.back() == '\n');
    }
  }
}

BOOST_AUTO_TEST_CASE(the_generation_check_is_the_prelude_alone) {
  const auto& text = script_text(sc_gen_check);
  BOOST_TEST(text.size() > 1000u);
  BOOST_TEST(text.substr(text.size() - 10) == "\nreturn 1\n");
}

BOOST_AUTO_TEST_CASE(the_layout_upgrade_runs_without_the_prelude) {
  std::string text = layout_upgrade_script();
  BOOST_TEST(text.compare(0, 6, "local ") == 0);
  BOOST_TEST(text.find("local P = ARGV[1]") == std::string::npos);
  BOOST_TEST(text.find("-- ") == std::string::npos);
  BOOST_TEST(text.find("':rlfrom'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(writes_that_cannot_recognise_a_rerun_are_not_resent) {
  for (auto id : {sc_append, sc_reclaim, sc_dlq_remove, sc_trim, sc_cancel})
    BOOST_TEST(!script_answers_rerun(id));
  for (auto id :
       {sc_ensure_group, sc_backlog, sc_claim, sc_settle, sc_due, sc_next_due,
        sc_status, sc_find, sc_processed_of, sc_processed_count, sc_dlq_read,
        sc_history, sc_list_events, sc_read_before, sc_read_after, sc_gen_check,
        sc_renew, sc_scheduled_count})
    BOOST_TEST(script_answers_rerun(id));
}

BOOST_AUTO_TEST_SUITE_END()
