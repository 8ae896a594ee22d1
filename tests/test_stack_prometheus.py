"""The stack's Prometheus with tiny datasets: promtool backfill, the cache, a real server, failures."""

from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd
import pytest
import requests

from goreliable_lib.devstack.sim.timeline import block_windows
from goreliable_lib.devstack.stack import process as stack_process
from goreliable_lib.devstack.stack import prometheus as stack_prometheus
from goreliable_lib.devstack.stack.manager import alive
from goreliable_lib.devstack.stack.prometheus import (
    PrometheusServer,
    backfill,
    build_tsdb,
    start_from_openmetrics,
)
from goreliable_lib.errors import StackError

pytestmark = pytest.mark.timeout(120)

T0 = 1_790_000_040  # whole minute


def _counter_text(name: str, values: list[int], t0: int = T0) -> str:
    lines = [f"# TYPE {name} counter"]
    lines += [f'{name}_total{{job="demo",instance="a:8080"}} {v} {t0 + 60 * i}' for i, v in enumerate(values)]
    return "\n".join(lines + ["# EOF"]) + "\n"


def _query(url: str, promql: str, time: float) -> list[dict]:
    session = requests.Session()
    session.trust_env = False
    body = session.get(f"{url}/api/v1/query", params={"query": promql, "time": time}, timeout=10).json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_start_from_openmetrics_serves_the_samples_and_stop_leaves_no_process(tmp_path: Path) -> None:
    server = start_from_openmetrics(_counter_text("demo", [1, 5, 9]), tmp_path)
    pid = server.pid
    assert pid is not None and server.url.startswith("http://127.0.0.1:")
    try:
        result = _query(server.url, "demo_total", T0 + 120)
        assert result[0]["value"][1] == "9"
        assert _query(server.url, "demo_total offset 1m", T0 + 120)[0]["value"][1] == "5"
    finally:
        server.stop()
    assert not alive(pid)
    assert server.pid is None
    server.stop()  # idempotent


def test_context_manager_stops(tmp_path: Path) -> None:
    blocks = tmp_path / "blocks"
    source = tmp_path / "in.om"
    source.write_text(_counter_text("demo", [3, 4]))
    backfill([source], blocks)
    with PrometheusServer(blocks, workdir=tmp_path / "srv") as server:
        pid = server.pid
        assert _query(server.url, "demo_total", T0 + 60)[0]["value"][1] == "4"
    assert pid is not None and not alive(pid)


def test_bad_openmetrics_gives_promtools_message(tmp_path: Path) -> None:
    source = tmp_path / "bad.om"
    source.write_text("# TYPE demo counter\ndemo_total 1\n# EOF\n")  # no timestamp
    with pytest.raises(StackError, match=r"promtool backfill of .*bad\.om failed.*expected timestamp"):
        backfill([source], tmp_path / "blocks")


def test_missing_promtool_is_a_clear_stack_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GORELIABLE_PROMTOOL_BIN", str(tmp_path / "no-such-promtool"))
    source = tmp_path / "in.om"
    source.write_text(_counter_text("demo", [1]))
    with pytest.raises(StackError, match="GORELIABLE_PROMTOOL_BIN=.*no-such-promtool.*apt-get install -y prometheus"):
        backfill([source], tmp_path / "blocks")
    with pytest.raises(StackError, match="GORELIABLE_PROMTOOL_BIN"):
        build_tsdb(tmp_path / "cache", "k", [lambda path: path.write_text(_counter_text("demo", [1]))])


def test_missing_prometheus_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GORELIABLE_PROMETHEUS_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError, match="prometheus not found on PATH.*GORELIABLE_PROMETHEUS_BIN"):
        stack_prometheus.find_binaries()


def test_busy_port_names_the_port(tmp_path: Path) -> None:
    blocks = tmp_path / "blocks"
    source = tmp_path / "in.om"
    source.write_text(_counter_text("demo", [1]))
    backfill([source], blocks)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(StackError, match=f"port {port} on 127.0.0.1 is already in use"):
            PrometheusServer(blocks, workdir=tmp_path / "srv", port=port).start()


def test_lost_port_race_is_detected_from_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The port check passes but the server cannot bind: the error names the port and shows the log."""
    server = start_from_openmetrics(_counter_text("demo", [1]), tmp_path / "first")
    try:
        monkeypatch.setattr(stack_process, "port_is_free", lambda port: True)
        second = PrometheusServer(tmp_path / "first" / "blocks", workdir=tmp_path / "second", port=server.port)
        with pytest.raises(StackError, match=f"port {server.port} .*already in use(?s:.*)Unable to start web listener"):
            second.start(timeout=20)
        assert second.pid is None
    finally:
        server.stop()


def test_build_tsdb_is_cached_atomic_and_shared_by_hard_links(tmp_path: Path) -> None:
    calls: list[Path] = []

    def writer(path: Path) -> None:
        calls.append(path)
        path.write_text(_counter_text("demo", [1, 2, 3]))

    cache = tmp_path / "cache"
    blocks = build_tsdb(cache, "seed=1 as_of=2026 v1", [writer])
    assert build_tsdb(cache, "seed=1 as_of=2026 v1", [writer]) == blocks
    assert len(calls) == 1
    # no temp dirs or inputs left behind (only the build lock, which serialises concurrent builders)
    assert [p.name for p in cache.iterdir() if p.suffix != ".lock"] == [blocks.name]

    def broken(path: Path) -> None:
        path.write_text("# TYPE demo counter\ndemo_total 1 1790000000\n\n# EOF\n")  # blank line

    with pytest.raises(StackError, match="promtool backfill"):
        build_tsdb(cache, "seed=2", [writer, broken])
    assert [p.name for p in cache.iterdir() if p.suffix != ".lock"] == [blocks.name]  # nothing half-built

    with PrometheusServer(blocks, workdir=tmp_path / "a") as first, \
            PrometheusServer(blocks, workdir=tmp_path / "b") as second:
        assert first.port != second.port
        for server in (first, second):
            assert _query(server.url, "demo_total", T0 + 120)[0]["value"][1] == "3"
        index = next((tmp_path / "a" / "data").glob("*/index"))
        assert index.stat().st_nlink >= 3  # cache + two servers


def test_block_windows_give_one_block_per_file(tmp_path: Path) -> None:
    """Files split on block_windows() become non-overlapping blocks (the server never compacts them)."""
    start = pd.Timestamp("2026-09-22T06:00:00Z")
    end = pd.Timestamp("2026-11-23T06:00:00Z")
    windows = block_windows(start, end)
    assert windows[0][0] <= start and windows[-1][1] > end
    files = []
    for index, (low, high) in enumerate(windows):
        first = max(low, start)
        last = min(high - pd.Timedelta(minutes=1), end)
        times = [int(t.timestamp()) for t in (first, last)]
        lines = ["# TYPE demo counter"] + [f"demo_total {index} {t}" for t in times] + ["# EOF"]
        files.append(tmp_path / f"{index}.om")
        files[-1].write_text("\n".join(lines) + "\n")
    backfill(files, tmp_path / "blocks")
    metas = sorted(stack_prometheus.iter_block_meta(tmp_path / "blocks"), key=lambda m: m["minTime"])
    assert len(metas) == len(windows)
    for before, after in zip(metas, metas[1:], strict=False):
        assert before["maxTime"] <= after["minTime"]
