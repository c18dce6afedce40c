"""Integration tests of the HTTP API (docs/http-api.md) against real
`onceflow node` processes on free ports: operating a node.

The [http] options (port 0, disabled, bad values), /health and /ready,
pausing and resuming groups, metrics that change as events flow, 429 with
Retry-After under overload, 503 with Retry-After and /ready while the node
drains and while the store (a redis-server the test starts and kills) is
unavailable.

Run: python3 tests/integration/test_http_ops.py
     --binary BUILD/onceflow [--config-dir config] [unittest args]
"""

import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import http_client as hc  # noqa: E402
import onceflow_proc as op  # noqa: E402
from http_client import GROUPS, LIMITS, q, qlist, store_group  # noqa: E402


class HttpOpsTest(hc.NodeTestCase):

    # -- health ----------------------------------------------------------------

    def test_http_config(self):
        # port=0: a free port, announced in the log.
        cfg = self.node_config(GROUPS, http={"port": 0}, name="eph")
        n = hc.HttpNode(op.BINARY, cfg[0], os.path.join(self.dir,
                                                       "node-eph.log"),
                        None, cfg[2])
        self.addCleanup(n.close)
        found = {}

        def announced():
            self.assertTrue(n.alive(), op.tail(n.log_path))
            m = re.search(r"HTTP API listening on 127\.0\.0\.1:(\d+)",
                          op.tail(n.log_path, 100000))
            if m:
                found["port"] = int(m.group(1))
            return bool(m)
        op.wait_until(announced, 20, "the HTTP API to announce its port")
        n.port = found["port"]
        self.assertNotEqual(n.port, 0)
        self.assertEqual(n.get("/health").status, 200)
        self.assertEqual(n.publish({"id": "e-1", "type": "order.x"}).status,
                         202)
        n.wait_all_processed(["e-1"])
        n.close()
        # enabled=false: no HTTP server, the node runs.
        cfg = self.node_config(GROUPS, http={"enabled": "false"}, name="off")
        m = hc.HttpNode(op.BINARY, cfg[0], os.path.join(self.dir,
                                                       "node-off.log"),
                        cfg[1], cfg[2])
        self.addCleanup(m.close)
        op.wait_for(lambda: m.alive() and op.run(
            op.BINARY, "status", "--config", cfg[0]).returncode == 0, 20,
            "the node without HTTP to answer status")
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", cfg[1]), timeout=2).close()
        m.close()
        # Bad values name the option; exit code 2.
        for http, option in (({"port": 70000}, "http.port"),
                             ({"max-body-bytes": 0}, "http.max-body-bytes"),
                             ({"max-batch": 0}, "http.max-batch"),
                             ({"threads": 0}, "http.threads"),
                             ({"api-keys": qlist(["no-colons"])},
                              "http.api-keys"),
                             ({"api-keys": qlist(["a:k1:superuser"])},
                              "http.api-keys"),
                             ({"api-keys": qlist(["a:k1:read",
                                                  "b:k1:admin"])},
                              "http.api-keys"),
                             ({"api-keys-file": q(os.path.join(
                                 self.dir, "missing.txt"))},
                              "http.api-keys-file"),
                             ({"colour": q("blue")}, "http.colour")):
            with self.subTest(option=option, value=http):
                cfg = self.node_config(GROUPS, http=http, name="bad")
                r = op.run(op.BINARY, "node", "--config", cfg[0], timeout=30)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn(option, r.stderr)
                for secret in ("k1",):
                    self.assertNotIn(f":{secret}:", r.stderr,
                                     "a key is printed")

    def test_health_and_ready(self):
        n = self.start_node(GROUPS)
        r = n.get("/health")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"status": "ok"})
        self.assertTrue(r.header("Content-Type").startswith(
            "application/json"), r)
        r = n.get("/ready")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"status": "ready",
                                  "checks": {"store": "ok", "draining": "no"}})
        # No keys: open, with a warning in the log.
        log = op.tail(n.log_path, 100000).lower()
        self.assertTrue(any("warn" in line and ("auth" in line or "key" in
                                                 line)
                            for line in log.splitlines()),
                        "no warning about the open API")
        self.assertEqual(n.get("/groups").status, 200)

    # -- groups ----------------------------------------------------------------

    def test_groups_pause_resume(self):
        n = self.start_node({"orders": store_group(["order.*"]),
                             "audit": store_group(["*"], concurrency=3)})
        r = n.get("/groups")
        self.assertEqual(r.status, 200, r)
        gs = {g["name"]: g for g in r.json["groups"]}
        self.assertEqual(set(gs), {"orders", "audit"})
        o = gs["orders"]
        self.assertEqual((o["handler"], o["paused"], o["subscriptions"],
                          o["listeners"]),
                         ("store", False, ["order.*"], 2), o)
        self.assertEqual(gs["audit"]["listeners"], 3)
        for k in ("depth", "queued", "inFlight", "processed", "failed"):
            with self.subTest(field=k):
                self.assertEqual(o.get(k), 0, (k, o))
        self.assertIsInstance(o["ratePerSecond"], (int, float))

        r = n.post("/groups/orders/pause")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"group": "orders", "paused": True})
        r = n.post("/groups/orders/pause")
        self.assertEqual(r.json, {"group": "orders", "paused": True})
        gs = {g["name"]: g for g in n.get("/groups").json["groups"]}
        self.assertTrue(gs["orders"]["paused"])
        self.assertFalse(gs["audit"]["paused"])
        m = n.metrics()
        self.assertEqual(m.get("onceflow_group_paused", group="orders"), 1)
        self.assertEqual(m.get("onceflow_group_paused", group="audit"), 0)
        ids = [f"p-{i}" for i in range(5)]
        for i in ids:
            r = n.publish({"id": i, "type": "order.x"})
            self.assertEqual(r.status, 202, r)

        def audit_done():
            for i in ids:
                g = {x["group"]: x for x in n.event(i).json["groups"]}
                if g["audit"]["status"] != "processed":
                    return False
            return True
        op.wait_until(audit_done, 20, "audit to process while orders pauses")
        for i in ids:
            b = n.event(i).json
            g = {x["group"]: x for x in b["groups"]}
            self.assertEqual(g["orders"]["status"], "accepted", b)
            self.assertEqual(b["status"], "accepted", b)
        op.wait_until(lambda: {g["name"]: g for g in n.get("/groups").json[
            "groups"]}["orders"]["depth"] == 5, 10, "orders depth 5")
        gs = {g["name"]: g for g in n.get("/groups").json["groups"]}
        with self.subTest(field="processed"):
            self.assertEqual(gs["orders"].get("processed"), 0, gs)
        self.assertEqual(gs["orders"]["inFlight"], 0, gs)
        with self.subTest(field="processed"):
            self.assertEqual(gs["audit"].get("processed"), 5, gs)

        r = n.post("/groups/orders/resume")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"group": "orders", "paused": False})
        n.wait_all_processed(ids)

        def settled():
            o = {g["name"]: g for g in n.get("/groups").json[
                "groups"]}["orders"]
            return o.get("processed", 5) == 5 and o["depth"] == 0
        op.wait_until(settled, 10, "orders processed 5, depth 0")
        self.assertEqual(n.metrics().get("onceflow_group_paused",
                                         group="orders"), 0)
        self.assertError(n.post("/groups/nope/pause"), 404)
        self.assertError(n.post("/groups/nope/resume"), 404)

    # -- metrics ---------------------------------------------------------------

    def test_stats_samples_follow_the_counters(self):
        """GET /stats: a sample a second of the /metrics counters and the
        groups' gauges; ?since= gives only later samples. GET
        /groups?counts=true adds each group's DLQ size and retries."""
        sim = {"handler": q("simulate"), "subscriptions": qlist(["sim.*"]),
               "retry-base": "30s", "jitter": "false", "max-attempts": 3}
        n = self.start_node({"orders": store_group(["order.*"]), "sim": sim})
        for i in range(3):
            n.publish({"id": f"s-{i}", "type": "order.x"})
        for d in ("d-1", "d-2"):
            n.publish({"id": d, "type": "sim.x",
                       "payload": {"simulate": {"permanent": True}}})
        n.publish({"id": "r-1", "type": "sim.x",
                   "payload": {"simulate": {"fail_attempts": 1}}})
        n.wait_all_processed([f"s-{i}" for i in range(3)])
        n.wait_status("d-1", "dead")
        n.wait_status("d-2", "dead")
        n.wait_status("r-1", "retrying")
        last = {}

        def caught_up():
            r = n.get("/stats")
            self.assertEqual(r.status, 200, r)
            last["doc"] = r.json
            s = r.json["samples"]
            return s and s[-1]["accepted"] == 6 and s[-1]["dead"] == 2 \
                and s[-1]["retried"] == 1
        op.wait_until(caught_up, 10, "a sample with every event",
                      progress=lambda: str(last.get("doc", {})
                                           .get("samples", [])[-1:]))
        doc = last["doc"]
        self.assertEqual(doc["node"], "test-node")
        self.assertEqual(doc["intervalMs"], 1000)
        s = doc["samples"][-1]
        m = n.metrics()
        self.assertEqual(s["processed"],
                         m.total("onceflow_events_processed_total"))
        self.assertEqual(s["failed"], 3)
        self.assertEqual(s["groups"]["orders"]["processed"], 3)
        self.assertEqual(s["groups"]["sim"]["dead"], 2)
        self.assertEqual(s["groups"]["sim"]["retried"], 1)
        # The gauges are the broadcaster's, as GET /groups shows them
        # (nothing moves meanwhile: r-1 waits 30 s in the retry schedule).
        depth = {g["name"]: g["depth"] for g in n.get("/groups").json["groups"]}
        for g in ("orders", "sim"):
            self.assertEqual(s["groups"][g]["backlog"], depth[g], s)
            self.assertEqual(s["groups"][g]["inFlight"], 0, s)
        ats = [x["at"] for x in doc["samples"]]
        self.assertEqual(ats, sorted(ats))
        later = n.get(f"/stats?since={ats[-1]}").json["samples"]
        self.assertTrue(all(x["at"] > ats[-1] for x in later), later)
        self.assertError(n.get("/stats?since=soon"), 400, field="since")
        # The groups with their DLQ sizes and scheduled retries.
        gs = {g["name"]: g for g in
              n.get("/groups?counts=true").json["groups"]}
        self.assertEqual((gs["sim"]["dlq"], gs["sim"]["retries"]), (2, 1))
        self.assertEqual((gs["orders"]["dlq"], gs["orders"]["retries"]),
                         (0, 0))
        self.assertNotIn("dlq", n.get("/groups").json["groups"][0])
        self.assertError(n.get("/groups?counts=yes"), 400, field="counts")

    def test_metrics_change_as_events_flow(self):
        sim = {"handler": q("simulate"), "subscriptions": qlist(["sim.*"]),
               "retry-base": "100ms", "jitter": "false", "max-attempts": 3,
               "concurrency": 1}
        n = self.start_node({"orders": store_group(["order.*"]), "sim": sim},
                            **LIMITS)
        r = n.get("/metrics")
        self.assertEqual(r.status, 200, r)
        ct = r.header("Content-Type") or ""
        self.assertTrue(ct.startswith("text/plain"), ct)
        self.assertIn("version=0.0.4", ct)
        m0 = hc.Metrics(r.body.decode())
        self.assertEqual(m0.get("onceflow_listeners", group="orders"), 2)
        self.assertEqual(m0.get("onceflow_listeners", group="sim"), 1)
        self.assertEqual(m0.get("onceflow_group_paused", group="orders"), 0)
        self.assertEqual(m0.get("onceflow_dlq_size"), 0)

        ids = [f"mo-{i}" for i in range(3)]
        for i in ids:
            self.assertEqual(n.publish({"id": i, "type": "order.m"}).status,
                             202)
        self.assertEqual(n.publish({"id": "mo-0", "type":
                                    "order.m"}).status, 200)
        self.assertEqual(n.publish({"type": "bad type"}).status, 400)
        self.assertEqual(n.req("POST", "/events", b"{", ).status, 400)
        self.assertEqual(n.req("POST", "/events", {"type": "order.m"},
                               content_type="text/plain").status, 415)
        self.assertEqual(n.publish({"type": "order.m", "payload": {
            "p": "x" * 3000}}).status, 413)
        self.assertEqual(n.publish({"id": "ms-retry", "type": "sim.m",
                                    "payload": {"simulate": {
                                        "fail_attempts": 1}}}).status, 202)
        self.assertEqual(n.publish({"id": "ms-dead", "type": "sim.m",
                                    "payload": {"simulate": {
                                        "permanent": True}}}).status, 202)
        n.wait_all_processed(ids + ["ms-retry"])
        n.wait_status("ms-dead", "dead")

        want = {
            ("onceflow_events_processed_total",
             (("group", "orders"), ("type", "order.m"))): 3,
            ("onceflow_events_processed_total",
             (("group", "sim"), ("type", "sim.m"))): 1,
            ("onceflow_events_retried_total",
             (("group", "sim"), ("type", "sim.m"))): 1,
            ("onceflow_events_dead_total",
             (("group", "sim"), ("type", "sim.m"))): 1,
            ("onceflow_effect_latency_seconds_count",
             (("group", "orders"),)): 3,
        }
        last = {}

        def counters_reached():
            m = last["m"] = n.metrics()
            return all(m.get(name, **dict(ls)) - m0.get(name, **dict(ls))
                       >= v for (name, ls), v in want.items())
        op.wait_until(counters_reached, 15, "the counters to reach their "
                      "values", progress=lambda: {
                          k: last["m"].get(k[0], **dict(k[1]))
                          for k in want} if "m" in last else None)
        m = n.metrics()
        for (name, ls), v in want.items():
            self.assertEqual(m.get(name, **dict(ls))
                             - m0.get(name, **dict(ls)), v, (name, ls))

        def d(name, **labels):
            return m.get(name, **labels) - m0.get(name, **labels)
        self.assertEqual(d("onceflow_events_accepted_total", type="order.m"),
                         3)
        self.assertEqual(d("onceflow_events_accepted_total", type="sim.m"), 2)
        self.assertEqual(d("onceflow_events_duplicate_total", type="order.m"),
                         1)
        self.assertEqual(d("onceflow_events_rejected_total",
                           reason="invalid"), 2)
        self.assertEqual(d("onceflow_events_rejected_total",
                           reason="unsupported_media_type"), 1)
        self.assertEqual(d("onceflow_events_rejected_total",
                           reason="too_large"), 1)
        self.assertEqual(d("onceflow_events_rejected_total",
                           reason="overloaded"), 0)
        self.assertEqual(m.get("onceflow_dlq_size"), 1)
        self.assertEqual(d("onceflow_events_processed_total", group="orders",
                           type="sim.m"), 0)
        self.assertGreaterEqual(d("onceflow_handler_duration_seconds_count",
                                  group="orders"), 1)
        self.assertGreaterEqual(d("onceflow_handler_duration_seconds_count",
                                  group="sim"), 1)
        # Observed once per effect (the sum may stay 0: an effect can
        # follow its acceptance within the clock's millisecond).
        self.assertGreaterEqual(d("onceflow_effect_latency_seconds_count",
                                  group="orders"), 1)
        self.assertGreaterEqual(d("onceflow_effect_latency_seconds_sum",
                                  group="orders"), 0)
        self.assertEqual(m.get("onceflow_queue_depth", group="orders"), 0)
        self.assertEqual(m.get("onceflow_in_flight", group="orders"), 0)
        self.assertGreaterEqual(d("onceflow_http_requests_total", code="202"),
                                5)
        self.assertGreaterEqual(d("onceflow_http_requests_total", code="400"),
                                2)
        self.assertGreaterEqual(d("onceflow_http_requests_total", code="413"),
                                1)
        self.assertGreaterEqual(d("onceflow_http_requests_total", code="415"),
                                1)
        # Histograms: cumulative buckets ending in +Inf == _count.
        for h in ("onceflow_effect_latency_seconds",
                  "onceflow_handler_duration_seconds"):
            buckets = sorted(
                ((float(dict(ls)["le"]), v) for (nm, ls), v in
                 m.samples.items() if nm == h + "_bucket"
                 and dict(ls).get("group") == "orders"))
            self.assertTrue(buckets, f"no buckets of {h}")
            self.assertEqual(buckets[-1][0], float("inf"))
            self.assertEqual(buckets[-1][1], m.get(h + "_count",
                                                   group="orders"))
            counts = [v for _, v in buckets]
            self.assertEqual(counts, sorted(counts), h)
        types = {
            "onceflow_events_accepted_total": "counter",
            "onceflow_events_duplicate_total": "counter",
            "onceflow_events_rejected_total": "counter",
            "onceflow_events_processed_total": "counter",
            "onceflow_events_retried_total": "counter",
            "onceflow_events_dead_total": "counter",
            "onceflow_queue_depth": "gauge",
            "onceflow_in_flight": "gauge",
            "onceflow_listeners": "gauge",
            "onceflow_group_paused": "gauge",
            "onceflow_dlq_size": "gauge",
            "onceflow_effect_latency_seconds": "histogram",
            "onceflow_handler_duration_seconds": "histogram",
            "onceflow_http_requests_total": "counter",
            "onceflow_trimmed_events_total": "counter",
        }
        self.assertEqual({k: m.types.get(k) for k in types}, types)
        # Nothing is old enough to trim (retention 24 h); the series is
        # there from the start.
        self.assertTrue(m.has("onceflow_trimmed_events_total"))
        self.assertEqual(m.get("onceflow_trimmed_events_total"), 0)
        # Pausing shows in the gauge and queued events in the depth.
        n.post("/groups/orders/pause")
        for i in range(4):
            self.assertEqual(n.publish({"id": f"mq-{i}", "type":
                                        "order.m"}).status, 202)
        op.wait_until(lambda: n.metrics().get("onceflow_group_paused",
                                              group="orders") == 1, 5,
                      "onceflow_group_paused to be 1")
        n.post("/groups/orders/resume")
        n.wait_all_processed([f"mq-{i}" for i in range(4)])
        op.wait_until(lambda: n.metrics().get(
            "onceflow_events_processed_total", group="orders",
            type="order.m") - m0.get("onceflow_events_processed_total",
                                     group="orders", type="order.m") == 7,
            10, "processed_total to count 7")

    # -- 429 -------------------------------------------------------------------

    def test_overload_429_with_retry_after(self):
        n = self.start_node(GROUPS, events={"max-backlog": 5,
                                            "max-ingest-batch": 5})
        self.assertEqual(n.post("/groups/orders/pause").status, 200)
        accepted, rejected = [], []
        for i in range(30):
            r = n.publish({"id": f"ov-{i}", "type": "order.x"})
            if r.status == 202:
                self.assertEqual(rejected, [], "a 202 after a 429 while "
                                 "nothing drains")
                accepted.append(f"ov-{i}")
            else:
                self.assertRetryAfter(r, 429)
                self.assertTrue(r.json["error"].startswith("overloaded"), r)
                rejected.append(f"ov-{i}")
        self.assertGreaterEqual(len(accepted), 1)
        self.assertLessEqual(len(accepted), 6, "max-backlog=5 not enforced")
        self.assertTrue(rejected)
        # Nothing of a 429 was stored; a batch gets 429 as a whole.
        r = n.post("/events/batch", [{"id": "ov-b1", "type": "order.x"},
                                     {"id": "ov-b2", "type": "user.x"}])
        self.assertRetryAfter(r, 429)
        for i in rejected + ["ov-b1", "ov-b2"]:
            self.assertEqual(n.event(i).status, 404, i)
        # Overload is not unreadiness.
        self.assertEqual(n.get("/ready").status, 200)
        m = n.metrics()
        self.assertGreaterEqual(m.get("onceflow_events_rejected_total",
                                      reason="overloaded"), len(rejected))
        self.assertEqual(m.get("onceflow_events_accepted_total",
                               type="order.x"), len(accepted))
        # Resume: the backlog drains and the same requests are accepted.
        self.assertEqual(n.post("/groups/orders/resume").status, 200)
        n.wait_all_processed(accepted)
        for i in rejected[:5]:
            def take(i=i):
                return n.publish({"id": i, "type": "order.x"}).status == 202
            op.wait_until(take, 15, f"{i} to be accepted after the resume")
        n.wait_all_processed(rejected[:5])

    # -- 503 draining ------------------------------------------------------------

    def test_draining_503_and_ready(self):
        slow = {"handler": q("simulate"), "subscriptions": qlist(["*"]),
                "latency": "4s", "concurrency": 1, "batch-size": 1}
        cfg = self.node_config({"slow": slow}, node={
            "shutdown-timeout": "10s"})
        n = self.start_node({}, config=cfg)
        self.assertEqual(n.publish({"id": "dr-1", "type": "a.b"}).status, 202)
        n.wait_status("dr-1", "in_flight", timeout=10)
        n.sigterm()
        t = time.monotonic()
        seen, got = [], None
        while time.monotonic() - t < 2.5:
            try:
                r = n.publish({"id": f"dr-x{len(seen)}", "type": "a.b"},
                              timeout=5)
            except OSError as e:
                seen.append(repr(e))
                continue
            seen.append(r.status)
            if r.status != 202:
                got = r
                break
        self.assertIsNotNone(got, f"no refusal while draining: {seen}")
        self.assertRetryAfter(got, 503)
        rejected_id = f"dr-x{len(seen) - 1}"
        r = n.post("/events/batch", [{"id": "dr-b", "type": "a.b"}])
        self.assertRetryAfter(r, 503)
        r = n.get("/ready")
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json["status"], "not ready", r)
        self.assertEqual(r.json["failed"], ["draining"], r)
        self.assertNotEqual(r.json["checks"]["draining"], "no", r)
        self.assertEqual(r.json["checks"]["store"], "ok", r)
        self.assertEqual(n.get("/health").status, 200)
        m = n.metrics()
        self.assertGreaterEqual(m.get("onceflow_events_rejected_total",
                                      reason="draining"), 2)
        self.assertEqual(n.wait_exit(20), 0)
        # After a restart: what got 503 was never stored; the in-flight
        # event finished.
        m = self.start_node({}, config=cfg, name="again",
                            extra=["--groups.slow.latency=0ms"])
        self.assertEqual(m.event(rejected_id).status, 404)
        self.assertEqual(m.event("dr-b").status, 404)
        m.wait_all_processed(["dr-1"])
        for s, i in zip(seen, range(len(seen))):
            if s == 202:
                m.wait_all_processed([f"dr-x{i}"])

    # -- 503 store outage ---------------------------------------------------------

    def test_ready_flips_when_the_store_is_unavailable(self):
        redis = op.RedisServer(os.path.join(self.dir, "redis"),
                               os.path.join(self.dir, "redis-server.log"),
                               appendonly=True, appendfsync="always")
        self.addCleanup(redis.close)
        redis.start()
        n = self.start_node(
            GROUPS, store={"backend": q("redis")},
            redis={"url": q(redis.url()), "prefix": q("http-it:"),
                   "connect-timeout": "500ms", "command-timeout": "1s"})
        r = n.get("/ready")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["checks"], {"store": "ok", "draining": "no"})
        self.assertEqual(n.publish({"id": "ro-1", "type": "order.x"}).status,
                         202)
        n.wait_all_processed(["ro-1"])

        redis.kill9()
        last = {}

        def not_ready():
            r = last["r"] = n.get("/ready")
            return r.status == 503
        op.wait_until(not_ready, 20, "/ready to answer 503",
                      progress=lambda: last.get("r"))
        r = last["r"]
        self.assertEqual(r.json["status"], "not ready", r)
        self.assertEqual(r.json["failed"], ["store"], r)
        self.assertIsInstance(r.json["checks"]["store"], str)
        self.assertNotIn(r.json["checks"]["store"], ("", "ok"), r)
        self.assertEqual(r.json["checks"]["draining"], "no", r)
        # Liveness is not readiness.
        self.assertEqual(n.get("/health").status, 200)
        r = n.publish({"id": "ro-2", "type": "order.x"}, timeout=20)
        self.assertRetryAfter(r, 503)
        r = n.post("/events/batch", [{"id": "ro-3", "type": "order.x"}],
                   timeout=20)
        self.assertRetryAfter(r, 503)
        self.assertGreaterEqual(n.metrics().get(
            "onceflow_events_rejected_total", reason="store_failure"), 2)
        self.assertTrue(n.alive())

        redis.restart()

        def ready():
            r = last["r"] = n.get("/ready")
            return r.status == 200
        op.wait_until(ready, 30, "/ready to answer 200 again",
                      progress=lambda: last.get("r"))
        self.assertEqual(last["r"].json["checks"],
                         {"store": "ok", "draining": "no"})
        self.assertEqual(n.event("ro-2").status, 404)
        self.assertEqual(n.event("ro-3").status, 404)
        self.assertEqual(n.publish({"id": "ro-2", "type": "order.x"}).status,
                         202)
        n.wait_all_processed(["ro-1", "ro-2"])


if __name__ == "__main__":
    op.main()
