#!/usr/bin/env bash
# onceflow on Redis versus BullMQ on the same Redis, same machine, same run.
# Starts its own redis-server (no persistence) on a free port, runs each
# workload RUNS times and prints medians: events/s, Redis CPU per event
# (INFO cpu), Redis commands per event (INFO commandstats, which counts the
# commands inside scripts too) and client round trips per event.
#   bench/run_redis.sh [RUNS] [EVENTS]
# Needs build-release (see bench/run_embedded.sh) and, for BullMQ,
# `npm install` in bench/bullmq.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
events=${2:-100000}
. bench/scratch_redis.sh
cli() { redis-cli -p "$port" "$@"; }
cpu() { cli info cpu | awk -F: '/used_cpu_(user|sys):/ {s+=$2} END {printf "%.6f", s}'; }
calls() { cli info commandstats | awk -F'[=,:]' '/^cmdstat_/ {s+=$3} END {print s}'; }
evals() { cli info commandstats | awk -F'[=,:]' '/^cmdstat_eval/ {s+=$3} END {print s+0}'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for effect in 1 0; do
rates=(); cpus=(); cmds=(); trips=()
for _ in $(seq "$runs"); do
  cli config resetstat >/dev/null
  c0=$(cpu)
  out=$(./build-release/bench/onceflow_bench --events "$events" --store redis \
          --effect "$effect" --redis-url "redis://127.0.0.1:$port/0")
  c1=$(cpu)
  rates+=("$(echo "$out" | grep -o 'end_to_end=[0-9]*' | cut -d= -f2)")
  cpus+=("$(echo "$c0 $c1 $events" | awk '{printf "%.1f", ($2-$1)*1e6/$3}')")
  cmds+=("$(echo "$(calls) $events" | awk '{printf "%.2f", $1/$2}')")
  trips+=("$(echo "$(evals) $events" | awk '{printf "%.4f", $1/$2}')")
  cli flushall >/dev/null
done
printf 'onceflow redis 1 node effect-record=%s: events/s=%s redis_cpu_us_per_event=%s redis_commands_per_event=%s round_trips_per_event=%s (runs: %s)\n' \
  "$effect" "$(printf '%s\n' "${rates[@]}" | median)" "$(printf '%s\n' "${cpus[@]}" | median)" \
  "$(printf '%s\n' "${cmds[@]}" | median)" "$(printf '%s\n' "${trips[@]}" | median)" "${rates[*]}"
done

if [ -d bench/bullmq/node_modules ]; then
  for _ in $(seq "$runs"); do
    node bench/bullmq/bench.mjs --port "$port" --jobs "$events" --batch 1000 --concurrency 50
    cli flushall >/dev/null
  done
else
  echo "bullmq: skipped (run npm install in bench/bullmq)"
fi
