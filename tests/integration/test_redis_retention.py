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
- a consumer group whose only node is stopped or gone holds the log back
  for every group; once it reads again it catches up exactly once and
  trimming proceeds;
- a failing trim call is logged once (and once when trimming works
  again), retried every interval, never stops the node;
- events published right after a node starts reach every group (appends
  wait until the node's groups are registered). Measured against the build
  before that fix (e354349): the test fails there within a few rounds.

Effects are counted from the handlers' records in
`<prefix>g:<group>:proc` (a second record of a pair would land in
`<prefix>g:<group>:proc:dup`). Trimming deletes those records, so the tests
collect them while they exist: a poller reads them every ~0.1 s and keeps the
union, or, where trimming would race with the collection, the only node with
a short retention is held with SIGSTOP while the records are read.

Run: python3 tests/integration/test_redis_retention.py --binary BUILD/onceflow
     --config-dir config [unittest args]
ONCEFLOW_TIME_SCALE (default 1) multiplies the generous "everything done"
deadlines.
"""

import collections
import http.client
import json
import os
import re
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import onceflow_proc as op  # noqa: E402
import http_client as hc  # noqa: E402
import redis_nodes as trn  # noqa: E402
from redis_nodes import (RedisNodesBase, as_list,  # noqa: E402
                         flat_to_dict)

TIME_SCALE = float(os.environ.get("ONCEFLOW_TIME_SCALE", "1"))

# One snapshot of what retention touches: the log's length and first entry,
# Redis' clock, and per group its effect records (all of them), doubles,
# state fields (ledger entries "D..." and others) and pending entries.
LUA_SNAPSHOT = """
local P = ARGV[1]
local t = redis.call('TIME')
local first = redis.call('XRANGE', P .. 'log', '-', '+', 'COUNT', 1)
local out = {xlen = redis.call('XLEN', P .. 'log'),
             first = first[1] and first[1][1] or '',
             now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000),
             trimmed = redis.call('GET', P .. 'trimmed') or '',
             groups = {}}
""" + trn.LUA_PENDING_FN + """for i = 2, #ARGV do
  local g = ARGV[i]
  local k = P .. 'g:' .. g .. ':'
  local ledger, other = 0, 0
  for _, v in ipairs(redis.call('HVALS', k .. 'st')) do
    if string.byte(v, 1) == 68 then ledger = ledger + 1
    else other = other + 1 end
  end
  out.groups[g] = {proc = redis.call('HGETALL', k .. 'proc'),
                   dup = redis.call('HLEN', k .. 'proc:dup'),
                   ledger = ledger, st_other = other,
                   pel = pending(g)}
