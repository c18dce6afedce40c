"""Retention on the Redis store with real `onceflow node` processes and a
real `redis-server` (docs/architecture.md "Retention", "Several nodes on
Redis", the Redis key table in "Store ports"; docs/configuration.md
`[store] retention`, `trim-interval`; docs/http-api.md /metrics, /events):
a consumer group whose only node is stopped (SIGSTOP) or gone (SIGTERM)
holds the log back for every group, at its oldest unsettled entry; once it
reads again it catches up exactly once and trimming proceeds.

Run: python3 tests/integration/test_redis_retention_hold_back.py
     --binary BUILD/onceflow [--config-dir config] [unittest args]
"""

import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import onceflow_proc as op  # noqa: E402
from redis_nodes import (LUA_HGETALL, TIME_SCALE,  # noqa: E402
                         as_list, flat_to_dict)
from redis_retention import (Collector, RetentionBase,  # noqa: E402
                             store_group)


class HoldBackTest(RetentionBase):
    """Group `a` only on node-a (store handler), group `b` only on node-b
    (simulate handler, 20 ms per event, one listener, batches of 5, so that
    node-b holds read but unsettled entries when it is stopped). node-a
    trims (retention 2 s); node-b's retention is 1 h, so node-b trims
    nothing during the test and b's records can be read while node-a is
    held with SIGSTOP."""
    GROUP_A = store_group(subscriptions='["*"]')
    RETENTION_MS = 2000
    N = 500

    def group_b(self, lease_ttl):
        return {"b": {"handler": '"simulate"', "subscriptions": '["*"]',
                      "concurrency": "1", "batch-size": "5",
                      "latency": "20ms", "lease-ttl": lease_ttl}}

    def start_pair(self, lease_ttl):
        self.GROUPS = {"a": self.GROUP_A, **self.group_b(lease_ttl)}
        self.start_redis(appendonly=False)
        self.config_for("node-a", groups={"a": self.GROUP_A},
                        retention=f"{self.RETENTION_MS}ms",
                        trim_interval="200ms")
        self.config_for("node-b", groups=self.group_b(lease_ttl),
                        retention="1h", trim_interval="200ms")
        self.start_node("node-a")
        self.start_node("node-b")

    def warm_up(self):
        """Trimming works with both nodes running: 20 events through
        node-a are processed by both groups and trimmed by node-a."""
        warm = [{"id": f"warm-{i:03d}", "type": "job.warm", "payload": {}}
                for i in range(20)]
        self.assert_all_accepted([self.publish("node-a", warm, "warm")],
                                 [("node-a", warm, "warm")])
        col = Collector(self, self.GROUPS, self.RETENTION_MS)
        col.until(lambda s: s["xlen"] == 0 and all(
            not as_list(s["groups"][g]["proc"]) and
            s["groups"][g]["ledger"] == 0 for g in self.GROUPS),
            20 * TIME_SCALE, "the warm-up events to be processed and "
            "trimmed with both nodes running")
        self.wait_trimmed({"node-a": len(warm), "node-b": 0})
        return len(warm)

    def publish_and_stop_b(self, tag, stop):
        """N events through node-a; once node-b has settled a few of them
        in group b and holds more in flight, `stop()` stops node-b.
        Returns (events, collector, seqs b had not settled)."""
        evs = [{"id": f"{tag}-{i:04d}", "type": f"job.t{i % 3}",
                "payload": {"n": i}} for i in range(self.N)]
        col = Collector(self, self.GROUPS, self.RETENTION_MS)
        self.assert_all_accepted([self.publish("node-a", evs, tag)],
                                 [("node-a", evs, tag)])
        info = self.id_info([e["id"] for e in evs])
        col.watch({i: (s, c) for i, (s, c, _) in info.items()})
        col.until(lambda s: len(col.records["b"]) >= 10,
                  20 * TIME_SCALE, "group b to settle a few events")
        stop()
        col.note("node-b stopped or gone")
        col.poll()
        st = flat_to_dict(self.redis.eval_json(
            LUA_HGETALL, (f"{self.prefix}g:b:st",)))
        settled_b = {int(s) for s, v in st.items() if v.startswith("D")}
        settled_b |= set(col.records["b"])
        unsettled = sorted({s for s, _, _ in info.values()} - settled_b)
        self.assertGreater(len(unsettled), 0, "group b settled everything "
                           "before node-b was stopped: nothing is held")
        # A failure message shows what became of the first entries b
        # holds (their state fields, records and the trim mark over time).
        col.trace("b", unsettled[:8])
        leases = sum(1 for v in st.values() if v[:1].isdigit())
        sys.stderr.write(f"\n    node-b stopped with {len(settled_b)} of "
                         f"{self.N} settled in group b, {leases} leased\n")
        return evs, info, col, unsettled

    def hold_back_phase(self, evs, info, col, unsettled, trimmed_warm):
        """node-b is stopped or gone. Group a (node-a) processes every
        event; trimming goes exactly up to group b's oldest unsettled entry
        once the retention passed, and no further: every entry b has not
        settled stays, with a's ledger entries and records."""
        ids = {e["id"] for e in evs}
        col.until(lambda s: len(col.records["a"]) >= self.N,
                  30 * TIME_SCALE, "group a to process every event")
        hold = unsettled[0]
        batch_seqs = sorted(s for s, _, _ in info.values())
        newest = max(c for _, c, _ in info.values())
        hold_until = newest + self.RETENTION_MS + 1500

        def held():
            s = col.poll()
            first = int(s["first"][2:]) if s["first"] else None
            self.assertIsNotNone(first, "the log was trimmed empty while "
                                 "group b had not settled its entries: "
                                 + col.summary())
            self.assertLessEqual(first, hold, "entries trimmed past group "
                                 "b's oldest unsettled entry: "
                                 + col.summary())
            self.assertEqual(s["xlen"], batch_seqs[-1] - first + 1,
                             "the log is not a suffix: " + col.summary())
            a_seqs = {int(x) for x in flat_to_dict(s["groups"]["a"]["proc"])}
            kept = {q for q in batch_seqs if q >= first}
            self.assertEqual(kept - a_seqs, set(), "group a's effect "
                             "records of entries still in the log are gone")
            # Held long enough, and trimming went as far as it may.
            return s["now_ms"] >= hold_until and first == hold
        op.wait_until(held, 30, f"trimming up to group b's oldest unsettled "
                      f"entry (seq {hold}) and the retention of the newest "
                      "event to pass", progress=col.summary, interval=0.2)
        gi = self.group_info().get("b", {})
        sys.stderr.write(f"    held back at seq {hold}: xlen "
                         f"{col.last['xlen']}, group b lag {gi.get('lag')} "
                         f"pending {gi.get('pending')}\n")
        removed = len([q for q in batch_seqs if q < hold])
        # node-b is stopped or gone: only node-a answers.
        self.wait_trimmed({"node-a": trimmed_warm + removed})
        st = self.status("node-a")
        self.assertEqual(st.get("broadcaster.trim-failures"), 0, st)
        self.assert_once(col, {"a": ids})
        return removed

    def catch_up_and_trim(self, evs, col, trimmed):
        """node-a is held (SIGSTOP) so that nothing is trimmed while group
        b catches up on node-b; then node-a continues and trims all."""
        ids = {e["id"] for e in evs}
        try:
            col.until(lambda s: len(col.records["b"]) >= self.N,
                      40 * TIME_SCALE, "group b to catch up on node-b")
        except AssertionError as e:
            # node-a is held: did node-b trim (it must not: retention 1 h)?
            raise AssertionError(f"{e}; node-b trimmed "
                                 f"{self.trimmed_metric('node-b')}") from e
        self.wait_quiet(["node-b"])
        col.poll()
        self.assert_once(col, {"a": ids, "b": ids})
        self.assertEqual(self.trimmed_metric("node-b"), 0)

        os.kill(self.nodes["node-a"].proc.pid, signal.SIGCONT)
        col.note("node-a continued")
        took = col.until(lambda s: s["xlen"] == 0 and all(
            not as_list(s["groups"][g]["proc"]) and
            s["groups"][g]["ledger"] == 0 for g in self.GROUPS),
            20 * TIME_SCALE, "trimming to proceed once group b settled")
        sys.stderr.write(f"    trimmed {took:.1f}s after node-a continued\n")
        self.assert_trimmed_clean(col.poll(), self.GROUPS)
        self.assert_once(col, {"a": ids, "b": ids})
        self.assertEqual(col.early[:5], [], "entries trimmed within the "
                         "retention")
        self.wait_trimmed({"node-a": trimmed + self.N, "node-b": 0})
        self.assert_alive()

    def test_stopped_only_node_of_a_group_holds_the_log_back(self):
        """node-b, the only node of group b, is held with SIGSTOP while it
        holds b's entries in flight: group a (node-a) processes all N
        events, but the log is trimmed only up to b's oldest unsettled
        entry. node-a is then held and node-b continues: b processes each
        event once; node-a continues and trims the log to 0 with both
        groups' state and records."""
        self.start_pair(lease_ttl="20s")
        warm = self.warm_up()
        b = self.nodes["node-b"]
        a = self.nodes["node-a"]
        col = None
        try:
            evs, info, col, unsettled = self.publish_and_stop_b(
                "held", lambda: self.freeze("node-b"))
            self.hold_back_phase(evs, info, col, unsettled, warm)
            # A trim node-a sent before it stopped runs before node-b
            # continues (see freeze), not after b's settlements.
            self.freeze("node-a")
            col.note("node-a stopped")
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)
            if col is not None:
                col.note("node-b continued")
        try:
            self.catch_up_and_trim(evs, col, warm)
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)

    def test_gone_only_node_of_a_group_holds_the_log_back(self):
        """Like the SIGSTOP case, but node-b exits (SIGTERM, clean, its
        unfinished entries released) and is started again later: its
        consumer group stays in Redis and holds the log back; the
        restarted node-b catches up exactly once."""
        self.start_pair(lease_ttl="2s")
        warm = self.warm_up()
        a = self.nodes["node-a"]
        evs, info, col, unsettled = self.publish_and_stop_b(
            "gone", lambda: self.assertEqual(
                self.nodes["node-b"].terminate(), 0))
        self.hold_back_phase(evs, info, col, unsettled, warm)
        self.freeze("node-a")
        col.note("node-a stopped")
        try:
            self.start_node("node-b")
            col.note("node-b started again")
            self.catch_up_and_trim(evs, col, warm)
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)


if __name__ == "__main__":
    op.main()
