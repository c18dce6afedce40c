#!/usr/bin/env python3
"""The console's `actors` over a cluster (issue 15): a core and two workers
(real `onceflow node` processes on this machine), the workers hosting
listeners so that the cluster has about 50 actors; one `onceflow console`
process runs `actors --json` N times in a row (one connection per node,
kept) and each answer carries the time it took (`elapsedMs`: from the
request to the last node's answer, the fan-out to every node included).
Run by hand, never as a test; the figure goes to docs/benchmarks.md
("Console").

  bench/console.py [--runs N] [--listeners L] [--events E]

--listeners: listeners per worker (default 21: 6 core actors + 2 node
managers + 42 listeners = 50); --events: events published first, so that
the counters are not all zero (default 2000). ONCEFLOW_BINARY picks the
binary (default build-release/onceflow).
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("ONCEFLOW_BINARY",
                        os.path.join(ROOT, "build-release", "onceflow"))


def clean_env():
    return {k: v for k, v in os.environ.items()
            if not k.startswith("ONCEFLOW_")}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--listeners", type=int, default=21)
    ap.add_argument("--events", type=int, default=2000)
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="onceflow-bench-console-")
    ports = {n: free_port() for n in ("core", "w1", "w2")}
    cfg = os.path.join(d, "cluster.ini")
    with open(cfg, "w") as f:
        f.write(f"""
[node]
data-dir="{d}/data"
[scheduler]
max-threads=2
[nodes.core]
role="core"
port={ports["core"]}
http-port={free_port()}
[nodes.w1]
role="worker"
port={ports["w1"]}
listeners=["orders:{args.listeners}"]
[nodes.w2]
role="worker"
port={ports["w2"]}
listeners=["orders:{args.listeners}"]
[groups.orders]
handler="store"
subscriptions=["*"]
""")
    procs = []
    try:
        for name in ("core", "w1", "w2"):
            log = open(os.path.join(d, f"{name}.log"), "wb")
            procs.append(subprocess.Popen(
                [BINARY, "node", "--config", cfg, "--node.name=" + name],
                stdout=log, stderr=subprocess.STDOUT, env=clean_env()))

        def console(*cmds):
            argv = [BINARY, "console", "--config", cfg, "--json"]
            for c in cmds:
                argv += ["-e", c]
            r = subprocess.run(argv, capture_output=True, text=True,
                               env=clean_env(), timeout=120)
            docs = []
            dec = json.JSONDecoder()
            text = r.stdout.strip()
            i = 0
            while i < len(text):
                doc, i = dec.raw_decode(text, i)
                docs.append(doc)
                while i < len(text) and text[i].isspace():
                    i += 1
            return docs

        deadline = time.monotonic() + 60
        while True:
            doc = console("actors")[0]
            n = len(doc.get("actors", []))
            if n >= 8 + 2 * args.listeners and not doc.get("down"):
                break
            if time.monotonic() > deadline:
                sys.exit(f"cluster not ready: {n} actors, {doc}")
            time.sleep(0.5)
        events = os.path.join(d, "events.jsonl")
        with open(events, "w") as f:
            for i in range(args.events):
                f.write(json.dumps({"id": f"b-{i}", "type": "order.created",
                                    "payload": {"i": i}}) + "\n")
        subprocess.run([BINARY, "publish", "--config", cfg, "--file", events],
                       capture_output=True, env=clean_env(), timeout=300)
        docs = console(*["actors"] * args.runs)
        counts = {len(x["actors"]) for x in docs}
        times = [x["elapsedMs"] for x in docs]
        print(f"actors over 3 nodes, {sorted(counts)} actors, "
              f"{args.runs} runs in one console: first {times[0]} ms, "
              f"median {statistics.median(times)} ms, "
              f"p90 {sorted(times)[int(len(times) * 0.9) - 1]} ms, "
              f"max {max(times)} ms")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
