#!/usr/bin/env bash
# The chaos test's long run (tests/integration/test_redis_nodes_chaos.py):
# one run per seed, one after the other, with the release build; prints a
# table of the results (docs/benchmarks.md, "Chaos runs") and keeps every
# run's output.
#
#   bench/chaos.sh [SEED...]                 # default seeds 1..5
#   EVENTS=30000 DURATION=90 FAULTS= APPENDFSYNC=always \
#   BIN=build-release/onceflow OUT=/tmp/chaos bench/chaos.sh 11 12 13
#
# Exit code 1 if any run failed; its log (seed-N.log in OUT) has the fault
# timeline, what Redis showed and the command that reruns it.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-./build-release/onceflow}
events=${EVENTS:-30000}
duration=${DURATION:-90}
faults=${FAULTS:-}
fsync=${APPENDFSYNC:-always}
out=${OUT:-$(mktemp -d /tmp/onceflow-chaos.XXXXXX)}
mkdir -p "$out"
seeds=("$@")
[ ${#seeds[@]} -eq 0 ] && seeds=(1 2 3 4 5)
[ -x "$bin" ] || { echo "no $bin: build it first (docs/testing.md)" >&2; exit 2; }

failed=0
for s in "${seeds[@]}"; do
  start=$(date +%s)
  python3 tests/integration/test_redis_nodes_chaos.py --binary "$bin" \
    --config-dir config --seed "$s" --events "$events" \
    --duration "$duration" ${faults:+--faults "$faults"} \
    --appendfsync "$fsync" > "$out/seed-$s.log" 2>&1
  rc=$?
  [ $rc -eq 0 ] || failed=1
  line=$(grep -o 'CHAOS-RESULT .*' "$out/seed-$s.log" | tail -1)
  line=${line#CHAOS-RESULT }
  echo "{\"rc\": $rc, \"wall_s\": $(( $(date +%s) - start )), \"result\": ${line:-null}}" \
    >> "$out/results.jsonl"
  echo "seed $s: rc $rc (${out}/seed-$s.log)" >&2
done

python3 - "$out/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| seed | verdict | events accepted | submissions | faults (node kill / Redis kill / drain / stop) | lost | doubled | dead letters | retries | workload s | settled after last fault s | after clients s | run s |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    x = r["result"] or {}
    f = x.get("faults", {})
    faults = " / ".join(str(f.get(k, "?")) for k in
                        ("kill9_node", "kill9_redis", "sigterm_node",
                         "sigstop_node"))
    dead = sum((x.get("dead") or {}).values()) if x.get("dead") else "?"
    verdict = x.get("verdict", "FAILED")
    if verdict != "ok" and x.get("reason"):
        verdict += ": " + x["reason"]
    print(f"| {x.get('seed', '?')} | {verdict} | {x.get('accepted_ids', '?')}"
          f" | {x.get('submissions', '?')} | {faults} | {x.get('lost', '?')}"
          f" | {x.get('doubled', '?')} | {dead} | {x.get('retries', '?')}"
          f" | {x.get('workload_s', '?')}"
          f" | {x.get('settle_after_last_fault_s', '?')}"
          f" | {x.get('settle_after_clients_s', '?')} | {r['wall_s']} |")
PY
echo "logs: $out" >&2
exit $failed
