#!/usr/bin/env python3
"""Cluster benchmarks (issue 14): real `onceflow node` processes on this
machine, one core on the embedded store and worker processes over CAF's
network layer. Run by hand, never as a test; results go to
docs/benchmarks.md ("Cluster").

  bench/cluster.py ratio    [--runs R] [--events E] [--listeners N] [--mode flood|backlog]
  bench/cluster.py latency  [--runs R] [--events E] [--listeners N] [--latency 5ms]
  bench/cluster.py recovery [--runs R] [--events E] [--lease-ttl 30s]
  (any of them: --node-arg=--scheduler.policy=sharing passes an argument
  to every node; --pin puts the core on a CPU of its own and the workers
  on the others, as separate machines would (workers share a CPU when
  there are fewer CPUs than nodes); --threads, --perf NODE, --counters
  for profiling)

ratio: the same workload through N listeners on the core and through N
listeners on each of one or two worker processes (the core runs none),
setups in turn (local, remote-1, remote-2, local, ...), a fresh cluster per
run. The core's store is SQLite in memory (`:memory:`); the group's handler
is `store` (it records the processed-event record in the settle commit, the
same in every setup). flood: E events published with `onceflow publish
--file` (batches of 1,000 over CAF) while the group runs, the time from the
start of the publish until the core's broadcaster counted every event
settled (GET /groups `settled`). backlog: the group is paused on the core,
the E events are published, then it is resumed: the time from the resume
until every event is settled (dispatch and processing alone, no ingest
meanwhile).

latency: the `simulate` handler with a latency per event (default 5 ms, a
timer: the listener is idle meanwhile), N listeners on one worker versus N
on each of two workers; the core runs none.

recovery: two workers with N listeners each (simulate, 5 ms), kill -9 of
worker w1 while it holds batches; from the events' attempt histories
(GET /events/{id}) the time from the kill until each event w1 held was
claimed again by a listener of w2 (its `crashed` attempt record, written
when the next listener takes the expired lease over).

Every node runs with the cluster's heartbeats (500 ms / 3 s) and CAF's
scheduler.max-threads=2. The per-process CPU time of each run comes from
/proc/PID/stat.
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("ONCEFLOW_BINARY",
                        os.path.join(ROOT, "build-release", "onceflow"))
# onceflow refuses ONCEFLOW_* variables that name no option: the binary's
# path is ours alone.
os.environ.pop("ONCEFLOW_BINARY", None)
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Extra arguments for every node (--node-arg), e.g. CAF settings.
NODE_ARGS = []
# --pin: each node on a CPU of its own (taskset).
PIN = False


def free_port():
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(20000, 32768)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


def thread_cpu(pid):
    """CPU seconds per thread ("name/tid") of a process."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[f"{name}/{tid}"] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def cpu_seconds(pid):
    """utime + stime of a process (seconds)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except OSError:
        return float("nan")


class Cluster:
    """A core and W workers started from one cluster config in a fresh
    directory; stopped (SIGTERM, then SIGKILL) by pid."""

    def __init__(self, core_listeners, workers, worker_listeners,
                 handler="store", latency="0ms", batch_size=256,
                 lease_ttl="30s"):
        self.dir = tempfile.mkdtemp(prefix="onceflow-cluster-bench-")
        self.http = free_port()
        self.names = ["core"] + [f"w{i + 1}" for i in range(workers)]
        self.expected_listeners = core_listeners + workers * worker_listeners
        self.cfg = os.path.join(self.dir, "cluster.ini")
        nodes = []
        core_l = f'["orders:{core_listeners}"]' if core_listeners else "[]"
        nodes.append(f"""[nodes.core]
role="core"
port={free_port()}
http-port={self.http}
listeners={core_l}
""")
        for name in self.names[1:]:
            nodes.append(f"""[nodes.{name}]
role="worker"
port={free_port()}
listeners=["orders:{worker_listeners}"]
""")
        sim = ""
        if handler == "simulate":
            sim = f"latency={latency}\nfailure-rate=0.0\n"
        with open(self.cfg, "w") as f:
            f.write(f"""[node]
