"""Fault matrix, report level: real kernels, real servers, real signals, a real full disk.

Four kernel runs (~15-30 s each on this machine): a good baseline run of a small probe report against a real
Prometheus holding the simulated history; the same report while that Prometheus is killed (SIGKILL) between two
queries; the same report into an output folder on a tmpfs that is full; and `python -m goreliable_lib report
run dr` interrupted with SIGINT (Ctrl-C) while its notebook waits on S3. Each time: the message names the
cause, the exit code is the documented one, the previous good run and `latest` are untouched (byte for byte),
and the failed run says so on its first screen and in summary.json.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from report_fixtures import mounted_tmpfs, read_summary, tree_digest

from goreliable_lib.devstack.sim import Simulation
from goreliable_lib.devstack.stack.faults import FaultProxy
from goreliable_lib.devstack.stack.manager import alive
from goreliable_lib.devstack.stack.prometheus import PrometheusServer, build_tsdb, default_cache_root
from goreliable_lib.errors import GoReliableError
from goreliable_lib.reports.base import Param, ReportSpec, check_text, check_time
from goreliable_lib.runner.execute import run_report
from goreliable_lib.runner.index import write_local_index

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.timeout(600),
              pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian prometheus missing")]
ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2026-11-23T06:00:00Z"
QUERY = 'sum(http_requests_total{service="api-gateway"})'
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{4}")

PROBE_CELLS = [
    ("parameters", 'end = "now"\ntitle = None\ngate = None'),
    (None, f'''import pathlib
import time

from goreliable_lib import reports

run = reports.current_run("probe", parameters={{"end": end, "title": title, "gate": gate}})
src = run.connect()
first = src.prometheus.query_range('{QUERY}', "now-2h", "now", "5m")
run.export_table(first, "first")'''),
    (None, f'''if gate:  # the test kills Prometheus, then opens the gate
    deadline = time.monotonic() + 120
    while not pathlib.Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
second = src.prometheus.query('{QUERY}')'''),
    (None, 'run.write_summary({"requests": float(second["value"].iloc[0]), "points": len(first)})'),
]


def probe_report(folder: Path) -> ReportSpec:
    """A small report on Prometheus (two queries, a gate between them), written as a notebook in `folder`."""
    cells = []
    for tag, source in PROBE_CELLS:
        cell = nbformat.v4.new_code_cell(source)
        if tag:
            cell.metadata["tags"] = [tag]
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "probe.ipynb"
    nbformat.write(nb, path)
    return ReportSpec("probe", str(path), "Probe", (
        Param("end", "time", "now", "end", check_time),
        Param("title", "text", None, "title", check_text),
        Param("gate", "text", None, "a file the notebook waits for between its two queries", check_text)))


@pytest.fixture(scope="module")
def blocks() -> Path:
    simulation = Simulation()
    return build_tsdb(default_cache_root(), simulation.cache_key, simulation.openmetrics_writers())


@contextlib.contextmanager
def live_env(**values: str) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("GORELIABLE_")]:
            patch.delenv(name)
        patch.setenv("GORELIABLE_PROFILE", "live")
        patch.setenv("GORELIABLE_CONFIG", os.devnull)
        patch.setenv("GORELIABLE_NOW", AS_OF)
        for name, value in values.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def baseline(blocks: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A good run of the probe report: the run every fault below must leave untouched."""
    work = tmp_path_factory.mktemp("faults")
    report = probe_report(work)
    with PrometheusServer(blocks, workdir=work / "prometheus", stop_at_exit=True) as server, \
            live_env(GORELIABLE_PROMETHEUS_URL=server.url):
        result = run_report("probe", {}, work / "reports", report=report, progress=False)
    assert result.exit_code == 0, result.error
    return {"out": work / "reports", "result": result, "report": report, "work": work}


