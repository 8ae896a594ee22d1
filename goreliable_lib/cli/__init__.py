"""The `goreliable` command. Each command group lives in its own module and registers itself here."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from goreliable_lib import __version__
from goreliable_lib.config import load_settings
from goreliable_lib.errors import GoReliableError
from goreliable_lib.signals import describe_interruption, stop_on_sigterm

#: Modules whose `register(subparsers)` adds a command group.
COMMAND_MODULES = (
    "goreliable_lib.cli.report",
    "goreliable_lib.cli.stack",
    "goreliable_lib.cli.lab",
    "goreliable_lib.cli.drill",
    "goreliable_lib.cli.demo",
    "goreliable_lib.cli.archive",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command group registered."""
    parser = argparse.ArgumentParser(
        prog="goreliable",
        description="GoReliable Notebooks: SLO, cost, DR and postmortem reports from Prometheus, Kubecost "
                    "and drill logs. Exit codes: 0 ok, 1 failed while running, 2 bad input.")
    parser.add_argument("--version", action="version", version=f"goreliable {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log what the kit does (every retry of a source, with its endpoint and query) to "
                             "stderr; give it before the command: goreliable -v report run slo")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failed while running, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    if args.verbose:
        log_to_stderr()
    stop_on_sigterm()  # Kubernetes stops a pod with SIGTERM: handled like Ctrl-C
    try:
        load_settings()  # a misspelt setting (GORELIABLE_THANOS_DEDUP=ture) is bad input before anything runs
        code = int(args.func(args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # `goreliable ... | head`: the reader left; one line, not a traceback
        return _reader_left()
    except GoReliableError as exc:
        print(f"goreliable: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # the documented codes only (0, 1, 2): an interrupted command failed while running
        print(f"goreliable: error: {describe_interruption(exc)}", file=sys.stderr)
        return 1


def _reader_left() -> int:
    """The command's output pipe was closed by its reader: exit 1 (not all of the output was delivered) with one
    line on stderr; stdout is pointed at /dev/null so that the interpreter's last flush does not fail again (the
    recipe of Python's `signal` docs)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    print("goreliable: error: the output's reader closed the pipe (e.g. `| head`); the rest was not written",
          file=sys.stderr)
    return 1


def log_to_stderr() -> None:
    """`-v`: the kit's log records (logger `goreliable_lib`, INFO and above) on stderr, one line each."""
    logger = logging.getLogger("goreliable_lib")
    if not any(getattr(handler, "name", None) == "goreliable-verbose" for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name("goreliable-verbose")
        handler.setFormatter(logging.Formatter("goreliable: %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
