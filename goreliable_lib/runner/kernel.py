"""The kernel and papermill plumbing of a run (the runner's side: the CLI's process).

- `ScrubbingHandler`: papermill writes the executed notebook through `SCRUB_SCHEME`, and so through it: every save
  is masked (runner/scrub.py); it remembers which notebooks it had to mask, for the first-screen notice.
- `kernel_manager_for`: the kernel is ipykernel of *this* interpreter, on local sockets, with the run's environment,
  its own stdout/stderr kept in the run folder (`KERNEL_LOG`).
- `quiet_kernel_noise`: after Ctrl-C or a dead kernel the runner says what happened once, in its own error line:
  nbclient's "Kernel died" echo and asyncio's traceback of the cell task nbclient abandoned are dropped.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec
from jupyter_core.utils import ensure_event_loop
from papermill.iorw import papermill_io
from traitlets import default

from goreliable_lib.runner.scrub import write_masked_text
from goreliable_lib.runner.shared import KERNEL_LOG, RUN_DIR_ENV

#: papermill writes its output through this scheme: every save of the notebook is scrubbed of secrets.
SCRUB_SCHEME = "goreliable-scrubbed://"


class ScrubbingHandler:
    """A papermill I/O handler (iorw style) writing the executed notebook with every secret masked (what people
    read); it remembers which notebooks it had to mask, for the first-screen notice."""

    def __init__(self) -> None:
        self._masked: set[str] = set()

    @staticmethod
    def _path(path: str) -> str:
        return path.removeprefix(SCRUB_SCHEME)

    def read(self, path: str) -> str:
        return Path(self._path(path)).read_text(encoding="utf-8")

    def listdir(self, path: str) -> list[str]:
        return [str(p) for p in Path(self._path(path)).iterdir()]

    def write(self, buf: str, path: str) -> None:
        if write_masked_text(Path(self._path(path)), buf):
            self._masked.add(self._path(path))

    def was_masked(self, path: Path) -> bool:
        """True when a save of the notebook at `path` masked something (forgotten once asked)."""
        try:
            self._masked.remove(str(path))
        except KeyError:
            return False
        return True

    def pretty_path(self, path: str) -> str:
        return self._path(path)


#: The one handler papermill writes every run's notebook through, registered papermill's documented way (its
#: `register`, as papermill registers its own handlers).
NOTEBOOK_HANDLER = ScrubbingHandler()
papermill_io.register(SCRUB_SCHEME, NOTEBOOK_HANDLER)


class _KernelDiedEcho(logging.Filter):
    """Drops nbclient's "Kernel died while waiting for execute reply." line: the runner reports a dead or
    interrupted kernel itself, once, in its own error line (after Ctrl-C the kernel "died" because we stopped it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Kernel died while waiting for execute reply")


def drop_kernel_died_echo() -> None:
    """Install `_KernelDiedEcho` on papermill's logger (once)."""
    papermill_logger = logging.getLogger("papermill")
    if not any(isinstance(f, _KernelDiedEcho) for f in papermill_logger.filters):
        papermill_logger.addFilter(_KernelDiedEcho())


def ignore_abandoned_dead_kernel_tasks(loop: Any, context: dict[str, Any]) -> None:
    """asyncio exception handler for nbclient's event loop: after an interrupt or a dead kernel, the cell task
    nbclient abandoned ends in DeadKernelError that nobody retrieves, and asyncio would print "Task exception was
    never retrieved" with its traceback whenever the garbage collector reaches it. The runner reports the outcome
    itself, once; anything else goes to asyncio's default handler."""
    if type(context.get("exception")).__name__ == "DeadKernelError":
        return
    loop.default_exception_handler(context)


def quiet_abandoned_cell_tasks() -> None:
    """Install `ignore_abandoned_dead_kernel_tasks` on the event loop papermill/nbclient run on in this thread."""
    loop = ensure_event_loop()
    if loop.get_exception_handler() is None:
        loop.set_exception_handler(ignore_abandoned_dead_kernel_tasks)


def quiet_kernel_noise() -> None:
    """Both of the above: the runner's own error line is the only report of an interrupted or dead kernel."""
    drop_kernel_died_echo()
    quiet_abandoned_cell_tasks()


def kernel_manager_for(env: Mapping[str, str]) -> type:
    """A kernel manager starting ipykernel with *this* interpreter (sys.executable), whatever kernelspecs are
    installed (no python3-kernel-of-another-venv mix-ups), with `env` added to the kernel's environment."""
    spec_env = dict(env)

    class CurrentInterpreterKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self) -> str:
            return "ipc"  # local sockets: no TCP port races between parallel runs, nothing on the network

        @default("ip")
        def _default_ip(self) -> str:  # a socket path of our own (the default `kernel-ipc` is shared by the cwd)
            return os.path.join(tempfile.gettempdir(), f"goreliable-kernel-{uuid.uuid4().hex[:16]}")

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            # the kernel's own stdout/stderr (not the cells': those go to the notebook) into the run folder's
            # .kernel.log, not the operator's terminal (an interrupted kernel prints zmq tracebacks there)
            log = Path(spec_env[RUN_DIR_ENV]) / KERNEL_LOG if RUN_DIR_ENV in spec_env else None
            handle = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
            try:
                await super()._async_launch_kernel(kernel_cmd, **{"stdout": handle, "stderr": handle, **kw})
            finally:
                if log is not None:
                    handle.close()

        @property
        def kernel_spec(self) -> KernelSpec:
            if self._kernel_spec is None:
                self._kernel_spec = KernelSpec(
                    argv=[sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher",
                          "-f", "{connection_file}"],
                    display_name=f"Python {sys.version_info.major}.{sys.version_info.minor} ({sys.prefix})",
                    language="python", env=spec_env, resource_dir="")
            return self._kernel_spec

    return CurrentInterpreterKernelManager
