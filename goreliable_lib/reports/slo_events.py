"""SLO event engine: catalog SLO + Prometheus-API source -> exact per-minute good/total events.

Memory does not grow with series x samples: the server sums the counters per minute and the engine fetches raw
samples only for the few series-minutes that need a correction (the maths: `analysis.counters`; the design and
its reasons: docs/architecture.md, "SLO event engine"). Per selector, over the minutes (start - lookback, end]:
1. `/api/v1/series`: which series exist (their label sets; `le` spellings of one bound are one counter).
2. The scrape interval from a 10-minute raw probe (an hour for slow scrapes) -> the scrape window G (whole minutes, `counters.scrape_window`).
3. Range queries at step 60 s: A = `sum(last_over_time(S[G]))`, B = `sum(last_over_time(S[G + 1m]))`; when good
   (or bad) is total plus matchers, `sum by (<their labels>)` gives both roles from one query.
4. `resets(S[1h + 1m + G]) > 0` every hour: the series-hours holding a counter reset.
5. Minutes where B > A (a series stopped being scraped): which ones, with their last value (a sparse `unless`).
6. For those and for series that first appear inside the range: when they come back (batched searches with
   `count_over_time(... @ t)`), and the value before (`last_over_time(... @ t)`, back to the server's data start).
7. Raw samples (`S{narrowed}[span]`) of just those series around just those minutes -> exact corrections.
events(m) = B(m) - A(m - 1) + corrections(m); NaN where no series had a sample within G (a scrape gap), and
before the server's data starts (`data_starts_at`: retention or a new server, never called a gap). A counter's
first sample within `counters.baseline_margin` of that start is a baseline (0 events: its history is unknown);
one first seen later is new (counted from 0).

Every request goes through the source (`query`, `query_range`, `series`), so a snapshot records and replays them;
they are all small (one value a minute per role, sparse flags, sparse raw corrections). `slo_queries.Engine`
sends every request and asks the questions of steps 1, 2, 6 and 7; this module plans them (3-5) and applies the
corrections.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from goreliable_lib.analysis import counters
from goreliable_lib.analysis.counters import MINUTE, matches, series_name
from goreliable_lib.analysis.runs import gap_periods
from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.catalog import SLO
from goreliable_lib.inputs.promql import Matcher, Selector
from goreliable_lib.reports.slo_queries import (
    FIRST_EVER,
    RANGE_PROBE,
    Engine,
    Family,
    InstantSource,
    ceil_ns,
    from_ns,
    range_is_closed,
    to_ns,
)
from goreliable_lib.timeutil import parse_time, to_rfc3339

__all__ = ["SLOEvents", "fetch_slo_events", "gap_periods", "matches"]

#: History the slowest alert (3d/6h) and the 3d burn rate need before a window's start.
DEFAULT_LOOKBACK = pd.Timedelta(days=3)
#: The blocks the reset flags are asked for in (one point per series-block holding a reset).
RESET_BLOCK = pd.Timedelta(hours=1)
#: Estimated raw samples per correction request (memory per request stays bounded).
PIECE_SAMPLES = 200_000
#: The longest time span of one correction request.
PIECE_SPAN = pd.Timedelta(hours=12)
#: `sum by (...)` is used for a subset role when its labels have at most this many value combinations.
MAX_GROUPS = 64
_NS = 1_000_000




# --------------------------------------------------------------------------------------------- the result
@dataclass
class SLOEvents:
    """Per-minute events of one SLO and the data-quality facts seen while computing them."""

    name: str
    events: pd.DataFrame  # timestamp, good, total (NaN = no sample within the scrape window, or before the data)
    resets: pd.DataFrame  # query, series, timestamp, before, after
    new_series: pd.DataFrame  # query, series, timestamp, value (series counted from 0: born inside the range)
    gaps: pd.DataFrame  # start, end, minutes, carried, restarts (scrape gaps after the data starts)
    queries: list[str] = field(default_factory=list)
    series: dict[str, int] = field(default_factory=dict)  # series per role (good may be a subset of total)
    fetched_series: int = 0  # distinct series fetched
    data_starts_at: pd.Timestamp | None = None  # the server's oldest sample, when inside the fetched range
    covered_from: pd.Timestamp | None = None  # events are known for the minutes after this (None: all of them)
    scrape_interval_seconds: float | None = None  # as measured (the scrape window is it rounded up to minutes)
    stats: dict[str, int] = field(default_factory=dict)  # requests, corrected series-minutes, raw samples, ...
    backend: str = "the Prometheus source"  # where the events came from, for messages (`endpoint_of`)

    def window_data(self, start: Any, end: Any) -> counters.WindowData:
        """The data facts of the window (start, end]: `data_starts_at`, `partial`, covered days, coverage."""
        return counters.window_data(self.events, parse_time(start, field="start"), parse_time(end, field="end"),
                                    data_starts_at=self.data_starts_at, covered_from=self.covered_from)

    def gaps_in(self, start: Any, end: Any) -> pd.DataFrame:
        """The scrape gaps overlapping the window (start, end] (cut to it)."""
        start, end = parse_time(start, field="start"), parse_time(end, field="end")
        gaps = self.gaps[(self.gaps["end"] > start) & (self.gaps["start"] <= end)].copy()
        gaps["start"] = gaps["start"].clip(lower=start + MINUTE)
        gaps["end"] = gaps["end"].clip(upper=end)
        gaps["minutes"] = ((gaps["end"] - gaps["start"]) / MINUTE).astype(int) + 1
        return gaps.reset_index(drop=True)


# --------------------------------------------------------------------------------------------- one family
def _pivot(frame: pd.DataFrame, groups: list[str], minutes: pd.DatetimeIndex) -> tuple[np.ndarray, list[tuple]]:
    """A (grouped) sum result -> (values[group, minute] with NaN where absent, the groups' label values)."""
    if frame.empty:
        return np.full((0, len(minutes)), np.nan), []
    columns = [frame[g].astype(object).where(frame[g].notna(), None).to_numpy() if g in frame.columns
               else np.full(len(frame), None, dtype=object) for g in groups]
    labels = list(zip(*columns, strict=True)) if groups else [()] * len(frame)
    codes, uniques = pd.factorize(pd.Series(labels, dtype=object))
    position = (counters.timestamps_ns(frame["timestamp"]) - minutes[0].value) // MINUTE.value
    inside = (position >= 0) & (position < len(minutes))
    table = np.full((len(uniques), len(minutes)), np.nan)
    table[codes[inside], position[inside]] = frame["value"].to_numpy(dtype=float)[inside]
    return table, list(uniques)


def _total(table: np.ndarray, minutes: pd.DatetimeIndex, rows: list[int] | None = None) -> pd.Series:
    """The sum over groups per minute (NaN where every group is absent)."""
    chosen = table if rows is None else table[rows]
    if not len(chosen):
        return pd.Series(np.nan, index=minutes)
    present = ~np.isnan(chosen)
    return pd.Series(np.where(present.any(axis=0), np.nansum(chosen, axis=0), np.nan), index=minutes)


def _group_matches(groups: list[str], values: tuple, matchers: tuple[Matcher, ...]) -> bool:
    frame = pd.DataFrame({g: pd.Series([v], dtype=object) for g, v in zip(groups, values, strict=True)})
    return bool(matches(frame, matchers).iloc[0])


@dataclass
class _Unit:
    """Raw samples needed for one counter: target minutes [first, last] (inclusive, ns) and context before."""

    key: int
    first: int
    last: int
    hint: float | str | None = None  # value before the first sample when it lies in a target minute


def _merge_units(units: list[_Unit], context_ns: int) -> list[_Unit]:
    """Per counter, merge target intervals whose raw needs touch into one contiguous interval."""
    out: list[_Unit] = []
    by_key: dict[int, list[_Unit]] = defaultdict(list)
    for unit in units:
        by_key[unit.key].append(unit)
    for key in sorted(by_key):
        ordered = sorted(by_key[key], key=lambda u: u.first)
        current = _Unit(key, ordered[0].first, ordered[0].last, ordered[0].hint)
        for unit in ordered[1:]:
            if unit.first - context_ns <= current.last + MINUTE.value:
                current.last = max(current.last, unit.last)
            else:
                out.append(current)
                current = _Unit(key, unit.first, unit.last, unit.hint)
        out.append(current)
    return out


class _FamilyWork:
    """Everything computed for one family: the sums (per role) and the per-minute corrections."""

    def __init__(self, engine: Engine, family: Family, part: tuple[Matcher, ...] | None, role: str) -> None:
        self.engine, self.family, self.part, self.role = engine, family, part, role
        e = engine
        self.minutes_a = pd.date_range(e.first, e.end, freq="min")
        self.minutes = self.minutes_a[1:]
        self.window_ns = e.window.value
        self.context_ns = MINUTE.value + self.window_ns
        n = len(family.keys)
        self.part_keys = np.zeros(n, dtype=bool)
        if part is not None and n:
            owners = [key for key in range(n) for _ in family.spellings[key]]
            rows = pd.DataFrame([labels for key in range(n) for labels in family.spellings[key]]).astype(object)
            hit = matches(rows, part).to_numpy()
            np.logical_or.at(self.part_keys, np.array(owners, dtype=np.int64), hit)
        self.flags = pd.DataFrame()
        self.hints: dict[tuple[int, int], float | str] = {}
        self.corr_total = np.zeros(len(self.minutes))
        self.corr_part = np.zeros(len(self.minutes))
        self.resets: list[dict[str, Any]] = []
        self.new_series: list[dict[str, Any]] = []

    # -- sums ----------------------------------------------------------------------------------------------
    def sums(self) -> tuple[pd.Series, pd.Series, pd.Series | None, pd.Series | None]:
        """A and B of the family (total) and, for a part, of its series (one grouped query when it can)."""
        e, f = self.engine, self.family
        n = max(len(f.keys), 1)
        selector = f.selector.to_promql()
        groups: list[str] = []
        separate_part = False
        if self.part is not None:
            groups = sorted({m.label for m in self.part})
            combos = {tuple(counters.canonical_le(labels.get(g)) if g == "le" else labels.get(g) for g in groups)
                      for sets in f.spellings.values() for labels in sets}
            if "__name__" in groups or len(combos) > MAX_GROUPS:
                groups, separate_part = [], True
        by = f" by ({', '.join(groups)})" if groups else ""
        queries = {"a": (f"sum{by}(last_over_time({selector}[{e.span(e.window)}]))", self.minutes_a),
                   "b": (f"sum{by}(last_over_time({selector}[{e.span(e.window + MINUTE)}]))", self.minutes)}
        if separate_part:
            part_selector = Selector(f.selector.metric, f.selector.matchers + tuple(self.part or ())).to_promql()
            queries["pa"] = (f"sum(last_over_time({part_selector}[{e.span(e.window)}]))", self.minutes_a)
            queries["pb"] = (f"sum(last_over_time({part_selector}[{e.span(e.window + MINUTE)}]))", self.minutes)
        block_first = from_ns(ceil_ns(to_ns(e.first) + MINUTE.value, RESET_BLOCK))
        block_last = from_ns(ceil_ns(to_ns(e.end), RESET_BLOCK))
        flags_query = f"resets({selector}[{e.span(RESET_BLOCK + MINUTE + e.window)}]) > 0"
        with ThreadPoolExecutor(max_workers=len(queries) + 1, thread_name_prefix="slo-sums") as pool:
            futures = {name: pool.submit(e.query_range, q, minutes[0], minutes[-1], MINUTE, n)
                       for name, (q, minutes) in queries.items()}
            flags = pool.submit(e.query_range, flags_query, block_first, block_last, RESET_BLOCK, 1) if f.keys \
                else None
            frames = {name: future.result() for name, future in futures.items()}
            self.flags = flags.result() if flags is not None else pd.DataFrame()
        table_a, groups_a = _pivot(frames["a"], groups, self.minutes_a)
        table_b, groups_b = _pivot(frames["b"], groups, self.minutes)
        a, b = _total(table_a, self.minutes_a), _total(table_b, self.minutes)
        if self.part is None:
            return a, b, None, None
        if separate_part:
            return a, b, _total(_pivot(frames["pa"], [], self.minutes_a)[0], self.minutes_a), \
                _total(_pivot(frames["pb"], [], self.minutes)[0], self.minutes)
        part_a = _total(table_a, self.minutes_a, [i for i, g in enumerate(groups_a) if _group_matches(groups, g, self.part)])
        part_b = _total(table_b, self.minutes, [i for i, g in enumerate(groups_b) if _group_matches(groups, g, self.part)])
        return a, b, part_a, part_b

    # -- what needs a correction ---------------------------------------------------------------------------
    def plan(self, a: pd.Series, b: pd.Series) -> list[_Unit]:
        """The counters and minutes to correct: reset blocks, returns after a silence, first appearances."""
        e, f = self.engine, self.family
        if not f.keys:
            return []
        selector = f.selector.to_promql()
        first_ns, end_ns = to_ns(e.first), to_ns(e.end)
        units: list[_Unit] = []
        # Reset blocks: (t - K, t] for every block end t on the K grid covering (first, end].
        flags = self.flags
        for key, at in zip(f.key_of(flags), flags["timestamp"] if len(flags) else [], strict=True):
            if key < 0 or key in f.raw_mode:
                continue
            top = min(to_ns(at), end_ns)
            low = max(to_ns(at) - RESET_BLOCK.value + MINUTE.value, first_ns + MINUTE.value)
            if low <= top:
                units.append(_Unit(int(key), low, top))
        self.engine.stats["reset_blocks"] += len(flags)
        # Silences: minutes where B > A (a counter stopped being held), then which counters, with their value.
        left = (b - a.reindex(b.index).fillna(0.0)) > 0
        leave_minutes = list(b.index[left.to_numpy()])
        leaves: dict[tuple[int, int], pd.Timestamp] = {}
        leave_value: dict[tuple[int, int], float] = {}
        if leave_minutes:
            for low, high in _runs(leave_minutes, pd.Timedelta(minutes=30)):
                frame = e.query_range(f"last_over_time({selector}[{e.span(e.window)}] offset 1m) unless "
                                      f"last_over_time({selector}[{e.span(e.window)}])", low, high, MINUTE, len(f.keys))
                for key, at, value in zip(f.key_of(frame), frame["timestamp"] if len(frame) else [],
                                          frame["value"].to_numpy() if len(frame) else [], strict=True):
                    if key >= 0 and key not in f.raw_mode and value > 0:
                        leaves[(int(key), to_ns(at))] = at
                        leave_value[(int(key), to_ns(at))] = float(value)
        self.engine.stats["silences"] += len(leaves)
        # Counters not held at the range's start: when they first appear, and their value before it.
        held = e.query(f"last_over_time({selector}[{e.span(e.window)}])", e.first)
        held_keys = set(f.key_of(held).tolist())
        absent = [k for k in range(len(f.keys)) if k not in held_keys and k not in f.raw_mode]
        before: dict[int, float | str] = e.previous_values(f, {k: e.first - e.window for k in absent}) if absent else {}
        searches = {**{item: at for item, at in leaves.items()}, **{(k, -1): e.first for k in absent}}
        returns = e.first_samples_after(f, searches) if searches else {}
        for (key, tag), at in returns.items():
            hint = leave_value[(key, tag)] if tag >= 0 else before.get(key, FIRST_EVER)
            units.append(_Unit(key, to_ns(at), to_ns(at), hint))
        self.engine.stats["returns"] += len(returns)
        self.hints = {(u.key, u.first): u.hint for u in units if u.hint is not None}
        for key in sorted(f.raw_mode):
            units.append(_Unit(key, first_ns + MINUTE.value, end_ns))
        return _merge_units(units, self.context_ns)

    # -- raw samples and the corrections ---------------------------------------------------------------------
    def correct(self, units: list[_Unit]) -> None:
        """Fetch the raw samples of the units (batched into bounded requests) and add their corrections."""
        e, f = self.engine, self.family
        if not units:
            return
        rate = max(1.0, 60.0 / e.interval) if e.interval else 1.0
        segment_minutes = max(60, int(PIECE_SAMPLES / rate / 4))
        segments: list[tuple[_Unit, int, int, bool]] = []  # unit, first target, last target, chained
        for unit in units:
            start = unit.first
            chained = False
            while start <= unit.last:
                stop = min(unit.last, start + (segment_minutes - 1) * MINUTE.value)
                segments.append((unit, start, stop, chained))
                start, chained = stop + MINUTE.value, True
        segments.sort(key=lambda s: (s[1], s[0].key))
        carry: dict[int, tuple[int, float]] = {}
        deferred: list[tuple[_Unit, int, int, list[tuple[np.ndarray, np.ndarray]]]] = []
        piece: list[tuple[_Unit, int, int, bool]] = []

        def flush() -> None:
            if not piece:
                return
            low = min(s[1] for s in piece) - self.context_ns
            high = max(s[2] for s in piece)
            keys = sorted({s[0].key for s in piece})
            frame = e.query(f"{f.narrow(keys)}[{e.span(pd.Timedelta(high - low, unit='ns'))}]", from_ns(high))
            samples = self._by_key(frame, low)
            e.stats["raw_samples"] += len(frame)
            for unit, first, last, chained in piece:
                spellings = samples.get(unit.key, [])
                kept = [(t[t <= last], v[t <= last]) for t, v in spellings]
                self._segment(unit, first, last, chained, kept, carry, deferred)
            piece.clear()

        for segment in segments:
            if piece:
                low = min(min(s[1] for s in piece), segment[1]) - self.context_ns
                high = max(max(s[2] for s in piece), segment[2])
                keys = {s[0].key for s in piece} | {segment[0].key}
                estimate = len(keys) * (high - low) / MINUTE.value * rate
                if high - low > PIECE_SPAN.value or estimate > PIECE_SAMPLES or \
                        any(s[0].key == segment[0].key for s in piece):
                    flush()
            piece.append(segment)
        flush()
        if deferred:
            self._resolve(deferred)

    def _by_key(self, frame: pd.DataFrame, low: int) -> dict[int, list[tuple[np.ndarray, np.ndarray]]]:
        """Raw samples after `low`, per counter, one (times, values) pair per spelling (series)."""
        out: dict[int, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
        if frame.empty:
            return out
        frame = frame[counters.timestamps_ns(frame["timestamp"]) > low]
        if frame.empty:
            return out
        owner = self.family.key_of(frame)
        spelling = counters.series_codes(frame, merge_le=False)
        times = counters.timestamps_ns(frame["timestamp"])
        values = frame["value"].to_numpy(dtype=float)
        for code in np.unique(spelling):
            mine = spelling == code
            key = int(owner[mine][0])
            if key < 0:
                continue
            order = np.argsort(times[mine], kind="stable")
            out[key].append(counters.finite_samples(times[mine][order], values[mine][order]))
        return out

    def _segment(self, unit: _Unit, first: int, last: int, chained: bool,
                 spellings: list[tuple[np.ndarray, np.ndarray]], carry: dict[int, tuple[int, float]],
                 deferred: list) -> None:
        minutes = np.arange(first, last + 1, MINUTE.value, dtype=np.int64)
        times = np.concatenate([t for t, _ in spellings]) if spellings else np.zeros(0, dtype=np.int64)
        merged_t, merged_v = counters.merge_spellings(times, np.concatenate([v for _, v in spellings])
                                                      if spellings else np.zeros(0))
        previous: float | None = None
        previous_time: int | None = None
        first_counts = True
        if chained and unit.key in carry:
            previous_time, previous = carry[unit.key]
        else:
            exact_t = merged_t
            if counters.needs_previous(exact_t, minutes):
                hint = self.hints.get((unit.key, int(ceil_ns(int(exact_t[0]), MINUTE))))
                if hint is None:
                    deferred.append((unit, first, last, spellings))
                    return
                if hint == FIRST_EVER:
                    first_counts = self._is_new(int(exact_t[0]))
                else:
                    previous = float(hint)
        self._apply(unit.key, minutes, spellings, previous, previous_time, first_counts)
        if len(merged_t):
            carry[unit.key] = (int(merged_t[-1]), float(merged_v[-1]))

    def _is_new(self, first_sample_ns: int) -> bool:
        """A counter's first sample ever counts from 0 unless it lies in the baseline margin of the data."""
        start = self.engine.data_start
        return start is None or first_sample_ns > to_ns(start + self.engine.margin)

    def _apply(self, key: int, minutes: np.ndarray, spellings: list[tuple[np.ndarray, np.ndarray]],
               previous: float | None, previous_time: int | None, first_counts: bool) -> None:
        result = counters.series_corrections(spellings, minutes, self.window_ns, previous=previous,
                                             previous_time=previous_time, first_counts=first_counts)
        position = ((minutes - to_ns(self.minutes[0])) // MINUTE.value).astype(np.int64)
        inside = (position >= 0) & (position < len(self.minutes))
        np.add.at(self.corr_total, position[inside], result.correction[inside])
        if self.part is not None and self.part_keys[key]:
            np.add.at(self.corr_part, position[inside], result.correction[inside])
        name = series_name(self.family.keys[key])
        for t, before, after in result.resets:
            self.resets.append({"query": self.role, "series": name, "timestamp": from_ns(ceil_ns(t, MINUTE)),
                                "before": before, "after": after})
        if result.first_sample is not None:
            t, value = result.first_sample
            self.new_series.append({"query": self.role, "series": name, "timestamp": from_ns(ceil_ns(t, MINUTE)),
                                    "value": value})

    def _resolve(self, deferred: list) -> None:
        """Counters entering inside a corrected block after a silence that began before it: their previous
        value, then their corrections."""
        e, f = self.engine, self.family
        by_time: dict[int, list[tuple[_Unit, int, int, list]]] = defaultdict(list)
        for item in deferred:
            t0 = min(int(t[0]) for t, _ in item[3] if len(t))
            by_time[t0].append(item)
        for t0, items in by_time.items():
            keys = sorted({u.key for u, *_ in items})
            plain = [k for k in keys if k not in f.raw_mode]
            values: dict[int, float | str] = e.previous_values(f, {k: from_ns(t0 - _NS) for k in plain}) if plain else {}
            raw = e.previous_raw(f, [k for k in keys if k in f.raw_mode], from_ns(t0 - _NS))
            for unit, first, last, spellings in items:
                minutes = np.arange(first, last + 1, MINUTE.value, dtype=np.int64)
                if unit.key in f.raw_mode:
                    found = raw.get(unit.key)
                    hint: float | str = FIRST_EVER if found is None else found[1]
                else:
                    hint = values.get(unit.key, FIRST_EVER)
                if hint == FIRST_EVER:
                    self._apply(unit.key, minutes, spellings, None, None, self._is_new(t0))
                else:
                    self._apply(unit.key, minutes, spellings, float(hint), None, True)


def _runs(minutes: list[pd.Timestamp], join: pd.Timedelta) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Group sorted minutes into (first, last) runs, joining those closer than `join`."""
    runs: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    for minute in minutes:
        if runs and minute - runs[-1][1] <= join:
            runs[-1] = (runs[-1][0], minute)
        else:
            runs.append((minute, minute))
    return runs


# --------------------------------------------------------------------------------------------- the entry point
def _facts(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
        frame["timestamp"] = pd.DatetimeIndex([], tz="UTC")
        for c in ("before", "after", "value"):
            if c in frame.columns:
                frame[c] = frame[c].astype(float)
        return frame
    frame = frame.drop_duplicates(["query", "series", "timestamp", *[c for c in columns if c in ("before", "after",
                                                                                              "value")]])
    return frame.sort_values(["timestamp", "series"], ignore_index=True)


def fetch_slo_events(source: InstantSource, slo: SLO, start: Any, end: Any,
                     lookback: pd.Timedelta = DEFAULT_LOOKBACK) -> SLOEvents:
    """Per-minute good/total events of `slo` for the minutes of (start - lookback, end].

    `lookback` is the history the burn rates and alerts need before the window's start (3 days for the SRE
    workbook's slowest alert)."""
    start, end = parse_time(start, field="start").floor("min"), parse_time(end, field="end").floor("min")
    if end <= start:
        raise BadInputError(f"window: end {to_rfc3339(end)} is not after start {to_rfc3339(start)}")
    first = start - lookback
    engine = Engine(source, first, end, range_is_closed(source, end))
    engine.queries.append(RANGE_PROBE)
    engine.stats["requests"] += 1
    total_selector = slo.total_selector
    part_role = "good" if slo.good_selector is not None else "bad"
    part_selector: Selector = slo.good_selector or slo.bad_selector  # type: ignore[assignment]
    extra = part_selector.extra_matchers(total_selector)
    total_families = engine.families(total_selector)
    part_families = [] if extra is not None else engine.families(part_selector)
    engine.set_window(engine.measure_interval(total_families + part_families))
    engine.data_start = engine.find_data_start(total_families + part_families)

    works = [_FamilyWork(engine, f, extra, "total") for f in total_families]
    part_works = [_FamilyWork(engine, f, None, part_role) for f in part_families]
    minutes = pd.date_range(first + MINUTE, end, freq="min", name="timestamp")
    totals, parts = [], []
    for work in works + part_works:
        a, b, part_a, part_b = work.sums()
        work.correct(work.plan(a, b))
        corrections = pd.Series(work.corr_total, index=work.minutes)
        held = a.reindex(minutes).notna()
        if work in works:
            totals.append((a, b, corrections, held))
            if extra is not None:
                parts.append((part_a, part_b, pd.Series(work.corr_part, index=work.minutes), held))
        else:
            parts.append((a, b, corrections, held))

    def role_events(items: list[tuple[pd.Series, pd.Series, pd.Series, pd.Series]]) -> pd.Series:
        values = np.zeros(len(minutes))
        for a, b, corrections, _ in items:
            values += counters.minute_events(a, b, corrections, held=pd.Series(True, index=b.index)) \
                .reindex(minutes).fillna(0.0).to_numpy()
        return pd.Series(values, index=minutes)

    has_data = np.zeros(len(minutes), dtype=bool)
    for _, _, _, held in totals:
        has_data |= held.to_numpy()
    covered_from = None
    if engine.data_start is not None:  # the minutes before the one holding the server's oldest sample
        covered_from = max(first, engine.data_start.ceil("min") - MINUTE)
        has_data &= minutes > covered_from
    total = role_events(totals).where(has_data)
    part = role_events(parts).where(has_data)
    good = part if part_role == "good" else total - part
    events = pd.DataFrame({"timestamp": minutes, "good": good.to_numpy(), "total": total.to_numpy()})
    resets = _facts([r for w in works + part_works for r in w.resets if r["timestamp"] in minutes],
                    ["query", "series", "timestamp", "before", "after"])
    new_series = _facts([r for w in works + part_works for r in w.new_series if r["timestamp"] in minutes],
                        ["query", "series", "timestamp", "value"])
    gaps = gap_periods(total.rename("total"), not_before=covered_from)
    gaps["carried"] = [bool(has_data[minutes > g_end].any()) for g_end in gaps["end"]] if len(gaps) else \
        pd.Series([], dtype=bool)
    restarts = resets["timestamp"].value_counts() if len(resets) else pd.Series(dtype=int)
    gaps["restarts"] = [int(restarts.get(g_end + MINUTE, 0)) for g_end in gaps["end"]] if len(gaps) else \
        pd.Series([], dtype=int)
    series = {"total": sum(len(w.family.keys) for w in works)}
    if extra is not None:
        series[part_role] = int(sum(w.part_keys.sum() for w in works))
    else:
        series[part_role] = sum(len(w.family.keys) for w in part_works)
    return SLOEvents(
        name=slo.name, events=events, resets=resets, new_series=new_series, gaps=gaps, queries=engine.queries,
        series=series, fetched_series=series["total"] + (0 if extra is not None else series[part_role]),
        data_starts_at=engine.data_start if engine.data_start is not None and engine.data_start > first else None,
        covered_from=covered_from if covered_from is not None and covered_from > first else None,
        scrape_interval_seconds=engine.interval, stats=dict(engine.stats), backend=endpoint_of(source))


# --------------------------------------------------------------------------------------------- dedup
class QueryOnce:
    """Asks each distinct query once (SLOs of one service often share a selector)."""

    def __init__(self, source: InstantSource) -> None:
        self.source = source
        self.results: dict[tuple[str, ...], pd.DataFrame] = {}

    def query(self, promql: str, time: Any = None) -> pd.DataFrame:
        key = ("query", promql, str(time))
        if key not in self.results:
            self.results[key] = self.source.query(promql, time)
        return self.results[key]

    def query_range(self, promql: str, start: Any, end: Any, step: Any) -> pd.DataFrame:
        key = ("query_range", promql, str(start), str(end), str(step))
        if key not in self.results:
            self.results[key] = self.source.query_range(promql, start, end, step)
        return self.results[key]

    def series(self, match: str, start: Any, end: Any) -> pd.DataFrame:
        key = ("series", match, str(start), str(end))
        if key not in self.results:
            self.results[key] = self.source.series(match, start, end)
        return self.results[key]

    def now(self) -> pd.Timestamp:
        return self.source.now()

    @property
    def endpoint(self) -> str:
        return endpoint_of(self.source)


def endpoint_of(source: Any) -> str:
    """Where a source's answers come from, for messages: its `endpoint` (a URL without credentials, or a snapshot)."""
    return str(getattr(source, "endpoint", None) or f"the {type(source).__name__} source")
