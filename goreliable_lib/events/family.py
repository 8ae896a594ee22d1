"""One family's share of the SLO event engine, step by step: its server-side sums, the plan of what to correct, and
the corrections from raw samples (the maths: `analysis.counters`; the whole: `events.engine`).

`FamilyState` holds what a family's steps read and never changes after it is made; each step is a function of it
and returns what it found: `sums` -> `Sums` (A, B, their part, the reset flags), `plan` -> `Plan` (the counters and
minutes to correct, with the value each had before), `correct` -> `Corrections` (per minute, plus the resets and
new series seen on the way).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from goreliable_lib.analysis import counters
from goreliable_lib.analysis.counters import matches, series_name
from goreliable_lib.events import promql
from goreliable_lib.events.lookups import first_samples_after, previous_raw, previous_values
from goreliable_lib.events.questions import FIRST_EVER, Previous, Questions, in_order, side_by_side
from goreliable_lib.events.series import Family
from goreliable_lib.inputs.promql import Matcher, Selector
from goreliable_lib.labelsets import combination_codes, factorize_label
from goreliable_lib.timeutil import MILLISECOND, MINUTE, from_ns, to_ns

#: The blocks the reset flags are asked for in (one point per series-block holding a reset).
RESET_BLOCK = pd.Timedelta(hours=1)
#: Estimated raw samples per correction request (memory per request stays bounded).
PIECE_SAMPLES = 200_000
#: The longest time span of one correction request.
PIECE_SPAN = pd.Timedelta(hours=12)
#: `sum by (...)` is used for a subset role when its labels have at most this many value combinations.
MAX_GROUPS = 64
#: How far apart two minutes of a silence may be and still be looked up in one request.
SILENCE_JOIN = pd.Timedelta(minutes=30)


# --------------------------------------------------------------------------------------------- the state
@dataclass(frozen=True)
class FamilyState:
    """What one family's steps read: the questions (and what they learnt: window, data start), the family, its
    role, and which of its counters are the part (good or bad) when the part is the total plus matchers."""

    questions: Questions
    family: Family
    part: tuple[Matcher, ...] | None  # the part's extra matchers (None: the family is one role only)
    role: str  # "total", "good" or "bad"
    minutes_a: pd.DatetimeIndex  # A's minutes: one before B's first
    minutes: pd.DatetimeIndex  # the minutes events are computed for
    part_keys: np.ndarray  # per counter: in the part

    @property
    def window_ns(self) -> int:
        """G, the scrape window, in nanoseconds."""
        return int(self.questions.window.value)

    @property
    def context_ns(self) -> int:
        """How much before a corrected minute its raw samples must reach: a minute and the scrape window."""
        return MINUTE.value + self.window_ns


def family_state(questions: Questions, family: Family, part: tuple[Matcher, ...] | None, role: str) -> FamilyState:
    """The state of one family over the questions' range."""
    minutes_a = pd.date_range(questions.first, questions.end, freq="min")
    n = len(family.keys)
    part_keys = np.zeros(n, dtype=bool)
    if part is not None and n:
        owners = [key for key in range(n) for _ in family.spellings[key]]
        rows = pd.DataFrame([labels for key in range(n) for labels in family.spellings[key]]).astype(object)
        np.logical_or.at(part_keys, np.array(owners, dtype=np.int64), matches(rows, part).to_numpy())
    return FamilyState(questions, family, part, role, minutes_a, minutes_a[1:], part_keys)


# --------------------------------------------------------------------------------------------- step 1: sums
@dataclass(frozen=True)
class Sums:
    """A and B of the family (`analysis.counters`), of its part when it has one, and the reset flags."""

    a: pd.Series
    b: pd.Series
    part_a: pd.Series | None
    part_b: pd.Series | None
    flags: pd.DataFrame  # one row per series-block holding a reset (`promql.reset_flags`)


