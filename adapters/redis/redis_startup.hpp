#pragma once

#include "actors/logic/event.hpp"

#include <string>
#include <utility>
#include <vector>

/// What a Redis store does when it opens, beyond the key layout and the
/// store generation (redis_generation.hpp): it checks the server's eviction
/// policy, and the node's main store claims the node's name.
///
/// The name claim: several nodes share one Redis, each a consumer named
/// after its `[node] name` in every group; two live nodes of one name would
/// take each other's pending entries for their own. So the node's main
/// store claims the key `node:<name>` at open (SET NX PX ttl, the value
/// naming the holder: host, pid, start time, a token of this store object,
/// and what tells whether it runs on this machine: boot id and pid
/// namespace), renews it every ttl / 5 while it runs (store::heartbeat) and
/// deletes it when it goes. A node that finds the key held:
/// - takes it over at once if the holder ran on this machine (same host
///   name, boot id and pid namespace) and its pid is gone or is our own (a
///   restart after kill -9);
/// - otherwise watches the key for up to its ttl: renewed (its PTTL grows)
///   means a live holder, and the node is refused (store_error, kind
///   refused: "node name 'node-1' is held by a live node (host X pid Y,
///   since ...); give each node its own [node] name"); lapsed means a dead
///   one, and the node takes it.
/// A node whose renewal finds the key held by another (it could not renew
/// for longer than the ttl, and another node of its name started
/// meanwhile) is refused the same way, and stops.
namespace onceflow {

class redis_connection;
class redis_keys;

/// Warnings about the server's setup that put accepted events at risk (an
/// evicting maxmemory-policy with a memory limit), naming `store`.
std::vector<std::string> eviction_warnings(redis_connection& conn,
                                           const std::string& store);

/// The claim of one node name (see above).
class redis_node_claim {
public:
  /// `ttl`: how long a claim lasts without renewal.
  redis_node_claim(redis_connection& conn, redis_keys& keys, std::string name,
                   millis_t ttl);

  /// Claims the name, waiting up to about the ttl while another holder's
  /// claim may lapse. Throws store_error: kind refused if a live node holds
  /// the name, else the connection's errors.
  void claim();

  /// Renews the claim (one script call); claims it again if it lapsed.
  /// Throws store_error, kind refused if another node holds it now.
  void renew();

  /// Gives the claim back (if it is still ours); never throws.
  void release() noexcept;

  /// How often renew() is to be called.
  millis_t renew_interval() const {
    return ttl_ / 5;
  }

  /// After claim(): the holder whose claim was taken over at once (its
  /// process had gone), or empty.
  const std::string& took_over() const {
    return took_over_;
  }

private:
  /// Sets the key to `to` ('' deletes it) if it holds `from` ('': if it is
  /// missing) or `to` already: answers true, or false and what the key
  /// holds ("" if it is missing).
  std::pair<bool, std::string> swap(const std::string& from,
                                    const std::string& to);

  [[noreturn]] void refuse(const std::string& holder, const char* what,
                           const std::string& note = {});

  redis_connection& conn_;
  redis_keys& keys_;
  std::string name_;
  std::string key_;
  millis_t ttl_;
  /// This host's identity for takeovers: boot id and pid namespace (empty
  /// if unknown: then never "this machine").
  std::string local_;
  /// What the key holds while we hold the name.
  std::string value_;
  std::string took_over_;
};

} // namespace onceflow
