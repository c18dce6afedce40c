"""The actor-introspection console (issue 15) against real processes: a
core and a worker started from one cluster config, events with failures
flowing. One-shot mode (`-e ... --json`): the listener rows of the worker,
the actors of both nodes with counters that move, a trace with the failed
attempt, its retry and the success on the right nodes, groups, inspect,
pause/resume, the DLQ. Interactive through a pseudo-terminal: tab completion
of a group name, `top` redrawing and quitting on q, a worker killed while
the console runs shown down and shown up again after a restart. Bad input:
an unknown command, actor or node, a port that is not onceflow, a config
without nodes: a clear message, never a hang."""

import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import onceflow_proc as op  # noqa: E402


class Terminal:
    """A process on a pseudo-terminal: what it prints is collected, and
    expect() waits (with a deadline) for a pattern in what came since the
    last expect()."""

    def __init__(self, argv, env):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ,
                    struct.pack("HHHH", 50, 200, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave,
                                     stderr=slave, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.out = ""
        self.mark = 0

    def pump(self, timeout):
        r, _, _ = select.select([self.master], [], [], timeout)
        if r:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return False
            self.out += data.decode(errors="replace")
            return True
        return False

    def send(self, text):
        os.write(self.master, text.encode())

    # Terminal control sequences (cursor moves, clearing) between the text.
    CONTROL = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|[()][A-Z0-9]|[=>])")

    def text(self):
        return self.CONTROL.sub("", self.out)

    def expect(self, pattern, timeout=15):
        """Waits for `pattern` in the text (control sequences removed)
        after the last match."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.text(), self.mark)
            if m:
                self.mark = m.end()
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {pattern!r}; "
                    f"the console printed:\n{self.text()[self.mark:][-3000:]}")
            self.pump(min(left, 0.2))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)


class ConsoleTest(unittest.TestCase):
    """One core and one worker for every test (in the order of their
    names); the logs are printed and kept when a test fails."""

    failed = False

    def run(self, result=None):
        result = result or self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        t0 = time.monotonic()
        try:
            return super().run(result)
        finally:
            sys.stderr.write(f"    [{self._testMethodName}: "
                             f"{time.monotonic() - t0:.1f}s]\n")
            if len(result.failures) + len(result.errors) > before:
                ConsoleTest.failed = True
                for f in sorted(os.listdir(self.dir)):
                    if f.endswith(".log"):
                        sys.stderr.write(
                            f"\n--- {f} (tail) ---\n"
                            + op.tail(os.path.join(self.dir, f), 6000))

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="onceflow-console-")
        cls.ports = {n: op.free_port() for n in ("core", "w1")}
        cls.http = op.free_port()
        cls.cfg = os.path.join(cls.dir, "cluster.ini")
        with open(cls.cfg, "w") as f:
            f.write(f"""
