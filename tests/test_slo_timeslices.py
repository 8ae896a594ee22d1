"""Time-slice budgeting (OpenSLO Timeslices and RatioTimeslices), thresholdMetric slices, and several objectives
per SLO, on synthetic frames with hand-computed answers, through the SLO and postmortem reports with in-memory
sources (no server). The ground truth on the real Prometheus is in test_slo_stack_formats.py."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from slo_fixtures import T0, memory_source, minute_events, platform_table, sources_of

from goreliable_lib.analysis import incident as incident_analysis
from goreliable_lib.analysis import slo
from goreliable_lib.inputs.catalog import read_catalog
from goreliable_lib.reports import postmortem
from goreliable_lib.reports import slo as slo_report
from goreliable_lib.timeutil import parse_time

MIN = pd.Timedelta(minutes=1)
FIVE = 5 * MIN


def test_slices_are_aligned_to_the_window_start_and_empty_ones_count_neither_way() -> None:
    # 23 minutes (T0+3m, T0+26m]: slices (T0+3, T0+8], (T0+8, T0+13], (T0+13, T0+18], (T0+18, T0+23]; the 3 minutes
    # after T0+23m are a partial slice, left out.
    start, end = T0 + 3 * MIN, T0 + 26 * MIN
    total = np.full(23, 100.0)
    good = np.full(23, 100.0)
    good[2] = 40  # minute T0+6m (slice 1): 440 good of 500 = 0.88 < 0.95 -> bad
    good[6] = 96  # minute T0+10m (slice 2): 496 of 500 = 0.992 -> good
    total[10:15] = 0  # minutes T0+14m..T0+18m: slice 3 has no events -> neither good nor bad
    good[10:15] = 0
    good[15:20] = np.nan  # slice 4: no sample at all -> no data either
    total[15:20] = np.nan
    events = minute_events(start + MIN, total, good)
    budgeting = slo.Budgeting("Timeslices", FIVE, 0.95)
    slices = slo.time_slices(events, start, end, budgeting)
    assert slices["timestamp"].tolist() == [start + k * FIVE for k in (1, 2, 3, 4)]
    assert slices["slice_good"].tolist()[:2] == [0.0, 1.0] and slices["slice_good"].iloc[2:].isna().all()
    result = slo.evaluate_slo(events, name="x", service="s", objective=0.9, start=start, end=end, budgeting=budgeting)
    # 1 good of the 2 slices with events; slices 3 and 4 are neither
    assert result.sli == 0.5 and result.error_budget_remaining == pytest.approx(1 - 0.5 / 0.1)
    assert (result.slices.slices, result.slices.with_events, result.slices.without_events) == (4, 2, 2)
    assert (result.slices.good, result.slices.bad) == (1, 1)
    assert result.good_events == 100 * 10 - 60 - 4 + 300 and result.total_events == 1000 + 300  # requests still
    assert result.coverage == pytest.approx(18 / 23)  # minutes with a sample
    assert result.summary()["time_slices"] == {"window_seconds": 300.0, "slices": 4, "with_events": 2,
                                               "without_events": 2, "target": 0.95, "good": 1, "bad": 1}


def test_ratio_timeslices_average_the_slice_ratios() -> None:
    # OpenSLO examples/budgeting-method/README.md: "an average of all time slices' success ratios".
    # Slice 1: 990 of 1000 good (0.99); slice 2: 0 of 10 (0.0): mean 0.495, not the request-weighted 990/1010.
    events = minute_events(T0 + MIN, total=[1000, 10], good=[990, 0])
    budgeting = slo.Budgeting("RatioTimeslices", MIN)
    result = slo.evaluate_slo(events, name="x", service="s", objective=0.9, start=T0, end=T0 + 2 * MIN,
                              budgeting=budgeting)
    assert result.sli == pytest.approx(0.495) and result.sli != pytest.approx(990 / 1010)
    assert "good" not in result.summary()["time_slices"]


def test_burn_rates_and_alerts_count_slices() -> None:
    # 5-minute slices over 4 days of steady traffic; in the last hour 3 of the 12 slices are bad.
    end = T0 + pd.Timedelta(days=4)
    minutes = pd.date_range(T0 + MIN, end, freq="min")
    events = pd.DataFrame({"timestamp": minutes, "good": 100.0, "total": 100.0})
    for slice_end in (end - 50 * MIN, end - 30 * MIN, end - 10 * MIN):
        events.loc[events["timestamp"] == slice_end, "good"] = 0.0  # 400 of 500 good: below 0.99
    budgeting = slo.Budgeting("Timeslices", FIVE, 0.99)
    result = slo.evaluate_slo(events, name="x", service="s", objective=0.99, start=end - pd.Timedelta(days=1),
                              end=end, budgeting=budgeting)
    assert result.burn_rates["1h"] == pytest.approx((3 / 12) / 0.01)  # 25x
    assert result.burn_rates["6h"] == pytest.approx((3 / 72) / 0.01)
    assert result.slices.bad == 3 and result.slices.slices == 288  # a day of 5-minute slices
    page = result.alerts[result.alerts["long_window"] == "1h"]
    assert len(page) and page["start"].min() >= end - 50 * MIN  # fires from the first bad slice's end


@pytest.mark.parametrize(("op", "good"), [("lt", [1, 0, 0]), ("lte", [1, 1, 0]), ("gt", [0, 0, 1]),
                                          ("gte", [0, 1, 1])])
def test_threshold_slices_compare_each_value(op: str, good: list[int]) -> None:
    ends = pd.DatetimeIndex([T0 + k * FIVE for k in (1, 2, 3, 4)])
    values = pd.DataFrame({"timestamp": ends[:3], "value": [0.4, 0.5, 0.6]})  # no value at the 4th slice end
    slices = slo.threshold_slices(values, op, 0.5, ends)
    assert slices["slice_good"].tolist()[:3] == good and math.isnan(slices["slice_good"].iloc[3])
    result = slo.evaluate_slo(None, name="p99", service="s", objective=0.5, start=T0, end=T0 + 4 * FIVE,
                              budgeting=slo.Budgeting("Timeslices", FIVE, 1.0), slices=slices)
    assert result.sli == pytest.approx(sum(good) / 3) and result.coverage == 0.75
    summary = result.summary()
    assert summary["good_events"] is None and summary["total_events"] is None  # no events are counted
    assert summary["time_slices"]["without_events"] == 1


# --------------------------------------------------------------------------------------------- through the reports
class RangeSource:
    """The in-memory Prometheus API over `table` (`slo_fixtures.memory_source`: what the event engine asks), plus
    `query_range` of one thresholdMetric expression: `values` at the window's grid."""

    def __init__(self, table: pd.DataFrame, values: dict[str, pd.Series], now: pd.Timestamp) -> None:
        self.api = memory_source(table)
        self.values, self.clock = values, now
        self.requests: list[dict[str, Any]] = []

    def now(self) -> pd.Timestamp:
        return self.clock

    def query(self, promql: str, time: Any = None) -> pd.DataFrame:
        return self.api.query(promql, time)

    def series(self, match: str, start: Any, end: Any) -> pd.DataFrame:
        return self.api.series(match, start, end)

    def query_range(self, promql: str, start: Any, end: Any, step: Any, *, align: bool = True,
                    series: int = 1) -> pd.DataFrame:
        if promql not in self.values:
            if "model_drift_detected" in promql:  # the drift gauge: none here
                return pd.DataFrame({"timestamp": pd.DatetimeIndex([], tz="UTC"), "value": pd.Series([], dtype=float)})
            return self.api.query_range(promql, start, end, step, series=series)  # the event engine's sums
        self.requests.append({"query": promql, "start": start, "end": end, "step": step, "align": align})
        assert not align  # slices on the window's grid, not the epoch's
        points = pd.date_range(parse_time(start), parse_time(end), freq=pd.Timedelta(step))
        found = self.values[promql].reindex(points).dropna()
        return pd.DataFrame({"timestamp": found.index, "value": found.to_numpy()})


