"""Real `onceflow node` processes on a real `redis-server`: how a node starts.

- Redis down at start: the node runs, /ready answers 503 naming Redis,
  publishing answers 503 (nothing refused is stored), and once Redis is up
  the node opens the store (logging the start-up warnings then), becomes
  ready and runs every event once; `[redis] wait-at-start=false` exits 1
  as before (test_redis_nodes_config.py, BadInputTest).
- The node name: a second live node of the same name on the same Redis and
  prefix is refused at start, naming the holder, and the first is unharmed;
  a node restarted after kill -9 takes its name back at once; a clean stop
  gives it back; of two nodes of one name that wait for Redis together,
  one stops once Redis is up, the other works.

Run: python3 tests/integration/test_redis_node_start.py
     --binary BUILD/onceflow [--config-dir config] [unittest args]
"""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import http_client as hc  # noqa: E402
import onceflow_proc as op  # noqa: E402
from redis_nodes import (TIME_SCALE, RedisNodesBase,  # noqa: E402
                         simple_config)


class EvictingRedis(op.RedisServer):
    """A redis-server with a memory limit and an evicting policy (the node
    warns about it when it opens the store)."""

    def argv(self):
        a = super().argv()
        return a[:-2] + ["--maxmemory", "100mb",
                         "--maxmemory-policy", "allkeys-lru"] + a[-2:]


class NodeStartBase(RedisNodesBase):
    GROUPS = {"work": simple_config(subscriptions='["*"]')}

    def setUp(self):
        super().setUp()
        self.http_ports = {}

    def config_for(self, name, groups=None, url=None, prefix=None,
                   node_name=None, **kw):
        """As RedisNodesBase's, with an HTTP port of its own and, with
        `node_name`, another [node] name than the config's `name`."""
        port = op.free_port()
        path = super().config_for(name, groups, url, prefix, http_port=port,
                                  **kw)
        self.http_ports[name] = port
        if node_name is not None:
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace(f'name="{name}"',
                                     f'name="{node_name}"', 1))
        return path

    def get(self, name, path):
        return hc.request(self.http_ports[name], "GET", path, timeout=10)

    def wait_alive(self, name):
        """/health answers 200 (the node runs; it may not be ready)."""
        n = self.nodes[name]

        def up():
            if not n.alive():
                raise AssertionError(f"{name} exited with "
                                     f"{n.proc.returncode}:\n"
                                     + op.tail(self.log_of(name), 3000))
            try:
                return self.get(name, "/health").status == 200
            except OSError:
                return False
        op.wait_for(up, 60 * TIME_SCALE, f"{name}'s /health")

    def wait_ready(self, name, timeout=30):
        last = {}

        def ready():
            r = last["r"] = self.get(name, "/ready")
            return r.status == 200
        return op.wait_until(ready, timeout * TIME_SCALE, f"{name}'s /ready "
                             "to answer 200", progress=lambda: last.get("r"))

    def log_of(self, name):
        return os.path.join(self.dir, f"{name}.log")

    def log_text(self, name):
        with open(self.log_of(name), errors="replace") as f:
            return f.read()

    def holder(self, name="node-1"):
        """The node name's claim in Redis (parsed), or None."""
        raw = self.redis.cli("GET", f"{self.prefix}node:{name}").stdout
        return json.loads(raw) if raw.strip() else None


class WaitForRedisTest(NodeStartBase):

    def test_a_node_started_while_redis_is_down_waits_for_it(self):
        redis = EvictingRedis(os.path.join(self.dir, "redis"),
                              os.path.join(self.dir, "redis-server.log"))
        self.redises.append(redis)
        self.redis = redis
        self.config_for("node-1")
        n = self.launch_node("node-1")
        self.wait_alive("node-1")
        r = self.get("node-1", "/ready")
        self.assertEqual(r.status, 503, r)
        # The store does not answer, so the groups cannot be registered.
        self.assertEqual(sorted(r.json["failed"]), ["groups", "store"], r)
        for check in ("store", "groups"):
            text = r.json["checks"][check]
            self.assertIn(f"waiting for Redis: redis://127.0.0.1:"
                          f"{redis.port}: connection refused", text)
        # Publishing is refused at once, Retry-After set; /health is fine.
        r = hc.request(self.http_ports["node-1"], "POST", "/events",
                       {"id": "early-1", "type": "job.a", "payload": {}},
                       timeout=20)
        self.assertEqual(r.status, 503, r)
        self.assertIsNotNone(r.header("Retry-After"), r)
        self.assertIn("store unavailable", r.json["error"])
        self.assertEqual(self.get("node-1", "/health").status, 200)
        log = self.log_text("node-1")
        self.assertIn(f"redis://127.0.0.1:{redis.port}: connection refused); "
                      "waiting for it ([redis] wait-at-start)", log)
        time.sleep(1)
        self.assertTrue(n.alive())

        redis.start()
        took = self.wait_ready("node-1")
        sys.stderr.write(f"\n    ready {took:.1f}s after Redis answered\n")
        log = self.log_text("node-1")
        self.assertIn("open: Redis answers", log)
        # The start-up checks of the late open: the eviction warning.
        self.assertIn("maxmemory-policy is allkeys-lru", log)
        self.assertEqual(self.holder()["pid"], n.proc.pid)
        events = [{"id": f"w-{i}", "type": "job.a", "payload": {"i": i}}
                  for i in range(50)]
        jobs = [("node-1", events, "after")]
        self.assert_all_accepted(self.publish_many(jobs), jobs)
        self.wait_processed({"work": 50}, 60)
        self.wait_quiet()
        self.assert_exactly_once({"work": {e["id"] for e in events}})
        # What was refused while waiting was never stored.
        r = self.get("node-1", "/events/early-1")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(n.terminate(), 0)
        # A clean stop gives the name back.
        self.assertIsNone(self.holder())


