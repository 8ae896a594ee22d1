"""report.pdf (runner/pdf.py): a real report page printed by the real Chromium, read back with poppler's tools.

- the postmortem of the demo suite (tests/conftest.py `demo_suite`) in A4 and Letter: pdfinfo gives the paper,
  pdftotext finds the headline figures of its summary.json, the title, and "run <id> · Page i of N" on every page;
  every chart was drawn before printing and none became a raster image (the charts are vector);
- a long, wide table built by the kit's own table renderer and page (plots/table.py, runner/html.py): every word
  inside the paper, no row cut across two pages, the header on every page the table spans;
- offline: a page asking a real HTTP server on 127.0.0.1 for an image, a style sheet and data gets nothing out,
  and the refused requests are listed;
- bounded: a tiny budget gives PdfTimeout, a browser that hangs is killed with its process group, a browser that
  dies gives PdfError with what it said; no Chromium is left behind.

The pages are kept as PNG (pdftoppm -r 60) in test-artifacts/pdf/, beside the browser tests' screenshots.
"""

from __future__ import annotations

import html
import http.server
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import psutil
import pytest

from goreliable_lib.plots.table import header, table_html
from goreliable_lib.runner import pdf
from goreliable_lib.runner.html import write_page
from goreliable_lib.runner.pdf import PdfError, PdfTimeout, footer_template, write_pdf
from goreliable_lib.runner.shared import find_browser

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(find_browser() is None, reason="Chromium not installed (Debian: apt-get install chromium)"),
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed (make system-deps)"),
]
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "pdf"
#: The paper sizes in PostScript points (1/72 in): A4 210 x 297 mm (595.28 x 841.89), US Letter 8.5 x 11 in.
PAPER_POINTS = {"A4": (210 / 25.4 * 72, 297 / 25.4 * 72), "Letter": (612.0, 792.0)}
#: Chromium lays a page out in whole CSS pixels (0.75 pt): its A4 is 595.92 x 841.92 pt.
POINT_TOLERANCE = 1.0


# ---- reading a PDF back with poppler-utils --------------------------------------------------------------------
def pdf_info(path: Path) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def page_texts(path: Path) -> list[str]:
    """The text of each page (pdftotext, reading order; form feeds part the pages)."""
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return out.split("\f")[:-1]


def words_by_page(path: Path) -> list[dict[str, Any]]:
    """Every word with its page (1-based) and box in points (pdftotext -bbox), and each page's size."""
    out = subprocess.run(["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True, check=True).stdout
    pages = []
    for number, page in enumerate(re.findall(r"<page (.*?)</page>", out, re.S), start=1):
        width, height = map(float, re.match(r'width="([\d.]+)" height="([\d.]+)"', page).groups())
        words = [{"text": html.unescape(text), "x_max": float(x_max), "y_max": float(y_max)}
                 for x_max, y_max, text in re.findall(
                     r'<word xMin="[\d.-]+" yMin="[\d.-]+" xMax="([\d.-]+)" yMax="([\d.-]+)">(.*?)</word>', page)]
        pages.append({"number": number, "width": width, "height": height, "words": words})
    return pages


def raster_images(path: Path) -> int:
    """How many raster images the PDF holds (pdfimages -list: one line per image after two header lines)."""
    out = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    return len(out.splitlines()[2:])


def keep_pages_as_png(path: Path, label: str, dpi: int = 60) -> list[Path]:
    """The PDF's pages as PNG at `dpi` in test-artifacts/pdf/LABEL/ (the folder replaced)."""
    folder = ARTIFACTS / label
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(path), str(folder / "page")], check=True)
    return sorted(folder.glob("page-*.png"))


