"""report.pdf: report.html printed by a headless Chromium, bounded in time (the runner's side, after report.html).

Rules:
- **the browser** is the run's one Chromium (runner/shared.py `find_browser`, the PNGs' browser), started for
  this page alone: headless, --no-sandbox (it works as root in a container), no GPU, no background traffic, every
  host name resolving to nothing, a fresh profile folder removed afterwards;
- **driven over the DevTools protocol on a pipe** (`--remote-debugging-pipe`: Chromium reads commands on its fd 3
  and writes on its fd 4, JSON messages ending in a NUL byte): no port is opened, no other process can connect,
  and `Page.printToPDF` can print the footer (plain `--print-to-pdf` cannot);
- **offline**: besides the page's Content-Security-Policy (runner/page.py), every request the page makes other
  than its own file is failed before it leaves (the Fetch domain); what was refused is kept (`PrintedPdf.blocked`);
- **charts drawn first**: plotly.js draws the charts in the page; the page is laid out for print (print media,
  a window as wide as the paper's printable width, so plotly draws each chart at the width it is printed at) and
  printed once every `.plotly-graph-div` holds its SVG: the charts stay vector in the PDF;
- **paper**: A4 or Letter, margins `MARGIN_MM`; the print style (rows never cut, table headers repeated on every
  page, wide tables fitted to the page) is page.py's `@media print` block, which is also what the browser's own
  "Print" uses;
- **footer**: the report's title, the run id and "Page N of M" on every page;
- **bounded**: `timeout` seconds for everything, Chromium's start-up included; past it, or when Chromium fails,
  `PdfError` (`PdfTimeout`) says what happened, which the runner turns into a warning. Chromium is always
  stopped: asked to close, then its whole process group killed.

    write_pdf(run_dir / "report.html", run_dir / "report.pdf", paper="A4", run_id=run_id, title=title)
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from goreliable_lib.runner.files import atomic_write_bytes
from goreliable_lib.runner.scrub import scrub_text
from goreliable_lib.runner.shared import PDF_FILE, find_browser

__all__ = ["PDF_FILE", "PDF_TIMEOUT_SECONDS", "Paper", "PdfError", "PdfTimeout", "PrintedPdf", "write_pdf"]
#: The longest a PDF may take, Chromium's start-up included (a report prints in 2 to 5 s once Chromium runs).
PDF_TIMEOUT_SECONDS = 120.0
Paper = Literal["A4", "Letter"]
#: Paper sizes in inches (width, height), as Page.printToPDF takes them: A4 210 x 297 mm, US Letter 8.5 x 11 in.
PAPER_INCHES: dict[str, tuple[float, float]] = {"A4": (210 / 25.4, 297 / 25.4), "Letter": (8.5, 11.0)}
#: Page margins in millimetres; the bottom one holds the footer.
MARGIN_MM = {"top": 12.0, "bottom": 16.0, "left": 12.0, "right": 12.0}
CSS_PX_PER_INCH = 96
#: Chromium, quiet and cut off from the network (as tests/browser.py runs it, plus the DevTools pipe).
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
                  "--disable-default-apps", "--disable-extensions", "--disable-quic", "--disable-dev-shm-usage",
                  "--mute-audio", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND",
                  "--remote-debugging-pipe")
#: Start Chromium with our pipes as its fds 3 (commands in) and 4 (replies out), its stdin/stdout emptied.
_WITH_PIPE_FDS = 'exec "$@" 3<&0 4>&1 0</dev/null 1>/dev/null'
#: Resolves with the number of charts once every chart of the page holds its SVG (two frames later: painted).
_CHARTS_DRAWN = """new Promise(resolve => {
  const charts = () => Array.from(document.querySelectorAll('.plotly-graph-div'));
  const drawn = () => charts().every(div => div.querySelector('svg.main-svg') && div._fullLayout);
  const check = () => drawn()
    ? requestAnimationFrame(() => requestAnimationFrame(() => resolve(charts().length)))
    : setTimeout(check, 50);
  check();
})"""
#: How long Chromium gets to close by itself before its process group is killed.
CLOSE_GRACE_SECONDS = 3.0
#: The last lines of Chromium's own log quoted in an error.
LOG_LINES_QUOTED = 5


class PdfError(RuntimeError):
    """No report.pdf: no browser, Chromium failed, or the page could not be printed (the runner warns)."""


class PdfTimeout(PdfError, TimeoutError):
    """Chromium did not print the page within the time allowed (it was killed)."""


@dataclass(frozen=True)
class PrintedPdf:
    """What printing a page gave: the file, its paper, the charts drawn, the requests refused, the time taken."""

    path: Path
    paper: str
    charts: int
    seconds: float
    blocked: tuple[str, ...] = field(default=())


def footer_template(title: str, run_id: str) -> str:
    """The footer of every page: the title, the run id, "Page N of M" (Chromium fills `pageNumber`/`totalPages`).

    The template is HTML: the title and run id are escaped, and the title masked like the page's own."""
    label = html.escape(scrub_text(title)) if title else ""
    return ('<div style="font-size:8px;font-family:sans-serif;color:#555;width:100%;margin:0 12mm;'
            'display:flex;justify-content:space-between;gap:12px">'
            f'<span style="overflow:hidden;white-space:nowrap;text-overflow:ellipsis">{label}</span>'
            f'<span style="white-space:nowrap">run {html.escape(run_id)} · Page <span class="pageNumber"></span>'
            ' of <span class="totalPages"></span></span></div>')


