"""The `goreliable` command: a registry of commands, each loaded by name only when it runs.

`COMMANDS` lists every command by its words (`report run`), one line of help, and the function that adds its
arguments (`"module:function"`, called with the command's parser), which sets `func` on the parser: the handler
(`handler(args) -> exit code`), or its name as `"module:function"`, loaded only after the arguments parsed (as
papermill loads its engines by name). Building the parser imports only what configures the command being run: the
others are bare entries, enough for `--help` and for argparse to refuse a misspelt name. So `goreliable --help`,
`--version`, a typo or a bad option answers without loading pandas, papermill or boto3; `report run` loads the
runner once its arguments are known good.

A command may also set `prepare` (`"module:function"`, called with the parsed arguments before the settings are
loaded, returning what undoes it or None): `report run` starts its kernel-to-be there (runner/boot.py), since the
kernel's imports are the longest part of a run's start; whatever then fails, the undo runs once the command ends.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from goreliable_lib import __version__
from goreliable_lib.errors import GoReliableError
from goreliable_lib.signals import describe_interruption, stop_on_sigterm

EXIT_CODES = "Exit codes: 0 ok, 1 failed while running, 2 bad input."
#: The settings' loader (pydantic: 0.2 s of imports), loaded by name once a command's `prepare` has run.
LOAD_SETTINGS = "goreliable_lib.config:load_settings"


@dataclass(frozen=True)
class Command:
    """One command: its words, its help line, and the `"module:function"` that adds its arguments and handler (None:
    a group, whose commands are those whose words start with its own)."""

    words: tuple[str, ...]
    help: str
    configure: str | None = None
    description: str | None = None


COMMANDS: tuple[Command, ...] = (
    Command(("report",), "run, list and publish reports",
            description="Exit codes: 0 ok, 1 failed while running (partial run kept, marked failed), 2 bad input "
                        "(nothing executed)."),
    Command(("report", "run"), "run one report and print its run folder", "goreliable_lib.cli.report:configure_run"),
    Command(("report", "all"), "run the standard suite (slo, cost, dr) in parallel processes",
            "goreliable_lib.cli.report:configure_all"),
    Command(("report", "list"), "list the reports and their parameters", "goreliable_lib.cli.report:configure_list"),
    Command(("report", "diff"), "the changes between two runs of one report (text, or --json)",
            "goreliable_lib.cli.report:configure_diff"),
    Command(("stack",), "the local stack (Prometheus or VictoriaMetrics, S3, Kubecost on 127.0.0.1)",
            "goreliable_lib.cli.stack:configure"),
    Command(("lab",), "JupyterLab on notebooks/, pointed at the local stack (started or reused), the demo, a "
                      "snapshot or your servers (make lab)", "goreliable_lib.cli.lab:configure",
            description="JupyterLab on notebooks/ on 127.0.0.1. Extra arguments after -- go to JupyterLab."),
    Command(("drill",), "record disaster-recovery drill events", "goreliable_lib.cli.drill:configure"),
    Command(("demo",), "the bundled demo snapshot", "goreliable_lib.cli.demo:configure"),
    Command(("archive",), "the SLO event archive (days kept beyond retention)", "goreliable_lib.cli.archive:configure"),
    Command(("rules",), "the Prometheus recording and alerting rules of a burn-rate rule set for a catalog's SLOs",
            "goreliable_lib.cli.rules:configure",
            description="Prints a Prometheus rule file or a PrometheusRule object to standard output. Exit codes: "
                        "0 ok, 2 bad input (a catalog or rule set the rules cannot express)."),
)


def _children(prefix: tuple[str, ...]) -> list[Command]:
    return [c for c in COMMANDS if len(c.words) == len(prefix) + 1 and c.words[:len(prefix)] == prefix]


def chosen_command(argv: Sequence[str]) -> tuple[str, ...]:
    """The words of the command `argv` names, as far as they name one (options before it skipped)."""
    words: tuple[str, ...] = ()
    for token in argv:
        if token.startswith("-"):
            continue
        known = {c.words[-1]: c for c in _children(words)}
        if token not in known:
            break
        words = known[token].words
        if known[token].configure is not None:
            break
    return words


def _add_commands(subparsers: argparse._SubParsersAction, prefix: tuple[str, ...],  # type: ignore[type-arg]
                  chosen: tuple[str, ...] | None) -> None:
    for command in _children(prefix):
        parser = subparsers.add_parser(command.words[-1], help=command.help,
                                       description=command.description or command.help)
        if command.configure is None:
            dest = "_".join(command.words) + "_command"
            _add_commands(parser.add_subparsers(dest=dest, metavar="COMMAND", required=True), command.words, chosen)
        elif chosen is None or chosen[:len(command.words)] == command.words:
            load(command.configure)(parser)


def load(name: str) -> Any:
    """The object named `"package.module:attribute"`, its module imported."""
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the module of the command `argv` names is imported (every one when None)."""
    parser = argparse.ArgumentParser(
        prog="goreliable",
        description="GoReliable Notebooks: SLO, cost, DR and postmortem reports from Prometheus, Kubecost "
                    "and drill logs. " + EXIT_CODES)
    parser.add_argument("--version", action="version", version=f"goreliable {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log what the kit does (every retry of a source, with its endpoint and query) to "
                             "stderr; give it before the command: goreliable -v report run slo")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_commands(subparsers, (), None if argv is None else chosen_command(argv))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failed while running, 2 bad input)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments)
    args = parser.parse_args(arguments)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    if args.verbose:
        log_to_stderr()
    stop_on_sigterm()  # Kubernetes stops a pod with SIGTERM: handled like Ctrl-C
    undo = None
    try:
        undo = load(args.prepare)(args) if getattr(args, "prepare", None) else None
        load(LOAD_SETTINGS)()  # a misspelt setting (GORELIABLE_THANOS_DEDUP=ture) is bad input before anything runs
        handler = load(args.func) if isinstance(args.func, str) else args.func
        code = int(handler(args) or 0)
        sys.stdout.flush()
        # a run leaves hundreds of thousands of objects (pandas, papermill, nbconvert) that the interpreter's last
        # garbage collection would walk one by one at exit (0.5 s, seconds on a busy machine): nothing in them needs
        # collecting any more, so they are set aside (gc.freeze); every file is closed and flushed as usual
        gc.freeze()
        return code
    except BrokenPipeError:  # `goreliable ... | head`: the reader left; one line, not a traceback
        return _reader_left()
    except GoReliableError as exc:
        print(f"goreliable: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # the documented codes only (0, 1, 2): an interrupted command failed while running
        print(f"goreliable: error: {describe_interruption(exc)}", file=sys.stderr)
        return 1
    finally:
        if undo is not None:
            undo()


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
