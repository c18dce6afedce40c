"""The `mongo` handler in real `onceflow node` processes against a real
MongoDB-compatible server (FerretDB 1.24, tests/support/ferretdb/), counted
with an independent client (pymongo):

- three nodes on one Redis, 10k submissions of which 10% are duplicate
  submissions and 5% of the events lose their acknowledgement twice after
  the write, one node killed with kill -9 mid-run: exactly one document per
  (event, group) in processed_events;
- FerretDB stopped mid-run and restarted: no event lost, none doubled, no
  event acknowledged without its document, /ready names MongoDB while it is
  down;
- the embedded store (no Redis) with `mongo` groups, the node killed with
  kill -9 while it writes: after the restart every effect has one
  document;
- bad [mongo] configs and an unreachable server refused at start, naming
  the problem;
- the optional records: `events` (one document per accepted event, its
  status per group through retries, deaths, a cancel and a replay) and the
  `dead_letters` archive (every death with its attempts, replays and
  purges marked), and GET /events?status= and GET /failed-events answered
  from them with [mongo] read-from = "mongodb".

Run: python3 tests/integration/test_mongo_nodes.py
     --binary BUILD/onceflow [--config-dir config] [unittest args]
"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import http_client as hc  # noqa: E402
import onceflow_proc as op  # noqa: E402
from ferretdb import FerretDB, mongo_section, pairs  # noqa: E402
from redis_nodes import TIME_SCALE, RedisNodesBase  # noqa: E402


def mongo_group(**kw):
    opts = {"handler": '"mongo"', "jitter": "false", "retry-base": "50ms",
            "retry-cap": "1s", "max-attempts": "100", "lease-ttl": "2s",
            "batch-size": "100", "concurrency": "2"}
    for k, v in kw.items():
        opts[k.replace("_", "-")] = v
    return opts


def events(tag, n, fail_every=0):
    out = []
    for i in range(n):
        payload = {"n": i, "tag": tag}
        if fail_every and i % fail_every == 0:
            payload["simulate"] = {"fail_attempts": 2}
        out.append({"id": f"{tag}-{i:05d}", "type": f"order.t{i % 3}",
                    "payload": payload})
    return out


class MongoBase(RedisNodesBase):
    def setUp(self):
        super().setUp()
        self.ferret = FerretDB(os.path.join(self.dir, "ferretdb"),
                               os.path.join(self.dir, "ferretdb.log"))
        self.ferret.start()
        self.coll = self.ferret.collection("onceflow")

    def tearDown(self):
        super().tearDown()
        self.ferret.close()

    def mongo(self, **kw):
        return {"mongo": mongo_section(self.ferret.uri("onceflow"), **kw)}

    def assert_once(self, ids, groups):
        got = pairs(self.coll)
        want = {(i, g) for i in ids for g in groups}
        self.assertEqual(set(got) - want, set(), "documents of no event")
        self.assertEqual(sorted(want - set(got))[:10], [],
                         f"{len(want - set(got))} effects missing")
        doubled = {k: n for k, n in got.items() if n != 1}
        self.assertEqual(doubled, {}, "effects written twice")


class MongoRedisNodesTest(MongoBase):
    GROUPS = {"ledger": mongo_group(options="{simulate = true}"),
              "audit": mongo_group()}

    def test_three_nodes_kill9_exactly_one_document_per_effect(self):
        """10k submissions through three nodes (1k of them duplicate
        submissions of events sent through another node; 5% of the events
        have their acknowledgement lost twice after the write); kill -9 of
        node-3 mid-run. Every (event, group) ends with exactly one
        document, and the DLQ is empty."""
        self.start_redis()
        names = ["node-1", "node-2", "node-3"]
        for name in names:
            self.config_for(name, sections=self.mongo())
        for name in names:
            self.start_node(name)
        unique = events("ev", 9000, fail_every=20)
        rng = random.Random(7)
        dups = rng.sample(unique, 1000)
        jobs = []
        for k, name in enumerate(names):
            mine = unique[k * 3000:(k + 1) * 3000]
            # Duplicates of events another node was given.
            mine += [e for e in dups if e not in mine][:334]
            rng.shuffle(mine)
            jobs.append((name, mine, f"pub-{name}"))
        results = self.publish_many(jobs)
        for (rc, lines), (name, evs, tag) in zip(results, jobs):
            self.assertEqual(rc, 0, f"publish via {name}: {lines[:3]}")
            bad = [ln for ln in lines if not (ln.endswith(" accepted")
                                              or " duplicate " in ln)]
            self.assertEqual(bad, [], f"publish via {name}")
        op.wait_until(lambda: self.coll.count_documents({}) > 3000,
                      60 * TIME_SCALE, "a third of the documents")
        self.nodes["node-3"].kill9()
        ids = [e["id"] for e in unique]
        want = 2 * len(ids)
        op.wait_until(lambda: self.coll.count_documents({}) >= want,
                      120 * TIME_SCALE, f"{want} documents",
                      progress=lambda: f"{self.coll.count_documents({})}")
        self.wait_quiet(["node-1", "node-2"])
        self.assert_once(ids, ["ledger", "audit"])
        self.assertEqual(self.dlq(), [])
        # The lost acknowledgements were retried and found done: one
        # document each, from whichever attempt wrote first.
        flaky = list(self.coll.find({"group": "ledger",
                                     "eventId": "ev-00020"}))
        self.assertEqual(len(flaky), 1)
        self.assertEqual(flaky[0]["payload"]["simulate"]["fail_attempts"], 2)
        self.assertIn(flaky[0]["attempt"], (1, 2, 3))
        self.assert_alive("node-1", "node-2")

    def test_ferretdb_outage_loses_and_doubles_nothing(self):
        """FerretDB stopped while events flow and started again: /ready
        answers 503 naming MongoDB while it is down; no event is
        acknowledged without its document; when it is back every event
        has exactly one document per group and the DLQ is empty."""
        self.start_redis()
        http = op.free_port()
        self.GROUPS = {"ledger": mongo_group(latency="0ms")}
        self.config_for("node-1", groups=self.GROUPS, http_port=http,
                        sections=self.mongo())
        self.start_node("node-1")
        first = events("a", 1500)
        self.assert_all_accepted(self.publish_many(
            [("node-1", first, "pub-a")]), [("node-1", first, "pub-a")])
        op.wait_until(lambda: self.coll.count_documents({}) >= 1500,
                      60 * TIME_SCALE, "the first documents")
        self.ferret.stop()
        second = events("b", 1500)
        self.assert_all_accepted(self.publish_many(
            [("node-1", second, "pub-b")]), [("node-1", second, "pub-b")])

        def not_ready():
            r = hc.request(http, "GET", "/ready")
            return r.status == 503 and "mongodb" in r.json["failed"]
        op.wait_until(not_ready, 30, "/ready to report MongoDB")
        body = hc.request(http, "GET", "/ready").json
        self.assertIn("cannot be reached", body["checks"]["mongodb"])
        time.sleep(2)  # retries run against the stopped server meanwhile
        # Nothing of the second batch is acknowledged as processed (a
        # sample of 20: the store answers behind the retries meanwhile).
        statuses = {e["id"]: hc.request(http, "GET", f"/events/{e['id']}")
                    .json.get("status") for e in second[::75]}
        self.assertNotIn(None, statuses.values(), statuses)
        processed = [i for i, st in statuses.items() if st == "processed"]
        self.assertEqual(processed, [], "processed without a document")
        self.ferret.start()
        op.wait_until(lambda: self.coll.count_documents({}) >= 3000,
                      90 * TIME_SCALE, "every document after the restart",
                      progress=lambda: f"{self.coll.count_documents({})}")
        op.wait_until(lambda: hc.request(http, "GET", "/ready").status == 200,
                      30, "/ready to recover")
        self.wait_quiet(["node-1"])
        self.assert_once([e["id"] for e in first + second], ["ledger"])
        self.assertEqual(self.dlq(), [])


class MongoEmbeddedTest(MongoBase):
    def node(self, name, extra=()):
        path = os.path.join(self.dir, f"{name}.ini")
        op.write_config(path, op.free_port(), os.path.join(self.dir, "data"),
                        # Small batches: the writing lasts long enough
                        # to kill the node in the middle of it.
                        {"ledger": mongo_group(batch_size="20",
                                               concurrency="1"),
                         "audit": mongo_group(batch_size="20",
                                              concurrency="1")},
                        sections=self.mongo())
        self.configs[name] = path
        n = op.Node(op.BINARY, path, os.path.join(self.dir, f"{name}.log"),
                    extra)
        self.all_nodes.append(n)
        n.wait_ready(30)
        return n

    def test_embedded_store_writes_each_effect_once(self):
        """No Redis: the embedded store with two `mongo` groups, 3000
        events (each published twice); kill -9 of the node while batches
        are written, restart: the batches it held run again, find their
        documents, and every (event, group) has exactly one."""
        n = self.node("solo")
        evs = events("e", 3000)
        path = op.write_events(os.path.join(self.dir, "e.jsonl"), evs)
        for _ in range(2):
            r = op.run(op.BINARY, "publish", "--config", self.configs["solo"],
                       "--file", path)
            self.assertEqual(r.returncode, 0, r.stderr)
        op.wait_until(lambda: self.coll.estimated_document_count() >= 500,
                      60 * TIME_SCALE, "500 documents", interval=0.02)
        n.kill9()
        written = self.coll.count_documents({})
        self.assertLess(written, 6000, "everything was written before the "
                                       "kill")
        n = self.node("solo")
        op.wait_until(lambda: self.coll.count_documents({}) >= 6000,
                      90 * TIME_SCALE, "6000 documents",
                      progress=lambda: f"{self.coll.count_documents({})}")
        time.sleep(1)
        self.assertEqual(self.coll.count_documents({}), 6000)
        self.assert_once([e["id"] for e in evs], ["ledger", "audit"])
        indexes = self.coll.index_information()
        self.assertTrue(indexes["eventId_group"]["unique"])

    def test_example_config_runs(self):
        """config/mongo-node.ini, pointed at the test's server, writes an
        order's effect."""
        path = os.path.join(op.CONFIG_DIR, "mongo-node.ini")
        self.configs["example"] = path
        extra = [f"--mongo.uri={self.ferret.uri('onceflow')}",
                 f"--node.port={op.free_port()}",
                 f"--http.port={op.free_port()}",
                 f"--node.data-dir={os.path.join(self.dir, 'ex-data')}"]
        n = op.Node(op.BINARY, path, os.path.join(self.dir, "ex.log"), extra)
        self.all_nodes.append(n)
        evs = [{"id": "order-1", "type": "order.created",
                "payload": {"order": 1}}]
        ev_path = op.write_events(os.path.join(self.dir, "ex.jsonl"), evs)

        def published():
            if not n.alive():
                raise AssertionError(f"node exited: {n.proc.returncode}")
            return op.run(op.BINARY, "publish", "--config", path, *extra,
                          "--file", ev_path).returncode == 0
        op.wait_until(published, 30, "the example node to take an event")
        op.wait_until(lambda: self.coll.count_documents(
            {"eventId": "order-1", "group": "ledger"}) == 1, 30,
            "the order's document")

    def test_bad_configs_refused_at_start(self):
        """A bad URI, an unreachable server and a `mongo` group without
        [mongo] each stop the node at start with a message naming it."""
        def start(sections, groups=None):
            path = os.path.join(self.dir, "bad.ini")
            op.write_config(path, op.free_port(),
                            os.path.join(self.dir, "bad-data"),
                            groups or {"ledger": mongo_group()},
                            sections=sections)
            return op.run(op.BINARY, "node", "--config", path, timeout=60)
        r = start({"mongo": mongo_section("mongodb://[::1")})
        self.assertEqual(r.returncode, 2)
        self.assertIn("mongo.uri", r.stderr)
        r = start({"mongo": mongo_section("http://localhost")})
        self.assertEqual(r.returncode, 2)
        self.assertIn("mongo.uri", r.stderr)
        r = start({"mongo": mongo_section(
            f"mongodb://127.0.0.1:{op.free_port()}/x",
            server_selection_timeout="300ms")})
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot reach MongoDB at 127.0.0.1:", r.stderr)
        r = start({})
        self.assertEqual(r.returncode, 2)
        self.assertIn("mongo.uri", r.stderr)
        self.assertIn("ledger", r.stderr)
        r = start(self.mongo(write_concern='"many"'))
        self.assertEqual(r.returncode, 2)
        self.assertIn("mongo.write-concern", r.stderr)
        r = start(self.mongo(), {"ledger": mongo_group(
            options='{simulate = "maybe"}')})
        self.assertEqual(r.returncode, 2)
        self.assertIn("simulate", r.stderr)


