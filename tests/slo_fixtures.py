"""Fixtures and helpers of the SLO tests: synthetic event frames, an in-memory Prometheus API over raw samples."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from counter_streams import FakePrometheus

from goreliable_lib.devstack.stack.prometheus import start_from_openmetrics
from goreliable_lib.devstack.stack.victoriametrics import VictoriaMetricsServer
from goreliable_lib.inputs.catalog import SLO
from goreliable_lib.reports import slo
from goreliable_lib.sources.archive import ArchiveSource
from goreliable_lib.sources.connect import MissingSource, Sources

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "params" / "slos.yaml"
T0 = pd.Timestamp("2026-11-10T12:00:00Z")


def ratio_slo(good: str | None = None, total: str = "", *, bad: str | None = None, name: str = "test",
              target: float = 0.99) -> SLO:
    """An OpenSLO v1 ratio SLO over counter queries: `good` (or `bad`) of `total`, 30 days rolling, Occurrences."""
    def metric(query: str) -> dict[str, Any]:
        return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}

    part = {"good": metric(good)} if good is not None else {"bad": metric(bad or "")}
    return SLO.model_validate({
        "apiVersion": "openslo/v1", "kind": "SLO", "metadata": {"name": name},
        "spec": {"service": "api", "budgetingMethod": "Occurrences", "objectives": [{"target": target}],
                 "timeWindow": [{"duration": "30d", "isRolling": True}],
                 "indicator": {"spec": {"ratioMetric": {"counter": True, **part, "total": metric(total)}}}}})


def sources_of(prometheus: Any, *, archive: ArchiveSource | None = None) -> Sources:
    """The sources of a report over one Prometheus API (a server, an in-memory fake): its clock is theirs; no
    Kubecost or drill logs."""
    return Sources("live", prometheus, MissingSource("Kubecost", "GORELIABLE_KUBECOST_URL"),
                   MissingSource("drill log", "GORELIABLE_DRILLS_URI"), clock_override=prometheus.now(),
                   archive=archive)


def slo_report(prometheus: Any, **params: Any) -> slo.SLOReport:
    """The SLO report over a bare Prometheus source (its clock is the report's), as the notebook builds it."""
    return slo.build(slo.fetch(sources_of(prometheus), params), params)


def minute_events(start: pd.Timestamp, total: Any, good: Any) -> pd.DataFrame:
    """A per-minute event frame whose first row is at `start` (arrays or scalars broadcast by length)."""
    total = np.asarray(total, dtype=float)
    good = np.broadcast_to(np.asarray(good, dtype=float), total.shape)
    return pd.DataFrame({"timestamp": pd.date_range(start, periods=len(total), freq="min"),
                         "good": good, "total": total})


def steady_events(start: pd.Timestamp, end: pd.Timestamp, per_minute: float = 1000.0,
                  bad_per_minute: float = 0.0) -> pd.DataFrame:
    """Constant traffic on every minute of (start, end]."""
    minutes = pd.date_range(start + pd.Timedelta(minutes=1), end, freq="min")
    return pd.DataFrame({"timestamp": minutes, "good": per_minute - bad_per_minute, "total": per_minute})


def with_outage(events: pd.DataFrame, first: pd.Timestamp, minutes: int, bad_per_minute: float) -> pd.DataFrame:
    """`bad_per_minute` bad events on the `minutes` minutes starting at `first`."""
    out = events.copy()
    hit = (out["timestamp"] >= first) & (out["timestamp"] < first + pd.Timedelta(minutes=minutes))
    out.loc[hit, "good"] = out.loc[hit, "total"] - bad_per_minute
    return out


def samples(rows: list[tuple[str, float, dict[str, str]]]) -> pd.DataFrame:
    """A long sample frame like `PrometheusSource.query_range` returns, from (time, value, labels) rows."""
    labels = sorted({k for _, _, lab in rows for k in lab})
    frame = pd.DataFrame({"timestamp": pd.to_datetime([r[0] for r in rows], utc=True),
                          "value": [float(r[1]) for r in rows]})
    for label in labels:
        frame[label] = pd.Series([r[2].get(label) for r in rows], dtype=object)
    return frame


def memory_source(table: pd.DataFrame, **semantics: bool) -> FakePrometheus:
    """An in-memory Prometheus API (`counter_streams.FakePrometheus`, Prometheus 2 semantics by default) over a
    table of raw samples like `samples()` builds (`timestamp`, `value`, labels)."""
    frame = table.rename(columns={"timestamp": "t"}).copy()
    frame["t"] = pd.DatetimeIndex(frame["t"]).as_unit("ns").asi8
    return FakePrometheus(frame, **semantics)


def platform_table(minutes: int, reset_at: int | None = None, gap: range = range(0), start: pd.Timestamp = T0,
                   new_errors_at: int | None = None) -> pd.DataFrame:
    """Raw samples of a small service, one scrape a minute from `start` for `minutes` minutes.

    Two pods: `http_requests_total{service="api",pod,code}` (pod a: 99 x 200 + 1 x 503 a minute; pod b: 100 x
    200, and from `new_errors_at` 2 x 500 a minute in a new series), a latency histogram `h_bucket` (95 a
    minute under 0.3 s, spelt `le="0.3"` for the first half and `le="0.30"` after, plus `le="1"`) and its
    `h_count`. Pod a restarts at `reset_at` (its counters start again from 0); nobody scrapes during `gap`
    (requests are still served and show up in the next scrape)."""
    rows = []
    for pod in ("a", "b"):
        ok, errors, new_errors, fast = 1000.0, 10.0, 0.0, 900.0
        for k in range(minutes + 1):
            if reset_at is not None and k == reset_at and pod == "a":
                ok, errors, fast = 0.0, 0.0, 0.0
            ok += 99 if pod == "a" else 100
            errors += 1 if pod == "a" else 0
            fast += 95
            has_new = pod == "b" and new_errors_at is not None and k >= new_errors_at
            new_errors += 2 if has_new else 0
            if k in gap:
                continue
            t = str(start + k * pd.Timedelta(minutes=1))
            base = {"__name__": "http_requests_total", "service": "api", "pod": pod}
            rows.append((t, ok, {**base, "code": "200"}))
            if pod == "a":
                rows.append((t, errors, {**base, "code": "503"}))
            if has_new:
                rows.append((t, new_errors, {**base, "code": "500"}))
            le = "0.3" if k < minutes // 2 else "0.30"
            rows.append((t, fast, {"__name__": "h_bucket", "service": "api", "pod": pod, "le": le}))
            rows.append((t, fast + 5, {"__name__": "h_bucket", "service": "api", "pod": pod, "le": "1"}))
            count = ok + (errors if pod == "a" else new_errors)
            rows.append((t, count, {"__name__": "h_count", "service": "api", "pod": pod}))
    return samples(rows)


def to_openmetrics(table: pd.DataFrame) -> str:
    """OpenMetrics text for `promtool tsdb create-blocks-from openmetrics` (seconds, per-series time order)."""
    labels = [c for c in table.columns if c not in ("timestamp", "value", "__name__")]
    lines = []
    ordered = table.sort_values(["__name__", *labels, "timestamp"], na_position="first", kind="stable")
    for record in ordered.to_dict("records"):
        pairs = ",".join(f'{k}="{record[k]}"' for k in labels if isinstance(record[k], str))
        lines.append(f"{record['__name__']}{{{pairs}}} {record['value']:.17g} {int(record['timestamp'].timestamp())}")
    return "\n".join(lines) + "\n# EOF\n"


@contextlib.contextmanager
def backfilled_prometheus(table: pd.DataFrame, folder: Path) -> Iterator[str]:
    """A real Prometheus (Debian's 2.42) on 127.0.0.1 serving `table`, backfilled with promtool; yields its URL."""
    server = start_from_openmetrics(to_openmetrics(table), folder)
    try:
        yield server.url
    finally:
        server.stop()


#: The mini dataset served by `mini_prometheus`: 1 day of scrapes from T0 with a restart, a gap, new series.
MINI = {"minutes": 1440, "reset_at": 900, "gap": range(600, 640), "new_errors_at": 1000}


@contextlib.contextmanager
def imported_victoriametrics(table: pd.DataFrame, folder: Path) -> Iterator[str]:
    """A real VictoriaMetrics (Debian's 1.79) on 127.0.0.1 holding `table` (the same OpenMetrics text as
    `backfilled_prometheus`, through /api/v1/import/prometheus); yields its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.om").write_text(to_openmetrics(table))
    with VictoriaMetricsServer(workdir=folder / "server", stop_at_exit=True) as server:
        server.import_file(folder / "data.om")
        yield server.url


@pytest.fixture(scope="session")
def mini_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, pd.DataFrame]]:
    """A real Prometheus serving `platform_table(**MINI)`; yields (url, table)."""
    table = platform_table(**MINI)
    with backfilled_prometheus(table, tmp_path_factory.mktemp("slo-prometheus")) as url:
        yield url, table


@pytest.fixture(scope="session")
def mini_victoriametrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, pd.DataFrame]]:
    """A real VictoriaMetrics holding `platform_table(**MINI)`; yields (url, table)."""
    table = platform_table(**MINI)
    with imported_victoriametrics(table, tmp_path_factory.mktemp("slo-victoriametrics")) as url:
        yield url, table


#: The mini dataset's back-ends: fixture name per TSDB (test_slo_prometheus runs on each).
MINI_SERVERS = {"prometheus": "mini_prometheus", "victoriametrics": "mini_victoriametrics"}
