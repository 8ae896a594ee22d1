"""reports/index.html: the dashboard of every published run, rebuilt from the runs' summary.json files.

- per report, the newest good run's headline (its `SPEC.index_headline`), its window and source, and a newer
  failed run when there is one; a card per report of the suite, `no run yet` for one that never ran;
- per report, its trends across the published runs (its `SPEC.index_trends`: plotly figures from the summaries, on
  a date axis, a line per series, window and source; a failed run is a gap, never a value; with one run the
  figure says that trends appear from the second run);
- below, every run newest first, with status, window, source (demo data, the live endpoint without credentials,
  a snapshot), when it was generated and by which kit version, and its headline.
The page opens offline like report.html (plotly.js embedded once, the same Content-Security-Policy) and fits a
phone's screen (charts resize with their cards, legends below; the runs table scrolls in its box). It is rebuilt
from the summaries (never edited in place), under an exclusive file lock (fcntl, on `.index.lock`, removed when
the lock is released) so concurrent runs cannot interleave, and written through a temporary file and a rename;
the S3 writer builds the same page from the same entries.
"""

from __future__ import annotations

import contextlib
import fcntl
import html
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goreliable_lib.plots import FONT, STATUS_COLOURS
from goreliable_lib.plots.format import format_time
from goreliable_lib.plots.table import CSS as TABLE_CSS
from goreliable_lib.plots.trends import source_label, state_text
from goreliable_lib.reports import registry
from goreliable_lib.reports.base import ReportSpec
from goreliable_lib.runner.changes import is_compared, since_last_run_html
from goreliable_lib.runner.files import atomic_write_text
from goreliable_lib.runner.page import CSP, figure_div, plotly_script
from goreliable_lib.runner.scrub import scrub_text
from goreliable_lib.runner.shared import SUMMARY_FILE

INDEX_FILE = "index.html"
LOCK_FILE = ".index.lock"
LATEST = "latest"
#: The SLO event archive's folder beside the reports' folders (sources.archive), not a report.
ARCHIVE_FOLDER = "archive"


@dataclass(frozen=True)
class IndexEntry:
    """One run as listed in the index, with the summary.json it was read from (for the trends)."""

    report: str
    run_id: str
    status: str
    generated_at: str
    window: str
    headline: str
    warnings: int
    link: str  # folder of the run, relative to the index
    source: str = ""  # `demo data`, `live: http://prometheus:9090`, `snapshot of ...` (plots.trends.source_label)
    kit_version: str = ""  # the kit that made the run (summary.json `runner.kit_version`), "" when not recorded
    summary: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def sort_key(self) -> tuple[str, str]:
        return (self.run_id, self.report)


def headline(summary: Mapping[str, Any]) -> str:
    """The headline numbers of a run, one line, from its summary.json (the report's own `index_headline`)."""
    if summary.get("status") == "failed":
        error = summary.get("error") or {}
        text = f"{error.get('type', 'error')}: {error.get('message', '')}" if isinstance(error, dict) else str(error)
        return "failed: " + text.strip().splitlines()[0][:200] if text.strip() else "failed"
    spec = registry.find_report(str(summary.get("report")))
    if spec is not None and spec.index_headline is not None:
        try:
            return spec.index_headline(summary)
        except (TypeError, ValueError, AttributeError):  # a summary.json of another version: list its fields
            pass
    keys = [k for k in summary if k not in {"report", "status", "generated_at", "parameters", "window", "source",
                                            "warnings", "run_id", "runner"}]
    return ", ".join(keys[:6])


def _time(value: Any) -> str:
    try:
        return format_time(value) if value else "?"
    except (TypeError, ValueError):
        return str(value)


def window_text(window: Any) -> str:
    """`2026-10-24 06:00 UTC → 2026-11-23 06:00 UTC` from a summary's `window`."""
    if not isinstance(window, Mapping):
        return ""
    return f"{_time(window.get('start'))} → {_time(window.get('end'))}"


def kit_version(summary: Mapping[str, Any]) -> str:
    """The version of the kit that made a run, as its summary.json records it (`runner.kit_version`); ""."""
    runner = summary.get("runner")
    version = runner.get("kit_version") if isinstance(runner, Mapping) else None
    return str(version) if version else ""


def entry_from_summary(summary: Mapping[str, Any], link: str, run_id: str) -> IndexEntry:
    """An index row from one summary.json."""
    report = str(summary.get("report", "?"))
    return IndexEntry(report=report, run_id=run_id,
                      status=str(summary.get("status", "?")), generated_at=str(summary.get("generated_at", "")),
                      window=window_text(summary.get("window")), headline=headline(summary),
                      warnings=len(summary.get("warnings") or []), link=link,
                      summary={**summary, "run_id": summary.get("run_id") or run_id},
                      source=source_label(summary.get("source"), report), kit_version=kit_version(summary))


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
            summary = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            summary = {"report": report, "status": "failed", "error": {"type": "unreadable",
                                                                       "message": "summary.json missing"}}
        entries.append(entry_from_summary(summary, f"{report}/{run_id}", run_id))
    return entries


