"""The SLO review's analysis: budget-significant episodes, the alert backtest of burn-rate rule sets, and the
what-if compliance under other objectives and windows (pure functions over per-minute event frames).

Inputs are per-minute event frames `timestamp, good, total` as in analysis/slo.py (a row holds the events of
(timestamp - 1m, timestamp]; NaN = no sample, counted as no events). The review of one SLO reads its events once
(`review_slo`) and evaluates every rule set on them. The period is (start, end]; the frame should reach
`events_needed_from(start, ...)` before it (the rules' long windows and `for`, the 30-day budget, the what-if
windows). Corrections, if any, are applied to the frame by the caller (as in the SLO report).

Rules (the summary.json fields of `slo-review`):
- rule sets: a `RuleSet` is a name and `BurnRateRule`s (the kit's `AlertRule`: severity, long and short window,
  burn-rate factor; plus `for_`, Prometheus' `for:`). A rule's condition holds at minute t when the burn rate over
  both its windows ending at t is >= its factor (analysis/slo.py's burn rate; no events in a window = no burn);
  it fires at t when its condition held at every evaluation of [t - for_, t] (evaluations every minute), so
  `for_ = 0` fires at once, as `slo.alert_periods` does. A severity fires at t when any of its rules fires. An
  alert period is a run of minutes in which the severity fires: `start` = its first firing minute, `end` = the
  first minute it no longer fires (the period's end and `ongoing` when still firing). With `known_from` (the
  events are known only after it) a rule is evaluated only where its long window lies after it.
  `default` is the SRE workbook's multiwindow, multi-burn-rate set (`slo.ALERT_RULES`, `for_ = 0`); `catalog`
  the alerting the catalog declares for the SLO (`declared_rule_set` of `SLO.alerting`).
- overspend of a minute = bad - burn_threshold x (1 - objective) x total events: positive exactly when the minute
  burns faster than `burn_threshold` times the rate the objective allows. It is counted in 1/1024ths of an event
  (exact integer sums: the same episodes whatever the order of addition).
- episodes (budget-significant, defined without any rule), over the period's minutes alone: an episode opens at
  a minute with positive overspend; its overspend is the sum since that minute and its peak the first minute at
  which that sum reached its highest value. It closes at the first minute at which the sum falls to zero or below
  (the pause gave back all it overspent), or at which `join_gap` minutes have passed since the peak without a
  new peak (a pause of `join_gap` minutes; shorter pauses are bridged); the search resumes at the next minute.
  The episode is (first minute - 1m, peak]: `start`, `end`. Its `budget_consumed` = its bad events over the
  30-day budget at its end: (1 - objective) x the total events of the 30 days ending at `end`, the traffic
  scaled to 30 days from the minutes with a sample when the events do not cover them all (the data starts late,
  scrape gaps). It is kept when `budget_consumed >= min_budget_share`. An episode still open at the period's end
  is `ongoing`; one that began before the period starts at the period's start.
  Defaults: burn_threshold 2 (an acute burn: at that pace a 30-day budget lasts 15 days; at 1 a minute of
  ordinary noise next to an incident, e.g. 5 errors in 3,930 requests at 99.9%, would stretch it: slower, chronic
  burns show in the what-if), join_gap 15 minutes, min_budget_share 2% (the SRE workbook's smallest budget spend
  worth a page: 2% in an hour).
- scores, per rule set and severity, over the kept episodes:
  `alerts` = alert periods; `pages_per_month` = alerts per 30 days of period;
  an alert *matches* an episode when it fires at one of the episode's minutes (first minute to peak);
  `precision` = matching alerts / alerts; `recall` = detected episodes / episodes, an episode being *detected*
  when the severity fires at one of its minutes, `detected_at` = the first such minute;
  `detection` = detected_at - episode start (seconds; >= 60: an evaluation sees a minute after it);
  `detection_median_seconds`, `detection_max_seconds` over the detected episodes;
  `reset` = end of the last alert matching the episode - episode end (seconds; negative when the alert resolved
  before the episode's peak; unknown while that alert is ongoing), `reset_median_seconds` over the detected
  episodes whose reset is known;
  `budget_before_detection` = the median over the detected episodes of the bad events of its minutes up to and
  including `detected_at`, over its 30-day budget (a share of the budget, like `budget_consumed`).
  A ratio or statistic without a denominator (no alert, no episode, nothing detected) is None, never 0 or 1.
- what-if: for each objective and window, the window is evaluated at the end of every calendar month (UTC) in
  the period, and at the period's end when it falls inside a month (`to_date`). Windows: rolling (`28d`, `30d`,
  any duration): the window ending there; `1M`: the calendar month to there; `1Q`: the calendar quarter to there
  (the quarter's verdict is the one at its last month). Figures as in analysis/history.py: SLI = good / total of
  the window's minutes with data, `error_budget_remaining`, `breached` = SLI < objective, `coverage`. A point
  without events is not counted. `months` = points counted, `breached_months` = those breached; for `1Q` also
  `quarters` and `breached_quarters` (the points that end a quarter).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from goreliable_lib.analysis.runs import true_runs
from goreliable_lib.analysis.slo import ALERT_RULES, AlertRule, error_budget_remaining, sli, window_length
from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.openslo import DeclaredBurnRate
from goreliable_lib.timeutil import MINUTE, parse_duration, to_rfc3339

#: Episode defaults (see the module's rules).
BURN_THRESHOLD = 2.0
JOIN_GAP = pd.Timedelta(minutes=15)
MIN_BUDGET_SHARE = 0.02
BUDGET_WINDOW = pd.Timedelta(days=30)
#: Overspend is counted in 1/OVERSPEND_UNITS of an event.
OVERSPEND_UNITS = 1024
#: The what-if windows evaluated by default: rolling 28 and 30 days, the calendar month and quarter.
WHAT_IF_WINDOWS: tuple[str, ...] = ("28d", "30d", "1M", "1Q")
#: A rule without `for:` fires at its first evaluation whose condition holds.
AT_ONCE = pd.Timedelta(0)
#: Names a candidate rule set may not take (the report's own sets).
RESERVED_RULE_SETS = ("default", "catalog")

_MINUTE_NS = 60_000_000_000
_MONTH_MINUTES = 30 * 24 * 60
_RULE_KEYS = ("severity", "long", "short", "factor", "for")
_SEVERITY = re.compile(r"^[A-Za-z0-9_.-]+$")


# --------------------------------------------------------------------------------------------- rule sets
@dataclass(frozen=True)
class BurnRateRule(AlertRule):
    """A multiwindow burn-rate rule (`AlertRule`) that fires once its condition held for `for_` (Prometheus'
    `for:`; 0 = at once)."""

    for_: pd.Timedelta = AT_ONCE

    @property
    def long_minutes(self) -> int:
        return int(window_length(self.long_window) / MINUTE)

    @property
    def short_minutes(self) -> int:
        return int(window_length(self.short_window) / MINUTE)

    @property
    def for_minutes(self) -> int:
        return int(self.for_ / MINUTE)


@dataclass(frozen=True)
class RuleSet:
    """A named set of burn-rate rules, evaluated together (one alert timeline per severity)."""

    name: str
    rules: tuple[BurnRateRule, ...]

    @property
    def severities(self) -> tuple[str, ...]:
        """The severities in the order the rules name them."""
        return tuple(dict.fromkeys(rule.severity for rule in self.rules))

    @property
    def lookback(self) -> pd.Timedelta:
        """How far before a minute its evaluation looks: the longest long window plus `for`."""
        return max((window_length(r.long_window) + r.for_ for r in self.rules), default=pd.Timedelta(0))


def rule_set_of(name: str, rules: Iterable[AlertRule], for_: pd.Timedelta = AT_ONCE) -> RuleSet:
    """A rule set from the kit's `AlertRule`s, each with the same `for_`."""
    return RuleSet(name, tuple(BurnRateRule(r.severity, r.long_window, r.short_window, r.burn_rate, for_)
                               for r in rules))


