#!/usr/bin/env bash
# Runs the embedded-store benchmark matrix (memory/file x 1/4 groups) RUNS
# times each and prints the median end-to-end rate and latency.
#   bench/run_embedded.sh [RUNS] [EVENTS]
# Needs a release build: cmake -S . -B build-release -G Ninja
#   -DCMAKE_BUILD_TYPE=Release && cmake --build build-release
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
events=${2:-200000}
bin=./build-release/bench/onceflow_bench
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { grep -o "$1=[0-9.]*" | head -1 | cut -d= -f2; }
run_matrix() { # label, extra args
  local label=$1; shift
  for store in memory file; do
    for groups in 1 4; do
      local rates=() effs=() p50s=() p99s=()
      for _ in $(seq "$runs"); do
        out=$("$bin" --events "$events" --groups "$groups" --store "$store" "$@" | head -1)
        rates+=("$(echo "$out" | grep -o 'end_to_end=[0-9]*' | cut -d= -f2)")
        effs+=("$(echo "$out" | grep -o '(\([0-9]*\) effects/s' | grep -o '[0-9]*')")
        p50s+=("$(echo "$out" | field p50)")
        p99s+=("$(echo "$out" | field p99)")
      done
      printf '%-10s store=%-6s groups=%s events/s=%s effects/s=%s p50=%sms p99=%sms (runs: %s)\n' \
        "$label" "$store" "$groups" \
        "$(printf '%s\n' "${rates[@]}" | median)" \
        "$(printf '%s\n' "${effs[@]}" | median)" \
        "$(printf '%s\n' "${p50s[@]}" | median)" \
        "$(printf '%s\n' "${p99s[@]}" | median)" \
        "$(echo "${rates[@]}")"
    done
  done
}
run_matrix flood
run_matrix paced-20k --batch 100 --rate 20000
