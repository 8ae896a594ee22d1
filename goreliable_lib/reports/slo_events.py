"""SLO fetch glue: catalog SLO + Prometheus source -> exact per-minute good/total event frames.

How the events are computed (exact to the event, from raw counter samples):
- The raw samples of each counter selector come from instant queries of a range vector (`q[8d]` at the
  chunk's end; a window is cut into chunks of at most 8 days): the samples as scraped, with their own
  timestamps. A range query at step 60 s would be the usual way, but Prometheus' 5-minute lookback repeats the
  last sample through a scrape gap (hiding up to 5 minutes of every gap), and the filter that removes the
  repeats (`q and timestamp(q) > time() - 60`) measured 150x slower than the plain query on Prometheus 2.42
  (72 s for 7 days of 24 series). Samples are put on the minute grid by rounding their time up to the
  minute, so a minute t holds the samples of (t - 1m, t].
- Per series: the increment at a sample is its value minus the previous sample's; a drop means the counter
  restarted from 0, so the increment is the new value (a *counter reset*, listed for the data-quality
  section). A series first seen after the baseline margin (e.g. `code="500"` on the first error) is a new
  counter counted from 0; its first value is listed as a *new series*.
- The increments are summed across series per minute; a minute without any sample is NaN (a *gap*), so the
  analysis can compute coverage. Events scraped after a gap land on the minute of that scrape.
- Why not `sum(q)` server-side: a sum of counters is not a counter. When one pod restarts the sum drops by
  that pod's count only, and treating the drop as a reset of the sum would count every other pod's history
  again (and a pod appearing or disappearing moves the sum without any request). `sum(increase(q[1m]))` is
  reset-safe but extrapolates, so it is not exact. Only per-series differences are both safe and exact.
- Keeping requests few and small: when `good` (or `bad`) selects a subset of `total`'s series (same metric,
  extra matchers), only `total` is fetched and the subset is taken locally with the same matchers. Only the
  series the selectors name are fetched (the latency bucket at the threshold, not every bucket).
- Histogram thresholds: a matcher `le="0.3"` is sent as a regex matching every decimal spelling of the same
  number (`0.3`, `0.30`, ...) and `le` is then normalised numerically, so series that differ only in the
  spelling (Prometheus 3 normalisation, mixed client libraries) are one counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from goreliable_lib.analysis.runs import gap_periods
from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.catalog import SLO
from goreliable_lib.inputs.promql import Matcher, Selector, format_le, quote, widen_le
from goreliable_lib.timeutil import parse_time, to_rfc3339

MINUTE = pd.Timedelta(minutes=1)
#: The longest range one query asks for (raw samples; ~1.5 MB of JSON per series-week at 1 sample a minute).
CHUNK = pd.Timedelta(days=8)
#: History fetched before the analysis' lookback: series first seen in it are baselines, not new counters.
BASELINE_MARGIN = pd.Timedelta(hours=1)
#: History the slowest alert (3d/6h) and the 3d burn rate need before a window's start.
DEFAULT_LOOKBACK = pd.Timedelta(days=3)
SAMPLE_COLUMNS = ("timestamp", "value")


class InstantSource(Protocol):
    """What this module needs of `sources.prometheus.PrometheusSource`."""

    def query(self, promql: str, time: Any = None) -> pd.DataFrame: ...

    def query_range(self, promql: str, start: Any, end: Any, step: Any) -> pd.DataFrame: ...


def samples_query(selector: Selector, span: pd.Timedelta) -> str:
    """PromQL returning the raw samples of the selector's series over the `span` before the query time."""
    return f"{widen_le(selector).to_promql()}[{int(span.total_seconds())}s]"


# --------------------------------------------------------------------------------------------- local matching
def _label_values(samples: pd.DataFrame, label: str) -> pd.Series:
    if label not in samples.columns:
        return pd.Series("", index=samples.index, dtype=object)
    return samples[label].astype(object).where(samples[label].notna(), "").astype(str)


def matches(samples: pd.DataFrame, matchers: tuple[Matcher, ...]) -> pd.Series:
    """Boolean mask of the sample rows whose labels satisfy the matchers (Prometheus semantics: a missing label
    is the empty string, regexes are anchored, `le` equality compares numbers)."""
    mask = pd.Series(True, index=samples.index)
    for matcher in matchers:
        values = _label_values(samples, matcher.label)
        if matcher.label == "le" and matcher.op in ("=", "!="):
            hit = pd.to_numeric(values.replace({"+Inf": "inf", "-Inf": "-inf"}), errors="coerce") \
                == float(matcher.value)
        elif matcher.op in ("=", "!="):
            hit = values == matcher.value
        else:
            hit = values.str.fullmatch(matcher.value).fillna(False).astype(bool)
        mask &= ~hit if matcher.op in ("!=", "!~") else hit
    return mask


