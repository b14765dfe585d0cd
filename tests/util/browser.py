"""Headless Chromium driven over its DevTools protocol, for the dashboard's browser test and its
render benchmark (tests/integration/dashboard_browser_test.py, bench/dashboard_render.py).

    browser = Browser()
    browser.open("http://127.0.0.1:7071/#/sweeps/1")   # waits for body[data-ready="1"]
    rows = browser.count("#trial-table tr.trial-row")
    browser.close()
"""
import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import websocket  # websocket-client, installed by scripts/setup

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
