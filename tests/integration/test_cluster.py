"""A cluster over CAF's network layer with real `onceflow` processes
(issue 14): one core on the embedded store and two workers started from
one cluster config; events run on the workers' listeners exactly once per
group (counted from the store's own effect records); a worker killed with
kill -9 or frozen with SIGSTOP is noticed (heartbeats) and the others carry
on; a restarted worker rejoins; bad cluster configs and unreachable or
foreign peers get clear errors.

ONCEFLOW_CLUSTER_EVENTS sets the event count of the exactly-once run
(default 20000)."""

import json
import os
import random
import sqlite3
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import onceflow_proc as op  # noqa: E402

EVENTS = int(os.environ.get("ONCEFLOW_CLUSTER_EVENTS", "20000"))


class ClusterBase(op.KeepLogsOnFailure, unittest.TestCase):
    """A core and two workers from one cluster config (helpers only)."""

    def setUp(self):
        self.t0 = time.monotonic()
        self.dir = tempfile.mkdtemp(prefix="onceflow-cluster-")
        self.ports = {n: op.free_port() for n in ("core", "w1", "w2")}
        self.http = op.free_port()
        self.cfg = os.path.join(self.dir, "cluster.ini")
        self.db = os.path.join(self.dir, "data", "onceflow.db")
        self.write_config()
        self.nodes = {}

    def tearDown(self):
        for n in self.nodes.values():
            n.close()

    # Per node: a host to bind (default 127.0.0.1), see NetworkCutTest.
    HOSTS = {}
    # The groups' lease-ttl, and the orders group's handler.
    LEASE_TTL = "4s"
    ORDERS_HANDLER = "store"

    def host_line(self, name):
        host = self.HOSTS.get(name)
        return f'host="{host}"' if host else ""

    def cluster_options(self):
        """More [cluster] options (TlsTest)."""
        return ""

    def write_config(self, extra_nodes=""):
        p = self.ports
        with open(self.cfg, "w") as f:
            f.write(f"""
[node]
data-dir="{os.path.join(self.dir, "data")}"
[scheduler]
max-threads=2
[cluster]
heartbeat-interval=300ms
connection-timeout=1500ms
reconnect-min=100ms
reconnect-max=1s
{self.cluster_options()}
[nodes.core]
role="core"
{self.host_line("core")}
port={p["core"]}
http-port={self.http}
listeners=["audit:1"]
[nodes.w1]
role="worker"
{self.host_line("w1")}
port={p["w1"]}
listeners=["orders:2"]
[nodes.w2]
role="worker"
{self.host_line("w2")}
port={p["w2"]}
listeners=["orders:2", "audit:1"]
{extra_nodes}
[groups.orders]
handler="{self.ORDERS_HANDLER}"
subscriptions=["order.*"]
lease-ttl={self.LEASE_TTL}
[groups.audit]
handler="store"
subscriptions=["*"]
lease-ttl={self.LEASE_TTL}
""")

    # -- helpers -------------------------------------------------------------

    def binary_of(self, name):
        return op.BINARY

    def start(self, name, *extra):
        log = os.path.join(self.dir, f"{name}.log")
        if name in self.nodes:
            self.nodes[name].close()
        n = op.Node(self.binary_of(name), self.cfg, log,
                    ("--node.name=" + name, *extra))
        self.nodes[name] = n
        return n

    def cluster(self):
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http}/cluster", timeout=10) as r:
            return json.loads(r.read())

    def node_view(self, name):
        for n in self.cluster()["nodes"]:
            if n["name"] == name:
                return n
        raise AssertionError(f"{name} not in /cluster")

    def wait_up(self, *names, timeout=30):
        def up():
            try:
                return all(self.node_view(n)["up"] for n in names)
            except OSError:
                return False
        op.wait_for(up, timeout, f"nodes {names} up in /cluster")

    def log_of(self, name):
        with open(os.path.join(self.dir, f"{name}.log"), errors="replace") as f:
            return f.read()

    def start_all(self):
        self.start("core")
        self.start("w1")
        self.start("w2")
        self.wait_up("w1", "w2")
        # The workers attached their listeners once the core saw them.
        op.wait_for(lambda: self.log_of("core").count("joined from node")
                    >= 3, 20, "the workers' listeners to join")

    def publish(self, events):
        path = op.write_events(os.path.join(
            self.dir, f"events-{random.random()}.jsonl"), events)
        r = op.run(op.BINARY, "publish", "--config", self.cfg, "--file", path,
                   "--verbose", timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        return r.stdout

    def wait_effects(self, expected, timeout=180):
        """Waits until every (group, event) of `expected` has an effect;
        returns the effect counts."""
        def done():
            if not os.path.exists(self.db):
                return False
            effects = op.count_effects(self.db)
            return all(k in effects for k in expected)
        op.wait_until(done, timeout, "every effect",
                      progress=lambda: f"{len(op.count_effects(self.db))} "
                                       f"of {len(expected)} effects")
        return op.count_effects(self.db)

    @staticmethod
    def make_events(prefix, n):
        events = []
        for i in range(n):
            t = "order.created" if i % 2 == 0 else "user.signed_up"
            events.append({"id": f"{prefix}-{i}", "type": t,
                           "payload": {"i": i}})
        return events

    @staticmethod
    def expected_of(events):
        exp = set()
        for e in events:
            exp.add(("audit", e["id"]))
            if e["type"].startswith("order."):
                exp.add(("orders", e["id"]))
        return exp

    def crashed_attempts(self):
        """The crashed attempts the ledger keeps: (at in ms, error)."""
        con = sqlite3.connect(self.db, timeout=10)
        try:
            rows = con.execute("SELECT history FROM ledger").fetchall()
        finally:
            con.close()
        out = []
        for (history,) in rows:
            for a in filter(None, history.split("\x1e")):
                f = a.split("\x1f")
                if f[5] == "4":
                    out.append((int(f[1]), f[6]))
        return out

    def event(self, event_id):
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http}/events/{event_id}",
                timeout=10) as r:
            return json.loads(r.read())


