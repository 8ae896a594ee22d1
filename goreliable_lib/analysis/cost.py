"""Cost analysis over Kubecost allocation frames (pure: DataFrames in, DataFrames out, no I/O).

Inputs are `KubecostSource.allocation` frames: one row per (interval, allocation) with the key columns of the
aggregation (`namespace`, `controller`, `cost_team`, ...), the cost columns, and request/usage averages.

Conventions (the report states them):
- `__idle__` (node capacity nobody requested) and `__unallocated__` (workloads without the team label) are
  always their own rows; nothing is dropped, so every table adds up to the cluster's cost.
- Days are UTC calendar days; the report's last day may be partial (it ends at the report's end).
- Run rate = the cost of the last 7 complete UTC days before the end's day / 168 h. Monthly rate = run rate
  x 730 h (8760 h / 12, OpenCost's convention; kubectl-cost uses 720 h). Projected month = month-to-date
  actual + run rate x the hours left in the calendar month.
- Anomaly: a complete day whose cost exceeds the median of the same weekday over the previous 4 weeks by more
  than max(4 x 1.4826 x MAD, 25 % of that median, $5). Comparing same weekdays keeps weekly patterns (weekend
  dips, Monday/Thursday training) from being flagged.
- Efficiency = usage / request (Kubecost's); the cost of unused requests = (requested - used) core- or
  byte-hours at the allocation's own price per core- or byte-hour.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from goreliable_lib.timeutil import DAY, HOUR

IDLE = "__idle__"
UNALLOCATED = "__unallocated__"
SPECIAL = (IDLE, UNALLOCATED)
HOURS_PER_MONTH = 730.0
RUN_RATE_DAYS = 7
ML_TEAMS: tuple[str, ...] = ("ml-platform",)
#: resource -> cost column
RESOURCES: dict[str, str] = {"cpu": "cpu_cost", "ram": "ram_cost", "gpu": "gpu_cost", "pv": "pv_cost",
                             "network": "network_cost", "load_balancer": "load_balancer_cost",
                             "shared": "shared_cost", "external": "external_cost"}
COST_COLUMNS = [*RESOURCES.values(), "total_cost"]
_WORK = ["cpu_core_hours", "ram_byte_hours", "cpu_request_hours", "cpu_usage_hours", "ram_request_hours",
         "ram_usage_hours", "unused_cpu_cost", "unused_ram_cost"]


# ---- roll-ups ---------------------------------------------------------------------------------------------

def _with_work(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-row request/usage hours and the cost of unused requests at the row's own price."""
    hours = frame["minutes"].fillna(0.0) / 60.0
    out = frame.assign(
        cpu_request_hours=frame["cpu_core_request_average"].fillna(0.0) * hours,
        cpu_usage_hours=frame["cpu_core_usage_average"].fillna(0.0) * hours,
        ram_request_hours=frame["ram_byte_request_average"].fillna(0.0) * hours,
        ram_usage_hours=frame["ram_byte_usage_average"].fillna(0.0) * hours)
    cpu_price = (out["cpu_cost"] / out["cpu_core_hours"].where(out["cpu_core_hours"] > 0)).fillna(0.0)
    ram_price = (out["ram_cost"] / out["ram_byte_hours"].where(out["ram_byte_hours"] > 0)).fillna(0.0)
    idle = out["is_idle"].astype(bool)
    out["unused_cpu_cost"] = np.where(idle, 0.0, (out["cpu_request_hours"] - out["cpu_usage_hours"]).clip(lower=0)
                                      * cpu_price)
    out["unused_ram_cost"] = np.where(idle, 0.0, (out["ram_request_hours"] - out["ram_usage_hours"]).clip(lower=0)
                                      * ram_price)
    return out


