"""What an incident did, from the per-minute events and Kubecost's hourly costs (pure: the postmortem's maths).

Definitions (the postmortem's summary.json fields):
- `bad_events`: bad events of the minutes in (incident_start, incident_end];
- `budget_consumed`: bad_events / ((1 - objective) x total events of the 30 days ending at the incident's end);
- `first_alert_at`: start of the first multiwindow alert period (SRE workbook rules, analysis.slo.ALERT_RULES)
  evaluated in the incident; `time_to_detect_seconds` = first_alert_at - incident_start;
- an objective with time-slice budgeting (Timeslices, RatioTimeslices, a thresholdMetric) is charged in slices,
  aligned to the 30-day budget window's start: `budget_consumed` = bad slices ending in the incident over the
  budget's allowed bad slices ((1 - objective) x the slices with events of those 30 days), `bad_slices` and
  `total_slices` say how many; `bad_events` stays the requests' count (None for a thresholdMetric, which counts no
  events), and its alerts and burn rates count slices (`analysis.slo.slice_events`);
- the *view* runs from BEFORE (6 h) before the incident's start to AFTER (6 h) after its end, cut at the
  report's `end` and at the data's clock: the SLIs, burn rates, alerts and timeline are shown over it;
- `cost_impact.cost`: Kubecost cost of the affected services' controllers (controller named like the
  service) in the whole hours overlapping the incident (Kubecost's resolution is one hour);
  `cost_impact.usual_cost`: the median of the same hours' cost over the previous 4 weeks' same weekday.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from goreliable_lib.analysis import slo as analysis
from goreliable_lib.analysis.runs import gap_periods
from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.catalog import SLOObjective
from goreliable_lib.timeutil import MINUTE, parse_time, to_rfc3339

BEFORE = pd.Timedelta(hours=6)
AFTER = pd.Timedelta(hours=6)
#: The error budget an incident is charged to: the 30 days ending at the incident's end (DESIGN.md).
BUDGET_WINDOW = "30d"
#: Weeks of same-weekday history the usual cost is the median of.
BASELINE_WEEKS = 4
WEEK = pd.Timedelta(days=7)
#: SLI points on the chart: the SLI of each 5-minute bucket.
SLI_STEP = "5min"
#: Burn-rate windows drawn on the chart (the page alerts' long and short windows).
BURN_RATE_WINDOWS_SHOWN = ("5m", "1h", "6h")
#: "Fast burn" on the timeline: the 5-minute burn rate at or above the fastest page threshold.
FAST_BURN = analysis.AlertRule("fast burn", "5m", "5m", analysis.ALERT_RULES[0].burn_rate)
_INSTANCE = re.compile(r'instance="([^"]*)"')

# --------------------------------------------------------------------------------------------- the incident
@dataclass(frozen=True)
class Incident:
    """The incident (start, end] and the view around it, whole minutes, UTC."""

    start: pd.Timestamp
    end: pd.Timestamp
    view_start: pd.Timestamp
    view_end: pd.Timestamp

    @property
    def duration_seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def budget_start(self) -> pd.Timestamp:
        return self.end - analysis.window_length(BUDGET_WINDOW)


def resolve_incident(incident_start: Any, incident_end: Any, *, now: pd.Timestamp, end: Any = "now",
                     before: Any = BEFORE, after: Any = AFTER) -> Incident:
    """The incident on the source's clock `now`; the view is cut at `end` and `now`. BadInputError naming the
    parameter when the incident is empty, reversed, or not over yet."""
    start = parse_time(incident_start, now, field="incident_start").floor("min")
    stop = parse_time(incident_end, now, field="incident_end").floor("min")
    report_end = parse_time(end, now, field="end").floor("min")
    if stop <= start:
        raise BadInputError(f"incident_end: {to_rfc3339(stop)} must be after incident_start {to_rfc3339(start)}")
    if stop > now:
        raise BadInputError(f"incident_end: {to_rfc3339(stop)} is after the data's clock {to_rfc3339(now)} "
                            "(is the incident over? a snapshot ends at its as_of)")
    if report_end < stop:
        raise BadInputError(f"end: {to_rfc3339(report_end)} is before incident_end {to_rfc3339(stop)}")
    view_end = min(stop + pd.Timedelta(after), report_end, now.floor("min"))
    return Incident(start, stop, start - pd.Timedelta(before), view_end)


# --------------------------------------------------------------------------------------------- SLO analysis
@dataclass
class SLOImpact:
    """One SLO through the incident: the summary entry and the frames the report shows."""

    slo: SLOObjective
    impact: dict[str, Any]  # analysis.slo.incident_impact
    alerts: pd.DataFrame  # alert periods over the view (analysis.slo.ALERT_COLUMNS)
    fast_burns: pd.DataFrame  # periods of the view with a 5-minute burn rate >= 14.4
    sli: pd.DataFrame  # timestamp, good, total, sli (per SLI_STEP bucket of the view)
    burn_rates: pd.DataFrame  # timestamp, window, burn_rate (every minute of the view)
    resets: pd.DataFrame  # counter resets in the view
    gaps: pd.DataFrame  # scrape gaps in the view: start, end, minutes
    incident_coverage: float
    budget_total_events: float

    @property
    def name(self) -> str:
        return self.slo.name

    def summary(self) -> dict[str, Any]:
        """The summary.json entry: DESIGN.md's fields first, then context."""
        impact = self.impact
        return {"name": self.name, "bad_events": impact["bad_events"], "budget_consumed": impact["budget_consumed"],
                "first_alert_at": impact["first_alert_at"], "time_to_detect_seconds": impact["time_to_detect_seconds"],
                "service": self.slo.service, "objective": self.slo.objective, "total_events": impact["total_events"],
                "budget_window_total_events": _number(self.budget_total_events),
                "coverage": _number(self.incident_coverage),
                "alerts": analysis.alerts_summary(self.alerts), "slo": self.slo.slo_name,
                "group": self.slo.group_labels, "grouped_by": self.slo.grouped_by,
                "objective_name": self.slo.objective_name, "budgeting_method": self.slo.budgeting_method,
                **{k: impact[k] for k in ("bad_slices", "total_slices", "budget_window_slices") if k in impact}}


