"""The SLO event engine's questions to the server (`reports.slo_events` holds the rest of the engine).

One `Engine` per `fetch_slo_events` call sends every request through the source (`query`, `query_range`,
`series`, so a snapshot records and replays them) and learns on the way: which series each selector has (a
`Family`: `le` spellings of one bound are one counter), the scrape interval and window, where the server's data
starts (retention, a new server), when a series that stopped or was born comes back, the value before a minute,
and raw samples of just the series-minutes the engine corrects. The maths is in `analysis.counters`.
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from goreliable_lib.analysis import counters
from goreliable_lib.analysis.counters import MINUTE, series_labels
from goreliable_lib.inputs.promql import Matcher, Selector, le_regex, regex_escape, widen_le
from goreliable_lib.sources.promjson import DROPPED_SAMPLES
from goreliable_lib.timeutil import to_rfc3339

#: How long the scrape-interval probe looks back (raw samples), and again for slow scrapes (from SLOW_INTERVAL).
INTERVAL_PROBE = pd.Timedelta(minutes=10)
SLOW_INTERVAL_PROBE = pd.Timedelta(hours=1)
SLOW_INTERVAL = pd.Timedelta(seconds=90)
#: Series x steps of one aggregated range request (Prometheus holds them at once; its max-samples is 50 M).
MAX_POINTS_PER_REQUEST = 5_000_000
#: Terms batched into one query by the searches (`... @ t or ...`).
MAX_TERMS = 40
#: Growing look-back windows of the previous-value lookups, then repeated steps of the last one.
LOOKUP_WINDOWS = (pd.Timedelta(hours=1), pd.Timedelta(days=1), pd.Timedelta(days=8))
#: Growing look-ahead windows of the first-sample searches.
SEARCH_WINDOWS = (pd.Timedelta(minutes=10), pd.Timedelta(hours=1), pd.Timedelta(days=1), pd.Timedelta(days=8))
#: The longest range one series-index question covers: VictoriaMetrics answers ranges up to 40 days from its
#: per-day index (exact to the day) and longer ones from its global index (every series it ever held).
INDEX_WINDOW = pd.Timedelta(days=39)
#: How far back the look-back for a counter's previous sample may go when the data's start is not known.
MAX_HISTORY = pd.Timedelta(days=5 * 366)
#: The probe telling closed ranges (Prometheus 2: [t - d, t], answers 3) from left-open ones (Prometheus 3,
#: VictoriaMetrics: (t - d, t], answers 2).
RANGE_PROBE = "count_over_time(vector(1)[2m:1m])"
TERM_LABEL = "goreliable_term"
FIRST_EVER = "first-ever"
class InstantSource(Protocol):
    """What the engine needs of `sources.prometheus.PrometheusSource`."""

    def query(self, promql: str, time: Any = None) -> pd.DataFrame: ...

    def query_range(self, promql: str, start: Any, end: Any, step: Any) -> pd.DataFrame: ...

    def series(self, match: str, start: Any, end: Any) -> pd.DataFrame: ...


# --------------------------------------------------------------------------------------------- helpers
def to_ns(ts: pd.Timestamp) -> int:
    """A time as integer nanoseconds since the epoch."""
    return int(pd.Timestamp(ts).value)


def from_ns(ns: int) -> pd.Timestamp:
    """Integer nanoseconds since the epoch as a UTC time."""
    return pd.Timestamp(int(ns), tz="UTC")


def floor_ns(ns: int, step: pd.Timedelta) -> int:
    return ns // step.value * step.value


def ceil_ns(ns: int, step: pd.Timedelta) -> int:
    return -(-ns // step.value) * step.value


def range_is_closed(source: InstantSource, at: pd.Timestamp) -> bool:
    """True when the server's range selectors hold both ends ([t - d, t], Prometheus 2.x, Thanos, Mimir 2):
    then a window (t - d, t] is written `[d - 1ms]` (timestamps are milliseconds)."""
    frame = source.query(RANGE_PROBE, to_rfc3339(at))
    return bool(len(frame)) and float(frame["value"].iloc[0]) >= 3


def _with_name(frame: pd.DataFrame, name: str | None) -> pd.DataFrame:
    """Functions and aggregations may drop `__name__`: put the family's back (keys always carry it)."""
    if name is None or frame.empty:
        return frame
    out = frame.copy()
    out["__name__"] = name
    return out


