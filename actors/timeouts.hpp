#pragma once

#include <chrono>

namespace onceflow {

/// Every request carries a timeout. Store calls run batches against disk or
/// a server; 30 s covers a slow fsync or a reconnect without hanging forever.
constexpr auto store_timeout = std::chrono::seconds(30);

/// Requests between onceflow actors of one node.
constexpr auto actor_timeout = std::chrono::seconds(60);

} // namespace onceflow