# ---- the page -------------------------------------------------------------------------------------------

def _report_order(names: Iterable[str]) -> list[str]:
    """The suite's reports in suite order, then the others (postmortems, reports of other versions) by name."""
    def key(name: str) -> tuple[int, int, str]:
        spec = registry.find_report(name)
        position = spec.suite_position if spec is not None else None
        return (position is None, position or 0, name)
    return sorted(set(names), key=key)


def trend_figures(spec: ReportSpec | None, entries: list[IndexEntry]) -> tuple[list[Any], str | None]:
    """The report's trend figures from its runs' summaries, or why there are none (a summary the report's code
    cannot read is said on the page, not hidden)."""
    if spec is None or spec.index_trends is None or not entries:
        return [], None
    try:
        return list(spec.index_trends([e.summary for e in entries])), None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        return [], f"trends not drawn: {type(exc).__name__}: {exc}"


def _card(name: str, spec: ReportSpec | None, own: list[IndexEntry]) -> str:
    """One report's card: a newer failed run first, then the newest good run's headline, window and source; a
    report of the suite that never ran says so."""
    title = html.escape(spec.title if spec is not None else name)
    if not own:
        return (f'<section class="card none"><h2>{title}</h2><p class="meta">No run yet: '
                f'{html.escape(state_text(0, []).split(": ", 1)[1])}.</p></section>')
    good = next((e for e in own if e.status == "ok"), None)
    newest = own[0]
    parts = [f'<section class="card {"ok" if newest.status == "ok" else "failed"}"><h2>{title}</h2>']
    if newest is not good:
        when = f" ({_time(newest.generated_at)})" if newest.generated_at else ""
        parts.append(f'<p class="alarm">The newest run failed{html.escape(when)}: {html.escape(newest.headline)} '
                     f'<a href="{html.escape(newest.link)}/report.html">what ran</a></p>')
    if good is not None:
        pdf = (good.summary.get("runner") or {}).get("pdf")
        pdf_link = f' · <a href="{html.escape(good.link)}/{html.escape(str(pdf))}">PDF</a>' if pdf else ""
        parts.append(f'<p class="headline">{html.escape(good.headline)}</p>'
                     f'<p class="meta">{html.escape(good.window)} · {html.escape(good.source)} · '
                     f'<a href="{html.escape(good.link)}/report.html">open the report</a>{pdf_link}</p>')
        if "changes" in good.summary and is_compared(good.report):
            parts.append(since_last_run_html(good.summary))
    else:
        parts.append('<p class="meta">No good run yet.</p>')
    failed = sum(e.status != "ok" for e in own)
    parts.append(f'<p class="meta">{len(own)} run{"s" if len(own) != 1 else ""}'
                 + (f", {failed} failed" if failed else "") + "</p></section>")
    return "".join(parts)


def _page_css() -> str:
    status = "".join(f"tr.{name} .status{{background:{colour};color:#fff}}"
                     for name, colour in STATUS_COLOURS.items() if name in ("ok", "failed"))
    return (f"body{{font-family:{FONT};margin:0 auto;padding:16px;max-width:1280px;color:#222}}"
            "h1{font-size:1.6em;margin:.2em 0 .6em}h2{font-size:1.15em;margin:1.2em 0 .5em}"
            ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,280px),1fr));gap:12px}"
            ".card{border:1px solid #ddd;border-left:6px solid " + STATUS_COLOURS["ok"] + ";border-radius:4px;"
            "padding:8px 12px;overflow-wrap:break-word}"
            ".card.failed{border-left-color:" + STATUS_COLOURS["failed"] + "}"
            ".card.none{border-left-color:" + STATUS_COLOURS["no_data"] + "}"
            ".card h2{margin:0 0 .3em;font-size:1.05em}.card .headline{font-size:1.05em;margin:.3em 0}"
            ".meta{font-size:12px;color:#555;margin:.3em 0}.alarm{color:#a00;font-weight:600;margin:.3em 0}"
            ".trends{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,560px),1fr));gap:12px}"
            ".trend{min-width:0;border:1px solid #eee;border-radius:4px}"
            ".runs{overflow-x:auto;max-width:100%}.runs table{border-collapse:collapse;font-size:13px}"
            ".runs td,.runs th{border-bottom:1px solid #e3e3e3;padding:4px 8px;text-align:left;vertical-align:top}"
            ".runs th{background:#f0f0f0}.runs td.status{font-weight:600;text-align:center}"
            ".runs td:nth-child(2),.runs td:nth-child(4),.runs td.generated{white-space:nowrap}"
            ".runs td.source{white-space:nowrap}.runs td.headline{min-width:16em}"
            ".runs .kit,.runs .endpoint{color:#555;font-size:12px}"
            + status + "@media (max-width:600px){body{padding:10px}h1{font-size:1.4em}}" + TABLE_CSS)


