#include "actors/logic/wire_codec.hpp"

#include <cstdint>

namespace onceflow {

// A field added to one of these structs must be encoded below too (and
// named in tests/unit/test_wire_codec.cpp); then update the sizes here.
static_assert(sizeof(event) == 4 * sizeof(std::string) + 5 * sizeof(int64_t),
              "event changed: update the delivery codec");
static_assert(sizeof(attempt_record)
                == 3 * sizeof(std::string) + 4 * sizeof(int64_t),
              "attempt_record changed: update the delivery codec");
static_assert(sizeof(delivery)
                == sizeof(event) + sizeof(std::string)
                     + sizeof(std::vector<attempt_record>)
                     + 5 * sizeof(int64_t),
              "delivery changed: update the delivery codec");
static_assert(sizeof(settlement)
                == sizeof(delivery) + sizeof(std::string) + 4 * sizeof(int64_t),
              "settlement changed: update the settlement codec");

namespace {

void put_varint(std::string& out, uint64_t x) {
  while (x >= 0x80) {
    out.push_back(static_cast<char>((x & 0x7f) | 0x80));
    x >>= 7;
  }
  out.push_back(static_cast<char>(x));
}

/// Signed values (times, lease_until's sentinels) as zigzag varints.
void put_signed(std::string& out, int64_t x) {
  put_varint(out,
             (static_cast<uint64_t>(x) << 1) ^ static_cast<uint64_t>(x >> 63));
}

void put_string(std::string& out, const std::string& s) {
  put_varint(out, s.size());
  out.append(s);
}

struct reader {
  std::string_view in;
  size_t pos = 0;
  bool ok = true;

  uint64_t varint() {
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= in.size()) {
        ok = false;
        return 0;
      }
      auto b = static_cast<uint8_t>(in[pos++]);
      x |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0)
        return x;
    }
    ok = false;
    return 0;
  }

  int64_t signed_varint() {
    auto u = varint();
    return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  }

  void string(std::string& s) {
    auto n = varint();
    if (!ok || n > in.size() - pos) {
      ok = false;
      return;
    }
    s.assign(in.data() + pos, n);
    pos += n;
  }

  template <class T>
  T small(uint64_t max) {
    auto x = varint();
    if (x > max)
      ok = false;
    return static_cast<T>(x);
  }

  /// A count of elements of at least `min_bytes` each: a count the rest of
  /// the input cannot hold is garbage (and would allocate without bound).
  size_t count(size_t min_bytes) {
    auto n = varint();
    if (ok && n > (in.size() - pos) / min_bytes)
      ok = false;
    return ok ? static_cast<size_t>(n) : 0;
  }

  /// A delivery as put_delivery wrote it, from `pos` on.
  bool delivery(onceflow::delivery& x) {
    auto& ev = x.ev;
    string(ev.id);
    string(ev.type);
    string(ev.payload);
    ev.prio = small<priority>(static_cast<uint64_t>(priority::low));
    ev.created_at = signed_varint();
    string(ev.trace_id);
    ev.seq = varint();
    ev.not_before = signed_varint();
    ev.delay = signed_varint();
    string(x.group);
    x.attempt = small<uint32_t>(UINT32_MAX);
    x.epoch = varint();
    x.redeliveries = small<uint32_t>(UINT32_MAX);
    // Each record takes at least 7 bytes.
    auto n = count(7);
    if (!ok)
      return false;
    x.history.clear();
    x.history.resize(n);
    for (auto& a : x.history) {
      a.attempt = small<uint32_t>(UINT32_MAX);
      a.at = signed_varint();
      string(a.node);
      string(a.listener);
      a.epoch = varint();
      a.result = small<outcome>(static_cast<uint64_t>(outcome::crashed));
      string(a.error);
    }
    x.lease_until = signed_varint();
    x.taken = small<uint8_t>(1) != 0;
    return ok;
  }
};

