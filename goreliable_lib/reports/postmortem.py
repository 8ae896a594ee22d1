"""The postmortem report (notebooks/postmortem.ipynb): what an incident did to the SLOs, when the multiwindow
alerts would have fired, what it cost, and a timeline built from the data alone.

```python
data = postmortem.fetch(run.connect(), run.params)   # every fetch recorded into the run's data/ (snapshot)
report = postmortem.build(data, run.params)          # pure: analysis.incident
```
What is fetched (one pass, recorded, so the run replays offline with `GORELIABLE_PROFILE=snapshot:<run>/data`):
- per SLO, the exact per-minute events (`events.engine`) from the earlier of (a) 30 days before the
  incident's end (the error budget the incident is charged to) and (b) 3 days (the slowest alert's window)
  before the view's start, to the view's end;
- Kubecost hourly allocations per `namespace,controller` over the view's whole hours, and over the same hours
  of each of the BASELINE_WEEKS (4) previous weeks (same weekday, same time of day): 5 small requests;
- for the failed requests' cost: per affected service the services map (`services_map`) names, its allocations with
  idle shared per hour of the incident's whole hours (`sources.service_costs`, one request per distinct aggregate
  and filter), and the events of the SLO counting its requests (the map's `requests`: the assessed SLO's events
  when it is one of the report's, else fetched over those hours).

The definitions of the figures are in `analysis.incident`. The failed requests' cost
(`cost_impact.failed_requests_cost`) follows `analysis.unit_costs`: per service, the cost of the incident's whole
hours (`cost_impact.hours`: its start rounded down to the hour to its end rounded up, cut at the clock's last whole
hour) x bad / total of its requests in the same minutes (hours_start < t <= hours_end); hours Kubecost has no
allocation for are left out, their requests too; summed over the services. None, with the reason in
`failed_requests_note`, when no affected service is mapped, a mapping selects nothing, Kubecost is not there or has
no allocation for the hours.

Each *objective* of the chosen SLOs is one row (an SLO with several objectives gives `SLO/objective` rows, each
charged to its own target; a grouped SLO one row per group with series in the incident's view, `events.groups`, as
in the SLO report, at most `events.groups.MAX_GROUPS`); a time-slice objective is charged in slices and a
thresholdMetric's values are fetched per slice (`events.threshold`), both aligned to the 30-day budget window's
start.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from goreliable_lib.analysis import slo as analysis
from goreliable_lib.analysis import unit_costs as units
from goreliable_lib.analysis.incident import (
    AFTER,
    BASELINE_WEEKS,
    BEFORE,
    BUDGET_WINDOW,
    WEEK,
    CostImpact,
    Incident,
    SLOImpact,
    analyse_slo,
    cost_hours,
    cost_impact,
    resolve_incident,
    slo_warnings,
    timeline,
)
from goreliable_lib.errors import BadInputError, SourceError
from goreliable_lib.events.archive import WithArchive, known_from, with_archive
from goreliable_lib.events.engine import SLOEvents, fetch_slo_events
from goreliable_lib.events.groups import expand_groups
from goreliable_lib.events.threshold import ThresholdValues, fetch_threshold_values
from goreliable_lib.inputs.catalog import Catalog, SLOObjective, objectives_of, read_catalog, select_slos
from goreliable_lib.inputs.services_map import ServiceMapping, ServicesMap, load_services_map
from goreliable_lib.plots.format import format_duration, md, md_money, money_difference
from goreliable_lib.plots.table import Column
from goreliable_lib.reports.base import (
    CATALOG_PARAM,
    CHECK_NOW,
    SERVICES_MAP_PARAM,
    Param,
    ReportSpec,
    Window,
    check_names,
    check_services_map,
    check_time,
    common_params,
    read_file_param,
)
from goreliable_lib.sources.base import PrometheusAPI
from goreliable_lib.sources.connect import Sources
from goreliable_lib.sources.kubecost import KubecostSource, key_column
from goreliable_lib.sources.memo import Memo
from goreliable_lib.sources.service_costs import RequestKey, service_allocations
from goreliable_lib.timeutil import parse_time, to_rfc3339

COST_AGGREGATE = "namespace,controller"


# --------------------------------------------------------------------------------------------- data and fetch
def select_incident_slos(catalog: Catalog | str | Path, services: Any = "all", slos: Any = "all") -> list[SLOObjective]:
    """The objectives of the catalog's SLOs (a catalog, or the path(s) to read it from) of the given services and SLO
    names (both filters apply; `all` keeps every one)."""
    loaded = catalog if isinstance(catalog, Catalog) else read_catalog(catalog)
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
            raise BadInputError(f"slos: unknown SLO {', '.join(map(repr, unknown))} "
                                f"(known: {', '.join(sorted(known))})")
        chosen = [s for s in chosen if s.name in wanted]
    if not chosen:
        raise BadInputError(f"slos: no SLO left after selecting services={services!r} and slos={slos!r}")
    return [objective for slo in chosen for objective in objectives_of(slo)]


def events_start(incident: Incident) -> pd.Timestamp:
    """Where an SLO's events are needed from: the 30-day budget window, and the view with the alerts' lookback."""
    return min(incident.budget_start, incident.view_start - analysis.LOOKBACK)


def fetch_events(prometheus: PrometheusAPI, slo: SLOObjective, incident: Incident) -> SLOEvents:
    """The SLO's per-minute events from `events_start` to the view's end."""
    return fetch_slo_events(prometheus, slo, events_start(incident), incident.view_end, lookback=pd.Timedelta(0))


def fetch_thresholds(prometheus: PrometheusAPI, slo: SLOObjective, incident: Incident) -> ThresholdValues:
    """A thresholdMetric's values per slice over the same span, slices aligned to the budget window's start."""
    first = min(incident.budget_start, incident.view_start - analysis.LOOKBACK)
    return fetch_threshold_values(prometheus, slo, first, incident.view_end, lookback=pd.Timedelta(0),
                                  anchor=incident.budget_start)


def fetch_costs(kubecost: KubecostSource, incident: Incident, now: pd.Timestamp,
                weeks: int = BASELINE_WEEKS) -> dict[int, pd.DataFrame]:
    """Hourly allocations per namespace,controller over the view's hours, this week (0) and `weeks` back."""
    start, end = cost_hours(incident, now)
    return {week: kubecost.allocation((start - week * WEEK, end - week * WEEK), aggregate=COST_AGGREGATE,
                                      step="1h", idle=True, share_idle=False)
            for week in range(weeks + 1)}


