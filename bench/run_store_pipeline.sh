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
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
  --daemonize yes --pidfile "$dir/redis.pid" >/dev/null
trap 'kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$bin" --events "$events" --runs "$runs" --redis-url "redis://127.0.0.1:$port/0"
