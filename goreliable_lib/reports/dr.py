"""Glue of the DR trend report (notebooks/dr_trends.ipynb): the run's drill source, the frames and the
headline the notebook shows, and the summary.json block. I/O only through the sources; the numbers come
from `analysis.dr`.

```python
run = reports.current_run("dr", parameters={...})
src = run.connect()
drills = dr_report.drill_source(run, drills_uri, targets)   # the profile's logs, or drills_uri, recorded into data/
report = dr_report.build_report(dr_report.fetch_components(drills), targets, end=end, quarters=quarters)
```
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from goreliable_lib.analysis import dr
from goreliable_lib.inputs.dr_targets import DRTargets, load_dr_targets
from goreliable_lib.plots.dr import format_seconds
from goreliable_lib.sources.drills import DrillLogWarning, DrillSource
from goreliable_lib.timeutil import parse_time

_LOCATED = re.compile(r"^(?P<location>.+?) line (?P<line>\d+): (?P<problem>.*)$", re.DOTALL)


def load_targets(path: str | Path) -> DRTargets:
    """The targets file; a relative path starts at the project root (where params/ lives)."""
    return load_dr_targets(path)


def _recorder_of(sources: Any) -> Any:
    """The snapshot recorder `run.connect()` gave the sources (None when no source is configured)."""
    for name in ("drills", "prometheus", "kubecost"):
        try:
            recorder = getattr(getattr(sources, name), "recorder", None)
        except Exception:  # a MissingSource refuses every attribute
            continue
        if recorder is not None:
            return recorder
    return None


def drill_source(run: Any, drills_uri: str | None = None, targets: DRTargets | None = None) -> Any:
    """The drill logs of a run: `drills_uri` when given (read live, recorded into the run's data/ like every
    other fetch, on the run's clock), else the connected profile's drill source. Call after `run.connect()`.

    The URI becomes the run's `source.endpoints.drills` (summary.json) and the snapshot's endpoint, so the run
    folder replays with `GORELIABLE_PROFILE=snapshot:<run>/data`. Components outside `targets` are flagged.
    """
    from goreliable_lib.sources.snapshot import SnapshotRecorder

    sources = run.sources if run.sources is not None else run.connect()
    known = targets.component_names() if targets is not None else None
    if drills_uri is None:
        source = sources.drills
        if known is not None and isinstance(source, DrillSource):
            source.known_components = tuple(known)
        return source
    recorder = _recorder_of(sources) or SnapshotRecorder(run.data_dir)
    source = DrillSource(drills_uri, recorder=recorder, clock=sources.now, known_components=known)
    endpoints = dict(run.source.get("endpoints") or {})
    endpoints["drills"] = source.uri
    run.source = {**run.source, "endpoints": endpoints}
    recorder.set_endpoints(endpoints)
    return source


def fetch_components(source: Any) -> pd.DataFrame:
    """`source.components()` with its problems (invalid lines, duplicates, unknown components) collected in
    `attrs["warnings"]` instead of printed as Python warnings (the report lists them itself)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DrillLogWarning)
        return source.components()


@dataclass
class DRReport:
    """Everything the DR notebook shows, for the quarters of its window."""

    end: pd.Timestamp
    quarters: list[str]
    targets: DRTargets
    components: pd.DataFrame  # the source's frame: every drill up to `end`
    evaluated: pd.DataFrame  # analysis.dr.evaluate_components, drills of the window
    drills: pd.DataFrame  # analysis.dr.evaluate_drills, drills of the window
    trends: pd.DataFrame  # analysis.dr.component_trends (history from every drill), drills of the window
    summary: dict[str, Any]  # analysis.dr.dr_summary + warnings: the dr block of summary.json
    data_problems: list[str] = field(default_factory=list)  # from the logs: invalid lines, duplicates, ...
    warnings: list[str] = field(default_factory=list)  # every caveat for the first screen and summary.json

    @property
    def latest_drill_id(self) -> str | None:
        latest = self.summary.get("latest_drill")
        return latest["drill_id"] if latest else None

    @property
    def component_order(self) -> list[str]:
        """The targets' components first (the DR table's order), then any unknown ones."""
        names = self.targets.component_names()
        return names + [c for c in dict.fromkeys(self.evaluated["component"]) if c not in names]

    def regressions_table(self) -> pd.DataFrame:
        """The regressions of the window, oldest first."""
        columns = ["drill_id", "quarter", "component", "metric", "value_seconds", "previous_seconds",
                   "trailing_median_seconds", "target_seconds", "reason"]
        return dr.regressions(self.trends)[columns]

    def component_table(self) -> pd.DataFrame:
        """One row per drill and component with targets and verdicts (the pass/fail matrix as a table)."""
        columns = ["drill_id", "quarter", "component", "status", "rto_seconds", "rto_target_seconds",
                   "rpo_seconds", "rpo_target_seconds", "passed", "reason"]
        return self.evaluated[columns].reset_index(drop=True)

    def drill_table(self) -> pd.DataFrame:
        """One row per drill: duration against the whole-drill target, status, reason."""
        columns = ["drill_id", "quarter", "started_at", "duration_seconds", "duration_target_seconds", "status",
                   "components_passed", "components_failed", "reason"]
        return self.drills[columns].reset_index(drop=True)

    def aborted_table(self) -> pd.DataFrame:
        """The aborted drills: when, how long they ran, which components had recovered."""
        rows = []
        for drill in self.drills[self.drills["aborted"].astype(bool)].itertuples(index=False):
            own = self.components[self.components["drill_id"] == drill.drill_id]
            aborted_at = own["aborted_at"].min()
            recovered = sorted(own.loc[own["recovered_at"].notna(), "component"])
            rows.append({"drill_id": drill.drill_id, "quarter": drill.quarter, "started_at": drill.started_at,
                         "aborted_after_seconds": (aborted_at - drill.started_at).total_seconds()
                         if pd.notna(aborted_at) else math.nan,
                         "recovered_before_abort": ", ".join(recovered) or "none"})
        return pd.DataFrame(rows, columns=["drill_id", "quarter", "started_at", "aborted_after_seconds",
                                           "recovered_before_abort"])

    def missing_table(self) -> pd.DataFrame:
        """The quarters of the window without any drill log."""
        return pd.DataFrame({"quarter": self.summary["missing_quarters"]}, dtype=object)

    def data_quality_table(self) -> pd.DataFrame:
        """The problems found in the logs: location (file or URL), line, problem."""
        rows = []
        for message in self.data_problems:
            found = _LOCATED.match(message)
            rows.append({"location": found["location"], "line": int(found["line"]), "problem": found["problem"]}
                        if found else {"location": "", "line": None, "problem": message})
        return pd.DataFrame(rows, columns=["location", "line", "problem"])