#: Each chart is drawn while the page is still being read, before the grid has all its items: size them again once
#: the page is laid out.
_RESIZE_JS = ("<script>window.addEventListener('load',function(){if(window.Plotly){document.querySelectorAll("
              "'.js-plotly-plot').forEach(function(gd){window.Plotly.Plots.resize(gd);});}});</script>")


def _source_cell(label: str) -> str:
    """`live:` / `snapshot of` on a line, the endpoint on the next (a URL is not broken mid-word)."""
    for head in ("live: ", "snapshot of "):
        if label.startswith(head):
            return f'{html.escape(head.strip())}<br><span class="endpoint">{html.escape(label[len(head):])}</span>'
    return html.escape(label)


def _row(e: IndexEntry) -> str:
    """One run in the list: report, run (its link), status, window, source, generated at (and by which kit),
    headline, warnings, files."""
    link = html.escape(e.link)
    kit = f"kit {e.kit_version}" if e.kit_version else "kit version not recorded"
    return (f'<tr class="{html.escape(e.status)}"><td>{html.escape(e.report)}</td>'
            f'<td><a href="{link}/report.html">{html.escape(e.run_id)}</a></td>'
            f'<td class="status">{html.escape(e.status)}</td><td>{html.escape(e.window).replace("→ ", "→<br>")}</td>'
            f'<td class="source">{_source_cell(e.source)}</td>'
            f'<td class="generated">{html.escape(_time(e.generated_at))}<br><span class="kit">{html.escape(kit)}'
            f'</span></td><td class="headline">{html.escape(e.headline)}</td><td>{e.warnings or ""}</td>'
            f'<td><a href="{link}/summary.json">summary</a> <a href="{link}/report.ipynb">notebook</a></td></tr>')


def render_index(entries: Iterable[IndexEntry]) -> str:
    """The index page: per report of the suite (and every other report with a run) its latest headline and its
    trends, then one row per run, newest first; self-contained (no external resources). People read it: the
    environment's secrets are masked (its headlines come from the summaries, which stay as written), whichever
    writer publishes it."""
    ordered = sorted(entries, key=lambda e: e.sort_key, reverse=True)
    by_report = {name: [e for e in ordered if e.report == name]
                 for name in _report_order([*registry.STANDARD_SUITE, *(e.report for e in ordered)])}
    cards, trends = [], []
    for name, own in by_report.items():
        spec = registry.find_report(name)
        cards.append(_card(name, spec, own))
        figures, problem = trend_figures(spec, list(reversed(own)))
        trends += [f'<div class="trend">{figure_div(fig)}</div>' for fig in figures]
        if problem:
            trends.append(f'<p class="meta">{html.escape(spec.title if spec else name)}: {html.escape(problem)}</p>')
    rows = [_row(e) for e in ordered]
    plotly = plotly_script() if trends and any("plotly-graph-div" in t for t in trends) else ""
    dashboard = ("" if ordered else "<p>No published run yet.</p>") + f'<div class="cards">{"".join(cards)}</div>'
    trend_block = f'<h2>Trends across the runs</h2><div class="trends">{"".join(trends)}</div>' if trends else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GoReliable reports</title>
{plotly}
<style>{_page_css()}</style></head>
<body><h1>GoReliable reports</h1>
{dashboard}
{trend_block}
<h2>Every run</h2>
<div class="runs"><table><thead><tr><th>report</th><th>run</th><th>status</th><th>window</th><th>source</th>
<th>generated</th><th>headline</th><th>warnings</th><th>files</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table></div>
{_RESIZE_JS if plotly else ""}</body></html>
"""
    return scrub_text(page)


@contextlib.contextmanager
def index_lock(root: Path) -> Iterator[None]:
    """An exclusive lock on the reports folder (publishing, `latest` and the index happen under it): fcntl's
    `flock` on root/.index.lock, which the holder removes before it lets go, so no lock file is left behind.
    Removing it is safe because a lock only counts on the file the name still points at: a process that was
    waiting on the removed file finds the name gone (or on a newer file) once it gets its lock, and tries again on
    the name; whoever holds the lock on the file the name points at is the only holder."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_FILE
    while True:
        handle = open(path, "a+")  # noqa: SIM115  (closed below, or after the block)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                named = os.stat(path)
            except FileNotFoundError:
                named = None
            held = os.fstat(handle.fileno())
            if named is not None and (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino):
                break
        except BaseException:
            handle.close()
            raise
        handle.close()  # the file was removed while we waited: its lock no longer counts
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # before letting go: a waiter on this file then sees the name gone and tries again
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


def write_local_index(root: Path) -> Path:
    """Rebuild root/index.html from every run (call under `index_lock`)."""
    path = root / INDEX_FILE
    atomic_write_text(path, render_index(scan_local(root)))
    return path


def latest_ok_run(root: Path, report: str) -> str | None:
    """The newest run of `report` whose summary says ok."""
    best = None
    for name, run_id, folder in run_folders(root):
        if name != report:
            continue
        try:
            ok = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8")).get("status") == "ok"
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
