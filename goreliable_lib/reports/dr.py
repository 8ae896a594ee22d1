"""The DR trend report (notebooks/dr_trends.ipynb): every drill of the last quarters against the RTO/RPO targets,
regressions, quarters without a drill, aborted drills, the drill logs' problems, and what each drill cost.

```python
data = dr.fetch(run.connect(), run.params)   # the targets file, the drill logs (the profile's, or drills_uri),
                                             # and per drill of the window Kubecost's hourly allocations
report = dr.build(data, run.params)          # pure: analysis.dr
```
Costs: one Kubecost request per drill of the window, aggregated by cluster at a 1-hour step with idle kept apart
(`analysis.dr` states the rule). Kubecost is optional here: not configured, the cost column says so (a note);
failing (or a snapshot without those requests), the costs are unavailable with a warning naming the error; the
rest of the report and its exit code stay as they are.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from goreliable_lib.analysis import dr
from goreliable_lib.errors import SourceError
from goreliable_lib.inputs.dr_targets import DRTargets, load_dr_targets
from goreliable_lib.plots.format import format_seconds, md, md_money, plural
from goreliable_lib.plots.table import Column
from goreliable_lib.plots.trends import run_trend
from goreliable_lib.reports.base import (
    Param,
    ReportSpec,
    Window,
    check_drills_uri,
    check_file,
    check_int_range,
    common_params,
    read_file_param,
    trend_runs,
)
from goreliable_lib.sources.connect import MissingSource, Sources
from goreliable_lib.sources.drills import DrillLogWarning, DrillSource
from goreliable_lib.sources.kubecost import KubecostSource
from goreliable_lib.timeutil import parse_time

_LOCATED = re.compile(r"^(?P<location>.+?) line (?P<line>\d+): (?P<problem>.*)$", re.DOTALL)


def fetch_components(source: DrillSource | MissingSource) -> pd.DataFrame:
    """`source.components()` with its problems (invalid lines, duplicates, unknown components) collected in
    `attrs["warnings"]` instead of printed as Python warnings (the report lists them itself)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DrillLogWarning)
        return source.components()


@dataclass
class DrillCosts:
    """Kubecost's hourly allocations over each drill's cost hours (by drill_id), why a drill has none, and why
    there are no costs at all (`unavailable`: a warning when Kubecost failed, a note when it is not configured)."""

    allocations: dict[str, pd.DataFrame] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    unavailable: str | None = None
    failed: bool = False


def drills_in_window(components: pd.DataFrame, end: pd.Timestamp, quarters: int) -> pd.DataFrame:
    """`analysis.dr.drill_windows` of the drills declared up to `end` in the report's `quarters` quarters."""
    held = components[components["disaster_declared_at"].notna() & (components["disaster_declared_at"] <= end)]
    windows = dr.drill_windows(held)
    return windows[windows["quarter"].isin(dr.report_quarters(end, quarters))].reset_index(drop=True)


def fetch_drill_costs(kubecost: KubecostSource | MissingSource, windows: pd.DataFrame) -> DrillCosts:
    """One request per drill: the cluster's allocations (aggregate `cluster`, idle apart, shareIdle off) over its
    cost hours at a 1-hour step. Never fatal: Kubecost not configured or failing makes every cost unavailable with
    the reason; a drill whose hours are not over on Kubecost's clock is not asked."""
    try:
        now = kubecost.now()  # a MissingSource says which variable to set
    except SourceError as exc:
        return DrillCosts(unavailable=exc.summary, failed=not isinstance(kubecost, MissingSource))
    costs = DrillCosts()
    for window in windows.itertuples(index=False):
        if pd.isna(window.cost_start):
            continue
        if window.cost_end > now:
            costs.reasons[window.drill_id] = (f"its hours run to {window.cost_end:%Y-%m-%d %H:%M} UTC, after the "
                                              f"data's clock ({now:%Y-%m-%d %H:%M} UTC)")
            continue
        try:
            costs.allocations[window.drill_id] = kubecost.allocation(
                (window.cost_start, window.cost_end), aggregate="cluster", step="1h", idle=True, share_idle=False)
        except SourceError as exc:
            return DrillCosts(unavailable=f"Kubecost failed: {exc.summary}", failed=True)
    return costs


