#pragma once

#include "adapters/embedded/sqlite_db.hpp"
#include "adapters/ports.hpp"

#include <string>
#include <vector>

/// What the embedded store keeps as JSON text: deliveries (in the retry
/// schedule and the DLQ, encoded by adapters/codec) and a group's patterns.
/// A document that does not decode fails as store_error naming the database.
namespace onceflow::embedded {

delivery decode_delivery(const connection& conn, const std::string& text);

std::string encode_patterns(const std::vector<std::string>& patterns);

std::vector<std::string> decode_patterns(const connection& conn,
                                         const std::string& text);

} // namespace onceflow::embedded
