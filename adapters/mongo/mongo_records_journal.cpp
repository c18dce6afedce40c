#include "adapters/codec.hpp"
#include "adapters/mongo/mongo_records.hpp"
#include "adapters/mongo/mongo_records_impl.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace onceflow::mongo {

namespace detail {

// -- the journal: changes not written yet, one JSON document a line --------

nlohmann::json journal_entry(const queued& x) {
  using nlohmann::json;
  if (auto* e = std::get_if<event_change>(&x.c)) {
    delivery dl;
    dl.ev = e->ev;
    auto gs = json::array();
    for (auto& g : e->groups)
      gs.push_back({g.group, g.v, to_string(g.status), g.at, g.attempt, g.error,
                    g.next_at});
    return {{"k", "e"},
            {"id", e->id},
            {"d", codec::to_json(dl)},
            {"has", e->has_event},
            {"set", e->set_event},
            {"acc", e->accepted_at},
            {"g", std::move(gs)}};
  }
  if (auto* d = std::get_if<dead_change>(&x.c))
    return {{"k", "d"},
            {"d", codec::to_json(d->e.dl)},
            {"r", to_string(d->e.reason)},
            {"err", d->e.last_error},
            {"at", d->e.dead_at},
            {"v", d->v}};
  auto& m = std::get<mark_change>(x.c);
  return {{"k", "m"},     {"id", m.event_id}, {"g", m.group},
          {"f", m.field}, {"at", m.at},       {"below", m.below}};
}

nlohmann::json journal_entry(const tentative_death& t) {
  return {{"k", "t"}, {"id", t.event_id}, {"g", t.group}, {"v", t.v}};
}

} // namespace detail

using namespace detail;