def _pivot(frame: pd.DataFrame, groups: list[str], minutes: pd.DatetimeIndex) -> tuple[np.ndarray, list[tuple]]:
    """A (grouped) sum result -> (values[group, minute] with NaN where absent, the groups' label values)."""
    if frame.empty:
        return np.full((0, len(minutes)), np.nan), []
    absent = (np.zeros(len(frame), dtype=np.int64), np.array([None], dtype=object))
    columns = [factorize_label(frame[g].to_numpy(dtype=object)) if g in frame.columns else absent for g in groups]
    codes = combination_codes((column_codes for column_codes, _ in columns), len(frame))  # in order of appearance
    firsts = np.unique(codes, return_index=True)[1]
    uniques = [tuple(values[column_codes[i]] for column_codes, values in columns) for i in firsts]
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


def _groups_matching(groups: list[str], values: list[tuple], matchers: tuple[Matcher, ...]) -> list[int]:
    """The positions of the groups (label values of `groups`) the matchers select, tested all at once."""
    if not values:
        return []
    frame = pd.DataFrame({g: pd.Series([v[i] for v in values], dtype=object) for i, g in enumerate(groups)})
    return np.flatnonzero(matches(frame, matchers).to_numpy()).tolist()


def sums(state: FamilyState) -> Sums:
    """A and B of the family (total) and, for a part, of its series (one grouped query when it can), and the
    reset flags; the requests run side by side."""
    q, f = state.questions, state.family
    n = max(len(f.keys), 1)
    selector = f.selector.to_promql()
    groups: list[str] = []
    separate_part = False
    if state.part is not None:
        groups = sorted({m.label for m in state.part})
        combos = {tuple(counters.canonical_le(labels.get(g)) if g == "le" else labels.get(g) for g in groups)
                  for sets in f.spellings.values() for labels in sets}
        if "__name__" in groups or len(combos) > MAX_GROUPS:
            groups, separate_part = [], True
    held, held_longer = q.span(q.window), q.span(q.window + MINUTE)
    queries = {"a": (promql.held_sum(selector, held, groups), state.minutes_a),
               "b": (promql.held_sum(selector, held_longer, groups), state.minutes)}
    if separate_part:
        part_selector = Selector(f.selector.metric, f.selector.matchers + tuple(state.part or ())).to_promql()
        queries["pa"] = (promql.held_sum(part_selector, held), state.minutes_a)
        queries["pb"] = (promql.held_sum(part_selector, held_longer), state.minutes)
    block_first = (q.first + MINUTE).ceil(RESET_BLOCK)
    block_last = q.end.ceil(RESET_BLOCK)
    flags_query = promql.reset_flags(selector, q.span(RESET_BLOCK + MINUTE + q.window))
    calls = [functools.partial(q.query_range, expression, minutes[0], minutes[-1], MINUTE, n)
             for expression, minutes in queries.values()]
    if f.keys:
        calls.append(functools.partial(q.query_range, flags_query, block_first, block_last, RESET_BLOCK, 1))
    answers = side_by_side(calls, at_most=len(calls))  # every one at once: each is cut into chunks itself
    frames = dict(zip(queries, answers[:len(queries)], strict=True))
    flags = answers[len(queries)] if f.keys else pd.DataFrame()
    table_a, groups_a = _pivot(frames["a"], groups, state.minutes_a)
    table_b, groups_b = _pivot(frames["b"], groups, state.minutes)
    a, b = _total(table_a, state.minutes_a), _total(table_b, state.minutes)
    if state.part is None:
        return Sums(a, b, None, None, flags)
    if separate_part:
        return Sums(a, b, _total(_pivot(frames["pa"], [], state.minutes_a)[0], state.minutes_a),
                    _total(_pivot(frames["pb"], [], state.minutes)[0], state.minutes), flags)
    in_part_a = _groups_matching(groups, groups_a, state.part)
    in_part_b = _groups_matching(groups, groups_b, state.part)
    return Sums(a, b, _total(table_a, state.minutes_a, in_part_a), _total(table_b, state.minutes, in_part_b), flags)


# --------------------------------------------------------------------------------------------- step 2: the plan
@dataclass
class Unit:
    """Raw samples needed for one counter: target minutes [first, last] (inclusive, ns) and context before."""

    key: int
    first: int
    last: int
    previous: Previous | None = None  # the value before the first sample, when it lies in a target minute


