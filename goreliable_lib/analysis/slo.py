"""SLO analysis: SLI, error budget, burn rates, multiwindow alerts, budget policy, model drift (pure functions).

Inputs are per-minute event frames `timestamp, good, total` (UTC, whole minutes), one row per minute, where a
row holds the events scraped in (timestamp - 1m, timestamp] and NaN means no sample (a scrape gap). A window
(start, end] holds the rows with start < timestamp <= end, as the simulator's ground truth does.

Rules (the summary.json "slo" fields):
- SLI = good / total of the window's events (request-weighted; never an average of per-minute ratios).
- error_budget_remaining = 1 - (1 - SLI) / (1 - objective); negative when overspent.
- burn rate over d = (bad / total over (end - d, end]) / (1 - objective); None when there were no events.
- coverage = share of the window's minutes with a sample.
- alerts: each rule is evaluated every minute t of the window; where the data starts late (`known_from`:
  retention, a new server), only at the minutes whose long window (t - long, t] lies after that start. Before
  it the rule's state is unknown and it is not shown as firing: a 3-day burn rate over one minute of data is
  not a 3-day burn rate.
- status: `no_data` when the window had no events (SLI and budget are then None, never 1.0);
  `breached` when error_budget_remaining < 0 (SLI below the objective); `at_risk` when it is below the alert
  threshold (10% by default, exhausted-but-not-overspent included); else `ok`.
- time slices (`Budgeting`: OpenSLO's Timeslices and RatioTimeslices): the window is cut into slices of
  `slice_window` aligned to its start, a slice (t - w, t] holding the minutes in it; the trailing part of a slice
  the window's end cuts is left out. Timeslices: a slice is good when its good / total meets `slice_target`;
  RatioTimeslices: a slice counts its ratio. A slice without events is neither good nor bad (not counted, and
  counted apart as `without_events`). The SLI is then the share of good slices (the mean ratio) among the slices
  with events, and the budget, burn rates, alerts and burn-down count slices at their end minute instead of
  events (`slice_events`), so a burn-rate window shorter than a slice holds at most one slice. A thresholdMetric
  gives one value per slice (`threshold_slices`): good when `value op threshold` holds, no value = no data.
- invariants (`check_events`, `check_window`): no minute has negative good or total events, good never exceeds total,
  and the window's good and total equal the sums of its days. Figures breaking one cannot be true; the run fails naming
  the SLO, the minute and the back-end, rather than publish a status built on them.
- correction windows (`analysis.correction_windows`) are applied to the events before every figure here; an
  `SLOResult` then also holds the SLI and budget before them (`sli_raw`, `error_budget_remaining_raw`) and what each
  correction removed (`corrections`).
- policy (thresholds are parameters): on the SLO with the least budget left, `freeze` when it is exhausted
  (<= 0), `reliability` below 20%, `caution` from 20% to 50% inclusive, `features` above 50%; `alert` is set
  below 10%. SLOs without data do not drive the decision but are named in the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from goreliable_lib.analysis.runs import true_runs
from goreliable_lib.errors import ImpossibleFiguresError
from goreliable_lib.timeutil import MINUTE, to_rfc3339

BURN_RATE_WINDOWS: tuple[str, ...] = ("1h", "6h", "1d", "3d")
STATUSES = ("ok", "at_risk", "breached", "no_data")


@dataclass(frozen=True)
class AlertRule:
    """A multiwindow burn-rate alert: fires while the burn rate over both windows is >= `burn_rate`."""

    severity: str
    long_window: str
    short_window: str
    burn_rate: float


#: The SRE workbook's multiwindow, multi-burn-rate alerts for a 30-day budget.
ALERT_RULES: tuple[AlertRule, ...] = (
    AlertRule("page", "1h", "5m", 14.4),
    AlertRule("page", "6h", "30m", 6.0),
    AlertRule("ticket", "1d", "2h", 3.0),
    AlertRule("ticket", "3d", "6h", 1.0),
)
#: The longest history the alerts and burn rates look back at before a window's start.
LOOKBACK = pd.Timedelta(days=3)

_WINDOW_UNITS = {"m": "min", "h": "h", "d": "D", "w": "W"}


def window_length(text: str) -> pd.Timedelta:
    """`5m`, `1h`, `3d` -> Timedelta (alert and burn-rate windows)."""
    return pd.Timedelta(int(text[:-1]), unit=_WINDOW_UNITS[text[-1]])


def _floor_minute(ts: pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(ts).tz_convert("UTC").floor("min") if pd.Timestamp(ts).tzinfo else \
        pd.Timestamp(ts).tz_localize("UTC").floor("min")


def minutes_of(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """The minute timestamps of the window (start, end]."""
    return pd.date_range(_floor_minute(start) + MINUTE, _floor_minute(end), freq="min", name="timestamp")


def on_minute_grid(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """`good`, `total` indexed by every minute of (start, end]; NaN where the frame has no row or no sample (rows of
    one minute summed, NaN when none of them has a sample)."""
    minutes = minutes_of(start, end)
    stamps = pd.DatetimeIndex(events["timestamp"] if "timestamp" in events.columns else events.index)
    columns = ["good", "total"] if "timestamp" in events.columns else list(events.columns)
    if not len(minutes) or stamps.tz is None:  # nothing to place, or not UTC minutes: pandas' alignment
        frame = events.set_index("timestamp")[columns] if "timestamp" in events.columns else events
        frame = frame.astype(float)
        if not frame.index.is_unique:
            frame = frame.groupby(level=0).sum(min_count=1)
        return frame.reindex(minutes)
    # each row's place on the grid by arithmetic: this runs a dozen times an SLO, and a reindex (with set_index,
    # a uniqueness check and a column selection) hashed every minute each time
    values = np.column_stack([events[c].to_numpy(dtype=float) for c in columns])
    offset = stamps.as_unit("ns").asi8 - minutes.as_unit("ns").asi8[0]
    place = offset // MINUTE.value
    on_grid = (offset % MINUTE.value == 0) & (place >= 0) & (place < len(minutes))
    place, values = place[on_grid], values[on_grid]
    if (np.diff(place) > 0).all():  # one row a minute, in order (as the engine and the archive give them)
        grid = np.full((len(minutes), len(columns)), np.nan)
        grid[place] = values
    else:
        present = ~np.isnan(values)
        sums, counts = np.zeros((len(minutes), len(columns))), np.zeros((len(minutes), len(columns)), dtype=np.int64)
        np.add.at(sums, place, np.where(present, values, 0.0))
        np.add.at(counts, place, present)
        grid = np.where(counts > 0, sums, np.nan)
    return pd.DataFrame(grid, index=minutes, columns=columns)


# --------------------------------------------------------------------------------------------- figures
def sli(good: float, total: float) -> float:
    """good / total; NaN when there were no events."""
    return good / total if total > 0 else math.nan


def error_budget_remaining(sli_value: float, objective: float) -> float:
    """1 - (1 - SLI) / (1 - objective): 1 = untouched, 0 = exhausted, negative = overspent; NaN without data."""
    return 1.0 - (1.0 - sli_value) / (1.0 - objective)


def burn_rate(bad: float, total: float, objective: float) -> float:
    """How fast the budget burns: the error ratio over the allowed error ratio (1 = exactly on budget)."""
    return (bad / total) / (1.0 - objective) if total > 0 else math.nan


@dataclass(frozen=True)
class WindowCounts:
    """Events of a window and how much of it had data."""

    good: float
    total: float
    minutes: int
    minutes_with_data: int

    @property
    def bad(self) -> float:
        return self.total - self.good

    @property
    def coverage(self) -> float:
        return self.minutes_with_data / self.minutes if self.minutes else math.nan


def window_counts(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> WindowCounts:
    """Good and total events of (start, end] (exact sums of the per-minute increments) and coverage."""
    grid = on_minute_grid(events, start, end)
    return WindowCounts(good=float(grid["good"].sum()), total=float(grid["total"].sum()),
                        minutes=len(grid), minutes_with_data=int(grid["total"].notna().sum()))


def burn_rates(events: pd.DataFrame, end: pd.Timestamp, objective: float,
               windows: tuple[str, ...] = BURN_RATE_WINDOWS) -> dict[str, float]:
    """Burn rate over each window ending at `end` (NaN where the window had no events)."""
    rates = {}
    for window in windows:
        counts = window_counts(events, end - window_length(window), end)
        rates[window] = burn_rate(counts.bad, counts.total, objective)
    return rates


def rolling_burn_rate(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, window: str,
                      objective: float) -> pd.Series:
    """Burn rate over `window` evaluated at every minute of (start, end] (uses the frame's history before
    `start`); NaN where the trailing window had no events."""
    length = window_length(window)
    steps = int(length / MINUTE)
    grid = on_minute_grid(events, start - length, end).fillna(0.0)
    bad = (grid["total"] - grid["good"]).to_numpy()
    total = grid["total"].to_numpy()
    cum_bad = np.concatenate([[0.0], np.cumsum(bad)])
    cum_total = np.concatenate([[0.0], np.cumsum(total)])
    bad_sum = cum_bad[steps:] - cum_bad[:-steps]
    total_sum = cum_total[steps:] - cum_total[:-steps]
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(total_sum > 0, bad_sum / np.where(total_sum > 0, total_sum, 1) / (1.0 - objective), np.nan)
    return pd.Series(rate[1:], index=grid.index[steps:], name=window)


ALERT_COLUMNS = ["severity", "long_window", "short_window", "burn_rate_threshold", "start", "end", "ongoing",
                 "peak_burn_rate"]


def alert_periods(events: pd.DataFrame, objective: float, start: pd.Timestamp, end: pd.Timestamp,
                  rules: tuple[AlertRule, ...] = ALERT_RULES, known_from: pd.Timestamp | None = None) -> pd.DataFrame:
    """The periods in (start, end] in which each multiwindow alert would have fired, evaluated every minute.

    A period runs from the first evaluation that fired (`start`) to the first that did not (`end`; the window
    end and `ongoing=True` when still firing). `peak_burn_rate` is the highest long-window burn rate in it.
    With `known_from` (the events are known only after it) a rule is evaluated only where its long window lies
    after it.
    """
    rows: list[dict[str, Any]] = []
    for rule in rules:
        long_rate = rolling_burn_rate(events, start, end, rule.long_window, objective)
        short_rate = rolling_burn_rate(events, start, end, rule.short_window, objective)
        firing = ((long_rate >= rule.burn_rate) & (short_rate >= rule.burn_rate)).to_numpy()
        if known_from is not None:
            firing = firing & np.asarray(long_rate.index - window_length(rule.long_window) >= known_from)
        for first, after in zip(*true_runs(firing), strict=True):
            ongoing = after >= len(firing)
            rows.append({
                "severity": rule.severity, "long_window": rule.long_window, "short_window": rule.short_window,
                "burn_rate_threshold": rule.burn_rate, "start": long_rate.index[first],
                "end": long_rate.index[-1] if ongoing else long_rate.index[after], "ongoing": bool(ongoing),
                "peak_burn_rate": float(np.nanmax(long_rate.to_numpy()[first:after])),
            })
    frame = pd.DataFrame(rows, columns=ALERT_COLUMNS)
    return frame.sort_values(["start", "severity"], ignore_index=True) if len(frame) else frame


def daily_sli(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """SLI per UTC day of the window: `day`, `good`, `total`, `bad`, `sli` (NaN without events), `coverage`.

    Day D holds the minutes (D, D + 1d], clipped to the window."""
    grid = on_minute_grid(events, start, end)
    day = (grid.index - pd.Timedelta(1, "ns")).floor("D")
    grouped = grid.groupby(day)
    daily = pd.DataFrame({"good": grouped["good"].sum(), "total": grouped["total"].sum(),
                          "coverage": grouped["total"].count() / grouped["total"].size()})
    daily.index.name = "day"
    daily["bad"] = daily["total"] - daily["good"]
    daily["sli"] = (daily["good"] / daily["total"]).where(daily["total"] > 0)
    return daily.reset_index()[["day", "good", "total", "bad", "sli", "coverage"]]


def budget_burndown(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, objective: float,
                    freq: str = "1h") -> pd.DataFrame:
    """Error budget remaining through the window: `timestamp`, `bad_events` (cumulative), `error_budget_remaining`.

    The budget is the window's allowed bad events, (1 - objective) x its total events, so the curve starts at
    1.0 at `start` and ends at the window's error_budget_remaining. Empty when the window had no events."""
    grid = on_minute_grid(events, start, end).fillna(0.0)
    total = float(grid["total"].sum())
    if total <= 0:
        return pd.DataFrame({"timestamp": pd.DatetimeIndex([], tz="UTC"), "bad_events": [],
                             "error_budget_remaining": []})
    cumulative_bad = (grid["total"] - grid["good"]).cumsum()
    points = pd.date_range(_floor_minute(start), _floor_minute(end), freq=freq)
    points = points.union(pd.DatetimeIndex([_floor_minute(start), _floor_minute(end)]))
    bad = cumulative_bad.reindex(points, method="ffill").fillna(0.0)
    return pd.DataFrame({"timestamp": points, "bad_events": bad.to_numpy(),
                         "error_budget_remaining": 1.0 - bad.to_numpy() / ((1.0 - objective) * total)})