def rollup(frame: pd.DataFrame, by: str | Sequence[str]) -> pd.DataFrame:
    """Sum allocations to the `by` columns (costs add up; efficiencies are recomputed from request and usage
    hours, Kubecost's definitions). `__idle__` and `__unallocated__` stay their own rows."""
    keys = [by] if isinstance(by, str) else list(by)
    work = _with_work(frame)
    summed = work.groupby(keys, sort=True, dropna=False)[[*COST_COLUMNS, *_WORK]].sum().reset_index()
    for key in keys:
        if key not in ("start", "end", "day"):
            summed[key] = summed[key].astype(object)
    idle = pd.Series(False, index=summed.index)
    for key in keys:
        if key not in ("start", "end", "day"):
            idle |= summed[key] == IDLE
    summed["cpu_efficiency"] = _ratio(summed["cpu_usage_hours"], summed["cpu_request_hours"], idle)
    summed["ram_efficiency"] = _ratio(summed["ram_usage_hours"], summed["ram_request_hours"], idle)
    cpu_ram = summed["cpu_cost"] + summed["ram_cost"]
    summed["total_efficiency"] = ((summed["cpu_cost"] * summed["cpu_efficiency"] + summed["ram_cost"]
                                   * summed["ram_efficiency"]) / cpu_ram.where(cpu_ram > 0)).fillna(0.0)
    summed["unused_request_cost"] = summed["unused_cpu_cost"] + summed["unused_ram_cost"]
    return summed


def _ratio(usage: pd.Series, request: pd.Series, idle: pd.Series) -> pd.Series:
    values = np.where(request > 0, usage / request.where(request > 0, 1.0), 0.0)
    return pd.Series(np.where(idle, 0.0, values), index=usage.index)


