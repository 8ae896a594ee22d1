"""The cost cross-check at a 30 s scrape: Prometheus' integral of the cost metrics equals Kubecost's costs only when
the queries use the interval measured on the data (the old `* 60 / 3600` counted every sample twice)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from cost_fixtures import shared_cost_sim

from goreliable_lib.analysis import cost
from goreliable_lib.analysis import crosscheck as cost_checks
from goreliable_lib.devstack.stack.prometheus import start_from_openmetrics
from goreliable_lib.sources.prometheus import PrometheusSource

pytestmark = [pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def thirty_second_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    sim = shared_cost_sim()
    day_start, day_end = cost_checks.check_day(sim.as_of)
    folder: Path = tmp_path_factory.mktemp("cost-30s")
    sim.write_openmetrics(folder / "cost.om", step_seconds=30, start=day_start - pd.Timedelta(hours=1),
                          end=day_end)
    server = start_from_openmetrics(folder / "cost.om", folder / "prometheus")
    try:
        yield server.url, sim
    finally:
        server.stop()


def _kubecost_day(sim, day_start: pd.Timestamp, day_end: pd.Timestamp) -> pd.DataFrame:
    return sim.truth_costs(day_start, day_end, "namespace").rename_axis("namespace").reset_index()


def test_cross_check_at_30_seconds_matches_with_the_measured_interval(thirty_second_prometheus) -> None:
    url, sim = thirty_second_prometheus
    day_start, day_end = cost_checks.check_day(sim.as_of)
    at = cost_checks.query_time(day_end)
    with PrometheusSource(url) as prometheus:
        probes = {check: prometheus.query(q, at) for check, q in cost_checks.interval_queries().items()}
        intervals = cost_checks.scrape_intervals(probes)
        assert intervals == {"cpu": 30.0, "ram": 30.0, "gpu": 30.0, "node": 30.0}
        measured = {check: prometheus.query(q, at) for check, q in
                    cost_checks.prometheus_queries(scrape_interval_seconds=intervals).items()}
        assumed = {check: prometheus.query(q, at) for check, q in cost_checks.prometheus_queries().items()}
    truth = _kubecost_day(sim, day_start, day_end)
    table = cost_checks.cross_check(truth, measured)
    allocated = table[table["scope"] != cost.IDLE]
    assert len(allocated) > 5 and (allocated["status"] == "match").all(), allocated[allocated["status"] != "match"]
    wrong = cost_checks.cross_check(truth, assumed)  # what a 60 s assumption reports at a 30 s scrape
    assert (wrong["status"] == "differs").all()
    assert (wrong["relative"].dropna() - 1.0).abs().max() < 0.01  # twice the cost


def test_scrape_intervals_fall_back_to_the_other_metrics() -> None:
    frame = pd.DataFrame({"timestamp": pd.to_datetime([0, 15, 30, 45], unit="s", utc=True), "value": 1.0,
                          "node": "n1"})
    intervals = cost_checks.scrape_intervals({"cpu": frame, "ram": frame.iloc[:1], "gpu": None,
                                              "node": frame.iloc[::2]})
    assert intervals == {"cpu": 15.0, "ram": 22.5, "gpu": 22.5, "node": 30.0}
    assert cost_checks.scrape_intervals({}) == dict.fromkeys(cost_checks.CHECKS, 60.0)
