"""`goreliable report all`: the standard suite in parallel processes (runner/suite.py).

The server the suite's worker processes are forked from (runner/workers.py) is started first, and the suite and the
reports' specs loaded after it (about 1.5 s of imports), so that the server's own imports of the suite overlap them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from goreliable_lib.cli.report import output_options
from goreliable_lib.reports import registry
from goreliable_lib.runner import workers

#: The suite, loaded once the workers' server is starting.
SUITE = "goreliable_lib.runner.suite"


def run(args: argparse.Namespace) -> int:
    """Run the suite; print each run folder; the worst exit code of its reports."""
    workers.start_worker_server()
    suite = importlib.import_module(SUITE)
    # the suite's reports are known once every report's spec is loaded (registry.STANDARD_SUITE: 0.6 s of imports)
    results = suite.run_many([suite.RunRequest(name) for name in registry.STANDARD_SUITE], args.out, jobs=args.jobs,
                             quiet=args.quiet, **output_options(args))
    for outcome in results:
        print(outcome.location or f"{outcome.name}: not run")
        if outcome.exit_code:
            print(f"goreliable: error: report {outcome.name}: {outcome.error}", file=sys.stderr)
    return suite.worst_exit_code([outcome.exit_code for outcome in results])
