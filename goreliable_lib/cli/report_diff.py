"""`goreliable report diff RUN_A RUN_B [--json]`: the changes from one run of a report to another (runner/changes.py).

A run is a run folder (a path: relative ones start at the project root, like every path a user gives) or
`REPORT/RUN_ID` under `--out` (default <project>/reports; `s3://bucket/prefix` too; `REPORT/latest` is the newest
good run). Exit 2, naming the problem, for runs of two different reports, a missing folder or summary.json, or a
failed run (its figures are partial). Runs with other parameters are compared, with a note saying what differs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from goreliable_lib.errors import BadInputError
from goreliable_lib.paths import resolve
from goreliable_lib.runner.changes import compare, is_compared, not_compared_text, parameter_differences, run_time
from goreliable_lib.runner.index import window_text
from goreliable_lib.runner.previous import read_published_summary, read_run_folder
from goreliable_lib.runner.publish import writer_for


def locate(ref: str, out: str | None) -> dict[str, Any]:
    """The summary.json of the run `ref` names: a run folder, else `REPORT/RUN_ID` under `out`."""
    folder = resolve(Path(ref).expanduser())
    if folder.is_dir():
        return read_run_folder(folder)
    parts = ref.strip("/").split("/")
    if len(parts) == 2 and not Path(ref).is_absolute() and all(parts):
        return read_published_summary(writer_for(out), parts[0], parts[1])
    raise BadInputError(f"{ref}: no such run folder ({folder}); give a run folder or REPORT/RUN_ID under --out")


def _run(label: str, summary: dict[str, Any]) -> dict[str, Any]:
    if summary.get("status") != "ok":
        raise BadInputError(f"{label} ({summary.get('report')}/{summary.get('run_id')}) is a failed run: its "
                            "figures are partial, nothing to compare")
    return {"run_id": summary.get("run_id"), "generated_at": summary.get("generated_at"),
            "window": summary.get("window")}


def run(args: argparse.Namespace) -> int:
    """Print the changes from RUN_A to RUN_B (text, or JSON with --json); 0, or 2 for bad input."""
    before, after = locate(args.run_a, args.out), locate(args.run_b, args.out)
    if before.get("report") != after.get("report"):
        raise BadInputError(f"RUN_A is a {before.get('report')} run, RUN_B a {after.get('report')} run: diff "
                            "compares two runs of one report")
    runs = {"run_a": _run("RUN_A", before), "run_b": _run("RUN_B", after)}
    report = str(after.get("report"))
    differences = parameter_differences(before, after)
    changes = compare(before, after)
    if args.json:
        print(json.dumps({"report": report, **runs, "compared": is_compared(report),
                          "differences": differences, "changes": changes}, indent=2, ensure_ascii=False))
        return 0
    for name, summary in (("from", before), ("to", after)):
        print(f"{name} {report}/{summary.get('run_id')} ({run_time(summary.get('run_id'))}), window "
              f"{window_text(summary.get('window'))}")
    if differences:
        print("note: not the same parameters or source, compared anyway: " + "; ".join(differences))
    if not is_compared(report):
        print(not_compared_text(report))
    elif not changes:
        print("No change.")
    else:
        print(f"{len(changes)} change{'s' if len(changes) != 1 else ''}:")
        for item in changes:
            print(f"- {item['text']}")
    return 0
