"""The seeded chaos run of tests/integration/test_redis_nodes_chaos.py: its
options, the workload (events, submissions with duplicates, clients over
HTTP), the fault plan, and the verdict read from Redis's own records.

Everything random comes from the seed: the events, which client sends
what, when and to which node, and the faults (kind, target, planned
offset, how long a node or Redis stays down). The processes' timing is not
reproducible, so a seed replays the same workload and the same faults at
the same planned offsets, not the same interleaving.

Python 3.11 stdlib only.
"""

import argparse
import collections
import fnmatch
import http.client
import json
import os
import random
import sys
import threading
import time

from redis_nodes import TIME_SCALE

# -- options ------------------------------------------------------------------


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


def env_float(name, default):
    v = os.environ.get(name)
    return float(v) if v not in (None, "") else default


class Options:
    """What a run does; the CI run is the defaults."""

    def __init__(self, seed=1, events=3000, duration=20.0, faults=None,
                 clients=4, appendfsync="always", node_down=2.0):
        self.seed = seed
        self.events = events
        self.duration = duration
        # One fault per 4 s of workload, at least one of each kind.
        self.faults = faults if faults is not None else max(
            len(FAULT_KINDS), round(duration / 4))
        self.clients = clients
        self.appendfsync = appendfsync
        # A killed or drained node stays down 0.3 s up to this long.
        self.node_down = node_down

    def argv(self):
        return ["--seed", str(self.seed), "--events", str(self.events),
                "--duration", f"{self.duration:g}", "--faults",
                str(self.faults), "--clients", str(self.clients),
                "--appendfsync", self.appendfsync, "--node-down",
                f"{self.node_down:g}"]


def parse_options(argv):
    """Takes the chaos options out of argv (the rest goes to op.main):
    --seed N (env ONCEFLOW_CHAOS_SEED), --events N (ONCEFLOW_CHAOS_EVENTS),
    --duration S (ONCEFLOW_CHAOS_DURATION), --faults N, --clients N,
    --appendfsync always|everysec, --node-down S (a killed or drained node
    stays down 0.3..S s before its restart; default 2)."""
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--seed", type=int,
                    default=env_int("ONCEFLOW_CHAOS_SEED", 1))
    ap.add_argument("--events", type=int,
                    default=env_int("ONCEFLOW_CHAOS_EVENTS", 3000))
    ap.add_argument("--duration", type=float,
                    default=env_float("ONCEFLOW_CHAOS_DURATION", 20.0))
    ap.add_argument("--faults", type=int, default=None)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--appendfsync", choices=["always", "everysec"],
                    default="always")
    ap.add_argument("--node-down", type=float, default=2.0)
    args, rest = ap.parse_known_args(argv)
    if args.events < 100:
        ap.error("--events must be at least 100")
    if args.duration <= 0:
        ap.error("--duration must be more than 0")
    if args.node_down < 0.3:
        ap.error("--node-down must be at least 0.3")
    return Options(args.seed, args.events, args.duration, args.faults,
                   args.clients, args.appendfsync, args.node_down), rest


# -- groups -------------------------------------------------------------------

LEASE_MS = 2000
JANITOR_MS = 200
# Per group: subscriptions, the simulate handler's random failure rate, and
# the retry policy (jitter on: the delay is uniform up to the ceiling).
GROUP_SPECS = {
    # Every event; fails only by payload directives.
    "audit": dict(subscriptions=["*"], failure_rate=0.0, max_attempts=3,
                  retry_base=100, retry_factor=2.0, retry_cap=200,
                  latency=0),
    # Orders: some random failures, retried up to 4 attempts.
    "orders": dict(subscriptions=["order.*"], failure_rate=0.05,
                   max_attempts=4, retry_base=50, retry_factor=2.0,
                   retry_cap=400, latency=1),
    # Payments: fails often (30%), 3 attempts: about 2.7% of its events
    # exhaust their retries and are dead-lettered.
    "billing": dict(subscriptions=["order.paid", "payment.*"],
                    failure_rate=0.3, max_attempts=3, retry_base=50,
                    retry_factor=2.0, retry_cap=200, latency=0),
}
MAX_RETRY_CAP_MS = max(s["retry_cap"] for s in GROUP_SPECS.values())
CRASH_BUDGET = 3