/// The fewest bytes a delivery takes: a byte for each of its five strings'
/// lengths and each of its eleven other fields (the history's count one).
constexpr size_t min_delivery_bytes = 16;

/// About what a delivery's encoding takes (to reserve it once).
size_t encoded_size_hint(const delivery& x) {
  auto& ev = x.ev;
  return 48 + ev.id.size() + ev.type.size() + ev.payload.size()
         + ev.trace_id.size() + x.group.size() + x.history.size() * 48;
}

void put_delivery(std::string& out, const delivery& x) {
  auto& ev = x.ev;
  put_string(out, ev.id);
  put_string(out, ev.type);
  put_string(out, ev.payload);
  put_varint(out, static_cast<uint8_t>(ev.prio));
  put_signed(out, ev.created_at);
  put_string(out, ev.trace_id);
  put_varint(out, ev.seq);
  put_signed(out, ev.not_before);
  put_signed(out, ev.delay);
  put_string(out, x.group);
  put_varint(out, x.attempt);
  put_varint(out, x.epoch);
  put_varint(out, x.redeliveries);
  put_varint(out, x.history.size());
  for (auto& a : x.history) {
    put_varint(out, a.attempt);
    put_signed(out, a.at);
    put_string(out, a.node);
    put_string(out, a.listener);
    put_varint(out, a.epoch);
    put_varint(out, static_cast<uint8_t>(a.result));
    put_string(out, a.error);
  }
  put_signed(out, x.lease_until);
  put_varint(out, x.taken ? 1 : 0);
}

} // namespace

void encode_delivery(const delivery& x, std::string& out) {
  out.reserve(out.size() + encoded_size_hint(x));
  put_delivery(out, x);
}

bool decode_delivery(std::string_view in, delivery& x) {
  reader r{in};
  return r.delivery(x) && r.pos == in.size();
}

void encode_batch(const std::vector<delivery>& xs, std::string& out) {
  size_t size = 8;
  for (auto& x : xs)
    size += encoded_size_hint(x);
  out.reserve(out.size() + size);
  put_varint(out, xs.size());
  for (auto& x : xs)
    put_delivery(out, x);
}

bool decode_batch(std::string_view in, std::vector<delivery>& xs) {
  reader r{in};
  auto n = r.count(min_delivery_bytes);
  xs.clear();
  if (!r.ok)
    return false;
  xs.resize(n);
  for (auto& x : xs)
    if (!r.delivery(x))
      return false;
  return r.pos == in.size();
}

void encode_batch(const std::vector<settlement>& xs, std::string& out) {
  size_t size = 8;
  for (auto& x : xs)
    size += encoded_size_hint(x.dl) + 8 + x.error.size();
  out.reserve(out.size() + size);
  put_varint(out, xs.size());
  for (auto& x : xs) {
    put_varint(out, static_cast<uint8_t>(x.kind));
    put_delivery(out, x.dl);
    put_signed(out, x.due);
    put_varint(out, static_cast<uint8_t>(x.reason));
    put_string(out, x.error);
    put_varint(out, x.record_effect ? 1 : 0);
  }
}

bool decode_batch(std::string_view in, std::vector<settlement>& xs) {
  reader r{in};
  // A delivery and five more fields of at least a byte each.
  auto n = r.count(min_delivery_bytes + 5);
  xs.clear();
  if (!r.ok)
    return false;
  xs.resize(n);
  for (auto& x : xs) {
    x.kind = r.small<settle_kind>(static_cast<uint64_t>(settle_kind::release));
    if (!r.delivery(x.dl))
      return false;
    x.due = r.signed_varint();
    x.reason
      = r.small<dlq_reason>(static_cast<uint64_t>(dlq_reason::crash_loop));
    r.string(x.error);
    x.record_effect = r.small<uint8_t>(1) != 0;
    if (!r.ok)
      return false;
  }
  return r.pos == in.size();
}

} // namespace onceflow
