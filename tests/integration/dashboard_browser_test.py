#!/usr/bin/env python3
"""The dashboard in a real browser (headless Chromium) over a real sweep run by a real worker.

`orchard run` trains a short quickstart sweep with its dashboard on a free port. While it runs, the
sweep page is opened in Chromium (driven over its DevTools protocol) and must show the trial table
and the learning curves, and receive live updates (body[data-updates] grows) as the trials report.
Once the sweep has ended, `orchard ui` serves its state directory and the sweeps list, the sweep
page (every chart) and a trial page are checked; with --screenshots DIR the sweep and trial pages
are saved there (docs/dashboard-sweep.png and docs/dashboard-trial.png come from this).

  dashboard_browser_test.py --orchard build/bin/orchard --recipe recipes/quickstart.yaml [--screenshots DIR]
"""
import argparse
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import websocket  # websocket-client, installed by scripts/setup

ARGS = None
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """Headless Chromium with one page, driven over the DevTools protocol."""

    def __init__(self):
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="orchard-chromium-")
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000", "--hide-scrollbars",
             f"--remote-debugging-port={self.port}", "--user-data-dir=" + self.profile, "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=2) as answer:
                    pages = [t for t in json.load(answer) if t["type"] == "page"]
                if pages:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise AssertionError("chromium did not open its DevTools port")
            time.sleep(0.2)
        self.socket = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=60)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message["result"]

    def eval(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"]
        return result.get("value")

    def open(self, url):
        # Through a blank page: a new hash alone would not load the single-page app afresh.
        self.call("Page.navigate", url="about:blank")
        self.wait_for("location.href === 'about:blank'", 10, "about:blank")
        self.call("Page.navigate", url=url)
        self.wait_for("document.body && document.body.dataset.ready === '1'", 60, url)

    def wait_for(self, expression, seconds, what=""):
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                if self.eval(expression):
                    return
            except AssertionError:
                pass  # the page is being replaced
            time.sleep(0.2)
        banner = self.eval("(document.getElementById('banner') || {}).textContent")
        raise AssertionError(f"{what}: not true within {seconds} s: {expression} (banner: {banner})")

    def count(self, selector):
        return self.eval(f"document.querySelectorAll({json.dumps(selector)}).length")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.profile, ignore_errors=True)


def wait_for_line(log, pattern, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        with open(log) as f:
            found = re.search(pattern, f.read())
        if found:
            return found
        time.sleep(0.2)
    with open(log) as f:
        raise AssertionError(f"no line matching {pattern!r} within {seconds} s:\n{f.read()}")


class DashboardBrowserTest(unittest.TestCase):
    def setUp(self):
        if not os.access(CHROMIUM, os.X_OK):
            self.skipTest("chromium not installed (Debian's chromium package; scripts/setup installs it)")
        self.work = tempfile.mkdtemp(prefix="orchard-dashboard-")
        self.browser = Browser()

    def tearDown(self):
        self.browser.close()
        shutil.rmtree(self.work, ignore_errors=True)

    def test_live_sweep_then_finished_pages(self):
        browser = self.browser
        state = os.path.join(self.work, "state")
        log = os.path.join(self.work, "run.log")
        with open(log, "w") as out:
            run = subprocess.Popen(
                [ARGS.orchard, "run", ARGS.recipe, "--state-dir", state, "--cpu-slots", "1",
                 "--set", "sweep.max_trials=4", "--set", "train.steps=12000", "--set", "metrics.log_interval=200",
                 "--set", "train.eval_interval=1000", "--set", "train.threads=1"],
                stdout=out, stderr=subprocess.STDOUT)
        try:
            url = wait_for_line(log, r"dashboard: (http://127\.0\.0\.1:\d+/)", 60).group(1)
            browser.open(url + "#/sweeps/1")
            self.assertEqual(browser.count("#trial-table tr.trial-row"), 4)
            browser.wait_for("document.getElementById('live-indicator').textContent === 'live'", 10, "live")
            # The first points arrive after the page was ready: the curves appear without a reload.
            browser.wait_for("document.querySelector('#curves .main-svg') !== null", 60, "learning curves")
            # Points arrive while the trials train: the page applies them without reloading.
            browser.wait_for("Number(document.body.dataset.updates || 0) >= 2", 60, "live updates")
            self.assertEqual(run.wait(timeout=600), 0, open(log).read())
        finally:
            if run.poll() is None:
                run.kill()

        ui_log = os.path.join(self.work, "ui.log")
        with open(ui_log, "w") as out:
            ui = subprocess.Popen([ARGS.orchard, "ui", "--state-dir", state, "--http", "127.0.0.1:0"],
                                  stdout=out, stderr=subprocess.STDOUT)
        try:
            url = wait_for_line(ui_log, r"at (http://127\.0\.0\.1:\d+/)", 30).group(1)
            browser.open(url + "#/")
            self.assertEqual(browser.count("#sweep-table tr.sweep-row"), 1)
            browser.open(url + "#/sweeps/1")
            self.assertEqual(browser.count("#trial-table tr.trial-row"), 4)
            for chart in ("curves", "scatter", "importance"):
                self.assertGreater(browser.count(f"#{chart} .main-svg"), 0, f"#{chart} was not drawn")
            browser.wait_for("document.querySelector('#parcoords[data-drawn=\"1\"]') !== null", 60, "parallel coordinates")
            if ARGS.screenshots:
                os.makedirs(ARGS.screenshots, exist_ok=True)
                browser.screenshot(os.path.join(ARGS.screenshots, "dashboard-sweep.png"))
            trial_id = browser.eval("document.querySelector('#trial-table tr.trial-row').dataset.trialId")
            browser.open(url + "#/trials/" + trial_id)
            self.assertGreater(browser.count("#trial-curves .main-svg"), 0)
            self.assertGreater(browser.count("#attempts tr"), 1)
            text = browser.eval("document.body.textContent")
            self.assertIn("step-12000", text)  # its last checkpoint
            self.assertIn("cpu time", text)  # the worker measured its trainer
            self.assertIn("peak memory", text)
            if ARGS.screenshots:
                browser.screenshot(os.path.join(ARGS.screenshots, "dashboard-trial.png"))
        finally:
            ui.terminate()
            ui.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--orchard", required=True)
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--screenshots")
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