def copy_reports(baseline: dict[str, Any], destination: Path) -> dict[str, Any]:
    """The baseline's reports folder copied (symlinks kept) to `destination`; the good run and its digest."""
    shutil.copytree(baseline["out"], destination, symlinks=True)
    good = destination / "probe" / baseline["result"].run_id
    return {"out": destination, "good": good, "digest": tree_digest(good),
            "index": (destination / "index.html").read_bytes()}


def assert_untouched(state: dict[str, Any], report: str = "probe") -> None:
    """The previous good run is byte-identical and `latest` still points at it; no staging left behind."""
    assert tree_digest(state["good"]) == state["digest"]
    assert (state["out"] / report / "latest").resolve() == state["good"].resolve()
    assert not list(state["out"].glob(f"{report}/.tmp-*")) and not list(state["out"].rglob(".*.tmp"))


def test_baseline_is_a_good_run(baseline: dict[str, Any]) -> None:
    summary = read_summary(baseline["result"].location)
    assert summary["status"] == "ok" and summary["requests"] > 0 and summary["warnings"] == []


def test_prometheus_killed_mid_report(baseline: dict[str, Any], blocks: Path, tmp_path: Path) -> None:
    """SIGKILL to Prometheus after the first query: the second query is retried, then the run fails (exit 1) naming
    Prometheus and the query; the first query's data is kept in the failed run; the good run is untouched."""
    state = copy_reports(baseline, tmp_path / "reports")
    gate = tmp_path / "gate"
    server = PrometheusServer(blocks, workdir=tmp_path / "prometheus", stop_at_exit=True)
    url = server.start(timeout=120)
    killed: dict[str, Any] = {}

    def kill_after_first_query() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and "at" not in killed:
            for manifest in state["out"].glob("probe/.tmp-*/data/manifest.json"):
                with contextlib.suppress(OSError, ValueError):
                    if json.loads(manifest.read_text())["entries"]:
                        os.kill(server.pid, signal.SIGKILL)
                        killed["at"] = time.monotonic()
            time.sleep(0.1)
        gate.touch()

    killer = threading.Thread(target=kill_after_first_query, daemon=True)
    killer.start()
    try:
        with live_env(GORELIABLE_PROMETHEUS_URL=url):
            result = run_report("probe", {"gate": str(gate)}, state["out"], report=baseline["report"],
                                progress=False)
    finally:
        killer.join(10)
        server.stop()
    assert "at" in killed, "Prometheus was never killed (the first query did not happen?)"
    assert result.exit_code == 1 and result.status == "failed"
    assert result.error.startswith("PrometheusError: Prometheus ") and url in result.error
    assert "unreachable" in result.error and "gave up after 4 attempts" in result.error and QUERY in result.error
    run_dir = Path(result.location)
    summary = read_summary(run_dir)
    assert summary["status"] == "failed" and summary["error"]["type"] == "PrometheusError"
    assert "requests" not in summary  # no number from a half-run
    manifest = json.loads((run_dir / "data" / "manifest.json").read_text())
    assert [e["source"] for e in manifest["entries"]] == ["prometheus"] and (run_dir / "first.csv").is_file()
    page = (run_dir / "report.html").read_text()
    assert "This report FAILED" in page and "must not be used as complete" in page
    assert_untouched(state)
    index = (state["out"] / "index.html").read_text()
    assert index.count('class="status">failed<') == 1 and index.count('class="status">ok<') == 1


def _fill(folder: Path, leave_bytes: int) -> None:
    """Fill the filesystem of `folder` until about `leave_bytes` remain free."""
    filler = folder / "filler.bin"
    with open(filler, "wb") as handle:
        block = b"\0" * 65536
        with contextlib.suppress(OSError):
            while True:
                handle.write(block)
                handle.flush()
    free = shutil.disk_usage(folder).free
    with open(filler, "r+b") as handle:
        handle.truncate(max(filler.stat().st_size - max(leave_bytes - free, 0), 0))


