"""The Prometheus view of a rule set beside the exact backtest: the alert expressions `goreliable rules` exports,
evaluated by the server as range queries at a one-minute step, and the minutes where they disagree with
`analysis.backtest.firing` on the exact events, with the reason where it can be told.

Rules:
- `exact_firing` is the exact backtest's firing on the same minutes (`analysis.backtest.firing`).
- `prometheus_firing` sends each rule's alert expression with its recorded ratios written out
  (`events.rules.inline_alert_expression`: the server need not run the recording rules) over (start, end] at a
  1-minute step on the minute grid; the condition holds at minute t when the answer has a point at t (any group of
  a grouped SLO). `for` is applied as the backtest applies it (held at every evaluation of [t - for, t]; the
  evaluations before `start` are asked for too). A severity fires at t when any of its rules fires.
- `disagreements` lists the minutes at which exactly one of the two views fires, per severity, with a `reason`:
  `gap` when a window of the rule set ending at that minute (its longest) holds minutes of a scrape gap (rate()
  sees no sample there, the exact events count none); `reset` when it holds a counter reset (rate() corrects it
  from the samples it has, the exact events from the reset's own minute); `new_series` when a series is born in
  it (the engine counts a new series from 0; rate() needs two samples of it, and VictoriaMetrics averages it
  over its own samples rather than the window); `edge` when the exact view changes
  within `EDGE_MINUTES` of it (an alert starting or ending a minute apart: rate() extrapolates its window's first
  and last samples to the window's edges, the exact sum does not); None when none of these applies.
- `agreement` counts, per severity, the minutes compared, those each view fires and the disagreeing ones by reason
  (`UNEXPLAINED` for those without one).
- A range query that fails raises `SourceError` naming the query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from goreliable_lib.analysis.backtest import AT_ONCE, RuleSet, firing, held_for, minute_grid
from goreliable_lib.analysis.slo import window_length
from goreliable_lib.errors import SourceError
from goreliable_lib.events.rules import inline_alert_expression
from goreliable_lib.inputs.catalog import SLOObjective
from goreliable_lib.sources.base import PrometheusAPI
from goreliable_lib.timeutil import MINUTE

#: A disagreement this close (minutes) to a change of the exact view is put down to rate()'s window edges.
EDGE_MINUTES = 2
STEP = MINUTE
DISAGREEMENT_COLUMNS = ["severity", "minute", "exact", "prometheus", "reason"]
#: The reasons `disagreements` names, and the key counting the minutes it explains by none.
REASONS = ("edge", "new_series", "reset", "gap")
UNEXPLAINED = "unexplained"
AGREEMENT_COLUMNS = ["severity", "minutes_compared", "minutes_exact", "minutes_prometheus", "disagreements"]


def minutes_of(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """The minutes of (start, end] (both floored to the minute)."""
    start, end = pd.Timestamp(start).floor("min"), pd.Timestamp(end).floor("min")
    return pd.date_range(start + MINUTE, end, freq="min")


def exact_firing(events: pd.DataFrame, objective: float, rule_set: RuleSet, start: pd.Timestamp,
                 end: pd.Timestamp, known_from: pd.Timestamp | None = None) -> dict[str, pd.Series]:
    """severity -> bool Series over the minutes of (start, end]: the exact backtest's firing
    (`analysis.backtest.firing`) on per-minute events reaching the longest window and the longest `for` before
    `start`."""
    minutes = minutes_of(start, end)
    start = minutes[0] - MINUTE if len(minutes) else pd.Timestamp(start).floor("min")
    # the burn rates start the longest `for` before `start`, each over up to the longest window before that
    reach = max((window_length(r.long_window) for r in rule_set.rules), default=pd.Timedelta(0)) + max(
        (r.for_ for r in rule_set.rules), default=pd.Timedelta(0))
    grid = minute_grid(events, start - reach, start + len(minutes) * MINUTE)
    first = grid.index(start + MINUTE)
    masks = firing(grid, objective, rule_set, first, len(grid), known_from)
    return {severity: pd.Series(mask, index=minutes) for severity, mask in masks.items()}


def condition_minutes(source: PrometheusAPI, promql: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """The minutes of (start, end] at which the expression has a value (any series); SourceError naming the query
    when the server does not answer it."""
    try:
        answer = source.query_range(promql, start + MINUTE, end, STEP)
    except SourceError as exc:
        raise SourceError(f"range query {promql} over {start + MINUTE:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M} UTC "
                          f"failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    if answer.empty:
        return pd.DatetimeIndex([], tz="UTC")
    return pd.DatetimeIndex(pd.to_datetime(answer["timestamp"], utc=True)).unique().sort_values()


def prometheus_firing(source: PrometheusAPI, objective: SLOObjective, rule_set: RuleSet, start: pd.Timestamp,
                      end: pd.Timestamp) -> dict[str, pd.Series]:
    """severity -> bool Series over the minutes of (start, end]: whether Prometheus' evaluation fires there."""
    minutes = minutes_of(start, end)
    masks = {severity: pd.Series(False, index=minutes) for severity in rule_set.severities}
    for rule in rule_set.rules:
        reach = rule.for_minutes
        asked = minutes_of(minutes[0] - MINUTE - reach * MINUTE, minutes[-1]) if len(minutes) else minutes
        if not len(asked):
            continue
        held = asked.isin(condition_minutes(source, inline_alert_expression(objective, rule),
                                            asked[0] - MINUTE, asked[-1]))
        fires = held if reach == 0 else held_for(held, reach)
        masks[rule.severity] |= pd.Series(fires[reach:], index=minutes)
    return masks


