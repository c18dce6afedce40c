#include "runtime/application.hpp"

#include "adapters/mongo/mongo_client.hpp"
#include "runtime/command_line.hpp"

#include <spdlog/spdlog.h>

#include <iostream>
#include <string>

namespace onceflow {

int run_main(int argc, char** argv, const handler_registry& handlers) {
  mongo::drop_shared_counters(); // nothing left in /dev/shm after kill -9
  using namespace command;
  cli args;
  if (argc >= 2
      && (std::string{argv[1]} == "--help" || std::string{argv[1]} == "-h"
          || std::string{argv[1]} == "help")) {
    std::cout << usage;
    return 0;
  }
  if (auto err = parse_cli(argc, argv, args); !err.empty()) {
    std::cerr << "onceflow: " << err << "\n\n" << usage;
    return 2;
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  if (args.command == "node")
    return run_node(args, handlers);
  if (args.command == "publish")
    return run_publish(args);
  if (args.command == "listeners")
    return run_listeners(args);
  if (args.command == "console")
    return run_console(args);
  return run_status(args);
}

} // namespace onceflow