end
return cjson.encode(out)
"""

# Seqs of the log's entries (ids 0-<seq>).
LUA_LOG_SEQS = """
local out = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  out[#out + 1] = tonumber(string.sub(e[1], 3))
end
return cjson.encode(out)
"""

# id -> "<seq> <created_at>" and the key's PTTL, for the given ids.
LUA_ID_INFO = """
local P = ARGV[1] .. 'id:'
local out = {}
for i = 2, #ARGV do
  local v = redis.call('GET', P .. ARGV[i])
  if v then
    out[#out + 1] = {ARGV[i], v, redis.call('PTTL', P .. ARGV[i])}
  end
end
return cjson.encode(out)
"""

LUA_HGETALL_ST = "return cjson.encode(redis.call('HGETALL', KEYS[1]))"

TYPES = ["order.created", "order.paid", "user.signup", "audit.log"]


def store_group(**kw):
    opts = {"handler": '"store"', "concurrency": "2"}
    for k, v in kw.items():
        opts[k.replace("_", "-")] = v
    return opts


class Collector:
    """Polls LUA_SNAPSHOT and keeps what it saw: the union of the effect
    records per group (seq -> record), the most doubles ever seen, and
    entries trimmed although still within the retention."""

    def __init__(self, test, groups, retention_ms):
        self.test = test
        self.groups = list(groups)
        self.retention_ms = retention_ms
        self.records = {g: {} for g in self.groups}
        self.raw = {g: {} for g in self.groups}  # seq text -> record text
        self.changed = []      # (group, seq, first record, later record)
        self.max_dup = 0
        self.early = []        # (seq, id, created_at, now_ms, first in log)
        self.created = {}      # seq -> (id, created_at) of watched events
        self.last = None

    def watch(self, id_info):
        """id_info: id -> (seq, created_at) of events whose log entries must
        stay while they are within the retention."""
        for i, (s, c) in id_info.items():
            self.created[s] = (i, c)

    def poll(self):
        snap = self.test.redis.eval_json(LUA_SNAPSHOT, (),
                                         (self.test.prefix, *self.groups))
        self.last = snap
        for g in self.groups:
            gs = snap["groups"][g]
            self.max_dup = max(self.max_dup, gs["dup"])
            raw = self.raw[g]
            for s, v in flat_to_dict(gs["proc"]).items():
                old = raw.get(s)
                if old is None:
                    raw[s] = v
                    self.records[g][int(s)] = json.loads(v)
                elif old != v:
                    self.changed.append((g, int(s), old, v))
        # A trimmed entry (below the log's first entry, or any entry once
        # the log is empty) must have been older than the retention.
        first = int(snap["first"][2:]) if snap["first"] else None
        for s, (i, c) in self.created.items():
            gone = (first is None and snap["xlen"] == 0) or \
                (first is not None and s < first)
            # 20 ms: the node's clock read and Redis' TIME differ a little.
            if gone and c + self.retention_ms > snap["now_ms"] + 20:
                self.early.append((s, i, c, snap["now_ms"], first))
        return snap

    def summary(self):
        s = self.last or {}
        return (f"xlen={s.get('xlen')} first={s.get('first')!r} "
                f"trimmed={s.get('trimmed')!r} "
                + ", ".join(f"{g}: seen {len(self.records[g])} records, now "
                            f"{len(as_list(s['groups'][g]['proc'])) // 2} "
                            f"proc / {s['groups'][g]['ledger']} ledger / "
                            f"{s['groups'][g]['st_other']} other st / "
                            f"{s['groups'][g]['pel']} pel / "
                            f"{s['groups'][g]['dup']} dup"
                            for g in self.groups) if s else "no snapshot")

    def until(self, pred, timeout, what, interval=0.1):
        """Polls until pred(snapshot) holds."""
        return op.wait_until(lambda: pred(self.poll()), timeout, what,
                             progress=self.summary, interval=interval)

    def ids_seen(self, group):
        return collections.Counter(r["i"] for r in
                                   self.records[group].values())


class RetentionBase(RedisNodesBase):
    """Nodes with per-node retention and trim interval and an HTTP API on a
    known port."""

    def setUp(self):
        super().setUp()
        self.http_ports = {}
        self.node_groups = {}

    def config_for(self, name, groups=None, url=None, prefix=None,
                   retention="2s", trim_interval="200ms"):
        path = os.path.join(self.dir, f"{name}.ini")
        http_port = op.free_port()
        op.write_ini(path, {
            "node": {"name": f'"{name}"', "host": '"127.0.0.1"',
                     "port": op.free_port(),
                     "data-dir": f'"{os.path.join(self.dir, "data-" + name)}"',
                     "shutdown-timeout": "5s"},
            "store": {"backend": '"redis"', "retention": retention,
                      "trim-interval": trim_interval},
            "redis": {"url": f'"{url or self.redis.url()}"',
                      "prefix": f'"{prefix or self.prefix}"'},
            "janitor": {"interval": "200ms"},
            "http": {"port": http_port},
            "scheduler": {"max-threads": 2},
            **{f"groups.{g}": o for g, o in (groups or self.GROUPS).items()},
        })
        self.configs[name] = path
        self.http_ports[name] = http_port
        self.node_groups[name] = list(groups or self.GROUPS)
        return path

    def groups_of(self, name):
        """The groups node `name` serves (RedisNodesBase.wait_quiet)."""
        return self.node_groups[name]

    def http(self, name, method, path, body=None, **kw):
        return hc.request(self.http_ports[name], method, path, body, **kw)

    def metrics(self, name):
        r = self.http(name, "GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        return hc.Metrics(r.body.decode())

    def trimmed_metric(self, name):
        return int(self.metrics(name).get("onceflow_trimmed_events_total"))

    def wait_trimmed(self, want, timeout=5):
        """Waits until the nodes' trimmed counters are `want` ({node:
        count}); the counter follows the trim call that removed the
        entries, so it may lag the log by a moment."""
        last = {}

        def done():
            last.update({n: self.trimmed_metric(n) for n in want})
            return last == want
        op.wait_until(done, timeout, f"trimmed counters {want}",
                      progress=lambda: f"onceflow_trimmed_events_total "
                                       f"{last}", interval=0.2)

    def wait_trimmed_sum(self, names, want, timeout=5):
        last = {}

        def done():
            last.update({n: self.trimmed_metric(n) for n in names})
            return sum(last.values()) == want
        op.wait_until(done, timeout, f"trimmed counters to sum to {want}",
                      progress=lambda: f"onceflow_trimmed_events_total "
                                       f"{last}", interval=0.2)
        return dict(last)

    def id_info(self, ids, prefix=None):
        """id -> (seq, created_at, pttl ms) from the dedup keys."""
        out = {}
        ids = list(ids)
        for k in range(0, len(ids), 2000):
            chunk = ids[k:k + 2000]
            for i, v, pttl in as_list(self.redis.eval_json(
                    LUA_ID_INFO, (), (prefix or self.prefix, *chunk))):
                s, c = v.split(" ")
                out[i] = (int(s), int(c), int(pttl))
        return out

    def log_seqs(self):
        return as_list(self.redis.eval_json(LUA_LOG_SEQS,
                                            (f"{self.prefix}log",)))

    def publish_checked(self, jobs):
        """jobs: [(node, events, tag)], published concurrently. Returns
        id -> [answers] ("accepted" or "duplicate:<status>")."""
        res = self.publish_many(jobs)
        answers = collections.defaultdict(list)
        for _tag, ev, _line, m in self.answer_lines(res, jobs):
            answers[ev["id"]].append(
                "accepted" if m.group(2) == "accepted"
                else f"duplicate:{m.group(3)}")
        return answers

    def assert_once(self, col, expected_ids):
        """From the collected records: one record per expected (group, id),
        none else, no double ever seen, no record changed."""
        self.assertEqual(col.max_dup, 0, "a second effect record was "
                         "written (proc:dup) - double effect")
        self.assertEqual(col.changed[:3], [], "an effect record was "
                         "overwritten - double effect")
        for g, want in expected_ids.items():
            got = col.ids_seen(g)
            doubles = {i: n for i, n in got.items() if n > 1}
            self.assertEqual(doubles, {}, f"group {g}: one id with several "
                             "records (under different seqs)")
            missing = sorted(set(want) - set(got))
            extra = sorted(set(got) - set(want))
            self.assertEqual((missing[:10], len(missing)), ([], 0),
                             f"group {g}: accepted events without effect")
            self.assertEqual(extra[:10], [], f"group {g}: unexpected effects")
            for s, r in col.records[g].items():
                self.assertEqual((r["g"], r["s"]), (g, s), r)

    def assert_trimmed_clean(self, snap, groups):
        for g in groups:
            gs = snap["groups"][g]
            self.assertEqual(
                (len(as_list(gs["proc"])) // 2, gs["ledger"],
                 gs["st_other"], gs["pel"], gs["dup"]), (0, 0, 0, 0, 0),
                f"group {g}: effect records / ledger entries / other "
                "state fields / pending entries / doubles left after the "
                "log was trimmed empty")


# -- 1. two nodes, two groups: trimming, dedup after trimming, metrics --------

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


# -- 2. a group whose only node is stopped or gone holds the log back ---------

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
        col.poll()
        st = flat_to_dict(self.redis.eval_json(
            LUA_HGETALL_ST, (f"{self.prefix}g:b:st",)))
        settled_b = {int(s) for s, v in st.items() if v.startswith("D")}
        settled_b |= set(col.records["b"])
        unsettled = sorted({s for s, _, _ in info.values()} - settled_b)
        self.assertGreater(len(unsettled), 0, "group b settled everything "
                           "before node-b was stopped: nothing is held")
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
        col.until(lambda s: len(col.records["b"]) >= self.N,
                  40 * TIME_SCALE, "group b to catch up on node-b")
        self.wait_quiet(["node-b"])
        col.poll()
        self.assert_once(col, {"a": ids, "b": ids})
        self.assertEqual(self.trimmed_metric("node-b"), 0)

        os.kill(self.nodes["node-a"].proc.pid, signal.SIGCONT)
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
        try:
            evs, info, col, unsettled = self.publish_and_stop_b(
                "held", lambda: os.kill(b.proc.pid, signal.SIGSTOP))
            self.hold_back_phase(evs, info, col, unsettled, warm)
            os.kill(a.proc.pid, signal.SIGSTOP)
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)
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
        os.kill(a.proc.pid, signal.SIGSTOP)
        try:
            self.start_node("node-b")
            self.catch_up_and_trim(evs, col, warm)
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)


# -- 2b. a failing trim is logged once, retried, and never stops the node ----

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


# -- 3. events published right after a node starts ---------------------------

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
        n = op.Node(op.BINARY, cfg, os.path.join(self.dir, f"{name}.log"))
        self.all_nodes.append(n)
        self.nodes[name] = n
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
                   timeout=60)
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
