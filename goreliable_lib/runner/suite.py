"""Several reports at once (`goreliable report all`): each in its own process and kernel, every request validated
first, so a bad parameter anywhere stops the suite before any kernel starts."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from goreliable_lib.errors import GoReliableError
from goreliable_lib.reports.base import ReportSpec
from goreliable_lib.reports.registry import get_report, require_notebook
from goreliable_lib.runner.execute import run_report
from goreliable_lib.runner.params import resolve_parameters
from goreliable_lib.runner.publish import writer_for
from goreliable_lib.runner.workers import worker_context
from goreliable_lib.signals import Terminated, describe_interruption, stop_on_sigterm


@dataclass(frozen=True)
class RunRequest:
    """One report to run in `run_many` (picklable: sent to a worker process)."""

    name: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    notebook: str | None = None  # overrides the registry's notebook (tests)

    def report(self) -> ReportSpec:
        spec = get_report(self.name)
        if self.notebook is not None:
            spec = dataclasses.replace(spec, notebook=self.notebook, default_param_file=None)
        return spec


class ReportOutcome(NamedTuple):
    """How one report of `run_many` ended (picklable: sent back from a worker process). A named tuple, so that it
    still unpacks and serialises (JSON) as the (name, exit code, run folder, error) it was."""

    name: str
    exit_code: int
    location: str | None  # the published run folder; None when nothing was run or published
    error: str | None


def _run_in_worker(request: RunRequest, out: str | None, options: dict[str, Any], position: int,
                   environ: dict[str, str], cwd: str) -> ReportOutcome:
    """Worker-process entry. The worker takes the caller's environment and folder as they are now: it was forked
    from a server started earlier, whose own may be older (a second suite in one process, a test's settings)."""
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    quiet = options.pop("quiet", False)
    progress: bool | dict[str, Any] = False if quiet else {"desc": request.name, "position": position, "leave": True}
    try:
        result = run_report(request.name, request.parameters, out, files=request.files, report=request.report(),
                            progress=progress, **options)
    except GoReliableError as exc:
        return ReportOutcome(request.name, exc.exit_code, None, str(exc))
    except KeyboardInterrupt as exc:  # stopped before or after the notebook ran (validation, publishing)
        return ReportOutcome(request.name, 1, None, describe_interruption(exc))
    return ReportOutcome(request.name, result.exit_code, result.location, result.error)


def run_many(requests: Sequence[RunRequest], out: str | None = None, *, jobs: int | None = None,
             **options: Any) -> list[ReportOutcome]:
    """Run several reports in parallel processes (each its own kernel); every request is validated first,
    so a bad parameter anywhere stops the suite before any kernel starts."""
    for request in requests:
        resolve_parameters(request.report(), request.parameters, request.files)
        require_notebook(request.report())
    writer_for(out, sse=options.get("sse"), kms_key_id=options.get("kms_key_id")).check()
    workers = max(1, min(jobs or len(requests), len(requests)))
    # each worker is forked from a server process that imported this module once (workers.worker_context); the
    # command may have started that server already (workers.start_worker_server)
    with ProcessPoolExecutor(max_workers=workers, mp_context=worker_context(), initializer=stop_on_sigterm) as pool:
        futures = [pool.submit(_run_in_worker, r, out, options, i, dict(os.environ), os.getcwd())
                   for i, r in enumerate(requests)]
        try:
            concurrent.futures.wait(futures)
        except KeyboardInterrupt as exc:
            for future in futures:  # reports still queued (--jobs below the suite's size) are not started
                future.cancel()
            if isinstance(exc, Terminated):
                # SIGTERM reaches only this process (Kubernetes signals the container's main process): pass it
                # on, so each worker stops its run the way `report run` does (kept, marked failed). Ctrl-C in a
                # terminal has already reached the workers (the whole process group): just wait for their clean-up.
                for worker in multiprocessing.active_children():
                    worker.terminate()
        return [_outcome(request, future) for request, future in zip(requests, futures, strict=True)]


def _outcome(request: RunRequest, future: concurrent.futures.Future) -> ReportOutcome:
    """A worker's result; a worker that died (killed before it could stop its run) is a failed report."""
    try:
        return future.result()
    except concurrent.futures.CancelledError:
        return ReportOutcome(request.name, 1, None, "not started: the suite was stopped")
    except BrokenProcessPool as exc:
        return ReportOutcome(request.name, 1, None, f"the worker process died before finishing the report ({exc})")


def worst_exit_code(codes: Sequence[int]) -> int:
    """The worst exit code: bad input (2) > failed (1) > ok (0)."""
    rank = {0: 0, 1: 1, 2: 2}
    return max(codes, key=lambda c: rank.get(c, 1), default=0)
