"""Integration tests of DLQ alerts (`[alerts] dlq-webhook-url`) against a
real `onceflow node` and an HTTP receiver in this process: dead letters
reach the receiver batched in one signed POST (event id, group, type,
reason, error, attempts), a failed call is retried with the same alert id,
calls start at least `dlq-min-interval` apart with what arrived meanwhile,
beyond `dlq-max-entries` only counted; the DLQ answers while a call hangs.

Run: python3 tests/integration/test_dlq_alerts.py --binary BUILD/onceflow
     [--config-dir config] [unittest args]
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import http_client as hc  # noqa: E402
import onceflow_proc as op  # noqa: E402
from http_client import q, qlist, store_group  # noqa: E402

SECRET = "al3rt-s3cret"
BAD = {"simulate": {"permanent": True}}


class DlqAlertTest(hc.NodeTestCase):

    def setUp(self):
        super().setUp()
        self.recv = hc.Receiver().start()
        self.addCleanup(self.recv.stop)

    def start(self, **alerts):
        cfg = {"dlq-webhook-url": q(self.recv.url("/dlq")),
               "dlq-webhook-secret": q(SECRET), "dlq-webhook-timeout": "2s",
               "dlq-window": "300ms", "dlq-min-interval": "2s",
               "dlq-max-entries": 5, "dlq-retries": 2}
        cfg.update(alerts)
        sim = {"handler": q("simulate"), "subscriptions": qlist(["sim.*"]),
               "concurrency": 1}
        return self.start_node({"sim": sim,
                                "orders": store_group(["order.*"])},
                               alerts=cfg)

    def kill(self, n, ids):
        r = n.post("/events/batch", [{"id": i, "type": "sim.x",
                                      "payload": BAD} for i in ids])
        self.assertEqual(r.status, 200, r)
        for i in ids:
            n.wait_status(i, "dead")

    def calls(self, key):
        return self.recv.of(key)

    def test_alerts_are_batched_signed_retried_and_rate_limited(self):
        # The first call fails once: retried after 1 s with the same id.
        self.recv.plan("test-node-1", 503)
        n = self.start()
        self.kill(n, ["a-1", "a-2", "a-3"])
        recs = self.recv.wait_count("test-node-1", 2)
        self.assertEqual([r["status"] for r in recs], [503, 200])
        bodies = [json.loads(r["body"]) for r in recs]
        for r, b, attempt in zip(recs, bodies, (1, 2)):
            h = r["headers"]
            self.assertEqual(r["path"], "/dlq")
            self.assertEqual(h.get("x-onceflow-alert"), "dlq", h)
            self.assertTrue(h.get("content-type", "").startswith(
                "application/json"), h)
            self.assertEqual(h.get("x-onceflow-signature"),
                             hc.signature(SECRET, r["body"]), h)
            self.assertEqual((b["alert"], b["node"], b["alertId"],
                              b["attempt"], b["count"], b["dropped"]),
                             ("dlq", "test-node", 1, attempt, 3, 0), b)
        self.assertGreaterEqual(recs[1]["t"] - recs[0]["t"], 0.9)
        entries = bodies[1]["entries"]
        self.assertEqual(sorted(e["eventId"] for e in entries),
                         ["a-1", "a-2", "a-3"], entries)
        for e in entries:
            self.assertEqual((e["group"], e["type"], e["reason"],
                              e["attempts"]),
                             ("sim", "sim.x", "permanent_error", 1), e)
            self.assertIn("permanent", e["error"], e)
            self.assertIsInstance(e["deadAt"], int)
        # Eight more at once: the next call comes at least the interval
        # (2 s) after the first one started (seen from here: arrival
        # times, give or take a connect), lists five and counts three.
        self.kill(n, [f"b-{i}" for i in range(8)])
        rec2 = self.recv.wait_count("test-node-2", 1)[0]
        self.assertGreaterEqual(rec2["t"] - recs[0]["t"], 1.9)
        b2 = json.loads(rec2["body"])
        self.assertEqual((b2["alertId"], b2["attempt"], b2["count"],
                          b2["dropped"]), (2, 1, 5, 3), b2)
        self.assertEqual(len(b2["entries"]), 5)
        self.assertTrue(all(e["eventId"].startswith("b-")
                            for e in b2["entries"]), b2)
        # Nothing more was sent.
        time.sleep(0.5)
        keys = [r["key"] for r in self.recv.requests]
        self.assertEqual(keys, ["test-node-1", "test-node-1", "test-node-2"])
        # Events that are processed raise no alert.
        self.assertEqual(n.publish({"id": "o-1", "type": "order.x"}).status,
                         202)
        n.wait_status("o-1", "processed")
        self.assertEqual(len(self.recv.requests), 3)

    def test_a_hanging_receiver_never_blocks_the_dlq(self):
        # The first call hangs past its timeout (2 s); no retries.
        self.recv.plan("test-node-1", {"status": 200, "delay": 4})
        n = self.start(**{"dlq-retries": 0, "dlq-min-interval": "100ms"})
        self.kill(n, ["h-1"])
        self.recv.wait_count("test-node-1", 1)
        # Meanwhile dead letters, the DLQ endpoints and replays go on.
        self.kill(n, ["h-2"])
        r = n.get("/failed-events")
        self.assertEqual(sorted(e["eventId"] for e in r.json["events"]),
                         ["h-1", "h-2"], r)
        self.assertEqual(n.delete("/failed-events?group=sim").json,
                         {"purged": 2, "group": "sim"})
        # The timed-out call is given up; the next says one was dropped.
        rec = self.recv.wait_count("test-node-2", 1, timeout=20)[0]
        b = json.loads(rec["body"])
        self.assertEqual([e["eventId"] for e in b["entries"]], ["h-2"], b)
        self.assertEqual(b["dropped"], 1, b)

    def test_bad_alert_config_is_refused(self):
        path, _, _ = self.node_config(
            {"orders": store_group(["order.*"])},
            alerts={"dlq-webhook-url": q("ftp://example/dlq")})
        r = op.run(op.BINARY, "node", "--config", path)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("option 'alerts.dlq-webhook-url' must start with "
                      "http:// or https://", r.stderr)


if __name__ == "__main__":
    op.main()
