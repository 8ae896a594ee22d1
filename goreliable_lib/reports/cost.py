"""The cost-by-team report (notebooks/cost_by_team.ipynb): who spends what, where it is heading against the
budgets, what looks unusual, and a cross-check of Kubecost against the Prometheus cost metrics.

```python
data = cost.fetch(run.connect(), run.params)   # two Kubecost requests, the budgets file, the cross-check queries
report = cost.build(data, run.params)          # pure: analysis.cost and analysis.crosscheck
```
Fetches: (1) daily costs per `namespace,<team aggregate>` on UTC days from 4 weeks before the window's first
day (the anomaly baseline; also the month-to-date and run-rate days) to the end; (2) the window's totals per
`namespace,controller,<team aggregate>` (accumulated), from which the team, namespace and label-hygiene tables
are rolled up. Idle stays a separate row (`shareIdle=false`). (3) The cross-check's Prometheus queries for the
last whole UTC day (never fatal: a failure or missing metrics is a warning). (4) Unit costs (`fetch_unit_costs`):
per (aggregate, filter) of the services map, the window's allocations with idle shared (`shareIdle=true`) per UTC
day, by `<aggregate>,<team aggregate>`; each mapped SLO's exact per-minute events and the LLM services' token
counters from Prometheus (never fatal: unit costs are then shown as unavailable, with the reason).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from goreliable_lib.analysis import cost, crosscheck
from goreliable_lib.analysis import unit_costs as units
from goreliable_lib.errors import BadInputError, KubecostError, SourceError
from goreliable_lib.events.engine import SLOEvents, fetch_counter_increase, fetch_slo_events
from goreliable_lib.inputs.budgets import Budgets, load_budgets
from goreliable_lib.inputs.catalog import read_catalog
from goreliable_lib.inputs.services_map import ServicesMap, load_services_map
from goreliable_lib.plots.cost import SPECIAL_NAMES
from goreliable_lib.plots.format import count, format_day, md, md_money, money, percent, plural
from goreliable_lib.plots.table import Column
from goreliable_lib.plots.trends import run_trend, series_name
from goreliable_lib.reports.base import (
    CATALOG_PARAM,
    SERVICES_MAP_PARAM,
    Param,
    ReportSpec,
    check_aggregate,
    check_file,
    check_names,
    check_services_map,
    check_window,
    common_params,
    read_file_param,
    trend_runs,
    window_from_end,
)
from goreliable_lib.sources.base import PrometheusAPI
from goreliable_lib.sources.connect import MissingSource, Sources
from goreliable_lib.sources.kubecost import KubecostSource, key_column
from goreliable_lib.sources.memo import Memo
from goreliable_lib.sources.service_costs import DAY_STEP, service_allocations
from goreliable_lib.timeutil import parse_time

BASELINE_WEEKS = 4
WEEK = pd.Timedelta(days=7)


# --------------------------------------------------------------------------------------------- data and fetch
@dataclass
class CostData:
    """What the report fetched: the window, the daily frame and the window's totals frame."""

    start: pd.Timestamp
    end: pd.Timestamp
    aggregate: str
    team_key: str
    daily: pd.DataFrame  # allocation(step=1d), aggregate namespace,<team>
    window: pd.DataFrame  # allocation(accumulate=True), aggregate namespace,controller,<team>
    warnings: list[str] = field(default_factory=list)


def _parts(aggregate: str) -> list[str]:
    parts = [p.strip() for p in aggregate.split(",") if p.strip()]
    if len(parts) != 1 or parts[0] in ("namespace", "controller"):
        raise BadInputError(f"aggregate: {aggregate!r} must be one team property such as label:cost-team "
                            "(the report adds namespace and controller itself)")
    return parts


def fetch_allocations(kubecost: KubecostSource | MissingSource, window: dict[str, Any] | tuple[Any, Any],
                      aggregate: str = "label:cost-team") -> CostData:
    """The two Kubecost requests of the report over `window` (`run.window` or a (start, end) pair); a window
    ending after the source's now is cut at now, with a warning."""
    start, end = (window["start"], window["end"]) if isinstance(window, dict) else window
    start, end = parse_time(start, field="window start"), parse_time(end, field="window end")
    warnings = []
    now = kubecost.now()
    if end > now:
        warnings.append(f"the window ends {end:%Y-%m-%d %H:%M} UTC, after the data's clock: costs run to "
                        f"{now:%Y-%m-%d %H:%M} UTC only")
        end = now
    team = _parts(aggregate)[0]
    month_start, _ = cost.month_bounds(end)
    first_day = min(start.floor("D") - BASELINE_WEEKS * WEEK, month_start, cost.run_rate_window(end)[0] - WEEK)
    daily = kubecost.allocation((first_day, end), aggregate=f"namespace,{team}", step="1d", idle=True,
                                share_idle=False)
    totals = kubecost.allocation((start, end), aggregate=f"namespace,controller,{team}", accumulate=True,
                                 idle=True, share_idle=False)
    if daily.empty and totals.empty:  # nothing at all: a report of zeros would read as "we spent nothing"
        raise KubecostError(f"Kubecost returned no allocation at all for {start:%Y-%m-%d %H:%M} .. "
                            f"{end:%Y-%m-%d %H:%M} UTC (outside its retention, or the wrong cluster or URL?): "
                            "there is no cost to report")
    return CostData(start, end, aggregate, key_column(team), daily, totals, warnings)