@dataclass
class Family:
    """The series of one metric name of a selector, as listed by the server."""

    name: str | None
    selector: Selector  # le widened, one metric
    keys: list[tuple[tuple[str, str], ...]]  # distinct counters (le canonical)
    spellings: dict[int, list[dict[str, str]]]  # raw label sets of each counter
    index: dict[tuple[tuple[str, str], ...], int]
    raw_mode: set[int]  # counters listed under several spellings: corrected from raw samples at every minute
    all_values: dict[str, set[str]]  # label -> raw values over the family (to narrow selectors)

    def key_of(self, frame: pd.DataFrame) -> np.ndarray:
        """Counter index per row of a result frame (-1 for a series not listed)."""
        if frame.empty:
            return np.zeros(0, dtype=np.int64)
        labels = series_labels(_with_name(frame.drop(columns=[TERM_LABEL], errors="ignore"), self.name))
        return np.array([self.index.get(lab, -1) for lab in labels], dtype=np.int64)

    def narrow(self, keys: Iterable[int]) -> str:
        """A selector (PromQL) holding at least the given counters' series: the family's selector plus, per
        label, a regex of the values those series have (only where it excludes something). An `le` value matches
        every spelling of its bound: a counter's samples under a spelling not listed in the range (`0.3` before a
        silence, `0.30` after it) are its own."""
        keys = list(keys)
        values: dict[str, set[str]] = defaultdict(set)
        present: dict[str, int] = Counter()
        count = 0
        for key in keys:
            for labels in self.spellings[key]:
                count += 1
                for label, value in labels.items():
                    if label != "__name__":
                        values[label].add(value)
                        present[label] += 1
        extra = []
        for label in sorted(values):
            wanted = set(values[label])
            if present[label] < count:
                wanted.add("")  # some series lack the label
            everything = self.all_values.get(label, set())
            if wanted >= everything | ({""} if "" in wanted else set()):
                continue
            extra.append(Matcher(label, "=~", "|".join(sorted({_value_pattern(label, v) for v in wanted}))))
        return Selector(self.selector.metric, self.selector.matchers + tuple(extra)).to_promql()


def _value_pattern(label: str, value: str) -> str:
    """The regex of one label value in a narrowed selector: every spelling of the bound for `le`."""
    if label == "le" and value:
        with contextlib.suppress(ValueError):
            return le_regex(value)
    return regex_escape(value)


