"""Helpers for the HTTP API integration tests (docs/http-api.md): a node with
its HTTP API on a free port, a small HTTP client (http.client and raw
sockets), a Prometheus text parser, a programmable webhook receiver, the
groups and limits the tests/integration/test_http_*.py files share, and a
unittest base class that starts and stops everything it starts (by pid) and
prints the logs of a failed test.

Python 3.11 stdlib only."""

import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(__file__))
import onceflow_proc as op  # noqa: E402

JSON = "application/json"


# -- INI values ---------------------------------------------------------------

def q(text):
    """A quoted INI string."""
    return json.dumps(text)


def qlist(items):
    """An INI list of strings."""
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


write_ini = op.write_ini


# -- HTTP ---------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError):
            self.json = None

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        text = self.body[:400].decode("utf-8", "replace")
        return f"<HTTP {self.status} {self.headers} {text!r}>"


def request(port, method, path, body=None, headers=None, timeout=15,
            token=None, content_type=JSON):
    """One request on a fresh connection. body: bytes, str, or a JSON value
    (dict/list) that is serialised. content_type None: no header."""
    h = {}
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    if body is not None and content_type is not None:
        h["Content-Type"] = content_type
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    if headers:
        h.update(headers)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.getheaders(), data)
    finally:
        conn.close()