def _near(minutes: pd.DatetimeIndex, marks: pd.DatetimeIndex, before: pd.Timedelta,
          after: pd.Timedelta = AT_ONCE) -> np.ndarray:
    """Whether each minute has a mark in [minute - before, minute + after]."""
    if not len(marks) or not len(minutes):
        return np.zeros(len(minutes), dtype=bool)
    marks = marks.sort_values().as_unit("ns").asi8
    low = np.searchsorted(marks, (minutes - before).as_unit("ns").asi8, side="left")
    high = np.searchsorted(marks, (minutes + after).as_unit("ns").asi8, side="right")
    return high > low


def gap_minutes(gaps: pd.DataFrame) -> pd.DatetimeIndex:
    """Every minute of scrape gaps given as rows `start`, `end` (both included)."""
    spans = [pd.date_range(row.start, row.end, freq="min") for row in gaps.itertuples()]
    return spans[0].append(spans[1:]) if spans else pd.DatetimeIndex([], tz="UTC")


def disagreements(exact: Mapping[str, pd.Series], prometheus: Mapping[str, pd.Series], rule_set: RuleSet, *,
                  resets: Sequence[pd.Timestamp] = (), gaps: pd.DataFrame | None = None,
                  births: Sequence[pd.Timestamp] = ()) -> pd.DataFrame:
    """The minutes at which the exact and the Prometheus view disagree, per severity, with their reason (see the
    rules; where several apply, the last of `REASONS`). `exact` and `prometheus` are bool Series over the same
    minutes; `resets` the counter resets' times, `gaps` the scrape gaps (`start`, `end`, as `SLOEvents.gaps`),
    `births` the times new series were first seen (`SLOEvents.new_series`)."""
    longest = max((window_length(r.long_window) for r in rule_set.rules), default=pd.Timedelta(0))
    reset_marks = pd.DatetimeIndex(pd.to_datetime(list(resets), utc=True))
    birth_marks = pd.DatetimeIndex(pd.to_datetime(list(births), utc=True))
    gap_marks = gap_minutes(gaps if gaps is not None else pd.DataFrame(columns=["start", "end"]))
    frames = []
    for severity, exact_mask in exact.items():
        seen = prometheus[severity].reindex(exact_mask.index, fill_value=False)
        differ = exact_mask.to_numpy(bool) != seen.to_numpy(bool)
        minutes = exact_mask.index[differ]
        changes = exact_mask.index[np.flatnonzero(np.diff(exact_mask.to_numpy(bool).astype(np.int8))) + 1]
        reason = np.full(len(minutes), None, dtype=object)
        edge = _near(minutes, changes, EDGE_MINUTES * MINUTE, EDGE_MINUTES * MINUTE)
        reason[edge] = "edge"
        reason[_near(minutes, birth_marks, longest)] = "new_series"
        reason[_near(minutes, reset_marks, longest)] = "reset"
        reason[_near(minutes, gap_marks, longest)] = "gap"
        frames.append(pd.DataFrame({"severity": severity, "minute": minutes, "exact": exact_mask.to_numpy(bool)[differ],
                                    "prometheus": seen.to_numpy(bool)[differ],
                                    "reason": pd.Series(reason, dtype=object)}))
    if not frames:
        return pd.DataFrame(columns=DISAGREEMENT_COLUMNS)
    return pd.concat(frames, ignore_index=True)[DISAGREEMENT_COLUMNS]


def agreement(exact: Mapping[str, pd.Series], prometheus: Mapping[str, pd.Series],
              differ: pd.DataFrame) -> pd.DataFrame:
    """Per severity: the minutes compared, the minutes each view fires, and the disagreeing minutes by reason
    ({reason: minutes} over `REASONS` and `UNEXPLAINED`, every key present)."""
    rows = []
    for severity, exact_mask in exact.items():
        seen = prometheus[severity].reindex(exact_mask.index, fill_value=False)
        mine = differ[differ["severity"] == severity]
        reasons = mine["reason"].fillna(UNEXPLAINED)
        rows.append({"severity": severity, "minutes_compared": len(exact_mask),
                     "minutes_exact": int(exact_mask.to_numpy(bool).sum()),
                     "minutes_prometheus": int(seen.to_numpy(bool).sum()),
                     "disagreements": {reason: int((reasons == reason).sum()) for reason in (*REASONS, UNEXPLAINED)}})
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)
