"""Glue of the postmortem report (notebooks/postmortem.ipynb): what an incident did to the SLOs, when the
multiwindow alerts would have fired, what it cost, and a timeline built from the data alone.

```python
run = reports.current_run("postmortem", parameters={...})
src = run.connect()                                    # every fetch recorded into the run's data/ (snapshot)
report = postmortem.build_report(src, incident_start, incident_end, services=..., slos=..., catalog=...)
run.write_summary(report.summary())
```
What is fetched (one pass, recorded, so the run replays offline with `GORELIABLE_PROFILE=snapshot:<run>/data`):
- per SLO, the exact per-minute events (slo_data.fetch_slo_events) from the earlier of (a) 30 days before the
  incident's end (the error budget the incident is charged to) and (b) 3 days (the slowest alert's window)
  before the view's start, to the view's end;
- the *view* runs from BEFORE (6 h) before the incident's start to AFTER (6 h) after its end, cut at the
  report's `end` and at the source's clock: the SLIs, burn rates, alerts and timeline are shown over it;
- Kubecost hourly allocations per `namespace,controller` over the view's whole hours, and over the same hours
  of each of the BASELINE_WEEKS (4) previous weeks (same weekday, same time of day): 5 small requests.

Definitions (summary.json "postmortem" fields):
- `bad_events`: bad events of the minutes in (incident_start, incident_end];
- `budget_consumed`: bad_events / ((1 - objective) x total events of the 30 days ending at the incident's end);
- `first_alert_at`: start of the first multiwindow alert period (SRE workbook rules, analysis.slo.ALERT_RULES)
  evaluated in the incident; `time_to_detect_seconds` = first_alert_at - incident_start;
- `cost_impact.cost`: Kubecost cost of the affected services' controllers (controller named like the
  service) in the whole hours overlapping the incident (Kubecost's resolution is one hour);
  `cost_impact.usual_cost`: the median of the same hours' cost over the previous 4 weeks' same weekday.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import warnings as py_warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from goreliable_lib.analysis import slo as analysis
from goreliable_lib.inputs.catalog import SLO, read_catalog, select_slos
from goreliable_lib.errors import BadInputError, SourceError
from goreliable_lib.reports.slo_events import SLOEvents, fetch_slo_events, gap_periods
from goreliable_lib.timeutil import parse_time, to_rfc3339

#: How much is shown around the incident (documented defaults; arguments of resolve_incident).
BEFORE = pd.Timedelta(hours=6)
AFTER = pd.Timedelta(hours=6)
#: The error budget an incident is charged to: the 30 days ending at the incident's end (DESIGN.md).
BUDGET_WINDOW = "30d"
#: Weeks of same-weekday history the usual cost is the median of.
BASELINE_WEEKS = 4
WEEK = pd.Timedelta(days=7)
HOUR = pd.Timedelta(hours=1)
MINUTE = pd.Timedelta(minutes=1)
#: SLI points on the chart: the SLI of each 5-minute bucket.
SLI_STEP = "5min"
#: Burn-rate windows drawn on the chart (the page alerts' long and short windows).
BURN_RATE_WINDOWS_SHOWN = ("5m", "1h", "6h")
#: "Fast burn" on the timeline: the 5-minute burn rate at or above the fastest page threshold.
FAST_BURN = analysis.AlertRule("fast burn", "5m", "5m", analysis.ALERT_RULES[0].burn_rate)
COST_AGGREGATE = "namespace,controller"
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


def select_incident_slos(catalog: str | Path, services: Any = "all", slos: Any = "all") -> list[SLO]:
    """The catalog's SLOs of the given services and SLO names (both filters apply; `all` keeps every one)."""
    loaded = read_catalog(catalog)
    chosen = loaded.slos
    if services not in (None, "all", []):
        wanted = [services] if isinstance(services, str) else list(services)
        known = {s.service for s in loaded.slos}
        if unknown := [w for w in wanted if w not in known]:
            raise BadInputError(f"services: unknown service {', '.join(map(repr, unknown))} "
                                f"(known: {', '.join(sorted(known))})")
        chosen = select_slos(chosen, wanted)
    if slos not in (None, "all", []):
        wanted = [slos] if isinstance(slos, str) else list(slos)
        known = {s.name for s in loaded.slos}
        if unknown := [w for w in wanted if w not in known]:
            raise BadInputError(f"slos: unknown SLO {', '.join(map(repr, unknown))} (known: {', '.join(sorted(known))})")
        chosen = [s for s in chosen if s.name in wanted]
    if not chosen:
        raise BadInputError(f"slos: no SLO left after selecting services={services!r} and slos={slos!r}")
    return chosen


