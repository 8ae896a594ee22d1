"""Run a report notebook with papermill, in a kernel of the current interpreter, and publish the run.

Order of work: validate the parameters and the destination (exit 2, no kernel started; the kernel-to-be the command
may have started, runner/boot.py, is dismissed by the command) -> stage the run in a temporary folder -> start the
kernel (runner/launch.py: in that kernel-to-be when there is one), which boots and loads the report's modules while
the runner checks the input files (a catalog that does not parse stops it: exit 2, nothing executed) and loads the
stages below -> execute (runner/kernel.py: papermill on that kernel, its scrubbing output) -> finalise
(runner/finalise.py: the data proven free of credentials, summary.json, banners, report.html, what people read
masked) -> publish (runner/publish.py: atomic rename / upload). A failed run is published too, marked failed, and
never moves `latest`.

The two heavy stages (papermill, nbconvert: about 1.5 s of imports) are loaded by name (`STAGES`) once the kernel
is starting, so that their loading overlaps the kernel's start-up; everything else here is imported as usual.
`summary.json` `runner.phases` records where the run's time went (seconds): `checks` (parameters and input
files), `load` (the stages), `kernel_wait` (the kernel still starting once they were loaded), `notebook` (its
cells, papermill's saves) and `finalise`.

Secrets (runner/scrub.py): data (summary.json, tables, data/, figures/*.json) is written as it is and never
rewritten; a distinctive credential found in it fails the run (`CredentialInData`, the file removed, never
published). What people read (the notebook, saved through `kernel.ScrubbingHandler` at every save, report.html,
logs) is masked; when that changed any text, the first screen says so (`finalise.MASKED_TAG`) without naming the
secret.

After finalising, the postmortem (and any report run with `--pdf`) gets its report.pdf (runner/pdf.py); the run is
then sent to the environment's destinations under its `notify` rule (runner/notify.py: bounded, never failing the
run), which summary.json `notifications` records, and only then published.

Exit codes stay the documented 0 / 1 / 2: an interrupt (Ctrl-C, SIGINT) while the notebook runs is a run that
failed while running (exit 1, kept and marked failed with `KeyboardInterrupt`); a destination that cannot be
written (a full disk, a folder that became read-only) is exit 1 with a message naming the folder and the cause,
and the unfinished run is removed so it holds no space (earlier runs and `latest` are never touched).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import importlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from goreliable_lib.errors import BadInputError, GoReliableError
from goreliable_lib.paths import PROJECT_ROOT_ENV, project_root
from goreliable_lib.reports.base import DEFAULT_NOTIFY_RULE, ReportSpec
from goreliable_lib.reports.registry import all_reports, get_report, require_notebook
from goreliable_lib.runner.boot import kernel_preload
from goreliable_lib.runner.files import atomic_write_text
from goreliable_lib.runner.index import headline
from goreliable_lib.runner.launch import start_kernel, stop_kernel
from goreliable_lib.runner.notify import notify_run
from goreliable_lib.runner.params import check_inputs, resolve_parameters
from goreliable_lib.runner.publish import writer_for
from goreliable_lib.runner.shared import (
    HTML_FILE,
    NOTEBOOK_FILE,
    PDF_FILE,
    REPORT_ENV,
    RUN_DIR_ENV,
    RUN_ID_ENV,
    SUMMARY_FILE,
)
from goreliable_lib.signals import deferred_interruption

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED = 0, 1
#: An interrupted run is a run that failed while running (DESIGN.md documents 0, 1 and 2 only).
EXIT_INTERRUPTED = EXIT_FAILED


#: The stages loaded by name while the kernel starts: papermill's execution (runner/kernel.py) and finalising
#: (runner/finalise.py, nbconvert).
STAGES = ("goreliable_lib.runner.kernel", "goreliable_lib.runner.finalise")


#: Reports whose run always has its report.pdf (a postmortem travels as an attachment).
ALWAYS_PDF = frozenset({"postmortem"})


#: Optional modules a run's process does without. jsonschema (imported by nbformat, under papermill and nbconvert)
#: imports rfc3987-syntax when it is installed (jupyterlab's `jsonschema[format-nongpl]` brings it) to check the
#: `iri` formats, and that import builds some 35 Earley parsers: 1.6 s of the 2.5 s the stages took to load on a
#: 2-core machine (python-jsonschema/jsonschema#1428). No schema a run validates (nbformat's notebook schema) uses
#: those formats; without the module jsonschema leaves them unchecked, as it documents for optional checkers.
DECLINED_IMPORTS = ("rfc3987_syntax",)


def load_stages() -> tuple[ModuleType, ...]:
    """The heavy stages of a run (`STAGES`) and every report's spec (the index reads them), imported whole: a
    SIGTERM or Ctrl-C meanwhile is raised after. The `DECLINED_IMPORTS` not already loaded are marked absent first
    (`sys.modules[name] = None`: importing them raises ImportError, which their importers expect)."""
    for name in DECLINED_IMPORTS:
        sys.modules.setdefault(name, None)  # type: ignore[assignment]
    with deferred_interruption():
        stages = tuple(importlib.import_module(name) for name in STAGES)
        all_reports()  # the index, rebuilt when the run is published, reads every report's spec
        return stages


@dataclass(frozen=True)
class RunResult:
    """The outcome of one report run."""

    report: str
    run_id: str
    status: str  # "ok" | "failed"
    location: str  # the published run folder (path or s3:// URL)
    exit_code: int
    error: str | None = None
    duration_seconds: float = 0.0


def new_run_id(now: dt.datetime | None = None) -> str:
    """A sortable run id: UTC timestamp plus a short random part, e.g. 20261123T060000Z-3f9a."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(2)}"


