"""Run-time changes of a group's settings through the HTTP API, kept in the
store (docs/http-api.md, Groups): a paused group stays paused after a
restart; two nodes on one redis-server see each other's pause and listener
count within a janitor round; PATCH /groups/{name} changes the rate limit
and the listener count without a restart, DELETE
/groups/{name}/overrides goes back to the config's values; bad changes
get a 400 naming the field, an unknown group a 404, a key without the
admin role a 403.

Run: python3 tests/integration/test_group_settings.py
     --binary BUILD/onceflow [--config-dir config] [unittest args]
"""

import os
import shutil
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import http_client as hc  # noqa: E402
import onceflow_proc as op  # noqa: E402
from http_client import q, qlist, store_group  # noqa: E402

GROUPS = {"orders": store_group(["order.*"]), "audit": store_group(["*"])}


def groups_of(n):
    r = n.get("/groups")
    assert r.status == 200, r
    return {g["name"]: g for g in r.json["groups"]}


def patch(n, name, body, **kw):
    return n.req("PATCH", f"/groups/{name}", body, **kw)


class GroupSettingsTest(hc.NodeTestCase):

    def statuses(self, n, ids, group):
        out = {}
        for i in ids:
            g = {x["group"]: x for x in n.event(i).json["groups"]}
            out[i] = g[group]["status"]
        return out

    def wait_processed_in(self, n, ids, group, timeout=20):
        op.wait_until(lambda: set(self.statuses(n, ids, group).values())
                      == {"processed"}, timeout,
                      f"{len(ids)} events processed in {group}",
                      progress=lambda: repr(self.statuses(n, ids, group)))

    def restart(self, n, name):
        n.sigterm()
        self.assertEqual(n.wait_exit(), 0)
        return self.start_node(GROUPS, config=n.config_tuple, name=name)

    def test_a_paused_group_stays_paused_after_a_restart(self):
        n = self.start_node(GROUPS)
        r = n.post("/groups/orders/pause")
        self.assertEqual(r.json, {"group": "orders", "paused": True})
        n = self.restart(n, "again")
        o = groups_of(n)["orders"]
        self.assertTrue(o["paused"], o)
        self.assertEqual(o.get("sources", {}).get("paused"), "override", o)
        self.assertFalse(groups_of(n)["audit"]["paused"])
        ids = [f"p-{i}" for i in range(5)]
        for i in ids:
            self.assertEqual(n.publish({"id": i, "type": "order.x"}).status,
                             202)
        # audit runs, so orders had its chance to run too.
        self.wait_processed_in(n, ids, "audit")
        self.assertEqual(set(self.statuses(n, ids, "orders").values()),
                         {"accepted"})
        # The listener count is kept as well; resumed is kept too.
        self.assertEqual(patch(n, "orders", {"concurrency": 3}).status, 200)
        r = n.post("/groups/orders/resume")
        self.assertEqual(r.json, {"group": "orders", "paused": False})
        n.wait_all_processed(ids)
        n = self.restart(n, "third")
        o = groups_of(n)["orders"]
        self.assertEqual((o["paused"], o["listeners"], o["concurrency"]),
                         (False, 3, 3), o)
        self.assertEqual(o["sources"], {"paused": "config",
                                        "concurrency": "override",
                                        "rateLimit": "config",
                                        "rateBurst": "config"})

    def test_patch_changes_listeners_and_delete_goes_back(self):
        n = self.start_node(GROUPS)
        o = groups_of(n)["orders"]
        self.assertEqual((o["listeners"], o["concurrency"], o["rateLimit"],
                          o["rateBurst"]), (2, 2, 0, 0), o)
        self.assertEqual(set(o["sources"].values()), {"config"})
        r = patch(n, "orders", {"concurrency": 5, "rateLimit": 250.5})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["name"], r.json["listeners"],
                          r.json["concurrency"], r.json["rateLimit"]),
                         ("orders", 5, 5, 250.5), r.json)
        self.assertEqual(r.json["sources"]["concurrency"], "override")
        self.assertEqual(r.json["sources"]["rateLimit"], "override")
        self.assertEqual(r.json["sources"]["rateBurst"], "config")
        self.assertEqual(n.metrics().get("onceflow_listeners",
                                         group="orders"), 5)
        self.assertEqual(groups_of(n)["audit"]["listeners"], 2)
        ids = [f"c-{i}" for i in range(20)]
        for i in ids:
            n.publish({"id": i, "type": "order.x"})
        n.wait_all_processed(ids)
        # null drops one override.
        r = patch(n, "orders", {"rateLimit": None})
        self.assertEqual((r.json["rateLimit"],
                          r.json["sources"]["rateLimit"]), (0, "config"))
        self.assertEqual(r.json["concurrency"], 5)
        r = n.delete("/groups/orders/overrides")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["concurrency"], 2)
        self.assertEqual(set(r.json["sources"].values()), {"config"})
        op.wait_until(lambda: groups_of(n)["orders"]["listeners"] == 2, 10,
                      "orders back to 2 listeners")
        self.assertEqual(n.delete("/groups/orders/overrides").status, 200)
        self.assertError(n.delete("/groups/nope/overrides"), 404)

    def test_patch_rate_takes_effect(self):
        n = self.start_node(GROUPS)
        r = patch(n, "orders", {"rateLimit": 4, "rateBurst": 1})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["rateLimit"], r.json["rateBurst"]), (4, 1))
        ids = [f"r-{i}" for i in range(16)]
        t0 = time.monotonic()
        r = n.req("POST", "/events/batch",
                  {"events": [{"id": i, "type": "order.x"} for i in ids]})
        self.assertEqual(r.status, 200, r)
        n.wait_all_processed(ids, timeout=60)
        took = time.monotonic() - t0
        # 4/s after one at once: at least 15/4 = 3.75 s. Only a lower
        # bound (a slow machine takes longer, never shorter).
        self.assertGreaterEqual(took, 3.0, f"16 events in {took:.2f}s")
        # Back to the config's (no limit): 300 events, which would take 75
        # s at 4/s, are done well within 30 s.
        r = patch(n, "orders", {"rateLimit": None, "rateBurst": None})
        self.assertEqual((r.json["rateLimit"], r.json["rateBurst"]), (0, 0))
        more = [f"m-{i}" for i in range(300)]
        for k in range(0, len(more), 100):
            r = n.req("POST", "/events/batch",
                      {"events": [{"id": i, "type": "order.x"}
                                  for i in more[k:k + 100]]})
            self.assertEqual(r.status, 200, r)
        n.wait_all_processed(more, timeout=30)

    def test_bad_changes_are_refused(self):
        keys = ["ops:adm-4dm1n-k3y:admin", "grafana:read-r3adm3:read"]
        n = self.start_node(GROUPS, token="adm-4dm1n-k3y",
                            http={"api-keys": qlist(keys)})
        cases = [
            ([1, 2], "body"),
            ({}, "body"),
            ({"rate": 5}, "rate"),
            ({"concurrency": 0}, "concurrency"),
            ({"concurrency": 1025}, "concurrency"),
            ({"concurrency": 1.5}, "concurrency"),
            ({"concurrency": "4"}, "concurrency"),
            ({"rateLimit": -1}, "rateLimit"),
            ({"rateLimit": 0.0001}, "rateLimit"),
            ({"rateLimit": "fast"}, "rateLimit"),
            ({"rateBurst": 0.5}, "rateBurst"),
            ({"paused": "yes"}, "paused"),
            ({"concurrency": 2, "colour": "red"}, "colour"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                self.assertError(patch(n, "orders", body), 400, field)
        self.assertError(n.req("PATCH", "/groups/orders", b"{broken"), 400,
                         "body")
        self.assertError(patch(n, "nope", {"concurrency": 2}), 404)
        # Nothing changed.
        o = groups_of(n)["orders"]
        self.assertEqual((o["concurrency"], o["rateLimit"]), (2, 0))
        self.assertEqual(set(o["sources"].values()), {"config"})
        # Admin only.
        r = patch(n, "orders", {"concurrency": 3}, token="read-r3adm3")
        self.assertError(r, 403)
        self.assertError(n.req("DELETE", "/groups/orders/overrides",
                               token="read-r3adm3"), 403)
        r = n.req("GET", "/groups/orders")
        self.assertEqual(r.status, 405, r)
        self.assertEqual(r.header("Allow"), "PATCH")
        self.assertEqual(patch(n, "orders", {"concurrency": 3}).status, 200)

    @unittest.skipIf(shutil.which("redis-server") is None,
                     "redis-server is not installed")
    def test_two_nodes_on_one_redis_share_the_settings(self):
        server = op.RedisServer(os.path.join(self.dir, "redis"),
                                os.path.join(self.dir, "redis-server.log"))
        self.addCleanup(server.close)
        server.start()
        redis = {"url": q(server.url()), "prefix": q("settings-it:")}
        a = self.start_node(GROUPS, name="a", node={"name": q("a")},
                            store={"backend": q("redis")}, redis=redis)
        b = self.start_node(GROUPS, name="b", node={"name": q("b")},
                            store={"backend": q("redis")}, redis=redis)
        self.assertEqual(a.post("/groups/orders/pause").status, 200)
        # B reads it in a janitor round (200 ms here).
        op.wait_until(lambda: groups_of(b)["orders"]["paused"], 10,
                      "orders paused on b")
        self.assertEqual(groups_of(b)["orders"]["sources"]["paused"],
                         "override")
        self.assertEqual(patch(b, "orders", {"concurrency": 4}).status, 200)
        op.wait_until(lambda: groups_of(a)["orders"]["listeners"] == 4, 10,
                      "4 orders listeners on a")
        # Neither node runs orders; both run audit.
        ids = [f"two-{i}" for i in range(6)]
        for k, i in enumerate(ids):
            node = a if k % 2 else b
            self.assertEqual(node.publish({"id": i, "type": "order.x"})
                             .status, 202)
        self.wait_processed_in(a, ids, "audit")
        self.assertEqual(set(self.statuses(b, ids, "orders").values()),
                         {"accepted"})
        self.assertTrue(groups_of(a)["orders"]["paused"])
        # Dropped on B: both go back to the config and run orders.
        self.assertEqual(b.delete("/groups/orders/overrides").status, 200)
        op.wait_until(lambda: not groups_of(a)["orders"]["paused"]
                      and groups_of(a)["orders"]["listeners"] == 2, 10,
                      "orders running with 2 listeners on a")
        a.wait_all_processed(ids)
        # The store holds nothing for the group any more.
        self.assertEqual(server.cli("HLEN", "settings-it:settings")
                         .stdout.strip(), "0")


if __name__ == "__main__":
    op.main()
