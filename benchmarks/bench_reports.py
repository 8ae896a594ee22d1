"""Benchmark: wall time of `goreliable report all` on the demo profile, sequential against parallel.

    .venv/bin/python benchmarks/bench_reports.py [--rounds 1]

Both modes are the real command in a fresh process (`python -m goreliable_lib report all --out TMP`) on the
bundled demo snapshot (no server):
- sequential: `--jobs 1`, one worker process running slo, cost and dr one after another;
- parallel: the default, one worker process (and kernel) per report.
Rounds alternate the order (parallel first, to give the first, cold-cache run to the faster mode) and the
median of each mode is kept. It prints both wall times, the ratio sequential / parallel, and each report's
own duration (summary.json `runner.duration_seconds`). Skips with a message when the demo snapshot or a
report notebook is not there yet.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from goreliable_lib.reports.registry import REPORTS, STANDARD_SUITE  # noqa: E402

DEMO_MANIFEST = ROOT / "goreliable_lib" / "data" / "demo" / "manifest.json"


def missing_prerequisites() -> list[str]:
    """What must exist before `report all` can run on the demo profile."""
    missing = [] if DEMO_MANIFEST.is_file() else [f"the demo snapshot {DEMO_MANIFEST.relative_to(ROOT)}"]
    missing += [f"notebook {REPORTS[n].notebook}" for n in STANDARD_SUITE
                if not REPORTS[n].notebook_path(ROOT).is_file()]
    return missing


def demo_env() -> dict[str, str]:
    """This environment without any GORELIABLE_* setting, on the demo profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GORELIABLE_")}
    env.update(GORELIABLE_PROFILE="demo", GORELIABLE_CONFIG=os.devnull, GORELIABLE_PROJECT_ROOT=str(ROOT))
    return env


def report_all(out: Path, jobs: int | None) -> tuple[float, dict[str, float]]:
    """Wall time of one `report all` and each report's own duration; exits on a failed suite."""
    command = [sys.executable, "-m", "goreliable_lib", "report", "all", "--out", str(out)]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    began = time.perf_counter()
    proc = subprocess.run(command, env=demo_env(), cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        sys.exit(f"`{' '.join(command[1:])}` exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    durations = {}
    for location in proc.stdout.splitlines():
        summary = json.loads((Path(location) / "summary.json").read_text())
        durations[summary["report"]] = summary["runner"]["duration_seconds"]
    return wall, durations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="rounds of both modes (median kept)")
    args = parser.parse_args(argv)
    if missing := missing_prerequisites():
        print(f"SKIPPED: bench_reports needs {', '.join(missing)} (not there yet)")
        return 0
    walls: dict[str, list[float]] = {"sequential": [], "parallel": []}
    durations: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="goreliable-bench-") as tmp:
        for number in range(args.rounds):
            order = ("parallel", "sequential") if number % 2 == 0 else ("sequential", "parallel")
            for mode in order:
                out = Path(tmp) / f"{mode}-{number}"
                wall, per_report = report_all(out, jobs=1 if mode == "sequential" else None)
                walls[mode].append(wall)
                durations[mode] = per_report
                print(f"round {number + 1} {mode:<10} {wall:7.1f} s", flush=True)
    sequential, parallel = statistics.median(walls["sequential"]), statistics.median(walls["parallel"])
    print(f"\n`goreliable report all` on the demo profile ({', '.join(STANDARD_SUITE)}), {os.cpu_count()} CPUs, "
          f"median of {args.rounds} round(s):")
    print(f"  sequential (--jobs 1)      {sequential:7.1f} s   per report: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(durations["sequential"].items())))
    print(f"  parallel (one per report)  {parallel:7.1f} s   per report: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(durations["parallel"].items())))
    print(f"  ratio sequential / parallel: {sequential / parallel:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
