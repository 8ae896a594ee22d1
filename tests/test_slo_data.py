"""SLO fetch glue on synthetic samples: exact increments, resets, gaps, new series, le spellings, subsets."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from slo_fixtures import CATALOG, T0, SampleSource, platform_table, samples

from goreliable_lib.inputs import promql
from goreliable_lib.inputs.catalog import load_catalog
from goreliable_lib.inputs.promql import parse_selector
from goreliable_lib.reports import slo_events as slo_data

MIN = pd.Timedelta(minutes=1)


def _t(k: int) -> str:
    return str(T0 + k * MIN)


def test_counter_increments_handle_resets_gaps_and_new_series() -> None:
    a, b, c = {"pod": "a"}, {"pod": "b"}, {"pod": "c"}
    rows = [(_t(0), 100, a), (_t(1), 110, a), (_t(2), 5, a), (_t(3), 15, a), (_t(5), 30, a),  # reset at 2
            (_t(0), 50, b), (_t(1), 50, b), (_t(2), 60, b), (_t(3), 60, b), (_t(5), 70, b),  # minute 4: gap
            (_t(3), 4, c), (_t(5), 6, c)]  # pod c starts at minute 3 from 0
    result = slo_data.counter_increments(samples(rows), T0, T0 + 5 * MIN, baseline_until=T0)
    expected = [10, 5 + 10, 10 + 4, np.nan, 15 + 10 + 2]
    np.testing.assert_array_equal(result.per_minute.to_numpy(), expected)
    assert list(result.per_minute.index) == [T0 + k * MIN for k in range(1, 6)]
    assert result.resets[["series", "before", "after"]].values.tolist() == [['{pod="a"}', 110.0, 5.0]]
    assert result.new_series[["series", "value"]].values.tolist() == [['{pod="c"}', 4.0]]
    assert result.series == 3
    gaps = slo_data.gap_periods(result.per_minute)
    assert gaps.values.tolist() == [[T0 + 4 * MIN, T0 + 4 * MIN, 1]]


def test_le_spellings_are_one_counter() -> None:
    old, new = {"le": "0.3", "service": "api"}, {"le": "0.30", "service": "api"}
    rows = [(_t(0), 10, old), (_t(1), 12, old), (_t(2), 15, new), (_t(3), 20, new), (_t(3), 20, old)]
    result = slo_data.counter_increments(samples(rows), T0, T0 + 3 * MIN, baseline_until=T0)
    assert result.per_minute.tolist() == [2, 3, 5]
    assert result.series == 1 and result.new_series.empty


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


def test_samples_query_widens_le() -> None:
    query = slo_data.samples_query(parse_selector('h_bucket{service="api",le="0.3"}'), pd.Timedelta(days=8))
    assert query == r'h_bucket{service="api",le=~"0\\.30*"}[691200s]'


def test_fetch_is_cut_into_chunks_on_a_fixed_grid() -> None:
    source = SampleSource(samples([(_t(0), 1, {"__name__": "x_total"})]))
    end = pd.Timestamp("2026-11-23T06:00:00Z")
    slo_data.fetch_counter_samples(source, parse_selector("x_total"), end - pd.Timedelta(days=33), end)
    times = [pd.Timestamp(r["time"]) for r in source.requests]
    spans = [int(r["query"].split("[")[1].rstrip("s]")) for r in source.requests]
    assert len(times) == 5 and times[0] == end
    assert all(t.value % slo_data.CHUNK.value == 0 for t in times[1:])  # older chunks end on the grid
    assert sum(spans) == 33 * 86400 and max(spans) <= 8 * 86400


def test_local_matching_follows_prometheus_semantics() -> None:
    frame = samples([(_t(0), 1, {"code": "200"}), (_t(0), 1, {"code": "503"}), (_t(0), 1, {}),
                     (_t(0), 1, {"code": "5000"})])
    selector = parse_selector('x{code!~"5.."}')
    assert slo_data.matches(frame, selector.matchers).tolist() == [True, False, True, True]
    assert slo_data.matches(frame, parse_selector('x{code=""}').matchers).tolist() == [False, False, True, False]


def _slo(good: str, total: str, part: str = "good"):
    from goreliable_lib.inputs.catalog import SLO

    metric = {"metricSource": {"type": "Prometheus", "spec": {"query": good}}}
    return SLO.model_validate({
        "apiVersion": "openslo/v1", "kind": "SLO", "metadata": {"name": "test"},
        "spec": {"service": "api", "budgetingMethod": "Occurrences", "objectives": [{"target": 0.99}],
                 "timeWindow": [{"duration": "30d", "isRolling": True}],
                 "indicator": {"spec": {"ratioMetric": {"counter": True, part: metric,
                                                        "total": {"metricSource": {"type": "Prometheus",
                                                                                   "spec": {"query": total}}}}}}}})


def test_fetch_subset_selector_fetches_total_only_and_counts_exactly() -> None:
    source = SampleSource(platform_table(200, reset_at=150, gap=range(120, 125)))
    slo = _slo('http_requests_total{service="api",code!~"5.."}', 'http_requests_total{service="api"}')
    start, end = T0 + 100 * MIN, T0 + 200 * MIN
    fetched = slo_data.fetch_slo_events(source, slo, start, end, lookback=30 * MIN)
    assert len(source.requests) == 1 and fetched.queries == [source.requests[0]["query"]]  # total only
    window = fetched.events[fetched.events["timestamp"] > start]
    assert window["total"].sum() == 100 * 200  # 100 minutes x (99 + 1 + 100): neither reset nor gap loses any
    assert window["good"].sum() == 100 * 199
    assert window["total"].isna().sum() == 5
    assert fetched.gaps.values.tolist() == [[T0 + 120 * MIN, T0 + 124 * MIN, 5]]
    assert len(fetched.resets) == 2  # pod a's code=200 and code=503 series
    assert fetched.events["timestamp"].iloc[0] == start - 30 * MIN + MIN


def test_fetch_bad_selector_and_latency_bucket() -> None:
    source = SampleSource(platform_table(100))
    bad = _slo('http_requests_total{service="api",code=~"5.."}', 'http_requests_total{service="api"}', part="bad")
    events = slo_data.fetch_slo_events(source, bad, T0 + 30 * MIN, T0 + 100 * MIN, lookback=10 * MIN).events
    assert (events["total"] - events["good"]).sum() == 80 and events["total"].sum() == 80 * 200
    latency = _slo('h_bucket{service="api",le="0.3"}', 'h_count{service="api"}')
    fetched = slo_data.fetch_slo_events(source, latency, T0 + 30 * MIN, T0 + 100 * MIN, lookback=10 * MIN)
    assert len(source.requests) == 3  # total once for `bad`; count + bucket for latency
    assert fetched.events["good"].sum() == 80 * 2 * 95  # the le spelling changes at minute 50: no loss
    assert fetched.series == {"total": 2, "good": 2}
    assert fetched.new_series.empty


def test_no_samples_at_all_gives_nan_minutes() -> None:
    slo = load_catalog(CATALOG)[0]
    source = SampleSource(samples([(_t(0), 1, {"__name__": "other_total"})]))
    fetched = slo_data.fetch_slo_events(source, slo, T0, T0 + 10 * MIN, lookback=MIN)
    assert fetched.events["total"].isna().all() and len(fetched.events) == 11
    assert fetched.gaps["minutes"].tolist() == [11]