def print_options(paper: str, title: str, run_id: str) -> dict[str, Any]:
    """Page.printToPDF's parameters: the paper, margins, backgrounds, the footer (no header)."""
    if paper not in PAPER_INCHES:
        raise PdfError(f"paper {paper!r}: use one of {', '.join(PAPER_INCHES)}")
    width, height = PAPER_INCHES[paper]
    margins = {f"margin{side.title()}": mm / 25.4 for side, mm in MARGIN_MM.items()}
    return {"paperWidth": width, "paperHeight": height, **margins, "printBackground": True,
            "displayHeaderFooter": True, "headerTemplate": "<span></span>",
            "footerTemplate": footer_template(title, run_id), "preferCSSPageSize": False}


def printable_width_px(paper: str) -> int:
    """The width the page is printed at, in CSS pixels (the paper's width less the side margins)."""
    width_in = PAPER_INCHES[paper][0] - (MARGIN_MM["left"] + MARGIN_MM["right"]) / 25.4
    return int(width_in * CSS_PX_PER_INCH)


class _DevTools:
    """One Chromium on a DevTools pipe: `call` sends a command and waits for its reply, every wait bounded by the
    one deadline; events are kept, and the page's requests answered as they come (its own file only)."""

    def __init__(self, to_browser: int, from_browser: int, started: float, timeout: float, page_url: str) -> None:
        self._out, self._in, self.page_url = to_browser, from_browser, page_url
        self.deadline, self.timeout = started + timeout, timeout
        self._buffer = bytearray()
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.blocked: list[str] = []

    def _send(self, method: str, params: dict[str, Any], session: str | None) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._out, json.dumps(message).encode() + b"\0")
        except OSError as exc:
            raise PdfError(f"Chromium exited while waiting for {method} ({exc.strerror})") from exc
        return self._next_id

    def _receive(self, waiting_for: str) -> dict[str, Any]:
        while (end := self._buffer.find(b"\0")) < 0:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise PdfTimeout(f"Chromium did not finish {waiting_for} within {self.timeout:g} s: it was stopped")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise PdfError(f"Chromium exited while waiting for {waiting_for}")
            self._buffer += chunk
        message = json.loads(self._buffer[:end])
        del self._buffer[:end + 1]
        if message.get("method") == "Fetch.requestPaused":
            self._answer_request(message)
        elif "method" in message:
            self.events.append(message)
        return message

    def _answer_request(self, event: dict[str, Any]) -> None:
        """Let the page's own file through; fail anything else before it leaves (and remember it)."""
        params, session = event["params"], event.get("sessionId")
        if params["request"]["url"].split("#", 1)[0] == self.page_url:
            self._send("Fetch.continueRequest", {"requestId": params["requestId"]}, session)
        else:
            self.blocked.append(params["request"]["url"])
            self._send("Fetch.failRequest", {"requestId": params["requestId"], "errorReason": "BlockedByClient"},
                       session)

    def ask_to_close(self) -> None:
        """Browser.close, without waiting for an answer (the caller waits for the process)."""
        self._send("Browser.close", {}, None)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Run a command and return its `result`; PdfError with Chromium's message when it answers an error."""
        sent = self._send(method, params or {}, session)
        while (message := self._receive(method)).get("id") != sent:
            pass
        if "error" in message:
            raise PdfError(f"Chromium refused {method}: {message['error'].get('message')}")
        return message.get("result", {})

    def wait_for(self, method: str, session: str) -> dict[str, Any]:
        """The first event `method` of `session` (kept ones first)."""
        while True:
            for event in self.events:
                if event["method"] == method and event.get("sessionId") == session:
                    self.events.remove(event)
                    return event
            self._receive(method)


