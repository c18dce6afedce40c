"""Several real `onceflow node` processes on one real `redis-server` that is
killed and restarted under them.

- Redis killed and restarted with AOF (appendfsync always): nothing
  accepted is lost, nothing doubled, and the outage leaves no extra load
  behind;
- without persistence: what is lost is printed loudly, the nodes notice the
  new store generation, drop what they held of the old data and recover
  for new events.

Run: python3 tests/integration/test_redis_nodes_redis_restart.py
     --binary BUILD/onceflow [--config-dir config] [unittest args]
"""

import collections
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import onceflow_proc as op  # noqa: E402
from redis_nodes import (LEASE_MS, TIME_SCALE,  # noqa: E402
                         RedisNodesBase, simple_config)


RESTART_OPTS = dict(concurrency="2", batch_size="10", latency="10ms",
                    lease_ttl=f"{LEASE_MS}ms")


class RedisRestartTest(RedisNodesBase):
    GROUPS = {
        "orders": simple_config(subscriptions='["order.*"]', **RESTART_OPTS),
        "all": simple_config(subscriptions='["*"]', **RESTART_OPTS),
    }
    N = 1200

    def make_events(self, tag, n):
        evs = []
        for i in range(n):
            payload = {"n": i}
            if i % 20 == 5:
                payload["simulate"] = {"fail_attempts": 1}
            evs.append({"id": f"{tag}-{i:05d}",
                        "type": "order.created" if i % 2 else "user.seen",
                        "payload": payload})
        return evs

    def expected_ids(self, evs):
        out = {"orders": set(), "all": set()}
        for e in evs:
            out["all"].add(e["id"])
            if e["type"].startswith("order."):
                out["orders"].add(e["id"])
        return out

    def start_and_publish(self):
        names = ["node-1", "node-2", "node-3"]
        for name in names:
            self.config_for(name)
        for name in names:
            self.start_node(name)
        evs = self.make_events("ev", self.N)
        jobs = [(names[j], evs[j::3], f"pub-{names[j]}") for j in range(3)]
        self.assert_all_accepted(self.publish_many(jobs), jobs)
        exp = self.expected_ids(evs)
        # Kill Redis mid-processing: some, not all, effects are done.
        target = len(exp["all"]) // 6
        op.wait_until(lambda: self.counts()["groups"]["all"]["proc"]
                      >= target, 60, "some processing before the restart")
        return names, evs, exp

    def store_failures(self, name):
        return len(re.findall(r"warning store \S+ failed",
                              op.tail(os.path.join(self.dir, f"{name}.log"),
                                      10 ** 7)))

    def wait_for_store_failures(self, names, at_least=5):
        """Keeps Redis down until every node has seen several failed store
        calls (janitor, reads, claims, settlements)."""
        base = {n: self.store_failures(n) for n in names}
        op.wait_until(lambda: all(self.store_failures(n) - base[n]
                                  >= at_least for n in names), 30,
                      "every node to notice the outage",
                      progress=lambda: str({n: self.store_failures(n)
                                            for n in names}))

    def publish_during_outage(self):
        evs = [{"id": f"outage-{i}", "type": "order.created",
                "payload": {}} for i in range(3)]
        rc, lines = self.publish("node-1", evs, "outage")
        self.assertEqual(rc, 1, lines)
        self.assertEqual(len(lines), 3, lines)
        for line in lines:
            self.assertRegex(line, r"^outage-\d error: ", line)
        return lines

    def test_redis_restart_with_aof_loses_nothing(self):
        """AOF with appendfsync always. SIGKILL redis-server while the three
        nodes are processing, publish during the outage (refused, not
        accepted), restart it on the same directory: the nodes survive,
        reconnect, and every accepted event is processed exactly once (the
        retrying ones too); new events after the restart as well."""
        self.start_redis(appendonly=True, appendfsync="always")
        names, evs, exp = self.start_and_publish()
        self.redis.kill9()
        before = time.monotonic()
        self.wait_for_store_failures(names)
        self.publish_during_outage()
        self.hold_outage(names, 2)
        self.assert_alive()
        self.redis.restart()
        sys.stderr.write(f"\n    redis-server down for "
                         f"{time.monotonic() - before:.1f}s\n")
        self.assertEqual(self.counts()["seq"], self.N,
                         "the AOF did not bring the log back")
        self.wait_processed({g: len(s) for g, s in exp.items()}, 90)
        self.assert_alive()
        new = self.make_events("after", 30)
        self.publish_retrying("node-2", new, "after")
        for g, s in self.expected_ids(new).items():
            exp[g] |= s
        self.wait_processed({g: len(s) for g, s in exp.items()}, 60)
        self.wait_quiet()
        recs = self.assert_exactly_once(exp)
        self.assertEqual(self.counts()["dlq"], 0, self.dlq()[:3])
        for g, rs in recs.items():
            for r in rs.values():
                n = int(r["i"].split("-")[1])
                self.assertEqual(r["a"], 2 if n % 20 == 5 else 1, r)
        self.assert_alive()

    def evalsha_rate(self, window=2.0):
        """Script calls per second the (idle) nodes make, measured over
        `window` seconds of wall time (a rate needs a window)."""
        def calls():
            for line in self.redis.cli("INFO", "commandstats").stdout \
                    .splitlines():
                if line.startswith("cmdstat_evalsha:"):
                    return int(re.search(r"calls=(\d+)", line).group(1))
            return 0
        c0, t0 = calls(), time.monotonic()
        time.sleep(window)
        return (calls() - c0) / (time.monotonic() - t0)

    def read_failures(self, name):
        """Times (s of the day) of the node's failed reads."""
        out = []
        for m in re.finditer(r"T(\d\d):(\d\d):(\d\d\.\d+) warning "
                             r"broadcaster: read for group \S+ failed",
                             op.tail(os.path.join(self.dir, f"{name}.log"),
                                     10 ** 7)):
            h, mi, sec = m.groups()
            t = int(h) * 3600 + int(mi) * 60 + float(sec)
            if out and t < out[-1] - 43200:
                t += 86400  # past midnight
            out.append(t)
        return out

    def hold_outage(self, names, seconds):
        """Keeps Redis down (the caller killed it) until the reads of every
        (busy) node have failed over `seconds` seconds."""
        before = {n: len(self.read_failures(n)) for n in names}

        def span(n):
            ts = self.read_failures(n)[before[n]:]
            return ts[-1] - ts[0] if ts else -1
        op.wait_until(lambda: all(span(n) >= seconds for n in names),
                      30 + seconds, f"reads of every node to fail for "
                      f"{seconds} s", progress=lambda: str(
                          {n: span(n) for n in names}))

    def test_redis_outage_leaves_no_extra_load(self):
        """Two busy nodes live through a Redis outage (AOF, so nothing is
        lost) while their reads fail for 3 s. Once the work is done, the
        idle nodes must call Redis about as often as before the outage
        (their janitor every 200 ms), not more and more:
        the outage must not leave extra timers behind."""
        self.start_redis(appendonly=True, appendfsync="always")
        names = ["node-1", "node-2"]
        for name in names:
            self.config_for(name)
        for name in names:
            self.start_node(name)
        base = self.evalsha_rate()
        evs = self.make_events("ev", 600)
        jobs = [(names[j], evs[j::2], f"pub-{names[j]}") for j in range(2)]
        self.assert_all_accepted(self.publish_many(jobs), jobs)
        exp = self.expected_ids(evs)
        op.wait_until(lambda: self.counts()["groups"]["all"]["proc"] >= 60,
                      60, "some processing before the outage")
        self.redis.kill9()
        self.hold_outage(names, 3)
        self.redis.restart()
        self.wait_processed({g: len(x) for g, x in exp.items()}, 90)
        self.wait_quiet()
        self.assert_exactly_once(exp)
        after = self.evalsha_rate()
        sys.stderr.write(f"\n    idle script calls/s: {base:.0f} before the "
                         f"outage, {after:.0f} after it\n")
        # Without an outage the rate stays within a few percent.
        self.assertLessEqual(after, 1.5 * base + 5,
                             f"the idle nodes call Redis {after:.0f} times/s "
                             f"after the outage, {base:.0f} before it")
        self.assert_alive()

    def attempt_outcomes(self, group, recs):
        """event id -> the outcomes of its attempts as its ledger entry
        keeps them (g:<group>:st "D<epoch> <at> <attempts>", attempts
        separated by \x1e, fields by \x1f, the outcome 6th: 0 success,
        1 retryable, 4 crashed, ...) for the records `recs`."""
        states = self.states(group)
        out = {}
        for seq, rec in recs.items():
            parts = states.get(seq, "").split(" ", 2)
            if len(parts) < 3 or not parts[0].startswith("D"):
                continue
            out[rec["i"]] = [a.split("\x1f")[5]
                             for a in parts[2].split("\x1e")
                             if len(a.split("\x1f")) > 5]
        return out

    def test_redis_restart_without_persistence_loses_unprocessed(self):
        """Persistence off (no AOF, no RDB). Writes are paused, the effect
        records are read, then SIGKILL and a restart on an empty Redis.

        DOCUMENTED LOSS: every accepted event whose effect was not
        committed before the crash is lost for good (the log, the dedup
        ids, the ledger and the effect records are gone). The nodes notice
        the new store generation and drop what they still held in memory
        of the old data (its seqs name other events in the new log), so
        nothing takes effect after the restart. The test prints the lost
        events loudly, checks that every accepted pair is exactly one of
        {effect before, lost}, that nothing took effect twice or after the
        restart, and that the nodes survive. It does not require zero
        loss."""
        self.start_redis(appendonly=False)
        names, evs, exp = self.start_and_publish()
        self.redis.cli("CLIENT", "PAUSE", "60000", "WRITE")
        before_recs = {g: {r["i"]: r for r in self.records(g).values()}
                       for g in self.GROUPS}
        before = {g: set(rs) for g, rs in before_recs.items()}
        self.redis.kill9()
        self.wait_for_store_failures(names)
        self.assert_alive()
        self.redis.restart()
        self.assertEqual(self.counts()["seq"], 0, "Redis kept data")
        # Let the nodes notice the loss and drop what they held: wait until
        # the records stop changing and no node has work queued or in
        # flight (failed batches are retried within 1 s; several polls).
        stable = {"n": 0, "last": None}

        def settled_down():
            c = self.counts()
            now = tuple(c["groups"][g]["proc"] for g in self.GROUPS)
            busy = False
            for name in names:
                s = self.status(name)
                busy |= any(s.get(f"groups.{g}.{k}", 1)
                            for g in self.GROUPS
                            for k in ("queued", "in-flight"))
            stable["n"] = stable["n"] + 1 if (now == stable["last"]
                                              and not busy) else 0
            stable["last"] = now
            return stable["n"] >= 8
        op.wait_until(settled_down, 60 * TIME_SCALE, "the nodes to finish "
                      "what they held", interval=0.5)
        self.assert_alive()
        after_recs = {g: self.records(g) for g in self.GROUPS}
        after = {g: collections.Counter(r["i"] for r in rs.values())
                 for g, rs in after_recs.items()}
        report, problems = [], []
        lost_total = 0
        for g, want in exp.items():
            doubles_after = {i: k for i, k in after[g].items() if k > 1}
            if doubles_after:
                problems.append(f"{g}: two records after the restart: "
                                f"{doubles_after}")
            for i in sorted(before[g] & set(after[g]))[:10]:
                again = [r for r in after_recs[g].values() if r["i"] == i]
                problems.append(f"{g}: DOUBLE EFFECT of {i}: before the "
                                f"crash {before_recs[g][i]}, after the "
                                f"restart {again}")
            if after[g]:
                problems.append(f"{g}: records written after the restart "
                                f"from old events a node held: "
                                f"{sorted(after[g])[:10]}")
            unknown = (before[g] | set(after[g])) - want
            if unknown:
                problems.append(f"{g}: records of events never accepted: "
                                f"{sorted(unknown)[:10]}")
            lost = sorted(want - before[g] - set(after[g]))
            lost_total += len(lost)
            report.append(f"    group {g}: {len(want)} accepted, "
                          f"{len(before[g])} done before the crash, "
                          f"{len(after[g])} done after it (expected 0: "
                          f"nodes drop the old data they hold),"
                          f" {len(lost)} LOST: {', '.join(lost[:8])}"
                          f"{' ...' if len(lost) > 8 else ''}")
        banner = "!" * 72
        sys.stderr.write(
            f"\n{banner}\n    REDIS WITHOUT PERSISTENCE: ACCEPTED EVENTS "
            f"LOST IN A REDIS CRASH ({lost_total} (event, group) pairs)\n"
            + "\n".join(report)
            + "\n    (accepted-but-unprocessed events; the dedup ids are "
              "gone too, so a resubmission would be accepted again)\n"
            + "".join(f"    NOT EXPECTED: {p}\n" for p in problems)
            + f"{banner}\n")
        # Loss is documented; a double effect or a foreign record is not.
        self.assertEqual(problems, [])
        self.assertEqual(self.dup_keys(), [])
        self.assertGreater(lost_total, 0,
                           "nothing was lost: the documented behaviour "
                           "changed; update this test and the docs")
        # The dedup memory is gone as well: a processed id is new again.
        some = sorted(before["all"])[0]
        rc, lines = self.publish(
            "node-1", [e for e in evs if e["id"] == some], "again")
        self.assertEqual(lines, [f"{some} accepted"],
                         "documented: ids are forgotten with the data")
        self.assert_alive()

    def test_redis_restart_without_persistence_nodes_recover(self):
        """Persistence off, Redis killed mid-run and back empty: whatever
        was lost before, the nodes must survive and process the events
        published after the restart, each exactly once (the old events
        they still hold in memory must not get in the way, e.g. by reusing
        sequence numbers). Every node notices the new store generation on
        its next call, also one whose groups another node registered again
        first, and drops what it held of the old data."""
        self.start_redis(appendonly=False)
        names, _evs, _exp = self.start_and_publish()
        self.redis.kill9()
        self.wait_for_store_failures(names)
        self.redis.restart()
        self.assert_alive()
        new = {name: self.make_events(f"new-{name}", 20) for name in names}
        for name in names:
            self.publish_retrying(name, new[name], f"new-{name}")
        exp = self.expected_ids([e for evs in new.values() for e in evs])
        last = {}

        def new_done():
            got = {g: collections.Counter(
                r["i"] for r in self.records(g).values()
                if r["i"].startswith("new-")) for g in self.GROUPS}
            last["got"] = {g: len(c) for g, c in got.items()}
            last["counts"] = got
            return all(set(got[g]) >= exp[g] for g in exp)
        try:
            op.wait_until(new_done, 30 * TIME_SCALE, "the events published "
                          "after the restart", interval=0.5,
                          progress=lambda: f"{last.get('got')} of "
                          f"{ {g: len(x) for g, x in exp.items()} }")
        except AssertionError as e:
            warn = [line for line in op.tail(os.path.join(
                self.dir, "node-1.log"), 4000).splitlines()
                if "warn" in line]
            raise AssertionError(f"{e}; node-1 says: {warn[-1:]}") from None
        self.wait_quiet()
        self.assertEqual(self.dup_keys(), [])
        for g, want in exp.items():
            recs = self.records(g)
            got = collections.Counter(
                r["i"] for r in recs.values() if r["i"].startswith("new-"))
            self.assertEqual(set(got), want, g)
            self.assertEqual({i: k for i, k in got.items() if k > 1}, {}, g)
            # Old events the nodes held are dropped, not run on the new
            # data (where their seqs name other events).
            old = sorted(r["i"] for r in recs.values()
                         if not r["i"].startswith("new-"))
            self.assertEqual(old[:10], [], f"{g}: old events took effect "
                                           "on the new data")
            # No attempt that did not happen (issue 13, defect 5): the
            # nodes' lease connections hear of the loss after their
            # readers, and once failed the first new settlements, which
            # then came back as `crashed` attempts after the lease.
            outcomes = {i: o for i, o in self.attempt_outcomes(g, recs)
                        .items() if i.startswith("new-")}
            self.assertEqual({i: o for i, o in outcomes.items()
                              if "4" in o}, {}, f"{g}: crashed attempts")
            # The ledger keeps the attempts (the check above reads them):
            # the events that fail once show both.
            twice = [i for i in outcomes if i.endswith("-00005")]
            self.assertTrue(twice, f"{g}: no ledger entry of a -00005 event")
            for i in twice:
                self.assertEqual(outcomes[i], ["1", "0"], f"{g}: {i}")
        for name in names:
            log = op.tail(os.path.join(self.dir, f"{name}.log"), 10 ** 7)
            self.assertIn("store generation changed", log, name)
        self.assert_alive()


if __name__ == "__main__":
    op.main()
