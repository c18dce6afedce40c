"""Several real `onceflow node` processes on one real `redis-server`: a node
that crashes or stalls.

- kill -9 of a node holding leases: the others reclaim its entries within
  about 2x the lease; the node rejoins after a restart;
- kill -9 of the node that accepted events before it read them;
- a listener stalling past its lease is refused, the effect happens once;
- a due retry taken by a node that is killed before it runs it goes to
  another node after about the lease (a take is a lease too), and one
  taken by a node that drains is given back at once.

Run: python3 tests/integration/test_redis_nodes_crash.py
     --binary BUILD/onceflow [--config-dir config] [unittest args]
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import onceflow_proc as op  # noqa: E402
from redis_nodes import (LEASE_MS, TIME_SCALE,  # noqa: E402
                         RedisNodesBase, flat_to_dict, simple_config,
                         LUA_HGETALL)


# -- kill -9 of a node -------------------------------------------------------

CRASH_GROUP = simple_config(subscriptions='["*"]', concurrency="2",
                            batch_size="5", latency="20ms",
                            lease_ttl=f"{LEASE_MS}ms")


class CrashTest(RedisNodesBase):
    GROUPS = {"work": CRASH_GROUP}
    # Reclaim waits for 2x the lease after the dead node's last read (at or
    # before the kill); on top: one janitor round (200 ms) and the time the
    # survivors need for the reclaimed entries and the queue ahead of them.
    SLACK_S = 3.0

    def start_three(self):
        names = ["node-1", "node-2", "node-3"]
        for name in names:
            self.config_for(name)
        for name in names:
            self.start_node(name)
        return names

    @staticmethod
    def events(tag, n, start=0):
        return [{"id": f"{tag}-{i:04d}", "type": f"job.t{i % 3}",
                 "payload": {"n": i}} for i in range(start, start + n)]

    def test_kill9_node_with_leases_is_reclaimed_and_rejoins(self):
        """Events through all three nodes (20 ms each, batches of 5);
        kill -9 node-3 while it holds in-flight entries. The entries node-3
        had read are processed by the others within ~2x the lease after the
        kill, every event exactly once; node-3 restarts, rejoins and
        processes new events."""
        self.start_redis(appendonly=True, appendfsync="everysec")
        names = self.start_three()
        per_node = 300
        jobs = [(name, self.events(name, per_node), f"pub-{name}")
                for name in names]
        self.assert_all_accepted(self.publish_many(jobs), jobs)
        all_ids = {e["id"] for _, evs, _ in jobs for e in evs}

        def busy():
            s = self.status("node-3")
            return s.get("groups.work.in-flight", 0) > 0 and \
                s.get("groups.work.settled", 0) > 0
        op.wait_until(busy, 30, "node-3 to hold in-flight work")
        self.nodes["node-3"].kill9()
        t_kill = time.monotonic()
        held = self.pending_of("work", "node-3")
        done_at_kill = self.counts()["groups"]["work"]["proc"]
        self.assertGreater(len(held), 0, "node-3 held no pending entries")
        self.assertLess(done_at_kill, len(all_ids),
                        "everything was done before the kill")
        sys.stderr.write(f"\n    node-3 killed holding {len(held)} entries; "
                         f"{done_at_kill}/{len(all_ids)} done\n")

        state_key = f"{self.prefix}g:work:st"

        def reclaimed():
            state = flat_to_dict(self.redis.eval_json(LUA_HGETALL,
                                                      (state_key,)))
            done = {int(s) for s, v in state.items() if v.startswith("D")}
            return all(s in done for s in held)
        limit = 2 * LEASE_MS / 1000 + self.SLACK_S
        took = op.wait_until(reclaimed, limit,
                             f"node-3's {len(held)} entries to be processed "
                             f"by the others (2x lease + {self.SLACK_S}s)",
                             interval=0.1)
        sys.stderr.write(f"    node-3's entries done {took:.1f}s after the "
                         f"kill (lease {LEASE_MS} ms)\n")
        self.wait_processed({"work": len(all_ids)}, 60)
        self.assert_alive("node-1", "node-2")
        self.assertEqual(self.pending_of("work", "node-3"), [])

        # node-3 rejoins and works again.
        self.start_node("node-3")
        new = self.events("after", 60)
        self.assert_all_accepted([self.publish("node-3", new, "after")],
                                 [("node-3", new, "after")])
        all_ids |= {e["id"] for e in new}
        self.wait_processed({"work": len(all_ids)}, 60)
        self.wait_quiet()
        self.assertGreater(self.status("node-3").get("groups.work.settled",
                                                     0), 0,
                           "the restarted node-3 processed nothing")
        self.assert_exactly_once({"work": all_ids})
        self.assertEqual(self.counts()["dlq"], 0, self.dlq()[:3])
        self.assert_alive()

    def test_kill9_node_that_accepted_events_before_reading_them(self):
        """node-1 and node-2 are idle; 300 events are published through
        node-3 only, which reads them a few batches at a time. kill -9
        node-3: the entries it had read are reclaimed; the accepted entries
        it had not read yet must be processed by node-1 and node-2 too,
        within ~2x the lease plus the time for the work itself (no new
        publish wakes the survivors up)."""
        self.start_redis(appendonly=True, appendfsync="everysec")
        self.start_three()
        evs = self.events("via3", 300)
        self.assert_all_accepted([self.publish("node-3", evs, "via3")],
                                 [("node-3", evs, "via3")])

        def busy():
            s = self.status("node-3")
            return s.get("groups.work.in-flight", 0) > 0
        op.wait_until(busy, 30, "node-3 to hold in-flight work")
        self.nodes["node-3"].kill9()
        held = self.pending_of("work", "node-3")
        info = self.group_info().get("work", {})
        done_at_kill = self.counts()["groups"]["work"]["proc"]
        sys.stderr.write(f"\n    node-3 killed: {done_at_kill}/300 done, "
                         f"{len(held)} pending on node-3, group "
                         f"last-delivered-id {info.get('last-delivered-id')}"
                         f", lag {info.get('lag')}\n")
        self.assertGreater(len(held), 0)
        # 300 x 20 ms over 2 survivors x 2 listeners is ~1.5 s of work.
        limit = 2 * LEASE_MS / 1000 + self.SLACK_S + 3
        try:
            self.wait_processed({"work": 300}, limit / TIME_SCALE,
                                "the events accepted through node-3 to be "
                                "processed by node-1 and node-2")
        except AssertionError as e:
            info = self.group_info().get("work", {})
            raise AssertionError(
                f"{e}; group now: last-delivered-id "
                f"{info.get('last-delivered-id')}, entries-read "
                f"{info.get('entries-read')}, lag {info.get('lag')}, "
                f"pending {info.get('pending')}; node-1: "
                f"{self.status('node-1').get('groups.work.settled')} "
                f"settled, node-2: "
                f"{self.status('node-2').get('groups.work.settled')} "
                "settled") from None
        self.wait_quiet(["node-1", "node-2"])
        self.assert_exactly_once({"work": {e["id"] for e in evs}})
        self.assert_alive("node-1", "node-2")


# -- a due retry taken by a node that dies or drains ------------------------

# A retry that fails once; its second attempt succeeds.
RETRY_EVENT = {"id": "retry-1", "type": "job.retry",
               "payload": {"simulate": {"fail_attempts": 1}}}
# node-1 runs one event and then waits ~1000 s for the next token: a retry
# it takes waits in its queue, held (and its take mark renewed).
HOLDER = ("--groups.work.rate-limit=0.001", "--groups.work.rate-burst=1")


def taken_group(lease):
    return simple_config(subscriptions='["*"]', concurrency="1",
                         batch_size="1", retry_base="300ms",
                         lease_ttl=lease)


class TakenRetryTest(RedisNodesBase):
    GROUPS = {"work": taken_group(f"{LEASE_MS}ms")}
    # On top of the lease: the survivor's retry timer looks at the shared
    # schedule every janitor round (200 ms); the attempt itself and slack.
    SLACK_S = 3.0
    MEMBER = "work\x1f1"   # retry-1 is seq 1 of group work

    def hold_a_retry(self, groups=None):
        """node-1 (rate-limited) runs retry-1's first attempt, which fails,
        and takes its retry when due, holding it in its queue; node-2 is up
        and idle. Returns node-1's take mark ("<consumer> <instance>
        <taken at> <call> <until>") once node-1 has renewed it past the
        lease of its take."""
        self.start_redis(appendonly=True, appendfsync="everysec")
        for name in ("node-1", "node-2"):
            self.config_for(name, groups)
        self.start_node("node-1", extra=HOLDER)
        self.assert_all_accepted(
            [self.publish("node-1", [RETRY_EVENT], "one")],
            [("node-1", [RETRY_EVENT], "one")])
        marks = {}

        def taken():
            marks.update(self.retry_marks())
            return marks.get(self.MEMBER, "").startswith("node-1 ") and \
                self.status("node-1").get("groups.work.queued") == 1
        op.wait_until(taken, 30, "node-1 to take retry-1's retry and hold "
                      "it", progress=lambda: str(marks))
        first = marks[self.MEMBER]
        _c, inst, at, call, until = first.rsplit(" ", 4)
        lease = int(until) - int(at)
        self.assertGreater(lease, 0, first)
        # node-2 comes up meanwhile; node-1 renews its mark while it holds
        # the retry, so node-2 does not take it, also after the lease of
        # the take.
        self.start_node("node-2")
        while time.time() * 1000 < int(until) + 1000:
            time.sleep(0.1)
        mark = {}

        def renewed():
            mark["m"] = self.retry_marks().get(self.MEMBER, "")
            c, i, a, k, u = (mark["m"].rsplit(" ", 4) + [""] * 5)[:5]
            return (c, i, a, k) == ("node-1", inst, at, call) and \
                u.lstrip("-").isdigit() and int(u) > int(at) + lease + 500
        op.wait_until(renewed, 30, "node-1 to renew its take mark past the "
                      "lease", progress=lambda: f"{first} -> {mark}")
        self.assertEqual(self.counts()["groups"]["work"]["proc"], 0,
                         "the retry ran although node-1 holds it")
        return mark["m"]

    def wait_run_by_node_2(self, since, limit, what):
        op.wait_until(lambda: self.counts()["groups"]["work"]["proc"] == 1,
                      limit, what, interval=0.1)
        rec = self.records("work")[1]
        self.assertEqual(rec["a"], 2, rec)
        self.assertEqual(self.status("node-2").get("groups.work.settled"),
                         1, "node-2 did not run the retry")
        self.assert_exactly_once({"work": {"retry-1"}})
        self.assertEqual(self.counts()["dlq"], 0, self.dlq())
        return time.monotonic() - since

    def test_retry_taken_by_a_killed_node_runs_elsewhere_within_the_lease(
            self):
        """node-1 took a due retry and holds it unrun; kill -9 node-1:
        node-2 runs it once its take mark lapses, about one lease after
        node-1's last renewal (not after a fixed 60 s)."""
        mark = self.hold_a_retry()
        self.nodes["node-1"].kill9()
        t_kill = time.monotonic()
        limit = LEASE_MS / 1000 + self.SLACK_S
        took = self.wait_run_by_node_2(
            t_kill, limit, f"node-2 to run the retry node-1 took (lease "
            f"{LEASE_MS} ms + {self.SLACK_S}s; mark {mark!r})")
        sys.stderr.write(f"\n    retry taken by the killed node-1 ran on "
                         f"node-2 {took:.1f}s after the kill (lease "
                         f"{LEASE_MS} ms)\n")
        self.assert_alive("node-2")

    def test_draining_node_gives_back_the_retries_it_took(self):
        """node-1 took a due retry and holds it unrun; SIGTERM node-1: it
        drains, gives the take back and exits 0; its mark is gone and
        node-2 runs the retry at once, well within the (10 s) lease the
        mark would otherwise hold for."""
        lease_s = 10
        self.hold_a_retry({"work": taken_group(f"{lease_s}s")})
        self.assertEqual(self.nodes["node-1"].terminate(), 0)
        t_exit = time.monotonic()
        left = self.retry_marks().get(self.MEMBER, "")
        self.assertFalse(left.startswith("node-1 "),
                         f"node-1 exited holding its take mark {left!r}")
        with open(os.path.join(self.dir, "node-1.log")) as f:
            log = f.read()
        self.assertIn("gave back 1 of 1 due retries", log)
        took = self.wait_run_by_node_2(
            t_exit, lease_s / 2, "node-2 to run the retry node-1 gave back "
            f"(within half the {lease_s} s lease)")
        sys.stderr.write(f"\n    retry given back by the drained node-1 ran "
                         f"on node-2 {took:.1f}s after it exited\n")
        self.assert_alive("node-2")


