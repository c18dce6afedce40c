#pragma once

#include <cstddef>
#include <string>

/// The Lua scripts of the Redis store: adapters/redis/scripts/<name>.lua,
/// embedded by the build (cmake/embed_lua.cmake). Each file starts with a
/// description of its arguments and reply. Every script in `script_id`
/// runs after the shared prelude (scripts/prelude.lua: ARGV[1] is the key
/// prefix, the last argument the store generation to check, then helpers
/// shared by the scripts).
namespace onceflow {

enum script_id : size_t {
  sc_append,
  sc_ensure_group,
  sc_reclaim,
  sc_backlog,
  sc_claim,
  sc_settle,
  sc_due,
  sc_next_due,
  sc_status,
  sc_find,
  sc_processed_of,
  sc_processed_count,
  sc_dlq_read,
  sc_dlq_remove,
  sc_history,
  sc_list_events,
  sc_trim,
  sc_read_before,
  sc_read_after,
  sc_gen_check,
  sc_count,
};

/// The text of a script as Redis gets it (SCRIPT LOAD, EVAL): a newline,
/// the prelude, a newline, the script's body. The same text, and so the
/// same SHA1, in every version of the store whose scripts did not change.
const std::string& script_text(script_id id);

/// The script that takes over data of key layout 2
/// (scripts/layout_upgrade.lua; EVAL without the prelude).
const char* layout_upgrade_script();

} // namespace onceflow