def failed_cost_hours(incident: Incident, now: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The incident's whole hours (its start's hour to the end of the hour its end falls in), cut at the clock's
    last whole hour (Kubecost's resolution is one hour)."""
    return incident.start.floor("h"), min(incident.end.ceil("h"), now.floor("h"))


@dataclass
class FailedCostData:
    """What the failed requests' cost needs: the services map, the incident's hours, the affected services it maps,
    their allocations (hourly, idle shared) and per SLO counting their requests its events; `notes` say what is
    missing (None allocations: Kubecost not there or failed)."""

    services: ServicesMap
    hours: tuple[pd.Timestamp, pd.Timestamp]
    mapped: list[ServiceMapping]
    allocations: dict[RequestKey, pd.DataFrame] | None
    requests: dict[str, pd.DataFrame]  # SLO name -> timestamp, good, total
    notes: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)  # affected services the map does not name


def _requests_events(prometheus: PrometheusAPI, name: str, catalog_objectives: list[SLOObjective],
                     fetched: Mapping[str, pd.DataFrame], hours: tuple[pd.Timestamp, pd.Timestamp],
                     view_end: pd.Timestamp) -> pd.DataFrame | None:
    """The events of the SLO (objective) `name` over the hours: the assessed one's when they cover the hours, else
    fetched; None when the catalog has no such ratio SLO."""
    if name in fetched and view_end >= hours[1]:
        return fetched[name]
    objective = next((o for o in catalog_objectives if o.name == name and o.threshold is None), None)
    if objective is None:
        return None
    return fetch_slo_events(prometheus, objective, hours[0], hours[1], lookback=pd.Timedelta(0)).events


