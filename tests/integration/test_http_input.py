"""Integration tests of the HTTP API (docs/http-api.md) against real
`onceflow node` processes on free ports: bad input.

400 with {error, field} for invalid events, malformed JSON and bad UTF-8,
deep nesting, 415 for wrong content types, 413 for oversized bodies,
payloads, batches and chunked bodies, truncated bodies and broken HTTP:
each gets a clear 4xx, nothing of it is stored and the node keeps running;
a barrage of bad input from several clients after which every event
answered 202 is processed exactly once.

Run: python3 tests/integration/test_http_input.py
     --binary BUILD/onceflow [--config-dir config] [unittest args]
"""

import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import http_client as hc  # noqa: E402
import onceflow_proc as op  # noqa: E402
from http_client import GROUPS, LIMITS, nest  # noqa: E402


class HttpInputTest(hc.NodeTestCase):

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
