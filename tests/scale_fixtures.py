"""Production-shape worlds (goreliable_lib.devstack.sim.scale) on real back-ends, for the SLO exactness tests.

Two small worlds, each built once per machine into the stack's caches (keyed by the world's config) and served
by a separate server per back-end, so the standard dataset and the demo snapshot stay untouched:
- CRASH_LOOP: `checkout`, 3 pods x 3 routes x 4 codes, scraped every 15 s with jitter, 3 days; one pod
  crash-loops for 2 hours (a restart every 150 s, half its requests failing), two pod restarts inside a minute,
  one pod replaced by a rollout, one 12-minute scrape gap, the `503` series born mid-history;
- TRIMMED: `checkout`, 2 pods x 3 routes x 4 codes at 30 s, counters running for weeks, a 35-day history of
  which the server holds only the last 15 days (as retention leaves it): every series' first held sample is a
  large value, the `503` series are born inside the held days.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests

from goreliable_lib.devstack.sim.scale import ScaleConfig, ScaleWorld
from goreliable_lib.devstack.stack.backends import TSDBS, Server, build_world, start_server

CRASH_LOOP = ScaleConfig(pods=3, routes=3, scrape_interval_seconds=15, days=3, crash_loop=True, restarts=2,
                         replacements=1, gaps=1)
TRIMMED = ScaleConfig(pods=2, routes=3, scrape_interval_seconds=30, days=35, held_days=15, restarts=2,
                      replacements=0, gaps=1, first_error_at=0.7)


@dataclasses.dataclass
class WorldStack:
    """A running back-end holding one world's history."""

    world: ScaleWorld
    server: Server
    tsdb: str

    @property
    def url(self) -> str:
        return self.server.url


WORLDS = {"crash_loop": CRASH_LOOP, "trimmed": TRIMMED}
#: A Pyrra SLO of the worlds' `checkout` service grouped by pod (one SLO per pod: `checkout-errors{pod="..."}`).
GROUPED_PYRRA = """apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: checkout-errors, labels: {service: checkout}}
spec:
  target: "99"
  window: 2d
  indicator:
    ratio:
      errors: {metric: 'http_requests_total{service="checkout",code=~"5.."}'}
      total: {metric: 'http_requests_total{service="checkout"}'}
      grouping: [pod]
"""


class WorldServers:
    """Servers of the worlds, started on first use and stopped at the session's end (one per world and back-end)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.worlds = {name: ScaleWorld(config) for name, config in WORLDS.items()}
        self.stacks: dict[tuple[str, str], WorldStack] = {}

    def get(self, name: str, tsdb: str) -> WorldStack:
        if (name, tsdb) not in self.stacks:
            world = self.worlds[name]
            server = start_server(tsdb, build_world(tsdb, world), self.folder / f"{name}-{tsdb}", stop_at_exit=True)
            self.stacks[name, tsdb] = WorldStack(world, server, tsdb)
        return self.stacks[name, tsdb]

    def stop(self) -> None:
        for stack in self.stacks.values():
            stack.server.stop()


@pytest.fixture(scope="session", name="world_servers")
def world_servers_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorldServers]:
    servers = WorldServers(tmp_path_factory.mktemp("worlds"))
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture(name="world_stack", params=[(name, tsdb) for name in WORLDS for tsdb in TSDBS],
                ids=lambda p: f"{p[0]}-{p[1]}")
def world_stack_fixture(request: pytest.FixtureRequest, world_servers: WorldServers) -> WorldStack:
    """Each world on each back-end in turn."""
    return world_servers.get(*request.param)


@pytest.fixture(name="crash_loop_stack", params=TSDBS)
def crash_loop_stack_fixture(request: pytest.FixtureRequest, world_servers: WorldServers) -> WorldStack:
    """CRASH_LOOP on each back-end in turn."""
    return world_servers.get("crash_loop", request.param)


@pytest.fixture(name="trimmed_stack", params=TSDBS)
def trimmed_stack_fixture(request: pytest.FixtureRequest, world_servers: WorldServers) -> WorldStack:
    """TRIMMED on each back-end in turn."""
    return world_servers.get("trimmed", request.param)


def raw_samples(url: str, selector: str, end: pd.Timestamp, span: pd.Timedelta) -> dict[tuple, np.ndarray]:
    """The raw samples of `selector` in (end - span, end] as the server holds them: {labels: [[ms, value], ...]}
    (an instant query of a range vector; timestamps back to integer milliseconds)."""
    session = requests.Session()
    session.trust_env = False
    with session:
        body = session.get(f"{url}/api/v1/query", timeout=120, params={
            "query": f"{selector}[{int(span.total_seconds())}s]", "time": f"{end.timestamp():.3f}"}).json()
    assert body["status"] == "success", body
    out = {}
    for series in body["data"]["result"]:
        key = tuple(sorted((k, v) for k, v in series["metric"].items() if k != "__name__"))
        out[key] = np.array([[round(float(t) * 1000), float(v)] for t, v in series["values"]])
    return out


def events_from_raw(series: dict[tuple, np.ndarray], start: pd.Timestamp, end: pd.Timestamp,
                    interval_ms: int) -> tuple[int, int]:
    """(good, total) by DESIGN.md's rule from raw samples alone (no knowledge of the simulator): increments of
    the samples in (start, end], a drop counts the new value, a series' first sample is a baseline when it lies
    within one scrape interval of the server's oldest sample, else it counts from 0."""
    oldest = min(samples[0, 0] for samples in series.values())
    low, high = start.value // 1_000_000, end.value // 1_000_000
    good = total = 0
    for labels, samples in series.items():
        stamps, values = samples[:, 0], samples[:, 1]
        increments = np.diff(values, prepend=0.0)
        increments[1:] = np.where(increments[1:] < 0, values[1:], increments[1:])
        if stamps[0] - oldest <= interval_ms:
            increments[0] = 0.0
        part = int(increments[(stamps > low) & (stamps <= high)].sum())
        total += part
        good += 0 if dict(labels)["code"].startswith("5") else part
    return good, total


def run_slo_report(url: str, world: ScaleWorld, out: Path, *, window: str, end: pd.Timestamp) -> tuple[int, Any]:
    """`goreliable report run slo` (a real kernel) on the world's availability SLO; (exit code, summary or stderr)."""
    import json

    catalog = out / "slos.yaml"
    out.mkdir(parents=True, exist_ok=True)
    catalog.write_text(world.openslo_catalog())
    env = {key: value for key, value in os.environ.items() if not key.startswith("GORELIABLE_")}
    env.update({"GORELIABLE_PROFILE": "live", "GORELIABLE_PROMETHEUS_URL": url, "GORELIABLE_CONFIG": os.devnull,
                "GORELIABLE_NOW": end.isoformat(), "GORELIABLE_ARCHIVE_URI": str(out / "archive")})
    command = [sys.executable, "-m", "goreliable_lib", "report", "run", "slo", "-p", f"catalog={catalog}",
               "-p", f"window={window}", "-p", f"end={end.isoformat()}", "--out", str(out / "reports")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        return result.returncode, result.stderr[-3000:]
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    return 0, json.loads((run_dir / "summary.json").read_text())
