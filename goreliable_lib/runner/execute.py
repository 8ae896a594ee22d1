"""Run a report notebook with papermill, in a kernel of the current interpreter, and publish the run.

Order of work: validate the parameters and the destination (exit 2, no kernel started) -> stage the run in
a temporary folder -> execute -> finalise (the data proven free of credentials, summary.json, banners,
report.html, what people read masked) -> publish (atomic rename / upload). A failed run is published too, marked
failed, and never moves `latest`.

Secrets (runner/scrub.py): data (summary.json, tables, data/, figures/*.json) is written as it is and never
rewritten; a distinctive credential found in it fails the run (`CredentialInData`, the file removed, never
published). What people read (the notebook, saved through `ScrubbingHandler` at every save, report.html, logs)
is masked; when that changed any text, the first screen says so (`MASKED_TAG`) without naming the secret.

Exit codes stay the documented 0 / 1 / 2: an interrupt (Ctrl-C, SIGINT) while the notebook runs is a run that
failed while running (exit 1, kept and marked failed with `KeyboardInterrupt`); a destination that cannot be
written (a full disk, a folder that became read-only) is exit 1 with a message naming the folder and the cause,
and the unfinished run is removed so it holds no space (earlier runs and `latest` are never touched).
"""

from __future__ import annotations

import datetime as dt
import errno
import html
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import papermill
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec
from jupyter_core.utils import ensure_event_loop
from papermill.exceptions import PapermillExecutionError
from papermill.iorw import papermill_io
from traitlets import default

from goreliable_lib.errors import BadInputError, GoReliableError
from goreliable_lib.paths import project_root
from goreliable_lib.plots.format import md
from goreliable_lib.reports.base import ReportSpec
from goreliable_lib.reports.registry import get_report, require_notebook
from goreliable_lib.runner.context import CONTEXT_FILE, REPORT_ENV, RUN_DIR_ENV, SUMMARY_FILE, to_jsonable
from goreliable_lib.runner.files import atomic_write_text
from goreliable_lib.runner.html import export_html
from goreliable_lib.runner.params import resolve_parameters
from goreliable_lib.runner.publish import writer_for
from goreliable_lib.runner.scrub import (
    holds_credential,
    leaked_files,
    mask_tree,
    scrub_notebook,
    scrub_text,
    write_masked_text,
)
from goreliable_lib.signals import describe_interruption
from goreliable_lib.timeutil import to_rfc3339, utc_now

NOTEBOOK_FILE = "report.ipynb"
#: The kernel process's own output during the run; kept as kernel.log only when the run failed and it says something.
KERNEL_LOG = ".kernel.log"
HTML_FILE = "report.html"
ERROR_TAG = "goreliable-error"
WARNINGS_TAG = "goreliable-warnings"
#: The first-screen notice of a report in which some text was masked (`[REDACTED]`).
MASKED_TAG = "goreliable-masked"
MASKED_NOTICE = (
    "**Some text in this report is masked** as `[REDACTED]`: it matched the value of a credential set in the "
    "environment. Where that value is also an ordinary word (a bucket, a folder, a component), the masked places "
    "are ordinary text: the data (`summary.json`, the CSV tables, `data/`, `figures/*.json`) is never masked and "
    "holds it as it is. A credential that is an ordinary word is easy to guess: prefer a generated one.")
#: The error of a run whose data held a credential (a bug in a source or in the notebook, never masked silently).
CREDENTIAL_IN_DATA = "CredentialInData"
#: papermill writes its output through this scheme: every save of the notebook is scrubbed of secrets.
SCRUB_SCHEME = "goreliable-scrubbed://"
EXIT_OK, EXIT_FAILED = 0, 1
#: An interrupted run is a run that failed while running (DESIGN.md documents 0, 1 and 2 only).
EXIT_INTERRUPTED = EXIT_FAILED
#: Warnings listed one by one at the top of the report; the rest are counted (all are in summary.json).
MAX_WARNINGS_SHOWN = 25


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


class _KernelDiedEcho(logging.Filter):
    """Drops nbclient's "Kernel died while waiting for execute reply." line: the runner reports a dead or
    interrupted kernel itself, once, in its own error line (after Ctrl-C the kernel "died" because we stopped it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Kernel died while waiting for execute reply")


#: The one handler papermill writes every run's notebook through, registered papermill's documented way (its
#: `register`, as papermill registers its own handlers).
NOTEBOOK_HANDLER = ScrubbingHandler()
papermill_io.register(SCRUB_SCHEME, NOTEBOOK_HANDLER)


def _drop_kernel_died_echo() -> None:
    papermill_logger = logging.getLogger("papermill")
    if not any(isinstance(f, _KernelDiedEcho) for f in papermill_logger.filters):
        papermill_logger.addFilter(_KernelDiedEcho())


def _ignore_abandoned_dead_kernel_tasks(loop: Any, context: dict[str, Any]) -> None:
    """asyncio exception handler for nbclient's event loop: after an interrupt or a dead kernel, the cell task
    nbclient abandoned ends in DeadKernelError that nobody retrieves, and asyncio would print "Task exception was
    never retrieved" with its traceback whenever the garbage collector reaches it. The runner reports the outcome
    itself, once; anything else goes to asyncio's default handler."""
    if type(context.get("exception")).__name__ == "DeadKernelError":
        return
    loop.default_exception_handler(context)


