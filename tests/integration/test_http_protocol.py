"""Integration tests of the HTTP API (docs/http-api.md) against real
`onceflow node` processes on free ports: HTTP itself.

404 for unknown routes and odd path encodings, 405 with Allow, 400 for
query parameters a route does not take (every route), keep-alive,
pipelining, `Expect: 100-continue`, idle and slow clients that must not
block the others.

Run: python3 tests/integration/test_http_protocol.py
     --binary BUILD/onceflow [--config-dir config] [unittest args]
"""

import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import http_client as hc  # noqa: E402
import onceflow_proc as op  # noqa: E402
from http_client import GROUPS  # noqa: E402


class HttpProtocolTest(hc.NodeTestCase):

    # -- routes ----------------------------------------------------------------

    def test_unknown_routes_and_methods(self):
        n = self.start_node(GROUPS)
        for path in ("/", "/nope", "/events/a/b", "/groups/orders/a/b",
                     "/groups/orders/stop", "/failed-events/x/y",
                     "/metrics/x", "/healthz"):
            with self.subTest(path=path):
                self.assertError(n.get(path), 404)
        # Odd encodings in a path: a 4xx, never a crash.
        for path in ("/events/%FF%FE", "/events/%", "/events/%zz",
                     "/events/%00", "/events/..%2F..%2Fetc"):
            with self.subTest(path=path):
                r = n.get(path)
                self.assertIn(r.status, (400, 404), r)
                self.assertIsInstance(r.json, dict, r)
        self.assertTrue(n.alive())
        for method, path, allow in (
                ("PUT", "/events", "POST"),
                ("DELETE", "/events/x", "GET"),
                ("PUT", "/events/batch", "POST"),
                ("POST", "/metrics", "GET"),
                ("POST", "/health", "GET"),
                ("DELETE", "/ready", "GET"),
                ("GET", "/groups/orders/pause", "POST"),
                ("GET", "/groups/orders", "PATCH"),
                ("POST", "/groups/orders/overrides", "DELETE"),
                ("DELETE", "/groups", "GET"),
                ("GET", "/failed-events/x/replay", "POST"),
                ("PUT", "/failed-events/x", "DELETE"),
                ("PATCH", "/failed-events", "DELETE"),
                ("PATCH", "/failed-events/replay", "POST")):
            with self.subTest(method=method, path=path):
                r = n.req(method, path)
                self.assertError(r, 405)
                self.assertIsNotNone(r.header("Allow"), r)
                allowed = [a.strip() for a in r.header("Allow").split(",")]
                self.assertIn(allow, allowed, r)
                self.assertNotIn(method, allowed, r)

    # Every route with the query parameters it takes (runtime/http/routes.cpp).
    ROUTES = (
        ("GET", "/health", ()),
        ("GET", "/ready", ()),
        ("GET", "/metrics", ()),
        ("GET", "/events", ("status", "group", "limit", "after")),
        ("POST", "/events", ()),
        ("POST", "/events/batch", ()),
        ("GET", "/events/x", ()),
        ("GET", "/failed-events", ("group", "limit", "after")),
        ("DELETE", "/failed-events", ("group",)),
        ("GET", "/failed-events/replay", ()),
        ("POST", "/failed-events/replay", ()),
        ("GET", "/failed-events/x", ()),
        ("DELETE", "/failed-events/x", ()),
        ("POST", "/failed-events/x/replay", ("group",)),
        ("GET", "/groups", ("counts",)),
        ("POST", "/groups/orders/pause", ()),
        ("POST", "/groups/orders/resume", ()),
        ("GET", "/stats", ("since",)),
        ("GET", "/auth", ()),
        ("GET", "/ui", ()),
        ("GET", "/ui/app.js", ()),
    )

    def test_unknown_query_parameters(self):
        n = self.start_node(GROUPS)
        patterns = {"/events/x": "/events/{id}",
                    "/failed-events/x": "/failed-events/{id}",
                    "/failed-events/x/replay": "/failed-events/{id}/replay",
                    "/groups/orders/pause": "/groups/{name}/pause",
                    "/groups/orders/resume": "/groups/{name}/resume",
                    "/ui/app.js": "/ui/{file}"}
        for method, path, accepted in self.ROUTES:
            with self.subTest(method=method, path=path):
                route = f"{method} {patterns.get(path, path)}"
                takes = (" takes " + ", ".join(accepted) if accepted
                         else " takes no query parameters")
                r = n.req(method, path + "?statuss=dead", {})
                self.assertError(r, 400, field="statuss")
                self.assertEqual(r.json["error"],
                                 f"unknown query parameter 'statuss' "
                                 f"({route}{takes})", r)
                # Known ones beside unknown ones: still a 400, naming
                # every unknown one.
                known = "".join(f"&{k}=1" for k in accepted)
                r = n.req(method, path + "?zz=1&aa=2" + known, {})
                self.assertError(r, 400, field="aa")
                self.assertTrue(r.json["error"].startswith(
                    "unknown query parameters 'aa', 'zz' ("), r)
        # Nothing was done by the refused calls.
        self.assertFalse(any(g["paused"] for g in
                             n.get("/groups").json["groups"]))
        self.assertEqual(n.get("/events/x").status, 404)
        # The known ones still work.
        self.assertEqual(n.publish({"id": "k-1", "type": "order.x"}).status,
                         202)
        n.wait_status("k-1", "processed")
        r = n.get("/events?status=processed&group=orders&limit=5&after=0")
        self.assertEqual(r.status, 200, r)
        self.assertEqual([e["eventId"] for e in r.json["events"]], ["k-1"],
                         r)
        self.assertError(n.get("/events?status=processed&limit=0"), 400,
                         field="limit")
        r = n.get("/failed-events?group=orders&limit=5")
        self.assertEqual((r.status, r.json["events"]), (200, []), r)
        self.assertError(n.get("/failed-events?after=zz"), 400,
                         field="after")
        r = n.delete("/failed-events?group=orders")
        self.assertEqual((r.status, r.json), (200, {"purged": 0,
                                                    "group": "orders"}), r)
        r = n.post("/failed-events/k-1/replay?group=orders")
        self.assertError(r, 404)  # not in the DLQ
        self.assertIn("is not in the DLQ", r.json["error"], r)
        # Parameters are matched exactly (no case folding, no prefixes).
        self.assertError(n.get("/events?Status=dead"), 400, field="Status")
        self.assertTrue(n.alive())

    def test_keep_alive(self):
        n = self.start_node(GROUPS)
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", n.port, timeout=10)
        self.addCleanup(conn.close)
        sock = None
        for i in range(30):
            if i % 3 == 0:
                conn.request("GET", "/health")
            else:
                conn.request("POST", "/events", body=json.dumps(
                    {"id": f"ka-{i}", "type": "order.x"}),
                    headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            self.assertIn(r.status, (200, 202))
            self.assertNotEqual((r.getheader("Connection") or "").lower(),
                                "close")
            if sock is None:
                sock = conn.sock
            self.assertIs(conn.sock, sock, "the connection was not kept")
        n.wait_all_processed([f"ka-{i}" for i in range(30) if i % 3])

    def test_pipelining_and_expect_continue(self):
        n = self.start_node(GROUPS)
        ev = json.dumps({"id": "pl-1", "type": "order.x"}).encode()
        data = (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: "
                b"application/json\r\nContent-Length: "
                + str(len(ev)).encode() + b"\r\n\r\n" + ev
                + b"GET /events/nope HTTP/1.1\r\nHost: x\r\n"
                b"Connection: close\r\n\r\n")
        raw = hc.raw_exchange(n.port, data, shut_wr=False, timeout=5)
        statuses = [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ",
                                                raw)]
        self.assertEqual(statuses, [200, 202, 404], raw[:600])
        # Expect: 100-continue: an immediate 100 (or a final status).
        body = json.dumps({"id": "pl-2", "type": "order.x",
                           "payload": {"p": "x" * 5000}}).encode()
        s = socket.create_connection(("127.0.0.1", n.port), timeout=5)
        self.addCleanup(s.close)
        s.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: "
                  b"application/json\r\nExpect: 100-continue\r\n"
                  b"Content-Length: " + str(len(body)).encode()
                  + b"\r\n\r\n")
        s.settimeout(1.0)
        try:
            first = s.recv(4096)
        except socket.timeout:
            first = b""
        with self.subTest(case="100 Continue"):
            self.assertTrue(first.startswith(b"HTTP/1.1 100"),
                            f"no 100 Continue within 1 s: {first!r}")
        s.settimeout(5)
        s.sendall(body)
        rest = b""
        while not hc.response_complete(rest.partition(b"HTTP/1.1 100 "
                                                      b"Continue\r\n\r\n")
                                       [2] or rest):
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        self.assertIn(b"HTTP/1.1 202", first + rest)
        # With an oversized Content-Length: the final 413 right away.
        raw = hc.raw_exchange(
            n.port, b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: "
            b"application/json\r\nExpect: 100-continue\r\n"
            b"Content-Length: 999999999\r\n\r\n", shut_wr=False,
            timeout=3, wait_for_close=False)
        self.assertEqual(hc.parse_raw(raw)[0], 413, raw[:300])
        n.wait_all_processed(["pl-1", "pl-2"])

    def test_idle_and_slow_clients_do_not_block_others(self):
        n = self.start_node(GROUPS, http={"threads": 1})
        socks = []
        self.addCleanup(lambda: [x.close() for x in socks])
        for i in range(60):
            x = socket.create_connection(("127.0.0.1", n.port), timeout=5)
            if i % 3 == 1:
                x.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\n")
            elif i % 3 == 2:
                x.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Type: application/json\r\n"
                          b"Content-Length: 100\r\n\r\n{\"id\": ")
            socks.append(x)
        t = time.monotonic()
        for i in range(20):
            r = n.publish({"id": f"sl-{i}", "type": "order.x"}, timeout=3)
            self.assertEqual(r.status, 202, r)
        self.assertLess(time.monotonic() - t, 5)
        n.wait_all_processed([f"sl-{i}" for i in range(20)])
        for x in socks:
            x.close()
        self.assertTrue(n.alive())
        self.assertEqual(n.get("/health").status, 200)


if __name__ == "__main__":
    op.main()