class Engine:
    """One `fetch_slo_events` call: the requests it sends and what it learns on the way."""

    def __init__(self, source: InstantSource, first: pd.Timestamp, end: pd.Timestamp, closed: bool) -> None:
        self.source = source
        self.first, self.end = first, end
        self.closed = closed
        self.queries: list[str] = []
        self.stats: Counter[str] = Counter()
        self.window = MINUTE  # G, set once the interval is measured
        self.interval: float | None = None
        self.data_start: pd.Timestamp | None = None
        self.margin = counters.baseline_margin(MINUTE)
        self.floor_ns: pd.Timestamp | None = None
        self._selectors: list[str] = []

    # -- requests ------------------------------------------------------------------------------------------
    def span(self, length: pd.Timedelta) -> str:
        """A range selector's duration covering exactly (t - length, t] on this server."""
        ms = int(length / pd.Timedelta(milliseconds=1))
        if self.closed:
            return f"{ms - 1}ms"
        return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"

    def query(self, promql: str, at: pd.Timestamp) -> pd.DataFrame:
        """An instant query; a raw answer's dropped staleness markers and non-finite values are counted in
        `stats["dropped_samples"]` (the source drops them; `counters` ignores any left by a source that does not)."""
        self.queries.append(promql)
        self.stats["requests"] += 1
        frame = self.source.query(promql, to_rfc3339(at))
        self.stats["dropped_samples"] += int(frame.attrs.get(DROPPED_SAMPLES, 0))
        return frame

    def query_range(self, promql: str, start: pd.Timestamp, end: pd.Timestamp, step: pd.Timedelta,
                    series: int) -> pd.DataFrame:
        """A range query cut into requests of at most MAX_POINTS_PER_REQUEST series x steps (on a fixed grid)."""
        self.queries.append(promql)
        steps_per_request = min(50_000, max(1, MAX_POINTS_PER_REQUEST // max(series, 1)))
        span = step * steps_per_request
        frames = []
        piece_start = to_ns(start)
        while piece_start <= to_ns(end):
            piece_end = min(to_ns(end), floor_ns(piece_start, span) + span.value - step.value)
            self.stats["requests"] += 1
            frames.append(self.source.query_range(promql, to_rfc3339(from_ns(piece_start)), to_rfc3339(from_ns(piece_end)),
                                                  int(step.total_seconds())))
            piece_start = piece_end + step.value
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            {"timestamp": pd.DatetimeIndex([], tz="UTC"), "value": pd.Series([], dtype=float)})

    def series(self, match: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        self.queries.append(f"series({match})")
        self.stats["requests"] += 1
        return self.source.series(match, to_rfc3339(start), to_rfc3339(end))

    # -- what exists ---------------------------------------------------------------------------------------
    def families(self, selector: Selector) -> list[Family]:
        """The selector's series in the range, one family per metric name."""
        widened = widen_le(selector)
        listed = self.series(widened.to_promql(), self.first - MINUTE - counters.MINUTE * counters.MAX_SCRAPE_WINDOW_MINUTES,
                             self.end)
        if listed.empty:
            return [family_of(widened, selector.metric, listed)]
        names = sorted({n for n in listed.get("__name__", pd.Series([selector.metric])).dropna().unique()}) \
            if selector.metric is None else [selector.metric]
        out = []
        for name in names:
            rows = listed[listed["__name__"] == name] if "__name__" in listed.columns else listed
            matchers = tuple(m for m in widened.matchers if m.label != "__name__")
            out.append(family_of(Selector(name, matchers) if selector.metric is None else widened, name,
                               rows.reset_index(drop=True)))
        return out

    def measure_interval(self, families: list[Family]) -> float | None:
        """The scrape interval (`counters.scrape_interval_seconds`) of a 10-minute raw probe at the range's end
        (or, when nothing was scraped there, earlier: up to a week before, then spread over the range); a slow
        or unclear answer (90 s or more, or none) is checked on an hour of samples, where a missed scrape cannot
        hide every regular spacing. None when no probe holds two samples of a series (the window is then 1m)."""
        offsets = (pd.Timedelta(0), pd.Timedelta(hours=1), pd.Timedelta(hours=6), pd.Timedelta(days=1),
                   pd.Timedelta(days=7))
        spread = [(self.end - (self.end - self.first) * k / 8).ceil("min") for k in range(1, 8)]
        probes = [t for t in (*(self.end - o for o in offsets), *spread) if t - INTERVAL_PROBE >= self.first]
        probes = list(dict.fromkeys(probes)) or [self.end]
        for family in families:
            if not family.keys:
                continue
            for at in probes:
                for window in (INTERVAL_PROBE, SLOW_INTERVAL_PROBE):
                    frame = self.query(f"{family.selector.to_promql()}[{self.span(window)}]", at)
                    spacing = counters.scrape_interval_seconds(frame)
                    if spacing is not None and spacing < SLOW_INTERVAL.total_seconds():
                        return spacing
                if spacing is not None:
                    return spacing
        return None

    def set_window(self, interval: float | None) -> None:
        self.interval = interval
        self.window = counters.scrape_window(interval)
        self.margin = counters.baseline_margin(self.window)

    # -- the server's oldest sample ------------------------------------------------------------------------
    def _listed(self, selectors: list[str], low: pd.Timestamp, high: pd.Timestamp) -> bool:
        """Does the series index list a series with data in [low, high]? (Asked in windows of at most
        INDEX_WINDOW; a superset: Prometheus answers per chunk, VictoriaMetrics per day.)"""
        top = high
        while top >= low:
            bottom = max(low, top - INDEX_WINDOW)
            if any(len(self.series(s, bottom, top)) for s in selectors):
                return True
            top = bottom - pd.Timedelta(milliseconds=1)
        return False

    def _has_data(self, selectors: list[str], low: pd.Timestamp, high: pd.Timestamp) -> bool:
        """Is there a sample in (low, high]? (The data itself: exact.)"""
        return any(len(self.query(f"count_over_time({s}[{self.span(high - low)}])", high)) for s in selectors)

    def _data_before(self, selectors: list[str], edge: pd.Timestamp) -> bool:
        """Is there a sample at or before `edge`? Asked of the index over the INDEX_WINDOW before it (a longer
        silence of the whole selector counts as its start) and checked on the data near `edge` when the index
        answers per day."""
        day = edge.floor("D")
        if not self._listed(selectors, edge - INDEX_WINDOW, edge):
            return False
        if day > edge - INDEX_WINDOW and self._listed(selectors, edge - INDEX_WINDOW, day - pd.Timedelta(milliseconds=1)):
            return True
        return self._has_data(selectors, max(day, edge - INDEX_WINDOW) - pd.Timedelta(milliseconds=1), edge)

    def history_floor(self, selectors: list[str]) -> pd.Timestamp:
        """A time at or before the oldest sample of the selectors (the look-backs stop there): the data start
        when known, else the start of the oldest INDEX_WINDOW with data before the range."""
        if self.data_start is not None:
            return self.data_start - pd.Timedelta(milliseconds=1)
        if self.floor_ns is None:
            top = self.first - self.margin
            while self.first - top < MAX_HISTORY and self._listed(selectors, top - INDEX_WINDOW, top):
                top = top - INDEX_WINDOW
            self.floor_ns = top
        return self.floor_ns

    def find_data_start(self, families: list[Family]) -> pd.Timestamp | None:
        """The oldest sample of the SLO's series when it is after `first - margin` (else None: the data starts
        early enough for every series first seen in the range to be a new one)."""
        selectors = [f.selector.to_promql() for f in families if f.keys]
        self._selectors = selectors
        if not selectors:
            return None
        edge = self.first - self.margin
        if self._data_before(selectors, edge):
            return None
        if not self._listed(selectors, edge, self.end):
            return None
        low, high = edge, self.end  # no data at or before `low`; the index lists some at or before `high`
        while high - low > MINUTE:
            middle = from_ns(floor_ns((to_ns(low) + to_ns(high)) // 2, MINUTE))
            if middle <= low:
                break
            if self._listed(selectors, low, middle):
                high = middle
            else:
                low = middle
        # The data starts after `low`; find the first minute holding a sample (the index answers coarsely).
        step, found = MINUTE, None
        while found is None and low < self.end:
            high = min(low + step, self.end)
            if self._has_data(selectors, low, high):
                found = high
            else:
                low, step = high, step * 4
        if found is None:
            return None
        while found - low > MINUTE:
            middle = from_ns(ceil_ns((to_ns(low) + to_ns(found)) // 2, MINUTE))
            if middle >= found:
                break
            if self._has_data(selectors, low, middle):
                found = middle
            else:
                low = middle
        oldest = None
        for selector in selectors:
            frame = self.query(f"{selector}[{self.span(found - low)}]", found)
            frame = frame[frame["timestamp"] > low] if len(frame) else frame
            if len(frame):
                first_seen = frame["timestamp"].min()
                oldest = first_seen if oldest is None else min(oldest, first_seen)
        return oldest

    # -- searches ------------------------------------------------------------------------------------------
    def _terms(self, family: Family, terms: list[tuple[list[int], pd.Timedelta, pd.Timestamp]],
               function: str) -> list[dict[int, float]]:
        """For each term (counters, window, at): `function(narrowed[window] @ at)` per counter, batched with
        `or` (a term label keeps the terms apart). Returns {counter: value} per term."""
        out: list[dict[int, float]] = [{} for _ in terms]
        for batch in range(0, len(terms), MAX_TERMS):
            chunk = terms[batch:batch + MAX_TERMS]
            parts = [f'label_replace({function}({family.narrow(keys)}[{self.span(window)}] @ '
                     f'{to_ns(at) / 1e9:.3f}), "{TERM_LABEL}", "{batch + i}", "", "")'
                     for i, (keys, window, at) in enumerate(chunk)]
            frame = self.query(" or ".join(parts), self.end)
            if frame.empty:
                continue
            term = frame[TERM_LABEL].astype(int).to_numpy()
            key = family.key_of(frame)
            for t, k, v in zip(term, key, frame["value"].to_numpy(), strict=True):
                if k >= 0 and k in set(terms[t][0]):
                    out[t][int(k)] = float(v)
        return out

    def first_samples_after(self, family: Family, items: dict[tuple[int, int], pd.Timestamp]
                            ) -> dict[tuple[int, int], pd.Timestamp]:
        """For each item (counter, tag) -> after: the minute holding the counter's first sample after `after`
        (items without one up to the range's end are left out). Grows a look-ahead window, then halves it;
        all items advance together, one batched query per step."""
        found: dict[tuple[int, int], pd.Timestamp] = {}
        # state: item -> (low, high): no sample in (after, low]; the first sample is in (low, high] if high
        pending = {item: (after, None) for item, after in items.items()}
        stage = {item: 0 for item in items}
        while pending:
            groups: dict[tuple[pd.Timestamp, pd.Timestamp], list[tuple[int, int]]] = defaultdict(list)
            if not any(high is not None or low < self.end for low, high in pending.values()):
                break
            for item, (low, high) in list(pending.items()):
                if high is None and low >= self.end:
                    del pending[item]
                    continue
                if high is None:
                    window = SEARCH_WINDOWS[min(stage[item], len(SEARCH_WINDOWS) - 1)]
                    top = min(low + window, self.end)
                else:
                    top = from_ns(ceil_ns((to_ns(low) + to_ns(high)) // 2, MINUTE))
                groups[(low, top)].append(item)
            order = list(groups)
            answers = self._terms(family, [(sorted({i[0] for i in groups[g]}), g[1] - g[0], g[1]) for g in order],
                                  "count_over_time")
            for (low, top), answer in zip(order, answers, strict=True):
                for item in groups[(low, top)]:
                    previous_high = pending[item][1]
                    if item[0] in answer:
                        if top - low <= MINUTE:
                            found[item] = top
                            del pending[item]
                        else:
                            pending[item] = (low, top)
                    elif previous_high is not None:
                        pending[item] = (top, previous_high)
                        if previous_high - top <= MINUTE:
                            found[item] = previous_high
                            del pending[item]
                    elif top >= self.end:
                        del pending[item]
                    else:
                        pending[item] = (top, None)
                        stage[item] += 1
        return found

    def previous_values(self, family: Family, items: dict[int, pd.Timestamp]) -> dict[int, float | str]:
        """For each counter -> before: the value of its last sample at or before `before`, or FIRST_EVER when
        the server holds none: the last hour and day first (one batched `last_over_time` each), then older
        INDEX_WINDOW slices where the series index lists the counter, down to the history's floor."""
        result: dict[int, float | str] = {}
        pending = dict(items)
        for window in LOOKUP_WINDOWS[:2]:
            groups: dict[pd.Timestamp, list[int]] = defaultdict(list)
            for key, top in pending.items():
                groups[top].append(key)
            terms = [(keys, window, top) for top, keys in groups.items()]
            for (keys, _, top), answer in zip(terms, self._terms(family, terms, "last_over_time"), strict=True):
                for key in keys:
                    if key in answer:
                        result[key] = answer[key]
                        del pending[key]
                    else:
                        pending[key] = top - window
        floor = self.history_floor(self._selectors) if pending else None
        while pending:
            groups = defaultdict(list)
            for key, top in pending.items():
                groups[top].append(key)
            for top, keys in groups.items():
                if floor is None or top <= floor:
                    for key in keys:
                        result[key] = FIRST_EVER
                        del pending[key]
                    continue
                bottom = max(floor, top - INDEX_WINDOW)
                listed = set(family.key_of(self.series(family.narrow(keys), bottom, top)).tolist()) & set(keys)
                answer = self._terms(family, [(sorted(listed), top - bottom, top)], "last_over_time")[0] \
                    if listed else {}
                for key in keys:
                    if key in answer:
                        result[key] = answer[key]
                        del pending[key]
                    else:
                        pending[key] = bottom
        return result

    def previous_raw(self, family: Family, keys: list[int], before: pd.Timestamp) -> dict[int, tuple[int, float]]:
        """For counters spelt several ways: the last sample (time, value) at or before `before` over every
        spelling (raw windows stepping back like `previous_values`; counters without any are left out)."""
        result: dict[int, tuple[int, float]] = {}
        pending, top, stage = set(keys), before, 0
        floor = self.history_floor(self._selectors)
        while pending and top > floor:
            window = LOOKUP_WINDOWS[stage] if stage < 2 else INDEX_WINDOW
            bottom = max(floor, top - window)
            ask = set(pending)
            if stage >= 2:  # only the counters the index lists in this slice
                ask &= set(family.key_of(self.series(family.narrow(ask), bottom, top)).tolist())
            frame = self.query(f"{family.narrow(ask)}[{self.span(top - bottom)}]", top) if ask else pd.DataFrame()
            if len(frame):
                frame = frame[frame["timestamp"] > bottom]
                owner = family.key_of(frame)
                times = counters.timestamps_ns(frame["timestamp"])
                values = frame["value"].to_numpy(dtype=float)
                for key in sorted(ask):
                    mine = owner == key
                    if mine.any():
                        t, v = counters.merge_spellings(times[mine], values[mine])
                        result[key] = (int(t[-1]), float(v[-1]))
                        pending.discard(key)
            top, stage = bottom, stage + 1
        return result


def family_of(selector: Selector, name: str | None, listed: pd.DataFrame) -> Family:
    raw_sets = [{k: v for k, v in row.items() if isinstance(v, str) and v != ""}
                for row in listed.to_dict("records")] if len(listed) else []
    keys_per_row = series_labels(listed) if len(listed) else []
    index: dict[tuple[tuple[str, str], ...], int] = {}
    keys: list[tuple[tuple[str, str], ...]] = []
    spellings: dict[int, list[dict[str, str]]] = defaultdict(list)
    all_values: dict[str, set[str]] = defaultdict(set)
    for key, labels in zip(keys_per_row, raw_sets, strict=True):
        if key not in index:
            index[key] = len(keys)
            keys.append(key)
        spellings[index[key]].append(labels)
    for labels_list in spellings.values():
        for labels in labels_list:
            for label, value in labels.items():
                all_values[label].add(value)
    names = {label for labels_list in spellings.values() for labels in labels_list for label in labels}
    for labels_list in spellings.values():  # a label some series lack: "" is one of its values
        for labels in labels_list:
            for label in names - set(labels):
                all_values[label].add("")
    raw_mode = {k for k, sets in spellings.items() if len(sets) > 1}
    return Family(name, selector, keys, dict(spellings), index, raw_mode, dict(all_values))
