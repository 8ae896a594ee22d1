"""The in-notebook run context: where a report writes its data, figures, tables, warnings and summary.

```python
run = current_run("slo", parameters={"end": end, "window": window})
data = slo.fetch(run.connect(), run.params)   # every fetch recorded into run.data_dir (the run's snapshot)
report = slo.build(data, run.params)
run.show_headline(report)                # the first screen (its warnings: listed once at the top by the runner)
run.show_figure(fig, "budget_burndown")  # inline, offline-ready HTML (plotly.js is embedded once per page)
run.export_table(df, "slos")             # slos.csv beside the report, shown as people read it (plots.table)
run.warn("coverage of api-gateway-latency is 97%")
run.finish(report)                       # summary.json: the report's summary plus the always-present fields
```
Under the runner the folder comes from GORELIABLE_RUN_DIR; in JupyterLab it is reports/_scratch/<report>/.

Everything written here is data (the snapshot, tables, figures' JSON, summary.json) and is written as it is:
never through the scrubber (runner/scrub.py). The runner masks what people read (the notebook's outputs, shown
here) when it saves the notebook, and proves the data holds no credential.

This module runs inside the notebook's kernel: it shares only `runner/shared.py` (the environment, the file names,
`to_jsonable`) with the runner's side (execute, finalise, kernel, publish), never imports it and is never imported
by it (an import-linter contract).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from IPython.display import Markdown, display

from goreliable_lib.errors import BadInputError
from goreliable_lib.paths import project_root
from goreliable_lib.plots import FIGURE_CONFIG
from goreliable_lib.plots.format import md
from goreliable_lib.plots.table import ColumnSpec, people_frame, table_html
from goreliable_lib.reports.base import BuiltReport, ReportSpec, safe_name, window_from_end
from goreliable_lib.reports.registry import find_report
from goreliable_lib.runner.files import atomic_write_text
from goreliable_lib.runner.jsonable import to_jsonable
from goreliable_lib.runner.png import PNG_TIMEOUT_SECONDS, PngTimeout, render_png, start_browser, stop_browser
from goreliable_lib.runner.shared import CONTEXT_FILE, RUN_DIR_ENV, SUMMARY_FILE
from goreliable_lib.sources.connect import connect
from goreliable_lib.sources.snapshot import Encoded, SnapshotRecorder, flush_all
from goreliable_lib.timeutil import to_rfc3339, utc_now


class Run:
    """One execution of a report notebook and its output folder."""

    def __init__(self, report: str, parameters: Mapping[str, Any], run_dir: Path, *, scratch: bool) -> None:
        self.report = safe_name(report, "report")
        self.spec: ReportSpec | None = find_report(self.report)
        self.parameters = dict(parameters)
        #: The parameters as the report's code reads them: the report's defaults, then the values given (the
        #: runner validated those before the kernel started; in JupyterLab they are the notebook's own).
        self.params: dict[str, Any] = {**({p.name: p.default for p in self.spec.params} if self.spec else {}),
                                       **self.parameters}
        self.run_dir = run_dir
        self.scratch = scratch
        self.data_dir = run_dir / "data"
        self.figures_dir = run_dir / "figures"
        self.warnings: list[str] = []
        #: The kit's log records during the run (every retry of a source): summary.json `log`.
        self.log: list[dict[str, str]] = []
        self.window: dict[str, str | None] = {"start": None, "end": None}
        self.source: dict[str, Any] = {"kind": None, "endpoints": {}}
        self.sources: Any = None
        self.recorder: Any = None
        for folder in (self.run_dir, self.data_dir, self.figures_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.resolve_window(utc_now())
        self._save_context()
        _RunLog.install(self)
        if self.spec is not None and self.spec.png_figures:
            start_browser()  # Chromium starts while the data is fetched, not at the first figure

    def __repr__(self) -> str:
        return f"<Run {self.report} in {self.run_dir}>"

    # ---- data ------------------------------------------------------------------------------------------
    def connect(self, profile: str | None = None) -> Any:
        """`goreliable_lib.connect()` recording every fetch into `data_dir`; sets the window on its clock.

        A Prometheus or Kubecost result that carries warnings (a partial response, a cost Kubecost did not send)
        becomes a warning of the run: on the first screen and in summary.json, never silently complete."""
        recorder = self.recorder = _RunRecorder(self.data_dir, self)
        self.sources = connect(profile, recorder=recorder)
        now = self.sources.now()
        recorder.set_as_of(now)
        describe = getattr(self.sources, "describe", None)
        self.source = to_jsonable(describe()) if callable(describe) else {"kind": getattr(self.sources, "profile",
                                                                                           None), "endpoints": {}}
        if endpoints := self.source.get("endpoints"):
            recorder.set_endpoints(endpoints)
        self.resolve_window(now)
        self._save_context()
        return self.sources

    def resolve_window(self, now: pd.Timestamp) -> dict[str, str | None]:
        """The report's window from its parameters on the clock `now` (until the report sets its own)."""
        start, end = (self.spec.window if self.spec is not None else window_from_end)(self.params, now)
        self.window = {"start": to_rfc3339(start) if start is not None else None, "end": to_rfc3339(end)}
        self._save_context()
        return self.window

    def set_window(self, start: Any, end: Any) -> None:
        """Override the window (when the notebook knows better, e.g. the data's own span)."""
        self.window = {"start": to_rfc3339(start), "end": to_rfc3339(end)}
        self._save_context()

    # ---- outputs ---------------------------------------------------------------------------------------
    def show_figure(self, fig: Any, name: str, png: bool = False) -> None:
        """Display a plotly figure (offline HTML without plotly.js + plotly's JSON for JupyterLab), save its
        JSON in figures/NAME.json and, when asked, figures/NAME.png (a failure to render it is a warning)."""
        name = safe_name(name, "figure name")
        figure_json = fig.to_json()
        atomic_write_text(self.figures_dir / f"{name}.json", figure_json)
        height = fig.layout.height or 450
        div = fig.to_html(full_html=False, include_plotlyjs=False, default_height=f"{height}px",
                          config=FIGURE_CONFIG)
        display({"application/vnd.plotly.v1+json": json.loads(figure_json), "text/html": div,
                 "text/plain": f"<figure {name}>"}, raw=True)
        if png:
            self._write_png(fig, name)

    def save_figure(self, fig: Any, name: str, png: bool = False) -> None:
        """figures/NAME.json (and, when asked, NAME.png) without showing the figure: for a chart the page shows in
        another form (a table that reads on a phone)."""
        name = safe_name(name, "figure name")
        atomic_write_text(self.figures_dir / f"{name}.json", fig.to_json())
        if png:
            self._write_png(fig, name)

    def _write_png(self, fig: Any, name: str) -> None:
        """figures/NAME.png (runner.png: one Chromium for the run, each render bounded in time); a failure or a
        timeout is a warning (the interactive figure and its JSON are written either way)."""
        try:
            (self.figures_dir / f"{name}.png").write_bytes(render_png(fig, PNG_TIMEOUT_SECONDS))
        except PngTimeout as exc:
            self.warn(f"figure {name}: PNG not written ({exc})")
        except Exception as exc:  # kaleido needs Chrome/Chromium: say so, do not fail the report
            self.warn(f"figure {name}: PNG not written ({type(exc).__name__}: {exc})")

    def export_table(self, df: pd.DataFrame, name: str, show: bool = True, *,
                     columns: Mapping[str, ColumnSpec] | None = None, kind: str | None = None) -> None:
        """Write NAME.csv beside the report (the machine form: every row, every digit) and, unless show=False,
        show the table as people read it (`plots.table`: headers in words, units, no index column, unknowns as a
        dash with a note, sortable when long), with the report's column words (`SPEC.columns`) and `columns` over
        them; `kind` is the kind of the numbers nothing else names (e.g. "money" for a table of teams' costs).
        Returns nothing: a cell ending with it shows the table, not a return value."""
        name = safe_name(name, "table name")
        path = self.run_dir / f"{name}.csv"
        keep_index = not isinstance(df.index, pd.RangeIndex)
        atomic_write_text(path, df.to_csv(index=keep_index))
        if show:
            words = {**(self.spec.columns if self.spec is not None else {}), **(columns or {})}
            display({"text/html": table_html(df, words, kind=kind, name=name),  # masked where the notebook is saved
                     "text/plain": people_frame(df, words, kind=kind).to_string(index=False)}, raw=True)

    def show_table(self, df: pd.DataFrame, columns: Mapping[str, ColumnSpec] | None = None, *,
                   kind: str | None = None) -> None:
        """Show a table as people read it (`plots.table`, with the report's column words and `columns` over them)
        without writing a CSV: for a view of a table exported in its machine form (`export_table(show=False)`)."""
        words = {**(self.spec.columns if self.spec is not None else {}), **(columns or {})}
        display({"text/html": table_html(df, words, kind=kind),
                 "text/plain": people_frame(df, words, kind=kind).to_string(index=False)}, raw=True)

    def warn(self, message: str) -> None:
        """A caveat the reader must see: in summary.json `warnings` and on the first screen. Under the runner the
        first screen lists every warning once, at the very top (runner.finalise), so it is not shown here too; in
        JupyterLab (a scratch run: no such list) it is shown here, once."""
        text = str(message)
        new = text not in self.warnings
        if new:
            self.warnings.append(text)
        self._save_context()
        if self.scratch and new:
            display(Markdown(f"**Warning:** {md(text)}"))

    def source_warning(self, source: str, request: Mapping[str, Any], message: str, *, info: bool = False) -> None:
        """A warning a source attached to a result (`frame.attrs["warnings"]`), said as a warning of the run; with
        `info`, a note (`frame.attrs["infos"]`: Prometheus 3's info annotations), listed with them as information."""
        query = str(request.get("query", ""))
        query = query if len(query) <= 150 else query[:150] + "..."
        if source == "prometheus" and info:
            self.warn(f"Information: Prometheus noted about query {query!r}: {message}")
        elif source == "prometheus":
            self.warn(f"Prometheus warned about query {query!r}: {message} (its data may be incomplete)")
        else:
            self.warn(f"{'Information: ' if info else ''}{source.capitalize()}: {message}")

    def show_headline(self, report: BuiltReport) -> None:
        """The report's first screen and its warnings (`warn`: listed once, at the very top under the runner)."""
        display(Markdown(report.headline()))
        for message in report.warnings:
            self.warn(message)

    def finish(self, report: BuiltReport) -> dict[str, Any]:
        """Write summary.json from the report: its summary block, its window and its warnings."""
        start, end = report.window
        self.set_window(start, end)
        return self.write_summary(report.summary())

    def write_summary(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        """Write summary.json: the report's headline numbers plus the always-present fields (and the run's snapshot
        manifest: every result recorded so far is listed in it)."""
        if self.recorder is not None:
            self.recorder.flush()
        if self.sources is not None and callable(getattr(self.sources, "describe", None)):  # e.g. a drills_uri read
            self.source = {**self.source, "endpoints": to_jsonable(self.sources.describe()["endpoints"])}
        body = to_jsonable(dict(summary))
        warnings = [*self.warnings, *[w for w in body.pop("warnings", []) or [] if w not in self.warnings]]
        status = body.pop("status", "ok")
        if status not in {"ok", "failed"}:
            raise BadInputError(f"summary status: {status!r} is not ok or failed")
        result = {
            "report": self.report,
            "status": status,
            "generated_at": to_rfc3339(utc_now()),
            "parameters": to_jsonable(self.parameters),
            "window": body.pop("window", None) or dict(self.window),
            "source": body.pop("source", None) or dict(self.source),
            "warnings": warnings,
            "log": list(self.log),
            **body,
        }
        atomic_write_text(self.run_dir / SUMMARY_FILE, json.dumps(result, indent=2, allow_nan=False) + "\n")
        return result

    def _save_context(self) -> None:
        if not hasattr(self, "source"):
            return
        context = {"report": self.report, "parameters": to_jsonable(self.parameters), "window": self.window,
                   "source": self.source, "warnings": self.warnings}
        atomic_write_text(self.run_dir / CONTEXT_FILE, json.dumps(context, indent=1))


def end_of_run() -> None:
    """The kernel's work at its exit, done now: every snapshot manifest written, the run's Chromium stopped, the
    process's own stdout and stderr flushed. The runner asks for it once the notebook has run and then ends the
    kernel at once (runner/launch.py), rather than waiting 0.4 s for the interpreter's own teardown."""
    flush_all()
    stop_browser()
    for stream in (sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()


#: Sources whose result warnings are passed to the run (the DR report lists the drill-log problems itself).
WARNING_SOURCES = frozenset({"prometheus", "kubecost"})
#: The run's snapshot manifest is rewritten at most this often while results arrive (and always when the summary
#: is written, and when the kernel exits: sources.snapshot).
MANIFEST_INTERVAL_SECONDS = 0.5


class _RunRecorder(SnapshotRecorder):
    """The run's snapshot recorder; also hands the warnings a result carries to the run."""

    def __init__(self, path: Path, run: Run) -> None:
        super().__init__(path, min_interval=MANIFEST_INTERVAL_SECONDS)
        self._run = run

    def record(self, source: str, request: dict[str, Any], frame: pd.DataFrame, *,
               encoded: Encoded | None = None) -> None:
        super().record(source, request, frame, encoded=encoded)
        if source in WARNING_SOURCES:
            for message in frame.attrs.get("warnings") or []:
                self._run.source_warning(source, request, str(message))
            for message in frame.attrs.get("infos") or []:
                self._run.source_warning(source, request, str(message), info=True)


class _RunLog(logging.Handler):
    """The kit's log records (logger `goreliable_lib`, INFO and above: every retry of a source) kept by the run:
    in summary.json `log`, and on the process's own stderr (a kernel's: the runner keeps it as kernel.log when the
    run fails). One per process: the newest run has it."""

    def __init__(self, run: Run) -> None:
        super().__init__(logging.INFO)
        self._run = run

    @classmethod
    def install(cls, run: Run) -> None:
        logger = logging.getLogger("goreliable_lib")
        for handler in [h for h in logger.handlers if isinstance(h, cls)]:
            logger.removeHandler(handler)
        logger.addHandler(cls(run))
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        entry = {"time": to_rfc3339(pd.Timestamp(record.created, unit="s", tz="UTC")), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        self._run.log.append(entry)
        if sys.__stderr__ is not None:
            print(f"{entry['time']} {entry['level']} {entry['logger']}: {entry['message']}", file=sys.__stderr__,
                  flush=True)


def current_run(report: str, parameters: Mapping[str, Any] | None = None) -> Run:
    """The run this notebook belongs to: GORELIABLE_RUN_DIR under the runner, else a scratch folder."""
    run_dir = os.environ.get(RUN_DIR_ENV)
    if run_dir:
        return Run(report, parameters or {}, Path(run_dir), scratch=False)
    scratch = project_root() / "reports" / "_scratch" / safe_name(report, "report")
    return Run(report, parameters or {}, scratch, scratch=True)