#: The kit's default: the SRE workbook's multiwindow, multi-burn-rate rules, firing at once.
DEFAULT_RULE_SET = rule_set_of("default", ALERT_RULES)
#: The name of the rule set of the alerting a catalog declares for each SLO.
CATALOG_RULE_SET = "catalog"


def declared_rule_set(alerting: Iterable[DeclaredBurnRate], name: str = CATALOG_RULE_SET) -> RuleSet:
    """The rule set of the burn-rate alerts a catalog declares for an SLO (`SLO.alerting`: Pyrra's, Sloth's)."""
    return RuleSet(name, tuple(BurnRateRule(a.severity, window_text(a.long), window_text(a.short), float(a.factor),
                                            a.for_) for a in alerting))


def window_text(length: pd.Timedelta) -> str:
    """A whole number of minutes as the kit writes windows: `3d`, `6h`, `90m`."""
    minutes = int(length / MINUTE)
    for unit, size in (("d", 1440), ("h", 60)):
        if minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


def _whole_minutes(value: Any, where: str, *, allow_zero: bool = False) -> pd.Timedelta:
    if allow_zero and (value == 0 or value in ("0", "0s", "0m")) and not isinstance(value, bool):
        return pd.Timedelta(0)
    length = parse_duration(value, field=where)
    if length % MINUTE:
        raise BadInputError(f"{where}: {value!r} is not a whole number of minutes (rules are evaluated every minute)")
    return length


