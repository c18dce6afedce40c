#!/usr/bin/env python3
"""MongoDB benchmark (issue 16): the `mongo` handler's effects/s into
FerretDB against FerretDB's own bulk-insert rate measured from pymongo in
the same run, and against one insert per event. Run by hand, never as a
test; results go to docs/benchmarks.md ("MongoDB").

  bench/mongo.py [--runs R] [--events E] [--naive-events N] [--batch B]

Each run, in turn on one fresh FerretDB (tests/support/ferretdb/, built by
scripts/install-deps.sh):

- pymongo: E documents shaped like the handler's, `insert_many(ordered=
  False)` in batches of 1000 into a collection with the same unique index:
  FerretDB's bulk rate on this machine (the ceiling);
- onceflow: one node (embedded store in memory, the release binary) with
  one `mongo` group of 2 listeners, batch-size B (default 256); the group
  is paused, E events are published, then it is resumed: the time from the
  resume until E documents are in the collection (pymongo polls
  count_documents every 50 ms);
- naive: the same node with batch-size 1 (one insert per event) and N
  events (default 3000).

Prints each run and the medians, and the ratio onceflow/pymongo per run.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
import onceflow_proc as op  # noqa: E402
from ferretdb import FerretDB  # noqa: E402

BINARY = os.environ.get("ONCEFLOW_BENCH_BINARY",
                        os.path.join(ROOT, "build-release", "onceflow"))


def doc(i):
    now = time.time()
    return {"eventId": f"p-{i:07d}", "group": "ledger", "type": "order.t",
            "payload": {"order": i, "amount": 42, "tag": "bench"},
            "priority": "normal", "createdAt": now, "traceId": f"t{i}",
            "node": "n1", "listener": "ledger/0", "epoch": 1, "attempt": 1,
            "startedAt": now, "processedAt": now, "latencyMs": 1,
            "handlerMs": 1}


def pymongo_rate(ferret, db, n):
    coll = ferret.collection(db, "bulk")
    coll.create_index([("eventId", 1), ("group", 1)], unique=True)
    docs = [doc(i) for i in range(n)]
    t0 = time.monotonic()
    for k in range(0, n, 1000):
        coll.insert_many(docs[k:k + 1000], ordered=False)
    return n / (time.monotonic() - t0)


def http(port, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                 method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def node_rate(ferret, tmp, db, n, batch):
    port, http_port = op.free_port(), op.free_port()
    cfg = os.path.join(tmp, f"node-{db}.ini")
    op.write_ini(cfg, {
        "node": {"name": '"bench"', "host": '"127.0.0.1"', "port": port,
                 "data-dir": f'"{tmp}/data-{db}"'},
        "store": {"backend": '"embedded"', "path": '":memory:"'},
        "http": {"port": http_port},
        "events": {"max-backlog": max(n, 200000)},
        "mongo": {"uri": f'"{ferret.uri(db)}"', "write-concern": '"1"',
                  "journal": "false"},
        "groups.ledger": {"handler": '"mongo"', "concurrency": 2,
                          "batch-size": batch},
    })
    log = os.path.join(tmp, f"node-{db}.log")
    node = op.Node(BINARY, cfg, log)
    try:
        node.wait_ready(30)
        http(http_port, "PATCH", "/groups/ledger", {"paused": True})
        events = [{"id": f"e-{i:07d}", "type": "order.t",
                   "payload": {"order": i, "amount": 42, "tag": "bench"}}
                  for i in range(n)]
        path = op.write_events(os.path.join(tmp, f"events-{db}.jsonl"),
                               events)
        r = op.run(BINARY, "publish", "--config", cfg, "--file", path,
                   timeout=600)
        if r.returncode != 0:
            sys.exit(f"publish failed: {r.stderr}")
        coll = ferret.collection(db, "processed_events")
        t0 = time.monotonic()
        http(http_port, "PATCH", "/groups/ledger", {"paused": False})
        while coll.count_documents({}) < n:
            time.sleep(0.05)
            if time.monotonic() - t0 > 600:
                sys.exit(f"only {coll.count_documents({})} of {n} documents")
        return n / (time.monotonic() - t0)
    finally:
        node.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--events", type=int, default=50000)
    ap.add_argument("--naive-events", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    op.BINARY = BINARY
    tmp = tempfile.mkdtemp(prefix="onceflow-bench-mongo-")
    ferret = FerretDB(os.path.join(tmp, "ferretdb"),
                      os.path.join(tmp, "ferretdb.log")).start()
    rows = []
    try:
        for run in range(args.runs):
            p = pymongo_rate(ferret, f"py{run}", args.events)
            o = node_rate(ferret, tmp, f"of{run}", args.events, args.batch)
            s = node_rate(ferret, tmp, f"nv{run}", args.naive_events, 1)
            rows.append((p, o, s))
            print(f"run {run + 1}: pymongo bulk {p:,.0f} docs/s, onceflow "
                  f"mongo (batch {args.batch}) {o:,.0f} effects/s "
                  f"({o / p:.2f} of pymongo), one insert per event "
                  f"{s:,.0f}/s ({o / s:.1f}x slower than batched)",
                  flush=True)
        med = [statistics.median(c) for c in zip(*rows)]
        ratios = [o / p for p, o, _ in rows]
        print(f"median: pymongo {med[0]:,.0f} docs/s, onceflow {med[1]:,.0f} "
              f"effects/s, ratio {statistics.median(ratios):.2f} "
              f"(runs: {', '.join(f'{r:.2f}' for r in ratios)}), "
              f"one insert per event {med[2]:,.0f}/s")
    finally:
        ferret.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
