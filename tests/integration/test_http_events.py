"""Integration tests of the HTTP API (docs/http-api.md) against real
`onceflow node` processes on free ports: publishing and
reading events.

POST /events (202, 200 duplicate with the original's status), GET
/events/{id} with its attempt history, event ids (generated UUIDv7s, header
and body ids, odd characters), POST /events/batch (per-item results, the
max-batch limit), GET /events?status= with paging; concurrent duplicates
are accepted once; every event answered 202 survives a kill -9 and is
processed once (the store handler's own records).

Run: python3 tests/integration/test_http_events.py
     --binary BUILD/onceflow [--config-dir config] [unittest args]
"""

import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import http_client as hc  # noqa: E402
import onceflow_proc as op  # noqa: E402
from http_client import GROUPS, q, qlist, store_group  # noqa: E402

# Generated ids are UUIDv7 (time-ordered: docs/http-api.md).
UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}"
                   r"-[0-9a-f]{12}$", re.I)


class HttpEventsTest(hc.NodeTestCase):

    # -- POST /events, GET /events/{id} --------------------------------------

    def test_publish_get_and_duplicate(self):
        n = self.start_node(GROUPS)
        ev = {"type": "order.created", "payload": {"order": 1001},
              "priority": "high"}
        r = n.publish(ev, headers={"Idempotency-Key": "order-1001"})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json, {"eventId": "order-1001",
                                  "status": "accepted"})
        body = n.wait_status("order-1001", "processed")
        self.assertEqual(body["eventId"], "order-1001")
        self.assertEqual(body["type"], "order.created")
        self.assertEqual(body["priority"], "high")
        self.assertEqual(body["payload"], {"order": 1001})
        self.assertIsInstance(body["createdAt"], int)
        now_ms = time.time() * 1000
        self.assertLess(abs(body["createdAt"] - now_ms), 120_000,
                        "createdAt is not epoch milliseconds")
        self.assertIsInstance(body["traceId"], str)
        self.assertTrue(body["traceId"])
        self.assertIsInstance(body["seq"], int)
        self.assertEqual(body["acceptedBy"], "test-node")
        self.assertEqual(body["duplicates"], {"count": 0, "firstAt": None,
                                              "lastAt": None,
                                              "lastNode": None})
        groups = {g["group"]: g for g in body["groups"]}
        self.assertEqual(set(groups), {"orders", "audit"})
        for name, g in groups.items():
            self.assertEqual(g["status"], "processed", g)
            self.assertEqual(len(g["attempts"]), 1, g)
            a = g["attempts"][0]
            self.assertEqual(a["attempt"], 1, a)
            self.assertEqual(a["outcome"], "success", a)
            self.assertEqual(a["node"], "test-node", a)
            self.assertTrue(a["listener"].startswith(name + "/"), a)
            self.assertIsInstance(a["epoch"], int)
            self.assertIsInstance(a["at"], int)
            self.assertGreaterEqual(a["at"], body["createdAt"])
            self.assertEqual(a["error"], "", a)
            # The store handler records its effect: under the attempt's
            # lease, by attempt 1.
            self.assertEqual(g["effect"]["epoch"], a["epoch"], g)
            self.assertEqual(g["effect"]["attempt"], 1, g)
            self.assertGreaterEqual(g["effect"]["at"], body["createdAt"], g)

        # The same id again (header or body): 200 duplicate with the
        # original's status; nothing new is stored.
        for kw in ({"headers": {"Idempotency-Key": "order-1001"}}, {}):
            again = dict(ev, payload={"order": 2})
            if not kw:
                again["id"] = "order-1001"
            r = n.publish(again, **kw)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["eventId"], "order-1001")
            self.assertEqual(r.json["status"], "duplicate")
            self.assertEqual(r.json["original"]["status"], "processed", r)
            self.assertIn({"group": "orders", "status": "processed"},
                          r.json["original"]["groups"])
            self.assertIn({"group": "audit", "status": "processed"},
                          r.json["original"]["groups"])
        again = n.event("order-1001").json
        self.assertEqual(again["payload"], {"order": 1001})
        # The two duplicate submissions are counted with the original.
        dups = again["duplicates"]
        self.assertEqual(dups["count"], 2, dups)
        self.assertEqual(dups["lastNode"], "test-node", dups)
        self.assertLessEqual(body["createdAt"], dups["firstAt"])
        self.assertLessEqual(dups["firstAt"], dups["lastAt"])

        # Only subscribed groups; defaults: payload {}, priority normal.
        r = n.publish({"id": "u-1", "type": "user.signup"})
        self.assertEqual(r.status, 202, r)
        body = n.wait_status("u-1", "processed")
        self.assertEqual([g["group"] for g in body["groups"]], ["audit"])
        self.assertEqual(body["payload"], {})
        self.assertEqual(body["priority"], "normal")
        self.assertGreater(body["seq"], n.event("order-1001").json["seq"])

        r = n.get("/events/no-such-event")
        self.assertError(r, 404)

    def test_event_ids(self):
        n = self.start_node(GROUPS)
        # Generated ids are UUIDv7s, distinct.
        ids = set()
        for _ in range(3):
            r = n.publish({"type": "order.created", "payload": {}})
            self.assertEqual(r.status, 202, r)
            self.assertRegex(r.json["eventId"], UUID7)
            ids.add(r.json["eventId"])
        self.assertEqual(len(ids), 3)
        n.wait_all_processed(ids)
        # Header and body id equal: fine; different: 400, nothing stored.
        r = n.publish({"id": "same-1", "type": "t.x"},
                      headers={"Idempotency-Key": "same-1"})
        self.assertEqual(r.status, 202, r)
        r = n.publish({"id": "body-1", "type": "t.x"},
                      headers={"Idempotency-Key": "header-1"})
        self.assertError(r, 400, fields=("id", "Idempotency-Key"))
        self.assertEqual(n.event("body-1").status, 404)
        self.assertEqual(n.event("header-1").status, 404)
        # 1..128 printable ASCII bytes.
        r = n.publish({"id": "x" * 128, "type": "t.x"})
        self.assertEqual(r.status, 202, r)
        for bad in ("", "x" * 129, "caf\u00e9", "tab\there", "del\x7f",
                    "nl\nx", "with space"):
            with self.subTest(id=bad):
                r = n.publish({"id": bad, "type": "t.x"})
                self.assertError(r, 400, field="id")
        r = n.publish({"type": "t.x"},
                      headers={"Idempotency-Key": "k" * 129})
        self.assertError(r, 400, fields=("id", "Idempotency-Key"))
        self.assertEqual(n.event("k" * 129).status, 404)
        # Reserved URL characters in an id: addressable percent-encoded.
        # (Ids are printable ASCII without spaces: docs/http-api.md.)
        for odd in ("a/b?c#d%e&f=g+h", "~!@$^*()[]{}|\\:;'<>,`"):
            with self.subTest(id=odd):
                r = n.publish({"id": odd, "type": "t.x", "payload": {"k": 1}})
                self.assertEqual(r.status, 202, r)
                self.assertEqual(r.json["eventId"], odd)
                body = n.wait_status(odd, "processed")
                self.assertEqual(body["eventId"], odd)
                self.assertEqual(body["payload"], {"k": 1})
        n.wait_all_processed(["x" * 128, "same-1"])

    # -- POST /events/batch -----------------------------------------------------

    def test_batch(self):
        n = self.start_node(GROUPS)
        self.assertEqual(n.publish({"id": "order-1001", "type":
                                    "order.created"}).status, 202)
        n.wait_status("order-1001", "processed")
        r = n.post("/events/batch", {"events": [
            {"type": "order.created", "payload": {"order": 1}},
            {"type": "bad type!", "payload": {}},
            {"id": "order-1001", "type": "order.created",
             "payload": {"order": 1001}},
            {"id": "b-big", "type": "order.created",
             "payload": {"big": "x" * 300000}},
            {"id": "b-arr", "type": "t.x", "payload": [1]},
            {"id": "b-ok", "type": "order.created", "priority": "low"},
            5,
            {"id": "b-extra", "type": "t.x", "nope": True},
        ]})
        self.assertEqual(r.status, 200, r)
        j = r.json
        self.assertEqual((j["accepted"], j["duplicates"], j["rejected"]),
                         (2, 1, 5), j)
        res = j["results"]
        self.assertEqual([x["index"] for x in res], list(range(8)), j)
        self.assertEqual([x["status"] for x in res],
                         ["accepted", "rejected", "duplicate", "rejected",
                          "rejected", "accepted", "rejected", "rejected"], j)
        self.assertRegex(res[0]["eventId"], UUID7)
        self.assertEqual((res[1]["field"], res[1]["code"]), ("type", 400))
        self.assertTrue(res[1]["error"])
        self.assertEqual(res[2]["eventId"], "order-1001")
        self.assertEqual(res[2]["original"]["status"], "processed", res[2])
        self.assertEqual((res[3]["field"], res[3]["code"]), ("payload", 413))
        self.assertEqual((res[4]["field"], res[4]["code"]), ("payload", 400))
        self.assertEqual(res[5]["eventId"], "b-ok")
        self.assertEqual(res[6]["code"], 400)
        self.assertEqual((res[7]["field"], res[7]["code"]), ("nope", 400))
        for i in ("b-big", "b-arr", "b-extra"):
            self.assertEqual(n.event(i).status, 404, i)
        n.wait_all_processed([res[0]["eventId"], "b-ok"])
        self.assertEqual(n.event("b-ok").json["priority"], "low")
        # A bare array works too.
        r = n.post("/events/batch", [{"id": "ba-1", "type": "t.x"},
                                     {"id": "ba-2", "type": "t.x"}])
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["accepted"], r.json["rejected"]), (2, 0), r)
        # The same id twice in one batch: stored once.
        r = n.post("/events/batch", [{"id": "twice", "type": "order.a"},
                                     {"id": "twice", "type": "order.a"}])
        self.assertEqual(r.status, 200, r)
        self.assertEqual([x["status"] for x in r.json["results"]].count(
            "accepted"), 1, r)
        # max-batch (default 1000): 1000 is fine, 1001 is 413.
        r = n.post("/events/batch", [{"id": f"bm-{i}", "type": "t.x"}
                                     for i in range(1001)])
        self.assertError(r, 413)
        self.assertEqual(n.event("bm-0").status, 404)
        r = n.post("/events/batch", {"events": [
            {"id": f"bm-{i}", "type": "t.x"} for i in range(1000)]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["accepted"], 1000, r.json["rejected"])
        self.assertEqual([x["eventId"] for x in r.json["results"]],
                         [f"bm-{i}" for i in range(1000)])
        # Broken batch bodies.
        self.assertError(n.req("POST", "/events/batch", b'{"events": [{'),
                         400, field="body")
        self.assertError(n.post("/events/batch", {"events": 5}), 400,
                         field="events")
        self.assertError(n.post("/events/batch", {"events": {"a": 1}}), 400,
                         field="events")
        self.assertError(n.req("POST", "/events/batch", b'"x"'), 400)
        n.wait_all_processed(["ba-1", "ba-2", "twice"])
        effects = hc.count_effects(os.path.join(n.data_dir, "onceflow.db"))
        self.assertEqual(effects.get(("orders", "twice")), 1)
        self.assertEqual(effects.get(("audit", "twice")), 1)

    # -- GET /events?status= ----------------------------------------------------

    def test_list_events(self):
        n = self.start_node(GROUPS)
        ids = [f"l-{i}" for i in range(7)]
        for i in ids:
            self.assertEqual(n.publish({"id": i, "type": "order.x"}).status,
                             202)
        for i in ("lu-0", "lu-1"):
            self.assertEqual(n.publish({"id": i, "type": "user.x"}).status,
                             202)
        n.wait_all_processed(ids + ["lu-0", "lu-1"])

        over = []

        def pages(query, limit):
            seen, after, calls = [], None, 0
            while True:
                path = f"/events?{query}&limit={limit}"
                if after is not None:
                    path += "&after=" + hc.quote(after)
                r = n.get(path)
                self.assertEqual(r.status, 200, r)
                if len(r.json["events"]) > limit:
                    over.append((path, len(r.json["events"])))
                seen.extend(r.json["events"])
                after = r.json["next"]
                calls += 1
                self.assertLess(calls, 50, "paging does not end")
                if after is None:
                    return seen, calls
                self.assertIsInstance(after, str)

        items, calls = pages("status=processed", 3)
        pairs = [(x["eventId"], x["group"]) for x in items]
        self.assertEqual(len(pairs), len(set(pairs)), "an item twice")
        expected = {(i, g) for i in ids for g in ("orders", "audit")}
        expected |= {("lu-0", "audit"), ("lu-1", "audit")}
        self.assertEqual(set(pairs), expected)
        if not over:
            self.assertGreaterEqual(calls, 6)
        for x in items:
            self.assertEqual(x["status"], "processed")
            self.assertIsInstance(x["seq"], int)
            self.assertEqual(x["type"], "user.x" if x["eventId"]
                             .startswith("lu") else "order.x")
        items, _ = pages("status=processed&group=orders", 100)
        self.assertEqual(sorted(x["eventId"] for x in items), sorted(ids))
        self.assertTrue(all(x["group"] == "orders" for x in items))
        items, _ = pages("status=dead", 10)
        self.assertEqual(items, [])
        items, _ = pages("status=retrying", 1000)
        self.assertEqual(items, [])
        # Default limit.
        r = n.get("/events?status=processed")
        self.assertEqual(r.status, 200, r)
        for path, field in (("/events", "status"),
                            ("/events?status=bogus", "status"),
                            ("/events?status=accepted", "status"),
                            ("/events?status=processed&limit=0", "limit"),
                            ("/events?status=processed&limit=1001", "limit"),
                            ("/events?status=processed&limit=x", "limit"),
                            ("/events?status=processed&limit=-1", "limit")):
            with self.subTest(path=path):
                self.assertError(n.get(path), 400, field=field)
        self.assertEqual(over, [], "pages with more items than `limit`")

    def test_concurrent_duplicates_are_accepted_once(self):
        n = self.start_node(GROUPS)
        ids = [f"cd-{i}" for i in range(25)]
        results = {i: [] for i in ids}
        lock = threading.Lock()
        barrier = threading.Barrier(6)

        def client(t):
            barrier.wait()
            order = ids if t % 2 == 0 else list(reversed(ids))
            for i in order:
                if t % 3 == 0:
                    r = n.post("/events/batch", [{"id": i, "type":
                                                  "order.x"}])
                    st = (r.json["results"][0]["status"] if r.status == 200
                          else r.status)
                else:
                    r = n.publish({"id": i, "type": "order.x"})
                    st = r.json.get("status") if r.json else r.status
                with lock:
                    results[i].append(st)
        threads = [threading.Thread(target=client, args=(t,))
                   for t in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        for i in ids:
            self.assertEqual(sorted(results[i]),
                             ["accepted"] + ["duplicate"] * 5, i)
        n.wait_all_processed(ids)
        effects = hc.count_effects(os.path.join(n.data_dir, "onceflow.db"))
        self.assertEqual({k: v for k, v in effects.items()},
                         {(g, i): 1 for i in ids for g in ("orders",
                                                           "audit")})
        m = n.metrics()
        self.assertEqual(m.get("onceflow_events_accepted_total",
                               type="order.x"), 25)
        self.assertEqual(m.get("onceflow_events_duplicate_total",
                               type="order.x"), 125)

    def test_202_survives_kill9(self):
        """A 202 means durable: clients publish while the node is killed
        with SIGKILL; after a restart every event answered 202 is there and
        is processed once."""
        cfg = self.node_config({"orders": store_group(["order.*"]),
                                "slow": {"handler": q("simulate"),
                                         "subscriptions": qlist(["*"]),
                                         "latency": "5ms",
                                         "concurrency": 1}})
        n = self.start_node({}, config=cfg)
        accepted, lock, stop = [], threading.Lock(), threading.Event()

        def client(t):
            i = 0
            while not stop.is_set():
                eid = f"k9-{t}-{i}"
                i += 1
                try:
                    if i % 4 == 0:
                        r = n.post("/events/batch", [
                            {"id": f"{eid}-{k}", "type": "order.x"}
                            for k in range(5)], timeout=5)
                        if r.status == 200:
                            with lock:
                                accepted.extend(
                                    x["eventId"] for x in r.json["results"]
                                    if x["status"] == "accepted")
                    else:
                        r = n.publish({"id": eid, "type": "order.x"},
                                      timeout=5)
                        if r.status == 202:
                            with lock:
                                accepted.append(eid)
                except OSError:
                    if not n.alive():
                        return
        threads = [threading.Thread(target=client, args=(t,))
                   for t in range(4)]
        for th in threads:
            th.start()
        op.wait_until(lambda: len(accepted) >= 300, 30,
                      "300 accepted events before the kill")
        n.kill9()
        stop.set()
        for th in threads:
            th.join(30)
        got = list(accepted)
        m = self.start_node({}, config=cfg, name="again",
                            extra=["--groups.slow.latency=0ms"])
        missing = [i for i in got if m.event(i).status != 200]
        self.assertEqual(missing, [], f"{len(missing)} of {len(got)} "
                         "events answered 202 are gone")
        m.wait_all_processed(got, timeout=60)
        effects = hc.count_effects(os.path.join(m.data_dir, "onceflow.db"))
        self.assertTrue({("orders", i) for i in got} <= set(effects))
        self.assertEqual({k: v for k, v in effects.items() if v != 1}, {})


if __name__ == "__main__":
    op.main()
