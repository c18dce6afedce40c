"""Integration tests of the HTTP API (docs/http-api.md) against real
`onceflow node` processes on free ports, with a real HTTP client
(http.client, and raw sockets for what http.client will not send).

Every endpoint and every error code: 202 / 200 duplicate / 400 with
{error, field} / 413 / 415 / 429 and 503 with Retry-After / 401 / 403 /
404 / 405; auth roles and the keys file; metrics that change as events
flow; readiness that flips when the store (a redis-server the test starts
and kills) is unavailable and when the node drains; malformed, truncated,
oversized and deeply nested bodies, bad UTF-8 and wrong content types get a
clear 4xx, the node keeps running and every event answered 202 is processed
(checked through GET /events/{id} and the store handler's own records).

Run: python3 tests/integration/test_http_api.py --binary BUILD/onceflow
     [--config-dir config] [unittest args, e.g. -k overload]
"""

import json
import os
import re
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import http_client as hc  # noqa: E402
import onceflow_proc as op  # noqa: E402
from http_client import q, qlist  # noqa: E402

# Generated ids are UUIDv7 (time-ordered: docs/http-api.md).
UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}"
                   r"-[0-9a-f]{12}$", re.I)


def store_group(subs, **kw):
    g = {"handler": q("store"), "subscriptions": qlist(subs),
         "concurrency": 2}
    g.update(kw)
    return g


GROUPS = {"orders": store_group(["order.*"]), "audit": store_group(["*"])}

# A node with small limits (validation and 413 tests).
LIMITS = dict(http={"max-body-bytes": 65536, "max-batch": 3},
              events={"max-payload-bytes": 2048, "max-depth": 8})


def nest(levels, leaf=1):
    """{"a": {"a": ... leaf}} with `levels` objects."""
    v = leaf
    for _ in range(levels):
        v = {"a": v}
    return v


