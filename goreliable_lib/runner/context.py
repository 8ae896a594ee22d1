"""The in-notebook run context: where a report writes its data, figures, tables, warnings and summary.

```python
run = reports.current_run("slo", parameters={"end": end, "window": window})
src = run.connect()                      # every fetch recorded into run.data_dir (the run's snapshot)
run.show_figure(fig, "budget_burndown")  # inline, offline-ready HTML (plotly.js is embedded once per page)
run.export_table(df, "slos")             # slos.csv beside the report
run.warn("coverage of api-gateway-latency is 97%")
run.write_summary({"slos": [...]})       # adds the always-present fields of summary.json
```
Under the runner the folder comes from GORELIABLE_RUN_DIR; in JupyterLab it is reports/_scratch/<report>/.

Everything written here is data (the snapshot, tables, figures' JSON, summary.json) and is written as it is:
never through the scrubber (runner/scrub.py). The runner masks what people read (the notebook's outputs, shown
here) when it saves the notebook, and proves the data holds no credential.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from goreliable_lib.errors import BadInputError
from goreliable_lib.paths import project_root
from goreliable_lib.reports.registry import safe_name
from goreliable_lib.runner.files import atomic_write_text
from goreliable_lib.sources.snapshot import SnapshotRecorder
from goreliable_lib.timeutil import parse_time, parse_window, to_rfc3339, utc_now

RUN_DIR_ENV = "GORELIABLE_RUN_DIR"
REPORT_ENV = "GORELIABLE_REPORT"
#: Written by the run context as it goes, read by the runner when the notebook fails before write_summary.
CONTEXT_FILE = ".run-context.json"
SUMMARY_FILE = "summary.json"
#: The longest a figure's PNG may take (Chromium's start-up included; a render takes ~0.5 s once it runs)
PNG_TIMEOUT_SECONDS = 120.0


def to_jsonable(value: Any) -> Any:
    """Plain JSON values: times as RFC3339 UTC, durations as seconds, NaN/inf/NA as null, numpy as Python."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray | pd.Series | pd.Index):
        return [to_jsonable(v) for v in list(value)]
    if isinstance(value, pd.Timestamp | dt.datetime):
        return None if pd.isna(value) else to_rfc3339(value)
    if isinstance(value, pd.Timedelta | dt.timedelta):
        return None if pd.isna(value) else pd.Timedelta(value).total_seconds()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, Path):
        return str(value)
    return str(value)


