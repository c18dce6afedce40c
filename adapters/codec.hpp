#pragma once

#include "adapters/ports.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

/// Encoding shared by the store adapters: deliveries as JSON documents (the
/// retry schedule and the DLQ keep whole deliveries with their history), and
/// the status aggregation every adapter reports for duplicates.
namespace onceflow::codec {

/// A document the codec cannot read (the adapters turn it into store_error).
class decode_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The JSON document of an event (as the delivery document holds it):
/// id, type, payload, prio, created_at, trace_id, seq, and not_before for a
/// delayed event.
nlohmann::json to_json(const event& ev);

/// The JSON document of a delivery: event, group, attempt, epoch,
/// redeliveries and the attempt history. Documents without `not_before`
/// (events that are not delayed, or written before delayed events) read
/// with 0.
nlohmann::json to_json(const delivery& dl);

/// Serializes a document; invalid UTF-8 (a handler's error text, say) is
/// replaced rather than failing a commit.
std::string dump(const nlohmann::json& doc);

/// Reads a delivery document; throws decode_error.
delivery delivery_from_json(const std::string& text);

/// Priority from its stored number; unknown numbers read as normal.
priority priority_from_int(int64_t value);

/// Compact text of an attempt history, kept with ledger entries: fields
/// separated by 0x1f, records by 0x1e (those bytes are dropped from texts).
/// Cheap to write on every committed effect, unlike JSON.
std::string encode_attempts(const std::vector<attempt_record>& xs);

/// Reads encode_attempts' text; throws decode_error.
std::vector<attempt_record> decode_attempts(const std::string& text);

} // namespace onceflow::codec
