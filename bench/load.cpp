// End-to-end load generator on the embedded store: publishes N events in
// batches (several batches in flight), waits until every (event, group)
// effect is committed, and reports events/s and accept->handler latency.
//
//   onceflow_bench [--events N] [--batch B] [--groups G] [--store memory|file]
//                  [--inflight K] [--listener-batch L] [--concurrency C]
//                  [--rate R] [--sync normal|full]
//                  [--store redis --redis-url URL] [--effect 1|0]
//                  [--pool-size N]
//
// --effect 0: the handler commits the effect without a processed-event
// record (the ledger entry alone; like a no-op job processor).
//
// Without --rate the producer publishes as fast as the node accepts
// (throughput; latency then includes the time events wait in the backlog).
// With --rate R it paces batches to R events/s (latency at a given load).

#include "actors/interfaces.hpp"
#include "runtime/command_line.hpp"
#include "runtime/node.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

using namespace onceflow;

namespace {

std::mutex samples_mtx;
std::vector<millis_t> samples;
/// --effect: the handler asks for the `store` handler's effect record.
bool record_effect = true;

millis_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

/// Records the effect (like `store`) and the accept->handler latency.
class bench_handler : public handler {
public:
  handler_result handle(const event& ev, uint32_t) override {
    local_.push_back(wall_ms() - ev.created_at);
    if (local_.size() >= 1024)
      flush();
    handler_result r;
    r.record_effect = record_effect;
    return r;
  }
  ~bench_handler() override {
    flush();
  }

private:
  void flush() {
    std::lock_guard<std::mutex> guard{samples_mtx};
    samples.insert(samples.end(), local_.begin(), local_.end());
    local_.clear();
  }
  std::vector<millis_t> local_;
};

/// A node's scheduler settings (command::set_scheduler_defaults);
/// --moderate-polls and --relaxed-sleep-us override CAF's
/// work-stealing.moderate-poll-attempts and relaxed-sleep-duration (CAF's
/// own defaults: 500 and 10000) to compare.
struct bench_config : caf::actor_system_config {
  bench_config(std::optional<size_t> moderate_polls,
               std::optional<int64_t> relaxed_sleep_us) {
    register_types(*this);
    command::set_scheduler_defaults(*this);
    if (moderate_polls)
      set("work-stealing.moderate-poll-attempts", *moderate_polls);
    if (relaxed_sleep_us)
      set("work-stealing.relaxed-sleep-duration",
          caf::timespan{std::chrono::microseconds(*relaxed_sleep_us)});
  }
};

} // namespace

