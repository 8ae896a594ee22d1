"""The default simulation's last days scraped every 30 seconds, in a real Prometheus (its blocks cached like the
stack's, keyed by the simulation's version): `start_30s_prometheus(workdir)`, and the module fixture
`prometheus_30s` (import `prometheus_30s_fixture` into a test module).

`MetricsSimulation.write_openmetrics(scrape_seconds=30)` adds a sample half a minute before each minute's: the
events of every minute (t - 1m, t] are unchanged, so the simulation's ground truth holds as it is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sim_metrics_fixtures import start_trimmed_prometheus

from goreliable_lib.devstack.sim import Simulation
from goreliable_lib.devstack.stack.prometheus import PrometheusServer

#: The days held: a 7-day SLO window with its 3-day alert lookback, and the api-gateway outage of 2026-11-11.
HELD_30S = pd.Timedelta(days=14)


def start_30s_prometheus(workdir: Path, simulation: Simulation | None = None,
                         held: pd.Timedelta = HELD_30S) -> PrometheusServer:
    """The default history's last `held`, 30 s between samples, in a real Prometheus. Caller stops it."""
    return start_trimmed_prometheus(workdir, simulation, held, scrape_seconds=30)


@pytest.fixture(scope="module", name="prometheus_30s")
def prometheus_30s_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """`prometheus_30s`: the default history's last 14 days at a 30 s scrape in a real Prometheus."""
    server = start_30s_prometheus(tmp_path_factory.mktemp("prometheus-30s"))
    try:
        yield server
    finally:
        server.stop()
