"""Events published right after a node on the Redis store starts (through
its CAF endpoint and over HTTP) reach every group: appends wait until the
node's groups are registered. Measured against the build before that fix
(e354349): the test fails there within a few rounds. Also a second node
that joins with a group nobody registered yet.

ONCEFLOW_START_ROUNDS (default 24): the number of fresh starts.

Run: python3 tests/integration/test_redis_publish_at_start.py
     --binary BUILD/onceflow [--config-dir config] [unittest args]
"""

import http.client
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import onceflow_proc as op  # noqa: E402
from redis_nodes import TIME_SCALE  # noqa: E402
from redis_retention import (Collector, RetentionBase,  # noqa: E402
                             store_group)


class PublishAtStartTest(RetentionBase):
    GROUPS = {"g1": store_group(subscriptions='["*"]'),
              "g2": store_group(subscriptions='["*"]'),
              "g3": store_group(subscriptions='["job.*"]', concurrency="1"),
              "g4": store_group(subscriptions='["*"]', batch_size="16"),
              "g5": store_group(subscriptions='["job.t*"]'),
              "g6": store_group(subscriptions='["*"]')}
    # A node answers `status` and HTTP within ~30 ms of its start; a build
    # where appends overtake group registration loses the race in about
    # one round of five (measured with the build before 2d115d7), so
    # many rounds (~0.25 s each).
    ROUNDS = int(os.environ.get("ONCEFLOW_START_ROUNDS", "24"))
    N = 200

    def start_and_publish(self, name, tag, groups):
        """Starts node `name`; publishes N events through its CAF endpoint
        as soon as `onceflow status` answers and, at the same time, 50
        events over HTTP as soon as its port takes connections. Returns
        the accepted ids."""
        cfg = self.configs[name]
        evs = [{"id": f"{tag}-cli-{i:04d}", "type": f"job.t{i % 4}",
                "payload": {"n": i}} for i in range(self.N)]
        path = self.write_events(f"{tag}-cli", evs)
        http_evs = [{"id": f"{tag}-http-{i:03d}", "type": "job.http",
                     "payload": {"n": i}} for i in range(50)]
        http_res = {}

        def over_http():
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    r = self.http(name, "POST", "/events/batch",
                                  {"events": http_evs}, timeout=10)
                except (OSError, http.client.HTTPException):
                    time.sleep(0.001)
                    continue
                http_res["r"] = r
                if r.status == 200:
                    return
                time.sleep(0.05)   # 503 while starting: a client retries
        n = self.launch_node(name)
        t0 = time.monotonic()
        th = threading.Thread(target=over_http)
        th.start()
        while True:
            self.assertTrue(n.alive(), f"{name} exited")
            r = op.run(op.BINARY, "status", "--config", cfg, timeout=20)
            if r.returncode == 0:
                break
            self.assertLess(time.monotonic() - t0, 30, "node never answered")
        t_status = time.monotonic() - t0
        r = op.run(op.BINARY, "publish", "--config", cfg, "--file", path,
                   "--verbose", timeout=60)
        th.join(40)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines, [f"{e['id']} accepted" for e in evs])
        hr = http_res.get("r")
        self.assertIsNotNone(hr, "the HTTP API never answered")
        self.assertEqual(hr.status, 200, hr)
        # Every item stored: `accepted`, or `duplicate` if an earlier
        # attempt answered 503 after storing it (a client retries those).
        self.assertEqual([(x.get("eventId"), x["status"] in ("accepted",
                                                             "duplicate"))
                          for x in hr.json["results"]],
                         [(e["id"], True) for e in http_evs], hr.json)
        sys.stderr.write(f"    {tag}: status answered {t_status:.2f}s after "
                         f"start\n")
        return {e["id"]: e["type"] for e in evs + http_evs}

    def settle(self, col, want, names):
        """Waits for every wanted record, or (an event that never reached
        a group) until the nodes are quiet, so that assert_once names what
        is missing."""
        try:
            col.until(lambda s: all(len(col.records[g]) >= len(w)
                                    for g, w in want.items()),
                      5 * TIME_SCALE, "every event in every group")
        except AssertionError:
            pass
        self.wait_quiet(names)
        col.poll()

    def expect(self, published, groups):
        """Ids per group by its subscriptions (`*`: any run of
        characters)."""
        out = {}
        for g, opts in groups.items():
            pats = [re.compile(re.escape(p).replace(r"\*", ".*") + "$")
                    for p in json.loads(opts["subscriptions"])]
            out[g] = {i for i, t in published.items()
                      if any(p.match(t) for p in pats)}
        return out

    def test_events_published_right_after_start_reach_every_group(self):
        """ROUNDS times, on a fresh key prefix (nothing registered yet):
        a node starts with four groups and events are published the moment
        it answers `status` (and over HTTP the moment its port is open).
        Every event reaches every subscribed group exactly once. Then a
        second node joins with a group nobody registered yet (`new`) and
        events are published through it at once: `new` and g1 get
        each of them exactly once."""
        self.start_redis(appendonly=False)
        base = self.prefix
        for k in range(self.ROUNDS):
            self.prefix = f"{base}r{k}:"
            name = f"node-r{k}"
            self.config_for(name, retention="1h")
            pub = self.start_and_publish(name, f"r{k}", self.GROUPS)
            want = self.expect(pub, self.GROUPS)
            col = Collector(self, self.GROUPS, 3600 * 1000)
            self.settle(col, want, [name])
            try:
                self.assert_once(col, want)
            except AssertionError as e:
                raise AssertionError(f"round {k} of {self.ROUNDS}: {e}") \
                    from None
            self.assertEqual(self.nodes[name].terminate(), 0)

        # A second node adds a group nobody registered yet.
        self.prefix = f"{base}join:"
        self.config_for("node-1", groups={"g1": self.GROUPS["g1"]},
                        retention="1h")
        self.start_node("node-1")
        groups2 = {"g1": self.GROUPS["g1"],
                   "new": store_group(subscriptions='["*"]')}
        self.config_for("node-2", groups=groups2, retention="1h")
        self.GROUPS = groups2      # for wait_quiet and counts
        pub = self.start_and_publish("node-2", "join", groups2)
        want = self.expect(pub, groups2)
        col = Collector(self, groups2, 3600 * 1000)
        self.settle(col, want, ["node-1", "node-2"])
        with self.subTest("a joining node's new group"):
            self.assert_once(col, want)
        self.assert_alive("node-1", "node-2")


if __name__ == "__main__":
    op.main()