@dataclass
class DRData:
    """What the DR report fetched: the targets, every drill's components, the report's end on the clock, and
    Kubecost's allocations over the drills' hours."""

    targets: DRTargets
    components: pd.DataFrame
    end: pd.Timestamp
    costs: DrillCosts = field(default_factory=DrillCosts)


def fetch(sources: Sources, params: Mapping[str, Any]) -> DRData:
    """The targets file and the drill logs: `drills_uri` when given (read live, recorded into the run's snapshot
    like every other fetch), else the profile's drill source; components outside the targets are flagged. Then
    each drill's cost hours from Kubecost (`fetch_drill_costs`)."""
    targets = load_dr_targets(params.get("targets", "params/dr_targets.yaml"))
    source = sources.drill_source(params.get("drills_uri"), known_components=targets.component_names())
    end = parse_time(params.get("end", "now"), now=sources.now(), field="end")
    components = fetch_components(source)
    windows = drills_in_window(components, end, int(params.get("quarters", 8)))
    return DRData(targets, components, end, fetch_drill_costs(sources.kubecost, windows))


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
    dr_summary: dict[str, Any]  # analysis.dr.dr_summary + costs + warnings: the dr block of summary.json
    costs: pd.DataFrame  # analysis.dr.drill_costs, drills of the window
    cost_unavailable: str | None = None  # why no drill has a cost (Kubecost not configured or failing)
    data_problems: list[str] = field(default_factory=list)  # from the logs: invalid lines, duplicates, ...
    warnings: list[str] = field(default_factory=list)  # every caveat for the first screen and summary.json
    title: str = "Disaster-recovery trends"

    @property
    def window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """From the start of the first quarter shown to the report's end."""
        return dr.quarter_start(self.quarters[0]), self.end

    def summary(self) -> dict[str, Any]:
        """The dr block of summary.json."""
        return self.dr_summary

    def headline(self) -> str:
        """The first screen (Markdown); the warnings follow it."""
        return headline_markdown(self, self.title)

    @property
    def latest_drill_id(self) -> str | None:
        latest = self.dr_summary.get("latest_drill")
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
        """One row per drill: duration against the whole-drill target, status, reason, cost."""
        columns = ["drill_id", "quarter", "started_at", "duration_seconds", "duration_target_seconds", "status",
                   "components_passed", "components_failed", "reason", "cost"]
        return self.drills[columns].reset_index(drop=True)

    def cost_table(self) -> pd.DataFrame:
        """One row per drill: its cost hours, the cluster's cost over them, and why it is unknown."""
        costs = self.costs.merge(self.drills[["drill_id", "quarter", "status"]], on="drill_id", how="left")
        columns = ["drill_id", "quarter", "status", "cost_start", "cost_end", "cost_hours", "cost", "cost_note"]
        return costs.sort_values(["cost_start", "drill_id"], na_position="last")[columns].reset_index(drop=True)

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
        return pd.DataFrame({"quarter": self.dr_summary["missing_quarters"]}, dtype=object)

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


def cost_caveats(costs: DrillCosts) -> list[str]:
    """The warnings of the drill costs: Kubecost failing. Drills before Kubecost's data, or Kubecost not
    configured, are said in the cost section and the `cost_note`s, not warned about (expected, not a fault)."""
    return [f"drill costs unavailable: {costs.unavailable}"] if costs.failed and costs.unavailable else []


def _with_costs(summary: dict[str, Any], table: pd.DataFrame, unavailable: str | None) -> None:
    """Add each drill's cost fields and the `drill_costs` block to the dr block of summary.json (in place)."""
    by_drill = {row.drill_id: row for row in table.itertuples(index=False)}
    for drill in summary["drills"]:
        drill.update(dr.cost_fields(by_drill[drill["drill_id"]]))
    summary["drill_costs"] = {
        "rule": "the whole cluster's cost (every allocation and idle) over the hours the drill touches: "
                "disaster_declared floored to the hour .. the last recovered (or aborted) raised to the hour",
        "known": int(table["cost"].notna().sum()), "unavailable": unavailable}


