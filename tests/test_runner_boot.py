"""The kernel-to-be (runner/boot.py): started with the command, it becomes the run's kernel with the run's
environment, folder and log; one that is gone is replaced by a new kernel; bad input dismisses it, never a kernel."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import psutil
import pytest
from report_fixtures import read_summary, stub_parameters, test_report

from goreliable_lib.paths import project_root
from goreliable_lib.runner import boot
from goreliable_lib.runner.execute import run_report

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# A report notebook whose summary says which process ran it, in what environment and folder.
WHO_RAN = """
import os, sys
from pathlib import Path
from goreliable_lib.runner import current_run
run = current_run("slo", parameters={"catalog": catalog})
print("to the kernel's own log", file=sys.__stderr__, flush=True)
run.write_summary({"kernel": {"command": Path("/proc/self/cmdline").read_bytes().decode().split("\\0"),
                              "cwd": os.getcwd(), "run_dir": os.environ["GORELIABLE_RUN_DIR"],
                              "report": os.environ["GORELIABLE_REPORT"], "run_id": os.environ["GORELIABLE_RUN_ID"],
                              "marker": os.environ.get("GORELIABLE_TEST_MARKER"),
                              "debugger": "debugpy" in sys.modules and sys.modules["debugpy"] is not None}})
"""


def who_ran_notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('catalog = "params/slos.yaml"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(WHO_RAN)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "who_ran.ipynb"
    nbformat.write(nb, path)
    return path


def _run(tmp_path: Path, kernel_to_be: subprocess.Popen[bytes] | None) -> dict:
    spec = dataclasses.replace(test_report("ok.ipynb"), notebook=str(who_ran_notebook(tmp_path)))
    result = run_report("slo", stub_parameters(), tmp_path / "out", report=spec, progress=False,
                        kernel_to_be=kernel_to_be)
    assert result.exit_code == 0, result.error
    return {"result": result, **read_summary(result.location)["kernel"]}


def test_the_kernel_to_be_becomes_the_run_s_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GORELIABLE_TEST_MARKER", "set after the kernel-to-be started")
    kernel_to_be = boot.spawn(boot.kernel_preload("slo"), cwd=tmp_path)  # its folder changes at the hand-over
    monkeypatch.setenv("GORELIABLE_TEST_MARKER", "the command's environment at the hand-over")
    seen = _run(tmp_path, kernel_to_be)
    assert seen["command"][1:4] == [*boot.PYTHON_OPTIONS, "-m", "goreliable_lib.runner.boot"]  # not a new process
    assert kernel_to_be.poll() is not None  # ended with the run
    run_id = seen["result"].run_id
    assert seen["run_id"] == run_id and seen["report"] == "slo"
    assert seen["run_dir"].endswith(f".tmp-{run_id}")  # the staging folder, published since
    assert seen["cwd"] == str(project_root())
    assert seen["marker"] == "the command's environment at the hand-over"
    assert seen["debugger"] is False  # debugpy declined (boot.DECLINED_IMPORTS): no debugger client in a run


def test_without_a_kernel_to_be_a_kernel_process_is_started(tmp_path: Path) -> None:
    seen = _run(tmp_path, None)
    assert seen["command"][1:4] == [*boot.PYTHON_OPTIONS, "-m", "ipykernel_launcher"]
    assert seen["debugger"] is True  # ipykernel's own start loads debugpy (what a kernel-to-be declines)


def test_a_kernel_to_be_that_is_gone_is_replaced(tmp_path: Path) -> None:
    kernel_to_be = boot.spawn(boot.kernel_preload("slo"), cwd=project_root())
    kernel_to_be.kill()
    kernel_to_be.wait()
    seen = _run(tmp_path, kernel_to_be)
    assert seen["command"][1:4] == [*boot.PYTHON_OPTIONS, "-m", "ipykernel_launcher"]


def test_the_kernel_s_own_output_goes_to_the_run_s_log(tmp_path: Path) -> None:
    # the log is kept (as kernel.log) only when a run failed: a run whose notebook fails after printing
    kernel_to_be = boot.spawn(boot.kernel_preload("slo"), cwd=project_root())
    path = who_ran_notebook(tmp_path)
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source += "\nraise RuntimeError('after the print')\n"
    nbformat.write(nb, path)
    spec = dataclasses.replace(test_report("ok.ipynb"), notebook=str(path))
    result = run_report("slo", stub_parameters(), tmp_path / "out", report=spec, progress=False,
                        kernel_to_be=kernel_to_be)
    assert result.exit_code == 1
    assert "to the kernel's own log" in (Path(result.location) / "kernel.log").read_text()


def test_a_dismissed_kernel_to_be_is_gone() -> None:
    kernel_to_be = boot.spawn(boot.kernel_preload("slo"), cwd=project_root())
    boot.dismiss(kernel_to_be)
    assert kernel_to_be.poll() is not None
    assert not boot.hand_over(kernel_to_be, [], dict(os.environ), None, None)
    boot.dismiss(kernel_to_be)  # twice: nothing


def test_a_kernel_to_be_whose_command_ended_exits(tmp_path: Path) -> None:
    # the command died without dismissing it (SIGKILL): its stdin closes, and it exits without being a kernel
    kernel_to_be = boot.spawn(("goreliable_lib.runner.context",), cwd=project_root())
    assert kernel_to_be.stdin is not None
    kernel_to_be.stdin.close()
    assert kernel_to_be.wait(timeout=120) == 0


def _kernels_to_be_with(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if "goreliable_lib.runner.boot" in (process.info["cmdline"] or []) and \
                    process.environ().get("GORELIABLE_TEST_MARKER") == marker:
                found.append(process)
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize(("setting", "param", "named"), [
    ({}, "window=fortnight", "window"),  # a parameter, refused by the runner's checks
    ({"GORELIABLE_THANOS_DEDUP": "ture"}, "window=7d", "GORELIABLE_THANOS_DEDUP"),  # a setting, before the runner
])
def test_bad_input_on_the_command_line_leaves_no_kernel_to_be(tmp_path: Path, setting: dict[str, str], param: str,
                                                               named: str) -> None:
    # the kernel-to-be starts before the settings are loaded and the parameters checked (cli.report_run.prepare)
    marker = uuid.uuid4().hex
    env = {**os.environ, "GORELIABLE_TEST_MARKER": marker, "GORELIABLE_PROFILE": "demo",
           "GORELIABLE_CONFIG": os.devnull, **setting}
    done = subprocess.run([sys.executable, "-m", "goreliable_lib", "report", "run", "slo", "-p", param,
                           "--out", str(tmp_path / "out")], env=env, cwd=project_root(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert named in done.stderr
    assert _kernels_to_be_with(marker) == []
    assert not (tmp_path / "out" / "slo").exists() or not any((tmp_path / "out" / "slo").iterdir())


def test_a_kernel_loads_the_aws_sdk_only_with_its_first_s3_client() -> None:
    """Every report's kernel preload (the report's module included) leaves boto3 unloaded (0.1 s of a kernel's
    start-up, on the path to its first cell); the first S3 client loads it (sources/drills.py `AWS_SDK`)."""
    reports = ("slo", "cost", "dr", "postmortem", "slo-review")
    code = ("import importlib, sys\n"
            "from goreliable_lib.runner.boot import kernel_preload\n"
            f"for report in {reports!r}:\n"
            "    for module in kernel_preload(report):\n"
            "        importlib.import_module(module)\n"
            "print(sorted(m for m in ('boto3', 'botocore.config') if m in sys.modules))\n"
            "from goreliable_lib.sources.drills import s3_client\n"
            "s3_client()\n"
            "print(sorted(m for m in ('boto3', 'botocore.config') if m in sys.modules))\n")
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "x"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project_root(),
                            env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == ["[]", "['boto3', 'botocore.config']"]
