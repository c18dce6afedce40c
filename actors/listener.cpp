#include "actors/listener.hpp"

#include "actors/logic/backoff.hpp"
#include "actors/node_metrics.hpp"
#include "actors/timeouts.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include <atomic>
#include <deque>
#include <random>
#include <utility>

namespace onceflow {

namespace {

/// A granted delivery whose handler runs (or ran).
struct running_item {
  delivery dl;
  /// When its lease expires.
  millis_t expires_at = 0;
  handler_result result;
  bool finished = false;
  /// Handler start and duration (async: until its callback arrived).
  std::chrono::steady_clock::time_point started;
  double seconds = 0;
};

struct listener_state {
  listener_config cfg;
  std::shared_ptr<handler> h;
  deduplicator_actor dedup;
  /// The broadcaster that dispatched the current batch.
  caf::strong_actor_ptr reply_to;
  /// A batch runs (from its dispatch until its report).
  bool active = false;
  /// Batches dispatched while one ran (a remote listener may hold two:
  /// see remote_listener_window), each with its sender, run in turn.
  std::deque<std::pair<caf::strong_actor_ptr, std::vector<delivery>>> waiting;
  /// Reports of the current batch; settlements waiting for a latency.
  std::vector<dispatch_report> reports;
  std::vector<settlement> pending;
  /// Granted deliveries of the current batch and how many still run.
  std::vector<running_item> running;
  size_t outstanding = 0;
  /// How long the asynchronous calls of the current batch may run.
  millis_t deadline = 0;
  uint64_t token = 0;
  uint64_t batches = 0;
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  /// Deliveries run under a lease granted with the read (no claim).
  uint64_t read_leases = 0;
  /// Batches handed to the deduplicator to settle and report.
  uint64_t settlements_sent = 0;
  static inline const char* name = "listener";
};

using listener_pointer = listener_actor::stateful_pointer<listener_state>;

void start_batch(listener_pointer self, caf::strong_actor_ptr sender,
                 std::vector<delivery> batch);

/// How long asynchronous calls of a batch may run: 4/5 of the shortest
/// lease left in the batch (the rest is for the settlement).
millis_t async_deadline(const std::vector<running_item>& items, millis_t now) {
  millis_t left = -1;
  for (auto& item : items)
    if (left < 0 || item.expires_at - now < left)
      left = item.expires_at - now;
  return std::max<millis_t>(1, left * 4 / 5);
}

/// Sends a batch's reports to the broadcaster that dispatched it.
void send_reports(listener_pointer self, const caf::strong_actor_ptr& to,
                  std::vector<dispatch_report> reports) {
  if (auto hdl = caf::actor_cast<broadcaster_actor>(to))
    self->send(hdl, atom::done_v, std::move(reports));
}

/// The current batch needs the listener no more (reported, or its
/// settlement under way): the next waiting batch starts.
void next_batch(listener_pointer self) {
  auto& st = self->state;
  st.reports.clear();
  st.pending.clear();
  st.running.clear();
  st.reply_to = nullptr;
  st.active = false;
  if (!st.waiting.empty()) {
    auto next = std::move(st.waiting.front());
    st.waiting.pop_front();
    start_batch(self, std::move(next.first), std::move(next.second));
  }
}

void report(listener_pointer self) {
  auto& st = self->state;
  send_reports(self, st.reply_to, std::move(st.reports));
  next_batch(self);
}

/// A delivery that failed because the store could not be reached: the
/// broadcaster delivers it again after a second.
dispatch_report failed_report(listener_pointer self, uint64_t seq) {
  return {seq, dispatch_report::failed, to_millis(self->clock().now()) + 1000};
}

void report_failed(listener_pointer self, uint64_t seq) {
  self->state.reports.push_back(failed_report(self, seq));
}

/// Settles the current batch through the deduplicator, which reports it
/// to the broadcaster once the fence answered (one message: a remote
/// listener's batch crosses the network once each way). The listener does
/// not wait for that: the next batch (a remote listener holds two) runs
/// while the settlement is under way.
void settle(listener_pointer self) {
  auto& st = self->state;
  if (st.pending.empty()) {
    report(self);
    return;
  }
  ++st.settlements_sent;
  self->send(st.dedup, atom::settle_v,
             caf::actor_cast<broadcaster_actor>(st.reply_to),
             std::move(st.pending), std::move(st.reports));
  next_batch(self);
}

/// Turns the handler results of the current batch into settlements; waits
/// for a simulated latency before settling.
void finish(listener_pointer self) {
  auto& st = self->state;
  auto now = to_millis(self->clock().now());
  millis_t latency = 0;
  std::vector<double> durations;
  durations.reserve(st.running.size());
  for (auto& item : st.running) {
    auto& dl = item.dl;
    auto& r = item.result;
    latency += r.latency;
    auto seconds = item.seconds + static_cast<double>(r.latency) / 1000.0;
    durations.push_back(seconds);
    dl.history.push_back({dl.attempt, now + latency, st.cfg.node, st.cfg.name,
                          dl.epoch, r.result, r.error});
    settlement s;
    if (r.result == outcome::success) {
      ++st.succeeded;
      s.kind = settle_kind::done;
      s.record_effect = r.record_effect;
    } else {
      ++st.failed;
      auto u = st.cfg.jitter();
      auto v = decide_retry(st.cfg.group.retry, dl.attempt, r.result, u);
      s.error = r.error;
      if (v.retry) {
        // The store schedules the next attempt (attempt + 1); a receiver's
        // Retry-After postpones it further.
        s.kind = settle_kind::retry;
        s.due = now + latency + std::max(v.delay, r.retry_after);
      } else {
        s.kind = settle_kind::dead;
        s.reason = v.reason;
      }
    }
    s.dl = std::move(dl);
    if (s.kind == settle_kind::done) {
      // The store keeps neither payload nor trace id of a done pair: they
      // need not travel back (from a worker, the payload would cross the
      // wire twice per event).
      s.dl.ev.payload = std::string{};
      s.dl.ev.trace_id = std::string{};
    }
    st.pending.push_back(std::move(s));
  }
  st.running.clear();
  if (st.cfg.metrics && !durations.empty()) {
    metrics_batch b;
    b.observe_all(metric::handler_duration, {{"group", st.cfg.group.name}},
                  std::move(durations));
    st.cfg.metrics->merge(b);
  }
  if (latency > 0) {
    self->delayed_send(self, std::chrono::milliseconds(latency), atom::tick_v,
                       ++st.token);
    return;
  }
  settle(self);
}

/// The result of a handler call that threw a std::exception: a retryable
/// failure naming it (logged: a handler should return its failures).
/// Anything else a handler throws ends its listener like a crash: the
/// event goes to another listener under the group's crash budget.
handler_result thrown(const listener_state& st, const std::exception& e) {
  std::string what = e.what();
  spdlog::warn("listener {}: handler {} threw: {}", st.cfg.name,
               st.cfg.group.handler, what);
  return handler_result::retry("handler threw: " + what);
}

/// True (and logged) if a handler calls back a second time for `what`; the
/// listener takes the first result only.
bool second_call(std::atomic<bool>& called, const std::string& listener,
                 const std::string& what) {
  if (!called.exchange(true))
    return false;
  spdlog::warn("listener {}: the handler called back twice for {}; the "
               "second result is ignored",
               listener, what);
  return true;
}

/// Runs the handler on every granted delivery of the batch.
void run_handlers(listener_pointer self) {
  auto& st = self->state;
  if (st.running.empty()) {
    finish(self);
    return;
  }
  if (!st.h->asynchronous() && !st.h->batched()) {
    for (auto& item : st.running) {
      item.started = std::chrono::steady_clock::now();
      try {
        item.result = st.h->handle(item.dl.ev, item.dl.attempt);
      } catch (const std::exception& e) {
        item.result = thrown(st, e);
      }
      item.seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - item.started)
                       .count();
      item.finished = true;
    }
    finish(self);
    return;
  }
  // Asynchronous: each completion comes back as a message, from any thread;
  // calls still open at 4/5 of the lease are failed then, leaving the rest
  // of the lease to settle the batch under the fence.
  auto token = ++st.token;
  st.outstanding = st.running.size();
  st.deadline = async_deadline(st.running, to_millis(self->clock().now()));
  self->delayed_send(self, std::chrono::milliseconds(st.deadline), atom::tick_v,
                     token);
  auto me = caf::actor_cast<listener_actor>(self);
  if (st.h->batched()) {
    std::vector<handler_call> calls;
    calls.reserve(st.running.size());
    auto now = std::chrono::steady_clock::now();
    for (auto& item : st.running) {
      item.started = now;
      calls.push_back({&item.dl.ev, item.dl.attempt, item.dl.epoch, st.cfg.name,
                       st.cfg.node});
    }
    auto once = std::make_shared<std::atomic<bool>>(false);
    try {
      // The callback holds the handler: it outlives the listener if a
      // call completes after the listener ended.
      st.h->handle_batch(calls, [me, token, once, h = st.h, name = st.cfg.name](
                                  std::vector<handler_result> rs) {
        if (!second_call(*once, name, "its batch"))
          caf::anon_send(me, atom::handled_v, token, std::move(rs));
      });
    } catch (const std::exception& e) {
      if (!once->exchange(true))
        self->send(me, atom::handled_v, token,
                   std::vector<handler_result>(calls.size(), thrown(st, e)));
    }
    return;
  }
  for (uint32_t i = 0; i < st.running.size(); ++i) {
    auto& item = st.running[i];
    item.started = std::chrono::steady_clock::now();
    auto once = std::make_shared<std::atomic<bool>>(false);
    try {
      st.h->handle_async(item.dl.ev, item.dl.attempt,
                         [me, token, i, once, h = st.h, name = st.cfg.name,
                          id = item.dl.ev.id](handler_result r) {
                           if (!second_call(*once, name, "event " + id))
                             caf::anon_send(me, atom::handled_v, token, i,
                                            std::move(r));
                         });
    } catch (const std::exception& e) {
      if (!once->exchange(true))
        self->send(me, atom::handled_v, token, i, thrown(st, e));
    }
  }
}

/// Sorts the claim decisions: granted deliveries run their handler, the
/// others are reported or dead-lettered (crash loop) at once.
void process(listener_pointer self, std::vector<delivery>& batch,
             std::vector<claim_decision>& ds) {
  auto& st = self->state;
  auto now = to_millis(self->clock().now());
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& dl = batch[i];
    if (i >= ds.size()) {
      // No decision (a short answer): never run a handler without a lease.
      report_failed(self, dl.ev.seq);
      continue;
    }
    auto& d = ds[i];
    switch (d.kind) {
      case claim_decision::held:
        st.reports.push_back({dl.ev.seq, dispatch_report::held, d.expires_at});
        continue;
      case claim_decision::done:
        st.reports.push_back({dl.ev.seq, dispatch_report::settled, 0});
        continue;
      case claim_decision::crash_loop: {
        attempt_record rec{dl.attempt,
                           now,
                           st.cfg.node,
                           st.cfg.name,
                           d.epoch,
                           outcome::crashed,
                           "lease expired without completion"};
        dl.history.push_back(std::move(rec));
        dl.redeliveries = d.redeliveries;
        settlement s;
        s.kind = settle_kind::dead;
        s.reason = dlq_reason::crash_loop;
        s.error = "crash redelivery budget of "
                  + std::to_string(st.cfg.group.retry.crash_budget)
                  + " exhausted";
        s.dl = std::move(dl);
        s.dl.epoch = 0;
        st.pending.push_back(std::move(s));
        continue;
      }
      case claim_decision::granted:
        break;
    }
    if (d.redeliveries > dl.redeliveries) {
      // A previous holder of this attempt died or stalled past its lease.
      dl.history.push_back({dl.attempt, now, st.cfg.node, "", 0,
                            outcome::crashed,
                            dl.lease_until == lease_of_dead_listener
                              ? "listener went down without completion"
                              : "lease expired without completion"});
    }
    dl.epoch = d.epoch;
    dl.redeliveries = d.redeliveries;
    dl.lease_until = 0;
    running_item item;
    item.expires_at = d.expires_at;
    item.dl = std::move(dl);
    st.running.push_back(std::move(item));
  }
  run_handlers(self);
}

