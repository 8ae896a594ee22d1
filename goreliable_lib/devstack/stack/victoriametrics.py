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

import re
import shutil
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import requests

from goreliable_lib.devstack.stack.process import LoopbackServer, loopback_session
from goreliable_lib.devstack.stack.prometheus import cached_build, default_cache_root, find_binary
from goreliable_lib.errors import StackError

VICTORIAMETRICS_BIN_ENV = "GORELIABLE_VICTORIAMETRICS_BIN"
INSTALL_HINT = "install it with `apt-get install -y victoria-metrics` (Debian/Ubuntu)"
#: The flags every stack server gets (DESIGN.md "The local stack"); the rest are VM's defaults, as in production.
STACK_FLAGS = ("-retentionPeriod=100y", "-search.latencyOffset=0s")
IMPORT_PATH = "/api/v1/import/prometheus"
IMPORT_TIMEOUT_SECONDS = 1800
_STORED_ROWS = re.compile(r"^vm_rows_added_to_storage_total (\S+)$", re.MULTILINE)  # %g: 1.2e+07
#: rows VM refused: lines of the text format it could not parse, timestamps outside the retention
_REFUSED_ROWS = re.compile(r'^vm_rows_(?:invalid_total\{type="prometheus"\}|'
                           r'ignored_total\{reason="(?:big|small)_timestamp"\}) '
                           r"(\S+)$", re.MULTILINE)
_CHUNK = 1 << 20
_STORE_WAIT_SECONDS = 60


def find_victoriametrics() -> Path:
    """Path of `victoria-metrics`: from GORELIABLE_VICTORIAMETRICS_BIN, else PATH."""
    return find_binary("victoria-metrics", VICTORIAMETRICS_BIN_ENV, INSTALL_HINT)


def default_vm_cache_root() -> Path:
    """Where the stack keeps built VM storages: beside the Prometheus TSDB cache (…/goreliable/victoriametrics)."""
    return default_cache_root().parent / "victoriametrics"


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


class VictoriaMetricsServer(LoopbackServer):
    """A real VictoriaMetrics on 127.0.0.1 (its own storage dir under `workdir`), empty or started from a copy of
    a built storage (`storage`). `stop_at_exit=True` also stops it when this interpreter exits (tests)."""

    name = "VictoriaMetrics"
    log_name = "victoria-metrics.log"
    stop_signal = signal.SIGINT  # flushes the storage
    stop_timeout = 30.0

    def __init__(self, storage: Path | None = None, *, workdir: Path, port: int | None = None,
                 stop_at_exit: bool = False, extra_args: Iterable[str] = ()) -> None:
        super().__init__(workdir=workdir, port=port, stop_at_exit=stop_at_exit, extra_args=extra_args)
        self.storage = Path(storage) if storage is not None else None
        self.data_dir = self.workdir / "data"

    def prepare(self) -> None:
        """A copy of the built storage, when there is one."""
        find_victoriametrics()  # a clear error before anything is copied
        if self.storage is not None and self.storage != self.data_dir:
            if not self.storage.is_dir():
                raise StackError(f"VictoriaMetrics storage {self.storage} does not exist (build it with build_storage)")
            shutil.rmtree(self.data_dir, ignore_errors=True)
            shutil.copytree(self.storage, self.data_dir, ignore=shutil.ignore_patterns("flock.lock"))

    def command(self) -> list[str]:
        return [str(find_victoriametrics()), f"-storageDataPath={self.data_dir}",
                f"-httpListenAddr=127.0.0.1:{self.port}", *STACK_FLAGS, *self.extra_args]

    def is_ready(self, session: requests.Session) -> bool:
        answer = session.get(f"http://127.0.0.1:{self.port}/health", timeout=2)
        return answer.status_code == 200 and answer.text.strip() == "OK"

    def row_counts(self) -> tuple[int, int]:
        """(stored, refused) rows since VM started: `vm_rows_added_to_storage_total`, and the text-format lines it
        could not parse plus the rows it ignored for their timestamps (`vm_rows_invalid_total`,
        `vm_rows_ignored_total`; counted when the import is parsed, so a refused row is known at once)."""
        with loopback_session() as session:
            text = session.get(f"{self.url}/metrics", timeout=30).text
        match = _STORED_ROWS.search(text)
        if match is None:
            raise StackError(f"VictoriaMetrics at {self.url}: no vm_rows_added_to_storage_total in /metrics")
        return int(float(match.group(1))), sum(int(float(value)) for value in _REFUSED_ROWS.findall(text))

    def import_file(self, path: Path) -> int:
        """POST one Prometheus text / OpenMetrics file to /api/v1/import/prometheus and check that VM stored
        every sample line of it (VM skips a bad line and still answers 204). Returns the rows stored."""
        expected = sample_lines(path)
        before, refused_before = self.row_counts()
        with loopback_session() as session, open(path, "rb") as body:
            try:
                answer = session.post(f"{self.url}{IMPORT_PATH}", data=body, timeout=IMPORT_TIMEOUT_SECONDS)
            except requests.RequestException as exc:
                raise StackError(f"VictoriaMetrics import of {path} failed: {exc}; log tail:\n{self.log_tail()}") \
                    from None
        if answer.status_code != 204:
            raise StackError(f"VictoriaMetrics import of {path}: HTTP {answer.status_code} {answer.text[:500]}")
        # Rows reach the storage (and its counter) when VM's pending buffers are flushed, a moment after the 204;
        # refused rows are counted at once, so the wait ends when every sample line is accounted for.
        deadline = time.monotonic() + _STORE_WAIT_SECONDS
        while True:
            self.flush()
            stored, refused = (now - then for now, then in zip(self.row_counts(), (before, refused_before),
                                                                  strict=True))
            if stored + refused >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if stored != expected:
            raise StackError(f"VictoriaMetrics import of {path}: stored {stored} of {expected} samples ({refused} "
                             f"refused: bad lines, or timestamps outside the retention); log tail:\n{self.log_tail()}")
        return stored

    def flush(self) -> None:
        """Make every imported row visible to queries now and drop cached query results."""
        with loopback_session() as session:
            for path in ("/internal/force_flush", "/internal/resetRollupResultCache"):
                answer = session.get(f"{self.url}{path}", timeout=120)
                if answer.status_code != 200:
                    raise StackError(f"VictoriaMetrics {path}: HTTP {answer.status_code} {answer.text[:300]}")


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