def _number(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def sli_buckets(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, step: str = SLI_STEP) -> pd.DataFrame:
    """SLI per bucket of `step` over (start, end]: a bucket labelled t holds the minutes of (t - step, t]."""
    grid = analysis.on_minute_grid(events, start, end)
    label = grid.index.ceil(step)
    grouped = grid.groupby(label)
    frame = pd.DataFrame({"good": grouped["good"].sum(min_count=1), "total": grouped["total"].sum(min_count=1)})
    frame["sli"] = (frame["good"] / frame["total"]).where(frame["total"] > 0)
    frame.index.name = "timestamp"
    return frame.reset_index()


def burn_rate_series(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, objective: float,
                     windows: tuple[str, ...] = BURN_RATE_WINDOWS_SHOWN) -> pd.DataFrame:
    """Rolling burn rates over each window at every minute of (start, end], long: timestamp, window, burn_rate."""
    parts = [analysis.rolling_burn_rate(events, start, end, window, objective).rename("burn_rate")
             .rename_axis("timestamp").reset_index().assign(window=window) for window in windows]
    return pd.concat(parts, ignore_index=True)[["timestamp", "window", "burn_rate"]]


def analyse_slo(slo: SLOObjective, events: pd.DataFrame | None, resets: pd.DataFrame, incident: Incident,
                slices: pd.DataFrame | None = None, data_starts_at: pd.Timestamp | None = None,
                known_from: pd.Timestamp | None = None) -> SLOImpact:
    """Everything the report shows for one objective, from its per-minute events and counter resets; a
    time-slice objective is charged in slices (cut from `events`, or given: a thresholdMetric's `slices`, with
    `events` None). Minutes before `data_starts_at` (the server's oldest data) are not scrape gaps; alerts are
    evaluated only where their long window lies after `known_from` (the events are known after it)."""
    units = events
    if slo.time_sliced:
        if slices is None:
            budgeting = analysis.Budgeting(slo.budgeting_method, slo.time_slice_window, slo.time_slice_target)
            first = events["timestamp"].min() - MINUTE if len(events) else incident.budget_start  # type: ignore[union-attr]
            slices = analysis.time_slices(events, incident.budget_start, incident.view_end, budgeting,  # type: ignore[arg-type]
                                          history_start=min(first, incident.budget_start))
        units = analysis.slice_events(slices)
    impact = analysis.incident_impact(units, name=slo.name, objective=slo.objective, incident_start=incident.start,
                                      incident_end=incident.end, budget_window=BUDGET_WINDOW)
    if slo.time_sliced:
        impact["bad_slices"], impact["total_slices"] = impact["bad_events"], impact["total_events"]
        requests = analysis.window_counts(events, incident.start, incident.end) if events is not None else None
        impact["budget_window_slices"] = analysis.window_counts(units, incident.budget_start, incident.end).total
        impact["bad_events"] = requests.bad if requests is not None else None
        impact["total_events"] = requests.total if requests is not None else None
    alerts = analysis.alert_periods(units, slo.objective, incident.view_start, incident.view_end,
                                    known_from=known_from)
    fast = analysis.alert_periods(units, slo.objective, incident.view_start, incident.view_end, rules=(FAST_BURN,),
                                  known_from=known_from)
    in_view = (resets["timestamp"] > incident.view_start) & (resets["timestamp"] <= incident.view_end)
    if events is not None:
        view_grid = analysis.on_minute_grid(events, incident.view_start, incident.view_end)
        gaps = gap_periods(view_grid["total"], not_before=data_starts_at)
        coverage = analysis.window_counts(events, incident.start, incident.end).coverage
    else:  # a thresholdMetric: the share of the incident's slices with a value
        inside = slices[(slices["timestamp"] > incident.start) & (slices["timestamp"] <= incident.end)]  # type: ignore[index]
        gaps = gap_periods(pd.Series([], dtype=float, index=pd.DatetimeIndex([], tz="UTC")))
        coverage = float(inside["ratio"].notna().mean()) if len(inside) else math.nan
    return SLOImpact(
        slo=slo, impact=impact, alerts=alerts, fast_burns=fast,
        sli=sli_buckets(events if events is not None else units, incident.view_start, incident.view_end),
        burn_rates=burn_rate_series(units, incident.view_start, incident.view_end, slo.objective),
        resets=resets[in_view].reset_index(drop=True), gaps=gaps, incident_coverage=coverage,
        budget_total_events=analysis.window_counts(events, incident.budget_start, incident.end).total
        if events is not None else math.nan)


def slo_warnings(impacts: list[SLOImpact], incident: Incident) -> list[str]:
    """Caveats of the SLOs: no data, partial coverage (SLOs with the same coverage named together), an alert
    already firing when the incident started (it was not detected by it, and time to detect counts it)."""
    found = []
    if empty := [i.name for i in impacts if not i.impact.get("total_slices", i.impact["total_events"])]:
        found.append(f"{', '.join(empty)}: no events in the incident window (no data, not 100%): retention may have "
                     "dropped them, or the service was down hard; budget consumed is unknown")
    partial: dict[str, list[str]] = {}
    for item in impacts:
        if item.impact.get("total_slices", item.impact["total_events"]) and item.incident_coverage < 0.99:
            partial.setdefault(f"{item.incident_coverage:.1%}", []).append(item.name)
    for coverage, names in partial.items():
        found.append(f"{', '.join(names)}: only {coverage} of the incident's minutes have samples (scrape gaps); "
                     "the events of a gap count at the first scrape after it")
    for item in impacts:
        early = item.alerts[(item.alerts["start"] <= incident.start) & (item.alerts["end"] > incident.start)]
        for row in early.itertuples(index=False):
            found.append(f"{item.name}: the {row.severity} alert {row.long_window}/{row.short_window} was already "
                         f"firing when the incident started (since {to_rfc3339(row.start)} or earlier): its time "
                         "to detect is not a detection of this incident")
    return found


# --------------------------------------------------------------------------------------------- cost
@dataclass
class CostImpact:
    """Cost of the affected services in the incident's hours against the usual (same hours, previous weeks)."""

    scope: str  # e.g. "controllers api-gateway" or "whole cluster"
    hours_start: pd.Timestamp  # the whole hours overlapping the incident
    hours_end: pd.Timestamp
    hourly: pd.DataFrame  # hour, cost, usual_cost, low, high, baseline_weeks (over the view's hours)
    by_controller: pd.DataFrame  # namespace, controller, cost, usual_cost, change
    cost: float | None
    usual_cost: float | None
    baseline_weeks: int
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        change = (self.cost - self.usual_cost) if self.cost is not None and self.usual_cost is not None else None
        return {"cost": self.cost, "usual_cost": self.usual_cost, "change": change, "scope": self.scope,
                "hours": {"start": to_rfc3339(self.hours_start), "end": to_rfc3339(self.hours_end)},
                "baseline": f"median of the same hours on the previous {BASELINE_WEEKS} weeks (same weekday)",
                "baseline_weeks": self.baseline_weeks}


def cost_hours(incident: Incident, now: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The whole hours of the view Kubecost is asked for (the last one cut at the clock's last whole hour)."""
    return incident.view_start.floor("h"), min(incident.view_end.ceil("h"), now.floor("h"))


def _controller_name(controller: pd.Series) -> pd.Series:
    """`deployment:api-gateway` -> `api-gateway`."""
    return controller.astype(object).fillna("").astype(str).str.split(":").str[-1]


def cost_impact(frames: dict[int, pd.DataFrame], incident: Incident, services: list[str]) -> CostImpact:
    """Cost of the services' controllers (whole cluster when none is found) per hour against the usual (pure)."""
    found = []
    current = frames[0]
    names = _controller_name(current["controller"]) if "controller" in current.columns else pd.Series(dtype=object)
    matched = sorted(set(names[names.isin(services)]))
    if matched:
        scope = "controllers " + ", ".join(matched)
    else:
        scope = "whole cluster"
        found.append(f"cost: no Kubecost controller named after {', '.join(services)}: the cost shown is the "
                     "whole cluster's")

    def in_scope(frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty or not matched:
            return frame
        return frame[_controller_name(frame["controller"]).isin(matched)]

    hours_start, hours_end = incident.start.floor("h"), incident.end.ceil("h")
    per_week: list[pd.DataFrame] = []
    for week, frame in sorted(frames.items()):
        scoped = in_scope(frame)
        hourly = scoped.groupby("start")["total_cost"].sum() if len(scoped) else \
            pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
        hourly.index = pd.DatetimeIndex(hourly.index, tz="UTC") + week * WEEK
        per_week.append(hourly.rename(week).to_frame())
    table = pd.concat(per_week, axis=1).sort_index() if per_week else pd.DataFrame()
    for week in frames:
        if week not in table.columns:
            table[week] = np.nan
    previous = table[[w for w in sorted(frames) if w > 0]]
    hourly_table = pd.DataFrame({"hour": table.index, "cost": table[0].to_numpy(),
                                 "usual_cost": previous.median(axis=1, skipna=True).to_numpy(),
                                 "low": previous.min(axis=1).to_numpy(), "high": previous.max(axis=1).to_numpy(),
                                 "baseline_weeks": previous.notna().sum(axis=1).to_numpy()})
    incident_rows = (table.index >= hours_start) & (table.index < hours_end)
    cost = (float(table.loc[incident_rows, 0].sum())
            if incident_rows.any() and table.loc[incident_rows, 0].notna().any() else None)
    complete = [w for w in previous.columns if previous.loc[incident_rows, w].notna().all() and incident_rows.any()]
    usual = float(np.median([previous.loc[incident_rows, w].sum() for w in complete])) if complete else None
    if cost is None:
        found.append(f"cost: Kubecost has no allocation for {hours_start:%Y-%m-%d %H:%M} .. {hours_end:%H:%M} UTC")
    if usual is None:
        found.append("cost: no previous week has allocations for the incident's hours: the usual cost is unknown")
    elif len(complete) < BASELINE_WEEKS:
        found.append(f"cost: the usual cost is the median of {len(complete)} week(s) only (of {BASELINE_WEEKS})")
    by_controller = _controller_table(frames, incident, matched, hours_start, hours_end)
    return CostImpact(scope, hours_start, hours_end, hourly_table, by_controller, cost, usual, len(complete), found)


def _controller_table(frames: dict[int, pd.DataFrame], incident: Incident, matched: list[str],
                      hours_start: pd.Timestamp, hours_end: pd.Timestamp) -> pd.DataFrame:
    """Cost per namespace/controller in the incident's hours against the median of the previous weeks."""
    columns = ["namespace", "controller", "cost", "usual_cost", "change"]
    sums = {}
    for week, frame in frames.items():
        if frame.empty:
            continue
        shifted = frame["start"] + week * WEEK
        rows = frame[(shifted >= hours_start) & (shifted < hours_end)]
        if matched:
            rows = rows[_controller_name(rows["controller"]).isin(matched)]
        sums[week] = rows.groupby(["namespace", "controller"])["total_cost"].sum()
    if 0 not in sums or sums[0].empty:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(sums)
    previous = table[[w for w in table.columns if w > 0]]
    out = pd.DataFrame({"cost": table[0], "usual_cost": previous.median(axis=1)})
    out["change"] = out["cost"] - out["usual_cost"]
    return out.reset_index().sort_values("cost", ascending=False, ignore_index=True)[columns]


# --------------------------------------------------------------------------------------------- timeline
TIMELINE_COLUMNS = ["time", "event", "slo", "detail"]


def timeline(impacts: list[SLOImpact], incident: Incident) -> pd.DataFrame:
    """What the data shows, in order: the incident's bounds, fast burns, alerts firing and clearing, counter
    resets (process restarts) and scrape gaps in the view. Rows seen by several SLOs are merged."""
    rows: list[dict[str, Any]] = [
        {"time": incident.start, "event": "incident start", "slo": "", "detail": "as reported (parameter)"},
        {"time": incident.end, "event": "incident end", "slo": "", "detail": "as reported (parameter)"},
    ]
    for item in impacts:
        for burn in item.fast_burns.itertuples(index=False):
            rows.append({"time": burn.start, "event": "fast burn starts", "slo": item.name,
                         "detail": f"5-minute burn rate >= {FAST_BURN.burn_rate:g} (peak {burn.peak_burn_rate:.1f})"})
            if not burn.ongoing:
                rows.append({"time": burn.end, "event": "fast burn ends", "slo": item.name,
                             "detail": f"5-minute burn rate back under {FAST_BURN.burn_rate:g}"})
        for alert in item.alerts.itertuples(index=False):
            rule = f"{alert.severity} alert {alert.long_window}/{alert.short_window} @ {alert.burn_rate_threshold:g}"
            rows.append({"time": alert.start, "event": f"{alert.severity} alert fires", "slo": item.name,
                         "detail": f"{rule} (peak burn rate {alert.peak_burn_rate:.1f})"})
            rows.append({"time": alert.end, "event": f"{alert.severity} alert "
                         + ("still firing at the end of the view" if alert.ongoing else "clears"),
                         "slo": item.name, "detail": rule})
        for moment, group in item.resets.groupby("timestamp"):
            instances = sorted({m for s in group["series"].astype(str) for m in _INSTANCE.findall(s)})
            where = f" on {', '.join(instances)}" if instances else ""
            rows.append({"time": moment, "event": "counter reset", "slo": item.name,
                         "detail": f"{len(group)} counter series restarted from 0{where} (a process restart)"})
        for gap in item.gaps.itertuples(index=False):
            rows.append({"time": gap.start, "event": "scrape gap", "slo": item.name,
                         "detail": f"no sample for {gap.minutes} minute(s)"})
    frame = pd.DataFrame(rows, columns=TIMELINE_COLUMNS)
    frame = frame.groupby(["time", "event", "detail"], as_index=False, sort=False).agg(
        slo=("slo", lambda names: ", ".join(dict.fromkeys(n for n in names if n))))
    frame = frame[TIMELINE_COLUMNS]
    return frame.sort_values("time", kind="stable", ignore_index=True)
