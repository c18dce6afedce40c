"""Helpers to run real onceflow processes in tests: free ports, config
files, start/stop by pid, polling with deadlines (never fixed sleeps), and
main(), which every test file under tests/integration/ runs with
--binary BUILD/onceflow [--config-dir config] [unittest args]."""

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import socket
import subprocess
import sys
import time
import unittest

# Set by main() from the command line.
BINARY = None
CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                          "..", "config")


def main():
    """Runs the tests of the __main__ module (the test file) with --binary
    and --config-dir; other arguments go to unittest (e.g. -k overload)."""
    global BINARY, CONFIG_DIR
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--config-dir", required=False)
    args, rest = ap.parse_known_args()
    BINARY = os.path.abspath(args.binary)
    if args.config_dir:
        CONFIG_DIR = os.path.abspath(args.config_dir)
    unittest.main(module="__main__", argv=[sys.argv[0], "-v", *rest])


def count_effects(db_path):
    """Effects as the store handler recorded them: (group, event) -> rows."""
    con = sqlite3.connect(db_path, timeout=10)
    try:
        rows = con.execute(
            "SELECT grp, event_id, COUNT(*) FROM processed "
            "GROUP BY grp, event_id").fetchall()
    finally:
        con.close()
    return {(g, e): n for g, e, n in rows}


_handed_out = set()


def free_port():
    """A loopback port free now, below Linux's ephemeral range (32768 and
    up by default): a port bind(0) picks lies in that range, where an
    outgoing connection (a node's to Redis, say) may take it before the
    process it was meant for binds it."""
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(20000, 32768)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port in 20000-32767")


def wait_for(pred, timeout, what):
    """wait_until polling every 50 ms, without a progress report."""
    wait_until(pred, timeout, what, interval=0.05)


def wait_until(pred, timeout, what, progress=None, interval=0.1):
    """Polls pred() every `interval` s until it holds and returns the
    seconds it waited; on a timeout the failure message tells how far it
    got (`progress()` returns a short text)."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        if pred():
            return time.monotonic() - start
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    extra = f" (last state: {progress()})" if progress is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                         f"{extra}")


def write_ini(path, sections):
    """sections: {section: {option: raw INI value text}} (in order)."""
    lines = []
    for name, opts in sections.items():
        lines.append(f"[{name}]")
        for k, v in opts.items():
            lines.append(f"{k}={v}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_config(path, port, data_dir, groups, sections=None):
    """groups: {name: {option: raw INI value text}}; sections: more
    sections ({"mongo": {...}})."""
    write_ini(path, {
        "node": {"name": '"test-node"', "host": '"127.0.0.1"', "port": port,
                 "data-dir": f'"{data_dir}"', "shutdown-timeout": "5s"},
        "store": {"backend": '"embedded"', "synchronous": '"normal"'},
        # A free port: nodes run side by side.
        "http": {"port": 0},
        "scheduler": {"max-threads": 2},
        **(sections or {}),
        **{f"groups.{name}": opts for name, opts in groups.items()},
    })


def write_events(path, events):
    """A file for `onceflow publish --file`: one JSON event a line."""
    with open(path, "w") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")
    return path


def node_env(env=None):
    """The environment of an `onceflow` process the test starts: the
    test's own, without ONCEFLOW_* variables (a node takes each as an
    option and refuses unknown ones, and the test knobs such as
    ONCEFLOW_TIME_SCALE are the test's), plus `env`."""
    out = {k: v for k, v in os.environ.items()
           if not k.startswith("ONCEFLOW_")}
    out.update(env or {})
    return out


