"""Headless Chromium for tests, driven over the DevTools protocol: open a local page, collect
console errors, exceptions and every network request, read the page's text, screenshot it.

Chromium comes from the system packages (``.ci/run`` installs it). Without it a test that
needs it is skipped, but fails under ``CI=true``, where a missing browser is a broken
machine, not a reason to pass.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
    "--window-size=1280,2000",
)


def chromium_or_skip() -> str:
    """The Chromium binary; a missing one skips the test, or fails it under CI=true."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    message = (
        "headless Chromium is needed to check the HTML report: "
        "apt-get install -y chromium (.ci/run does this)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class PageVisit:
    """What loading a page did."""

    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    text: str = ""
    screenshot: bytes = b""


@contextmanager
def _browser(binary: str) -> Iterator[str]:
    """Start Chromium with a fresh profile; yield the DevTools HTTP endpoint."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    process = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)


class _Session:
    def __init__(self, url: str) -> None:
        import websocket

        self.socket = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for(self, method: str) -> None:
        if any(e.get("method") == method for e in self.events):
            return
        while True:
            message = json.loads(self.socket.recv())
            self.events.append(message)
            if message.get("method") == method:
                return


def visit(page: Path) -> PageVisit:
    """Load ``page`` (a local file) in headless Chromium and report what happened."""
    binary = chromium_or_skip()
    with _browser(binary) as endpoint:
        with urllib.request.urlopen(f"{endpoint}/json/list", timeout=30) as response:
            targets = json.load(response)
        target = next(t for t in targets if t.get("type") == "page")
        session = _Session(target["webSocketDebuggerUrl"])
        try:
            for domain in ("Page", "Runtime", "Log", "Network"):
                session.call(f"{domain}.enable")
            session.call("Page.navigate", url=page.resolve().as_uri())
            session.wait_for("Page.loadEventFired")
            text = session.call("Runtime.evaluate", expression="document.body.innerText")
            shot = session.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        finally:
            session.socket.close()
    result = PageVisit(text=text["result"]["value"], screenshot=base64.b64decode(shot["data"]))
    for event in session.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            result.requests.append(params["request"]["url"])
        elif method == "Runtime.exceptionThrown":
            result.console_errors.append(str(params["exceptionDetails"].get("text")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            result.console_errors.append(str(params.get("args")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            result.console_errors.append(str(params["entry"].get("text")))
    return result
