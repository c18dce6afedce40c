"""Fixtures of the tests with several real `onceflow node` processes
sharing one real `redis-server` that each test starts itself (own port, own
directory, own key prefix): tests/integration/test_redis_nodes_*.py and
test_redis_retention*.py.

Effects are counted from the handler's own records in Redis (the processed
records `g:<group>:proc`, written by the settle script together with the
ledger entry; a second record for a pair would land in `g:<group>:proc:dup`),
never from the nodes' counters.

ONCEFLOW_TIME_SCALE (default 1) multiplies the generous "everything done"
deadlines, not the deadlines that check a promise of the product (reclaim
within ~2x the lease). On failure the logs of every node and of
redis-server are printed (tail) and the temporary directory is kept.
"""

import collections
import json
import os
import re
import subprocess
import tempfile
import time
import unittest

import onceflow_proc as op

TIME_SCALE = float(os.environ.get("ONCEFLOW_TIME_SCALE", "1"))

LINE_RE = re.compile(r"^(\S+) (accepted|duplicate \(original status: "
                     r"([a-z_]+)\)|error: .*)$")

# The lease of the node crash, stale lease and Redis restart tests.
LEASE_MS = 2000

# -- read-only Lua used to inspect Redis (EVAL_RO, so it also runs while
#    client writes are paused) ------------------------------------------------

LUA_HGETALL = "return cjson.encode(redis.call('HGETALL', KEYS[1]))"

# Lua: pending(g), the number of entries group g's consumer group has
# delivered and not acknowledged (Redis's own PEL, not onceflow's mirror of
# it); needs P, the key prefix.
LUA_PENDING_FN = """
local function pending(g)
  local ok, r = pcall(redis.call, 'XPENDING', P .. 'log', g)
  if ok and type(r) == 'table' then return r[1] end
  return 0
end
"""

LUA_COUNTS = """
local P = ARGV[1]
local out = {dlq = redis.call('XLEN', P .. 'dlq'),
             retry = redis.call('ZCARD', P .. 'retry:due'),
             seq = tonumber(redis.call('GET', P .. 'seq') or '0'),
             groups = {}}
""" + LUA_PENDING_FN + """for i = 2, #ARGV do
  local g = ARGV[i]
  local k = P .. 'g:' .. g .. ':'
  -- g:<g>:st values: "D..." ledger entry, a digit: a lease, X/P: dead or
  -- purged.
  local ledger, lease = 0, 0
  for _, v in ipairs(redis.call('HVALS', k .. 'st')) do
    local c = string.byte(v, 1)
    if c == 68 then ledger = ledger + 1
    elseif c >= 48 and c <= 57 then lease = lease + 1 end
  end
  out.groups[g] = {proc = redis.call('HLEN', k .. 'proc'),
                   dup = redis.call('HLEN', k .. 'proc:dup'),
                   ledger = ledger,
                   pel = pending(g),
                   lease = lease,
                   dead = redis.call('HLEN', k .. 'dead')}
end
return cjson.encode(out)
"""

# Flat id, value of every dedup key under the prefix (ARGV[1]).
LUA_ID_KEYS = """
local P = ARGV[1] .. 'id:'
local out = {}
for _, k in ipairs(redis.call('KEYS', P .. '*')) do
  out[#out + 1] = string.sub(k, #P + 1)
  out[#out + 1] = redis.call('GET', k)
end
return cjson.encode(out)
"""

LUA_DLQ = """
local P = ARGV[1]
local out = {}
for _, e in ipairs(redis.call('XRANGE', P .. 'dlq', '-', '+')) do
  local f = {}
  for j = 1, #e[2], 2 do f[e[2][j]] = e[2][j + 1] end
  f['pos'] = string.sub(e[1], 3)
  f['d'] = redis.call('HGET', P .. 'dlq:e:' .. f['pos'], 'd') or ''
  out[#out + 1] = f
end
return cjson.encode(out)
"""

LUA_PENDING = """
local ok, r = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], '-', '+',
                    1000000, ARGV[2])
if not ok then return cjson.encode({}) end
return cjson.encode(r)
"""

LUA_GROUP_INFO = """
local ok, r = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok then return cjson.encode({}) end
local out = {}
for _, info in ipairs(r) do
  local f = {}
  for j = 1, #info, 2 do f[info[j]] = info[j + 1] end
  out[#out + 1] = f
end
return cjson.encode(out)
"""

# Flat seq, event id, type of every log entry (stream ids are 0-<seq>).
LUA_LOG = """
local out = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local f = e[2]
  local i, t = '', ''
  for j = 1, #f, 2 do
    if f[j] == 'i' then i = f[j + 1] elseif f[j] == 't' then t = f[j + 1] end
  end
  out[#out + 1] = string.sub(e[1], 3)
  out[#out + 1] = i
  out[#out + 1] = t
end
return cjson.encode(out)
"""