CATALOG = """\
apiVersion: openslo/v1
kind: SLO
metadata: {name: api}
spec:
  service: api
  indicator:
    spec:
      ratioMetric:
        good: {metricSource: {type: Prometheus, spec: {query: 'sum(http_requests_total{service="api",code!~"5.."})'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'http_requests_total{service="api"}'}}}
  timeWindow: [{duration: 1d, isRolling: true}]
  budgetingMethod: Timeslices
  objectives:
    - {displayName: strict, target: 0.99, timeSliceTarget: 0.996, timeSliceWindow: 5m}
    - {displayName: loose, target: 0.9, timeSliceTarget: 0.99, timeSliceWindow: 1h}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: p99}
spec:
  service: api
  indicator:
    spec:
      thresholdMetric:
        metricSource: {type: Prometheus, spec: {query: 'histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))'}}
  budgetingMethod: Timeslices
  objectives:
    - {op: lt, value: 0.3, target: 0.95, timeSliceTarget: 1, timeSliceWindow: 5m}
"""
P99 = "histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))"


def _sources(tmp_path: Path) -> tuple[Any, Path, pd.Timestamp]:
    # platform_table: a day of scrapes from T0; every minute pod a serves 99 x 200 + 1 x 503 and pod b 100 x 200;
    # from minute 1000 pod b also serves 2 x 500. The p99 is 0.2 s on every 5-minute point except 0.5 s on every
    # 12th (one slice an hour is bad).
    table = platform_table(1440, new_errors_at=1000)
    now = T0 + pd.Timedelta(days=1)
    points = pd.date_range(T0, now, freq="5min")
    p99 = pd.Series(np.where(np.arange(len(points)) % 12 == 0, 0.5, 0.2), index=points)
    path = tmp_path / "slos.yaml"
    path.write_text(CATALOG)
    return RangeSource(table, {P99: p99}, now), path, now


