"""SLO event engine on synthetic samples (an in-memory Prometheus API): exact increments, resets, gaps, new
series, le spellings, subsets, bounded requests, the scrape window and the data-start facts."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from slo_fixtures import CATALOG, T0, memory_source, platform_table, ratio_slo, samples

from goreliable_lib.analysis import counters
from goreliable_lib.events import engine
from goreliable_lib.inputs import promql
from goreliable_lib.inputs.catalog import load_catalog
from goreliable_lib.inputs.promql import parse_selector
from goreliable_lib.plots import slo_text

MIN = pd.Timedelta(minutes=1)
H = pd.Timedelta(hours=1)


def _t(k: int) -> str:
    return str(T0 + k * MIN)


PODS = ratio_slo('x_total{pod=~"a|b|c"}', "x_total")


def _history(k: int = 120) -> list:
    """Two hours of history before T0 so T0's minutes are far from the data's start."""
    return [(_t(-j), 1, {"__name__": "x_total", "pod": p}) for j in range(k, 0, -1) for p in ("a", "b")]


@pytest.mark.parametrize("closed", [True, False], ids=["prometheus-2", "left-open"])
def test_resets_gaps_and_new_series(closed: bool) -> None:
    a, b, c = ({"__name__": "x_total", "pod": p} for p in "abc")
    rows = [r for r in _history() if r[2]["pod"] != "a"] + \
        [(_t(-1), 90, a), (_t(0), 100, a), (_t(1), 110, a), (_t(2), 5, a), (_t(3), 15, a), (_t(5), 30, a),  # reset
         (_t(0), 50, b), (_t(1), 50, b), (_t(2), 60, b), (_t(3), 60, b), (_t(5), 70, b),  # minute 4: a gap
         (_t(3), 4, c), (_t(5), 6, c)]  # pod c starts at minute 3 from 0: a new series
    fetched = engine.fetch_slo_events(memory_source(samples(rows), closed=closed), PODS, T0, T0 + 5 * MIN,
                                        lookback=pd.Timedelta(0))
    events = fetched.events.set_index("timestamp")["total"]
    np.testing.assert_array_equal(events.to_numpy(), [10, 5 + 10, 10 + 4, np.nan, 15 + 10 + 2])
    assert list(events.index) == [T0 + k * MIN for k in range(1, 6)]
    assert fetched.resets[["series", "before", "after"]].values.tolist() == [['x_total{pod="a"}', 110.0, 5.0]]
    assert fetched.resets["timestamp"].tolist() == [T0 + 2 * MIN]
    assert fetched.new_series[["series", "value"]].values.tolist() == [['x_total{pod="c"}', 4.0]]
    assert fetched.series == {"total": 3, "good": 3}
    assert fetched.gaps[["start", "end", "minutes"]].values.tolist() == [[T0 + 4 * MIN, T0 + 4 * MIN, 1]]
    assert fetched.gaps["carried"].tolist() == [True] and fetched.gaps["restarts"].tolist() == [0]
    assert fetched.data_starts_at is None and fetched.covered_from is None


def test_le_spellings_are_one_counter() -> None:
    old, new = {"__name__": "h_bucket", "le": "0.3", "service": "api"}, {"__name__": "h_bucket", "le": "0.30",
                                                                         "service": "api"}
    count = {"__name__": "h_count", "service": "api"}
    rows = [(_t(-k), 10, old) for k in range(60, 0, -1)] + [(_t(-k), 20, count) for k in range(60, -4, -1)] + \
        [(_t(0), 10, old), (_t(1), 12, old), (_t(2), 15, new), (_t(3), 20, new), (_t(3), 20, old)]
    latency = ratio_slo('h_bucket{service="api",le="0.3"}', 'h_count{service="api"}')
    fetched = engine.fetch_slo_events(memory_source(samples(rows)), latency, T0, T0 + 3 * MIN,
                                        lookback=pd.Timedelta(0))
    assert fetched.events["good"].tolist() == [2, 3, 5]
    assert fetched.series["good"] == 1 and fetched.new_series.empty
    assert any(r'le=~"0\\.30*"' in q for q in fetched.queries)  # every spelling is asked for


@pytest.mark.parametrize(("bound", "spellings", "not_matching"), [
    ("0.3", ["0.3", "0.30", "0.300"], ["0.03", "0.31", "3", "0.3e0"]),
    ("1", ["1", "1.0", "1.00"], ["10", "0.1", "1.01"]),
    ("0.25", ["0.25", "0.250"], ["0.2", "0.255"]),
    ("+Inf", ["+Inf", "Inf"], ["1"]),
])
def test_le_regex_matches_every_spelling(bound: str, spellings: list[str], not_matching: list[str]) -> None:
    pattern = promql.le_regex(bound)
    assert all(re.fullmatch(pattern, s) for s in spellings), pattern
    assert not any(re.fullmatch(pattern, s) for s in not_matching), pattern
    assert promql.format_le(float(spellings[-1].replace("Inf", "inf"))) == bound.replace("Inf", "Inf")


def test_the_engine_tells_the_source_how_many_series_its_sums_hold() -> None:
    """The per-minute sums ask the source for whole ranges with the family's series count, so the source's one
    chunker (`sources.prometheus`, tested there) keeps series x points per request bounded."""
    table = platform_table(3 * 24 * 60, start=T0 - pd.Timedelta(days=3))
    source = memory_source(table)
    end = T0 - pd.Timedelta(minutes=7)
    engine.fetch_slo_events(source, ratio_slo('h_bucket{service="api",le="0.3"}', 'h_count{service="api"}'),
                            end - pd.Timedelta(days=2), end, lookback=pd.Timedelta(0))
    sums = [r for r in source.requests if r["method"] == "query_range" and r["query"].startswith("sum")]
    # h_count and h_bucket{le="0.3"} have 2 series each (pods a and b): A and B of each, one request each over the
    # whole range
    assert {r["series"] for r in sums} == {2} and len(sums) == 4
    assert {pd.Timestamp(r["end"]) for r in sums} == {end}


def test_local_matching_follows_prometheus_semantics() -> None:
    frame = samples([(_t(0), 1, {"code": "200"}), (_t(0), 1, {"code": "503"}), (_t(0), 1, {}),
                     (_t(0), 1, {"code": "5000"})])
    selector = parse_selector('x{code!~"5.."}')
    assert counters.matches(frame, selector.matchers).tolist() == [True, False, True, True]
    assert counters.matches(frame, parse_selector('x{code=""}').matchers).tolist() == [False, False, True, False]


def test_subset_selector_is_one_grouped_query_and_counts_exactly() -> None:
    source = memory_source(platform_table(200, reset_at=150, gap=range(120, 125)))
    slo = ratio_slo('http_requests_total{service="api",code!~"5.."}', 'http_requests_total{service="api"}')
    start, end = T0 + 100 * MIN, T0 + 200 * MIN
    fetched = engine.fetch_slo_events(source, slo, start, end, lookback=30 * MIN)
    sums = [r["query"] for r in source.requests if r["method"] == "query_range" and r["query"].startswith("sum")]
    assert sums and all(q.startswith("sum by (code)") for q in sums)  # good and total from one query each
    assert not any("!~" in q for q in sums)  # the good selector itself is never summed
    window = fetched.events[fetched.events["timestamp"] > start]
    assert window["total"].sum() == 100 * 200  # 100 minutes x (99 + 1 + 100): neither reset nor gap loses any
    assert window["good"].sum() == 100 * 199
    assert window["total"].isna().sum() == 5
    assert fetched.gaps[["start", "end", "minutes"]].values.tolist() == [[T0 + 120 * MIN, T0 + 124 * MIN, 5]]
    assert len(fetched.resets) == 2  # pod a's code=200 and code=503 series
    assert fetched.events["timestamp"].iloc[0] == start - 30 * MIN + MIN
    assert fetched.scrape_interval_seconds == 60


def test_bad_selector_and_latency_bucket() -> None:
    source = memory_source(platform_table(100))
    bad = ratio_slo(bad='http_requests_total{service="api",code=~"5.."}', total='http_requests_total{service="api"}')
    events = engine.fetch_slo_events(source, bad, T0 + 30 * MIN, T0 + 100 * MIN, lookback=10 * MIN).events
    assert (events["total"] - events["good"]).sum() == 80 and events["total"].sum() == 80 * 200
    latency = ratio_slo('h_bucket{service="api",le="0.3"}', 'h_count{service="api"}')
    fetched = engine.fetch_slo_events(source, latency, T0 + 30 * MIN, T0 + 100 * MIN, lookback=10 * MIN)
    assert fetched.events["good"].sum() == 80 * 2 * 95  # the le spelling changes at minute 50: no loss
    assert fetched.series == {"total": 2, "good": 2}
    assert fetched.new_series.empty


def test_no_samples_at_all_gives_nan_minutes() -> None:
    slo = load_catalog(CATALOG)[0]
    source = memory_source(samples([(_t(0), 1, {"__name__": "other_total"})]))
    fetched = engine.fetch_slo_events(source, slo, T0, T0 + 10 * MIN, lookback=MIN)
    assert fetched.events["total"].isna().all() and len(fetched.events) == 11
    assert fetched.gaps["minutes"].tolist() == [11]
    assert fetched.series == {"total": 0, "good": 0}


def test_five_minute_scrapes_are_covered_between_samples() -> None:
    """With a 5-minute scrape the minutes between two samples are covered (0 events), not scrape gaps; a
    missed scrape (10 minutes of silence) is."""
    x = {"__name__": "x_total", "pod": "a"}
    times = [k for k in range(-120, 61, 5) if k != 30]  # the scrape at minute 30 failed
    rows = [(_t(k), 1000 + 7 * (k + 120), x) for k in times]
    fetched = engine.fetch_slo_events(memory_source(samples(rows)), ratio_slo('x_total{pod="a"}', "x_total"), T0,
                                        T0 + 60 * MIN, lookback=pd.Timedelta(0))
    assert fetched.scrape_interval_seconds == 300
    assert fetched.events["total"].sum() == 7 * 60
    assert fetched.gaps[["start", "minutes"]].values.tolist() == [[T0 + 30 * MIN, 5]]  # 30..34: none within 5m


def test_data_starting_inside_the_range_is_not_a_gap() -> None:
    """A server holding no data before T0 (retention): minutes before its data and its baseline margin are
    unknown, not gaps, and `data_starts_at` says so; the counters' first samples are baselines."""
    rows = [(_t(k), 10_000 + 5 * k, {"__name__": "x_total", "pod": p}) for k in range(0, 240) for p in "ab"]
    rows += [(_t(k), 1 + k - 100, {"__name__": "x_total", "pod": "c"}) for k in range(100, 240)]  # born later
    fetched = engine.fetch_slo_events(memory_source(samples(rows)), PODS, T0 + 2 * H, T0 + 4 * H - MIN,
                                        lookback=3 * H)
    assert fetched.data_starts_at == T0 and fetched.covered_from == T0 - MIN
    events = fetched.events.set_index("timestamp")["total"]
    assert events[:T0 - MIN].isna().all() and events[T0:].notna().all()
    assert fetched.gaps.empty
    assert events[T0] == 0  # the first samples: baselines (what the counters counted before is unknown)
    assert events[T0 + MIN:T0 + 99 * MIN].eq(10).all()  # a and b only
    assert events[T0 + 100 * MIN] == 10 + 1  # pod c is a new series: its first value counts
    facts = fetched.window_data(T0 + 2 * H - 3 * H, T0 + 4 * H - MIN)
    assert facts.partial and facts.data_starts_at == T0
    assert facts.summary()["data_starts_at"] == "2026-11-10T12:00:00Z" and facts.summary()["partial"]
    assert "data starts 2026-11-10 12:00 UTC" in slo_text.partial_window_warning("x", facts)
    assert not fetched.window_data(T0 + H, T0 + 2 * H).partial