def fetch_events(prometheus: Any, slo: SLO, incident: Incident) -> SLOEvents:
    """The SLO's per-minute events covering the 30-day budget window and the view (with the alerts' lookback)."""
    first = min(incident.budget_start, incident.view_start - analysis.LOOKBACK)
    return fetch_slo_events(prometheus, slo, first, incident.view_end, lookback=pd.Timedelta(0))


# --------------------------------------------------------------------------------------------- SLO analysis
@dataclass
class SLOImpact:
    """One SLO through the incident: the summary entry and the frames the report shows."""

    slo: SLO
    impact: dict[str, Any]  # analysis.slo.incident_impact
    alerts: pd.DataFrame  # alert periods over the view (analysis.slo.ALERT_COLUMNS)
    fast_burns: pd.DataFrame  # periods of the view with a 5-minute burn rate >= 14.4
    sli: pd.DataFrame  # timestamp, good, total, sli (per SLI_STEP bucket of the view)
    burn_rates: pd.DataFrame  # timestamp, window, burn_rate (every minute of the view)
    resets: pd.DataFrame  # counter resets in the view (slo_data)
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
                "budget_window_total_events": self.budget_total_events, "coverage": _number(self.incident_coverage),
                "alerts": analysis.alerts_summary(self.alerts)}


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


def analyse_slo(slo: SLO, fetched: SLOEvents, incident: Incident) -> SLOImpact:
    """Everything the report shows for one SLO (pure: no I/O)."""
    events = fetched.events
    impact = analysis.incident_impact(events, name=slo.name, objective=slo.objective, incident_start=incident.start,
                                      incident_end=incident.end, budget_window=BUDGET_WINDOW)
    alerts = analysis.alert_periods(events, slo.objective, incident.view_start, incident.view_end)
    fast = analysis.alert_periods(events, slo.objective, incident.view_start, incident.view_end, rules=(FAST_BURN,))
    in_view = (fetched.resets["timestamp"] > incident.view_start) & (fetched.resets["timestamp"] <= incident.view_end)
    view_grid = analysis.on_minute_grid(events, incident.view_start, incident.view_end)
    return SLOImpact(
        slo=slo, impact=impact, alerts=alerts, fast_burns=fast,
        sli=sli_buckets(events, incident.view_start, incident.view_end),
        burn_rates=burn_rate_series(events, incident.view_start, incident.view_end, slo.objective),
        resets=fetched.resets[in_view].reset_index(drop=True), gaps=gap_periods(view_grid["total"]),
        incident_coverage=analysis.window_counts(events, incident.start, incident.end).coverage,
        budget_total_events=analysis.window_counts(events, incident.budget_start, incident.end).total)


def slo_warnings(impacts: list[SLOImpact], incident: Incident) -> list[str]:
    """Caveats of the SLOs: no data, partial coverage (SLOs with the same coverage named together), an alert
    already firing when the incident started (it was not detected by it, and time to detect counts it)."""
    found = []
    if empty := [i.name for i in impacts if not i.impact["total_events"]]:
        found.append(f"{', '.join(empty)}: no events in the incident window (no data, not 100%): retention may have "
                     "dropped them, or the service was down hard; budget consumed is unknown")
    partial: dict[str, list[str]] = {}
    for item in impacts:
        if item.impact["total_events"] and item.incident_coverage < 0.99:
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


def fetch_costs(kubecost: Any, incident: Incident, now: pd.Timestamp,
                weeks: int = BASELINE_WEEKS) -> dict[int, pd.DataFrame]:
    """Hourly allocations per namespace,controller over the view's hours, this week (0) and `weeks` back."""
    start, end = cost_hours(incident, now)
    return {week: kubecost.allocation((start - week * WEEK, end - week * WEEK), aggregate=COST_AGGREGATE,
                                      step="1h", idle=True, share_idle=False)
            for week in range(weeks + 1)}


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
    cost = float(table.loc[incident_rows, 0].sum()) if incident_rows.any() and table.loc[incident_rows, 0].notna().any() \
        else None
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