def _where(writer: Any) -> str:
    return str(getattr(writer, "root", None) or getattr(writer, "url", None) or writer)


def _notify(summary: dict[str, Any], values: Mapping[str, Any], writer: Any, staging: Path) -> dict[str, Any]:
    """Send the run to the environment's destinations under its `notify` rule (runner/notify.py: never raises,
    bounded in time) before it is published; the summary with the outcomes (`notifications`)."""
    run_id, report = str(summary.get("run_id")), str(summary.get("report"))
    pdf = staging / PDF_FILE
    outcomes = notify_run(summary, summary.get("changes") or [], values.get("notify") or DEFAULT_NOTIFY_RULE,
                          headline=headline(summary), link=f"{writer.location(report, run_id).rstrip('/')}/{HTML_FILE}",
                          pdf=pdf if pdf.is_file() else None, environ=os.environ,
                          state_file=writer.notification_state())
    return {**summary, "notifications": outcomes}


def _remove_staging(staging: Path) -> None:
    """Remove a run folder that was never run, and its parent when that is left empty (the report's folder made for
    it, or a writer's temporary folder)."""
    shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):
        staging.parent.rmdir()


def _write_failure(writer: Any, report: str, run_id: str, staging: Path, exc: OSError) -> str:
    """The message of a run that could not be written; removes the unfinished run (it would only hold space)."""
    cause = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    if staging.exists():
        shutil.rmtree(staging, ignore_errors=True)
        kept = "the unfinished run was removed; earlier runs and `latest` are untouched"
    else:
        kept = "the run folder was published but `latest` or index.html may be stale (the next run rebuilds them)"
    return f"report {report}: run {run_id} could not be written to {_where(writer)} ({cause}); {kept}"


