#pragma once

// CAF type IDs, atoms, errors and `inspect` overloads for every type that
// travels between onceflow actors, locally or across nodes. Each type here
// has a type ID (CAF_ENABLE_TYPE_ID_CHECKS is on for our code), so a type
// that could not cross the network fails to compile.

#include "actors/fwd.hpp"
#include "actors/handlers.hpp"
#include "actors/logic/event.hpp"
#include "actors/logic/group_book.hpp"
#include "actors/logic/lease_table.hpp"
#include "actors/logic/wire_codec.hpp"
#include "adapters/ports.hpp"

#include <caf/atom.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/deserializer.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/sec.hpp>
#include <caf/serializer.hpp>
#include <caf/settings.hpp>
#include <caf/type_id.hpp>

#include <chrono>
#include <string>
#include <type_traits>
#include <vector>

namespace onceflow {

/// Error codes of onceflow. Numbers reach the wire and the HTTP API: never
/// reuse one.
enum class ec : uint8_t {
  /// Not an error.
  none = 0,
  /// Too much work queued or in flight: retry after the given delay.
  overloaded = 1,
  /// The node is shutting down and accepts no new events.
  draining = 2,
  /// The store failed (I/O error, unreachable server, corruption).
  store_failure = 3,
  /// An event failed validation.
  invalid_event = 4,
  /// A request timed out.
  timeout = 5,
  /// A named listener group does not exist.
  unknown_group = 6,
  /// A configuration value is invalid.
  invalid_config = 7,
  /// The store does not know a listener group it was asked about (it lost
  /// the group: Redis restarted without persistence). A store failure.
  store_unknown_group = 8,
  /// The store's data was replaced (Redis lost it; seqs start over): every
  /// seq held from before names nothing or another event. A store failure.
  store_generation_changed = 9,
  /// The call carries no API key, or one the node does not know.
  unauthorized = 10,
  /// The call's API key lacks the role the call needs.
  forbidden = 11,
  /// A named node is not in the cluster config.
  unknown_node = 12,
  /// A named node of the cluster is down (not connected).
  node_down = 13,
};

const char* to_string(ec x);

/// Creates a CAF error in the onceflow category.
caf::error make_error(ec x, std::string msg = {});

/// Returns the text of an onceflow error ("overloaded: retry after 50 ms").
std::string render(const caf::error& err);

/// True for every kind of store failure (store_failure,
/// store_unknown_group, store_generation_changed).
bool is_store_failure(ec x);

/// Maps a store_error's kind to its error code.
ec to_ec(store_error::kind x);

/// True for errors a client should retry (overloaded, draining, timeout,
/// store failures).
bool is_transient(ec x);

/// An event with its per-group status and attempt history (the status
/// API's answer).
struct event_history {
  event ev;
  std::vector<group_history> groups;
  /// The node that accepted the event (empty if not recorded).
  std::string accepted_by;
  /// Submissions of its id answered `duplicate`: how many, the first and
  /// last one's time, and the node that answered the last.
  uint64_t duplicates = 0;
  millis_t first_duplicate_at = 0;
  millis_t last_duplicate_at = 0;
  std::string last_duplicate_node;
};

/// Wall-clock milliseconds derived from an actor clock: real time under the
/// default scheduler, simulated time under the test coordinator.
millis_t to_millis(std::chrono::steady_clock::time_point tp);

// -- inspect overloads -------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event& x) {
  return f(caf::meta::type_name("onceflow::event"), x.id, x.type, x.payload,
           x.prio, x.created_at, x.trace_id, x.seq, x.not_before, x.delay);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, attempt_record& x) {
  return f(caf::meta::type_name("onceflow::attempt_record"), x.attempt, x.at,
           x.node, x.listener, x.epoch, x.result, x.error);
}

/// A delivery crosses CAF's serializers as one byte string in our own
/// encoding (actors/logic/wire_codec.hpp): CAF 0.17 costs about as much per
/// field as per byte, and a delivery has eighteen fields. Other inspectors
/// (to_string) see the fields.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery& x) {
  if constexpr (std::is_base_of_v<caf::serializer, Inspector>) {
    std::string blob;
    encode_delivery(x, blob);
    return f(caf::meta::type_name("onceflow::delivery"), blob);
  } else if constexpr (std::is_base_of_v<caf::deserializer, Inspector>) {
    std::string blob;
    auto load = caf::meta::load_callback([&]() -> caf::error {
      if (!decode_delivery(blob, x))
        return caf::make_error(caf::sec::invalid_argument,
                               "malformed onceflow::delivery");
      return caf::none;
    });
    return f(caf::meta::type_name("onceflow::delivery"), blob, load);
  } else {
    return f(caf::meta::type_name("onceflow::delivery"), x.ev, x.group,
             x.attempt, x.epoch, x.redeliveries, x.history, x.lease_until,
             x.taken);
  }
}