class Node:
    def __init__(self, binary, config, log_path, extra=(), env=None):
        self.binary = binary
        self.config = config
        self.env = env
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [binary, "node", "--config", config, *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env=node_env(env))

    def alive(self):
        return self.proc.poll() is None

    def wait_ready(self, timeout=20):
        def ready():
            if not self.alive():
                raise AssertionError(
                    f"node exited early with {self.proc.returncode}")
            r = run(self.binary, "status", "--config", self.config,
                    env=self.env)
            return r.returncode == 0
        wait_for(ready, timeout, "node to answer status")

    def kill9(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def freeze(self, timeout=10):
        """SIGSTOP, and waits until every thread of the process has stopped
        (kill returns before the threads do: one may still finish a system
        call, a write to a server say)."""
        if not self.alive():
            raise AssertionError(
                f"node exited before it could be stopped, with "
                f"{self.proc.returncode}")
        os.kill(self.proc.pid, signal.SIGSTOP)
        wait_for(lambda: all_threads_stopped(self.proc.pid), timeout,
                 "every thread of the node to stop")

    def terminate(self, timeout=30):
        os.kill(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(timeout)

    def close(self):
        """At the end of a test: SIGKILL if still running, log closed."""
        self.kill9()
        self.log.close()


def run(binary, *args, timeout=120, env=None):
    """Runs `onceflow` (in the environment of node_env(env))."""
    return subprocess.run([binary, *args], capture_output=True, text=True,
                          timeout=timeout, env=node_env(env))


# -- Redis: a real redis-server per test, inspected with redis-cli -----------

def write_redis_config(path, name, port, url, prefix, groups, data_dir,
                       janitor="200ms", shutdown_timeout="5s", store=None,
                       http_port=0, sections=None):
    """A node config on the Redis store. groups: {name: {option: raw INI
    value text}}; store: more [store] options (retention, ...); http_port 0:
    a free port, nodes run side by side; sections: more sections
    ({"mongo": {...}})."""
    write_ini(path, {
        "node": {"name": f'"{name}"', "host": '"127.0.0.1"', "port": port,
                 "data-dir": f'"{data_dir}"',
                 "shutdown-timeout": shutdown_timeout},
        "store": {"backend": '"redis"', **(store or {})},
        "redis": {"url": f'"{url}"', "prefix": f'"{prefix}"'},
        "janitor": {"interval": janitor},
        "http": {"port": http_port},
        "scheduler": {"max-threads": 2},
        **(sections or {}),
        **{f"groups.{g}": opts for g, opts in groups.items()},
    })


def node_status(binary, config, timeout=30):
    """`onceflow status` as a dict (numbers as int, strings unquoted), or
    None when the node does not answer."""
    try:
        r = run(binary, "status", "--config", config, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0:
        return None
    out = {}
    for line in r.stdout.splitlines():
        key, sep, value = line.partition(" = ")
        if not sep:
            continue
        value = value.strip()
        if value.lstrip("-").isdigit():
            out[key.strip()] = int(value)
        else:
            out[key.strip()] = value.strip('"')
    return out


def all_threads_stopped(pid):
    """True if every thread of process `pid` is stopped (state T)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                # "tid (comm) state ...": comm may hold spaces.
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            continue  # the thread ended
        if state not in ("T", "t"):
            return False
    return True


def tail(path, max_chars=6000):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return f"<cannot read {path}: {e}>"
    return data[-max_chars:].decode("utf-8", "replace")


class KeepLogsOnFailure:
    """Mixin for unittest.TestCase with `self.dir` (a temp directory) and
    `self.t0`: prints the test's duration; on failure prints the tail of
    every *.log in the directory and keeps it, else removes it."""
    LOG_TAIL = 6000

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            failed = len(result.failures) + len(result.errors) > before
            self._finish(failed)

    def _finish(self, failed):
        if not hasattr(self, "dir"):
            return
        sys.stderr.write(f"    [{self._testMethodName}: "
                         f"{time.monotonic() - self.t0:.1f}s]\n")
        if failed:
            for f in sorted(os.listdir(self.dir)):
                if f.endswith(".log"):
                    sys.stderr.write(f"\n--- {f} (tail) ---\n"
                                     + tail(os.path.join(self.dir, f),
                                            self.LOG_TAIL))
            sys.stderr.write(f"\n--- logs and data kept in {self.dir} ---\n")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """A redis-server started by the test: own port and directory, stopped
    by pid (SIGTERM: clean, SIGKILL: crash) and restartable on the same
    directory and port (AOF files, if any, are read again)."""

    def __init__(self, data_dir, log_path, port=None, appendonly=True,
                 appendfsync=None, password=None, binary="redis-server"):
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = port or free_port()
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.password = password
        self.binary = binary
        self.proc = None
        self.log = None
        os.makedirs(data_dir, exist_ok=True)

    def url(self, password=None, db=0):
        pw = self.password if password is None else password
        auth = f":{pw}@" if pw else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"

    def argv(self):
        a = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.data_dir, "--save", "",
             "--appendonly", "yes" if self.appendonly else "no"]
        if self.appendfsync:
            a += ["--appendfsync", self.appendfsync]
        if self.password:
            a += ["--requirepass", self.password]
        a += ["--daemonize", "no"]
        return a

    def start(self, timeout=20):
        if self.log is None:
            self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=self.log,
                                     stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"redis-server exited with {self.proc.returncode}; log:\n"
                    + tail(self.log_path, 2000))
            return self.ping()
        wait_for(up, timeout, f"redis-server on port {self.port} to answer "
                              "PING")
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def ping(self):
        try:
            r = self.cli("PING", check=False, timeout=5)
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0 and r.stdout.strip() == "PONG"

    def cli(self, *args, check=True, timeout=60):
        """redis-cli --raw ARGS; with check, an error reply raises."""
        cmd = ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port)]
        if self.password:
            cmd += ["-a", self.password, "--no-auth-warning"]
        cmd += ["--raw", *[str(a) for a in args]]
        r = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=timeout)
        if check and (r.returncode != 0 or r.stdout.startswith(
                ("ERR", "WRONGTYPE", "NOAUTH", "WRONGPASS", "NOSCRIPT"))):
            raise AssertionError(f"redis-cli {' '.join(map(str, args))} "
                                 f"failed: {r.stdout}{r.stderr}")
        return r

    def eval_json(self, script, keys=(), args=()):
        """Runs a read-only Lua script (EVAL_RO, so it also works while
        writes are paused) that returns cjson.encode(...); returns the
        decoded value."""
        r = self.cli("EVAL_RO", script, len(keys), *keys, *args)
        text = r.stdout.rstrip("\n")
        return json.loads(text) if text else None

    def stop(self, timeout=30):
        """SIGTERM (a clean shutdown); returns the exit code."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        os.kill(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill9(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def restart(self, timeout=30):
        """Starts again on the same directory and port."""
        assert not self.alive(), "stop or kill the server first"
        return self.start(timeout)

    def close(self):
        self.kill9()
        if self.log is not None:
            self.log.close()
            self.log = None