def run_report(name: str, parameters: Mapping[str, Any] | None = None, out: str | Path | None = None,
               progress: bool | dict[str, Any] = True, *, files: Iterable[str | Path] = (),
               report: ReportSpec | None = None, timeout: float | None = None, start_timeout: float = 120,
               sse: str | None = None, kms_key_id: str | None = None, pdf: str | None = None,
               kernel_to_be: subprocess.Popen[bytes] | None = None) -> RunResult:
    """Validate, execute and publish one report; returns the RunResult (exit_code 0 ok, 1 failed or interrupted).
    Bad parameters or destination raise BadInputError before any kernel starts; a destination that cannot be
    written while the run is finished raises GoReliableError (exit 1).

    `report` overrides the registry entry (tests run their own notebooks); `timeout` limits each cell (s); `pdf`
    (`A4` or `Letter`) prints report.pdf beside report.html on that paper (always for the postmortem: A4 by default);
    `kernel_to_be`: the kernel-to-be the command started for this report (runner/boot.py), the kernel once handed
    its command (the caller dismisses it when the run stops before that).
    """
    spec = report or get_report(name)
    values = resolve_parameters(spec, parameters, files, check_files=False)
    notebook = require_notebook(spec)
    writer = writer_for(out, sse=sse, kms_key_id=kms_key_id)
    writer.check()

    started = time.monotonic()
    run_id = new_run_id()
    try:
        staging = writer.staging_dir(spec.name, run_id)
        for sub in ("data", "figures"):
            (staging / sub).mkdir(exist_ok=True)
    except OSError as exc:
        kind = BadInputError if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else GoReliableError
        raise kind(f"--out {_where(writer)}: cannot create the run folder of report {spec.name} "
                   f"({exc.strerror or exc}: {exc.filename}); nothing was run") from None
    env = {RUN_DIR_ENV: str(staging), REPORT_ENV: spec.name, PROJECT_ROOT_ENV: str(project_root()),
           RUN_ID_ENV: run_id, "PYDEVD_DISABLE_FILE_VALIDATION": "1",
           "GORELIABLE_ARCHIVE_URI": os.environ.get("GORELIABLE_ARCHIVE_URI") or writer.archive_uri()}
    interrupted: KeyboardInterrupt | None = None
    clock = time.monotonic()
    try:
        with deferred_interruption():  # a stop while the kernel launches: raised once it is there to be stopped
            kernel = start_kernel(env, kernel_preload(spec.name), cwd=project_root(), kernel_to_be=kernel_to_be)
        clock = time.monotonic()
        check_inputs(spec, values)
    except BadInputError:  # bad input files: nothing executed, nothing kept
        stop_kernel(kernel)
        _remove_staging(staging)
        raise
    except KeyboardInterrupt as exc:  # stopped while its kernel started: a run that failed while running
        interrupted = exc
    phases: dict[str, float] = {"checks": time.monotonic() - clock}
    error: dict[str, Any] | None = None
    exit_code = EXIT_OK
    clock = time.monotonic()
    try:
        kernel_stage, finalise_stage = load_stages()
    except KeyboardInterrupt as exc:
        interrupted = exc
        kernel_stage, finalise_stage = load_stages()
    if interrupted is not None:
        error, exit_code = finalise_stage.describe_error(interrupted), EXIT_INTERRUPTED
    phases["load"] = time.monotonic() - clock
    if progress and error is None:
        print(f"report {spec.name}: running {notebook} as run {run_id}", file=sys.stderr, flush=True)
    clock = time.monotonic()
    preparing = threading.Thread(target=finalise_stage.prepare, name="goreliable-prepare", daemon=True)
    try:
        if error is None:
            preparing.start()  # while the notebook runs: the runner only waits on the kernel then
            kernel_stage.execute_notebook(notebook, staging / NOTEBOOK_FILE, values, kernel, progress=progress,
                                          timeout=timeout, start_timeout=start_timeout)
    except KeyboardInterrupt as exc:
        error, exit_code = finalise_stage.describe_error(exc), EXIT_INTERRUPTED
    except Exception as exc:  # PapermillExecutionError, DeadKernelError, CellTimeoutError, kernel start failures
        error, exit_code = finalise_stage.describe_error(exc), EXIT_FAILED
    finally:
        stop_kernel(kernel)  # only when papermill never took it over (it shuts down the kernels it ran)
    phases["notebook"] = time.monotonic() - clock
    if preparing.is_alive():  # a notebook shorter than the preparation: finalising builds figures (the index's)
        preparing.join()
    try:
        clock = time.monotonic()
        summary = finalise_stage.finalise_run(
            staging, spec, values, run_id, error, started, phases=phases, writer=writer,
            notebook_masked=kernel_stage.NOTEBOOK_HANDLER.was_masked(staging / NOTEBOOK_FILE))
        if summary["status"] != "ok" and exit_code == EXIT_OK:
            exit_code = EXIT_FAILED
        error = summary.get("error") if summary["status"] != "ok" else None
        log.info("report %s: finalised in %.2f s", spec.name, time.monotonic() - clock)
        if pdf or spec.name in ALWAYS_PDF:
            clock = time.monotonic()
            summary = finalise_stage.print_pdf(staging, summary, paper=pdf or "A4")
            log.info("report %s: report.pdf printed in %.2f s", spec.name, time.monotonic() - clock)
        summary = _notify(summary, values, writer, staging)
        # summary.json once more, as finalised plus the PDF and the notifications (before publishing)
        atomic_write_text(staging / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
        clock = time.monotonic()
        location = writer.publish(staging, spec.name, run_id, ok=exit_code == EXIT_OK)
        log.info("report %s: published (and the index rebuilt) in %.2f s", spec.name, time.monotonic() - clock)
    except OSError as exc:  # a full disk, a destination gone read-only: say so, keep nothing half-written
        raise GoReliableError(_write_failure(writer, spec.name, run_id, staging, exc)) from None
    message = f"{error['type']}: {error['message']}" if error else None
    result = RunResult(spec.name, run_id, summary["status"], location, exit_code, message,
                       round(time.monotonic() - started, 3))
    if progress:
        state = "ok" if exit_code == EXIT_OK else f"FAILED ({message})"
        print(f"report {spec.name}: {state} in {result.duration_seconds:.1f}s -> {location}",
              file=sys.stderr, flush=True)
    return result
