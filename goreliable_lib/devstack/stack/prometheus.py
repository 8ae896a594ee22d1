"""The stack's Prometheus: history backfilled with promtool (cached) and served by a real Prometheus process.

Facts checked against the Debian package (Prometheus / promtool 2.42):
- `promtool tsdb create-blocks-from openmetrics --max-block-duration=486h FILE DIR` needs a timestamp in
  seconds on every sample, `# EOF` last, no blank lines; out-of-order samples are silently dropped. promtool
  parses the whole file once more per block, so big blocks matter (2h blocks: ~50x slower).
- promtool rounds `--max-block-duration` down to one of the TSDB's block ranges (2h x 3^k) and aligns
  blocks to multiples of it since the epoch. 486h is the largest range a server with long retention
  still uses, so blocks of that size are never compacted again by the server.
- Retention is measured against the newest block: `--storage.tsdb.retention.time=100y` keeps old history.
- A server opens blocks read-mostly and replaces files by rename, so a data dir made of hard links to a
  shared cache is safe: several servers can share one cache.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import requests

from goreliable_lib import paths
from goreliable_lib.devstack.sim.timeline import BLOCK_DURATION
from goreliable_lib.devstack.stack.process import LoopbackServer, tail
from goreliable_lib.errors import StackError

PROMETHEUS_BIN_ENV = "GORELIABLE_PROMETHEUS_BIN"
PROMTOOL_BIN_ENV = "GORELIABLE_PROMTOOL_BIN"
INSTALL_HINT = "install it with `apt-get install -y prometheus` (Debian/Ubuntu)"
"""Block size of the backfill (a TSDB block range: 2h x 3^5). Writers that split their history into
files use `block_windows()` so each file becomes exactly one block and no two blocks overlap."""
PROMTOOL_TIMEOUT_SECONDS = 900
_ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_MANIFEST = "goreliable-tsdb.json"
_STALE_BUILD_SECONDS = 24 * 3600
_READY_LINE = b"Server is ready to receive web requests."
_GO_ENV = {"GOGC": "400"}  # promtool spends a fifth of its time in the garbage collector at the default 100


def find_binaries() -> tuple[Path, Path]:
    """Paths of `prometheus` and `promtool`: from GORELIABLE_PROMETHEUS_BIN / GORELIABLE_PROMTOOL_BIN, else PATH."""
    return find_binary("prometheus", PROMETHEUS_BIN_ENV), find_binary("promtool", PROMTOOL_BIN_ENV)


def find_binary(name: str, env_var: str, install_hint: str = INSTALL_HINT) -> Path:
    """Path of the executable `name`: from the environment variable `env_var` when set, else PATH."""
    configured = os.environ.get(env_var)
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise StackError(f"{env_var}={configured}: no executable {name} there; point {env_var} at the "
                             f"{name} binary or unset it to use the one on PATH ({install_hint})")
        return path
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name} not found on PATH: {install_hint}, or set {env_var} to the {name} binary")
    return Path(found)


def _run_promtool(promtool: Path, openmetrics_file: Path, tsdb_dir: Path) -> None:
    hours = int(BLOCK_DURATION / pd.Timedelta(hours=1))
    command = [str(promtool), "tsdb", "create-blocks-from", "openmetrics", "--quiet",
               f"--max-block-duration={hours}h", str(openmetrics_file), str(tsdb_dir)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT_SECONDS,
                                env={**os.environ, **_GO_ENV}, check=False)
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"promtool backfill of {openmetrics_file} took longer than {exc.timeout:.0f} s") from None
    except OSError as exc:
        raise StackError(f"could not run {promtool}: {exc}; {INSTALL_HINT} or set {PROMTOOL_BIN_ENV}") from None
    if result.returncode != 0:
        raise StackError(f"promtool backfill of {openmetrics_file} failed (exit {result.returncode}): "
                         f"{tail(result.stderr + result.stdout)}")


def backfill(openmetrics_files: list[Path], tsdb_dir: Path, *, jobs: int | None = None) -> None:
    """Turn OpenMetrics files into TSDB blocks in `tsdb_dir` with promtool (`jobs` files at a time)."""
    _, promtool = find_binaries()
    missing = [str(path) for path in openmetrics_files if not Path(path).is_file()]
    if missing:
        raise StackError(f"backfill: no such OpenMetrics file(s): {', '.join(missing)}")
    Path(tsdb_dir).mkdir(parents=True, exist_ok=True)
    workers = jobs or min(2, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_run_promtool, promtool, Path(path), Path(tsdb_dir)) for path in openmetrics_files]
        for future in futures:
            future.result()


def default_cache_root() -> Path:
    """Where the stack keeps its built TSDBs: the kit's cache folder's tsdb/ (`paths.cache_dir`)."""
    return paths.cache_dir() / "tsdb"


def cache_dir(cache_root: Path, key: str) -> Path:
    """Where `build_tsdb` keeps the blocks for `key` (readable name + a hash, so any key is a safe dir name)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_")[:80]
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return Path(cache_root) / f"tsdb-{readable}-{digest}"


