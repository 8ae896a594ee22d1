"""`goreliable report all`: the standard suite in parallel processes (runner/suite.py)."""

from __future__ import annotations

import argparse
import sys

from goreliable_lib.cli.report import output_options
from goreliable_lib.reports.registry import STANDARD_SUITE
from goreliable_lib.runner.suite import RunRequest, run_many, worst_exit_code


def run(args: argparse.Namespace) -> int:
    """Run the suite; print each run folder; the worst exit code of its reports."""
    results = run_many([RunRequest(name) for name in STANDARD_SUITE], args.out, jobs=args.jobs, quiet=args.quiet,
                       **output_options(args))
    for outcome in results:
        print(outcome.location or f"{outcome.name}: not run")
        if outcome.exit_code:
            print(f"goreliable: error: report {outcome.name}: {outcome.error}", file=sys.stderr)
    return worst_exit_code([outcome.exit_code for outcome in results])
