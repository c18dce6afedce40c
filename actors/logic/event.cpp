#include "actors/logic/event.hpp"

#include <chrono>
#include <cstdio>
#include <random>

namespace onceflow {

const char* to_string(priority p) {
  switch (p) {
    case priority::high:
      return "high";
    case priority::normal:
      return "normal";
    case priority::low:
      return "low";
  }
  return "normal";
}

bool parse_priority(const std::string& str, priority& out) {
  if (str == "high")
    out = priority::high;
  else if (str == "normal")
    out = priority::normal;
  else if (str == "low")
    out = priority::low;
  else
    return false;
  return true;
}

const char* to_string(event_status s) {
  switch (s) {
    case event_status::unknown:
      return "unknown";
    case event_status::accepted:
      return "accepted";
    case event_status::in_flight:
      return "in_flight";
    case event_status::retrying:
      return "retrying";
    case event_status::processed:
      return "processed";
    case event_status::dead:
      return "dead";
    case event_status::scheduled:
      return "scheduled";
    case event_status::cancelled:
      return "cancelled";
  }
  return "unknown";
}

bool parse_event_status(const std::string& str, event_status& out) {
  for (auto s :
       {event_status::unknown, event_status::accepted, event_status::in_flight,
        event_status::retrying, event_status::processed, event_status::dead,
        event_status::scheduled, event_status::cancelled})
    if (str == to_string(s)) {
      out = s;
      return true;
    }
  return false;
}

millis_t due_time(const event& ev) {
  return ev.not_before > ev.created_at ? ev.not_before : ev.created_at;
}

const char* to_string(outcome o) {
  switch (o) {
    case outcome::success:
      return "success";
    case outcome::retryable:
      return "retryable";
    case outcome::permanent:
      return "permanent";
    case outcome::lease_lost:
      return "lease_lost";
    case outcome::crashed:
      return "crashed";
  }
  return "unknown";
}

millis_t read_lease_min_left(millis_t lease_ttl) {
  return lease_ttl * 3 / 4;
}

bool use_read_lease(const delivery& dl, millis_t now, millis_t min_left) {
  return dl.lease_until > 0 && dl.epoch > 0 && dl.lease_until - now >= min_left;
}

const char* to_string(dlq_reason r) {
  switch (r) {
    case dlq_reason::retries_exhausted:
      return "retries_exhausted";
    case dlq_reason::permanent_error:
      return "permanent_error";
    case dlq_reason::crash_loop:
      return "crash_loop";
  }
  return "unknown";
}

bool parse_dlq_reason(const std::string& str, dlq_reason& out) {
  for (auto r : {dlq_reason::retries_exhausted, dlq_reason::permanent_error,
                 dlq_reason::crash_loop})
    if (str == to_string(r)) {
      out = r;
      return true;
    }
  return false;
}

namespace {

std::mt19937_64& uuid_rng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

/// The canonical text of a UUID from its two 64-bit halves, setting the
/// version nibble and the RFC variant bits.
std::string format_uuid(uint64_t hi, uint64_t lo, uint64_t version) {
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | (version << 12);
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL; // variant 10
  char buf[37];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx",
                static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF),
                static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

} // namespace

std::string make_uuid_v7(millis_t now_ms) {
  auto& rng = uuid_rng();
  auto ms = static_cast<uint64_t>(now_ms < 0 ? 0 : now_ms) & 0xFFFFFFFFFFFFULL;
  // 48 bits of time, then 12 random bits after the version nibble.
  return format_uuid((ms << 16) | (rng() & 0xFFFULL), rng(), 7);
}

millis_t wall_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

std::string make_uuid_v7() {
  return make_uuid_v7(wall_now());
}

std::string make_uuid_v4() {
  auto& rng = uuid_rng();
  auto hi = rng();
  return format_uuid(hi, rng(), 4);
}

} // namespace onceflow
