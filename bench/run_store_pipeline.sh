#!/usr/bin/env bash
# The store adapters alone (bench/store_pipeline.cpp): SQLite in memory,
# SQLite on a file and Redis, RUNS times each, medians printed. Starts its
# own redis-server (no persistence) on a free port and removes it after.
#   bench/run_store_pipeline.sh [RUNS] [EVENTS] [BUILD_DIR]
# BUILD_DIR defaults to build-release (see bench/run_embedded.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
events=${2:-100000}
bin=./${3:-build-release}/bench/onceflow_store_pipeline
. bench/scratch_redis.sh
"$bin" --events "$events" --runs "$runs" --redis-url "redis://127.0.0.1:$port/0"
