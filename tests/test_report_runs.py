"""The runner end to end with real kernels: a good run, a failing run, a killed kernel, parallel runs.

Kernel starts cost seconds on this machine: one module-scoped sequence (ok -> fails -> dies) serves
most tests, and one parallel pair covers `report all`-style execution.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import nbformat
import pytest
from report_fixtures import (
    NOTEBOOKS,
    SENTINELS,
    find_sentinels,
    read_summary,
    stub_parameters,
    test_report,
    tree_digest,
)

from goreliable_lib.devstack.stack.manager import alive
from goreliable_lib.runner import execute
from goreliable_lib.runner.execute import RunResult, run_report
from goreliable_lib.runner.launch import start_kernel
from goreliable_lib.runner.suite import RunRequest, run_many
from goreliable_lib.signals import stop_on_sigterm

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
EXTERNAL = re.compile(r"<(?:script|link)\b[^>]*(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", re.IGNORECASE)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """ok, then a notebook failing mid-way, then one whose kernel is killed; same output folder; the sentinel
    secrets are in the environment throughout."""
    out = tmp_path_factory.mktemp("reports")
    results: dict[str, Any] = {"out": out}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in SENTINELS.items():
            patch.setenv(key, value)
        _run_sequence(out, results)
    return results


def _run_sequence(out: Path, results: dict[str, Any]) -> None:
    results["ok"] = run_report("slo", stub_parameters(window="1M"), out, report=test_report("ok.ipynb"),
                               progress=False)
    results["ok_digest"] = tree_digest(Path(results["ok"].location))
    results["fails"] = run_report("slo", stub_parameters(), out, report=test_report("fails.ipynb"), progress=False)
    results["dies"] = run_report("slo", stub_parameters(), out, report=test_report("dies.ipynb"), progress=False,
                                 timeout=120)


def test_good_run_layout(runs: dict[str, Any]) -> None:
    result: RunResult = runs["ok"]
    run_dir = Path(result.location)
    assert result.exit_code == 0 and result.status == "ok" and result.error is None
    assert run_dir == runs["out"] / "slo" / result.run_id
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{4}", result.run_id)
    assert {p.name for p in run_dir.iterdir()} == {"report.ipynb", "report.html", "summary.json", "data",
                                                    "figures", "slos.csv"}
    assert (run_dir / "figures" / "sli.json").is_file()
    summary = read_summary(run_dir)
    assert summary["status"] == "ok" and summary["report"] == "slo" and summary["run_id"] == result.run_id
    assert summary["parameters"]["window"] == "1M"
    assert summary["warnings"] == ["coverage of api-gateway-latency is 97%"]
    assert summary["slos"][0]["error_budget_remaining"] == 0.42
    nb = nbformat.read(run_dir / "report.ipynb", as_version=4)
    assert nb.metadata.papermill.parameters["window"] == "1M"
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert tags.index(["injected-parameters"]) == tags.index(["parameters"]) + 1
    assert "goreliable-warnings" in nb.cells[0].metadata.tags  # the warning is on the first screen
    page = (run_dir / "report.html").read_text()
    assert EXTERNAL.search(page) is None and page.count("plotly.js v") == 1
    assert page.index("coverage of api-gateway-latency") < page.index("plotly-graph-div")
    assert "run.show_figure" not in page  # no code in the HTML


def test_failed_run_kept_marked_and_latest_untouched(runs: dict[str, Any]) -> None:
    failed: RunResult = runs["fails"]
    run_dir = Path(failed.location)
    assert failed.exit_code == 1 and failed.status == "failed"
    assert failed.error == "RuntimeError: upstream exploded mid-report"
    summary = read_summary(run_dir)
    assert summary["status"] == "failed" and summary["error"]["type"] == "RuntimeError"
    assert summary["error"]["cell"] is not None and summary["window"]["start"] is not None
    nb = nbformat.read(run_dir / "report.ipynb", as_version=4)
    assert "goreliable-error" in nb.cells[0].metadata.tags and "upstream exploded" in nb.cells[0].source
    assert any("papermill-error-cell-tag" in c.metadata.get("tags", []) for c in nb.cells)  # papermill's anchor
    assert any(o.get("output_type") == "display_data" for c in nb.cells if c.cell_type == "code"
               for o in c.outputs)  # the partial output (the figure) is kept
    page = (run_dir / "report.html").read_text()
    assert page.index("This report FAILED") < page.index("plotly-graph-div")
    assert (runs["out"] / "slo" / "latest").resolve() == Path(runs["ok"].location)
    assert tree_digest(Path(runs["ok"].location)) == runs["ok_digest"]


def test_killed_kernel(runs: dict[str, Any]) -> None:
    died: RunResult = runs["dies"]
    assert died.exit_code == 1 and died.status == "failed" and "DeadKernelError" in (died.error or "")
    run_dir = Path(died.location)
    summary = read_summary(run_dir)
    assert summary["error"]["type"] == "DeadKernelError" and "killed" in summary["error"]["message"]
    nb = nbformat.read(run_dir / "report.ipynb", as_version=4)
    assert "This report FAILED" in nb.cells[0].source
    assert (run_dir / "report.html").is_file()
    assert (runs["out"] / "slo" / "latest").resolve() == Path(runs["ok"].location)
    assert tree_digest(Path(runs["ok"].location)) == runs["ok_digest"]


def test_index_lists_every_run_newest_first(runs: dict[str, Any]) -> None:
    page = (runs["out"] / "index.html").read_text()
    listed = re.findall(r">(\d{8}T\d{6}Z-[0-9a-f]{4})</a>", page)
    expected = sorted((runs[k].run_id for k in ("ok", "fails", "dies")), reverse=True)
    assert listed == expected
    assert page.count('class="status">failed<') == 2 and "2 SLOs (2 ok); policy: feature work" in page
    assert not list(runs["out"].glob("slo/.tmp-*"))  # nothing left in staging
    assert EXTERNAL.search(page) is None


def test_no_sentinel_or_context_leftovers(runs: dict[str, Any]) -> None:
    for path in runs["out"].rglob("*"):
        if path.is_file():
            assert not find_sentinels(path.read_bytes()), path
            assert path.name != ".run-context.json", path


def test_parallel_runs(tmp_path: Path) -> None:
    """Two runs at once (the `report all` path: validated first, then one process per run)."""
    out = tmp_path / "reports"
    request = RunRequest("slo", stub_parameters(), notebook=str(NOTEBOOKS / "ok.ipynb"))
    results = run_many([request, request], str(out), jobs=2)
    assert [outcome.exit_code for outcome in results] == [0, 0]
    folders = [Path(outcome.location) for outcome in results]
    assert len(set(folders)) == 2 and all(read_summary(f)["status"] == "ok" for f in folders)
    page = (out / "index.html").read_text()
    assert sorted(re.findall(r">(\d{8}T\d{6}Z-[0-9a-f]{4})</a>", page)) == sorted(f.name for f in folders)
    assert (out / "slo" / "latest").resolve() == max(folders)
    assert not list(out.glob("slo/.tmp-*")) and os.listdir(out / "slo").count("latest") == 1
    assert json.loads((max(folders) / "summary.json").read_text())["runner"]["duration_seconds"] > 0


def test_a_sigterm_while_the_kernel_launches_is_a_failed_run_and_no_kernel_is_left(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM arriving while the kernel process is being launched (seen under `report all` on a loaded machine: the
    kernel was there, the launch had not returned). The run is kept and published marked failed with `Terminated`
    (as one stopped a moment later is), and the kernel is stopped. Before, `Terminated` escaped the launch: the
    report read as "not run", its staging folder was never published and the kernel was left running."""
    launched: list[int] = []

    def launch_then_sigterm(*args: Any, **kwargs: Any) -> Any:
        kernel = start_kernel(*args, **kwargs)
        launched.append(kernel.provisioner.process.pid)
        os.kill(os.getpid(), signal.SIGTERM)  # as if it arrived before start_kernel returned
        return kernel

    previous = signal.getsignal(signal.SIGTERM)
    stop_on_sigterm()
    monkeypatch.setattr(execute, "start_kernel", launch_then_sigterm)
    try:
        result = run_report("slo", stub_parameters(), tmp_path, report=test_report("ok.ipynb"), progress=False)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.exit_code == 1 and result.location is not None
    summary = read_summary(result.location)
    assert summary["status"] == "failed" and summary["error"]["type"] == "Terminated", summary["error"]
    assert not list((tmp_path / "slo").glob(".tmp-*"))
    [pid] = launched
    assert not alive(pid), f"kernel {pid} survived the stopped run"
