#pragma once

#include "actors/logic/event.hpp"

#include <string>
#include <string_view>

namespace onceflow {

/// A compact binary encoding of a delivery, for the wire between nodes (and
/// every local message that carries one): varints and length-prefixed
/// strings in a fixed field order. CAF 0.17's serializer costs about as
/// much per field as per byte copied; a delivery has eighteen fields, so
/// it crosses as one byte string instead (docs/benchmarks.md, "The remote
/// dispatch path alone"). Pure: no CAF.
///
/// Every field of `delivery`, `event` and `attempt_record` is encoded; a
/// field added to one of them must be added here (a static_assert on their
/// sizes in wire_codec.cpp points here, and the round-trip unit test names
/// every field).

/// Appends the encoding of `x` to `out`.
void encode_delivery(const delivery& x, std::string& out);

/// Decodes a delivery that encode_delivery wrote: all of `in`, nothing
/// more. False (and `x` unspecified) if `in` is not such an encoding.
bool decode_delivery(std::string_view in, delivery& x);

} // namespace onceflow
