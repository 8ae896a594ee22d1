"""Unit costs: what one request, one good request, 1,000 inferences or a million tokens cost (pure functions).

Inputs: Kubecost/OpenCost allocation frames fetched with idle shared (`shareIdle=true`, one row per (interval,
allocation), the aggregate's key column and the team's), the services map (`inputs.services_map`), and per-minute
event frames `timestamp, good, total` (the SLO engine's: a row holds the events scraped in (timestamp - 1m,
timestamp], NaN = no sample) or `timestamp, value` for a token counter.

Rules (the summary.json `unit_costs` and `ml_unit_costs` fields; docs/costs.md says them to people):
- Periods: the window [start, end) cut at UTC midnights ("days"; the first and last may be partial). A period's
  cost is its allocations' (interval [lo, hi)); its requests are the events of the minutes lo < t <= hi: the same
  minutes.
- A service's cost = total_cost of the allocations its mapping selects (the aggregate's keys in `values`, within
  its `filter`), `__idle__` and `__unallocated__` never; idle is in it through Kubecost's shareIdle (each
  allocation's share of the hour's idle CPU, RAM and GPU, by its cost of that resource), and the cluster's
  shared costs (tenancy: the control plane) through `sharedCost`. Cost nobody maps is shown apart
  (`not_mapped_cost`), never dropped.
- A period without any allocation of the cluster (Kubecost has no data) has no cost: it is left out of the window's
  figures (its requests too) and named; a service whose mapping selects nothing in the whole window "maps to no
  allocation": its cost and every ratio are None (never 0).
- requests = the SLO's total events, good_requests = its good events (NaN minutes count 0: a scrape gap's events
  arrive with the first sample after it); bad = requests - good.
- cost_per_million_requests = cost / requests x 1e6; cost_per_million_good_requests = cost / good x 1e6;
  failed_requests_cost = cost x bad / requests (the share of the cost the failed requests took, by count). A ratio
  without a denominator (no request, no good request) is None, never 0. Window figures are ratios of the window's
  sums (never averages of daily ratios).
- Team rows sum their services (requests, good, cost, GPU cost); their failed_requests_cost is the sum of the
  services' (each at its own bad share). A service's team is its `team` field, else the team label value of its
  costliest allocations.
- Trend: the least-squares slope of the daily cost per million good requests over the window's periods with a
  value (money per million good requests per day); None with fewer than 2 periods.
- ML (`kind`): cost_per_1k_inferences = the inference services' cost / their requests x 1,000;
  cost_per_million_tokens = the LLM services' cost / (prompt + generated tokens) x 1e6 (tokens: the counters'
  exact per-minute increases); gpu_share = GPU cost / cost (of the ML services together, and per kind).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from goreliable_lib.inputs.services_map import ServiceMapping

IDLE = "__idle__"
UNALLOCATED = "__unallocated__"
MILLION = 1e6
PERIOD_COLUMNS = ["service", "team", "kind", "day", "start", "end", "cost", "gpu_cost", "requests", "good_requests",
                  "prompt_tokens", "generated_tokens", "has_cost_data"]
SUMMED = ["cost", "gpu_cost", "requests", "good_requests", "prompt_tokens", "generated_tokens"]


# --------------------------------------------------------------------------------------------- the ratios
def _finite(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def per_unit(cost: float | None, count: float | None, unit: float) -> float | None:
    """cost / count x unit; None when either is unknown or count is not positive."""
    if not _finite(cost) or not _finite(count) or count <= 0:  # type: ignore[operator]
        return None
    return float(cost) / float(count) * unit  # type: ignore[arg-type]


def cost_per_million(cost: float | None, requests: float | None) -> float | None:
    """Cost of a million requests."""
    return per_unit(cost, requests, MILLION)


def cost_per_million_good(cost: float | None, good: float | None) -> float | None:
    """Cost of a million good requests (what the service is for)."""
    return per_unit(cost, good, MILLION)


def failed_requests_cost(cost: float | None, good: float | None, total: float | None) -> float | None:
    """cost x bad / total: the share of the cost spent on failed requests; None without requests."""
    if not _finite(cost) or not _finite(good) or not _finite(total) or total <= 0:  # type: ignore[operator]
        return None
    return float(cost) * (float(total) - float(good)) / float(total)  # type: ignore[arg-type]


def share(part: float | None, whole: float | None) -> float | None:
    """part / whole (0..1); None when whole is not positive."""
    return per_unit(part, whole, 1.0)


# --------------------------------------------------------------------------------------------- periods
def day_periods(start: pd.Timestamp, end: pd.Timestamp) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """[start, end) cut at UTC midnights: [(lo, hi), ...] (the first and last may be partial days)."""
    cuts = [start, *pd.date_range(start.floor("D") + pd.Timedelta(days=1), end, freq="D", inclusive="left"), end]
    return [(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:], strict=True) if hi > lo]


def minute_sums(events: pd.DataFrame, periods: Sequence[tuple[pd.Timestamp, pd.Timestamp]],
                columns: Sequence[str]) -> pd.DataFrame:
    """Per period (lo, hi): the sums of `columns` over the minutes lo < timestamp <= hi (NaN counts 0); columns
    `start` plus `columns`."""
    times = pd.DatetimeIndex(events["timestamp"]).as_unit("ns").asi8 if len(events) else np.array([], dtype=np.int64)
    values = {c: events[c].to_numpy(float) for c in columns}
    rows = []
    for lo, hi in periods:
        inside = (times > lo.value) & (times <= hi.value)
        rows.append({"start": lo, **{c: float(np.nansum(values[c][inside])) for c in columns}})
    return pd.DataFrame(rows, columns=["start", *columns])


def has_cost_data(allocations: Sequence[pd.DataFrame],
                  periods: Sequence[tuple[pd.Timestamp, pd.Timestamp]]) -> dict[pd.Timestamp, bool]:
    """Per period start: whether any of the allocation frames holds an allocation of that interval."""
    starts = set()
    for frame in allocations:
        if len(frame):
            starts |= set(pd.DatetimeIndex(frame["start"]).unique())  # a few starts, many rows each
    return {lo: lo in starts for lo, _ in periods}


def selected(allocations: pd.DataFrame, service: ServiceMapping, key: str) -> pd.DataFrame:
    """The rows of `allocations` (fetched with the service's aggregate and filter; `key` = the aggregate's column)
    that are the service."""
    frame = allocations[~allocations["is_idle"].astype(bool) & ~allocations["is_unallocated"].astype(bool)]
    values = service.allocations.values
    if values:
        frame = frame[frame[key].isin(values)]
    return frame


def service_team(rows: pd.DataFrame, service: ServiceMapping, team_column: str) -> str | None:
    """The `team` field, else the team label value carrying most of the rows' cost (None without one)."""
    if service.team:
        return service.team
    if team_column not in rows or rows.empty:
        return None
    labelled = rows[rows[team_column].notna() & (rows[team_column] != UNALLOCATED)]
    if labelled.empty:
        return None
    return str(labelled.groupby(team_column)["total_cost"].sum().idxmax())


