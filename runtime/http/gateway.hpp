#pragma once

#include "actors/interfaces.hpp"
#include "actors/logic/metrics.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace onceflow::http {

using gateway_pointer = http_gateway_actor::pointer;

/// Thread-safe entry point of HTTP threads into the actor system. Work is
/// queued under a lock; one `tick` message wakes the gateway actor, which
/// drains everything queued so far: the events of all pending submissions
/// travel to the broadcaster as one `ingest` batch (a busy server batches
/// by itself), other jobs run as they are.
class gateway : public std::enable_shared_from_this<gateway> {
public:
  /// Runs inside the gateway actor; may make requests to any actor.
  using job = std::function<void(gateway_pointer)>;
  using ingest_callback
    = std::function<void(caf::expected<std::vector<append_result>>)>;

  /// Events of one HTTP request and where their results go.
  struct submission {
    std::vector<event> evs;
    ingest_callback done;
    /// How many events it had (set when they move into a batch).
    size_t count = 0;
  };

  /// Spawns the gateway actor. `max_batch` caps one ingest call.
  static std::shared_ptr<gateway>
  make(caf::actor_system& sys, broadcaster_actor broadcaster, size_t max_batch,
       std::shared_ptr<metrics_registry> metrics = nullptr);

  /// Queues `evs` for the next ingest batch; `done` receives their results
  /// in order, or the error of the whole batch (from a CAF thread).
  void ingest(std::vector<event> evs, ingest_callback done);

  /// Queues a job.
  void run(job j);

  /// Stops the gateway actor; queued submissions are answered with an
  /// error, queued jobs are dropped (their responders answer 503).
  void stop();

  /// The gateway actor (to wait for its termination).
  const http_gateway_actor& handle() const {
    return hdl_;
  }

  ~gateway();

private:
  friend struct gateway_access;
  gateway() = default;
  void wake();
  std::mutex mtx_;
  bool woken_ = false;
  bool stopped_ = false;
  std::deque<submission> submissions_;
  std::deque<job> jobs_;
  http_gateway_actor hdl_;
};

} // namespace onceflow::http
