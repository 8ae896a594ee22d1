"""The stack's VictoriaMetrics: a real single-node `victoria-metrics` (Debian package) on 127.0.0.1, filled through
`/api/v1/import/prometheus`, its storage built once and cached like the Prometheus TSDB.

Facts checked against the Debian package (VictoriaMetrics 1.79.5), see docs/backends.md for what they mean to a user:
- `/api/v1/import/prometheus` takes the Prometheus text format with millisecond timestamps; it also takes the
  OpenMetrics files the stack writes for promtool (timestamps in seconds, `# TYPE` and `# EOF` lines are skipped):
  integer seconds become exact milliseconds. A malformed line is skipped with a warning in VM's log while the
  request still answers 204, so `import_file` checks the rows VM stored against the sample lines sent.
- Imported rows are visible to queries once VM flushes its in-memory buffers (about every second, or at once on
  `/internal/force_flush`); the rollup cache is then reset (`/internal/resetRollupResultCache`).
- `-search.latencyOffset` (default 30 s) hides the newest samples of a query's end; the stack sets 0 s so a
  query at `as_of` sees the last sample, as Prometheus does. `-retentionPeriod` is counted from *now* (the machine's
  clock), so the stack sets 100y: the simulated history ends at a fixed date that falls behind the clock.
- One process per storage dir (`flock.lock`); a graceful stop (SIGINT) flushes everything to disk. The cached
  storage is copied per server (VM compresses counters to about a byte a sample, so a copy takes a moment).
"""

from __future__ import annotations

import atexit
import contextlib
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

import requests

from goreliable_lib.devstack.stack.prometheus import (
    _free_port,
    _port_is_free,
    _tail,
    cached_build,
    default_cache_root,
    find_binary,
)
from goreliable_lib.errors import StackError

VICTORIAMETRICS_BIN_ENV = "GORELIABLE_VICTORIAMETRICS_BIN"
INSTALL_HINT = "install it with `apt-get install -y victoria-metrics` (Debian/Ubuntu)"
#: The flags every stack server gets (DESIGN.md "The local stack"); the rest are VM's defaults, as in production.
STACK_FLAGS = ("-retentionPeriod=100y", "-search.latencyOffset=0s")
IMPORT_PATH = "/api/v1/import/prometheus"
IMPORT_TIMEOUT_SECONDS = 1800
_STORED_ROWS = re.compile(r"^vm_rows_added_to_storage_total (\S+)$", re.MULTILINE)  # %g: 1.2e+07
_CHUNK = 1 << 20
_STORE_WAIT_SECONDS = 60


def find_victoriametrics() -> Path:
    """Path of `victoria-metrics`: from GORELIABLE_VICTORIAMETRICS_BIN, else PATH."""
    return find_binary("victoria-metrics", VICTORIAMETRICS_BIN_ENV, INSTALL_HINT)


def default_vm_cache_root() -> Path:
    """Where the stack keeps built VM storages: beside the Prometheus TSDB cache (…/goreliable/victoriametrics)."""
    return default_cache_root().parent / "victoriametrics"


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only: never through a proxy from the environment
    return session


def sample_lines(path: Path) -> int:
    """How many sample lines a Prometheus text / OpenMetrics file holds (lines not starting with `#`)."""
    lines = comments = 0
    previous = b"\n"
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            lines += chunk.count(b"\n")
            comments += chunk.count(b"\n#") + (previous == b"\n" and chunk[:1] == b"#")
            previous = chunk[-1:]
    return lines - comments


