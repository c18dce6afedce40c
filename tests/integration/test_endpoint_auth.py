"""The node's CAF endpoint (what `onceflow publish` and `onceflow status`
talk to) checks API keys like the HTTP API (issue 13, defect 3: with keys
configured, `publish` over the CAF port was accepted with no key). Real
processes: a node with keys, the CLI with and without them."""

import json
import os
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import onceflow_proc as op  # noqa: E402

KEYS = '["pub:p-secret:publish", "ro:r-secret:read", "ops:a-secret:admin"]'


class EndpointAuthTest(op.KeepLogsOnFailure, unittest.TestCase):
    def setUp(self):
        self.t0 = time.monotonic()
        self.dir = tempfile.mkdtemp(prefix="onceflow-endpoint-")
        self.port = op.free_port()
        self.http_port = op.free_port()
        self.cfg = os.path.join(self.dir, "node.ini")
        self.log = os.path.join(self.dir, "node.log")
        op.write_ini(self.cfg, {
            "node": {"name": '"auth-node"', "host": '"127.0.0.1"',
                     "port": self.port,
                     "data-dir": f'"{os.path.join(self.dir, "data")}"'},
            "http": {"port": self.http_port, "api-keys": KEYS},
            "scheduler": {"max-threads": 2},
            "groups.orders": {"handler": '"store"', "subscriptions": '["*"]'},
        })
        self.node = op.Node(op.BINARY, self.cfg, self.log)
        self.addCleanup(self.node.close)
        op.wait_for(lambda: self.cli("status", "--api-key", "r-secret")
                    .returncode == 0, 20, "node to answer status")

    def cli(self, *args, config=None):
        return op.run(op.BINARY, args[0], "--config", config or self.cfg,
                      *args[1:])

    def publish(self, event_id, *extra, config=None):
        return self.cli("publish", "--type", "order.created", "--payload",
                        '{"n":1}', "--id", event_id, *extra, config=config)

    def http_status(self, event_id):
        """(HTTP status, body) of GET /events/{id} with the read key."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/events/{event_id}",
            headers={"Authorization": "Bearer r-secret"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def test_publish_without_a_key_is_refused_and_nothing_is_accepted(self):
        r = self.publish("no-key")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("unauthorized: missing API key", r.stdout)
        self.assertIn("--api-key", r.stdout)
        self.assertEqual(self.http_status("no-key")[0], 404)

    def test_publish_with_an_unknown_key_is_refused(self):
        r = self.publish("bad-key", "--api-key", "p-secret-")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("unauthorized: unknown API key", r.stdout)
        self.assertEqual(self.http_status("bad-key")[0], 404)

    def test_publish_with_a_read_key_is_forbidden(self):
        r = self.publish("read-key", "--api-key", "r-secret")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("forbidden: API key 'ro' lacks role 'publish'", r.stdout)
        self.assertEqual(self.http_status("read-key")[0], 404)

    def test_a_file_of_events_without_a_key_says_so_once(self):
        path = op.write_events(os.path.join(self.dir, "events.jsonl"), [
            {"id": f"f-{i}", "type": "order.created", "payload": {}}
            for i in range(2500)])
        r = self.cli("publish", "--file", path)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("unauthorized"), 1, r.stdout[:2000])
        self.assertEqual(self.http_status("f-0")[0], 404)

    def test_publish_with_a_publish_key_runs_the_event_once(self):
        r = self.publish("with-key", "--api-key", "p-secret")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("with-key accepted", r.stdout)

        def processed():
            code, body = self.http_status("with-key")
            return code == 200 and body.get("status") == "processed"
        op.wait_for(processed, 20, "the event to be processed")
        r = self.cli("status", "--id", "with-key", "--api-key", "a-secret")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("with-key orders processed", r.stdout)

    def test_status_needs_the_read_role(self):
        r = self.cli("status")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("unauthorized", r.stdout)
        r = self.cli("status", "--api-key", "p-secret")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("forbidden: API key 'pub' lacks role 'read'", r.stdout)

    def test_the_client_key_can_come_from_the_config_file(self):
        client_cfg = os.path.join(self.dir, "client.ini")
        with open(self.cfg) as f, open(client_cfg, "w") as out:
            out.write(f.read() + '[client]\napi-key="p-secret"\n')
        r = self.publish("from-config", config=client_cfg)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("from-config accepted", r.stdout)
        # --api-key wins over the file's key.
        r = self.publish("overridden", "--api-key", "r-secret",
                         config=client_cfg)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("forbidden", r.stdout)


    def test_the_console_reads_with_read_and_changes_with_admin(self):
        # `onceflow console` against this single node (issue 15).
        r = self.cli("console", "-e", "actors")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("unauthorized: missing API key", r.stdout)
        r = self.cli("console", "-e", "actors", "--json", "--api-key",
                     "r-secret")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        kinds = {a["kind"] for a in json.loads(r.stdout)["actors"]}
        self.assertIn("broadcaster", kinds)
        self.assertEqual({a["node"] for a in json.loads(r.stdout)["actors"]},
                         {"auth-node"})
        r = self.cli("console", "-e", "pause orders", "--api-key", "r-secret")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("forbidden: API key 'ro' lacks role 'admin'", r.stdout)
        r = self.cli("console", "-e", "pause orders", "-e", "resume orders",
                     "--api-key", "a-secret")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("group orders paused on auth-node", r.stdout)
        self.assertIn("group orders resumed on auth-node", r.stdout)


if __name__ == "__main__":
    op.main()