@dataclass
class CrossCheckData:
    """The Prometheus side of the cross-check: the day compared and each check's result frame, or why not."""

    day_start: pd.Timestamp
    namespaces: list[str] | None  # the selected teams' namespaces (None: every namespace)
    results: dict[str, pd.DataFrame] | None
    notes: list[str] = field(default_factory=list)


def selected_namespaces(data: CostData, teams: str | list[str]) -> list[str] | None:
    """The namespaces of the selected teams (None when every team is selected): the cross-check compares them."""
    if teams == "all":
        return None
    totals = cost.totals(cost.select(data.window, data.team_key, teams), "namespace", special=(cost.IDLE,))
    return sorted(n for n in totals["namespace"] if n != cost.IDLE)


def fetch_cross_check(prometheus: PrometheusAPI | MissingSource, data: CostData,
                      teams: str | list[str] = "all") -> CrossCheckData:
    """The cross-check's Prometheus queries for the last whole UTC day of the window; never fatal: Prometheus not
    configured, failing, or without cost metrics for that day is a note, and the report goes on without it."""
    day_start, day_end = crosscheck.check_day(data.end)
    namespaces = selected_namespaces(data, teams)
    if day_start < data.start.floor("D"):
        return CrossCheckData(day_start, namespaces, None,
                              [f"cross-check skipped: the window has no complete UTC day before {day_end:%Y-%m-%d}"])
    at = crosscheck.query_time(day_end)
    results: dict[str, pd.DataFrame] = {}
    try:
        probes = {name: prometheus.query(promql, at)
                  for name, promql in crosscheck.interval_queries(namespaces).items()}
        intervals = crosscheck.scrape_intervals(probes)  # measured per metric: no 60 s scrape assumed
        for name, promql in crosscheck.prometheus_queries(namespaces, scrape_interval_seconds=intervals).items():
            results[name] = prometheus.query(promql, at)
    except SourceError as exc:
        return CrossCheckData(day_start, namespaces, None, [f"cross-check with Prometheus skipped: {exc}"])
    if all(frame.empty for frame in results.values()):
        return CrossCheckData(day_start, namespaces, None, [
            "cross-check skipped: Prometheus has no cost metrics (node_*_hourly_cost, container_*_allocation) for "
            f"{day_start:%Y-%m-%d}"])
    return CrossCheckData(day_start, namespaces, results)


@dataclass
class UnitCostData:
    """What the unit costs need: the services map, the window's periods, the allocations per (aggregate, filter)
    with idle shared, each SLO's per-minute events and the LLM services' token counters (None: not counted)."""

    services: ServicesMap
    team_key: str
    periods: list[tuple[pd.Timestamp, pd.Timestamp]]
    allocations: dict[tuple[str, str | None], pd.DataFrame]
    requests: dict[str, pd.DataFrame] | None  # SLO name -> timestamp, good, total
    tokens: dict[str, pd.DataFrame]  # llm service -> timestamp, prompt, generated
    notes: list[str] = field(default_factory=list)


def _events(found: SLOEvents, columns: tuple[str, str]) -> pd.DataFrame:
    good, total = columns
    return found.events.rename(columns={"good": good, "total": total})[["timestamp", good, total]]


def fetch_unit_costs(sources: Sources, data: CostData, services_map: Any = SERVICES_MAP_PARAM.default,
                     catalog: Any = CATALOG_PARAM.default) -> UnitCostData:
    """The unit costs' requests (see the module docstring): Kubecost failing fails the report like its other
    requests; Prometheus missing or failing is a note, and the unit costs are shown without requests."""
    services = load_services_map(services_map)
    objectives = {o.name: o for o in read_catalog(catalog).objectives}
    services.check_slos(objectives, str(catalog))
    start, end = data.start, data.end
    team = _parts(data.aggregate)[0]
    allocations = service_allocations(sources.kubecost, services.services, start, end,  # type: ignore[arg-type]
                                      step=DAY_STEP, team=team)
    notes: list[str] = []
    requests: dict[str, pd.DataFrame] | None = {}
    tokens: dict[str, pd.DataFrame] = {}
    lo, hi = start.ceil("min"), end.floor("min")
    try:
        prometheus = Memo(sources.prometheus)  # type: ignore[arg-type]
        for name in dict.fromkeys(s.requests for s in services.services):
            found = fetch_slo_events(prometheus, objectives[name], lo, hi, lookback=pd.Timedelta(0))
            if not found.series.get("total"):
                notes.append(f"SLO {name}: Prometheus holds no series of {objectives[name].total_selector.to_promql()}"
                             f" in the window: the requests of "
                             f"{', '.join(s.name for s in services.services if s.requests == name)} are not counted")
                continue
            requests[name] = _events(found, ("good", "total"))
        for service in services.services:
            if service.kind != "llm":
                continue
            counters = service.token_counters
            prompt = fetch_counter_increase(prometheus, "prompt tokens", service.prompt_selector,  # type: ignore[arg-type]
                                            lo, hi)
            generated = fetch_counter_increase(prometheus, "generated tokens",
                                               service.generated_selector, lo, hi)  # type: ignore[arg-type]
            if not prompt.series.get("total") or not generated.series.get("total"):
                notes.append(f"service {service.name}: Prometheus holds no token counter "
                             f"({counters.prompt}, {counters.generated}): "  # type: ignore[union-attr]
                             "its cost per million tokens is not available")
                continue
            tokens[service.name] = pd.DataFrame({"timestamp": prompt.events["timestamp"],
                                                 "prompt": prompt.events["total"],
                                                 "generated": generated.events["total"]})
    except SourceError as exc:
        requests, tokens = None, {}
        notes.append(f"unit costs without requests: Prometheus could not count them ({exc})")
    return UnitCostData(services, key_column(team), units.day_periods(start, end), allocations, requests, tokens,
                        notes)


