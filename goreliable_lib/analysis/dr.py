"""Disaster-recovery drills against their targets: pass/fail, trends, regressions, missing quarters (pure).

Input: `DrillSource.components()` (one row per drill and component) and a `DRTargets`. Rules:
- a component passes when its RTO <= its RTO target AND its RPO is known and <= its RPO target; an unknown RPO
  (no `data_loss` event) is NOT a pass (we cannot show the data survived); a component of the targets missing
  from a completed drill fails ("not recorded");
- a drill passes when it was not aborted, its duration (disaster_declared to the last recovered) is within the
  whole-drill target, and every target component passed. Aborted drills are kept and shown with status
  `aborted`, never counted as passes, and left out of trends (they are not comparable);
- components without a target (unknown components) are shown with status `unknown_component` and counted
  neither as passes nor as failures;
- regression of a component's RTO or RPO in a completed drill: (worse than the previous completed drill AND
  worse than the median of the up to `window` previous completed drills by more than
  max(`ratio` x median, `seconds`)), OR a target breach. Default tolerance: 25% or 60 s, window 4;
- missing quarters: calendar quarters of the report window with no drill log at all (an aborted drill counts as
  a drill held; it is listed under `aborted_drills`). The quarter holding `end` is not reported missing while it
  is still in progress;
- a drill's cost is the whole cluster's cost (every allocation and idle, from Kubecost/OpenCost at an hourly
  step) over the hours its window touches: the drill's window runs from `disaster_declared` to its end (the last
  `recovered`, or the `aborted` event of an aborted drill); its cost hours from that start floored to the hour to
  that end raised to the hour (at least one hour). The cluster keeps running while it is rebuilt, so this is what
  the platform cost during the drill, not the drill's extra cost. A cost is given only when Kubecost holds every
  one of those hours; otherwise it is unknown with the reason (never 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from goreliable_lib.inputs.dr_targets import DRTargets
from goreliable_lib.timeutil import parse_time, to_rfc3339


@dataclass(frozen=True)
class RegressionTolerance:
    """How much worse than the trailing median a figure must be to count as a regression."""

    ratio: float = 0.25
    seconds: float = 60.0
    window: int = 4

    def threshold(self, median: float) -> float:
        return median + max(self.ratio * median, self.seconds)


def quarter_label(ts: pd.Timestamp) -> str:
    """`2026-Q3` for a timestamp."""
    return f"{ts.year}-Q{(ts.month - 1) // 3 + 1}"


def evaluate_components(components: pd.DataFrame, targets: DRTargets) -> pd.DataFrame:
    """One row per drill and component with targets and verdicts.

    Columns: drill_id, quarter, scenario, started_at, component, known_component, aborted, rto_seconds,
    rpo_seconds, rto_target_seconds, rpo_target_seconds, rto_passed, rpo_passed, passed, status
    (`pass`|`fail`|`aborted`|`unknown_component`), reason (why it did not pass, '' when it passed).
    """
    table = targets.frame().set_index("component")
    rows: list[dict[str, Any]] = []
    for drill_id, drill in components.groupby("drill_id", sort=True):
        started_at = drill["disaster_declared_at"].min()
        aborted = bool(drill["aborted"].any())
        scenario = next((s for s in drill["scenario"] if isinstance(s, str)), None)
        present = {row.component: row for row in drill.itertuples(index=False)}
        names = list(present) + [c for c in table.index if c not in present]
        for component in names:
            row = present.get(component)
            rto = float(row.rto_seconds) if row is not None else math.nan
            rpo = float(row.rpo_seconds) if row is not None else math.nan
            known = component in table.index
            rto_target = float(table.at[component, "rto_target_seconds"]) if known else math.nan
            rpo_target = float(table.at[component, "rpo_target_seconds"]) if known else math.nan
            rto_passed = known and not math.isnan(rto) and rto <= rto_target
            rpo_passed = known and not math.isnan(rpo) and rpo <= rpo_target
            reasons = []
            if not known:
                status, reasons = "unknown_component", ["no target for this component"]
            else:
                if aborted:
                    reasons.append("drill aborted")
                if row is None:
                    reasons.append("not recorded in the drill")
                elif math.isnan(rto):
                    reasons.append("never recovered")
                elif not rto_passed:
                    reasons.append(f"RTO {rto:.0f}s > target {rto_target:.0f}s")
                if row is not None and math.isnan(rpo):
                    reasons.append("RPO unknown (no data_loss event)")
                elif row is not None and not rpo_passed:
                    reasons.append(f"RPO {rpo:.0f}s > target {rpo_target:.0f}s")
                status = "aborted" if aborted else ("pass" if not reasons else "fail")
            rows.append({
                "drill_id": drill_id, "quarter": quarter_label(started_at) if pd.notna(started_at) else None,
                "scenario": scenario, "started_at": started_at, "component": component, "known_component": known,
                "aborted": aborted, "rto_seconds": rto, "rpo_seconds": rpo, "rto_target_seconds": rto_target,
                "rpo_target_seconds": rpo_target, "rto_passed": bool(rto_passed), "rpo_passed": bool(rpo_passed),
                "passed": status == "pass", "status": status, "reason": "; ".join(reasons),
            })
    columns = ["drill_id", "quarter", "scenario", "started_at", "component", "known_component", "aborted",
               "rto_seconds", "rpo_seconds", "rto_target_seconds", "rpo_target_seconds", "rto_passed",
               "rpo_passed", "passed", "status", "reason"]
    return pd.DataFrame(rows, columns=columns)


def evaluate_drills(components: pd.DataFrame, targets: DRTargets) -> pd.DataFrame:
    """One row per drill: drill_id, quarter, scenario, started_at, duration_seconds, duration_target_seconds,
    duration_passed, aborted, components_passed, components_failed, passed, status (`pass`|`fail`|`aborted`),
    reason. Sorted by start."""
    evaluated = evaluate_components(components, targets)
    target = targets.drill_duration_target_seconds
    rows = []
    for drill_id, drill in evaluated.groupby("drill_id", sort=True):
        source = components[components["drill_id"] == drill_id]
        duration = float(source["drill_duration_seconds"].iloc[0])
        aborted = bool(drill["aborted"].iloc[0])
        known = drill[drill["known_component"]]
        duration_passed = not math.isnan(duration) and duration <= target
        failed = known[~known["passed"]]
        reasons = []
        if aborted:
            reasons.append("drill aborted")
        elif math.isnan(duration):
            reasons.append("duration unknown")
        elif not duration_passed:
            reasons.append(f"duration {duration:.0f}s > target {target:.0f}s")
        if not aborted and len(failed):
            reasons.append("failed: " + ", ".join(failed["component"]))
        status = "aborted" if aborted else ("pass" if not reasons else "fail")
        rows.append({
            "drill_id": drill_id, "quarter": drill["quarter"].iloc[0], "scenario": drill["scenario"].iloc[0],
            "started_at": drill["started_at"].iloc[0], "duration_seconds": duration,
            "duration_target_seconds": target, "duration_passed": duration_passed, "aborted": aborted,
            "components_passed": int(known["passed"].sum()), "components_failed": int(len(failed)),
            "passed": status == "pass", "status": status, "reason": "; ".join(reasons),
        })
    columns = ["drill_id", "quarter", "scenario", "started_at", "duration_seconds", "duration_target_seconds",
               "duration_passed", "aborted", "components_passed", "components_failed", "passed", "status", "reason"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["started_at", "drill_id"]).reset_index(drop=True)


def component_trends(components: pd.DataFrame, targets: DRTargets,
                     tolerance: RegressionTolerance = RegressionTolerance()) -> pd.DataFrame:
    """Per component and metric (`rto`, `rpo`), one row per completed drill in time order.

    Columns: component, metric, drill_id, quarter, started_at, value_seconds, previous_seconds,
    trailing_median_seconds (of the up to `tolerance.window` previous drills), threshold_seconds,
    target_seconds, worse_than_trend, target_breach, regression, reason.
    """
    evaluated = evaluate_components(components, targets)
    completed = evaluated[~evaluated["aborted"] & evaluated["known_component"]].sort_values(["started_at", "drill_id"])
    rows = []
    for metric in ("rto", "rpo"):
        for component, series in completed.groupby("component", sort=True):
            series = series[series[f"{metric}_seconds"].notna()]
            history: list[float] = []
            for row in series.itertuples(index=False):
                value = float(getattr(row, f"{metric}_seconds"))
                target = float(getattr(row, f"{metric}_target_seconds"))
                previous = history[-1] if history else math.nan
                median = float(pd.Series(history[-tolerance.window:]).median()) if history else math.nan
                threshold = tolerance.threshold(median) if history else math.nan
                worse = bool(history) and value > previous and value > threshold
                breach = value > target
                reasons = []
                if worse:
                    reasons.append(f"{metric.upper()} {value:.0f}s worse than the previous drill ({previous:.0f}s) "
                                   f"and the trailing median ({median:.0f}s) by more than the tolerance")
                if breach:
                    reasons.append(f"{metric.upper()} {value:.0f}s breaches the {target:.0f}s target")
                rows.append({
                    "component": component, "metric": metric, "drill_id": row.drill_id, "quarter": row.quarter,
                    "started_at": row.started_at, "value_seconds": value, "previous_seconds": previous,
                    "trailing_median_seconds": median, "threshold_seconds": threshold, "target_seconds": target,
                    "worse_than_trend": worse, "target_breach": breach, "regression": worse or breach,
                    "reason": "; ".join(reasons),
                })
                history.append(value)
    columns = ["component", "metric", "drill_id", "quarter", "started_at", "value_seconds", "previous_seconds",
               "trailing_median_seconds", "threshold_seconds", "target_seconds", "worse_than_trend",
               "target_breach", "regression", "reason"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["component", "metric", "started_at"]).reset_index(drop=True)


def regressions(trends: pd.DataFrame) -> pd.DataFrame:
    """The regression rows of `component_trends`, in time order."""
    rows = trends[trends["regression"].astype(bool)]
    return rows.sort_values(["started_at", "component", "metric"]).reset_index(drop=True)


def report_quarters(end: object, quarters: int = 8) -> list[str]:
    """The `quarters` calendar quarters ending with the one holding `end`, oldest first."""
    current = parse_time(end, field="end").tz_localize(None).to_period("Q")
    return [f"{(current - back).year}-Q{(current - back).quarter}" for back in range(quarters - 1, -1, -1)]


def quarter_start(label: str) -> pd.Timestamp:
    """The first instant (UTC) of a quarter label like `2026-Q1`."""
    return pd.Period(label, freq="Q").start_time.tz_localize("UTC")


def missing_quarters(components: pd.DataFrame, end: object, quarters: int = 8) -> list[str]:
    """Quarters of the window without any drill; the quarter in progress at `end` is never reported."""
    held = {quarter_label(ts) for ts in components["disaster_declared_at"].dropna()
            if ts <= parse_time(end, field="end")}
    window = report_quarters(end, quarters)
    return [quarter for quarter in window[:-1] if quarter not in held]


HOUR = pd.Timedelta(hours=1)
COST_WINDOW_COLUMNS = ["drill_id", "quarter", "started_at", "ended_at", "cost_start", "cost_end", "cost_hours"]
COST_COLUMNS = ["drill_id", "cost_start", "cost_end", "cost_hours", "cost", "cost_note"]


def cost_hours(started_at: pd.Timestamp, ended_at: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The whole hours a drill's window [started_at, ended_at] touches: started_at floored to the hour, ended_at
    raised to the hour, at least one hour (a window ending on the hour stops there)."""
    start = started_at.floor("h")
    return start, max(ended_at.ceil("h"), start + HOUR)


