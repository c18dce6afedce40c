#pragma once

// A store that forwards every call to another store (through target(), so
// that a subclass can prepare the inner store first: deferred_store opens
// it). Tests derive from it and override the calls whose failures they
// inject.

#include "adapters/ports.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace onceflow {

class forwarding_store : public store {
public:
  explicit forwarding_store(std::shared_ptr<store> inner)
    : inner_(std::move(inner)) {
    // nop
  }

  void ensure_group(const group_spec& spec) override {
    target().ensure_group(spec);
  }
  std::vector<append_result> append(std::vector<event>& batch, millis_t now,
                                    millis_t dedup_window) override {
    return target().append(batch, now, dedup_window);
  }
  std::vector<event> read_group(const std::string& group, size_t max,
                                millis_t now) override {
    return target().read_group(group, max, now);
  }
  std::vector<event> reclaim(const std::string& group, millis_t now,
                             millis_t min_idle, size_t max) override {
    return target().reclaim(group, now, min_idle, max);
  }
  uint64_t head() override {
    return target().head();
  }
  uint64_t backlog(const std::string& group) override {
    return target().backlog(group);
  }
  acceptance_record acceptance(uint64_t seq) override {
    return target().acceptance(seq);
  }
  event find(const std::string& id) override {
    return target().find(id);
  }
  std::vector<claim_decision>
  claim(const std::vector<claim_request>& reqs, const std::string& holder,
        millis_t now, millis_t ttl, uint32_t crash_budget) override {
    return target().claim(reqs, holder, now, ttl, crash_budget);
  }
  std::vector<fence_decision> settle(const std::vector<settlement>& items,
                                     millis_t now) override {
    return target().settle(items, now);
  }
  bool is_done(const std::string& group, uint64_t seq) override {
    return target().is_done(group, seq);
  }
  std::vector<delivery> take_due(millis_t now, size_t max) override {
    return target().take_due(now, max);
  }
  millis_t next_due() override {
    return target().next_due();
  }
  uint64_t renew_taken(const std::vector<taken_pair>& pairs,
                       millis_t now) override {
    return target().renew_taken(pairs, now);
  }
  uint64_t release_taken(const std::vector<taken_pair>& pairs) override {
    return target().release_taken(pairs);
  }
  uint64_t scheduled() override {
    return target().scheduled();
  }
  uint64_t scheduled(const std::string& group) override {
    return target().scheduled(group);
  }
  uint64_t delayed() override {
    return target().delayed();
  }
  cancel_result cancel(const std::string& event_id, millis_t now) override {
    return target().cancel(event_id, now);
  }
  dlq_page dlq_list(const dlq_query& q) override {
    return target().dlq_list(q);
  }
  std::vector<dlq_entry> dlq_get(const std::string& event_id) override {
    return target().dlq_get(event_id);
  }
  size_t dlq_replay(const std::string& event_id, const std::string& group,
                    millis_t now) override {
    return target().dlq_replay(event_id, group, now);
  }
  size_t dlq_purge(const std::string& event_id) override {
    return target().dlq_purge(event_id);
  }
  size_t dlq_purge_group(const std::string& group) override {
    return target().dlq_purge_group(group);
  }
  uint64_t dlq_size() override {
    return target().dlq_size();
  }
  uint64_t dlq_count(const std::string& group) override {
    return target().dlq_count(group);
  }
  uint64_t processed_count(const std::string& group) override {
    return target().processed_count(group);
  }
  std::vector<processed_record>
  processed_of(const std::string& event_id) override {
    return target().processed_of(event_id);
  }
  std::vector<group_status> status_of(const std::string& event_id) override {
    return target().status_of(event_id);
  }
  std::vector<group_history> history_of(const std::string& event_id) override {
    return target().history_of(event_id);
  }
  event_listing list_events(const event_listing_query& q) override {
    return target().list_events(q);
  }
  uint64_t trim(millis_t now, millis_t retention, millis_t dedup_window,
                size_t max) override {
    return target().trim(now, retention, dedup_window, max);
  }
  std::vector<delivery> read_leased(const std::string& group, size_t max,
                                    millis_t now, const std::string& holder,
                                    millis_t ttl,
                                    uint32_t crash_budget) override {
    return target().read_leased(group, max, now, holder, ttl, crash_budget);
  }
  std::vector<group_overrides> group_overrides_all() override {
    return target().group_overrides_all();
  }
  group_overrides change_group_overrides(const group_overrides& change,
                                         uint8_t clear) override {
    return target().change_group_overrides(change, clear);
  }
  void ping() override {
    target().ping();
  }
  std::string describe() const override {
    return inner_->describe();
  }
  std::vector<std::string> startup_warnings() const override {
    return inner_->startup_warnings();
  }
  millis_t heartbeat_interval() const override {
    return inner_->heartbeat_interval();
  }
  void heartbeat() override {
    target().heartbeat();
  }

protected:
  /// The store a call goes to (the inner one).
  virtual store& target() {
    return *inner_;
  }

  std::shared_ptr<store> inner_;
};

} // namespace onceflow
