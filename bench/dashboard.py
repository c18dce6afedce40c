#!/usr/bin/env python3
"""How long each page of the dashboard (issue 17) takes to show in a real
browser with a full store: one node (embedded store on a file) with
EVENTS events accepted and processed and DEAD of them dead-lettered
(the `simulate` handler, permanent failures), then Debian's Chromium
(headless, selenium) opens every page RUNS times; a page's time is what
the page itself measures (`document.body.dataset.renderMs`: from the route
change to its content in the DOM, its API calls included). Medians go to
docs/benchmarks.md ("Dashboard"). Run by hand, never as a test.

  bench/dashboard.py [--events 100000] [--dead 10000] [--runs 5]

ONCEFLOW_BINARY picks the binary (default build-release/onceflow).
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("ONCEFLOW_BINARY",
                        os.path.join(ROOT, "build-release", "onceflow"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}",
                                timeout=30) as r:
        return json.loads(r.read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--dead", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="onceflow-bench-dashboard-")
    http = free_port()
    cfg = os.path.join(d, "node.ini")
    with open(cfg, "w") as f:
        f.write(f"""
[node]
name="bench"
port={free_port()}
data-dir="{d}/data"
[scheduler]
max-threads=2
[http]
port={http}
[groups.orders]
handler="simulate"
subscriptions=["order.*"]
max-attempts=1
""")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ONCEFLOW_")}
    node = subprocess.Popen([BINARY, "node", "--config", cfg],
                            stdout=open(os.path.join(d, "node.log"), "w"),
                            stderr=subprocess.STDOUT, env=env)
    try:
        for _ in range(100):
            try:
                get(http, "/health")
                break
            except OSError:
                time.sleep(0.1)
        events = os.path.join(d, "events.jsonl")
        step = max(1, args.events // max(1, args.dead))
        with open(events, "w") as f:
            for i in range(args.events):
                p = {"n": i}
                if args.dead and i % step == 0 and i // step < args.dead:
                    p["simulate"] = {"permanent": True}
                f.write(json.dumps({"id": f"e-{i}", "type": "order.paid",
                                    "payload": p}) + "\n")
        t0 = time.monotonic()
        subprocess.run([BINARY, "publish", "--config", cfg, "--file", events],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        while True:
            g = get(http, "/groups")["groups"][0]
            if g["depth"] == 0:
                break
            time.sleep(0.5)
        print(f"{args.events} events, {g['failed']} dead, settled in "
              f"{time.monotonic() - t0:.1f} s", file=sys.stderr)
        o = webdriver.ChromeOptions()
        o.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  f"--user-data-dir={d}/profile"):
            o.add_argument(a)
        os.environ["SE_OFFLINE"] = "true"
        drv = webdriver.Chrome(
            service=Service(executable_path="/usr/bin/chromedriver"),
            options=o)
        pages = ["#/overview", "#/groups", "#/dlq", "#/dlq/e-0",
                 "#/events/e-1", "#/events?status=dead", "#/cluster"]
        times = {p: [] for p in pages}
        try:
            drv.get(f"http://127.0.0.1:{http}/ui")
            for _ in range(args.runs):
                for p in pages:
                    drv.execute_script("document.body.dataset.page = '';"
                                       "location.hash = arguments[0]", p)
                    t = time.monotonic()
                    while not drv.execute_script(
                            "return document.body.dataset.page"):
                        if time.monotonic() - t > 30:
                            raise RuntimeError(f"{p} did not render")
                        time.sleep(0.01)
                    times[p].append(int(drv.execute_script(
                        "return document.body.dataset.renderMs")))
        finally:
            drv.quit()
        print("| page | median ms | runs |")
        print("|---|---|---|")
        for p, xs in times.items():
            print(f"| `{p}` | {statistics.median(xs)} | "
                  f"{', '.join(map(str, xs))} |")
    finally:
        node.terminate()
        node.wait(30)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