/// The claim for part of a batch failed: those deliveries are reported
/// failed (delivered again later); the ones running under leases granted
/// with the read go ahead.
void without_claimed(listener_pointer self, std::vector<delivery>& batch,
                     std::vector<claim_decision>& ds,
                     const std::vector<size_t>& claimed,
                     const std::string& why) {
  auto& st = self->state;
  spdlog::warn("listener {}: claim of {} deliveries failed: {}", st.cfg.name,
               claimed.size(), why);
  std::vector<bool> out(batch.size(), false);
  for (auto i : claimed) {
    out[i] = true;
    report_failed(self, batch[i].ev.seq);
  }
  std::vector<delivery> rest;
  std::vector<claim_decision> rest_ds;
  for (size_t i = 0; i < batch.size(); ++i)
    if (!out[i]) {
      rest.push_back(std::move(batch[i]));
      rest_ds.push_back(ds[i]);
    }
  process(self, rest, rest_ds);
}

/// Runs one dispatched batch: claims what needs a claim, runs the
/// handlers, settles and reports to `sender`.
void start_batch(listener_pointer self, caf::strong_actor_ptr sender,
                 std::vector<delivery> batch) {
  auto& st = self->state;
  ++st.batches;
  // Timers of earlier batches must not match this one.
  ++st.token;
  st.active = true;
  st.reply_to = std::move(sender);
  // Deliveries with a lease granted with the read run under it; the
  // others are claimed (taking over a read's lease too short to use).
  auto now = to_millis(self->clock().now());
  auto& g = st.cfg.group;
  auto min_left = read_lease_min_left(g.lease_ttl);
  std::vector<claim_decision> ds(batch.size());
  std::vector<size_t> claimed;
  std::vector<claim_request> reqs;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& dl = batch[i];
    if (use_read_lease(dl, now, min_left)) {
      ds[i] = {claim_decision::granted, dl.epoch, dl.lease_until,
               dl.redeliveries};
      ++st.read_leases;
      continue;
    }
    claimed.push_back(i);
    reqs.push_back({dl.group, dl.ev.id, dl.ev.seq,
                    dl.lease_until != 0 ? dl.epoch : 0,
                    dl.lease_until == lease_of_dead_listener});
  }
  if (reqs.empty()) {
    process(self, batch, ds);
    return;
  }
  auto shared = std::make_shared<std::vector<delivery>>(std::move(batch));
  auto decided = std::make_shared<std::vector<claim_decision>>(std::move(ds));
  self
    ->request(st.dedup, actor_timeout, atom::claim_v, std::move(reqs),
              st.cfg.name, g.lease_ttl, g.retry.crash_budget)
    .then(
      [self, shared, decided, claimed](std::vector<claim_decision>& got) {
        if (got.size() != claimed.size()) {
          without_claimed(self, *shared, *decided, claimed,
                          "a short answer to the claim");
          return;
        }
        for (size_t k = 0; k < claimed.size(); ++k)
          (*decided)[claimed[k]] = got[k];
        process(self, *shared, *decided);
      },
      [self, shared, decided, claimed](caf::error& err) {
        without_claimed(self, *shared, *decided, claimed, render(err));
      });
}