def _log_tail(log: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        if lines:
            return "; Chromium said: " + " | ".join(lines[-LOG_LINES_QUOTED:])
    return ""


def _stop(process: subprocess.Popen[bytes], tools: _DevTools | None) -> None:
    """Ask Chromium to close, then kill its whole process group (renderers included) if it is still there."""
    if tools is not None and process.poll() is None:
        with contextlib.suppress(PdfError, OSError):
            tools.ask_to_close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(CLOSE_GRACE_SECONDS)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the group holds Chromium's helpers too
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(CLOSE_GRACE_SECONDS)


@contextlib.contextmanager
def _chromium(browser: str, profile: Path, started: float, timeout: float, page_url: str) -> Iterator[_DevTools]:
    """A headless Chromium on a DevTools pipe, always stopped when the block ends."""
    to_read, to_write = os.pipe()      # our commands: we write, Chromium reads (its fd 3)
    from_read, from_write = os.pipe()  # its replies: Chromium writes (its fd 4), we read
    log = profile / "chromium.log"
    try:
        with log.open("wb") as log_file:
            process = subprocess.Popen(  # noqa: S603 (the browser found, fixed flags)
                ["/bin/sh", "-c", _WITH_PIPE_FDS, "sh", browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"],
                stdin=to_read, stdout=from_write, stderr=log_file, start_new_session=True, close_fds=True)
    except OSError as exc:
        for fd in (to_read, to_write, from_read, from_write):
            os.close(fd)
        raise PdfError(f"could not start Chromium {browser}: {exc.strerror}") from exc
    os.close(to_read)
    os.close(from_write)
    tools = _DevTools(to_write, from_read, started, timeout, page_url)
    try:
        yield tools
    except PdfError as exc:
        raise type(exc)(f"{exc}{_log_tail(log)}") from exc
    finally:
        _stop(process, tools)
        os.close(to_write)
        os.close(from_read)


def _print_page(tools: _DevTools, page_url: str, paper: str, title: str, run_id: str) -> tuple[bytes, int]:
    """Open the page laid out for print, wait for its charts, print it: the PDF's bytes and the number of charts."""
    target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    tools.call("Fetch.enable", {"patterns": [{"urlPattern": "*"}]}, session)
    tools.call("Page.enable", {}, session)
    tools.call("Emulation.setEmulatedMedia", {"media": "print"}, session)
    height = int(PAPER_INCHES[paper][1] * CSS_PX_PER_INCH)
    tools.call("Emulation.setDeviceMetricsOverride", {"width": printable_width_px(paper), "height": height,
                                                      "deviceScaleFactor": 1, "mobile": False}, session)
    navigated = tools.call("Page.navigate", {"url": page_url}, session)
    if navigated.get("errorText"):
        raise PdfError(f"Chromium could not open {page_url}: {navigated['errorText']}")
    tools.wait_for("Page.loadEventFired", session)
    drawn = tools.call("Runtime.evaluate", {"expression": _CHARTS_DRAWN, "awaitPromise": True,
                                            "returnByValue": True}, session)
    if "exceptionDetails" in drawn:
        raise PdfError(f"the page's charts could not be drawn: {drawn['exceptionDetails'].get('text')}")
    printed = tools.call("Page.printToPDF", print_options(paper, title, run_id), session)
    return base64.b64decode(printed["data"]), int(drawn["result"].get("value") or 0)


def write_pdf(html_path: Path, pdf_path: Path, *, run_id: str, title: str = "", paper: Paper = "A4",
              timeout: float = PDF_TIMEOUT_SECONDS, browser: str | None = None) -> PrintedPdf:
    """Print `html_path` (a report page) to `pdf_path` on `paper` with the title and run id in the footer, within
    `timeout` seconds; the file is written whole or not at all. PdfError (PdfTimeout) when it cannot be."""
    started = time.monotonic()
    print_options(paper, title, run_id)  # a bad paper is refused before any browser starts
    if not html_path.is_file():
        raise PdfError(f"{html_path}: no such page to print")
    browser = browser or find_browser()
    if browser is None:
        raise PdfError("no Chromium to print report.pdf with: install chromium or set BROWSER_PATH")
    page_url = html_path.resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="goreliable-pdf-", ignore_cleanup_errors=True) as profile, \
            _chromium(browser, Path(profile), started, timeout, page_url) as tools:
        data, charts = _print_page(tools, page_url, paper, title, run_id)
        blocked = tuple(tools.blocked)
    if not data.startswith(b"%PDF-"):
        raise PdfError("Chromium printed something that is not a PDF")
    atomic_write_bytes(pdf_path, data)
    return PrintedPdf(pdf_path, paper, charts, time.monotonic() - started, blocked)