def slo_status(error_budget_remaining_value: float, total: float, alert_below: float = 0.10) -> str:
    """`no_data` without events; `breached` when overspent (< 0); `at_risk` below the alert threshold; `ok`."""
    if not total > 0 or math.isnan(error_budget_remaining_value):
        return "no_data"
    if error_budget_remaining_value < 0:
        return "breached"
    if error_budget_remaining_value < alert_below:
        return "at_risk"
    return "ok"


# --------------------------------------------------------------------------------------------- time slices
OPERATORS = {"lt": np.less, "lte": np.less_equal, "gt": np.greater, "gte": np.greater_equal}
SLICE_COLUMNS = ["timestamp", "good", "total", "ratio", "slice_good"]


@dataclass(frozen=True)
class Budgeting:
    """How an objective spends its budget: `Occurrences` (events), `Timeslices` (good slices: a slice's
    good / total >= `slice_target`) or `RatioTimeslices` (the mean of the slices' ratios), slices of
    `slice_window`."""

    method: str = "Occurrences"
    slice_window: pd.Timedelta | None = None
    slice_target: float | None = None

    @property
    def sliced(self) -> bool:
        return self.method != "Occurrences"


OCCURRENCES = Budgeting()


def slice_ends(anchor: pd.Timestamp, first: pd.Timestamp, end: pd.Timestamp,
               window: pd.Timedelta) -> pd.DatetimeIndex:
    """The ends t of the whole slices (t - window, t] inside (first, end], on the grid anchor + k x window."""
    anchor, first, end = _floor_minute(anchor), _floor_minute(first), _floor_minute(end)
    k_first = 1 - (anchor - first) // window  # (anchor + (k - 1) window) >= first
    k_last = (end - anchor) // window
    if k_last < k_first:
        return pd.DatetimeIndex([], tz="UTC", name="timestamp")
    return pd.DatetimeIndex([anchor + k * window for k in range(int(k_first), int(k_last) + 1)], name="timestamp")