def parse_rule(entry: Any, where: str) -> BurnRateRule:
    """One candidate rule `{severity, long, short, factor, for}` (`for` optional, default 0); BadInputError
    naming the field."""
    if not isinstance(entry, Mapping):
        raise BadInputError(f"{where}: expected a mapping with {', '.join(_RULE_KEYS)}, got {entry!r}")
    unknown = sorted(str(k) for k in entry if k not in _RULE_KEYS)
    if unknown:
        raise BadInputError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(_RULE_KEYS)})")
    missing = [k for k in _RULE_KEYS[:4] if k not in entry]
    if missing:
        raise BadInputError(f"{where}: missing field(s) {', '.join(missing)}")
    severity = entry["severity"]
    if not isinstance(severity, str) or not _SEVERITY.match(severity):
        raise BadInputError(f"{where}.severity: expected a name like page or ticket, got {severity!r}")
    long = _whole_minutes(entry["long"], f"{where}.long")
    short = _whole_minutes(entry["short"], f"{where}.short")
    if short > long:
        raise BadInputError(f"{where}.short: {entry['short']!r} is longer than long ({entry['long']!r})")
    factor = entry["factor"]
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not math.isfinite(factor) or factor <= 0:
        raise BadInputError(f"{where}.factor: expected a positive burn-rate factor like 14.4, got {factor!r}")
    for_ = _whole_minutes(entry.get("for", 0), f"{where}.for", allow_zero=True)
    return BurnRateRule(severity, window_text(long), window_text(short), float(factor), for_)


def parse_rule_sets(value: Any, *, field: str = "rule_sets") -> list[RuleSet]:
    """Candidate rule sets: a mapping name -> list of rules (see `parse_rule`); BadInputError naming the field."""
    if not isinstance(value, Mapping) or not value:
        raise BadInputError(f"{field}: expected a mapping of rule-set names to lists of rules, got {value!r}")
    sets = []
    for name, rules in value.items():
        where = f"{field}.{name}"
        if not isinstance(name, str) or not name.strip():
            raise BadInputError(f"{field}: {name!r} is not a rule-set name")
        if name in RESERVED_RULE_SETS:
            raise BadInputError(f"{where}: {name!r} is the name of the kit's own rule set; name the candidate "
                                "differently")
        if not isinstance(rules, Sequence) or isinstance(rules, str) or not rules:
            raise BadInputError(f"{where}: expected a non-empty list of rules, got {rules!r}")
        sets.append(RuleSet(name, tuple(parse_rule(rule, f"{where}[{i}]") for i, rule in enumerate(rules))))
    return sets