def fetch_failed_costs(sources: Sources, prometheus: PrometheusAPI, params: Mapping[str, Any], incident: Incident,
                       chosen: list[SLOObjective], fetched: Mapping[str, pd.DataFrame],
                       kubecost_failed: bool) -> FailedCostData | None:
    """The failed requests' cost's inputs (see the module docstring); None without a services map. Kubecost not
    configured or failing is a note, never fatal (`kubecost_failed`: the cost impact's own requests failed already:
    not asked again)."""
    path = params.get("services_map", SERVICES_MAP_PARAM.default)
    if not path:
        return None
    services = load_services_map(path)
    hours = failed_cost_hours(incident, sources.now())
    affected = list(dict.fromkeys(o.service for o in chosen))
    mapped = [m for m in (services.for_service(name) for name in affected) if m is not None]
    data = FailedCostData(services, hours, mapped, None, {},
                          unmapped=[name for name in affected if services.for_service(name) is None])
    if not mapped or hours[1] <= hours[0] or not sources.endpoints.get("kubecost") or kubecost_failed:
        return data
    catalog = read_catalog(params.get("catalog", CATALOG_PARAM.default)).objectives
    try:
        data.allocations = service_allocations(sources.kubecost, mapped, hours[0], hours[1], step="1h")
    except SourceError as exc:
        data.notes.append(f"cost: Kubecost failed, the failed requests' cost is not assessed: {exc}")
        return data
    for name in dict.fromkeys(m.requests for m in mapped):
        events = _requests_events(prometheus, name, catalog, fetched, hours, incident.view_end)
        if events is None:
            data.notes.append(f"cost: SLO {name!r} (the requests of "
                              f"{', '.join(m.name for m in mapped if m.requests == name)} in {services.path}) is not "
                              "in the catalog: its failed requests' cost is not assessed")
        else:
            data.requests[name] = events
    return data


@dataclass
class PostmortemData:
    """What the postmortem fetched: the incident, its SLOs and their events, and the costs (or why not)."""

    incident: Incident
    slos: list[SLOObjective]
    events: dict[str, SLOEvents]  # ratio objectives
    now: pd.Timestamp
    costs: dict[int, pd.DataFrame] | None  # week back -> hourly allocations; None when not assessed
    cost_notes: list[str] = field(default_factory=list)
    view_after: pd.Timedelta = AFTER
    thresholds: dict[str, ThresholdValues] = field(default_factory=dict)  # thresholdMetric objectives
    #: per ratio objective: its events completed from the SLO event archive (days its source no longer holds)
    archived: dict[str, WithArchive] = field(default_factory=dict)
    #: the failed requests' cost's inputs (None: no services map)
    failed_costs: FailedCostData | None = None

    def events_of(self, name: str) -> pd.DataFrame:
        """The per-minute events of a ratio objective: the source's, completed from the archive."""
        return self.archived[name].events if name in self.archived else self.events[name].events


def fetch_costs_or_why(sources: Sources, incident: Incident) -> tuple[dict[int, pd.DataFrame] | None, list[str]]:
    """The costs of the incident's hours, or (None, [why]) when no Kubecost is configured or it fails (never
    fatal: the postmortem is about the SLOs first)."""
    if not sources.endpoints.get("kubecost"):
        return None, ["cost: no Kubecost configured (set GORELIABLE_KUBECOST_URL): the incident's cost is not "
                      "assessed"]
    try:
        return fetch_costs(sources.kubecost, incident, sources.now()), []
    except SourceError as exc:
        return None, [f"cost: Kubecost failed, the incident's cost is not assessed: {exc}"]


def fetch(sources: Sources, params: Mapping[str, Any], *, before: Any = BEFORE, after: Any = AFTER) -> PostmortemData:
    """Every request of the report (`params`: incident_start, incident_end, services, slos, catalog, end)."""
    now = sources.now()
    incident = resolve_incident(params["incident_start"], params["incident_end"], now=now,
                                end=params.get("end", "now"), before=before, after=after)
    chosen = select_incident_slos(params.get("catalog", CATALOG_PARAM.default), params.get("services", "all"),
                                  params.get("slos", "all"))
    events, thresholds, shared, archived, completed = {}, {}, {}, {}, {}
    archive = sources.archive
    prometheus = Memo(sources.prometheus)
    chosen = expand_groups(prometheus, chosen, {o.name: (incident.view_start, incident.view_end) for o in chosen})
    first = events_start(incident)
    for slo in chosen:
        if slo.threshold is not None:
            thresholds[slo.name] = fetch_thresholds(prometheus, slo, incident)
            continue
        key = slo.events_key
        if key not in shared:
            computed = shared[key] = fetch_events(prometheus, slo, incident)
            completed[key] = with_archive(archive, slo, computed, first, incident.view_end)
        events[slo.name] = dataclasses.replace(shared[key], name=slo.name)
        archived[slo.name] = completed[key]
    costs, notes = fetch_costs_or_why(sources, incident)
    assessed = {slo.name: archived[slo.name].events for slo in chosen if slo.name in archived and not slo.group_labels}
    failed = fetch_failed_costs(sources, prometheus, params, incident, chosen, assessed,
                                kubecost_failed=costs is None and bool(sources.endpoints.get("kubecost")))
    return PostmortemData(incident, chosen, events, now, costs, notes, pd.Timedelta(after), thresholds, archived,
                          failed)


