"""The end of a run's kernel (runner/launch.py): its exit work done on request (`END_OF_RUN`), then ended at once;
the slow graceful shutdown when it cannot do that work. A real ipykernel, started as a run starts it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from jupyter_core.utils import run_sync

from goreliable_lib.paths import project_root
from goreliable_lib.runner import launch
from goreliable_lib.runner.shared import RUN_DIR_ENV

# In the kernel: a run's throttled recorder holding a result its manifest does not list yet (the next write is due
# in an hour), and an atexit handler that leaves a mark when the interpreter's own exit runs.
SETUP = """
import atexit, pathlib
import pandas as pd
from goreliable_lib.sources.snapshot import SnapshotRecorder
recorder = SnapshotRecorder(r"{data}", as_of="2026-11-23T06:00:00Z", min_interval=3600)
recorder.record("prometheus", {{"n": 1}}, pd.DataFrame({{"value": [1.0]}}))
recorder.record("prometheus", {{"n": 2}}, pd.DataFrame({{"value": [2.0]}}))
atexit.register(lambda: pathlib.Path(r"{mark}").write_text("the interpreter's exit ran"))
"""


async def _run_cell(kernel: Any, code: str) -> dict[str, Any]:
    client = kernel.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=120)
        return await client.execute(code, reply=True, timeout=60)
    finally:
        client.stop_channels()


def _kernel_with_pending_results(tmp_path: Path) -> tuple[Any, Path, Path]:
    data, mark = tmp_path / "data", tmp_path / "exited"
    kernel = launch.start_kernel({RUN_DIR_ENV: str(tmp_path)}, ("goreliable_lib.runner.context",),
                                 cwd=project_root())
    reply = run_sync(_run_cell)(kernel, SETUP.format(data=data, mark=mark))
    assert reply["content"]["status"] == "ok", reply["content"]
    listed = json.loads((data / "manifest.json").read_text())["entries"]
    assert [e["request"]["n"] for e in listed] == [1]  # the second result waits for the next write
    return kernel, data, mark


def test_the_kernel_does_its_exit_work_and_is_ended_at_once(tmp_path: Path) -> None:
    kernel, data, mark = _kernel_with_pending_results(tmp_path)
    run_sync(kernel.shutdown_kernel)(now=False)  # what papermill asks for
    assert not run_sync(kernel.is_alive)()
    entries = json.loads((data / "manifest.json").read_text())["entries"]
    assert [e["request"]["n"] for e in entries] == [1, 2]  # end_of_run wrote what the recorder held back
    assert not mark.exists()  # ended at once: the interpreter's own exit never ran


def test_a_kernel_that_cannot_do_its_exit_work_gets_the_graceful_shutdown(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    kernel, data, mark = _kernel_with_pending_results(tmp_path)
    monkeypatch.setattr(launch, "END_OF_RUN", "raise RuntimeError('no exit work today')")
    run_sync(kernel.shutdown_kernel)(now=False)
    assert not run_sync(kernel.is_alive)()
    assert mark.read_text() == "the interpreter's exit ran"
    entries = json.loads((data / "manifest.json").read_text())["entries"]
    assert [e["request"]["n"] for e in entries] == [1, 2]  # the snapshot's own atexit flush


def test_a_busy_kernel_is_interrupted_then_does_its_exit_work(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # still running a cell when asked (an interrupted or timed-out run): the cell is interrupted, then the kernel
    # does its exit work and is ended at once. The interrupt and the exit work are given 30 s, not 5: on a 2-core
    # machine running the whole suite they once took longer than 5, and the graceful fallback is another test's
    monkeypatch.setattr(launch, "END_OF_RUN_SECONDS", 30.0)
    kernel, data, mark = _kernel_with_pending_results(tmp_path)

    async def busy_then_shut_down() -> None:
        client = kernel.client()
        client.start_channels()
        try:
            client.execute("import time; time.sleep(300)")
            await asyncio.sleep(0.5)  # the cell is running
            await kernel.shutdown_kernel(now=False)
        finally:
            client.stop_channels()

    started = time.monotonic()
    run_sync(busy_then_shut_down)()
    assert time.monotonic() - started < 60  # not the cell's 300 s
    assert not run_sync(kernel.is_alive)()
    assert not mark.exists()
    entries = json.loads((data / "manifest.json").read_text())["entries"]
    assert [e["request"]["n"] for e in entries] == [1, 2]


def test_a_kernel_whose_cell_ignores_the_interrupt_gets_the_graceful_shutdown(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kernel, data, mark = _kernel_with_pending_results(tmp_path)
    monkeypatch.setattr(launch, "END_OF_RUN_SECONDS", 1.0)

    async def stubborn_then_shut_down() -> None:
        client = kernel.client()
        client.start_channels()
        try:
            client.execute("import time\nwhile True:\n    try:\n        time.sleep(300)\n"
                           "    except KeyboardInterrupt:\n        pass")
            await asyncio.sleep(0.5)
            await kernel.shutdown_kernel(now=False)
        finally:
            client.stop_channels()

    run_sync(stubborn_then_shut_down)()
    assert not run_sync(kernel.is_alive)()  # ended by jupyter_client's own steps (request, SIGTERM, SIGKILL)