def _flag(frame: pd.DataFrame, column: str) -> pd.Series:
    """A boolean column as bool dtype (an empty frame from the analysis holds it as object)."""
    return frame[column].astype(bool)


def _unknown_rpo(evaluated: pd.DataFrame) -> list[str]:
    unknown = evaluated["reason"].astype(str).str.contains("RPO unknown", regex=False)
    rows = evaluated[_flag(evaluated, "known_component") & ~_flag(evaluated, "aborted") & unknown]
    return [f"drill {r.drill_id}: no data_loss event for {r.component}; its RPO is unknown and it is counted "
            f"as not passed" for r in rows.itertuples(index=False)]


def build_report(components: pd.DataFrame, targets: DRTargets, *, end: Any, quarters: int = 8) -> DRReport:
    """Evaluate the drills up to `end` against `targets` and keep the last `quarters` quarters."""
    end_ts = parse_time(end, field="end")
    window = dr.report_quarters(end_ts, quarters)
    held = components[components["disaster_declared_at"].isna() | (components["disaster_declared_at"] <= end_ts)]
    evaluated = dr.evaluate_components(held, targets)
    evaluated = evaluated[evaluated["quarter"].isin(window)].reset_index(drop=True)
    drills = dr.evaluate_drills(held, targets)
    drills = drills[drills["quarter"].isin(window)].reset_index(drop=True)
    trends = dr.component_trends(held, targets)
    trends = trends[trends["quarter"].isin(window)].reset_index(drop=True)
    summary = dr.dr_summary(held, targets, end=end_ts, quarters=quarters)
    problems = list(components.attrs.get("warnings", []))
    caveats = [*problems, *_unknown_rpo(evaluated)]
    if missing := summary["missing_quarters"]:
        caveats.append(f"no drill at all in {', '.join(missing)} (quarter{'s' if len(missing) > 1 else ''} "
                       "without a DR drill)")
    if not len(drills):
        caveats.append(f"no drill in the window {window[0]} .. {window[-1]}")
    summary["warnings"] = caveats
    return DRReport(end_ts, window, targets, held, evaluated, drills, trends, summary, problems, caveats)


def headline_markdown(report: DRReport, title: str | None = None) -> str:
    """The first screen: the latest drill against the whole-drill target, passes, regressions, missing
    quarters, aborted drills and data problems (Markdown). The notebook shows `report.warnings` right after it
    with `run.warn` (the runner also lists them at the very top of the report)."""
    summary = report.summary
    lines = [f"# {title or 'Disaster-recovery trends'}", ""]
    latest = summary.get("latest_drill")
    if latest:
        verdict = "**within** target" if latest["duration_passed"] else "**OVER** target"
        lines.append(f"**Latest drill** `{latest['drill_id']}`: **{format_seconds(latest['duration_seconds'])}** "
                     f"({latest['duration_seconds']:.0f} s) from `disaster_declared` to the last component "
                     f"recovered, against the **{format_seconds(latest['duration_target_seconds'])}** whole-drill "
                     f"target: {verdict}.")
    else:
        lines.append("**No completed drill** in the window: there is no recent proof that the platform recovers.")
    completed = report.drills[~_flag(report.drills, "aborted")]
    aborted = summary["aborted_drills"]
    checks = report.evaluated[_flag(report.evaluated, "known_component") & ~_flag(report.evaluated, "aborted")]
    regressions = summary["regressions"]
    lines += ["", "| | |", "| --- | --- |",
              f"| Window | {report.quarters[0]} .. {report.quarters[-1]} ({len(report.quarters)} quarters, up to "
              f"{report.end:%Y-%m-%d %H:%M} UTC) |",
              f"| Drills | {len(report.drills)} ({len(completed)} completed, {len(aborted)} aborted) |",
              f"| Drills passed | {int(completed['passed'].sum())} of {len(completed)} completed |",
              f"| Component checks passed (RTO and RPO) | {int(checks['passed'].sum())} of {len(checks)} |",
              "| Regressions | " + (f"**{len(regressions)}**: " + "; ".join(
                  f"{r['component']} {r['metric'].upper()} {format_seconds(r['value_seconds'])} in {r['drill_id']}"
                  for r in regressions) if regressions else "none") + " |",
              "| Quarters without a drill | " + (", ".join(f"**{q}**" for q in summary["missing_quarters"])
                                                 or "none") + " |",
              "| Aborted drills | " + (", ".join(f"`{a['drill_id']}`" for a in aborted) or "none") + " |",
              "| Problems in the drill logs | " + (f"**{len(report.data_problems)}** (see Data quality below)"
                                                  if report.data_problems else "none") + " |"]
    return "\n".join(lines)