# --------------------------------------------------------------------------------------------- failed requests' cost
FAILED_COLUMNS = ["service", "requests_slo", "cost", "requests", "good_requests", "failed_requests_cost"]


@dataclass
class FailedRequestsCost:
    """The cost of the incident's failed requests: in all (None: `note` says why), per service (FAILED_COLUMNS), what
    was left out (`note`), and the warnings."""

    total: float | None
    services: pd.DataFrame
    note: str | None = None
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """summary.json `cost_impact`: `failed_requests_cost`, `failed_requests_note`, `failed_requests` (per
        service)."""
        rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
                for row in self.services.to_dict("records")]
        return {"failed_requests_cost": self.total, "failed_requests_note": self.note, "failed_requests": rows}


def _hour_periods(hours: tuple[pd.Timestamp, pd.Timestamp]) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    starts = pd.date_range(hours[0], hours[1], freq="h", inclusive="left")
    return [(lo, min(lo + pd.Timedelta(hours=1), hours[1])) for lo in starts]


def failed_requests_cost(data: FailedCostData | None) -> FailedRequestsCost:
    """The failed requests' cost from its inputs (pure; the rule: the module docstring)."""
    empty = pd.DataFrame(columns=FAILED_COLUMNS)
    if data is None:
        return FailedRequestsCost(None, empty, "no services map (services_map: none)")
    path = data.services.path
    if not data.mapped:
        return FailedRequestsCost(None, empty, f"no affected service ({', '.join(data.unmapped)}) is in {path}")
    span = f"{data.hours[0]:%Y-%m-%d %H:%M} .. {data.hours[1]:%H:%M} UTC"
    if data.hours[1] <= data.hours[0]:
        return FailedRequestsCost(None, empty, f"Kubecost has no whole hour of the incident yet ({span})",
                                  list(data.notes))
    if data.allocations is None:
        return FailedRequestsCost(None, empty, "no cost data (Kubecost not configured or failed: see the warnings)",
                                  list(data.notes))
    periods = _hour_periods(data.hours)
    covered = units.has_cost_data(list(data.allocations.values()), periods)
    if not any(covered.values()):
        note = f"Kubecost has no allocation for {span}"
        return FailedRequestsCost(None, empty, note, [*data.notes, f"cost: {note}: the failed requests' cost is "
                                                                     "not assessed"])
    found, rows, left_out = list(data.notes), [], [f"{name} (not in {path})" for name in data.unmapped]
    for service in data.mapped:
        events = data.requests.get(service.requests)
        if events is None:
            left_out.append(f"{service.name} (its requests' SLO {service.requests} is not in the catalog)")
            continue
        periods_rows = units.service_periods(service, data.allocations[service.allocations.request_key],
                                             key_column(service.allocations.aggregate), "", periods, covered, events)
        if periods_rows.attrs["maps_to_nothing"]:
            left_out.append(f"{service.name} (its mapping selects no allocation)")
            found.append(f"cost: service {service.name}'s mapping in {path} ({service.mapping_text()}) selects no "
                         f"allocation in {span}: its failed requests' cost is not assessed")
            continue
        row = units.window(periods_rows).iloc[0]
        rows.append({"service": service.name, "requests_slo": service.requests, "cost": float(row["cost"]),
                     "requests": float(row["requests"]), "good_requests": float(row["good_requests"]),
                     "failed_requests_cost": row["failed_requests_cost"]})
    if missing := [lo for lo, ok in covered.items() if not ok]:
        found.append(f"cost: Kubecost has no allocation for {', '.join(f'{h:%H:%M}' for h in missing)} UTC: the "
                     "failed requests' cost leaves those hours out, their requests too")
    table = pd.DataFrame(rows, columns=FAILED_COLUMNS)
    known = [v for v in table["failed_requests_cost"] if v is not None and not pd.isna(v)]
    note = ("not counted: " + "; ".join(left_out)) if left_out else None
    if not known:
        note = "no service with requests and cost" + (f"; {note}" if note else "")
    return FailedRequestsCost(float(sum(known)) if known else None, table, note, found)


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
    title: str = "Incident postmortem"
    failed: FailedRequestsCost = field(default_factory=lambda: failed_requests_cost(None))

    @property
    def window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        return self.incident.start, self.incident.end

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
        cost = {**(self.cost.summary() if self.cost is not None else {"cost": None, "usual_cost": None}),
                **self.failed.summary()}
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

    def headline(self) -> str:
        """The first screen: the incident, budget consumed and time to detect per SLO, and the cost impact
        (Markdown that renders alike in JupyterLab, report.html and GitHub: `$` escaped)."""
        inc = self.incident
        lines = [f"# {md(self.title)}", "",
                 f"Incident **{inc.start:%Y-%m-%d %H:%M} → {inc.end:%H:%M} UTC** "
                 f"({format_duration(inc.duration_seconds)}), services: {md(', '.join(self.services))}.", "",
                 "| SLO | bad events | budget consumed (30-day budget) | first alert | time to detect |",
                 "| --- | ---: | ---: | --- | ---: |"]
        for item in self.slos:
            impact = item.impact
            consumed = impact["budget_consumed"]
            first = impact["first_alert_at"]
            bad = (f"{impact['bad_events']:,.0f} of {impact['total_events']:,.0f}"
                   if impact["bad_events"] is not None else "")
            if "bad_slices" in impact:  # charged in slices
                bad += ("; " if bad else "") + (f"{impact['bad_slices']:,.0f} bad of "
                                                 f"{impact['total_slices']:,.0f} slices")
            lines.append(f"| {md(item.name)} | {bad} | "
                         + (f"**{consumed:.1%}**" if consumed is not None and consumed >= 0.1 else
                            f"{consumed:.2%}" if consumed is not None else "unknown (no events)") + " | "
                         + (f"{pd.Timestamp(first):%H:%M} UTC" if first else "none would have fired") + " | "
                         + (format_duration(impact["time_to_detect_seconds"]) if first else "-") + " |")
        lines.append("")
        if self.cost is None:
            lines.append("**Cost impact:** not assessed (see the warnings).")
            return "\n".join(lines)
        else:
            cost = self.cost
            span = f"{cost.hours_start:%H:%M}–{cost.hours_end:%H:%M} UTC"
            if cost.cost is not None and cost.usual_cost is not None:
                lines.append(f"**Cost impact** ({md(cost.scope)}, {span}): **{md_money(cost.cost)}** against a usual "
                             f"{md_money(cost.usual_cost)} ({md(money_difference(cost.cost, cost.usual_cost))}; "
                             f"usual = median of the same hours on the previous {cost.baseline_weeks} weeks).")
            else:
                lines.append(f"**Cost impact** ({md(cost.scope)}, {span}): "
                             + (md_money(cost.cost) if cost.cost is not None else "unknown")
                             + ", usual " + (md_money(cost.usual_cost) if cost.usual_cost is not None else "unknown")
                             + ".")
        lines[-1] += " " + self.failed_sentence()
        return "\n".join(lines)

    def failed_sentence(self) -> str:
        """The failed requests' cost, on the cost-impact line (Markdown)."""
        failed = self.failed
        if failed.total is None:
            return f"Failed requests' cost: unknown ({md(failed.note or 'not assessed')})."
        shares = "; ".join(f"{md(r.service)}: {r.requests - r.good_requests:,.0f} of {r.requests:,.0f} requests "
                           f"failed, of its {md_money(r.cost)} (idle shared)"
                           for r in failed.services.itertuples(index=False) if r.failed_requests_cost is not None)
        return (f"Failed requests' cost: **{md_money(failed.total)}** ({shares}"
                + (f"; {md(failed.note)}" if failed.note else "") + ").")

    def cost_note(self) -> str:
        """Why the cost is not shown (Markdown)."""
        return "**Cost not assessed:** " + md("; ".join(w for w in self.warnings if w.startswith("cost")))


