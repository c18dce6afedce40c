"""A seeded chaos run: three real `onceflow node` processes on one real
`redis-server` with AOF (appendfsync always), clients publishing over HTTP
with duplicates, and faults at moments chosen by the seed: kill -9 of a
node and its restart, kill -9 of Redis and its restart on the same AOF, a
SIGTERM drain and restart, SIGSTOP of a node for longer than a lease.

The verdict is read from Redis itself (the log, each group's state fields
and effect records, the DLQ), never from the nodes' counters: every event
the clients were answered for (202 accepted, or 200 duplicate after an
answer that got lost) has exactly one effect per matching group or one
dead letter with its attempts; nothing has two; nothing took effect that
no client sent; an id is answered `accepted` at most once and never after
another submission of it was answered; re-sent ids after everything
settled are answered `duplicate` with their final status. Everything must
settle without a stall longer than Redis's reconnect backoff plus twice the
lease plus a janitor round plus the longest retry backoff (with slack), no
retry may stall (its attempts' times in Redis; the take marks watched
during the run: a retry taken by a node that died goes to another within
about the lease, like the dead node's in-flight entries within twice the
lease), and every node must be up and ready at the end. The whole list is
in docs/testing.md, "The chaos test".

Sizes: the defaults are the CI run (3000 events over 20 s, 5 faults, seed
1, or the seed in ONCEFLOW_CHAOS_SEED); the long run takes options:

    python3 tests/integration/test_redis_nodes_chaos.py \\
        --binary build-release/onceflow --config-dir config \\
        --seed 7 --events 30000 --duration 120 [--faults N] [--clients N] \\
        [--appendfsync everysec]

bench/chaos.sh runs it for several seeds. The seed, the fault plan and the
command that reruns it are printed at the start; on a failure the timeline
of what happened, what is still open in Redis and the rerun command again.
"""

import collections
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import chaos  # noqa: E402
import http_client as hc  # noqa: E402
import onceflow_proc as op  # noqa: E402
from redis_nodes import TIME_SCALE, RedisNodesBase, as_list  # noqa: E402

# Set in __main__ from the command line (or the defaults, for imports).
OPTIONS = chaos.Options()

NAMES = ["node-1", "node-2", "node-3"]

# How long the whole store may make no progress (no pair settled) before a
# stall is a finding: Redis's reconnect backoff (up to 5 s after an
# outage), reclaim of a dead or stopped node's entries (2x the lease), a
# janitor round, the longest retry backoff, and slack for the sanitizer
# build on 2 shared cores.
STALL_S = (5000 + 2 * chaos.LEASE_MS + chaos.JANITOR_MS
           + chaos.MAX_RETRY_CAP_MS) / 1000 + 5
# A due retry taken by a node that dies (or whose take's answer is lost in
# a Redis outage) is taken by another node once its take mark lapses, about
# a lease after the taker's last renewal: well within STALL_S, which
# judges those pairs like any other.


def wall_ms():
    return int(time.time() * 1000)


class TakeWatch:
    """Watches Redis's take marks of due retries while the run goes on
    (every 0.5 s while Redis is up): a retry that is still due STALL_S
    after a node took it has stalled, whatever faults came around it (the
    retry gaps of the verdict cannot tell that when faults come thick)."""

    def __init__(self, test):
        self.t = test
        self.stop = threading.Event()
        self.redis_up = threading.Event()
        self.redis_up.set()
        # (member, consumer, instance, call): one take, whose mark its
        # taker renews -> (consumer, taken at, seen at)
        self.stuck = {}
        self.thread = threading.Thread(target=self.run, daemon=True,
                                       name="take-watch")

    def run(self):
        limit = STALL_S * 1000 * TIME_SCALE
        while not self.stop.wait(0.5):
            if not self.redis_up.is_set():
                continue
            try:
                marks = self.t.retry_marks()
                due = set(as_list(self.t.redis.eval_json(
                    "return cjson.encode(redis.call('ZRANGE', KEYS[1], 0, "
                    "-1))", (f"{self.t.prefix}retry:due",))))
            except Exception:  # noqa: BLE001: Redis restarting; next round
                continue
            now = wall_ms()
            for m, mark in marks.items():
                consumer, inst, at, call, _until = mark.rsplit(" ", 4)
                key = (m, consumer, inst, call)
                if m in due and now - int(at) > limit and \
                        key not in self.stuck:
                    self.stuck[key] = (consumer, int(at), now)

    def verdict(self, faults):
        """Stuck takes, as findings: whatever happened to the taker (it
        died, drained, lost the take's answer in a Redis outage), another
        node takes the retry within about a lease."""
        findings = []
        for key, (consumer, at, seen) in sorted(self.stuck.items()):
            m = key[0]
            what = (f"retry {m.replace(chr(31), '/')} taken by {consumer} "
                    f"at {at} still due {(seen - at) / 1000:.1f}s later")
            if faults.died_after(consumer, at, seen):
                what += f" ({consumer} was killed or exited after the take)"
            elif faults.redis_down_near(at):
                what += " (the take's answer may have been lost in a Redis " \
                        "outage)"
            findings.append(what)
        return findings


