"""reports/index.html: every run of every report, newest first, with status and headline numbers.

The index is rebuilt from the runs' summary.json files (never edited in place), under an exclusive file lock
(fcntl) so concurrent runs cannot interleave, and written through a temporary file and a rename.
"""

from __future__ import annotations

import contextlib
import fcntl
import html
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goreliable_lib.reports.registry import REPORTS
from goreliable_lib.runner.scrub import write_masked_text

INDEX_FILE = "index.html"
LOCK_FILE = ".index.lock"
LATEST = "latest"
#: The SLO event archive's folder beside the reports' folders (sources.archive), not a report.
ARCHIVE_FOLDER = "archive"


@dataclass(frozen=True)
class IndexEntry:
    """One run as listed in the index."""

    report: str
    run_id: str
    status: str
    generated_at: str
    window: str
    headline: str
    warnings: int
    link: str  # folder of the run, relative to the index

    @property
    def sort_key(self) -> tuple[str, str]:
        return (self.run_id, self.report)


def headline(summary: dict[str, Any]) -> str:
    """The headline numbers of a run, one line, from its summary.json (the report's own `index_headline`)."""
    if summary.get("status") == "failed":
        error = summary.get("error") or {}
        text = f"{error.get('type', 'error')}: {error.get('message', '')}" if isinstance(error, dict) else str(error)
        return "failed: " + text.strip().splitlines()[0][:200] if text.strip() else "failed"
    spec = REPORTS.get(str(summary.get("report")))
    if spec is not None and spec.index_headline is not None:
        try:
            return spec.index_headline(summary)
        except (TypeError, ValueError, AttributeError):  # a summary.json of another version: list its fields
            pass
    keys = [k for k in summary if k not in {"report", "status", "generated_at", "parameters", "window", "source",
                                            "warnings", "run_id", "runner"}]
    return ", ".join(keys[:6])


def entry_from_summary(summary: dict[str, Any], link: str, run_id: str) -> IndexEntry:
    """An index row from one summary.json."""
    window = summary.get("window") or {}
    span = f"{window.get('start') or '?'} .. {window.get('end') or '?'}" if isinstance(window, dict) else ""
    return IndexEntry(report=str(summary.get("report", "?")), run_id=run_id,
                      status=str(summary.get("status", "?")), generated_at=str(summary.get("generated_at", "")),
                      window=span, headline=headline(summary), warnings=len(summary.get("warnings") or []),
                      link=link)


def run_folders(root: Path) -> Iterator[tuple[str, str, Path]]:
    """(report, run_id, folder) of every published run under `root` (temporary and scratch folders skipped)."""
    if not root.is_dir():
        return
    for report_dir in sorted(root.iterdir()):
        if not report_dir.is_dir() or report_dir.name.startswith((".", "_")) or report_dir.name == ARCHIVE_FOLDER:
            continue
        for run_dir in sorted(report_dir.iterdir()):
            if run_dir.is_dir() and not run_dir.is_symlink() and not run_dir.name.startswith((".", "_")):
                yield report_dir.name, run_dir.name, run_dir


def scan_local(root: Path) -> list[IndexEntry]:
    """Index rows of every published run under `root`."""
    entries = []
    for report, run_id, folder in run_folders(root):
        try:
            summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            summary = {"report": report, "status": "failed", "error": {"type": "unreadable",
                                                                       "message": "summary.json missing"}}
        entries.append(entry_from_summary(summary, f"{report}/{run_id}", run_id))
    return entries


def render_index(entries: Iterable[IndexEntry]) -> str:
    """The index page: one row per run, newest first; self-contained (no external resources)."""
    rows = []
    for e in sorted(entries, key=lambda e: e.sort_key, reverse=True):
        link = html.escape(e.link)
        rows.append(
            f'<tr class="{html.escape(e.status)}"><td>{html.escape(e.report)}</td>'
            f'<td><a href="{link}/report.html">{html.escape(e.run_id)}</a></td>'
            f'<td class="status">{html.escape(e.status)}</td><td>{html.escape(e.window)}</td>'
            f"<td>{html.escape(e.headline)}</td><td>{e.warnings or ''}</td>"
            f'<td><a href="{link}/summary.json">summary</a> <a href="{link}/report.ipynb">notebook</a></td></tr>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>GoReliable reports</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}tr.failed .status{{color:#b00;font-weight:bold}}
tr.ok .status{{color:#070}}</style></head>
<body><h1>GoReliable reports</h1>
<table><thead><tr><th>report</th><th>run</th><th>status</th><th>window</th><th>headline</th><th>warnings</th>
<th>files</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""


@contextlib.contextmanager
def index_lock(root: Path) -> Iterator[None]:
    """An exclusive lock on the reports folder (publishing, `latest` and the index happen under it)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def write_local_index(root: Path) -> Path:
    """Rebuild root/index.html from every run (call under `index_lock`)."""
    path = root / INDEX_FILE
    write_masked_text(path, render_index(scan_local(root)))
    return path


def latest_ok_run(root: Path, report: str) -> str | None:
    """The newest run of `report` whose summary says ok."""
    best = None
    for name, run_id, folder in run_folders(root):
        if name != report:
            continue
        try:
            ok = json.loads((folder / "summary.json").read_text(encoding="utf-8")).get("status") == "ok"
        except (OSError, ValueError):
            ok = False
        if ok and (best is None or run_id > best):
            best = run_id
    return best


def update_latest(root: Path, report: str) -> str | None:
    """Point root/<report>/latest (a relative symlink) at the newest good run (call under `index_lock`)."""
    run_id = latest_ok_run(root, report)
    if run_id is None:
        return None
    link = root / report / LATEST
    tmp = root / report / f".{LATEST}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(run_id, target_is_directory=True)
    os.replace(tmp, link)
    return run_id
