#include "adapters/redis/redis_scripts.hpp"

// Generated from scripts/*.lua (cmake/embed_lua.cmake).
#include "redis_lua.hpp"

#include <iterator>
#include <vector>

namespace onceflow {

namespace {

/// The bodies, in the order of script_id.
const char* const script_bodies[] = {
  redis_lua::append,
  redis_lua::ensure_group,
  redis_lua::reclaim,
  redis_lua::backlog,
  redis_lua::claim,
  redis_lua::settle,
  redis_lua::due,
  redis_lua::next_due,
  redis_lua::status,
  redis_lua::find,
  redis_lua::processed_of,
  redis_lua::processed_count,
  redis_lua::dlq_read,
  redis_lua::dlq_remove,
  redis_lua::history,
  redis_lua::list_events,
  redis_lua::trim,
  redis_lua::read_before,
  redis_lua::read_after,
  redis_lua::gen_check,
  redis_lua::cancel,
  redis_lua::renew,
  redis_lua::scheduled_count,
};

static_assert(std::size(script_bodies) == sc_count, "one body per script_id");

} // namespace

const std::string& script_text(script_id id) {
  static const auto texts = [] {
    std::vector<std::string> out;
    for (size_t i = 0; i < sc_count; ++i)
      out.push_back("\n" + std::string(redis_lua::prelude) + "\n"
                    + script_bodies[i]);
    return out;
  }();
  return texts[id];
}

bool script_answers_rerun(script_id id) {
  return id != sc_append && id != sc_reclaim && id != sc_dlq_remove
         && id != sc_trim && id != sc_cancel;
}

const char* layout_upgrade_script() {
  return redis_lua::layout_upgrade;
}

const char* node_name_script() {
  return redis_lua::node_name;
}

} // namespace onceflow
