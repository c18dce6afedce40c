#!/usr/bin/env bash
# Installs what is needed, builds everything with AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs every test suite (ctest labels:
# unit, actor, integration, lint: formatting and clang-tidy).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DONCEFLOW_SANITIZE=ON -DONCEFLOW_BUILD_BENCH=OFF >/dev/null
cmake --build build-test -j"$(nproc)"
cd build-test
# -j2: tidy beside the other tests, which still run one at a time
# (tests/CMakeLists.txt).
ctest -j2 --output-on-failure --timeout 600 "$@"
