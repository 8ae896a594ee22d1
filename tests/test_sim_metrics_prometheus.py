"""The simulated history backfilled into a real Prometheus answers PromQL with the simulator's ground truth."""

from __future__ import annotations

import pandas as pd
import pytest
from sim_metrics_fixtures import MetricsStack, metrics_stack_fixture, prometheus_get, raw_counter_increase  # noqa: F401

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.timeout(1800)]

# SLO -> (good selector, total selector), as params/slos.yaml writes them.
SELECTORS = {
    "api-gateway-availability": ('http_requests_total{service="api-gateway",code!~"5.."}',
                                 'http_requests_total{service="api-gateway"}'),
    "api-gateway-latency": ('http_request_duration_seconds_bucket{service="api-gateway",le="0.3"}',
                            'http_request_duration_seconds_count{service="api-gateway"}'),
    "order-success-rate": ('orders_total{status="success"}', "orders_total"),
    "notification-delivery": ('notifications_total{result="delivered"}', "notifications_total"),
    "ml-inference-availability": ('inference_requests_total{outcome="success"}', "inference_requests_total"),
    "llm-latency": ('http_request_duration_seconds_bucket{service="llm-gateway",le="0.5"}',
                    'http_request_duration_seconds_count{service="llm-gateway"}'),
}


def _instant(stack: MetricsStack, promql: str, at: pd.Timestamp) -> list[dict]:
    return prometheus_get(stack.url, "/api/v1/query", query=promql, time=at.timestamp())["result"]


def _event(stack: MetricsStack, name: str) -> pd.Series:
    return stack.simulation.metrics.scripted_events().set_index("name").loc[name]


def test_report_timings(metrics_stack: MetricsStack, record_property: pytest.RecordProperty) -> None:
    for name, seconds in metrics_stack.timings.items():
        record_property(name, round(seconds, 2))
    assert metrics_stack.timings["start_seconds"] < 60


def test_newest_sample_is_at_as_of(metrics_stack: MetricsStack) -> None:
    as_of = metrics_stack.simulation.as_of
    result = _instant(metrics_stack, "timestamp(up)", as_of)
    # 12 targets: 4 HTTP services x 2 pods, 2 notification-worker pods, model-monitor, and vLLM (job vllm)
    assert len(result) == 12
    assert {float(row["value"][1]) for row in result} == {as_of.timestamp()}


@pytest.mark.parametrize("name", list(SELECTORS))
def test_30d_increase_matches_the_truth(metrics_stack: MetricsStack, name: str) -> None:
    sim = metrics_stack.simulation.metrics
    good_truth, total_truth = sim.slo_events(name, "now-30d", "now")
    good_selector, total_selector = SELECTORS[name]
    for selector, truth in ((good_selector, good_truth), (total_selector, total_truth)):
        result = _instant(metrics_stack, f"sum(increase({selector}[30d]))", sim.as_of)
        assert float(result[0]["value"][1]) == pytest.approx(truth, rel=1e-3), selector


@pytest.mark.parametrize(("name", "window"), [
    ("api-gateway-availability", "outage"),
    ("api-gateway-latency", "outage"),
    ("order-success-rate", "gap"),
    ("api-gateway-latency", "gap"),
    ("notification-delivery", "crash-loop"),
    ("llm-latency", "regression"),
])
def test_raw_samples_give_the_exact_truth(metrics_stack: MetricsStack, name: str, window: str) -> None:
    """Reset-aware per-series diffs of the raw counters over a window equal the ground truth exactly."""
    sim = metrics_stack.simulation.metrics
    if window == "outage":  # the outage and the pod restart after it
        start = _event(metrics_stack, "api-gateway-5xx-outage")["start"] - pd.Timedelta(minutes=30)
        end = _event(metrics_stack, "api-gateway-restart-2")["start"].ceil("min") + pd.Timedelta(minutes=30)
    elif window == "gap":
        gap = sim.scrape_gaps().iloc[0]
        start, end = gap["start"] - pd.Timedelta(hours=1), gap["end"] + pd.Timedelta(hours=1)
    elif window == "crash-loop":
        start = _event(metrics_stack, "notification-worker-crash-loop")["start"]
        end = start + pd.Timedelta(hours=12)
    else:
        regression = _event(metrics_stack, "llm-latency-regression")
        start, end = regression["start"] - pd.Timedelta(hours=1), regression["end"] + pd.Timedelta(hours=1)
    good_truth, total_truth = sim.slo_events(name, start, end)
    assert total_truth > good_truth > 0
    good_selector, total_selector = SELECTORS[name]
    assert raw_counter_increase(metrics_stack.url, good_selector, start, end) == good_truth
    assert raw_counter_increase(metrics_stack.url, total_selector, start, end) == total_truth


def test_counter_resets_are_seen_by_prometheus(metrics_stack: MetricsStack) -> None:
    sim = metrics_stack.simulation.metrics
    loop = _event(metrics_stack, "notification-worker-crash-loop")
    expected = sim.counter_resets()
    in_loop = expected[(expected["timestamp"] > loop["start"]) & (expected["timestamp"] <= loop["end"])
                       & (expected["instance"] == "10.0.1.51:9090")]
    result = _instant(metrics_stack, 'max(resets(notifications_total{instance="10.0.1.51:9090"}[2d]))', loop["end"])
    assert float(result[0]["value"][1]) == len(in_loop) == 16


def test_scrape_gap_is_a_hole_in_every_series(metrics_stack: MetricsStack) -> None:
    gap = metrics_stack.simulation.metrics.scrape_gaps().iloc[0]
    # [gap start - 1m, gap end] holds 32 scrape times: only the two outside the gap have samples.
    raw = _instant(metrics_stack, '{job=~".+"}[31m]', gap["end"])
    assert len(raw) == len(metrics_stack.simulation.metrics.series())
    expected = [(gap["start"] - pd.Timedelta(minutes=1)).timestamp(), gap["end"].timestamp()]
    assert all([stamp for stamp, _ in row["values"]] == expected for row in raw)


def test_drift_gauge(metrics_stack: MetricsStack) -> None:
    period = metrics_stack.simulation.metrics.drift_periods().iloc[0]
    minutes = int((period["end"] - period["start"]) / pd.Timedelta(minutes=1))
    at = period["end"] + pd.Timedelta(hours=1)
    result = _instant(metrics_stack, "sum_over_time(model_drift_detected[1d])", at)
    by_model = {row["metric"]["model"]: float(row["value"][1]) for row in result}
    assert by_model == {period["model"]: minutes, "fraud-detector": 0.0}