def service_periods(service: ServiceMapping, allocations: pd.DataFrame, key: str, team_column: str,
                    periods: Sequence[tuple[pd.Timestamp, pd.Timestamp]], covered: Mapping[pd.Timestamp, bool],
                    requests: pd.DataFrame | None, tokens: pd.DataFrame | None = None) -> pd.DataFrame:
    """One service's tidy rows, one per period (PERIOD_COLUMNS; `key`, `team_column`: the allocation frame's columns
    of the service's aggregate and of the team label): cost and GPU cost of its allocations (NaN where the
    cluster has no cost data), requests and good requests (`requests`: per-minute `timestamp, good, total`; None =
    not known: NaN), tokens (`tokens`: per-minute `timestamp, prompt, generated`; NaN without)."""
    rows = selected(allocations, service, key)
    costs = rows.groupby("start")[["total_cost", "gpu_cost"]].sum()
    counted = (minute_sums(requests, periods, ["good", "total"]).set_index("start") if requests is not None
               else None)
    counted_tokens = (minute_sums(tokens, periods, ["prompt", "generated"]).set_index("start")
                      if tokens is not None else None)
    team = service_team(rows, service, team_column)
    out = []
    for lo, hi in periods:
        data = bool(covered.get(lo, False))
        cost = float(costs["total_cost"].get(lo, 0.0)) if data else math.nan
        gpu = float(costs["gpu_cost"].get(lo, 0.0)) if data else math.nan
        out.append({
            "service": service.name, "team": team, "kind": service.kind, "day": lo.floor("D"), "start": lo, "end": hi,
            "cost": cost, "gpu_cost": gpu,
            "requests": counted.at[lo, "total"] if counted is not None else math.nan,
            "good_requests": counted.at[lo, "good"] if counted is not None else math.nan,
            "prompt_tokens": counted_tokens.at[lo, "prompt"] if counted_tokens is not None else math.nan,
            "generated_tokens": counted_tokens.at[lo, "generated"] if counted_tokens is not None else math.nan,
            "has_cost_data": data})
    frame = pd.DataFrame(out, columns=PERIOD_COLUMNS)
    frame.attrs["maps_to_nothing"] = rows.empty
    return frame