class NodeNameTest(NodeStartBase):

    def refused(self, r, holder_pid, name="node-1"):
        """Checks the refusal of a second node named `name`."""
        host = socket.gethostname()
        self.assertIn(f"node name '{name}' is held by a live node (host "
                      f"{host} pid {holder_pid}, since ", r)
        self.assertIn("give each node its own [node] name", r)

    def test_a_second_live_node_of_the_name_is_refused(self):
        self.start_redis(appendonly=False)
        self.config_for("node-1")
        first = self.start_node("node-1")
        self.config_for("twin", node_name="node-1")
        t = time.monotonic()
        r = op.run(op.BINARY, "node", "--config", self.configs["twin"],
                   timeout=120)
        sys.stderr.write(f"\n    refused after {time.monotonic() - t:.1f}s\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cannot open the redis store: ", r.stderr)
        self.refused(r.stderr, first.proc.pid)
        # Another name is fine, beside it.
        self.config_for("node-2")
        self.start_node("node-2")
        # The first is unharmed: its claim, its work.
        self.assertEqual(self.holder()["pid"], first.proc.pid)
        events = [{"id": f"n-{i}", "type": "job.a", "payload": {"i": i}}
                  for i in range(40)]
        jobs = [("node-1", events[:20], "one"), ("node-2", events[20:], "two")]
        self.assert_all_accepted(self.publish_many(jobs), jobs)
        self.wait_processed({"work": 40}, 60)
        self.wait_quiet()
        self.assert_exactly_once({"work": {e["id"] for e in events}})
        self.assert_alive("node-1", "node-2")

    def test_a_node_restarted_after_kill9_takes_its_name_back(self):
        self.start_redis(appendonly=False)
        self.config_for("node-1")
        old = self.start_node("node-1")
        old_pid = old.proc.pid
        old.kill9()
        self.assertEqual(self.holder()["pid"], old_pid)
        new = self.start_node("node-1")
        self.assertEqual(self.holder()["pid"], new.proc.pid)
        self.assertIn("took over node name 'node-1' from a process of this "
                      f"machine that is gone (host {socket.gethostname()} "
                      f"pid {old_pid}, since ", self.log_text("node-1"))
        # A clean stop gives the name back: the next start claims it anew.
        self.assertEqual(new.terminate(), 0)
        self.assertIsNone(self.holder())
        with open(self.log_of("node-1"), "a") as f:
            f.write("-- restart --\n")
        again = self.start_node("node-1")
        after = self.log_text("node-1").split("-- restart --")[-1]
        self.assertNotIn("took over", after)
        self.assertEqual(self.holder()["pid"], again.proc.pid)

    def test_of_two_nodes_waiting_for_redis_under_one_name_one_stops(self):
        self.redis = op.RedisServer(os.path.join(self.dir, "redis"),
                                    os.path.join(self.dir,
                                                 "redis-server.log"),
                                    appendonly=False)
        self.redises.append(self.redis)
        self.config_for("a")
        self.config_for("b", node_name="a")
        a = self.launch_node("a")
        b = self.launch_node("b")
        self.wait_alive("a")
        self.wait_alive("b")
        self.redis.start()
        op.wait_until(lambda: not a.alive() or not b.alive(),
                      60 * TIME_SCALE, "one of the two nodes named 'a' to "
                      "stop")
        lost, won = ("a", "b") if not a.alive() else ("b", "a")
        loser = self.nodes[lost]
        self.assertEqual(loser.proc.wait(10), 1)
        winner = self.nodes[won]
        log = self.log_text(lost)
        self.refused(log, winner.proc.pid, name="a")
        self.assertIn("stopping the node", log)
        self.wait_ready(won)
        self.assertEqual(self.holder("a")["pid"], winner.proc.pid)
        time.sleep(3)   # a few renewals later
        self.assertTrue(winner.alive())
        self.assertEqual(self.holder("a")["pid"], winner.proc.pid)


if __name__ == "__main__":
    op.main()
