#pragma once

#include "adapters/ports.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct redisReply;

/// Reading hiredis replies for the Redis store: ownership, scalars, and the
/// decoding of log entries and of what the scripts answer into the types
/// of the ports. Decoders that meet a value they cannot read throw
/// store_error naming the server and the call (`fail_call`).
namespace onceflow {

/// Frees a reply (freeReplyObject).
struct reply_deleter {
  void operator()(redisReply* r) const;
};

using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

/// Throws store_error "<server>: <op>: <msg>", the form of every error of
/// a store call.
[[noreturn]] void fail_call(const std::string& server, const std::string& op,
                            const std::string& msg,
                            store_error::kind k = store_error::kind::failure);

// -- scalars -----------------------------------------------------------------

/// The text of a string, status or error reply, or an integer reply in
/// decimal; empty for anything else (nil, arrays, nullptr).
std::string str_of(const redisReply* r);

/// An integer reply, or a string reply holding a number (scores may come
/// in exponent form); 0 for anything else.
int64_t int_of(const redisReply* r);

uint64_t u64_of(const redisReply* r);

bool is_array(const redisReply* r);

// -- entries and script replies ----------------------------------------------

/// A log entry (XRANGE, XREADGROUP, XCLAIM): its id "0-<seq>" and its
/// fields (see the key `log` in docs/architecture.md).
event decode_event(const redisReply* id, const redisReply* fields);

/// The group, status pairs of a status reply from element `from` on
/// (status.lua).
std::vector<group_status> read_statuses(const redisReply* r, size_t from);

/// A delivery as the retry schedule and the DLQ keep it (JSON).
delivery decode_delivery(const std::string& text, const std::string& server,
                         const std::string& op);

/// The attempts kept with a ledger value ("<epoch> <at>[ <attempts>]",
/// without the leading 'D'): <attempts> is the settled delivery's history
/// (codec::encode_attempts; it may hold spaces, newlines and any other
/// byte, so only the first two spaces separate fields), left out with its
/// space when empty; a value without attempts reads as one record with its
/// epoch and time.
std::vector<attempt_record> decode_ledger(const std::string& value,
                                          const std::string& server,
                                          const std::string& op);

/// The entries of a dlq_read.lua reply (pos, fields, delivery JSON per
/// entry), with their positions and groups if asked for.
std::vector<dlq_entry>
decode_dlq(const redisReply* r, std::vector<uint64_t>* positions,
           std::vector<std::string>* groups, const std::string& server,
           const std::string& op);

/// The groups of a history.lua reply, in the script's order.
std::vector<group_history> decode_history(const redisReply* r,
                                          const std::string& server,
                                          const std::string& op);

/// A list_events.lua reply, items in the script's order, each with
/// `status`.
event_listing decode_listing(const redisReply* r, event_status status,
                             const std::string& server, const std::string& op);

/// The records (JSON) of a processed_of.lua reply, in the script's order.
std::vector<processed_record> decode_processed(const redisReply* r,
                                               const std::string& server,
                                               const std::string& op);

} // namespace onceflow