def raw_exchange(port, data, shut_wr=True, timeout=5.0, wait_for_close=True):
    """Sends raw bytes and returns everything the server answers until it
    closes the connection, the first complete response arrives (with
    wait_for_close=False) or `timeout` passes. Send errors (the server
    closed early) are ignored: what it answered is still read."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        try:
            s.sendall(data)
            if shut_wr:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if not wait_for_close and response_complete(out):
                break
    finally:
        s.close()
    return out


def response_complete(data):
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return m is None or len(rest) >= int(m.group(1))


def parse_raw(data):
    """(status, headers dict, body bytes) of the first response in `data`;
    status None when there is none."""
    if not data.startswith(b"HTTP/"):
        return None, {}, data
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode("latin-1")
    n = int(headers.get("content-length", len(rest)))
    return status, headers, rest[:n]


def post_bytes_raw(port, path, body, content_type=JSON, extra_headers=(),
                   content_length=None, shut_wr=False, timeout=10.0,
                   token=None):
    """POST with a raw socket: the body may be shorter than the declared
    Content-Length (truncated) or anything else http.client refuses."""
    cl = len(body) if content_length is None else content_length
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
            f"Content-Length: {cl}", "Connection: close"]
    if content_type is not None:
        head.append(f"Content-Type: {content_type}")
    if token is not None:
        head.append(f"Authorization: Bearer {token}")
    head.extend(extra_headers)
    data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    return raw_exchange(port, data, shut_wr=shut_wr, timeout=timeout,
                        wait_for_close=False)


# -- Prometheus text format 0.0.4 ---------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)'
                     r'(\s+\S+)?$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


class Metrics:
    def __init__(self, text):
        self.text = text
        self.samples = {}   # (name, ((label, value), ...)) -> float
        self.types = {}     # name -> counter/gauge/histogram/...
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split()
                if len(parts) >= 4 and parts[1] == "TYPE":
                    self.types[parts[2]] = parts[3]
                continue
            m = _SAMPLE.match(line)
            if not m:
                raise AssertionError(f"bad metrics line: {line!r}")
            labels = {}
            if m.group(3):
                pos = 0
                body = m.group(3)
                while pos < len(body):
                    lm = _LABEL.match(body, pos)
                    if not lm:
                        raise AssertionError(f"bad labels in {line!r}")
                    labels[lm.group(1)] = lm.group(2)
                    pos = lm.end()
            key = (m.group(1), tuple(sorted(labels.items())))
            self.samples[key] = float(m.group(4))

    def get(self, name, **labels):
        """The value of the sample with exactly these labels (0 if absent)."""
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def total(self, name, **labels):
        """Sum over the samples of `name` whose labels include `labels`."""
        s = 0.0
        for (n, ls), v in self.samples.items():
            if n != name:
                continue
            d = dict(ls)
            if all(d.get(k) == v2 for k, v2 in labels.items()):
                s += v
        return s

    def has(self, name):
        return any(n == name for n, _ in self.samples)


# -- a node with its HTTP API --------------------------------------------------

class HttpNode(op.Node):
    """A real `onceflow node` with the HTTP API on a free port."""

    def __init__(self, binary, config, log_path, http_port, data_dir,
                 token=None, extra=()):
        super().__init__(binary, config, log_path, extra)
        self.log_path = log_path
        self.port = http_port
        self.data_dir = data_dir
        self.token = token
        self.extra = list(extra)

    # process (alive, kill9, close: op.Node)
    def wait_up(self, timeout=30):
        def up():
            if not self.alive():
                raise AssertionError(
                    f"node exited early with {self.proc.returncode}:\n"
                    + op.tail(self.log_path, 3000))
            try:
                return request(self.port, "GET", "/health",
                               timeout=2).status == 200
            except OSError:
                return False
        op.wait_for(up, timeout, f"GET /health on port {self.port} to "
                                 "answer 200")
        return self

    def sigterm(self):
        os.kill(self.proc.pid, signal.SIGTERM)

    def wait_exit(self, timeout=30):
        return self.proc.wait(timeout)

    # HTTP
    def req(self, method, path, body=None, token="default", **kw):
        if token == "default":
            token = self.token
        return request(self.port, method, path, body=body, token=token, **kw)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.req("POST", path, body, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)

    def publish(self, event, **kw):
        headers = kw.pop("headers", None)
        return self.req("POST", "/events", event, headers=headers, **kw)

    def event(self, event_id, **kw):
        return self.get("/events/" + quote(event_id), **kw)

    def metrics(self, **kw):
        r = self.get("/metrics", **kw)
        if r.status != 200:
            raise AssertionError(f"GET /metrics: {r!r}")
        return Metrics(r.body.decode("utf-8"))

    def wait_status(self, event_id, status, timeout=20):
        """Polls GET /events/{id} until its top-level status is `status`;
        returns the last body."""
        last = {}

        def check():
            r = self.event(event_id)
            last["r"] = r
            return r.status == 200 and r.json.get("status") == status
        op.wait_until(check, timeout, f"event {event_id!r} to be {status}",
                      progress=lambda: repr(last.get("r")))
        return last["r"].json

    def wait_all_processed(self, ids, timeout=30):
        pending = set(ids)
        last = {}

        def check():
            for i in list(pending):
                r = self.event(i)
                if r.status == 200 and r.json.get("status") == "processed":
                    pending.discard(i)
                else:
                    last[i] = r
            return not pending
        op.wait_until(check, timeout, f"{len(ids)} events to be processed",
                      progress=lambda: f"{len(pending)} left, e.g. "
                      + repr([last.get(i) for i in list(pending)[:3]]))


def quote(text):
    from urllib.parse import quote as _q
    return _q(text, safe="")


count_effects = op.count_effects


# -- webhook receiver ----------------------------------------------------------

class Receiver:
    """A webhook receiver: records every request (arrival time, headers, raw
    body) and answers from a per-event plan (by Idempotency-Key), each step
    a status code or a dict(status=, headers={}, delay=seconds); once the
    plan is used up it answers `default`."""

    def __init__(self, port=None, default=200):
        self.port = port or op.free_port()
        self.default = default
        self.plans = {}
        self.requests = []
        self.cond = threading.Condition()
        self.server = None
        self.thread = None

    def plan(self, event_id, *steps):
        with self.cond:
            self.plans[event_id] = list(steps)

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                key = self.headers.get("Idempotency-Key")
                with receiver.cond:
                    steps = receiver.plans.get(key)
                    step = steps.pop(0) if steps else receiver.default
                    if not isinstance(step, dict):
                        step = {"status": step}
                    rec = {"t": time.monotonic(), "path": self.path,
                           "headers": {k.lower(): v for k, v in
                                       self.headers.items()},
                           "body": body, "status": step["status"],
                           "key": key, "answered": False}
                    receiver.requests.append(rec)
                    receiver.cond.notify_all()
                if step.get("delay"):
                    time.sleep(step["delay"])
                payload = json.dumps({"ok": step["status"] < 300}).encode()
                try:
                    self.send_response(step["status"])
                    for k, v in step.get("headers", {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    self.wfile.flush()
                    with receiver.cond:
                        rec["answered"] = True
                except OSError:
                    pass

            do_PUT = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port}{path}"

    def of(self, event_id):
        with self.cond:
            return [r for r in self.requests if r["key"] == event_id]

    def wait_count(self, event_id, n, timeout=20):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [r for r in self.requests if r["key"] == event_id]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out after {timeout}s waiting for {n} "
                        f"deliveries of {event_id!r}; got {len(got)}")
                self.cond.wait(min(left, 0.2))


def signature(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body,
                                hashlib.sha256).hexdigest()


# -- groups and limits of the HTTP API tests ----------------------------------

def store_group(subs, **kw):
    g = {"handler": q("store"), "subscriptions": qlist(subs),
         "concurrency": 2}
    g.update(kw)
    return g


GROUPS = {"orders": store_group(["order.*"]), "audit": store_group(["*"])}

# A node with small limits (validation and 413 tests).
LIMITS = dict(http={"max-body-bytes": 65536, "max-batch": 3},
              events={"max-payload-bytes": 2048, "max-depth": 8})


def nest(levels, leaf=1):
    """{"a": {"a": ... leaf}} with `levels` objects."""
    v = leaf
    for _ in range(levels):
        v = {"a": v}
    return v


# -- unittest base -------------------------------------------------------------

class NodeTestCase(op.KeepLogsOnFailure, unittest.TestCase):
    """Temp dir, nodes (and receivers, redis servers) stopped by pid at the
    end, logs printed and the directory kept when a test fails."""

    maxDiff = None
    LOG_TAIL = 4000

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="onceflow-http-")
        self.t0 = time.monotonic()
        self.nodes = []
        self.counter = 0

    def node_config(self, groups, http=None, events=None, node=None,
                    store=None, redis=None, janitor="200ms", name="n",
                    alerts=None):
        """Writes a config; returns (path, http port, data dir)."""
        self.counter += 1
        http_port = op.free_port()
        data_dir = os.path.join(self.dir, f"data-{name}")
        sections = {
            "node": {"name": q("test-node"), "host": q("127.0.0.1"),
                     "port": op.free_port(), "data-dir": q(data_dir),
                     "shutdown-timeout": "5s", **(node or {})},
            "store": {"backend": q("embedded"), **(store or {})},
        }
        if redis:
            sections["redis"] = redis
        sections["http"] = {"enabled": "true", "host": q("127.0.0.1"),
                            "port": http_port, "threads": 2, **(http or {})}
        if events:
            sections["events"] = events
        sections["janitor"] = {"interval": janitor}
        if alerts:
            sections["alerts"] = alerts
        sections["scheduler"] = {"max-threads": 2}
        for g, opts in groups.items():
            sections[f"groups.{g}"] = opts
        path = os.path.join(self.dir, f"{name}-{self.counter}.ini")
        write_ini(path, sections)
        return path, http_port, data_dir

    def start_node(self, groups, token=None, extra=(), name="n",
                   config=None, **kw):
        if config is None:
            config = self.node_config(groups, name=name, **kw)
        path, http_port, data_dir = config
        n = HttpNode(op.BINARY, path, os.path.join(self.dir, f"node-{name}.log"),
                     http_port, data_dir, token=token, extra=extra)
        self.nodes.append(n)
        self.addCleanup(n.close)
        n.wait_up()
        n.config_tuple = config
        return n

    # assertions
    def assertError(self, r, status, field=None, fields=None):
        """An error response: status, JSON body with a non-empty `error`
        and, when given, the exact `field` (or one of `fields`)."""
        self.assertEqual(r.status, status, r)
        self.assertIsInstance(r.json, dict, f"error body is not JSON: {r!r}")
        self.assertIsInstance(r.json.get("error"), str, r)
        self.assertTrue(r.json["error"], r)
        if field is not None:
            self.assertEqual(r.json.get("field"), field, r)
        if fields is not None:
            self.assertIn(r.json.get("field"), fields, r)

    def assertRetryAfter(self, r, status):
        self.assertEqual(r.status, status, r)
        ra = r.header("Retry-After")
        self.assertIsNotNone(ra, f"no Retry-After header: {r!r}")
        self.assertRegex(ra.strip(), r"^\d+$", r)
        self.assertGreaterEqual(int(ra), 1, r)
        self.assertIsInstance(r.json, dict, r)
        self.assertIsInstance(r.json.get("error"), str, r)
        self.assertEqual(r.json.get("retryAfter"), int(ra), r)

