"""The catalog formats and time-slice budgeting against the simulator's ground truth, through the real Prometheus of
the local stack (`metrics_stack`):
- the seed's six SLOs written as Pyrra and as Sloth specs (params/slos.pyrra.yaml, params/slos.sloth.yaml) give
  figures identical to params/slos.yaml;
- Timeslices and RatioTimeslices versions of seed SLOs give the slice counts and SLIs computed here from the
  simulator's per-minute events (`slo_minutes`), slices aligned to the window's start;
- the seed's "LLM p99 < 500 ms" as a thresholdMetric (params/slos-llm-p99.yaml): each 5-minute slice's verdict
  equals the one computed here from the simulator's bucket counters;
- a calendar month in Europe/Berlin counts exactly the events of that month's UTC span.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sim_metrics_fixtures import metrics_stack_fixture  # noqa: F401  (session fixture `metrics_stack`)
from slo_fixtures import CATALOG, ROOT, slo_report

from goreliable_lib.inputs.catalog import read_catalog
from goreliable_lib.sources.prometheus import PrometheusSource
from goreliable_lib.sources.snapshot import SnapshotRecorder, SnapshotReplayer

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

AS_OF = pd.Timestamp("2026-11-23T06:00:00Z")
FIGURES = ("sli", "good_events", "total_events", "bad_events", "error_budget_remaining", "burn_rates", "alerts",
           "coverage", "status", "objective", "service", "window")


@pytest.fixture(scope="module")
def source(metrics_stack):
    assert metrics_stack.simulation.as_of == AS_OF
    with PrometheusSource(metrics_stack.url, clock=lambda: AS_OF) as prometheus:
        yield prometheus


def _figures(summary: dict) -> list[dict]:
    return [{k: entry[k] for k in FIGURES} for entry in summary["slos"]]


def test_seed_as_pyrra_and_as_sloth_gives_the_seed_figures(source) -> None:
    seed = slo_report(source, catalog=str(CATALOG), window="30d", end="now").summary()
    for path, source_format in (("params/slos.pyrra.yaml", "Pyrra pyrra.dev/v1alpha1"),
                                ("params/slos.sloth.yaml", "Sloth prometheus/v1")):
        summary = slo_report(source, catalog=str(ROOT / path), window="30d", end="now").summary()
        assert _figures(summary) == _figures(seed), path  # identical, not close
        assert summary["policy"]["decision"] == seed["policy"]["decision"]
        assert {e["source_format"] for e in summary["slos"]} == {source_format}
        assert summary["catalog"]["source_formats"] == [source_format]


def _true_slices(minutes: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, window: pd.Timedelta) -> pd.DataFrame:
    """Per slice (start + (k-1)w, start + kw] of the window, the simulator's good and total events."""
    inside = minutes[(minutes["timestamp"] > start) & (minutes["timestamp"] <= end)]
    k = np.ceil((inside["timestamp"] - start) / window).astype(int)
    sums = inside.groupby(k)[["good", "total"]].sum()
    return sums.reindex(range(1, int((end - start) / window) + 1), fill_value=0)


SLICED = """\
apiVersion: openslo/v1
kind: SLO
metadata: {{name: {name}}}
spec:
  service: {service}
  indicator:
    spec:
      ratioMetric:
        good: {{metricSource: {{type: Prometheus, spec: {{query: '{good}'}}}}}}
        total: {{metricSource: {{type: Prometheus, spec: {{query: '{total}'}}}}}}
  timeWindow: [{{duration: 30d, isRolling: true}}]
  budgetingMethod: {method}
  objectives:
    - {{displayName: slices, target: {target}, {extra}timeSliceWindow: {slice}}}
"""