def our_chromiums(marker: str) -> list[psutil.Process]:
    """Running processes whose command line names `marker` (the test's own profile folder)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(marker in part for part in process.info["cmdline"] or ()):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return [p for p in found if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture()
def profiles_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Chromium's profile folders made under this test's folder, so its processes can be told from any other."""
    folder = tmp_path / "profiles"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# ---- the postmortem, printed --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def postmortem_run(demo_suite: dict[str, Any]) -> Path:
    """The postmortem of the demo suite (tests/conftest.py), run once per session."""
    return demo_suite["runs"]["postmortem"]


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_the_postmortem_prints_on_paper_with_its_figures_and_footer(postmortem_run: Path, tmp_path: Path,
                                                                  paper: str) -> None:
    summary = json.loads((postmortem_run / "summary.json").read_text())
    run_id, title = summary["run_id"], summary["parameters"]["title"]
    page_html = (postmortem_run / "report.html").read_text()
    started = time.monotonic()
    printed = write_pdf(postmortem_run / "report.html", tmp_path / "report.pdf", paper=paper, run_id=run_id,
                        title=title, timeout=120)
    elapsed = time.monotonic() - started

    info = pdf_info(printed.path)
    width, height = map(float, re.match(r"([\d.]+) x ([\d.]+) pts", info["Page size"]).groups())
    expected_width, expected_height = PAPER_POINTS[paper]
    assert abs(width - expected_width) <= POINT_TOLERANCE and abs(height - expected_height) <= POINT_TOLERANCE
    assert info["Page size"].lower().endswith(f"({paper.lower()})")  # poppler names the paper itself
    pages = int(info["Pages"])
    assert pages >= 2 and 0 < printed.seconds <= elapsed and printed.paper == paper

    texts = page_texts(printed.path)
    assert len(texts) == pages
    for number, text in enumerate(texts, start=1):  # the footer of every page: run id and "Page i of N"
        assert f"run {run_id} · Page {number} of {pages}" in text, number
        assert title in text, number
    text = " ".join(" ".join(texts).split())
    # the headline figures, formatted here from summary.json as the page writes them (thousands with commas,
    # budget consumed as a percent with two decimals as the SLO table shows it, time to detect in minutes)
    for slo in summary["slos"]:
        assert f"{slo['bad_events']:,.0f} of {slo['total_events']:,.0f}" in text, slo["name"]
        assert f"{slo['budget_consumed'] * 100:.2f}%" in text, slo["name"]
        if slo["time_to_detect_seconds"] is not None:
            assert f"{slo['time_to_detect_seconds'] / 60:.0f} min" in text, slo["name"]
    assert f"${summary['cost_impact']['cost']:,.2f}" in text
    # every chart of the page was drawn before printing, and stayed vector: their axis titles are text, no raster
    assert printed.charts == page_html.count('class="plotly-graph-div"') == 4
    assert "SLI %" in text and "$ per hour" in text
    assert raster_images(printed.path) == 0
    assert printed.blocked == ()  # the report page asks for nothing outside itself

    pngs = keep_pages_as_png(printed.path, f"postmortem-{paper}")
    assert len(pngs) == pages and all(p.stat().st_size > 5_000 for p in pngs)


def test_the_pdf_is_written_whole_or_not_at_all(postmortem_run: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.pdf"
    target.write_bytes(b"the previous file")
    with pytest.raises(PdfTimeout):
        write_pdf(postmortem_run / "report.html", target, run_id="r", title="t", timeout=0.5)
    assert target.read_bytes() == b"the previous file"  # nothing half-written over it
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]  # no temporary file left


# ---- tables: fitted, never cut mid-row, header repeated -----------------------------------------------------
def long_wide_table() -> pd.DataFrame:
    """150 rows of 14 columns: wider than any paper at the screen's type size, and long enough for three pages;
    each row's detail wraps over several lines, from `start-NNN` to `end-NNN`."""
    rows = []
    for i in range(150):
        row = {"row_name": f"row-{i:03d}",
               "detail": f"start-{i:03d} " + "words that wrap inside the cell " * 4 + f"end-{i:03d}"}
        row.update({f"column_{letter}": f"cell{i:03d}{letter} in a wide column" for letter in "abcdefghijkl"})
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_a_long_wide_table_is_fitted_never_cut_mid_row_and_keeps_its_header(tmp_path: Path, paper: str) -> None:
    frame = long_wide_table()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A long, wide table"),
        nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
            "display_data", data={"text/html": table_html(frame, name="probe", max_rows=len(frame))})])])
    page = write_page(nb, tmp_path / "report.html", "A long, wide table")
    printed = write_pdf(page, tmp_path / "report.pdf", paper=paper, run_id="20261123T060000Z-abcd",
                        title="A long, wide table", timeout=120)
    pages = words_by_page(printed.path)
    assert len(pages) >= 3

    right_margin = pdf.MARGIN_MM["right"] / 25.4 * 72
    for page_words in pages:  # fitted: nothing past the right margin (a clipped table would run off the paper)
        widest = max(w["x_max"] for w in page_words["words"])
        assert widest <= page_words["width"] - right_margin + 1, (page_words["number"], widest)
    every_word = [w["text"] for p in pages for w in p["words"]]
    assert all(f"cell{i:03d}l" in every_word for i in range(150))  # the last column is there, every row

    marks = [(w["text"], p["number"]) for p in pages for w in p["words"]
             if re.fullmatch(r"(start|end)-\d{3}", w["text"])]
    page_of = dict(marks)
    assert len(marks) == len(page_of) == 300  # every row's first and last words were found, once each
    cut = [i for i in range(150) if page_of[f"start-{i:03d}"] != page_of[f"end-{i:03d}"]]
    assert cut == []  # no row begins on one page and ends on the next
    spanned = sorted(set(page_of.values()))
    assert len(spanned) >= 2
    labels = [header(c) for c in ("row_name", "detail", "column_l")]
    for number in spanned:  # the header repeated on every page the table spans
        text = " ".join(page_texts(printed.path)[number - 1].split())
        assert all(label in text for label in labels), (number, labels)
    keep_pages_as_png(printed.path, f"long-wide-table-{paper}")