def build_tsdb(cache_root: Path, key: str, writers: list[Callable[[Path], None]]) -> Path:
    """The blocks dir for `key`, built once: each writer writes one OpenMetrics file, promtool backfills it.

    Files are backfilled while the next one is being written. The build happens in a temporary dir
    renamed into place at the end, so a crash never leaves a half-built cache.
    """
    _, promtool = find_binaries()
    return cached_build(cache_root, key, lambda building, blocks: _backfill_all(promtool, writers, building, blocks))


def cached_build(cache_root: Path, key: str, build: Callable[[Path, Path], dict[str, object]]) -> Path:
    """The cache dir for `key`, built once by `build(scratch_dir, target_dir)` (which returns facts for the
    manifest): under a lock (a concurrent builder of the same key is waited for and reused), in a temporary
    dir renamed into place at the end, so a crash never leaves a half-built cache."""
    final = cache_dir(cache_root, key)
    if final.is_dir():
        return final
    Path(cache_root).mkdir(parents=True, exist_ok=True)
    with open(Path(cache_root) / f".{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process building the same key: wait for it, then reuse
        if final.is_dir():
            return final
        return _build_cached(Path(cache_root), final, key, build)


def _build_cached(cache_root: Path, final: Path, key: str, build: Callable[[Path, Path], dict[str, object]]) -> Path:
    for stale in Path(cache_root).glob(".building-*"):  # left by a crashed build (a build takes minutes)
        with contextlib.suppress(OSError):
            if time.time() - stale.stat().st_mtime > _STALE_BUILD_SECONDS:
                shutil.rmtree(stale, ignore_errors=True)
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=cache_root))
    try:
        target = building / "blocks"
        target.mkdir()
        started = time.perf_counter()
        facts = build(building, target)
        manifest = {"key": key, "blocks": sorted(p.name for p in target.iterdir()), **facts,
                    "total_seconds": time.perf_counter() - started}
        (target / _MANIFEST).write_text(json.dumps(manifest, indent=1))
        try:
            target.rename(final)
        except OSError:
            if not final.is_dir():  # not a lost race with another builder: a real failure
                raise
        return final
    finally:
        shutil.rmtree(building, ignore_errors=True)


def _backfill_all(promtool: Path, writers: list[Callable[[Path], None]], building: Path,
                  blocks: Path) -> dict[str, object]:
    timings: dict[str, object] = {"write_seconds": 0.0}
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        futures = []
        for index, writer in enumerate(writers):
            path = building / f"input-{index:03d}.om"
            write_started = time.perf_counter()
            writer(path)
            timings["write_seconds"] += time.perf_counter() - write_started  # type: ignore[operator]
            futures.append(pool.submit(_backfill_and_remove, promtool, path, blocks))
            for future in futures:  # fail fast on a promtool error instead of writing the rest
                if future.done():
                    future.result()
        for future in futures:
            future.result()
    return timings