[node]
data-dir="{os.path.join(cls.dir, "data")}"
[scheduler]
max-threads=2
[cluster]
heartbeat-interval=300ms
connection-timeout=1500ms
reconnect-min=100ms
reconnect-max=1s
[nodes.core]
role="core"
port={cls.ports["core"]}
http-port={cls.http}
listeners=["audit:1"]
[nodes.w1]
role="worker"
port={cls.ports["w1"]}
listeners=["orders:2"]
[groups.orders]
handler="simulate"
subscriptions=["order.*"]
retry-base=100ms
retry-cap=200ms
max-attempts=8
[groups.audit]
handler="store"
subscriptions=["*"]
""")
        cls.nodes = {}
        cls.start("core")
        cls.start("w1")

    @classmethod
    def tearDownClass(cls):
        for n in cls.nodes.values():
            n.close()
        if cls.failed:
            sys.stderr.write(f"\n--- logs and data kept in {cls.dir} ---\n")
        else:
            shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def start(cls, name):
        log = os.path.join(cls.dir, f"{name}.log")
        if name in cls.nodes:
            cls.nodes[name].close()
        cls.nodes[name] = op.Node(op.BINARY, cls.cfg, log,
                                  ("--node.name=" + name,))

    # -- helpers -------------------------------------------------------------

    def console(self, *commands, config=None, timeout=30, extra=()):
        args = ["console", "--config", config or self.cfg, *extra]
        for c in commands:
            args += ["-e", c]
        return op.run(op.BINARY, *args, timeout=timeout)

    def ask(self, command):
        """One command with --json; its document."""
        r = self.console(command, extra=("--json",))
        self.assertEqual(r.returncode, 0,
                         f"{command}: {r.stdout[-2000:]}{r.stderr[-2000:]}")
        return json.loads(r.stdout)

    def wait_cluster(self):
        def ready():
            r = self.console("actors --kind listener", extra=("--json",))
            if r.returncode != 0:
                return False  # Not up yet.
            nodes = {a["node"] for a in json.loads(r.stdout)["actors"]}
            return "w1" in nodes
        op.wait_for(ready, 30, "the worker's listeners in `actors`")

    def publish(self, events):
        path = op.write_events(os.path.join(
            self.dir, f"events-{time.monotonic_ns()}.jsonl"), events)
        r = op.run(op.BINARY, "publish", "--config", self.cfg, "--file", path,
                   timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])

    def listener_rows(self, doc, node):
        return [a for a in doc["actors"]
                if a["node"] == node and a["kind"] == "listener"]

    # -- one-shot mode -------------------------------------------------------

    def test_1_one_shot_json_views_of_both_nodes(self):
        self.wait_cluster()
        nodes = {n["name"]: n for n in self.ask("nodes")["nodes"]}
        self.assertEqual(set(nodes), {"core", "w1"})
        for n in nodes.values():
            self.assertTrue(n["up"], n)
            self.assertGreaterEqual(n["rttMs"], 0)
            self.assertGreaterEqual(n["uptimeMs"], 0)
            self.assertTrue(n["version"])
        self.assertEqual(nodes["core"]["role"], "core")
        self.assertEqual(nodes["core"]["store"], "embedded")
        self.assertEqual(nodes["w1"]["role"], "worker")
        self.assertEqual(nodes["w1"]["store"], "")

        before = self.ask("actors")
        kinds = {(a["node"], a["kind"]) for a in before["actors"]}
        for k in ("broadcaster", "deduplicator", "retry_timer", "dlq",
                  "store", "gateway", "node_manager"):
            self.assertIn(("core", k), kinds)
        self.assertIn(("w1", "node_manager"), kinds)
        gateway = self.ask("actors --kind gateway")["actors"]
        self.assertEqual([(a["node"], a["kind"]) for a in gateway],
                         [("core", "gateway")])
        w1 = self.listener_rows(before, "w1")
        self.assertEqual(len(w1), 2, w1)
        for row in w1:
            self.assertEqual(row["group"], "orders")
            self.assertEqual(row["serves"], "core")
            self.assertIn(row["state"], ("idle", "busy"))
            self.assertIsInstance(row["mailbox"], int)
            self.assertTrue(row["id"].startswith("w1/"))
        # Filters.
        only = self.ask("actors --node w1 --kind listener --group orders")
        self.assertEqual({a["id"] for a in only["actors"]},
                         {a["id"] for a in w1})

        # Events flow, one in ten failing once: the counters move.
        events = [{"id": f"c-{i}", "type": "order.created",
                   "payload": {"simulate": {"fail_attempts": 1}}
                   if i % 10 == 0 else {}} for i in range(200)]
        # And one that fails seven times: eight attempts.
        events.append({"id": "eight", "type": "order.created",
                       "payload": {"simulate": {"fail_attempts": 7}}})
        self.publish(events)

        def processed(doc, node, kind):
            return sum(a["processed"] for a in doc["actors"]
                       if a["node"] == node and a["kind"] == kind)

        def moved():
            doc = self.ask("actors")
            return (processed(doc, "w1", "listener")
                    > processed(before, "w1", "listener")
                    and processed(doc, "core", "broadcaster")
                    >= processed(before, "core", "broadcaster") + 200)
        op.wait_for(moved, 30, "the listener and broadcaster counters")
        failed = sum(a["failed"] for a in self.listener_rows(
            self.ask("actors"), "w1"))
        self.assertGreaterEqual(failed, 20)

        # The trace of an event that failed once: the failed attempt, the
        # retry and the success, each on the node its listener runs on.
        def traced():
            doc = self.ask("trace c-0")
            g = {x["group"]: x for x in doc["groups"]}
            return doc if g["orders"]["status"] == "processed" \
                and g["audit"]["status"] == "processed" else None
        op.wait_for(traced, 30, "c-0 processed")
        doc = traced()
        self.assertEqual(doc["eventId"], "c-0")
        self.assertEqual(doc["core"], "core")
        self.assertEqual(doc["acceptedBy"], "core")
        orders = next(g for g in doc["groups"] if g["group"] == "orders")
        attempts = orders["attempts"]
        self.assertEqual([a["attempt"] for a in attempts], [1, 2])
        self.assertEqual([a["outcome"] for a in attempts],
                         ["retryable", "success"])
        self.assertIn("simulated failure", attempts[0]["error"])
        # Orders run on the worker only, audit on the core only.
        for a in attempts:
            self.assertEqual(a["node"], "w1", a)
            self.assertTrue(a["listener"].startswith("orders/w1/"), a)
        self.assertLess(attempts[0]["at"], attempts[1]["at"])
        self.assertEqual(orders["effect"]["attempt"], 2)
        self.assertEqual(orders["effect"]["epoch"], attempts[1]["epoch"])
        audit = next(g for g in doc["groups"] if g["group"] == "audit")
        self.assertEqual(audit["attempts"][-1]["node"], "core")
        # The text view lists the attempts in order with their nodes.
        r = self.console("trace c-0")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("accepted on node core (seq ", r.stdout)
        first = r.stdout.index("attempt 1  node " + attempts[0]["node"])
        second = r.stdout.index("attempt 2  node " + attempts[1]["node"])
        self.assertLess(first, second)

        # Eight attempts, every one in order with its node.
        def eight():
            doc = self.ask("trace eight")
            g = next(g for g in doc["groups"] if g["group"] == "orders")
            return g if g["status"] == "processed" else None
        op.wait_for(eight, 30, "eight processed")
        attempts = eight()["attempts"]
        self.assertEqual([a["attempt"] for a in attempts], list(range(1, 9)))
        self.assertEqual([a["outcome"] for a in attempts],
                         ["retryable"] * 7 + ["success"])
        self.assertEqual({a["node"] for a in attempts}, {"w1"})
        self.assertEqual([a["at"] for a in attempts],
                         sorted(a["at"] for a in attempts))
        r = self.console("trace eight")
        self.assertEqual(len(re.findall(r"attempt \d  node w1", r.stdout)), 8)

        # groups: listeners per node.
        groups = {g["name"]: g for g in self.ask("groups")["groups"]}
        self.assertEqual(groups["orders"]["listeners"], {"core": 0, "w1": 2})
        self.assertEqual(groups["audit"]["listeners"], {"core": 1})
        self.assertFalse(groups["orders"]["paused"])
        self.assertEqual(groups["orders"]["dlq"], 0)

        # inspect: everything the actor reports.
        row = w1[0]
        doc = self.ask("inspect " + row["id"])
        self.assertEqual(doc["id"], row["id"])
        self.assertTrue(doc["status"]["listener"]["name"]
                        .startswith("orders/w1/"))

    def test_2_pause_resume_and_the_dlq(self):
        self.wait_cluster()
        doc = self.ask("pause orders")
        self.assertEqual(doc, {"group": "orders", "paused": True,
                               "cores": {"core": True}})
        try:
            groups = {g["name"]: g for g in self.ask("groups")["groups"]}
            self.assertTrue(groups["orders"]["paused"])
            listeners = self.ask("actors --kind listener --group orders")
            self.assertTrue(all(a["state"] == "paused"
                                for a in listeners["actors"]
                                if a["inFlight"] == 0), listeners)
        finally:
            self.assertFalse(self.ask("resume orders")["paused"])
        # A permanent failure goes to the DLQ: list, show, replay, purge.
        self.publish([{"id": "dead-1", "type": "order.created",
                       "payload": {"simulate": {"permanent": True}}}])

        def listed():
            return [e for e in self.ask("dlq list --group orders")["entries"]
                    if e["eventId"] == "dead-1"]
        op.wait_for(listed, 30, "dead-1 in the DLQ")
        entry = listed()[0]
        self.assertEqual(entry["reason"], "permanent_error")
        shown = self.ask("dlq show dead-1")["entries"]
        self.assertEqual(len(shown), 1)
        self.assertEqual(shown[0]["history"][-1]["outcome"], "permanent")
        trace = self.ask("trace dead-1")
        orders = next(g for g in trace["groups"] if g["group"] == "orders")
        self.assertEqual(orders["status"], "dead")
        self.assertEqual(orders["dlq"][0]["reason"], "permanent_error")
        self.assertEqual(self.ask("dlq purge dead-1")["purged"], 1)
        self.assertEqual(self.ask("dlq show dead-1")["entries"], [])

        # A delayed event waits in the retry schedule: the trace says when
        # its (first) attempt is due, and `groups` counts it among the
        # group's retries.
        self.publish([{"id": "later-1", "type": "order.created",
                       "payload": {}, "delay": "10min"}])

        def waiting():
            doc = self.ask("trace later-1")
            g = next((g for g in doc.get("groups", [])
                      if g["group"] == "orders"), None)
            return (doc, g) if g and "nextAttemptAt" in g else None
        op.wait_for(waiting, 30, "later-1 in the schedule")
        doc, g = waiting()
        self.assertEqual(g["status"], "scheduled")
        self.assertGreaterEqual(g["nextAttemptAt"],
                                doc["createdAt"] + 600 * 1000)
        groups = {x["name"]: x for x in self.ask("groups")["groups"]}
        self.assertGreaterEqual(groups["orders"]["retries"], 1)
        r = self.console("trace later-1")
        self.assertIn("next attempt due", r.stdout)

    # -- bad input -----------------------------------------------------------

    def test_3_bad_input_gets_a_clear_message(self):
        self.wait_cluster()
        cases = [
            ("florp", "unknown command 'florp'"),
            ("inspect core/999999", "no actor 'core/999999'"),
            ("inspect nope/1", "no node named 'nope'"),
            ("actors --node nope", "no node named 'nope'"),
            ("actors --kind widget", "unknown kind 'widget'"),
            ("trace no-such-event", "event 'no-such-event' not found"),
            ("pause no-such-group", "no-such-group"),
            ("listeners add orders --count 0", "--count must be"),
            ("dlq frob", "unknown sub-command 'frob'"),
            ("trace", "missing argument"),
        ]
        for command, message in cases:
            with self.subTest(command=command):
                r = self.console(command)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn("error: ", r.stdout)
                self.assertIn(message, r.stdout)
        r = self.console("florp", extra=("--json",))
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown command", json.loads(r.stdout)["error"])

        # A config without nodes.
        empty = os.path.join(self.dir, "empty.ini")
        with open(empty, "w") as f:
            f.write("[scheduler]\nmax-threads=2\n")
        r = self.console("nodes", config=empty)
        self.assertEqual(r.returncode, 2)
        self.assertIn("names no node", r.stderr)

        # A port that is not onceflow: one that accepts and says nothing,
        # and the HTTP API's port. Shown down with the reason, in time.
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        try:
            for port in (silent.getsockname()[1], self.http):
                cfg = os.path.join(self.dir, f"foreign-{port}.ini")
                with open(cfg, "w") as f:
                    f.write(f'[node]\nname="x"\nport={port}\n'
                            "[scheduler]\nmax-threads=2\n")
                t0 = time.monotonic()
                r = self.console("nodes", "actors", config=cfg,
                                 extra=("--json",))
                self.assertLess(time.monotonic() - t0, 20)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                docs = [json.loads(d) for d in
                        re.split(r"(?<=\n})\n(?={)", r.stdout.strip())]
                node = docs[0]["nodes"][0]
                self.assertFalse(node["up"])
                self.assertTrue(node["error"], node)
                self.assertIn("no node is up", docs[1]["error"])
        finally:
            silent.close()

    # -- interactive ---------------------------------------------------------

    def test_4_interactive_completion_top_and_a_node_that_dies(self):
        self.wait_cluster()
        env = op.node_env({"TERM": "xterm", "HOME": self.dir})
        t = Terminal([op.BINARY, "console", "--config", self.cfg], env)
        try:
            t.expect(r"onceflow> ")
            # Tab completes a group name: libedit writes the rest of it
            # ("ers"), and the command lists the group's listeners (with
            # "ord" it would list none: --group takes a whole name).
            t.send("actors --group ord\t")
            t.expect(r"ers ")
            t.send("\r")
            t.expect(r"w1/\d+ +listener +orders")
            t.expect(r"2 actor\(s\)")
            t.expect(r"onceflow> ")
            # top redraws every second and quits on q.
            t.send("top\r")
            t.expect(r"onceflow top")
            t.expect(r"onceflow top", timeout=5)
            t.expect(r"busiest actors")
            t.send("q")
            t.expect(r"onceflow> ")
            # The worker dies: shown down within a few seconds.
            killed = time.monotonic()
            self.nodes["w1"].kill9()

            def shows(state):
                t.send("nodes\r")
                m = t.expect(r"\n(w1 +\S+)", timeout=10)
                t.expect(r"onceflow> ")
                return m.group(1).split()[1] == state
            op.wait_for(lambda: shows("DOWN"), 10, "w1 shown down")
            self.assertLess(time.monotonic() - killed, 10)
            # The console keeps answering for the core.
            t.send("actors --node core --kind broadcaster\r")
            t.expect(r"core/\d+ +broadcaster")
            t.expect(r"onceflow> ")
            self.start("w1")
            op.wait_for(lambda: shows("up"), 30, "w1 shown up again")
            t.send("quit\r")
            t.proc.wait(10)
            self.assertEqual(t.proc.returncode, 0)
        finally:
            t.close()
            if not self.nodes["w1"].alive():
                self.start("w1")


if __name__ == "__main__":
    op.main()