def simulate_group(subscriptions):
    return {"handler": '"simulate"', "subscriptions": subscriptions,
            "jitter": "false", "retry-base": "50ms", "retry-cap": "200ms",
            "max-attempts": "3", "concurrency": "2", "batch-size": "20",
            "lease-ttl": "2s"}


class MongoRecordsTest(MongoBase):
    def node(self):
        self.http_port = op.free_port()
        path = os.path.join(self.dir, "rec.ini")
        data = os.path.join(self.dir, "rec-data")
        op.write_config(
            path, op.free_port(), data,
            {"orders": simulate_group('["order.*"]'),
             "audit": simulate_group('["*"]')},
            sections={**self.mongo(events="true", dead_letters="true",
                                   read_from='"mongodb"'),
                      "http": {"port": self.http_port}})
        n = hc.HttpNode(op.BINARY, path, os.path.join(self.dir, "rec.log"),
                        self.http_port, data)
        self.all_nodes.append(n)
        n.wait_up(30)
        return n

    def records(self):
        db = self.ferret.collection("onceflow").database
        return db["events"], db["dead_letters"]

    def statuses(self, doc):
        return {g: s["status"] for g, s in doc.get("groups", {}).items()}

    def test_events_and_dead_letters_records(self):
        """Events that succeed, fail twice, fail for good and one delayed
        and cancelled: each has one `events` document with its final
        status per group (only the groups it goes to), each death one
        `dead_letters` document with its attempts; the listings read the
        records (a document written by hand shows up); a replay and a
        purge mark the archive and leave the listing right."""
        n = self.node()
        evs = []
        for i in range(30):
            evs.append({"id": f"ok-{i:02d}",
                        "type": "order.created" if i % 2 == 0
                        else "user.signup", "payload": {"n": i}})
        for i in range(5):
            evs.append({"id": f"retry-{i}", "type": "order.paid",
                        "payload": {"simulate": {"fail_attempts": 2}}})
        for i in range(4):
            evs.append({"id": f"dead-{i}", "type": "order.bad",
                        "payload": {"simulate": {"permanent": True}}})
        evs.append({"id": "later-1", "type": "order.reminder",
                    "payload": {"cart": 7}, "delay": "1h"})
        r = n.post("/events/batch", {"events": evs})
        self.assertEqual(r.status, 200, r)
        r = n.post("/events/later-1/cancel")
        self.assertEqual(r.status, 200, r)
        events, dead = self.records()
        final = {"processed", "dead", "cancelled"}

        def settled():
            docs = list(events.find({}))
            return len(docs) == len(evs) and all(
                s in final for d in docs for s in self.statuses(d).values())
        op.wait_until(settled, 60 * TIME_SCALE, "every record settled",
                      progress=lambda: f"{events.count_documents({})} docs")
        docs = {d["_id"]: d for d in events.find({})}
        for i in range(30):
            d = docs[f"ok-{i:02d}"]
            want = {"orders": "processed", "audit": "processed"} \
                if i % 2 == 0 else {"audit": "processed"}
            self.assertEqual(self.statuses(d), want, d)
            self.assertEqual(d["payload"], {"n": i})
            self.assertGreater(d["seq"], 0)
            self.assertIn("acceptedAt", d)
        for i in range(5):
            d = docs[f"retry-{i}"]
            self.assertEqual(self.statuses(d),
                             {"orders": "processed", "audit": "processed"})
            self.assertEqual(d["groups"]["orders"]["attempt"], 3, d)
        for i in range(4):
            d = docs[f"dead-{i}"]
            self.assertEqual(self.statuses(d),
                             {"orders": "dead", "audit": "dead"})
            self.assertTrue(d["groups"]["orders"]["error"], d)
        self.assertEqual(self.statuses(docs["later-1"]),
                         {"orders": "cancelled", "audit": "cancelled"})
        self.assertIn("notBefore", docs["later-1"])
        # The archive: one document per death, with its attempt.
        op.wait_until(lambda: dead.count_documents({}) == 8, 30,
                      "8 dead letters")
        for d in dead.find({}):
            self.assertEqual(d["reason"], "permanent_error", d)
            self.assertEqual(len(d["attempts"]), 1, d)
            self.assertEqual(d["attempts"][0]["outcome"], "permanent", d)
            self.assertIn(d["group"], ("orders", "audit"))
        # GET /events?status= reads the records: a document written by
        # hand (no such event in the store) is listed.
        r = n.get("/events?status=dead&group=orders")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sorted(e["eventId"] for e in r.json["events"]),
                         [f"dead-{i}" for i in range(4)])
        events.insert_one({"_id": "by-hand", "eventId": "by-hand",
                           "type": "order.x", "seq": 10 ** 12,
                           "groups": {"orders": {"v": 0, "status": "dead"}}})
        r = n.get("/events?status=dead&group=orders")
        self.assertIn("by-hand", [e["eventId"] for e in r.json["events"]])
        events.delete_one({"_id": "by-hand"})
        r = n.get("/events?status=processed&limit=7")
        seen, pages = [], 0
        while True:
            self.assertEqual(r.status, 200, r)
            seen += [(e["eventId"], e["group"]) for e in r.json["events"]]
            pages += 1
            if r.json["next"] is None:
                break
            r = n.get(f"/events?status=processed&limit=7&after="
                      f"{r.json['next']}")
        self.assertEqual(len(seen), len(set(seen)))
        self.assertEqual(len(seen), 15 * 2 + 15 + 5 * 2)
        self.assertGreater(pages, 5)
        # GET /failed-events from the archive, in pages.
        got, after = [], None
        while True:
            q = "/failed-events?limit=3" + (f"&after={after}" if after else "")
            r = n.get(q)
            self.assertEqual(r.status, 200, r)
            got += [(e["eventId"], e["group"], e["reason"], e["attempts"])
                    for e in r.json["events"]]
            after = r.json["next"]
            if after is None:
                break
        self.assertEqual(sorted(got), sorted(
            (f"dead-{i}", g, "permanent_error", 1)
            for i in range(4) for g in ("orders", "audit")))
        # A replay: the old deaths are marked, the event dies again (its
        # failure is permanent) and the listing shows the new deaths only.
        r = n.post("/failed-events/dead-0/replay")
        self.assertEqual(r.status, 200, r)
        op.wait_until(lambda: dead.count_documents({"eventId": "dead-0"})
                      == 4, 30, "dead-0's second deaths archived")
        op.wait_until(lambda: dead.count_documents(
            {"eventId": "dead-0", "replayedAt": {"$exists": True}}) == 2, 30,
            "dead-0's first deaths marked replayed")
        time.sleep(1.5)  # a wrong mark of the new deaths would be there now
        self.assertEqual(dead.count_documents(
            {"eventId": "dead-0", "replayedAt": {"$exists": True}}), 2)
        d = events.find_one({"_id": "dead-0"})
        self.assertEqual(self.statuses(d), {"orders": "dead", "audit": "dead"})
        # A purge: marked, gone from the listing.
        r = n.delete("/failed-events/dead-1")
        self.assertEqual(r.status, 200, r)
        op.wait_until(lambda: dead.count_documents(
            {"eventId": "dead-1", "purgedAt": {"$exists": True}}) == 2, 30,
            "dead-1's entries marked purged")
        r = n.get("/failed-events?limit=100")
        listed = sorted((e["eventId"], e["group"]) for e in r.json["events"])
        self.assertEqual(listed, sorted(
            (f"dead-{i}", g) for i in (0, 2, 3) for g in ("orders", "audit")))
        indexes = events.index_information()
        self.assertIn("status_orders", indexes)
        self.assertIn("pos", dead.index_information())
        n.terminate()

    def test_records_kept_through_an_outage_and_kill9(self):
        """MongoDB away while events are accepted and processed, then the
        node killed with -9: the changes it could not write wait in its
        journal, and after FerretDB and the node are back every event has
        its record with its final status."""
        n = self.node()
        self.ferret.stop()
        evs = [{"id": f"k-{i:02d}", "type": "order.created",
                "payload": {"n": i}} for i in range(40)]
        evs += [{"id": "k-dead", "type": "order.bad",
                 "payload": {"simulate": {"permanent": True}}}]
        r = n.post("/events/batch", {"events": evs})
        self.assertEqual(r.status, 200, r)

        def processed():
            r = n.get("/events/k-39")
            return r.status == 200 and r.json["status"] == "processed"
        op.wait_until(processed, 30, "the events processed")
        time.sleep(0.5)
        n.kill9()
        self.ferret.start()
        events, dead = self.records()
        self.assertEqual(events.count_documents({}), 0)
        n = self.node()

        def settled():
            return events.count_documents(
                {"groups.orders.status": "processed"}) == 40 \
                and dead.count_documents({}) == 2
        op.wait_until(settled, 60 * TIME_SCALE, "the records after restart",
                      progress=lambda: f"{events.count_documents({})} docs")
        self.assertEqual(events.count_documents({}), 41)
        self.assertEqual(events.count_documents(
            {"groups.audit.status": "processed"}), 40)
        n.terminate()



