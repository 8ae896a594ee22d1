"""Compliance history: an SLO's calendar months from its per-minute events (the archive's days and the run's own).

Rules (summary.json `history`):
- the months are the `months` calendar months (UTC) ending with the month that holds `end`'s last minute; the
  last one is counted to `end` only (`to_date`);
- a month's figures are over its minutes that have data: `good_events`, `total_events`, `sli` = good / total,
  `error_budget_remaining` at the month's end = 1 - (1 - sli) / (1 - objective), `breached` = sli < objective;
- `coverage` = minutes with a sample / minutes of the month (to `end` for the last one): a month the kit cannot
  see (no minute with data: before the archive and the server reach) is `unknown`, its figures null, never met;
  a month with samples but no event is `no_data`;
  a month seen in part keeps its figures over what was seen, and its coverage says how much that is;
- `corrected_minutes` = the month's minutes a correction window left out (`analysis.correction_windows`: the events
  given are already corrected; `corrected` marks those rows), 0 without corrections: a corrected month is marked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from goreliable_lib.analysis.slo import error_budget_remaining, sli
from goreliable_lib.timeutil import MINUTE

HISTORY_MONTHS = 12


def month_starts(end: pd.Timestamp, months: int = HISTORY_MONTHS) -> list[pd.Timestamp]:
    """The first instants (UTC) of the `months` calendar months ending with the month of `end`'s last minute
    (so an `end` at midnight on the 1st ends with the month before), oldest first."""
    current = (end - MINUTE).tz_convert("UTC").tz_localize(None).to_period("M")
    return [(current - back).start_time.tz_localize("UTC") for back in range(months - 1, -1, -1)]


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def monthly_history(events: pd.DataFrame, objective: float, end: pd.Timestamp, months: int = HISTORY_MONTHS,
                    corrected: Sequence[bool] | None = None) -> list[dict[str, Any]]:
    """One entry per calendar month (see the module's rules) from per-minute `timestamp, good, total` events
    (NaN = no sample that minute; `corrected`: per row, whether a correction window left it out); minutes after
    `end` are not counted."""
    starts = month_starts(end, months)
    events = events.assign(timestamp=pd.to_datetime(events["timestamp"], utc=True),  # one unit, whatever the source
                           corrected=False if corrected is None else np.asarray(corrected, dtype=bool))
    frame = events[(events["timestamp"] > starts[0]) & (events["timestamp"] <= end)]
    frame = frame.drop_duplicates("timestamp", keep="last")
    label = (frame["timestamp"] - MINUTE).dt.tz_localize(None).dt.to_period("M")  # minute t: the events of (t-1m, t]
    seen = frame.assign(month=label, has_data=frame["total"].notna())
    grouped = seen.groupby("month")
    sums = pd.DataFrame({"good": grouped["good"].sum(min_count=1), "total": grouped["total"].sum(min_count=1),
                         "minutes": grouped["has_data"].sum(), "corrected": grouped["corrected"].sum()})
    entries = []
    for first in starts:
        period = first.tz_localize(None).to_period("M")
        month_end = min((period + 1).start_time.tz_localize("UTC"), end)
        minutes = max(int((month_end - first) / MINUTE), 1)
        row = sums.loc[period] if period in sums.index else None
        with_data = int(row["minutes"]) if row is not None else 0
        good = float(row["good"]) if row is not None and with_data else math.nan
        total = float(row["total"]) if row is not None and with_data else math.nan
        value = sli(good, total) if with_data else math.nan
        remaining = error_budget_remaining(value, objective) if with_data else math.nan
        entries.append({
            "month": f"{period}", "to_date": bool(month_end < (period + 1).start_time.tz_localize("UTC")),
            "sli": _number(value), "good_events": _number(good), "total_events": _number(total),
            "error_budget_remaining": _number(remaining),
            "breached": None if math.isnan(value) else bool(value < objective),
            "coverage": with_data / minutes, "status": _status(value, with_data, minutes, objective),
            "corrected_minutes": int(row["corrected"]) if row is not None else 0})
    return entries


def _status(value: float, with_data: int, minutes: int, objective: float) -> str:
    if not with_data:
        return "unknown"
    if math.isnan(value):
        return "no_data"  # samples, but no event: no traffic is not compliance
    verdict = "breached" if value < objective else "met"
    return verdict if with_data >= minutes else f"{verdict} (partial)"
