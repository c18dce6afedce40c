#include "runtime/cluster/schema.hpp"

#include "actors/interfaces.hpp"

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <utility>

namespace onceflow {

namespace {

constexpr uint64_t fnv_basis = 14695981039346656037ULL;

template <caf::type_id_t First, size_t... Is>
uint64_t fingerprint_block(std::index_sequence<Is...>) {
  uint64_t h = fnv_basis;
  ((h = type_fingerprint<typename caf::type_by_id<First + Is>::type>(
      h, caf::type_name_by_id<First + Is>::value)),
   ...);
  return h;
}

template <caf::type_id_t First, size_t... Is>
uint64_t handles_of_block(uint64_t h, std::index_sequence<Is...>) {
  ((h = handle_fingerprint<typename caf::type_by_id<First + Is>::type>(
      h, caf::type_name_by_id<First + Is>::value)),
   ...);
  return h;
}

} // namespace

const char* onceflow_version() {
  return ONCEFLOW_VERSION;
}

uint64_t fnv1a(uint64_t h, const void* bytes, size_t n) {
  auto p = static_cast<const unsigned char*>(bytes);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

uint64_t schema_fingerprint() {
  constexpr auto first = caf::id_block::onceflow::begin;
  constexpr auto n = caf::id_block::onceflow::end - first;
  auto h = fingerprint_block<first>(std::make_index_sequence<n>{});
  // The handles: names and interfaces.
  constexpr auto hfirst = caf::id_block::onceflow_handles::begin;
  constexpr auto hn = caf::id_block::onceflow_handles::end - hfirst;
  h = handles_of_block<hfirst>(h, std::make_index_sequence<hn>{});
  return h;
}

std::string schema_id() {
  auto fp = schema_fingerprint();
  // A test hook: OF_TEST_SCHEMA_SALT makes this process speak "another
  // schema", as a binary of another onceflow version would, so that the
  // refusal can be tested with real processes (docs/testing.md).
  if (const char* salt = std::getenv("OF_TEST_SCHEMA_SALT");
      salt != nullptr && *salt != '\0')
    fp ^= std::hash<std::string>{}(salt) | 1;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(fp));
  return std::string{"onceflow-schema-"} + buf;
}

} // namespace onceflow