class MongoRecordsRedisTest(MongoBase):
    GROUPS = {"orders": simulate_group('["order.*"]'),
              "audit": simulate_group('["*"]')}

    def test_two_nodes_records_match_the_store(self):
        """Two nodes on one Redis with the records on, events published
        through both (some fail twice, some for good), node-2 killed with
        -9 mid-run and restarted: each event's record shows, per group,
        the status the store shows, and each death is archived once."""
        self.start_redis()
        http = {}
        for name in ("node-1", "node-2"):
            http[name] = op.free_port()
            self.config_for(name, http_port=http[name],
                            sections=self.mongo(events="true",
                                                dead_letters="true"))
            self.start_node(name)
        evs = []
        for i in range(160):
            p = {"n": i}
            if i % 10 == 0:
                p["simulate"] = {"fail_attempts": 2}
            elif i % 25 == 1:
                p["simulate"] = {"permanent": True}
            evs.append({"id": f"r-{i:03d}", "payload": p,
                        "type": "order.created" if i % 2 == 0
                        else "user.seen"})
        jobs = [("node-1", evs[:80], "p1"), ("node-2", evs[80:], "p2")]
        self.assert_all_accepted(self.publish_many(jobs), jobs)
        self.nodes["node-2"].kill9()
        self.start_node("node-2")
        self.wait_quiet(["node-1", "node-2"])
        want = {}
        for i, e in enumerate(evs):
            r = hc.request(http["node-1"], "GET", f"/events/{e['id']}")
            self.assertEqual(r.status, 200, r)
            want[e["id"]] = {g["group"]: g["status"] for g in r.json["groups"]}
            # Either node answers for both: each event names the node that
            # accepted it.
            self.assertEqual(r.json["acceptedBy"],
                             "node-1" if i < 80 else "node-2", e["id"])
        events = self.ferret.collection("onceflow").database["events"]
        dead = self.ferret.collection("onceflow").database["dead_letters"]

        def got():
            return {d["_id"]: {g: x["status"]
                               for g, x in d.get("groups", {}).items()}
                    for d in events.find({})}
        op.wait_until(lambda: got() == want, 60 * TIME_SCALE,
                      "the records to match the store",
                      progress=lambda: str(sorted(
                          (k, v, want.get(k)) for k, v in got().items()
                          if v != want.get(k))[:5]))
        deaths = sorted((k, g) for k, st in want.items()
                        for g, s in st.items() if s == "dead")
        self.assertGreater(len(deaths), 0)

        def archived():
            return sorted((d["eventId"], d["group"]) for d in dead.find({}))
        # A death's status can be written before its archive entry (the
        # status is journaled before the store commits it, the entry once
        # committed): the archive catches up, and holds each death once.
        op.wait_until(lambda: len(archived()) >= len(deaths), 30 * TIME_SCALE,
                      "every death archived",
                      progress=lambda: f"{len(archived())} of {len(deaths)}")
        self.assertEqual(archived(), deaths)


if __name__ == "__main__":
    op.main()