def normalise_le(samples: pd.DataFrame) -> pd.DataFrame:
    """Rewrite `le` to its canonical spelling so `0.3` and `0.30` are the same series."""
    if "le" not in samples.columns or samples.empty:
        return samples
    out = samples.copy()
    codes, spellings = pd.factorize(out["le"], use_na_sentinel=True)
    numbers = pd.to_numeric(pd.Series(spellings, dtype=object).replace({"+Inf": "inf", "-Inf": "-inf"}),
                            errors="coerce")
    canonical = np.array([format_le(n) if not np.isnan(n) else v for v, n in zip(spellings, numbers, strict=True)]
                         + [None], dtype=object)
    out["le"] = canonical[codes]  # code -1 (no le label) picks the trailing None
    return out


def series_key(samples: pd.DataFrame, labels: list[str]) -> np.ndarray:
    """One integer per distinct label set (missing labels included), by combining per-label codes."""
    key = np.zeros(len(samples), dtype=np.int64)
    for label in labels:
        codes, uniques = pd.factorize(samples[label], use_na_sentinel=True)
        key, _ = pd.factorize(key * (len(uniques) + 1) + (codes + 1))
    return key


# --------------------------------------------------------------------------------------------- increments
@dataclass
class CounterIncrements:
    """Per-minute increments of one selector (summed over its series) and what was seen on the way."""

    per_minute: pd.Series  # index: every minute of the range; NaN where no series had a sample
    resets: pd.DataFrame  # series, timestamp, before, after
    new_series: pd.DataFrame  # series, timestamp, value
    series: int


def _series_names(samples: pd.DataFrame, labels: list[str]) -> pd.Series:
    parts = [samples[label].astype(object).map(lambda v, k=label: "" if v is None or v != v else f"{k}={quote(v)}")
             for label in labels if label != "__name__"]
    name = samples["__name__"].astype(object).fillna("") if "__name__" in labels else pd.Series("", samples.index)
    if not parts:
        return name
    inner = pd.concat(parts, axis=1).apply(lambda row: ",".join(x for x in row if x), axis=1)
    return name + "{" + inner + "}"


def counter_increments(samples: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
                       baseline_until: pd.Timestamp) -> CounterIncrements:
    """Exact per-minute increments over the minutes of (baseline_until, end] from raw counter samples.

    `samples` is a long frame (timestamp, value, labels...) of samples at whole minutes from `start`. The first
    sample of a series at or before `baseline_until` is its baseline; a series first seen later counts from 0.
    """
    minutes = pd.date_range(baseline_until + MINUTE, end, freq="min", name="timestamp")
    empty_resets = pd.DataFrame({"series": pd.Series([], dtype=object), "timestamp": pd.DatetimeIndex([], tz="UTC"),
                                 "before": pd.Series([], dtype=float), "after": pd.Series([], dtype=float)})
    empty_new = pd.DataFrame({"series": pd.Series([], dtype=object), "timestamp": pd.DatetimeIndex([], tz="UTC"),
                              "value": pd.Series([], dtype=float)})
    samples = samples[(samples["timestamp"] >= start) & (samples["timestamp"] <= end)] if len(samples) else samples
    if samples.empty:
        return CounterIncrements(pd.Series(np.nan, index=minutes), empty_resets, empty_new, 0)
    samples = normalise_le(samples)
    labels = [c for c in samples.columns if c not in SAMPLE_COLUMNS]
    key = series_key(samples, labels)
    frame = pd.DataFrame({"key": key, "timestamp": samples["timestamp"].reset_index(drop=True),
                          "value": samples["value"].to_numpy(dtype=float)})
    # Two spellings of one bucket scraped at the same time are the same counter: keep one sample.
    frame = frame.groupby(["key", "timestamp"], sort=True, as_index=False)["value"].max()
    previous = frame.groupby("key")["value"].shift()
    increment = frame["value"] - previous
    reset = increment < 0
    increment = increment.where(~reset, frame["value"])
    first = previous.isna()
    new = first & (frame["timestamp"] > baseline_until)
    increment = increment.where(~new, frame["value"])
    frame["increment"] = increment
    per_minute = frame[frame["timestamp"] > baseline_until].groupby("timestamp")["increment"].sum()
    per_minute = per_minute.reindex(minutes)

    first_rows = samples.assign(_key=key).drop_duplicates("_key")
    name_of = dict(zip(first_rows["_key"], _series_names(first_rows, labels), strict=True)) if labels else {0: ""}
    flagged = frame[reset & (frame["timestamp"] > baseline_until)]
    resets = pd.DataFrame({"series": flagged["key"].map(name_of).astype(object),
                           "timestamp": flagged["timestamp"], "before": previous[flagged.index],
                           "after": flagged["value"]}).reset_index(drop=True)
    created = frame[new]
    new_series = pd.DataFrame({"series": created["key"].map(name_of).astype(object),
                               "timestamp": created["timestamp"], "value": created["value"]}).reset_index(drop=True)
    return CounterIncrements(per_minute, resets if len(resets) else empty_resets,
                             new_series if len(new_series) else empty_new, int(frame["key"].nunique()))


