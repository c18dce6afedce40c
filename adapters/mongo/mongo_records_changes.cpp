// The MongoDB records' side that faces the store (mongo_records.hpp,
// record_sink): what the store's commits, cancels, replays and purges
// become as changes for the writer (mongo_records.cpp), and the
// reconciliation of deaths journaled before a kill.
#include "actors/logic/pattern.hpp"
#include "adapters/codec.hpp"
#include "adapters/mongo/mongo_records.hpp"
#include "adapters/mongo/mongo_records_impl.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace onceflow::mongo {

using namespace detail;

namespace {

/// An event without its payload: enough for a document a settlement
/// creates before the acceptance gets there (the acceptance sets the rest).
event slim(const event& ev) {
  event out;
  out.id = ev.id;
  out.type = ev.type;
  out.prio = ev.prio;
  out.created_at = ev.created_at;
  out.not_before = ev.not_before;
  out.trace_id = ev.trace_id;
  out.seq = ev.seq;
  return out;
}

uint64_t max_epoch(const delivery& dl) {
  auto e = dl.epoch;
  for (auto& a : dl.history)
    e = std::max(e, a.epoch);
  return e;
}

/// The version of a death (the archive's `_id`, a replay's bound).
uint64_t death_version(const delivery& dl) {
  // A crash loop's death has no lease of its own: the last one it had.
  return record_version(dl.epoch != 0 ? dl.epoch : max_epoch(dl), 2);
}

} // namespace

void records::accepted(const std::vector<event>& evs, millis_t now) {
  if (!d_->cfg.events)
    return;
  std::vector<queued> xs;
  xs.reserve(evs.size());
  for (auto& ev : evs) {
    event_change e;
    e.id = ev.id;
    e.ev = ev;
    e.has_event = e.set_event = true;
    e.accepted_at = now;
    auto status = ev.not_before > 0 ? event_status::scheduled
                                    : event_status::accepted;
    for (auto& g : d_->groups)
      if (matches_any(g.patterns, ev.type))
        e.groups.push_back(
          {g.name, record_version(0, 0), status, now, 0, {}, ev.not_before});
    auto bytes = bytes_of(ev);
    xs.push_back({std::move(e), 0, bytes, 0});
  }
  d_->push(std::move(xs));
}

namespace {

/// The changes of settlements: each one's status in its group, and the
/// death for the archive (`deaths`).
std::vector<queued> changes_of(const mongo_config& cfg,
                               const std::vector<settlement>& items,
                               millis_t now, bool deaths) {
  std::vector<queued> xs;
  for (auto& s : items) {
    if (s.kind == settle_kind::release)
      continue;
    auto& dl = s.dl;
    auto v = death_version(dl);
    if (cfg.events) {
      group_change g{dl.group, v, event_status::processed, now, dl.attempt,
                     {},       0};
      if (s.kind == settle_kind::retry) {
        g.status = event_status::retrying;
        g.next_at = s.due;
        if (!dl.history.empty())
          g.error = dl.history.back().error;
      } else if (s.kind == settle_kind::dead) {
        g.status = event_status::dead;
        g.error = s.error;
      }
      event_change e;
      e.id = dl.ev.id;
      e.ev = slim(dl.ev);
      e.has_event = true;
      e.groups.push_back(std::move(g));
      auto bytes = bytes_of(e.ev);
      xs.push_back({std::move(e), 0, bytes, 0});
    }
    if (deaths && cfg.dead_letters && s.kind == settle_kind::dead) {
      auto bytes = bytes_of(dl.ev) + dl.history.size() * 128;
      xs.push_back(
        {dead_change{dlq_entry{dl, s.reason, s.error, now}, v}, 0, bytes, 0});
    }
  }
  return xs;
}

} // namespace

void records::settling(const std::vector<settlement>& items, millis_t now) {
  // Statuses only: one the fence then refuses is below the version of the
  // settlement that does commit, which wins whenever it gets there. A
  // death is archived only once committed.
  auto xs = changes_of(d_->cfg, items, now, false);
  // The deaths as tentative: if the node is killed after the commit and
  // before `settled`, the next start archives those the store's DLQ holds
  // (reconcile).
  std::vector<tentative_death> ts;
  if (d_->cfg.dead_letters)
    for (auto& s : items)
      if (s.kind == settle_kind::dead)
        ts.push_back({s.dl.ev.id, s.dl.group, death_version(s.dl)});
  if (xs.empty() && ts.empty())
    return;
  std::lock_guard<std::mutex> g{d_->mtx};
  if (d_->journal < 0)
    return;
  if (!xs.empty())
    d_->append_journal(xs);
  if (!ts.empty()) {
    std::string text;
    for (auto& t : ts) {
      text += codec::dump(journal_entry(t)) + "\n";
      auto& slot = d_->tentative[t.key()];
      slot.first = t;
      ++slot.second;
    }
    d_->append_journal_text(text);
  }
}

