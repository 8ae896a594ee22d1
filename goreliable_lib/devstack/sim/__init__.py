"""The platform simulator: one facade over the metrics, costs and drills simulations (deterministic from a seed)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from goreliable_lib.devstack.sim import costs as _costs
from goreliable_lib.devstack.sim import drills as _drills
from goreliable_lib.devstack.sim import metrics as _metrics
from goreliable_lib.devstack.sim.timeline import DEFAULT_AS_OF, DEFAULT_SEED, block_windows
from goreliable_lib.timeutil import parse_time

SIM_VERSION = "1"
"""Bump when the facade's output changes; each part also has its own `VERSION` (see `Simulation.version`)."""


class Simulation:
    """The simulated platform: `.metrics`, `.costs`, `.drills` (built lazily) and `.version` (keys the stack cache)."""

    def __init__(self, seed: int = DEFAULT_SEED, as_of: pd.Timestamp | str = DEFAULT_AS_OF) -> None:
        self.seed = int(seed)
        self.as_of = parse_time(as_of, field="as_of")

    @functools.cached_property
    def metrics(self) -> _metrics.MetricsSimulation:
        """The Go services' Prometheus series and the SLO ground truth."""
        return _metrics.MetricsSimulation(seed=self.seed, as_of=self.as_of)

    @functools.cached_property
    def costs(self) -> _costs.CostSimulation:
        """Kubecost allocations, cost metrics and the cost ground truth."""
        return _costs.CostSimulation(seed=self.seed, as_of=self.as_of)

    @functools.cached_property
    def drills(self) -> _drills.DrillSimulation:
        """DR drill logs and their ground truth."""
        return _drills.DrillSimulation(seed=self.seed, as_of=self.as_of)

    def truth_drill_costs(self) -> pd.DataFrame:
        """Each simulated drill's cost from the cost data (`CostSimulation.truth_drill_costs`): the ground truth of
        the DR report's `drills[].cost`."""
        return self.costs.truth_drill_costs(self.drills.truth_drills())

    @property
    def version(self) -> str:
        """Data version: the facade's and each part's `VERSION`."""
        return (f"sim{SIM_VERSION}-metrics{_metrics.VERSION}-costs{_costs.VERSION}-drills{_drills.VERSION}")

    @property
    def cache_key(self) -> str:
        """Key of the stack's TSDB cache: seed, as_of and version (the form stack.manager uses)."""
        return f"seed{self.seed}-{self.as_of.strftime('%Y-%m-%dT%H%M%SZ')}-v{self.version}"

    def openmetrics_writers(self) -> list[Callable[[Path], None]]:
        """Writers of the OpenMetrics files to backfill: the metrics split on the backfill's block windows
        (promtool parses a file once per block it spans, so one window per file is the cheapest), then the
        cost metrics split the same way."""
        metrics = self.metrics
        windows = block_windows(metrics.timestamps[0], metrics.timestamps[-1])
        writers: list[Callable[[Path], None]] = [
            functools.partial(metrics.write_openmetrics, start=low, end=high) for low, high in windows]
        costs = self.costs
        writers += [_discard_result(functools.partial(costs.write_openmetrics, start=low, end=high))
                    for low, high in windows if low < costs.as_of and high > costs.hours[0]]
        return writers


def _discard_result(writer: Callable[..., object]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        writer(path)

    return write
