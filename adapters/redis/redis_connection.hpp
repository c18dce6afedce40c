#pragma once

#include "adapters/ports.hpp"
#include "adapters/redis/redis_reply.hpp"
#include "adapters/redis/redis_scripts.hpp"
#include "adapters/redis/redis_store.hpp"
#include "adapters/redis/redis_url.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct redisContext;

/// The Redis store's connection: one synchronous connection to one server,
/// plain (hiredis) or TLS (tls_link for rediss://), with the connect and
/// command timeouts of redis_options. It authenticates, selects the
/// database and loads the scripts whenever it connects, and reconnects
/// with backoff. Error replies are returned to the caller; I/O failures
/// throw store_error "<server>: <op>: <what>".
///
/// Resend rules: before sending, a call checks whether the server closed
/// the connection while it was idle (restart, idle timeout: a non-blocking
/// peek sees the end of the stream) and reconnects first. A connection
/// that turns out closed only after a call was sent leaves open whether
/// the call ran: `repeatable` calls (reads, and writes that come out the
/// same when run twice) are sent once more over a new connection, the
/// others fail.
namespace onceflow {

class tls_link;

/// Frees a hiredis context (redisFree).
struct context_deleter {
  void operator()(redisContext* c) const;
};

class redis_connection {
public:
  /// Does not connect yet: see connect().
  redis_connection(const redis_url& url, const redis_options& opts);
  ~redis_connection();

  redis_connection(const redis_connection&) = delete;
  redis_connection& operator=(const redis_connection&) = delete;

  /// "redis://host:port" (rediss:// for TLS): how errors name the server.
  const std::string& name() const {
    return name_;
  }

  /// Throws store_error "<server>: <op>: <msg>".
  [[noreturn]] void
  fail(const std::string& op, const std::string& msg,
       store_error::kind k = store_error::kind::failure) const;

  /// Connects (or reconnects): timeouts, AUTH, SELECT, the scripts. After
  /// a failed attempt, further attempts wait for a backoff (100 ms
  /// doubling up to 5 s, with jitter, so that nodes that lost Redis
  /// together do not come back in step): calls in between fail at once,
  /// naming the last error ("reconnecting: next attempt in N ms"), instead
  /// of each waiting for the connect timeout.
  void connect();

  /// True if the last attempt to talk to the server failed because it
  /// could not be reached (TCP connect refused, timed out or unrouted; an
  /// I/O error or timeout in the middle of a call) or was still loading its
  /// data (LOADING): a failure that may heal by itself, unlike a bad URL, a
  /// refused password or a reply the caller did not expect.
  bool unreachable() const {
    return unreachable_;
  }

  /// Makes sure the connection is usable.
  void ensure_connected() {
    if (!connected() || broken_)
      connect();
  }

  /// Sends one command and reads its reply; throws on I/O errors. Error
  /// replies are returned. `repeatable`: see pipeline.
  reply_ptr raw(const std::vector<std::string>& args, const std::string& op,
                bool repeatable = true);

  /// Sends several commands in one round trip (see the resend rules
  /// above).
  std::vector<reply_ptr>
  pipeline(const std::vector<std::vector<std::string>>& cmds,
           const std::string& op, bool repeatable = true);

  /// Runs a script: EVALSHA with no keys and `argv`, repeatable if the
  /// script answers a second run like the first (script_answers_rerun). A
  /// server that lost its script cache (restart, SCRIPT FLUSH; the script
  /// did not run) gets the scripts again and the call once more. Error
  /// replies are returned.
  reply_ptr evalsha(script_id id, const std::vector<std::string>& argv,
                    const std::string& op);

private:
  /// One connection attempt (no backoff).
  void connect_now();

  /// A connection is there (plain or TLS), usable or not.
  bool connected() const {
    return ctx_ != nullptr || tls_ != nullptr;
  }

  /// One attempt of `pipeline`; sets `closed` if the connection turned out
  /// to be closed by the server (EOF, reset) rather than slow or refused.
  std::vector<reply_ptr>
  pipeline_once(const std::vector<std::vector<std::string>>& cmds,
                const std::string& op, bool& closed);

  /// True if the idle connection was closed by the server.
  bool closed_by_server();

  void load_scripts();

  /// Marks the server as unreachable for now if `r` is a LOADING error.
  void note_loading(const redisReply* r);

  redis_url url_;
  redis_options opts_;
  std::string name_;
  std::unique_ptr<redisContext, context_deleter> ctx_;
  /// The connection instead of ctx_ for rediss:// URLs.
  std::unique_ptr<tls_link> tls_;
  bool broken_ = false;
  /// Reconnect backoff (see connect): the current delay, when the next
  /// attempt may start (steady clock, ms), and the last attempt's error.
  int backoff_ms_ = 0;
  bool connecting_ = false;
  int64_t retry_at_ = 0;
  std::string connect_error_;
  bool unreachable_ = false;
  std::string shas_[sc_count];
};

} // namespace onceflow
