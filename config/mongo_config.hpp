#pragma once

#include "actors/logic/event.hpp"

#include <cstdint>
#include <string>

namespace onceflow {

/// `[mongo]`: where the `mongo` handler writes its effects
/// (docs/mongodb.md). Empty `uri`: MongoDB is not configured.
struct mongo_config {
  /// mongodb://[user:password@]host[:port][,host...]/[database][?options]
  std::string uri;
  /// Database of the collections; empty: the URI's database, else
  /// "onceflow".
  std::string database;
  /// One document per (event, group) effect, unique on (eventId, group).
  std::string processed_collection = "processed_events";
  /// "majority" (with `journal`: durable on a majority of the replica set
  /// before the effect counts) or a number of members, e.g. "1".
  std::string write_concern = "majority";
  bool journal = true;
  /// How long an operation waits for a usable server (the driver's
  /// serverSelectionTimeoutMS), and the TCP connect and socket timeouts,
  /// unless the URI sets them.
  millis_t server_selection_timeout = 5000;
  millis_t connect_timeout = 2000;
  millis_t socket_timeout = 10000;
  /// Connections, and threads that run the writes.
  uint32_t pool_size = 4;
  /// Optional records (docs/mongodb.md), written by core nodes: one
  /// document per accepted event with its status per group, and the DLQ
  /// archive (every death with its attempts).
  bool events = false;
  std::string events_collection = "events";
  bool dead_letters = false;
  std::string dead_letters_collection = "dead_letters";
  /// Who answers GET /events?status= and GET /failed-events: "store" (the
  /// log, always current) or "mongodb" (the records; needs them on).
  std::string read_from = "store";

  bool records() const {
    return events || dead_letters;
  }

  bool enabled() const {
    return !uri.empty();
  }
};

} // namespace onceflow