def build_tables(components: pd.DataFrame, targets: DRTargets, *, end: Any, quarters: int = 8,
                 costs: DrillCosts | None = None) -> DRReport:
    """Evaluate the drills up to `end` against `targets` and keep the last `quarters` quarters; each drill's cost
    from `costs` (none given: every cost unknown, "not fetched")."""
    costs = costs if costs is not None else DrillCosts(unavailable="drill costs were not fetched")
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
    windows = drills_in_window(components, end_ts, quarters)
    reasons = {w: costs.unavailable for w in windows["drill_id"]} if costs.unavailable else costs.reasons
    cost_table = dr.drill_costs(windows, costs.allocations, reasons)
    drills = drills.merge(cost_table[["drill_id", "cost", "cost_hours"]], on="drill_id", how="left")
    _with_costs(summary, cost_table, costs.unavailable)
    problems = list(components.attrs.get("warnings", []))
    caveats = [*problems, *_unknown_rpo(evaluated), *cost_caveats(costs)]
    if missing := summary["missing_quarters"]:
        caveats.append(f"no drill at all in {', '.join(missing)} (quarter{'s' if len(missing) > 1 else ''} "
                       "without a DR drill)")
    if not len(drills):
        caveats.append(f"no drill in the window {window[0]} .. {window[-1]}")
    summary["warnings"] = caveats
    return DRReport(end_ts, window, targets, held, evaluated, drills, trends, summary, cost_table, costs.unavailable,
                    problems, caveats)


def headline_markdown(report: DRReport, title: str | None = None) -> str:
    """The first screen: the latest drill against the whole-drill target, passes, regressions, missing
    quarters, aborted drills and data problems (Markdown). The notebook shows `report.warnings` right after it
    with `run.warn` (the runner also lists them at the very top of the report)."""
    summary = report.dr_summary
    lines = [f"# {md(title or 'Disaster-recovery trends')}", ""]
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
                  f"{md(r['component'])} {r['metric'].upper()} {format_seconds(r['value_seconds'])} in "
                  f"{md(r['drill_id'])}"
                  for r in regressions) if regressions else "none") + " |",
              "| Quarters without a drill | " + (", ".join(f"**{q}**" for q in summary["missing_quarters"])
                                                 or "none") + " |",
              "| Aborted drills | " + (", ".join(f"`{a['drill_id']}`" for a in aborted) or "none") + " |",
              "| Problems in the drill logs | " + (f"**{len(report.data_problems)}** (see Data quality below)"
                                                  if report.data_problems else "none") + " |",
              f"| Drill cost | {cost_headline(report)} |"]
    return "\n".join(lines)


def cost_headline(report: DRReport) -> str:
    """The first screen's cost cell: the latest drill with a cost and how many drills have one (Markdown)."""
    if report.cost_unavailable:
        return "unavailable: " + md(report.cost_unavailable)
    known = report.costs[report.costs["cost"].notna()].sort_values("cost_start")
    if not len(known):
        return f"unknown for all {plural(len(report.costs), 'drill')} (see What each drill cost)"
    latest = known.iloc[-1]
    return (f"**{md_money(latest['cost'])}** for `{latest['drill_id']}` ({plural(int(latest['cost_hours']), 'hour')}"
            f" of the whole cluster); known for {len(known)} of {plural(len(report.costs), 'drill')}")


def build(data: DRData, params: Mapping[str, Any]) -> DRReport:
    """The report over the last `quarters` quarters before `end` (pure)."""
    report = build_tables(data.components, data.targets, end=data.end, quarters=int(params.get("quarters", 8)),
                          costs=data.costs)
    report.title = params.get("title") or SPEC.title
    return report


def check(values: dict[str, Any]) -> None:
    """The targets file parses and validates (exit 2 before any kernel)."""
    read_file_param("targets", load_dr_targets, values["targets"])