def assess_cost(sources: Any, incident: Incident, services: list[str]) -> tuple[CostImpact | None, list[str]]:
    """Fetch and assess the cost; (None, [why]) when no Kubecost is configured or it fails (never fatal)."""
    if not (getattr(sources, "endpoints", None) or {}).get("kubecost"):
        return None, ["cost: no Kubecost configured (set GORELIABLE_KUBECOST_URL): the incident's cost is not "
                      "assessed"]
    try:
        frames = fetch_costs(sources.kubecost, incident, sources.now())
    except SourceError as exc:
        return None, [f"cost: Kubecost failed, the incident's cost is not assessed: {exc}"]
    impact = cost_impact(frames, incident, services)
    return impact, list(impact.warnings)


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


# --------------------------------------------------------------------------------------------- the report
@dataclass
class PostmortemReport:
    """Everything the postmortem notebook shows."""

    incident: Incident
    slos: list[SLOImpact]
    cost: CostImpact | None
    timeline: pd.DataFrame
    data: dict[str, SLOEvents] = field(repr=False)
    warnings: list[str] = field(default_factory=list)

    @property
    def services(self) -> list[str]:
        return list(dict.fromkeys(item.slo.service for item in self.slos))

    def impact_table(self) -> pd.DataFrame:
        """One row per SLO: bad events, budget consumed, first alert, time to detect."""
        return pd.DataFrame([{"slo": i.name, "service": i.slo.service, "objective": i.slo.objective,
                              "bad_events": i.impact["bad_events"], "total_events": i.impact["total_events"],
                              "budget_consumed": i.impact["budget_consumed"],
                              "first_alert_at": pd.Timestamp(i.impact["first_alert_at"]) if i.impact["first_alert_at"]
                              else pd.NaT, "time_to_detect_seconds": i.impact["time_to_detect_seconds"]}
                             for i in self.slos])

    def alerts_table(self) -> pd.DataFrame:
        """Every alert period of the view, all SLOs, in order."""
        frames = [i.alerts.assign(slo=i.name) for i in self.slos if len(i.alerts)]
        if not frames:
            return pd.DataFrame(columns=["slo", *analysis.ALERT_COLUMNS])
        frame = pd.concat(frames, ignore_index=True)
        return frame[["slo", *analysis.ALERT_COLUMNS]].sort_values(["start", "slo"], ignore_index=True)

    def sli_frame(self) -> pd.DataFrame:
        """SLI buckets of every SLO, long: slo, objective, timestamp, good, total, sli."""
        return pd.concat([i.sli.assign(slo=i.name, objective=i.slo.objective) for i in self.slos], ignore_index=True)

    def burn_rate_frame(self) -> pd.DataFrame:
        """Rolling burn rates of every SLO, long: slo, timestamp, window, burn_rate."""
        return pd.concat([i.burn_rates.assign(slo=i.name) for i in self.slos], ignore_index=True)

    def summary(self) -> dict[str, Any]:
        """The postmortem block of summary.json (DESIGN.md) plus the view and the conventions."""
        cost = self.cost.summary() if self.cost is not None else {"cost": None, "usual_cost": None}
        return {
            "incident": {"start": to_rfc3339(self.incident.start), "end": to_rfc3339(self.incident.end),
                         "duration_seconds": self.incident.duration_seconds},
            "slos": [i.summary() for i in self.slos],
            "cost_impact": cost,
            "view": {"start": to_rfc3339(self.incident.view_start), "end": to_rfc3339(self.incident.view_end)},
            "conventions": {"budget_window": BUDGET_WINDOW, "alert_rules": [
                f"{r.severity} {r.long_window}/{r.short_window} @ {r.burn_rate:g}" for r in analysis.ALERT_RULES]},
            "warnings": list(self.warnings),
        }

    def headline_markdown(self, title: str | None = None) -> str:
        """The first screen: the incident, budget consumed and time to detect per SLO, and the cost impact."""
        inc = self.incident
        lines = [f"# {title or 'Incident postmortem'}", "",
                 f"Incident **{inc.start:%Y-%m-%d %H:%M} → {inc.end:%H:%M} UTC** "
                 f"({format_duration(inc.duration_seconds)}), services: {', '.join(self.services)}.", "",
                 "| SLO | bad events | budget consumed (30-day budget) | first alert | time to detect |",
                 "| --- | ---: | ---: | --- | ---: |"]
        for item in self.slos:
            impact = item.impact
            consumed = impact["budget_consumed"]
            first = impact["first_alert_at"]
            lines.append(f"| {item.name} | {impact['bad_events']:,.0f} of {impact['total_events']:,.0f} | "
                         + (f"**{consumed:.1%}**" if consumed is not None and consumed >= 0.1 else
                            f"{consumed:.2%}" if consumed is not None else "unknown (no events)") + " | "
                         + (f"{pd.Timestamp(first):%H:%M} UTC" if first else "none would have fired") + " | "
                         + (format_duration(impact["time_to_detect_seconds"]) if first else "-") + " |")
        lines.append("")
        if self.cost is None:
            lines.append("**Cost impact:** not assessed (see the warnings).")
        else:
            cost = self.cost
            span = f"{cost.hours_start:%H:%M}–{cost.hours_end:%H:%M} UTC"
            if cost.cost is not None and cost.usual_cost is not None:
                change = cost.cost - cost.usual_cost
                share = f", {change / cost.usual_cost:+.1%}" if cost.usual_cost else ""
                lines.append(f"**Cost impact** ({cost.scope}, {span}): **${cost.cost:,.2f}** against a usual "
                             f"${cost.usual_cost:,.2f} ({'+' if change >= 0 else '-'}${abs(change):,.2f}{share}; "
                             f"usual = median of the same hours on the previous {cost.baseline_weeks} weeks).")
            else:
                lines.append(f"**Cost impact** ({cost.scope}, {span}): "
                             + (f"${cost.cost:,.2f}" if cost.cost is not None else "unknown")
                             + ", usual " + (f"${cost.usual_cost:,.2f}" if cost.usual_cost is not None else "unknown")
                             + ".")
        return "\n".join(lines)