@pytest.mark.parametrize(("name", "method", "slice_", "slice_target"), [
    ("api-gateway-availability", "Timeslices", "5m", 0.999),
    ("llm-latency", "Timeslices", "1m", 0.99),
    ("notification-delivery", "RatioTimeslices", "1h", None),
])
def test_time_slices_equal_the_ground_truth(source, metrics_stack, tmp_path: Path, name: str, method: str,
                                            slice_: str, slice_target: float | None) -> None:
    seed = {o.name: o for o in read_catalog(CATALOG).objectives}[name]
    text = SLICED.format(name=name, service=seed.service, good=seed.good_selector.to_promql(),
                         total=seed.total_selector.to_promql(), method=method, target=seed.objective,
                         extra=f"timeSliceTarget: {slice_target}, " if slice_target else "", slice=slice_)
    path = tmp_path / "sliced.yaml"
    path.write_text(text)
    report = slo_report(source, catalog=str(path), window="catalog", end="now")
    (entry,) = report.summary()["slos"]
    start, end = AS_OF - pd.Timedelta(days=30), AS_OF
    truth = _true_slices(metrics_stack.simulation.metrics.slo_minutes(name), start, end, pd.Timedelta(slice_))
    with_events = truth[truth["total"] > 0]
    ratios = with_events["good"] / with_events["total"]
    counts = entry["time_slices"]
    assert (counts["slices"], counts["with_events"]) == (len(truth), len(with_events))
    if method == "Timeslices":
        good = int((ratios >= slice_target).sum())
        assert (counts["good"], counts["bad"]) == (good, len(with_events) - good)
        true_sli = good / len(with_events)
        assert 0 < counts["bad"] < len(with_events)  # the scripted incidents make some slices bad, not all
    else:
        true_sli = float(ratios.mean())
    assert abs(entry["sli"] - true_sli) <= 1e-12
    assert abs(entry["error_budget_remaining"] - (1 - (1 - true_sli) / (1 - seed.objective))) <= 1e-9
    good_events, total_events = metrics_stack.simulation.metrics.slo_events(name, start, end)
    assert (entry["good_events"], entry["total_events"]) == (good_events, total_events)  # requests, exactly


def _bucket_increments(metrics, service: str, name: str, le: str | None) -> pd.Series:
    """The simulator's events of a histogram series family per sample time, summed over pods (reset-aware diffs of
    the raw counter values: a drop counts the new value; the first sample is a baseline)."""
    series = metrics.series()
    rows = series[(series["name"] == name) & (series["service"] == service)
                  & ((series["le"] == le) if le is not None else True)].index
    total = None
    for row in rows:
        values = metrics.values(row)
        diff = values.diff()
        part = diff.where(diff >= 0, values).iloc[1:]
        total = part if total is None else total.add(part, fill_value=0)
    return total