@dataclass
class CostInputs:
    """What the cost report fetched: the allocations, the budgets file, the cross-check's Prometheus side and the
    unit costs' inputs."""

    allocations: CostData
    budgets: Budgets
    cross_check: CrossCheckData
    unit_costs: UnitCostData | None = None


def fetch(sources: Sources, params: Mapping[str, Any]) -> CostInputs:
    """Every request of the report (`params`: end, window, aggregate, budgets, teams), on the Kubecost clock."""
    budgets = load_budgets(params.get("budgets", "params/budgets.yaml"))
    window = window_from_end(params, sources.kubecost.now())
    allocations = fetch_allocations(sources.kubecost, window, params.get("aggregate", "label:cost-team"))
    teams = params.get("teams", "all")
    cross_check = fetch_cross_check(sources.prometheus, allocations, teams)
    services_map = params.get("services_map", SERVICES_MAP_PARAM.default)
    unit_data = (fetch_unit_costs(sources, allocations, services_map, params.get("catalog", CATALOG_PARAM.default))
                 if services_map else None)  # services_map: none: no unit cost
    return CostInputs(allocations, budgets, cross_check, unit_data)


# --------------------------------------------------------------------------------------------- the report
@dataclass
class CostReport:
    """Everything the cost notebook shows."""

    data: CostData
    teams: pd.DataFrame  # analysis.cost.totals per team (idle, unallocated included)
    namespaces: pd.DataFrame  # totals per namespace (idle included)
    daily_teams: pd.DataFrame
    daily_namespaces: pd.DataFrame
    ml_split: pd.DataFrame
    resources: pd.DataFrame
    namespace_table: pd.DataFrame
    hygiene: pd.DataFrame
    team_projection: pd.DataFrame
    namespace_projection: pd.DataFrame
    budgets: pd.DataFrame
    evaluations: dict[str, pd.DataFrame]  # "team" / "namespace" -> analysis.cost.baseline
    anomalies: pd.DataFrame  # kind, scope, key, day, cost, expected, threshold, delta
    movers: pd.DataFrame
    efficiency: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    selected_teams: str | list[str] = "all"
    title: str = "Cost by team"
    cross_check: pd.DataFrame | None = None  # analysis.crosscheck.cross_check, None when not available
    cross_check_notes: list[str] = field(default_factory=list)  # why the cross-check is not available
    unit_costs: UnitCosts | None = None  # None: not computed (a report built without its unit-cost inputs)

    @property
    def window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        return self.data.start, self.data.end

    def headline(self) -> str:
        """The first screen (Markdown); the warnings follow it."""
        return headline_markdown(self, self.title)

    @property
    def team_key(self) -> str:
        return self.data.team_key

    @property
    def hours(self) -> float:
        return (self.data.end - self.data.start) / pd.Timedelta(hours=1)

    @property
    def total_cost(self) -> float:
        return float(self.teams["total_cost"].sum())

    def cost_of(self, team: str) -> float:
        found = self.teams.loc[self.teams[self.team_key] == team, "total_cost"]
        return float(found.sum())

    def anomaly_series(self, kind: str, name: str) -> pd.DataFrame:
        """The daily evaluations of one team or namespace (for its anomaly chart)."""
        key = self.team_key if kind == "team" else "namespace"
        frame = self.evaluations[kind]
        return frame[frame[key] == name].reset_index(drop=True)

    def anomaly_groups(self) -> list[list[tuple[str, str]]]:
        """The flagged scopes, (kind, name), grouped when they are one cost seen twice: a team whose only namespace
        is flagged has the same days at the same cost (to the cent) as that namespace, and is listed and charted
        once, under both names (namespaces first)."""
        groups: dict[tuple[Any, ...], list[tuple[str, str]]] = {}
        for (kind, name), rows in self.anomalies.groupby(["kind", "name"], sort=False):
            key = tuple((pd.Timestamp(day), round(float(value), 2)) for day, value in zip(rows["day"], rows["cost"],
                                                                                         strict=True))
            groups.setdefault(key, []).append((str(kind), str(name)))
        return list(groups.values())

    @staticmethod
    def scope_words(scopes: Sequence[tuple[str, str]]) -> str:
        """`namespace go-reliable-production (all of team app-platform)`: a group of scopes in words."""
        words = [f"{kind} {SPECIAL_NAMES.get(name, name)}" for kind, name in scopes]
        return words[0] + (f" (all of {', '.join(words[1:])})" if len(words) > 1 else "")

    def anomalies_shown(self) -> pd.DataFrame:
        """The anomalies as the page lists them: one row per day of each group of scopes (`anomaly_groups`), the
        scope in words (anomalies.csv keeps one row per scope)."""
        rows = []
        for scopes in self.anomaly_groups():
            kind, name = scopes[0]
            own = self.anomalies[(self.anomalies["kind"] == kind) & (self.anomalies["name"] == name)]
            rows.append(own.drop(columns=["kind", "name"]).assign(scope=self.scope_words(scopes)))
        columns = ["scope", "day", "cost", "expected", "threshold", "delta"]
        return pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)

    def summary(self) -> dict[str, Any]:
        """The cost block of summary.json (DESIGN.md), plus the window's hours and the conventions."""
        projected = self.team_projection.set_index(self.team_key)["projected_monthly"]
        ns_projected = self.namespace_projection.set_index("namespace")["projected_monthly"]
        return {
            "total_cost": self.total_cost,
            "teams": [{"team": r[self.team_key], "cost": float(r["total_cost"]),
                       "projected_monthly": float(projected.get(r[self.team_key], 0.0))}
                      for _, r in self.teams.iterrows()],
            "namespaces": [{"namespace": r["namespace"], "cost": float(r["total_cost"]),
                            "projected_monthly": float(ns_projected.get(r["namespace"], 0.0))}
                           for _, r in self.namespaces.iterrows()],
            "budgets": [{"scope": r.scope, "limit": r.limit, "projected": r.projected, "over": bool(r.over),
                         "over_by": r.over_by, "month_to_date": r.month_to_date, "status": r.status,
                         "crossing_day": r.crossing_day} for r in self.budgets.itertuples(index=False)],
            "idle_cost": self.cost_of(cost.IDLE),
            "unallocated_cost": self.cost_of(cost.UNALLOCATED),
            "ml_cost": float(self.ml_split.set_index("category").loc["ML infrastructure", "total_cost"]),
            "application_cost": float(self.ml_split.set_index("category").loc["application runtime", "total_cost"]),
            "anomalies": [{"scope": f"{r.kind}:{r.name}", "day": r.day.strftime("%Y-%m-%d"), "cost": r.cost,
                           "expected": r.expected} for r in self.anomalies.itertuples(index=False)],
            "conventions": {"hours_per_month": cost.HOURS_PER_MONTH, "run_rate_days": cost.RUN_RATE_DAYS,
                            "projection": "month-to-date actual + run rate x hours left in the calendar month",
                            "unit_costs": UNIT_COST_RULE},
            **(self.unit_costs.summary() if self.unit_costs is not None else {"unit_costs": [],
                                                                               "ml_unit_costs": None}),
        }


