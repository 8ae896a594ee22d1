"""Benchmark: where a report's time goes, `report all` sequential against parallel, and how fast the command line
answers.

    .venv/bin/python benchmarks/bench_reports.py [--parts profile,suite,cli] [--stack] [--rounds 1] [--json PATH]

Every measurement is the real command in a fresh process (`goreliable ...`, this checkout's code first on
PYTHONPATH), on the bundled demo snapshot (GORELIABLE_PROFILE=demo GORELIABLE_CONFIG=/dev/null, no server) and,
with `--stack` (profile only), also on the local stack (goreliable_lib.devstack.stack.manager.LocalStack: real
Prometheus, moto S3 and Kubecost servers on 127.0.0.1, started for the benchmark and stopped at its end). No
command is given a URL off 127.0.0.1 (benchmarks/harness.py `local_env`).

**profile**: one run of each report (slo, cost, dr, postmortem -f params/postmortem-demo.yaml) with `goreliable -v`,
its wall time (spawn to exit) split into rows that add up to it:
- CLI start: spawn to the run's first recorded phase: the interpreter, the CLI, the parameters resolved, the run
  folder made and the kernel launched (not yet started). Measured as the arrival of the runner's
  "report X: running ... as run ..." line on stderr (written once its stages are loaded) less `checks` and `load`;
- parameter checks, runner load, kernel wait: summary.json `runner.phases` `checks` (the input files: catalogs,
  targets, budgets), `load` (papermill and nbconvert, while the kernel starts), `kernel_wait`;
- one row per code cell: papermill's `metadata.papermill.duration` in the run's report.ipynb, labelled by the cell's
  first statement that is not an import (the setup cell's first line is an import), or by its tag for the
  parameters cells. PNG export is not a row of its own: a figure's PNG, when a cell asks for one
  (`run.show_figure(..., png=True)`), is rendered inside that cell and counts in its time;
- papermill between cells: `runner.phases.notebook` less `kernel_wait` and the cells (papermill's saves of the
  notebook, nbclient's messages, the kernel's shutdown);
- finalise (HTML), PDF and publish + index: the "finalised in N s", "report.pdf printed in N s" (the postmortem,
  or `--pdf`; 0 for a run that prints none) and "published (and the index rebuilt) in N s" lines the runner logs
  at INFO (the reports are published into one folder, one after another, as `make demo` does, so
  the index grows as it would there);
- exit: from the arrival of the runner's last line ("report X: ok in ...") to the process's end (the CLI printing the
  run folder, the interpreter's shutdown);
- the rest: the wall less all of the above (the gaps between the phases the runner records).
Plus the peak RSS of the run's process tree (runner and kernel). Printed as one table, one column per report,
then each report's cells.

**suite**: `goreliable report all` on the demo, sequential (`--jobs 1`) against parallel (the default, one worker
process and kernel per report): wall time and peak RSS of the whole process tree (runner, workers, kernels; psutil
polled every 50 ms, harness.run_tree) against the memory limit of the CronJob's pod (deploy/base/report-pod.yaml,
3 GiB). `--rounds` alternate the order (parallel first, giving the cold-cache run to the faster mode); the median
wall and the largest peak of each mode are kept.

**cli**: the time to answer of `--help`, `--version`, `report list`, a misspelt command and `report run nosuch`
(median of 5 runs each, each checked for its documented exit code: 0, or 2 for bad input).

The results are also written as JSON (`--json`, default benchmarks/results/profile-<date>.json; results are not
committed, see .gitignore). Exit status: 0 when every command answered as documented; 1 when a run failed (its
stderr's end is printed); a part whose prerequisites are missing (the demo snapshot, a notebook; with --stack,
Prometheus, promtool or moto) is SKIPPED with a message, not failed. On a shared machine absolute times move with
the load: the load average is printed and kept beside the results.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from harness import GIB, Measured, local_env, run_tree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from goreliable_lib.devstack.stack.manager import LocalStack  # noqa: E402
from goreliable_lib.errors import StackError  # noqa: E402
from goreliable_lib.reports.registry import REPORTS, STANDARD_SUITE  # noqa: E402

DEMO_MANIFEST = ROOT / "goreliable_lib" / "data" / "demo" / "manifest.json"
POD_MANIFEST = ROOT / "deploy" / "base" / "report-pod.yaml"
#: The reports profiled, with their arguments (the postmortem needs an incident: the demo's).
PROFILED = {"slo": [], "cost": [], "dr": [], "postmortem": ["-f", "params/postmortem-demo.yaml"]}
#: The command-line answers timed, with their documented exit code.
CLI_ANSWERS = {"--help": (["--help"], 0), "--version": (["--version"], 0), "report list": (["report", "list"], 0),
               "misspelt command (reprot)": (["reprot"], 2), "report run nosuch": (["report", "run", "nosuch"], 2)}
CLI_REPEATS = 5
PARTS = ("profile", "suite", "cli")

_RUNNING = re.compile(r"^report (\S+): running .* as run \S+$")
_FINALISED = re.compile(r"report (\S+): finalised in ([0-9.]+) s")
_PRINTED = re.compile(r"report (\S+): report.pdf printed in ([0-9.]+) s")
_PUBLISHED = re.compile(r"report (\S+): published \(and the index rebuilt\) in ([0-9.]+) s")
_DONE = re.compile(r"^report (\S+): (ok|FAILED)\b")


def goreliable() -> list[str]:
    """The `goreliable` command of this interpreter's environment (its console script, as users run it)."""
    script = Path(sys.executable).with_name("goreliable")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "goreliable_lib"]