def test_threshold_p99_slices_equal_the_ground_truth(source, metrics_stack) -> None:
    """p99 < 0.5 s per 5-minute slice, from Prometheus' histogram_quantile over rate(...[5m]), against the verdict
    computed from the simulator's counters. Prometheus 2.42 reads [t - 5m, t] with a sample at both ends (whole
    minute scrapes), so rate() is the exact increase / 300 and the bucket ratios are the counts' ratios. Its
    quantile interpolates linearly inside the bucket holding rank = 0.99 x count: the p99 is under 0.5 s exactly
    when the 0.3 s bucket reaches the rank, or the 0.5 s bucket passes it. Left out: slices touching the scrape gap
    (03:10-03:40, where rate() has fewer than two samples or extrapolates) and exact ties (rank equal to a bucket
    count, where float rounding decides)."""
    report = slo_report(source, catalog=str(ROOT / "params" / "slos-llm-p99.yaml"), window="30d", end="now")
    result = report.result("llm-p99-latency")
    slices = result.slice_frame.set_index("timestamp")
    start, end = result.start, result.end
    metrics = metrics_stack.simulation.metrics
    family = "http_request_duration_seconds"
    count = _bucket_increments(metrics, "llm-gateway", f"{family}_count", None)
    under_03 = _bucket_increments(metrics, "llm-gateway", f"{family}_bucket", "0.3")
    under_05 = _bucket_increments(metrics, "llm-gateway", f"{family}_bucket", "0.5")
    window = pd.Timedelta(minutes=5)
    ends = slices.index[(slices.index > start) & (slices.index <= end)]
    gap = metrics.scrape_gaps().iloc[0]
    compared = disagree = 0
    for slice_end in ends:
        if gap["start"] - window <= slice_end <= gap["end"] + window:
            continue
        span = (count.index > slice_end - window) & (count.index <= slice_end)
        n, c3, c5 = count[span].sum(), under_03[span].sum(), under_05[span].sum()
        rank = 0.99 * n
        if n == 0 or abs(rank - c3) < 1e-9 or abs(rank - c5) < 1e-9:
            continue
        truth = c3 >= rank or c5 > rank
        compared += 1
        disagree += int(bool(slices.loc[slice_end, "slice_good"]) != truth)
    assert compared > 8000 and disagree == 0
    # the 2026-11-04 13:00-16:30 regression (about 20% slower than 0.5 s) is bad in every slice
    regression = metrics.scripted_events().set_index("name").loc["llm-latency-regression"]
    during = slices[(slices.index > regression["start"] + window) & (slices.index <= regression["end"])]
    assert len(during) == 41 and (during["slice_good"] == 0).all()
    entry = {e["name"]: e for e in report.summary()["slos"]}["llm-p99-latency"]
    assert entry["good_events"] is None and entry["time_slices"]["bad"] >= 41


def test_threshold_fetch_is_recorded_and_replayed(metrics_stack, tmp_path: Path) -> None:
    """The range query of a thresholdMetric goes through the source like every fetch: a run's snapshot replays it
    offline to the same figures."""
    catalog = str(ROOT / "params" / "slos-llm-p99.yaml")
    with PrometheusSource(metrics_stack.url, clock=lambda: AS_OF,
                          recorder=SnapshotRecorder(tmp_path, as_of=AS_OF)) as live:
        recorded = slo_report(live, catalog=catalog, window="7d", end="now").summary()["slos"]
    with PrometheusSource(None, clock=lambda: AS_OF, replayer=SnapshotReplayer(tmp_path)) as offline:
        replayed = slo_report(offline, catalog=catalog, window="7d", end="now").summary()["slos"]
    assert replayed == recorded and recorded[0]["time_slices"]["with_events"] == 7 * 288


def test_calendar_month_in_a_time_zone_counts_that_span(source, metrics_stack, tmp_path: Path) -> None:
    """An SLO with a calendar month in Europe/Berlin, reported for October: (2026-09-30 22:00Z, 2026-10-31 23:00Z],
    exactly the simulator's events of that span; the summary's times stay UTC."""
    text = CATALOG.read_text().split("\n---\n")[2].replace(
        "    - duration: 30d\n      isRolling: true\n",
        "    - duration: 1M\n      calendar:\n        timeZone: Europe/Berlin\n")
    path = tmp_path / "berlin.yaml"
    path.write_text(text)
    report = slo_report(source, catalog=str(path), window="2026-10", end="now")
    (entry,) = report.summary()["slos"]
    assert entry["window"] == {"start": "2026-09-30T22:00:00Z", "end": "2026-10-31T23:00:00Z"}
    good, total = metrics_stack.simulation.metrics.slo_events("order-success-rate", pd.Timestamp("2026-09-30T22:00Z"),
                                                              pd.Timestamp("2026-10-31T23:00Z"))
    assert (entry["good_events"], entry["total_events"]) == (good, total)
    own = slo_report(source, catalog=str(path), window="catalog", end="now").summary()["slos"][0]
    assert own["window"] == {"start": "2026-10-31T23:00:00Z", "end": "2026-11-23T06:00:00Z"}  # November to date
