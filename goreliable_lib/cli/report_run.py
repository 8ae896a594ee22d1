"""`goreliable report run NAME`: one report, through the runner (runner/execute.py).

The report's kernel-to-be (runner/boot.py) is started first (`prepare`: before the command loads its settings), and
the runner loaded by name after it (about 0.9 s of imports: pandas, boto3, papermill's plumbing, the report's module),
so that the kernel's own imports overlap them and the parameters' checks; bad input (a setting, a parameter)
dismisses it before it was ever a kernel.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
from collections.abc import Callable

from goreliable_lib.cli.report import output_options
from goreliable_lib.paths import project_root
from goreliable_lib.runner import boot

#: The runner and its parameters' parser, loaded once the kernel-to-be is started.
RUNNER, PARAMS = "goreliable_lib.runner.execute", "goreliable_lib.runner.params"


def prepare(args: argparse.Namespace) -> Callable[[], None]:
    """Start the report's kernel-to-be (as `args.kernel_to_be`); returns what dismisses it if it was never handed
    over (bad input, an interrupt: it was never a kernel)."""
    process = args.kernel_to_be = boot.spawn(boot.kernel_preload(args.name), cwd=project_root())
    return functools.partial(boot.dismiss, process)


def run(args: argparse.Namespace) -> int:
    """Run the report, print its run folder; exit 1 when it failed (the partial run is kept). `args.kernel_to_be`
    is `prepare`'s (the command dismisses it if the run never took it)."""
    runner, params = importlib.import_module(RUNNER), importlib.import_module(PARAMS)
    result = runner.run_report(args.name, params.parse_assignments(args.param or []), args.out,
                               progress=not args.quiet, files=args.file or [], pdf=args.pdf,
                               kernel_to_be=args.kernel_to_be, **output_options(args))
    print(result.location)
    if result.exit_code:
        print(f"goreliable: error: report {result.report} failed: {result.error}; the partial run is kept, "
              "marked failed", file=sys.stderr)
    return result.exit_code
