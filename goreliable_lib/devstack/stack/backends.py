"""The stack's Prometheus-API back-ends behind one pair of calls: build a world's history once (cached), start a
server on it. `tsdb` is `prometheus` (promtool backfill, OpenMetrics in seconds) or `victoriametrics` (import of
the Prometheus text format in milliseconds); tests, the benchmark and `goreliable stack up --tsdb` share them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from goreliable_lib.devstack.sim import Simulation
from goreliable_lib.devstack.sim.scale import ScaleWorld
from goreliable_lib.devstack.stack.prometheus import PrometheusServer, build_tsdb, default_cache_root
from goreliable_lib.devstack.stack.victoriametrics import (
    VictoriaMetricsServer,
    build_storage,
    default_vm_cache_root,
)
from goreliable_lib.errors import BadInputError

TSDBS = ("prometheus", "victoriametrics")
Server = PrometheusServer | VictoriaMetricsServer


def check_tsdb(tsdb: str) -> str:
    """`tsdb` when it names a known back-end; a BadInputError naming the choices otherwise."""
    if tsdb not in TSDBS:
        raise BadInputError(f"--tsdb: unknown back-end {tsdb!r}; choose one of {', '.join(TSDBS)}")
    return tsdb


def build_history(tsdb: str, key: str, writers: Callable[[str], list[Callable[[Path], None]]],
                  cache_root: Path | None = None) -> Path:
    """The cached TSDB blocks (Prometheus) or storage dir (VictoriaMetrics) of `key`, built once from the files
    `writers(timestamp_unit)` write (`"s"` for promtool, `"ms"` for VictoriaMetrics' import)."""
    if check_tsdb(tsdb) == "prometheus":
        return build_tsdb(cache_root or default_cache_root(), key, writers("s"))
    return build_storage(cache_root or default_vm_cache_root(), f"vm-{key}", writers("ms"))


def build_simulation(tsdb: str, simulation: Simulation, cache_root: Path | None = None) -> Path:
    """The standard simulation's history (metrics and cost metrics) on `tsdb`. Its OpenMetrics files have
    whole-second timestamps, which VictoriaMetrics' import turns into exact milliseconds: both get the same files."""
    return build_history(tsdb, simulation.cache_key, lambda _unit: simulation.openmetrics_writers(), cache_root)


def build_world(tsdb: str, world: ScaleWorld, cache_root: Path | None = None) -> Path:
    """A production-shape world's held history on `tsdb`."""
    return build_history(tsdb, world.config.key, lambda unit: world.writers(timestamp_unit=unit), cache_root)


def start_server(tsdb: str, built: Path, workdir: Path, *, port: int | None = None, stop_at_exit: bool = False,
                 timeout: float = 120, extra_args: tuple[str, ...] = ()) -> Server:
    """A started server of `tsdb` on 127.0.0.1 serving `built` (from `build_*`); the caller stops it."""
    server: Server
    if check_tsdb(tsdb) == "prometheus":
        server = PrometheusServer(built, workdir=workdir, port=port, stop_at_exit=stop_at_exit, extra_args=extra_args)
    else:
        server = VictoriaMetricsServer(built, workdir=workdir, port=port, stop_at_exit=stop_at_exit,
                                       extra_args=extra_args)
    server.start(timeout=timeout)
    return server