def drill_windows(components: pd.DataFrame) -> pd.DataFrame:
    """One row per drill of `components` (DrillSource.components()): drill_id, quarter, started_at
    (`disaster_declared`), ended_at (the last `recovered`; the `aborted` event for an aborted drill; NaT when
    neither is known), cost_start, cost_end, cost_hours (`cost_hours`; NaT and 0 without both ends)."""
    rows = []
    for drill_id, drill in components.groupby("drill_id", sort=True):
        started_at = drill["disaster_declared_at"].min()
        if bool(drill["aborted"].any()):
            ended_at = drill["aborted_at"].min()
        else:
            duration = float(drill["drill_duration_seconds"].iloc[0])
            ended_at = started_at + pd.Timedelta(seconds=duration) if not math.isnan(duration) else pd.NaT
        known = pd.notna(started_at) and pd.notna(ended_at)
        start, end = cost_hours(started_at, ended_at) if known else (pd.NaT, pd.NaT)
        rows.append({"drill_id": drill_id, "quarter": quarter_label(started_at) if pd.notna(started_at) else None,
                     "started_at": started_at, "ended_at": ended_at, "cost_start": start, "cost_end": end,
                     "cost_hours": int((end - start) / HOUR) if known else 0})
    return pd.DataFrame(rows, columns=COST_WINDOW_COLUMNS)


