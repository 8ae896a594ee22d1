"""The full simulated dataset in a real Prometheus and in a real VictoriaMetrics, once per test session.

The Prometheus TSDB is built into the stack's cache (`$GORELIABLE_CACHE_DIR`, else ~/.cache/goreliable/tsdb), the
VictoriaMetrics storage beside it (…/goreliable/victoriametrics), both keyed by seed, as_of and
`Simulation.version`, so only the first session on a machine pays for the backfill and the import.

Ground-truth tests that must hold on both back-ends take the module-scoped `tsdb_stack` fixture (parametrised
over TSDBS; override with `@pytest.mark.parametrize("tsdb_stack", [...], indirect=True)` to mark one back-end).
Import `metrics_stack_fixture`, `vm_metrics_stack_fixture` and `tsdb_stack_fixture` into the test module.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from goreliable_lib.devstack.sim import Simulation
from goreliable_lib.devstack.sim.timeline import SCRAPE_INTERVAL_SECONDS, block_windows
from goreliable_lib.devstack.stack.backends import TSDBS, build_simulation
from goreliable_lib.devstack.stack.prometheus import PrometheusServer, build_tsdb, default_cache_root
from goreliable_lib.devstack.stack.victoriametrics import VictoriaMetricsServer


@dataclasses.dataclass
class MetricsStack:
    """A running back-end (Prometheus or VictoriaMetrics) holding the simulation's history, and how long each
    step took."""

    simulation: Simulation
    server: PrometheusServer | VictoriaMetricsServer
    blocks: Path
    timings: dict[str, float]
    tsdb: str = "prometheus"

    @property
    def url(self) -> str:
        return self.server.url


def start_metrics_stack(workdir: Path, cache_root: Path | None = None,
                        simulation: Simulation | None = None) -> MetricsStack:
    """Build (or reuse) the cached TSDB of `simulation` and start a Prometheus on it. Caller stops `.server`."""
    simulation = simulation or Simulation()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    blocks = build_tsdb(cache_root or default_cache_root(), simulation.cache_key, simulation.openmetrics_writers())
    timings["build_tsdb_seconds"] = time.perf_counter() - started  # includes generating the metrics when cold
    server = PrometheusServer(blocks, workdir=workdir, stop_at_exit=True)
    started = time.perf_counter()
    server.start(timeout=120)
    timings["start_seconds"] = time.perf_counter() - started
    return MetricsStack(simulation, server, blocks, timings)


def start_vm_metrics_stack(workdir: Path, cache_root: Path | None = None,
                           simulation: Simulation | None = None) -> MetricsStack:
    """The same history in a real VictoriaMetrics (its storage built once and cached). Caller stops `.server`."""
    simulation = simulation or Simulation()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    storage = build_simulation("victoriametrics", simulation, cache_root)
    timings["build_storage_seconds"] = time.perf_counter() - started
    server = VictoriaMetricsServer(storage, workdir=workdir, stop_at_exit=True)
    started = time.perf_counter()
    server.start(timeout=120)
    timings["start_seconds"] = time.perf_counter() - started
    return MetricsStack(simulation, server, storage, timings, tsdb="victoriametrics")


@pytest.fixture(scope="session", name="metrics_stack")
def metrics_stack_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetricsStack]:
    """`metrics_stack`: the default simulation served by a real Prometheus for the whole session.
    Import `metrics_stack_fixture` into a test module (or conftest) to use it."""
    stack = start_metrics_stack(tmp_path_factory.mktemp("metrics-prometheus"))
    try:
        yield stack
    finally:
        stack.server.stop()


@pytest.fixture(scope="session", name="vm_metrics_stack")
def vm_metrics_stack_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetricsStack]:
    """`vm_metrics_stack`: the default simulation served by a real VictoriaMetrics for the whole session."""
    stack = start_vm_metrics_stack(tmp_path_factory.mktemp("metrics-victoriametrics"))
    try:
        yield stack
    finally:
        stack.server.stop()


@pytest.fixture(scope="module", name="tsdb_stack", params=TSDBS)
def tsdb_stack_fixture(request: pytest.FixtureRequest) -> MetricsStack:
    """`tsdb_stack`: the default simulation on each back-end of TSDBS in turn (session servers, shared)."""
    return request.getfixturevalue(
        {"prometheus": "metrics_stack", "victoriametrics": "vm_metrics_stack"}[request.param])


def prometheus_get(url: str, path: str, **params: object) -> dict:
    """GET an API path on the loopback server and return `data` (fails the test on an error status)."""
    session = requests.Session()
    session.trust_env = False
    with session:
        body = session.get(f"{url}{path}", params=params, timeout=60).json()
    assert body["status"] == "success", body
    return body["data"]


def raw_counter_increase(url: str, selector: str, start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Exact increase of the counters matching `selector` over the samples in (start, end]: a range query of the
    raw series at step 60 (whole minutes, so each step sees the sample at that minute), per-series diffs with
    counter resets handled (a drop counts the new value), summed. Steps during a gap repeat the last value or
    miss it; both add nothing, and the first sample after the gap carries the gap's events."""
    data = prometheus_get(url, "/api/v1/query_range", query=selector, start=start.timestamp(),
                          end=end.timestamp(), step=60)
    total = 0.0
    for series in data["result"]:
        values = np.array([float(value) for _, value in series["values"]])
        stamps = np.array([float(stamp) for stamp, _ in series["values"]])
        assert stamps[0] == start.timestamp(), f"{series['metric']} has no sample at the window start"
        diffs = np.diff(values)
        total += float(np.where(diffs < 0, values[1:], diffs).sum())
    assert total == int(total)
    return int(total)


#: What Prometheus' default retention leaves of a history: its last 15 days.
HELD = pd.Timedelta(days=15)


def start_trimmed_prometheus(workdir: Path, simulation: Simulation | None = None, held: pd.Timedelta = HELD, *,
                             scrape_seconds: int = SCRAPE_INTERVAL_SECONDS) -> PrometheusServer:
    """The default history trimmed to its last `held` (the counters ran long before the server's oldest sample),
    scraped every `scrape_seconds`, in a real Prometheus (its blocks cached). Caller stops it."""
    simulation = simulation or Simulation()
    metrics = simulation.metrics
    held_from = metrics.as_of - held
    writers = [functools.partial(metrics.write_openmetrics, start=max(low, held_from), end=high,
                                 scrape_seconds=scrape_seconds)
               for low, high in block_windows(held_from, metrics.timestamps[-1])]
    days = int(held / pd.Timedelta(days=1))
    scrape = "" if scrape_seconds == SCRAPE_INTERVAL_SECONDS else f"-{scrape_seconds}s"
    blocks = build_tsdb(default_cache_root(), f"{simulation.cache_key}-metrics{scrape}-held{days}d", writers)
    server = PrometheusServer(blocks, workdir=workdir, stop_at_exit=True)
    server.start(timeout=120)
    return server


@pytest.fixture(scope="module", name="trimmed_prometheus")
def trimmed_prometheus_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """`trimmed_prometheus`: the default history's last 15 days in a real Prometheus."""
    server = start_trimmed_prometheus(tmp_path_factory.mktemp("trimmed"))
    try:
        yield server
    finally:
        server.stop()