/// A batch crosses CAF's serializers as one byte string too: a dispatch's
/// deliveries and a listener's settlements (wire_codec.hpp). Other
/// inspectors (to_string) see each element.
template <class Inspector, class T>
typename Inspector::result_type
inspect_batch(Inspector& f, std::vector<T>& xs, const char* name) {
  if constexpr (std::is_base_of_v<caf::serializer, Inspector>) {
    std::string blob;
    encode_batch(xs, blob);
    return f(caf::meta::type_name(name), blob);
  } else if constexpr (std::is_base_of_v<caf::deserializer, Inspector>) {
    std::string blob;
    auto load = caf::meta::load_callback([&]() -> caf::error {
      if (!decode_batch(blob, xs))
        return caf::make_error(caf::sec::invalid_argument,
                               std::string{"malformed "} + name);
      return caf::none;
    });
    return f(caf::meta::type_name(name), blob, load);
  } else {
    std::vector<std::string> items;
    items.reserve(xs.size());
    for (auto& x : xs)
      items.push_back(caf::deep_to_string(x));
    return f(caf::meta::type_name(name), items);
  }
}

template <class Inspector>
typename Inspector::result_type
inspect(Inspector& f, std::vector<delivery>& xs) {
  return inspect_batch(f, xs, "std::vector<onceflow::delivery>");
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dlq_entry& x) {
  return f(caf::meta::type_name("onceflow::dlq_entry"), x.dl, x.reason,
           x.last_error, x.dead_at);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, append_result& x) {
  return f(caf::meta::type_name("onceflow::append_result"), x.id, x.duplicate,
           x.seq, x.original);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_spec& x) {
  return f(caf::meta::type_name("onceflow::group_spec"), x.name, x.patterns,
           x.from_start);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, taken_pair& x) {
  return f(caf::meta::type_name("onceflow::taken_pair"), x.group, x.seq);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, claim_request& x) {
  return f(caf::meta::type_name("onceflow::claim_request"), x.group, x.event_id,
           x.seq, x.takeover, x.crashed);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, claim_decision& x) {
  return f(caf::meta::type_name("onceflow::claim_decision"), x.kind, x.epoch,
           x.expires_at, x.redeliveries);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, settlement& x) {
  return f(caf::meta::type_name("onceflow::settlement"), x.kind, x.dl, x.due,
           x.reason, x.error, x.record_effect);
}

template <class Inspector>
typename Inspector::result_type
inspect(Inspector& f, std::vector<settlement>& xs) {
  return inspect_batch(f, xs, "std::vector<onceflow::settlement>");
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dlq_query& x) {
  return f(caf::meta::type_name("onceflow::dlq_query"), x.group, x.after,
           x.limit);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dlq_page& x) {
  return f(caf::meta::type_name("onceflow::dlq_page"), x.entries, x.positions);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, processed_record& x) {
  return f(caf::meta::type_name("onceflow::processed_record"), x.group,
           x.event_id, x.seq, x.type, x.epoch, x.attempt, x.at);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_status& x) {
  return f(caf::meta::type_name("onceflow::group_status"), x.group, x.status);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_history& x) {
  return f(caf::meta::type_name("onceflow::group_history"), x.group, x.status,
           x.attempts, x.next_attempt_at);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_history& x) {
  return f(caf::meta::type_name("onceflow::event_history"), x.ev, x.groups,
           x.accepted_by, x.duplicates, x.first_duplicate_at,
           x.last_duplicate_at, x.last_duplicate_node);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_listing_query& x) {
  return f(caf::meta::type_name("onceflow::event_listing_query"), x.status,
           x.group, x.after, x.limit);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_listing_item& x) {
  return f(caf::meta::type_name("onceflow::event_listing_item"), x.group,
           x.event_id, x.type, x.seq, x.status);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_listing& x) {
  return f(caf::meta::type_name("onceflow::event_listing"), x.items, x.next);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cancel_result& x) {
  return f(caf::meta::type_name("onceflow::cancel_result"), x.seq, x.delayed,
           x.cancelled, x.groups);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, handler_result& x) {
  return f(caf::meta::type_name("onceflow::handler_result"), x.result, x.error,
           x.latency, x.record_effect, x.retry_after);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_overrides& x) {
  return f(caf::meta::type_name("onceflow::group_overrides"), x.group, x.fields,
           x.paused, x.rate, x.burst, x.concurrency);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lease_grant& x) {
  return f(caf::meta::type_name("onceflow::lease_grant"), x.seq, x.epoch);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dispatch_report& x) {
  return f(caf::meta::type_name("onceflow::dispatch_report"), x.seq, x.kind,
           x.until);
}

} // namespace onceflow

