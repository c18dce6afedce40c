// publisher: publishes orders from C++ through a node's endpoint, as
// `onceflow publish` does.
//
//   publisher --config examples/orders/orders.ini [--count N] [--flaky K]
//
// publishes N orders (default 10) with ids order-1..order-N (publishing
// again answers "duplicate": the ids are idempotency keys); every K-th
// fails its first two attempts. Prints one line per event and exits 1 if
// any was not published.

#include <onceflow/onceflow.hpp>

#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::string config;
  int count = 10;
  int flaky = 0;
  std::vector<std::string> overrides;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc)
      config = argv[++i];
    else if (arg == "--count" && i + 1 < argc)
      count = std::stoi(argv[++i]);
    else if (arg == "--flaky" && i + 1 < argc)
      flaky = std::stoi(argv[++i]);
    else
      overrides.push_back(arg); // e.g. --node.port=4711, --api-key=KEY
  }
  if (config.empty()) {
    std::cerr << "usage: publisher --config FILE [--count N] [--flaky K]\n";
    return 2;
  }
  try {
    auto client = onceflow::client::from_config(config, overrides);
    std::vector<onceflow::event_spec> orders;
    for (int i = 1; i <= count; ++i) {
      onceflow::event_spec ev;
      ev.type = "order.created";
      ev.id = "order-" + std::to_string(i);
      bool fails = flaky > 0 && i % flaky == 0;
      ev.payload = "{\"amount\": " + std::to_string(10 * i)
                   + (fails ? ", \"flaky\": 2}" : "}");
      orders.push_back(ev);
    }
    int failed = 0;
    for (auto& r : client.publish(orders)) {
      std::cout << r.id << ' ' << onceflow::to_string(r.status);
      if (!r.error.empty())
        std::cout << ": " << r.error;
      std::cout << '\n';
      failed += r.ok() ? 0 : 1;
    }
    return failed == 0 ? 0 : 1;
  } catch (const onceflow::client_error& e) {
    std::cerr << "publisher: " << e.what() << '\n';
    return 1;
  }
}
