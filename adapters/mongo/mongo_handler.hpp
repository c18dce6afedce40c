#pragma once

#include "adapters/handler.hpp"
#include "adapters/mongo/mongo_client.hpp"

#include <memory>
#include <string>

/// The `mongo` handler: an event's effect is one document per (event id,
/// group) in the processed collection, under a unique index on that pair
/// (docs/mongodb.md). A listener's whole batch is one unordered bulk
/// insert; a document already there (duplicate key, code 11000: an earlier
/// attempt wrote it and crashed before it settled) counts as done, so the
/// effect happens once however often the event is delivered.
namespace onceflow {

class mongo_handler : public handler {
public:
  /// Writes the effects of group `group`. With `simulate` (the group's
  /// option, for drills and tests) an event whose payload says
  /// `"simulate": {"fail_attempts": N}` has its document written on its
  /// first N attempts but reported as a retryable failure: the
  /// acknowledgement lost after the write, which the next attempt finds
  /// done through the unique index. Throws std::invalid_argument for a null
  /// client.
  mongo_handler(std::shared_ptr<mongo::client> client, std::string group,
                bool simulate = false);

  /// Not used by the runtime (the handler is batched): a retryable error.
  handler_result handle(const event& ev, uint32_t attempt) override;

  bool asynchronous() const override {
    return true;
  }

  bool batched() const override {
    return true;
  }

  /// Queues the batch's bulk insert and returns; `done` runs on one of the
  /// client's writer threads: success for documents inserted or already
  /// there, retryable while MongoDB cannot be reached (nothing counts as
  /// done without its document), permanent for a document MongoDB refuses
  /// for good.
  void handle_batch(const std::vector<handler_call>& calls,
                    batch_callback done) override;

private:
  std::shared_ptr<mongo::client> client_;
  std::string group_;
  bool simulate_ = false;
};

/// The factory of the `mongo` handler, registered by every node. Without a
/// client (no [mongo] uri) it throws std::invalid_argument saying so, and
/// the node refuses a config whose groups use the handler. Reads the
/// group's option `simulate` (true or false).
handler_factory
mongo_handler_factory(const std::shared_ptr<mongo::client>& client);

/// The handler's registration: its option `simulate` and the check of its
/// value.
handler_spec mongo_handler_spec();

/// A handler result for one write result.
handler_result to_handler_result(const mongo::write_result& r);

} // namespace onceflow
