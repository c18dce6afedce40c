"""Real `onceflow node` processes on a real `redis-server`: configuration and
connection errors.

- config/redis-node.ini as an operator would use it: two nodes from the
  same file share one Redis;
- bad input: unreachable Redis (with [redis] wait-at-start=false), wrong
  password, wrong-type key under the prefix: a clear error, exit code 1, no
  crash (the last two also when the node would wait for Redis).

Run: python3 tests/integration/test_redis_nodes_config.py
     --binary BUILD/onceflow [--config-dir config] [unittest args]
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import onceflow_proc as op  # noqa: E402
from redis_nodes import (TIME_SCALE, RedisNodesBase,  # noqa: E402
                         simple_config)


# -- the example cluster config ---------------------------------------------

class ExampleConfigTest(RedisNodesBase):
    """config/redis-node.ini, as an operator would use it: two nodes from
    the same file, each with its own name and ports, share one Redis."""
    GROUPS = {"orders": None, "audit": None}

    def node_from_example(self, name):
        with open(os.path.join(op.CONFIG_DIR, "redis-node.ini")) as f:
            text = f.read()
        for key, value in (("name", f'"{name}"'),
                           ("port", str(op.free_port())),
                           ("url", f'"{self.redis.url()}"'),
                           ("prefix", f'"{self.prefix}"')):
            text, n = re.subn(rf"^{key}=.*$", f"{key}={value}", text,
                              count=1, flags=re.M)
            self.assertEqual(n, 1, f"{key} not in the example")
        # The [http] port (the second port= line) on a free port too.
        text = re.sub(r"^port=8080$", "port=0", text, flags=re.M)
        path = os.path.join(self.dir, f"{name}.ini")
        with open(path, "w") as f:
            f.write(text)
        self.configs[name] = path
        return self.start_node(name)

    def test_two_nodes_from_the_example_config(self):
        self.start_redis(appendonly=False)
        for name in ("node-1", "node-2"):
            self.node_from_example(name)
        events = [{"id": f"ex-{i}", "type": "order.created" if i % 2 else
                   "user.seen", "payload": {"i": i}} for i in range(400)]
        jobs = [("node-1", events[:200], "one"), ("node-2", events[200:], "two")]
        for rc, lines in self.publish_many(jobs):
            self.assertEqual(rc, 0, lines[-5:])
            self.assertTrue(all(line.endswith(" accepted") for line in lines),
                            lines[:5])
        last = {}

        def done():
            c = last["c"] = self.counts()
            return (c["groups"]["orders"]["ledger"] == 200
                    and c["groups"]["audit"]["ledger"] == 400)
        op.wait_until(done, 60 * TIME_SCALE, "every effect of both groups",
                      progress=lambda: last.get("c"))
        recs = self.records("orders")
        self.assertEqual(sorted(r["i"] for r in recs.values()),
                         sorted(e["id"] for e in events
                                if e["type"] == "order.created"))
        self.assertEqual(self.dup_keys(), [])
        # Both nodes serve both groups of the example.
        for name in ("node-1", "node-2"):
            s = self.status(name)
            self.assertEqual(s.get("groups.orders.listeners"), 2, s)
            self.assertEqual(s.get("groups.audit.listeners"), 1, s)
        self.assert_alive()


# -- bad input ---------------------------------------------------------------

class BadInputTest(RedisNodesBase):
    GROUPS = {"work": simple_config(subscriptions='["*"]')}

    def run_node(self, cfg, *extra):
        # In the temp dir, so that a core file would land there.
        r = subprocess.run([op.BINARY, "node", "--config", cfg, *extra],
                           capture_output=True, text=True, timeout=60,
                           cwd=self.dir, env=op.node_env())
        self.assertGreaterEqual(r.returncode, 0,
                                f"killed by signal {-r.returncode}: "
                                f"{r.stderr[-2000:]}")
        for marker in ("AddressSanitizer", "runtime error", "terminate called",
                       "Segmentation fault"):
            self.assertNotIn(marker, r.stderr)
        return r

    def assert_no_core(self):
        cores = [f for f in os.listdir(self.dir) if f.startswith("core")]
        self.assertEqual(cores, [])

    def test_unreachable_redis(self):
        """With [redis] wait-at-start=false: exit 1 at once. (By default
        the node waits for Redis: test_redis_node_start.py.)"""
        port = op.free_port()
        cfg = self.config_for("node-1", url=f"redis://127.0.0.1:{port}/0")
        t = time.monotonic()
        r = self.run_node(cfg, "--redis.wait-at-start=false")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"cannot open the redis store: redis://127.0.0.1:"
                      f"{port}: connection refused", r.stderr)
        self.assertLess(time.monotonic() - t, 30)
        self.assert_no_core()

    def test_wrong_password(self):
        self.start_redis(appendonly=False, password="s3cret")
        cfg = self.config_for("node-1", url=self.redis.url(password="nope"))
        r = self.run_node(cfg)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("authentication failed", r.stderr)
        self.assertIn("WRONGPASS", r.stderr)
        self.assertNotIn("nope", r.stderr, "the password is printed")
        # No password at all: told that one is needed.
        cfg = self.config_for("node-2", url=self.redis.url(password=""))
        r = self.run_node(cfg)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("authentication required", r.stderr)
        # The right one works.
        cfg = self.config_for("node-3")
        self.start_node("node-3")
        self.assertEqual(self.nodes["node-3"].terminate(), 0)
        self.assert_no_core()

    def test_wrong_type_key_under_the_prefix(self):
        self.start_redis(appendonly=False)
        self.redis.cli("SET", f"{self.prefix}groups", "x")
        cfg = self.config_for("node-1")
        r = self.run_node(cfg)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"key '{self.prefix}groups' holds a string, expected a "
                      "hash (WRONGTYPE)", r.stderr)
        # A per-group key of a group registered by an earlier run.
        self.redis.cli("DEL", f"{self.prefix}groups")
        self.start_node("node-1")
        self.assertEqual(self.nodes["node-1"].terminate(), 0)
        self.redis.cli("SET", f"{self.prefix}g:work:st", "oops")
        r = self.run_node(cfg)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"key '{self.prefix}g:work:st' holds a string, "
                      "expected a hash (WRONGTYPE)", r.stderr)
        # Another prefix on the same server is not affected.
        cfg = self.config_for("node-2", prefix=self.prefix + "other:")
        self.start_node("node-2")
        self.assertEqual(self.nodes["node-2"].terminate(), 0)
        self.assert_no_core()


if __name__ == "__main__":
    op.main()