def _span(start: pd.Timestamp, end: pd.Timestamp) -> str:
    return f"{start:%Y-%m-%d %H:%M}..{end:%H:%M} UTC" if end - start < pd.Timedelta(days=1) else (
        f"{start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M} UTC")


def drill_cost(window: Any, allocations: pd.DataFrame) -> tuple[float, str]:
    """(cost, note) of one drill from Kubecost's hourly allocations over its cost hours (`start` of each row is
    its hour): the sum of every row's `total_cost` when every hour is there, else NaN and why ('' when known)."""
    span = _span(window.cost_start, window.cost_end)
    held = set(pd.DatetimeIndex(allocations["start"]).unique()) if len(allocations) else set()
    hours = pd.date_range(window.cost_start, window.cost_end, freq="h", inclusive="left")
    missing = [hour for hour in hours if hour not in held]
    if not held:
        return math.nan, (f"Kubecost holds no allocation for {span}: the hours are outside its data (before it "
                          "starts, or past its retention)")
    if missing:
        return math.nan, (f"Kubecost holds {len(hours) - len(missing)} of the {len(hours)} hours of {span} (none for "
                          + ", ".join(f"{hour:%H:%M}" for hour in missing) + "): a part would understate the cost")
    if allocations["total_cost"].isna().any():
        return math.nan, f"Kubecost sent no totalCost for part of {span}"
    return float(allocations["total_cost"].sum()), ""