def time_slices(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, budgeting: Budgeting,
                history_start: pd.Timestamp | None = None) -> pd.DataFrame:
    """The slices of a ratio SLI aligned to `start`, from `history_start` (default `start`) to `end`: one row per
    whole slice, `timestamp` (its end), `good`, `total` (its events; NaN without any sample), `ratio` (NaN without
    events) and `slice_good` (Timeslices: 1.0 when ratio >= slice_target, else 0.0; RatioTimeslices: the ratio;
    NaN without events)."""
    window = budgeting.slice_window
    if window is None:
        raise ValueError("time_slices: the budgeting has no slice_window")
    first = history_start if history_start is not None else start
    ends = slice_ends(start, first, end, window)
    if not len(ends):
        return pd.DataFrame({c: pd.Series([], dtype=float) for c in SLICE_COLUMNS}).assign(
            timestamp=pd.DatetimeIndex([], tz="UTC"))[SLICE_COLUMNS]
    grid = on_minute_grid(events, ends[0] - window, ends[-1])
    number = np.ceil(np.asarray((grid.index - ends[0]) / window, dtype=float))
    label = ends[0] + pd.to_timedelta(number * window.total_seconds(), unit="s")
    grouped = grid.groupby(label)
    frame = pd.DataFrame({"good": grouped["good"].sum(min_count=1), "total": grouped["total"].sum(min_count=1)})
    frame = frame.reindex(ends)
    frame.index.name = "timestamp"
    frame["ratio"] = (frame["good"] / frame["total"]).where(frame["total"] > 0)
    if budgeting.method == "Timeslices":
        frame["slice_good"] = (frame["ratio"] >= budgeting.slice_target).astype(float).where(frame["ratio"].notna())
    else:
        frame["slice_good"] = frame["ratio"]
    return frame.reset_index()[SLICE_COLUMNS]


