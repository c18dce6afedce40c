// The `onceflow` binary: `onceflow node`, `onceflow publish`,
// `onceflow status`, `onceflow listeners`, `onceflow console`. See
// docs/configuration.md, docs/console.md and README.md. Applications run
// the same command line with handlers of their own (runtime/application.hpp).

#include "runtime/application.hpp"

int main(int argc, char** argv) {
  return onceflow::run_main(argc, argv, onceflow::default_handlers());
}
