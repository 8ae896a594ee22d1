"""`goreliable report run NAME`: one report, through the runner (runner/execute.py)."""

from __future__ import annotations

import argparse
import sys

from goreliable_lib.cli.report import output_options
from goreliable_lib.runner.execute import run_report
from goreliable_lib.runner.params import parse_assignments


def run(args: argparse.Namespace) -> int:
    """Run the report, print its run folder; exit 1 when it failed (the partial run is kept)."""
    result = run_report(args.name, parse_assignments(args.param or []), args.out, progress=not args.quiet,
                        files=args.file or [], pdf=args.pdf, **output_options(args))
    print(result.location)
    if result.exit_code:
        print(f"goreliable: error: report {result.report} failed: {result.error}; the partial run is kept, "
              "marked failed", file=sys.stderr)
    return result.exit_code