# --------------------------------------------------------------------------------------------- fetching
def fetch_counter_samples(source: InstantSource, selector: Selector, start: pd.Timestamp,
                          end: pd.Timestamp) -> tuple[pd.DataFrame, list[str]]:
    """Raw samples of a counter selector in (start, end], timestamps rounded up to the minute.

    One instant query of a range vector per chunk of at most CHUNK (8 days); chunk boundaries lie on a fixed
    grid (multiples of CHUNK since the epoch, whole UTC days), so overlapping windows ask for the same older
    chunks. Returns the long frame (timestamp, value, labels) and the queries sent."""
    frames, queries = [], []
    chunk_end = end
    while chunk_end > start:
        grid_start = pd.Timestamp((chunk_end.value - 1) // CHUNK.value * CHUNK.value, tz="UTC")
        chunk_start = max(start, grid_start)
        query = samples_query(selector, chunk_end - chunk_start)
        frame = source.query(query, to_rfc3339(chunk_end))
        if len(frame):
            frame = frame[(frame["timestamp"] > chunk_start) & (frame["timestamp"] <= chunk_end)]
            frames.append(frame)
        queries.append(query)
        chunk_end = chunk_start
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({"timestamp": pd.DatetimeIndex([], tz="UTC"), "value": pd.Series([], dtype=float)}), \
            queries
    samples = pd.concat(frames[::-1], ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    samples["timestamp"] = samples["timestamp"].dt.ceil("min")
    return samples, queries


@dataclass
class SLOEvents:
    """Per-minute events of one SLO and the data-quality facts seen while computing them."""

    name: str
    events: pd.DataFrame  # timestamp, good, total (NaN = no sample in that minute)
    resets: pd.DataFrame  # query, series, timestamp, before, after
    new_series: pd.DataFrame  # query, series, timestamp, value
    gaps: pd.DataFrame  # start, end, minutes (minutes without any `total` sample)
    queries: list[str] = field(default_factory=list)
    series: dict[str, int] = field(default_factory=dict)  # series per role (good may be a subset of total)
    fetched_series: int = 0  # distinct series fetched


def _tagged(frame: pd.DataFrame, role: str) -> pd.DataFrame:
    return frame.assign(query=role)[["query", *frame.columns]]


def fetch_slo_events(source: InstantSource, slo: SLO, start: Any, end: Any,
                     lookback: pd.Timedelta = DEFAULT_LOOKBACK) -> SLOEvents:
    """Per-minute good/total events of `slo` for the minutes of (start - lookback, end].

    `lookback` is the history the burn rates and alerts need before the window's start (3 days for the SRE
    workbook's slowest alert). The frame starts after a one-hour baseline margin that is fetched but not
    returned."""
    start, end = parse_time(start, field="start").floor("min"), parse_time(end, field="end").floor("min")
    if end <= start:
        raise BadInputError(f"window: end {to_rfc3339(end)} is not after start {to_rfc3339(start)}")
    baseline_until = start - lookback
    fetch_start = baseline_until - BASELINE_MARGIN
    total_selector = slo.total_selector
    total_samples, queries = fetch_counter_samples(source, total_selector, fetch_start, end)

    part_role = "good" if slo.good_selector is not None else "bad"
    part_selector: Selector = slo.good_selector or slo.bad_selector  # type: ignore[assignment]
    extra = part_selector.extra_matchers(total_selector)
    if extra is not None:  # a subset of total's series: filter locally, no second query
        part_samples = total_samples[matches(total_samples, extra)] if len(total_samples) else total_samples
    else:
        part_samples, sent = fetch_counter_samples(source, part_selector, fetch_start, end)
        queries.extend(sent)
    total = counter_increments(total_samples, fetch_start, end, baseline_until)
    part = counter_increments(part_samples, fetch_start, end, baseline_until)
    # The resets and new series of a subset are already listed under total.
    part_resets = part.resets.iloc[0:0] if extra is not None else part.resets
    part_new = part.new_series.iloc[0:0] if extra is not None else part.new_series
    has_data = total.per_minute.notna()
    part_events = part.per_minute.fillna(0.0).where(has_data)
    good = part_events if part_role == "good" else total.per_minute - part_events
    events = pd.DataFrame({"timestamp": total.per_minute.index, "good": good.to_numpy(),
                           "total": total.per_minute.to_numpy()})
    return SLOEvents(
        name=slo.name, events=events,
        resets=pd.concat([_tagged(total.resets, "total"), _tagged(part_resets, part_role)], ignore_index=True),
        new_series=pd.concat([_tagged(total.new_series, "total"), _tagged(part_new, part_role)], ignore_index=True),
        gaps=gap_periods(total.per_minute), queries=queries,
        series={"total": total.series, part_role: part.series},
        fetched_series=total.series + (0 if extra is not None else part.series))


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
