"""Integration tests of delayed events (docs/http-api.md, POST /events and
POST /events/{id}/cancel) against real `onceflow node` processes.

`delay` and `notBefore` over HTTP (single and batch) and the CLI (`publish
--delay`, `--not-before`, `--file` lines), each 400 naming its field, the
status `scheduled` with the due time, listings, the gauge; cancel (200,
409, 404) and a cancelled event never running; kill -9 of a node while
events are delayed (after a restart each runs once, at or after its time);
two nodes on one redis-server, the one that accepted the events killed: the
other runs them at their time, once. "At or after its time" is read from
the attempts the store recorded (their time against notBefore), effects
from the store handler's own records.

Run: python3 tests/integration/test_http_delayed.py
     --binary BUILD/onceflow [--config-dir config] [unittest args]
"""

import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import http_client as hc  # noqa: E402
import onceflow_proc as op  # noqa: E402
from http_client import GROUPS, q, qlist, store_group  # noqa: E402
from redis_nodes import RedisNodesBase  # noqa: E402

HOUR_MS = 3_600_000


def now_ms():
    return int(time.time() * 1000)


def rfc3339(ms, offset_minutes=0):
    """ms since the epoch as RFC 3339 text with the given UTC offset."""
    tz = datetime.timezone(datetime.timedelta(minutes=offset_minutes))
    t = datetime.datetime.fromtimestamp(ms / 1000, tz)
    return t.isoformat(timespec="milliseconds")


class DelayedChecks:
    """Assertions shared by the embedded and the Redis tests."""

    def assertRanAtItsTime(self, body):
        """Every group processed the event once, its one attempt at or
        after notBefore."""
        self.assertIn("notBefore", body, body)
        for g in body["groups"]:
            self.assertEqual(g["status"], "processed", body)
            self.assertEqual(len(g["attempts"]), 1, g)
            a = g["attempts"][0]
            self.assertEqual(a["attempt"], 1, a)
            self.assertGreaterEqual(a["at"], body["notBefore"],
                                    f"{body['eventId']} ran before its time: "
                                    f"{g}")


