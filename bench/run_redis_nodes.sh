#!/usr/bin/env bash
# End-to-end events/s with N onceflow node processes on one Redis: starts
# redis-server and the nodes (release build), publishes EVENTS events split
# over the nodes (onceflow publish --file, in parallel), and times until
# every effect record is in Redis. Also Redis CPU and commands per event.
#   bench/run_redis_nodes.sh [NODES] [EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${1:-3}
events=${2:-60000}
bin=./build-release/onceflow
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dir=$(mktemp -d)
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
  --daemonize yes --pidfile "$dir/redis.pid" >/dev/null
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
            kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
[ -n "${KEEP_DIR:-}" ] && trap - EXIT && echo "dir=$dir rport=$rport"
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
for i in $(seq "$nodes"); do
  port=$(free_port)
  cat > "$dir/n$i.ini" <<INI
[node]
name="n$i"
port=$port
[store]
backend="redis"
[redis]
url="redis://127.0.0.1:$rport/0"
prefix="b:"
[events]
max-backlog=1000000
[janitor]
interval=500ms
[http]
port=0
[groups.work]
handler="store"
concurrency=2
subscriptions=["*"]
batch-size=512
INI
  "$bin" node --config "$dir/n$i.ini" > "$dir/n$i.log" 2>&1 &
  pids+=($!)
done
for i in $(seq "$nodes"); do
  for _ in $(seq 100); do "$bin" status --config "$dir/n$i.ini" >/dev/null 2>&1 && break; sleep 0.1; done
done
per=$((events / nodes))
for i in $(seq "$nodes"); do
  python3 -c "
import json
for j in range($per):
    print(json.dumps({'id': 'e$i-%d' % j, 'type': 'bench.event',
                      'payload': {'order': 12345, 'customer': 'c-42', 'amount': 99.5}}))
" > "$dir/e$i.jsonl"
done
redis-cli -p "$rport" config resetstat >/dev/null
cpu() { redis-cli -p "$rport" info cpu | awk -F: '/used_cpu_(user|sys):/ {s+=$2} END {printf "%.6f", s}'; }
c0=$(cpu)
t0=$(date +%s.%N)
pubs=()
for i in $(seq "$nodes"); do
  "$bin" publish --config "$dir/n$i.ini" --file "$dir/e$i.jsonl" > "$dir/p$i.out" &
  pubs+=($!)
done
total=$((per * nodes))
while [ "$(redis-cli -p "$rport" hlen b:g:work:proc)" -lt "$total" ]; do sleep 0.02; done
t1=$(date +%s.%N)
c1=$(cpu)
wait "${pubs[@]}" 2>/dev/null || true
calls=$(redis-cli -p "$rport" info commandstats | awk -F'[=,:]' '/^cmdstat_/ {s+=$3} END {print s}')
evals=$(redis-cli -p "$rport" info commandstats | awk -F'[=,:]' '/^cmdstat_eval/ {s+=$3} END {print s+0}')
dup=$(redis-cli -p "$rport" exists b:g:work:proc:dup)
echo "$nodes $total $t0 $t1 $c0 $c1 $calls $evals $dup" | awk '{
  secs=$4-$3; printf "nodes=%d events=%d events/s=%.0f redis_cpu_us_per_event=%.1f redis_commands_per_event=%.2f round_trips_per_event=%.4f double_effects=%d\n",
  $1, $2, $2/secs, ($6-$5)*1e6/$2, $7/$2, $8/$2, $9}'