void records::settled(const std::vector<settlement>& items, millis_t now) {
  // The archive entries are journaled (push) before their tentative
  // deaths go (settle_ended).
  d_->push(changes_of(d_->cfg, items, now, true));
}

void records::settle_ended(const std::vector<settlement>& items) {
  if (!d_->cfg.dead_letters)
    return;
  std::lock_guard<std::mutex> g{d_->mtx};
  for (auto& s : items) {
    if (s.kind != settle_kind::dead)
      continue;
    auto i = d_->tentative.find(
      tentative_death{s.dl.ev.id, s.dl.group, death_version(s.dl)}.key());
    if (i != d_->tentative.end() && --i->second.second <= 0)
      d_->tentative.erase(i);
  }
}

void records::reconcile(
  const std::function<std::vector<dlq_entry>(const std::string&)>& dlq_of) {
  std::vector<tentative_death> ts;
  {
    std::lock_guard<std::mutex> g{d_->mtx};
    for (auto& [_, t] : d_->tentative)
      ts.push_back(t.first);
    if (!d_->cfg.dead_letters) { // switched off since
      d_->tentative.clear();
      return;
    }
  }
  if (ts.empty())
    return;
  std::vector<queued> xs;
  std::map<std::string, std::vector<dlq_entry>> seen;
  size_t done = 0;
  for (auto& t : ts) {
    auto i = seen.find(t.event_id);
    if (i == seen.end()) {
      try {
        i = seen.emplace(t.event_id, dlq_of(t.event_id)).first;
      } catch (const std::exception& e) {
        spdlog::warn("MongoDB records: cannot read the store's DLQ ({}): {} "
                     "deaths of an earlier run to confirm are not archived",
                     e.what(), ts.size() - done);
        done = ts.size();
        break;
      }
    }
    for (auto& e : i->second)
      if (e.dl.group == t.group && death_version(e.dl) == t.v) {
        auto bytes = bytes_of(e.dl.ev) + e.dl.history.size() * 128;
        xs.push_back({dead_change{e, t.v}, 0, bytes, 0});
      }
    ++done;
  }
  spdlog::info("MongoDB records: {} of {} deaths of an earlier run to "
               "confirm are in the store's DLQ: archived",
               xs.size(), done);
  d_->push(std::move(xs));
  std::lock_guard<std::mutex> g{d_->mtx};
  for (size_t k = 0; k < done; ++k)
    d_->tentative.erase(ts[k].key());
}

void records::cancelled(const std::string& event_id,
                        const std::vector<std::string>& groups, millis_t now) {
  if (!d_->cfg.events)
    return;
  event_change e;
  e.id = event_id;
  for (auto& g : groups)
    e.groups.push_back(
      {g, record_version(0, 1), event_status::cancelled, now, 0, {}, 0});
  std::vector<queued> xs;
  xs.push_back({std::move(e), 0, 128, 0});
  d_->push(std::move(xs));
}

void records::replayed(const std::vector<dlq_entry>& entries, millis_t now) {
  std::vector<queued> xs;
  for (auto& en : entries) {
    auto& dl = en.dl;
    if (d_->cfg.events) {
      event_change e;
      e.id = dl.ev.id;
      e.ev = slim(dl.ev);
      e.has_event = true;
      e.groups.push_back({dl.group, record_version(max_epoch(dl), 3),
                          event_status::retrying, now, 1, en.last_error, now});
      auto bytes = bytes_of(e.ev);
      xs.push_back({std::move(e), 0, bytes, 0});
    }
    // Every death of the pair up to this one: the replayed event's next
    // death has a higher version and stays listed.
    if (d_->cfg.dead_letters)
      xs.push_back({mark_change{dl.ev.id, dl.group, "replayedAt", now,
                                death_version(dl) + 1},
                    0, 128, 0});
  }
  d_->push(std::move(xs));
}

void records::purged(const std::string& event_id, const std::string& group,
                     millis_t now) {
  if (!d_->cfg.dead_letters)
    return;
  std::vector<queued> xs;
  xs.push_back({mark_change{event_id, group, "purgedAt", now, 0}, 0, 128, 0});
  d_->push(std::move(xs));
}

} // namespace onceflow::mongo
