#pragma once

#include "config/cluster_config.hpp"

#include <caf/fwd.hpp>

#include <cstdint>
#include <string>

/// Mutual TLS between the nodes of a cluster (and the CLI) over CAF's
/// OpenSSL module (docs/cluster.md, Security). CAF's module loads the files
/// again on every connection and throws from its I/O thread when it cannot,
/// and it logs nothing in Debian's build: so the files are checked here at
/// start, and a failed connection is explained by a handshake of our own.
namespace onceflow {

/// Loads the TLS files as CAF's OpenSSL module will (the certificate chain,
/// the key with its passphrase, the CA file), checks that the key belongs
/// to the certificate and that the certificate verifies against the CA
/// (today: an expired certificate fails) for use as a TLS client and, if
/// `serves` (a node: peers connect to it), as a server. Returns an error
/// naming the option and the file, or empty.
std::string check_tls_files(const cluster_tls& tls, bool serves);

/// Sets CAF's `openssl.*` options from `tls` and loads CAF's OpenSSL module
/// (`caf::openssl::manager`) into `cfg`, which must have loaded the
/// middleman already. Call before the actor system is made.
void enable_tls(caf::actor_system_config& cfg, const cluster_tls& tls);

/// Why a TLS connection with this process's files to `host`:`port` fails,
/// found by a handshake of our own with the settings CAF uses: the peer's
/// certificate does not verify against our CA, the peer refused ours (its
/// TLS alert), the peer does not speak TLS, nothing answered in
/// `timeout_ms`. Empty when the handshake succeeds and the peer accepts
/// this certificate. Blocks (at most about twice `timeout_ms`): call it
/// from a detached actor or a client, never from a cooperative actor.
std::string diagnose_tls(const std::string& host, uint16_t port,
                         const cluster_tls& tls, int timeout_ms);

} // namespace onceflow
