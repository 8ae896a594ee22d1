"""Where the server's data of an SLO's selectors starts (retention, a new server), asked of the series index and
checked on the data: the engine's baselines and the look-backs' floor depend on it. The series index answers a
superset (Prometheus per chunk, VictoriaMetrics per UTC day), so every answer is narrowed on the data itself."""

from __future__ import annotations

import pandas as pd

from goreliable_lib.events import promql
from goreliable_lib.events.questions import INDEX_WINDOW, MAX_HISTORY, Questions
from goreliable_lib.events.series import Family
from goreliable_lib.timeutil import MILLISECOND, MINUTE


def _listed(q: Questions, selectors: list[str], low: pd.Timestamp, high: pd.Timestamp) -> bool:
    """Does the series index list a series with data in [low, high]? (Asked in windows of at most
    INDEX_WINDOW; a superset: Prometheus answers per chunk, VictoriaMetrics per day.)"""
    top = high
    while top >= low:
        bottom = max(low, top - INDEX_WINDOW)
        if any(len(q.series(s, bottom, top)) for s in selectors):
            return True
        top = bottom - MILLISECOND
    return False

def _has_data(q: Questions, selectors: list[str], low: pd.Timestamp, high: pd.Timestamp) -> bool:
    """Is there a sample in (low, high]? (The data itself: exact.)"""
    return any(len(q.query(promql.sample_count(s, q.span(high - low)), high)) for s in selectors)

def _data_before(q: Questions, selectors: list[str], edge: pd.Timestamp) -> bool:
    """Is there a sample at or before `edge`? Asked of the index over the INDEX_WINDOW before it (a longer
    silence of the whole selector counts as its start) and checked on the data near `edge` when the index
    answers per day."""
    day = edge.floor("D")
    if not _listed(q, selectors, edge - INDEX_WINDOW, edge):
        return False
    if day > edge - INDEX_WINDOW and _listed(q, selectors, edge - INDEX_WINDOW, day - MILLISECOND):
        return True
    return _has_data(q, selectors, max(day, edge - INDEX_WINDOW) - MILLISECOND, edge)

def history_floor(q: Questions, selectors: list[str]) -> pd.Timestamp:
    """A time at or before the oldest sample of the selectors (the look-backs stop there): the data start
    when known, else the start of the oldest INDEX_WINDOW with data before the range."""
    if q.data_start is not None:
        return q.data_start - MILLISECOND
    if q.history_floor_at is None:
        top = q.first - q.margin
        while q.first - top < MAX_HISTORY and _listed(q, selectors, top - INDEX_WINDOW, top):
            top = top - INDEX_WINDOW
        q.history_floor_at = top
    return q.history_floor_at

def find_data_start(q: Questions, families: list[Family]) -> pd.Timestamp | None:
    """The oldest sample of the SLO's series when it is after `first - margin` (else None: the data starts
    early enough for every series first seen in the range to be a new one)."""
    selectors = [f.selector.to_promql() for f in families if f.keys]
    q.selectors = selectors
    if not selectors:
        return None
    edge = q.first - q.margin
    if _data_before(q, selectors, edge):
        return None
    if not _listed(q, selectors, edge, q.end):
        return None
    low, high = edge, q.end  # no data at or before `low`; the index lists some at or before `high`
    while high - low > MINUTE:
        middle = (low + (high - low) // 2).floor(MINUTE)
        if middle <= low:
            break
        if _listed(q, selectors, low, middle):
            high = middle
        else:
            low = middle
    # The data starts after `low`; find the first minute holding a sample (the index answers coarsely).
    step, found = MINUTE, None
    while found is None and low < q.end:
        high = min(low + step, q.end)
        if _has_data(q, selectors, low, high):
            found = high
        else:
            low, step = high, step * 4
    if found is None:
        return None
    while found - low > MINUTE:
        middle = (low + (found - low) // 2).ceil(MINUTE)
        if middle >= found:
            break
        if _has_data(q, selectors, low, middle):
            found = middle
        else:
            low = middle
    oldest = None
    for selector in selectors:
        frame = q.query(promql.raw_samples(selector, q.span(found - low)), found)
        frame = frame[frame["timestamp"] > low] if len(frame) else frame
        if len(frame):
            first_seen = frame["timestamp"].min()
            oldest = first_seen if oldest is None else min(oldest, first_seen)
    return oldest
