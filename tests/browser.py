"""A real headless browser for tests that look at a page as a person would: Debian's ``chromium``
driven through its DevTools protocol over a pipe (``--remote-debugging-pipe``: JSON messages ended
by a NUL byte, commands on file descriptor 3, answers and events on 4). No port, no WebSocket
library, no browser download: the Python standard library and the distribution's browser.

``find_browser()`` says which browser there is, or why there is none (the tests skip with it).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)


def find_browser() -> tuple[str | None, str]:
    """The browser's path, or None and why not."""
    override = os.environ.get("CHROMIUM")
    for name in (override,) if override else CANDIDATES:
        path = shutil.which(name) if name else None
        if path:
            return path, ""
    return None, (
        "no headless browser: install Debian's chromium (apt-get install chromium) or set CHROMIUM "
        "to a Chromium or Chrome executable; .ci/run installs it"
    )


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless browser process and one page (a target attached in flat mode)."""

    def __init__(self, executable: str, timeout: float = 30.0) -> None:
        self._timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="report-browser-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def descriptors() -> None:  # in the child, before exec: the pipe ends on 3 and 4
            read_end, write_end = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self._process = subprocess.Popen(  # noqa: S603 - the browser the test found
            [executable, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,  # 3 and 4 must reach the browser; Python's own descriptors are not inherited
            preexec_fn=descriptors,  # before exec, in the child: only os.dup and os.dup2
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.command("Page.enable")
        self.command("Runtime.enable")

    # -- protocol --------------------------------------------------------------------------------

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return dict(answer.get("result", {}))
            if "method" in answer:
                self._events.append(answer)

    def command(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the page."""
        return self.send(method, self._session, **params)

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + self._timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or self._process.poll() is not None:
                raise BrowserError("the browser stopped answering")
            if not select.select([self._from_browser], [], [], min(left, 1.0))[0]:
                continue
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise BrowserError("the browser closed its pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return dict(json.loads(raw))

    def _wait_for(self, method: str) -> None:
        while True:
            for i, event in enumerate(self._events):
                if event["method"] == method and event.get("sessionId") == self._session:
                    del self._events[: i + 1]
                    return
            self._events.clear()
            message = self._read()
            if "method" in message:
                self._events.append(message)

    # -- what a test does ------------------------------------------------------------------------

    def open(self, path: Path, width: int, height: int, *, mobile: bool) -> None:
        """Load a file at a screen size; ``mobile`` as a phone's browser lays a page out (it honours
        the page's viewport meta, else lays the page out 980 px wide and zooms it out)."""
        self.command(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=2 if mobile else 1,
            mobile=mobile,
        )
        self._events.clear()
        self.command("Page.navigate", url=path.resolve().as_uri())
        self._wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """A JavaScript expression's value in the page (JSON-like)."""
        result = self.command("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:60]}...: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        import base64

        data = self.command("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(BrowserError):  # it may close its pipe before it answers
            self.send("Browser.close")
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