# --------------------------------------------------------------------------------------------- build
_NO_RESETS = pd.DataFrame({"query": pd.Series([], dtype=object), "series": pd.Series([], dtype=object),
                           "timestamp": pd.DatetimeIndex([], tz="UTC"), "before": pd.Series([], dtype=float),
                           "after": pd.Series([], dtype=float)})


def build(data: PostmortemData, params: Mapping[str, Any]) -> PostmortemReport:
    """Assess the incident for the fetched SLOs and costs (pure); raises `ImpossibleFiguresError` (the run fails)
    when an SLO's events break an invariant (`analysis.slo.check_events`)."""
    incident = data.incident
    for slo in data.slos:
        if slo.name in data.events:
            analysis.check_events(data.events_of(slo.name), name=slo.name, backend=data.events[slo.name].backend)
    impacts = [analyse_slo(slo, None, _NO_RESETS, incident, slices=data.thresholds[slo.name].slices(slo))
               if slo.name in data.thresholds else
               analyse_slo(slo, data.events_of(slo.name), data.events[slo.name].resets, incident,
                           data_starts_at=data.events[slo.name].data_starts_at,
                           known_from=known_from(data.events[slo.name], data.archived.get(slo.name))[1])
               for slo in data.slos]
    found = slo_warnings(impacts, incident)
    found.extend(dict.fromkeys(w for item in data.archived.values() for w in item.warnings))
    if incident.view_end < incident.end + data.view_after:
        found.append(f"the view after the incident ends at {incident.view_end:%Y-%m-%d %H:%M} UTC (the report's end "
                     "or the data's clock), before the usual 6 hours")
    cost: CostImpact | None = None
    found.extend(data.cost_notes)
    if data.costs is not None:
        cost = cost_impact(data.costs, incident, list(dict.fromkeys(s.service for s in data.slos)))
        found.extend(cost.warnings)
    failed = failed_requests_cost(data.failed_costs)
    found.extend(failed.warnings)
    return PostmortemReport(incident, impacts, cost, timeline(impacts, incident), data.events, found,
                            title=params.get("title") or SPEC.title, failed=failed)


