"""Integration tests of the HTTP API (docs/http-api.md) against real
`onceflow node` processes on free ports: the dead letter
queue.

GET /failed-events (pages, per group), GET and DELETE
/failed-events/{id}, replay of one event and of all of a group at a rate
with progress; dead events keep their attempt history; a group the node
does not run is a 404 naming it; purge of one group's entries or all.

Run: python3 tests/integration/test_http_dlq.py
     --binary BUILD/onceflow [--config-dir config] [unittest args]
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import http_client as hc  # noqa: E402
import onceflow_proc as op  # noqa: E402
from http_client import q, qlist, store_group  # noqa: E402


class HttpDlqTest(hc.NodeTestCase):

    # -- DLQ endpoints ----------------------------------------------------------

    def test_failed_events(self):
        sim = {"handler": q("simulate"), "subscriptions": qlist(["sim.*"]),
               "retry-base": "100ms", "jitter": "false", "max-attempts": 2,
               "concurrency": 1}
        n = self.start_node({"sim": sim, "orders": store_group(["order.*"])})
        for i in (1, 2, 3):
            r = n.publish({"id": f"f-{i}", "type": "sim.x",
                           "payload": {"simulate": {"permanent": True}}})
            self.assertEqual(r.status, 202, r)
            n.wait_status(f"f-{i}", "dead")
        r = n.publish({"id": "f-4", "type": "sim.x",
                       "payload": {"simulate": {"fail_attempts": 5}}})
        self.assertEqual(r.status, 202, r)
        body = n.wait_status("f-4", "dead")
        self.assertEqual([a["outcome"] for a in body["groups"][0]["attempts"]],
                         ["retryable", "retryable"], body)
        self.assertEqual(n.publish({"id": "o-1", "type":
                                    "order.x"}).status, 202)
        n.wait_status("o-1", "processed")

        r = n.get("/failed-events")
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json["next"], r)
        evs = r.json["events"]
        self.assertEqual([e["eventId"] for e in evs],
                         ["f-1", "f-2", "f-3", "f-4"], r)
        e1, e4 = evs[0], evs[3]
        self.assertEqual((e1["group"], e1["type"], e1["reason"],
                          e1["attempts"]),
                         ("sim", "sim.x", "permanent_error", 1), e1)
        self.assertIsInstance(e1["error"], str)
        self.assertIsInstance(e1["deadAt"], int)
        self.assertEqual((e4["reason"], e4["attempts"]),
                         ("retries_exhausted", 2), e4)
        self.assertLessEqual(evs[0]["deadAt"], evs[3]["deadAt"])
        # Pages.
        r = n.get("/failed-events?limit=2")
        self.assertEqual([e["eventId"] for e in r.json["events"]],
                         ["f-1", "f-2"], r)
        self.assertIsNotNone(r.json["next"])
        r = n.get("/failed-events?limit=2&after=" + hc.quote(r.json["next"]))
        self.assertEqual([e["eventId"] for e in r.json["events"]],
                         ["f-3", "f-4"], r)
        if r.json["next"] is not None:
            r = n.get("/failed-events?limit=2&after="
                      + hc.quote(r.json["next"]))
            self.assertEqual(r.json["events"], [], r)
            self.assertIsNone(r.json["next"], r)
        r = n.get("/events?status=dead&limit=1000")
        self.assertEqual(sorted((x["eventId"], x["group"], x["status"])
                                for x in r.json["events"]),
                         [(f"f-{i}", "sim", "dead") for i in (1, 2, 3, 4)], r)
        self.assertEqual(n.get("/events?status=dead&group=orders").json[
            "events"], [])
        with self.subTest(field="groups.failed"):
            gs = {g["name"]: g for g in n.get("/groups").json["groups"]}
            self.assertEqual(gs["sim"].get("failed"), 4, gs)
        r = n.get("/failed-events?group=orders")
        self.assertEqual(r.json["events"], [], r)
        r = n.get("/failed-events?group=sim&limit=1000")
        self.assertEqual(len(r.json["events"]), 4, r)
        self.assertError(n.get("/failed-events?limit=0"), 400, field="limit")
        # One event.
        r = n.get("/failed-events/f-1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["eventId"], "f-1")
        self.assertEqual(len(r.json["entries"]), 1, r)
        ent = r.json["entries"][0]
        self.assertEqual((ent["group"], ent["reason"]),
                         ("sim", "permanent_error"), ent)
        self.assertIsInstance(ent["deadAt"], int)
        self.assertEqual(ent["event"]["type"], "sim.x", ent)
        self.assertEqual(ent["event"]["payload"],
                         {"simulate": {"permanent": True}}, ent)
        self.assertEqual([a["outcome"] for a in ent["attempts"]],
                         ["permanent"], ent)
        self.assertError(n.get("/failed-events/nope"), 404)
        self.assertError(n.get("/failed-events/o-1"), 404)
        # Delete one.
        r = n.delete("/failed-events/f-2")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"eventId": "f-2", "deleted": 1})
        self.assertError(n.delete("/failed-events/f-2"), 404)
        self.assertError(n.get("/failed-events/f-2"), 404)
        self.assertNotIn("f-2", [e["eventId"] for e in
                                 n.get("/failed-events").json["events"]])
        op.wait_until(lambda: n.metrics().get("onceflow_dlq_size") == 3, 10,
                      "onceflow_dlq_size to be 3",
                      progress=lambda: n.metrics().get("onceflow_dlq_size"))
        # Replay one: unknown ids and groups are 404.
        self.assertError(n.post("/failed-events/nope/replay"), 404)
        self.assertError(n.post("/failed-events/f-1/replay?group=orders"),
                         404)
        r = n.post("/failed-events/f-1/replay")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"eventId": "f-1", "replayed": 1})
        # Permanent again: back in the DLQ, history kept (2 attempts).

        def died_again():
            b = n.event("f-1").json
            return (b["status"] == "dead"
                    and len(b["groups"][0]["attempts"]) == 2)
        op.wait_until(died_again, 15, "f-1 to die again after the replay",
                      progress=lambda: n.event("f-1").json)
        # Replay all of a group at a rate, with progress.
        before = {i: len(n.event(i).json["groups"][0]["attempts"])
                  for i in ("f-1", "f-3", "f-4")}
        r = n.post("/failed-events/replay", {"rate": 50, "group": "sim"})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json, {"replaying": 3, "rate": 50})
        last = {}

        def replay_done():
            p = n.get("/failed-events/replay")
            last["p"] = p
            return (p.status == 200 and p.json["active"] is False
                    and p.json["total"] == 3 and p.json["replayed"] == 3)
        op.wait_until(replay_done, 15, "the replay to finish",
                      progress=lambda: last.get("p"))
        for i in ("f-1", "f-3", "f-4"):
            def retried(i=i):
                b = n.event(i).json
                return (b["status"] == "dead" and len(b["groups"][0][
                    "attempts"]) == before[i] + (2 if i == "f-4" else 1))
            op.wait_until(retried, 15, f"{i} to be attempted again",
                          progress=lambda i=i: n.event(i).json)
        # A group this node does not run: 404 naming it (not "0 replayed").
        for r in (n.post("/failed-events/replay", {"rate": 1,
                                                    "group": "nope"}),
                  n.post("/failed-events/f-1/replay?group=nope"),
                  n.get("/failed-events?group=nope")):
            self.assertError(r, 404)
            self.assertIn("unknown group 'nope' (groups of this node: "
                          "orders, sim)", r.json["error"], r)
        self.assertEqual(n.get("/failed-events/replay").json["total"], 3)
        self.assertError(n.post("/failed-events/replay",
                                {"rate": 10, "bogus": 1}), 400, field="bogus")

    def test_purge(self):
        sim = {"handler": q("simulate"), "subscriptions": qlist(["sim.*"]),
               "concurrency": 1}
        sim2 = dict(sim, subscriptions=qlist(["sim.*", "other.*"]))
        n = self.start_node({"sim": sim, "sim2": sim2,
                             "orders": store_group(["order.*"])})
        bad = {"simulate": {"permanent": True}}
        ids = [f"p-{i}" for i in range(5)]
        r = n.post("/events/batch", [{"id": i, "type": "sim.x", "payload": bad}
                                     for i in ids]
                   + [{"id": "q-1", "type": "other.x", "payload": bad}])
        self.assertEqual(r.status, 200, r)
        for i in ids:
            n.wait_status(i, "dead")
        n.wait_status("q-1", "dead")
        op.wait_until(lambda: n.metrics().get("onceflow_dlq_size") == 11, 10,
                      "onceflow_dlq_size to be 11",
                      progress=lambda: n.metrics().get("onceflow_dlq_size"))
        # Unknown groups (neither configured nor in the DLQ) are 404 naming
        # the group; an empty group name is not "everything".
        r = n.delete("/failed-events?group=nope")
        self.assertError(r, 404)
        self.assertIn("unknown group 'nope'", r.json["error"], r)
        self.assertError(n.delete("/failed-events?group="), 400,
                         field="group")
        # A group without entries: nothing purged.
        r = n.delete("/failed-events?group=orders")
        self.assertEqual((r.status, r.json), (200, {"purged": 0,
                                                    "group": "orders"}), r)
        # One group: its entries go, the other group's stay; the counters
        # and /metrics follow.
        r = n.delete("/failed-events?group=sim")
        self.assertEqual((r.status, r.json), (200, {"purged": 5,
                                                    "group": "sim"}), r)
        r = n.get("/failed-events?limit=1000")
        self.assertEqual(sorted(e["eventId"] for e in r.json["events"]),
                         sorted(ids + ["q-1"]), r)
        self.assertEqual({e["group"] for e in r.json["events"]}, {"sim2"}, r)
        self.assertEqual(n.get("/failed-events?group=sim").json["events"],
                         [])
        self.assertEqual(n.metrics().get("onceflow_dlq_size"), 6)
        self.assertError(n.post("/failed-events/p-0/replay?group=sim"), 404)
        self.assertEqual(n.event("p-0").json["status"], "dead")  # sim2
        # The whole DLQ.
        r = n.delete("/failed-events")
        self.assertEqual((r.status, r.json), (200, {"purged": 6}), r)
        self.assertEqual(n.get("/failed-events").json["events"], [])
        self.assertEqual(n.metrics().get("onceflow_dlq_size"), 0)
        r = n.delete("/failed-events")
        self.assertEqual((r.status, r.json), (200, {"purged": 0}), r)
        # Purged events never run again.
        r = n.post("/failed-events/replay", {"rate": 1000})
        self.assertEqual(r.json["replaying"], 0, r)
        self.assertError(n.post("/failed-events/replay", b"{"), 400,
                         field="body")
        self.assertError(n.post("/failed-events/replay", {"rate": "fast"}),
                         400, field="rate")


if __name__ == "__main__":
    op.main()