// -- type IDs and atoms
// --------------------------------------------------------

CAF_BEGIN_TYPE_ID_BLOCK(onceflow, caf::first_custom_type_id)

CAF_ADD_TYPE_ID(onceflow, (onceflow::event))
CAF_ADD_TYPE_ID(onceflow, (std::vector<onceflow::event>) )
CAF_ADD_TYPE_ID(onceflow, (onceflow::attempt_record))
CAF_ADD_TYPE_ID(onceflow, (onceflow::delivery))
CAF_ADD_TYPE_ID(onceflow, (std::vector<onceflow::delivery>) )
CAF_ADD_TYPE_ID(onceflow, (onceflow::dlq_entry))
CAF_ADD_TYPE_ID(onceflow, (std::vector<onceflow::dlq_entry>) )
CAF_ADD_TYPE_ID(onceflow, (onceflow::append_result))
CAF_ADD_TYPE_ID(onceflow, (std::vector<onceflow::append_result>) )
CAF_ADD_TYPE_ID(onceflow, (onceflow::group_spec))
CAF_ADD_TYPE_ID(onceflow, (onceflow::claim_request))
CAF_ADD_TYPE_ID(onceflow, (std::vector<onceflow::claim_request>) )
CAF_ADD_TYPE_ID(onceflow, (onceflow::claim_decision))
CAF_ADD_TYPE_ID(onceflow, (std::vector<onceflow::claim_decision>) )
CAF_ADD_TYPE_ID(onceflow, (onceflow::settlement))
CAF_ADD_TYPE_ID(onceflow, (std::vector<onceflow::settlement>) )
CAF_ADD_TYPE_ID(onceflow, (onceflow::fence_decision))
CAF_ADD_TYPE_ID(onceflow, (std::vector<onceflow::fence_decision>) )
CAF_ADD_TYPE_ID(onceflow, (onceflow::dlq_query))
CAF_ADD_TYPE_ID(onceflow, (onceflow::dlq_page))
CAF_ADD_TYPE_ID(onceflow, (onceflow::processed_record))
CAF_ADD_TYPE_ID(onceflow, (std::vector<onceflow::processed_record>) )
CAF_ADD_TYPE_ID(onceflow, (onceflow::group_status))
CAF_ADD_TYPE_ID(onceflow, (std::vector<onceflow::group_status>) )
CAF_ADD_TYPE_ID(onceflow, (onceflow::dispatch_report))
CAF_ADD_TYPE_ID(onceflow, (std::vector<onceflow::dispatch_report>) )
CAF_ADD_TYPE_ID(onceflow, (onceflow::lease_grant))
CAF_ADD_TYPE_ID(onceflow, (std::vector<onceflow::lease_grant>) )
CAF_ADD_TYPE_ID(onceflow, (onceflow::handler_result))
CAF_ADD_TYPE_ID(onceflow, (std::vector<onceflow::handler_result>) )
CAF_ADD_TYPE_ID(onceflow, (onceflow::group_history))
CAF_ADD_TYPE_ID(onceflow, (std::vector<onceflow::group_history>) )
CAF_ADD_TYPE_ID(onceflow, (onceflow::event_history))
CAF_ADD_TYPE_ID(onceflow, (onceflow::event_listing_query))
CAF_ADD_TYPE_ID(onceflow, (onceflow::event_listing_item))
CAF_ADD_TYPE_ID(onceflow, (std::vector<onceflow::event_listing_item>) )
CAF_ADD_TYPE_ID(onceflow, (onceflow::event_listing))
CAF_ADD_TYPE_ID(onceflow, (onceflow::group_overrides))
CAF_ADD_TYPE_ID(onceflow, (std::vector<onceflow::group_overrides>) )
CAF_ADD_TYPE_ID(onceflow, (onceflow::cancel_result))
CAF_ADD_TYPE_ID(onceflow, (onceflow::taken_pair))
CAF_ADD_TYPE_ID(onceflow, (std::vector<onceflow::taken_pair>) )

