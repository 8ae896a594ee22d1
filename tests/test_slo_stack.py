"""The SLO numbers against the simulator's ground truth, through the real Prometheus and the real VictoriaMetrics
of the local stack (every test runs on both back-ends: the `tsdb_stack` fixture).

Every SLO of params/slos.yaml is fetched once over (2026-09-27 23:00, as_of] (the calendar month of October
and its 3-day alert lookback included) and cut into windows: the 30 days ending at as_of (the api-gateway
outage and the scrape gap), the outage afternoon, the scrape-gap morning, October (a named calendar month)
and November to date (`1M`)."""

from __future__ import annotations

import pandas as pd
import pytest
from sim_metrics_fixtures import (  # noqa: F401  (fixtures)
    metrics_stack_fixture,
    tsdb_stack_fixture,
    vm_metrics_stack_fixture,
)
from slo_fixtures import CATALOG, slo_report

from goreliable_lib.analysis import slo as analysis
from goreliable_lib.events import engine
from goreliable_lib.inputs import promql
from goreliable_lib.inputs.catalog import load_catalog
from goreliable_lib.sources.prometheus import PrometheusSource
from goreliable_lib.timeutil import parse_window

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]

AS_OF = pd.Timestamp("2026-11-23T06:00:00Z")
WINDOWS = {
    "30d": parse_window("30d", AS_OF),
    "outage": (pd.Timestamp("2026-11-11T12:00:00Z"), pd.Timestamp("2026-11-11T18:00:00Z")),
    "scrape-gap": (pd.Timestamp("2026-11-08T00:00:00Z"), pd.Timestamp("2026-11-08T12:00:00Z")),
    "2026-10": parse_window("2026-10", AS_OF),
    "1M": parse_window("1M", AS_OF),
}
SLOS = {slo.name: slo for slo in load_catalog(CATALOG)}


@pytest.fixture(scope="module")
def source(tsdb_stack):
    assert tsdb_stack.simulation.as_of == AS_OF
    with PrometheusSource(tsdb_stack.url, clock=lambda: AS_OF) as prometheus:
        yield prometheus


@pytest.fixture(scope="module")
def fetched(source) -> dict[str, engine.SLOEvents]:
    start = min(window[0] for window in WINDOWS.values())
    return {name: engine.fetch_slo_events(source, slo, start, AS_OF) for name, slo in SLOS.items()}


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("name", SLOS)
def test_events_sli_and_budget_equal_the_ground_truth(fetched, tsdb_stack, name: str, window: str) -> None:
    start, end = WINDOWS[window]
    objective = SLOS[name].objective
    counts = analysis.window_counts(fetched[name].events, start, end)
    good, total = tsdb_stack.simulation.metrics.slo_events(name, start, end)
    assert total > 0
    assert (counts.good, counts.total) == (good, total)  # exact to the event
    true_sli = good / total
    sli = analysis.sli(counts.good, counts.total)
    assert abs(sli - true_sli) <= 1e-4
    true_remaining = 1 - (1 - true_sli) / (1 - objective)
    assert abs(analysis.error_budget_remaining(sli, objective) - true_remaining) <= 1e-3


def test_coverage_sees_the_scrape_gap(fetched) -> None:
    start, end = WINDOWS["scrape-gap"]
    result = analysis.evaluate_slo(fetched["order-success-rate"].events, name="order-success-rate",
                                   service="order-service", objective=0.995, start=start, end=end)
    assert result.coverage == pytest.approx(1 - 30 / 720)  # 03:10..03:39 unscraped: 30 of 720 minutes
    gaps = fetched["order-success-rate"].gaps
    assert gaps[["start", "minutes"]].values.tolist() == [[pd.Timestamp("2026-11-08T03:10:00Z"), 30]]


def test_counter_resets_match_the_scripted_restarts(fetched, tsdb_stack) -> None:
    truth = tsdb_stack.simulation.metrics.counter_resets()
    resets = fetched["notification-delivery"].resets
    expected = truth[truth["job"] == "notification-worker"]
    assert set(resets["timestamp"]) == set(expected["timestamp"])
    assert len(resets) == int(expected["series"].sum())


@pytest.mark.parametrize("name", SLOS)
def test_window_sli_agrees_with_promql_increase(source, fetched, name: str) -> None:
    """Prometheus' own `sum(increase(good[30d])) / sum(increase(total[30d]))` at as_of.

    The sim scrapes on whole minutes and no series is born in the window, so 2.42's `increase()` over
    [as_of - 30d, as_of] holds a sample at both ends and extrapolates nothing: it is the same reset-aware
    difference we compute, and only float rounding of sums of ~1e8 events may differ. Tolerance 1e-9."""
    slo = SLOS[name]
    start, end = WINDOWS["30d"]
    data = fetched[name]
    assert data.new_series[data.new_series["timestamp"] > start].empty
    counts = analysis.window_counts(data.events, start, end)
    good = promql.widen_le(slo.good_selector).to_promql()
    total = promql.widen_le(slo.total_selector).to_promql()
    ratio = f"sum(increase({good}[30d])) / sum(increase({total}[30d]))"
    prometheus_sli = float(source.query(ratio, end)["value"].iloc[0])
    assert abs(prometheus_sli - analysis.sli(counts.good, counts.total)) <= 1e-9


def test_alert_periods_cover_the_outage_and_nothing_fires_in_the_quiet_week(fetched, tsdb_stack) -> None:
    events = tsdb_stack.simulation.metrics.scripted_events().set_index("name")
    outage = events.loc["api-gateway-5xx-outage"]
    name = "api-gateway-availability"
    start, end = WINDOWS["30d"]
    alerts = analysis.alert_periods(fetched[name].events, SLOS[name].objective, start, end)
    page = alerts[(alerts["long_window"] == "1h") & (alerts["start"] <= outage["end"])
                  & (alerts["end"] >= outage["start"])]
    assert len(page) == 1
    first = page.iloc[0]
    assert outage["start"] < first["start"] <= outage["start"] + pd.Timedelta(minutes=5)  # detected within 5m
    assert first["end"] >= outage["end"] and first["severity"] == "page"
    assert first["peak_burn_rate"] > 100  # ~250x burn
    quiet_start, quiet_end = tsdb_stack.simulation.metrics.quiet_week()
    for slo_name, slo in SLOS.items():
        quiet = analysis.alert_periods(fetched[slo_name].events, slo.objective, quiet_start, quiet_end)
        assert quiet.empty, (slo_name, quiet)


def test_the_whole_catalog_over_30_days(source, tsdb_stack, tmp_path) -> None:
    report = slo_report(source, catalog=str(CATALOG), end="now")  # now = as_of (the source's clock)
    summary = report.summary()
    truth = tsdb_stack.simulation.metrics
    start, end = WINDOWS["30d"]
    assert (report.start, report.end) == (start, end)
    for entry in summary["slos"]:
        good, total = truth.slo_events(entry["name"], start, end)
        assert (entry["good_events"], entry["total_events"]) == (good, total)
        assert entry["status"] in ("ok", "at_risk", "breached") and 0.99 < entry["coverage"] < 1
        assert set(entry["burn_rates"]) == {"1h", "6h", "1d", "3d"}
    assert summary["policy"]["decision"] in ("features", "caution", "reliability", "freeze")
    drift = {d["model"]: d for d in summary["model_drift"]}
    assert drift["demand-forecast"]["detected_in_window"] and not drift["demand-forecast"]["detected_now"]
    assert drift["demand-forecast"]["first_detected_at"] <= "2026-11-02T22:05:00Z"
    assert not any(d["detected_in_window"] for m, d in drift.items() if m != "demand-forecast")
