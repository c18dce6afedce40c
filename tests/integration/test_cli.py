"""Integration tests of the `onceflow` command line against a real node on
the embedded store: `status --id` of an unknown id exits 1; `publish
--file` prints progress to stderr and a summary (accepted, duplicate,
rejected, failed) instead of a line per event, one line per event with
`--verbose`, and exits 1 when a line was rejected or not published.

Run: python3 tests/integration/test_cli.py
     --binary BUILD/onceflow [--config-dir config] [unittest args]
"""

import os
import re
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import onceflow_proc as op  # noqa: E402

PROGRESS_RE = re.compile(r"^progress: (\d+)/(\d+) sent, (\d+) accepted, "
                         r"(\d+) duplicate, (\d+) rejected, (\d+) failed$")


class CliTest(op.KeepLogsOnFailure, unittest.TestCase):
    def setUp(self):
        self.t0 = time.monotonic()
        self.dir = tempfile.mkdtemp(prefix="onceflow-cli-")
        self.port = op.free_port()
        self.cfg = os.path.join(self.dir, "node.ini")
        op.write_config(self.cfg, self.port, os.path.join(self.dir, "data"), {
            "orders": {"handler": '"store"', "subscriptions": '["*"]'},
        })
        # Batches over 500 events are refused by the node (the CLI sends
        # up to 1000 unless told otherwise): "failed" events.
        self.node = op.Node(op.BINARY, self.cfg,
                            os.path.join(self.dir, "node.log"),
                            ["--events.max-ingest-batch=500"])
        self.addCleanup(self.node.close)
        self.node.wait_ready()

    def cli(self, *args):
        return op.run(op.BINARY, args[0], "--config", self.cfg, *args[1:])

    def events_file(self, name, lines):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    @staticmethod
    def event_line(i):
        return f'{{"id": "ev-{i}", "type": "order.created", "payload": ' \
               f'{{"n": {i}}}}}'

    def test_status_of_an_unknown_id_exits_1(self):
        r = self.cli("status", "--id", "nope")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip(), "nope unknown")
        r = self.cli("publish", "--type", "order.created", "--payload", "{}",
                     "--id", "known")
        self.assertEqual((r.returncode, r.stdout.strip()),
                         (0, "known accepted"), r.stderr)
        r = self.cli("status", "--id", "known")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout.strip(), r"^known orders \w+$")
        # The node's status without --id still exits 0.
        self.assertEqual(self.cli("status").returncode, 0)

    def test_publish_file_prints_progress_and_a_summary(self):
        # Ten events known already: duplicates in the file.
        lines = [self.event_line(i) for i in range(10)]
        r = self.cli("publish", "--file", self.events_file("first", lines),
                     "--events.max-ingest-batch=100")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "summary: 10 events: 10 accepted, "
                                   "0 duplicate, 0 rejected, 0 failed\n")
        # 3000 events and five bad lines, sent in batches of 100: progress
        # at least every 10 batches.
        lines = [self.event_line(i) for i in range(3000)]
        for at, bad in ((5, '{"id": "bad-1", "type": "a b", "payload": {}}'),
                        (100, "{not json"),
                        (1500, '{"id": "bad-3", "type": "t", "payload": 1}'),
                        (2000, '{"type": "t", "payload": {}, '
                               '"priority": "urgent"}'),
                        (2500, '{"type": "t", "payload": {}, "extra": 1}')):
            lines.insert(at, bad)
        path = self.events_file("many", lines)
        r = self.cli("publish", "--file", path,
                     "--events.max-ingest-batch=100")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        out = r.stdout.splitlines()
        # No line per event: the rejected lines, named, and the summary.
        self.assertEqual(len(out), 6, out[:10])
        for n, field in ((6, "type"), (101, "line"), (1501, "payload"),
                         (2001, "priority"), (2501, "line")):
            self.assertTrue(any(x.startswith(f"line {n}: error: field "
                                             f"'{field}'") for x in out),
                            (n, field, out))
        self.assertEqual(out[-1], "summary: 3005 events: 2990 accepted, "
                                  "10 duplicate, 5 rejected, 0 failed")
        progress = [PROGRESS_RE.match(x) for x in r.stderr.splitlines()
                    if x.startswith("progress: ")]
        self.assertTrue(all(progress), r.stderr[-2000:])
        self.assertGreaterEqual(len(progress), 2, r.stderr[-2000:])
        sent = [int(m.group(1)) for m in progress]
        self.assertEqual(sent, sorted(sent), sent)
        for m in progress:
            self.assertEqual(int(m.group(2)), 3000)
            self.assertEqual(int(m.group(3)) + int(m.group(4)),
                             int(m.group(1)), m.group(0))
            self.assertEqual(int(m.group(5)), 5, m.group(0))
        # Everything valid is stored.
        r = self.cli("status", "--id", "ev-2999")
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_publish_file_verbose_prints_every_event(self):
        lines = [self.event_line(i) for i in range(5)]
        self.assertEqual(self.cli("publish", "--file", self.events_file(
            "one", lines[:2])).returncode, 0)
        r = self.cli("publish", "--file", self.events_file("all", lines),
                     "--verbose")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = r.stdout.splitlines()
        self.assertEqual(len(out), 5, out)
        for i in (0, 1):
            self.assertRegex(out[i], rf"^ev-{i} duplicate \(original status: "
                                     r"\w+\)$")
        for i in (2, 3, 4):
            self.assertEqual(out[i], f"ev-{i} accepted")
        # The summary goes to stderr (stdout is one line per event); no
        # progress lines.
        self.assertIn("summary: 5 events: 3 accepted, 2 duplicate, "
                      "0 rejected, 0 failed", r.stderr)
        self.assertNotIn("progress: ", r.stderr)
        # --verbose is publish's option only.
        r = self.cli("status", "--verbose")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("option '--verbose' is for publish", r.stderr)

    def test_events_not_published_are_counted_as_failed(self):
        # The first batch (1000 events) is over the node's limit; the
        # second (200) goes in.
        lines = [self.event_line(i) for i in range(1200)]
        r = self.cli("publish", "--file", self.events_file("big", lines))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(r.stdout.splitlines(), [
            "error: 1000 event(s) not published (ev-0 .. ev-999): "
            "invalid_event: batch of 1000 events is over the limit of 500",
            "summary: 1200 events: 200 accepted, 0 duplicate, 0 rejected, "
            "1000 failed"])
        self.assertEqual(self.cli("status", "--id", "ev-999").returncode, 1)
        self.assertEqual(self.cli("status", "--id", "ev-1000").returncode, 0)
        # A node that is gone: nothing sent, named.
        self.assertEqual(self.node.terminate(), 0)
        r = self.cli("publish", "--file", self.events_file("late", lines))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"cannot reach node at 127.0.0.1:{self.port}", r.stdout)


if __name__ == "__main__":
    op.main()
