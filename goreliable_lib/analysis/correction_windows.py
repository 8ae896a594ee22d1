"""Correction windows applied to an SLO's per-minute events (pure): the minutes a correction covers, the events
without them, and what each correction removed (the documents and their validation: `inputs.corrections`).

Rules:
- **a minute is corrected when its start lies in a correction window**: the row stamped t holds the events of
  (t - 1m, t], its start is t - 1m, and a window [start, end) covers it when start <= t - 1m < end (a window
  02:00-04:00 covers the 120 rows stamped 02:01 to 04:00);
- a corrected minute is left out of good and total events alike: its events become 0 (a minute without a sample
  stays without), so the SLI, the error budget, the burn rates, the alerts and the compliance history are
  figures over the other minutes, while coverage is unchanged (a corrected minute had its data);
- a one-off correction is one window [start, end); a recurring one is a window [occurrence, occurrence +
  duration) per occurrence of its rule, the occurrences expanded in the wall-clock time of its zone
  (`inputs.corrections`);
- a minute covered by several corrections is counted once, for the first of them in the order they were read
  (the catalog's, then the corrections file's): the events the corrections removed add up to the raw events
  minus the corrected ones;
- a correction covering more than `LARGE_SHARE` (10%) of an SLO's window is a warning (the report's).

Corrections are applied to the frames a report computes its figures from, never to what is stored (the SLO event
archive keeps the raw minutes): adding or removing a correction changes the next report and no stored day.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from goreliable_lib.analysis.slo import on_minute_grid
from goreliable_lib.inputs.corrections import Correction
from goreliable_lib.timeutil import DAY, MINUTE, wall_clock, wall_to_utc

#: A correction covering more than this share of an SLO's window is a warning.
LARGE_SHARE = 0.10


def windows(correction: Correction, since: pd.Timestamp, until: pd.Timestamp) -> list[tuple[pd.Timestamp,
                                                                                           pd.Timestamp]]:
    """The correction's windows [start, end) (UTC) that overlap [since, until)."""
    if correction.rule is None or correction.duration is None or correction.time_zone is None:
        end = correction.end if correction.end is not None else correction.start
        return [(correction.start, end)] if correction.start < until and end > since else []
    zone, duration = correction.time_zone, correction.duration
    # a day's margin each side: a wall-clock time and its UTC time differ by the zone's offset (at most 14 h)
    first = (wall_clock(since - duration, zone) - DAY).to_pydatetime()
    last = (wall_clock(until, zone) + DAY).to_pydatetime()
    found = []
    for wall in correction.rule.between(first, last, inc=True):
        start = wall_to_utc(pd.Timestamp(wall), zone)
        if start < until and start + duration > since:
            found.append((start, start + duration))
    return found


def covered_by(timestamps: Any, corrections: Sequence[Correction]) -> np.ndarray:
    """Per minute stamp t (the minute (t - 1m, t]), the position in `corrections` of the first correction whose
    window holds the minute's start t - 1m; -1 where none does."""
    stamps = pd.DatetimeIndex(pd.to_datetime(timestamps, utc=True)).as_unit("ns")
    covered = np.full(len(stamps), -1, dtype=np.int64)
    if not len(stamps) or not corrections:
        return covered
    starts = (stamps - MINUTE).asi8
    order = np.argsort(starts, kind="stable")
    ordered = starts[order]
    since = pd.Timestamp(int(ordered[0]), tz="UTC")
    until = pd.Timestamp(int(ordered[-1]), tz="UTC") + MINUTE
    for position in range(len(corrections) - 1, -1, -1):  # the first correction is written last: it wins
        for start, end in windows(corrections[position], since, until):
            first, after = np.searchsorted(ordered, [start.value, end.value], side="left")
            covered[order[first:after]] = position
    return covered


@dataclass(frozen=True)
class Corrected:
    """An SLO's events with its corrections applied: `events` (corrected minutes hold 0 events) and, per row,
    the position of the correction that covers it (`covered`, -1 for none)."""

    events: pd.DataFrame
    covered: np.ndarray
    corrections: tuple[Correction, ...]

    @property
    def any(self) -> bool:
        """Whether some minute of the frame is corrected."""
        return bool((self.covered >= 0).any())


def apply_corrections(events: pd.DataFrame, corrections: Sequence[Correction]) -> Corrected:
    """The per-minute events (`timestamp`, `good`, `total`) with every minute a correction covers left out (0 events;
    NaN, a minute without a sample, stays NaN). The frame given is not changed."""
    covered = covered_by(events["timestamp"], corrections)
    hit = covered >= 0
    if not hit.any():
        return Corrected(events, covered, tuple(corrections))
    out = events.copy()
    for column in ("good", "total"):
        values = out[column].to_numpy(dtype=float)
        out[column] = np.where(hit, values * 0.0, values)  # NaN * 0 stays NaN
    return Corrected(out, covered, tuple(corrections))


def removed(events: pd.DataFrame, corrections: Sequence[Correction], start: pd.Timestamp,
            end: pd.Timestamp) -> list[dict[str, Any]]:
    """What each correction removed from the window (start, end] of the raw per-minute `events`, in the order of
    `corrections`, only those covering a minute of it: {`name`, `minutes` (of the window it covers, with data or
    not), `good_events`, `total_events` (the raw events of those minutes), `reason`, `author`}."""
    grid = on_minute_grid(events, start, end)
    covered = covered_by(grid.index, corrections)
    found = []
    for position, correction in enumerate(corrections):
        mine = covered == position
        if not mine.any():
            continue
        found.append({"name": correction.name, "minutes": int(mine.sum()),
                      "good_events": float(np.nansum(grid["good"].to_numpy()[mine])),
                      "total_events": float(np.nansum(grid["total"].to_numpy()[mine])),
                      "reason": correction.reason, "author": correction.author})
    return found


def share_of_window(minutes: int, start: pd.Timestamp, end: pd.Timestamp) -> float:
    """The share of the window (start, end]'s minutes that `minutes` is."""
    length = int((end - start) / MINUTE)
    return minutes / length if length > 0 else math.nan

