#include "actors/listener.hpp"

#include "actors/logic/backoff.hpp"
#include "actors/timeouts.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include <random>

namespace onceflow {

namespace {

struct listener_state {
  listener_config cfg;
  std::shared_ptr<handler> h;
  deduplicator_actor dedup;
  /// The broadcaster that dispatched the current batch.
  caf::strong_actor_ptr reply_to;
  /// Reports of the current batch; settlements waiting for a latency.
  std::vector<dispatch_report> reports;
  std::vector<settlement> pending;
  uint64_t token = 0;
  uint64_t batches = 0;
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  uint64_t refused = 0;
  static inline const char* name = "listener";
};

using listener_pointer = listener_actor::stateful_pointer<listener_state>;

void report(listener_pointer self) {
  auto& st = self->state;
  auto to = caf::actor_cast<broadcaster_actor>(st.reply_to);
  if (to)
    self->send(to, atom::done_v, std::move(st.reports));
  st.reports.clear();
  st.pending.clear();
  st.reply_to = nullptr;
}

/// Marks every entry of the current batch as failed (store unreachable).
void fail_batch(listener_pointer self, const std::vector<uint64_t>& seqs,
                const caf::error& err) {
  auto& st = self->state;
  spdlog::warn("listener {}: batch of {} not settled: {}", st.cfg.name,
               seqs.size(), render(err));
  auto until = to_millis(self->clock().now()) + 1000;
  for (auto seq : seqs)
    st.reports.push_back({seq, dispatch_report::failed, until});
  report(self);
}

void settle(listener_pointer self) {
  auto& st = self->state;
  if (st.pending.empty()) {
    report(self);
    return;
  }
  std::vector<uint64_t> seqs;
  std::vector<bool> retries;
  for (auto& s : st.pending) {
    seqs.push_back(s.dl.ev.seq);
    retries.push_back(s.kind == settle_kind::retry);
  }
  self
    ->request(st.dedup, actor_timeout, atom::settle_v, std::move(st.pending))
    .then(
      [self, seqs, retries](std::vector<fence_decision>& ds) {
        auto& st = self->state;
        for (size_t i = 0; i < seqs.size(); ++i) {
          auto ok = i < ds.size() && ds[i] == fence_decision::ok;
          auto kind = dispatch_report::stale;
          if (ok)
            kind = retries[i] ? dispatch_report::scheduled
                              : dispatch_report::settled;
          else
            ++st.refused;
          st.reports.push_back({seqs[i], kind, 0});
        }
        report(self);
      },
      [self, seqs](caf::error& err) { fail_batch(self, seqs, err); });
  st.pending.clear();
}

/// Runs the handler on granted deliveries and prepares their settlements.
void process(listener_pointer self, std::vector<delivery>& batch,
             std::vector<claim_decision>& ds) {
  auto& st = self->state;
  auto now = to_millis(self->clock().now());
  millis_t latency = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& dl = batch[i];
    if (i >= ds.size()) {
      // No decision (a short answer): never run a handler without a lease.
      st.reports.push_back({dl.ev.seq, dispatch_report::failed, now + 1000});
      continue;
    }
    auto& d = ds[i];
    switch (d.kind) {
      case claim_decision::held:
        st.reports.push_back(
          {dl.ev.seq, dispatch_report::held, d.expires_at});
        continue;
      case claim_decision::done:
        st.reports.push_back({dl.ev.seq, dispatch_report::settled, 0});
        continue;
      case claim_decision::crash_loop: {
        attempt_record rec{dl.attempt, now, st.cfg.node, st.cfg.name,
                           d.epoch, outcome::crashed,
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
                            "lease expired without completion"});
    }
    dl.epoch = d.epoch;
    dl.redeliveries = d.redeliveries;
    handler_result r;
    try {
      r = st.h->handle(dl.ev, dl.attempt);
    } catch (const std::exception& e) {
      r.result = outcome::retryable;
      r.error = std::string{"handler threw: "} + e.what();
    }
    latency += r.latency;
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
        // The store schedules the next attempt (attempt + 1).
        s.kind = settle_kind::retry;
        s.due = now + latency + v.delay;
      } else {
        s.kind = settle_kind::dead;
        s.reason = v.reason;
      }
    }
    s.dl = std::move(dl);
    st.pending.push_back(std::move(s));
  }
  if (latency > 0) {
    self->delayed_send(self, std::chrono::milliseconds(latency), atom::tick_v,
                       ++st.token);
    return;
  }
  settle(self);
}

listener_actor::behavior_type listener_impl(listener_pointer self,
                                            listener_config cfg,
                                            std::shared_ptr<handler> h,
                                            deduplicator_actor dedup) {
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
      ++st.batches;
      st.reply_to = self->current_sender();
      std::vector<claim_request> reqs;
      reqs.reserve(batch.size());
      std::vector<uint64_t> seqs;
      for (auto& dl : batch) {
        reqs.push_back({dl.group, dl.ev.id, dl.ev.seq});
        seqs.push_back(dl.ev.seq);
      }
      auto& g = st.cfg.group;
      self
        ->request(st.dedup, actor_timeout, atom::claim_v, std::move(reqs),
                  st.cfg.name, g.lease_ttl, g.retry.crash_budget)
        .then(
          [self, batch = std::move(batch)](
            std::vector<claim_decision>& ds) mutable {
            process(self, batch, ds);
          },
          [self, seqs](caf::error& err) { fail_batch(self, seqs, err); });
    },
    [self](atom::tick, uint64_t token) {
      if (token == self->state.token)
        settle(self);
    },
    [self](atom::status) {
      auto& st = self->state;
      caf::settings result;
      caf::put(result, "listener.name", st.cfg.name);
      caf::put(result, "listener.batches", st.batches);
      caf::put(result, "listener.succeeded", st.succeeded);
      caf::put(result, "listener.failed", st.failed);
      caf::put(result, "listener.refused", st.refused);
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
