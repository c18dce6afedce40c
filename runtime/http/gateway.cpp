#include "runtime/http/gateway.hpp"

#include "actors/node_metrics.hpp"
#include "actors/timeouts.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include <spdlog/spdlog.h>

namespace onceflow::http {

struct gateway_access {
  /// Takes the queued jobs (and the submissions if `with_subs`) and clears
  /// the wake flag.
  static void take(gateway& gw, std::deque<gateway::submission>* subs,
                   std::deque<gateway::job>& jobs) {
    std::lock_guard<std::mutex> guard{gw.mtx_};
    if (subs)
      subs->swap(gw.submissions_);
    jobs.swap(gw.jobs_);
    gw.woken_ = false;
  }

  static void take_submissions(gateway& gw,
                               std::deque<gateway::submission>& subs) {
    std::lock_guard<std::mutex> guard{gw.mtx_};
    subs.swap(gw.submissions_);
  }

  /// Puts submissions that did not fit back before newer ones.
  static void requeue_front(gateway& gw, std::deque<gateway::submission> subs) {
    std::lock_guard<std::mutex> guard{gw.mtx_};
    for (auto& s : gw.submissions_)
      subs.push_back(std::move(s));
    gw.submissions_.swap(subs);
  }
};

namespace {

struct gateway_state {
  std::weak_ptr<gateway> gw;
  broadcaster_actor broadcaster;
  size_t max_batch = 1000;
  std::shared_ptr<metrics_registry> metrics;
  /// Ingest calls in flight. Submissions arriving while the limit is
  /// reached wait and go together with the next call: batches grow with
  /// the load, without a timer.
  size_t in_flight = 0;
  /// Ingest calls made, events they carried, jobs run.
  uint64_t calls = 0;
  uint64_t events = 0;
  uint64_t jobs = 0;
  static inline const char* name = "http_gateway";
};

/// Ingest calls the gateway keeps in flight (one in the store, one queued).
constexpr size_t max_ingest_calls = 2;

using gw_pointer = http_gateway_actor::stateful_pointer<gateway_state>;

void drain_submissions(gw_pointer self, std::deque<gateway::submission> subs);

/// Sends one ingest call for `subs` and splits the answer among them.
void send_batch(gw_pointer self, std::vector<gateway::submission> subs,
                std::vector<event> evs) {
  if (self->state.metrics)
    self->state.metrics->count(metric::http_ingest_calls, {});
  ++self->state.in_flight;
  ++self->state.calls;
  self->state.events += evs.size();
  // When a call returns, whatever queued up meanwhile goes out as one.
  auto next = [self] {
    --self->state.in_flight;
    if (auto gw = self->state.gw.lock()) {
      std::deque<gateway::submission> queued;
      gateway_access::take_submissions(*gw, queued);
      if (!queued.empty())
        drain_submissions(self, std::move(queued));
    }
  };
  auto shared
    = std::make_shared<std::vector<gateway::submission>>(std::move(subs));
  self
    ->request(self->state.broadcaster, actor_timeout, atom::ingest_v,
              std::move(evs))
    .then(
      [shared, next](std::vector<append_result>& rs) {
        size_t total = 0;
        for (auto& s : *shared)
          total += s.count;
        if (rs.size() != total) {
          // Never hand out results that may belong to other events.
          auto err = make_error(ec::store_failure,
                                "the store answered "
                                  + std::to_string(rs.size()) + " results for "
                                  + std::to_string(total) + " events");
          for (auto& s : *shared)
            s.done(err);
          next();
          return;
        }
        size_t pos = 0;
        for (auto& s : *shared) {
          std::vector<append_result> part;
          auto n = s.count;
          for (size_t i = 0; i < n && pos < rs.size(); ++i)
            part.push_back(std::move(rs[pos++]));
          s.done(std::move(part));
        }
        next();
      },
      [shared, next](caf::error& err) {
        for (auto& s : *shared)
          s.done(err);
        next();
      });
}

/// Packs whole submissions into calls of at most max_batch events, up to
/// the in-flight limit; the rest goes back to the front of the queue.
void drain_submissions(gw_pointer self, std::deque<gateway::submission> subs) {
  std::vector<gateway::submission> batch;
  std::vector<event> evs;
  while (!subs.empty()) {
    auto& s = subs.front();
    if (!evs.empty() && evs.size() + s.evs.size() > self->state.max_batch) {
      send_batch(self, std::move(batch), std::move(evs));
      batch.clear();
      evs.clear();
    }
    if (evs.empty() && self->state.in_flight >= max_ingest_calls)
      break;
    // The events travel in the batch; the submission keeps its count.
    s.count = s.evs.size();
    for (auto& ev : s.evs)
      evs.push_back(std::move(ev));
    s.evs.clear();
    batch.push_back(std::move(s));
    subs.pop_front();
  }
  if (!batch.empty())
    send_batch(self, std::move(batch), std::move(evs));
  if (!subs.empty())
    if (auto gw = self->state.gw.lock())
      gateway_access::requeue_front(*gw, std::move(subs));
}

http_gateway_actor::behavior_type
gateway_impl(gw_pointer self, std::weak_ptr<gateway> gw, broadcaster_actor bc,
             size_t max_batch, std::shared_ptr<metrics_registry> metrics) {
  self->state.metrics = std::move(metrics);
  self->state.gw = std::move(gw);
  self->state.broadcaster = std::move(bc);
  self->state.max_batch = max_batch;
  return {
    [self](atom::tick) {
      auto gw = self->state.gw.lock();
      if (!gw)
        return;
      std::deque<gateway::submission> subs;
      std::deque<gateway::job> jobs;
      // At the in-flight limit submissions stay queued: the next answer
      // sends them.
      auto& st = self->state;
      gateway_access::take(
        *gw, st.in_flight < max_ingest_calls ? &subs : nullptr, jobs);
      st.jobs += jobs.size();
      for (auto& j : jobs) {
        // A failing job must not take the gateway down (its responder
        // answers 503 when dropped).
        try {
          j(self);
        } catch (const std::exception& e) {
          spdlog::error("http gateway: a request failed: {}", e.what());
        }
      }
      if (!subs.empty())
        drain_submissions(self, std::move(subs));
    },
    [self](atom::status) {
      auto& st = self->state;
      caf::settings result;
      caf::put(result, "gateway.in-flight",
               static_cast<uint64_t>(st.in_flight));
      caf::put(result, "gateway.calls", st.calls);
      caf::put(result, "gateway.events", st.events);
      caf::put(result, "gateway.jobs", st.jobs);
      caf::put(result, "gateway.mailbox",
               static_cast<uint64_t>(self->mailbox().size()));
      return result;
    },
  };
}

} // namespace

std::shared_ptr<gateway>
gateway::make(caf::actor_system& sys, broadcaster_actor broadcaster,
              size_t max_batch, std::shared_ptr<metrics_registry> metrics) {
  std::shared_ptr<gateway> gw{new gateway};
  gw->hdl_ = sys.spawn(gateway_impl, std::weak_ptr<gateway>{gw},
                       std::move(broadcaster), max_batch, std::move(metrics));
  return gw;
}

void gateway::wake() {
  // Called with mtx_ held.
  if (!woken_) {
    woken_ = true;
    caf::anon_send(hdl_, atom::tick_v);
  }
}

void gateway::ingest(std::vector<event> evs, ingest_callback done) {
  std::unique_lock<std::mutex> guard{mtx_};
  if (stopped_) {
    guard.unlock();
    done(make_error(ec::draining, "node is shutting down"));
    return;
  }
  submissions_.push_back({std::move(evs), std::move(done), 0});
  wake();
}

void gateway::run(job j) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (stopped_)
    return;
  jobs_.push_back(std::move(j));
  wake();
}

void gateway::stop() {
  std::deque<submission> subs;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopped_ = true;
    subs.swap(submissions_);
    jobs_.clear();
  }
  for (auto& s : subs)
    s.done(make_error(ec::draining, "node is shutting down"));
  caf::anon_send_exit(hdl_, caf::exit_reason::user_shutdown);
}

gateway::~gateway() {
  if (hdl_)
    caf::anon_send_exit(hdl_, caf::exit_reason::user_shutdown);
}

} // namespace onceflow::http
