"""Fixtures of the retention tests on the Redis store
(tests/integration/test_redis_retention_*.py,
test_redis_publish_at_start.py): nodes with a retention, a trim interval
and an HTTP API on a known port (RetentionBase), and a Collector of the
effect records.

Effects are counted from the handlers' records in
`<prefix>g:<group>:proc` (a second record of a pair would land in
`<prefix>g:<group>:proc:dup`). Trimming deletes those records, so the tests
collect them while they exist: a poller reads them every ~0.1 s and keeps the
union, or, where trimming would race with the collection, the only node with
a short retention is held with SIGSTOP while the records are read.
"""

import collections
import json
import time

import http_client as hc
import onceflow_proc as op
from redis_nodes import (LUA_PENDING_FN, RedisNodesBase, as_list,
                         flat_to_dict)

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
""" + LUA_PENDING_FN + """for i = 2, #ARGV do
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

# The state fields (g:<group>:st) of the given seqs: KEYS[1] the hash,
# ARGV the seqs; a missing field is ''.
LUA_FIELDS = """
local out = {}
for i, v in ipairs(redis.call('HMGET', KEYS[1], unpack(ARGV))) do
  out[i] = v or ''
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
        # A timeline for failure messages (see trace, note): the test's
        # steps, changes of `trimmed`, and of the traced pairs' state
        # fields and records.
        self.t0 = time.monotonic()
        self.timeline = []
        self.traced = {}       # (group, seq) -> last state field seen

    def note(self, text):
        self.timeline.append(f"{time.monotonic() - self.t0:.2f}s {text}")

    def trace(self, group, seqs):
        """Follows the state fields and records of (group, seq) pairs: each
        change goes into the timeline that summary() prints."""
        for s in seqs:
            self.traced[(group, s)] = None

    def watch(self, id_info):
        """id_info: id -> (seq, created_at) of events whose log entries must
        stay while they are within the retention."""
        for i, (s, c) in id_info.items():
            self.created[s] = (i, c)

    def poll(self):
        snap = self.test.redis.eval_json(LUA_SNAPSHOT, (),
                                         (self.test.prefix, *self.groups))
        prev = self.last
        self.last = snap
        if self.traced and (prev is None
                            or prev.get("trimmed") != snap["trimmed"]):
            self.note(f"trimmed={snap['trimmed']!r} first={snap['first']!r}")
        self.trace_poll()
        for g in self.groups:
            gs = snap["groups"][g]
            self.max_dup = max(self.max_dup, gs["dup"])
            raw = self.raw[g]
            for s, v in flat_to_dict(gs["proc"]).items():
                old = raw.get(s)
                if old is None:
                    raw[s] = v
                    self.records[g][int(s)] = json.loads(v)
                    if (g, int(s)) in self.traced:
                        self.note(f"{g}:{s} record seen")
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

    def trace_poll(self):
        by_group = collections.defaultdict(list)
        for g, q in self.traced:
            by_group[g].append(q)
        for g, qs in by_group.items():
            vs = self.test.redis.eval_json(
                LUA_FIELDS, (f"{self.test.prefix}g:{g}:st",),
                tuple(str(q) for q in qs))
            for q, v in zip(qs, vs):
                if self.traced[(g, q)] != v:
                    self.traced[(g, q)] = v
                    self.note(f"{g}:{q} st={v!r}")

    def summary(self):
        if self.timeline:
            return self.counts() + "; timeline: " + " | ".join(
                self.timeline[-60:])
        return self.counts()

    def counts(self):
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
        http_port = op.free_port()
        path = super().config_for(
            name, groups, url, prefix, http_port=http_port,
            store={"retention": retention, "trim-interval": trim_interval})
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
