#!/usr/bin/env python3
"""MongoDB benchmark (issue 16): the `mongo` handler's effects/s into
FerretDB against FerretDB's own bulk-insert rate measured from pymongo in
the same run, and against one insert per event. Run by hand, never as a
test; results go to docs/benchmarks.md ("MongoDB").

  bench/mongo.py [--runs R] [--events E] [--naive-events N] [--batch B]
                 [--listeners L]

Each run, in turn on one fresh FerretDB (tests/support/ferretdb/, built by
scripts/install-deps.sh):

- pymongo: E documents shaped like the handler's, `insert_many(ordered=
  False)` in batches of 1000 into a collection with the same indexes as
  processed_events: FerretDB's bulk rate on this machine (the ceiling);
- onceflow: one node (embedded store in memory, the release binary) with
  one `mongo` group of L listeners (default 2), batch-size B (default
  256); the group
  is paused, E events are published, then it is resumed: the time from the
  resume until the node counts E events settled (GET /groups, every 20
  ms; polling count_documents would scan FerretDB's collection and slow
  the inserts), then the documents are counted (must be E);
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
    # The indexes the node makes on processed_events (docs/mongodb.md).
    coll.create_index([("eventId", 1), ("group", 1)], unique=True,
                      name="eventId_group")
    coll.create_index([("type", 1), ("processedAt", 1)])
    coll.create_index([("group", 1), ("processedAt", 1)])
    coll.create_index([("processedAt", 1)])
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


def node_rate(ferret, tmp, db, n, batch, listeners):
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
        "groups.ledger": {"handler": '"mongo"', "concurrency": listeners,
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

        def settled():
            doc = json.loads(http(http_port, "GET", "/groups"))
            return next(g for g in doc["groups"]
                        if g["name"] == "ledger")["settled"]
        # Polled from the node (a count_documents on FerretDB would scan
        # the collection and slow the inserts it measures); the documents
        # are counted once at the end.
        t0 = time.monotonic()
        http(http_port, "PATCH", "/groups/ledger", {"paused": False})
        while settled() < n:
            time.sleep(0.02)
            if time.monotonic() - t0 > 600:
                sys.exit(f"only {settled()} of {n} settled")
        rate = n / (time.monotonic() - t0)
        if coll.count_documents({}) != n:
            sys.exit(f"{coll.count_documents({})} documents for {n} events")
        return rate
    finally:
        node.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--events", type=int, default=50000)
    ap.add_argument("--naive-events", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--listeners", type=int, default=2)
    args = ap.parse_args()
    op.BINARY = BINARY
    tmp = tempfile.mkdtemp(prefix="onceflow-bench-mongo-")
    ferret = FerretDB(os.path.join(tmp, "ferretdb"),
                      os.path.join(tmp, "ferretdb.log")).start()
    rows = []
    try:
        for run in range(args.runs):
            p = pymongo_rate(ferret, f"py{run}", args.events)
            o = node_rate(ferret, tmp, f"of{run}", args.events, args.batch,
                          args.listeners)
            s = node_rate(ferret, tmp, f"nv{run}", args.naive_events, 1,
                          args.listeners)
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
