"""Finalising a run, after the notebook ran or failed (the runner's side: the CLI's process).

`finalise_run`, in order: the data proven free of credentials (a file holding one is removed and the run fails
with `CredentialInData`: runner/scrub.py) -> summary.json (the notebook's, or the runner's own from the run
context's file when the notebook failed before writing it; `status`, `error` and `runner` added) -> the first
screen: the FAILED banner (`ERROR_TAG`), the warnings (`WARNINGS_TAG`), on recorded data the line saying so
(`DEMO_TAG`) and, when some text was masked, the notice (`MASKED_TAG`); the provenance footer (`PROVENANCE_TAG`:
source, endpoints, window, generated at, parameters, kit version, run id) -> report.html -> the kernel's log kept
only for a failed run -> what people read masked.
`describe_error` turns what papermill raised (or an interrupt) into summary.json's `error`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat
from papermill.exceptions import PapermillExecutionError

from goreliable_lib.plots import house_template
from goreliable_lib.plots.format import format_time, md
from goreliable_lib.reports.base import ReportSpec
from goreliable_lib.runner.changes import is_compared, since_last_run_markdown
from goreliable_lib.runner.files import atomic_write_text
from goreliable_lib.runner.html import notebook_to_html, write_page
from goreliable_lib.runner.jsonable import to_jsonable
from goreliable_lib.runner.pdf import PdfError, write_pdf
from goreliable_lib.runner.previous import SinceLastRun, compare_with_previous
from goreliable_lib.runner.publish import Writer
from goreliable_lib.runner.scrub import (
    holds_credential,
    leaked_files,
    mask_tree,
    scrub_notebook,
    scrub_text,
)
from goreliable_lib.runner.shared import (
    CONTEXT_FILE,
    HTML_FILE,
    KERNEL_LOG,
    NOTEBOOK_FILE,
    PDF_FILE,
    SUMMARY_FILE,
    installed_kit_version,
)
from goreliable_lib.signals import describe_interruption
from goreliable_lib.timeutil import to_rfc3339, utc_now

#: The tags of the cells the runner puts on the first screen of a report.
ERROR_TAG = "goreliable-error"
WARNINGS_TAG = "goreliable-warnings"
#: The first-screen notice of a report in which some text was masked (`[REDACTED]`).
MASKED_TAG = "goreliable-masked"
#: The first-screen line of a run on recorded data (demo, snapshot), and the provenance footer of every page.
DEMO_TAG = "goreliable-recorded-data"
#: The first screen's "Since the last run" block (runner/changes.py).
SINCE_TAG = "goreliable-since-last-run"
PROVENANCE_TAG = "goreliable-provenance"
MASKED_NOTICE = (
    "**Some text in this report is masked** as `[REDACTED]`: it matched the value of a credential set in the "
    "environment. Where that value is also an ordinary word (a bucket, a folder, a component), the masked places "
    "are ordinary text: the data (`summary.json`, the CSV tables, `data/`, `figures/*.json`) is never masked and "
    "holds it as it is. A credential that is an ordinary word is easy to guess: prefer a generated one.")
#: The error of a run whose data held a credential (a bug in a source or in the notebook, never masked silently).
CREDENTIAL_IN_DATA = "CredentialInData"
#: Warnings listed one by one at the top of the report; the rest are counted (all are in summary.json).
MAX_WARNINGS_SHOWN = 25


def _when(value: Any) -> str:
    """An RFC3339 time as `2026-11-23 06:00 UTC` (anything else as written; `unknown` when missing)."""
    return format_time(value) if value else "unknown"


def recorded_data_line(source: Mapping[str, Any]) -> str | None:
    """The first screen's line of a run on recorded data (the demo, a snapshot): never read as production."""
    kind = source.get("kind")
    if kind == "demo":
        return (f'<p class="gr-demo"><b>demo data</b>: simulated platform, recorded '
                f"{html.escape(_when(source.get('as_of')))}; not production</p>")
    if kind == "snapshot":
        return (f'<p class="gr-demo"><b>snapshot data</b>: replayed from a recording '
                f"(data up to {html.escape(_when(source.get('as_of')))}); not live</p>")
    return None


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "[]"
    return "—" if value is None else str(value)


