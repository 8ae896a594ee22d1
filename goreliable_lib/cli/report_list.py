"""`goreliable report list [--json]`: the reports and their parameters, from the registry (nothing runs; the
registry's cached list answers without importing a report)."""

from __future__ import annotations

import argparse
import json

from goreliable_lib.reports.registry import report_list


def run(args: argparse.Namespace) -> int:
    """Print every report with its parameters (text, or JSON with --json)."""
    listed = report_list()
    if args.json:
        print(json.dumps({name: {"notebook": r["notebook"], "parameters": r["parameters"]}
                          for name, r in listed.items()}, indent=2))
        return 0
    for name, report in listed.items():
        print(f"{name}: {report['title']} ({report['notebook']}; defaults also from {report['default_param_file']})")
        for p in report["parameters"]:
            default = "(required)" if p["required"] else f"default {p['default']!r}"
            print(f"  {p['name']:<15} {p['type']:<7} {default:<28} {p['help']}")
    return 0
