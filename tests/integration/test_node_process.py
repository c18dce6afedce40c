"""Integration tests with real onceflow processes on the embedded store:
restart on the same data file keeps every accepted event (kill -9 while
work is in flight), each effect happens once, SIGTERM drains and exits 0,
bad config and bad input get clear errors."""

import json
import os
import sqlite3
import urllib.request
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import onceflow_proc as op  # noqa: E402


count_effects = op.count_effects


class NodeProcessTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.port = op.free_port()
        self.cfg = os.path.join(self.dir, "node.ini")
        self.db = os.path.join(self.dir, "data", "onceflow.db")
        self.log = os.path.join(self.dir, "node.log")
        self.addCleanup(self.dump_log_on_failure)
        self.nodes = []

    def dump_log_on_failure(self):
        if os.path.exists(self.log) and hasattr(self, "_outcome"):
            errors = [e for _, e in getattr(self._outcome, "errors", []) if e]
            if errors or not self._outcome.success:
                with open(self.log) as f:
                    sys.stderr.write("--- node log ---\n" + f.read()[-5000:])

    def tearDown(self):
        for n in self.nodes:
            n.close()
        self.tmp.cleanup()

    def start(self, *extra):
        n = op.Node(op.BINARY, self.cfg, self.log, extra)
        self.nodes.append(n)
        n.wait_ready()
        return n

    def publish_file(self, events):
        """Publishes with --verbose: one answer line per event."""
        path = op.write_events(os.path.join(self.dir, "events.jsonl"), events)
        return op.run(op.BINARY, "publish", "--config", self.cfg, "--file",
                      path, "--verbose")

    def test_restart_after_kill9_keeps_accepted_events(self):
        # Slow handlers: most events are still unprocessed at the kill.
        op.write_config(self.cfg, self.port, os.path.join(self.dir, "data"), {
            "orders": {"handler": '"simulate"', "concurrency": 2,
                       "subscriptions": '["order.*"]', "batch-size": 5,
                       "latency": "20ms", "lease-ttl": "2s"},
            "audit": {"handler": '"simulate"', "concurrency": 1,
                      "subscriptions": '["*"]', "batch-size": 5,
                      "latency": "20ms", "lease-ttl": "2s"},
        })
        node = self.start()
        events = [{"id": f"ev-{i}", "type": "order.created" if i % 2 == 0
                   else "user.signup", "payload": {"n": i}}
                  for i in range(300)]
        r = self.publish_file(events)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = r.stdout.strip().splitlines()
        self.assertEqual(len(lines), 300)
        self.assertTrue(all(l.endswith(" accepted") for l in lines), lines[:3])
        pid = node.proc.pid
        node.kill9()
        # libmongoc's counters segment is unlinked at start: nothing of
        # the killed process is left in shared memory.
        self.assertFalse(os.path.exists(f"/dev/shm/mongoc-{pid}"))
        before = count_effects(self.db)
        self.assertLess(sum(before.values()), 450,
                        "the kill should leave work unprocessed")
        # Restart on the same file with fast handlers.
        self.start("--groups.orders.latency=0ms", "--groups.audit.latency=0ms")

        expected = set()
        for e in events:
            expected.add(("audit", e["id"]))
            if e["type"].startswith("order."):
                expected.add(("orders", e["id"]))

        def all_done():
            return set(count_effects(self.db)) >= expected
        op.wait_for(all_done, 60, "every accepted event to be processed")
        effects = count_effects(self.db)
        self.assertEqual(set(effects), expected)
        doubles = {k: v for k, v in effects.items() if v != 1}
        self.assertEqual(doubles, {}, "effects must happen exactly once")
        # Republishing answers duplicate with the original's status.
        r = self.publish_file(events[:10])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for line in r.stdout.strip().splitlines():
            self.assertIn("duplicate (original status: processed)", line)

    def test_sigterm_drains_and_exits_zero(self):
        op.write_config(self.cfg, self.port, os.path.join(self.dir, "data"), {
            "orders": {"handler": '"store"', "subscriptions": '["*"]'},
        })
        node = self.start()
        r = op.run(op.BINARY, "publish", "--config", self.cfg, "--type",
                   "order.created", "--payload", '{"a": 1}', "--id", "one")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "one accepted")
        op.wait_for(lambda: ("orders", "one") in count_effects(self.db), 20,
                    "the event to be processed")
        self.assertEqual(node.terminate(), 0)

    def test_second_node_on_the_same_data_dir_is_refused(self):
        op.write_config(self.cfg, self.port, os.path.join(self.dir, "data"), {
            "orders": {"handler": '"store"', "subscriptions": '["*"]'},
        })
        first = self.start()
        # The same config on other ports: refused, naming the holder.
        r = op.run(op.BINARY, "node", "--config", self.cfg,
                   f"--node.port={op.free_port()}", timeout=30)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("in use by another onceflow node (pid "
                      f"{first.proc.pid},", r.stdout + r.stderr)
        # The first node goes on accepting and processing.
        r = op.run(op.BINARY, "publish", "--config", self.cfg, "--type",
                   "order.created", "--payload", '{"a": 1}', "--id", "after")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "after accepted")
        op.wait_for(lambda: ("orders", "after") in count_effects(self.db),
                    20, "the event to be processed")
        self.assertEqual(first.terminate(), 0)

    def test_retention_trims_settled_history(self):
        op.write_config(self.cfg, self.port, os.path.join(self.dir, "data"), {
            "orders": {"handler": '"store"', "subscriptions": '["*"]'},
        })
        self.start("--store.retention=1s", "--store.trim-interval=100ms")
        events = [{"id": f"ev-{i}", "type": "order.created",
                   "payload": {"n": i}} for i in range(20)]
        r = self.publish_file(events)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        def rows(table):
            con = sqlite3.connect(self.db, timeout=10)
            try:
                return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            finally:
                con.close()
        # Trims never pass an unsettled entry: an empty log means every
        # event was processed, then trimmed with its ledger entry and record.
        op.wait_for(lambda: rows("log") == 0, 20, "the log to be trimmed")
        self.assertEqual(rows("ledger"), 0)
        self.assertEqual(rows("processed"), 0)
        status = op.node_status(op.BINARY, self.cfg)
        self.assertEqual(status["broadcaster.trimmed"], 20, status)
        self.assertEqual(status["groups.orders.settled"], 20, status)
        # Within the dedup window a trimmed event is still a duplicate.
        r = self.publish_file(events[:1])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("ev-0 duplicate (original status: unknown)", r.stdout)
        # New events go on after the trimmed ones.
        r = self.publish_file([{"id": "late", "type": "order.created",
                                "payload": {}}])
        self.assertIn("late accepted", r.stdout)
        op.wait_for(lambda: ("orders", "late") in count_effects(self.db), 20,
                    "the new event to be processed")

    def test_bad_input_is_reported_and_valid_events_accepted(self):
        op.write_config(self.cfg, self.port, os.path.join(self.dir, "data"), {
            "orders": {"handler": '"store"', "subscriptions": '["*"]'},
        })
        self.start()
        path = os.path.join(self.dir, "mixed.jsonl")
        with open(path, "w") as f:
            f.write('{"id": "good-1", "type": "a.b", "payload": {}}\n')
            f.write('{"id": "bad-1", "type": "a b", "payload": {}}\n')
            f.write('{not json\n')
            f.write('{"id": "bad-2", "type": "t", "payload": [1]}\n')
            f.write('{"id": "good-2", "type": "t", "payload": {"x": 1}, '
                    '"priority": "high"}\n')
            f.write('{"id": "bad-3", "type": "t", "payload": {}, '
                    '"priority": "urgent"}\n')
        r = op.run(op.BINARY, "publish", "--config", self.cfg, "--file", path,
                   "--verbose")
        self.assertEqual(r.returncode, 1)
        out = r.stdout
        self.assertIn("good-1 accepted", out)
        self.assertIn("good-2 accepted", out)
        self.assertIn("line 2: error: field 'type'", out)
        self.assertIn("line 3: error: field 'line'", out)
        self.assertIn("line 4: error: field 'payload' must be a JSON object",
                      out)
        self.assertIn("line 6: error: field 'priority'", out)
        # Oversize payloads: a 300 KiB line in a file, and a limit lowered
        # on the command line for --payload.
        with open(path, "w") as f:
            f.write(json.dumps({"id": "big", "type": "t",
                                "payload": {"big": "x" * (300 * 1024)}}))
        r = op.run(op.BINARY, "publish", "--config", self.cfg, "--file", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("line 1: error: field 'payload'", r.stdout)
        self.assertIn("over the payload limit of 262144 bytes", r.stdout)
        r = op.run(op.BINARY, "publish", "--config", self.cfg,
                   "--events.max-payload-bytes=100", "--type", "t",
                   "--payload", json.dumps({"big": "x" * 200}))
        self.assertEqual(r.returncode, 1)
        self.assertIn("error: field 'payload' is 211 bytes, over the limit "
                      "of 100 bytes", r.stdout)

    def test_bad_config_names_the_option(self):
        op.write_config(self.cfg, self.port, os.path.join(self.dir, "data"), {
            "orders": {"handler": '"store"', "concurrency": '"many"'},
        })
        r = op.run(op.BINARY, "node", "--config", self.cfg)
        self.assertEqual(r.returncode, 2)
        self.assertIn("groups.orders.concurrency", r.stderr)
        op.write_config(self.cfg, self.port, os.path.join(self.dir, "data"), {
            "orders": {"handler": '"nope"'},
        })
        r = op.run(op.BINARY, "node", "--config", self.cfg)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown handler \"nope\"", r.stderr)
        op.write_config(self.cfg, self.port, os.path.join(self.dir, "data"), {
            "orders": {"handler": '"store"', "concurency": 4},
        })
        r = op.run(op.BINARY, "node", "--config", self.cfg)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown option 'groups.orders.concurency'", r.stderr)
        op.write_config(self.cfg, self.port, os.path.join(self.dir, "data"), {
            "orders": {"handler": '"store"'},
        })
        r = op.run(op.BINARY, "node", "--config", self.cfg,
                   "--events.max-backlog=500")
        self.assertEqual(r.returncode, 2)
        self.assertIn("'events.max-backlog' (500) must be at least", r.stderr)
        # Retention must be a positive duration.
        for value in ("0s", "24"):
            r = op.run(op.BINARY, "node", "--config", self.cfg,
                       f"--store.retention={value}")
            self.assertEqual(r.returncode, 2)
            self.assertIn("option 'store.retention' must be", r.stderr)
        # The Redis connection pool for claims and settlements: 1..64.
        for value in ("0", "65"):
            r = op.run(op.BINARY, "node", "--config", self.cfg,
                       f"--redis.pool-size={value}")
            self.assertEqual(r.returncode, 2)
            self.assertIn("option 'redis.pool-size' must be between 1 and 64",
                          r.stderr)
        # A client certificate without its key (TLS to Redis).
        r = op.run(op.BINARY, "node", "--config", self.cfg,
                   "--store.backend=redis",
                   "--redis.url=rediss://127.0.0.1:6380/0",
                   "--redis.tls-cert-file=/etc/onceflow/client.crt")
        self.assertEqual(r.returncode, 2)
        self.assertIn("'redis.tls-cert-file' and 'redis.tls-key-file' go "
                      "together", r.stderr)
        # TLS options with a plain URL would not encrypt anything.
        r = op.run(op.BINARY, "node", "--config", self.cfg,
                   "--store.backend=redis",
                   "--redis.url=redis://127.0.0.1:6379/0",
                   "--redis.tls-ca-file=/etc/onceflow/ca.crt")
        self.assertEqual(r.returncode, 2)
        self.assertIn("'redis.tls-*' need a rediss:// URL", r.stderr)
        # A URL that is neither redis:// nor rediss://.
        r = op.run(op.BINARY, "node", "--config", self.cfg,
                   "--store.backend=redis", "--redis.url=http://x:1/0")
        self.assertEqual(r.returncode, 2)
        self.assertIn("redis[s]://", r.stderr)
        # A batch endpoint larger than one ingest call could carry.
        r = op.run(op.BINARY, "node", "--config", self.cfg,
                   "--events.max-ingest-batch=100", "--http.max-batch=500")
        self.assertEqual(r.returncode, 2)
        self.assertIn("'http.max-batch' (500) must not exceed "
                      "'events.max-ingest-batch' (100)", r.stderr)
        # An API key entry that is not name:key:roles; the key stays out.
        r = op.run(op.BINARY, "node", "--config", self.cfg,
                   '--http.api-keys=["ops:hunter2hunter2:root"]')
        self.assertEqual(r.returncode, 2)
        self.assertIn("http.api-keys", r.stderr)
        self.assertIn("unknown role 'root'", r.stderr)
        self.assertNotIn("hunter2hunter2", r.stderr)
        r = op.run(op.BINARY, "node", "--config",
                   os.path.join(self.dir, "x.ini"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("does not exist", r.stderr)

    def write_config_with(self, lines, groups=None):
        """The test config (one group, orders, unless `groups` says other)
        followed by `lines` of raw INI text."""
        op.write_config(self.cfg, self.port, os.path.join(self.dir, "data"),
                        groups or {"orders": {"handler": '"store"'}})
        with open(self.cfg, "a") as f:
            f.write("\n".join(lines) + "\n")

    def refused(self, *extra):
        """Every command that reads the config refuses it with exit code 2
        and the same error; returns that error. `status` and `publish` go
        first: before the config is refused they fail fast (no node), where
        `node` would start and run."""
        errors = []
        for cmd in (["status"], ["publish", "--type", "t", "--payload", "{}"],
                    ["node"]):
            r = op.run(op.BINARY, cmd[0], "--config", self.cfg, *cmd[1:],
                       *extra, timeout=20)
            self.assertEqual(r.returncode, 2,
                             f"onceflow {cmd[0]}: {r.stdout}{r.stderr}")
            errors.append(r.stderr)
        self.assertEqual(len(set(errors)), 1, errors)
        return errors[0]

    def test_unknown_sections_are_refused(self):
        known = ("(known: alerts, client, cluster, events, groups.<name>, "
                 "http, janitor, mongo, node, nodes.<name>, priorities, "
                 "rate-limits, "
                 "redis, store; CAF's: logger, "
                 "middleman, opencl, openssl, scheduler, stream, "
                 "work-stealing)")
        # A misspelled [http] would leave the API without its keys.
        self.write_config_with(["[htpp]",
                                'api-keys=["ops:s3cret-k3y:admin"]'])
        err = self.refused()
        self.assertIn("bad config: unknown section [htpp] " + known, err)
        self.assertNotIn("s3cret-k3y", err)
        # A misspelled [store] would run on SQLite instead of Redis.
        self.write_config_with(["[stor]", 'backend="redis"'])
        self.assertIn("unknown section [stor] " + known, self.refused())
        # A misspelled [groups.a] would drop the group.
        self.write_config_with(["[grups.a]", 'handler="store"'])
        self.assertIn("unknown section [grups.a] " + known, self.refused())
        # On the command line too.
        self.write_config_with([])
        self.assertIn("unknown section [htpp] " + known,
                      self.refused("--htpp.port=0"))
        # An option before the first section is read by no one either.
        with open(self.cfg) as f:
            text = f.read()
        with open(self.cfg, "w") as f:
            f.write("port=4711\n" + text)
        self.assertIn("bad config: option 'port' is outside any section",
                      self.refused())

    def test_override_must_name_a_configured_group(self):
        # Without [groups.orders] in the file, the override would create
        # a catch-all group with defaults.
        self.write_config_with([], groups={"a": {"handler": '"store"'}})
        err = self.refused("--groups.orders.concurrency=4")
        self.assertIn("bad config: option '--groups.orders.concurrency' names "
                      "group 'orders', which the config file does not have "
                      "(its groups: a)", err)
        self.assertIn("[groups.orders]", err)
        # A group of the file can be overridden.
        self.start("--groups.a.concurrency=4")
        status = op.node_status(op.BINARY, self.cfg)
        self.assertEqual(status["groups.a.listeners"], 4, status)

    def test_hash_comment_names_the_line(self):
        self.write_config_with(["# the webhook group is added later",
                                "[groups.audit]", 'handler="log"'])
        with open(self.cfg) as f:
            line = f.read().splitlines().index(
                "# the webhook group is added later") + 1
        err = self.refused()
        self.assertIn(f"cannot read config file '{self.cfg}': line {line}: "
                      "INI comments start with ';', not '#'", err)
        # After a value, too.
        self.write_config_with(["[janitor]", "interval=1s # or 500ms"])
        with open(self.cfg) as f:
            line = len(f.read().splitlines())
        self.assertIn(f"line {line}: INI comments start with ';', not '#'",
                      self.refused())

    def test_caf_sections_are_accepted(self):
        # CAF's own sections stay valid (write_config has [scheduler]).
        self.write_config_with(["[middleman]", "heartbeat-interval=0s",
                                "[logger]", "console='none'",
                                "[work-stealing]", "moderate-poll-attempts=500",
                                "[stream]", "max-batch-delay=5ms"])
        node = self.start()
        self.assertEqual(node.terminate(), 0)

    def test_example_config_starts_a_node(self):
        example = os.path.join(op.CONFIG_DIR, "single-node.ini")
        http_port = op.free_port()
        n = op.Node(op.BINARY, example, self.log,
                    [f"--node.port={self.port}",
                     f"--http.port={http_port}",
                     f"--node.data-dir={os.path.join(self.dir, 'data')}"])
        self.nodes.append(n)

        def ready():
            if not n.alive():
                raise AssertionError(f"node exited with {n.proc.returncode}")
            r = op.run(op.BINARY, "status", "--config", example,
                       f"--node.port={self.port}")
            return r.returncode == 0 and "groups.orders.listeners = 2" in r.stdout
        op.wait_for(ready, 20, "the example node to answer status")
        r = op.run(op.BINARY, "publish", "--config", example,
                   f"--node.port={self.port}", "--type", "order.created",
                   "--payload", '{"order": 1}', "--id", "o-1")
        self.assertEqual(r.stdout.strip(), "o-1 accepted")
        # The example's HTTP API answers on the port given.
        with urllib.request.urlopen(
                f"http://127.0.0.1:{http_port}/ready", timeout=5) as resp:
            self.assertEqual(resp.status, 200)
            self.assertEqual(json.load(resp)["status"], "ready")
        db = os.path.join(self.dir, "data", "onceflow.db")
        # orders (store) records the effect; audit (simulate) does too.
        op.wait_for(lambda: len(count_effects(db)) == 2, 20,
                    "both groups to process the event")
        self.assertEqual(n.terminate(), 0)

    def test_publish_to_unreachable_node_fails_clearly(self):
        op.write_config(self.cfg, self.port, os.path.join(self.dir, "data"), {
            "orders": {"handler": '"store"'},
        })
        r = op.run(op.BINARY, "publish", "--config", self.cfg, "--type", "t",
                   "--payload", "{}")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"cannot reach node at 127.0.0.1:{self.port}", r.stdout)


if __name__ == "__main__":
    op.main()