@contextlib.contextmanager
def tiny_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder` (root only; unmounted afterwards whatever happens)."""
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a full disk is simulated with a tiny tmpfs, which needs root")
    with mounted_tmpfs(folder, f"size={size}"):
        yield folder


def test_full_disk(baseline: dict[str, Any], blocks: Path, tmp_path: Path) -> None:
    """The output folder's disk fills up: exit 1 with a message naming the folder and "No space left on device";
    the unfinished run is removed (it would only hold space), the good run, `latest` and index.html untouched."""
    with tiny_tmpfs(tmp_path / "disk", "8m") as disk:
        state = copy_reports(baseline, disk / "reports")
        _fill(disk, leave_bytes=48 * 1024)
        with PrometheusServer(blocks, workdir=tmp_path / "prometheus", stop_at_exit=True) as server, \
                live_env(GORELIABLE_PROMETHEUS_URL=server.url), pytest.raises(GoReliableError) as caught:
            run_report("probe", {}, state["out"], report=baseline["report"], progress=False)
        message = str(caught.value)
        assert caught.value.exit_code == 1
        assert message.startswith("report probe: run ") and f"could not be written to {state['out']}" in message
        assert "No space left on device" in message and "unfinished run was removed" in message
        assert_untouched(state)
        assert (state["out"] / "index.html").read_bytes() == state["index"]
        assert sorted(p.name for p in (state["out"] / "probe").iterdir()) == sorted([state["good"].name, "latest"])


def _kernel_of(run_folder_prefix: str) -> int | None:
    """The pid of the kernel of a run folder under `run_folder_prefix`: a kernel process whose environment names it
    (as started), or a kernel-to-be that became it (runner/boot.py: its environment was given after it started, so
    /proc shows the command's; its own output goes to the run folder's .kernel.log)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            command = (entry / "cmdline").read_bytes()
            started_as_kernel = b"ipykernel_launcher" in command and \
                f"GORELIABLE_RUN_DIR={run_folder_prefix}".encode() in (entry / "environ").read_bytes()
            became_kernel = b"goreliable_lib.runner.boot" in command and \
                os.readlink(entry / "fd" / "1").startswith(run_folder_prefix)
            if started_as_kernel or became_kernel:
                return int(entry.name)
    return None


def _good_dr_run(out: Path) -> dict[str, Any]:
    """A previous good DR run (its summary, page and `latest`), published the way the runner does."""
    good = out / "dr" / "20261101T060000Z-0a1b"
    good.mkdir(parents=True)
    (good / "summary.json").write_text(json.dumps({"report": "dr", "status": "ok", "generated_at": AS_OF,
                                                   "window": {"start": None, "end": AS_OF}, "drills": [],
                                                   "warnings": []}))
    (good / "report.html").write_text("<html><body>good DR report</body></html>")
    (out / "dr" / "latest").symlink_to(good.name, target_is_directory=True)
    write_local_index(out)
    return {"out": out, "good": good, "digest": tree_digest(good)}


def _abandon_a_dead_kernel_cell_task(loop: Any) -> None:
    """What an interrupt leaves on nbclient's loop: a cell task that ended in DeadKernelError nobody retrieves."""
    import asyncio

    from nbclient.exceptions import DeadKernelError

    async def cell() -> None:
        raise DeadKernelError("Kernel died")

    task = loop.create_task(cell())
    loop.run_until_complete(asyncio.wait([task]))
    del task
    gc.collect()  # what the interpreter does at some point: the moment asyncio reports the unretrieved exception


@pytest.mark.parametrize("quieted", [True, False])
def test_an_abandoned_dead_kernel_cell_task_prints_no_traceback(quieted: bool,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """After Ctrl-C the runner's own error line is the only report: asyncio's "Task exception was never retrieved"
    traceback for nbclient's abandoned cell task (printed whenever the garbage collector gets to it, so only
    sometimes) is not. Without the handler the traceback appears: this is what the test would catch."""
    import asyncio

    from goreliable_lib.runner import kernel

    loop = asyncio.new_event_loop()
    try:
        if quieted:
            loop.set_exception_handler(kernel.ignore_abandoned_dead_kernel_tasks)
        with caplog.at_level(logging.ERROR, logger="asyncio"):
            _abandon_a_dead_kernel_cell_task(loop)
    finally:
        loop.close()
    unretrieved = [r for r in caplog.records if "exception was never retrieved" in r.getMessage()]
    assert (unretrieved == []) is quieted


def test_nbclients_kernel_died_echo_is_dropped_and_other_papermill_lines_kept(caplog: pytest.LogCaptureFixture) -> None:
    from goreliable_lib.runner import kernel

    kernel.drop_kernel_died_echo()
    with caplog.at_level(logging.INFO, logger="papermill"):
        logging.getLogger("papermill").error("Kernel died while waiting for execute reply.")
        logging.getLogger("papermill").info("Executing notebook with kernel: python3")
    assert [r.getMessage() for r in caplog.records] == ["Executing notebook with kernel: python3"]


def test_the_runner_quiets_the_loop_papermill_executes_on() -> None:
    from jupyter_core.utils import ensure_event_loop

    from goreliable_lib.runner import kernel

    kernel.quiet_kernel_noise()
    assert ensure_event_loop().get_exception_handler() is kernel.ignore_abandoned_dead_kernel_tasks


def _live_env_stuck_at(url: str) -> dict[str, str]:
    """The live profile with Prometheus, Kubecost and S3 all behind `url` (a proxy that never answers in time)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GORELIABLE_", "AWS_"))}
    env.update({"GORELIABLE_PROFILE": "live", "GORELIABLE_CONFIG": os.devnull, "GORELIABLE_NOW": AS_OF,
                "GORELIABLE_PROMETHEUS_URL": url, "GORELIABLE_KUBECOST_URL": url,
                "GORELIABLE_DRILLS_URI": "s3://goreliable-drills/drills", "AWS_ENDPOINT_URL": url,
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
    return env


def _wait_for_kernels(process: subprocess.Popen[str], prefixes: list[str], deadline_seconds: float = 240) -> list[int]:
    """The kernels of the runs whose staging folders start with `prefixes`, once every one is running."""
    deadline = time.monotonic() + deadline_seconds
    while process.poll() is None and time.monotonic() < deadline:
        kernels = [_kernel_of(prefix) for prefix in prefixes]
        if all(kernels):
            return [k for k in kernels if k]
        time.sleep(0.3)
    raise AssertionError(f"kernels of {prefixes} never all started (exit {process.poll()})")


def _ctrl_c_as_in_a_terminal() -> None:
    """The command's SIGINT as a terminal gives it (Python's KeyboardInterrupt), even when the tests themselves were
    started in the background by a shell without job control, which ignores SIGINT for all it starts."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


#: How each interrupt reaches `goreliable report run`: (send it, the error type, the words of the error line).
INTERRUPTS = {
    # a terminal's Ctrl-C: SIGINT to the whole foreground process group (the kernel is in its own session)
    "ctrl-c": (lambda process: os.killpg(process.pid, signal.SIGINT), "KeyboardInterrupt",
               "interrupted (Ctrl-C / SIGINT)"),
    # Kubernetes stopping the pod (activeDeadlineSeconds, a node drain): SIGTERM, through tini, to the process only
    "sigterm": (lambda process: process.send_signal(signal.SIGTERM), "Terminated", "terminated (SIGTERM)"),
}


@pytest.mark.parametrize("how", list(INTERRUPTS))
def test_interrupt_mid_run_via_the_cli(how: str, tmp_path: Path) -> None:
    """Ctrl-C or SIGTERM while the DR notebook waits on S3: `goreliable report run dr` exits 1 (documented codes
    only: an interrupted run failed while running), prints the run folder, keeps the partial run marked failed
    with the interruption at the top, prints one error line (no traceback, no "Kernel died" echo), leaves the good
    run and `latest` alone, and leaves no kernel behind. Python's default for SIGTERM would kill the process on the
    spot: an orphaned kernel and a staging folder nobody publishes."""
    send, error_type, words = INTERRUPTS[how]
    state = _good_dr_run(tmp_path / "reports")
    with FaultProxy(None) as stuck:
        stuck.delay(120, times=None)  # S3 never answers in time: the notebook is stuck in its first fetch
        process = subprocess.Popen([sys.executable, "-m", "goreliable_lib", "report", "run", "dr", "-q", "--out",
                                    str(state["out"])], cwd=ROOT, env=_live_env_stuck_at(stuck.url),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                                   preexec_fn=_ctrl_c_as_in_a_terminal)
        try:
            [kernel] = _wait_for_kernels(process, [str(state["out"] / "dr" / ".tmp-")])
            deadline = time.monotonic() + 240
            while not stuck.requests and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert stuck.requests, "the DR notebook never reached S3"
            assert alive(kernel)
            send(process)
            stdout, stderr = process.communicate(timeout=180)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    (tmp_path / "stderr.txt").write_text(stderr)
    assert process.returncode == 1, stderr[-3000:]
    location = Path(stdout.strip().splitlines()[-1])
    assert location.parent == state["out"] / "dr" and RUN_ID.fullmatch(location.name)
    assert f"goreliable: error: report dr failed: {error_type}: {words} while running" in stderr, stderr[-3000:]
    assert "Traceback" not in stderr and "Kernel died" not in stderr, stderr[-4000:]
    summary = read_summary(location)
    assert summary["status"] == "failed" and summary["error"]["type"] == error_type
    nb = nbformat.read(location / "report.ipynb", as_version=4)
    assert "goreliable-error" in nb.cells[0].metadata.get("tags", []) and error_type in nb.cells[0].source
    assert "This report FAILED" in (location / "report.html").read_text()
    assert_untouched(state, "dr")
    index = (state["out"] / "index.html").read_text()
    assert location.name in index and state["good"].name in index
    deadline = time.monotonic() + 20
    while alive(kernel) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(kernel), f"kernel {kernel} survived the interrupted run"



def test_sigterm_to_report_all_stops_every_report_cleanly(tmp_path: Path) -> None:
    """`report all` got SIGTERM (only its main process: Kubernetes does not signal the worker processes): it passes
    it on, so every report's run is published marked failed with `Terminated`, each line printed, exit 1, and no
    worker process or kernel is left behind."""
    out = tmp_path / "reports"
    with FaultProxy(None) as stuck:
        stuck.delay(120, times=None)
        process = subprocess.Popen([sys.executable, "-m", "goreliable_lib", "report", "all", "-q", "--out",
                                    str(out)], cwd=ROOT, env=_live_env_stuck_at(stuck.url),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            kernels = _wait_for_kernels(process, [str(out / name / ".tmp-") for name in ("slo", "cost", "dr")])
            workers = [int(pid) for pid in (Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text()
                                            .split())]
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=180)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 1, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-4000:]
    locations = [Path(line) for line in stdout.split()]
    assert sorted(location.parent.name for location in locations) == ["cost", "dr", "slo"], stdout
    for location in locations:
        assert RUN_ID.fullmatch(location.name) and location.is_dir()
        summary = read_summary(location)
        assert summary["status"] == "failed" and summary["error"]["type"] == "Terminated", summary["error"]
        assert f"goreliable: error: report {location.parent.name}: Terminated: terminated (SIGTERM)" in stderr
        assert not list(out.glob(f"{location.parent.name}/.tmp-*"))
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in kernels + workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in kernels + workers if alive(pid)], "a kernel or worker survived report all"