def _quiet_abandoned_cell_tasks() -> None:
    """Install `_ignore_abandoned_dead_kernel_tasks` on the event loop papermill/nbclient run on in this thread."""
    loop = ensure_event_loop()
    if loop.get_exception_handler() is None:
        loop.set_exception_handler(_ignore_abandoned_dead_kernel_tasks)


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


def _describe_error(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, PapermillExecutionError):
        return {"type": exc.ename, "message": scrub_text(str(exc.evalue))[:2000], "cell": exc.exec_count}
    if isinstance(exc, KeyboardInterrupt):  # Ctrl-C, or SIGTERM (`Terminated`) once stop_on_sigterm is installed
        return {"type": type(exc).__name__, "message": f"{describe_interruption(exc)} while running; the run "
                "stopped before its end"}
    message = str(exc).strip() or type(exc).__name__
    if type(exc).__name__ == "DeadKernelError":
        message = f"the kernel died (killed, or out of memory): {message}"
    return {"type": type(exc).__name__, "message": scrub_text(message)[:2000]}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _markdown_cell(text: str, tag: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = [tag]
    return cell


def _remove_leaked_data(staging: Path) -> list[str]:
    """Remove the data files that hold a credential (with a leaked figure's PNG, drawn from the same figure), so
    it is never published; returns their names in the run folder."""
    leaked = set(leaked_files(staging))
    leaked |= {png for p in leaked if p.parent == staging / "figures" and p.suffix == ".json"
               and (png := p.with_suffix(".png")).is_file()}
    for path in leaked:
        path.unlink(missing_ok=True)
    return sorted(p.relative_to(staging).as_posix() for p in leaked)


def _credential_error(files: list[str], earlier: dict[str, Any] | None) -> dict[str, Any]:
    message = (f"a credential from the environment was found in data this run wrote ({', '.join(files)}); "
               "those files were removed so that it is not published. Data is written from structures that never "
               "hold a credential: this is a bug in a source or in the notebook, please report it")
    if earlier is not None:
        message += f" (the run had failed before: {earlier['type']}: {earlier['message']})"
    return {"type": CREDENTIAL_IN_DATA, "message": scrub_text(message)[:2000],
            "cell": earlier.get("cell") if earlier else None}


def _finalise(staging: Path, report: ReportSpec, parameters: dict[str, Any], run_id: str,
              error: dict[str, Any] | None, started: float) -> dict[str, Any]:
    """Prove the data free of credentials, write summary.json, put the error, warnings and masked-text notice on
    the first screen, export the HTML, mask what people read."""
    context = _read_json(staging / CONTEXT_FILE) or {}
    if leaked := _remove_leaked_data(staging):
        error = _credential_error(leaked, error)
    summary = _read_json(staging / SUMMARY_FILE)
    if error is None and summary is None:
        error = {"type": "MissingSummary", "message": "the notebook finished without calling run.write_summary()"}
    if error is None and summary is not None and summary.get("status") != "ok":
        error = {"type": "ReportFailed", "message": f"the notebook marked its summary {summary.get('status')!r}"}
    if summary is None:  # the runner's own: parameters hold no credential (resolve_parameters), the rest is checked here
        source = context.get("source") or {"kind": None, "endpoints": {}}
        summary = {"report": report.name, "status": "failed", "generated_at": to_rfc3339(utc_now()),
                   "parameters": to_jsonable(parameters),
                   "window": context.get("window") or {"start": None, "end": None},
                   "source": {"kind": source.get("kind"), "endpoints": {}} if holds_credential(source) else source,
                   "warnings": [w for w in context.get("warnings") or [] if not holds_credential(w)]}
    summary["run_id"] = run_id
    summary["runner"] = {"duration_seconds": round(time.monotonic() - started, 3),
                         "python": sys.version.split()[0], "notebook": report.notebook}
    if error is not None:
        summary["status"] = "failed"
        summary["error"] = error
    atomic_write_text(staging / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")

    nb_path = staging / NOTEBOOK_FILE
    # no notebook yet when the run failed before papermill wrote anything
    nb = nbformat.read(nb_path, as_version=4) if nb_path.is_file() else nbformat.v4.new_notebook()
    if warnings := summary.get("warnings"):
        items = "\n".join(f"- {md(w)}" for w in warnings[:MAX_WARNINGS_SHOWN])  # literal text, `$` and `*` too
        if len(warnings) > MAX_WARNINGS_SHOWN:
            items += f"\n- ... and {len(warnings) - MAX_WARNINGS_SHOWN} more (all listed in summary.json)"
        nb.cells.insert(0, _markdown_cell(f"**Warnings** (this report may be incomplete):\n\n{items}",
                                          WARNINGS_TAG))
    if error is not None and error.get("cell") is None:  # e.g. the kernel died: name the cell that was running
        running = [c for c in nb.cells if c.get("metadata", {}).get("papermill", {}).get("status") in ("running", "failed")]
        if running:
            error["cell"] = running[0].get("execution_count") or nb.cells.index(running[0])
            summary["error"] = error
            atomic_write_text(staging / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    if error is not None:
        where = f" in cell [{error['cell']}]" if error.get("cell") is not None else ""
        nb.cells.insert(0, _markdown_cell(
            f'<div style="background:#fdd;border:2px solid #b00;padding:8px">'
            f"<b>This report FAILED{where}: {html.escape(str(error['type']))}</b>: {html.escape(str(error['message']))}<br>"
            f"Run {run_id}. The numbers below are partial and must not be used as complete.</div>", ERROR_TAG))
    title = f"{parameters.get('title') or report.title} ({'FAILED ' if error else ''}{run_id})"
    text = nbformat.writes(nb)
    if NOTEBOOK_HANDLER.was_masked(nb_path) or scrub_notebook(text) != text or scrub_text(title) != title:
        nb.cells.insert((error is not None) + bool(warnings), _markdown_cell(MASKED_NOTICE, MASKED_TAG))
    write_masked_text(nb_path, nbformat.writes(nb))
    export_html(nb_path, staging / HTML_FILE, title=title)
    (staging / CONTEXT_FILE).unlink(missing_ok=True)
    kernel_log = staging / KERNEL_LOG
    if error is not None and kernel_log.is_file() and kernel_log.stat().st_size:
        kernel_log.rename(staging / KERNEL_LOG.lstrip("."))
    else:
        kernel_log.unlink(missing_ok=True)
    mask_tree(staging)  # logs and any other text people read; data and binary files are never touched
    return summary


def _where(writer: Any) -> str:
    return str(getattr(writer, "root", None) or getattr(writer, "url", None) or writer)


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
               sse: str | None = None, kms_key_id: str | None = None) -> RunResult:
    """Validate, execute and publish one report; returns the RunResult (exit_code 0 ok, 1 failed or interrupted).
    Bad parameters or destination raise BadInputError before any kernel starts; a destination that cannot be
    written while the run is finished raises GoReliableError (exit 1).

    `report` overrides the registry entry (tests run their own notebooks); `timeout` limits each cell (s).
    """
    spec = report or get_report(name)
    values = resolve_parameters(spec, parameters, files)
    notebook = require_notebook(spec)
    writer = writer_for(out, sse=sse, kms_key_id=kms_key_id)
    writer.check()

    _drop_kernel_died_echo()
    _quiet_abandoned_cell_tasks()
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
    env = {RUN_DIR_ENV: str(staging), REPORT_ENV: spec.name, "GORELIABLE_PROJECT_ROOT": str(project_root()),
           "GORELIABLE_RUN_ID": run_id, "PYDEVD_DISABLE_FILE_VALIDATION": "1",
           "GORELIABLE_ARCHIVE_URI": os.environ.get("GORELIABLE_ARCHIVE_URI") or writer.archive_uri()}
    if progress:
        print(f"report {spec.name}: running {notebook} as run {run_id}", file=sys.stderr, flush=True)
    error: dict[str, Any] | None = None
    exit_code = EXIT_OK
    try:
        papermill.execute_notebook(
            str(notebook), SCRUB_SCHEME + str(staging / NOTEBOOK_FILE), parameters=values,
            kernel_name="python3", language="python", progress_bar=progress, log_output=False,
            start_timeout=start_timeout, execution_timeout=timeout,
            kernel_manager_class=kernel_manager_for(env), resources={"metadata": {"path": str(project_root())}})
    except KeyboardInterrupt as exc:
        error, exit_code = _describe_error(exc), EXIT_INTERRUPTED
    except Exception as exc:  # PapermillExecutionError, DeadKernelError, CellTimeoutError, kernel start failures
        error, exit_code = _describe_error(exc), EXIT_FAILED
    try:
        summary = _finalise(staging, spec, values, run_id, error, started)
        if summary["status"] != "ok" and exit_code == EXIT_OK:
            exit_code = EXIT_FAILED
        error = summary.get("error") if summary["status"] != "ok" else None
        location = writer.publish(staging, spec.name, run_id, ok=exit_code == EXIT_OK)
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