# -- stale lease -------------------------------------------------------------

class StaleLeaseTest(RedisNodesBase):
    GROUPS = {"work": simple_config(subscriptions='["*"]',
                                    lease_ttl=f"{LEASE_MS}ms")}
    STALL_MS = 3000

    def test_listener_stalling_past_its_lease_is_refused(self):
        """node-slow (one listener, handler latency 3 s > lease 2 s) claims
        the event; its listener stalls past the lease. node-slow is held
        with SIGSTOP meanwhile, so that its own janitor cannot take the
        event back (a handler that is slow on every attempt of one node
        would otherwise re-run it there until crash_loop); node-fast
        reclaims the entry once it is idle for 2x the lease and completes
        it. Then node-slow continues (SIGCONT): its stalled listener
        completes and is refused. The effect happens once, under
        node-fast's later epoch; no second record, no dead letter."""
        self.start_redis(appendonly=True, appendfsync="everysec")
        self.config_for("node-slow")
        self.config_for("node-fast")
        slow = self.start_node("node-slow", extra=(
            "--groups.work.concurrency=1",
            f"--groups.work.latency={self.STALL_MS}ms"))
        ev = {"id": "stall-1", "type": "job.slow", "payload": {"n": 1}}
        self.assert_all_accepted([self.publish("node-slow", [ev], "one")],
                                 [("node-slow", [ev], "one")])
        # node-slow's read leases the event to it (one record per read in
        # g:work:rl: "<first> <last> <epoch of first> <expires> <holder>");
        # its listener runs under that lease without a claim.
        rl_key = f"{self.prefix}g:work:rl"
        first = []

        def claimed():
            r = self.redis.cli("ZRANGE", rl_key, 0, -1)
            first[:] = [x for x in r.stdout.splitlines() if x]
            return bool(first)
        op.wait_until(claimed, 20, "node-slow to lease the event",
                      interval=0.02)
        os.kill(slow.proc.pid, signal.SIGSTOP)
        t_claim = time.monotonic()
        try:
            (record,) = first
            (lo, hi, epoch, _expires, holder) = record.split(" ", 4)
            self.assertEqual((lo, hi, holder),
                             ("1", "1", "node-slow/work/read"), record)
            stalled_epoch = int(epoch)
            self.start_node("node-fast")
            took = self.wait_processed({"work": 1}, 30)
            sys.stderr.write(f"\n    node-fast committed the effect "
                             f"{time.monotonic() - t_claim:.1f}s after "
                             f"node-slow's claim\n")
            # The stalled listener is past its lease by now.
            self.assertGreater(time.monotonic() - t_claim, LEASE_MS / 1000)
        finally:
            os.kill(slow.proc.pid, signal.SIGCONT)
        self.assertLess(took, 30)

        # The stalled listener completes now (its latency is over): it is
        # refused; the re-queued copy is answered `done`. Either shows in
        # node-slow's counters (stale, or settled via `done`), and only
        # after its only listener is free again.
        def slow_finished():
            s = self.status("node-slow")
            return (s.get("groups.work.stale", 0)
                    + s.get("groups.work.settled", 0)) >= 1 and \
                s.get("groups.work.queued", 1) == 0 and \
                s.get("groups.work.in-flight", 1) == 0
        op.wait_until(slow_finished, 30, "node-slow's stalled listener to "
                      "finish", progress=lambda: str(self.status(
                          "node-slow")))
        self.wait_quiet()
        recs = self.assert_exactly_once({"work": {"stall-1"}})
        rec = recs["work"][int(lo)]
        self.assertGreater(rec["e"], stalled_epoch,
                           f"the effect was committed under the stalled "
                           f"lease (epoch {stalled_epoch}): {rec}")
        ledger = self.redis.cli("HGET", f"{self.prefix}g:work:st",
                                lo).stdout.split()
        self.assertEqual(ledger[0], f"D{rec['e']}")
        self.assertEqual(self.status("node-fast").get("groups.work.settled"),
                         1, "node-fast did not do the work")
        self.assertEqual(self.counts()["dlq"], 0, self.dlq())
        s = self.status("node-slow")
        sys.stderr.write(f"    stalled epoch {stalled_epoch}, effect epoch "
                         f"{rec['e']}; node-slow: stale="
                         f"{s.get('groups.work.stale')} settled="
                         f"{s.get('groups.work.settled')} (a refusal shows "
                         "as `stale` only if the stalled listener reports "
                         "before the janitor re-queues its entry)\n")
        self.assert_alive()


if __name__ == "__main__":
    op.main()