def missing_demo() -> list[str]:
    """What must exist before the reports can run on the demo profile."""
    missing = [] if DEMO_MANIFEST.is_file() else [f"the demo snapshot {DEMO_MANIFEST.relative_to(ROOT)}"]
    missing += [f"notebook {REPORTS[n].notebook}" for n in {*STANDARD_SUITE, *PROFILED}
                if not REPORTS[n].notebook_path(ROOT).is_file()]
    return sorted(missing)


def kit_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of a measured command: local only (harness.local_env), this checkout's code first, `extra`."""
    env = local_env({"GORELIABLE_CONFIG": os.devnull, "GORELIABLE_PROJECT_ROOT": str(ROOT), **extra})
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def demo_env() -> dict[str, str]:
    return kit_env({"GORELIABLE_PROFILE": "demo"})


def pod_memory_limit() -> int:
    """The CronJob pod's memory limit in bytes (deploy/base/report-pod.yaml; `3Gi`)."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9}
    cronjob = yaml.safe_load(POD_MANIFEST.read_text())
    (container,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    quantity = str(container["resources"]["limits"]["memory"])
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", quantity).groups()  # type: ignore[union-attr]
    return int(float(number) * units.get(unit, 1))


# -- profile ----------------------------------------------------------------------------------------------------------


def cell_label(cell: Mapping[str, Any], width: int = 60) -> str:
    """A code cell's label: its tag for the parameters cells, else its first statement that is not an import (its
    first line when it does not parse, e.g. a magic)."""
    tags = cell.get("metadata", {}).get("tags") or []
    for tag in ("injected-parameters", "parameters"):
        if tag in tags:
            return f"({tag})"
    source = "".join(cell.get("source", ""))
    lines = source.splitlines()
    try:
        statements = [s for s in ast.parse(source).body if not isinstance(s, ast.Import | ast.ImportFrom)]
        line = lines[statements[0].lineno - 1] if statements else next(iter(lines), "")
    except SyntaxError:
        line = next((x for x in lines if x.strip() and not x.lstrip().startswith("#")), "")
    line = line.strip()
    return line if len(line) <= width else line[:width - 3] + "..."


def cell_times(notebook: Path) -> list[tuple[str, float]]:
    """(label, papermill's duration) of each code cell of an executed notebook, in order."""
    cells = [c for c in json.loads(notebook.read_text())["cells"] if c.get("cell_type") == "code"]
    return [(cell_label(c), c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0) for c in cells]


def _logged(pattern: re.Pattern[str], lines: list[tuple[float, str]]) -> tuple[float, re.Match[str]] | None:
    """(arrival, match) of the first stderr line matching `pattern`."""
    for arrived, line in lines:
        if match := pattern.search(line):
            return arrived, match
    return None


def profile_run(report: str, args: list[str], env: Mapping[str, str], out: Path) -> dict[str, Any]:
    """One run of `report` with `-v`, split into the rows of the module's docstring; `error` set when it failed."""
    command = [*goreliable(), "-v", "report", "run", report, *args, "--out", str(out)]
    measured = run_tree(command, env, cwd=ROOT)
    result: dict[str, Any] = {"command": " ".join(command[len(goreliable()):]), "wall": measured.wall_seconds,
                              "peak_bytes": measured.peak_bytes}
    location = measured.stdout.strip().splitlines()[-1:] if measured.returncode == 0 else []
    if not location or not (Path(location[0]) / "summary.json").is_file():
        result["error"] = f"exit {measured.returncode}: {measured.stderr[-3000:]}"
        return result
    run_folder = Path(location[0])
    phases = json.loads((run_folder / "summary.json").read_text())["runner"].get("phases", {})
    cells = cell_times(run_folder / "report.ipynb")
    running = _logged(_RUNNING, measured.stderr_lines)
    finalised = _logged(_FINALISED, measured.stderr_lines)
    printed = _logged(_PRINTED, measured.stderr_lines)
    published = _logged(_PUBLISHED, measured.stderr_lines)
    done = _logged(_DONE, measured.stderr_lines)
    checks, load = phases.get("checks"), phases.get("load")
    rows: dict[str, float | None] = {
        "CLI start": running[0] - checks - load if running and checks is not None and load is not None else None,
        "parameter checks": checks, "runner load": load, "kernel wait": phases.get("kernel_wait"),
        "cells": sum(seconds for _, seconds in cells),
        "papermill between cells": (phases["notebook"] - phases.get("kernel_wait", 0.0) - sum(s for _, s in cells)
                                    if "notebook" in phases else None),
        "finalise (HTML)": float(finalised[1].group(2)) if finalised else None,
        "PDF": float(printed[1].group(2)) if printed else 0.0,
        "publish + index": float(published[1].group(2)) if published else None,
        "exit": measured.wall_seconds - done[0] if done else None}
    rows["the rest"] = measured.wall_seconds - sum(v for v in rows.values() if v is not None)
    result.update(rows=rows, cells=cells, phases=phases,
                  unmeasured=[name for name, value in rows.items() if value is None])
    return result


ROWS = ("CLI start", "parameter checks", "runner load", "kernel wait", "cells", "papermill between cells",
        "finalise (HTML)", "PDF", "publish + index", "exit", "the rest")


def print_profile(where: str, profile: dict[str, dict[str, Any]]) -> None:
    """The table (one column per report) and each report's cells."""
    names = list(profile)
    print(f"\n## One run of each report on the {where} (seconds; rows add up to the wall)")
    print(f"{'':28}" + "".join(f"{name:>12}" for name in names))

    def row(label: str, values: list[str]) -> None:
        print(f"{label:28}" + "".join(f"{v:>12}" for v in values))

    for name in ROWS:
        row(name, [_seconds(profile[r].get("rows", {}).get(name)) if "error" not in profile[r] else "failed"
                   for r in names])
    row("wall", [_seconds(profile[r]["wall"]) for r in names])
    row("peak RSS (runner + kernel)", [f"{profile[r]['peak_bytes'] / GIB:.2f} GiB" for r in names])
    for name in names:
        if "error" in profile[name]:
            print(f"\n{name}: FAILED ({profile[name]['command']}):\n{profile[name]['error']}")
            continue
        print(f"\n{name} cells ({profile[name]['command']}):")
        for number, (label, seconds) in enumerate(profile[name]["cells"], start=1):
            print(f"  [{number:2}] {seconds:6.2f} s  {label}")
        if profile[name]["unmeasured"]:
            print(f"  not measured (the runner's log or phases changed?): {', '.join(profile[name]['unmeasured'])}")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def profile_reports(reports: list[str], env: Mapping[str, str], folder: Path) -> dict[str, dict[str, Any]]:
    profile = {}
    for report in reports:
        profile[report] = profile_run(report, PROFILED[report], env, folder)  # one reports folder, as `make demo`
        state = "FAILED" if "error" in profile[report] else f"{profile[report]['wall']:.1f} s"
        print(f"# profiled {report}: {state}", file=sys.stderr, flush=True)
    return profile


@contextmanager
def local_stack(folder: Path) -> Iterator[dict[str, str] | str]:
    """The environment of a local stack started for the benchmark (stopped on leaving), or why it could not start."""
    stack = LocalStack(folder)
    try:
        state = stack.start()
    except StackError as exc:
        yield f"the local stack did not start: {exc}"
        return
    try:
        yield kit_env(state.env())
    finally:
        stack.stop()


# -- suite ------------------------------------------------------------------------------------------------------------


def report_all(out: Path, jobs: int | None) -> tuple[Measured, dict[str, float]]:
    """One `report all` measured, and each report's own duration; SystemExit when the suite failed."""
    command = [*goreliable(), "report", "all", "--out", str(out), *(["--jobs", str(jobs)] if jobs else [])]
    measured = run_tree(command, demo_env(), cwd=ROOT)
    if measured.returncode != 0:
        raise SystemExit(f"FAILED: `{' '.join(command[1:])}` exited {measured.returncode}:\n{measured.stderr[-3000:]}")
    durations = {}
    for location in measured.stdout.splitlines():
        summary = json.loads((Path(location) / "summary.json").read_text())
        durations[summary["report"]] = summary["runner"]["duration_seconds"]
    return measured, durations


def bench_suite(rounds: int, folder: Path) -> dict[str, Any]:
    walls: dict[str, list[float]] = {"sequential": [], "parallel": []}
    peaks: dict[str, list[int]] = {"sequential": [], "parallel": []}
    durations: dict[str, dict[str, float]] = {}
    for number in range(rounds):
        order = ("parallel", "sequential") if number % 2 == 0 else ("sequential", "parallel")
        for mode in order:
            jobs = 1 if mode == "sequential" else None
            measured, durations[mode] = report_all(folder / f"{mode}-{number}", jobs)
            walls[mode].append(measured.wall_seconds)
            peaks[mode].append(measured.peak_bytes)
            print(f"# round {number + 1} {mode:<10} {measured.wall_seconds:7.1f} s, peak "
                  f"{measured.peak_bytes / GIB:.2f} GiB", file=sys.stderr, flush=True)
    return {mode: {"wall": statistics.median(walls[mode]), "walls": walls[mode], "peak_bytes": max(peaks[mode]),
                   "durations": durations[mode]} for mode in walls} | {"rounds": rounds}


def print_suite(suite: dict[str, Any], pod_limit: int) -> None:
    print(f"\n## `goreliable report all` on the demo ({', '.join(STANDARD_SUITE)}), median of {suite['rounds']} "
          f"round(s); peak RSS of the whole process tree against the CronJob pod's {pod_limit / GIB:.0f} GiB")
    for mode, label in (("sequential", "sequential (--jobs 1)"), ("parallel", "parallel (one per report)")):
        peak = suite[mode]["peak_bytes"]
        print(f"  {label:27} {suite[mode]['wall']:7.1f} s   peak {peak / GIB:.2f} GiB ({peak / pod_limit:.0%} of the "
              "pod)   per report: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(suite[mode]["durations"].items())))
    print(f"  ratio sequential / parallel: {suite['sequential']['wall'] / suite['parallel']['wall']:.2f}x")


# -- cli --------------------------------------------------------------------------------------------------------------


def bench_cli() -> dict[str, Any]:
    """Each answer's median wall time over CLI_REPEATS runs; `error` when an exit code is not the documented one."""
    answers: dict[str, Any] = {}
    for label, (args, expected) in CLI_ANSWERS.items():
        walls, codes = [], set()
        for _ in range(CLI_REPEATS):
            started = time.perf_counter()
            proc = subprocess.run([*goreliable(), *args], env=demo_env(), cwd=ROOT, capture_output=True, text=True,
                                  check=False, timeout=120)
            walls.append(time.perf_counter() - started)
            codes.add(proc.returncode)
        answers[label] = {"median": statistics.median(walls), "walls": walls, "exit": sorted(codes)}
        if codes != {expected}:
            answers[label]["error"] = f"exit {sorted(codes)}, documented {expected}: {proc.stderr[-500:]}"
    return answers


def print_cli(answers: dict[str, Any]) -> None:
    print(f"\n## The command line's answers (median of {CLI_REPEATS} runs, demo profile)")
    for label, answer in answers.items():
        state = f"FAILED: {answer['error']}" if "error" in answer else f"exit {answer['exit'][0]}"
        print(f"  goreliable {label:28} {answer['median']:6.2f} s   {state}")


# -- main -------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--stack", action="store_true", help="profile the reports on the local stack too")
    parser.add_argument("--reports", default=",".join(PROFILED), help=f"the reports profiled, of {', '.join(PROFILED)}")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of both `report all` modes (median kept)")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" /
                        f"profile-{dt.date.today().isoformat()}.json", help="where to write the results as JSON")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if unknown := [p for p in parts if p not in PARTS]:
        parser.error(f"--parts: unknown {', '.join(unknown)} (known: {', '.join(PARTS)})")
    reports = [r.strip() for r in args.reports.split(",") if r.strip()]
    if unknown := [r for r in reports if r not in PROFILED]:
        parser.error(f"--reports: unknown {', '.join(unknown)} (known: {', '.join(PROFILED)})")
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    if missing := missing_demo():
        print(f"SKIPPED: bench_reports needs {', '.join(missing)} (not there yet)")
        return 0
    results: dict[str, Any] = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
                               "load_average_before": os.getloadavg()}
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="goreliable-bench-") as scratch:
        folder = Path(scratch)
        if "profile" in parts:
            results["profile"] = {"demo": profile_reports(reports, demo_env(), folder / "demo")}
            print_profile("demo snapshot", results["profile"]["demo"])
            if args.stack:
                with local_stack(folder / "stack") as env:
                    if isinstance(env, str):
                        print(f"\nSKIPPED: the profile on the local stack: {env}")
                    else:
                        results["profile"]["stack"] = profile_reports(reports, env, folder / "stack-runs")
                        print_profile("local stack", results["profile"]["stack"])
            failed += [f"profile {where} {name}" for where, runs in results["profile"].items()
                       for name, run in runs.items() if "error" in run]
        if "suite" in parts:
            pod_limit = pod_memory_limit()
            results["suite"] = bench_suite(args.rounds, folder / "suite") | {"pod_limit_bytes": pod_limit}
            print_suite(results["suite"], pod_limit)
        if "cli" in parts:
            results["cli"] = bench_cli()
            print_cli(results["cli"])
            failed += [f"cli {label}" for label, answer in results["cli"].items() if "error" in answer]
    results["load_average_after"] = os.getloadavg()
    print(f"\n{os.cpu_count()} CPUs; load average (1, 5, 15 min) before {_load(results['load_average_before'])}, "
          f"after {_load(results['load_average_after'])}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written: {args.json}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _load(values: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.1f}" for v in values)


if __name__ == "__main__":
    sys.exit(main())