TYPES = [("order.created", 3), ("order.paid", 2), ("payment.settled", 1),
         ("user.signup", 2), ("audit.log", 2)]


def group_ini(spec):
    """The raw INI options of a group (the simulate seed is set per node on
    the command line)."""
    return {
        "handler": '"simulate"',
        "subscriptions": "[" + ", ".join(json.dumps(s) for s in
                                         spec["subscriptions"]) + "]",
        "concurrency": "2",
        "batch-size": "32",
        "lease-ttl": f"{LEASE_MS}ms",
        "retry-base": f"{spec['retry_base']}ms",
        "retry-factor": str(spec["retry_factor"]),
        "retry-cap": f"{spec['retry_cap']}ms",
        "max-attempts": str(spec["max_attempts"]),
        "jitter": "true",
        "crash-budget": str(CRASH_BUDGET),
        "failure-rate": str(spec["failure_rate"]),
        "latency": f"{spec['latency']}ms",
    }


def groups_of(ev_type):
    """The groups whose subscriptions match `ev_type` ('*' is any run of
    characters, as onceflow's patterns; the types have no other wildcard
    character)."""
    return [g for g, s in GROUP_SPECS.items()
            if any(fnmatch.fnmatchcase(ev_type, p)
                   for p in s["subscriptions"])]


# -- workload -----------------------------------------------------------------