class ClusterTest(ClusterBase):
    def test_events_run_on_the_workers_exactly_once(self):
        self.start_all()
        events = self.make_events("e", EVENTS)
        rng = random.Random(14)
        # 10% duplicate submissions, some in the same file, some later.
        dups = rng.sample(events, EVENTS // 10)
        out = self.publish(events + dups[: len(dups) // 2])
        self.assertEqual(out.count("duplicate"), len(dups) // 2)
        out = self.publish(dups[len(dups) // 2:])
        self.assertEqual(out.count("duplicate"), len(dups) - len(dups) // 2)
        expected = self.expected_of(events)
        effects = self.wait_effects(expected)
        self.assertEqual(set(effects), expected)
        doubled = {k: n for k, n in effects.items() if n != 1}
        self.assertEqual(doubled, {})
        # The work was spread: orders on both workers, audit on the core
        # and on w2.
        nodes = {"orders": set(), "audit": set()}
        for e in rng.sample(events, 300):
            for g in self.event(e["id"])["groups"]:
                for a in g["attempts"]:
                    nodes[g["group"]].add(a["node"])
        self.assertEqual(nodes["orders"], {"w1", "w2"})
        self.assertEqual(nodes["audit"], {"core", "w2"})

    def test_a_killed_worker_is_noticed_and_the_others_finish_its_work(self):
        # Leases far longer than the test: w1's entries must not wait for
        # them (the core revokes them at the DOWN).
        self.LEASE_TTL = "60s"
        # Orders take 5 ms each: w1's listeners hold batches when killed.
        self.ORDERS_HANDLER = "simulate"
        self.write_config()
        self.start_all()
        events = self.make_events("k", 6000)
        for e in events:
            e["payload"]["simulate"] = {"latency_ms": 5}
        t = threading.Thread(target=self.publish, args=(events,))
        t.start()
        # Kill w1 while it holds batches: once orders (run by the workers
        # only, both kept busy by the 5 ms handler) are under way.
        def orders_done():
            if not os.path.exists(self.db):
                return 0
            return sum(1 for g, _ in op.count_effects(self.db)
                       if g == "orders")
        op.wait_for(lambda: orders_done() > 200, 60, "orders to run")
        killed_at = time.monotonic()
        killed_ms = time.time() * 1000
        self.nodes["w1"].kill9()
        op.wait_for(lambda: not self.node_view("w1")["up"], 10,
                    "the core to see w1 down")
        noticed = time.monotonic() - killed_at
        t.join(600)
        expected = self.expected_of(events)
        effects = self.wait_effects(expected)
        self.assertEqual({k: n for k, n in effects.items() if n != 1}, {})
        self.assertEqual(set(effects), expected)
        self.assertLess(noticed, 5, "kill -9 is seen at once (socket closed)")
        # w1's entries ran again at once, their leases revoked at the DOWN:
        # each such attempt is recorded as crashed, long before the 60 s
        # leases would have expired.
        crashed = self.crashed_attempts()
        self.assertGreater(len(crashed), 0, "w1 held entries when killed")
        self.assertEqual({e for _, e in crashed},
                         {"listener went down without completion"})
        late = max(at for at, _ in crashed) - killed_ms
        print(f"\nkill -9: {len(crashed)} entries of w1 ran elsewhere, the "
              f"last claimed {late / 1000:.2f} s after the kill", flush=True)
        self.assertLess(late, 20000)
        # w1 comes back and gets work again.
        joined = self.log_of("core").count("joined from node w1")
        self.start("w1")
        self.wait_up("w1")
        op.wait_for(lambda: self.log_of("core").count("joined from node w1")
                    > joined, 20, "w1's new listeners to join")
        more = self.make_events("k2", 2000)
        self.publish(more)
        effects = self.wait_effects(self.expected_of(more))
        nodes = set()
        for e in more[::20]:
            for g in self.event(e["id"])["groups"]:
                nodes.update(a["node"] for a in g["attempts"])
        self.assertIn("w1", nodes)

    def test_a_frozen_worker_is_found_by_heartbeats(self):
        self.start_all()
        w1 = self.nodes["w1"]
        os.kill(w1.proc.pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            op.wait_for(lambda: not self.node_view("w1")["up"], 15,
                        "the core to see the frozen w1 down")
            # connection-timeout is 1.5 s: noticed within a few seconds.
            self.assertLess(time.monotonic() - t0, 8)
            # The others carry on meanwhile.
            events = self.make_events("s", 500)
            self.publish(events)
            effects = self.wait_effects(self.expected_of(events))
            self.assertEqual({k: n for k, n in effects.items() if n != 1}, {})
        finally:
            os.kill(w1.proc.pid, signal.SIGCONT)
        self.wait_up("w1", timeout=30)

    def test_a_peer_down_at_start_is_reported_and_joins_later(self):
        self.start("core")
        self.start("w2")
        self.wait_up("w2")
        view = self.node_view("w1")
        self.assertFalse(view["up"])
        self.assertIn("connect", view["error"])
        events = self.make_events("late", 200)
        self.publish(events)
        self.start("w1")
        self.wait_up("w1")
        effects = self.wait_effects(self.expected_of(events))
        self.assertEqual({k: n for k, n in effects.items() if n != 1}, {})

    def test_something_else_on_a_peer_port_is_reported(self):
        # w1's port is held by a TCP server that is not onceflow.
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.ports["w1"]))
        srv.listen(16)
        stop = threading.Event()

        def serve():
            srv.settimeout(0.2)
            while not stop.is_set():
                try:
                    c, _ = srv.accept()
                    c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                    c.close()
                except OSError:
                    pass
        th = threading.Thread(target=serve, daemon=True)
        th.start()
        try:
            self.start("core")
            self.start("w2")
            self.wait_up("w2")
            op.wait_for(lambda: self.node_view("w1")["error"] != "", 15,
                        "an error for w1")
            self.assertFalse(self.node_view("w1")["up"])
            self.assertTrue(self.nodes["core"].alive())
        finally:
            stop.set()
            th.join()
            srv.close()

    def test_bad_cluster_configs_fail_at_start(self):
        r = op.run(op.BINARY, "node", "--config", self.cfg,
                   "--node.name=nope")
        self.assertEqual(r.returncode, 2)
        self.assertIn("node.name 'nope' is not a node of the cluster config "
                      "(its nodes: core, w1, w2)", r.stderr)
        r = op.run(op.BINARY, "node", "--config", self.cfg)
        self.assertEqual(r.returncode, 2)
        self.assertIn("start each node with --node.name=NAME", r.stderr)
        self.write_config(extra_nodes=f"""
[nodes.w3]
role="worker"
port={self.ports["w1"]}
listeners=["orders:1"]
""")
        r = op.run(op.BINARY, "node", "--config", self.cfg, "--node.name=w3")
        self.assertEqual(r.returncode, 2)
        self.assertIn("options 'nodes.w1.port' and 'nodes.w3.port' both use",
                      r.stderr)

    def test_the_example_cluster_config_runs(self):
        """config/cluster.ini as shipped, its ports moved to free ones (the
        same overrides on every node: each needs its peers' addresses)."""
        example = os.path.join(op.CONFIG_DIR, "cluster.ini")
        http = op.free_port()
        moved = [f"--nodes.core-1.port={op.free_port()}",
                 f"--nodes.core-1.http-port={http}",
                 f"--nodes.worker-1.port={op.free_port()}",
                 f"--nodes.worker-2.port={op.free_port()}",
                 f"--node.data-dir={os.path.join(self.dir, 'data')}"]
        self.cfg = example
        self.http = http
        for name in ("core-1", "worker-1", "worker-2"):
            self.start(name, *moved)
        self.wait_up("worker-1", "worker-2")
        op.wait_for(lambda: self.log_of("core-1").count("joined from node")
                    >= 3, 20, "the workers' listeners to join")
        events = self.make_events("x", 300)
        path = op.write_events(os.path.join(self.dir, "x.jsonl"), events)
        r = op.run(op.BINARY, "publish", "--config", example, "--file", path,
                   *moved[:2])
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr)
        effects = self.wait_effects(self.expected_of(events))
        self.assertEqual({k: n for k, n in effects.items() if n != 1}, {})

    def listeners(self, group):
        s = op.node_status(op.BINARY, self.cfg) or {}
        return (s.get(f"groups.{group}.listeners", -1),
                s.get(f"groups.{group}.remote-listeners", -1))

    def http_call(self, method, path, body=None):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_listeners_are_added_and_removed_under_load(self):
        self.start_all()
        # orders: 2 on w1, 2 on w2; audit: 1 on the core, 1 on w2.
        op.wait_for(lambda: self.listeners("orders") == (4, 4), 20,
                    "the workers' orders listeners")
        events = self.make_events("l", 6000)
        t = threading.Thread(target=self.publish, args=(events,))
        t.start()
        op.wait_for(lambda: len(op.count_effects(self.db)) > 300
                    if os.path.exists(self.db) else False, 60,
                    "work to start")
        # Two more on w1, through the CLI (it talks to the core, which
        # forwards the change to w1's node manager).
        r = op.run(op.BINARY, "listeners", "add", "--config", self.cfg,
                   "--group", "orders", "--node", "w1", "--count", "2")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("group orders on node w1: 4 listener(s)", r.stdout)
        op.wait_for(lambda: self.listeners("orders") == (6, 6), 5,
                    "w1's new listeners to join within seconds")
        # GET /cluster lists every node's actors with their status.
        actors = self.cluster()["actors"]
        w1 = [a for a in actors if a["node"] == "w1"
              and a["kind"] == "listener" and a.get("group") == "orders"]
        self.assertEqual(len(w1), 4, actors)
        for a in w1:
            self.assertEqual(a["serves"], "core")
            self.assertIn("mailbox", a["status"]["listener"])
            self.assertIn("batches", a["status"]["listener"])
        core = {a["kind"]: a for a in actors if a["node"] == "core"}
        self.assertIn("mailbox", core["broadcaster"]["status"]["broadcaster"])
        self.assertIn("audit",
                      {a.get("group") for a in actors if a["node"] == "w2"})
        # w2's orders listeners removed (HTTP), one more on the core.
        status, doc = self.http_call(
            "DELETE", "/groups/orders/listeners?node=w2&count=2")
        self.assertEqual((status, doc), (200, {"group": "orders",
                                               "node": "w2",
                                               "listeners": 0}))
        status, doc = self.http_call("POST", "/groups/audit/listeners",
                                     {"node": "core", "count": 1})
        self.assertEqual((status, doc), (200, {"group": "audit",
                                               "node": "core",
                                               "listeners": 2}))
        op.wait_for(lambda: self.listeners("orders") == (4, 4), 10,
                    "w2's orders listeners to stop after their batch")
        self.assertEqual(self.listeners("audit"), (3, 1))
        t.join(600)
        expected = self.expected_of(events)
        effects = self.wait_effects(expected)
        self.assertEqual(set(effects), expected)
        self.assertEqual({k: n for k, n in effects.items() if n != 1}, {})
        # Nothing was handed back as a crash: the removed listeners finished
        # their batches.
        crashed = []
        for e in events[::30]:
            for g in self.event(e["id"])["groups"]:
                crashed += [(e["id"], g["group"]) for a in g["attempts"]
                            if a["outcome"] == "crashed"]
        self.assertEqual(crashed, [])
        # Later work on orders runs on w1 only.
        more = self.make_events("m", 400)
        self.publish(more)
        self.wait_effects(self.expected_of(more))
        nodes = set()
        for e in more[::10]:
            for g in self.event(e["id"])["groups"]:
                if g["group"] == "orders":
                    nodes.update(a["node"] for a in g["attempts"])
        self.assertEqual(nodes, {"w1"})
        # Clear errors.
        r = op.run(op.BINARY, "listeners", "add", "--config", self.cfg,
                   "--group", "orders", "--node", "w9", "--count", "1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown_node: no node named 'w9' in the cluster config",
                      r.stdout)
        status, doc = self.http_call("POST", "/groups/nope/listeners",
                                     {"node": "w1", "count": 1})
        self.assertEqual(status, 404)
        self.assertIn("no group named 'nope'", doc["error"])
        status, doc = self.http_call("POST", "/groups/orders/listeners",
                                     {"node": "w1", "count": 0})
        self.assertEqual(status, 400)
        r = op.run(op.BINARY, "listeners", "drop", "--config", self.cfg,
                   "--group", "orders", "--count", "1")
        self.assertEqual(r.returncode, 2)
        self.assertIn("say add or remove", r.stderr)

    def test_a_node_of_another_schema_is_refused(self):
        # w1 speaks another message schema (as another onceflow version
        # would): CAF refuses the connection, both sides say why, and none
        # of its listeners join the core.
        self.start("core")
        self.start("w2")
        self.wait_up("w2")
        log = os.path.join(self.dir, "w1.log")
        self.nodes["w1"] = op.Node(op.BINARY, self.cfg, log,
                                   ("--node.name=w1",),
                                   env={"OF_TEST_SCHEMA_SALT": "v2"})
        op.wait_for(lambda: "another message schema"
                    in self.node_view("w1")["error"], 20,
                    "the core to refuse w1's schema")
        view = self.node_view("w1")
        self.assertFalse(view["up"])
        self.assertIn("run the same onceflow version on every node",
                      view["error"])
        op.wait_for(lambda: "another message schema" in self.log_of("w1"),
                    20, "w1 to say why the core refused it")
        events = self.make_events("sch", 100)
        self.publish(events)
        effects = self.wait_effects(self.expected_of(events))
        self.assertEqual({k: n for k, n in effects.items() if n != 1}, {})
        self.assertNotIn("joined from node w1", self.log_of("core"))
        self.assertTrue(self.nodes["core"].alive())
        self.assertTrue(self.nodes["w1"].alive())

    def test_a_worker_takes_no_events(self):
        self.start_all()
        r = op.run(op.BINARY, "publish", "--config", self.cfg,
                   "--node.name=w1", "--type", "order.created",
                   "--payload", "{}")
        self.assertEqual(r.returncode, 1)
        self.assertIn("this node is a worker", r.stdout)


class Certificates:
    """A CA and certificates it signs, made with the `openssl` command in
    `directory` (EC P-256 keys: fast)."""

    def __init__(self, directory, name):
        self.dir = directory
        self.name = name
        self.ca = self.path("ca.pem")
        self.ca_key = self.path("ca.key")
        self.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                     self.ca_key, "-out", self.ca, "-days", "2", "-subj",
                     f"/CN=onceflow test CA {name}")

    def path(self, file):
        return os.path.join(self.dir, f"{self.name}-{file}")

    @staticmethod
    def openssl(*args):
        r = subprocess.run(["openssl", *args], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"openssl {args[0]}: {r.stderr}")

    def issue(self, cn, passphrase=None):
        """A certificate for `cn` and its key: (certificate, key) paths;
        the key encrypted with `passphrase` if given."""
        key, csr, cert = (self.path(f"{cn}.{x}") for x in ("key", "csr",
                                                            "pem"))
        self.openssl("req", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                     "-out", csr, "-subj", f"/CN={cn}")
        self.openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey",
                     self.ca_key, "-CAcreateserial", "-out", cert, "-days",
                     "2")
        if passphrase is not None:
            enc = self.path(f"{cn}.enc.key")
            self.openssl("pkey", "-in", key, "-aes256", "-passout",
                         f"pass:{passphrase}", "-out", enc)
            key = enc
        return cert, key


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command "
                     "(scripts/install-deps.sh installs it)")
class TlsTest(ClusterBase):
    """Mutual TLS between the nodes ([cluster] tls-*): the cluster's CA
    signs a certificate per node and one for the CLI (the config's own
    [cluster] tls-cert-file); a node with a certificate of another CA, or
    without TLS, cannot join, and both sides say why."""

    def setUp(self):
        d = tempfile.mkdtemp(prefix="onceflow-tls-")
        self.certs_dir = d
        self.ca = Certificates(d, "cluster")
        self.rogue = Certificates(d, "rogue")
        self.client = self.ca.issue("operator")
        self.node_certs = {n: self.ca.issue(n) for n in ("core", "w1", "w2")}
        super().setUp()

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.certs_dir, ignore_errors=True)

    def cluster_options(self):
        cert, key = self.client
        return (f'tls-ca-file="{self.ca.ca}"\ntls-cert-file="{cert}"\n'
                f'tls-key-file="{key}"')

    @staticmethod
    def tls_args(cert_key, ca=None):
        cert, key = cert_key
        args = [f"--cluster.tls-cert-file={cert}",
                f"--cluster.tls-key-file={key}"]
        if ca:
            args.append(f"--cluster.tls-ca-file={ca}")
        return args

    def start_tls(self, name):
        return self.start(name, *self.tls_args(self.node_certs[name]))

    def plain_config(self):
        """The same cluster without TLS."""
        path = os.path.join(self.dir, "plain.ini")
        with open(self.cfg) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write("\n".join(line for line in text.splitlines()
                              if not line.startswith("tls-")))
        return path

    def test_a_cluster_over_tls_runs_events_on_the_workers(self):
        for name in ("core", "w1", "w2"):
            self.start_tls(name)
        self.wait_up("w1", "w2")
        op.wait_for(lambda: self.log_of("core").count("joined from node")
                    >= 3, 20, "the workers' listeners to join")
        self.assertIn("mutual TLS on", self.log_of("w1"))
        # The CLI talks TLS with its own certificate of the cluster's CA.
        events = self.make_events("tls", 300)
        self.publish(events)
        effects = self.wait_effects(self.expected_of(events))
        self.assertEqual({k: n for k, n in effects.items() if n != 1}, {})
        # Only the workers run `orders` listeners: they did that work.
        self.assertIn(("orders", "tls-0"), effects)
        r = op.run(op.BINARY, "status", "--config", self.cfg)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # A client without TLS gets no answer, and a hint.
        r = op.run(op.BINARY, "status", "--config", self.plain_config())
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot reach node", r.stdout)
        self.assertIn("tls-*", r.stdout)
        # Nor does a client with a certificate of another CA.
        r = op.run(op.BINARY, "status", "--config", self.cfg,
                   *self.tls_args(self.rogue.issue("intruder"),
                                  self.rogue.ca))
        self.assertEqual(r.returncode, 1)
        self.assertIn("TLS: the peer's certificate does not verify", r.stdout)

    def test_nodes_without_a_certificate_of_the_cluster_ca_cannot_join(self):
        self.start_tls("core")
        self.start_tls("w2")
        self.wait_up("w2")
        # w1 has a CA and a certificate of its own: its peers refuse its
        # certificate, and it refuses theirs.
        self.start("w1", *self.tls_args(self.rogue.issue("w1"),
                                        self.rogue.ca))
        op.wait_for(lambda: "TLS: the peer's certificate does not verify "
                    "against this node's CA" in self.node_view("w1")["error"],
                    20, "the core to say why w1 is down")
        self.assertFalse(self.node_view("w1")["up"])
        op.wait_for(lambda: "TLS: the peer's certificate does not verify "
                    "against this node's CA" in self.log_of("w1"), 20,
                    "w1 to say why it cannot join")
        events = self.make_events("rogue", 100)
        self.publish(events)
        effects = self.wait_effects(self.expected_of(events))
        self.assertEqual({k: n for k, n in effects.items() if n != 1}, {})
        self.assertNotIn("joined from node w1", self.log_of("core"))
        self.assertTrue(self.nodes["w1"].alive())
        # w1 without TLS: the core's TLS port does not talk to it.
        self.nodes["w1"].close()
        log = os.path.join(self.dir, "w1-plain.log")
        self.nodes["w1"] = op.Node(op.BINARY, self.plain_config(), log,
                                   ("--node.name=w1",))
        op.wait_for(lambda: "does not speak TLS"
                    in self.node_view("w1")["error"], 20,
                    "the core to say w1 speaks no TLS")
        op.wait_for(lambda: "tls-* options on this node too"
                    in self.log_of("w1-plain"), 20,
                    "w1 without TLS to say why")
        self.assertFalse(self.node_view("w1")["up"])
        self.assertNotIn("joined from node w1", self.log_of("core"))
        self.assertTrue(self.nodes["core"].alive())

    def test_bad_tls_files_fail_at_start(self):
        def start(*args):
            return op.run(op.BINARY, "node", "--config", self.cfg,
                          "--node.name=w1", *args)
        cert, key = self.node_certs["w1"]
        r = start("--cluster.tls-key-file=")
        self.assertEqual(r.returncode, 2)
        self.assertIn("option 'cluster.tls-key-file' is required with TLS on",
                      r.stderr)
        missing = os.path.join(self.certs_dir, "missing.pem")
        r = start(f"--cluster.tls-cert-file={missing}")
        self.assertEqual(r.returncode, 2)
        self.assertIn(f"option 'cluster.tls-cert-file': cannot read file "
                      f"'{missing}'", r.stderr)
        # A certificate of another CA than the cluster's.
        r = start(*self.tls_args(self.rogue.issue("w1")))
        self.assertEqual(r.returncode, 2)
        self.assertIn("does not verify against the CA in", r.stderr)
        # A key that is not the certificate's.
        r = start(f"--cluster.tls-cert-file={cert}",
                  f"--cluster.tls-key-file={self.node_certs['w2'][1]}")
        self.assertEqual(r.returncode, 2)
        self.assertIn("does not belong to the certificate", r.stderr)
        # A file that holds no certificate.
        r = start(f"--cluster.tls-ca-file={key}")
        self.assertEqual(r.returncode, 2)
        self.assertIn("option 'cluster.tls-ca-file': cannot load CA "
                      "certificates", r.stderr)
        # An encrypted key: without its passphrase, with a wrong one.
        enc = self.ca.issue("w1-enc", passphrase="s3cret")
        r = start(*self.tls_args(enc))
        self.assertEqual(r.returncode, 2)
        self.assertIn("an encrypted one without cluster.tls-key-passphrase",
                      r.stderr)
        r = start(*self.tls_args(enc), "--cluster.tls-key-passphrase=wrong")
        self.assertEqual(r.returncode, 2)
        self.assertIn("a wrong cluster.tls-key-passphrase", r.stderr)
        # With the right one the files pass (the CLI then finds no node).
        r = op.run(op.BINARY, "status", "--config", self.cfg,
                   *self.tls_args(enc), "--cluster.tls-key-passphrase=s3cret")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("cannot reach node", r.stdout)


def have_netns():
    return (os.geteuid() == 0 and shutil.which("ip") is not None
            and shutil.which("nft") is not None)


@unittest.skipUnless(have_netns(), "needs root, ip (iproute2) and nft "
                     "(nftables): scripts/install-deps.sh installs them")
class NetworkCutTest(ClusterBase):
    """w1 runs in a network namespace of its own, joined to the host by a
    veth pair; an nft rule in the namespace drops every packet (a network
    cut: no FIN, no RST, the sockets stay open). The core finds w1 down by
    heartbeats, the others carry on, w1's entries run elsewhere at the DOWN
    (their leases revoked); after the cut heals w1 rejoins and gets work again. Every
    effect exactly once, counted from the store."""
    NET = f"10.{200 + os.getpid() % 50}.{os.getpid() % 250}"
    HOSTS = {"core": f"{NET}.1", "w2": f"{NET}.1", "w1": f"{NET}.2"}

    def sh(self, *cmd):
        r = subprocess.run(cmd, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, f"{cmd}: {r.stderr}")

    def setUp(self):
        tag = f"of{os.getpid() % 100000}"
        self.ns, self.vh, self.vw = tag, tag + "h", tag + "w"
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        self.sh("ip", "netns", "add", self.ns)
        self.sh("ip", "link", "add", self.vh, "type", "veth", "peer", "name",
                self.vw)
        self.sh("ip", "link", "set", self.vw, "netns", self.ns)
        self.sh("ip", "addr", "add", f"{self.NET}.1/24", "dev", self.vh)
        self.sh("ip", "link", "set", self.vh, "up")
        inside = ["ip", "netns", "exec", self.ns]
        self.sh(*inside, "ip", "addr", "add", f"{self.NET}.2/24", "dev",
                self.vw)
        self.sh(*inside, "ip", "link", "set", self.vw, "up")
        self.sh(*inside, "ip", "link", "set", "lo", "up")
        super().setUp()
        self.wrapper = os.path.join(self.dir, "in-netns.sh")
        with open(self.wrapper, "w") as f:
            f.write(f'#!/bin/sh\nexec ip netns exec {self.ns} '
                    f'{os.path.abspath(op.BINARY)} "$@"\n')
        os.chmod(self.wrapper, 0o755)

    def tearDown(self):
        super().tearDown()
        subprocess.run(["ip", "link", "del", self.vh], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)

    def binary_of(self, name):
        return self.wrapper if name == "w1" else op.BINARY

    def cut(self):
        inside = ["ip", "netns", "exec", self.ns, "nft"]
        self.sh(*inside, "add", "table", "inet", "cut")
        for hook in ("input", "output"):
            self.sh(*inside, "add", "chain", "inet", "cut", hook,
                    f"{{ type filter hook {hook} priority 0; policy drop; }}")
        # Loopback inside the namespace stays.
        self.sh(*inside, "insert", "rule", "inet", "cut", "input", "iif",
                "lo", "accept")
        self.sh(*inside, "insert", "rule", "inet", "cut", "output", "oif",
                "lo", "accept")

    def heal(self):
        self.sh("ip", "netns", "exec", self.ns, "nft", "delete", "table",
                "inet", "cut")

    def test_a_cut_worker_is_found_and_its_work_runs_elsewhere(self):
        self.start_all()
        events = self.make_events("c", 6000)
        t = threading.Thread(target=self.publish, args=(events,))
        t.start()
        op.wait_for(lambda: len(op.count_effects(self.db)) > 300
                    if os.path.exists(self.db) else False, 60,
                    "work to start")
        self.cut()
        cut_at = time.monotonic()
        op.wait_for(lambda: not self.node_view("w1")["up"], 15,
                    "the core to see the cut w1 down")
        noticed = time.monotonic() - cut_at
        t.join(600)
        # Everything runs during the cut: at the DOWN w1's entries go to w2,
        # their leases revoked.
        expected = self.expected_of(events)
        effects = self.wait_effects(expected, timeout=120)
        self.assertEqual(set(effects), expected)
        self.assertEqual({k: n for k, n in effects.items() if n != 1}, {})
        # connection-timeout is 1.5 s: noticed within a few seconds.
        self.assertLess(noticed, 10)
        self.assertTrue(self.nodes["w1"].alive())
        self.heal()
        self.wait_up("w1", timeout=30)
        joined = self.log_of("core").count("joined from node w1")
        op.wait_for(lambda: self.log_of("core").count("joined from node w1")
                    >= joined, 20, "w1's listeners to join again")
        more = self.make_events("c2", 2000)
        self.publish(more)
        effects = self.wait_effects(self.expected_of(events + more))
        self.assertEqual({k: n for k, n in effects.items() if n != 1}, {})
        nodes = set()
        for e in more[::20]:
            for g in self.event(e["id"])["groups"]:
                nodes.update(a["node"] for a in g["attempts"])
        self.assertIn("w1", nodes)


if __name__ == "__main__":
    op.main()