def provenance_html(summary: Mapping[str, Any]) -> str:
    """The footer of every report page (good or failed): where the data came from (the profile and endpoints as
    `Sources.describe()` gives them: never a credential), the data's clock, the window, when the page was
    generated, the parameters, the kit's version and the run id. One HTML block (no blank line: Markdown keeps
    it whole)."""
    source = summary.get("source") or {}
    window = summary.get("window") or {}
    endpoints = source.get("endpoints") or {}
    runner = summary.get("runner") or {}
    rows = [("Source", f"{_value(source.get('profile') or source.get('kind'))}"
                       + (f" (data up to {_when(source.get('as_of'))})" if source.get("as_of") else "")),
            *[(f"Endpoint {name}", _value(url)) for name, url in sorted(endpoints.items())],
            ("Window", f"{_when(window.get('start'))} to {_when(window.get('end'))}"),
            ("Generated at", _when(summary.get("generated_at"))),
            ("Parameters", "; ".join(f"{k} = {_value(v)}" for k, v in (summary.get("parameters") or {}).items())
             or "none"),
            ("Kit", f"goreliable_lib {runner.get('kit_version', '?')}, Python {runner.get('python', '?')}"),
            ("Run", f"{_value(summary.get('run_id'))} ({summary.get('status')})")]
    items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in rows)
    return f'<footer class="gr-provenance"><b>Provenance</b><dl>{items}</dl></footer>'


def notebook_phases(nb: nbformat.NotebookNode) -> dict[str, float]:
    """From papermill's times in the executed notebook: `kernel_wait` (its start to the first cell's: the kernel
    still starting) and `cells` (the cells' own durations, summed); {} when it did not run."""
    started = nb.metadata.get("papermill", {}).get("start_time")
    times = [c.metadata.get("papermill", {}) for c in nb.cells if c.get("cell_type") == "code"]
    first = next((t["start_time"] for t in times if t.get("start_time")), None)
    if not started or not first:
        return {}
    wait = (dt.datetime.fromisoformat(first) - dt.datetime.fromisoformat(started)).total_seconds()
    return {"kernel_wait": max(wait, 0.0), "cells": sum(t.get("duration") or 0.0 for t in times)}


def print_pdf(staging: Path, summary: dict[str, Any], paper: str = "A4") -> dict[str, Any]:
    """report.pdf beside report.html (runner/pdf.py); a page that cannot be printed is a warning of the run, never a
    failure. Returns the summary with `runner.pdf` or the warning (the runner writes it once, before publishing)."""
    try:
        printed = write_pdf(staging / HTML_FILE, staging / PDF_FILE, run_id=str(summary.get("run_id")),
                            title=str((summary.get("parameters") or {}).get("title") or summary.get("report")),
                            paper=paper)  # type: ignore[arg-type]
        summary = {**summary, "runner": {**summary.get("runner", {}), "pdf": PDF_FILE, "pdf_paper": printed.paper}}
    except PdfError as exc:
        summary = {**summary, "warnings": [*summary.get("warnings", []), f"report.pdf was not printed: {exc}"]}
    return summary