# --------------------------------------------------------------------------------------------- figures
def with_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (cost, gpu_cost, requests, good_requests per row; e.g. a service's periods, whose days without cost
    data get None ratios) with the unit-cost columns added."""
    out = frame.copy()
    out["cost_per_million_requests"] = [cost_per_million(c, r) for c, r in zip(out["cost"], out["requests"],
                                                                                 strict=True)]
    out["cost_per_million_good_requests"] = [cost_per_million_good(c, g) for c, g in
                                             zip(out["cost"], out["good_requests"], strict=True)]
    if "failed_requests_cost" not in out:
        out["failed_requests_cost"] = [failed_requests_cost(c, g, r) for c, g, r in
                                       zip(out["cost"], out["good_requests"], out["requests"], strict=True)]
    out["gpu_share"] = [share(g, c) for g, c in zip(out["gpu_cost"], out["cost"], strict=True)]
    return out


def _sum(values: pd.Series) -> float:
    """A window sum: NaN when every value is NaN (nothing known), else the sum of the known values."""
    return float(values.sum()) if values.notna().any() else math.nan


def window(periods: pd.DataFrame, no_allocation: Sequence[str] = ()) -> pd.DataFrame:
    """Per service, over the periods with cost data: the summed counts and costs and their ratios; the services in
    `no_allocation` (mapped to nothing) have cost None. Columns: service, team, kind, SUMMED, the ratios, trend."""
    rows = []
    for service, own in periods.groupby("service", sort=False):
        known = own[own["has_cost_data"].astype(bool)]
        row = {"service": service, "team": own["team"].iloc[0], "kind": own["kind"].iloc[0],
               **{c: _sum(known[c]) for c in SUMMED}}
        if service in no_allocation:
            row["cost"] = row["gpu_cost"] = math.nan
        row["trend_per_day"] = trend_per_day(with_ratios(known), "cost_per_million_good_requests") \
            if service not in no_allocation else None
        rows.append(row)
    return with_ratios(pd.DataFrame(rows, columns=["service", "team", "kind", *SUMMED, "trend_per_day"]))


def teams(by_service: pd.DataFrame) -> pd.DataFrame:
    """Per team (its services summed; services without a team or a cost left out): team, services, SUMMED, ratios;
    failed_requests_cost is the sum of the services'."""
    known = by_service[by_service["team"].notna() & by_service["cost"].notna()]
    rows = []
    for team, own in known.groupby("team", sort=True):
        rows.append({"team": team, "services": len(own), **{c: _sum(own[c]) for c in SUMMED},
                     "failed_requests_cost": _sum(own["failed_requests_cost"].astype(float))})
    return with_ratios(pd.DataFrame(rows, columns=["team", "services", *SUMMED, "failed_requests_cost"]))


def trend_per_day(rows: pd.DataFrame, column: str) -> float | None:
    """Least-squares slope of `column` against the period's start in days (per day); None with < 2 values."""
    values = pd.to_numeric(rows[column], errors="coerce")
    keep = values.notna().to_numpy()
    if keep.sum() < 2:
        return None
    days = (pd.DatetimeIndex(rows["start"])[keep].as_unit("ns").asi8 / 86_400e9).astype(float)
    slope = np.polyfit(days - days.mean(), values.to_numpy(float)[keep], 1)[0]
    return float(slope)


def ml(by_service: pd.DataFrame) -> dict[str, float | None] | None:
    """The ML platform's unit costs from the window rows of the services with a `kind` (None when there is none):
    inference_requests, inference_cost, cost_per_1k_inferences, inference_gpu_share, prompt_tokens,
    generated_tokens, llm_cost, cost_per_million_tokens, llm_gpu_share, gpu_cost, cost, gpu_share."""
    kinds = by_service[by_service["kind"].notna()]
    if kinds.empty:
        return None
    inference = kinds[kinds["kind"] == "inference"]
    llm = kinds[kinds["kind"] == "llm"]

    def total(frame: pd.DataFrame, column: str) -> float | None:
        value = _sum(frame[column]) if len(frame) else math.nan
        return None if math.isnan(value) else value

    tokens = None
    if len(llm) and llm[["prompt_tokens", "generated_tokens"]].notna().all(axis=None):
        tokens = float(llm["prompt_tokens"].sum() + llm["generated_tokens"].sum())
    return {
        "inference_requests": total(inference, "requests"),
        "inference_cost": total(inference, "cost"),
        "cost_per_1k_inferences": per_unit(total(inference, "cost"), total(inference, "requests"), 1000.0),
        "inference_gpu_share": share(total(inference, "gpu_cost"), total(inference, "cost")),
        "prompt_tokens": total(llm, "prompt_tokens") if tokens is not None else None,
        "generated_tokens": total(llm, "generated_tokens") if tokens is not None else None,
        "llm_cost": total(llm, "cost"),
        "cost_per_million_tokens": cost_per_million(total(llm, "cost"), tokens),
        "llm_gpu_share": share(total(llm, "gpu_cost"), total(llm, "cost")),
        "cost": total(kinds, "cost"),
        "gpu_cost": total(kinds, "gpu_cost"),
        "gpu_share": share(total(kinds, "gpu_cost"), total(kinds, "cost")),
    }


def not_mapped_cost(cluster_cost: float, by_service: pd.DataFrame) -> float:
    """The cluster's cost (idle shared) that no service's mapping selects: shown apart, never dropped. Services
    whose allocations overlap are counted once each (the map should not overlap; the report says so)."""
    return float(cluster_cost - by_service["cost"].fillna(0.0).sum())
