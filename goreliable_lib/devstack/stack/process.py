"""A server process of the local stack on 127.0.0.1 (Prometheus, VictoriaMetrics): its port, log, readiness and
stop, written once. A subclass says how to prepare its data, the command, and when it is ready."""

from __future__ import annotations

import atexit
import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import requests

from goreliable_lib.errors import StackError

_LOG_TAIL_CHARS = 2000


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True when nothing listens on `port` of 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def loopback_session() -> requests.Session:
    """A requests session for 127.0.0.1: never through a proxy from the environment."""
    session = requests.Session()
    session.trust_env = False
    return session


def tail(text: str) -> str:
    """The end of a log (at most 2,000 characters)."""
    text = text.strip()
    return text if len(text) <= _LOG_TAIL_CHARS else "..." + text[-_LOG_TAIL_CHARS:]


class LoopbackServer:
    """A server process on 127.0.0.1: a free port (another one when another process wins the race for it), its
    own log in `workdir`, ready when `is_ready` says so, stopped leaving no process. It runs in its own session
    and outlives this Python process (`goreliable stack up`) unless stopped; `stop_at_exit=True` also stops it
    when this interpreter exits (a safety net for tests)."""

    #: The server's name in messages, its log file, how it is stopped and how long it may take.
    name = "server"
    log_name = "server.log"
    stop_signal = signal.SIGTERM
    stop_timeout = 10.0

    def __init__(self, *, workdir: Path, port: int | None = None, stop_at_exit: bool = False,
                 extra_args: Iterable[str] = ()) -> None:
        self.workdir = Path(workdir)
        self.port = port
        self.stop_at_exit = stop_at_exit
        self.extra_args = [str(arg) for arg in extra_args]
        self.log_path = self.workdir / self.log_name
        self._process: subprocess.Popen[bytes] | None = None

    # ---- what a server says about itself ---------------------------------------------------------------
    def prepare(self) -> None:
        """Make the data the process starts from (called once, before the first launch)."""

    def command(self) -> list[str]:
        """The command line (self.port is chosen when this is called)."""
        raise NotImplementedError

    def is_ready(self, session: requests.Session) -> bool:
        """True once the process answers as ready."""
        raise NotImplementedError

    # ---- the life cycle --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:9090 (once started)."""
        if self.port is None or self._process is None:
            raise StackError(f"{self.name} is not started: call start() first")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running server, None when stopped."""
        return self._process.pid if self._process is not None else None

    def log_tail(self) -> str:
        """The end of the server's log."""
        try:
            return tail(self.log_path.read_text(errors="replace"))
        except OSError:
            return ""

    def start(self, timeout: float = 60) -> str:
        """Start the server and wait until it is ready; returns the base URL."""
        if self._process is not None:
            return self.url
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        chosen_port = self.port is None
        for attempt in range(3):
            port = free_port() if chosen_port else int(self.port)  # type: ignore[arg-type]
            if not port_is_free(port):
                raise StackError(f"cannot start {self.name}: port {port} on 127.0.0.1 is already in use "
                                 f"(choose another port or stop what is listening there)")
            self.port = port
            if self._launch(timeout):
                return self.url
            if not chosen_port or attempt == 2:
                raise StackError(f"cannot start {self.name}: port {port} on 127.0.0.1 is already in use; "
                                 f"log tail:\n{self.log_tail()}")
            self.port = None
        raise AssertionError("unreachable")

    def _launch(self, timeout: float) -> bool:
        """Start the process and wait until it is ready; False when it lost the race for its port."""
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
        if self.stop_at_exit:
            atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        with loopback_session() as session:
            while True:
                code = self._process.poll()
                if code is not None:
                    self._process = None
                    log_tail = self.log_tail()
                    if "address already in use" in log_tail:
                        return False
                    raise StackError(f"{self.name} on port {self.port} exited early (exit {code}); "
                                     f"log {self.log_path} tail:\n{log_tail}")
                with contextlib.suppress(requests.RequestException):
                    if self.is_ready(session):
                        return True
                if time.monotonic() > deadline:
                    log_tail = self.log_tail()
                    self.stop()
                    raise StackError(f"{self.name} on port {self.port} was not ready after {timeout:.0f} s; "
                                     f"log {self.log_path} tail:\n{log_tail}")
                time.sleep(0.1)

    def stop(self, timeout: float | None = None) -> None:
        """Stop the server (`stop_signal`), killing it after `timeout` (default `stop_timeout`); leaves no process."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(self.stop_signal)
        try:
            process.wait(self.stop_timeout if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def __enter__(self) -> LoopbackServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