def threshold_slices(values: pd.DataFrame, op: str, threshold: float, ends: pd.DatetimeIndex) -> pd.DataFrame:
    """The slices of a threshold SLI: `values` holds one `value` per slice end (`timestamp`); a slice is good when
    `value op threshold` holds (op: lt, lte, gt, gte); a slice without a value (or NaN) is no data."""
    value = (values.set_index("timestamp")["value"].astype(float) if len(values)
             else pd.Series([], dtype=float, index=pd.DatetimeIndex([], tz="UTC")))
    if not value.index.is_unique:
        raise ValueError("threshold_slices: more than one value per slice (the expression returned several series)")
    value = value.reindex(ends)
    good = pd.Series(OPERATORS[op](value.to_numpy(), threshold), index=ends).astype(float).where(value.notna())
    frame = pd.DataFrame({"good": good, "total": value.notna().astype(float).where(value.notna()),
                          "ratio": value, "slice_good": good}, index=ends)
    frame.index.name = "timestamp"
    return frame.reset_index()[SLICE_COLUMNS]


def slice_events(slices: pd.DataFrame) -> pd.DataFrame:
    """The slices as events at their end minute (`timestamp`, `good` = slice_good, `total` = 1; both 0 for a slice
    without events), the frame every event-based figure above takes."""
    has_events = slices["slice_good"].notna()
    return pd.DataFrame({"timestamp": slices["timestamp"], "good": slices["slice_good"].where(has_events, 0.0),
                         "total": has_events.astype(float)})