# --------------------------------------------------------------------------------------------- the minute grid
@dataclass(frozen=True)
class MinuteGrid:
    """An SLO's events on every minute of (origin, origin + n min]: index i is minute origin + (i + 1) min.
    `cum_*` are cumulative sums with a leading 0 (length n + 1): the sum over minutes [i, j) is cum[j] - cum[i]."""

    origin: pd.Timestamp
    bad: np.ndarray
    total: np.ndarray
    sampled: np.ndarray  # bool: the minute has a sample
    cum_bad: np.ndarray
    cum_total: np.ndarray
    cum_sampled: np.ndarray

    def __len__(self) -> int:
        return len(self.total)

    def index(self, ts: pd.Timestamp) -> int:
        """The index of minute `ts` (may lie outside the grid)."""
        return int((pd.Timestamp(ts).value - self.origin.value) // _MINUTE_NS) - 1

    def index_from(self, ts: pd.Timestamp) -> int:
        """The index of the first minute at or after `ts`."""
        return -int(-(pd.Timestamp(ts).value - self.origin.value) // _MINUTE_NS) - 1

    def times(self, indices: np.ndarray) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(pd.to_datetime(self.origin.value + (np.asarray(indices, dtype=np.int64) + 1)
                                               * _MINUTE_NS, utc=True))

    def time(self, i: int) -> pd.Timestamp:
        return self.origin + (int(i) + 1) * MINUTE


def _nanoseconds(times: pd.Series) -> np.ndarray:
    """UTC times as int64 nanoseconds since the epoch."""
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        times = pd.to_datetime(times, utc=True)
    return pd.DatetimeIndex(times).as_unit("ns").asi8


def minute_grid(events: pd.DataFrame, origin: pd.Timestamp, end: pd.Timestamp) -> MinuteGrid:
    """The events of (origin, end] on the minute grid (rows of one minute summed; NaN = no sample = no events)."""
    origin, end = pd.Timestamp(origin).floor("min"), pd.Timestamp(end).floor("min")
    n = max(int((end - origin) / MINUTE), 0)
    stamps = _nanoseconds(events["timestamp"])
    position = (stamps - origin.value) // _MINUTE_NS - 1
    inside = (position >= 0) & (position < n) & ((stamps - origin.value) % _MINUTE_NS == 0)
    position = position[inside]
    good = events["good"].to_numpy(dtype=float)[inside]
    total = events["total"].to_numpy(dtype=float)[inside]
    sampled = ~np.isnan(total)
    total_sum = np.bincount(position, np.where(sampled, total, 0.0), minlength=n)
    bad_sum = total_sum - np.bincount(position, np.where(sampled, np.nan_to_num(good), 0.0), minlength=n)
    has = np.bincount(position, sampled.astype(float), minlength=n) > 0

    def cumulative(values: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(values, dtype=float)])

    return MinuteGrid(origin, bad_sum, total_sum, has, cumulative(bad_sum), cumulative(total_sum),
                      cumulative(has.astype(float)))


def _window_sums(cum: np.ndarray, first: int, last: int, steps: int) -> np.ndarray:
    """Sums over the `steps` minutes ending at each index first..last-1 (cum has a leading 0)."""
    return cum[first + 1:last + 1] - cum[first + 1 - steps:last + 1 - steps]


def _burn_rates(grid: MinuteGrid, first: int, last: int, steps: int, objective: float) -> np.ndarray:
    """Burn rate over `steps` minutes ending at each index first..last-1 (NaN without events), as slo.burn_rate."""
    bad = _window_sums(grid.cum_bad, first, last, steps)
    total = _window_sums(grid.cum_total, first, last, steps)
    rate = np.full(len(total), np.nan)
    np.divide(bad, total, out=rate, where=total > 0)
    rate /= 1.0 - objective
    return rate


# --------------------------------------------------------------------------------------------- alerts
class BurnRates:
    """Burn rates of one SLO by window length, each computed once, at the grid indices lo..last-1 (shared by the
    rule sets of a review)."""

    def __init__(self, grid: MinuteGrid, objective: float, lo: int, last: int) -> None:
        self.grid, self.objective, self.lo, self.last = grid, objective, lo, last
        self._rates: dict[int, np.ndarray] = {}

    def over(self, minutes: int) -> np.ndarray:
        if minutes not in self._rates:
            self._rates[minutes] = _burn_rates(self.grid, self.lo, self.last, minutes, self.objective)
        return self._rates[minutes]


def firing(grid: MinuteGrid, objective: float, rule_set: RuleSet, first: int, last: int,
           known_from: pd.Timestamp | None = None, rates: BurnRates | None = None) -> dict[str, np.ndarray]:
    """severity -> bool array over the grid indices first..last-1: whether it fires at that minute. The grid must
    hold `rule_set.lookback` before `first`; `rates` (starting at least the longest `for` before `first`) shares
    the burn rates between rule sets."""
    reach = max((r.for_minutes for r in rule_set.rules), default=0)
    rates = rates if rates is not None else BurnRates(grid, objective, first - reach, last)
    if rates.lo > first - reach:
        raise ValueError("firing: the burn rates start after the first evaluation `for` looks back at")
    lo = rates.lo
    masks = {severity: np.zeros(last - first, dtype=bool) for severity in rule_set.severities}
    for rule in rule_set.rules:
        with np.errstate(invalid="ignore"):
            condition = (rates.over(rule.long_minutes) >= rule.burn_rate) & (
                rates.over(rule.short_minutes) >= rule.burn_rate)
        if known_from is not None:
            evaluated_from = grid.index_from(pd.Timestamp(known_from) + window_length(rule.long_window))
            condition &= np.arange(lo, last) >= evaluated_from
        held = condition if rule.for_minutes == 0 else held_for(condition, rule.for_minutes)
        masks[rule.severity] |= held[first - lo:]
    return masks


def held_for(condition: np.ndarray, minutes: int) -> np.ndarray:
    """True where `condition` held at this index and the `minutes` before it."""
    index = np.arange(len(condition))
    last_false = np.maximum.accumulate(np.where(condition, -1, index))
    return (index - last_false) > minutes


ALERT_PERIOD_COLUMNS = ["rule_set", "severity", "start", "end", "ongoing", "first", "after"]


def alert_periods(masks: Mapping[str, np.ndarray], grid: MinuteGrid, first: int, rule_set: str) -> pd.DataFrame:
    """The alert periods of each severity's firing mask (indices first..): `rule_set`, `severity`, `start`, `end`,
    `ongoing`, and `first`, `after` (grid indices of the first firing minute and of the minute after the last)."""
    frames = []
    for severity, mask in masks.items():
        starts, afters = true_runs(mask)
        ongoing = afters >= len(mask)
        ends = np.where(ongoing, len(mask) - 1, afters)
        frames.append(pd.DataFrame({
            "rule_set": rule_set, "severity": severity, "start": grid.times(starts + first),
            "end": grid.times(ends + first), "ongoing": ongoing, "first": starts + first, "after": afters + first}))
    if not frames:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in ALERT_PERIOD_COLUMNS})
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------- episodes
def overspend_units(grid: MinuteGrid, objective: float, first: int, last: int,
                    burn_threshold: float = BURN_THRESHOLD) -> np.ndarray:
    """Each minute's overspend, bad - burn_threshold x (1 - objective) x total, in 1/OVERSPEND_UNITS events."""
    overspend = grid.bad[first:last] - burn_threshold * (1.0 - objective) * grid.total[first:last]
    return np.rint(overspend * OVERSPEND_UNITS).astype(np.int64)


