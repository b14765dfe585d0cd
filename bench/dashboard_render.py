#!/usr/bin/env python3
"""How long the dashboard's sweep page takes to render a big sweep in headless Chromium.

Starts build/bin/orchard-bench-dashboard-data (a coordinator holding one finished sweep of T trials
with P points of two metrics each, served over HTTP), opens the sweep page R times in a fresh
page load each and prints, per load, the time from the navigation's start to body[data-ready="1"]
(every trial row, the learning curves, the scatters and the importance chart drawn; the parallel
coordinates follow, timed separately), by the page's own clock (window.ORCHARD_TIMINGS, which also
says where the time went), then the median. The target: under 2 s for 1,000 x 200.

  bench/dashboard_render.py [--trials 1000] [--points 200] [--runs 5]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "util"))
from browser import Browser  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    args = parser.parse_args()

    started = time.time()
    server = subprocess.Popen([os.path.join(args.bin, "orchard-bench-dashboard-data"), "--trials", str(args.trials),
                               "--points", str(args.points)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    found = re.search(r"dashboard: (\S+) sweep: (\d+)", server.stdout.readline())
    if not found:
        sys.exit("orchard-bench-dashboard-data did not start")
    url = f"{found.group(1)}#/sweeps/{found.group(2)}"
    print(f"sweep of {args.trials} trials x {args.points} points x 2 metrics written in {time.time() - started:.1f} s; "
          f"{url}")
    browser = Browser()
    ready, parcoords = [], []
    try:
        for run in range(args.runs):
            browser.open(url)
            browser.wait_for("document.querySelector('#parcoords[data-drawn=\"1\"]') !== null", 120, "parcoords")
            # The page's own clock (from the navigation's start), not this script's polling.
            timings = dict(browser.eval("window.ORCHARD_TIMINGS"))
            ready.append(timings["ready"] / 1000)
            parcoords.append(timings["parcoords"] / 1000)
            rows = browser.count("#trial-table tr.trial-row")
            steps = ", ".join(f"{label} {ms / 1000:.2f}" for label, ms in browser.eval("window.ORCHARD_TIMINGS"))
            print(f"load {run + 1}: ready in {ready[-1]:.2f} s ({rows} trial rows); parallel coordinates at "
                  f"{parcoords[-1]:.2f} s; seconds from navigation: {steps}")
    finally:
        browser.close()
        server.stdin.close()
        server.wait(timeout=60)
    print(f"sweep page of {args.trials} x {args.points}: median ready {statistics.median(ready):.2f} s, "
          f"median with parallel coordinates {statistics.median(parcoords):.2f} s (target: ready under 2 s)")

if __name__ == "__main__":
    main()
