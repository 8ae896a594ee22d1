"""Session-wide fixtures: the local stack (real Prometheus, moto S3, Kubecost server on 127.0.0.1); and, when the
session ends, every summary.json the session wrote validated against docs/schema/ (tests/summary_schema.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def project_root() -> Path:
    """The repository root."""
    return ROOT


@pytest.fixture(scope="session")
def simulation():
    """The standard simulation (default seed and as_of): the ground truth of every integration test."""
    from goreliable_lib.devstack.sim import Simulation

    return Simulation()


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory, simulation) -> Iterator:
    """The whole local stack, started once per test session and stopped at the end."""
    from goreliable_lib.devstack.stack.manager import LocalStack

    stack = LocalStack(tmp_path_factory.mktemp("stack"), seed=simulation.seed, as_of=simulation.as_of)
    state = stack.start()
    try:
        yield state
    finally:
        stack.stop()


@pytest.fixture()
def stack_env(local_stack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment pointing the kit at the local stack, set for one test."""
    env = local_stack.env()
    for name in [n for n in os.environ if n.startswith("GORELIABLE_")]:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GORELIABLE_CONFIG", os.devnull)
    return env


@pytest.fixture(scope="session")
def demo_suite(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The five reports of `make demo` run once on the bundled demo snapshot, in parallel, with
    sentinel secrets in the environment; shared by the ground-truth, secret-scan and browser tests. Under
    pytest-xdist the first worker runs them and the others reuse its results (a lock file in the shared
    base temp folder)."""
    import fcntl
    import json

    from report_fixtures import SENTINELS

    from goreliable_lib.runner.suite import RunRequest, run_many
    from goreliable_lib.sources.connect import demo_snapshot_path

    if not (demo_snapshot_path() / "manifest.json").is_file():
        pytest.fail("the bundled demo snapshot is missing: run `goreliable demo record`")
    # under xdist each worker's base temp is <session folder>/popen-gwN: share the session folder; without xdist
    # the base temp *is* the session folder (its parent holds every earlier session: never reuse those)
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = shared / "demo-reports"
    record = shared / "demo-reports.json"
    with open(shared / "demo-reports.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            with pytest.MonkeyPatch.context() as patch:
                for name in [n for n in os.environ if n.startswith("GORELIABLE_")]:
                    patch.delenv(name)
                for key, value in SENTINELS.items():
                    patch.setenv(key, value)
                patch.setenv("GORELIABLE_PROFILE", "demo")
                patch.setenv("GORELIABLE_CONFIG", os.devnull)
                patch.setenv("GORELIABLE_PROJECT_ROOT", str(ROOT))
                requests = [RunRequest("slo"), RunRequest("cost"), RunRequest("dr"),
                            RunRequest("postmortem", files=(str(ROOT / "params" / "postmortem-demo.yaml"),)),
                            RunRequest("slo-review")]  # not in `report all`, but built from the demo's archive
                results = run_many(requests, str(out), jobs=2, timeout=600)
            record.write_text(json.dumps(results))
    results = [tuple(r) for r in json.loads(record.read_text())]
    runs = {name: Path(location) for name, _, location, _ in results if location}
    return {"out": out, "results": results, "runs": runs,
            "summaries": {name: json.loads((runs[name] / "summary.json").read_text())
                          for name, code, _, _ in results if code == 0}}


# ---- every summary.json a test session writes, validated against docs/schema/ -----------------------------------
#: What the session-end check found (tests/summary_schema.SummaryCheck), for the terminal summary.
SUMMARY_CHECK = pytest.StashKey[object]()


def session_folders(config: pytest.Config) -> list[Path]:
    """The session's temporary folders: its base temp folder. Under pytest-xdist this runs in the controller, whose
    base temp folder holds every worker's (`popen-gwN`, each worker's own base temp) and the folders they share (the
    demo suite's `demo-reports`, beside them)."""
    factory = getattr(config, "_tmp_path_factory", None)
    return [factory.getbasetemp()] if factory is not None else []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Validate every summary.json under the session's temporary folders against docs/schema/ (once, when every
    worker is done: an xdist worker's own exit status never fails the session, its controller's does); an invalid
    one fails the session (exit 1). The count line, and each invalid file with its errors, end the terminal
    summary."""
    from summary_schema import check_summaries

    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller checks its folder after it
        return
    check = check_summaries(session_folders(session.config))
    session.config.stash[SUMMARY_CHECK] = check
    if check.invalid and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    check = config.stash.get(SUMMARY_CHECK, None)
    if check is None:
        return
    if check.invalid:
        terminalreporter.section("summary.json against docs/schema/", sep="=", red=True, bold=True)
        for line in check.messages():
            terminalreporter.write_line(line)
    terminalreporter.write_line(check.line(), red=bool(check.invalid), bold=bool(check.invalid))
