"""The dashboard (GET /ui, issue 17) in a real browser: Debian's Chromium,
headless, driven by selenium through Debian's chromedriver (nothing is
downloaded). A real node with API keys runs events, some failing into the
DLQ; the test checks each page against the API: the overview's totals
against /metrics, a chart that updates, a dead letter's history, a replay
from the page (checked through the API), pause and resume, an event's
trace with its attempts in order, the cluster view; a read key sees no
admin buttons and a forged admin call from the page is refused. The
browser's console must stay free of errors. Screenshots of every page go
to <build>/screenshots/ (docs/images/ keeps current ones), with the
render times of the pages in render-ms.json."""

import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import http_client as hc  # noqa: E402
import onceflow_proc as op  # noqa: E402
from http_client import q, qlist  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

KEYS = '["ops:a-secret:admin", "ro:r-secret:read"]'
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def browser(profile):
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--window-size=1280,900",
              f"--user-data-dir={profile}"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER),
                            options=o)


class DashboardTest(hc.NodeTestCase):
    def setUp(self):
        super().setUp()
        os.environ["SE_OFFLINE"] = "true"  # never let selenium download
        self.shots = os.path.join(os.path.dirname(op.BINARY), "screenshots")
        os.makedirs(self.shots, exist_ok=True)
        self.render_ms = {}
        profile = tempfile.mkdtemp(prefix="onceflow-chromium-")
        self.addCleanup(shutil.rmtree, profile, ignore_errors=True)
        self.driver = browser(profile)
        self.addCleanup(self.driver.quit)

    # -- helpers ---------------------------------------------------------------

    def wait(self, cond, what, timeout=15):
        # An element can go between finding and reading it (a page that
        # redraws or reloads): that is "not yet", not a failure.
        def safe():
            try:
                return cond()
            except WebDriverException:
                return False
        return op.wait_until(safe, timeout, what, interval=0.1)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text_of(self, css):
        # In the page itself: the overview redraws every second, so an
        # element found a moment ago may be gone.
        return self.driver.execute_script(
            "const e = document.querySelector(arguments[0]);"
            "return e ? e.innerText : null", css)

    def attrs(self, css, name):
        return self.driver.execute_script(
            "return [...document.querySelectorAll(arguments[0])]"
            ".map(e => e.getAttribute(arguments[1]))", css, name)

    def go(self, hash_):
        self.driver.execute_script(
            "document.body.dataset.page = ''; location.hash = arguments[0]",
            hash_)
        self.wait_page(hash_.lstrip("#/").split("/")[0].split("?")[0])

    def wait_page(self, page):
        self.wait(lambda: self.driver.execute_script(
            "return document.body.dataset.page") == page,
            f"page {page} to render")

    def shot(self, name):
        self.driver.save_screenshot(os.path.join(self.shots,
                                                 f"dashboard-{name}.png"))
        ms = self.driver.execute_script("return document.body.dataset.renderMs")
        self.render_ms[name] = int(ms) if ms else None

    def enter_key(self, key):
        self.wait(lambda: self.find("#keybox").is_displayed(),
                  "the key prompt")
        self.find("#keyinput").send_keys(key)
        self.find("#keysubmit").click()
        self.wait(lambda: not self.find("#keybox").is_displayed(),
                  "the key to be taken")

    def console_errors(self):
        return [e for e in self.driver.get_log("browser")
                if e.get("level") == "SEVERE"]

    def message(self):
        return self.text_of("#message") or ""

    # -- the test --------------------------------------------------------------

    def test_every_page_against_the_api(self):
        sim = {"handler": q("simulate"), "subscriptions": qlist(["order.*"]),
               "retry-base": "100ms", "jitter": "false", "max-attempts": 3}
        audit = {"handler": q("simulate"), "subscriptions": qlist(["*"])}
        n = self.start_node({"orders": sim, "audit": audit},
                            token="a-secret", http={"api-keys": KEYS})
        ok = [f"ok-{i}" for i in range(30)]
        for i in ok:
            self.assertEqual(n.publish({"id": i, "type": "order.paid",
                                        "payload": {"n": 1}}).status, 202)
        dead = [f"bad-{i}" for i in range(4)]
        for i in dead:
            self.assertEqual(n.publish({
                "id": i, "type": "order.bad",
                "payload": {"simulate": {"permanent": True}}}).status, 202)
        self.assertEqual(n.publish({
            "id": "flaky-1", "type": "order.paid",
            "payload": {"simulate": {"fail_attempts": 1}}}).status, 202)
        n.wait_all_processed(ok + ["flaky-1"])
        for i in dead:
            n.wait_status(i, "dead")

        # The overview: the totals are those of /metrics.
        d = self.driver
        d.get(f"http://127.0.0.1:{n.port}/ui")
        self.enter_key("a-secret")
        self.wait(lambda: self.text_of("#total-accepted") is not None,
                  "the overview's totals")

        def matches():
            m = n.metrics()
            want = {
                "accepted": m.total("onceflow_events_accepted_total"),
                "processed": m.total("onceflow_events_processed_total"),
                "retried": m.total("onceflow_events_retried_total"),
                "dead": m.total("onceflow_events_dead_total"),
            }
            got = {k: self.text_of(f"#total-{k}") for k in want}
            matches.last = (got, want)
            return all(got[k] == str(int(v)) for k, v in want.items())
        self.wait(lambda: matches(), "the totals to match /metrics")
        got, want = matches.last
        self.assertEqual(int(got["accepted"]), 35)
        self.assertEqual(int(got["dead"]), 8)  # 4 events x 2 groups
        self.assertGreaterEqual(int(got["retried"]), 1)
        self.assertEqual(sorted(self.attrs("#backlog tr[data-group]",
                                           "data-group")),
                         ["audit", "orders"])
        # The chart takes a sample a second, and new events show up live.
        before = int(self.find("#chart-rates").get_attribute("data-samples"))
        for i in range(5):
            n.publish({"id": f"live-{i}", "type": "order.paid"})
        self.wait(lambda: int(self.find("#chart-rates")
                              .get_attribute("data-samples")) >= before + 2
                  and self.text_of("#total-accepted") == "40",
                  "the chart and the totals to update")
        self.assertGreater(len(self.finds("#chart-rates path")), 0)
        self.shot("overview")
        # On a phone's screen the page is one column: nothing wider than
        # the screen but the tables, which scroll inside their boxes.
        d.set_window_size(390, 844)
        self.wait(lambda: d.execute_script(
            "return document.documentElement.scrollWidth"
            " <= window.innerWidth"), "the overview to fit a phone")
        self.shot("overview-phone")
        d.set_window_size(1280, 900)

        # Groups: pause and resume from the page, checked through the API.
        self.go("#/groups")
        self.assertEqual(self.text_of("tr[data-group='orders'] td.dlq"), "4")
        self.shot("groups")
        self.find("#pause-orders").click()
        self.wait(lambda: "paused" in self.message(), "the pause to be said")

        def paused():
            gs = n.get("/groups").json["groups"]
            return next(g for g in gs if g["name"] == "orders")["paused"]
        self.assertTrue(paused())
        self.wait(lambda: self.finds("#resume-orders"), "a resume button")
        self.find("#resume-orders").click()
        self.wait(lambda: "resumed" in self.message(), "the resume")
        self.assertFalse(paused())

        # Dead letters: the list, an entry's history, a replay.
        self.go("#/dlq")
        rows = self.finds("#dlq tr[data-event]")
        api_dlq = n.get("/failed-events?limit=100").json["events"]
        self.assertEqual(len(rows), len(api_dlq))
        self.assertEqual(len(rows), 8)
        self.shot("dlq")
        self.find("#dlq tr[data-event='bad-0']").click()
        self.wait(lambda: self.finds(".entry[data-group='orders'] "
                                     "table.attempts tr td"),
                  "bad-0's attempts")
        attempts = self.finds(".entry[data-group='orders'] table.attempts tr")
        self.assertEqual(len(attempts), 2)  # header + one attempt
        self.assertIn("permanent", attempts[1].text)
        self.shot("dead-letter")
        dead_before = n.metrics().total("onceflow_events_dead_total",
                                        group="orders")
        self.find("#replay-orders").click()
        self.wait(lambda: "Replayed bad-0" in self.message(),
                  "the replay to be said")

        # The replay ran it again: it fails for good once more (simulated)
        # and is back in the DLQ with both attempts in its history.
        def replayed():
            r = n.get("/failed-events/bad-0")
            if r.status != 200:
                return False
            e = [x for x in r.json["entries"] if x["group"] == "orders"]
            return len(e) == 1 and len(e[0]["attempts"]) == 2
        self.wait(replayed, "bad-0 (orders) replayed and dead again")
        self.assertEqual(n.metrics().total("onceflow_events_dead_total",
                                           group="orders"), dead_before + 1)

        # Replay all of one group at a rate, with its progress shown, then
        # purge that group (after the confirmation).
        self.go("#/dlq?group=audit")
        self.assertEqual(set(self.attrs("#dlq tr[data-event]", "data-event")),
                         set(dead))
        total_before = n.metrics().total("onceflow_events_dead_total",
                                         group="audit")
        d.execute_script("document.getElementById('replay-rate').value = 50")
        self.find("#replay-all").click()
        self.wait(lambda: "Replaying 4 dead letters at 50/s" in self.message(),
                  "the replay of all to be said")
        self.wait(lambda: (self.text_of("#replay-status") or "")
                  .startswith("replayed: 4 of 4"), "the replay's progress")
        progress = n.get("/failed-events/replay").json
        self.assertEqual((progress["total"], progress["replayed"],
                          progress["group"]), (4, 4, "audit"), progress)
        self.wait(lambda: n.metrics().total("onceflow_events_dead_total",
                                            group="audit")
                  == total_before + 4, "the replayed events to die again")
        self.go("#/dlq?group=orders")
        self.go("#/dlq?group=audit")
        self.find("#purge").click()
        self.assertIn("the dead letters of audit",
                      self.text_of("#purge-confirm"))
        self.assertEqual(len(n.get("/failed-events?group=audit")
                             .json["events"]), 4)  # nothing yet
        self.find("#purge-yes").click()
        self.wait(lambda: "Purged 4 dead letters" in self.message(),
                  "the purge to be said")
        self.assertEqual(n.get("/failed-events?group=audit").json["events"],
                         [])
        self.assertEqual(len(n.get("/failed-events?group=orders")
                             .json["events"]), 4)

        # An event's trace: its attempts in order.
        self.go("#/events/flaky-1")
        self.wait(lambda: self.finds("#trace .group[data-group='orders'] "
                                     "li.attempt"), "flaky-1's trace")
        lis = self.finds("#trace .group[data-group='orders'] li.attempt")
        self.assertEqual([li.get_attribute("data-attempt") for li in lis],
                         ["1", "2"])
        self.assertIn("retryable", lis[0].text)
        self.assertIn("success", lis[1].text)
        self.assertIn("accepted on node test-node", self.find("#trace").text)
        self.shot("event")
        # A dead event's trace shows the DLQ's verdict.
        self.go("#/events/bad-1")
        self.wait(lambda: self.finds("#trace .dlq-verdict"), "bad-1's verdict")
        self.assertIn("permanent_error",
                      self.text_of("#trace .group[data-group='orders'] "
                                   ".dlq-verdict"))
        # Browsing by status.
        self.go("#/events?status=dead")
        self.assertGreater(len(self.finds("#event-list tr[data-event]")), 0)

        # The cluster view of a single node.
        self.go("#/cluster")
        self.assertIn("up", self.text_of("#nodes tr[data-node='test-node']"))
        self.assertGreater(len(self.finds("#actors tr[data-kind='listener']")),
                           0)
        self.shot("cluster")

        # A read key: no admin buttons, and the server refuses an admin call
        # made from the page anyway.
        d.execute_script("sessionStorage.clear(); location.reload()")
        self.enter_key("r-secret")
        self.wait_page("cluster")
        self.go("#/dlq")
        self.assertIn("ro", self.text_of("#who"))
        self.assertEqual(self.finds(".admin-action"), [])
        self.find("#dlq tr[data-event]").click()
        self.wait(lambda: self.finds(".entry"), "an entry")
        self.assertEqual(self.finds(".admin-action"), [])
        self.go("#/groups")
        self.assertEqual(self.finds("#pause-orders"), [])
        status = d.execute_async_script("""
            const done = arguments[arguments.length - 1];
            fetch('/groups/orders/pause', {method: 'POST', headers: {
              Authorization: 'Bearer ' + sessionStorage.getItem('onceflow.key')
            }}).then(r => done(r.status), e => done(String(e)));""")
        self.assertEqual(status, 403)
        self.assertFalse(paused())

        errors = self.console_errors()
        # The forged call's 403 is logged by Chromium as a failed resource.
        errors = [e for e in errors if "/groups/orders/pause" not in
                  e.get("message", "")]
        self.assertEqual(errors, [], "errors in the browser's console")
        with open(os.path.join(self.shots, "render-ms.json"), "w") as f:
            json.dump(self.render_ms, f, indent=1)
        sys.stderr.write(f"\n    render ms: {self.render_ms}\n")


if __name__ == "__main__":
    op.main()