class Workload:
    """The events and, per client, its operations in order, each with its
    planned offset (s after the start) and node:
    - ("single", [ev]): POST /events with Idempotency-Key;
    - ("batch", [ev, ...]): POST /events/batch (now and then one event twice
      in the same batch);
    - ("pair", [ev]): the same event from two threads at once, to two
      nodes (concurrent duplicates);
    Duplicates: some events are sent again right after their answer by the
    same client, some once more by a random client at a random later
    place (racing the original or after it settled), and a sample of them
    after everything settled (final_resends)."""

    def __init__(self, opts):
        rng = random.Random(f"onceflow-chaos-workload-{opts.seed}")
        n = opts.events
        types = [t for t, w in TYPES for _ in range(w)]
        self.events = []
        self.kind = {}
        for i in range(n):
            payload = {"n": i, "pad": "x" * rng.randrange(0, 48)}
            r = rng.random()
            k = "ok"
            if r < 0.003:
                payload["simulate"] = {"permanent": True}
                k = "permanent"
            elif r < 0.006:
                payload["simulate"] = {"fail_attempts": 50}
                k = "exhaust"
            elif r < 0.031:
                payload["simulate"] = {"fail_attempts": rng.choice([1, 2])}
                k = "fail"
            elif r < 0.041:
                payload["simulate"] = {"latency_ms": rng.randrange(100, 300)}
                k = "slow"
            ev = {"id": f"ev-{i:06d}", "type": rng.choice(types),
                  "payload": payload,
                  "priority": rng.choice(["high", "normal", "normal", "low"])}
            self.events.append(ev)
            self.kind[ev["id"]] = k
        self.by_id = {e["id"]: e for e in self.events}

        ops = []
        i = 0
        while i < n:
            r = rng.random()
            node = rng.randrange(3)
            if r < 0.45:
                size = rng.randint(2, 20)
                evs = self.events[i:i + size]
                i += len(evs)
                if rng.random() < 0.1:
                    evs = evs + [rng.choice(evs)]
                ops.append(["batch", evs, node])
            elif r < 0.50:
                ops.append(["pair", [self.events[i]], node])
                i += 1
            else:
                ops.append(["single", [self.events[i]], node])
                if rng.random() < 0.03:
                    ops.append(["single", [self.events[i]], node])
                i += 1
        for ev in rng.sample(self.events, n * 6 // 100):
            pos = rng.randrange(len(ops) + 1)
            ops.insert(pos, ["single", [ev], rng.randrange(3)])
        per_op = opts.duration / len(ops)
        self.clients = [[] for _ in range(opts.clients)]
        for k, (what, evs, node) in enumerate(ops):
            self.clients[rng.randrange(opts.clients)].append(
                (k * per_op, what, evs, node))
        self.final_resends = rng.sample(self.events, min(n, 300))
        self.submissions = sum(2 if what == "pair" else len(evs)
                               for what, evs, _ in ops)


# -- clients ------------------------------------------------------------------

STATUSES = {"processed", "retrying", "dead", "in_flight", "accepted"}
REQUEST_TIMEOUT = 3.0
# A submission is sent again (to the next node) until it gets an answer
# (accepted or duplicate) or this much time passed.
SUBMISSION_DEADLINE = 120.0


class Recorder:
    """Every definitive answer the clients got, and every failed try."""

    def __init__(self, t0):
        self.t0 = t0
        self.lock = threading.Lock()
        self.answers = []      # dicts: id, status, original, sent, got, ...
        self.errors = collections.Counter()
        self.problems = []     # client-side findings (wrong answers, ...)
        self.unanswered = []

    def answer(self, **kw):
        with self.lock:
            self.answers.append(kw)

    def error(self, what):
        with self.lock:
            self.errors[what] += 1

    def problem(self, text):
        with self.lock:
            self.problems.append(text)


class Client:
    """One client thread: its operations at their planned offsets, each
    sent again on failure to the next node (as a client behind a load
    balancer would), with a short backoff."""

    def __init__(self, idx, ops, ports, rec, t0):
        self.idx = idx
        self.ops = ops
        self.ports = ports
        self.rec = rec
        self.t0 = t0
        self.conns = {}
        self.done_at = None
        self.thread = threading.Thread(target=self.run, daemon=True,
                                       name=f"client-{idx}")

    def run(self):
        for offset, what, evs, node in self.ops:
            wait = self.t0 + offset - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if what == "pair":
                barrier = threading.Barrier(2)
                ts = [threading.Thread(target=self.submit_pair, daemon=True,
                                       args=(evs[0], (node + k) % 3, barrier))
                      for k in range(2)]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
            elif what == "batch":
                self.submit_batch(evs, node)
            else:
                self.submit_single(evs[0], node, what, None, self.conns)
        for c in self.conns.values():
            c.close()
        self.done_at = time.monotonic()

    def submit_pair(self, ev, node, barrier):
        conns = {}
        try:
            self.submit_single(ev, node, "pair", barrier, conns)
        finally:
            for c in conns.values():
                c.close()

    def request(self, conns, node, method, path, body, headers):
        """One try; returns (status, json body) or raises OSError /
        http.client.HTTPException / ValueError."""
        conn = conns.get(node)
        if conn is None:
            conn = http.client.HTTPConnection(
                "127.0.0.1", self.ports[node], timeout=REQUEST_TIMEOUT)
            conns[node] = conn
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conns.pop(node, None)
            return r.status, json.loads(data) if data else None
        except BaseException:
            conn.close()
            conns.pop(node, None)
            raise

    def tries(self, node, what):
        """Yields the node of each try, sleeping between tries; stops at
        the deadline (recorded as unanswered)."""
        start = time.monotonic()
        k = 0
        while True:
            yield node
            k += 1
            if time.monotonic() - start > SUBMISSION_DEADLINE * TIME_SCALE:
                self.rec.unanswered.append(what)
                return
            time.sleep(min(0.05 * 2 ** min(k, 4), 0.5))
            node = (node + 1) % 3

    def submit_single(self, ev, node, what, barrier, conns):
        body = json.dumps({"type": ev["type"], "payload": ev["payload"],
                           "priority": ev["priority"]}).encode()
        headers = {"Content-Type": "application/json",
                   "Idempotency-Key": ev["id"]}
        if barrier is not None:
            barrier.wait()
        for n in self.tries(node, f"{what} {ev['id']}"):
            sent = time.monotonic()
            try:
                status, doc = self.request(conns, n, "POST", "/events", body,
                                           headers)
            except (OSError, http.client.HTTPException, ValueError) as e:
                self.rec.error(type(e).__name__)
                continue
            got = time.monotonic()
            if status in (202, 200):
                st = doc.get("status")
                orig = (doc.get("original") or {}).get("status")
                if doc.get("eventId") != ev["id"] or \
                        (status, st) not in ((202, "accepted"),
                                             (200, "duplicate")):
                    self.rec.problem(f"{ev['id']}: unexpected answer "
                                     f"{status} {doc}")
                self.rec.answer(id=ev["id"], status=st, original=orig,
                                sent=sent, got=got, node=n, via=what,
                                client=self.idx)
                return
            if status in (429, 503):
                self.rec.error(f"http {status}")
                continue
            self.rec.problem(f"{ev['id']}: unexpected answer {status} {doc}")
            return

    def submit_batch(self, evs, node):
        body = json.dumps({"events": [
            {"id": e["id"], "type": e["type"], "payload": e["payload"],
             "priority": e["priority"]} for e in evs]}).encode()
        headers = {"Content-Type": "application/json"}
        for n in self.tries(node, f"batch of {evs[0]['id']}..."):
            sent = time.monotonic()
            try:
                status, doc = self.request(self.conns, n, "POST",
                                           "/events/batch", body, headers)
            except (OSError, http.client.HTTPException, ValueError) as e:
                self.rec.error(type(e).__name__)
                continue
            got = time.monotonic()
            if status in (429, 503):
                self.rec.error(f"http {status}")
                continue
            if status != 200:
                self.rec.problem(f"batch {evs[0]['id']}...: unexpected "
                                 f"answer {status} {doc}")
                return
            results = doc.get("results", [])
            if len(results) != len(evs):
                self.rec.problem(f"batch {evs[0]['id']}...: {len(results)} "
                                 f"results for {len(evs)} events: {doc}")
            for ev, res in zip(evs, results):
                st = res.get("status")
                if res.get("eventId") != ev["id"] or \
                        st not in ("accepted", "duplicate"):
                    self.rec.problem(f"{ev['id']}: unexpected batch result "
                                     f"{res}")
                    continue
                self.rec.answer(id=ev["id"], status=st,
                                original=(res.get("original") or {})
                                .get("status"), sent=sent, got=got, node=n,
                                via="batch", client=self.idx)
            return


# -- faults -------------------------------------------------------------------

FAULT_KINDS = ["kill9_node", "kill9_redis", "sigterm_node", "sigstop_node"]


# Rough time a fault keeps the run busy besides its own seconds (a node's
# restart, a drain), so that planned faults do not overlap.
FAULT_BUSY_S = {"kill9_node": 1.5, "kill9_redis": 0.5, "sigterm_node": 2.5,
                "sigstop_node": 0.2}


def fault_plan(opts):
    """[(offset s, kind, node index or None, seconds)]: a node or Redis
    stays down (or a node stopped) that long. The first faults are one of
    each kind in a seeded order, then kinds drawn by the seed. They lie in
    5%..80% of the workload, one after the other with seeded gaps between
    them. They run in turn: a fault whose planned time comes while the
    previous one is still under way (a slow restart) starts late, and the
    timeline says by how much."""
    rng = random.Random(f"onceflow-chaos-faults-{opts.seed}")
    kinds = list(FAULT_KINDS)
    rng.shuffle(kinds)
    while len(kinds) < opts.faults:
        kinds.append(rng.choice(FAULT_KINDS))
    kinds = kinds[:opts.faults]
    faults = []
    for kind in kinds:
        node = None if kind == "kill9_redis" else rng.randrange(3)
        if kind == "kill9_node":
            secs = rng.uniform(0.3, opts.node_down)  # down until restart
        elif kind == "kill9_redis":
            secs = rng.uniform(0.5, 2.5)
        elif kind == "sigterm_node":
            secs = rng.uniform(0.3, opts.node_down)  # after the exit
        else:
            secs = rng.uniform(1.25, 2.5) * LEASE_MS / 1000  # > a lease
        faults.append((kind, node, round(secs, 2)))
    begin, end = 0.05 * opts.duration, 0.8 * opts.duration
    busy = sum(secs + FAULT_BUSY_S[kind] for kind, _, secs in faults)
    weights = [rng.random() for _ in range(len(faults) + 1)]
    spare = max(0.0, end - begin - busy)
    plan = []
    t = begin
    for (kind, node, secs), w in zip(faults, weights):
        t += spare * w / sum(weights)
        plan.append((round(t, 2), kind, node, secs))
        t += secs + FAULT_BUSY_S[kind]
    return plan


def format_plan(plan, names):
    lines = []
    for off, kind, node, secs in plan:
        who = "redis" if node is None else names[node]
        what = {"kill9_node": f"kill -9, restart after {secs}s",
                "kill9_redis": f"kill -9, restart after {secs}s on the same "
                               "AOF",
                "sigterm_node": f"SIGTERM (drain), restart {secs}s after the "
                                "exit",
                "sigstop_node": f"SIGSTOP for {secs}s, then SIGCONT"}[kind]
        lines.append(f"    +{off:7.2f}s  {who:7s} {what}")
    return "\n".join(lines)


# -- verdict ------------------------------------------------------------------

# Outcome codes in attempt histories (actors/logic/event.hpp).
RETRYABLE, PERMANENT, CRASHED = 1, 2, 4


def answer_findings(answers):
    """What the clients' answers show by themselves: an id answered
    `accepted` more than once, or `accepted` for a submission sent after
    another submission of that id had been answered (it was stored by
    then, so the answer must be `duplicate`), or a duplicate's original
    status that is none of onceflow's."""
    problems = []
    by_id = collections.defaultdict(list)
    for a in answers:
        by_id[a["id"]].append(a)
    for i, xs in by_id.items():
        acc = [a for a in xs if a["status"] == "accepted"]
        if len(acc) > 1:
            problems.append(f"{i}: answered accepted {len(acc)} times "
                            f"(nodes {[a['node'] for a in acc]})")
        first_answer = min(a["got"] for a in xs)
        for a in acc:
            if a["sent"] > first_answer:
                problems.append(f"{i}: answered accepted to a submission "
                                f"sent {a['sent'] - first_answer:.3f}s after "
                                "another submission of it was answered")
        for a in xs:
            if a["status"] == "duplicate" and a["original"] is not None and \
                    a["original"] not in STATUSES:
                problems.append(f"{i}: duplicate with original status "
                                f"{a['original']!r}")
    return problems, by_id


def expected_status(states_of_pairs):
    """The aggregate status of a settled event over its groups ("dead"
    if any group dead-lettered it), as actors/logic/status.cpp."""
    return "dead" if any(s.startswith("X") for s in states_of_pairs) \
        else "processed"


def ledger_history(value):
    """The attempts a ledger entry "D<epoch> <at> <attempts>" carries
    (adapters/codec.cpp encode_attempts: records split by \\x1e, fields
    by \\x1f: attempt, at, node, listener, epoch, result, error)."""
    parts = value.split(" ", 2)
    if len(parts) < 3 or not parts[2]:
        return []
    out = []
    for rec in parts[2].split("\x1e"):
        f = rec.split("\x1f")
        out.append({"attempt": int(f[0]), "at": int(f[1]), "node": f[2],
                    "result": int(f[5])})
    return out


def ceiling_ms(spec, attempt):
    """The backoff ceiling after failed attempt `attempt` (the delay is
    uniform up to it: jitter)."""
    c = spec["retry_base"] * spec["retry_factor"] ** (attempt - 1)
    return min(spec["retry_cap"], int(c))


# A retry's next attempt, with no fault around, runs within its backoff
# ceiling plus this (a janitor round, the retry timer, the queue and the
# batch's simulated latency).
RETRY_SLACK_MS = 2000


class Faults:
    """When the faults happened (wall clock ms, as the nodes' attempt
    times): [(start, end, kind, node name or None)]."""

    def __init__(self):
        self.windows = []
        self.deaths = []   # (node name, when it was killed or exited)

    def add(self, start, end, kind, name):
        self.windows.append((start, end, kind, name))

    def died(self, name, t):
        self.deaths.append((name, t))

    def count(self, t0, t1):
        """Faults that overlap [t0, t1]."""
        return sum(1 for start, end, _k, _n in self.windows
                   if start <= t1 and end >= t0)

    def allowance(self, t0, ceiling, stall_ms):
        """How long a retry that failed at t0 may take to run again. It
        falls due within its backoff ceiling and must run within
        RETRY_SLACK_MS, unless a fault (from its start to `stall_ms` after
        its end: reconnect, reclaim, a take mark of a node that died or
        lost the take's answer, which lapses after about a lease) covers
        that moment; then within RETRY_SLACK_MS after the fault, and so on
        through a chain of faults."""
        end = t0 + ceiling + RETRY_SLACK_MS
        moved = True
        while moved:
            moved = False
            for start, stop, _kind, _name in self.windows:
                if start <= end and stop + stall_ms >= t0 and \
                        stop + stall_ms + RETRY_SLACK_MS > end:
                    end = stop + stall_ms + RETRY_SLACK_MS
                    moved = True
        return end - t0

    def died_after(self, name, t0, t1):
        """Whether node `name` was killed or exited (after a drain) within
        [t0, t1]."""
        return any(n == name and t0 <= t <= t1 for n, t in self.deaths)

    def redis_down_near(self, t):
        """Whether Redis was killed within 2 s after t or was down at t."""
        return any(kind == "kill9_redis" and start - 2000 <= t <= stop
                   for start, stop, kind, _n in self.windows)


class Verdict:
    """Reads Redis's own records (the log, each group's state fields and
    effect records, the DLQ) and compares them with what the clients were
    answered. `problems` lists every finding, by kind."""

    def __init__(self, t, wl, accepted_ids, faults, stall_ms):
        self.t = t
        self.wl = wl
        self.accepted = accepted_ids
        self.faults = faults
        self.stall_ms = stall_ms
        self.problems = collections.defaultdict(list)
        self.figures = {"retries": 0, "retry_gaps_after_faults": 0,
                        "crashed_attempts": 0,
                        "worst_retry_gap_over_ceiling_ms": 0}

    def add(self, kind, text):
        self.problems[kind].append(text)

    def run(self):
        t = self.t
        log = t.log_entries()
        seq_of = {}
        for s, (i, _typ) in sorted(log.items()):
            if i in seq_of:
                self.add("doubled", f"{i} is in the log twice (seqs "
                                    f"{seq_of[i]} and {s})")
            else:
                seq_of[i] = s
            if i not in self.wl.by_id and not i.startswith("probe-"):
                self.add("foreign", f"log entry {s} holds id {i!r} that no "
                                    "client sent")
        for i in sorted(set(seq_of) - self.accepted):
            self.add("foreign", f"{i} is in the log (seq {seq_of[i]}) but "
                                "no client was answered for it")
        for i in sorted(self.accepted):
            if i not in seq_of:
                self.add("lost", f"{i} was accepted but is not in the log")
        self.seq_of = seq_of
        self.log = log
        dups = t.dup_keys()
        for k in dups:
            self.add("doubled", f"second effect records in {k}: "
                     f"{t.redis.cli('HGETALL', k).stdout[:300]!r}")
        dlq = t.dlq()
        dlq_by_pair = collections.defaultdict(list)
        for e in dlq:
            dlq_by_pair[(e["g"], e["i"])].append(e)
        effects = {}
        dead = {}
        for g, spec in GROUP_SPECS.items():
            recs = t.records(g)
            st = t.states(g)
            by_id = collections.defaultdict(list)
            for s, r in recs.items():
                by_id[r["i"]].append(r)
                if r.get("s") != s or r.get("g") != g:
                    self.add("doubled", f"{g}: record {s} is {r}")
                if seq_of.get(r["i"]) != s:
                    self.add("foreign", f"{g}: effect record {s} of "
                             f"{r['i']}, whose log seq is "
                             f"{seq_of.get(r['i'])}")
            want = {i for i in seq_of
                    if g in groups_of(log[seq_of[i]][1])}
            n_eff = n_dead = 0
            for i, rs in by_id.items():
                if len(rs) > 1:
                    self.add("doubled", f"{g}: {i} has {len(rs)} effects: "
                                        f"{rs}")
                if i not in want:
                    self.add("foreign", f"{g}: effect of {i}, which is not "
                                        "an accepted event of this group")
            for (dg, i), es in dlq_by_pair.items():
                if dg == g and i not in want:
                    self.add("foreign", f"{g}: dead letter of {i}, which is "
                                        "not an accepted event of this group")
            for i in sorted(want):
                s = seq_of[i]
                rs = by_id.get(i, [])
                es = dlq_by_pair.get((g, i), [])
                state = st.get(s, "")
                if rs and es:
                    self.add("doubled", f"{g}: {i} has an effect and a dead "
                             f"letter (state {state!r}, record {rs[0]}, dlq "
                             f"{[e['r'] for e in es]})")
                elif len(es) > 1:
                    self.add("doubled", f"{g}: {i} dead-lettered "
                             f"{len(es)} times: "
                             + str([(e['pos'], e['r']) for e in es]))
                elif rs:
                    n_eff += 1
                    if not state.startswith("D"):
                        self.add("ledger", f"{g}: {i} has an effect but its "
                                 f"state is {state!r}")
                    self.check_effect(g, spec, i, rs[0])
                    self.check_retries(g, spec, i, ledger_history(state))
                elif es:
                    n_dead += 1
                    if state != f"X{es[0]['pos']}":
                        self.add("ledger", f"{g}: {i} is in the DLQ at "
                                 f"{es[0]['pos']} but its state is "
                                 f"{state!r}")
                    self.check_dead(g, spec, i, es[0])
                    self.check_retries(g, spec, i, (es[0].get("d") or {})
                                       .get("history", []))
                else:
                    self.add("lost", f"{g}: {i} (seq {s}) has neither an "
                             f"effect nor a dead letter; state {state!r}")
            effects[g] = n_eff
            dead[g] = n_dead
        self.figures.update(effects=effects, dead=dead,
                            dlq_entries=len(dlq), log=len(log))

    def check_retries(self, g, spec, i, hist):
        """Each failed attempt's next attempt ran within its backoff (plus
        what faults around it allow): no retry stalled. A crash (a lease
        that expired without completion) needs a fault shortly before it:
        none is spurious."""
        for h in hist:
            if h["result"] == CRASHED:
                self.figures["crashed_attempts"] += 1
            if h["result"] == CRASHED and self.faults.count(
                    h["at"] - 2 * LEASE_MS - self.stall_ms, h["at"]) == 0:
                self.add("crash", f"{g}: {i} has a crashed attempt "
                         f"{h['attempt']} at {h['at']} on {h['node']} "
                         "without a fault before it")
        for k, h in enumerate(hist):
            if h["result"] != RETRYABLE:
                continue
            nxt = next((x for x in hist[k + 1:]
                        if x["attempt"] == h["attempt"] + 1), None)
            if nxt is None:
                continue
            self.figures["retries"] += 1
            ceiling = ceiling_ms(spec, h["attempt"])
            gap = nxt["at"] - h["at"]
            allow = self.faults.allowance(h["at"], ceiling, self.stall_ms)
            if allow == ceiling + RETRY_SLACK_MS:
                self.figures["worst_retry_gap_over_ceiling_ms"] = max(
                    self.figures["worst_retry_gap_over_ceiling_ms"],
                    gap - ceiling)
            what = (f"{g}: attempt {nxt['attempt']} of {i} ran {gap} ms "
                    f"after attempt {h['attempt']} failed (at {h['at']} on "
                    f"{h['node']}); backoff ceiling {ceiling} ms")
            if gap > allow:
                self.add("stall", f"{what}, allowed {allow} ms")
            elif gap > ceiling + RETRY_SLACK_MS:
                self.figures["retry_gaps_after_faults"] += 1

    def check_effect(self, g, spec, i, r):
        if i.startswith("probe-"):
            return
        kind = self.wl.kind[i]
        a = r.get("a", 0)
        if kind in ("permanent", "exhaust"):
            self.add("wrong_outcome", f"{g}: {i} ({kind}) took effect: {r}")
        elif a > spec["max_attempts"] or a < 1:
            self.add("wrong_outcome", f"{g}: effect of {i} at attempt {a} "
                     f"(max {spec['max_attempts']})")
        elif kind == "fail":
            k = self.wl.by_id[i]["payload"]["simulate"]["fail_attempts"]
            if a <= k:
                self.add("wrong_outcome", f"{g}: {i} fails {k} attempts "
                         f"but took effect at attempt {a}")

    def check_dead(self, g, spec, i, e):
        d = e.get("d")
        if not d or not d.get("history"):
            self.add("dlq", f"{g}: dead letter of {i} without its attempts: "
                            f"{e}")
            return
        hist = d["history"]
        ran = [h for h in hist if h["result"] != CRASHED]
        crashed = len(hist) - len(ran)
        kind = "probe" if i.startswith("probe-") else self.wl.kind[i]
        reason = e.get("r")
        if reason == "permanent_error":
            if kind != "permanent" or not ran or \
                    ran[-1]["result"] != PERMANENT:
                self.add("dlq", f"{g}: {i} ({kind}) dead as "
                                f"permanent_error: {hist}")
        elif reason == "retries_exhausted":
            may_fail = spec["failure_rate"] > 0 or kind == "exhaust" or (
                kind == "fail" and self.wl.by_id[i]["payload"]["simulate"]
                ["fail_attempts"] >= spec["max_attempts"])
            if not may_fail:
                self.add("dlq", f"{g}: {i} ({kind}) cannot exhaust its "
                                f"retries in this group, yet: {hist}")
            if not ran or ran[-1]["attempt"] != spec["max_attempts"] or \
                    any(h["result"] != RETRYABLE for h in ran):
                got = [(h["attempt"], h["result"]) for h in ran]
                self.add("dlq", f"{g}: {i} retries_exhausted after attempts "
                                f"{got} (max {spec['max_attempts']})")
        elif reason == "crash_loop":
            # Only the crash its last claim saw is in the history (a node
            # that dies holding the pair takes its record along); the
            # budget's other crashes need faults around the pair's time.
            since = ran[-1]["at"] if ran else hist[0]["at"] - 60000
            n = self.faults.count(since, int(e.get("t") or hist[-1]["at"]))
            self.figures.setdefault("crash_loop", []).append(
                f"{g}/{i}: {n} faults around it")
            if not crashed or n == 0:
                self.add("dlq", f"{g}: {i} dead as crash_loop with "
                                f"{crashed} crashes in its history and "
                                f"{n} faults around it: {hist}")
        else:
            self.add("dlq", f"{g}: {i} dead with reason {reason!r}: {e}")
        if kind == "permanent" and reason != "permanent_error":
            self.add("dlq", f"{g}: {i} fails permanently but is dead as "
                            f"{reason}")


def summary_line(fig):
    """One line the bench script collects (bench/chaos.sh)."""
    return "CHAOS-RESULT " + json.dumps(fig, sort_keys=True)


def write_err(text):
    sys.stderr.write(text)
    sys.stderr.flush()
