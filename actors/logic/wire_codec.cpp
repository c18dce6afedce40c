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
};

} // namespace

void encode_delivery(const delivery& x, std::string& out) {
  auto& ev = x.ev;
  out.reserve(out.size() + 48 + ev.id.size() + ev.type.size()
              + ev.payload.size() + ev.trace_id.size() + x.group.size()
              + x.history.size() * 48);
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

bool decode_delivery(std::string_view in, delivery& x) {
  reader r{in};
  auto& ev = x.ev;
  r.string(ev.id);
  r.string(ev.type);
  r.string(ev.payload);
  ev.prio = r.small<priority>(static_cast<uint64_t>(priority::low));
  ev.created_at = r.signed_varint();
  r.string(ev.trace_id);
  ev.seq = r.varint();
  ev.not_before = r.signed_varint();
  ev.delay = r.signed_varint();
  r.string(x.group);
  x.attempt = r.small<uint32_t>(UINT32_MAX);
  x.epoch = r.varint();
  x.redeliveries = r.small<uint32_t>(UINT32_MAX);
  auto n = r.varint();
  // Each record takes at least 7 bytes: a count beyond that is garbage.
  if (!r.ok || n > (in.size() - r.pos) / 7)
    return false;
  x.history.clear();
  x.history.resize(n);
  for (auto& a : x.history) {
    a.attempt = r.small<uint32_t>(UINT32_MAX);
    a.at = r.signed_varint();
    r.string(a.node);
    r.string(a.listener);
    a.epoch = r.varint();
    a.result = r.small<outcome>(static_cast<uint64_t>(outcome::crashed));
    r.string(a.error);
  }
  x.lease_until = r.signed_varint();
  x.taken = r.small<uint8_t>(1) != 0;
  return r.ok && r.pos == in.size();
}

} // namespace onceflow