def episode_candidates(units: np.ndarray, join_gap_minutes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The episodes of an overspend series (see the rules), in order: arrays of their first and peak indices and
    whether each is still open at the end. Vectorised: the stretches in which the overspend since the last time
    it fell to zero is positive (S_t = max(0, S_t-1 + x_t)) bound the episodes; one no longer than `join_gap` is
    one episode ending at its first maximum; a longer one is scanned minute by minute (a pause may split it)."""
    n = len(units)
    none = np.zeros(0, dtype=np.int64)
    if n == 0:
        return none, none, np.zeros(0, dtype=bool)
    running = np.cumsum(units)
    stretch = running - np.minimum(np.minimum.accumulate(running), 0)
    firsts, afters = true_runs(stretch > 0)
    long = (afters - firsts) > join_gap_minutes
    parts = [(firsts[~long], _first_maxima(stretch, firsts[~long], afters[~long]), afters[~long] == n)]
    for a, b in zip(firsts[long].tolist(), afters[long].tolist(), strict=True):
        scanned = _scan(units[a:b].tolist(), join_gap_minutes)
        parts.append((np.array([a + f for f, _, _ in scanned], dtype=np.int64),
                      np.array([a + p for _, p, _ in scanned], dtype=np.int64),
                      np.array([still and b == n for _, _, still in scanned], dtype=bool)))
    starts, peaks, still = (np.concatenate(column) for column in zip(*parts, strict=True))
    order = np.argsort(starts, kind="stable")
    return starts[order].astype(np.int64), peaks[order].astype(np.int64), still[order].astype(bool)


def _first_maxima(values: np.ndarray, firsts: np.ndarray, afters: np.ndarray) -> np.ndarray:
    """The index of the first maximum of values[a:b] for each (a, b)."""
    if not len(firsts):
        return np.zeros(0, dtype=np.int64)
    lengths = afters - firsts
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    segment = np.repeat(np.arange(len(firsts)), lengths)
    position = firsts[segment] + (np.arange(lengths.sum()) - offsets[segment])
    picked = values[position]
    top = np.maximum.reduceat(picked, offsets)
    hits = np.flatnonzero(picked == top[segment])
    _, first_hit = np.unique(segment[hits], return_index=True)
    return position[hits[first_hit]]


def _scan(units: list[int], join_gap_minutes: int) -> list[tuple[int, int, bool]]:
    """The episode rule minute by minute over one stretch: (first, peak, still open) triples."""
    found: list[tuple[int, int, bool]] = []
    active, start, spent, top, peak = False, 0, 0, 0, 0
    for t, value in enumerate(units):
        if not active:
            if value > 0:
                active, start, spent, top, peak = True, t, value, value, t
            continue
        spent += value
        if spent > top:
            top, peak = spent, t
        elif spent <= 0 or t - peak >= join_gap_minutes:
            found.append((start, peak, False))
            active = False
    if active:
        found.append((start, peak, True))
    return found


def _budgets(grid: MinuteGrid, objective: float, ends: np.ndarray) -> np.ndarray:
    """The 30-day budget (allowed bad events) at each end index; traffic scaled to 30 days from the minutes with a
    sample; NaN without any."""
    steps = int(BUDGET_WINDOW / MINUTE)
    ends = np.asarray(ends, dtype=np.int64)
    lows = np.maximum(ends + 1 - steps, 0)
    total = grid.cum_total[ends + 1] - grid.cum_total[lows]
    sampled = grid.cum_sampled[ends + 1] - grid.cum_sampled[lows]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sampled > 0, (1.0 - objective) * total * steps / np.where(sampled > 0, sampled, 1), np.nan)


EPISODE_COLUMNS = ["start", "end", "minutes", "bad_events", "budget", "budget_consumed", "ongoing", "first", "peak"]


def episodes(grid: MinuteGrid, objective: float, first: int, last: int, *, join_gap: pd.Timedelta = JOIN_GAP,
             min_budget_share: float = MIN_BUDGET_SHARE, burn_threshold: float = BURN_THRESHOLD) -> pd.DataFrame:
    """The budget-significant episodes among the grid's minutes first..last-1 (see the rules): `start`, `end`,
    `minutes`, `bad_events`, `budget` (the 30-day budget at its end, events), `budget_consumed`, `ongoing`, and
    `first`, `peak` (grid indices of its first and last minute)."""
    starts, peaks, still = episode_candidates(overspend_units(grid, objective, first, last, burn_threshold),
                                                 int(join_gap / MINUTE))
    starts, peaks = starts + first, peaks + first
    bad = grid.cum_bad[peaks + 1] - grid.cum_bad[starts]
    budget = _budgets(grid, objective, peaks)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(budget > 0, bad / np.where(budget > 0, budget, 1), np.nan)
    keep = share >= min_budget_share
    return pd.DataFrame({
        "start": grid.times(starts[keep] - 1), "end": grid.times(peaks[keep]),
        "minutes": (peaks - starts + 1)[keep], "bad_events": bad[keep], "budget": budget[keep],
        "budget_consumed": share[keep], "ongoing": still[keep],
        "first": starts[keep], "peak": peaks[keep]}, columns=EPISODE_COLUMNS)


# --------------------------------------------------------------------------------------------- scores
DETECTION_COLUMNS = ["rule_set", "severity", "episode_start", "episode_end", "detected_at", "detection_seconds",
                     "budget_before_detection", "reset_seconds"]
SCORE_COLUMNS = ["rule_set", "severity", "alerts", "pages_per_month", "precision", "recall",
                 "detection_median_seconds", "detection_max_seconds", "reset_median_seconds",
                 "budget_before_detection", "episodes", "detected", "matching_alerts"]


def detections(alerts: pd.DataFrame, found: pd.DataFrame, grid: MinuteGrid, rule_set: str,
               severity: str) -> pd.DataFrame:
    """One row per episode for one rule set and severity: when it was detected (None if missed), how long that
    took, the budget spent before, and the reset (see the rules)."""
    firsts, afters = alerts["first"].to_numpy(np.int64), alerts["after"].to_numpy(np.int64)
    ongoing = alerts["ongoing"].to_numpy(bool)
    rows = []
    for episode in found.itertuples():
        overlapping = np.flatnonzero((firsts <= episode.peak) & (afters > episode.first))
        row: dict[str, Any] = {"rule_set": rule_set, "severity": severity, "episode_start": episode.start,
                               "episode_end": episode.end, "detected_at": None, "detection_seconds": None,
                               "budget_before_detection": None, "reset_seconds": None}
        if len(overlapping):
            detected = max(int(firsts[overlapping[0]]), int(episode.first))
            last = overlapping[-1]
            spent = grid.cum_bad[detected + 1] - grid.cum_bad[episode.first]
            row.update(detected_at=grid.time(detected),
                       detection_seconds=float((detected - episode.first + 1) * 60),
                       budget_before_detection=float(spent / episode.budget),
                       reset_seconds=None if ongoing[last] else float((afters[last] - episode.peak) * 60))
        rows.append(row)
    return pd.DataFrame(rows, columns=DETECTION_COLUMNS)


def _median(values: Iterable[Any]) -> float | None:
    known = [float(v) for v in values if v is not None and not pd.isna(v)]
    return float(np.median(known)) if known else None


def score(alerts: pd.DataFrame, found: pd.DataFrame, detected: pd.DataFrame, *, rule_set: str, severity: str,
          period_minutes: int) -> dict[str, Any]:
    """The backtest row of one rule set and severity (see the rules; None where there is no denominator)."""
    firsts, afters = alerts["first"].to_numpy(np.int64), alerts["after"].to_numpy(np.int64)
    ep_first, ep_peak = found["first"].to_numpy(np.int64), found["peak"].to_numpy(np.int64)
    matching = int(sum(bool(np.any((ep_first <= p) & (ep_peak >= f))) for f, p in zip(firsts, afters - 1,
                                                                                        strict=True)))
    hits = detected[detected["detected_at"].notna()]
    seconds = [float(v) for v in hits["detection_seconds"]]
    return {
        "rule_set": rule_set, "severity": severity, "alerts": len(alerts),
        "pages_per_month": len(alerts) * _MONTH_MINUTES / period_minutes if period_minutes > 0 else None,
        "precision": matching / len(alerts) if len(alerts) else None,
        "recall": len(hits) / len(found) if len(found) else None,
        "detection_median_seconds": _median(seconds), "detection_max_seconds": max(seconds) if seconds else None,
        "reset_median_seconds": _median(hits["reset_seconds"]),
        "budget_before_detection": _median(hits["budget_before_detection"]),
        "episodes": len(found), "detected": len(hits), "matching_alerts": matching,
    }


# --------------------------------------------------------------------------------------------- what-if
WHAT_IF_COLUMNS = ["objective", "window", "months", "breached_months", "quarters", "breached_quarters",
                   "worst_sli", "worst_error_budget_remaining"]
WHAT_IF_PERIOD_COLUMNS = ["objective", "window", "month", "to_date", "window_start", "window_end", "good_events",
                          "total_events", "sli", "error_budget_remaining", "breached", "coverage"]


def parse_window_name(value: Any, *, field: str = "windows") -> str:
    """A what-if window: `1M`, `1Q` or a rolling duration of whole minutes (`28d`, `30d`, `4w`)."""
    if value in ("1M", "1Q"):
        return str(value)
    return window_text(_whole_minutes(value, field))


def parse_objectives(value: Any, *, field: str = "objectives") -> list[float]:
    """What-if targets: a list of ratios in (0, 1) (`0.9995`) or percentages (`99.95%`)."""
    items = value if isinstance(value, list | tuple) else [value]
    targets = []
    for i, item in enumerate(items):
        where = f"{field}[{i}]"
        number: Any = item
        if isinstance(item, str):
            text = item.strip()
            try:
                number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
            except ValueError:
                raise BadInputError(f"{where}: {item!r} is not an objective (use 0.9995 or '99.95%')") from None
        if isinstance(number, bool) or not isinstance(number, int | float) or not 0 < number < 1:
            raise BadInputError(f"{where}: {item!r} is not an objective between 0 and 1 (use 0.9995 or '99.95%')")
        targets.append(float(number))
    return targets


def evaluation_points(start: pd.Timestamp, end: pd.Timestamp) -> list[pd.Timestamp]:
    """The ends of the calendar months (UTC) in (start, end], and `end` itself when it falls inside a month."""
    points = list(pd.date_range(pd.Timestamp(start).floor("D"), end, freq="MS", inclusive="right"))
    points = [p for p in points if p > start]
    if not points or points[-1] != end:
        points.append(pd.Timestamp(end))
    return points


def _window_start(window: str, point: pd.Timestamp) -> pd.Timestamp:
    if window in ("1M", "1Q"):
        period = (point - MINUTE).tz_convert("UTC").tz_localize(None).to_period(window[1])
        return period.start_time.tz_localize("UTC")
    return point - window_length(window)


def what_if_periods(grid: MinuteGrid, objectives: Sequence[float], windows: Sequence[str], start: pd.Timestamp,
                    end: pd.Timestamp) -> pd.DataFrame:
    """Every objective x window x evaluation point in (start, end] (see the rules): `month` (the point's month),
    `to_date`, `window_start`, `window_end`, events, `sli`, `error_budget_remaining`, `breached`, `coverage`. The
    grid should reach back to `events_needed_from` (a window before it counts only the minutes it holds)."""
    rows = []
    for window in windows:
        for point in evaluation_points(pd.Timestamp(start), pd.Timestamp(end)):
            low = _window_start(window, point)
            a, b = (min(max(grid.index(t) + 1, 0), len(grid)) for t in (low, point))
            seen = int(grid.cum_sampled[b] - grid.cum_sampled[a])
            good = float((grid.cum_total[b] - grid.cum_total[a]) - (grid.cum_bad[b] - grid.cum_bad[a]))
            count = float(grid.cum_total[b] - grid.cum_total[a])
            value = sli(good, count) if seen else math.nan
            month_end = ((point - MINUTE).tz_localize(None).to_period("M") + 1).start_time.tz_localize("UTC")
            for objective in objectives:
                rows.append({"objective": float(objective), "window": window, "month": f"{(point - MINUTE):%Y-%m}",
                             "to_date": bool(point < month_end), "window_start": low, "window_end": point,
                             "good_events": good if seen else math.nan, "total_events": count if seen else math.nan,
                             "sli": value, "error_budget_remaining": error_budget_remaining(value, objective),
                             "breached": None if math.isnan(value) else bool(value < objective),
                             "coverage": seen / max(int((point - low) / MINUTE), 1)})
    return pd.DataFrame(rows, columns=WHAT_IF_PERIOD_COLUMNS)


def what_if_summary(periods: pd.DataFrame) -> pd.DataFrame:
    """Per objective and window: `months` counted, `breached_months`; for `1Q`, `quarters` and
    `breached_quarters` (points that end a quarter); the worst SLI and budget left."""
    rows = []
    for (objective, window), group in periods.groupby(["objective", "window"], sort=False):
        counted = group[group["sli"].notna()]
        breached = counted["breached"].astype(bool)
        row = {"objective": float(objective), "window": window, "months": len(counted),
               "breached_months": int(breached.sum()), "quarters": None, "breached_quarters": None,
               "worst_sli": float(counted["sli"].min()) if len(counted) else None,
               "worst_error_budget_remaining": float(counted["error_budget_remaining"].min()) if len(counted)
               else None}
        if window == "1Q":
            points = pd.DatetimeIndex(counted["window_end"])
            ends = counted[points == points.tz_localize(None).to_period("Q").start_time.tz_localize("UTC")]
            row.update(quarters=len(ends), breached_quarters=int(ends["breached"].astype(bool).sum()))
        rows.append(row)
    return pd.DataFrame(rows, columns=WHAT_IF_COLUMNS)


# --------------------------------------------------------------------------------------------- one SLO
def events_needed_from(start: pd.Timestamp, rule_sets: Iterable[RuleSet] = (DEFAULT_RULE_SET,),
                       windows: Iterable[str] = WHAT_IF_WINDOWS) -> pd.Timestamp:
    """How far back an SLO's events should reach for a review of a period starting at `start`."""
    start = pd.Timestamp(start).floor("min")
    reach = max([BUDGET_WINDOW, *(r.lookback for r in rule_sets)])
    earliest = start - reach
    first_point = evaluation_points(start, start + pd.Timedelta(days=93))[0]
    for window in windows:
        earliest = min(earliest, _window_start(window, first_point))
    return earliest.floor("min")


@dataclass
class SLOReview:
    """The review of one SLO over (start, end]."""

    slo: str
    objective: float
    start: pd.Timestamp
    end: pd.Timestamp
    episodes: pd.DataFrame  # EPISODE_COLUMNS
    alerts: pd.DataFrame  # ALERT_PERIOD_COLUMNS + matching
    detections: pd.DataFrame  # DETECTION_COLUMNS
    backtest: pd.DataFrame  # SCORE_COLUMNS
    what_if: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=WHAT_IF_COLUMNS))
    what_if_periods: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=WHAT_IF_PERIOD_COLUMNS))

    def summary(self) -> dict[str, list[dict[str, Any]]]:
        """summary.json's `episodes`, `backtest` and `what_if` entries of this SLO (None for unknown, RFC3339)."""
        return {
            "episodes": [{"slo": self.slo, "start": to_rfc3339(row.start), "end": to_rfc3339(row.end),
                          "budget_consumed": _number(row.budget_consumed)} for row in self.episodes.itertuples()],
            "backtest": [{"slo": self.slo, **{k: _plain(row[k]) for k in SCORE_COLUMNS[:10]}}
                         for row in self.backtest.to_dict("records")],
            "what_if": [{"slo": self.slo, "objective": float(row["objective"]), "window": row["window"],
                         "months": int(row["months"]), "breached_months": int(row["breached_months"])}
                        for row in self.what_if.to_dict("records")],
        }


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _plain(value: Any) -> Any:
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value)
    return _number(value)


