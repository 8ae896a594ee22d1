"""`goreliable report run|all|list`: their arguments. Light on purpose (argparse and the registry's report names):
each handler (cli/report_run.py, report_all.py, report_list.py) is loaded by name once the arguments parsed."""

from __future__ import annotations

import argparse
from typing import Any

from goreliable_lib.reports.registry import REPORT_NAMES


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """--out, --sse, --sse-kms-key-id, --timeout and --quiet (the values are checked by the runner)."""
    parser.add_argument("--out", metavar="DIR|s3://bucket/prefix",
                        help="where runs are published (default: <project>/reports)")
    parser.add_argument("--sse", metavar="AES256|aws:kms", help="S3 server-side encryption for --out s3://")
    parser.add_argument("--sse-kms-key-id", metavar="KEY_ID", help="KMS key for --sse aws:kms")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="limit per notebook cell (default: none)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def output_options(args: argparse.Namespace) -> dict[str, Any]:
    """The runner's keyword arguments from the output options."""
    return {"sse": args.sse, "kms_key_id": args.sse_kms_key_id, "timeout": args.timeout}


def configure_run(parser: argparse.ArgumentParser) -> None:
    """The arguments of `report run`."""
    parser.add_argument("name", choices=REPORT_NAMES, metavar="NAME", help=f"one of {', '.join(REPORT_NAMES)}")
    parser.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="a parameter (YAML-typed)")
    parser.add_argument("-f", "--file", action="append", metavar="FILE.yaml", help="a YAML file of parameters")
    parser.add_argument("--pdf", nargs="?", const="A4", choices=("A4", "Letter"), metavar="A4|Letter",
                        help="also print report.pdf beside report.html (A4 unless Letter is given; the postmortem "
                             "always has one)")
    add_output_options(parser)
    parser.set_defaults(func="goreliable_lib.cli.report_run:run", prepare="goreliable_lib.cli.report_run:prepare")


def configure_all(parser: argparse.ArgumentParser) -> None:
    """The arguments of `report all`."""
    parser.add_argument("--jobs", type=int, default=None, help="parallel processes (default: one per report)")
    add_output_options(parser)
    parser.set_defaults(func="goreliable_lib.cli.report_all:run")


def configure_list(parser: argparse.ArgumentParser) -> None:
    """The arguments of `report list`."""
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func="goreliable_lib.cli.report_list:run")


def configure_diff(parser: argparse.ArgumentParser) -> None:
    """The arguments of `report diff`."""
    parser.add_argument("run_a", metavar="RUN_A", help="the earlier run: a run folder, or REPORT/RUN_ID under --out")
    parser.add_argument("run_b", metavar="RUN_B", help="the later run: a run folder, or REPORT/RUN_ID under --out")
    parser.add_argument("--out", metavar="DIR|s3://bucket/prefix",
                        help="where REPORT/RUN_ID runs are published (default: <project>/reports)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func="goreliable_lib.cli.report_diff:run")
