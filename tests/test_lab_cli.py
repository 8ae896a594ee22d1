"""`make lab` / `goreliable lab`: JupyterLab pointed at the local stack (reused when it is up, started otherwise), the
demo, a snapshot or live servers. The Makefile's recipe is read with `make -n`; the command it runs is run for real
with `--dry-run` (it starts or reuses a real stack, then prints the environment and the JupyterLab command instead
of running JupyterLab, which would block)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from goreliable_lib.devstack.stack.manager import StackState, alive, read_state, state_file
from goreliable_lib.sources.connect import connect

ROOT = Path(__file__).resolve().parent.parent
UNFILTERED = "sum by (code) (rate(http_requests_total[5m]))"  # the README's example without its label filter


def make_lab(*variables: str) -> list[str]:
    """The recipe `make lab` would run (`make -n`: printed, nothing executed), its last line split."""
    printed = subprocess.run(["make", "-n", "-s", "lab", *variables], cwd=ROOT, capture_output=True, text=True,
                             timeout=60, check=True).stdout
    return shlex.split(printed.strip().splitlines()[-1])


def lab(stack_dir: Path, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """`goreliable lab ARGS --dry-run` in a child process, as `make lab` runs it (from the project root)."""
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("GORELIABLE_", "DISPLAY", "WAYLAND_DISPLAY"))}
    environment.update(GORELIABLE_STACK_DIR=str(stack_dir), GORELIABLE_CONFIG=os.devnull, **env)
    return subprocess.run([sys.executable, "-m", "goreliable_lib", "lab", "--dry-run", *args], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=timeout)


def printed_environment(stdout: str) -> tuple[dict[str, str | None], list[str]]:
    """The `export`/`unset` lines (None: unset) and the command line of a dry run."""
    *lines, command = stdout.strip().splitlines()
    changes: dict[str, str | None] = {}
    for line in lines:
        verb, _, rest = line.partition(" ")
        if verb == "unset":
            changes[rest] = None
        else:
            assert verb == "export", line
            name, _, value = rest.partition("=")
            changes[name] = shlex.split(value)[0] if value else ""
    return changes, shlex.split(command)


def assert_jupyter_command(command: list[str], *extra: str) -> None:
    root = ["--allow-root"] if os.geteuid() == 0 else []
    assert command == [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={ROOT / 'notebooks'}",
                       "--ServerApp.ip=127.0.0.1", "--no-browser", *root, *extra]


def test_the_makefile_runs_goreliable_lab_with_the_profile() -> None:
    assert make_lab("BIN=/venv/bin") == ["/venv/bin/goreliable", "lab", "--profile", "stack", "--tsdb", "prometheus"]
    assert make_lab("BIN=/venv/bin", "PROFILE=demo", "LAB_ARGS=--port 8899") == [
        "/venv/bin/goreliable", "lab", "--profile", "demo", "--tsdb", "prometheus", "--port", "8899"]
    everything = subprocess.run(["make", "-n", "lab", "BIN=/venv/bin"], cwd=ROOT, capture_output=True, text=True,
                                timeout=60, check=True).stdout
    assert "command -v promtool" in everything  # the stack needs the Debian packages: system-deps first
    demo = subprocess.run(["make", "-n", "lab", "BIN=/venv/bin", "PROFILE=demo"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True).stdout
    assert "promtool" not in demo  # ...and the demo does not


def test_demo_and_snapshot_profiles_start_nothing(tmp_path: Path) -> None:
    done = lab(tmp_path, "--profile", "demo", "--", "--ServerApp.token=abc")
    assert done.returncode == 0, done.stderr
    changes, command = printed_environment(done.stdout)
    assert changes == {"GORELIABLE_PROFILE": "demo"} and not state_file(tmp_path).exists()
    assert_jupyter_command(command, "--ServerApp.token=abc")
    done = lab(tmp_path, "--profile", "snapshot:goreliable_lib/data/demo")  # relative: from the project root
    assert printed_environment(done.stdout)[0] == {
        "GORELIABLE_PROFILE": f"snapshot:{ROOT / 'goreliable_lib' / 'data' / 'demo'}"}


def test_profile_mistakes_are_one_line(tmp_path: Path) -> None:
    for args, said in ((["--profile", "snapshot:nowhere"], f"{ROOT / 'nowhere'} holds no manifest.json"),
                       (["--profile", "live"], "no GORELIABLE_PROMETHEUS_URL set"),
                       (["--profile", "prod"], "'prod' is not one of stack, demo, live, snapshot:PATH")):
        done = lab(tmp_path, *args)
        assert done.returncode == 2 and done.stdout == "", done
        assert done.stderr.startswith("goreliable: error: goreliable lab") and said in done.stderr
        assert done.stderr.count("\n") == 1
    done = lab(tmp_path, "--profile", "live", GORELIABLE_PROMETHEUS_URL="http://127.0.0.1:9")
    assert printed_environment(done.stdout)[0] == {"GORELIABLE_PROFILE": "live"}


def test_a_partly_down_stack_is_not_reused(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = StackState(str(tmp_path), 1, "2026-11-23T06:00:00Z", "http://127.0.0.1:1", "http://127.0.0.1:2",
                       "http://127.0.0.1:3/model", "http://127.0.0.1:4", pids={"prometheus": dead.pid,
                                                                              "kubecost": os.getpid()})
    state_file(tmp_path).write_text(json.dumps(asdict(state)))
    done = lab(tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (f"goreliable: error: the local stack in {state_file(tmp_path)} is partly down (prometheus "
                           "exited): `goreliable stack down`, then start the lab again\n")


@pytest.mark.stack
def test_a_running_stack_is_reused_and_answers_the_first_query(local_stack, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    state_file(tmp_path).write_text(json.dumps(asdict(local_stack)))
    before = state_file(tmp_path).read_text()
    done = lab(tmp_path, GORELIABLE_PROMETHEUS_URL="https://prometheus.example.internal",
               GORELIABLE_PROMETHEUS_TOKEN="not-for-the-stack", GORELIABLE_RECORD=str(tmp_path / "kept"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == (f"# reusing the local stack (prometheus at {local_stack.prometheus_url}; state in "
                           f"{state_file(tmp_path)})\n")
    assert state_file(tmp_path).read_text() == before  # nothing started
    changes, command = printed_environment(done.stdout)
    assert changes == {"GORELIABLE_PROMETHEUS_TOKEN": None, **local_stack.env()}  # what `stack up` prints
    assert changes["GORELIABLE_PROFILE"] == "live" and "GORELIABLE_RECORD" not in changes  # the rest is kept
    assert_jupyter_command(command)
    # the lab's kernel, in that environment, answers the README's query without its filter (the demo cannot)
    for name in [n for n in os.environ if n.startswith("GORELIABLE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GORELIABLE_CONFIG", os.devnull)
    for name, value in changes.items():
        if value is not None:
            monkeypatch.setenv(name, value)
    frame = connect().prometheus.query_range(UNFILTERED, "now-6h", "now", "1m")
    assert {"200", "500"} <= set(frame["code"]) and len(frame) > 360


@pytest.mark.stack
@pytest.mark.slow
def test_a_stack_is_started_when_none_is_up(tmp_path: Path) -> None:
    """A stale state file (its processes gone) is no running stack: the lab starts one, in the background, and it
    stays up for the next lab (then `goreliable stack down` stops it)."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = StackState(str(tmp_path), 1, "2026-11-23T06:00:00Z", "http://127.0.0.1:1", "http://127.0.0.1:2",
                       "http://127.0.0.1:3/model", "http://127.0.0.1:4", pids={"prometheus": dead.pid})
    state_file(tmp_path).write_text(json.dumps(asdict(stale)))
    environment = {**{n: v for n, v in os.environ.items() if not n.startswith("GORELIABLE_")},
                   "GORELIABLE_STACK_DIR": str(tmp_path), "GORELIABLE_CONFIG": os.devnull}
    try:
        done = lab(tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stderr.startswith("# starting the local stack (prometheus, seed ")
        state = read_state(tmp_path)
        assert state is not None and state.pids != stale.pids and all(alive(pid) for pid in state.pids.values())
        changes, command = printed_environment(done.stdout)
        assert changes == state.env() and state.prometheus_url.startswith("http://127.0.0.1:")
        assert_jupyter_command(command)
        status = subprocess.run([sys.executable, "-m", "goreliable_lib", "stack", "status"], cwd=ROOT,
                                env=environment, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stdout
        again = lab(tmp_path)  # the next lab reuses it
        assert again.stderr.startswith("# reusing the local stack") and again.stdout == done.stdout
    finally:
        subprocess.run([sys.executable, "-m", "goreliable_lib", "stack", "down"], cwd=ROOT, env=environment,
                       capture_output=True, timeout=120)
    assert read_state(tmp_path) is None and not any(alive(pid) for pid in state.pids.values())