def window(params: Mapping[str, Any], now: pd.Timestamp) -> Window:
    """From the start of the first of the `quarters` quarters to `end`."""
    end = parse_time(params.get("end", "now"), now=now, field="end")
    return dr.quarter_start(dr.report_quarters(end, int(params.get("quarters", 8)))[0]), end


def index_headline(summary: Mapping[str, Any]) -> str:
    """`9 drills; 2 regressions; missing 2025-Q2`."""
    missing = summary.get("missing_quarters") or []
    return (f"{len(summary.get('drills') or [])} drills; {len(summary.get('regressions') or [])} regressions"
            + (f"; missing {', '.join(map(str, missing))}" if missing else ""))


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def index_trends(summaries: Sequence[Mapping[str, Any]]) -> list[go.Figure]:
    """The latest completed drill's duration against the whole-drill target across the published runs (the
    quarterly runs), in minutes, from each summary.json's `latest_drill`; a line per source (demo data, live,
    snapshot); a failed run is a gap."""
    runs = trend_runs(summaries)
    points = []
    for run in runs:
        latest = (run.summary or {}).get("latest_drill")
        if not isinstance(latest, Mapping):
            continue
        duration, target = _seconds(latest.get("duration_seconds")), _seconds(latest.get("duration_target_seconds"))
        verdict = "within" if latest.get("duration_passed") else "OVER"
        points.append({"end": run.end, "series": "latest drill", "value": None if duration is None else duration / 60,
                       "source": run.source_label,
                       "text": f"{latest.get('drill_id')}: {format_seconds(duration)} ({verdict} target)"})
        points.append({"end": run.end, "series": "target", "value": None if target is None else target / 60,
                       "source": run.source_label, "text": f"target {format_seconds(target)}"})
    return [run_trend(points, runs, published=len(summaries), title="Latest drill against its target",
                      y_title="minutes", dashed=("target",))]


#: How the DR report's tables read (over plots.table.COMMON).
TABLE_COLUMNS = {
    "started_at": Column("time", "Started"),
    "duration_seconds": Column("duration", "Duration", note="the drill was aborted"),
    "duration_target_seconds": Column("duration", "Target"),
    "rto_seconds": Column("duration", "RTO", note="not recovered"),
    "rpo_seconds": Column("duration", "RPO", note="no data_loss event: RPO unknown"),
    "rto_target_seconds": Column("duration", "RTO target", note="no target"),
    "rpo_target_seconds": Column("duration", "RPO target", note="no target"),
    "value_seconds": Column("duration", "Value"),
    "previous_seconds": Column("duration", "Previous drill", note="first drill"),
    "trailing_median_seconds": Column("duration", "Trailing median", note="no earlier drill"),
    "target_seconds": Column("duration", "Target", note="no target"),
    "aborted_after_seconds": Column("duration", "Aborted after", note="no abort time in the log"),
    "recovered_before_abort": Column("text", "Recovered before the abort"),
    "components_passed": Column("count", "Components passed"),
    "components_failed": Column("count", "Components failed"),
    "reason": Column("text", note="passed"),
    "location": Column("text", "File"),
    "problem": Column("text"),
    "cost": Column("money", "Cost (cluster)", note="unknown: the reason is in the table of What each drill cost"),
    "cost_start": Column("time", "Cost hours from", note="the log has no end"),
    "cost_end": Column("time", "to", note="the log has no end"),
    "cost_hours": Column("count", "Hours"),
    "cost_note": Column("text", "Why unknown", note="known"),
}


SPEC = ReportSpec(
    "dr", "notebooks/dr_trends.ipynb", "Disaster-recovery trends", (
        *common_params("Disaster-recovery trends"),
        Param("drills_uri", "uri", None, "drill logs: s3://bucket/prefix or a folder (default: "
              "GORELIABLE_DRILLS_URI / the profile's)", check_drills_uri),
        Param("quarters", "int", 8, "quarters of history", check_int_range(1, 40)),
        Param("targets", "file", "params/dr_targets.yaml", "RTO/RPO targets per component", check_file),
    ), "params/dr.yaml", check=check, window=window, index_headline=index_headline, index_trends=index_trends,
    columns=TABLE_COLUMNS, suite_position=2)
