"""Helpers to run real onceflow processes in tests: free ports, config
files, start/stop by pid, polling with deadlines (never fixed sleeps)."""

import os
import signal
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def write_config(path, port, data_dir, groups):
    """groups: {name: {option: raw INI value text}}"""
    lines = [
        "[node]", 'name="test-node"', 'host="127.0.0.1"', f"port={port}",
        f'data-dir="{data_dir}"', "shutdown-timeout=5s",
        "[store]", 'backend="embedded"', 'synchronous="normal"',
        "[scheduler]", "max-threads=2",
    ]
    for name, opts in groups.items():
        lines.append(f"[groups.{name}]")
        for k, v in opts.items():
            lines.append(f"{k}={v}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


class Node:
    def __init__(self, binary, config, log_path, extra=()):
        self.binary = binary
        self.config = config
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [binary, "node", "--config", config, *extra],
            stdout=self.log, stderr=subprocess.STDOUT)

    def alive(self):
        return self.proc.poll() is None

    def wait_ready(self, timeout=20):
        def ready():
            if not self.alive():
                raise AssertionError(
                    f"node exited early with {self.proc.returncode}")
            r = run(self.binary, "status", "--config", self.config)
            return r.returncode == 0
        wait_for(ready, timeout, "node to answer status")

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout=30):
        os.kill(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(timeout)


def run(binary, *args, timeout=120):
    return subprocess.run([binary, *args], capture_output=True, text=True,
                          timeout=timeout)
