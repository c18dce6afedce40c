#pragma once

#include "actors/logic/event.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace onceflow {

/// A compact binary encoding of a delivery, for the wire between nodes (and
/// every local message that carries one): varints and length-prefixed
/// strings in a fixed field order. CAF 0.17's serializer costs about as
/// much per field as per byte copied; a delivery has eighteen fields, so
/// it crosses as one byte string instead (docs/benchmarks.md, "The remote
/// dispatch path alone"). Pure: no CAF.
///
/// Every field of `delivery`, `event`, `attempt_record` and `settlement` is
/// encoded; a field added to one of them must be added here (a
/// static_assert on their sizes in wire_codec.cpp points here, and the
/// round-trip unit test names every field).

/// Appends the encoding of `x` to `out`.
void encode_delivery(const delivery& x, std::string& out);

/// Decodes a delivery that encode_delivery wrote: all of `in`, nothing
/// more. False (and `x` unspecified) if `in` is not such an encoding.
bool decode_delivery(std::string_view in, delivery& x);

/// A batch (a dispatch's deliveries, a listener's settlements) crosses as
/// one byte string too: the count, then each element. Element by element
/// CAF's deserializer grows the vector one element at a time (each growth
/// moves every element decoded so far) and pays its per-field cost on the
/// fields around each delivery; for a remote listener's settlements that
/// was most of what decoding them cost the core (docs/benchmarks.md, "A
/// batch in one field").
void encode_batch(const std::vector<delivery>& xs, std::string& out);

/// Decodes what encode_batch wrote into `xs` (replacing its contents);
/// false if `in` is not such an encoding.
bool decode_batch(std::string_view in, std::vector<delivery>& xs);

/// The same for settlements.
void encode_batch(const std::vector<settlement>& xs, std::string& out);
bool decode_batch(std::string_view in, std::vector<settlement>& xs);

} // namespace onceflow