def as_list(x):
    """cjson encodes an empty table as {}."""
    return x if isinstance(x, list) else []


def flat_to_dict(x):
    x = as_list(x)
    return {x[i]: x[i + 1] for i in range(0, len(x), 2)}


def simple_config(**kw):
    """Raw INI values of a simulate group."""
    opts = {"handler": '"simulate"', "jitter": "false",
            "retry-base": "100ms", "lease-ttl": "2s"}
    for k, v in kw.items():
        opts[k.replace("_", "-")] = v
    return opts


class RedisNodesBase(op.KeepLogsOnFailure, unittest.TestCase):
    """Temp dir, one redis-server, nodes by name, logs printed on failure."""

    GROUPS = {}
    maxDiff = None

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="onceflow-redis-")
        self.nodes = {}
        self.all_nodes = []
        self.redises = []
        self.configs = {}
        name = self._testMethodName.replace("test_", "")[:24]
        self.prefix = f"it-{name}-{os.getpid()}:"
        self.t0 = time.monotonic()

    def tearDown(self):
        for n in self.all_nodes:
            n.close()
        for r in self.redises:
            r.close()

    # -- redis ---------------------------------------------------------------

    def start_redis(self, **kw):
        r = op.RedisServer(os.path.join(self.dir, "redis"),
                           os.path.join(self.dir, "redis-server.log"), **kw)
        self.redises.append(r)
        self.redis = r
        return r.start()

    def counts(self):
        return self.redis.eval_json(LUA_COUNTS, (),
                                    (self.prefix, *self.GROUPS.keys()))

    def records(self, group):
        """The handler's effect records of `group`: seq -> record."""
        raw = flat_to_dict(self.redis.eval_json(
            LUA_HGETALL, (f"{self.prefix}g:{group}:proc",)))
        return {int(s): json.loads(v) for s, v in raw.items()}

    def states(self, group):
        """The pairs' state fields of `group` (g:<group>:st): seq -> value
        (a lease, "D<epoch> ..." the ledger entry, "X<pos>" dead, "P")."""
        raw = flat_to_dict(self.redis.eval_json(
            LUA_HGETALL, (f"{self.prefix}g:{group}:st",)))
        return {int(s): v for s, v in raw.items()}

    def log_entries(self):
        """The log as Redis holds it: seq -> (event id, type)."""
        xs = as_list(self.redis.eval_json(LUA_LOG, (f"{self.prefix}log",)))
        return {int(xs[k]): (xs[k + 1], xs[k + 2])
                for k in range(0, len(xs), 3)}

    def retry_marks(self):
        """retry:taken: "<group>\\x1f<seq>" -> "<consumer> <instance>
        <time> <call>" (which store object took a due retry)."""
        return flat_to_dict(self.redis.eval_json(
            LUA_HGETALL, (f"{self.prefix}retry:taken",)))

    def dup_keys(self):
        out = self.redis.cli("KEYS", f"{self.prefix}*proc:dup").stdout
        return [k for k in out.splitlines() if k]

    def ids(self):
        """id -> (seq, created_at) from the dedup keys (id:<event id>)."""
        raw = flat_to_dict(self.redis.eval_json(LUA_ID_KEYS, (),
                                                (self.prefix,)))
        out = {}
        for i, v in raw.items():
            s, c = v.split(" ")
            out[i] = (int(s), int(c))
        return out

    def dlq(self):
        out = []
        for e in as_list(self.redis.eval_json(LUA_DLQ, (), (self.prefix,))):
            e["d"] = json.loads(e["d"]) if e["d"] else None
            out.append(e)
        return out

    def pending_of(self, group, consumer):
        """Entries of the consumer group's PEL owned by `consumer`."""
        xs = as_list(self.redis.eval_json(
            LUA_PENDING, (f"{self.prefix}log",), (group, consumer)))
        return [int(x[0].split("-")[1]) for x in xs]

    def group_info(self):
        return {g["name"]: g for g in as_list(self.redis.eval_json(
            LUA_GROUP_INFO, (f"{self.prefix}log",)))}

    # -- nodes ---------------------------------------------------------------

    def config_for(self, name, groups=None, url=None, prefix=None, **kw):
        """Writes node `name`'s config; kw: more write_redis_config
        arguments (store=, http_port=)."""
        path = os.path.join(self.dir, f"{name}.ini")
        op.write_redis_config(
            path, name, op.free_port(), url or self.redis.url(),
            prefix or self.prefix, groups or self.GROUPS,
            os.path.join(self.dir, f"data-{name}"), **kw)
        self.configs[name] = path
        return path

    def launch_node(self, name, extra=(), groups=None):
        """Starts node `name` (stopped at the end of the test), without
        waiting for it."""
        cfg = self.configs.get(name) or self.config_for(name, groups)
        n = op.Node(op.BINARY, cfg, os.path.join(self.dir, f"{name}.log"),
                    extra)
        self.all_nodes.append(n)
        self.nodes[name] = n
        return n

    def start_node(self, name, extra=(), groups=None):
        n = self.launch_node(name, extra, groups)
        n.wait_ready(timeout=60)
        return n

    def freeze(self, name):
        """Stops node `name` (SIGSTOP) with nothing of it left to run: every
        thread stopped, and then a round trip to Redis. Redis answers a
        round of ready connections after it has run the commands read in
        that round, so a command the node had written to Redis before it
        stopped (a trim, a settlement: small, one read) has run before this
        returns, not later, after a command of a node that continues
        meanwhile. (Not so for bytes still in the node's own buffers, which
        a stopped node does not send, nor for the tail of a pipeline larger
        than one read of Redis, about 16 KiB.)"""
        self.nodes[name].freeze()
        if not self.redis.ping():
            raise AssertionError("redis does not answer PING")

    def status(self, name):
        return op.node_status(op.BINARY, self.configs[name]) or {}

    def assert_alive(self, *names):
        for name in names or self.nodes:
            n = self.nodes[name]
            self.assertTrue(n.alive(), f"node {name} died with exit code "
                                       f"{n.proc.returncode}")

    def write_events(self, tag, events):
        return op.write_events(os.path.join(self.dir, f"{tag}.jsonl"), events)

    def publish_many(self, jobs, timeout=600):
        """jobs: [(node name, events, tag)], published concurrently, each
        through its node. Returns [(returncode, output lines)]."""
        procs = []
        for name, events, tag in jobs:
            path = self.write_events(tag, events)
            out = open(os.path.join(self.dir, f"{tag}.out"), "w+")
            # --verbose: one answer line per event on stdout (the summary
            # goes to stderr, kept in <tag>.err).
            err = open(os.path.join(self.dir, f"{tag}.err"), "w")
            p = subprocess.Popen(
                [op.BINARY, "publish", "--config", self.configs[name],
                 "--file", path, "--verbose"], stdout=out, stderr=err,
                text=True, env=op.node_env())
            err.close()
            procs.append((p, out))
        results = []
        for p, out in procs:
            p.wait(timeout)
            out.seek(0)
            results.append((p.returncode, out.read().splitlines()))
            out.close()
        return results

    def publish(self, name, events, tag):
        return self.publish_many([(name, events, tag)])[0]

    def answer_lines(self, res, jobs):
        """Checks publish_many's results `res` for `jobs`: exit code 0, one
        answer line per event in order, none an error. Yields (tag, event,
        line, match of LINE_RE) per answer."""
        for (rc, lines), (_name, evs, tag) in zip(res, jobs):
            self.assertEqual(rc, 0, f"{tag}: " + "\n".join(lines[:10]))
            self.assertEqual(len(lines), len(evs), f"{tag}: {lines[:5]}")
            for line, ev in zip(lines, evs):
                m = LINE_RE.match(line)
                self.assertIsNotNone(m, f"{tag}: unexpected line {line!r}")
                self.assertEqual(m.group(1), ev["id"], tag)
                self.assertFalse(m.group(2).startswith("error"),
                                 f"{tag}: {line}")
                yield tag, ev, line, m

    def publish_retrying(self, name, events, tag, timeout=30):
        """Publishes like a client that retries refused events: the first
        store call after a Redis restart fails on the dead connection (the
        next one reconnects), so events answered `error` are sent again
        until every event is answered `accepted`, or `duplicate` on a
        resend (the append went through but its answer was lost)."""
        to_send = list(events)
        deadline = time.monotonic() + timeout * TIME_SCALE
        rounds = 0
        while to_send:
            rc, lines = self.publish(name, to_send, f"{tag}-{rounds}")
            self.assertEqual(len(lines), len(to_send), lines[:5])
            failed = []
            for line, ev in zip(lines, to_send):
                m = LINE_RE.match(line)
                self.assertIsNotNone(m, line)
                if m.group(2).startswith("error"):
                    failed.append(ev)
                elif m.group(2) != "accepted":
                    self.assertGreater(rounds, 0, f"{tag}: {line}")
            to_send = failed
            rounds += 1
            if to_send and time.monotonic() > deadline:
                self.fail(f"{tag}: still refused after {rounds} rounds: "
                          + "\n".join(lines[:5]))
            if to_send:
                time.sleep(0.2)  # pacing of the client's retries
        return rounds

    def assert_all_accepted(self, results, jobs):
        for (rc, lines), (name, events, tag) in zip(results, jobs):
            self.assertEqual(rc, 0, f"publish {tag} via {name}: "
                                    + "\n".join(lines[:5]))
            self.assertEqual([line.split(" ")[0] for line in lines],
                             [e["id"] for e in events], tag)
            bad = [line for line in lines if not line.endswith(" accepted")]
            self.assertEqual(bad, [], f"publish {tag} via {name}")

    def wait_processed(self, expected, timeout, what="every expected "
                       "(event, group) effect"):
        """expected: {group: number of effect records}."""
        last = {}

        def done():
            c = self.counts()
            last["c"] = {g: c["groups"][g]["proc"] for g in expected}
            return all(c["groups"][g]["proc"] >= n
                       for g, n in expected.items())
        return op.wait_until(
            done, timeout * TIME_SCALE, what, interval=0.25,
            progress=lambda: f"records {last.get('c')} of {expected}")

    def groups_of(self, name):
        """The groups node `name` serves (all of GROUPS here)."""
        return self.GROUPS

    def wait_quiet(self, names=None, timeout=60):
        """Every node has nothing queued or in flight and Redis has no
        pending entry, scheduled retry or lease left."""
        names = names or list(self.nodes)
        last = {}

        def quiet():
            c = self.counts()
            last["c"] = c
            if c["retry"] != 0 or any(g["pel"] or g["lease"]
                                      for g in c["groups"].values()):
                return False
            for name in names:
                s = self.status(name)
                last[name] = {k: v for k, v in s.items()
                              if k.endswith(("queued", "in-flight"))}
                for g in self.groups_of(name):
                    if s.get(f"groups.{g}.queued", 1) or \
                            s.get(f"groups.{g}.in-flight", 1):
                        return False
            return True
        op.wait_until(quiet, timeout * TIME_SCALE, "the nodes to go quiet",
                      interval=0.25, progress=lambda: str(last))

    def leftovers(self):
        """Pending entries, leases and retry entries still in Redis, with
        what they say about the pair (dead already? attempt?)."""
        out = {}
        sep = "\x1f"
        due = flat_to_dict(self.redis.eval_json(
            "return cjson.encode(redis.call('ZRANGE', KEYS[1], 0, -1, "
            "'WITHSCORES'))", (f"{self.prefix}retry:due",)))
        data = flat_to_dict(self.redis.eval_json(
            LUA_HGETALL, (f"{self.prefix}retry:data",)))
        for member in due:
            g, s = member.split(sep)
            d = json.loads(data.get(member) or "null") or {}
            dead = self.redis.cli("HEXISTS", f"{self.prefix}g:{g}:dead",
                                  s).stdout.strip() == "1"
            out[f"retry {g}/{s}"] = (f"attempt {d.get('attempt')} of "
                                     f"{d.get('ev', {}).get('id')}, already "
                                     f"dead: {dead}")
        for g in self.GROUPS:
            leases = flat_to_dict(self.redis.eval_json(
                LUA_HGETALL, (f"{self.prefix}g:{g}:st",)))
            for s, v in leases.items():
                if not v[:1].isdigit():
                    continue
                dead = self.redis.cli("HEXISTS", f"{self.prefix}g:{g}:dead",
                                      s).stdout.strip() == "1"
                out[f"lease {g}/{s}"] = f"{v!r}, already dead: {dead}"
            pel = self.counts()["groups"][g]["pel"]
            if pel:
                out[f"pel {g}"] = pel
        return out

    def assert_exactly_once(self, expected_ids):
        """expected_ids: {group: set of event ids}. Checks the records, not
        counters: one record per expected pair and none else, no proc:dup."""
        self.assertEqual(self.dup_keys(), [],
                         "a second effect record was written (double effect)")
        recs = {}
        for g, want in expected_ids.items():
            rs = self.records(g)
            recs[g] = rs
            got = collections.Counter(r["i"] for r in rs.values())
            doubles = {i: n for i, n in got.items() if n > 1}
            self.assertEqual(doubles, {}, f"group {g}: double effects")
            self.assertTrue(all(r["g"] == g for r in rs.values()))
            self.assertTrue(all(r["s"] == s for s, r in rs.items()))
            missing = sorted(want - set(got))
            extra = sorted(set(got) - want)
            self.assertEqual((missing[:20], len(missing)), ([], 0),
                             f"group {g}: accepted events without effect")
            self.assertEqual(extra[:20], [], f"group {g}: unexpected effects")
            self.assertEqual(len(rs), len(want))
        return recs
