#pragma once

#include "actors/logic/event.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

/// Publishing from C++ (docs/handlers.md): a client of a node's CAF
/// endpoint, what `onceflow publish` uses, with the same validation, API
/// keys and TLS.
namespace onceflow {

/// Where a client finds a node and how it talks to it.
struct client_options {
  /// The node's CAF endpoint (its [node] host and port).
  std::string host = "127.0.0.1";
  uint16_t port = 4710;
  /// The API key with the publish role (empty: a node without API keys).
  std::string api_key;
  /// How long one batch may take, including the node's "overloaded"
  /// answers (retried every 100 ms until then).
  std::chrono::milliseconds timeout{60000};
  /// Mutual TLS: the cluster's [cluster] tls-* options (all empty: plain).
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_key_passphrase;
};

/// An event to publish (the fields of POST /events and `onceflow publish`).
struct event_spec {
  /// `[A-Za-z0-9_.-]{1,64}`.
  std::string type;
  /// A JSON object.
  std::string payload = "{}";
  /// The idempotency key (empty: a UUIDv7 is generated). Publishing the
  /// same id again within the dedup window is answered `duplicate`.
  std::string id;
  /// "high", "normal" or "low" (empty: normal).
  std::string priority;
  /// A delayed event: a delay such as "30s", or a time such as
  /// "2030-05-01T12:00:00Z" (at most one of both; empty: at once).
  std::string delay;
  std::string not_before;
};

/// What became of one published event.
struct publish_result {
  enum class kind : uint8_t {
    accepted,  ///< Durable in the node's log.
    duplicate, ///< Its id was published before; nothing was added.
    rejected,  ///< Invalid (never sent); `error` names the field.
    failed,    ///< Valid, but the node did not take it (`error` says why).
  };
  std::string id;
  kind status = kind::failed;
  /// For duplicates: the original's status ("accepted", "processed", ...).
  std::string original;
  std::string error;

  bool ok() const {
    return status == kind::accepted || status == kind::duplicate;
  }
};

/// "accepted", "duplicate", "rejected" or "failed".
const char* to_string(publish_result::kind k);

/// Thrown by client's constructors: the config cannot be read, or the node
/// cannot be reached (the text says which, and why).
class client_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A connection to one node's endpoint. Not thread-safe: use one client
/// per thread (each has its own actor system and connection).
class client {
public:
  /// Connects to the node `opts` names; throws client_error.
  explicit client(const client_options& opts);

  /// Connects as `onceflow publish --config FILE` does: [node] host/port
  /// (with a cluster config the first core, or the node `--node.name=N`
  /// in `args` names), [client] api-key, [cluster] tls-*; `args` holds
  /// overrides as on the command line (`--node.port=4711`). Throws
  /// client_error.
  static client from_config(const std::string& file,
                            const std::vector<std::string>& args = {});

  client(client&&) noexcept;
  client& operator=(client&&) noexcept;
  ~client();

  /// Publishes one event.
  publish_result publish(const event_spec& ev);

  /// Publishes events in batches (up to 1000 per call to the node); one
  /// result per event, in order. A batch the node refuses (a key without
  /// the publish role) fails, and so do all after it (never sent).
  /// `progress`, if set, is called after each batch with how many events
  /// have been handled.
  std::vector<publish_result>
  publish(const std::vector<event_spec>& evs,
          const std::function<void(size_t done)>& progress = {});

private:
  struct impl;
  explicit client(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace onceflow
