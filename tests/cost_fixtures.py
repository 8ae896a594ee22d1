"""Fixtures of the cost tests: the cost simulation, Kubecost/OpenCost servers on 127.0.0.1, a source factory,
and a tiny Prometheus runner (used when goreliable_lib.devstack.stack.prometheus is not available)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

from goreliable_lib.devstack.sim.costs import CostSimulation
from goreliable_lib.devstack.stack.kubecost_server import KubecostServer
from goreliable_lib.sources.kubecost import KubecostSource

_SIM: CostSimulation | None = None


def shared_cost_sim() -> CostSimulation:
    """One CostSimulation per process (building it takes about a second)."""
    global _SIM
    if _SIM is None:
        _SIM = CostSimulation()
    return _SIM


@pytest.fixture(scope="session")
def cost_sim() -> CostSimulation:
    """The default cost simulation: the ground truth of the cost tests."""
    return shared_cost_sim()


@pytest.fixture(scope="session")
def kubecost_url(cost_sim: CostSimulation) -> Iterator[str]:
    """A Kubecost-flavoured server (base URL ends in /model)."""
    with KubecostServer(cost_sim, "kubecost") as url:
        yield url


@pytest.fixture(scope="session")
def opencost_url(cost_sim: CostSimulation) -> Iterator[str]:
    """An OpenCost-flavoured server (base URL = the cost-model root)."""
    with KubecostServer(cost_sim, "opencost") as url:
        yield url


@pytest.fixture(scope="session")
def kubecost_old_keys_url(cost_sim: CostSimulation) -> Iterator[str]:
    """A Kubecost server answering label aggregations in the old `cost-team=ml-platform` key form."""
    with KubecostServer(cost_sim, "kubecost", label_key_form="name=value") as url:
        yield url


@pytest.fixture()
def make_source(cost_sim: CostSimulation) -> Callable[..., KubecostSource]:
    """KubecostSource factory whose clock is the simulation's as_of."""

    def make(url: str, **kwargs: object) -> KubecostSource:
        kwargs.setdefault("clock", lambda: cost_sim.as_of)
        return KubecostSource(url, **kwargs)  # type: ignore[arg-type]

    return make


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MiniPrometheus:
    """promtool backfill of one OpenMetrics file and a real Prometheus serving it (fallback runner)."""

    def __init__(self, openmetrics: Path, workdir: Path) -> None:
        self.openmetrics, self.workdir = openmetrics, workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 60) -> str:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=2400h",
                        str(self.openmetrics), str(data)], check=True, capture_output=True, timeout=300)
        config = self.workdir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1h\n")
        port = _free_port()
        log = open(self.workdir / "prometheus.log", "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={data}",
             "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/-/ready", timeout=2).status_code == 200:
                    return self.url
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("Prometheus did not become ready")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def query(self, promql: str, time_: pd.Timestamp) -> list[dict[str, object]]:
        response = requests.get(self.url + "/api/v1/query", params={"query": promql, "time": time_.timestamp()},
                                timeout=120)
        response.raise_for_status()
        return response.json()["data"]["result"]