listener_actor::behavior_type
listener_impl(listener_pointer self, listener_config cfg,
              std::shared_ptr<handler> h, deduplicator_actor dedup) {
  if (!cfg.jitter) {
    auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
    cfg.jitter = [rng] {
      return std::uniform_real_distribution<double>{0.0, 1.0}(*rng);
    };
  }
  self->state.cfg = std::move(cfg);
  self->state.h = std::move(h);
  self->state.dedup = std::move(dedup);
  return {
    [self](atom::dispatch, std::vector<delivery>& batch) {
      auto& st = self->state;
      if (st.active) {
        st.waiting.emplace_back(self->current_sender(), std::move(batch));
        return;
      }
      start_batch(self, self->current_sender(), std::move(batch));
    },
    [self](atom::tick, uint64_t token) {
      auto& st = self->state;
      if (token != st.token)
        return;
      if (st.outstanding > 0) {
        // Asynchronous calls that did not complete within the lease: fail
        // them (retryable) so that the listener serves its group again.
        for (auto& item : st.running)
          if (!item.finished) {
            item.finished = true;
            item.result = handler_result{};
            item.result.result = outcome::retryable;
            item.result.error = "handler did not complete within "
                                + std::to_string(st.deadline)
                                + " ms (4/5 of the lease)";
          }
        st.outstanding = 0;
        finish(self);
        return;
      }
      settle(self);
    },
    [self](atom::handled, uint64_t token, uint32_t index, handler_result& r) {
      auto& st = self->state;
      if (token != st.token || index >= st.running.size()
          || st.running[index].finished)
        return;
      auto& item = st.running[index];
      item.result = std::move(r);
      item.finished = true;
      item.seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - item.started)
                       .count();
      if (--st.outstanding == 0)
        finish(self);
    },
    [self](atom::handled, uint64_t token, std::vector<handler_result>& rs) {
      auto& st = self->state;
      if (token != st.token || st.outstanding == 0)
        return;
      // Each event's share of the batch's time (handler_duration).
      auto now = std::chrono::steady_clock::now();
      auto n = static_cast<double>(std::max<size_t>(1, st.running.size()));
      for (size_t i = 0; i < st.running.size(); ++i) {
        auto& item = st.running[i];
        if (i < rs.size()) {
          item.result = std::move(rs[i]);
        } else {
          item.result = handler_result::retry(
            "the batch handler returned " + std::to_string(rs.size())
            + " results for " + std::to_string(st.running.size()) + " events");
        }
        item.finished = true;
        item.seconds = std::chrono::duration<double>(now - item.started).count()
                       / n;
      }
      if (rs.size() != st.running.size())
        spdlog::warn("listener {}: the batch handler returned {} results for "
                     "{} events",
                     st.cfg.name, rs.size(), st.running.size());
      st.outstanding = 0;
      finish(self);
    },
    [self](atom::status) {
      auto& st = self->state;
      caf::settings result;
      caf::put(result, "listener.name", st.cfg.name);
      caf::put(result, "listener.group", st.cfg.group.name);
      caf::put(result, "listener.batches", st.batches);
      caf::put(result, "listener.succeeded", st.succeeded);
      caf::put(result, "listener.failed", st.failed);
      caf::put(result, "listener.read-leases", st.read_leases);
      caf::put(result, "listener.running", uint64_t{st.outstanding});
      caf::put(result, "listener.waiting-batches",
               static_cast<uint64_t>(st.waiting.size()));
      caf::put(result, "listener.settlements-sent", st.settlements_sent);
      caf::put(result, "listener.mailbox",
               static_cast<uint64_t>(self->mailbox().size()));
      return result;
    },
  };
}

} // namespace

listener_actor spawn_listener(caf::actor_system& sys, listener_config cfg,
                              std::shared_ptr<handler> h,
                              deduplicator_actor dedup) {
  return sys.spawn(listener_impl, std::move(cfg), std::move(h),
                   std::move(dedup));
}

} // namespace onceflow