namespace {

/// The tentative death of a journal line; false for any other line.
bool tentative_from_journal(const std::string& line, tentative_death& out) {
  try {
    auto j = nlohmann::json::parse(line);
    if (j.at("k").get<std::string>() != "t")
      return false;
    out.event_id = j.at("id").get<std::string>();
    out.group = j.at("g").get<std::string>();
    out.v = j.at("v").get<uint64_t>();
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

/// The change of a journal line; false for a line that cannot be read (a
/// write cut short by a kill).
bool from_journal(const std::string& line, queued& out) {
  try {
    auto j = nlohmann::json::parse(line);
    auto k = j.at("k").get<std::string>();
    if (k == "e") {
      event_change e;
      e.id = j.at("id").get<std::string>();
      e.ev = codec::delivery_from_json(j.at("d").dump()).ev;
      e.has_event = j.at("has").get<bool>();
      e.set_event = j.at("set").get<bool>();
      e.accepted_at = j.at("acc").get<millis_t>();
      for (auto& g : j.at("g")) {
        group_change c{g.at(0).get<std::string>(), g.at(1).get<uint64_t>(),
                       event_status::unknown,      g.at(3).get<millis_t>(),
                       g.at(4).get<uint32_t>(),    g.at(5).get<std::string>(),
                       g.at(6).get<millis_t>()};
        if (!parse_event_status(g.at(2).get<std::string>(), c.status))
          return false;
        e.groups.push_back(std::move(c));
      }
      out.bytes = bytes_of(e.ev);
      out.c = std::move(e);
      return true;
    }
    if (k == "d") {
      dead_change d;
      d.e.dl = codec::delivery_from_json(j.at("d").dump());
      parse_dlq_reason(j.at("r").get<std::string>(), d.e.reason);
      d.e.last_error = j.at("err").get<std::string>();
      d.e.dead_at = j.at("at").get<millis_t>();
      d.v = j.at("v").get<uint64_t>();
      out.bytes = bytes_of(d.e.dl.ev);
      out.c = std::move(d);
      return true;
    }
    if (k == "m") {
      mark_change m;
      m.event_id = j.at("id").get<std::string>();
      m.group = j.at("g").get<std::string>();
      // The field names the marks use (a pointer to a literal).
      m.field = j.at("f").get<std::string>() == "replayedAt" ? "replayedAt"
                                                             : "purgedAt";
      m.at = j.at("at").get<millis_t>();
      m.below = j.at("below").get<uint64_t>();
      out.bytes = 128;
      out.c = std::move(m);
      return true;
    }
  } catch (const std::exception&) {
    // unreadable: skipped
  }
  return false;
}

} // namespace

/// Opens the journal at `journal_path` for the constructor: locks it and
/// queues what an earlier run left in it. Throws std::runtime_error.
void records::impl::open_journal() {
  auto& path = journal_path;
  journal = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (journal < 0)
    throw std::runtime_error("cannot open the MongoDB records journal " + path
                             + ": " + std::strerror(errno));
  if (::flock(journal, LOCK_EX | LOCK_NB) != 0) {
    ::close(journal);
    journal = -1;
    throw std::runtime_error("the MongoDB records journal " + path
                             + " is in use by another process");
  }
  // What an earlier run left (killed, or stopped while MongoDB was
  // away) goes first: writing a change again changes nothing. A last
  // line cut short by a kill is dropped, so that nothing is glued to it.
  std::ifstream in{path};
  std::string line;
  size_t bad = 0;
  size_t good_bytes = 0;
  while (std::getline(in, line)) {
    if (in.eof()) { // no newline: cut short
      ++bad;
      break;
    }
    good_bytes += line.size() + 1;
    queued x;
    tentative_death t;
    if (tentative_from_journal(line, t)) {
      auto& slot = tentative[t.key()];
      slot.first = std::move(t);
      slot.second = 1;
    } else if (from_journal(line, x)) {
      q_bytes += x.bytes;
      q.push_back(std::move(x));
    } else if (!line.empty()) {
      ++bad;
    }
  }
  // A death whose archive entry the journal holds was committed.
  for (auto& x : q)
    if (auto* dc = std::get_if<dead_change>(&x.c))
      tentative.erase(
        tentative_death{dc->e.dl.ev.id, dc->e.dl.group, dc->v}.key());
  if (::ftruncate(journal, static_cast<off_t>(good_bytes)) != 0)
    throw std::runtime_error("cannot repair the MongoDB records journal " + path
                             + ": " + std::strerror(errno));
  journal_bytes = good_bytes;
  trim_queue();
  if (!q.empty() || !tentative.empty() || bad > 0)
    spdlog::info("MongoDB records: {} changes and {} deaths to confirm of "
                 "an earlier run from {} ({} unreadable lines skipped)",
                 q.size(), tentative.size(), path, bad);
}

/// Appends the changes to the journal (one write; the page cache keeps
/// it through a kill of the process, not a crash of the machine).
void records::impl::append_journal(const std::vector<queued>& xs) {
  std::string text;
  for (auto& x : xs) {
    text += codec::dump(journal_entry(x));
    text += '\n';
  }
  append_journal_text(text);
}

/// Appends whole lines to the journal (mtx held).
void records::impl::append_journal_text(const std::string& text) {
  size_t off = 0;
  while (off < text.size()) {
    auto n = ::write(journal, text.data() + off, text.size() - off);
    if (n <= 0) {
      // No half line for the next append to glue onto.
      if (::ftruncate(journal, static_cast<off_t>(journal_bytes)) != 0) {
        // nop: the next start skips the unreadable line
      }
      if (time_to_log(last_journal_log)) {
        spdlog::error("MongoDB records: cannot write the journal {}: {}",
                      journal_path, std::strerror(errno));
      }
      return;
    }
    off += static_cast<size_t>(n);
  }
  journal_bytes += text.size();
}

/// Rewrites the journal from what waits (mtx held, no round under
/// way): everything written since its last emptying goes.
void records::impl::compact_journal() {
  auto tmp = journal_path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return;
  std::string text;
  for (auto& x : later)
    text += codec::dump(journal_entry(x)) + "\n";
  for (auto& x : checks)
    text += codec::dump(journal_entry(x)) + "\n";
  for (auto& [_, t] : tentative)
    text += codec::dump(journal_entry(t.first)) + "\n";
  for (auto& x : q)
    text += codec::dump(journal_entry(x)) + "\n";
  bool ok = ::write(fd, text.data(), text.size())
            == static_cast<ssize_t>(text.size());
  if (!ok || ::rename(tmp.c_str(), journal_path.c_str()) != 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return;
  }
  ::close(journal);
  journal = fd;
  journal_bytes = text.size();
}

/// Empties the journal once every change in it is written, or rewrites
/// it from what waits when it grew well past that (steady load, an
/// outage that drops changes). mtx held, no round under way.
void records::impl::drained() {
  if (journal < 0)
    return;
  if (q.empty() && later.empty() && checks.empty() && tentative.empty()) {
    if (journal_bytes > 0 && ::ftruncate(journal, 0) != 0)
      spdlog::error("MongoDB records: cannot empty the journal {}: {}",
                    journal_path, std::strerror(errno));
    else
      journal_bytes = 0;
  } else if (journal_bytes > std::max<size_t>(
               q.empty() && later.empty() ? size_t{1} << 20 : size_t{64} << 20,
               4 * (q_bytes + c_bytes))) {
    // Under steady load the read-backs keep it from ever emptying: once
    // the queue is empty it is rewritten from what waits to be read back
    // as soon as it holds 1 MiB and four times that.
    compact_journal();
  }
}

} // namespace onceflow::mongo
