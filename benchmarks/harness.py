"""What the benchmarks share: run a command measuring its whole process tree, and an environment that reaches
127.0.0.1 only.

- `run_tree`: wall time of a command (from just before it is spawned to its exit), the peak over the run of the
  sum of the RSS of its whole process tree (the command, its worker processes and their kernels; psutil polled
  every 50 ms, so a peak shorter than that can be missed; pages shared between processes count in each), and
  its stderr line by line with each line's arrival time (so a benchmark can place what the command logs on its
  own clock). A tree growing past `limit_bytes`, or running past `timeout`, is killed and its RSS at that moment
  kept as `killed_at`.
- `local_env`: this environment without any GORELIABLE_* or AWS_* setting, plus `extra`, refusing any URL that is not
  on 127.0.0.1 (`local_url`), with NO_PROXY set so that no proxy setting sends local traffic elsewhere.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import psutil

POLL_SECONDS = 0.05
GIB = 2**30
_URL = re.compile(r"^https?://(?:[^/@]*@)?([^/:?#]+)", re.I)  # the host of an HTTP(S) URL
LOCAL_HOSTS = ("127.0.0.1", "localhost")


@dataclasses.dataclass
class Measured:
    """One command's run."""

    wall_seconds: float
    peak_bytes: int
    returncode: int | None
    stdout: str
    stderr_lines: list[tuple[float, str]]  # (seconds since the command was spawned, the line without its newline)
    killed_at: int | None = None

    @property
    def stderr(self) -> str:
        return "\n".join(line for _, line in self.stderr_lines)


def _tree_rss(root: psutil.Process) -> tuple[list[psutil.Process], int]:
    tree = [root, *root.children(recursive=True)]
    rss = 0
    for member in tree:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            rss += member.memory_info().rss
    return tree, rss


def run_tree(command: list[str], env: Mapping[str, str], *, cwd: Path | None = None, limit_bytes: int | None = None,
             timeout: float | None = None, merge_stderr: bool = False, poll: bool = True) -> Measured:
    """Run `command`, polling the RSS of its whole process tree (`poll`); kill the tree past `limit_bytes` or
    `timeout` seconds. `merge_stderr`: stderr goes into `stdout` (in order) and `stderr_lines` stays empty."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=dict(env), cwd=cwd, stdout=subprocess.PIPE, text=True,
                               stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE)
    stdout: list[str] = []
    stderr: list[tuple[float, str]] = []
    readers = [threading.Thread(target=lambda: stdout.extend(process.stdout or []), daemon=True)]
    if not merge_stderr:
        def read_stderr() -> None:
            for line in process.stderr or []:
                stderr.append((time.perf_counter() - started, line.rstrip("\n")))
        readers.append(threading.Thread(target=read_stderr, daemon=True))
    for reader in readers:
        reader.start()
    peak, killed_at = 0, None
    root = psutil.Process(process.pid)
    while poll and process.poll() is None:
        try:
            tree, rss = _tree_rss(root)
        except psutil.NoSuchProcess:
            break
        peak = max(peak, rss)
        over_time = timeout is not None and time.perf_counter() - started > timeout
        if (limit_bytes is not None and rss > limit_bytes) or over_time:
            killed_at = rss
            for member in reversed(tree):
                with contextlib.suppress(psutil.NoSuchProcess):
                    member.kill()
            break
        time.sleep(POLL_SECONDS)
    try:
        process.wait(timeout=None if poll else timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        killed_at = 0
    wall = time.perf_counter() - started
    for reader in readers:
        reader.join(timeout=10)
    return Measured(wall, peak, process.returncode, "".join(stdout), stderr, killed_at)


def local_url(value: str, name: str = "URL") -> str:
    """`value`, unless it is an HTTP(S) URL whose host is not 127.0.0.1 or localhost: then SystemExit."""
    match = _URL.match(value)
    if match and match.group(1).lower() not in LOCAL_HOSTS:
        raise SystemExit(f"refusing {name}={value}: a benchmark sends traffic to 127.0.0.1 only")
    return value


def local_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without any GORELIABLE_* or AWS_* setting, plus `extra` (its URLs checked by `local_url`),
    with NO_PROXY set so that no proxy setting carries local traffic elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GORELIABLE_", "AWS_"))}
    env.update({name: local_url(value, name) for name, value in (extra or {}).items()})
    env["NO_PROXY"] = env["no_proxy"] = ",".join(LOCAL_HOSTS)
    return env
