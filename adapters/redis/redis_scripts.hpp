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
  sc_cancel,
  sc_renew,
  sc_scheduled_count,
  sc_count,
};

/// The text of a script as Redis gets it (SCRIPT LOAD, EVAL): a newline,
/// the prelude, a newline, the script's body. Redis names a script by the
/// SHA1 of this text, so the assembly stays as it is.
const std::string& script_text(script_id id);

/// True if the script may be sent again when the connection failed after
/// it was sent (it may or may not have run), because a second run answers
/// like the first: the scripts that only read, group registration, and
/// claim, settle and take_due, which recognise their own earlier run (same
/// holder or epoch and the same `now`) and answer what it did, and the
/// renewal and release of take marks (the same marks set or dropped
/// again). The others
/// fail and their callers retry the operation: a second append would
/// answer `duplicate` for its own events, a reclaim would skip the entries
/// the first run took (they come back through a later reclaim), a DLQ
/// change or a cancel would report 0, a trim would trim and count more. (The
/// read transaction of read_group is not sent again either, like reclaim.)
bool script_answers_rerun(script_id id);

/// The script that takes over data of key layout 2
/// (scripts/layout_upgrade.lua; EVAL without the prelude).
const char* layout_upgrade_script();

/// The script of a node name's claim (scripts/node_name.lua; EVAL without
/// the prelude).
const char* node_name_script();

} // namespace onceflow
