#!/usr/bin/env bash
# Installs what is needed, builds onceflow (release) and starts one node on
# the embedded store with config/single-node.ini (or the config given as
# the first argument). Extra arguments go to `onceflow node`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DONCEFLOW_BUILD_TESTS=OFF >/dev/null
cmake --build build-release --target onceflow -j"$(nproc)"
config="${1:-config/single-node.ini}"
shift || true
exec ./build-release/onceflow node --config "$config" "$@"
