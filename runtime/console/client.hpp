#pragma once

// The console's connections: one to the published endpoint of every node
// of the config (primer §3b), each request with a deadline, a node that
// does not answer shown down (never waited for), reconnected on the next
// round once it answers again.

#include "actors/interfaces.hpp"
#include "config/cluster_config.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace onceflow::console {

/// What the console knows of one node.
struct node_link {
  cluster_node entry;
  endpoint_actor ep;
  bool up = false;
  /// When the console saw `up` change (wall clock; -1: never looked).
  millis_t since = -1;
  /// Why it is down (or why its last answer was an error).
  std::string error;
  /// Round trip of the last answer (ms; -1: none).
  millis_t rtt = -1;
  /// The next connect attempt (wall clock).
  millis_t next_try = 0;
  uint32_t failures = 0;
};

/// Whether an error says the node cannot be reached (rather than that it
/// refused the call: onceflow's own errors).
bool is_link_error(const caf::error& err);

class client {
public:
  client(caf::actor_system& sys, std::vector<cluster_node> nodes,
         std::string key, bool tls, std::chrono::milliseconds deadline);

  /// Takes in what happened since the last round (endpoints that went
  /// down) and connects to the nodes that are down and due (all of them
  /// with `force`), in parallel, each within the deadline.
  void refresh(bool force = false);

  std::vector<node_link>& nodes() {
    return nodes_;
  }

  /// The node named `name`, or null.
  node_link* find(const std::string& name);

  /// The nodes that are up (of `role`, if given).
  std::vector<node_link*> up_nodes();
  std::vector<node_link*> up_cores();

  /// Sends the same call (the API key goes first) to every node of
  /// `targets` at once and waits for all answers (each within the
  /// deadline). A node whose link fails is marked down.
  template <class Result, class... Ts>
  std::vector<std::pair<node_link*, caf::expected<Result>>>
  ask_all(const std::vector<node_link*>& targets, const Ts&... xs) {
    using handle = decltype(self_->request(
      std::declval<const endpoint_actor&>(), deadline_, xs...));
    std::vector<std::pair<node_link*, handle>> pending;
    std::vector<millis_t> started;
    for (auto* n : targets) {
      started.push_back(wall_now());
      pending.emplace_back(n, self_->request(n->ep, deadline_, xs...));
    }
    std::vector<std::pair<node_link*, caf::expected<Result>>> out;
    for (size_t i = 0; i < pending.size(); ++i) {
      auto* n = pending[i].first;
      pending[i].second.receive(
        [&](Result& r) {
          n->rtt = wall_now() - started[i];
          out.emplace_back(n, std::move(r));
        },
        [&](caf::error& err) {
          if (is_link_error(err))
            mark_down(*n, describe(err));
          out.emplace_back(n, std::move(err));
        });
    }
    return out;
  }

  /// ask_all with one node.
  template <class Result, class... Ts>
  caf::expected<Result> ask(node_link& n, const Ts&... xs) {
    return std::move(ask_all<Result>({&n}, xs...).front().second);
  }

  const std::string& key() const {
    return key_;
  }

  std::chrono::milliseconds deadline() const {
    return deadline_;
  }

  /// A request's error as the console prints it.
  std::string describe(const caf::error& err) const;

  void mark_down(node_link& n, const std::string& why);

private:
  void mark_up(node_link& n);

  caf::actor_system& sys_;
  caf::scoped_actor self_;
  std::vector<node_link> nodes_;
  std::string key_;
  bool tls_;
  std::chrono::milliseconds deadline_;
};

} // namespace onceflow::console
