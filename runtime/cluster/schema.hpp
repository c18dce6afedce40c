#pragma once

#include <caf/binary_serializer.hpp>

#include <cstdint>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <vector>

/// The message schema a node speaks, for the connect-time guard between
/// cluster nodes (docs/cluster.md): CAF 0.17 sends type *names* on the
/// wire, so two binaries whose structs differ in a field exchange silently
/// corrupted values (primer §3b). Every node sets
/// `middleman.app-identifiers` to its schema id, and CAF refuses a
/// connection between different ids; the hello then names both sides'
/// versions.
namespace onceflow {

/// The onceflow version of this binary ("0.1.0").
const char* onceflow_version();

/// FNV-1a over `bytes`, continuing from `h`.
uint64_t fnv1a(uint64_t h, const void* bytes, size_t n);

/// True for std::vector.
template <class T>
struct is_std_vector : std::false_type {};

template <class T, class A>
struct is_std_vector<std::vector<T, A>> : std::true_type {};

/// What one type contributes to the schema: its name and the bytes of a
/// default value as CAF serializes it (a field added, removed or of another
/// type changes them). A vector contributes one default element: some
/// cross as one byte string in an encoding of their own (wire_codec.hpp),
/// which an empty one would not show.
template <class T>
uint64_t type_fingerprint(uint64_t h, const char* name) {
  h = fnv1a(h, name, std::char_traits<char>::length(name) + 1);
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  T x{};
  if constexpr (is_std_vector<T>::value)
    x.resize(1);
  if (auto err = sink(x))
    return fnv1a(h, "?", 1);
  return fnv1a(h, buf.data(), buf.size());
}

/// What one actor handle type contributes: its name and its interface,
/// every handler's signature, as the C++ ABI spells the type (typeid; CAF
/// checks an interface only when a handle comes from remote_actor, not when
/// it travels in a message). A handler added, removed or changed changes
/// it. The spelling also names the standard library's ABI (libstdc++'s
/// std::__cxx11 against libc++'s std::__1), so nodes built against
/// different standard libraries are refused as of another schema: build
/// every node of a cluster alike (Debian's g++ and libstdc++).
template <class T>
uint64_t handle_fingerprint(uint64_t h, const char* name) {
  h = fnv1a(h, name, std::char_traits<char>::length(name) + 1);
  const char* sig = typeid(T).name();
  return fnv1a(h, sig, std::char_traits<char>::length(sig) + 1);
}

/// The fingerprint over every message type onceflow registers and every
/// actor handle type that travels in messages.
uint64_t schema_fingerprint();

/// "onceflow-schema-<16 hex digits of the fingerprint>".
std::string schema_id();

} // namespace onceflow
