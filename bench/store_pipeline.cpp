// The store adapters alone, without actors: pushes N events through the
// pipeline a listener drives (append, read_group, claim, settle done without
// an effect record) in batches of B, one batch after the other, and prints
// events/s per backend. Each backend starts empty: SQLite in memory, SQLite
// on a file (synchronous=normal) in a temporary directory, and Redis under
// a prefix of its own (left behind: use a scratch server, as
// bench/run_store_pipeline.sh does).
//
//   onceflow_store_pipeline [--events N] [--batch B] [--runs R]
//                           [--store all|memory|file|redis]
//                           [--redis-url URL]
//
// Without --redis-url the Redis backend is skipped (and says so). With
// --runs R each backend runs R times; the line gives the median rate and
// every run's. Exits 1 if a run does not settle every event.

#include "adapters/embedded/sqlite_store.hpp"
#include "adapters/redis/redis_store.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

using namespace onceflow;

namespace {

struct backend {
  std::string name;
  /// Opens a fresh, empty store of this backend for one run.
  std::function<store_ptr(const std::string& run)> open;
};

event make_event(const std::string& id, millis_t now) {
  event ev;
  ev.id = id;
  ev.type = "order.created";
  ev.payload = R"({"id":")" + id + R"("})";
  ev.prio = priority::high;
  ev.created_at = now;
  ev.trace_id = "trace-" + id;
  return ev;
}

/// One run: `total` events through append, read_group, claim and settle in
/// batches of `batch_size`. Returns events/s, or -1 if not every event was
/// settled (printed to stderr).
double run_pipeline(store& s, size_t total, size_t batch_size) {
  constexpr millis_t minute = 60'000;
  s.ensure_group({"g", {"*"}});
  auto started = std::chrono::steady_clock::now();
  millis_t now = 1'700'000'000'000;
  size_t done = 0;
  std::vector<event> batch;
  std::vector<claim_request> reqs;
  std::vector<settlement> items;
  for (size_t base = 0; base < total; base += batch_size) {
    batch.clear();
    for (size_t i = 0; i < batch_size && base + i < total; ++i)
      batch.push_back(make_event("ev-" + std::to_string(base + i), now));
    s.append(batch, now, minute);
    auto evs = s.read_group("g", batch_size, now);
    reqs.clear();
    for (auto& ev : evs)
      reqs.push_back({"g", ev.id, ev.seq});
    auto claims = s.claim(reqs, "node-a/listener-1", now, 30'000, 3);
    items.clear();
    for (size_t i = 0; i < evs.size(); ++i) {
      settlement st;
      st.kind = settle_kind::done;
      st.dl.ev = evs[i];
      st.dl.group = "g";
      st.dl.attempt = 1;
      st.dl.epoch = claims[i].epoch;
      items.push_back(std::move(st));
    }
    for (auto d : s.settle(items, now))
      done += d == fence_decision::ok ? 1 : 0;
    ++now;
  }
  auto secs
    = std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
        .count();
  auto backlog = s.backlog("g");
  auto head = s.head();
  if (done != total || backlog != 0 || head != total) {
    std::fprintf(stderr,
                 "incomplete: settled %zu of %zu events, backlog %llu, "
                 "head %llu\n",
                 done, total, static_cast<unsigned long long>(backlog),
                 static_cast<unsigned long long>(head));
    return -1;
  }
  return static_cast<double>(total) / secs;
}

} // namespace

int main(int argc, char** argv) {
  size_t events = 100'000;
  size_t batch = 500;
  size_t runs = 1;
  std::string which = "all";
  std::string redis_url;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    std::string v = argv[i + 1];
    if (k == "--events")
      events = std::stoul(v);
    else if (k == "--batch")
      batch = std::stoul(v);
    else if (k == "--runs")
      runs = std::max<size_t>(1, std::stoul(v));
    else if (k == "--store")
      which = v;
    else if (k == "--redis-url")
      redis_url = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (batch == 0) {
    std::fprintf(stderr, "--batch must be at least 1\n");
    return 2;
  }
  auto dir = std::filesystem::temp_directory_path()
             / ("onceflow-pipeline-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::vector<backend> backends{
    {"sqlite-memory",
     [](const std::string&) {
       return make_sqlite_store(sqlite_options{});
     }},
    {"sqlite-file",
     [&dir](const std::string& run) {
       sqlite_options opts;
       opts.path = (dir / ("store-" + run + ".db")).string();
       opts.synchronous = "normal";
       return make_sqlite_store(opts);
     }},
    {"redis",
     [&redis_url](const std::string& run) {
       redis_options opts;
       opts.url = redis_url;
       opts.prefix = "pipeline" + std::to_string(::getpid()) + "-" + run + ":";
       opts.connect_timeout_ms = 1000;
       opts.command_timeout_ms = 10'000;
       return make_redis_store(opts);
     }},
  };
  auto wanted = [&](const std::string& name) {
    return which == "all" || name == "sqlite-" + which || name == which;
  };
  int rc = 0;
  for (auto& be : backends) {
    if (!wanted(be.name))
      continue;
    if (be.name == "redis" && redis_url.empty()) {
      std::printf("store=redis skipped (no --redis-url)\n");
      continue;
    }
    std::vector<double> rates;
    try {
      for (size_t r = 0; r < runs; ++r) {
        auto s = be.open(std::to_string(r));
        auto rate = run_pipeline(*s, events, batch);
        if (rate < 0) {
          rc = 1;
          break;
        }
        rates.push_back(rate);
      }
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "store=%s failed: %s\n", be.name.c_str(), ex.what());
      rc = 1;
    }
    if (rates.empty())
      continue;
    std::string all;
    for (auto x : rates) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%s%.0f", all.empty() ? "" : " ", x);
      all += buf;
    }
    auto sorted = rates;
    std::sort(sorted.begin(), sorted.end());
    std::printf("store=%s events=%zu batch=%zu events/s=%.0f (runs: %s)\n",
                be.name.c_str(), events, batch, sorted[(sorted.size() - 1) / 2],
                all.c_str());
    std::fflush(stdout);
  }
  std::filesystem::remove_all(dir);
  return rc;
}
