"""A small Chrome DevTools Protocol client for the browser tests: headless Chromium on 127.0.0.1, one page at a
time, events collected while waiting for replies (websocket-client, no browser download).

```python
with Chromium(profile_dir) as browser, browser.new_page() as page:
    page.open_offline(Path("report.html").as_uri())
    page.evaluate("document.title"); page.screenshot(Path("shot.png")); page.screenshot(p, first_screen=True)
    page.requests, page.console_errors
```
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import websocket

#: Flags for a quiet, sandboxed-from-the-world headless browser: no background traffic, no QUIC, and every
#: host name resolving to nothing, so even a request that escaped the offline emulation cannot leave.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         "--disable-default-apps", "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars")


def flags(reachable: tuple[str, ...] = ()) -> list[str]:
    """FLAGS, with the hosts in `reachable` excluded from the resolver rule that maps every host to nothing."""
    rule = "--host-resolver-rules=MAP * ~NOTFOUND"
    return [flag if flag != rule else ", ".join([rule, *(f"EXCLUDE {host}" for host in reachable)])
            for flag in FLAGS]


def find_chromium() -> str | None:
    """The Chromium (or Chrome) binary on PATH."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if found := shutil.which(name):
            return found
    return None


class CDPError(RuntimeError):
    """Chromium answered a command with an error, or did not answer in time."""


class CDPSession:
    """One DevTools websocket: `send` waits for the reply; events arriving meanwhile are kept in `events`."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self._next_id = 0

    def close(self) -> None:
        self.ws.close()

    def _receive(self, deadline: float) -> dict[str, Any] | None:
        self.ws.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            message = json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException:
            return None
        if "method" in message:
            self.events.append(message)
        return message

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> dict:
        """Run a CDP command and return its `result`."""
        self._next_id += 1
        self.ws.send(json.dumps({"id": self._next_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            message = self._receive(deadline)
            if message and message.get("id") == self._next_id:
                if "error" in message:
                    raise CDPError(f"{method}: {message['error']}")
                return message.get("result", {})
        raise CDPError(f"{method}: no answer within {timeout or self.timeout}s")

    def wait_for(self, method: str, timeout: float | None = None) -> dict[str, Any]:
        """The first event called `method` (already received or arriving within `timeout`)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for event in self.events:
                if event["method"] == method:
                    return event
            if time.monotonic() >= deadline:
                raise CDPError(f"no {method} event within {timeout or self.timeout}s")
            self._receive(deadline)

    def drain(self, seconds: float) -> None:
        """Collect events for `seconds` (late console errors, late requests)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._receive(deadline)


class Page:
    """A browser tab: network, console and exceptions recorded from the moment it is created."""

    def __init__(self, browser: Chromium, target_id: str, url: str) -> None:
        self.browser, self.target_id = browser, target_id
        self.session = CDPSession(url)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.session.send(f"{domain}.enable")

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()
        self.browser.session.send("Target.closeTarget", {"targetId": self.target_id})

    def open_offline(self, url: str, timeout: float = 60.0) -> None:
        """Cut the network off, then load `url` and wait for its load event."""
        self.session.send("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        self.session.send("Page.navigate", {"url": url}, timeout=timeout)
        self.session.wait_for("Page.loadEventFired", timeout=timeout)

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """The value of a JS expression (promises awaited); a thrown error raises CDPError."""
        result = self.session.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                        "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in result:
            raise CDPError(f"{expression[:80]}...: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float = 30.0) -> Any:
        """Poll a JS expression until it is truthy; returns its value (CDPError on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if value := self.evaluate(expression):
                return value
            self.session.drain(0.2)
        raise CDPError(f"still false after {timeout}s: {expression[:120]}")

    def screenshot(self, path: Path, max_height: int = 12000, first_screen: bool = False) -> Path:
        """A PNG of the whole page (up to `max_height` CSS pixels tall), or of its first screen (the viewport)."""
        metrics = self.session.send("Page.getLayoutMetrics")
        size = metrics["cssLayoutViewport"] if first_screen else metrics["cssContentSize"]
        width = size.get("clientWidth", size.get("width"))
        height = size.get("clientHeight", size.get("height"))
        clip = {"x": 0, "y": 0, "width": width, "height": min(height, max_height), "scale": 1}
        data = self.session.send("Page.captureScreenshot", {"format": "png", "clip": clip,
                                                            "captureBeyondViewport": True}, timeout=60)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    # ---- what happened ------------------------------------------------------------------------------
    @property
    def requests(self) -> list[str]:
        """Every URL the page asked for (Network.requestWillBeSent)."""
        return [e["params"]["request"]["url"] for e in self.session.events
                if e["method"] == "Network.requestWillBeSent"]

    @property
    def console_errors(self) -> list[str]:
        """Console errors/asserts, uncaught exceptions and error log entries (CSP violations included)."""
        errors: list[str] = []
        for event in self.session.events:
            method, params = event["method"], event["params"]
            if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                errors.append("console: " + " ".join(str(a.get("value", a.get("description", "")))
                                                     for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                errors.append("exception: " + details.get("exception", {}).get("description", details["text"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                errors.append(f"log ({entry.get('source')}): {entry['text']} {entry.get('url', '')}".strip())
        return errors


class Chromium:
    """Headless Chromium with DevTools on 127.0.0.1 (a free port read back from DevToolsActivePort)."""

    def __init__(self, profile_dir: Path, binary: str | None = None, start_timeout: float = 60.0,
                 reachable: tuple[str, ...] = ()) -> None:
        """`reachable`: hosts left out of the resolve-to-nothing rule (`("127.0.0.1",)` for a server under test on
        the loopback; the rule catches IP literals too); every other host still resolves to nothing."""
        self.binary = binary or find_chromium()
        self.reachable = reachable
        if not self.binary:
            raise FileNotFoundError("Chromium not found (Debian: apt-get install chromium)")
        self.profile_dir = Path(profile_dir)
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.session: CDPSession

    def __enter__(self) -> Chromium:
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        port_file = self.profile_dir / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [self.binary, *flags(self.reachable), "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile_dir}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout
        while not (port_file.is_file() and len(port_file.read_text().split()) >= 2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise CDPError(f"Chromium did not open its DevTools port (exit code {self.process.returncode})")
            time.sleep(0.1)
        port, path = port_file.read_text().split()[:2]
        self.port = int(port)
        self.session = CDPSession(f"ws://127.0.0.1:{port}{path}")
        return self

    def __exit__(self, *exc: object) -> None:
        if getattr(self, "session", None) is not None:
            with contextlib.suppress(CDPError, OSError, websocket.WebSocketException):
                self.session.send("Browser.close", timeout=5)
            self.session.close()
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def new_page(self, width: int = 1280, height: int = 900, mobile: bool = False) -> Page:
        """A fresh tab (about:blank) with its own DevTools session; `mobile`: a phone's viewport (the page's
        `<meta name=viewport>` applies, as on a phone)."""
        target_id = self.session.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        page = Page(self, target_id, f"ws://127.0.0.1:{self.port}/devtools/page/{target_id}")
        page.session.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                                 "deviceScaleFactor": 1, "mobile": mobile})
        return page