class VictoriaMetricsServer:
    """A real VictoriaMetrics on 127.0.0.1 (its own storage dir under `workdir`), empty or started from a copy of
    a built storage (`storage`). `stop_at_exit=True` also stops it when this interpreter exits (tests)."""

    def __init__(self, storage: Path | None = None, *, workdir: Path, port: int | None = None,
                 stop_at_exit: bool = False, extra_args: Iterable[str] = ()) -> None:
        self.storage = Path(storage) if storage is not None else None
        self.workdir = Path(workdir)
        self.port = port
        self.stop_at_exit = stop_at_exit
        self.extra_args = [str(arg) for arg in extra_args]
        self.log_path = self.workdir / "victoria-metrics.log"
        self.data_dir = self.workdir / "data"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the Prometheus query API, e.g. http://127.0.0.1:8428 (once started)."""
        if self.port is None or self._process is None:
            raise StackError("VictoriaMetrics is not started: call start() first")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running server, None when stopped."""
        return self._process.pid if self._process is not None else None

    def log_tail(self) -> str:
        """The end of the server's log."""
        try:
            return _tail(self.log_path.read_text(errors="replace"))
        except OSError:
            return ""

    def start(self, timeout: float = 60) -> str:
        """Start the server and wait until /health answers OK; returns the base URL."""
        if self._process is not None:
            return self.url
        binary = find_victoriametrics()
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.storage is not None and self.storage != self.data_dir:
            if not self.storage.is_dir():
                raise StackError(f"VictoriaMetrics storage {self.storage} does not exist (build it with build_storage)")
            shutil.rmtree(self.data_dir, ignore_errors=True)
            shutil.copytree(self.storage, self.data_dir, ignore=shutil.ignore_patterns("flock.lock"))
        chosen_port = self.port is None
        for attempt in range(3):
            port = _free_port() if chosen_port else int(self.port)  # type: ignore[arg-type]
            if not _port_is_free(port):
                raise StackError(f"cannot start VictoriaMetrics: port {port} on 127.0.0.1 is already in use "
                                 f"(choose another port or stop what is listening there)")
            self.port = port
            if self._launch(binary, timeout):
                return self.url
            if not chosen_port or attempt == 2:
                raise StackError(f"cannot start VictoriaMetrics: port {port} on 127.0.0.1 is already in use; "
                                 f"log tail:\n{self.log_tail()}")
            self.port = None
        raise AssertionError("unreachable")

    def _launch(self, binary: Path, timeout: float) -> bool:
        """Start the process and wait for /health; False when it lost the race for its port."""
        command = [str(binary), f"-storageDataPath={self.data_dir}", f"-httpListenAddr=127.0.0.1:{self.port}",
                   *STACK_FLAGS, *self.extra_args]
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
        if self.stop_at_exit:
            atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        with _session() as session:
            while True:
                code = self._process.poll()
                if code is not None:
                    self._process = None
                    tail = self.log_tail()
                    if "address already in use" in tail:
                        return False
                    raise StackError(f"VictoriaMetrics on port {self.port} exited early (exit {code}); "
                                     f"log {self.log_path} tail:\n{tail}")
                with contextlib.suppress(requests.RequestException):
                    answer = session.get(f"http://127.0.0.1:{self.port}/health", timeout=2)
                    if answer.status_code == 200 and answer.text.strip() == "OK":
                        return True
                if time.monotonic() > deadline:
                    tail = self.log_tail()
                    self.stop()
                    raise StackError(f"VictoriaMetrics on port {self.port} was not ready after {timeout:.0f} s; "
                                     f"log {self.log_path} tail:\n{tail}")
                time.sleep(0.1)

    def stored_rows(self) -> int:
        """`vm_rows_added_to_storage_total`: the rows VM has put into its storage since it started (rows still in
        its pending buffers are counted after a `flush()`)."""
        with _session() as session:
            text = session.get(f"{self.url}/metrics", timeout=30).text
        match = _STORED_ROWS.search(text)
        if match is None:
            raise StackError(f"VictoriaMetrics at {self.url}: no vm_rows_added_to_storage_total in /metrics")
        return int(float(match.group(1)))

    def import_file(self, path: Path) -> int:
        """POST one Prometheus text / OpenMetrics file to /api/v1/import/prometheus and check that VM stored
        every sample line of it (VM skips a bad line and still answers 204). Returns the rows stored."""
        expected = sample_lines(path)
        before = self.stored_rows()
        with _session() as session, open(path, "rb") as body:
            try:
                answer = session.post(f"{self.url}{IMPORT_PATH}", data=body, timeout=IMPORT_TIMEOUT_SECONDS)
            except requests.RequestException as exc:
                raise StackError(f"VictoriaMetrics import of {path} failed: {exc}; log tail:\n{self.log_tail()}") \
                    from None
        if answer.status_code != 204:
            raise StackError(f"VictoriaMetrics import of {path}: HTTP {answer.status_code} {answer.text[:500]}")
        # Rows reach the storage (and its counter) when VM's pending buffers are flushed, a moment after the 204.
        deadline = time.monotonic() + _STORE_WAIT_SECONDS
        while True:
            self.flush()
            stored = self.stored_rows() - before
            if stored >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if stored != expected:
            raise StackError(f"VictoriaMetrics import of {path}: stored {stored} of {expected} samples (bad lines, "
                             f"or timestamps outside the retention); log tail:\n{self.log_tail()}")
        return stored

    def flush(self) -> None:
        """Make every imported row visible to queries now and drop cached query results."""
        with _session() as session:
            for path in ("/internal/force_flush", "/internal/resetRollupResultCache"):
                answer = session.get(f"{self.url}{path}", timeout=120)
                if answer.status_code != 200:
                    raise StackError(f"VictoriaMetrics {path}: HTTP {answer.status_code} {answer.text[:300]}")

    def stop(self, timeout: float = 30) -> None:
        """Stop the server gracefully (SIGINT flushes the storage), killing it after `timeout`; leaves no process."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def __enter__(self) -> VictoriaMetricsServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def build_storage(cache_root: Path, key: str, writers: list[Callable[[Path], None]]) -> Path:
    """A VictoriaMetrics storage dir for `key`, built once: each writer writes one Prometheus text / OpenMetrics
    file, which a temporary server imports; the server is stopped gracefully so the storage is complete on disk.
    Cached like `prometheus.build_tsdb` (lock, temporary dir, rename)."""
    find_victoriametrics()

    def build(building: Path, storage: Path) -> dict[str, object]:
        facts: dict[str, object] = {"write_seconds": 0.0, "import_seconds": 0.0, "rows": 0}
        server = VictoriaMetricsServer(storage, workdir=building / "server", stop_at_exit=True)
        server.data_dir = storage  # build in place
        server.start()
        try:
            for index, writer in enumerate(writers):
                path = building / f"input-{index:03d}.prom"
                started = time.perf_counter()
                writer(path)
                facts["write_seconds"] += time.perf_counter() - started  # type: ignore[operator]
                started = time.perf_counter()
                facts["rows"] += server.import_file(path)  # type: ignore[operator]
                facts["import_seconds"] += time.perf_counter() - started  # type: ignore[operator]
                path.unlink()
        finally:
            server.stop()
        (storage / "flock.lock").unlink(missing_ok=True)
        return facts

    return cached_build(cache_root, key, build)