def describe_error(exc: BaseException) -> dict[str, Any]:
    """summary.json's `error` for what stopped the notebook: type, message (masked, bounded) and, when known, the
    cell."""
    if isinstance(exc, PapermillExecutionError):
        return {"type": exc.ename, "message": scrub_text(str(exc.evalue))[:2000], "cell": exc.exec_count}
    if isinstance(exc, KeyboardInterrupt):  # Ctrl-C, or SIGTERM (`Terminated`) once stop_on_sigterm is installed
        return {"type": type(exc).__name__, "message": f"{describe_interruption(exc)} while running; the run "
                "stopped before its end"}
    message = str(exc).strip() or type(exc).__name__
    if type(exc).__name__ == "DeadKernelError":
        message = f"the kernel died (killed, or out of memory): {message}"
    return {"type": type(exc).__name__, "message": scrub_text(message)[:2000]}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _markdown_cell(text: str, tag: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = [tag]
    return cell


def _remove_leaked_data(staging: Path) -> list[str]:
    """Remove the data files that hold a credential (with a leaked figure's PNG, drawn from the same figure), so
    it is never published; returns their names in the run folder."""
    leaked = set(leaked_files(staging))
    leaked |= {png for p in leaked if p.parent == staging / "figures" and p.suffix == ".json"
               and (png := p.with_suffix(".png")).is_file()}
    for path in leaked:
        path.unlink(missing_ok=True)
    return sorted(p.relative_to(staging).as_posix() for p in leaked)


def _credential_error(files: list[str], earlier: dict[str, Any] | None) -> dict[str, Any]:
    message = (f"a credential from the environment was found in data this run wrote ({', '.join(files)}); "
               "those files were removed so that it is not published. Data is written from structures that never "
               "hold a credential: this is a bug in a source or in the notebook, please report it")
    if earlier is not None:
        message += f" (the run had failed before: {earlier['type']}: {earlier['message']})"
    return {"type": CREDENTIAL_IN_DATA, "message": scrub_text(message)[:2000],
            "cell": earlier.get("cell") if earlier else None}


def prepare() -> None:
    """What finalising and publishing build once per process, built now: the runner calls it in a thread while the
    notebook runs (it only waits on the kernel then). nbconvert's exporter, its templates and the CSS selectors it
    compiles make a process's first page 0.15 s slower than the next; the index's trend figures need the house
    template (0.1 s to load). Never raises: what fails here fails again when the page is written, and is reported
    there. The runner waits for it before finalising: plotly builds its validators with shared state, so the house
    template must not be built while a figure is."""
    with contextlib.suppress(Exception):
        tiny = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("*prepared*"),
                                               nbformat.v4.new_code_cell("", outputs=[])])
        notebook_to_html(tiny, "prepared")
        house_template()


