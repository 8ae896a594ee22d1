"""A run's kernel-to-be: started with the command, before the command loads anything heavy, it imports what the
report's kernel will import (ipykernel, pandas, plotly, the run context, the report's module: about 1.3 s) while the
command loads the runner and checks the parameters, and becomes the run's kernel when the runner hands it the
kernel's command (runner/launch.py). On bad input, or an interrupt before that point, the command kills it
(`dismiss`) before it was ever a kernel; when the command dies, its stdin closes and it exits by itself.

    python -m goreliable_lib.runner.boot MODULE...

The order on stdin, one JSON line: {"argv": ipykernel's arguments, "env": the kernel's whole environment (what
jupyter_client gives a kernel: the runner's, plus the run's), "cwd": its folder, "log": the file its own stdout and
stderr go to (null: none)}. It then runs ipykernel as `python -m ipykernel_launcher ARGV` would, in that
environment and folder. The modules imported before the order must not read the environment when imported (the
kit's read it when called).

This module is the bridge between the two sides of a run: the runner starts it (`spawn`), and it becomes the kernel
(`main`); nothing heavy is imported at its top, so the command can start it first.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

#: What every kernel imports first (the rest is the report's preload).
KERNEL_APP = "ipykernel.kernelapp"
#: The interpreter's options of a kernel (jupyter_client's ipykernel command: debugpy wants frozen modules off).
PYTHON_OPTIONS = ("-Xfrozen_modules=off",)
#: Modules a kernel-to-be declines (`sys.modules[name] = None`: importing one fails, as Python's import system
#: documents): debugpy, which ipykernel loads as the kernel starts, after the hand-over, for a debugger client that a
#: papermill run never has (half of ipykernel's start: 0.06 s). Kernels started otherwise (JupyterLab's) keep it.
DECLINED_IMPORTS = ("debugpy",)
#: The modules every report's kernel loads at its start-up: the run context, and pandas' Parquet engine (pyarrow,
#: loaded by pandas at the first read of a recorded or archived result otherwise).
KERNEL_PRELOAD = ("goreliable_lib.runner.context", "pyarrow.parquet")


def kernel_preload(report: str) -> tuple[str, ...]:
    """What a report's kernel imports while it starts: `KERNEL_PRELOAD` and the report's module (when the report is
    one of the package's: a test's stand-in report may have none)."""
    module = f"goreliable_lib.reports.{report.replace('-', '_')}"
    return (*KERNEL_PRELOAD, *([module] if importlib.util.find_spec(module) is not None else []))


def spawn(preload: Sequence[str], cwd: Path) -> subprocess.Popen[bytes]:
    """Start a kernel-to-be importing `preload` (in a session of its own, as jupyter_client starts kernels: a
    Ctrl-C in the terminal reaches the command, which stops it)."""
    return subprocess.Popen([sys.executable, *PYTHON_OPTIONS, "-m", __name__, KERNEL_APP, *preload], cwd=cwd,
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def hand_over(process: subprocess.Popen[bytes], argv: Sequence[str], env: dict[str, str], cwd: str | None,
              log: Path | None) -> bool:
    """Give a kernel-to-be its order; False when it is gone (it exited, or its stdin is closed)."""
    if process.poll() is not None or process.stdin is None or process.stdin.closed:
        return False
    order = {"argv": list(argv), "env": env, "cwd": cwd, "log": str(log) if log is not None else None}
    try:
        process.stdin.write((json.dumps(order) + "\n").encode())
        process.stdin.close()
    except (BrokenPipeError, ValueError):  # it died meanwhile
        return False
    return process.poll() is None


def dismiss(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a kernel-to-be that was never handed over (nothing when it was: it is the run's kernel then)."""
    if process is None or process.stdin is None or process.stdin.closed:
        return
    process.kill()  # it has run nothing of the run's: its imports only
    process.stdin.close()
    process.wait()


def _redirect(stream: IO[Any], target: int) -> None:
    stream.flush()
    os.dup2(target, stream.fileno())


def main(modules: Sequence[str]) -> int:
    """Import `modules`, wait for the order, become the kernel it describes (or exit 0 without one)."""
    if sys.path and (sys.path[0] == "" or Path(sys.path[0]) == Path.cwd()):  # as ipykernel_launcher does
        del sys.path[0]
    for declined in DECLINED_IMPORTS:
        sys.modules[declined] = None  # type: ignore[assignment]
    for module in modules:
        importlib.import_module(module)
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    order = json.loads(line)
    os.environ.clear()  # this process becomes the kernel: the kernel's environment, as jupyter_client would give it
    os.environ.update(order["env"])
    if order.get("cwd"):
        os.chdir(order["cwd"])
    with open(order["log"] if order.get("log") else os.devnull, "ab") as log:
        _redirect(sys.stdout, log.fileno())
        _redirect(sys.stderr, log.fileno())
    with open(os.devnull, "rb") as nothing:
        os.dup2(nothing.fileno(), sys.stdin.fileno())
    sys.argv = ["ipykernel_launcher", *order["argv"]]
    kernelapp = importlib.import_module(KERNEL_APP)
    kernelapp.launch_new_instance()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
