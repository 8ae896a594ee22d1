"""The engine's look-ups of single counters, batched: when a counter that stopped or was born comes back
(`first_samples_after`), the value before a time (`previous_values`, `previous_raw` for counters spelt several
ways), each many at once in one request (`promql.terms`)."""

from __future__ import annotations

import functools
from collections import defaultdict

import pandas as pd

from goreliable_lib.analysis import counters
from goreliable_lib.events import promql
from goreliable_lib.events.data_start import history_floor
from goreliable_lib.events.questions import (
    FIRST_EVER,
    INDEX_WINDOW,
    LOOKUP_WINDOWS,
    MAX_TERMS,
    SEARCH_WINDOWS,
    Previous,
    Questions,
    side_by_side,
)
from goreliable_lib.events.series import Family
from goreliable_lib.timeutil import MINUTE


def _terms(q: Questions, family: Family, terms: list[tuple[list[int], pd.Timedelta, pd.Timestamp]],
           function: str) -> list[dict[int, float]]:
    """For each term (counters, window, at): `function(narrowed[window] @ at)` per counter, batched with
    `or` (a term label keeps the terms apart; the batches are sent side by side). Returns {counter: value} per
    term."""
    out: list[dict[int, float]] = [{} for _ in terms]
    asked = [set(keys) for keys, _, _ in terms]
    expressions = [promql.terms(function, [(family.narrow(keys), q.span(window), at)
                                           for keys, window, at in terms[batch:batch + MAX_TERMS]], first_index=batch)
                   for batch in range(0, len(terms), MAX_TERMS)]
    for frame in side_by_side([functools.partial(q.query, expression, q.end) for expression in expressions]):
        if frame.empty:
            continue
        term = frame[promql.TERM_LABEL].astype(int).to_numpy()
        key = family.key_of(frame)
        for t, k, v in zip(term.tolist(), key.tolist(), frame["value"].to_numpy(dtype=float).tolist(), strict=True):
            if k >= 0 and k in asked[t]:
                out[t][k] = v
    return out

def first_samples_after(q: Questions, family: Family, items: dict[tuple[int, int], pd.Timestamp]
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
        if not any(high is not None or low < q.end for low, high in pending.values()):
            break
        for item, (low, high) in list(pending.items()):
            if high is None and low >= q.end:
                del pending[item]
                continue
            if high is None:
                window = SEARCH_WINDOWS[min(stage[item], len(SEARCH_WINDOWS) - 1)]
                top = min(low + window, q.end)
            else:
                top = (low + (high - low) // 2).ceil(MINUTE)
            groups[(low, top)].append(item)
        order = list(groups)
        answers = _terms(q, family, [(sorted({i[0] for i in groups[g]}), g[1] - g[0], g[1]) for g in order],
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
                elif top >= q.end:
                    del pending[item]
                else:
                    pending[item] = (top, None)
                    stage[item] += 1
    return found

def previous_values(q: Questions, family: Family, items: dict[int, pd.Timestamp]) -> dict[int, Previous]:
    """For each counter -> before: the value of its last sample at or before `before`, or FIRST_EVER when
    the server holds none: the last hour and day first (one batched `last_over_time` each), then older
    INDEX_WINDOW slices where the series index lists the counter, down to the history's floor."""
    result: dict[int, Previous] = {}
    pending = dict(items)
    for window in LOOKUP_WINDOWS[:2]:
        groups: dict[pd.Timestamp, list[int]] = defaultdict(list)
        for key, top in pending.items():
            groups[top].append(key)
        terms = [(keys, window, top) for top, keys in groups.items()]
        for (keys, _, top), answer in zip(terms, _terms(q, family, terms, "last_over_time"), strict=True):
            for key in keys:
                if key in answer:
                    result[key] = Previous(answer[key])
                    del pending[key]
                else:
                    pending[key] = top - window
    floor = history_floor(q, q.selectors) if pending else None
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
            listed = set(family.key_of(q.series(family.narrow(keys), bottom, top)).tolist()) & set(keys)
            answer = _terms(q, family, [(sorted(listed), top - bottom, top)], "last_over_time")[0] \
                if listed else {}
            for key in keys:
                if key in answer:
                    result[key] = Previous(answer[key])
                    del pending[key]
                else:
                    pending[key] = bottom
    return result

def previous_raw(q: Questions, family: Family, keys: list[int], before: pd.Timestamp) -> dict[int, tuple[int, float]]:
    """For counters spelt several ways: the last sample (time, value) at or before `before` over every
    spelling (raw windows stepping back like `previous_values`; counters without any are left out)."""
    result: dict[int, tuple[int, float]] = {}
    pending, top, stage = set(keys), before, 0
    floor = history_floor(q, q.selectors)
    while pending and top > floor:
        window = LOOKUP_WINDOWS[stage] if stage < 2 else INDEX_WINDOW
        bottom = max(floor, top - window)
        ask = set(pending)
        if stage >= 2:  # only the counters the index lists in this slice
            ask &= set(family.key_of(q.series(family.narrow(ask), bottom, top)).tolist())
        frame = q.query(promql.raw_samples(family.narrow(ask), q.span(top - bottom)), top) if ask else pd.DataFrame()
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