class ChaosTest(RedisNodesBase):
    GROUPS = {g: chaos.group_ini(s) for g, s in chaos.GROUP_SPECS.items()}

    def tearDown(self):
        watch = getattr(self, "watch", None)
        if watch is not None:
            watch.stop.set()
            watch.thread.join()
        super().tearDown()

    # -- timeline -------------------------------------------------------------

    def note(self, text):
        t = time.monotonic() - self.t_work if self.t_work else 0.0
        ms = wall_ms()
        clock = time.strftime("%H:%M:%S", time.gmtime(ms // 1000)) + \
            f".{ms % 1000:03d}"
        line = f"    +{t:7.2f}s {clock}  {text}"
        with self.note_lock:
            self.timeline.append(line)
        chaos.write_err(line + "\n")

    def header(self):
        o = OPTIONS
        return (f"\n    chaos seed {o.seed}: {o.events} events over "
                f"{o.duration:g}s from {o.clients} clients, {o.faults} "
                f"faults, redis appendfsync {o.appendfsync}\n"
                f"    fault plan (offsets after the workload starts; the "
                f"timeline adds the UTC time of the nodes' logs):\n"
                f"{chaos.format_plan(self.plan, NAMES)}\n"
                f"    rerun: {self.rerun}\n")

    def fail_with_timeline(self, text):
        if not self.summary_written:
            chaos.write_err("    " + chaos.summary_line(
                {"seed": OPTIONS.seed, "events": OPTIONS.events,
                 "duration": OPTIONS.duration, "verdict": "FAILED",
                 "reason": text.splitlines()[0][:200]}) + "\n")
        self.fail(f"{text}\n{self.header()}    timeline:\n"
                  + "\n".join(self.timeline) + f"\n    rerun: {self.rerun}")

    # -- nodes ----------------------------------------------------------------

    def extra_of(self, idx):
        """The simulate handlers' seeds of node idx (from the run's seed)."""
        return [f"--groups.{g}.seed={OPTIONS.seed * 10 + idx + 1}"
                for g in self.GROUPS]

    def start_chaos_node(self, idx):
        name = NAMES[idx]
        t = time.monotonic()
        n = self.launch_node(name, extra=self.extra_of(idx))
        port = self.ports[idx]

        def up():
            if not n.alive():
                raise AssertionError(
                    f"{name} exited with {n.proc.returncode} at start:\n"
                    + op.tail(os.path.join(self.dir, f"{name}.log"), 3000))
            try:
                return hc.request(port, "GET", "/health",
                                  timeout=2).status == 200
            except OSError:
                return False
        try:
            op.wait_until(up, 60 * TIME_SCALE, f"{name} to answer /health",
                          interval=0.05)
        except AssertionError as e:
            self.findings["node"].append(f"{name} did not come back: {e}")
            self.fail_with_timeline(f"{name} did not come back: {e}")
        return time.monotonic() - t

    def ready(self, idx):
        try:
            return hc.request(self.ports[idx], "GET", "/ready",
                              timeout=5).status == 200
        except OSError:
            return False

    def pending_note(self, name):
        try:
            held = {g: len(self.pending_of(g, name)) for g in self.GROUPS}
        except (AssertionError, OSError, ValueError):
            return "pending unknown"
        return "pending " + ", ".join(f"{g} {k}" for g, k in held.items())

    # -- faults ---------------------------------------------------------------

    def run_fault(self, kind, idx, secs):
        start = wall_ms()
        try:
            self.run_fault_steps(kind, idx, secs)
        finally:
            self.faults.add(start, wall_ms(), kind,
                            None if idx is None else NAMES[idx])

    def run_fault_steps(self, kind, idx, secs):
        if kind == "kill9_redis":
            self.watch.redis_up.clear()
            self.redis.kill9()
            killed = wall_ms()
            self.note(f"redis killed -9 (down for {secs}s)")
            time.sleep(secs)
            t = time.monotonic()
            self.redis.restart()
            self.redis_outages.append((killed, wall_ms()))
            self.watch.redis_up.set()
            self.note(f"redis restarted on its AOF, answering PING after "
                      f"{time.monotonic() - t:.2f}s; log head seq "
                      f"{self.counts()['seq']}")
            return
        name = NAMES[idx]
        n = self.nodes[name]
        if kind == "kill9_node":
            n.kill9()
            self.deaths[name].append(wall_ms())
            self.faults.died(name, self.deaths[name][-1])
            self.note(f"{name} killed -9 ({self.pending_note(name)} in "
                      f"Redis)")
            time.sleep(secs)
            took = self.start_chaos_node(idx)
            self.note(f"{name} restarted, up after {took:.2f}s")
        elif kind == "sigterm_node":
            t = time.monotonic()
            os.kill(n.proc.pid, signal.SIGTERM)
            self.note(f"{name} SIGTERM ({self.pending_note(name)})")
            try:
                rc = n.proc.wait(30 * TIME_SCALE)
            except Exception:  # noqa: BLE001 (subprocess.TimeoutExpired)
                rc = None
            self.deaths[name].append(wall_ms())
            self.faults.died(name, self.deaths[name][-1])
            self.note(f"{name} exited with {rc} after "
                      f"{time.monotonic() - t:.2f}s of drain "
                      f"({self.pending_note(name)} left)")
            if rc != 0:
                self.findings["node"].append(
                    f"{name}: SIGTERM drain exited with {rc}, not 0")
                n.kill9()
            time.sleep(secs)
            took = self.start_chaos_node(idx)
            self.note(f"{name} restarted, up after {took:.2f}s")
        else:
            os.kill(n.proc.pid, signal.SIGSTOP)
            self.note(f"{name} SIGSTOP for {secs}s "
                      f"({self.pending_note(name)})")
            time.sleep(secs)
            os.kill(n.proc.pid, signal.SIGCONT)
            self.note(f"{name} SIGCONT")

    # -- settling -------------------------------------------------------------

    def open_report(self, expected):
        """What is still open, from Redis: per group the unsettled count,
        and the leftover leases, pending entries and retries with their
        take marks."""
        c = self.counts()
        out = [f"{g}: {c['groups'][g]['ledger'] + c['groups'][g]['dead']} "
               f"of {n} settled, pel {c['groups'][g]['pel']}, leases and "
               f"scheduled retries "
               f"{c['groups'][g]['lease']}" for g, n in expected.items()]
        out.append(f"retry:due {c['retry']}")
        out += self.unsettled()
        marks = self.retry_marks()
        for k, v in list(self.leftovers().items())[:40]:
            if k.startswith("retry "):
                g, s = k[len("retry "):].split("/")
                v += f"; taken: {marks.get(g + chr(31) + s, 'no')}"
            out.append(f"{k}: {v}")
        return out

    def unsettled(self, limit=10):
        """Accepted pairs without a ledger entry or a dead letter, with
        their seq and state field (or: not in the log at all)."""
        seq_of = {i: s for s, (i, _t) in self.log_entries().items()}
        out = []
        for g in self.GROUPS:
            st = self.states(g)
            xs = []
            for i in sorted(self.accepted):
                if g not in chaos.groups_of(self.wl.by_id[i]["type"]):
                    continue
                s = seq_of.get(i)
                if s is None:
                    xs.append(f"{i} is not in the log")
                elif st.get(s, "")[:1] not in ("D", "X"):
                    xs.append(f"{i} seq {s} state {st.get(s)!r}")
            if xs:
                out.append(f"{g}: {len(xs)} unsettled: "
                           + "; ".join(xs[:limit]))
        return out

    def wait_settled(self, expected):
        """Waits until every expected pair is settled (ledger entry or dead)
        and nothing is pending, leased or scheduled; fails at a stall."""
        last_settled = -1
        last_progress = time.monotonic()
        start = time.monotonic()
        while True:
            c = self.counts()
            settled = {g: c["groups"][g]["ledger"] + c["groups"][g]["dead"]
                       for g in expected}
            done = all(settled[g] >= n for g, n in expected.items()) and \
                c["retry"] == 0 and not any(
                    g["pel"] or g["lease"] for g in c["groups"].values())
            if done:
                return time.monotonic() - start
            total = sum(settled.values())
            if total != last_settled:
                last_settled = total
                last_progress = time.monotonic()
            stalled = time.monotonic() - last_progress
            if stalled > STALL_S * TIME_SCALE:
                self.findings["stall"].append(
                    f"nothing settled for {stalled:.1f}s")
                self.fail_with_timeline(
                    f"STALL: nothing settled for {stalled:.1f}s (allowed "
                    f"{STALL_S * TIME_SCALE:.1f}s); open in Redis:\n      "
                    + "\n      ".join(self.open_report(expected)))
            time.sleep(0.25)

    # -- the run --------------------------------------------------------------

    def test_chaos(self):
        o = OPTIONS
        self.timeline = []
        self.note_lock = threading.Lock()
        self.t_work = None
        self.deaths = collections.defaultdict(list)
        self.redis_outages = []
        self.findings = collections.defaultdict(list)
        self.figures = collections.Counter()
        self.faults = chaos.Faults()
        self.summary_written = False
        self.plan = chaos.fault_plan(o)
        self.rerun = (f"python3 {os.path.abspath(__file__)} --binary "
                      f"{op.BINARY} --config-dir {op.CONFIG_DIR} "
                      + " ".join(o.argv()))
        chaos.write_err(self.header())
        wl = chaos.Workload(o)

        t_setup = time.monotonic()
        self.start_redis(appendonly=True, appendfsync=o.appendfsync)
        self.ports = [op.free_port() for _ in NAMES]
        for name, port in zip(NAMES, self.ports):
            self.config_for(name, http_port=port)
        for idx in range(len(NAMES)):
            self.start_chaos_node(idx)
        chaos.write_err(f"    nodes up in {time.monotonic() - t_setup:.1f}s;"
                        f" {wl.submissions} submissions of {o.events} "
                        "events\n")

        # Workload and faults.
        self.t_work = time.monotonic()
        rec = chaos.Recorder(self.t_work)
        clients = [chaos.Client(k, ops, self.ports, rec, self.t_work)
                   for k, ops in enumerate(wl.clients)]
        for c in clients:
            c.thread.start()
        self.watch = TakeWatch(self)
        self.watch.thread.start()
        t_last_fault = self.t_work
        for off, kind, idx, secs in self.plan:
            wait = self.t_work + off - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            else:
                self.note(f"(the next fault starts {-wait:.2f}s late)")
            self.run_fault(kind, idx, secs)
            self.figures[kind] += 1
            t_last_fault = time.monotonic()
        for c in clients:
            c.thread.join(o.duration + chaos.SUBMISSION_DEADLINE * TIME_SCALE
                          + 60)
            if c.thread.is_alive():
                self.fail_with_timeline(f"client {c.idx} did not finish")
        t_clients = max(c.done_at for c in clients)
        self.note(f"clients done (the last "
                  f"{t_clients - self.t_work:.2f}s after the start): "
                  f"{len(rec.answers)} answers, errors "
                  f"{dict(rec.errors)}")
        if rec.unanswered:
            self.fail_with_timeline(
                f"{len(rec.unanswered)} submissions never answered (e.g. "
                f"{rec.unanswered[:5]})")

        # Settle.
        accepted = {a["id"] for a in rec.answers}
        self.wl, self.accepted = wl, accepted
        expected = {g: sum(1 for i in accepted
                           if g in chaos.groups_of(wl.by_id[i]["type"]))
                    for g in self.GROUPS}
        took = self.wait_settled(expected)
        t_settled = time.monotonic()
        self.note(f"settled {t_settled - t_last_fault:.2f}s after the last "
                  f"fault, {took:.2f}s after the clients were done")

        # Re-sends after everything settled: duplicates, with the final
        # status; they append nothing.
        seq_before = self.counts()["seq"]
        st = {g: self.states(g) for g in self.GROUPS}
        ids = self.ids()
        resend = [e for e in wl.final_resends if e["id"] in accepted]
        late_rec = chaos.Recorder(time.monotonic())
        late = chaos.Client(99, [], self.ports, late_rec, time.monotonic())
        for k, ev in enumerate(resend):
            late.submit_single(ev, k % 3, "resend", None, late.conns)
        for c in late.conns.values():
            c.close()
        wrong = []
        for a in late_rec.answers:
            seq = ids.get(a["id"], (None,))[0]
            want = chaos.expected_status(
                [st[g].get(seq, "") for g in
                 chaos.groups_of(wl.by_id[a["id"]]["type"])])
            if (a["status"], a["original"]) != ("duplicate", want):
                wrong.append(f"{a['id']}: {a['status']} (original "
                             f"{a['original']}), expected duplicate ({want})")
        if len(late_rec.answers) != len(resend):
            wrong.append(f"{len(resend) - len(late_rec.answers)} re-sends "
                         f"unanswered: {late_rec.problems[:3]}")
        self.findings["duplicates"] += wrong + late_rec.problems
        if self.counts()["seq"] != seq_before:
            self.findings["duplicates"].append(
                f"re-sends of settled ids appended to the log (seq "
                f"{seq_before} -> {self.counts()['seq']})")

        # Every node recovered: alive, ready, and accepts an event.
        wl.by_id.update({f"probe-{n}": {"type": "probe.check"}
                         for n in NAMES})
        for idx, name in enumerate(NAMES):
            n = self.nodes[name]
            if not n.alive():
                self.findings["node"].append(
                    f"{name} died (exit code {n.proc.returncode})")
                continue
            try:
                op.wait_until(lambda: self.ready(idx), 20 * TIME_SCALE,
                              f"{name} to answer /ready with 200")
                r = hc.request(self.ports[idx], "POST", "/events",
                               {"type": "probe.check", "payload": {}},
                               headers={"Idempotency-Key": f"probe-{name}"})
                if r.status != 202:
                    self.findings["node"].append(
                        f"{name}: probe event answered {r!r}")
                else:
                    accepted.add(f"probe-{name}")
            except (AssertionError, OSError) as e:
                self.findings["node"].append(f"{name} not ready: {e}")
        probes = sum(1 for i in accepted if i.startswith("probe-"))
        expected["audit"] += probes
        self.wait_settled(expected)

        # The verdict, from Redis.
        self.watch.stop.set()
        self.watch.thread.join()
        self.findings["stall"] += self.watch.verdict(self.faults)
        problems, by_id = chaos.answer_findings(rec.answers)
        self.findings["duplicates"] += problems + rec.problems
        v = chaos.Verdict(self, wl, accepted, self.faults,
                          int(STALL_S * 1000 * TIME_SCALE))
        v.run()
        for k, xs in v.problems.items():
            self.findings[k] += xs
        statuses = collections.Counter(a["status"] for a in rec.answers)
        answer_lost = sum(1 for i, xs in by_id.items()
                          if not any(a["status"] == "accepted" for a in xs))
        fig = {
            "seed": o.seed, "events": o.events, "duration": o.duration,
            "appendfsync": o.appendfsync, "clients": o.clients,
            "submissions": wl.submissions,
            "answers": dict(statuses), "answer_lost_ids": answer_lost,
            "client_errors": dict(rec.errors),
            "faults": {k: self.figures[k] for k in chaos.FAULT_KINDS},
            "workload_s": round(t_clients - self.t_work, 1),
            "settle_after_last_fault_s": round(t_settled - t_last_fault, 1),
            "settle_after_clients_s": round(t_settled - t_clients, 1),
            "accepted_ids": len(accepted),
            "lost": len(self.findings["lost"]),
            "doubled": len(self.findings["doubled"]),
            "findings": sum(len(x) for x in self.findings.values()),
            **{k: x for k, x in v.figures.items()
               if k != "crash_loop"},
            "crash_loop": len(v.figures.get("crash_loop", [])),
        }
        fig["verdict"] = "ok" if fig["findings"] == 0 else "FAILED"
        self.summary_written = True
        chaos.write_err(
            f"    {len(accepted)} ids accepted ({answer_lost} only as "
            f"duplicates: their first answer was lost), answers "
            f"{dict(statuses)}; effects {v.figures['effects']}, dead "
            f"{v.figures['dead']}; lost {fig['lost']}, doubled "
            f"{fig['doubled']}; {v.figures['retries']} retries, the "
            f"slowest without a fault around it ran "
            f"{v.figures['worst_retry_gap_over_ceiling_ms']} ms after its "
            f"backoff ceiling\n"
            + "".join(f"    crash_loop: {x}\n"
                      for x in v.figures.get("crash_loop", []))
            + f"    {chaos.summary_line(fig)}\n")
        if fig["findings"]:
            text = []
            for k, xs in self.findings.items():
                if xs:
                    text.append(f"  {k}: {len(xs)}\n      "
                                + "\n      ".join(xs[:15]))
            self.fail_with_timeline("the verdict found:\n"
                                    + "\n".join(text))
        self.assert_alive()


if __name__ == "__main__":
    OPTIONS, rest = chaos.parse_options(sys.argv[1:])
    sys.argv = [sys.argv[0], *rest]
    op.main()
