"""SLO event engine: catalog SLO + Prometheus-API source -> exact per-minute good/total events.

Memory does not grow with series x samples: the server sums the counters per minute and the engine fetches raw
samples only for the few series-minutes that need a correction (the maths: `analysis.counters`; the design and
its reasons: docs/architecture.md, "SLO event engine"). Per selector, over the minutes (start - lookback, end]:
1. `/api/v1/series`: which series exist (their label sets; `le` spellings of one bound are one counter).
2. The scrape interval from a 10-minute raw probe (an hour for slow scrapes) -> the scrape window G (whole minutes,
   `counters.scrape_window`).
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
one first seen later is new (counted from 0). For one group of a grouped SLO, where the data starts is asked of the
grouped SLO's selectors (without the group's matchers): a group born inside the range is new series on a server
whose data starts earlier, not a new server.

Every request goes through the source (`query`, `query_range`, `series`), so a snapshot records and replays them;
they are all small (one value a minute per role, sparse flags, sparse raw corrections). A step's requests that do not
depend on each other are sent side by side (`questions.side_by_side`; the raw samples a few requests ahead of the
corrections computed from them, `questions.in_order`); the source caps what is in flight. The layer's modules:
`promql` writes every expression, `questions.Questions` sends every request and asks the questions of steps 1,
2, 6 and 7, `series.Family` is what the server lists, `family` runs steps 3-7 for one family (its state and one
function per step), and this module puts the families together into an SLO's events and data facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from goreliable_lib.analysis import counters
from goreliable_lib.analysis.runs import gap_periods
from goreliable_lib.errors import BadInputError
from goreliable_lib.events import promql
from goreliable_lib.events.data_start import find_data_start
from goreliable_lib.events.family import Corrections, correct, family_state, plan, sums
from goreliable_lib.events.questions import Questions, range_is_closed
from goreliable_lib.events.series import Family
from goreliable_lib.inputs.catalog import SLO, SLOObjective
from goreliable_lib.inputs.promql import Selector
from goreliable_lib.sources.base import PrometheusAPI
from goreliable_lib.sources.memo import endpoint_of
from goreliable_lib.timeutil import MINUTE, parse_time, to_rfc3339

#: History the slowest alert (3d/6h) and the 3d burn rate need before a window's start.
DEFAULT_LOOKBACK = pd.Timedelta(days=3)


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
    backend: str = "the Prometheus source"  # where the events came from, for messages (`memo.endpoint_of`)

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


# --------------------------------------------------------------------------------------------- the entry point
def _data_families(questions: Questions, slo: SLO | SLOObjective) -> list[Family]:
    """For one group of a grouped SLO, the grouped SLO's families (whose series say where the server's data
    starts); [] otherwise."""
    if not isinstance(slo, SLOObjective) or not slo.group:
        return []
    whole = slo.whole
    part: Selector = whole.good_selector or whole.bad_selector  # type: ignore[assignment]
    total = questions.families(whole.total_selector)
    return total + ([] if part.extra_matchers(whole.total_selector) is not None else questions.families(part))


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


def server_data_start(source: PrometheusAPI, slo: SLO, start: Any, end: Any) -> pd.Timestamp | None:
    """The server's oldest sample of the SLO's series when it lies in (start, end], found as `fetch_slo_events`
    finds `data_starts_at` (the series index, checked on the data) without fetching any event; None when the
    server holds data from before `start` (or none in the range)."""
    start, end = parse_time(start, field="start").floor("min"), parse_time(end, field="end").floor("min")
    questions = Questions(source, start, end, range_is_closed(source, end))
    part: Selector = slo.good_selector or slo.bad_selector  # type: ignore[assignment]
    families = questions.families(slo.total_selector)
    if part.extra_matchers(slo.total_selector) is None:
        families += questions.families(part)
    found = find_data_start(questions, _data_families(questions, slo) or families)
    return found if found is not None and found > start else None


def fetch_slo_events(source: PrometheusAPI, slo: SLO, start: Any, end: Any,
                     lookback: pd.Timedelta = DEFAULT_LOOKBACK) -> SLOEvents:
    """Per-minute good/total events of `slo` for the minutes of (start - lookback, end].

    `lookback` is the history the burn rates and alerts need before the window's start (3 days for the SRE
    workbook's slowest alert)."""
    start, end = parse_time(start, field="start").floor("min"), parse_time(end, field="end").floor("min")
    if end <= start:
        raise BadInputError(f"window: end {to_rfc3339(end)} is not after start {to_rfc3339(start)}")
    first = start - lookback
    questions = Questions(source, first, end, range_is_closed(source, end))
    questions.queries.append(promql.RANGE_PROBE)
    questions.stats["requests"] += 1
    total_selector = slo.total_selector
    part_role = "good" if slo.good_selector is not None else "bad"
    part_selector: Selector = slo.good_selector or slo.bad_selector  # type: ignore[assignment]
    extra = part_selector.extra_matchers(total_selector)
    same = extra == ()  # the part selects the very series of the total (a lone counter): its events are the total's
    if same:
        extra = None
    total_families = questions.families(total_selector)
    part_families = [] if extra is not None or same else questions.families(part_selector)
    questions.set_window(questions.measure_interval(total_families + part_families))
    questions.data_start = find_data_start(questions, _data_families(questions, slo) or total_families + part_families)

    states = [family_state(questions, f, extra, "total") for f in total_families]
    part_states = [family_state(questions, f, None, part_role) for f in part_families]
    minutes = pd.date_range(first + MINUTE, end, freq="min", name="timestamp")
    totals, parts = [], []
    seen: list[Corrections] = []
    for state in states + part_states:
        found = sums(state)
        corrected = correct(state, plan(state, found))
        seen.append(corrected)
        corrections = pd.Series(corrected.total, index=state.minutes)
        held = found.a.reindex(minutes).notna()
        if state.role == "total":
            totals.append((found.a, found.b, corrections, held))
            if extra is not None:
                parts.append((found.part_a, found.part_b, pd.Series(corrected.part, index=state.minutes), held))
        else:
            parts.append((found.a, found.b, corrections, held))

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
    if questions.data_start is not None:  # the minutes before the one holding the server's oldest sample
        covered_from = max(first, questions.data_start.ceil("min") - MINUTE)
        has_data &= minutes > covered_from
    total = role_events(totals).where(has_data)
    part = role_events(parts).where(has_data)
    if same:
        part = total if part_role == "good" else total * 0.0
    good = part if part_role == "good" else total - part
    events = pd.DataFrame({"timestamp": minutes, "good": good.to_numpy(), "total": total.to_numpy()})
    resets = _facts([r for c in seen for r in c.resets if r["timestamp"] in minutes],
                    ["query", "series", "timestamp", "before", "after"])
    new_series = _facts([r for c in seen for r in c.new_series if r["timestamp"] in minutes],
                        ["query", "series", "timestamp", "value"])
    gaps = gap_periods(total.rename("total"), not_before=covered_from)
    gaps["carried"] = [bool(has_data[minutes > g_end].any()) for g_end in gaps["end"]] if len(gaps) else \
        pd.Series([], dtype=bool)
    restarts = resets["timestamp"].value_counts() if len(resets) else pd.Series(dtype=int)
    gaps["restarts"] = [int(restarts.get(g_end + MINUTE, 0)) for g_end in gaps["end"]] if len(gaps) else \
        pd.Series([], dtype=int)
    series = {"total": sum(len(s.family.keys) for s in states)}
    if same:
        series[part_role] = series["total"]
    elif extra is not None:
        series[part_role] = int(sum(s.part_keys.sum() for s in states))
    else:
        series[part_role] = sum(len(s.family.keys) for s in part_states)
    data_start = questions.data_start
    return SLOEvents(
        name=slo.name, events=events, resets=resets, new_series=new_series, gaps=gaps, queries=questions.queries,
        series=series, fetched_series=series["total"] + (0 if extra is not None or same else series[part_role]),
        data_starts_at=data_start if data_start is not None and data_start > first else None,
        covered_from=covered_from if covered_from is not None and covered_from > first else None,
        scrape_interval_seconds=questions.interval, stats=dict(questions.stats), backend=endpoint_of(source))


# --------------------------------------------------------------------------------------------- one counter
@dataclass(frozen=True)
class CounterQuestion:
    """One counter selector asked as an SLO whose good and total are both it (what `fetch_slo_events` reads)."""

    name: str
    total_selector: Selector

    @property
    def good_selector(self) -> Selector:
        return self.total_selector

    @property
    def bad_selector(self) -> None:
        return None


def fetch_counter_increase(source: PrometheusAPI, name: str, selector: Selector, start: Any, end: Any) -> SLOEvents:
    """The exact per-minute increase of the counters `selector` selects over the minutes of (start, end] (e.g.
    vLLM's `vllm:prompt_tokens_total`), by the SLO engine's maths (resets, gaps, series born or gone); the result's
    `events` hold it as `total` (and `good`, equal). No series: every minute NaN."""
    return fetch_slo_events(source, CounterQuestion(name, selector), start, end,  # type: ignore[arg-type]
                            lookback=pd.Timedelta(0))
