"""`goreliable report run|all|list`: the command-line face of the runner."""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import multiprocessing
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from goreliable_lib.errors import GoReliableError
from goreliable_lib.reports.base import ReportSpec
from goreliable_lib.reports.registry import REPORTS, STANDARD_SUITE, describe, get_report, require_notebook
from goreliable_lib.runner.execute import run_report
from goreliable_lib.runner.params import parse_assignments, resolve_parameters
from goreliable_lib.runner.publish import SSE_CHOICES, writer_for
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


def _run_in_worker(request: RunRequest, out: str | None, options: dict[str, Any], position: int) -> ReportOutcome:
    """Worker-process entry."""
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
    context = multiprocessing.get_context("spawn")  # no fork of a process holding threads or sockets
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=stop_on_sigterm) as pool:
        futures = [pool.submit(_run_in_worker, r, out, options, i) for i, r in enumerate(requests)]
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


def _worst(codes: Sequence[int]) -> int:
    """The worst exit code: bad input (2) > failed (1) > ok (0)."""
    rank = {0: 0, 1: 1, 2: 2}
    return max(codes, key=lambda c: rank.get(c, 1), default=0)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {"sse": args.sse, "kms_key_id": args.sse_kms_key_id, "timeout": args.timeout}


def _cmd_run(args: argparse.Namespace) -> int:
    result = run_report(args.name, parse_assignments(args.param or []), args.out, progress=not args.quiet,
                        files=args.file or [], **_options(args))
    print(result.location)
    if result.exit_code:
        print(f"goreliable: error: report {result.report} failed: {result.error}; the partial run is kept, "
              "marked failed", file=sys.stderr)
    return result.exit_code


def _cmd_all(args: argparse.Namespace) -> int:
    results = run_many([RunRequest(name) for name in STANDARD_SUITE], args.out, jobs=args.jobs, quiet=args.quiet,
                       **_options(args))
    for outcome in results:
        print(outcome.location or f"{outcome.name}: not run")
        if outcome.exit_code:
            print(f"goreliable: error: report {outcome.name}: {outcome.error}", file=sys.stderr)
    return _worst([outcome.exit_code for outcome in results])


def _cmd_list(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps({name: {"notebook": r.notebook, "parameters": describe(r)} for name, r in REPORTS.items()},
                         indent=2))
        return 0
    for name, report in REPORTS.items():
        print(f"{name}: {report.title} ({report.notebook}; defaults also from {report.default_param_file})")
        for p in describe(report):
            default = "(required)" if p["required"] else f"default {p['default']!r}"
            print(f"  {p['name']:<15} {p['type']:<7} {default:<28} {p['help']}")
    return 0


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR|s3://bucket/prefix",
                        help="where runs are published (default: <project>/reports)")
    parser.add_argument("--sse", choices=SSE_CHOICES, help="S3 server-side encryption for --out s3://")
    parser.add_argument("--sse-kms-key-id", metavar="KEY_ID", help="KMS key for --sse aws:kms")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="limit per notebook cell (default: none)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def register(subparsers: Any) -> None:
    """Add `report run|all|list` to the goreliable CLI."""
    report = subparsers.add_parser("report", help="run, list and publish reports",
                                   description="Exit codes: 0 ok, 1 failed while running (partial run kept, "
                                               "marked failed), 2 bad input (nothing executed).")
    commands = report.add_subparsers(dest="report_command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="run one report and print its run folder")
    run.add_argument("name", choices=list(REPORTS), metavar="NAME", help=f"one of {', '.join(REPORTS)}")
    run.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="a parameter (YAML-typed)")
    run.add_argument("-f", "--file", action="append", metavar="FILE.yaml", help="a YAML file of parameters")
    _add_output_options(run)
    run.set_defaults(func=_cmd_run)

    suite = commands.add_parser("all", help=f"run {', '.join(STANDARD_SUITE)} in parallel processes")
    suite.add_argument("--jobs", type=int, default=None, help="parallel processes (default: one per report)")
    _add_output_options(suite)
    suite.set_defaults(func=_cmd_all)

    listing = commands.add_parser("list", help="list the reports and their parameters")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=_cmd_list)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m goreliable_lib.cli.report report ...` (the same as `goreliable report ...`)."""
    parser = argparse.ArgumentParser(prog="goreliable")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    stop_on_sigterm()  # Kubernetes stops a pod with SIGTERM: handled like Ctrl-C
    try:
        return int(args.func(args) or 0)
    except GoReliableError as exc:
        print(f"goreliable: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # outside a notebook run (validation, publishing): exit 1 like a failed run
        print(f"goreliable: error: {describe_interruption(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
