"""The local stack: a real Prometheus (or VictoriaMetrics), the moto S3 server and the Kubecost server, all on
127.0.0.1.

`goreliable stack up [--tsdb prometheus|victoriametrics]` starts the three as background processes filled by the
simulator and prints the environment that points the kit at them (`GORELIABLE_PROMETHEUS_URL` is the chosen
back-end's Prometheus query API); `status` checks them; `down` stops them and leaves no process.
The test suite uses the same `LocalStack` class in-process (see tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from goreliable_lib.devstack.sim import Simulation
from goreliable_lib.devstack.sim.timeline import DEFAULT_AS_OF, DEFAULT_SEED
from goreliable_lib.devstack.stack.backends import build_simulation, check_tsdb, start_server
from goreliable_lib.devstack.stack.process import free_port, port_is_free
from goreliable_lib.devstack.stack.s3 import DRILLS_BUCKET, DRILLS_PREFIX, S3Server, s3_env, upload_drills
from goreliable_lib.errors import StackError
from goreliable_lib.timeutil import parse_time, to_rfc3339


def default_stack_dir() -> Path:
    """Where `stack up` keeps its state, logs and data (GORELIABLE_STACK_DIR, default .goreliable/stack)."""
    return Path(os.environ.get("GORELIABLE_STACK_DIR", ".goreliable/stack")).resolve()


def check_port_free(port: int, what: str) -> None:
    """Raise a clear StackError when `port` on 127.0.0.1 is taken."""
    if not port_is_free(port):
        raise StackError(f"{what}: port {port} on 127.0.0.1 is busy (stop what uses it, or pick another port)")


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{what} exited with code {process.returncode} while starting; its log "
                             f"({log}):\n{_log_tail(log)}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.1)
    raise StackError(f"{what} did not answer {url} within {timeout:.0f} s; its log ({log}):\n{_log_tail(log)}")


def _spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as handle:
        return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """Terminate a process group started by the stack, then kill it if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                finished, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not our child: poll for existence
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                finished = 0
            if finished == pid:
                return
            time.sleep(0.05)


@dataclass
class StackState:
    """Where the running stack lives; saved as state.json by `stack up`."""

    workdir: str
    seed: int
    as_of: str
    prometheus_url: str
    s3_endpoint: str
    kubecost_url: str
    opencost_url: str
    bucket: str = DRILLS_BUCKET
    prefix: str = DRILLS_PREFIX
    pids: dict[str, int] = field(default_factory=dict)
    tsdb: str = "prometheus"  # which back-end serves prometheus_url

    @property
    def drills_uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def env(self) -> dict[str, str]:
        """The environment that points the kit at this stack."""
        return {
            "GORELIABLE_PROFILE": "live",
            "GORELIABLE_PROMETHEUS_URL": self.prometheus_url,
            "GORELIABLE_KUBECOST_URL": self.kubecost_url,
            "GORELIABLE_NOW": self.as_of,
            **s3_env(self.s3_endpoint, self.bucket, self.prefix),
        }


class LocalStack:
    """Starts and stops the three servers of the local stack, filled by one simulation."""

    def __init__(self, workdir: Path, *, seed: int | None = None, as_of: Any = None,
                 cache_dir: Path | None = None, ports: dict[str, int] | None = None, tsdb: str = "prometheus") -> None:
        self.workdir = Path(workdir)
        self.seed = DEFAULT_SEED if seed is None else int(seed)
        self.as_of = parse_time(as_of if as_of is not None else DEFAULT_AS_OF, field="as_of")
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.ports = dict(ports or {})
        self.tsdb = check_tsdb(tsdb)
        self.simulation = Simulation(seed=self.seed, as_of=self.as_of)
        self._prometheus: Any = None
        self._s3: Any = None
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self.state: StackState | None = None

    def _port(self, name: str) -> int:
        port = self.ports.get(name)
        if port is None:
            return free_port()
        check_port_free(port, name)
        return port

    def start(self, timeout: float = 120.0) -> StackState:
        """Start everything; on any failure, stop what was started and raise StackError."""
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> StackState:
        self.workdir.mkdir(parents=True, exist_ok=True)
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        python = sys.executable

        self._s3 = S3Server(log_path=logs / "s3.log", detach=True)
        s3_endpoint = self._s3.start()
        kubecost_port, opencost_port = self._port("kubecost"), self._port("opencost")
        for name, port, flavour in (("kubecost", kubecost_port, "kubecost"), ("opencost", opencost_port, "opencost")):
            self._processes[name] = _spawn(
                [python, "-m", "goreliable_lib.devstack.stack.kubecost_server", "--port", str(port),
                 "--flavour", flavour, "--seed", str(self.seed), "--as-of", to_rfc3339(self.as_of)],
                logs / f"{name}.log")

        built = build_simulation(self.tsdb, self.simulation, self.cache_dir)
        self._prometheus = start_server(self.tsdb, built, self.workdir / self.tsdb, port=self.ports.get("prometheus"),
                                        timeout=timeout)
        prometheus_url = self._prometheus.url

        upload_drills(s3_endpoint, DRILLS_BUCKET, DRILLS_PREFIX, self.simulation.drills.files())
        kubecost_url = f"http://127.0.0.1:{kubecost_port}/model"
        opencost_url = f"http://127.0.0.1:{opencost_port}"
        _wait_ready(kubecost_url + "/healthz", self._processes["kubecost"], logs / "kubecost.log",
                    "Kubecost server", timeout)
        _wait_ready(opencost_url + "/healthz", self._processes["opencost"], logs / "opencost.log",
                    "OpenCost server", timeout)

        pids = {name: process.pid for name, process in self._processes.items()}
        pids[self.tsdb] = self._prometheus.pid
        pids["s3"] = self._s3.pid
        self.state = StackState(str(self.workdir), self.seed, to_rfc3339(self.as_of), prometheus_url, s3_endpoint,
                                kubecost_url, opencost_url, pids=pids, tsdb=self.tsdb)
        return self.state

    def stop(self) -> None:
        """Stop every server this object started."""
        if self._prometheus is not None:
            self._prometheus.stop()
            self._prometheus = None
        if self._s3 is not None:
            self._s3.stop()
            self._s3 = None
        for process in self._processes.values():
            stop_pid(process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self._processes.clear()

    def detach(self) -> None:
        """Forget the servers without stopping them (`stack up` leaves them running)."""
        self._prometheus = None
        self._s3 = None
        self._processes.clear()


def state_file(stack_dir: Path) -> Path:
    return stack_dir / "state.json"


def read_state(stack_dir: Path | None = None) -> StackState | None:
    """The saved state of a running stack, if any."""
    path = state_file(stack_dir or default_stack_dir())
    if not path.exists():
        return None
    return StackState(**json.loads(path.read_text()))


def alive(pid: int) -> bool:
    """True while process `pid` runs; an exited process its parent has not reaped yet (a zombie) is not alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):  # no /proc (or it went in between): the signal check stands
        return True
    return state != "Z"