def _order(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """Most expensive first, `__unallocated__` and `__idle__` last."""
    rank = table[key].map({UNALLOCATED: 1, IDLE: 2}).fillna(0)
    return (table.assign(_rank=rank).sort_values(["_rank", "total_cost", key], ascending=[True, False, True])
            .drop(columns="_rank").reset_index(drop=True))


def totals(frame: pd.DataFrame, key: str, *, special: Iterable[str] = SPECIAL) -> pd.DataFrame:
    """One row per `key` value over every interval of `frame`: cost columns, efficiencies, unused-request cost.
    The `special` rows (`__idle__`, `__unallocated__` by default) are always present, zero when absent."""
    table = rollup(frame, key)
    missing = [name for name in special if name not in set(table[key])]
    if missing:
        zeros = pd.DataFrame({key: missing, **{c: 0.0 for c in table.columns if c != key}})
        table = pd.concat([table, zeros], ignore_index=True)
    return _order(table, key)


def daily(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """Cost per UTC day and `key` value: `day`, `hours` (of data in that day), `key`, cost columns.
    Expects daily intervals starting at midnight (`allocation(..., step="1d")` over a midnight-aligned window)."""
    table = rollup(frame, ["start", "end", key])
    table["day"] = table["start"].dt.floor("D")
    table["hours"] = (table["end"] - table["start"]) / HOUR
    columns = ["day", "hours", key, *[c for c in table.columns if c not in ("day", "hours", key, "start", "end")]]
    return table[columns].sort_values(["day", key]).reset_index(drop=True)


def daily_matrix(daily_costs: pd.DataFrame, key: str, column: str = "total_cost") -> pd.DataFrame:
    """Days x key values of one cost column (0 where a key had no cost on a day with data)."""
    return daily_costs.pivot_table(index="day", columns=key, values=column, aggfunc="sum", fill_value=0.0)


def select(frame: pd.DataFrame, key: str, values: str | Sequence[str] | None) -> pd.DataFrame:
    """Rows of the chosen `key` values (`all`/None = every row); idle and unallocated rows always kept."""
    if values is None or values == "all":
        return frame
    keep = set(values) | set(SPECIAL)
    return frame[frame[key].isin(keep)]


# ---- breakdowns -------------------------------------------------------------------------------------------

def ml_vs_application(team_totals: pd.DataFrame, key: str, ml_teams: Sequence[str] = ML_TEAMS) -> pd.DataFrame:
    """ML infrastructure (the `ml_teams`) against application runtime (every other labelled team), with
    unallocated and idle apart: `category`, `teams`, cost columns, `share` of the total."""
    category = np.select([team_totals[key].isin(ml_teams), team_totals[key] == UNALLOCATED,
                          team_totals[key] == IDLE],
                         ["ML infrastructure", "unallocated (no team label)", "idle"], "application runtime")
    grouped = team_totals.assign(category=category).groupby("category", sort=False)
    table = grouped[COST_COLUMNS].sum()
    table.insert(0, "teams", grouped[key].agg(lambda names: ", ".join(sorted(map(str, names)))))
    order = ["ML infrastructure", "application runtime", "unallocated (no team label)", "idle"]
    table = table.reindex(order).fillna({**{c: 0.0 for c in COST_COLUMNS}, "teams": ""})
    total = table["total_cost"].sum()
    table["share"] = table["total_cost"] / total if total > 0 else 0.0
    return table.rename_axis("category").reset_index()


def by_resource(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """Long frame `key`, `resource`, `cost` (cpu, ram, gpu, pv, network, load_balancer, shared, external)."""
    long = table.melt(id_vars=[key], value_vars=list(RESOURCES.values()), var_name="resource", value_name="cost")
    long["resource"] = long["resource"].map({v: k for k, v in RESOURCES.items()})
    return long


def resource_table(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """One row per resource, one column per `key` value plus `total` (the cluster's cost by resource)."""
    wide = by_resource(table, key).pivot_table(index="resource", columns=key, values="cost", aggfunc="sum",
                                               fill_value=0.0, sort=False)
    wide = wide.reindex(list(RESOURCES))[list(table[key])]
    wide["total"] = wide.sum(axis=1)
    wide.columns.name = None
    return wide


def namespace_table(ns_totals: pd.DataFrame, hours: float) -> pd.DataFrame:
    """kubectl-cost's columns per namespace: CPU, CPU eff., memory, memory eff., GPU, PV, network, shared,
    load balancer, monthly rate (total / hours x 730) and total."""
    table = pd.DataFrame({
        "namespace": ns_totals["namespace"], "CPU": ns_totals["cpu_cost"], "CPU eff.": ns_totals["cpu_efficiency"],
        "Memory": ns_totals["ram_cost"], "Memory eff.": ns_totals["ram_efficiency"], "GPU": ns_totals["gpu_cost"],
        "PV": ns_totals["pv_cost"], "Network": ns_totals["network_cost"], "Shared": ns_totals["shared_cost"],
        "LB": ns_totals["load_balancer_cost"], "External": ns_totals["external_cost"],
        "Monthly rate": ns_totals["total_cost"] / hours * HOURS_PER_MONTH if hours > 0 else np.nan,
        "Total": ns_totals["total_cost"]})
    return table.reset_index(drop=True)


def efficiency(team_totals: pd.DataFrame, key: str) -> pd.DataFrame:
    """CPU, RAM and total efficiency per team with the cost of unused requests (idle left out: it has no
    requests; it is the capacity nobody asked for)."""
    rows = team_totals[team_totals[key] != IDLE]
    columns = [key, "cpu_cost", "ram_cost", "cpu_efficiency", "ram_efficiency", "total_efficiency",
               "unused_cpu_cost", "unused_ram_cost", "unused_request_cost"]
    return rows[columns].sort_values("unused_request_cost", ascending=False).reset_index(drop=True)


def label_hygiene(frame: pd.DataFrame, team_key: str) -> pd.DataFrame:
    """Workloads without the team label, from a `namespace,controller,<team label>` allocation frame: one row
    per (namespace, controller) with its cost, and per namespace the share of its cost that is unlabelled
    (`1.0` = the namespace has no team label at all). Bare pods have controller `(no controller)`."""
    table = rollup(frame[~frame["is_idle"].astype(bool)], ["namespace", "controller", team_key])
    ns_total = table.groupby("namespace")["total_cost"].transform("sum")
    unlabelled = table[table[team_key] == UNALLOCATED].copy()
    unlabelled["namespace_unlabelled_share"] = (
        unlabelled.groupby("namespace")["total_cost"].transform("sum") / ns_total[unlabelled.index].where(
            ns_total[unlabelled.index] > 0)).fillna(0.0)
    unlabelled["controller"] = unlabelled["controller"].replace({UNALLOCATED: "(no controller)"})
    total = unlabelled["total_cost"].sum()
    unlabelled["share_of_unallocated"] = unlabelled["total_cost"] / total if total > 0 else 0.0
    columns = ["namespace", "controller", "total_cost", "cpu_cost", "ram_cost", "share_of_unallocated",
               "namespace_unlabelled_share"]
    return unlabelled[columns].sort_values(["total_cost", "namespace", "controller"],
                                           ascending=[False, True, True]).reset_index(drop=True)


# ---- projection and budgets -------------------------------------------------------------------------------

def month_bounds(end: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The calendar month holding the last instant before `end` (a month window ending on the 1st projects
    the month it covers)."""
    last = end - pd.Timedelta(1, "ns")
    start = pd.Timestamp(year=last.year, month=last.month, day=1, tz="UTC")
    return start, start + pd.DateOffset(months=1)


def run_rate_window(end: pd.Timestamp, days: int = RUN_RATE_DAYS) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The last `days` complete UTC days before `end`'s day (all of them when `end` is midnight)."""
    stop = end.floor("D")
    return stop - days * DAY, stop


def projection(daily_costs: pd.DataFrame, key: str, end: pd.Timestamp, *,
               run_rate_days: int = RUN_RATE_DAYS) -> pd.DataFrame:
    """Per `key` value: month-to-date actual, run rate (per hour, over the trailing complete days), monthly rate
    (run rate x 730 h) and the projected month (actual + run rate x hours left in the calendar month).
    `daily_costs` (from `daily`) must cover the month's start and the run-rate days."""
    month_start, month_end = month_bounds(end)
    rate_start, rate_end = run_rate_window(end, run_rate_days)
    first = daily_costs["day"].min() if len(daily_costs) else end
    if first > min(month_start, rate_start):
        raise ValueError(f"daily costs start {first}, after the month start {month_start} or the run-rate "
                         f"window {rate_start}")
    in_month = daily_costs[(daily_costs["day"] >= month_start) & (daily_costs["day"] < end)]
    in_rate = daily_costs[(daily_costs["day"] >= rate_start) & (daily_costs["day"] < rate_end)]
    keys = sorted(set(daily_costs[key]), key=str)
    actual = in_month.groupby(key)["total_cost"].sum().reindex(keys, fill_value=0.0)
    rate = (in_rate.groupby(key)["total_cost"].sum() / ((rate_end - rate_start) / HOUR)).reindex(keys, fill_value=0.0)
    hours_left = max((month_end - end) / HOUR, 0.0)
    table = pd.DataFrame({key: keys, "month": month_start.strftime("%Y-%m"), "month_to_date": actual.to_numpy(),
                          "run_rate_hourly": rate.to_numpy(), "monthly_rate": rate.to_numpy() * HOURS_PER_MONTH,
                          "hours_left": hours_left})
    table["projected_monthly"] = table["month_to_date"] + table["run_rate_hourly"] * hours_left
    return table


def budget_status(budgets: pd.DataFrame, projections: dict[str, pd.DataFrame], daily_by_kind: dict[str, pd.DataFrame],
                  end: pd.Timestamp, *, at_risk_ratio: float = 0.9) -> pd.DataFrame:
    """Each budget (`scope`, `kind`, `name`, `limit`) against its projection: `month_to_date`, `projected`,
    `over` (projected > limit), `over_by` (projected - limit, negative = under), `used` (projected / limit),
    `status` (ok | at_risk | over | no_data) and `crossing_day`: the day the month's cost passed the limit, or
    will at the run rate (None when it will not). `projections`/`daily_by_kind` are keyed by kind
    (`namespace`, `team`) and use the kind's key column named in `projections[kind].columns[0]`."""
    month_start, month_end = month_bounds(end)
    rows = []
    for budget in budgets.itertuples(index=False):
        table = projections[budget.kind]
        key = table.columns[0]
        found = table[table[key] == budget.name]
        if found.empty:
            rows.append({**budget._asdict(), "month_to_date": 0.0, "projected": 0.0, "run_rate_hourly": 0.0,
                         "over": False, "over_by": -budget.limit, "used": 0.0, "status": "no_data",
                         "crossing_day": None})
            continue
        row = found.iloc[0]
        projected, actual, rate = (float(row["projected_monthly"]), float(row["month_to_date"]),
                                   float(row["run_rate_hourly"]))
        crossing = None
        if actual >= budget.limit:
            days = daily_by_kind[budget.kind]
            own = days[(days[key] == budget.name) & (days["day"] >= month_start) & (days["day"] < end)]
            cumulative = own.sort_values("day").set_index("day")["total_cost"].cumsum()
            crossing = cumulative[cumulative >= budget.limit].index[0]
        elif projected > budget.limit and rate > 0:
            crossing = (end + (budget.limit - actual) / rate * HOUR).floor("D")
        status = ("over" if projected > budget.limit else "at_risk" if projected > at_risk_ratio * budget.limit
                  else "ok")
        rows.append({**budget._asdict(), "month_to_date": actual, "projected": projected, "run_rate_hourly": rate,
                     "over": projected > budget.limit, "over_by": projected - budget.limit,
                     "used": projected / budget.limit, "status": status,
                     "crossing_day": crossing if crossing is None or crossing < month_end else None})
    columns = ["scope", "kind", "name", "limit", "month_to_date", "run_rate_hourly", "projected", "over", "over_by",
               "used", "status", "crossing_day"]
    return pd.DataFrame(rows, columns=columns)


# ---- anomalies and movers ---------------------------------------------------------------------------------

def baseline(daily_costs: pd.DataFrame, key: str, *, weeks: int = 4, min_weeks: int = 3, mad_factor: float = 4.0,
             min_relative: float = 0.25, min_delta: float = 5.0) -> pd.DataFrame:
    """Each complete day and `key` value against the same weekday of the previous `weeks` weeks: `day`, `key`,
    `cost`, `expected` (their median), `threshold` (max(mad_factor x 1.4826 x MAD, min_relative x expected,
    min_delta)), `upper`/`lower` (the band), `delta` and `anomaly` (cost above the band). Days with fewer than
    `min_weeks` comparable days have no verdict (expected NaN)."""
    complete = daily_costs[daily_costs["hours"] >= 24 - 1e-9]
    matrix = daily_matrix(complete, key)
    if matrix.empty:
        return pd.DataFrame(columns=["day", key, "cost", "expected", "threshold", "lower", "upper", "delta",
                                     "anomaly"])
    matrix = matrix.reindex(pd.date_range(matrix.index.min(), matrix.index.max(), freq="D", name="day"))
    values = matrix.to_numpy(float)
    past = np.full((weeks, *values.shape), np.nan)
    for k in range(1, weeks + 1):
        past[k - 1, 7 * k:] = values[:-7 * k] if 7 * k < len(values) else np.nan
    enough = np.sum(~np.isnan(past), axis=0) >= min_weeks
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice": days without history are expected
        median = np.nanmedian(past, axis=0)
        mad = np.nanmedian(np.abs(past - median[None]), axis=0) * 1.4826
    expected = np.where(enough, median, np.nan)
    threshold = np.maximum.reduce([mad_factor * np.nan_to_num(mad), min_relative * np.abs(np.nan_to_num(expected)),
                                   np.full_like(values, min_delta)])
    frame = pd.DataFrame({
        "day": np.repeat(matrix.index.to_numpy(), values.shape[1]),
        key: np.tile(matrix.columns.to_numpy(object), values.shape[0]),
        "cost": values.ravel(), "expected": expected.ravel(), "threshold": threshold.ravel()})
    frame["day"] = pd.DatetimeIndex(frame["day"]).tz_localize("UTC") if frame["day"].dt.tz is None else frame["day"]
    frame = frame[frame["cost"].notna()]
    frame["lower"] = (frame["expected"] - frame["threshold"]).clip(lower=0)
    frame["upper"] = frame["expected"] + frame["threshold"]
    frame["delta"] = frame["cost"] - frame["expected"]
    frame["anomaly"] = (frame["delta"] > frame["threshold"]).fillna(False).astype(bool)
    return frame.sort_values(["day", key]).reset_index(drop=True)


def anomalies(evaluated: pd.DataFrame, key: str, start: pd.Timestamp | None = None,
              end: pd.Timestamp | None = None) -> pd.DataFrame:
    """The flagged days (from `baseline`) whose day starts in [start, end), largest excess first."""
    rows = evaluated[evaluated["anomaly"]]
    if start is not None:
        rows = rows[rows["day"] >= start.floor("D")]
    if end is not None:
        rows = rows[rows["day"] < end]
    return rows.sort_values("delta", ascending=False).reset_index(drop=True)


def top_movers(daily_costs: pd.DataFrame, key: str, end: pd.Timestamp, n: int = 5) -> pd.DataFrame:
    """Week over week: the last 7 complete days before `end`'s day against the 7 before, largest absolute
    change first: `key`, `this_week`, `last_week`, `change`, `change_pct`."""
    this_start, this_end = run_rate_window(end, 7)
    last_start = this_start - 7 * DAY

    def week(lo: pd.Timestamp, hi: pd.Timestamp) -> pd.Series:
        rows = daily_costs[(daily_costs["day"] >= lo) & (daily_costs["day"] < hi)]
        return rows.groupby(key)["total_cost"].sum()

    table = pd.DataFrame({"this_week": week(this_start, this_end), "last_week": week(last_start, this_start)})
    table = table.fillna(0.0).rename_axis(key).reset_index()
    table["change"] = table["this_week"] - table["last_week"]
    table["change_pct"] = table["change"] / table["last_week"].where(table["last_week"] > 0)
    order = table["change"].abs().sort_values(ascending=False).index
    return table.loc[order].head(n).reset_index(drop=True)
