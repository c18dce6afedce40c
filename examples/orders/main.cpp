// orders: an application that runs onceflow with a handler of its own.
//
//   orders node --config orders.ini                (a single node)
//   orders node --config cluster.ini --node.name=w1  (a worker of a cluster)
//
// Group `orders` uses the handler "charge": it charges each order once by
// appending "<event id> <amount>" to a ledger file. The file is outside
// onceflow's ledger, so the handler makes its effect idempotent on the
// event id (docs/handlers.md, "Exactly once"). Payload: {"amount": 12.5},
// plus "flaky": N to fail the first N attempts (a payment service that is
// down) and a negative amount to fail for good (the DLQ keeps it).

#include <nlohmann/json.hpp>
#include <onceflow/onceflow.hpp>

#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>

namespace {

/// The ledger file: the ids charged so far, shared by every listener of
/// the process (listeners run on several threads).
class ledger {
public:
  explicit ledger(const std::string& path) : out_(path, std::ios::app) {
    if (!out_)
      throw std::invalid_argument("cannot open ledger-file '" + path + "'");
    std::ifstream in{path};
    std::string id;
    double amount = 0;
    while (in >> id >> amount)
      charged_.insert(id);
  }

  /// Charges `id` unless it was charged already.
  void charge(const std::string& id, double amount) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!charged_.insert(id).second)
      return;
    out_ << id << ' ' << amount << '\n' << std::flush;
  }

private:
  std::mutex mtx_;
  std::ofstream out_;
  std::set<std::string> charged_;
};

class charge_handler : public onceflow::handler {
public:
  charge_handler(std::shared_ptr<ledger> book, double max_amount)
    : book_(std::move(book)), max_amount_(max_amount) {
  }

  onceflow::handler_result handle(const onceflow::event& ev,
                                  uint32_t attempt) override {
    using onceflow::handler_result;
    auto doc = nlohmann::json::parse(ev.payload, nullptr, false);
    if (!doc.is_object() || !doc.contains("amount")
        || !doc["amount"].is_number())
      return handler_result::fail("payload has no numeric \"amount\"");
    auto amount = doc["amount"].get<double>();
    if (amount <= 0 || amount > max_amount_)
      return handler_result::fail("amount " + std::to_string(amount)
                                  + " is not in (0, max-amount]");
    if (attempt <= doc.value("flaky", 0u))
      return handler_result::retry("payment service unavailable");
    book_->charge(ev.id, amount);
    return handler_result::ok();
  }

private:
  std::shared_ptr<ledger> book_;
  double max_amount_;
};

/// Reads max-amount; throws std::invalid_argument naming the problem.
double max_amount_of(const onceflow::handler_options& opts) {
  auto text = opts.param("max-amount", "10000");
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || value <= 0)
    throw std::invalid_argument("max-amount must be a positive number (got '"
                                + text + "')");
  return value;
}

} // namespace

int main(int argc, char** argv) {
  // One ledger per file, made when the first listener of a group starts.
  auto ledgers
    = std::make_shared<std::map<std::string, std::weak_ptr<ledger>>>();
  auto mtx = std::make_shared<std::mutex>();
  onceflow::handler_registry handlers;
  handlers.add("charge",
               [ledgers, mtx](const onceflow::handler_options& opts) {
                 auto path = opts.param("ledger-file");
                 std::lock_guard<std::mutex> guard{*mtx};
                 auto book = (*ledgers)[path].lock();
                 if (!book) {
                   book = std::make_shared<ledger>(path);
                   (*ledgers)[path] = book;
                 }
                 return std::make_unique<charge_handler>(book,
                                                         max_amount_of(opts));
               },
               {{"ledger-file", "max-amount"},
                [](const onceflow::handler_options& opts) -> std::string {
                  if (opts.param("ledger-file").empty())
                    return "ledger-file is required";
                  return {};
                }});
  return onceflow::run_main(argc, argv, handlers);
}