class HttpDelayedTest(DelayedChecks, hc.NodeTestCase):

    def test_delay_and_not_before_over_http(self):
        n = self.start_node(GROUPS)
        # A delay of an hour: scheduled in both groups, with its time.
        r = n.publish({"id": "later", "type": "order.created",
                       "payload": {"n": 1}, "delay": "1h"})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json, {"eventId": "later", "status": "accepted"})
        body = n.event("later").json
        self.assertEqual(body["status"], "scheduled", body)
        self.assertEqual(body["notBefore"], body["createdAt"] + HOUR_MS)
        self.assertEqual(sorted((g["group"], g["status"], g["attempts"])
                                for g in body["groups"]),
                         [("audit", "scheduled", []),
                          ("orders", "scheduled", [])])
        # Each group's first attempt is due at notBefore.
        self.assertEqual([g.get("nextAttemptAt") for g in body["groups"]],
                         [body["notBefore"]] * 2, body)
        listed = n.get("/events?status=scheduled").json
        self.assertEqual(sorted((e["eventId"], e["group"], e["status"])
                                for e in listed["events"]),
                         [("later", "audit", "scheduled"),
                          ("later", "orders", "scheduled")])
        self.assertEqual(n.metrics().get("onceflow_delayed_events"), 2)
        # A duplicate tells the original's status.
        r = n.publish({"id": "later", "type": "order.created", "delay": "5s"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["original"]["status"], "scheduled", r)
        self.assertEqual(n.event("later").json["notBefore"],
                         body["notBefore"])

        # Short delays run, at or after their time: a delay in ms, an RFC
        # 3339 time with an offset, epoch ms.
        t = now_ms()
        cases = [
            ({"id": "ms", "type": "order.created", "delay": 1500}, None),
            ({"id": "rfc", "type": "order.created",
              "notBefore": rfc3339(t + 2000, offset_minutes=120)},
             t + 2000),
            ({"id": "epoch", "type": "user.signup", "notBefore": t + 2500},
             t + 2500),
        ]
        for ev, expect in cases:
            r = n.publish(ev)
            self.assertEqual(r.status, 202, r)
            if expect is not None:
                self.assertEqual(n.event(ev["id"]).json["notBefore"], expect)
        for ev, _ in cases:
            self.assertRanAtItsTime(n.wait_status(ev["id"], "processed"))
        ms = n.event("ms").json
        self.assertEqual(ms["notBefore"], ms["createdAt"] + 1500)
        # A time in the past runs at once: not a delayed event.
        r = n.publish({"id": "past", "type": "order.created",
                       "notBefore": "2020-01-01T00:00:00Z"})
        self.assertEqual(r.status, 202, r)
        self.assertNotIn("notBefore", n.wait_status("past", "processed"))
        # The hour-long one is still waiting; cancelled, the gauge drops.
        self.assertEqual(n.event("later").json["status"], "scheduled")
        r = n.post("/events/later/cancel")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(n.metrics().get("onceflow_delayed_events"), 0)

    def test_bad_delays_are_400_naming_the_field(self):
        n = self.start_node(GROUPS)
        bad = [
            ({"delay": "soon"}, "delay", "duration"),
            ({"delay": 1.5}, "delay", "whole number"),
            ({"delay": -1}, "delay", "negative"),
            ({"delay": "-1s"}, "delay", "negative"),
            ({"delay": ""}, "delay", "empty"),
            ({"delay": "25h"}, "delay", "max-delay"),
            ({"notBefore": "tomorrow"}, "notBefore", "RFC 3339"),
            ({"notBefore": "2030-05-01T12:00:00"}, "notBefore", "zone"),
            ({"notBefore": rfc3339(now_ms() + 25 * HOUR_MS)}, "notBefore",
             "max-delay"),
            ({"notBefore": now_ms() + 25 * HOUR_MS}, "notBefore",
             "max-delay"),
            ({"delay": "5s", "notBefore": now_ms() + 5000}, "delay",
             "both"),
        ]
        for i, (extra, field, says) in enumerate(bad):
            ev = {"id": f"bad-{i}", "type": "order.created", **extra}
            r = n.publish(ev)
            self.assertError(r, 400, field=field)
            self.assertIn(says, r.json["error"], r)
            self.assertEqual(n.event(f"bad-{i}").status, 404)
        # In a batch each item is judged on its own.
        r = n.post("/events/batch", {"events": [
            {"id": "b-ok", "type": "order.created", "delay": "1h"},
            {"id": "b-bad", "type": "order.created", "delay": "1 hour"}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["accepted"], 1, r)
        self.assertEqual(r.json["rejected"], 1, r)
        self.assertEqual(r.json["results"][1]["field"], "delay", r)
        self.assertEqual(n.event("b-ok").json["status"], "scheduled")
        self.assertEqual(n.event("b-bad").status, 404)
        # A node with a smaller maximum, and one without delayed events.
        m = self.start_node(GROUPS, name="small",
                            events={"max-delay": "10s"})
        self.assertEqual(m.publish({"type": "t.x", "delay": "10s"}).status,
                         202)
        r = m.publish({"type": "t.x", "delay": "11s"})
        self.assertError(r, 400, field="delay")
        self.assertIn("maximum delay of 10s", r.json["error"])
        off = self.start_node(GROUPS, name="off", events={"max-delay": "0s"})
        r = off.publish({"type": "t.x", "delay": "1s"})
        self.assertError(r, 400, field="delay")
        self.assertIn("delayed events are off", r.json["error"])
        r = n.get("/events?status=soon")
        self.assertError(r, 400, field="status")
        self.assertIn("scheduled", r.json["error"])

    def test_cancel(self):
        n = self.start_node(GROUPS)
        # Delays with room for a slow machine: the cancel must come first.
        for ev in ({"id": "c1", "type": "order.created", "delay": "5s"},
                   {"id": "c2", "type": "order.created", "delay": "6s"},
                   {"id": "plain", "type": "order.created"}):
            self.assertEqual(n.publish(ev).status, 202)
        r = n.post("/events/c1/cancel")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["eventId"], "c1")
        self.assertEqual(r.json["status"], "cancelled")
        self.assertEqual(r.json["cancelled"], 2)
        self.assertEqual(sorted((g["group"], g["status"])
                                for g in r.json["groups"]),
                         [("audit", "cancelled"), ("orders", "cancelled")])
        # Again: nothing more to cancel, still 200.
        r = n.post("/events/c1/cancel")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["cancelled"], 0)
        # c2 (due after c1) runs; c1 would have run before it.
        self.assertRanAtItsTime(n.wait_status("c2", "processed"))
        body = n.event("c1").json
        self.assertEqual(body["status"], "cancelled", body)
        self.assertEqual([g["attempts"] for g in body["groups"]], [[], []])
        listed = n.get("/events?status=cancelled").json["events"]
        self.assertEqual(sorted((e["eventId"], e["group"]) for e in listed),
                         [("c1", "audit"), ("c1", "orders")])
        effects = hc.count_effects(os.path.join(n.data_dir, "onceflow.db"))
        self.assertNotIn(("orders", "c1"), effects)
        self.assertNotIn(("audit", "c1"), effects)
        self.assertEqual(effects[("orders", "c2")], 1)
        # Too late: it ran in every group.
        r = n.post("/events/c2/cancel")
        self.assertEqual(r.status, 409, r)
        self.assertIn("already started", r.json["error"])
        self.assertEqual(r.json["status"], "processed")
        n.wait_status("plain", "processed")
        r = n.post("/events/plain/cancel")
        self.assertEqual(r.status, 409, r)
        self.assertIn("not delayed", r.json["error"])
        r = n.post("/events/nope/cancel")
        self.assertError(r, 404, field="id")
        r = n.get("/events/c1/cancel")
        self.assertEqual(r.status, 405, r)
        self.assertEqual(r.header("Allow"), "POST")

    def test_cancel_needs_the_publish_role(self):
        keys = ["pub:pub-key-0001:publish", "ro:read-key-0001:read"]
        n = self.start_node(GROUPS, http={"api-keys": qlist(keys)},
                            token="pub-key-0001")
        self.assertEqual(n.publish({"id": "k", "type": "t.x",
                                    "delay": "1h"}).status, 202)
        r = n.post("/events/k/cancel", token="read-key-0001")
        self.assertEqual(r.status, 403, r)
        self.assertEqual(n.post("/events/k/cancel").status, 200)

    def test_kill9_while_events_are_delayed(self):
        """Delayed events accepted (202), some cancelled, then kill -9: after
        a restart every one is there; each that was not cancelled runs once
        in each of its groups, at or after its time; the cancelled ones
        never run."""
        cfg = self.node_config(GROUPS)
        n = self.start_node({}, config=cfg)
        t = now_ms()
        events = [self._event(i, t) for i in range(30)]
        ids = [ev["id"] for ev in events]
        r = n.post("/events/batch", events)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["accepted"], 30, r)
        cancelled = ids[:5]
        for i in cancelled:
            self.assertEqual(n.post(f"/events/{i}/cancel").status, 200)
        n.kill9()
        m = self.start_node({}, config=cfg, name="again")
        for i in ids:
            self.assertEqual(m.event(i).status, 200, i)
        for i in ids[5:]:
            self.assertRanAtItsTime(m.wait_status(i, "processed",
                                                  timeout=60))
        for i in cancelled:
            self.assertEqual(m.event(i).json["status"], "cancelled", i)
        effects = hc.count_effects(os.path.join(m.data_dir, "onceflow.db"))
        expected = {(g, i) for g in ("orders", "audit") for i in ids[5:]}
        self.assertEqual(set(effects), expected)
        self.assertEqual({k: v for k, v in effects.items() if v != 1}, {})

    @staticmethod
    def _event(i, t):
        """Due 6 s to 9 s from t (room for the cancels and the kill on a
        slow machine): by delay (odd) or by time (even)."""
        ev = {"id": f"k9-{i:02d}", "type": "order.created",
              "payload": {"i": i}}
        if i % 2:
            ev["delay"] = f"{6000 + 100 * i}ms"
        else:
            ev["notBefore"] = t + 6000 + 100 * i
        return ev

    def test_cli_publish_delayed(self):
        cfg = self.node_config(GROUPS)
        n = self.start_node({}, config=cfg)
        path = cfg[0]
        r = op.run(op.BINARY, "publish", "--config", path, "--type",
                   "order.created", "--payload", '{"a":1}', "--id", "cli-1",
                   "--delay", "2s")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("cli-1 accepted", r.stdout)
        body = n.event("cli-1").json
        self.assertEqual(body["notBefore"], body["createdAt"] + 2000, body)
        at = now_ms() + 2000
        r = op.run(op.BINARY, "publish", "--config", path, "--type",
                   "order.created", "--id", "cli-2", "--not-before",
                   rfc3339(at))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(n.event("cli-2").json["notBefore"], at)
        lines = op.write_events(os.path.join(self.dir, "delayed.jsonl"), [
            {"id": "f-1", "type": "order.created", "payload": {},
             "delay": "1s"},
            {"id": "f-2", "type": "order.created", "payload": {},
             "notBefore": at},
            {"id": "f-bad", "type": "order.created", "payload": {},
             "delay": "48h"}])
        r = op.run(op.BINARY, "publish", "--config", path, "--file", lines)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("line 3: error: field 'delay'", r.stdout)
        for i in ("cli-1", "cli-2", "f-1", "f-2"):
            self.assertRanAtItsTime(n.wait_status(i, "processed"))
        self.assertEqual(n.event("f-bad").status, 404)
        r = op.run(op.BINARY, "publish", "--config", path, "--type",
                   "order.created", "--id", "cli-3", "--delay", "2 days")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("field 'delay'", r.stdout)
        # `onceflow status --id` tells the status per group.
        r = op.run(op.BINARY, "publish", "--config", path, "--type",
                   "order.created", "--id", "cli-later", "--delay", "1h")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = op.run(op.BINARY, "status", "--config", path, "--id", "cli-later")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(sorted(r.stdout.split("\n")[:2]),
                         ["cli-later audit scheduled",
                          "cli-later orders scheduled"], r.stdout)
        r = op.run(op.BINARY, "publish", "--config", path, "--file", lines,
                   "--delay", "1s")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("--delay and --not-before go with --type", r.stderr)