def drill_costs(windows: pd.DataFrame, allocations: Mapping[str, pd.DataFrame],
                reasons: Mapping[str, str]) -> pd.DataFrame:
    """Each drill's cost (the rule in the module doc): `windows` from `drill_windows`, `allocations` Kubecost's
    hourly frames by drill_id (aggregated by cluster, idle kept apart), `reasons` why a drill has no frame.
    Columns: drill_id, cost_start, cost_end, cost_hours, cost (NaN when unknown), cost_note (why; '' known)."""
    rows = []
    for window in windows.itertuples(index=False):
        if pd.isna(window.cost_start):
            cost, note = math.nan, "the drill's log has no end (no component recovered, no aborted event)"
        elif window.drill_id in allocations:
            cost, note = drill_cost(window, allocations[window.drill_id])
        else:
            cost, note = math.nan, reasons.get(window.drill_id, "Kubecost was not asked")
        rows.append({"drill_id": window.drill_id, "cost_start": window.cost_start, "cost_end": window.cost_end,
                     "cost_hours": window.cost_hours, "cost": cost, "cost_note": note})
    return pd.DataFrame(rows, columns=COST_COLUMNS)


def cost_fields(row: Any) -> dict[str, Any]:
    """A drill's cost fields of summary.json (`drills[]`) from a `drill_costs` row."""
    return {"cost": _number(row.cost), "cost_start": _time(row.cost_start), "cost_end": _time(row.cost_end),
            "cost_hours": int(row.cost_hours), "cost_note": row.cost_note or None}


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _time(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else to_rfc3339(value)


def dr_summary(components: pd.DataFrame, targets: DRTargets, *, end: object, quarters: int = 8,
               tolerance: RegressionTolerance = RegressionTolerance()) -> dict[str, Any]:
    """The `dr` block of summary.json (DESIGN.md): drills, regressions, missing_quarters, plus aborted_drills,
    unknown_components, latest_drill, quarters, targets and tolerance. JSON-ready (NaN -> None, RFC3339 times).

    Trends use every drill up to `end` (so the first drills of the window have a history); the lists show the
    drills of the last `quarters` quarters.
    """
    end_ts = parse_time(end, field="end")
    window = report_quarters(end_ts, quarters)
    held = components[components["disaster_declared_at"].isna() | (components["disaster_declared_at"] <= end_ts)]
    evaluated = evaluate_components(held, targets)
    drills = evaluate_drills(held, targets)
    in_window = drills[drills["quarter"].isin(window)]
    found = regressions(component_trends(held, targets, tolerance))
    found = found[found["quarter"].isin(window)]
    drill_list = []
    for drill in in_window.itertuples(index=False):
        own = evaluated[evaluated["drill_id"] == drill.drill_id]
        drill_list.append({
            "drill_id": drill.drill_id, "quarter": drill.quarter, "scenario": drill.scenario,
            "started_at": _time(drill.started_at), "duration_seconds": _number(drill.duration_seconds),
            "duration_target_seconds": _number(drill.duration_target_seconds),
            "duration_passed": bool(drill.duration_passed), "aborted": bool(drill.aborted),
            "passed": bool(drill.passed), "status": drill.status, "reason": drill.reason,
            "components": [{
                "component": c.component, "rto_seconds": _number(c.rto_seconds), "rpo_seconds": _number(c.rpo_seconds),
                "rto_target_seconds": _number(c.rto_target_seconds),
                "rpo_target_seconds": _number(c.rpo_target_seconds),
                "passed": bool(c.passed), "rto_passed": bool(c.rto_passed), "rpo_passed": bool(c.rpo_passed),
                "status": c.status, "reason": c.reason,
            } for c in own.itertuples(index=False)],
        })
    completed = in_window[~in_window["aborted"]]
    latest = completed.iloc[-1] if len(completed) else None
    unknown = evaluated[~evaluated["known_component"] & evaluated["quarter"].isin(window)]
    return {
        "quarters": window,
        "drills": drill_list,
        "regressions": [{
            "drill_id": r.drill_id, "quarter": r.quarter, "component": r.component, "metric": r.metric,
            "value_seconds": _number(r.value_seconds), "previous_seconds": _number(r.previous_seconds),
            "trailing_median_seconds": _number(r.trailing_median_seconds), "target_seconds": _number(r.target_seconds),
            "worse_than_trend": bool(r.worse_than_trend), "target_breach": bool(r.target_breach), "reason": r.reason,
        } for r in found.itertuples(index=False)],
        "missing_quarters": missing_quarters(held, end_ts, quarters),
        "aborted_drills": [{"drill_id": d.drill_id, "quarter": d.quarter, "started_at": _time(d.started_at)}
                           for d in in_window[in_window["aborted"]].itertuples(index=False)],
        "unknown_components": sorted({f"{u.drill_id}:{u.component}" for u in unknown.itertuples(index=False)}),
        "latest_drill": None if latest is None else {
            "drill_id": latest["drill_id"], "started_at": _time(latest["started_at"]),
            "duration_seconds": _number(latest["duration_seconds"]),
            "duration_target_seconds": _number(latest["duration_target_seconds"]),
            "duration_passed": bool(latest["duration_passed"])},
        "drill_duration_target_seconds": targets.drill_duration_target_seconds,
        "targets": [{k: (v if not isinstance(v, float) else _number(v)) for k, v in row.items()}
                    for row in targets.frame().to_dict("records")],
        "tolerance": asdict(tolerance),
    }