# --------------------------------------------------------------------------------------------- check
def check(values: dict[str, Any]) -> None:
    """The incident is a positive interval, the services/SLOs named exist in the catalog and the services map
    validates (exit 2)."""
    start = parse_time(values["incident_start"], now=CHECK_NOW, field="incident_start")
    end = parse_time(values["incident_end"], now=CHECK_NOW, field="incident_end")
    if end <= start:
        raise BadInputError(f"incident_end: {values['incident_end']!r} must be after incident_start "
                            f"{values['incident_start']!r}")
    catalog = read_file_param("catalog", read_catalog, values["catalog"])
    select_incident_slos(catalog, values["services"], values["slos"])
    check_services_map(values.get("services_map"))


# --------------------------------------------------------------------------------------------- window and index
def window(params: Mapping[str, Any], now: pd.Timestamp) -> Window:
    """The incident itself."""
    return (parse_time(params["incident_start"], now=now, field="incident_start"),
            parse_time(params["incident_end"], now=now, field="incident_end"))


def index_headline(summary: Mapping[str, Any]) -> str:
    """`1 SLOs; worst budget consumed 38.0%`."""
    slos = summary.get("slos") if isinstance(summary.get("slos"), list) else []
    worst = max((s.get("budget_consumed") or 0 for s in slos), default=0)
    return f"{len(slos)} SLOs; worst budget consumed {worst:.1%}"


#: How the postmortem's tables read (over plots.table.COMMON).
TABLE_COLUMNS = {
    "first_alert_at": Column("time", "First alert", note="none would have fired"),
    "time_to_detect_seconds": Column("duration", "Time to detect", note="no alert fired"),
    "usual_cost": Column("money", "Usual cost", note="no earlier week to compare with"),
    "change": Column("money_change", "Change", note="no usual cost"),
    "low": Column("money", "Lowest usual"),
    "high": Column("money", "Highest usual"),
    "slo": Column(note="about the whole incident"),
    "detail": Column("text"),
    "requests_slo": Column("text", "Requests counted by"),
    "requests": Column("count", "Requests"),
    "good_requests": Column("count", "Good requests"),
    "failed_requests_cost": Column("money", "Failed requests' cost", note="no requests"),
}


# --------------------------------------------------------------------------------------------- spec
SPEC = ReportSpec(
    "postmortem", "notebooks/postmortem.ipynb", "Incident postmortem", (
        *common_params("Incident postmortem"),
        Param("incident_start", "time", None, "start of the incident (required)", check_time, required=True),
        Param("incident_end", "time", None, "end of the incident (required)", check_time, required=True),
        Param("services", "names", "all", "services affected (all, or a list)", check_names),
        Param("slos", "names", "all", "SLOs to assess (all, or a list of SLO names)", check_names),
        CATALOG_PARAM,
        SERVICES_MAP_PARAM,
    ), "params/postmortem.yaml", check=check, window=window, index_headline=index_headline,
    columns=TABLE_COLUMNS, png_figures=True)