def test_report_rows_per_objective_and_time_slice_figures(tmp_path: Path) -> None:
    source, path, now = _sources(tmp_path)
    params = {"catalog": str(path), "window": "catalog", "end": "now"}
    sources = sources_of(source)
    report = slo_report.build(slo_report.fetch(sources, params), params)
    entries = {e["name"]: e for e in report.summary()["slos"]}
    assert list(entries) == ["api/strict", "api/loose", "p99"]
    strict, loose, p99 = entries["api/strict"], entries["api/loose"], entries["p99"]
    assert (strict["slo"], strict["objective_name"], strict["budgeting_method"]) == ("api", "strict", "Timeslices")
    # The window is the day (T0, T0 + 1d]. Minutes 1..999 have 1 bad of 200 (0.995 good), minutes 1000..1440 3 bad
    # of 202 (0.98515): every 5-minute slice is below 0.996, so the strict SLI is 0 good of 288.
    assert strict["time_slices"] == {"window_seconds": 300.0, "slices": 288, "with_events": 288, "without_events": 0,
                                     "target": 0.996, "good": 0, "bad": 288}
    assert strict["sli"] == 0.0 and strict["status"] == "breached"
    # 1-hour slices against 0.99: the hours ending at T0+60m .. T0+960m (16) are good (0.995); the hour (T0+960m,
    # T0+1020m] holds minutes 961..999 (39) and 1000..1020 (21): (39 + 21) x 199 / (39 x 200 + 21 x 202) = 11940 /
    # 12042 = 0.99153 >= 0.99, good; the 7 hours after it are bad: 17 good of 24.
    assert loose["time_slices"]["good"] == 17 and loose["sli"] == pytest.approx(17 / 24)
    assert strict["total_events"] == loose["total_events"] == 999 * 200 + 441 * 202  # the requests, exactly
    # p99 has no timeWindow: the kit's 30 days rolling, 8640 slices, of which those ending at T0 .. T0+1440m (289)
    # have a value; every 12th (T0 + 60k min, T0 included) is 0.5 s, not < 0.3: 25 bad, 264 good
    assert p99["time_slices"] == {"window_seconds": 300.0, "slices": 8640, "with_events": 289,
                                  "without_events": 8640 - 289, "target": 1.0, "good": 264, "bad": 25}
    assert p99["sli"] == pytest.approx(264 / 289) and not p99["time_window_given"]
    assert p99["time_window"] == "catalog: 30d rolling" and strict["time_window"] == "catalog: 1d rolling"
    assert "**no timeWindow** for p99: 30d rolling, the kit's default" in report.headline()
    assert p99["good_events"] is None and p99["threshold"] == {"query": P99, "op": "lt", "value": 0.3}
    # one counter fetch for the two objectives of `api` (they share the indicator), one range query for p99
    ranges = [r for r in source.requests if "step" in r]
    assert len(ranges) == 1 and ranges[0]["step"] == pd.Timedelta(minutes=5)
    assert all(r["query"].startswith('http_requests_total{service="api"}[') for r in source.requests if "step" not in r)
    assert parse_time(ranges[0]["start"]) == now - pd.Timedelta(days=30) - slo.LOOKBACK + FIVE  # the slice grid
    assert "api/strict" in report.headline() and "time slices for api/strict, api/loose, p99" in report.headline()
    table = report.summary_table()
    assert table.loc[table["slo"] == "p99", "good_slices"].item() == 264
    figures = slo_report.slo_figures(report, report.result("api/strict"))
    assert all("/" not in name for name in figures)  # file names


