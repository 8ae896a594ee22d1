"""The report's kernel process, started early (the runner's side: the CLI's process; light: jupyter_client only).

The runner starts the kernel as soon as the run folder exists, before it checks the input files and before it loads
papermill and nbconvert (about 1.5 s of imports): the kernel boots and loads the report's own modules
(`preload`, run by ipykernel at start-up through IPython's `exec_lines`) on the other core meanwhile.
papermill is then handed the running kernel (`adopting`): nbclient finds a manager that has a kernel, starts none,
and shuts it down at the end as it would its own.

The kernel is ipykernel of *this* interpreter (sys.executable), whatever kernelspecs are installed, on local
sockets, with the run's environment; its own stdout/stderr go to the run folder's `KERNEL_LOG`. When the command
started a kernel-to-be (runner/boot.py: it has been importing the kernel's modules since the command began), the
kernel's command is handed to it instead of starting a new process: jupyter_client's provisioner then watches,
signals and ends it as a kernel it started itself. A kernel-to-be that is gone by then is replaced by a new process.

Its end: when papermill asks for the usual graceful shutdown, the kernel is first asked to do its exit work
(`END_OF_RUN`: the snapshot manifest written, Chromium stopped, runner/context.py `end_of_run`) and, once it has
answered, is ended at once: the interpreter's own teardown (IPython's reset with a full garbage collection, then
pandas, pyarrow and zmq taken down) cost 0.4 s a run with nothing left to do. A cell still running (an interrupt,
a timeout) is interrupted first, as the graceful shutdown does. A kernel that does not answer within
`END_OF_RUN_SECONDS` (a cell that ignores the interrupt, a dead kernel, exit work that failed) gets jupyter_client's
graceful shutdown as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec
from jupyter_core.utils import run_sync
from traitlets import default

from goreliable_lib.runner import boot
from goreliable_lib.runner.shared import KERNEL_LOG, RUN_DIR_ENV

#: What the kernel runs before it is ended (its exit work: runner/context.py `end_of_run`), binding no name.
END_OF_RUN = "__import__('goreliable_lib.runner.context', fromlist=['end_of_run']).end_of_run()"
#: How long the kernel has to answer `END_OF_RUN` before it is shut down the slow way.
END_OF_RUN_SECONDS = 5.0


def kernel_manager_for(env: Mapping[str, str], preload: Sequence[str] = (),
                       kernel_to_be: subprocess.Popen[bytes] | None = None) -> type[AsyncKernelManager]:
    """A kernel manager class starting ipykernel with *this* interpreter, with `env` added to the kernel's
    environment and the modules `preload` imported at its start-up; in `kernel_to_be` when it is still there."""
    spec_env = dict(env)
    exec_lines = [f"import {module}" for module in preload]

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
            if kernel_to_be is not None and self._hand_over(kernel_to_be, kernel_cmd, kw, log):
                return
            handle = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
            try:
                await super()._async_launch_kernel(kernel_cmd, **{"stdout": handle, "stderr": handle, **kw})
            finally:
                if log is not None:
                    handle.close()

        def _hand_over(self, process: subprocess.Popen[bytes], kernel_cmd: list[str], kw: dict[str, Any],
                       log: Path | None) -> bool:
            """The kernel's command to the kernel-to-be, which becomes the provisioner's process; False when it is
            gone."""
            argv = kernel_cmd[kernel_cmd.index("ipykernel_launcher") + 1:]
            if not boot.hand_over(process, argv, dict(kw.get("env") or os.environ), kw.get("cwd"), log):
                return False
            provisioner: Any = self.provisioner  # jupyter_client's LocalProvisioner, as after its launch_kernel
            provisioner.process, provisioner.pid = process, process.pid
            provisioner.pgid = os.getpgid(process.pid)
            provisioner.cwd = kw.get("cwd") or os.getcwd()
            self._reconcile_connection_info(provisioner.connection_info)
            return True

        async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:  # type: ignore[override]
            if not now and not restart and await self._ran_end_of_run():
                now = True  # its exit work is done: ended at once, not after the interpreter's teardown
            await super().shutdown_kernel(now=now, restart=restart)

        async def _ran_end_of_run(self) -> bool:
            """Ask the kernel to do its exit work now (`END_OF_RUN`); True when it did so within
            `END_OF_RUN_SECONDS`."""
            if not self.has_kernel or not await self.is_alive():
                return False
            # a cell still running (an interrupted or timed-out run) is interrupted first, as jupyter_client's
            # graceful shutdown does; an idle kernel ignores it
            await self.interrupt_kernel()
            client = self.client()
            client.start_channels()
            deadline = time.monotonic() + END_OF_RUN_SECONDS
            try:
                # asked twice: after an interrupt the first request may be aborted (queued behind the cell that
                # failed) or meet the interrupt itself
                for _ in range(2):
                    reply = await client.execute(END_OF_RUN, silent=True, store_history=False, reply=True,
                                                 timeout=max(0.0, deadline - time.monotonic()))
                    if reply.get("content", {}).get("status") == "ok":
                        break
            except (TimeoutError, RuntimeError):
                return False
            finally:
                client.stop_channels()
            return reply.get("content", {}).get("status") == "ok"

        @property
        def kernel_spec(self) -> KernelSpec:
            if self._kernel_spec is None:
                self._kernel_spec = KernelSpec(
                    argv=[sys.executable, *boot.PYTHON_OPTIONS, "-m", "ipykernel_launcher",
                          "-f", "{connection_file}", *[f"--IPKernelApp.exec_lines={line}" for line in exec_lines]],
                    display_name=f"Python {sys.version_info.major}.{sys.version_info.minor} ({sys.prefix})",
                    language="python", env=spec_env, resource_dir="")
            return self._kernel_spec

    return CurrentInterpreterKernelManager


def start_kernel(env: Mapping[str, str], preload: Sequence[str] = (), cwd: Path | None = None,
                 kernel_to_be: subprocess.Popen[bytes] | None = None) -> AsyncKernelManager:
    """Launch the kernel (in `kernel_to_be` when it is still there: runner/boot.py) and return its manager at once
    (the kernel is still booting)."""
    manager = kernel_manager_for(env, preload, kernel_to_be)(kernel_name="python3")
    run_sync(manager.start_kernel)(cwd=str(cwd) if cwd else None)
    return manager


def stop_kernel(manager: AsyncKernelManager) -> None:
    """Stop a kernel that papermill never adopted (the run stopped before its notebook), and free its files."""
    if manager.has_kernel:
        run_sync(manager.shutdown_kernel)(now=True)


def adopting(manager: AsyncKernelManager) -> type[AsyncKernelManager]:
    """A kernel manager class for papermill (`kernel_manager_class`) whose new instance is `manager`, already
    started: nbclient sees a manager with a kernel, so it starts none, and owns it (shuts the kernel down, closes
    its channels and files) as it would one it made. (`__new__` returning another class's instance skips
    `__init__`, so the running manager is handed over untouched.)"""

    class AdoptedKernelManager(AsyncKernelManager):
        def __new__(cls, *args: Any, **kwargs: Any) -> AsyncKernelManager:  # type: ignore[misc]
            return manager

    return AdoptedKernelManager
