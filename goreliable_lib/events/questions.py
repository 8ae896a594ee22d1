"""The SLO event engine's questions to the server (`events.engine` plans them and applies the corrections).

One `Questions` per `fetch_slo_events` call sends every request through the source (`query`, `query_range`,
`series`: a `sources.base.PrometheusAPI`, so a snapshot records and replays them) and learns on the way: which
series each selector has (`series.Family`: `le` spellings of one bound are one counter), the scrape interval and
window, where the server's data starts (retention, a new server), when a series that stopped or was born comes
back, the value before a minute (`Previous`), and raw samples of just the series-minutes the engine corrects. The
expressions are `events.promql`'s; the maths is in `analysis.counters`.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import pandas as pd

from goreliable_lib.analysis import counters
from goreliable_lib.events import promql
from goreliable_lib.events.series import Family, family_of
from goreliable_lib.inputs.promql import Selector, widen_le
from goreliable_lib.sources.base import PrometheusAPI
from goreliable_lib.sources.promjson import DROPPED_SAMPLES
from goreliable_lib.timeutil import MINUTE

#: How long the scrape-interval probe looks back (raw samples), and again for slow scrapes (from SLOW_INTERVAL).
INTERVAL_PROBE = pd.Timedelta(minutes=10)
SLOW_INTERVAL_PROBE = pd.Timedelta(hours=1)
SLOW_INTERVAL = pd.Timedelta(seconds=90)
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
#: Requests of one step the engine sends side by side (`side_by_side`, `in_order`); the source itself caps what is
#: in flight (`max_concurrency`), so this only lets the waits overlap.
SIDE_BY_SIDE = 4

T = TypeVar("T")


def side_by_side(calls: Sequence[Callable[[], T]], at_most: int = SIDE_BY_SIDE) -> list[T]:
    """Run independent calls (each sending its requests), `at_most` at once; their results in the calls' order.
    The first failure is raised once the calls not yet started are cancelled."""
    if len(calls) <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=min(at_most, len(calls)), thread_name_prefix="slo-engine") as pool:
        futures = [pool.submit(call) for call in calls]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def in_order(calls: Iterable[Callable[[], T]], ahead: int = SIDE_BY_SIDE) -> Iterator[T]:
    """The calls' results in order, with at most `ahead` calls started and not yet consumed (what is held in memory
    stays bounded while the next requests are already on their way)."""
    with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="slo-engine") as pool:
        pending: list[Future[T]] = []
        try:
            for call in calls:
                pending.append(pool.submit(call))
                if len(pending) >= ahead:
                    yield pending.pop(0).result()
            while pending:
                yield pending.pop(0).result()
        finally:
            for future in pending:
                future.cancel()


@dataclass(frozen=True)
class Previous:
    """What a look-back found before a time: the value of the counter's last sample, or None when the server holds
    no sample of it before (its first sample is its first ever)."""

    value: float | None

    @property
    def first_ever(self) -> bool:
        return self.value is None


FIRST_EVER = Previous(None)


def range_is_closed(source: PrometheusAPI, at: pd.Timestamp) -> bool:
    """True when the server's range selectors hold both ends ([t - d, t], Prometheus 2.x, Thanos, Mimir 2):
    then a window (t - d, t] is written `[d - 1ms]` (timestamps are milliseconds)."""
    frame = source.query(promql.RANGE_PROBE, at)
    return bool(len(frame)) and float(frame["value"].iloc[0]) >= 3


class Questions:
    """One `fetch_slo_events` call: the requests it sends over (first, end] and what it learns on the way."""

    def __init__(self, source: PrometheusAPI, first: pd.Timestamp, end: pd.Timestamp, closed: bool) -> None:
        self.source = source
        self.first, self.end = first, end
        self.closed = closed
        self.queries: list[str] = []
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()  # requests are sent from several threads (`side_by_side`)
        self.window = MINUTE  # G, set once the interval is measured
        self.interval: float | None = None
        self.data_start: pd.Timestamp | None = None
        self.margin = counters.baseline_margin(MINUTE)
        self.history_floor_at: pd.Timestamp | None = None  # at or before the oldest sample, once looked for
        self.selectors: list[str] = []  # the selectors with series, once the data start was looked for

    # -- requests ------------------------------------------------------------------------------------------
    def span(self, length: pd.Timedelta) -> str:
        """A range selector's duration covering exactly (t - length, t] on this server (`promql.range_text`)."""
        return promql.range_text(length, closed=self.closed)

    def count(self, name: str, n: int = 1) -> None:
        """Add `n` to `stats[name]` (thread-safe)."""
        with self._lock:
            self.stats[name] += n

    def _asking(self, what: str) -> None:
        with self._lock:
            self.queries.append(what)
            self.stats["requests"] += 1

    def query(self, expression: str, at: pd.Timestamp) -> pd.DataFrame:
        """An instant query; a raw answer's dropped staleness markers and non-finite values are counted in
        `stats["dropped_samples"]` (the source drops them; `counters` ignores any left by a source that does not)."""
        self._asking(expression)
        frame = self.source.query(expression, at)
        self.count("dropped_samples", int(frame.attrs.get(DROPPED_SAMPLES, 0)))
        return frame

    def query_range(self, expression: str, start: pd.Timestamp, end: pd.Timestamp, step: pd.Timedelta,
                    series: int) -> pd.DataFrame:
        """A range query on the step's grid; the source cuts it so that `series` x points stays bounded."""
        self._asking(expression)
        return self.source.query_range(expression, start, end, step, series=series)

    def series(self, match: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        self._asking(f"series({match})")
        return self.source.series(match, start, end)

    # -- what exists ---------------------------------------------------------------------------------------
    def families(self, selector: Selector) -> list[Family]:
        """The selector's series in the range, one family per metric name."""
        widened = widen_le(selector)
        listed = self.series(widened.to_promql(), self.first - MINUTE * (1 + counters.MAX_SCRAPE_WINDOW_MINUTES),
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
                    frame = self.query(promql.raw_samples(family.selector.to_promql(), self.span(window)), at)
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