# ---- offline --------------------------------------------------------------------------------------------------
class _CountingHandler(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"body{background:red}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def counting_server() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 that records every request it gets."""
    handler = type("Handler", (_CountingHandler,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.requests
    finally:
        server.shutdown()
        server.server_close()


def test_a_page_asking_for_the_network_gets_nothing_out(tmp_path: Path,
                                                        counting_server: tuple[str, list[str]]) -> None:
    base, received = counting_server
    (tmp_path / "neighbour.png").write_bytes(b"not an image")
    # no Content-Security-Policy on this page: only the printer stands between it and the server
    page = tmp_path / "page.html"
    page.write_text(f'<html><head><link rel="stylesheet" href="{base}/style.css"></head><body>'
                    f'<h1>Offline</h1><img src="{base}/pixel.png"><img src="neighbour.png">'
                    f'<script>fetch("{base}/data").catch(() => null)</script></body></html>')
    printed = write_pdf(page, tmp_path / "page.pdf", run_id="r1", title="offline", timeout=60)
    assert received == []
    assert {f"{base}/style.css", f"{base}/pixel.png"} <= set(printed.blocked)
    assert (tmp_path / "neighbour.png").as_uri() in printed.blocked  # not even a file beside the page
    assert "Offline" in page_texts(printed.path)[0]


# ---- bounded in time, Chromium always stopped -----------------------------------------------------------------
def test_a_tiny_budget_gives_a_clear_timeout_and_leaves_no_chromium(postmortem_run: Path, tmp_path: Path,
                                                                    profiles_here: Path) -> None:
    started = time.monotonic()
    with pytest.raises(PdfTimeout, match=r"within 0\.3 s: it was stopped") as raised:
        write_pdf(postmortem_run / "report.html", tmp_path / "report.pdf", run_id="r", title="t", timeout=0.3)
    assert time.monotonic() - started < 0.3 + pdf.CLOSE_GRACE_SECONDS * 2 + 1
    assert isinstance(raised.value, TimeoutError) and isinstance(raised.value, PdfError)
    assert not (tmp_path / "report.pdf").exists()
    assert our_chromiums(str(profiles_here)) == []
    assert list(profiles_here.iterdir()) == []  # the profile folder removed


def _gone(pid: int) -> bool:
    """The process has exited (or is a zombie its parent has not reaped yet)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_hung_browser_is_killed_with_its_process_group(tmp_path: Path, profiles_here: Path) -> None:
    # a "browser" that starts a helper, ignores SIGTERM and never answers: both must be gone afterwards
    hung = tmp_path / "hung-browser"
    pids = tmp_path / "pids"
    hung.write_text(f"#!/bin/sh\ntrap '' TERM\nsleep 600 &\necho $$ $! > {pids}\nwait\n")
    hung.chmod(0o755)
    page = tmp_path / "page.html"
    page.write_text("<html><body>never printed</body></html>")
    started = time.monotonic()
    with pytest.raises(PdfTimeout, match="Chromium did not finish Target.createTarget within 1 s: it was stopped"):
        write_pdf(page, tmp_path / "page.pdf", run_id="r", title="t", timeout=1.0, browser=str(hung))
    assert time.monotonic() - started < 1.0 + pdf.CLOSE_GRACE_SECONDS + 1
    for pid in map(int, pids.read_text().split()):
        deadline = time.monotonic() + 5  # SIGKILL was sent to the group: a busy machine takes a moment to act on it
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(pid), pid


def test_a_browser_that_dies_gives_what_it_said(tmp_path: Path) -> None:
    dying = tmp_path / "dying-browser"
    dying.write_text("#!/bin/sh\necho 'cannot open display: the sentinel message' >&2\nexit 3\n")
    dying.chmod(0o755)
    page = tmp_path / "page.html"
    page.write_text("<html><body>never printed</body></html>")
    with pytest.raises(PdfError, match=r"Chromium exited while waiting for Target.createTarget.*; "
                                       "Chromium said: cannot open display: the sentinel message"):
        write_pdf(page, tmp_path / "page.pdf", run_id="r", title="t", timeout=30, browser=str(dying))


def test_bad_requests_are_refused_before_any_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "page.html"
    page.write_text("<html></html>")
    with pytest.raises(PdfError, match="paper 'A3': use one of A4, Letter"):
        write_pdf(page, tmp_path / "page.pdf", run_id="r", paper="A3", timeout=5)  # type: ignore[arg-type]
    with pytest.raises(PdfError, match="no such page to print"):
        write_pdf(tmp_path / "missing.html", tmp_path / "page.pdf", run_id="r", timeout=5)
    monkeypatch.setattr(pdf, "find_browser", lambda: None)
    with pytest.raises(PdfError, match="no Chromium to print report.pdf with: install chromium or set BROWSER_PATH"):
        write_pdf(page, tmp_path / "page.pdf", run_id="r", timeout=5)


def test_the_footer_escapes_and_masks_what_it_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GORELIABLE_TEST_PDF_TOKEN", "s3cr3t-f00ter")
    footer = footer_template("Outage <b>&</b> s3cr3t-f00ter", "20261123T060000Z-<x>")
    assert "Outage &lt;b&gt;&amp;&lt;/b&gt; [REDACTED]" in footer and "s3cr3t" not in footer
    assert "run 20261123T060000Z-&lt;x&gt; · Page" in footer
    assert '<span class="pageNumber"></span> of <span class="totalPages"></span>' in footer