data-dir="{self.dir}/data"
shutdown-timeout=1s
[store]
path=":memory:"
[events]
max-backlog=2000000
[scheduler]
max-threads=2
[cluster]
heartbeat-interval=500ms
connection-timeout=3s
reconnect-min=200ms
reconnect-max=2s
{"".join(nodes)}
[groups.orders]
handler="{handler}"
subscriptions=["*"]
batch-size={batch_size}
lease-ttl={lease_ttl}
{sim}""")
        self.procs = {}

    def start(self):
        for name in self.names:
            log = open(os.path.join(self.dir, f"{name}.log"), "w")
            pin = []
            if PIN:
                # A CPU per node, as on machines of their own: the core on
                # the first CPU this process may use, the workers on the
                # others (round robin: with more workers than CPUs left,
                # workers share one, as on 2 CPUs for remote-2).
                cpus = sorted(os.sched_getaffinity(0))
                k = self.names.index(name)
                if k == 0 or len(cpus) == 1:
                    cpu = cpus[0]
                else:
                    cpu = cpus[1 + (k - 1) % (len(cpus) - 1)]
                pin = ["taskset", "-c", str(cpu)]
            self.procs[name] = subprocess.Popen(
                [*pin, BINARY, "node", "--config", self.cfg,
                 f"--node.name={name}", *NODE_ARGS],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                g = self.group()
                if g["listeners"] >= self.expected_listeners:
                    return
            except OSError:
                pass
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.log(name)[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError("listeners did not join: " + self.log("core")[-2000:])

    def log(self, name):
        with open(os.path.join(self.dir, f"{name}.log"), errors="replace") as f:
            return f.read()

    def get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}{path}",
                                    timeout=30) as r:
            return json.loads(r.read())

    def post(self, path):
        req = urllib.request.Request(f"http://127.0.0.1:{self.http}{path}",
                                     data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def group(self):
        return self.get("/groups")["groups"][0]

    def cpu(self):
        return {n: cpu_seconds(p.pid) for n, p in self.procs.items()}

    def threads(self):
        return {n: thread_cpu(p.pid) for n, p in self.procs.items()}

    def publish(self, path):
        r = subprocess.run([BINARY, "publish", "--config", self.cfg,
                            "--file", path], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("publish failed: " + r.stderr.decode()[-2000:])

    def wait_settled(self, n, timeout=600, interval=0.02):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.group()["settled"] >= n:
                return time.monotonic()
            time.sleep(interval)
        raise RuntimeError(f"not settled: {self.group()}")

    def kill9(self, name):
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait()

    def close(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# Bytes of filler added to each event's payload (--payload-pad).
PAYLOAD_PAD = [0]


def write_events(directory, n, prefix):
    """n events of ~70 bytes of payload (plus --payload-pad), ids unique per
    run."""
    path = os.path.join(directory, f"events-{prefix}.jsonl")
    pad = "x" * PAYLOAD_PAD[0]
    with open(path, "w") as f:
        for i in range(n):
            payload = {"order": i, "customer": f"c-{i % 977:04d}",
                       "amount": 19.99, "currency": "EUR"}
            if pad:
                payload["note"] = pad
            f.write(json.dumps({
                "id": f"{prefix}-{i:08d}", "type": "order.created",
                "payload": payload}) + "\n")
    return path


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs):
    return f"{min(xs):,.0f}-{max(xs):,.0f}" if xs else "-"


def cpu_delta(before, after):
    return {n: after[n] - before[n] for n in after}


def start_perf(c, args):
    """perf record of one node for the measured interval (--perf NODE),
    to args.perf_out + "-<setup>.data"."""
    if not args.perf or args.perf not in c.procs:
        return None
    out = f"{args.perf_out}-{c.label}.data"
    p = subprocess.Popen(["perf", "record", "-q", "-F", "1999", "-g",
                          "-o", out, "-p", str(c.procs[args.perf].pid)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    return p


def run_throughput(setup, args, handler="store", latency="0ms"):
    """One run of one setup: (label, core listeners, workers, listeners per
    worker). Returns (events/s, cpu seconds per process, extra)."""
    label, core_l, workers, per_worker = setup
    c = Cluster(core_l, workers, per_worker, handler=handler, latency=latency,
                batch_size=args.batch_size)
    c.label = label
    try:
        c.start()
        path = write_events(c.dir, args.events, f"{label}-{time.time_ns()}")
        extra = {}
        if args.mode == "backlog":
            c.post("/groups/orders/pause")
            t = time.monotonic()
            c.publish(path)
            extra["ingest/s"] = args.events / (time.monotonic() - t)
            cpu0 = c.cpu()
            th0 = c.threads()
            perf = start_perf(c, args)
            t0 = time.monotonic()
            c.post("/groups/orders/resume")
        else:
            cpu0 = c.cpu()
            th0 = c.threads()
            perf = start_perf(c, args)
            t0 = time.monotonic()
            th = threading.Thread(target=c.publish, args=(path,))
            th.start()
        t1 = c.wait_settled(args.events)
        cpu = cpu_delta(cpu0, c.cpu())
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        if args.threads:
            th1 = c.threads()
            for n in th1:
                busy = {t: s - th0[n].get(t, 0) for t, s in th1[n].items()}
                print(f"  {n} threads (cpu s): " + ", ".join(
                    f"{t} {s:.2f}" for t, s in sorted(busy.items())
                    if s >= 0.01), flush=True)
        if args.mode != "backlog":
            th.join()
        g = c.group()
        extra["stale"] = g.get("stale", 0)
        if args.counters:
            r = subprocess.run([BINARY, "status", "--config", c.cfg],
                               capture_output=True, text=True, timeout=60)
            for line in r.stdout.splitlines():
                if "store.ops." in line or "read-leases" in line or \
                        "held" in line or "stale" in line:
                    print("  " + line, flush=True)
        return args.events / (t1 - t0), cpu, extra
    finally:
        c.close()


def report_setups(setups, results, events, base=None):
    for label, *_ in setups:
        rates = [r[0] for r in results[label]]
        cpu = {}
        for _, c, _ in results[label]:
            for n, s in c.items():
                cpu.setdefault(n, []).append(s * 1e6 / events)
        cpus = ", ".join(f"{n} {median(v):.1f}" for n, v in cpu.items())
        line = (f"{label:10s} events/s median {median(rates):,.0f} "
                f"(runs: {', '.join(f'{r:,.0f}' for r in rates)}); "
                f"cpu us/event: {cpus}")
        extras = [e for _, _, e in results[label]]
        if extras and "ingest/s" in extras[0]:
            line += f"; ingest/s {median([e['ingest/s'] for e in extras]):,.0f}"
        print(line, flush=True)
    if base and base in results:
        for label, *_ in setups:
            if label == base:
                continue
            ratios = [a[0] / b[0] for a, b in zip(results[label],
                                                  results[base])]
            print(f"{label}/{base}: median {median(ratios):.2f} "
                  f"(pairs: {', '.join(f'{r:.2f}' for r in ratios)})",
                  flush=True)


def cmd_ratio(args):
    n = args.listeners
    setups = [("local", n, 0, 0), ("remote-1", 0, 1, n), ("remote-2", 0, 2, n)]
    if args.only:
        setups = [s for s in setups if s[0] in args.only.split(",")]
    results = {s[0]: [] for s in setups}
    for i in range(args.runs):
        for s in setups:
            r = run_throughput(s, args)
            results[s[0]].append(r)
            print(f"run {i + 1} {s[0]}: {r[0]:,.0f} events/s "
                  f"cpu {', '.join(f'{k}={v:.2f}s' for k, v in r[1].items())}"
                  f" {r[2]}", flush=True)
    print(f"# ratio: {args.events} events, mode {args.mode}, {n} listeners, "
          f"batch-size {args.batch_size}, handler store, store :memory:")
    report_setups(setups, results, args.events, base="local")


def cmd_latency(args):
    n = args.listeners
    setups = [("workers-1", 0, 1, n), ("workers-2", 0, 2, n)]
    results = {s[0]: [] for s in setups}
    for i in range(args.runs):
        for s in setups:
            r = run_throughput(s, args, handler="simulate",
                               latency=args.latency)
            results[s[0]].append(r)
            print(f"run {i + 1} {s[0]}: {r[0]:,.0f} events/s", flush=True)
    print(f"# latency: {args.events} events, simulate {args.latency}/event, "
          f"{n} listeners per worker, batch-size {args.batch_size}, "
          f"mode {args.mode}")
    report_setups(setups, results, args.events, base="workers-1")


def down_after(log, kill_ms):
    """Milliseconds from the kill to the core's first 'went down' line
    (its log's local-time stamps), or None."""
    for line in log.splitlines():
        if "went down" in line:
            stamp = line.split(" ", 1)[0]
            t = time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
            return round(t * 1000 + int(stamp[20:23]) - kill_ms)
    return None


def cmd_recovery(args):
    per_run = []
    i = -1
    # A kill can fall where w1 held no lease (its claims not granted yet):
    # its batches go back at the DOWN with nothing to wait for and leave no
    # `crashed` record to time. Such runs are reported and not counted; up
    # to twice the runs are made to get `runs` timed ones.
    while len(per_run) < args.runs and i + 1 < 2 * args.runs:
        i += 1
        c = Cluster(0, 2, args.listeners, handler="simulate",
                    latency=args.latency, batch_size=args.batch_size,
                    lease_ttl=args.lease_ttl)
        try:
            c.start()
            prefix = f"r{i}-{time.time_ns()}"
            path = write_events(c.dir, args.events, prefix)
            th = threading.Thread(target=c.publish, args=(path,))
            th.start()
            deadline = time.monotonic() + 120
            while c.group()["settled"] < args.events // 5:
                if time.monotonic() > deadline:
                    raise RuntimeError("no progress")
                time.sleep(0.02)
            kill_ms = time.time() * 1000
            c.kill9("w1")
            th.join()
            c.wait_settled(args.events, timeout=args.lease_timeout)
            # Events w1 held at the kill: their next attempt record is a
            # `crashed` one written by the listener that took the lease over.
            restarts = []
            node_of = {}
            for k in range(args.events):
                h = c.get(f"/events/{prefix}-{k:08d}")
                for g in h["groups"]:
                    crashed = [a for a in g["attempts"]
                               if a["outcome"] == "crashed"]
                    if crashed:
                        restarts.append(crashed[0]["at"] - kill_ms)
                        node_of[crashed[0]["node"]] = node_of.get(
                            crashed[0]["node"], 0) + 1
            restarts.sort()
            down = down_after(c.log("core"), kill_ms)
            if not restarts:
                print(f"run {i + 1}: no event has a crashed attempt (w1 "
                      f"held no granted lease at the kill): not counted",
                      flush=True)
                continue
            first, med, last = (restarts[0], median(restarts), restarts[-1])
            per_run.append((first, med, last, len(restarts)))
            print(f"run {i + 1}: {len(restarts)} events held by w1 ran "
                  f"again on {node_of}: first {first:.0f} ms, median "
                  f"{med:.0f} ms, last {last:.0f} ms after the kill; the "
                  f"core logged the listeners down {down} ms after it",
                  flush=True)
        finally:
            c.close()
    print(f"# recovery: {args.events} events, simulate {args.latency}/event, "
          f"batch-size {args.batch_size}, {args.listeners} listeners per "
          f"worker, lease-ttl {args.lease_ttl}")
    if per_run:
        for k, what in enumerate(("first", "median", "last")):
            xs = [r[k] for r in per_run]
            print(f"{what:6s} event running elsewhere: median of runs "
                  f"{median(xs):,.0f} ms (runs: "
                  f"{', '.join(f'{x:,.0f}' for x in xs)})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["ratio", "latency", "recovery"])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--events", type=int)
    ap.add_argument("--listeners", type=int, default=4)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--mode", choices=["flood", "backlog"], default="flood")
    ap.add_argument("--latency", default="5ms")
    ap.add_argument("--lease-ttl", default="30s")
    ap.add_argument("--only", help="ratio: a comma-separated subset of "
                    "local,remote-1,remote-2")
    ap.add_argument("--node-arg", action="append", default=[],
                    help="an argument for every node, e.g. "
                    "--node-arg=--middleman.workers=0 (repeatable)")
    ap.add_argument("--payload-pad", type=int, default=0,
                    help="bytes of filler added to each event's payload")
    ap.add_argument("--counters", action="store_true",
                    help="print the core's group counters (read leases, "
                    "held, stale) after each run")
    ap.add_argument("--threads", action="store_true",
                    help="print each process's CPU time per thread name")
    ap.add_argument("--perf", metavar="NODE",
                    help="perf record -g that node (core, w1) while measured")
    ap.add_argument("--perf-out", default="/tmp/onceflow-cluster-perf")
    ap.add_argument("--pin", action="store_true",
                    help="the core on a CPU of its own (taskset), the "
                    "workers on the others (sharing one when CPUs are "
                    "fewer than nodes), as on separate machines")
    ap.add_argument("--lease-timeout", type=float, default=180)
    args = ap.parse_args()
    NODE_ARGS.extend(args.node_arg)
    global PIN
    PIN = args.pin
    if PIN and len(os.sched_getaffinity(0)) < 2:
        print("--pin: only one CPU: every node shares it", file=sys.stderr)
    PAYLOAD_PAD[0] = args.payload_pad
    if not os.path.exists(BINARY):
        sys.exit(f"{BINARY} missing: build the release binary first")
    if args.what == "ratio":
        args.events = args.events or 100000
        args.batch_size = args.batch_size or 256
        cmd_ratio(args)
    elif args.what == "latency":
        args.events = args.events or 4000
        args.batch_size = args.batch_size or 16
        cmd_latency(args)
    else:
        args.events = args.events or 4000
        args.batch_size = args.batch_size or 16
        cmd_recovery(args)


if __name__ == "__main__":
    main()