@dataclass(frozen=True)
class SliceCounts:
    """The slices of a window: how many, with and without events, good and bad (Timeslices) or their mean ratio
    (RatioTimeslices)."""

    method: str
    window: pd.Timedelta
    target: float | None
    slices: int
    with_events: int
    good: float

    @property
    def without_events(self) -> int:
        return self.slices - self.with_events

    @property
    def bad(self) -> float:
        return self.with_events - self.good

    def summary(self) -> dict[str, Any]:
        counts = {"window_seconds": self.window.total_seconds(), "slices": self.slices,
                  "with_events": self.with_events, "without_events": self.without_events}
        if self.method == "Timeslices":
            counts.update(target=self.target, good=int(self.good), bad=int(self.bad))
        return counts


def slice_counts(slices: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, budgeting: Budgeting) -> SliceCounts:
    inside = slices[(slices["timestamp"] > start) & (slices["timestamp"] <= end)]
    return SliceCounts(budgeting.method, budgeting.slice_window, budgeting.slice_target,  # type: ignore[arg-type]
                       slices=len(inside), with_events=int(inside["slice_good"].notna().sum()),
                       good=float(inside["slice_good"].sum()))


# --------------------------------------------------------------------------------------------- report
def _number(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


@dataclass
class SLOResult:
    """One SLO over one window: the summary.json "slo" fields plus the frames the report plots."""

    name: str
    service: str
    objective: float
    start: pd.Timestamp
    end: pd.Timestamp
    good_events: float
    total_events: float
    sli: float
    error_budget_remaining: float
    burn_rates: dict[str, float]
    coverage: float
    status: str
    alerts: pd.DataFrame = field(repr=False)
    daily: pd.DataFrame = field(repr=False)
    burndown: pd.DataFrame = field(repr=False)
    budgeting_method: str = "Occurrences"
    slices: SliceCounts | None = None  # time-slice budgeting only
    slice_frame: pd.DataFrame | None = field(default=None, repr=False)
    #: the figures before correction windows (`analysis.correction_windows`); None when no correction applied
    sli_raw: float | None = None
    error_budget_remaining_raw: float | None = None
    #: what each correction removed from the window: {name, minutes, good_events, total_events, reason, author}
    corrections: list[dict[str, Any]] = field(default_factory=list)

    @property
    def bad_events(self) -> float:
        return self.total_events - self.good_events

    def summary(self) -> dict[str, Any]:
        """The summary.json entry (plain floats, None for unknown, times RFC3339). A thresholdMetric objective
        counts no events: its event fields are None."""
        entry = {
            "name": self.name, "service": self.service, "objective": self.objective,
            "window": {"start": to_rfc3339(self.start), "end": to_rfc3339(self.end)},
            "sli": _number(self.sli), "good_events": _number(self.good_events),
            "total_events": _number(self.total_events), "bad_events": _number(self.bad_events),
            "error_budget_remaining": _number(self.error_budget_remaining),
            "burn_rates": {k: _number(v) for k, v in self.burn_rates.items()},
            "alerts": alerts_summary(self.alerts), "coverage": _number(self.coverage), "status": self.status,
            "budgeting_method": self.budgeting_method,
            "sli_raw": _number(self.sli if self.sli_raw is None else self.sli_raw),
            "error_budget_remaining_raw": _number(self.error_budget_remaining if self.error_budget_remaining_raw is None
                                                  else self.error_budget_remaining_raw),
            "corrections": [dict(c) for c in self.corrections],
        }
        if self.slices is not None:
            entry["time_slices"] = self.slices.summary()
        return entry


def alerts_summary(alerts: pd.DataFrame) -> list[dict[str, Any]]:
    """Alert periods as JSON-able dicts."""
    return [{"severity": row.severity, "windows": f"{row.long_window}/{row.short_window}",
             "burn_rate_threshold": float(row.burn_rate_threshold), "start": to_rfc3339(row.start),
             "end": to_rfc3339(row.end), "ongoing": bool(row.ongoing), "peak_burn_rate": float(row.peak_burn_rate)}
            for row in alerts.itertuples()]


def evaluate_slo(events: pd.DataFrame | None, *, name: str, service: str, objective: float, start: pd.Timestamp,
                 end: pd.Timestamp, alert_below: float = 0.10, rules: tuple[AlertRule, ...] = ALERT_RULES,
                 budgeting: Budgeting = OCCURRENCES, slices: pd.DataFrame | None = None,
                 known_from: pd.Timestamp | None = None) -> SLOResult:
    """Everything the report shows for one SLO over the window (start, end].

    `events` should reach `LOOKBACK` before `start` so the alerts at the window's start see their windows. With
    time-slice budgeting the slices are cut from `events` (aligned to `start`, back to the frame's first minute),
    or given as `slices` (a thresholdMetric's `threshold_slices`; `events` is then None: no events are counted).
    `known_from`: the events are known only after it (the data starts late); alerts are evaluated after it."""
    if not budgeting.sliced:
        counts = window_counts(events, start, end)  # type: ignore[arg-type]
        value = sli(counts.good, counts.total)
        remaining = error_budget_remaining(value, objective)
        return SLOResult(
            name=name, service=service, objective=objective, start=pd.Timestamp(start), end=pd.Timestamp(end),
            good_events=counts.good, total_events=counts.total, sli=value, error_budget_remaining=remaining,
            burn_rates=burn_rates(events, end, objective), coverage=counts.coverage,  # type: ignore[arg-type]
            status=slo_status(remaining, counts.total, alert_below),
            alerts=alert_periods(events, objective, start, end, rules, known_from),  # type: ignore[arg-type]
            daily=daily_sli(events, start, end), burndown=budget_burndown(events, start, end, objective))  # type: ignore[arg-type]
    if slices is None:
        first = events["timestamp"].min() - MINUTE if len(events) else start  # type: ignore[union-attr]
        slices = time_slices(events, start, end, budgeting, history_start=min(first, start))  # type: ignore[arg-type]
    units = slice_events(slices)
    counts = window_counts(units, start, end)
    value = sli(counts.good, counts.total)
    remaining = error_budget_remaining(value, objective)
    daily = daily_sli(units, start, end)
    if events is not None:
        requests = window_counts(events, start, end)
        good_events, total_events, coverage = requests.good, requests.total, requests.coverage
        daily["coverage"] = daily_sli(events, start, end)["coverage"].to_numpy()
    else:  # a threshold SLI: coverage = share of the window's slices with a value
        inside = slices[(slices["timestamp"] > start) & (slices["timestamp"] <= end)]
        good_events = total_events = math.nan
        coverage = float(inside["ratio"].notna().mean()) if len(inside) else math.nan
        day = (inside["timestamp"] - pd.Timedelta(1, "ns")).dt.floor("D")
        per_day = inside["ratio"].notna().groupby(day).mean()
        daily["coverage"] = per_day.reindex(pd.DatetimeIndex(daily["day"])).to_numpy()
    return SLOResult(
        name=name, service=service, objective=objective, start=pd.Timestamp(start), end=pd.Timestamp(end),
        good_events=good_events, total_events=total_events, sli=value, error_budget_remaining=remaining,
        burn_rates=burn_rates(units, end, objective), coverage=coverage,
        status=slo_status(remaining, counts.total, alert_below),
        alerts=alert_periods(units, objective, start, end, rules, known_from), daily=daily,
        burndown=budget_burndown(units, start, end, objective), budgeting_method=budgeting.method,
        slices=slice_counts(slices, start, end, budgeting), slice_frame=slices)


def budget_policy(results: list[SLOResult], *, features_above: float = 0.50, reliability_below: float = 0.20,
                  alert_below: float = 0.10) -> dict[str, Any]:
    """The error-budget policy decision, driven by the SLO with the least budget left.

    Returns {decision: features|caution|reliability|freeze|no_data, reason, slo, error_budget_remaining, alert,
    thresholds} (`thresholds`: the three it was decided with, so a later reader compares with the same ones).
    """
    thresholds = {"features_above": features_above, "reliability_below": reliability_below, "alert_below": alert_below}
    with_data = [r for r in results if r.status != "no_data"]
    without = [r.name for r in results if r.status == "no_data"]
    note = f" No data for {', '.join(without)}: not counted." if without else ""
    if not with_data:
        return {"decision": "no_data", "reason": "No SLO had events in the window: no decision." + note.rstrip(),
                "slo": None, "error_budget_remaining": None, "alert": False, "thresholds": thresholds}
    driver = min(with_data, key=lambda r: r.error_budget_remaining)
    remaining = driver.error_budget_remaining
    share = f"{driver.name} has {remaining:.1%} of its error budget left"
    if remaining <= 0:
        decision, rule = "freeze", "budget exhausted: freeze releases except reliability fixes"
    elif remaining < reliability_below:
        decision, rule = "reliability", f"below {reliability_below:.0%}: reliability work first"
    elif remaining <= features_above:
        decision, rule = "caution", f"between {reliability_below:.0%} and {features_above:.0%}: ship with caution"
    else:
        decision, rule = "features", f"above {features_above:.0%} for every SLO: feature work"
    alert = remaining < alert_below
    alert_text = f" Alert: below {alert_below:.0%}." if alert else ""
    return {"decision": decision, "reason": f"{share} ({rule}).{alert_text}{note}", "slo": driver.name,
            "error_budget_remaining": float(remaining), "alert": bool(alert), "thresholds": thresholds}


# --------------------------------------------------------------------------------------------- model drift
#: The drift gauge the ML platform exports (1 while drift is detected), the label naming the model, and the value
#: above which drift counts as detected.
DRIFT_METRIC = "model_drift_detected"
DRIFT_MODEL_LABEL = "model"
DRIFT_THRESHOLD = 0.5


def model_drift(drift: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, *, threshold: float = DRIFT_THRESHOLD,
                model_label: str = DRIFT_MODEL_LABEL) -> list[dict[str, Any]]:
    """Drift status per model from a drift gauge (`timestamp`, `value`, `<model_label>`): drift is detected
    where value > threshold. Returns [{model, detected_in_window, detected_now, first_detected_at,
    last_detected_at, samples_detected, last_sample_at}] with "now" = the last sample at or before `end`."""
    if drift.empty or model_label not in drift.columns:
        return []
    frame = drift[(drift["timestamp"] > start) & (drift["timestamp"] <= end)]
    status = []
    for model, rows in frame.sort_values("timestamp").groupby(model_label, sort=True):
        detected = rows[rows["value"] > threshold]
        last = rows.iloc[-1]
        status.append({
            "model": str(model), "detected_in_window": bool(len(detected)),
            "detected_now": bool(last["value"] > threshold),
            "first_detected_at": to_rfc3339(detected["timestamp"].iloc[0]) if len(detected) else None,
            "last_detected_at": to_rfc3339(detected["timestamp"].iloc[-1]) if len(detected) else None,
            "samples_detected": int(len(detected)), "last_sample_at": to_rfc3339(last["timestamp"]),
        })
    return status


def drift_periods(drift: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, *,
                  threshold: float = DRIFT_THRESHOLD, model_label: str = DRIFT_MODEL_LABEL) -> pd.DataFrame:
    """Episodes of detected drift per model: `model`, `start`, `end` = the first and last drift point of each run
    of consecutive points above `threshold` (each point is the gauge's max over the step before it), the same
    times as `model_drift`'s `first_detected_at` / `last_detected_at`."""
    columns = ["model", "start", "end"]
    if drift.empty or model_label not in drift.columns:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    drift = drift[(drift["timestamp"] > start) & (drift["timestamp"] <= end)]
    rows = []
    for model, points in drift.sort_values("timestamp").groupby(model_label, sort=True):
        times = points["timestamp"]
        for first, after in zip(*true_runs((points["value"] > threshold).to_numpy()), strict=True):
            rows.append({"model": str(model), "start": times.iloc[first], "end": times.iloc[after - 1]})
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------------------------- incidents
def incident_impact(events: pd.DataFrame, *, name: str, objective: float, incident_start: pd.Timestamp,
                    incident_end: pd.Timestamp, budget_window: str = "30d",
                    rules: tuple[AlertRule, ...] = ALERT_RULES) -> dict[str, Any]:
    """What an incident cost an SLO (the postmortem's summary.json "slos" entry).

    `budget_consumed` = bad events of (incident_start, incident_end] over the error budget of the
    `budget_window` ending at the incident's end ((1 - objective) x its total events); `first_alert_at` = the
    start of the first alert period (any rule) overlapping the incident; `time_to_detect_seconds` = that minus
    the incident start. `events` should reach `budget_window` (and LOOKBACK) before the incident's end."""
    incident = window_counts(events, incident_start, incident_end)
    budget = window_counts(events, incident_end - window_length(budget_window), incident_end)
    allowed = (1.0 - objective) * budget.total
    alerts = alert_periods(events, objective, incident_start, incident_end, rules)
    first_alert = alerts["start"].min() if len(alerts) else None
    return {
        "name": name, "bad_events": incident.bad, "total_events": incident.total,
        "budget_consumed": incident.bad / allowed if allowed > 0 else None,
        "first_alert_at": to_rfc3339(first_alert) if first_alert is not None else None,
        "time_to_detect_seconds": (first_alert - pd.Timestamp(incident_start)).total_seconds()
        if first_alert is not None else None,
    }


# --------------------------------------------------------------------------------------------- invariants
#: Relative tolerance of the invariant checks (events are sums of float64 counter values).
INVARIANT_TOLERANCE = 1e-9


def impossible_minutes(events: pd.DataFrame) -> pd.DataFrame:
    """The minutes whose events cannot be: `timestamp`, `good`, `total`, `problem` (negative total, negative good,
    good above total, i.e. negative bad). Minutes without data (NaN) are not checked."""
    good, total = events["good"].to_numpy(dtype=float), events["total"].to_numpy(dtype=float)
    slack = INVARIANT_TOLERANCE * np.maximum(1.0, np.abs(np.nan_to_num(total)))
    problems = np.select([total < -slack, good < -slack, good > total + slack],
                         ["negative total events", "negative good events", "more good events than total"], "")
    found = problems != ""
    return pd.DataFrame({"timestamp": events["timestamp"].array[found], "good": good[found],  # no object array
                         "total": total[found], "problem": problems[found]})


def _impossible(name: str, backend: str, what: str) -> ImpossibleFiguresError:
    return ImpossibleFiguresError(
        f"SLO {name}: impossible figures from {backend}: {what}; the run stops so that no page shows a status built "
        "on them (a fault of the kit or of the back-end: report it with the SLO's queries and the back-end's version)")


def check_events(events: pd.DataFrame, *, name: str, backend: str) -> None:
    """Raise `ImpossibleFiguresError` naming the SLO, the first impossible minute and the back-end when a minute of
    `events` (the whole frame, look-back included) breaks an invariant (see the module notes)."""
    bad_minutes = impossible_minutes(events)
    if len(bad_minutes):
        first = bad_minutes.iloc[0]
        raise _impossible(name, backend, f"minute {pd.Timestamp(first['timestamp']):%Y-%m-%d %H:%M} UTC has "
                          f"{first['good']:,.0f} good of {first['total']:,.0f} total events ({first['problem']}; "
                          f"{len(bad_minutes):,} such minute(s), the last "
                          f"{pd.Timestamp(bad_minutes['timestamp'].iloc[-1]):%Y-%m-%d %H:%M} UTC)")


def check_window(result: SLOResult, *, backend: str) -> None:
    """Raise `ImpossibleFiguresError` when the window's good or total events are not the sums of its days
    (event budgeting; with time slices the days count slices)."""
    if result.slices is not None or not len(result.daily) or math.isnan(result.total_events):
        return
    for column, window_value in (("good", result.good_events), ("total", result.total_events)):
        days = float(result.daily[column].sum())
        if abs(days - window_value) > INVARIANT_TOLERANCE * max(1.0, abs(window_value)):
            raise _impossible(result.name, backend, f"the window's {column} events ({window_value:,.0f}) are not "
                              f"the sum of its days ({days:,.0f})")