def _backfill_and_remove(promtool: Path, path: Path, blocks: Path) -> None:
    _run_promtool(promtool, path, blocks)
    path.unlink()


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem: fall back to a copy
        shutil.copy2(src, dst)


def block_dirs(tsdb_blocks: Path) -> list[Path]:
    """The TSDB blocks (ULID-named dirs with a meta.json) in a blocks dir."""
    return sorted(p for p in Path(tsdb_blocks).iterdir()
                  if p.is_dir() and _ULID.match(p.name) and (p / "meta.json").is_file())


class PrometheusServer(LoopbackServer):
    """A real Prometheus on 127.0.0.1 serving backfilled blocks (no scrape targets).

    Its data dir (`workdir/data`) is made of hard links to `tsdb_blocks`, so servers share one cache.
    The process runs in its own session and outlives this Python process (`goreliable stack up`) unless
    stopped; `stop_at_exit=True` also stops it when this interpreter exits (a safety net for tests).
    """

    name = "Prometheus"
    log_name = "prometheus.log"

    def __init__(self, tsdb_blocks: Path, *, workdir: Path, port: int | None = None,
                 stop_at_exit: bool = False, extra_args: Iterable[str] = ()) -> None:
        # extra_args: e.g. ["--query.max-samples=1000"] (fault tests)
        super().__init__(workdir=workdir, port=port, stop_at_exit=stop_at_exit, extra_args=extra_args)
        self.tsdb_blocks = Path(tsdb_blocks)

    def prepare(self) -> None:
        """The data dir: hard links to the cached blocks, and a config that scrapes nothing."""
        find_binaries()  # a clear error before anything is copied
        if not self.tsdb_blocks.is_dir():
            raise StackError(f"Prometheus blocks dir {self.tsdb_blocks} does not exist (build it with build_tsdb)")
        data = self.workdir / "data"
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        for block in block_dirs(self.tsdb_blocks):
            shutil.copytree(block, data / block.name, copy_function=_link_or_copy)
        config = self.workdir / "prometheus.yml"
        config.write_text("# goreliable local stack: backfilled history only, nothing scraped\n"
                          "global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nscrape_configs: []\n")

    def command(self) -> list[str]:
        prometheus, _ = find_binaries()
        return [str(prometheus), f"--config.file={self.workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.workdir / 'data'}", "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{self.port}", *self.extra_args]

    def is_ready(self, session: requests.Session) -> bool:
        # Our own log line first, so a /-/ready answered by some other process on the port cannot fool us.
        try:
            said = _READY_LINE in self.log_path.read_bytes()
        except OSError:
            return False
        return said and session.get(f"http://127.0.0.1:{self.port}/-/ready", timeout=2).status_code == 200


def start_from_openmetrics(text_or_path: str | Path, workdir: Path, *, port: int | None = None,
                           timeout: float = 60) -> PrometheusServer:
    """Backfill one small OpenMetrics text (or file) into `workdir` and return a started server (for tests)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if isinstance(text_or_path, Path) or ("\n" not in text_or_path and Path(text_or_path).is_file()):
        source = Path(text_or_path)
    else:
        source = workdir / "input.om"
        source.write_text(text_or_path if text_or_path.endswith("\n") else text_or_path + "\n")
    blocks = workdir / "blocks"
    shutil.rmtree(blocks, ignore_errors=True)
    backfill([source], blocks)
    server = PrometheusServer(blocks, workdir=workdir / "server", port=port, stop_at_exit=True)
    server.start(timeout=timeout)
    return server


def iter_block_meta(tsdb_blocks: Path) -> Iterable[dict[str, object]]:
    """meta.json of each block (min/max time in ms, stats): handy to check a backfill."""
    for block in block_dirs(tsdb_blocks):
        yield json.loads((block / "meta.json").read_text())
