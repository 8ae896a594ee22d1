"""The kernel and papermill plumbing of a run (the runner's side: the CLI's process).

- `ScrubbingHandler`: papermill writes the executed notebook through `SCRUB_SCHEME`, and so through it: every save
  is masked (runner/scrub.py); it remembers which notebooks it had to mask, for the first-screen notice.
- `execute_notebook`: papermill runs the notebook on the kernel `runner/launch.py` started, through that handler.
- `quiet_kernel_noise`: after Ctrl-C or a dead kernel the runner says what happened once, in its own error line:
  nbclient's "Kernel died" echo and asyncio's traceback of the cell task nbclient abandoned are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import papermill
from jupyter_client import AsyncKernelManager
from jupyter_core.utils import ensure_event_loop
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines
from papermill.iorw import papermill_io

from goreliable_lib.paths import project_root
from goreliable_lib.runner.launch import adopting
from goreliable_lib.runner.scrub import write_masked_text

#: papermill writes its output through this scheme: every save of the notebook is scrubbed of secrets.
SCRUB_SCHEME = "goreliable-scrubbed://"
#: The papermill engine runs use (`ThrottledSaves`), registered by name as papermill registers its own.
ENGINE_NAME = "goreliable"
#: Seconds between two saves of the executing notebook (papermill saves at every cell's start and end; each save
#: copies, validates and serialises the whole notebook, figures and all: 0.1-0.3 s for a report with charts).
SAVE_EVERY_SECONDS = 10.0


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


class ThrottledSaves(NotebookExecutionManager):
    """papermill's execution manager, saving the notebook at most every `SAVE_EVERY_SECONDS`, and at its end only
    when papermill will not.

    papermill serialises and writes the whole notebook at each cell's start and end (a second or more per run for a
    report with charts). When the engine returns, papermill writes the final notebook itself (a failed cell's with
    its error marker), so `notebook_complete` saves only when the engine raised (an interrupt, a dead kernel, a
    kernel that never started): `final_save`. Only a runner killed outright (SIGKILL) keeps a notebook up to
    `SAVE_EVERY_SECONDS` older than the kernel.
    """

    final_save = True

    def save(self, **kwargs: Any) -> None:
        if self.end_time is not None:
            if self.final_save:
                super().save(**kwargs)
            return
        if self.last_save_time is None or (self.now() - self.last_save_time).total_seconds() >= SAVE_EVERY_SECONDS:
            super().save(**kwargs)


class ThrottledSavesEngine(NBClientEngine):
    """papermill's nbclient engine with `ThrottledSaves` for its execution manager (papermill's own
    `Engine.execute_notebook`, the manager's class aside)."""

    @classmethod
    def execute_notebook(cls, nb: Any, kernel_name: str, output_path: str | None = None,  # type: ignore[override]
                         progress_bar: bool | dict[str, Any] = True, log_output: bool = False,
                         autosave_cell_every: int = 30, **kwargs: Any) -> Any:
        nb_man = ThrottledSaves(nb, output_path=output_path, progress_bar=progress_bar, log_output=log_output,
                                autosave_cell_every=autosave_cell_every)
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        except BaseException:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()  # saves: papermill writes nothing after an engine that raised
            raise
        nb_man.cleanup_pbar()
        nb_man.final_save = False  # papermill writes the final notebook as the engine returns
        nb_man.notebook_complete()
        return nb_man.nb


papermill_engines.register(ENGINE_NAME, ThrottledSavesEngine)


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


def execute_notebook(notebook: Path, output: Path, parameters: Mapping[str, Any], kernel: AsyncKernelManager, *,
                     progress: bool | dict[str, Any], timeout: float | None, start_timeout: float) -> None:
    """Run `notebook` with papermill on `kernel` (started by `launch.start_kernel`, handed over with
    `launch.adopting`), saving it to `output` through the scrubbing handler; raises what papermill raises."""
    quiet_kernel_noise()
    papermill.execute_notebook(
        str(notebook), SCRUB_SCHEME + str(output), parameters=dict(parameters), engine_name=ENGINE_NAME,
        kernel_name="python3", language="python", progress_bar=progress, log_output=False, start_timeout=start_timeout,
        execution_timeout=timeout, kernel_manager_class=adopting(kernel),
        resources={"metadata": {"path": str(project_root())}})