def format_duration(seconds: float | None) -> str:
    """`240` -> `4 min`, `5400` -> `1 h 30 min`, `42` -> `42 s`."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours and minutes else f"{hours} h" if hours else f"{minutes} min"


def build_report(sources: Any, incident_start: Any, incident_end: Any, *, services: Any = "all",
                 slos: Any = "all", catalog: str | Path = "params/slos.yaml", end: Any = "now",
                 before: Any = BEFORE, after: Any = AFTER) -> PostmortemReport:
    """Fetch (through `sources`, i.e. `run.connect()`) and assess the incident for the selected SLOs."""
    now = sources.now()
    incident = resolve_incident(incident_start, incident_end, now=now, end=end, before=before, after=after)
    chosen = select_incident_slos(catalog, services, slos)
    impacts, data, found = [], {}, []
    for slo in chosen:
        fetched = data[slo.name] = fetch_events(sources.prometheus, slo, incident)
        item = analyse_slo(slo, fetched, incident)
        impacts.append(item)
    found.extend(slo_warnings(impacts, incident))
    if incident.view_end < incident.end + pd.Timedelta(after):
        found.append(f"the view after the incident ends at {incident.view_end:%Y-%m-%d %H:%M} UTC (the report's end "
                     "or the data's clock), before the usual 6 hours")
    cost, cost_warnings = assess_cost(sources, incident, list(dict.fromkeys(s.service for s in chosen)))
    found.extend(cost_warnings)
    return PostmortemReport(incident, impacts, cost, timeline(impacts, incident), data, found)


# --------------------------------------------------------------------------------------------- PNG export
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def start_png_export() -> Callable[[], None]:
    """Keep one headless Chromium for every PNG of the run (kaleido's sync server: ~0.5 s a figure instead of
    ~5 s). kaleido 1.x finds `chromium` on PATH, else BROWSER_PATH (set here to Debian's /usr/bin/chromium when
    it exists and nothing else is found); it runs Chromium headless with --no-sandbox (choreographer's default),
    so it works as root in a container. Returns the function that stops it (also safe to skip: Chromium exits
    with the kernel). Without a browser this does nothing and each PNG becomes a run warning."""
    if not os.environ.get("BROWSER_PATH") and not any(shutil.which(n) for n in ("chromium", "chromium-browser",
                                                                                 "google-chrome", "chrome")):
        for candidate in CHROMIUM_CANDIDATES:
            if Path(candidate).is_file():
                os.environ["BROWSER_PATH"] = candidate
                break
    try:
        import kaleido

        py_warnings.filterwarnings("ignore", message="The kopts argument is ignored", category=UserWarning)
        kaleido.start_sync_server(silence_warnings=True)
    except Exception:  # no kaleido 1.x or no browser: write_image reports it per figure
        return lambda: None

    def stop() -> None:
        with contextlib.suppress(Exception):  # already stopped
            kaleido.stop_sync_server(silence_warnings=True)

    return stop
