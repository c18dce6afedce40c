"""Retention on the Redis store with real `onceflow node` processes and a
real `redis-server` (docs/architecture.md "Retention", "Several nodes on
Redis", the Redis key table in "Store ports"; docs/configuration.md
`[store] retention`, `trim-interval`; docs/http-api.md /metrics, /events).

What the docs promise and these tests check from Redis itself:
- trimming removes a prefix of the log (`<prefix>log`) with the state
  fields (`g:<g>:st`) and effect records (`g:<g>:proc`) of its entries, only
  once every group settled them and only once they are older than the
  retention; dedup keys (`id:<event id>`) stay, so a duplicate of a trimmed
  event within the dedup window is still answered `duplicate` (status
  `unknown`) and does not run again; seqs are never reused;
- `onceflow_trimmed_events_total` counts the log entries this node removed
  (summed over the nodes: every removed entry once);
- a failing trim call is logged once (and once when trimming works
  again), retried every interval, never stops the node.

ONCEFLOW_RETENTION_EVENTS (default 3000): the events of the two-node test.

Run: python3 tests/integration/test_redis_retention_trim.py
     --binary BUILD/onceflow [--config-dir config] [unittest args]
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import onceflow_proc as op  # noqa: E402
from redis_nodes import TIME_SCALE, as_list  # noqa: E402
from redis_retention import (Collector, RetentionBase,  # noqa: E402
                             store_group)

TYPES = ["order.created", "order.paid", "user.signup", "audit.log"]


class RetentionTwoNodesTest(RetentionBase):
    GROUPS = {"orders": store_group(subscriptions='["order.*"]'),
              "all": store_group(subscriptions='["*"]')}
    N = int(os.environ.get("ONCEFLOW_RETENTION_EVENTS", "3000"))
    # Long enough that every record is read before its entry may go (the
    # collector polls every 0.1 s), short enough for a quick test.
    RETENTION_MS = 4000

    @staticmethod
    def groups_of(t):
        return ["orders", "all"] if t.startswith("order.") else ["all"]

    def test_two_nodes_trim_everything_once_settled(self):
        """Two nodes, two groups, retention 4 s, trim-interval 200 ms.
        N events (10% duplicate submissions, in the same file and racing
        through the other node). Every (event, group) effect exactly once
        (records collected before they are trimmed); nothing is trimmed
        while it is within the retention; the log then drops to length 0
        and the groups' state fields, effect records and pending entries
        are gone; dedup keys stay; the nodes' trimmed counters sum to the
        entries removed. Then new events and duplicates of trimmed ones:
        the new ones run exactly once under new seqs, the duplicates are
        answered `duplicate` (status `unknown`) and never run again; and
        they are trimmed in turn."""
        ret = f"{self.RETENTION_MS}ms"
        self.start_redis(appendonly=False)
        names = ["node-1", "node-2"]
        for name in names:
            self.config_for(name, retention=ret, trim_interval="200ms")
        for name in names:
            self.start_node(name)

        n = self.N
        events = [{"id": f"old-{i:05d}", "type": TYPES[i % len(TYPES)],
                   "payload": {"n": i}} for i in range(n)]
        files = [[], []]
        dup_subs = 0
        for i, ev in enumerate(events):
            files[i % 2].append(ev)
            if i % 20 == 5:            # same file, right after
                files[i % 2].append(ev)
                dup_subs += 1
            if i % 20 == 13:           # through the other node
                files[(i + 1) % 2].append(ev)
                dup_subs += 1
        col = Collector(self, self.GROUPS, self.RETENTION_MS)
        t_pub = time.monotonic()
        answers = self.publish_checked(
            [(names[j], files[j], f"old-{names[j]}") for j in range(2)])
        sys.stderr.write(f"\n    published {n} + {dup_subs} duplicate "
                         f"submissions in {time.monotonic() - t_pub:.1f}s\n")
        accepted = {i: a.count("accepted") for i, a in answers.items()}
        self.assertEqual({i: c for i, c in accepted.items() if c != 1}, {},
                         "ids accepted other than once")
        self.assertEqual(set(answers), {e["id"] for e in events})

        info = self.id_info(answers)
        self.assertEqual(len(info), n, "dedup keys missing after publish")
        col.watch({i: (s, c) for i, (s, c, _) in info.items()})
        expected = {"orders": set(), "all": set()}
        for ev in events:
            for g in self.groups_of(ev["type"]):
                expected[g].add(ev["id"])

        # Every effect, collected before anything is trimmed.
        took = col.until(
            lambda s: all(len(col.records[g]) >= len(w)
                          for g, w in expected.items()),
            (30 + n / 100) * TIME_SCALE, "every effect record")
        sys.stderr.write(f"    all effects seen {took:.1f}s after "
                         f"publishing ({col.summary()})\n")
        with self.subTest("exactly once before trimming"):
            self.assert_once(col, expected)

        # The log drops to 0, and with it the state and the records.
        took = col.until(
            lambda s: s["xlen"] == 0 and all(
                not as_list(s["groups"][g]["proc"]) and
                s["groups"][g]["ledger"] == 0 and
                s["groups"][g]["st_other"] == 0 for g in self.GROUPS),
            (self.RETENTION_MS / 1000 + 20) * TIME_SCALE,
            "the log, the state fields and the effect records to be "
            "trimmed")
        sys.stderr.write(f"    trimmed {took:.1f}s after all effects\n")
        snap = col.poll()
        with self.subTest("nothing trimmed within the retention"):
            self.assertEqual(col.early[:5], [], "entries trimmed while "
                             "still within the retention "
                             "(seq, id, created_at, now, first in log)")
        with self.subTest("state cleaned with the log"):
            self.assert_trimmed_clean(snap, self.GROUPS)
            self.assertEqual(self.dup_keys(), [])
        with self.subTest("exactly once after trimming"):
            self.assert_once(col, expected)
        max_old = max(s for s, _, _ in info.values())
        with self.subTest("the trim mark and dedup keys stay"):
            self.assertNotEqual(snap["trimmed"], "", "no `trimmed` key")
            self.assertGreaterEqual(int(snap["trimmed"]), max_old)
            still = self.id_info(answers)
            self.assertEqual(len(still), n, "dedup keys (id:<event id>) "
                             "of trimmed events were removed")
            # Their TTL: the longer of dedup window (24 h) and retention.
            ttls = sorted(p for _, _, p in still.values())
            self.assertGreater(ttls[0], 23 * 3600 * 1000, ttls[:3])
            self.assertLessEqual(ttls[-1], 24 * 3600 * 1000, ttls[-3:])

        with self.subTest("trimmed counters"):
            # Each node counts the log entries it removed; the removed sets
            # are disjoint (one trim script at a time), so the sum is n.
            per_node = self.wait_trimmed_sum(names, n)
            status = {name: self.status(name).get("broadcaster.trimmed")
                      for name in names}
            sys.stderr.write(f"    trimmed per node: metrics {per_node}, "
                             f"status {status}\n")
            self.assertEqual(per_node, status, "/metrics and status "
                             "disagree")
            self.assertEqual(sum(per_node.values()), n, per_node)
            self.assertEqual(
                [self.status(name).get("broadcaster.trim-failures")
                 for name in names], [0, 0])

        with self.subTest("HTTP views of trimmed events"):
            # GET /events/{id}: 404 once its entry is trimmed.
            r = self.http("node-1", "GET", "/events/old-00000")
            self.assertEqual(r.status, 404, r)
            r = self.http("node-2", "GET", "/events?status=processed"
                          "&limit=1000")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["events"], [], "trimmed events still "
                             "listed as processed")

        # New events and duplicates of trimmed ones (within the dedup
        # window), both nodes.
        old_dups = [events[k] for k in (0, 1, 2, 7, n // 2, n - 1)]
        new = [{"id": f"new-{i:04d}", "type": TYPES[i % len(TYPES)],
                "payload": {"n": i}} for i in range(300)]
        f1 = new[:150] + old_dups[:3]
        f2 = old_dups[3:] + new[150:]
        answers2 = self.publish_checked([("node-1", f1, "new-node-1"),
                                         ("node-2", f2, "new-node-2")])
        with self.subTest("duplicates of trimmed events"):
            for ev in old_dups:
                self.assertEqual(answers2[ev["id"]], ["duplicate:unknown"],
                                 ev["id"])
            for ev in new:
                self.assertEqual(answers2[ev["id"]], ["accepted"], ev["id"])
        # Over HTTP: 200 duplicate, nothing stored; the original's status
        # is `unknown` once its entry is trimmed (architecture.md,
        # Retention: "the status of a duplicate is `unknown`").
        r = self.http("node-2", "POST", "/events",
                      {"type": events[3]["type"], "payload": {}},
                      headers={"Idempotency-Key": events[3]["id"]})
        old_dups.append(events[3])
        with self.subTest("HTTP duplicate of a trimmed event"):
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["status"], "duplicate", r)
        with self.subTest("HTTP duplicate of a trimmed event: status "
                          "unknown"):
            self.assertEqual(r.json.get("original", {}).get("status"),
                             "unknown", r)

        with self.subTest("HTTP batch duplicate of a trimmed event"):
            r = self.http("node-1", "POST", "/events/batch",
                          {"events": [{"id": events[4]["id"],
                                       "type": events[4]["type"]}]})
            self.assertEqual(r.status, 200, r)
            item = r.json["results"][0]
            self.assertEqual((item["status"], item.get("original", {})
                              .get("status")), ("duplicate", "unknown"), r)
        old_dups.append(events[4])

        info2 = self.id_info([e["id"] for e in new])
        col.watch({i: (s, c) for i, (s, c, _) in info2.items()})
        with self.subTest("seqs are not reused"):
            self.assertGreater(min(s for s, _, _ in info2.values()), max_old)
            for ev in old_dups:
                self.assertEqual(self.id_info([ev["id"]])[ev["id"]][0],
                                 info[ev["id"]][0], "a duplicate moved "
                                 "the dedup key")
        expected2 = {g: set() for g in self.GROUPS}
        for ev in new:
            for g in self.groups_of(ev["type"]):
                expected2[g].add(ev["id"])
        want = {g: set(w) | expected2[g] for g, w in expected.items()}
        col.until(lambda s: all(len(col.records[g]) >= len(w)
                                for g, w in want.items()),
                  30 * TIME_SCALE, "the new events' effects")
        # Within the retention a lookup by id works (Redis keeps the id
        # key and the entry); checked only while the event is clearly
        # within it.
        probe = new[0]["id"]
        if col.last["now_ms"] < info2[probe][1] + self.RETENTION_MS - 1500:
            with self.subTest("GET /events/{id} within the retention"):
                r = self.http("node-1", "GET", f"/events/{probe}")
                self.assertEqual(r.status, 200, r)
                self.assertEqual((r.json["eventId"], r.json["seq"],
                                  r.json["status"]),
                                 (probe, info2[probe][0], "processed"), r)
        # Let the nodes settle whatever else they might (wrongly) run.
        self.wait_quiet()
        col.poll()
        with self.subTest("new events once, trimmed duplicates never again"):
            self.assert_once(col, want)
        col.until(lambda s: s["xlen"] == 0 and all(
            not as_list(s["groups"][g]["proc"]) and
            s["groups"][g]["ledger"] == 0 for g in self.GROUPS),
            (self.RETENTION_MS / 1000 + 20) * TIME_SCALE,
            "the new events to be trimmed as well")
        snap = col.poll()
        self.assert_trimmed_clean(snap, self.GROUPS)
        self.assert_once(col, want)
        self.assertEqual(col.early[:5], [])
        self.wait_trimmed_sum(names, n + len(new))
        self.assert_alive()


# -- a failing trim is logged once, retried, and never stops the node ---

class TrimFailureTest(RetentionBase):
    GROUPS = {"all": store_group(subscriptions='["*"]')}

    def trim_log_lines(self, name):
        text = op.tail(os.path.join(self.dir, f"{name}.log"), 10 ** 7)
        return [line for line in text.splitlines() if "trim" in line.lower()]

    def test_failing_trim_is_logged_once_and_retried(self):
        """The retry schedule by seq (`retry:seq`, read by every trim call)
        is replaced by a string: every trim call fails. architecture.md,
        Retention: a failed call is logged once (and again when trimming
        works), tried after the next interval, and never stops the node;
        `broadcaster.trim-failures` counts. Once the key is removed the log
        is trimmed."""
        self.start_redis(appendonly=False)
        self.config_for("node-1", retention="1s", trim_interval="100ms")
        self.start_node("node-1")
        evs = [{"id": f"f-{i:03d}", "type": "job.x", "payload": {}}
               for i in range(50)]
        self.assert_all_accepted([self.publish("node-1", evs, "f")],
                                 [("node-1", evs, "f")])
        col = Collector(self, self.GROUPS, 1000)
        col.until(lambda s: len(col.records["all"]) >= 50, 20,
                  "the events to be processed")
        self.wait_quiet()
        self.redis.cli("SET", f"{self.prefix}retry:seq", "not-a-zset")
        before = len(self.trim_log_lines("node-1"))
        # 1 s retention, then 20 trim intervals that all fail.
        op.wait_until(lambda: self.status("node-1").get(
            "broadcaster.trim-failures", 0) >= 1, 10, "a trim call to fail",
            progress=lambda: str(self.status("node-1")))
        time.sleep(2.0)   # ~20 more intervals: all fail, none logged
        st = self.status("node-1")
        self.assertGreaterEqual(st.get("broadcaster.trim-failures", 0), 5,
                                f"failed trims not retried each interval: "
                                f"{st}")
        self.assertEqual(col.poll()["xlen"], 50)
        failing = self.trim_log_lines("node-1")[before:]
        with self.subTest("a failing trim is logged once"):
            self.assertEqual(len(failing), 1, f"{len(failing)} log lines "
                             f"about failed trims in ~2 s of "
                             f"{st.get('broadcaster.trim-failures')} failed "
                             "calls, expected one:\n"
                             + "\n".join(failing[:4]))
        self.assert_alive()
        self.redis.cli("DEL", f"{self.prefix}retry:seq")
        col.until(lambda s: s["xlen"] == 0 and not as_list(
            s["groups"]["all"]["proc"]), 10, "the log to be trimmed once "
            "the trim works again")
        self.wait_trimmed({"node-1": 50})
        recovered = [line for line in
                     self.trim_log_lines("node-1")[before + len(failing):]
                     if "fail" not in line.lower()]
        with self.subTest("trimming working again is logged"):
            self.assertEqual(len(recovered), 1, "\n".join(recovered[:5]))
        self.assert_alive()


if __name__ == "__main__":
    op.main()