#: How unit costs treat idle and shared cost (summary.json `conventions.unit_costs`, and the page).
UNIT_COST_RULE = ("a service's cost = its mapped allocations' total cost with idle shared (Kubecost shareIdle: each "
                  "hour's idle CPU, RAM and GPU shared by each allocation's cost of that resource) and the cluster's "
                  "shared tenancy cost (sharedCost) included; cost no service maps is shown apart (not_mapped_cost); "
                  "requests and good requests = the mapped SLO's exact events of the same minutes; failed requests "
                  "cost = cost x bad / total; trend = least-squares slope of the daily cost per million good "
                  "requests, per day")


def _value(value: Any) -> float | None:
    """A figure for summary.json: None for None/NaN."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


@dataclass
class UnitCosts:
    """The unit costs of the report: per service and period, per service and team over the window, the ML figures,
    what no service maps, and the notes (warnings) on what is missing."""

    daily: pd.DataFrame  # analysis.unit_costs.with_ratios of the periods
    services: pd.DataFrame  # analysis.unit_costs.window
    teams: pd.DataFrame  # analysis.unit_costs.teams
    ml: dict[str, float | None] | None
    not_mapped_cost: float | None
    no_allocation: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return bool(self.services["cost"].notna().any())

    def table(self) -> pd.DataFrame:
        """The unit-cost table people read: one row per service."""
        columns = ["service", "team", "requests", "good_requests", "cost", "cost_per_million_requests",
                   "cost_per_million_good_requests", "failed_requests_cost", "gpu_share", "trend_per_day"]
        return self.services[columns]

    def summary(self) -> dict[str, Any]:
        """summary.json `unit_costs`, `unit_cost_teams`, `ml_unit_costs`, `not_mapped_cost`."""
        daily = self.daily
        entries = []
        for row in self.services.itertuples(index=False):
            own = daily[daily["service"] == row.service]
            entries.append({
                "service": row.service, "team": row.team, "kind": row.kind,
                **{k: _value(getattr(row, k)) for k in ("requests", "good_requests", "cost", "gpu_cost",
                                                       "cost_per_million_requests", "cost_per_million_good_requests",
                                                       "failed_requests_cost", "gpu_share", "trend_per_day")},
                "maps_to_allocation": row.service not in self.no_allocation,
                "daily": [{"day": d.day.strftime("%Y-%m-%d"), "requests": _value(d.requests),
                           "good_requests": _value(d.good_requests), "cost": _value(d.cost),
                           "cost_per_million_good_requests": _value(d.cost_per_million_good_requests)}
                          for d in own.itertuples(index=False)]})
        teams = [{"team": r.team, "services": int(r.services),
                  **{k: _value(getattr(r, k)) for k in ("requests", "good_requests", "cost",
                                                       "cost_per_million_requests", "cost_per_million_good_requests",
                                                       "failed_requests_cost")}}
                 for r in self.teams.itertuples(index=False)]
        return {"unit_costs": entries, "unit_cost_teams": teams,
                "ml_unit_costs": {k: _value(v) for k, v in self.ml.items()} if self.ml is not None else None,
                "not_mapped_cost": _value(self.not_mapped_cost)}


def build_unit_costs(data: UnitCostData, cluster_cost: float | None) -> UnitCosts:
    """The unit costs from their inputs (pure); `cluster_cost` = the window's whole cost (None when the report shows
    some teams only: what no service maps is then not computed)."""
    covered = units.has_cost_data(list(data.allocations.values()), data.periods)
    notes = list(data.notes)
    frames, nothing = [], []
    for service in data.services.services:
        rows = units.service_periods(
            service, data.allocations[service.allocations.request_key], key_column(service.allocations.aggregate),
            data.team_key, data.periods, covered,
            data.requests.get(service.requests) if data.requests is not None else None, data.tokens.get(service.name))
        if rows.attrs["maps_to_nothing"] and any(covered.values()):
            nothing.append(service.name)
            notes.append(f"service {service.name}: its mapping ({service.mapping_text()}) in {data.services.path} "
                         "maps to no allocation in the window: its unit costs are not available (check the values "
                         "against the allocations' keys)")
        frames.append(rows)
    periods = pd.concat(frames, ignore_index=True)
    missing = [lo for lo, ok in covered.items() if not ok]
    if missing and len(missing) == len(covered):
        notes.append("Kubecost has no allocation in the window: no unit cost is available")
    elif missing:
        notes.append(f"Kubecost has no allocation for {', '.join(format_day(d) for d in missing)}: "
                     "those days are left out of the unit costs, their requests too")
    by_service = units.window(periods, nothing)
    return UnitCosts(units.with_ratios(periods), by_service, units.teams(by_service), units.ml(by_service),
                     units.not_mapped_cost(cluster_cost, by_service) if cluster_cost is not None else None, nothing,
                     notes)


def build_tables(data: CostData, budgets: Budgets, *, teams: str | list[str] = "all") -> CostReport:
    """All tables of the report from the fetched frames; `teams` limits the team and namespace views (idle and
    unallocated always stay)."""
    key = data.team_key
    warnings = list(data.warnings)
    window = cost.select(data.window, key, teams)
    daily_frame = cost.select(data.daily, key, teams)
    if window.empty or not (~window["is_idle"].astype(bool)).any():
        warnings.append(f"Kubecost returned no allocation for {data.start:%Y-%m-%d %H:%M} .. "
                        f"{data.end:%Y-%m-%d %H:%M} UTC: every figure below is zero")
    if teams != "all":
        unknown = sorted(set(teams) - set(data.window[key]))
        if unknown:
            warnings.append(f"teams {', '.join(unknown)}: no cost in the window (check the {data.aggregate} "
                            "label values)")
    team_totals = cost.totals(window, key)
    ns_totals = cost.totals(window, "namespace", special=(cost.IDLE,))
    daily_teams = cost.daily(daily_frame, key)
    daily_ns = cost.daily(daily_frame, "namespace")
    team_projection = cost.projection(daily_teams, key, data.end)
    ns_projection = cost.projection(daily_ns, "namespace", data.end)
    budget_table = cost.budget_status(budgets.frame(), {"team": team_projection, "namespace": ns_projection},
                                      {"team": daily_teams, "namespace": daily_ns}, data.end,
                                      at_risk_ratio=budgets.at_risk_ratio)
    for row in budget_table[budget_table["status"] == "no_data"].itertuples(index=False):
        warnings.append(f"budget {row.scope}: no cost found for it this month (a typo in the budgets file?)")
    evaluations = {"team": cost.baseline(daily_teams, key), "namespace": cost.baseline(daily_ns, "namespace")}
    flagged = []
    for kind, column in (("namespace", "namespace"), ("team", key)):
        found = cost.anomalies(evaluations[kind], column, data.start, data.end)
        flagged.append(found.rename(columns={column: "name"}).assign(kind=kind))
    anomalies = pd.concat(flagged, ignore_index=True)[["kind", "name", "day", "cost", "expected", "threshold",
                                                       "delta"]]
    movers = pd.concat([cost.top_movers(daily_ns, "namespace", data.end).rename(columns={"namespace": "name"})
                        .assign(kind="namespace"),
                        cost.top_movers(daily_teams, key, data.end).rename(columns={key: "name"}).assign(kind="team")],
                       ignore_index=True)
    hours = (data.end - data.start) / pd.Timedelta(hours=1)
    return CostReport(
        data, team_totals, ns_totals, daily_teams[daily_teams["day"] >= data.start.floor("D")],
        daily_ns[daily_ns["day"] >= data.start.floor("D")], cost.ml_vs_application(team_totals, key),
        cost.resource_table(team_totals, key), cost.namespace_table(ns_totals, hours),
        cost.label_hygiene(window, key), team_projection, ns_projection, budget_table, evaluations, anomalies,
        movers[["kind", "name", "this_week", "last_week", "change", "change_pct"]],
        cost.efficiency(team_totals, key), warnings, teams)


def cross_check_table(data: CostData, check: CrossCheckData) -> pd.DataFrame | None:
    """Kubecost's costs of the day against the Prometheus results (pure); None when there are none."""
    if check.results is None:
        return None
    day = data.daily[data.daily["start"] == check.day_start]
    table = crosscheck.cross_check(cost.rollup(day, "namespace"), check.results, check.namespaces)
    table.insert(0, "day", check.day_start.strftime("%Y-%m-%d"))
    return table


