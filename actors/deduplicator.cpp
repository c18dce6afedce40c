#include "actors/deduplicator.hpp"

#include "actors/node_metrics.hpp"
#include "actors/timeouts.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include <map>

namespace onceflow {

namespace {

struct deduplicator_state {
  /// Where leasing reads go.
  store_actor reader;
  std::vector<store_actor> stores;
  size_t next_store = 0;
  /// The store actor for the next request (in turn).
  const store_actor& store() {
    auto& s = stores[next_store];
    next_store = (next_store + 1) % stores.size();
    return s;
  }
  retry_timer_actor retry_timer;
  dead_letter_queue_actor dlq;
  uint64_t granted = 0;
  uint64_t held = 0;
  uint64_t already_done = 0;
  uint64_t crash_loops = 0;
  uint64_t committed = 0;
  uint64_t refused_stale = 0;
  /// The node's broadcaster (see tell_grants); none on a worker.
  broadcaster_actor broadcaster;
  /// The node's metrics: outcomes of every listener it settles for.
  std::shared_ptr<metrics_registry> metrics;
  static inline const char* name = "deduplicator";
};

using dedup_pointer = deduplicator_actor::stateful_pointer<deduplicator_state>;

/// What the metrics need of one settlement once it committed.
struct settled_item {
  settle_kind kind;
  std::string group;
  std::string type;
  /// Acceptance, or the due time of a delayed event (its wait is asked
  /// for, not latency).
  millis_t created_at;
};

/// Counts committed outcomes in the node's metrics: here, where every
/// listener's settlements pass (a worker's too), not in the listeners.
void count_settled(metrics_registry& m, const std::vector<settled_item>& items,
                   const std::vector<fence_decision>& ds, millis_t now) {
  // Aggregate per (outcome, group, type) first: one label set per distinct
  // triple.
  std::map<std::tuple<settle_kind, std::string, std::string>, uint64_t> counts;
  std::map<std::string, std::vector<double>> latencies;
  std::map<std::string, uint64_t> settled;
  for (size_t i = 0; i < items.size() && i < ds.size(); ++i) {
    if (ds[i] != fence_decision::ok)
      continue;
    auto& s = items[i];
    if (s.kind == settle_kind::release)
      continue;
    ++counts[{s.kind, s.group, s.type}];
    ++settled[s.group];
    if (s.kind == settle_kind::done)
      latencies[s.group].push_back(
        static_cast<double>(std::max<millis_t>(0, now - s.created_at))
        / 1000.0);
  }
  metrics_batch b;
  for (auto& [key, n] : counts) {
    auto& [kind, group, type] = key;
    auto name = kind == settle_kind::done    ? metric::processed
                : kind == settle_kind::retry ? metric::retried
                                             : metric::dead;
    b.count(name, {{"group", group}, {"type", type}}, n);
  }
  for (auto& [group, n] : settled)
    b.count(metric::settled, {{"group", group}}, n);
  for (auto& [group, xs] : latencies)
    b.observe_all(metric::effect_latency, {{"group", group}}, std::move(xs));
  if (!b.empty())
    m.merge(b);
}

/// Tells the node's broadcaster which leases a listener was granted, before
/// the listener hears of them: should the listener go down, the broadcaster
/// revokes exactly these (see group_book::hand_back). Mailboxes are FIFO,
/// so the broadcaster sees this before any DOWN of the listener.
void tell_grants(dedup_pointer self, const caf::actor_addr& claimant,
                 const std::vector<uint64_t>& seqs,
                 const std::vector<claim_decision>& ds) {
  auto& st = self->state;
  if (!st.broadcaster || !claimant)
    return;
  std::vector<lease_grant> grants;
  for (size_t i = 0; i < ds.size() && i < seqs.size(); ++i)
    if (ds[i].kind == claim_decision::granted)
      grants.push_back({seqs[i], ds[i].epoch});
  if (!grants.empty())
    self->send(st.broadcaster, atom::claim_v, claimant, std::move(grants));
}

/// Commits settlements through the store under the fence; once it
/// answered, schedules the retries and dead-letters what the fence let
/// through, then calls `then` with the fence's decisions (`fail` with the
/// store's error).
template <class Then, class Fail>
void commit(dedup_pointer self, std::vector<settlement> items, Then then,
            Fail fail) {
  auto now = to_millis(self->clock().now());
  // Keep only what the notifications need (retry due times, dead
  // letters); the items themselves travel to the store.
  struct note {
    size_t index;
    millis_t due;
  };
  auto retries = std::make_shared<std::vector<note>>();
  auto dead = std::make_shared<std::vector<std::pair<size_t, dlq_entry>>>();
  // And what the metrics need of the outcomes after the commit.
  auto counted = std::make_shared<std::vector<settled_item>>();
  if (self->state.metrics)
    counted->reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    auto& s = items[i];
    if (self->state.metrics)
      counted->push_back({s.kind, s.dl.group, s.dl.ev.type, due_time(s.dl.ev)});
    if (s.kind == settle_kind::retry) {
      retries->push_back({i, s.due});
    } else if (s.kind == settle_kind::dead) {
      dlq_entry e;
      e.dl = s.dl;
      e.reason = s.reason;
      e.last_error = s.error;
      e.dead_at = now;
      dead->emplace_back(i, std::move(e));
    }
  }
  self
    ->request<caf::message_priority::high>(
      self->state.store(), store_timeout, atom::settle_v, std::move(items), now)
    .then(
      [self, retries, dead, counted,
       then = std::move(then)](std::vector<fence_decision>& ds) mutable {
        auto& st = self->state;
        if (st.metrics)
          count_settled(*st.metrics, *counted, ds,
                        to_millis(self->clock().now()));
        for (auto d : ds) {
          if (d == fence_decision::ok)
            ++st.committed;
          else
            ++st.refused_stale;
        }
        auto ok = [&](size_t i) {
          return i < ds.size() && ds[i] == fence_decision::ok;
        };
        millis_t earliest = -1;
        for (auto& r : *retries)
          if (ok(r.index) && (earliest < 0 || r.due < earliest))
            earliest = r.due;
        std::vector<dlq_entry> died;
        for (auto& [i, e] : *dead)
          if (ok(i))
            died.push_back(std::move(e));
        if (earliest >= 0)
          self->send(st.retry_timer, atom::schedule_v, earliest);
        if (!died.empty())
          self->send(st.dlq, atom::dead_v, std::move(died));
        then(ds);
      },
      [fail = std::move(fail)](caf::error& err) mutable { fail(err); });
}

/// Settles a listener's batch and reports it to `bc` on the listener's
/// behalf (deduplicator_actor's one-way atom::settle): `reports` are those
/// the listener made without a settlement; one per settlement follows.
void settle_batch(dedup_pointer self, const broadcaster_actor& bc,
                  std::vector<settlement> items,
                  std::vector<dispatch_report> reports) {
  auto listener = caf::actor_cast<caf::actor_addr>(self->current_sender());
  auto first = reports.size();
  reports.reserve(first + items.size());
  for (auto& s : items)
    reports.push_back({s.dl.ev.seq,
                       s.kind == settle_kind::retry ? dispatch_report::scheduled
                                                    : dispatch_report::settled,
                       0});
  auto rs = std::make_shared<std::vector<dispatch_report>>(std::move(reports));
  auto tell = [self, bc, listener, rs] {
    if (bc)
      self->send(bc, atom::done_v, listener, std::move(*rs));
  };
  commit(
    self, std::move(items),
    [rs, first, tell](std::vector<fence_decision>& ds) {
      for (size_t i = first; i < rs->size(); ++i)
        if (i - first >= ds.size() || ds[i - first] != fence_decision::ok)
          (*rs)[i].kind = dispatch_report::stale;
      tell();
    },
    [self, rs, first, tell](caf::error& err) {
      spdlog::warn("deduplicator: batch of {} not settled: {}",
                   rs->size() - first, render(err));
      // Delivered again after a second (like a failed claim).
      auto again = to_millis(self->clock().now()) + 1000;
      for (size_t i = first; i < rs->size(); ++i)
        (*rs)[i] = {(*rs)[i].seq, dispatch_report::failed, again};
      tell();
    });
}

deduplicator_actor::behavior_type
deduplicator_impl(dedup_pointer self, store_actor reader,
                  std::vector<store_actor> stores,
                  retry_timer_actor retry_timer, dead_letter_queue_actor dlq,
                  std::shared_ptr<metrics_registry> metrics) {
  self->state.metrics = std::move(metrics);
  self->state.reader = std::move(reader);
  self->state.stores = std::move(stores);
  self->state.retry_timer = std::move(retry_timer);
  self->state.dlq = std::move(dlq);
  return {
    [self](atom::claim, std::vector<claim_request>& reqs, std::string& holder,
           millis_t ttl, uint32_t budget) {
      // Before the promise: it takes the sender out of the message.
      auto claimant = caf::actor_cast<caf::actor_addr>(self->current_sender());
      auto rp = self->make_response_promise<std::vector<claim_decision>>();
      auto now = to_millis(self->clock().now());
      std::vector<uint64_t> seqs;
      seqs.reserve(reqs.size());
      for (auto& rq : reqs)
        seqs.push_back(rq.seq);
      self
        ->request<caf::message_priority::high>(
          self->state.store(), store_timeout, atom::claim_v, std::move(reqs),
          std::move(holder), now, ttl, budget)
        .then(
          [self, rp, claimant, seqs](std::vector<claim_decision>& ds) mutable {
            auto& st = self->state;
            tell_grants(self, claimant, seqs, ds);
            for (auto& d : ds) {
              switch (d.kind) {
                case claim_decision::granted:
                  ++st.granted;
                  break;
                case claim_decision::held:
                  ++st.held;
                  break;
                case claim_decision::done:
                  ++st.already_done;
                  break;
                case claim_decision::crash_loop:
                  ++st.crash_loops;
                  break;
              }
            }
            rp.deliver(std::move(ds));
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self](atom::read, std::string& group, uint32_t max, std::string& holder,
           millis_t ttl, uint32_t budget) {
      auto rp = self->make_response_promise<std::vector<delivery>>();
      auto now = to_millis(self->clock().now());
      self
        ->request<caf::message_priority::high>(self->state.reader,
                                               store_timeout, atom::read_v,
                                               std::move(group), max, now,
                                               std::move(holder), ttl, budget)
        .then(
          [self, rp](std::vector<delivery>& dls) mutable {
            auto& st = self->state;
            for (auto& dl : dls)
              if (dl.lease_until > 0)
                ++st.granted;
            rp.deliver(std::move(dls));
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self](atom::join, broadcaster_actor& bc) {
      self->state.broadcaster = std::move(bc);
    },
    [self](atom::settle, std::vector<settlement>& items) {
      auto rp = self->make_response_promise<std::vector<fence_decision>>();
      commit(
        self, std::move(items),
        [rp](std::vector<fence_decision>& ds) mutable {
          rp.deliver(std::move(ds));
        },
        [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self](atom::settle, broadcaster_actor& bc, std::vector<settlement>& items,
           std::vector<dispatch_report>& reports) {
      settle_batch(self, bc, std::move(items), std::move(reports));
    },
    [self](atom::status) {
      auto& st = self->state;
      caf::settings result;
      caf::put(result, "deduplicator.leases-granted", st.granted);
      caf::put(result, "deduplicator.mailbox",
               static_cast<uint64_t>(self->mailbox().size()));
      caf::put(result, "deduplicator.claims-held", st.held);
      caf::put(result, "deduplicator.claims-already-done", st.already_done);
      caf::put(result, "deduplicator.crash-loops", st.crash_loops);
      caf::put(result, "deduplicator.settled", st.committed);
      caf::put(result, "deduplicator.refused-stale", st.refused_stale);
      return result;
    },
  };
}

} // namespace

deduplicator_actor
spawn_deduplicator(caf::actor_system& sys, store_actor reader,
                   std::vector<store_actor> stores,
                   retry_timer_actor retry_timer, dead_letter_queue_actor dlq,
                   std::shared_ptr<metrics_registry> metrics) {
  return sys.spawn(deduplicator_impl, std::move(reader), std::move(stores),
                   std::move(retry_timer), std::move(dlq), std::move(metrics));
}

} // namespace onceflow
