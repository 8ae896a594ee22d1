"""The SLO report (notebooks/slo_report.ipynb): every catalog SLO over its window, the error-budget policy, the
alerts that would have fired, model drift and the data's quality.

```python
data = slo.fetch(run.connect(), run.params)   # per SLO its exact per-minute events, and the drift gauge
report = slo.build(data, run.params)          # pure: analysis.slo over the events
```
Fetches (through `sources.prometheus`, each distinct query once): per objective the events of its window and the
3 days before it (the slowest alert's lookback; `events.engine`; objectives sharing an indicator share the
fetch), or for a thresholdMetric its value per time slice (`events.threshold`), and the drift gauge per
model over the span of every window (`max_over_time` per step, so a short episode is not missed).

Correction windows (`goreliable/v1 Correction` documents in the catalog or in the `corrections` file,
`inputs.corrections`) are applied in `build`, to the events fetched (`analysis.correction_windows`): every figure
is the corrected one, each row also says its SLI and budget before them and what each correction removed, and
nothing fetched or archived is changed.

What is reported is one row per *objective* (`inputs.catalog.SLOObjective`): an SLO with several objectives
gives `SLO/objective` rows, a grouped SLO (Pyrra `grouping`, Sloth `sum by`) one row per group with series in its
window (`events.groups`: `SLO{label="value"}`; more than `max_groups` groups is refused before any event is
fetched). The `window` parameter applies to every objective (calendar forms in each SLO's
calendar time zone); `window=catalog` uses each SLO's own `timeWindow` (30 days rolling, the kit's default, for
an SLO without one, which the first screen says).

Cost per million good requests (`slos[].cost_per_million_good_requests`, the table's last figure): an SLO's service
is the entry of the services map (`services_map`, `inputs.services_map`) whose `name` is the SLO's `service`; its cost
is its mapping's allocations over the objective's window with idle shared (`sources.service_costs`, one Kubecost
request per distinct aggregate and filter, by UTC day), and the figure is that cost over the SLO's own good events of
the same window x 1e6 (`analysis.unit_costs`: days Kubecost has no allocation for are left out, their events too;
good events as served, before correction windows). None, with the reason in `cost_note`, for an SLO whose service
the map does not name or whose mapping selects no allocation, a thresholdMetric (no events), a group of a grouped SLO
(the service's cost is not split by group), and, with a warning, when no Kubecost is configured or it fails (the rest
of the report unchanged).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from goreliable_lib.analysis import correction_windows, counters
from goreliable_lib.analysis import slo as analysis
from goreliable_lib.analysis import unit_costs as units
from goreliable_lib.analysis.history import month_starts, monthly_history
from goreliable_lib.analysis.runs import gap_periods
from goreliable_lib.errors import SourceError
from goreliable_lib.events import promql
from goreliable_lib.events.archive import (
    WithArchive,
    known_from,
    reusable_until,
    with_archive,
)
from goreliable_lib.events.engine import SLOEvents, fetch_slo_events
from goreliable_lib.events.groups import MAX_GROUPS, expand_groups
from goreliable_lib.events.threshold import ThresholdValues, fetch_threshold_values
from goreliable_lib.inputs.catalog import Catalog, SLOObjective, read_catalog, select_objectives
from goreliable_lib.inputs.corrections import Correction, catalog_corrections, load_corrections
from goreliable_lib.inputs.services_map import ServicesMap, load_services_map
from goreliable_lib.plots import slo as slo_plots
from goreliable_lib.plots import slo_text
from goreliable_lib.plots.format import format_time, percent
from goreliable_lib.plots.slo_text import slo_markdown  # noqa: F401  (the notebook's name: reports.slo.slo_markdown)
from goreliable_lib.plots.table import Column
from goreliable_lib.plots.trends import run_trend, series_name, window_label
from goreliable_lib.reports.base import (
    CATALOG_PARAM,
    SERVICES_MAP_PARAM,
    Param,
    ReportSpec,
    Window,
    check_names,
    check_optional_file,
    check_services_map,
    check_window,
    common_params,
    file_stem,
    max_groups_param,
    read_file_param,
    trend_runs,
    window_from_end,
)
from goreliable_lib.sources.base import PrometheusAPI
from goreliable_lib.sources.connect import Sources
from goreliable_lib.sources.kubecost import key_column
from goreliable_lib.sources.memo import Memo
from goreliable_lib.sources.service_costs import DAY_STEP, RequestKey, service_allocations
from goreliable_lib.timeutil import MINUTE, parse_time, parse_window

#: Drift points per model in one fetch (Prometheus allows 11,000; fewer keeps snapshots small).
DRIFT_MAX_POINTS = 2_000
#: Below this share of the window's minutes with data, an SLO gets a coverage warning.
COVERAGE_WARNING = 0.99
#: The `window` value that evaluates each SLO over its own `timeWindow`.
CATALOG_WINDOW = "catalog"


# --------------------------------------------------------------------------------------------- data and fetch
def drift_step(start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Seconds between drift points: a whole number of minutes, at least 5, at most DRIFT_MAX_POINTS points."""
    minutes = max(5, -(-int((end - start) / MINUTE) // DRIFT_MAX_POINTS))
    return minutes * 60


def fetch_model_drift(prometheus: PrometheusAPI, start: pd.Timestamp, end: pd.Timestamp, *,
                      metric: str = analysis.DRIFT_METRIC,
                      model_label: str = analysis.DRIFT_MODEL_LABEL) -> pd.DataFrame:
    """The drift gauge per model over (start, end]: `timestamp`, `value`, `<model_label>`; each point is the
    gauge's maximum over the step before it (`promql.drift_max`), so a drift episode shorter than the step is not
    missed while the frame stays small."""
    step = pd.Timedelta(seconds=drift_step(start, end))
    return prometheus.query_range(promql.drift_max(metric, model_label, int(step.total_seconds())), start + step, end,
                                  step)


@dataclass
class SLOCostData:
    """What the cost per million good requests needs: the services map and, per distinct objective window, the
    allocations of the services the report's SLOs belong to (by UTC day, idle shared; empty when there is nothing to
    fetch, or Kubecost is not there: `notes` says why)."""

    services: ServicesMap
    allocations: dict[tuple[pd.Timestamp, pd.Timestamp], dict[RequestKey, pd.DataFrame]]
    notes: list[str] = field(default_factory=list)
    #: False when no Kubecost is configured or it failed (every figure None, `notes` says why)
    fetched: bool = True


@dataclass
class SLOData:
    """What the SLO report fetched: the catalog, the selected objectives with their windows and events (or, for a
    thresholdMetric, values per slice), and drift; keyed by objective name (`SLO` or `SLO/objective`)."""

    catalog: Catalog
    slos: list[SLOObjective]
    windows: dict[str, tuple[pd.Timestamp, pd.Timestamp]]
    events: dict[str, SLOEvents]  # ratio objectives
    drift: pd.DataFrame
    thresholds: dict[str, ThresholdValues] = field(default_factory=dict)  # thresholdMetric objectives
    window_param: str = "30d"
    #: per ratio objective: its events completed from the SLO event archive, and the archive's history days
    archived: dict[str, WithArchive] = field(default_factory=dict)
    #: the correction windows read (the catalog's, then the `corrections` file's), applied in `build`
    corrections: list[Correction] = field(default_factory=list)
    #: what the cost per million good requests needs (None: no services map)
    costs: SLOCostData | None = None

    def corrections_for(self, objective: SLOObjective) -> list[Correction]:
        """The corrections that cover an objective, in the order read."""
        return [c for c in self.corrections if c.applies_to(objective)]

    @property
    def start(self) -> pd.Timestamp:
        return min(start for start, _ in self.windows.values())

    def events_of(self, name: str) -> pd.DataFrame:
        """The per-minute events of a ratio objective: the source's, completed from the archive."""
        return self.archived[name].events if name in self.archived else self.events[name].events

    def known_from(self, name: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """(data_starts_at, covered_from) of a ratio objective, the archive's days included
        (`events.archive.known_from`)."""
        return known_from(self.events[name], self.archived.get(name))

    @property
    def end(self) -> pd.Timestamp:
        return max(end for _, end in self.windows.values())


def objective_window(objective: SLOObjective, window: str | None,
                     end: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The window of one objective ending at `end`: the report's `window` (calendar forms in the SLO's calendar
    time zone), or with `catalog` (or none) the SLO's own timeWindow."""
    if not window or window == CATALOG_WINDOW:
        start, stop = objective.window_at(end)
        return start.floor("min"), stop
    return parse_window(window, end, tz=objective.time_window.time_zone)


def fetch(sources: Sources, params: Mapping[str, Any]) -> SLOData:
    """Every request of the report, through one `Memo` of `sources.prometheus` (`params`: catalog, window, services,
    end, max_groups, corrections): a grouped SLO's groups first (`events.groups`), then every objective's events."""
    catalog = read_catalog(params.get("catalog", CATALOG_PARAM.default))
    corrections = load_corrections(catalog, params.get("corrections"))
    objectives = select_objectives(catalog.slos, params.get("services"))
    end = parse_time(params.get("end", "now"), sources.now(), field="end").floor("min")
    prometheus = Memo(sources.prometheus)
    window = params.get("window") or CATALOG_WINDOW
    objectives = expand_groups(prometheus, objectives, {o.name: objective_window(o, window, end) for o in objectives},
                               int(params.get("max_groups") or MAX_GROUPS))
    windows, events, thresholds, archived = {}, {}, {}, {}
    shared: dict[tuple[Any, ...], SLOEvents] = {}
    completed: dict[tuple[Any, ...], WithArchive] = {}
    sources_archive = sources.archive  # the SLO event archive (None: none configured)
    for objective in objectives:
        windows[objective.name] = start, stop = objective_window(objective, window, end)
        if objective.threshold is not None:
            thresholds[objective.name] = fetch_threshold_values(prometheus, objective, start, stop,
                                                                lookback=analysis.LOOKBACK)
            continue
        key = (*objective.events_key, start, stop)
        if key not in shared:
            first = start - analysis.LOOKBACK
            reuse = reusable_until(sources_archive, objective, first, stop)  # archived days not asked again
            computed = shared[key] = fetch_slo_events(prometheus, objective, reuse or start, stop,
                                                      lookback=pd.Timedelta(0) if reuse else analysis.LOOKBACK)
            completed[key] = with_archive(sources_archive, objective, computed, first, stop,
                                          history_from=month_starts(end)[0], reused_until=reuse)
        events[objective.name] = dataclasses.replace(shared[key], name=objective.name)
        archived[objective.name] = completed[key]
    data = SLOData(catalog, objectives, windows, events, pd.DataFrame(), thresholds, window, archived, corrections)
    data.drift = fetch_model_drift(prometheus, data.start, data.end)
    data.costs = fetch_costs(sources, params.get("services_map", SERVICES_MAP_PARAM.default), objectives, windows)
    return data


def costed(objective: SLOObjective) -> bool:
    """Whether an objective's row can carry a cost per million good requests: a ratio objective, not one group of a
    grouped SLO."""
    return objective.threshold is None and not objective.group_labels


def fetch_costs(sources: Sources, services_map: Any, objectives: Sequence[SLOObjective],
                windows: Mapping[str, tuple[pd.Timestamp, pd.Timestamp]]) -> SLOCostData | None:
    """The allocations of the services the objectives belong to (those the map names), over each distinct window by
    UTC day with idle shared (`sources.service_costs`); None without a services map. No Kubecost configured, or
    Kubecost failing, is a note (a warning), never fatal."""
    if not services_map:
        return None
    services = load_services_map(services_map)
    wanted: dict[tuple[pd.Timestamp, pd.Timestamp], list[str]] = {}
    for objective in objectives:
        if costed(objective) and services.for_service(objective.service) is not None:
            wanted.setdefault(windows[objective.name], []).append(objective.service)
    if not wanted:
        return SLOCostData(services, {})
    if not sources.endpoints.get("kubecost"):
        return SLOCostData(services, {}, ["cost: no Kubecost configured (set GORELIABLE_KUBECOST_URL): no cost per "
                                          "million good requests"], fetched=False)
    allocations = {}
    try:
        for (start, stop), names in wanted.items():
            allocations[(start, stop)] = service_allocations(sources.kubecost, services.select(names), start, stop,
                                                             step=DAY_STEP)
    except SourceError as exc:
        return SLOCostData(services, {}, [f"cost: Kubecost failed, no cost per million good requests: {exc}"],
                           fetched=False)
    return SLOCostData(services, allocations)


# --------------------------------------------------------------------------------------------- cost per million good
@dataclass(frozen=True)
class SLOCost:
    """One row's cost per million good requests (None: `note` says why), with the service's cost and the good events
    it is divided by (over the window's days with cost data) and the days left out (Kubecost had none)."""

    value: float | None = None
    cost: float | None = None
    good_requests: float | None = None
    note: str | None = None
    days_without_cost: tuple[pd.Timestamp, ...] = ()
    maps_to_nothing: bool = False

    def summary(self) -> dict[str, Any]:
        """summary.json `slos[]`: `cost_per_million_good_requests`, `service_cost`, `cost_note`."""
        return {"cost_per_million_good_requests": self.value, "service_cost": self.cost, "cost_note": self.note}


def slo_cost(data: SLOData, objective: SLOObjective) -> SLOCost:
    """The cost per million good requests of one objective's row (pure; the rules: the module docstring)."""
    costs = data.costs
    if costs is None:
        return SLOCost(note="no services map (services_map: none)")
    if objective.threshold is not None:
        return SLOCost(note="a thresholdMetric counts no requests")
    if objective.group_labels:
        return SLOCost(note="one group of a grouped SLO: the service's cost is not split by group")
    service = costs.services.for_service(objective.service)
    if service is None:
        return SLOCost(note=f"service {objective.service} is not in {costs.services.path}")
    if not costs.fetched:
        return SLOCost(note="no cost data (Kubecost not configured or failed: see the warnings)")
    start, end = data.windows[objective.name]
    frames = costs.allocations[(start, end)]
    periods = units.day_periods(start, end)
    covered = units.has_cost_data(list(frames.values()), periods)
    if not any(covered.values()):
        return SLOCost(note=f"Kubecost has no allocation for {slo_text.when_text(start, end)}")
    rows = units.service_periods(service, frames[service.allocations.request_key],
                                 key_column(service.allocations.aggregate), "", periods, covered,
                                 data.events_of(objective.name))
    if rows.attrs["maps_to_nothing"]:
        return SLOCost(note=f"service {service.name}'s mapping in {costs.services.path} ({service.mapping_text()}) "
                            "selects no allocation in the window", maps_to_nothing=True)
    row = units.window(rows).iloc[0]
    value = row["cost_per_million_good_requests"]
    return SLOCost(value, float(row["cost"]), float(row["good_requests"]),
                   None if value is not None else "no good request in the window",
                   tuple(lo for lo, ok in covered.items() if not ok))


def _cost_warnings(data: SLOData, costs: Mapping[str, SLOCost]) -> list[str]:
    """Kubecost missing or failing, a mapping selecting nothing (once per service), days without cost data (once
    per window)."""
    found = list(data.costs.notes) if data.costs is not None else []
    for name, cost in costs.items():
        if cost.maps_to_nothing and cost.note:
            found.append(f"cost: {cost.note}: no cost per million good requests for its SLOs (check the mapping's "
                         "values against the allocations' keys)")
        if cost.days_without_cost:
            days = ", ".join(f"{day:%Y-%m-%d}" for day in cost.days_without_cost)
            found.append(f"cost: Kubecost has no allocation for {days} (UTC): the cost per million good requests "
                         f"of {data.windows[name][0]:%Y-%m-%d %H:%M} .. {data.windows[name][1]:%Y-%m-%d %H:%M} UTC "
                         "leaves those days out, their good requests too")
    return list(dict.fromkeys(found))


# --------------------------------------------------------------------------------------------- the report
@dataclass
class SLOReport:
    """Everything the SLO notebook shows."""

    data: SLOData
    results: list[analysis.SLOResult]  # in catalog order
    policy: dict[str, Any]
    model_drift: list[dict[str, Any]]
    drift_periods: pd.DataFrame  # model, start, end
    title: str = "SLO report"
    warnings: list[str] = field(default_factory=list)
    #: per row: its cost per million good requests, or why none (`slo_cost`)
    costs: dict[str, SLOCost] = field(default_factory=dict)
    #: `history()` and `archive_summary()` as first computed (the notebook and summary.json ask for them again)
    _history: list[dict[str, Any]] | None = field(default=None, init=False, repr=False, compare=False)
    _archive_summary: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def start(self) -> pd.Timestamp:
        return self.data.start

    @property
    def end(self) -> pd.Timestamp:
        return self.data.end

    @property
    def window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        return self.start, self.end

    @property
    def policy_thresholds(self) -> Any:
        return self.data.catalog.policy

    def result(self, name: str) -> analysis.SLOResult:
        return next(r for r in self.results if r.name == name)

    def _in_window(self, name: str, frame: pd.DataFrame) -> pd.DataFrame:
        result = self.result(name)
        return frame[(frame["timestamp"] > result.start) & (frame["timestamp"] <= result.end)]

    def objective(self, name: str) -> SLOObjective:
        return next(o for o in self.data.slos if o.name == name)

    def gaps(self, name: str) -> pd.DataFrame:
        """The scrape gaps of one SLO inside its window: `start`, `end` (first and last missing minute), `minutes`;
        for a thresholdMetric, the runs of slices without a value (`minutes` = their length)."""
        if name in self.data.thresholds:
            result = self.result(name)
            slices = result.slice_frame[(result.slice_frame["timestamp"] > result.start)  # type: ignore[index]
                                        & (result.slice_frame["timestamp"] <= result.end)]  # type: ignore[index]
            runs = gap_periods(slices.set_index("timestamp")["ratio"])
            step = self.data.thresholds[name].step
            return pd.DataFrame({"start": runs["start"] - step + MINUTE, "end": runs["end"],
                                 "minutes": (runs["minutes"] * int(step / MINUTE)).astype(int)})
        result = self.result(name)
        return self.data.events[name].gaps_in(result.start, result.end)

    def resets(self, name: str) -> pd.DataFrame:
        """The counter resets of one SLO inside its window (none for a thresholdMetric)."""
        if name in self.data.thresholds:
            return pd.DataFrame({"query": pd.Series([], dtype=object), "series": pd.Series([], dtype=object),
                                 "timestamp": pd.DatetimeIndex([], tz="UTC"), "before": pd.Series([], dtype=float),
                                 "after": pd.Series([], dtype=float)})
        return self._in_window(name, self.data.events[name].resets)

    def summary_entries(self) -> list[dict[str, Any]]:
        """summary.json's `slos` entries: DESIGN.md's fields, then which SLO and objective each row is, its format,
        budgeting method and window definition (and, for a thresholdMetric, the query and its threshold)."""
        entries = []
        for result in self.results:
            objective = self.objective(result.name)
            entry = {**result.summary(), "slo": objective.slo_name, "group": objective.group_labels,
                     "grouped_by": objective.grouped_by, "objective_name": objective.objective_name,
                     "display_name": objective.display_name, "source_format": objective.source_format,
                     "time_window": ("catalog: " if self.data.window_param == CATALOG_WINDOW else "report: ")
                     + (objective.time_window.describe() if self.data.window_param == CATALOG_WINDOW
                        else self.data.window_param),
                     "time_window_given": objective.window_given}
            if objective.threshold is not None:
                entry["threshold"] = {"query": objective.threshold_query, "op": objective.spec.op,
                                      "value": objective.spec.value}
            facts = self.window_facts(result.name)
            entry.update(facts.summary() if facts is not None else {"data_starts_at": None, "partial": False})
            if result.name in self.data.archived:
                entry["archive_days"] = self.data.archived[result.name].archived.summary()["days"]
            entry.update(self.cost_of(result.name).summary())
            entries.append(entry)
        return entries

    def cost_of(self, name: str) -> SLOCost:
        """A row's cost per million good requests (`slo_cost`), or why none."""
        return self.costs.get(name) or SLOCost(note="not computed")

    def window_facts(self, name: str) -> counters.WindowData | None:
        """What data an objective's window has (analysis.counters.WindowData): where the source's data starts
        (retention, a new server), moved back by the days taken from the archive; None for a thresholdMetric."""
        if name not in self.data.events:
            return None
        result = self.result(name)
        starts, covered = self.data.known_from(name)
        return counters.window_data(self.data.events_of(name), result.start, result.end, data_starts_at=starts,
                                    covered_from=covered)

    def archive_summary(self) -> dict[str, Any]:
        """summary.json `archive`: the days taken from the SLO event archive (any SLO), and the history's days
        (computed once per report)."""
        if self._archive_summary is None:
            self._archive_summary = self._archive_days()
        return self._archive_summary

    def _archive_days(self) -> dict[str, Any]:
        days = sorted({d for item in self.data.archived.values() for d in item.archived.days})
        history = sorted({d for item in self.data.archived.values()
                          for d in item.history["timestamp"].dt.floor("D").unique()} if self.data.archived else set())
        return {"days": len(days), "first_day": f"{days[0]:%Y-%m-%d}" if days else None,
                "last_day": f"{days[-1]:%Y-%m-%d}" if days else None, "history_days": len(history)}

    def history(self) -> list[dict[str, Any]]:
        """summary.json `history`: per ratio objective, the last 12 calendar months (analysis.history), from the
        archive's days and the run's own already in memory (computed once per report)."""
        if self._history is None:
            self._history = self._monthly_history()
        return self._history

    def _monthly_history(self) -> list[dict[str, Any]]:
        entries = []
        for result in self.results:
            if result.name not in self.data.archived:
                continue  # a thresholdMetric counts no events
            taken = self.data.archived[result.name]
            events = pd.concat([taken.history, self.data.events_of(result.name)], ignore_index=True)
            corrected = correction_windows.apply_corrections(events,
                                                             self.data.corrections_for(self.objective(result.name)))
            entries.append({"name": result.name, "months": monthly_history(corrected.events, result.objective,
                                                                           self.end, corrected=corrected.covered >= 0)})
        return entries

    def summary(self) -> dict[str, Any]:
        """The slo block of summary.json (DESIGN.md `slos`, `policy`, `model_drift`), plus `warnings`, the
        `data_quality` rows and the `catalog` read (path, source formats, notes)."""
        return {"slos": self.summary_entries(), "policy": self.policy, "model_drift": self.model_drift,
                "archive": self.archive_summary(), "history": self.history(),
                "corrections": [_correction_summary(c) for c in self.data.corrections],
                "warnings": list(self.warnings), "data_quality": self.data_quality().to_dict("records"),
                "catalog": {"path": self.data.catalog.path, "source_formats": self.data.catalog.source_formats,
                            "notes": list(self.data.catalog.notes)}}

    def summary_table(self) -> pd.DataFrame:
        """One row per SLO: the numbers of the first screen (exported as slos.csv)."""
        rows = []
        for r in self.results:
            rows.append({"slo": r.name, "service": r.service, "objective": r.objective, "sli": r.sli,
                         "error_budget_remaining": r.error_budget_remaining,
                         "sli_raw": r.sli if r.sli_raw is None else r.sli_raw,
                         "error_budget_remaining_raw": r.error_budget_remaining if r.error_budget_remaining_raw is None
                         else r.error_budget_remaining_raw,
                         "corrected_minutes": sum(c["minutes"] for c in r.corrections),
                         **{f"burn_rate_{w}": v for w, v in r.burn_rates.items()},
                         "page_alerts": int((r.alerts["severity"] == "page").sum()),
                         "ticket_alerts": int((r.alerts["severity"] == "ticket").sum()),
                         "good_events": r.good_events, "total_events": r.total_events, "coverage": r.coverage,
                         "cost_per_million_good_requests": self.cost_of(r.name).value,
                         "status": r.status, "budgeting_method": r.budgeting_method,
                         "good_slices": r.slices.good if r.slices else math.nan,
                         "slices_with_events": r.slices.with_events if r.slices else math.nan,
                         "slices_without_events": r.slices.without_events if r.slices else math.nan})
        return pd.DataFrame(rows)

    def alerts_table(self) -> pd.DataFrame:
        """Every alert period of every SLO, oldest first, with an `slo` column."""
        frames = [r.alerts.assign(slo=r.name) for r in self.results if len(r.alerts)]
        if not frames:
            return pd.DataFrame(columns=["slo", *analysis.ALERT_COLUMNS])
        table = pd.concat(frames, ignore_index=True)
        table["peak_burn_rate"] = table["peak_burn_rate"].round(2)
        return table[["slo", *analysis.ALERT_COLUMNS]].sort_values(["start", "slo"], ignore_index=True)

    def history_table(self) -> pd.DataFrame:
        """One row per SLO and month of the compliance history (exported as history.csv)."""
        rows = [{"slo": entry["name"], **month} for entry in self.history() for month in entry["months"]]
        columns = ["slo", "month", "status", "sli", "good_events", "total_events", "error_budget_remaining", "breached",
                   "coverage", "to_date", "corrected_minutes"]
        return pd.DataFrame(rows, columns=columns)

    def corrections_applied(self) -> list[tuple[Correction, list[tuple[str, dict[str, Any]]]]]:
        """Per correction read, the SLO rows whose window it touched and what it removed from each."""
        return [(c, [(r.name, entry) for r in self.results for entry in r.corrections if entry["name"] == c.name])
                for c in self.data.corrections]

    def history_markdown(self) -> str:
        """The compliance history's heading and what it is made of."""
        archive = self.archive_summary()
        held = archive["history_days"]
        if held:
            source = (f"the SLO event archive ({held} days it held before this run: kept by earlier runs, a "
                      "backfill, or shipped with a snapshot) and this run's own days")
        else:
            source = ("this run's own days only (the archive holds no earlier day yet: every scheduled run adds its "
                      "days; `goreliable archive backfill` fills it from a server that still has them)")
        corrected = (" A month a correction window left minutes out of is marked *corrected*: its figures are over "
                     "its other minutes." if self.data.corrections else "")
        return ("## Compliance history\n\nThe last 12 calendar months (UTC) per SLO, from " + source + ". A month "
                "the kit cannot see is *unknown*, never met; a month seen in part shows its coverage." + corrected)

    def coverage_by_day(self) -> pd.DataFrame:
        """`slo`, `day`, `coverage` for every SLO and UTC day of its window."""
        return pd.concat([r.daily[["day", "coverage"]].assign(slo=r.name) for r in self.results],
                         ignore_index=True)[["slo", "day", "coverage"]]

    def gaps_table(self) -> pd.DataFrame:
        """The scrape gaps inside each SLO's window: `slo`, `start`, `end`, `minutes`."""
        frames = [self.gaps(r.name).assign(slo=r.name) for r in self.results]
        return pd.concat(frames, ignore_index=True)[["slo", "start", "end", "minutes"]]

    def resets_table(self) -> pd.DataFrame:
        """Counter resets inside each SLO's window, one row per SLO and series: count, first, last."""
        resets = pd.concat([self.resets(r.name).assign(slo=r.name) for r in self.results], ignore_index=True)
        if resets.empty:
            return pd.DataFrame(columns=["slo", "series", "resets", "first", "last"])
        return (resets.groupby(["slo", "series"], sort=False)["timestamp"]
                .agg(resets="size", first="min", last="max").reset_index())

    def data_quality(self) -> pd.DataFrame:
        """One row per SLO, over its window: coverage, gap minutes and periods, counter resets, new series,
        series fetched."""
        rows = []
        for result in self.results:
            gaps = self.gaps(result.name)
            if result.name in self.data.thresholds:
                new_series, series = 0, self.data.thresholds[result.name].series
            else:
                fetched = self.data.events[result.name]
                new_series = len(self._in_window(result.name, fetched.new_series))
                series = fetched.fetched_series
            rows.append({"slo": result.name, "coverage": result.coverage,
                         "gap_minutes": int(gaps["minutes"].sum()), "gaps": len(gaps),
                         "counter_resets": len(self.resets(result.name)), "new_series": new_series,
                         "series": series})
        return pd.DataFrame(rows)

    def drift_table(self) -> pd.DataFrame:
        """Drift status per model (summary.json `model_drift`)."""
        columns = ["model", "detected_in_window", "detected_now", "first_detected_at", "last_detected_at",
                   "samples_detected", "last_sample_at"]
        return pd.DataFrame(self.model_drift, columns=columns)

    def headline(self) -> str:
        """The first screen: the policy decision and its reason, the window, the statuses, the alerts that would
        have fired, model drift and what data was missing (Markdown, in `plots.slo_text`'s words). The warnings
        follow it."""
        lines = slo_text.policy_heading(self.title, self.policy)
        lines += ["", slo_text.status_sentence(self.start, self.end, [r.status for r in self.results])]
        lines += ["", slo_text.catalog_sentence(self.data.catalog, self.data.slos, self.data.window_param,
                                                own_windows=self.data.window_param == CATALOG_WINDOW)]
        if self.data.corrections:
            lines += ["", slo_text.corrections_sentence(self.corrections_applied())]
        if no_data := [r.name for r in self.results if r.status == "no_data"]:
            lines += ["", slo_text.no_data_sentence(no_data)]
        if self.data.costs is not None:
            lines += ["", slo_text.cost_sentence(self.data.costs.services.path,
                                                 {r.name: self.cost_of(r.name).note for r in self.results},
                                                 fetched=self.data.costs.fetched)]
        lines += ["", slo_text.alert_sentence(self.alerts_table())]
        lines += ["", slo_text.drift_sentence(self.drift_periods,
                                              [d["model"] for d in self.model_drift if d["detected_now"]])]
        with_data = [r for r in self.results if r.status != "no_data"]
        gaps, names = self.gaps_table(), [r.name for r in with_data]
        lines += ["", slo_text.data_sentence(min((r.coverage for r in with_data), default=math.nan),
                                             len(gaps[gaps["slo"].isin(names)].drop_duplicates(["start", "end"])),
                                             int(self.data_quality()["counter_resets"].sum()))]
        return "\n".join(lines)


def slo_figures(report: SLOReport, result: analysis.SLOResult) -> dict[str, go.Figure]:
    """The charts of one SLO's section, by figure name (the alert timeline only when an alert would have fired)."""
    thresholds = report.policy_thresholds
    lines = {f"features > {thresholds.features_above:.0%}": thresholds.features_above,
             f"reliability < {thresholds.reliability_below:.0%}": thresholds.reliability_below,
             f"alert < {thresholds.alert_below:.0%}": thresholds.alert_below}
    stem = file_stem(result.name)  # `SLO/objective` names hold a slash
    figures = {
        f"{stem}_sli": slo_plots.sli_over_time(result.daily, result.objective, title="SLI per day"),
        f"{stem}_burndown": slo_plots.budget_burndown(result.burndown, result.start, result.end,
                                                      thresholds=lines, title="Error budget remaining"),
        f"{stem}_burn_rates": slo_plots.burn_rates(result.burn_rates, title="Burn rates at the window's end"),
    }
    if len(result.alerts):  # no empty chart: the section's text already says "0 page, 0 ticket"
        figures[f"{stem}_alerts"] = slo_plots.alert_timeline(result.alerts, result.start, result.end,
                                                             title="When the alerts would have fired")
    return figures


def drift_figure(report: SLOReport) -> go.Figure:
    """The drift timeline of every model the gauge names."""
    models = [d["model"] for d in report.model_drift]
    now = [d["model"] for d in report.model_drift if d["detected_now"]]
    return slo_plots.drift_timeline(report.drift_periods, models, report.start, report.end,
                                    detected_now=now, title="Model drift (model_drift_detected)")


# --------------------------------------------------------------------------------------------- build
def _gap_warnings(report: SLOReport) -> list[str]:
    """One warning per distinct scrape gap, naming the SLOs whose data it hits (plots.slo_text.gap_warning:
    both dates when it spans midnight, and no claim of exact totals that does not hold)."""
    hit: dict[tuple[Any, ...], list[str]] = {}
    for result in report.results:
        if result.status == "no_data" or result.name in report.data.thresholds:
            continue
        for gap in report.gaps(result.name).itertuples(index=False):
            key = (gap.start, gap.end, int(gap.minutes), bool(getattr(gap, "carried", True)),
                   int(getattr(gap, "restarts", 0)))
            hit.setdefault(key, []).append(result.name)
    names = [r.name for r in report.results if r.status != "no_data" and r.name not in report.data.thresholds]
    return [slo_text.gap_warning(start, end, minutes, "every SLO" if slos == names and len(names) > 1
                                 else ", ".join(slos), carried=carried, restarts=restarts)
            for (start, end, minutes, carried, restarts), slos in hit.items()]


def _coverage_warnings(report: SLOReport) -> list[str]:
    """Per SLO with data: the window's data starting after its start (retention: the figures are partial), or
    else too few of its minutes with a sample."""
    found = []
    for result in report.results:
        facts = report.window_facts(result.name)
        if result.status == "no_data":
            continue
        if facts is not None and (message := slo_text.partial_window_warning(result.name, facts)):
            found.append(message)
        elif result.coverage < COVERAGE_WARNING:
            found.append(slo_text.coverage_warning(result.name, result.coverage))
    return found


def _corrected_result(data: SLOData, slo: SLOObjective, raw: pd.DataFrame,
                      budgeting: analysis.Budgeting) -> analysis.SLOResult:
    """A ratio objective evaluated over its events with its correction windows left out, holding its raw SLI and
    budget beside and what each correction removed (`analysis.correction_windows`)."""
    start, end = data.windows[slo.name]
    corrections = data.corrections_for(slo)

    def evaluate(events: pd.DataFrame) -> analysis.SLOResult:
        return analysis.evaluate_slo(events, name=slo.name, service=slo.service, objective=slo.objective,
                                     start=start, end=end, alert_below=data.catalog.policy.alert_below,
                                     budgeting=budgeting, known_from=data.known_from(slo.name)[1])

    corrected = correction_windows.apply_corrections(raw, corrections)
    result = evaluate(corrected.events)
    if not corrected.any:
        return result
    before = evaluate(raw)
    return dataclasses.replace(result, sli_raw=before.sli, error_budget_remaining_raw=before.error_budget_remaining,
                               corrections=correction_windows.removed(raw, corrections, start, end))


def _large_corrections(result: analysis.SLOResult) -> list[str]:
    """A warning per correction covering more than `correction_windows.LARGE_SHARE` of the objective's window."""
    found = []
    for entry in result.corrections:
        share = correction_windows.share_of_window(entry["minutes"], result.start, result.end)
        if share > correction_windows.LARGE_SHARE:
            found.append(slo_text.large_correction_warning(result.name, entry["name"], entry["minutes"], share,
                                                           correction_windows.LARGE_SHARE))
    return found


def _correction_summary(correction: Correction) -> dict[str, Any]:
    """summary.json `corrections[]`: a correction read, as written (what it covers, its window, why, who, where)."""
    return {"name": correction.name, "slos": list(correction.slos) if correction.slos is not None else None,
            "service": correction.service, "window": correction.describe(), "reason": correction.reason,
            "author": correction.author, "origin": correction.origin}


def build(data: SLOData, params: Mapping[str, Any]) -> SLOReport:
    """The report from what `fetch` returned (pure): each SLO evaluated over its window, the policy decision,
    drift; its warnings (no data, low coverage, scrape gaps, drift now, a correction covering much of a window) go
    on the first screen and summary.json.
    Raises `ImpossibleFiguresError` (the run fails) when an SLO's events break an invariant (`analysis.slo`)."""
    policy_thresholds = data.catalog.policy
    results, warnings = [], []
    for slo in data.slos:
        start, end = data.windows[slo.name]
        budgeting = analysis.Budgeting(slo.budgeting_method, slo.time_slice_window, slo.time_slice_target)
        if slo.name in data.thresholds:
            values = data.thresholds[slo.name]
            result = analysis.evaluate_slo(None, name=slo.name, service=slo.service, objective=slo.objective,
                                           start=start, end=end, alert_below=policy_thresholds.alert_below,
                                           budgeting=budgeting, slices=values.slices(slo))
            if result.slices is not None and result.slices.without_events:
                warnings.append(slo_text.empty_slices_warning(slo.name, result.slices.without_events,
                                                              result.slices.slices, values.query))
            if touching := [c.name for c in data.corrections_for(slo) if correction_windows.windows(c, start, end)]:
                warnings.append(slo_text.threshold_correction_warning(slo.name, touching))
        else:
            backend = data.events[slo.name].backend
            raw = data.events_of(slo.name)
            analysis.check_events(raw, name=slo.name, backend=backend)
            result = _corrected_result(data, slo, raw, budgeting)
            analysis.check_window(result, backend=backend)
            warnings.extend(_large_corrections(result))
        results.append(result)
        if result.status == "no_data":
            warnings.append(slo_text.no_data_warning(slo.name))
    warnings.extend(dict.fromkeys(w for item in data.archived.values() for w in item.warnings))
    policy = analysis.budget_policy(results, **policy_thresholds.model_dump())
    drift = analysis.model_drift(data.drift, data.start, data.end)
    warnings.extend(slo_text.drifting_now_warning(d["model"]) for d in drift if d["detected_now"])
    costs = {slo.name: slo_cost(data, slo) for slo in data.slos}
    warnings.extend(_cost_warnings(data, costs))
    report = SLOReport(data, results, policy, drift, analysis.drift_periods(data.drift, data.start, data.end),
                       title=params.get("title") or SPEC.title, warnings=warnings, costs=costs)
    report.warnings.extend(_coverage_warnings(report))
    report.warnings.extend(_gap_warnings(report))
    return report


# --------------------------------------------------------------------------------------------- check
def check(values: dict[str, Any]) -> None:
    """The catalog parses and validates, the services / SLO names exist in it, the correction windows (the
    catalog's and the `corrections` file's) validate against it, and the services map validates (exit 2 before any
    kernel)."""
    catalog = read_file_param("catalog", read_catalog, values["catalog"])
    select_objectives(catalog.slos, values.get("services"))
    read_file_param("catalog", catalog_corrections, catalog)
    if values.get("corrections"):
        read_file_param("corrections", lambda path: load_corrections(catalog, path), values["corrections"])
    check_services_map(values.get("services_map"))


def check_slo_window(value: Any, field_name: str) -> str:
    """A report window (`30d`, `1M`, `2026-10`, ...) or `catalog` (each SLO's own timeWindow)."""
    if isinstance(value, str) and value.strip() == CATALOG_WINDOW:
        return CATALOG_WINDOW
    return check_window(value, field_name)


# --------------------------------------------------------------------------------------------- window and index
def report_window(params: Mapping[str, Any], now: pd.Timestamp) -> Window:
    """The run's first guess at its window: the `window` parameter's, or with `catalog` only its end (each SLO has
    its own start; the built report gives the span)."""
    if params.get("window") == CATALOG_WINDOW:
        return None, parse_time(params.get("end", "now"), now=now, field="end")
    return window_from_end(params, now)


def index_headline(summary: Mapping[str, Any]) -> str:
    """`6 SLOs (1 at_risk, 5 ok); policy: caution`."""
    slos = summary.get("slos") if isinstance(summary.get("slos"), list) else []
    counts: dict[str, int] = {}
    for entry in slos:
        counts[str(entry.get("status"))] = counts.get(str(entry.get("status")), 0) + 1
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    decision = (summary.get("policy") or {}).get("decision")
    return f"{len(slos)} SLOs ({parts})" + (f"; policy: {decision}" if decision else "")


def index_trends(summaries: Sequence[Mapping[str, Any]]) -> list[go.Figure]:
    """Error budget left per SLO and window across the published runs (the weekly runs), from each summary.json's
    `slos`: one line per SLO, window (`api-gateway-availability (30d)`: 7-day and 30-day budgets are never one
    line) and source (demo data, live, snapshot); an SLO without data in a run, and every failed run, is a gap."""
    runs = trend_runs(summaries)
    points = []
    for run in runs:
        for entry in (run.summary or {}).get("slos") or []:
            if not isinstance(entry, Mapping) or not entry.get("name"):
                continue
            left = entry.get("error_budget_remaining")
            left = float(left) if isinstance(left, int | float) and math.isfinite(left) else None
            status = slo_plots.STATUS_TEXT.get(str(entry.get("status")), str(entry.get("status", "")))
            own = entry.get("window") if isinstance(entry.get("window"), Mapping) else {}
            window = (window_label(entry.get("time_window"), own.get("start"), own.get("end"))
                      or run.window)
            name = series_name(str(entry["name"]), window)
            points.append({"end": run.end, "series": name, "value": left, "source": run.source_label,
                           "text": f"{name}: {percent(left, 1)} left ({status}), window to "
                                   f"{format_time(run.end)}"})
    return [run_trend(points, runs, published=len(summaries), title="Error budget left per SLO",
                      y_title="error budget left", tickformat=".0%", reference=(0.0, "budget spent"))]


#: How the SLO report's tables read (over plots.table.COMMON).
TABLE_COLUMNS = {
    "detected_in_window": Column("bool", "Drift in the window"),
    "detected_now": Column("bool", "Drifting now"),
    "first_detected_at": Column("time", "First detected", note="no drift in the window"),
    "last_detected_at": Column("time", "Last detected", note="no drift in the window"),
    "last_sample_at": Column("time", "Last sample", note="no sample"),
    "samples_detected": Column("count", "Samples with drift"),
    "gap_minutes": Column("count", "Minutes in gaps"),
    "gaps": Column("count", "Scrape gaps"),
    "series": Column(note="no series"),
    "minutes": Column("count", "Minutes"),
    "first": Column("time", "First reset"),
    "last": Column("time", "Last reset"),
}


# --------------------------------------------------------------------------------------------- spec
SPEC = ReportSpec(
    "slo", "notebooks/slo_report.ipynb", "SLO report", (
        *common_params("SLO report"),
        CATALOG_PARAM,
        Param("window", "window", "30d", "SLO window: 30d (rolling), 1M (month to date), 2026-10 (a month), or "
              "catalog (each SLO's own timeWindow)", check_slo_window),
        Param("services", "names", "all", "services or SLO names to include (all, or a list)", check_names),
        max_groups_param("window"),
        Param("corrections", "file", None, "a file of goreliable/v1 Correction documents (correction windows; "
              "docs/slo-catalog.md), or none", check_optional_file),
        SERVICES_MAP_PARAM,
    ), "params/slo.yaml", check=check, window=report_window, index_headline=index_headline,
    index_trends=index_trends, columns=TABLE_COLUMNS, suite_position=0)
