#!/usr/bin/env bash
# HTTP ingest benchmark: a release `onceflow node` on the embedded store and
# wrk (keep-alive) posting single events to POST /events and batches to
# POST /events/batch. Prints the median of RUNS runs of DURATION each.
#   bench/http/run_http.sh [RUNS] [DURATION] [STORE: memory|file]
# Needs a release build: cmake -S . -B build-release -G Ninja
#   -DCMAKE_BUILD_TYPE=Release && cmake --build build-release --target onceflow
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
duration=${2:-10s}
store=${3:-memory}
bin=./build-release/onceflow
work=$(mktemp -d)
trap 'kill "$node" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
path=":memory:"
[ "$store" = file ] && path="$work/onceflow.db"
cat > "$work/node.ini" <<INI
[node]
name="bench"
port=0
data-dir="$work"
[store]
path="$path"
[http]
port=$port
threads=${HTTP_THREADS:-1}
max-batch=1000
[events]
max-backlog=1000000
max-ingest-batch=10000
[groups.orders]
handler="store"
concurrency=2
subscriptions=["*"]
batch-size=512
INI
"$bin" node --config "$work/node.ini" > "$work/node.log" 2>&1 &
node=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/health" > /dev/null && break
  sleep 0.1
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# wrk prints latency percentiles with units (us, ms, s): convert to ms.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f\n", v}'; }
bench() { # label, script, events per request, connections
  local label=$1 script=$2 per=$3 conns=$4
  local rates=() p50s=() p99s=() errs=()
  for _ in $(seq "$runs"); do
    out=$(BATCH=$per wrk -t1 -c"$conns" -d"$duration" --latency \
            -s "bench/http/$script" "http://127.0.0.1:$port/events")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    rates+=("$(awk -v r="$rps" -v n="$per" 'BEGIN {printf "%d", r*n}')")
    p50s+=("$(echo "$out" | awk '$1=="50%" {print $2}' | to_ms)")
    p99s+=("$(echo "$out" | awk '$1=="99%" {print $2}' | to_ms)")
    errs+=("$(echo "$out" | awk '/Non-2xx/ {print $4}')")
  done
  printf '%-8s store=%-6s conns=%-3s events/s=%s p50=%sms p99=%sms (runs: %s; non-2xx: %s)\n' \
    "$label" "$store" "$conns" \
    "$(printf '%s\n' "${rates[@]}" | median)" \
    "$(printf '%s\n' "${p50s[@]}" | median)" \
    "$(printf '%s\n' "${p99s[@]}" | median)" \
    "$(echo "${rates[@]}")" "$(echo "${errs[@]:-}")"
}
bench single single.lua 1 64
bench batch batch.lua 100 16
# The node must still answer and have accepted everything it said it did.
curl -sf "http://127.0.0.1:$port/metrics" | grep -E '^onceflow_events_(accepted|rejected)_total' || true