class HttpApiTest(hc.NodeTestCase):

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
        self.assertEqual(n.event("order-1001").json["payload"],
                         {"order": 1001})

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

    # -- 400 -------------------------------------------------------------------

    def test_validation_errors_are_400_with_field(self):
        n = self.start_node(GROUPS, **LIMITS)
        cases = [
            ({"type": "bad type!"}, "type"),
            ({"payload": {}}, "type"),
            ({"type": 5}, "type"),
            ({"type": None}, "type"),
            ({"type": ["order.x"]}, "type"),
            ({"type": ""}, "type"),
            ({"type": "x" * 65}, "type"),
            ({"type": "order/x"}, "type"),
            ({"type": "a.b", "payload": [1]}, "payload"),
            ({"type": "a.b", "payload": "text"}, "payload"),
            ({"type": "a.b", "payload": 7}, "payload"),
            ({"type": "a.b", "priority": "urgent"}, "priority"),
            ({"type": "a.b", "priority": 1}, "priority"),
            ({"type": "a.b", "priority": "HIGH"}, "priority"),
            ({"type": "a.b", "id": 5}, "id"),
            ({"type": "a.b", "extra": 1}, "extra"),
            ({"type": "a.b", "Type": "a.b"}, "Type"),
        ]
        for i, (ev, field) in enumerate(cases):
            with self.subTest(body=ev):
                ev = dict(ev)
                if "id" not in ev:
                    ev["id"] = f"v-{i}"
                r = n.publish(ev)
                self.assertError(r, 400, field=field)
                if isinstance(ev["id"], str):
                    self.assertEqual(n.event(ev["id"]).status, 404,
                                     "a rejected event was stored")
        # Boundaries that are fine.
        good = [{"id": "g-1", "type": "x" * 64},
                {"id": "g-2", "type": "Az09_.-"},
                {"id": "g-3", "type": "a.b", "priority": "low"},
                {"id": "g-4", "type": "a.b", "priority": "normal",
                 "payload": {"nested": nest(4)}}]
        for ev in good:
            r = n.publish(ev)
            self.assertEqual(r.status, 202, (ev, r))
        n.wait_all_processed([e["id"] for e in good])
        self.assertEqual(n.event("g-4").json["payload"], {"nested": nest(4)})
        self.assertTrue(n.alive())

    def test_malformed_json_and_bad_utf8(self):
        n = self.start_node(GROUPS)
        malformed = [
            b'{"id": "m-1", "type": "a.b", "payload": {}',
            b'{"id": "m-2", "type": "a.b",}',
            b"{'id': 'm-3', 'type': 'a.b'}",
            b'{"id": "m-4", "type": "a.b"} trailing',
            b'{"id": "m-5", "type": "a.b"}{"id": "m-5b", "type": "a.b"}',
            b'{"id": "m-6", "type": "a.b", "payload": {"x": NaN}}',
            b'{"id": "m-7", "type": "a.b" /* comment */}',
            b'{"id": "m-8", "type": "a.b", "payload": {"x": 01}}',
            b'{"id": "m-9", "type": "a.b", "payload": {"x": "\x01"}}',
            b'{"id": "m-10", "type": "a.b", "payload": {"x": "\\q"}}',
            b'', b'   ', b'null', b'"text"', b'42', b'[]', b'true',
        ]
        for body in malformed:
            with self.subTest(body=body):
                r = n.req("POST", "/events", body)
                self.assertError(r, 400, field="body")
        bad_utf8 = [
            b'{"id": "u-1", "type": "a.b", "payload": {"s": "\xff"}}',
            b'{"id": "u-2", "type": "a.b", "payload": {"s": "\xc0\xaf"}}',
            b'{"id": "u-3", "type": "a.b", "payload": {"s": "\xed\xa0\x80"}}',
            b'{"id": "u-4", "type": "a.b", "payload": {"s": "ab\xe2\x82"}}',
            b'{"id": "u-5", "type": "a.b", "payload": {"s": "\x80"}}',
            b'{"id": "u-6", "type": "a.b", "payload": {"\xfe": 1}}',
            b'{"id": "u-7", "type": "a.b", "payload": {"s": "\xf8\x88\x80'
            b'\x80\x80"}}',
            b'{"id": "u-8\xff", "type": "a.b"}',
        ]
        for body in bad_utf8:
            with self.subTest(body=body):
                r = n.req("POST", "/events", body)
                self.assertError(r, 400)
        for i in list(range(1, 11)) + ["5b"]:
            self.assertEqual(n.event(f"m-{i}").status, 404)
        for i in range(1, 8):
            self.assertEqual(n.event(f"u-{i}").status, 404)
        # Valid UTF-8 (raw and escaped) is kept as sent.
        text = "gr\u00fc\u00dfe \u20ac \U0001F600"
        r = n.req("POST", "/events", ('{"id": "utf-1", "type": "a.b", '
                                      '"payload": {"s": "' + text
                                      + '"}}').encode("utf-8"))
        self.assertEqual(r.status, 202, r)
        r = n.req("POST", "/events", b'{"id": "utf-2", "type": "a.b", '
                  b'"payload": {"s": "gr\\u00fc\\u00dfe \\u20ac '
                  b'\\ud83d\\ude00"}}')
        self.assertEqual(r.status, 202, r)
        n.wait_all_processed(["utf-1", "utf-2"])
        self.assertEqual(n.event("utf-1").json["payload"], {"s": text})
        self.assertEqual(n.event("utf-2").json["payload"], {"s": text})
        self.assertTrue(n.alive())

    def test_deep_nesting(self):
        # max-depth=8: a shallow payload passes, a deeper one is 400.
        n = self.start_node(GROUPS, **LIMITS)
        r = n.publish({"id": "d-ok", "type": "a.b", "payload": nest(4)})
        self.assertEqual(r.status, 202, r)
        r = n.publish({"id": "d-deep", "type": "a.b", "payload": nest(12)})
        self.assertError(r, 400, field="payload")
        self.assertEqual(n.event("d-deep").status, 404)
        n.wait_all_processed(["d-ok"])
        # Default limits (max-depth 64): pathological nesting far beyond
        # any parser's comfort, still under the size limits.
        m = self.start_node(GROUPS, name="m")
        r = m.publish({"id": "d-50", "type": "a.b", "payload": nest(50)})
        self.assertEqual(r.status, 202, r)
        r = m.publish({"id": "d-100", "type": "a.b", "payload": nest(100)})
        self.assertError(r, 400, field="payload")
        bodies = [
            b'{"id": "d-arr", "type": "a.b", "payload": {"a": '
            + b"[" * 100000 + b"]" * 100000 + b"}}",
            b'{"id": "d-obj", "type": "a.b", "payload": '
            + b'{"a":' * 30000 + b"1" + b"}" * 30000 + b"}",
            # Unbalanced: nested opens only (also malformed).
            b'{"id": "d-open", "type": "a.b", "payload": {"a": '
            + b"[" * 100000,
            # Nesting outside the payload.
            b'{"id": "d-top", "type": "a.b", "extra": ' + b"[" * 100000
            + b"]" * 100000 + b"}",
        ]
        for body in bodies:
            with self.subTest(body=body[:50]):
                r = m.req("POST", "/events", body)
                self.assertError(r, 400)
                self.assertTrue(m.alive(), "the node died on deep nesting")
        for i in ("d-100", "d-arr", "d-obj", "d-open", "d-top"):
            self.assertEqual(m.event(i).status, 404)
        m.wait_all_processed(["d-50"])
        self.assertEqual(m.get("/health").status, 200)

    # -- 415 -------------------------------------------------------------------

    def test_content_types_415(self):
        n = self.start_node(GROUPS)
        for k, ct in enumerate((
                None, "text/plain", "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x", "application/xml",
                "text/json", "application/jsonl", "application/json-seq",
                "", "application/json; charset=iso-8859-1",
                "application/json; charset=utf-16")):
            with self.subTest(content_type=ct):
                body = json.dumps({"id": f"ct-x{k}", "type": "a.b"})
                r = n.req("POST", "/events", body, content_type=ct)
                self.assertError(r, 415)
                self.assertEqual(n.event(f"ct-x{k}").status, 404)
                r = n.req("POST", "/events/batch",
                          json.dumps({"events": [{"id": f"ct-b{k}",
                                                  "type": "a.b"}]}),
                          content_type=ct)
                self.assertError(r, 415)
                self.assertEqual(n.event(f"ct-b{k}").status, 404)
        r = n.req("POST", "/failed-events/replay", b'{"rate": 10}',
                  content_type="text/plain")
        self.assertError(r, 415)
        # application/json with a charset parameter is fine.
        for i, ct in enumerate(("application/json",
                                "application/json; charset=utf-8",
                                "application/json;charset=utf-8",
                                "application/json; charset=UTF-8",
                                'application/json; charset="utf-8"')):
            r = n.req("POST", "/events",
                      json.dumps({"id": f"ct-ok-{i}", "type": "a.b"}),
                      content_type=ct)
            self.assertEqual(r.status, 202, (ct, r))
        n.wait_all_processed([f"ct-ok-{i}" for i in range(5)])

    # -- 413 -------------------------------------------------------------------

    def test_size_limits_413(self):
        n = self.start_node(GROUPS, **LIMITS)
        # Body over max-body-bytes (65536).
        big = json.dumps({"id": "s-body", "type": "a.b",
                          "payload": {"p": "x" * 70000}}).encode()
        r = n.req("POST", "/events", big)
        self.assertError(r, 413, field="body")
        # Payload over max-payload-bytes (2048) in a small body.
        r = n.publish({"id": "s-payload", "type": "a.b",
                       "payload": {"p": "x" * 3000}})
        self.assertError(r, 413, field="payload")
        # A batch over max-batch (3).
        r = n.post("/events/batch", {"events": [
            {"id": f"s-b{i}", "type": "a.b"} for i in range(4)]})
        self.assertError(r, 413)
        r = n.post("/events/batch", [
            {"id": f"s-b{i}", "type": "a.b"} for i in range(4)])
        self.assertError(r, 413)
        for i in ["s-body", "s-payload"] + [f"s-b{i}" for i in range(4)]:
            self.assertEqual(n.event(i).status, 404, i)
        # A batch at the limit is fine, an oversize item is rejected (413).
        r = n.post("/events/batch", {"events": [
            {"id": "s-ok-1", "type": "a.b"},
            {"id": "s-big", "type": "a.b", "payload": {"p": "x" * 3000}},
            {"id": "s-ok-2", "type": "a.b"}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["accepted"], r.json["rejected"]), (2, 1), r)
        self.assertEqual(r.json["results"][1]["code"], 413, r)
        self.assertEqual(r.json["results"][1]["field"], "payload", r)
        # A declared Content-Length far over the limit is refused without
        # waiting for the body.
        t = time.monotonic()
        raw = hc.post_bytes_raw(n.port, "/events", b'{"type": "a.b", ' * 8,
                                content_length=10 ** 9, timeout=8)
        status, _, rbody = hc.parse_raw(raw)
        self.assertEqual(status, 413, raw[:300])
        self.assertLess(time.monotonic() - t, 8)
        # Chunked transfer encoding cannot sneak past the limit.
        chunk = b'{"id": "s-chunked", "type": "a.b", "payload": {"p": "' \
            + b"x" * 70000 + b'"}}'
        body = b""
        for i in range(0, len(chunk), 8192):
            part = chunk[i:i + 8192]
            body += f"{len(part):x}\r\n".encode() + part + b"\r\n"
        body += b"0\r\n\r\n"
        head = (f"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        raw = hc.raw_exchange(n.port, head.encode() + body, shut_wr=False,
                              timeout=8, wait_for_close=False)
        status, _, _ = hc.parse_raw(raw)
        self.assertEqual(status, 413, raw[:300])
        self.assertEqual(n.event("s-chunked").status, 404)
        # Still serving; a small chunked body is an ordinary request.
        small = b'{"id": "s-chunk-ok", "type": "a.b"}'
        raw = hc.raw_exchange(
            n.port, head.encode() + f"{len(small):x}\r\n".encode() + small
            + b"\r\n0\r\n\r\n", shut_wr=False, timeout=8,
            wait_for_close=False)
        status, _, _ = hc.parse_raw(raw)
        self.assertEqual(status, 202, raw[:300])
        n.wait_all_processed(["s-ok-1", "s-ok-2", "s-chunk-ok"])
        self.assertEqual(n.event("s-big").status, 404)

    # -- truncated bodies, broken HTTP -----------------------------------------

    def test_truncated_bodies_and_broken_http(self):
        n = self.start_node(GROUPS)
        full = json.dumps({"id": "t-1", "type": "a.b",
                           "payload": {"pad": "y" * 200}}).encode()
        # Half the body, then the client half-closes: 400, not stored.
        with self.subTest(case="half the body"):
            raw = hc.post_bytes_raw(n.port, "/events", full[:len(full) // 2],
                                    content_length=len(full), shut_wr=True)
            status, _, body = hc.parse_raw(raw)
            self.assertEqual(status, 400, raw[:300])
            self.assertIn(b'"error"', body)
        # A complete JSON document, but fewer bytes than declared.
        doc = json.dumps({"id": "t-2", "type": "a.b"}).encode()
        with self.subTest(case="fewer bytes than declared"):
            raw = hc.post_bytes_raw(n.port, "/events", doc,
                                    content_length=len(doc) + 10,
                                    shut_wr=True)
            status, _, _ = hc.parse_raw(raw)
            self.assertEqual(status, 400, raw[:300])
        # The client vanishes mid-body.
        s = socket.create_connection(("127.0.0.1", n.port))
        s.sendall(f"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: "
                  f"application/json\r\nContent-Length: {len(full)}\r\n\r\n"
                  .encode() + full[:40])
        s.close()
        # Broken HTTP: any answer is a 4xx, the node lives on.
        broken = [
            b"HELLO WORLD\r\n\r\n",
            b"POST /events HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
            b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: "
            b"application/json\r\nContent-Length: abc\r\n\r\n{}",
            b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: "
            b"application/json\r\nContent-Length: -5\r\n\r\n{}",
            b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000
            + b"\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
            b"GET /health HTTP/9.9\r\n\r\n",
            b"POST /events HTTP/1.1\r\nHost: x\r\n",
            b"GET /events/" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        ]
        for data in broken:
            with self.subTest(data=data[:40]):
                raw = hc.raw_exchange(n.port, data, shut_wr=True, timeout=5)
                status, _, _ = hc.parse_raw(raw)
                if status is not None:
                    self.assertTrue(400 <= status < 500 or status == 505,
                                    raw[:200])
                self.assertTrue(n.alive())
        for i in ("t-1", "t-2"):
            self.assertEqual(n.event(i).status, 404, i)
        self.assertEqual(n.get("/health").status, 200)
        r = n.publish({"id": "t-ok", "type": "a.b"})
        self.assertEqual(r.status, 202, r)
        n.wait_all_processed(["t-ok"])

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
        self.assertError(n.post("/failed-events/replay",
                                {"rate": 10, "bogus": 1}), 400, field="bogus")
        self.assertError(n.post("/failed-events/replay", b"{"), 400,
                         field="body")
        self.assertError(n.post("/failed-events/replay", {"rate": "fast"}),
                         400, field="rate")

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

    # -- routes ----------------------------------------------------------------

    def test_unknown_routes_and_methods(self):
        n = self.start_node(GROUPS)
        for path in ("/", "/nope", "/events/a/b", "/groups/orders",
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
                ("DELETE", "/groups", "GET"),
                ("GET", "/failed-events/x/replay", "POST"),
                ("PUT", "/failed-events/x", "DELETE"),
                ("PATCH", "/failed-events/replay", "POST")):
            with self.subTest(method=method, path=path):
                r = n.req(method, path)
                self.assertError(r, 405)
                self.assertIsNotNone(r.header("Allow"), r)
                allowed = [a.strip() for a in r.header("Allow").split(",")]
                self.assertIn(allow, allowed, r)
                self.assertNotIn(method, allowed, r)

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

    # -- auth ------------------------------------------------------------------

    KEYS = ["checkout:pub-Zx81kq0p9:publish", "grafana:read-r3adm3:read",
            "ops:adm-4dm1n:admin", "both:both-77q:publish+read"]

    def test_auth_roles(self):
        n = self.start_node(GROUPS, http={"api-keys": qlist(self.KEYS)})
        pub, read, adm, both = ("pub-Zx81kq0p9", "read-r3adm3", "adm-4dm1n",
                                "both-77q")
        # /health and /ready need no key.
        self.assertEqual(n.get("/health").status, 200)
        self.assertEqual(n.get("/ready").status, 200)
        # No key, unknown key, wrong scheme, a prefix of a key: 401.
        ev = {"id": "a-1", "type": "order.x"}
        for hdr in (None, "Bearer nope", "Bearer " + pub[:-1],
                    "Bearer " + pub + "x", "Basic " + pub, pub, "Bearer ",
                    "Bearer " + pub + " " + pub, "Bearer\t"):
            with self.subTest(authorization=hdr):
                h = {"Authorization": hdr} if hdr is not None else {}
                for method, path, body in (("POST", "/events", ev),
                                           ("GET", "/events/a-1", None),
                                           ("GET", "/metrics", None),
                                           ("POST", "/groups/orders/pause",
                                            None)):
                    r = n.req(method, path, body, headers=h, token=None)
                    self.assertError(r, 401)
                    self.assertTrue((r.header("WWW-Authenticate") or "")
                                    .startswith("Bearer"), r)
        # The scheme is case-insensitive (RFC 9110 11.1).
        r = n.req("POST", "/events", {"id": "a-0", "type": "order.x"},
                  headers={"Authorization": "bearer " + pub}, token=None)
        with self.subTest(scheme="bearer"):
            self.assertEqual(r.status, 202, r)
        # 401 comes before validation.
        r = n.req("POST", "/events", b"{broken", token=None)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(n.get("/events/a-1", token=adm).status, 404)

        def ok(method, path, key, body=None):
            r = n.req(method, path, body, token=key)
            self.assertLess(r.status, 300, (method, path, r))
            return r

        def forbidden(method, path, key, name, role, body=None):
            r = n.req(method, path, body, token=key)
            self.assertError(r, 403)
            self.assertIn(name, r.json["error"], r)
            self.assertIn(role, r.json["error"], r)
            self.assertNotIn(key, r.body.decode(), "the key is echoed")

        # publish
        self.assertEqual(ok("POST", "/events", pub, ev).status, 202)
        ok("POST", "/events/batch", pub, [{"id": "a-2", "type": "order.x"}])
        forbidden("GET", "/events/a-1", pub, "checkout", "read")
        forbidden("GET", "/events?status=processed", pub, "checkout", "read")
        forbidden("GET", "/metrics", pub, "checkout", "read")
        forbidden("GET", "/groups", pub, "checkout", "read")
        forbidden("GET", "/failed-events", pub, "checkout", "read")
        forbidden("POST", "/groups/orders/pause", pub, "checkout", "admin")
        forbidden("POST", "/failed-events/a-1/replay", pub, "checkout",
                  "admin")
        # read
        n.token = read
        n.wait_all_processed(["a-1", "a-2"])
        ok("GET", "/events?status=processed", read)
        ok("GET", "/groups", read)
        ok("GET", "/metrics", read)
        ok("GET", "/failed-events", read)
        ok("GET", "/failed-events/replay", read)
        self.assertEqual(n.get("/failed-events/a-1").status, 404)
        forbidden("POST", "/events", read, "grafana", "publish",
                  {"id": "a-3", "type": "order.x"})
        forbidden("POST", "/events/batch", read, "grafana", "publish",
                  [{"id": "a-3", "type": "order.x"}])
        forbidden("POST", "/groups/orders/pause", read, "grafana", "admin")
        forbidden("POST", "/groups/orders/resume", read, "grafana", "admin")
        forbidden("POST", "/failed-events/a-1/replay", read, "grafana",
                  "admin")
        forbidden("POST", "/failed-events/replay", read, "grafana", "admin",
                  {"rate": 10})
        forbidden("DELETE", "/failed-events/a-1", read, "grafana", "admin")
        self.assertEqual(n.event("a-3").status, 404)
        # publish+read
        ok("POST", "/events", both, {"id": "a-4", "type": "order.x"})
        ok("GET", "/events/a-4", both)
        forbidden("POST", "/groups/orders/pause", both, "both", "admin")
        # admin may do everything.
        ok("POST", "/events", adm, {"id": "a-5", "type": "order.x"})
        ok("POST", "/events/batch", adm, [{"id": "a-6", "type": "order.x"}])
        ok("GET", "/events/a-5", adm)
        ok("GET", "/metrics", adm)
        ok("GET", "/groups", adm)
        ok("POST", "/groups/orders/pause", adm)
        ok("POST", "/groups/orders/resume", adm)
        self.assertEqual(n.req("POST", "/failed-events/a-1/replay",
                               token=adm).status, 404)
        self.assertEqual(n.req("DELETE", "/failed-events/a-1",
                               token=adm).status, 404)
        self.assertEqual(n.req("POST", "/failed-events/replay", {},
                               token=adm).status, 202)
        n.wait_all_processed(["a-4", "a-5", "a-6"])
        # Keys are never logged (names may be).
        with open(n.log_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        for key in (pub, read, adm, both):
            self.assertNotIn(key, log, "an API key is in the log")

    def test_api_keys_file(self):
        path = os.path.join(self.dir, "keys.txt")
        with open(path, "w") as f:
            f.write("# service keys\n"
                    "filer:fk-123abc:publish+read\n"
                    "\n"
                    "# boss\n"
                    "boss:bk-999zzz:admin\n")
        n = self.start_node(GROUPS, http={"api-keys-file": q(path)})
        self.assertEqual(n.get("/health").status, 200)
        self.assertError(n.get("/groups", token=None), 401)
        self.assertError(n.get("/groups", token="# service keys"), 401)
        r = n.publish({"id": "kf-1", "type": "order.x"}, token="fk-123abc")
        self.assertEqual(r.status, 202, r)
        self.assertEqual(n.get("/groups", token="fk-123abc").status, 200)
        r = n.post("/groups/orders/pause", token="fk-123abc")
        self.assertError(r, 403)
        self.assertIn("filer", r.json["error"])
        self.assertIn("admin", r.json["error"])
        r = n.post("/groups/orders/pause", token="bk-999zzz")
        self.assertEqual(r.status, 200, r)
        n.post("/groups/orders/resume", token="bk-999zzz")
        n.token = "bk-999zzz"
        n.wait_all_processed(["kf-1"])

    # -- metrics ---------------------------------------------------------------

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

    # -- the barrage ------------------------------------------------------------

    def test_bad_input_barrage_nothing_accepted_is_lost(self):
        """Four clients interleave valid events with every kind of bad
        input; every event answered 202 is processed exactly once in both
        groups, every bad request gets its 4xx, the node keeps serving."""
        n = self.start_node(
            GROUPS, http={"max-body-bytes": 65536, "threads": 2},
            events={"max-payload-bytes": 4096, "max-depth": 16})
        accepted, wrong, lock = [], [], threading.Lock()
        counts = {}

        def expect(kind, status, want):
            with lock:
                counts[(kind, status)] = counts.get((kind, status), 0) + 1
                if status not in want:
                    wrong.append((kind, status, want))

        def client(t):
            for i in range(40):
                eid = f"bz-{t}-{i}"
                kind = (i + t) % 12
                try:
                    if kind == 0:
                        r = n.publish({"id": eid, "type": "order.b",
                                       "payload": {"i": i}})
                        expect("valid", r.status, (202,))
                        if r.status == 202:
                            with lock:
                                accepted.append(eid)
                    elif kind == 1:
                        r = n.req("POST", "/events",
                                  f'{{"id": "{eid}", "type": "order.b", '
                                  f'"payload": {{"i": '.encode())
                        expect("malformed", r.status, (400,))
                    elif kind == 2:
                        body = json.dumps({"id": eid, "type": "order.b"})
                        raw = hc.post_bytes_raw(
                            n.port, "/events", body.encode(),
                            content_length=len(body) + 50, shut_wr=True,
                            timeout=5)
                        st, _, _ = hc.parse_raw(raw)
                        expect("truncated", st, (400, None))
                    elif kind == 3:
                        r = n.publish({"id": eid, "type": "order.b",
                                       "payload": {"p": "x" * 70000}})
                        expect("oversized body", r.status, (413,))
                    elif kind == 4:
                        r = n.publish({"id": eid, "type": "order.b",
                                       "payload": nest(300)})
                        expect("deep", r.status, (400,))
                    elif kind == 5:
                        r = n.req("POST", "/events",
                                  f'{{"id": "{eid}", "type": "order.b", '
                                  f'"payload": {{"s": "'.encode()
                                  + b"\xc3\x28\xff" + b'"}}')
                        expect("bad utf-8", r.status, (400,))
                    elif kind == 6:
                        r = n.req("POST", "/events", {"id": eid,
                                                      "type": "order.b"},
                                  content_type="text/plain")
                        expect("content type", r.status, (415,))
                    elif kind == 7:
                        r = n.post("/events/batch", [
                            {"id": eid + f"-{k}", "type": "order.b"}
                            for k in range(3)] + [{"type": "no good"}])
                        expect("batch", r.status, (200,))
                        if r.status == 200:
                            for x in r.json["results"]:
                                if x["status"] == "accepted":
                                    with lock:
                                        accepted.append(x["eventId"])
                            expect("batch items", r.json["accepted"], (3,))
                    elif kind == 8:
                        raw = hc.raw_exchange(
                            n.port, b"POST /events HTTP/1.1\r\n\x00\x01"
                            b"garbage\r\n\r\n", timeout=5)
                        st, _, _ = hc.parse_raw(raw)
                        expect("garbage", st, (400, None))
                    elif kind == 9:
                        r = n.publish({"id": eid, "type": "order.b",
                                       "priority": "high",
                                       "payload": {"s": "\u00e9\U0001F600"}})
                        expect("valid unicode", r.status, (202,))
                        if r.status == 202:
                            with lock:
                                accepted.append(eid)
                    elif kind == 10:
                        r = n.publish({"id": eid, "type": "order.b",
                                       "payload": {"p": "x" * 5000}})
                        expect("oversized payload", r.status, (413,))
                    elif kind == 11:
                        s = socket.create_connection(("127.0.0.1", n.port))
                        s.sendall(b"POST /events HTTP/1.1\r\nContent-Le")
                        s.close()
                        expect("abort", 0, (0,))
                except OSError as e:
                    with lock:
                        wrong.append((kind, repr(e), "no exception"))

        threads = [threading.Thread(target=client, args=(t,))
                   for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        self.assertEqual(wrong, [], f"unexpected answers; counts: {counts}")
        self.assertTrue(n.alive(), "the node died")
        self.assertEqual(n.get("/health").status, 200)
        self.assertEqual(len(accepted), len(set(accepted)))
        self.assertGreater(len(accepted), 40)
        n.wait_all_processed(accepted, timeout=40)
        effects = hc.count_effects(os.path.join(n.data_dir, "onceflow.db"))
        want = {(g, e) for e in accepted for g in ("orders", "audit")}
        self.assertEqual(set(effects), want,
                         "effects differ from the accepted events")
        self.assertEqual({k: v for k, v in effects.items() if v != 1}, {})
        m = n.metrics()
        self.assertEqual(m.total("onceflow_events_accepted_total"),
                         len(accepted))
        self.assertEqual(m.get("onceflow_events_rejected_total",
                               reason="too_large"),
                         counts.get(("oversized body", 413), 0)
                         + counts.get(("oversized payload", 413), 0))
        self.assertEqual(m.get("onceflow_events_rejected_total",
                               reason="unsupported_media_type"),
                         counts.get(("content type", 415), 0))
        self.assertGreaterEqual(
            m.get("onceflow_events_rejected_total", reason="invalid"),
            sum(counts.get((k, 400), 0) for k in
                ("malformed", "deep", "bad utf-8")))


if __name__ == "__main__":
    op.main()
