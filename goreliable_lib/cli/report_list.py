"""`goreliable report list [--json]`: the reports and their parameters, from the registry (nothing runs)."""

from __future__ import annotations

import argparse
import json

from goreliable_lib.reports.registry import REPORTS, describe


def run(args: argparse.Namespace) -> int:
    """Print every report with its parameters (text, or JSON with --json)."""
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