def finalise_run(staging: Path, report: ReportSpec, parameters: dict[str, Any], run_id: str,
                 error: dict[str, Any] | None, started: float, *, notebook_masked: bool = False,
                 phases: Mapping[str, float] | None = None, writer: Writer | None = None) -> dict[str, Any]:
    """Prove the data free of credentials, write summary.json, put the error, warnings and masked-text notice on
    the first screen, export the HTML, mask what people read; returns the summary.

    `notebook_masked`: a save of the notebook already masked something (`kernel.NOTEBOOK_HANDLER.was_masked`);
    `phases`: seconds per phase of the run so far (summary.json `runner.phases`, with `kernel_wait` and `cells`
    read from the notebook's papermill times); `writer`: where the report's earlier runs are published, to say what
    changed since the last good one (summary.json `previous_run`, `changes`; the first screen's block)."""
    context = _read_json(staging / CONTEXT_FILE) or {}
    if leaked := _remove_leaked_data(staging):
        error = _credential_error(leaked, error)
    summary = _read_json(staging / SUMMARY_FILE)
    if error is None and summary is None:
        error = {"type": "MissingSummary", "message": "the notebook finished without calling run.write_summary()"}
    if error is None and summary is not None and summary.get("status") != "ok":
        error = {"type": "ReportFailed", "message": f"the notebook marked its summary {summary.get('status')!r}"}
    # the runner's own summary: parameters hold no credential (resolve_parameters), the rest is checked here
    if summary is None:
        source = context.get("source") or {"kind": None, "endpoints": {}}
        summary = {"report": report.name, "status": "failed", "generated_at": to_rfc3339(utc_now()),
                   "parameters": to_jsonable(parameters),
                   "window": context.get("window") or {"start": None, "end": None},
                   "source": {"kind": source.get("kind"), "endpoints": {}} if holds_credential(source) else source,
                   "warnings": [w for w in context.get("warnings") or [] if not holds_credential(w)]}
    nb_path = staging / NOTEBOOK_FILE
    # no notebook yet when the run failed before papermill wrote anything
    nb = nbformat.read(nb_path, as_version=4) if nb_path.is_file() else nbformat.v4.new_notebook()
    summary["run_id"] = run_id
    summary["runner"] = {"duration_seconds": round(time.monotonic() - started, 3),
                         "python": sys.version.split()[0], "kit_version": installed_kit_version(),
                         "notebook": report.notebook,
                         "phases": {name: round(seconds, 3) for name, seconds in
                                    {**(phases or {}), **notebook_phases(nb)}.items()}}
    if error is not None:
        summary["status"] = "failed"
        summary["error"] = error
    since = compare_with_previous(summary, writer) if writer is not None else SinceLastRun(None, [])
    summary.update(since.fields())
    if since.warning:
        summary["warnings"] = [*summary.get("warnings", []), since.warning]
    atomic_write_text(staging / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")

    if is_compared(summary.get("report")):
        nb.cells.insert(0, _markdown_cell(since_last_run_markdown(summary), SINCE_TAG))
    if demo := recorded_data_line(summary.get("source") or {}):
        nb.cells.insert(0, _markdown_cell(demo, DEMO_TAG))
    if warnings := summary.get("warnings"):
        items = "\n".join(f"- {md(w)}" for w in warnings[:MAX_WARNINGS_SHOWN])  # literal text, `$` and `*` too
        if len(warnings) > MAX_WARNINGS_SHOWN:
            items += f"\n- ... and {len(warnings) - MAX_WARNINGS_SHOWN} more (all listed in summary.json)"
        nb.cells.insert(0, _markdown_cell(f"**Warnings** (read them before using the figures below):\n\n{items}",
                                          WARNINGS_TAG))
    if error is not None and error.get("cell") is None:  # e.g. the kernel died: name the cell that was running
        running = [c for c in nb.cells
                   if c.get("metadata", {}).get("papermill", {}).get("status") in ("running", "failed")]
        if running:
            error["cell"] = running[0].get("execution_count") or nb.cells.index(running[0])
            summary["error"] = error
            atomic_write_text(staging / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    if error is not None:
        where = f" in cell [{error['cell']}]" if error.get("cell") is not None else ""
        nb.cells.insert(0, _markdown_cell(
            f'<div style="background:#fdd;border:2px solid #b00;padding:8px">'
            f"<b>This report FAILED{where}: {html.escape(str(error['type']))}</b>: "
            f"{html.escape(str(error['message']))}<br>"
            f"Run {run_id}. The numbers below are partial and must not be used as complete.</div>", ERROR_TAG))
    nb.cells.append(_markdown_cell(provenance_html(summary), PROVENANCE_TAG))
    title = f"{parameters.get('title') or report.title} ({'FAILED ' if error else ''}{run_id})"
    text = nbformat.writes(nb)
    masked = scrub_notebook(text)
    if notebook_masked or masked != text or scrub_text(title) != title:
        nb.cells.insert((error is not None) + bool(warnings) + bool(demo), _markdown_cell(MASKED_NOTICE, MASKED_TAG))
        text = nbformat.writes(nb)
        masked = scrub_notebook(text)
    atomic_write_text(nb_path, masked)  # what people read: masked (the data files never are)
    # the page from the notebook in memory when nothing in it was masked (one rendering, no second parse)
    write_page(nb if masked == text else nbformat.reads(masked, as_version=4), staging / HTML_FILE, title=title)
    (staging / CONTEXT_FILE).unlink(missing_ok=True)
    kernel_log = staging / KERNEL_LOG
    if error is not None and kernel_log.is_file() and kernel_log.stat().st_size:
        kernel_log.rename(staging / KERNEL_LOG.lstrip("."))
    else:
        kernel_log.unlink(missing_ok=True)
    mask_tree(staging)  # logs and any other text people read; data and binary files are never touched
    return summary
