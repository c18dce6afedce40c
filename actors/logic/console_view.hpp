#pragma once

// The console's views (`onceflow console`, docs/console.md): what the
// nodes answer, as JSON documents, turned into rows and text tables. Every
// command builds one JSON document (printed as is with --json); the
// functions here derive the rows (an actor's state and counters from its
// status) and render the text. Pure: no CAF, no I/O; time comes in.

#include "actors/logic/event.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace onceflow::console {

using json = nlohmann::json;

/// One row of `actors` from what a node manager reports of one actor
/// ({"kind", "serves", "group", "status": {...}} or {"error"}): node, id
/// ("NODE/ID"), kind, group, state (idle, busy, paused, draining,
/// unanswered), mailbox, inFlight, queued, batches, leases, processed,
/// failed, error.
json actor_row(const std::string& node, const std::string& id,
               const json& actor);

/// Orders rows by node (in `nodes`' order, then by name), kind
/// (broadcaster first, listeners last), group and actor id.
void sort_rows(json& rows, const std::vector<std::string>& nodes);

/// Idle listeners of a paused group are shown paused.
void mark_paused(json& rows, const std::set<std::string>& paused);

/// Remembers each actor's processed count between samples: its rate and
/// when it last changed.
class rate_book {
public:
  /// Records a sample of `key` and sets row["rate"] (events/s since the
  /// previous sample, null on the first) and row["lastActivity"] (ms since
  /// the count last moved, null if it never did while watched).
  void observe(const std::string& key, json& row, millis_t now);

private:
  struct entry {
    double processed = 0;
    millis_t at = 0;
    millis_t changed = -1;
  };
  std::map<std::string, entry> entries_;
};

/// Columns of text, the first row the header; numbers align right.
std::string table(const std::vector<std::vector<std::string>>& rows);

/// "2026-12-06 23:41:07.120" (UTC).
std::string format_time(millis_t ms_since_epoch);

/// "850ms", "4.2s", "3m12s", "2h05m", "3d04h".
std::string format_duration(millis_t ms);

/// A JSON value as a table cell ("-" for null or missing).
std::string cell(const json& x);

std::string render_nodes(const json& doc);
std::string render_actors(const json& doc);
std::string render_inspect(const json& doc);
std::string render_groups(const json& doc);
std::string render_trace(const json& doc);
std::string render_dlq_list(const json& doc);
std::string render_dlq_show(const json& doc);

/// `top`'s frame from a sample ({"at", "nodes", "actors", "groups"}): the
/// `n` busiest actors (by rate, then processed), the `n` deepest mailboxes,
/// the groups, the nodes that are down.
json top_view(const json& sample, size_t n);
std::string render_top(const json& view);

} // namespace onceflow::console
