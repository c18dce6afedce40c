"""Integration tests of the HTTP API (docs/http-api.md) against real
`onceflow node` processes on free ports: API keys.

401 without a valid key (with WWW-Authenticate), 403 naming the key and
the role it lacks, the publish / read / admin roles, keys from a file;
keys are never logged or echoed.

Run: python3 tests/integration/test_http_auth.py
     --binary BUILD/onceflow [--config-dir config] [unittest args]
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import http_client as hc  # noqa: E402
import onceflow_proc as op  # noqa: E402
from http_client import GROUPS, q, qlist  # noqa: E402


class HttpAuthTest(hc.NodeTestCase):

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
        forbidden("DELETE", "/failed-events", read, "grafana", "admin")
        forbidden("DELETE", "/failed-events?group=orders", both, "both",
                  "admin")
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
        self.assertEqual(n.req("DELETE", "/failed-events?group=orders",
                               token=adm).json, {"purged": 0,
                                                 "group": "orders"})
        n.wait_all_processed(["a-4", "a-5", "a-6"])
        # Keys are never logged (names may be).
        with open(n.log_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        for key in (pub, read, adm, both):
            self.assertNotIn(key, log, "an API key is in the log")

    def test_auth_says_what_a_key_may_do(self):
        """GET /auth (the dashboard asks it first): always 200, the key's
        name and roles; none for a missing or unknown key, with why."""
        n = self.start_node(GROUPS, http={"api-keys": qlist(self.KEYS)})
        for token, name, roles in (
                ("pub-Zx81kq0p9", "checkout", ["publish"]),
                ("read-r3adm3", "grafana", ["read"]),
                ("both-77q", "both", ["publish", "read"]),
                ("adm-4dm1n", "ops", ["publish", "read", "admin"])):
            r = n.get("/auth", token=token)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json, {"keys": True, "name": name,
                                      "roles": roles}, r)
        r = n.get("/auth", token=None)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["roles"], r.json["name"]), ([], None), r)
        self.assertIn("missing API key", r.json["error"])
        r = n.get("/auth", token="nope")
        self.assertEqual(r.json["roles"], [], r)
        self.assertEqual(r.json["error"], "unknown API key", r)
        # The dashboard's files need no key (served with a policy that
        # allows only this node's own scripts); /stats needs the read role.
        r = n.get("/ui", token=None)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/html"))
        self.assertIn("default-src 'self'",
                      r.header("Content-Security-Policy"))
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        self.assertIn(b'<script src="/ui/app.js">', r.body)
        r = n.get("/ui/app.js", token=None)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/javascript"))
        self.assertError(n.get("/ui/nope.js", token=None), 404, field="file")
        self.assertEqual(n.get("/stats", token=None).status, 401)
        self.assertEqual(n.get("/stats", token="pub-Zx81kq0p9").status, 403)
        self.assertEqual(n.get("/stats", token="read-r3adm3").status, 200)

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


if __name__ == "__main__":
    op.main()