@dataclass(frozen=True)
class Plan:
    """What to correct: the units (merged per counter), and the value before each counter's returns (by counter and
    the minute, in ns, its first sample after the silence lies in)."""

    units: list[Unit]
    previous: dict[tuple[int, int], Previous]


def merge_units(units: list[Unit], context_ns: int) -> list[Unit]:
    """Per counter, merge target intervals whose raw needs touch into one contiguous interval."""
    out: list[Unit] = []
    by_key: dict[int, list[Unit]] = defaultdict(list)
    for unit in units:
        by_key[unit.key].append(unit)
    for key in sorted(by_key):
        ordered = sorted(by_key[key], key=lambda u: u.first)
        current = Unit(key, ordered[0].first, ordered[0].last, ordered[0].previous)
        for unit in ordered[1:]:
            if unit.first - context_ns <= current.last + MINUTE.value:
                current.last = max(current.last, unit.last)
            else:
                out.append(current)
                current = Unit(key, unit.first, unit.last, unit.previous)
        out.append(current)
    return out


def minute_runs(minutes: list[pd.Timestamp], join: pd.Timedelta) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Group sorted minutes into (first, last) runs, joining those closer than `join`."""
    runs: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    for minute in minutes:
        if runs and minute - runs[-1][1] <= join:
            runs[-1] = (runs[-1][0], minute)
        else:
            runs.append((minute, minute))
    return runs


def plan(state: FamilyState, found: Sums) -> Plan:
    """The counters and minutes to correct: reset blocks, returns after a silence, first appearances."""
    q, f = state.questions, state.family
    if not f.keys:
        return Plan([], {})
    selector = f.selector.to_promql()
    first_ns, end_ns = to_ns(q.first), to_ns(q.end)
    units: list[Unit] = []
    # Reset blocks: (t - K, t] for every block end t on the K grid covering (first, end].
    flags = found.flags
    for key, at in zip(f.key_of(flags), flags["timestamp"] if len(flags) else [], strict=True):
        if key < 0 or key in f.raw_mode:
            continue
        top = min(to_ns(at), end_ns)
        low = max(to_ns(at) - RESET_BLOCK.value + MINUTE.value, first_ns + MINUTE.value)
        if low <= top:
            units.append(Unit(int(key), low, top))
    q.count("reset_blocks", len(flags))
    # Silences: minutes where B > A (a counter stopped being held), then which counters, with their value; asked
    # side by side with which counters are held at the range's start.
    left = (found.b - found.a.reindex(found.b.index).fillna(0.0)) > 0
    leave_minutes = list(found.b.index[left.to_numpy()])
    leaves: dict[tuple[int, int], pd.Timestamp] = {}
    leave_value: dict[tuple[int, int], float] = {}
    span = q.span(q.window)
    held_frame, *silence_frames = side_by_side(
        [functools.partial(q.query, promql.held(selector, span), q.first)]
        + [functools.partial(q.query_range, promql.left_last_minute(selector, span), low, high, MINUTE, len(f.keys))
           for low, high in minute_runs(leave_minutes, SILENCE_JOIN)])
    for frame in silence_frames:
        for key, at, value in zip(f.key_of(frame), frame["timestamp"] if len(frame) else [],
                                  frame["value"].to_numpy() if len(frame) else [], strict=True):
            if key >= 0 and key not in f.raw_mode and value > 0:
                leaves[(int(key), to_ns(at))] = at
                leave_value[(int(key), to_ns(at))] = float(value)
    q.count("silences", len(leaves))
    # Counters not held at the range's start: when they first appear, and their value before it (the look-ups of
    # the values before and of the returns run side by side).
    held_keys = set(f.key_of(held_frame).tolist())
    absent = [k for k in range(len(f.keys)) if k not in held_keys and k not in f.raw_mode]
    searches = {**leaves, **{(k, -1): q.first for k in absent}}
    before, returns = side_by_side([
        lambda: previous_values(q, f, {k: q.first - q.window for k in absent}) if absent else {},
        lambda: first_samples_after(q, f, searches) if searches else {}])
    for (key, tag), at in returns.items():
        previous = Previous(leave_value[(key, tag)]) if tag >= 0 else before.get(key, FIRST_EVER)
        units.append(Unit(key, to_ns(at), to_ns(at), previous))
    q.count("returns", len(returns))
    previous_of = {(u.key, u.first): u.previous for u in units if u.previous is not None}
    for key in sorted(f.raw_mode):
        units.append(Unit(key, first_ns + MINUTE.value, end_ns))
    return Plan(merge_units(units, state.context_ns), previous_of)


# --------------------------------------------------------------------------------------------- step 3: corrections
@dataclass
class Corrections:
    """The corrections of a family per minute (all its counters, and its part's), and what was seen on the way."""

    total: np.ndarray
    part: np.ndarray
    resets: list[dict[str, Any]] = field(default_factory=list)  # query, series, timestamp, before, after
    new_series: list[dict[str, Any]] = field(default_factory=list)  # query, series, timestamp, value


Samples = list[tuple[np.ndarray, np.ndarray]]  # one (times ns, values) pair per spelling of a counter


def correct(state: FamilyState, planned: Plan) -> Corrections:
    """Fetch the raw samples of the planned units (batched into bounded requests) and compute their corrections."""
    q, f = state.questions, state.family
    out = Corrections(np.zeros(len(state.minutes)), np.zeros(len(state.minutes)))
    if not planned.units:
        return out
    rate = max(1.0, 60.0 / q.interval) if q.interval else 1.0
    segment_minutes = max(60, int(PIECE_SAMPLES / rate / 4))
    segments: list[tuple[Unit, int, int, bool]] = []  # unit, first target, last target, chained
    for unit in planned.units:
        start = unit.first
        chained = False
        while start <= unit.last:
            stop = min(unit.last, start + (segment_minutes - 1) * MINUTE.value)
            segments.append((unit, start, stop, chained))
            start, chained = stop + MINUTE.value, True
    segments.sort(key=lambda s: (s[1], s[0].key))
    pieces: list[list[tuple[Unit, int, int, bool]]] = [[]]  # the segments of each request
    for segment in segments:
        piece = pieces[-1]
        if piece:
            low = min(min(s[1] for s in piece), segment[1]) - state.context_ns
            high = max(max(s[2] for s in piece), segment[2])
            keys = {s[0].key for s in piece} | {segment[0].key}
            estimate = len(keys) * (high - low) / MINUTE.value * rate
            if high - low > PIECE_SPAN.value or estimate > PIECE_SAMPLES or \
                    any(s[0].key == segment[0].key for s in piece):
                pieces.append(piece := [])
        piece.append(segment)
    pieces = [piece for piece in pieces if piece]

    def fetch(piece: list[tuple[Unit, int, int, bool]]) -> tuple[dict[int, Samples], int]:
        low = min(s[1] for s in piece) - state.context_ns
        high = max(s[2] for s in piece)
        keys = sorted({s[0].key for s in piece})
        frame = q.query(promql.raw_samples(f.narrow(keys), q.span(pd.Timedelta(high - low, unit="ns"))),
                        from_ns(high))
        return _by_key(state, frame, low), len(frame)

    # The requests go out a few ahead of the corrections, which are computed in order (a chained segment
    # continues from the last sample of the one before: `carry`).
    carry: dict[int, tuple[int, float]] = {}
    deferred: list[tuple[Unit, int, int, Samples]] = []
    for piece, (samples, fetched) in zip(pieces, in_order(functools.partial(fetch, piece) for piece in pieces),
                                         strict=True):
        q.count("raw_samples", fetched)
        for unit, first, last, chained in piece:
            kept = [(t[t <= last], v[t <= last]) for t, v in samples.get(unit.key, [])]
            _segment(state, planned, out, unit, first, last, chained, kept, carry, deferred)
    if deferred:
        _resolve(state, out, deferred)
    return out


def _by_key(state: FamilyState, frame: pd.DataFrame, low: int) -> dict[int, Samples]:
    """Raw samples after `low`, per counter, one (times, values) pair per spelling (series); non-finite values
    (staleness markers) left out."""
    out: dict[int, Samples] = defaultdict(list)
    if frame.empty:
        return out
    frame = frame[counters.timestamps_ns(frame["timestamp"]) > low]
    if frame.empty:
        return out
    owner = state.family.key_of(frame)
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


def _segment(state: FamilyState, planned: Plan, out: Corrections, unit: Unit, first: int, last: int, chained: bool,
             spellings: Samples, carry: dict[int, tuple[int, float]],
             deferred: list[tuple[Unit, int, int, Samples]]) -> None:
    minutes = np.arange(first, last + 1, MINUTE.value, dtype=np.int64)
    times = np.concatenate([t for t, _ in spellings]) if spellings else np.zeros(0, dtype=np.int64)
    merged_t, merged_v = counters.merge_spellings(times, np.concatenate([v for _, v in spellings])
                                                  if spellings else np.zeros(0))
    previous: float | None = None
    previous_time: int | None = None
    first_counts = True
    if chained and unit.key in carry:
        previous_time, previous = carry[unit.key]
    elif counters.needs_previous(merged_t, minutes):
        found = planned.previous.get((unit.key, to_ns(from_ns(int(merged_t[0])).ceil(MINUTE))))
        if found is None:
            deferred.append((unit, first, last, spellings))
            return
        if found.first_ever:
            first_counts = _is_new(state, int(merged_t[0]))
        else:
            previous = found.value
    _apply(state, out, unit.key, minutes, spellings, previous, previous_time, first_counts)
    if len(merged_t):
        carry[unit.key] = (int(merged_t[-1]), float(merged_v[-1]))


def _is_new(state: FamilyState, first_sample_ns: int) -> bool:
    """A counter's first sample ever counts from 0 unless it lies in the baseline margin of the data."""
    start = state.questions.data_start
    return start is None or first_sample_ns > to_ns(start + state.questions.margin)


def _apply(state: FamilyState, out: Corrections, key: int, minutes: np.ndarray, spellings: Samples,
           previous: float | None, previous_time: int | None, first_counts: bool) -> None:
    result = counters.series_corrections(spellings, minutes, state.window_ns, previous=previous,
                                         previous_time=previous_time, first_counts=first_counts)
    position = ((minutes - to_ns(state.minutes[0])) // MINUTE.value).astype(np.int64)
    inside = (position >= 0) & (position < len(state.minutes))
    np.add.at(out.total, position[inside], result.correction[inside])
    if state.part is not None and state.part_keys[key]:
        np.add.at(out.part, position[inside], result.correction[inside])
    name = series_name(state.family.keys[key])
    for t, before, after in result.resets:
        out.resets.append({"query": state.role, "series": name, "timestamp": from_ns(t).ceil(MINUTE),
                           "before": before, "after": after})
    if result.first_sample is not None:
        t, value = result.first_sample
        out.new_series.append({"query": state.role, "series": name, "timestamp": from_ns(t).ceil(MINUTE),
                               "value": value})


def _resolve(state: FamilyState, out: Corrections, deferred: list[tuple[Unit, int, int, Samples]]) -> None:
    """Counters entering inside a corrected block after a silence that began before it: their previous value, then
    their corrections."""
    q, f = state.questions, state.family
    by_time: dict[int, list[tuple[Unit, int, int, Samples]]] = defaultdict(list)
    for item in deferred:
        t0 = min(int(t[0]) for t, _ in item[3] if len(t))
        by_time[t0].append(item)
    for t0, items in by_time.items():
        keys = sorted({u.key for u, *_ in items})
        before = from_ns(t0) - MILLISECOND
        plain = [k for k in keys if k not in f.raw_mode]
        values = previous_values(q, f, {k: before for k in plain}) if plain else {}
        raw = previous_raw(q, f, [k for k in keys if k in f.raw_mode], before)
        for unit, first, last, spellings in items:
            minutes = np.arange(first, last + 1, MINUTE.value, dtype=np.int64)
            if unit.key in f.raw_mode:
                found = raw.get(unit.key)
                previous = FIRST_EVER if found is None else Previous(found[1])
            else:
                previous = values.get(unit.key, FIRST_EVER)
            if previous.first_ever:
                _apply(state, out, unit.key, minutes, spellings, None, None, _is_new(state, t0))
            else:
                _apply(state, out, unit.key, minutes, spellings, previous.value, None, True)