class RedisDelayedTest(DelayedChecks, RedisNodesBase):
    """Two nodes on one redis-server: the node that accepted delayed events
    is killed before they are due; the other runs each at its time, once
    (counted from Redis's own effect records), and a cancel through it
    holds."""

    GROUPS = {"work": {"handler": q("store"), "subscriptions": qlist(["*"]),
                       "concurrency": "2"}}

    def test_kill9_of_the_accepting_node(self):
        self.start_redis(appendonly=True, appendfsync="always")
        ports = {}
        for name in ("node-1", "node-2"):
            ports[name] = op.free_port()
            self.config_for(name, http_port=ports[name])
        for name in ("node-1", "node-2"):
            self.start_node(name)
        t = now_ms()
        events = [{"id": f"r-{i:02d}", "type": "job.run", "payload": {"i": i},
                   "notBefore": t + 6000 + 50 * i} for i in range(20)]
        r = hc.request(ports["node-1"], "POST", "/events/batch", events)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["accepted"], 20, r)
        cancelled = ["r-00", "r-01", "r-02"]
        for i in cancelled:
            r = hc.request(ports["node-2"], "POST", f"/events/{i}/cancel")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["cancelled"], 1, r)
        self.nodes["node-1"].kill9()
        runs = [e["id"] for e in events if e["id"] not in cancelled]

        def processed():
            return len(self.records("work")) >= len(runs)
        op.wait_until(processed, 60, "node-2 to run the delayed events")
        records = self.records("work")
        self.assertEqual(sorted(rec["i"] for rec in records.values()),
                         sorted(runs))
        self.assertEqual(self.dup_keys(), [])
        for i in runs:
            r = hc.request(ports["node-2"], "GET", f"/events/{i}")
            self.assertEqual(r.status, 200, r)
            self.assertRanAtItsTime(r.json)
            self.assertEqual(r.json["groups"][0]["attempts"][0]["node"],
                             "node-2")
        for i in cancelled:
            r = hc.request(ports["node-2"], "GET", f"/events/{i}")
            self.assertEqual(r.json["status"], "cancelled", r)


if __name__ == "__main__":
    op.main()