CAF_ADD_ATOM(onceflow, onceflow::atom, ingest, "ingest")
CAF_ADD_ATOM(onceflow, onceflow::atom, append, "append")
CAF_ADD_ATOM(onceflow, onceflow::atom, read, "read")
CAF_ADD_ATOM(onceflow, onceflow::atom, reclaim, "reclaim")
CAF_ADD_ATOM(onceflow, onceflow::atom, join, "join")
CAF_ADD_ATOM(onceflow, onceflow::atom, claim, "claim")
CAF_ADD_ATOM(onceflow, onceflow::atom, settle, "settle")
CAF_ADD_ATOM(onceflow, onceflow::atom, due, "due")
CAF_ADD_ATOM(onceflow, onceflow::atom, schedule, "schedule")
CAF_ADD_ATOM(onceflow, onceflow::atom, dispatch, "dispatch")
CAF_ADD_ATOM(onceflow, onceflow::atom, done, "done")
CAF_ADD_ATOM(onceflow, onceflow::atom, redeliver, "redeliver")
CAF_ADD_ATOM(onceflow, onceflow::atom, dead, "dead")
CAF_ADD_ATOM(onceflow, onceflow::atom, list, "list")
CAF_ADD_ATOM(onceflow, onceflow::atom, inspect, "inspect")
CAF_ADD_ATOM(onceflow, onceflow::atom, replay, "replay")
CAF_ADD_ATOM(onceflow, onceflow::atom, replay_all, "replay_all")
CAF_ADD_ATOM(onceflow, onceflow::atom, purge, "purge")
CAF_ADD_ATOM(onceflow, onceflow::atom, query, "query")
CAF_ADD_ATOM(onceflow, onceflow::atom, processed, "processed")
CAF_ADD_ATOM(onceflow, onceflow::atom, status, "status")
CAF_ADD_ATOM(onceflow, onceflow::atom, tick, "tick")
CAF_ADD_ATOM(onceflow, onceflow::atom, resume, "resume")
CAF_ADD_ATOM(onceflow, onceflow::atom, drain, "drain")
CAF_ADD_ATOM(onceflow, onceflow::atom, backlog, "backlog")
CAF_ADD_ATOM(onceflow, onceflow::atom, janitor, "janitor")
CAF_ADD_ATOM(onceflow, onceflow::atom, handled, "handled")
CAF_ADD_ATOM(onceflow, onceflow::atom, pause, "pause")
CAF_ADD_ATOM(onceflow, onceflow::atom, ping, "ping")
CAF_ADD_ATOM(onceflow, onceflow::atom, history, "history")
CAF_ADD_ATOM(onceflow, onceflow::atom, events, "events")
CAF_ADD_ATOM(onceflow, onceflow::atom, groups, "groups")
CAF_ADD_ATOM(onceflow, onceflow::atom, count, "count")
CAF_ADD_ATOM(onceflow, onceflow::atom, trim, "trim")
CAF_ADD_ATOM(onceflow, onceflow::atom, hello, "hello")
CAF_ADD_ATOM(onceflow, onceflow::atom, attach, "attach")
CAF_ADD_ATOM(onceflow, onceflow::atom, members, "members")
CAF_ADD_ATOM(onceflow, onceflow::atom, actors, "actors")
CAF_ADD_ATOM(onceflow, onceflow::atom, listeners, "listeners")
CAF_ADD_ATOM(onceflow, onceflow::atom, overrides, "overrides")
CAF_ADD_ATOM(onceflow, onceflow::atom, cancel, "cancel")
CAF_ADD_ATOM(onceflow, onceflow::atom, retire, "retire")
CAF_ADD_ATOM(onceflow, onceflow::atom, renew, "renew")
CAF_ADD_ATOM(onceflow, onceflow::atom, release, "release")
CAF_ADD_ATOM(onceflow, onceflow::atom, local, "local")

CAF_END_TYPE_ID_BLOCK(onceflow)
