"""Integration tests of the webhook handler against a real `onceflow node`
and a webhook receiver in this process (http.server): retryable answers
(408, 429, 5xx, timeouts, refused connections) are retried with the group's
backoff and Retry-After, a permanent 4xx goes to the DLQ at once, replay
from the DLQ delivers once; every delivery is checked on the receiver's side
(Idempotency-Key, attempt, type, group, HMAC signature of the raw body, the
JSON body) and in GET /events/{id}, the DLQ endpoints and the metrics.

Run: python3 tests/integration/test_webhooks.py --binary BUILD/onceflow
     [--config-dir config] [unittest args]
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import http_client as hc  # noqa: E402
import onceflow_proc as op  # noqa: E402
from http_client import q, qlist  # noqa: E402

SECRET = "wh-s3cret-9f2k"


def hook_group(url, **kw):
    g = {"handler": q("webhook"), "webhook-url": q(url),
         "webhook-secret": q(SECRET), "webhook-timeout": "1s",
         "subscriptions": qlist(["hook.*"]), "concurrency": 1,
         "retry-base": "200ms", "retry-factor": "2.0", "retry-cap": "10s",
         "max-attempts": 5, "jitter": "false", "lease-ttl": "10s"}
    g.update(kw)
    return g


SINK = {"handler": q("store"), "subscriptions": qlist(["*"])}


class WebhookTest(hc.NodeTestCase):

    def setUp(self):
        super().setUp()
        self.recv = hc.Receiver().start()
        self.addCleanup(self.recv.stop)

    def start(self, **kw):
        groups = {"hooks": hook_group(self.recv.url(), **kw), "sink": SINK}
        return self.start_node(groups)

    def check_request(self, rec, event_id, attempt, ev_type="hook.a"):
        h = rec["headers"]
        self.assertEqual(rec["path"], "/hook")
        self.assertEqual(h.get("idempotency-key"), event_id, h)
        self.assertEqual(h.get("x-onceflow-attempt"), str(attempt), h)
        self.assertEqual(h.get("x-onceflow-event-type"), ev_type, h)
        self.assertEqual(h.get("x-onceflow-group"), "hooks", h)
        self.assertTrue(h.get("content-type", "").startswith(
            "application/json"), h)
        self.assertEqual(h.get("x-onceflow-signature"),
                         hc.signature(SECRET, rec["body"]),
                         "bad HMAC-SHA256 signature of the raw body")
        body = json.loads(rec["body"])
        self.assertEqual(body["id"], event_id)
        self.assertEqual(body["type"], ev_type)
        self.assertEqual(body["attempt"], attempt)
        self.assertEqual(body["group"], "hooks")
        return body

    def quiet(self, event_id, n, seconds=1.0):
        """No further delivery of `event_id` for `seconds` (the group's
        retry-base is 200 ms, so a stray retry would show up well within)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            got = len(self.recv.of(event_id))
            self.assertEqual(got, n, f"{event_id}: {got} deliveries, want {n}")
            time.sleep(0.05)

    def groups_of(self, n, event_id):
        return {g["group"]: g for g in n.event(event_id).json["groups"]}

    # -- format ----------------------------------------------------------------

    def test_request_format_and_signature(self):
        n = self.start()
        payload = {"order": 7, "text": "gr\u00fc\u00dfe", "nested": {"a": [1]}}
        r = n.publish({"id": "wf-1", "type": "hook.a", "payload": payload,
                       "priority": "high"})
        self.assertEqual(r.status, 202, r)
        r = n.publish({"id": "wf-other", "type": "other.x"})
        self.assertEqual(r.status, 202, r)
        ev = n.wait_status("wf-1", "processed")
        n.wait_status("wf-other", "processed")
        recs = self.recv.of("wf-1")
        self.assertEqual(len(recs), 1)
        body = self.check_request(recs[0], "wf-1", 1)
        self.assertEqual(body["payload"], payload)
        self.assertEqual(body["priority"], "high")
        self.assertEqual(body["createdAt"], ev["createdAt"])
        self.assertEqual(body["traceId"], ev["traceId"])
        self.assertLessEqual({"id", "type", "payload", "priority",
                              "createdAt", "traceId", "attempt", "group"},
                             set(body))
        # Not subscribed: never sent.
        self.assertEqual(self.recv.of("wf-other"), [])
        g = self.groups_of(n, "wf-1")
        self.assertEqual(set(g), {"hooks", "sink"})
        self.assertEqual([a["outcome"] for a in g["hooks"]["attempts"]],
                         ["success"])
        self.quiet("wf-1", 1, 0.5)
        # Any 2xx is a success.
        self.recv.plan("wf-204", 204)
        self.assertEqual(n.publish({"id": "wf-204", "type":
                                    "hook.a"}).status, 202)
        n.wait_status("wf-204", "processed")
        self.quiet("wf-204", 1, 0.5)

    def test_retrying_is_visible(self):
        n = self.start(**{"retry-base": "3s"})
        self.recv.plan("wq-1", 503)
        self.assertEqual(n.publish({"id": "wq-1", "type": "hook.a"}).status,
                         202)
        t = time.monotonic()
        body = n.wait_status("wq-1", "retrying", timeout=10)
        g = {x["group"]: x for x in body["groups"]}
        self.assertEqual(g["hooks"]["status"], "retrying")
        self.assertEqual(g["sink"]["status"], "processed")
        r = n.get("/events?status=retrying&group=hooks")
        self.assertEqual(r.status, 200, r)
        self.assertEqual([(x["eventId"], x["group"], x["status"])
                          for x in r.json["events"]],
                         [("wq-1", "hooks", "retrying")], r)
        self.assertLess(time.monotonic() - t, 2.5, "too slow to observe")
        self.assertEqual(n.get("/failed-events").json["events"], [])
        n.wait_status("wq-1", "processed", timeout=15)
        self.assertGreaterEqual(time.monotonic() - t, 2.5)
        self.assertEqual(n.get("/events?status=retrying").json["events"], [])
        self.assertEqual([x["status"] for x in self.recv.of("wq-1")],
                         [503, 200])

    def test_bad_webhook_config_names_the_option(self):
        for opts, option in (({"webhook-url": q("")},
                              "groups.hooks.webhook-url"),
                             ({"webhook-url": q("ftp://x/y")},
                              "groups.hooks.webhook-url"),
                             ({"webhook-timeout": "0s"},
                              "groups.hooks.webhook-timeout")):
            with self.subTest(option=option, value=opts):
                cfg = self.node_config({"hooks": hook_group(
                    self.recv.url(), **opts)}, name="bad")
                r = op.run(op.BINARY, "node", "--config", cfg[0], timeout=30)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn(option, r.stderr)

    # -- retries ---------------------------------------------------------------

    def test_fails_three_times_then_succeeds_one_delivery(self):
        n = self.start()
        m0 = n.metrics()
        self.recv.plan("wr-1", 503, 500, 408)
        r = n.publish({"id": "wr-1", "type": "hook.a", "payload": {"k": 1}})
        self.assertEqual(r.status, 202, r)
        recs = self.recv.wait_count("wr-1", 4, timeout=15)
        n.wait_status("wr-1", "processed")
        self.quiet("wr-1", 4)
        recs = self.recv.of("wr-1")
        self.assertEqual([r["status"] for r in recs], [503, 500, 408, 200])
        self.assertEqual(sum(1 for r in recs if r["status"] < 300), 1,
                         "the receiver must count exactly one delivery")
        bodies = [self.check_request(rec, "wr-1", i + 1)
                  for i, rec in enumerate(recs)]
        # Same event every time (only the attempt differs).
        self.assertEqual({json.dumps(dict(b, attempt=0), sort_keys=True)
                          for b in bodies}.__len__(), 1)
        # Backoff without jitter: 200 ms, 400 ms, 800 ms.
        gaps = [recs[i + 1]["t"] - recs[i]["t"] for i in range(3)]
        for gap, want in zip(gaps, (0.2, 0.4, 0.8)):
            self.assertGreaterEqual(gap, want * 0.9, gaps)
            self.assertLess(gap, want + 1.5, gaps)
        g = self.groups_of(n, "wr-1")["hooks"]
        self.assertEqual(g["status"], "processed")
        atts = g["attempts"]
        self.assertEqual([a["attempt"] for a in atts], [1, 2, 3, 4])
        self.assertEqual([a["outcome"] for a in atts],
                         ["retryable", "retryable", "retryable", "success"])
        self.assertIn("503", atts[0]["error"])
        self.assertIn("500", atts[1]["error"])
        self.assertIn("408", atts[2]["error"])
        self.assertEqual(atts[3]["error"], "")
        m = n.metrics()
        lbl = {"group": "hooks", "type": "hook.a"}
        self.assertEqual(m.get("onceflow_events_retried_total", **lbl)
                         - m0.get("onceflow_events_retried_total", **lbl), 3)
        self.assertEqual(m.get("onceflow_events_processed_total", **lbl)
                         - m0.get("onceflow_events_processed_total", **lbl),
                         1)
        self.assertEqual(m.get("onceflow_events_dead_total", **lbl), 0)

    def test_retry_after_is_honoured(self):
        n = self.start(**{"retry-base": "100ms"})
        self.recv.plan("wra-1",
                       {"status": 429, "headers": {"Retry-After": "2"}},
                       {"status": 503, "headers": {"Retry-After": "1"}})
        self.assertEqual(n.publish({"id": "wra-1",
                                    "type": "hook.a"}).status, 202)
        recs = self.recv.wait_count("wra-1", 3, timeout=15)
        n.wait_status("wra-1", "processed")
        self.quiet("wra-1", 3, 0.5)
        self.assertEqual([r["status"] for r in recs], [429, 503, 200])
        gaps = [recs[1]["t"] - recs[0]["t"], recs[2]["t"] - recs[1]["t"]]
        self.assertGreaterEqual(gaps[0], 1.9, gaps)
        self.assertGreaterEqual(gaps[1], 0.9, gaps)
        self.assertLess(gaps[0], 4.5, gaps)
        self.assertEqual([a["outcome"] for a in
                          self.groups_of(n, "wra-1")["hooks"]["attempts"]],
                         ["retryable", "retryable", "success"])
        # Retry-After as an HTTP-date (RFC 9110 10.2.3), 3 s ahead.
        from email.utils import formatdate
        when = formatdate(time.time() + 3, usegmt=True)
        self.recv.plan("wra-2", {"status": 503,
                                 "headers": {"Retry-After": when}})
        self.assertEqual(n.publish({"id": "wra-2",
                                    "type": "hook.a"}).status, 202)
        recs = self.recv.wait_count("wra-2", 2, timeout=15)
        n.wait_status("wra-2", "processed")
        gap = recs[1]["t"] - recs[0]["t"]
        self.assertGreaterEqual(gap, 1.9, gap)

    def test_timeout_and_refused_connection_are_retryable(self):
        # A receiver slower than webhook-timeout (1s): retried.
        n = self.start()
        self.recv.plan("wt-1", {"status": 200, "delay": 3})
        self.assertEqual(n.publish({"id": "wt-1", "type": "hook.a"}).status,
                         202)
        recs = self.recv.wait_count("wt-1", 2, timeout=15)
        n.wait_status("wt-1", "processed")
        self.check_request(recs[1], "wt-1", 2)
        self.assertGreaterEqual(recs[1]["t"] - recs[0]["t"], 1.0 + 0.2 * 0.9)
        atts = self.groups_of(n, "wt-1")["hooks"]["attempts"]
        self.assertEqual([a["outcome"] for a in atts],
                         ["retryable", "success"])
        # Nobody listening: retried until a receiver appears.
        port = op.free_port()
        url = f"http://127.0.0.1:{port}/hook"
        m = self.start_node({"hooks": hook_group(url, **{
            "retry-base": "300ms", "retry-factor": "1.0"}), "sink": SINK},
            name="refused")
        self.assertEqual(m.publish({"id": "wc-1", "type": "hook.a"}).status,
                         202)

        def failed_once():
            g = self.groups_of(m, "wc-1")["hooks"]
            return len(g["attempts"]) >= 1
        op.wait_until(failed_once, 10, "a refused attempt",
                      progress=lambda: m.event("wc-1").json)
        g = self.groups_of(m, "wc-1")["hooks"]
        self.assertEqual(g["attempts"][0]["outcome"], "retryable", g)
        self.assertIn(g["status"], ("retrying", "in_flight", "accepted"), g)
        late = hc.Receiver(port=port).start()
        self.addCleanup(late.stop)
        m.wait_status("wc-1", "processed", timeout=15)
        self.assertEqual(len(late.of("wc-1")), 1)
        self.assertEqual(late.of("wc-1")[0]["status"], 200)

    def test_retries_exhausted_goes_to_dlq(self):
        n = self.start(**{"max-attempts": 3, "retry-base": "100ms"})
        self.recv.plan("wx-1", 500, 502, 503, 504)
        self.assertEqual(n.publish({"id": "wx-1", "type": "hook.a"}).status,
                         202)
        n.wait_status("wx-1", "dead")
        self.quiet("wx-1", 3)
        self.assertEqual([r["status"] for r in self.recv.of("wx-1")],
                         [500, 502, 503])
        r = n.get("/failed-events/wx-1")
        self.assertEqual(r.status, 200, r)
        ent = r.json["entries"][0]
        self.assertEqual((ent["group"], ent["reason"]),
                         ("hooks", "retries_exhausted"), ent)
        self.assertEqual(len(ent["attempts"]), 3, ent)
        self.assertIn("503", ent["error"])

    # -- permanent errors, DLQ, replay -------------------------------------------

    def test_4xx_goes_to_dlq_at_once(self):
        n = self.start()
        m0 = n.metrics()
        for eid, code in (("wp-400", 400), ("wp-404", 404), ("wp-422", 422)):
            self.recv.plan(eid, code, code)
            self.assertEqual(n.publish({"id": eid, "type": "hook.a"}).status,
                             202)
        for eid, code in (("wp-400", 400), ("wp-404", 404), ("wp-422", 422)):
            body = n.wait_status(eid, "dead")
            self.quiet(eid, 1, 0.6)
            g = {x["group"]: x for x in body["groups"]}
            self.assertEqual(g["sink"]["status"], "processed")
            self.assertEqual(g["hooks"]["status"], "dead")
            self.assertEqual([a["outcome"] for a in g["hooks"]["attempts"]],
                             ["permanent"])
            self.assertIn(str(code), g["hooks"]["attempts"][0]["error"])
            r = n.get(f"/failed-events/{eid}")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(len(r.json["entries"]), 1, r)
            ent = r.json["entries"][0]
            self.assertEqual((ent["group"], ent["reason"]),
                             ("hooks", "permanent_error"), ent)
            self.assertIn(str(code), ent["error"])
            self.assertEqual(len(ent["attempts"]), 1)
        r = n.get("/failed-events?group=hooks")
        self.assertEqual([e["eventId"] for e in r.json["events"]],
                         ["wp-400", "wp-404", "wp-422"], r)
        self.assertTrue(all(e["attempts"] == 1 for e in r.json["events"]))
        m = n.metrics()
        lbl = {"group": "hooks", "type": "hook.a"}
        self.assertEqual(m.get("onceflow_events_dead_total", **lbl)
                         - m0.get("onceflow_events_dead_total", **lbl), 3)
        self.assertEqual(m.get("onceflow_events_retried_total", **lbl), 0)
        self.assertEqual(m.get("onceflow_dlq_size"), 3)
        r = n.get("/events?status=dead&group=hooks")
        self.assertEqual(sorted(x["eventId"] for x in r.json["events"]),
                         ["wp-400", "wp-404", "wp-422"], r)

    def test_replay_from_dlq_is_delivered_once(self):
        n = self.start()
        self.recv.plan("wd-1", 400)
        self.assertEqual(n.publish({"id": "wd-1", "type": "hook.a",
                                    "payload": {"x": 1}}).status, 202)
        n.wait_status("wd-1", "dead")
        self.quiet("wd-1", 1, 0.5)
        # The receiver is fixed; replay the one event.
        self.assertError(n.post("/failed-events/wd-1/replay?group=sink"), 404)
        r = n.post("/failed-events/wd-1/replay")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"eventId": "wd-1", "replayed": 1})
        n.wait_status("wd-1", "processed")
        self.quiet("wd-1", 2)
        recs = self.recv.of("wd-1")
        self.assertEqual([x["status"] for x in recs], [400, 200])
        self.assertEqual(sum(1 for x in recs if x["status"] < 300), 1)
        # Attempt count reset, history kept.
        body = self.check_request(recs[1], "wd-1", 1)
        self.assertEqual(body["payload"], {"x": 1})
        atts = self.groups_of(n, "wd-1")["hooks"]["attempts"]
        self.assertEqual([a["outcome"] for a in atts],
                         ["permanent", "success"])
        self.assertError(n.get("/failed-events/wd-1"), 404)
        self.assertError(n.post("/failed-events/wd-1/replay"), 404)
        self.assertEqual(n.metrics().get("onceflow_dlq_size"), 0)

    def test_replay_all_from_dlq(self):
        n = self.start()
        ids = [f"wa-{i}" for i in range(4)]
        for i in ids:
            self.recv.plan(i, 410)
            self.assertEqual(n.publish({"id": i, "type": "hook.b"}).status,
                             202)
        for i in ids:
            n.wait_status(i, "dead")
        r = n.get("/failed-events/replay")
        self.assertEqual(r.status, 200, r)
        self.assertFalse(r.json["active"], r)
        r = n.post("/failed-events/replay", {"rate": 10, "group": "hooks"})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json, {"replaying": 4, "rate": 10})
        last = {}

        def done():
            p = last["p"] = n.get("/failed-events/replay")
            return (p.status == 200 and p.json["active"] is False
                    and (p.json["total"], p.json["replayed"]) == (4, 4))
        op.wait_until(done, 15, "replay progress to reach 4 of 4",
                      progress=lambda: last.get("p"))
        n.wait_all_processed(ids)
        for i in ids:
            self.quiet(i, 2, 0.3)
            recs = self.recv.of(i)
            self.assertEqual([x["status"] for x in recs], [410, 200], i)
            self.check_request(recs[1], i, 1, "hook.b")
        # At 10 events/s four replays take about 300 ms (one at once, then
        # one every 100 ms; at 20/s the pacer moves two per 100 ms, so the
        # four took about 100 ms, too close to this bound).
        ts = sorted(self.recv.of(i)[1]["t"] for i in ids)
        self.assertGreaterEqual(ts[-1] - ts[0], 0.1, ts)
        self.assertEqual(n.get("/failed-events").json["events"], [])
        # Nothing left: a replay of everything replays nothing.
        r = n.post("/failed-events/replay", {})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json["replaying"], 0, r)
        self.assertEqual(r.json["rate"], 100, r)


if __name__ == "__main__":
    op.main()