def headline_markdown(report: CostReport, title: str | None = None) -> str:
    """The first screen: total, per team, ML against application runtime, idle, unallocated, budgets at risk,
    anomalies (Markdown that renders alike in JupyterLab, report.html and GitHub: `$` escaped). Warnings follow it
    through `run.warn`."""
    data, key = report.data, report.team_key
    total = report.total_cost
    lines = [f"# {md(title or 'Cost by team')}", "",
             f"**{md_money(total)}** spent from {data.start:%Y-%m-%d %H:%M} to {data.end:%Y-%m-%d %H:%M} UTC "
             f"({report.hours / 24:.1f} days; monthly rate {md_money(total / report.hours * cost.HOURS_PER_MONTH)}"
             f" at 730 h a month).", "", "| | cost | share |", "| --- | ---: | ---: |"]
    for row in report.teams.itertuples(index=False):
        name = getattr(row, key)
        label = {cost.IDLE: "idle (capacity nobody requested)",
                 cost.UNALLOCATED: "unallocated (no team label)"}.get(name, f"team {md(name)}")
        lines.append(f"| {label} | {md_money(row.total_cost)} | {row.total_cost / total:.0%} |" if total else
                     f"| {label} | {md_money(row.total_cost)} | - |")
    split = report.ml_split.set_index("category")["total_cost"]
    lines += ["", f"**ML infrastructure** {md_money(split['ML infrastructure'])} against **application runtime** "
              f"{md_money(split['application runtime'])} (every other labelled team)."]
    risky = report.budgets[report.budgets["status"].isin(["over", "at_risk"])]
    if len(risky):
        over, at_risk = int((risky["status"] == "over").sum()), int((risky["status"] == "at_risk").sum())
        counted = " and ".join(part for part in (f"{over} over" if over else "", f"{at_risk} at risk" if at_risk
                                                 else "") if part)
        lines.append("")
        lines.append(f"**Budgets:** {counted} of {plural(len(report.budgets), 'budget')}: " + "; ".join(
            f"{md(r.scope)} projected {md_money(r.projected)} against {md_money(r.limit)} "
            f"(**{r.status.replace('_', ' ')}**"
            + (f", crossed/crosses on {r.crossing_day:%Y-%m-%d}" if pd.notna(r.crossing_day) else "") + ")"
            for r in risky.itertuples(index=False)))
    else:
        every = "all " if len(report.budgets) > 1 else ""
        lines += ["", f"**Budgets:** {every}{plural(len(report.budgets), 'budget')} within the monthly limit at the "
                  "current run rate."]
    lines += ["", *unit_cost_markdown(report)]
    if len(report.anomalies):
        shown = report.anomalies_shown()
        count = plural(shown["day"].nunique(), "day") + (f", {shown['scope'].nunique()} scopes"
                                                         if shown["scope"].nunique() > 1 else "")
        lines += ["", f"**Anomalies** ({count}): " + "; ".join(
            f"{md(r.scope)} on {r.day:%Y-%m-%d}: {md_money(r.cost)} against {md_money(r.expected)} usual"
            for r in shown.itertuples(index=False))]
    else:
        lines += ["", "**Anomalies:** none (no day above its same-weekday baseline)."]
    return "\n".join(lines)