def review_slo(events: pd.DataFrame, *, slo: str, objective: float, start: pd.Timestamp, end: pd.Timestamp,
               rule_sets: Sequence[RuleSet] = (DEFAULT_RULE_SET,), objectives: Sequence[float] = (),
               windows: Sequence[str] = WHAT_IF_WINDOWS, known_from: pd.Timestamp | None = None,
               join_gap: pd.Timedelta = JOIN_GAP, min_budget_share: float = MIN_BUDGET_SHARE,
               burn_threshold: float = BURN_THRESHOLD) -> SLOReview:
    """Episodes, the backtest of every rule set and the what-if of one SLO over (start, end], from its per-minute
    events (read once; see the module's rules). `objectives`: the what-if targets (none: no what-if)."""
    start, end = pd.Timestamp(start).floor("min"), pd.Timestamp(end).floor("min")
    origin = events_needed_from(start, rule_sets, windows if objectives else ())
    grid = minute_grid(events, origin, end)
    first, last = grid.index(start + MINUTE), len(grid)
    found = episodes(grid, objective, first, last, join_gap=join_gap, min_budget_share=min_budget_share,
                     burn_threshold=burn_threshold)
    rates = BurnRates(grid, objective, first - max([0, *(r.for_minutes for rs in rule_sets for r in rs.rules)]), last)
    alert_frames, detection_frames, rows = [], [], []
    for rule_set in rule_sets:
        periods = alert_periods(firing(grid, objective, rule_set, first, last, known_from, rates), grid, first,
                                rule_set.name)
        for severity in rule_set.severities:
            alerts = periods[periods["severity"] == severity]
            detected = detections(alerts, found, grid, rule_set.name, severity)
            rows.append(score(alerts, found, detected, rule_set=rule_set.name, severity=severity,
                              period_minutes=last - first))
            detection_frames.append(detected)
        alert_frames.append(periods)
    alerts = pd.concat(alert_frames, ignore_index=True) if alert_frames else alert_periods({}, grid, first, "")
    alerts["matching"] = [bool(np.any((found["first"].to_numpy() <= a - 1) & (found["peak"].to_numpy() >= f)))
                          for f, a in zip(alerts["first"], alerts["after"], strict=True)]
    detected = (pd.concat(detection_frames, ignore_index=True) if detection_frames
                else pd.DataFrame(columns=DETECTION_COLUMNS))
    review = SLOReview(slo, float(objective), start, end, found.assign(slo=slo), alerts.assign(slo=slo),
                       detected.assign(slo=slo), pd.DataFrame(rows, columns=SCORE_COLUMNS).assign(slo=slo))
    if objectives:
        review.what_if_periods = what_if_periods(grid, objectives, windows, start, end).assign(slo=slo)
        review.what_if = what_if_summary(review.what_if_periods).assign(slo=slo)
    return review
