"""`goreliable demo record`: re-record the bundled demo snapshot from the local stack.

The demo profile replays `goreliable_lib/data/demo/`. It holds exactly what the standard reports (with their
default parameters, ending at the simulation's `as_of`) and `notebooks/explore.ipynb` fetch, so every report
and the explore notebook run with no server. Recording: start the local stack (or use the one `stack up`
started), run each report against it with the kit pointed at it, then merge the run folders' `data/`
snapshots into the package.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import papermill

from goreliable_lib.analysis.slo import LOOKBACK
from goreliable_lib.devstack.sim.timeline import HISTORY_DAYS
from goreliable_lib.devstack.stack.manager import LocalStack, read_state
from goreliable_lib.errors import GoReliableError
from goreliable_lib.events.archive import backfill, counted_objectives
from goreliable_lib.inputs.catalog import read_catalog
from goreliable_lib.paths import project_root
from goreliable_lib.runner.execute import run_report
from goreliable_lib.sources.archive import ArchiveSource
from goreliable_lib.sources.connect import connect, demo_snapshot_path
from goreliable_lib.sources.snapshot import merge_snapshots
from goreliable_lib.timeutil import parse_time

#: The reports the demo covers, with the parameters `make demo` runs them with.
DEMO_RUNS: tuple[tuple[str, dict[str, str]], ...] = (
    ("slo", {}),
    ("cost", {}),
    ("dr", {}),
    ("postmortem", {}),
    ("slo-review", {}),
)
EXPLORE_NOTEBOOK = "notebooks/explore.ipynb"


def demo_endpoints(seed: int, drills_uri: str) -> dict[str, str]:
    """The demo snapshot's `endpoints` (what a demo run's summary.json shows as its source): where the data came
    from in words, not the recording stack's loopback URLs, which meant nothing once it stopped. The drills URI
    stays: the drill source replays its requests under it."""
    origin = f"goreliable simulator (seed {seed}), recorded from the local stack"
    return {"prometheus": origin, "kubecost": origin, "drills": drills_uri}


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def fill_archive(archive: ArchiveSource, as_of: pd.Timestamp) -> None:
    """The SLO event archive the demo's SLO report reads its compliance history from: every whole day the stack
    holds up to the one in which the report's window and its alerts' lookback start (as earlier weekly runs would
    have kept them)."""
    catalog = read_catalog(project_root() / "params" / "slos.yaml")
    first = (as_of - pd.Timedelta(days=HISTORY_DAYS)).ceil("D")
    before_window = (as_of - pd.Timedelta(days=30) - LOOKBACK).ceil("D")  # the day the window's lookback starts in
    backfill(connect("live").prometheus, archive, counted_objectives(catalog.slos), first, before_window)


def record_demo(target: Path, workdir: Path, *, postmortem_params: Path | None = None) -> int:
    """Start a stack, run every demo report against it, and merge what they fetched into `target`."""
    root = project_root()
    state = read_state()
    stack = None
    if state is None:
        stack = LocalStack(workdir / "stack")
        state = stack.start()
    snapshots: list[Path] = []
    try:
        archive = workdir / "archive"
        with _environment({**state.env(), "GORELIABLE_CONFIG": os.devnull}):
            fill_archive(ArchiveSource(str(archive)), parse_time(state.as_of, field="as_of"))
            for name, parameters in DEMO_RUNS:
                files = [root / "params" / f"{name}.yaml"]
                if name == "postmortem":
                    files.append(postmortem_params or root / "params" / "postmortem-demo.yaml")
                own = workdir / f"archive-{name}"  # each report sees the filled archive, not another's days
                shutil.copytree(archive, own)
                with _environment({"GORELIABLE_ARCHIVE_URI": str(own)}):
                    result = run_report(name, parameters, out=workdir / "reports", files=files)
                if result.exit_code != 0:
                    raise GoReliableError(f"demo recording: report {name} failed ({result.error}); "
                                          f"see {result.location}")
                snapshots.append(Path(result.location) / "data")
            explore = workdir / "explore"
            with _environment({"GORELIABLE_RECORD": str(explore)}):
                papermill.execute_notebook(str(root / EXPLORE_NOTEBOOK), str(workdir / "explore.ipynb"),
                                           cwd=str(root), progress_bar=False)
            snapshots.append(explore)
        count = merge_snapshots(snapshots, target, as_of=state.as_of, endpoints=demo_endpoints(state.seed,
                                                                                               state.drills_uri))
    finally:
        if stack is not None:
            stack.stop()
    return count


def _cmd_record(args: argparse.Namespace) -> int:
    target = Path(args.out) if args.out else demo_snapshot_path()
    with tempfile.TemporaryDirectory(prefix="goreliable-demo-") as scratch:
        staging = Path(scratch) / "snapshot"
        count = record_demo(staging, Path(scratch))
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(staging, target)
    size = sum(p.stat().st_size for p in target.iterdir())
    print(f"recorded {count} results ({size / 1e6:.1f} MB) into {target}", file=sys.stderr)
    return 0


def configure(demo: argparse.ArgumentParser) -> None:
    """The commands of `demo`: record."""
    commands = demo.add_subparsers(dest="demo_command", metavar="record", required=True)
    record = commands.add_parser("record", help="re-record the demo snapshot from the local stack")
    record.add_argument("--out", default=None, help="snapshot folder (default: the package's data/demo)")
    record.set_defaults(func=_cmd_record)