int main(int argc, char** argv) {
  size_t events = 200000, batch = 1000, groups = 1, inflight = 4;
  double rate = 0;
  uint32_t listener_batch = 512, concurrency = 2;
  std::string store_kind = "memory";
  std::string sync = "normal";
  std::string redis_url = "redis://127.0.0.1:6379/0";
  uint32_t pool_size = node_config{}.redis_pool_size;
  std::optional<size_t> moderate_polls;
  std::optional<int64_t> relaxed_sleep_us;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--events")
      events = std::stoul(v);
    else if (k == "--batch")
      batch = std::stoul(v);
    else if (k == "--groups")
      groups = std::stoul(v);
    else if (k == "--store")
      store_kind = v;
    else if (k == "--inflight")
      inflight = std::stoul(v);
    else if (k == "--listener-batch")
      listener_batch = static_cast<uint32_t>(std::stoul(v));
    else if (k == "--redis-url")
      redis_url = v;
    else if (k == "--sync")
      sync = v;
    else if (k == "--rate")
      rate = std::stod(v);
    else if (k == "--concurrency")
      concurrency = static_cast<uint32_t>(std::stoul(v));
    else if (k == "--effect")
      record_effect = v != "0";
    else if (k == "--pool-size")
      pool_size = static_cast<uint32_t>(std::stoul(v));
    else if (k == "--moderate-polls")
      moderate_polls = std::stoul(v);
    else if (k == "--relaxed-sleep-us")
      relaxed_sleep_us = std::stoll(v);
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  bench_config cfg{moderate_polls, relaxed_sleep_us};
  caf::actor_system sys{cfg};
  auto& reg = default_handlers();
  reg.add("bench", [](const handler_options&) {
    return std::make_unique<bench_handler>();
  });
  node_config ncfg;
  ncfg.max_backlog = static_cast<uint32_t>(events + 1);
  for (size_t g = 0; g < groups; ++g) {
    group_config gc;
    gc.name = "g" + std::to_string(g);
    gc.handler = "bench";
    gc.concurrency = concurrency;
    gc.batch_size = listener_batch;
    ncfg.groups.push_back(gc);
  }
  // The same store set-up as `onceflow node` (runtime/node.cpp).
  ncfg.sqlite_synchronous = sync;
  std::string dir;
  if (store_kind == "redis") {
    ncfg.store_backend = "redis";
    ncfg.redis_url = redis_url;
    ncfg.redis_pool_size = pool_size;
    ncfg.redis_prefix = "bench" + std::to_string(::getpid()) + ":";
  } else if (store_kind == "file") {
    dir = std::filesystem::temp_directory_path()
          / ("onceflow-bench-" + std::to_string(::getpid()));
    ncfg.store_path = dir + "/bench.db";
  } else {
    ncfg.store_path = ":memory:";
  }
  std::shared_ptr<store> st = open_store(ncfg);
  auto n = start_node(sys, ncfg, st, true, {}, nullptr,
                      open_extra_stores(ncfg));
  st.reset();
  caf::scoped_actor self{sys};
  auto start = std::chrono::steady_clock::now();
  size_t sent = 0, acked = 0, refused = 0, outstanding = 0;
  auto send_one = [&] {
    if (rate > 0) {
      auto due
        = start
          + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(static_cast<double>(sent) / rate));
      std::this_thread::sleep_until(due);
    }
    std::vector<event> evs;
    for (size_t i = 0; i < batch && sent < events; ++i, ++sent) {
      event ev;
      ev.id = "b-" + std::to_string(sent);
      ev.type = "bench.event";
      ev.payload = R"({"order":12345,"customer":"c-42","amount":99.5})";
      ev.trace_id = ev.id;
      evs.push_back(std::move(ev));
    }
    // An async send: the broadcaster's answer (results or error) comes back
    // as an ordinary message, so several batches can be in flight.
    self->send(n.broadcaster, atom::ingest_v, std::move(evs));
    ++outstanding;
  };
  bool failed = false;
  while (acked + refused < events && !failed) {
    while (outstanding < inflight && sent < events)
      send_one();
    self->receive(
      [&](std::vector<append_result>& rs) {
        acked += rs.size();
        --outstanding;
      },
      [&](caf::error& err) {
        --outstanding;
        if (render(err).find("overloaded") == std::string::npos) {
          std::cerr << "ingest failed: " << render(err) << "\n";
          failed = true;
        }
        // An overloaded batch is not resent: count it as not published.
        std::cerr << "batch refused: " << render(err) << "\n";
        refused += batch;
      });
  }
  auto accepted_at = std::chrono::steady_clock::now();
  uint64_t target = (events - std::min(events, refused)) * groups, done = 0;
  while (done < target && !failed) {
    if (record_effect) {
      // Effect records in the store.
      self->request(n.store, std::chrono::seconds(10), atom::status_v)
        .receive(
          [&](caf::settings& s) {
            done = caf::get_or(s, "store.processed", uint64_t{0});
          },
          [&](caf::error&) {});
    } else {
      // Committed settlements counted by the listeners (nothing fails in
      // this bench, so each is one effect).
      self->request(n.broadcaster, std::chrono::seconds(10), atom::status_v)
        .receive(
          [&](caf::settings& s) {
            uint64_t sum = 0;
            for (size_t g = 0; g < groups; ++g)
              sum += caf::get_or(s, "groups.g" + std::to_string(g) + ".settled",
                                 uint64_t{0});
            done = sum;
          },
          [&](caf::error&) {});
    }
    if (done < target)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto end = std::chrono::steady_clock::now();
  auto secs = std::chrono::duration<double>(end - start).count();
  auto ingest_secs = std::chrono::duration<double>(accepted_at - start).count();
  // Each store actor's status (one, or several over their own
  // connections).
  std::vector<std::pair<std::string, caf::settings>> store_status;
  std::vector<std::pair<std::string, store_actor>> store_actors{
    {"store", n.store}, {"ingest store", n.ingest_store}};
  for (size_t i = 0; i < n.lease_stores.size(); ++i)
    store_actors.emplace_back("lease store " + std::to_string(i + 1),
                              n.lease_stores[i]);
  for (auto& [name, actor] : store_actors) {
    if (name != "store" && actor == n.store)
      continue;
    self->request(actor, std::chrono::seconds(10), atom::status_v)
      .receive(
        [&](caf::settings& s) {
          store_status.emplace_back(name, std::move(s));
        },
        [&](caf::error&) {});
  }
  std::vector<millis_t> lat;
  stop_node(sys, n);
  self->wait_for(n.broadcaster);
  {
    std::lock_guard<std::mutex> guard{samples_mtx};
    lat = samples;
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) -> millis_t {
    if (lat.empty())
      return -1;
    return lat[std::min(
      lat.size() - 1,
      static_cast<size_t>(p * static_cast<double>(lat.size())))];
  };
  if (rate > 0)
    std::printf("rate=%.0f ", rate);
  if (store_kind == "file")
    std::printf("sync=%s ", sync.c_str());
  std::printf("store=%s events=%zu groups=%zu batch=%zu effects=%llu "
              "ingest=%.0f ev/s end_to_end=%.0f ev/s (%.0f effects/s) "
              "p50=%lld ms p99=%lld ms\n",
              store_kind.c_str(), events, groups, batch,
              static_cast<unsigned long long>(done),
              static_cast<double>(events) / ingest_secs,
              static_cast<double>(events) / secs,
              static_cast<double>(done) / secs,
              static_cast<long long>(pct(0.5)),
              static_cast<long long>(pct(0.99)));
  // Where each store thread's time went, per operation.
  for (auto& [name, status] : store_status) {
    auto ops = caf::get_if<caf::settings>(&status, "store.ops");
    if (!ops)
      continue;
    double total_us = 0;
    for (auto& kv : *ops)
      total_us += static_cast<double>(
        caf::get_or(caf::get<caf::settings>(kv.second), "micros", uint64_t{0}));
    std::printf("%s thread busy %.0f%% of the run:", name.c_str(),
                total_us / 1e4 / secs);
    for (auto& kv : *ops) {
      auto& op = caf::get<caf::settings>(kv.second);
      auto us = caf::get_or(op, "micros", uint64_t{0});
      auto items = caf::get_or(op, "items", uint64_t{0});
      std::printf(" %s %.2f us/item (%llu items, %.0f ms);", kv.first.c_str(),
                  items ? static_cast<double>(us) / static_cast<double>(items)
                        : 0.0,
                  static_cast<unsigned long long>(items),
                  static_cast<double>(us) / 1000.0);
    }
    std::printf("\n");
  }
  if (!dir.empty())
    std::filesystem::remove_all(dir);
  return failed ? 1 : 0;
}
