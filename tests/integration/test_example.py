"""The C++ API from the outside (issue 18, docs/handlers.md): onceflow is
installed from the build (`cmake --install`) into a temporary prefix, the
examples are built against that installed package (find_package, and
pkg-config), and run: `orders` as a single node and as a worker of a
cluster, fed by `publisher` (the C++ client). Its handler's effects are
counted in its ledger file: each order exactly once; flaky orders retried
as configured, a bad one in the DLQ; an unknown handler option refused."""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import onceflow_proc as op  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Set up once for the class: the prefix and the examples built against it.
PREFIX = None
EXAMPLES = None
WORK = None


def sh(*args, env=None, timeout=600):
    r = subprocess.run(list(args), capture_output=True, text=True, env=env,
                       timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({r.returncode}):\n"
                             f"{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return r


def ini_map(options):
    """A handler's options as the INI map `{key = value, ...}`."""
    return "{" + ", ".join(f"{k} = {v}" for k, v in options.items()) + "}"


def install_and_build():
    global PREFIX, EXAMPLES, WORK
    if PREFIX:
        return
    WORK = tempfile.mkdtemp(prefix="onceflow-example-")
    PREFIX = os.path.join(WORK, "prefix")
    build = os.path.dirname(op.BINARY)
    sh("cmake", "--install", build, "--prefix", PREFIX)
    EXAMPLES = os.path.join(WORK, "examples")
    sh("cmake", "-S", os.path.join(ROOT, "examples"), "-B", EXAMPLES,
       f"-DCMAKE_PREFIX_PATH={PREFIX}", "-DCMAKE_BUILD_TYPE=Debug")
    sh("cmake", "--build", EXAMPLES, "-j2")


class Installed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        install_and_build()

    def test_the_package_holds_binary_library_headers_and_configs(self):
        for rel in ["bin/onceflow", "include/onceflow/onceflow.hpp",
                    "lib/cmake/onceflow/onceflowConfig.cmake",
                    "lib/cmake/onceflow/onceflowTargets.cmake",
                    "lib/pkgconfig/onceflow.pc"]:
            self.assertTrue(os.path.exists(os.path.join(PREFIX, rel)), rel)
        self.assertTrue(glob.glob(os.path.join(PREFIX, "lib",
                                               "libonceflow.so*")))
        # No build-tree path leaks into the installed package.
        for f in glob.glob(os.path.join(PREFIX, "lib", "cmake", "onceflow",
                                        "*.cmake")):
            with open(f) as fh:
                self.assertNotIn(ROOT + "/", fh.read(), f)

    def test_every_public_header_compiles_on_its_own(self):
        inc = os.path.join(PREFIX, "include")
        headers = glob.glob(os.path.join(inc, "onceflow", "**", "*.hpp"),
                            recursive=True)
        self.assertGreaterEqual(len(headers), 8)
        tu = os.path.join(WORK, "one_header.cpp")
        for h in headers:
            with open(tu, "w") as fh:
                fh.write(f'#include "{h}"\n')
            sh("c++", "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra",
               "-Werror", f"-I{inc}", f"-I{inc}/onceflow", tu)
            with open(h) as fh:
                self.assertNotIn("<caf/", fh.read(), h)

    def test_pkg_config_builds_the_publisher(self):
        env = dict(os.environ,
                   PKG_CONFIG_PATH=os.path.join(PREFIX, "lib", "pkgconfig"))
        flags = sh("pkg-config", "--cflags", "--libs", "onceflow",
                   env=env).stdout.split()
        out = os.path.join(WORK, "publisher-pc")
        sh("c++", os.path.join(ROOT, "examples", "publisher", "main.cpp"),
           *flags, "-o", out)
        # Linked against the installed library, which it finds by path.
        env["LD_LIBRARY_PATH"] = os.path.join(PREFIX, "lib")
        r = subprocess.run([out], capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: publisher", r.stderr)


class Orders(op.KeepLogsOnFailure, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        install_and_build()

    def setUp(self):
        self.t0 = time.monotonic()
        self.dir = tempfile.mkdtemp(prefix="onceflow-orders-")
        self.orders = os.path.join(EXAMPLES, "orders")
        self.publisher = os.path.join(EXAMPLES, "publisher")
        self.ledger = os.path.join(self.dir, "ledger.txt")
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.close()
        super().tearDown()

    def group(self, **extra):
        return {"handler": '"charge"', "subscriptions": '["order.*"]',
                "max-attempts": 3, "retry-base": "100ms", "jitter": "false",
                **extra}

    def single_config(self, options):
        self.port, self.http = op.free_port(), op.free_port()
        cfg = os.path.join(self.dir, "orders.ini")
        op.write_ini(cfg, {
            "node": {"name": '"orders-1"', "host": '"127.0.0.1"',
                     "port": self.port, "data-dir": f'"{self.dir}/data"'},
            "http": {"port": self.http},
            "groups.orders": self.group(concurrency=2,
                                        options=ini_map(options)),
        })
        return cfg

    def ledger_ids(self):
        if not os.path.exists(self.ledger):
            return []
        with open(self.ledger) as f:
            return [line.split()[0] for line in f if line.strip()]

    def event(self, eid):
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http}/events/{eid}") as r:
            return json.load(r)

    def publish(self, cfg, *args):
        return subprocess.run([self.publisher, "--config", cfg, *args],
                              capture_output=True, text=True, timeout=120,
                              env=op.node_env())

    def test_a_single_node_charges_each_order_once(self):
        cfg = self.single_config({"ledger-file": f'"{self.ledger}"',
                                  "max-amount": 500})
        node = op.Node(self.orders, cfg, os.path.join(self.dir, "node.log"))
        self.nodes.append(node)
        node.wait_ready()
        # 30 orders of 10..300; every 7th fails its first two attempts.
        r = self.publish(cfg, "--count", "30", "--flaky", "7")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count(" accepted"), 30, r.stdout)
        # Over max-amount: a permanent failure, straight to the DLQ.
        bad = op.run(self.orders, "publish", "--config", cfg, "--type",
                     "order.created", "--id", "order-big", "--payload",
                     '{"amount": 900}')
        self.assertEqual(bad.returncode, 0, bad.stdout + bad.stderr)
        op.wait_for(lambda: len(self.ledger_ids()) >= 30, 60,
                    "30 orders in the ledger")
        op.wait_for(lambda: self.event("order-big")["status"] == "dead", 30,
                    "order-big in the DLQ")
        # Published again: duplicates, nothing charged twice.
        again = self.publish(cfg, "--count", "30", "--flaky", "7")
        self.assertEqual(again.stdout.count(" duplicate"), 30, again.stdout)
        for i in (7, 14, 21, 28):
            ev = self.event(f"order-{i}")
            attempts = ev["groups"][0]["attempts"]
            self.assertEqual([a["outcome"] for a in attempts],
                             ["retryable", "retryable", "success"], ev)
            self.assertEqual(attempts[0]["error"],
                             "payment service unavailable")
        big = self.event("order-big")["groups"][0]["attempts"]
        self.assertEqual([a["outcome"] for a in big], ["permanent"])
        self.assertIn("max-amount", big[0]["error"])
        # A restart reads the ledger back: still one charge per order.
        self.assertEqual(node.terminate(), 0)
        node = op.Node(self.orders, cfg, os.path.join(self.dir, "node2.log"))
        self.nodes.append(node)
        node.wait_ready()
        ids = self.ledger_ids()
        self.assertEqual(sorted(ids),
                         sorted(f"order-{i}" for i in range(1, 31)))

    def assert_refused(self, options, message):
        """`orders node` with these handler options exits 2 saying
        `message`."""
        cfg = self.single_config(options)
        r = op.run(self.orders, "node", "--config", cfg, timeout=60)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn(message, r.stderr)

    def test_an_unknown_handler_option_is_refused(self):
        self.assert_refused(
            {"leger-file": f'"{self.ledger}"'},
            "unknown option 'groups.orders.options.leger-file': handler "
            "\"charge\" takes these: ledger-file, max-amount")

    def test_a_bad_handler_option_value_is_refused(self):
        self.assert_refused(
            {"ledger-file": f'"{self.ledger}"', "max-amount": '"lots"'},
            "handler \"charge\" of group 'orders' could not be created: "
            "max-amount must be a positive number (got 'lots')")

    def test_orders_runs_as_a_worker_of_a_cluster(self):
        core_port, w_port, http = (op.free_port(), op.free_port(),
                                   op.free_port())
        self.http = http
        cfg = os.path.join(self.dir, "cluster.ini")
        op.write_ini(cfg, {
            "cluster": {"heartbeat-interval": "500ms",
                        "connection-timeout": "3s"},
            "nodes.core": {"role": '"core"', "host": '"127.0.0.1"',
                           "port": core_port, "http-port": http},
            "nodes.w1": {"role": '"worker"', "host": '"127.0.0.1"',
                         "port": w_port, "listeners": '["orders:2"]'},
            "node": {"data-dir": f'"{self.dir}/data"'},
            "groups.orders": self.group(
                options=ini_map({"ledger-file": f'"{self.ledger}"'})),
        })
        # The core is the plain onceflow binary: it runs no charge listener.
        core = op.Node(op.BINARY, cfg, os.path.join(self.dir, "core.log"),
                       extra=["--node.name=core"])
        self.nodes.append(core)
        core.wait_ready()
        worker = op.Node(self.orders, cfg, os.path.join(self.dir, "w1.log"),
                         extra=["--node.name=w1"])
        self.nodes.append(worker)
        r = self.publish(cfg, "--count", "20", "--flaky", "5")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        op.wait_for(lambda: len(self.ledger_ids()) >= 20, 60,
                    "20 orders in the ledger")
        ids = self.ledger_ids()
        self.assertEqual(sorted(ids),
                         sorted(f"order-{i}" for i in range(1, 21)))
        ev = self.event("order-5")
        self.assertEqual(ev["status"], "processed")
        self.assertTrue(all(a["node"] == "w1"
                            for a in ev["groups"][0]["attempts"]), ev)


def tearDownModule():
    if WORK:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    op.main()