def _per(value: Any, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else md_money_digits(value, digits)


def md_money_digits(value: float, digits: int) -> str:
    """Money with more decimals (a unit cost of a few cents per 1,000 inferences)."""
    return md(money(value, digits=digits))


def unit_cost_markdown(report: CostReport) -> list[str]:
    """The first screen's unit costs: per service (and team), the ML platform's units, the rule; or why none."""
    unit = report.unit_costs
    if unit is None:
        return []
    if not unit.available:
        return ["**Unit costs:** not available (" + md("; ".join(unit.notes) or "no mapped service") + ")."]
    lines = ["**Unit costs** (idle and the shared control plane spread by Kubecost's shareIdle; requests = each "
             "service's SLO events; per million = per 1,000,000 requests):", "",
             # the figure people come for first: it stays on a phone's screen, the counts scroll
             "| service | per million good | cost | failed requests' cost | per million | requests | good | team |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for row in unit.services.itertuples(index=False):
        lines.append(f"| {md(row.service)} | {_per(row.cost_per_million_good_requests)} | {_per(row.cost)} | "
                     f"{_per(row.failed_requests_cost)} | {_per(row.cost_per_million_requests)} | "
                     f"{count(row.requests)} | {count(row.good_requests)} | {md(row.team or '-')} |")
    for row in unit.teams.itertuples(index=False):
        lines.append(f"| **team {md(row.team)}** | {_per(row.cost_per_million_good_requests)} | {_per(row.cost)} | "
                     f"{_per(row.failed_requests_cost)} | {_per(row.cost_per_million_requests)} | "
                     f"{count(row.requests)} | {count(row.good_requests)} | |")
    ml = unit.ml
    if ml is not None:
        parts = []
        if ml["cost_per_1k_inferences"] is not None:
            parts.append(f"{_per(ml['cost_per_1k_inferences'], 4)} per 1,000 inferences "
                         f"({count(ml['inference_requests'])} inferences, GPU {percent(ml['inference_gpu_share'], 0)})")
        if ml["cost_per_million_tokens"] is not None:
            parts.append(f"{_per(ml['cost_per_million_tokens'], 4)} per million tokens ({count(ml['prompt_tokens'])} "
                         f"prompt + {count(ml['generated_tokens'])} generated, GPU {percent(ml['llm_gpu_share'], 0)})")
        if parts:
            lines += ["", "**ML platform:** " + "; ".join(parts) + f"; GPU share of the ML services' cost "
                      f"{percent(ml['gpu_share'], 0)}."]
    if unit.not_mapped_cost is not None:
        lines += ["", f"Cost no service maps (shared state, platform, observability, idle's share of them): "
                  f"{md_money(unit.not_mapped_cost)}."]
    return lines


def cross_check_note(report: CostReport) -> str:
    """Why the cross-check is not shown (Markdown)."""
    return "**Cross-check not available:** " + md("; ".join(report.cross_check_notes))


# --------------------------------------------------------------------------------------------- build
def build(data: CostInputs, params: Mapping[str, Any]) -> CostReport:
    """Every table of the report (pure)."""
    report = build_tables(data.allocations, data.budgets, teams=params.get("teams", "all"))
    report.title = params.get("title") or SPEC.title
    report.cross_check = cross_check_table(data.allocations, data.cross_check)
    report.cross_check_notes = list(data.cross_check.notes)
    report.warnings.extend(report.cross_check_notes)
    if data.unit_costs is not None:
        teams = params.get("teams", "all")
        report.unit_costs = build_unit_costs(data.unit_costs, report.total_cost if teams == "all" else None)
        report.warnings.extend(report.unit_costs.notes)
    return report


# --------------------------------------------------------------------------------------------- check
def check(values: dict[str, Any]) -> None:
    """The budgets file, the SLO catalog and the services map parse and validate, and every service counts its
    requests with an SLO of the catalog (exit 2 before any kernel)."""
    read_file_param("budgets", load_budgets, values["budgets"])
    catalog = read_file_param("catalog", read_catalog, values["catalog"])
    check_services_map(values.get("services_map"), catalog, values["catalog"])


# --------------------------------------------------------------------------------------------- index
def index_headline(summary: Mapping[str, Any]) -> str:
    """`total $2,597.09; 5 teams; 1 budget over; 2 anomalies`."""
    over = sum(1 for b in summary.get("budgets") or [] if b.get("over"))
    return (f"total {money(summary.get('total_cost'))}; {plural(len(summary.get('teams') or []), 'team')}; "
            f"{plural(over, 'budget')} over; {plural(len(summary.get('anomalies') or []), 'anomaly', 'anomalies')}")


#: How Kubecost's special allocations read for people.


def index_trends(summaries: Sequence[Mapping[str, Any]]) -> list[go.Figure]:
    """The cost of each team across the published runs (the monthly runs: each point is the team's cost over its
    run's window), from each summary.json's `teams`: one line per team, window (`ml-platform (30d)`) and source;
    idle and unallocated are lines of their own; a failed run is a gap. Then, when runs hold `unit_costs`, each
    service's cost per million good requests across the runs, the same way."""
    runs = trend_runs(summaries)
    points = []
    for run in runs:
        summary = run.summary or {}
        span = (f"{format_day(run.start)} .. {format_day(run.end)}" if run.start is not None
                else f"to {format_day(run.end)}")
        for entry in summary.get("teams") or []:
            if not isinstance(entry, Mapping) or entry.get("team") is None:
                continue
            value = entry.get("cost")
            value = float(value) if isinstance(value, int | float) and math.isfinite(value) else None
            name = series_name(SPECIAL_NAMES.get(str(entry["team"]), str(entry["team"])), run.window)
            points.append({"end": run.end, "series": name, "value": value, "source": run.source_label,
                           "text": f"{name}: {money(value)} ({span})"})
    units = []
    for run in runs:
        for entry in (run.summary or {}).get("unit_costs") or []:
            if not isinstance(entry, Mapping) or entry.get("service") is None:
                continue
            value = entry.get("cost_per_million_good_requests")
            value = float(value) if isinstance(value, int | float) and math.isfinite(value) else None
            name = series_name(str(entry["service"]), run.window)
            units.append({"end": run.end, "series": name, "value": value, "source": run.source_label,
                          "text": f"{name}: {money(value)} per million good requests"})
    figures = [run_trend(points, runs, published=len(summaries), title="Cost per team (each run's window)",
                         y_title="cost", tickprefix="$")]
    if units:
        figures.append(run_trend(units, runs, published=len(summaries),
                                 title="Cost per million good requests",
                                 y_title="per million good requests", tickprefix="$"))
    return figures


#: How the cost report's tables read (over plots.table.COMMON): money, differences and shares.
TABLE_COLUMNS = {
    "cost_team": Column("text", "Team"),
    cost.IDLE: Column("money", "Idle"),
    cost.UNALLOCATED: Column("money", "Unallocated"),
    "limit": Column("money", "Monthly limit"),
    "month_to_date": Column("money", "Month to date"),
    "run_rate_hourly": Column("money", "Run rate per hour"),
    "monthly_rate": Column("money", "Monthly rate"),
    "projected": Column("money", "Projected month"),
    "projected_monthly": Column("money", "Projected month"),
    "over": Column("bool", "Over the limit"),
    "over_by": Column("money_change", "Projected - limit"),
    "used": Column("percent", "Projected / limit", digits=0),
    "crossing_day": Column("day", "Crosses the limit on", note="not at the current run rate"),
    "expected": Column("money", "Usual (same weekday)"),
    "threshold": Column("money", "Allowed above usual"),
    "delta": Column("money_change", "Above usual by"),
    "this_week": Column("money", "Last 7 days"),
    "last_week": Column("money", "7 days before"),
    "change": Column("money_change", "Change"),
    "change_pct": Column("signed_percent", "Change %", note="nothing the week before"),
    "kubecost": Column("money", "Kubecost", note="missing in Kubecost"),
    "prometheus": Column("money", "Prometheus", note="missing in Prometheus"),
    "difference": Column("money_change", "Prometheus - Kubecost", note="one side is missing"),
    "relative": Column("signed_percent", "Difference %", digits=2, note="no Kubecost cost to compare with"),
    "share": Column("percent", "Share", digits=0),
    "CPU eff.": Column("percent", digits=0),
    "Memory eff.": Column("percent", digits=0),
    "cpu_efficiency": Column("percent", "CPU efficiency", digits=0),
    "ram_efficiency": Column("percent", "RAM efficiency", digits=0),
    "total_efficiency": Column("percent", "Total efficiency", digits=0),
    "share_of_unallocated": Column("percent", "Share of unallocated", digits=1),
    "namespace_unlabelled_share": Column("percent", "Namespace unlabelled", digits=0),
    "total": Column("money", "Total"),
    "resource": Column("text", "Resource"),
    "hours": Column("number", "Hours"),
    "hours_left": Column("number", "Hours left"),
}


# --------------------------------------------------------------------------------------------- spec
SPEC = ReportSpec(
    "cost", "notebooks/cost_by_team.ipynb", "Cost by team", (
        *common_params("Cost by team"),
        Param("window", "window", "30d", "cost window: 30d (last 30 days), lastmonth, or a month like 2026-10",
              check_window),
        Param("aggregate", "text", "label:cost-team", "Kubecost aggregation for teams", check_aggregate),
        Param("budgets", "file", "params/budgets.yaml", "budgets per team / namespace", check_file),
        Param("teams", "names", "all", "teams to include (all, or a list)", check_names),
        SERVICES_MAP_PARAM,
        CATALOG_PARAM,
    ), "params/cost.yaml", check=check, index_headline=index_headline, index_trends=index_trends,
    columns=TABLE_COLUMNS, suite_position=1)