def test_threshold_query_giving_several_series_is_refused(tmp_path: Path) -> None:
    source, path, _ = _sources(tmp_path)

    def two_series(promql: str, start: Any, end: Any, step: Any, *, align: bool = True,
                   series: int = 1) -> pd.DataFrame:
        stamp = parse_time(end)
        return pd.DataFrame({"timestamp": [stamp, stamp], "value": [0.1, 0.2], "pod": ["a", "b"]})

    source.query_range = two_series  # type: ignore[method-assign]
    sources = sources_of(source)
    with pytest.raises(Exception, match=re.escape("SLO p99: thresholdMetric query returned 2 series (pod=a; pod=b)")):
        slo_report.fetch(sources, {"catalog": str(path), "window": "catalog", "end": "now"})


def test_postmortem_charges_time_slice_objectives_in_slices(tmp_path: Path) -> None:
    source, path, now = _sources(tmp_path)
    sources = sources_of(source)
    params = {"catalog": str(path), "incident_start": str(T0 + 1200 * MIN), "incident_end": str(T0 + 1230 * MIN),
              "services": "all", "slos": "all", "end": "now"}
    report = postmortem.build(postmortem.fetch(sources, params), params)
    rows = {item.name: item.summary() for item in report.slos}
    assert list(rows) == ["api/strict", "api/loose", "p99"]
    strict, p99 = rows["api/strict"], rows["p99"]
    # Slices are aligned to the 30-day budget window's start (T0 + 1230m - 30d), so they end at T0 + 5k minutes.
    # The incident's 30 minutes are 6 slices, all bad against 0.996. The budget window (T0 + 1230m - 30d,
    # T0 + 1230m] has events after the minute T0 (the server's data starts at T0: each series' first sample is a
    # baseline, 0 events, as for a server that started then): the slices ending at T0+5m, ..., T0+1230m, 246 of
    # them; allowed bad (1 - 0.99) x 246 = 2.46, consumed 6 / 2.46.
    assert (strict["bad_slices"], strict["total_slices"], strict["budget_window_slices"]) == (6, 6, 246)
    assert strict["budget_consumed"] == pytest.approx(6 / 2.46)
    assert strict["bad_events"] == 30 * 3 and strict["budgeting_method"] == "Timeslices"  # requests still counted
    # p99: the points at T0+1205m .. T0+1230m are all 0.2 s (the 0.5 s ones are at T0 + 60k min; T0+1200m is not in
    # (start, end]): 0 bad of 6, nothing consumed
    assert (p99["bad_slices"], p99["total_slices"], p99["bad_events"]) == (0, 6, None)
    assert p99["budget_consumed"] == 0
    assert "0 bad of 6 slices" in report.headline()
    assert incident_analysis.BUDGET_WINDOW == "30d"


def test_catalog_objectives_keep_slo_event_engine_fields() -> None:
    """What events.engine needs of an SLO (name, total_selector, good_selector, bad_selector) is on every
    ratio objective, so the engine takes objectives unchanged."""
    (objective,) = read_catalog("params/slos.yaml").objectives[:1]
    assert objective.name == "api-gateway-availability" and objective.total_selector and objective.good_selector
    assert objective.bad_selector is None


def test_window_catalog_is_a_valid_parameter() -> None:
    spec = slo_report.SPEC
    assert spec.param("window").validator("catalog", "window") == "catalog"
    assert spec.param("window").validator("2026-10", "window") == "2026-10"
    now = pd.Timestamp("2026-11-23T06:00:00Z")
    assert spec.window({"window": "catalog", "end": "now"}, now) == (None, now)  # each SLO has its own start
    assert spec.window({"window": "30d", "end": "now"}, now) == (now - pd.Timedelta(days=30), now)
