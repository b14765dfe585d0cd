#!/usr/bin/env python3
"""The dashboard in a real browser (headless Chromium) over a real sweep run by a real worker.

`orchard run` trains a short quickstart sweep with its dashboard on a free port. While it runs, the
sweep page is opened in Chromium (driven over its DevTools protocol) and must show the trial table
and the learning curves, and receive live updates (body[data-updates] grows) as the trials report.
Once the sweep has ended, `orchard ui` serves its state directory and the sweeps list, the sweep
page (every chart) and a trial page are checked, then the sweep's report file; with --screenshots
DIR the sweep and trial pages are saved there (docs/dashboard-sweep.png and docs/dashboard-trial.png come from this).

  dashboard_browser_test.py --orchard build/bin/orchard --recipe recipes/quickstart.yaml [--screenshots DIR]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "util"))
from browser import CHROMIUM, Browser  # noqa: E402

ARGS = None


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
            # What its attempt trained from (docs/lineage.md): the recipe's hash and the build's commit.
            self.assertEqual(browser.count("#provenance tr"), 5)  # recipe, data, code, environment, parameters
            self.assertIn("Provenance of attempt 1", text)
            self.assertIn("LibTorch ", text)
            if ARGS.screenshots:
                browser.screenshot(os.path.join(ARGS.screenshots, "dashboard-trial.png"))
        finally:
            ui.terminate()
            ui.wait(timeout=30)

        # The shareable report: one file, opened with nothing serving it.
        report = os.path.join(self.work, "sweep.html")
        subprocess.run([ARGS.orchard, "report", "1", "-o", report, "--state-dir", state], check=True)
        browser.open("file://" + report)
        self.assertEqual(browser.eval("document.getElementById('live-indicator').textContent"), "report")
        self.assertEqual(browser.count("#trial-table tr.trial-row"), 4)
        for chart in ("curves", "scatter", "importance"):
            self.assertGreater(browser.count(f"#{chart} .main-svg"), 0, f"#{chart} was not drawn in the report")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--orchard", required=True)
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--screenshots")
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