class Run:
    """One execution of a report notebook and its output folder."""

    def __init__(self, report: str, parameters: Mapping[str, Any], run_dir: Path, *, scratch: bool) -> None:
        self.report = safe_name(report, "report")
        self.parameters = dict(parameters)
        self.run_dir = run_dir
        self.scratch = scratch
        self.data_dir = run_dir / "data"
        self.figures_dir = run_dir / "figures"
        self.warnings: list[str] = []
        self.window: dict[str, str | None] = {"start": None, "end": None}
        self.source: dict[str, Any] = {"kind": None, "endpoints": {}}
        self.sources: Any = None
        self.recorder: Any = None
        for folder in (self.run_dir, self.data_dir, self.figures_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.resolve_window(utc_now())
        self._save_context()

    def __repr__(self) -> str:
        return f"<Run {self.report} in {self.run_dir}>"

    # ---- data ------------------------------------------------------------------------------------------
    def connect(self, profile: str | None = None) -> Any:
        """`goreliable_lib.connect()` recording every fetch into `data_dir`; sets the window on its clock.

        A Prometheus or Kubecost result that carries warnings (a partial response, a cost Kubecost did not send)
        becomes a warning of the run: on the first screen and in summary.json, never silently complete."""
        from goreliable_lib import connect

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
        """The report window from the parameters (`end` + `window`, `quarters`, or the incident) on `now`."""
        params = self.parameters
        end = parse_time(params.get("end", "now"), now=now, field="end")
        start: pd.Timestamp | None = None
        if params.get("incident_start") is not None and params.get("incident_end") is not None:
            start = parse_time(params["incident_start"], now=now, field="incident_start")
            end = parse_time(params["incident_end"], now=now, field="incident_end")
        elif params.get("window") is not None:
            start, end = parse_window(params["window"], end)
        elif params.get("quarters") is not None:
            quarter = end.tz_localize(None).to_period("Q") - (int(params["quarters"]) - 1)
            start = quarter.start_time.tz_localize("UTC")
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
        from IPython.display import display

        name = safe_name(name, "figure name")
        figure_json = fig.to_json()
        atomic_write_text(self.figures_dir / f"{name}.json", figure_json)
        height = fig.layout.height or 450
        div = fig.to_html(full_html=False, include_plotlyjs=False, default_height=f"{height}px",
                          config={"displaylogo": False, "responsive": True})
        display({"application/vnd.plotly.v1+json": json.loads(figure_json), "text/html": div,
                 "text/plain": f"<figure {name}>"}, raw=True)
        if png:
            self._write_png(fig, name)

    def _write_png(self, fig: Any, name: str) -> None:
        """figures/NAME.png through kaleido and Chromium, bounded by PNG_TIMEOUT_SECONDS: kaleido bounds a render
        but not Chromium's start-up, and an unattended report must not hang on a picture. A failure or a timeout
        is a warning (the interactive figure and its JSON are written either way)."""
        outcome: dict[str, Any] = {}

        def render() -> None:
            try:
                outcome["png"] = fig.to_image(format="png")
            except Exception as exc:  # kaleido needs Chrome/Chromium: say so, do not fail the report
                outcome["error"] = exc

        worker = threading.Thread(target=render, name=f"png-{name}", daemon=True)
        worker.start()
        worker.join(PNG_TIMEOUT_SECONDS)
        if worker.is_alive():
            self.warn(f"figure {name}: PNG not written (no image from kaleido/Chromium within "
                      f"{PNG_TIMEOUT_SECONDS:g} s)")
        elif "error" in outcome:
            error = outcome["error"]
            self.warn(f"figure {name}: PNG not written ({type(error).__name__}: {error})")
        else:
            (self.figures_dir / f"{name}.png").write_bytes(outcome["png"])

    def export_table(self, df: pd.DataFrame, name: str, show: bool = True) -> Path:
        """Write NAME.csv beside the report (and show the table unless show=False)."""
        name = safe_name(name, "table name")
        path = self.run_dir / f"{name}.csv"
        keep_index = not isinstance(df.index, pd.RangeIndex)
        atomic_write_text(path, df.to_csv(index=keep_index))
        if show:
            from IPython.display import display
            display(df)
        return path

    def warn(self, message: str) -> None:
        """A caveat the reader must see: shown here, in summary.json `warnings` and on the first screen."""
        text = str(message)
        if text not in self.warnings:
            self.warnings.append(text)
        self._save_context()
        try:
            from IPython.display import Markdown, display
            display(Markdown(f"**Warning:** {text}"))
        except ImportError:  # pragma: no cover - IPython is a dependency
            print(f"Warning: {text}")

    def source_warning(self, source: str, request: Mapping[str, Any], message: str) -> None:
        """A warning a source attached to a result (`frame.attrs["warnings"]`), said as a warning of the run."""
        if source == "prometheus":
            query = str(request.get("query", ""))
            query = query if len(query) <= 150 else query[:150] + "..."
            self.warn(f"Prometheus warned about query {query!r}: {message} (its data may be incomplete)")
        else:
            self.warn(f"{source.capitalize()}: {message}")

    def write_summary(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        """Write summary.json: the report's headline numbers plus the always-present fields."""
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


#: Sources whose result warnings are passed to the run (the DR report lists the drill-log problems itself).
WARNING_SOURCES = frozenset({"prometheus", "kubecost"})


class _RunRecorder(SnapshotRecorder):
    """The run's snapshot recorder; also hands the warnings a result carries to the run."""

    def __init__(self, path: Path, run: Run) -> None:
        super().__init__(path)
        self._run = run

    def record(self, source: str, request: dict[str, Any], frame: pd.DataFrame) -> None:
        super().record(source, request, frame)
        if source in WARNING_SOURCES:
            for message in frame.attrs.get("warnings") or []:
                self._run.source_warning(source, request, str(message))


def current_run(report: str, parameters: Mapping[str, Any] | None = None) -> Run:
    """The run this notebook belongs to: GORELIABLE_RUN_DIR under the runner, else a scratch folder."""
    run_dir = os.environ.get(RUN_DIR_ENV)
    if run_dir:
        return Run(report, parameters or {}, Path(run_dir), scratch=False)
    scratch = project_root() / "reports" / "_scratch" / safe_name(report, "report")
    return Run(report, parameters or {}, scratch, scratch=True)
