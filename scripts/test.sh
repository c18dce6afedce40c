#!/usr/bin/env bash
# Installs what is needed (Debian packages; the tests' FerretDB and pymongo:
# scripts/test-servers.sh), builds everything with AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs every test suite (ctest labels:
# unit, actor, integration, lint: formatting and clang-tidy).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The tests' own servers (FerretDB from Go modules, pymongo) beside the
# C++ build: their downloads overlap the compiler's work.
bash scripts/test-servers.sh > build-test-servers.log 2>&1 &
servers=$!
cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DONCEFLOW_SANITIZE=ON -DONCEFLOW_BUILD_BENCH=OFF >/dev/null
cmake --build build-test -j"$(nproc)"
if ! wait "$servers"; then
  cat build-test-servers.log >&2
  echo "test: building the tests' servers failed (above)" >&2
  exit 1
fi
cat build-test-servers.log
cd build-test
# -j2: two lanes of tests side by side, one test of each at a time
# (tests/CMakeLists.txt).
ctest -j2 --output-on-failure --timeout 600 "$@"
