#pragma once

#include <string>

struct redisReply;

/// The key layout of the Redis store: the table "Redis keys" in
/// docs/architecture.md names every key, its type and its content; keep it
/// in step with the scripts (scripts/*.lua) and with check_types().
namespace onceflow {

class redis_connection;

/// The version of the key layout (key `layout`). A store refuses data of
/// another layout instead of misreading it (redis_generation::open), but
/// for layout_upgradable.
constexpr const char* layout_version = "4";

/// Data of this layout is taken over as it is (its PEL mirror members are
/// single seqs, which layout 3 reads as runs of one; see
/// scripts/layout_upgrade.lua) and marked layout 4 from then on.
constexpr const char* layout_upgradable = "2";

/// Layout 3 is layout 4 without delayed events (the log field `n`, the keys
/// `delayed` and `delayed:wait`, the state "C<time>"): its data is taken
/// over as it is and marked layout 4, after which an onceflow of layout 3
/// refuses it instead of running delayed events at once.
constexpr const char* layout_before_delays = "3";

/// The keys of one store (every key is `<prefix><name>`, so several
/// deployments can share a server) over its connection.
class redis_keys {
public:
  redis_keys(redis_connection& conn, std::string prefix);

  const std::string& prefix() const {
    return prefix_;
  }

  std::string key(const char* name) const {
    return prefix_ + name;
  }

  /// A key of a group: g:<group>:<kind>.
  std::string gkey(const std::string& group, const char* kind) const {
    return prefix_ + "g:" + group + ":" + kind;
  }

  /// Checks the types of every key we know of (per group too); throws
  /// store_error naming a key of the wrong type.
  void check_types(const std::string& op);

  /// Throws the store_error of an error reply: kind unknown_group for
  /// NOGROUP (naming `group` if not empty), and for WRONGTYPE the key of
  /// the wrong type (check_types) or the prefix.
  [[noreturn]] void fail_reply(const redisReply* r, const std::string& op,
                               const std::string& group);

private:
  redis_connection& conn_;
  std::string prefix_;
};

} // namespace onceflow
