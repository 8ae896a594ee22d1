"""Benchmark: the SLO report at production scale, beside Google's slo-generator 2.6.0 and the plain PromQL ratio.

    .venv/bin/python benchmarks/bench_slo_scale.py [--datasets 80,400,1000,crash15] [--memory-limit-gib 8]

Datasets (goreliable_lib.devstack.sim.scale, one service `checkout`, `http_requests_total{pod,route,code}`, 34 days
of history so the report's 30 days and its 3-day alert lookback are held; 2 pod restarts and one 12-minute scrape
gap each): `80`, `400` and `1000` series scraped every 30 s, and `crash15`: 80 series every 15 s with one pod
crash-looping for two hours (a restart every 150 s, half its requests failing). Each is backfilled once into a real
Prometheus 2.42 (cached under ~/.cache/goreliable/tsdb) and served by one server on 127.0.0.1 for all three tools:

- the kit: `goreliable report run slo -p catalog=<checkout availability> -p window=30d -p end=<end>` (a real
  papermill kernel), its figures read from summary.json;
- slo-generator 2.6.0 in its own venv (~/.cache/goreliable/bench/slo-generator-2.6.0, installed on first use
  with `setuptools<70`), `good_bad_ratio` on its Prometheus backend, its good/bad counts read from its report
  line. Its backend sends no `time` (it ignores `--timestamp`), so it is given the window that reaches from the
  server's *now* back to the SLO window's start; the server holds nothing after the history's end, so the events
  are those of the same 30 days (its `increase()` extrapolation aside);
- the server-side PromQL ratio `sum(increase(good[30d])) / sum(increase(total[30d]))`, an instant query at end.

Wall time is the whole command (for PromQL: the HTTP round trip). Peak memory is the peak over the run of the sum
of the RSS of the command's whole process tree (runner and kernel; benchmarks/harness.py: psutil polled every 50 ms;
pages shared between processes count in each), not the server's. A run whose tree grows past `--memory-limit-gib` is
killed (the tree) and shown as "killed at N GiB". Exactness: each tool's SLI against the ground truth (events of the
samples in (end - 30d, end]), and its event counts' difference.

The kit's fixed cost: its wall time less the papermill durations of the notebook's cells that fetch and build the
events (the cells calling `fetch(` or `build(`: today the setup cell, which also runs `current_run`, cheap now that
the kernel preloads the report's modules). So it is everything else: CLI start, the runner's checks and loading,
the kernel's start, papermill between cells, the other cells (tables, figures and PNGs, `run.finish`), the page
and publishing. Those other cells do grow a little with the data (the compliance history, the data quality table),
so the share is a slight overestimate at scale. Chosen over "the wall on a tiny dataset": it comes from the same
run (no extra run, whose own noise on a shared machine would swamp the difference). Printed per dataset: the kit's
seconds in those cells, the fixed seconds and their share of its wall,
and summary.json `runner.phases`; then one comparison line per dataset: the three tools' walls, the kit's and
slo-generator's peak RSS, kit / slo-generator, the fixed share, the fetch cells / slo-generator, and whether the
kit's events equal the truth's.

Exit status: 0 when every tool ran and the kit is exact; 1 when a tool failed, the kit was killed or is not exact,
or a server could not be built or started; "SKIPPED" (exit 0) without Prometheus and promtool. slo-generator is
installed from PyPI on first use; when that fails its column says "skipped" and the rest still runs. Every server is
on 127.0.0.1 and every command gets NO_PROXY for it (harness.local_env).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from harness import GIB, local_env, local_url, run_tree

from goreliable_lib.devstack.sim.scale import ScaleConfig, ScaleWorld
from goreliable_lib.devstack.stack.backends import build_world, start_server
from goreliable_lib.devstack.stack.prometheus import find_binaries
from goreliable_lib.errors import StackError

DATASETS = {
    "80": ScaleConfig(pods=4, routes=5, days=34),
    "400": ScaleConfig(pods=10, routes=10, days=34),
    "1000": ScaleConfig(pods=10, routes=25, days=34),
    "crash15": ScaleConfig(pods=4, routes=5, days=34, scrape_interval_seconds=15, crash_loop=True),
}
WINDOW = pd.Timedelta(days=30)
SLO_GENERATOR = "slo-generator[prometheus]==2.6.0"
BENCH_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "goreliable" / "bench"
#: The kit's cells that fetch and build the events (their own durations are the variable part of its wall time).
EVENTS_CELL = re.compile(r"\b(fetch|build)\(")


@dataclasses.dataclass
class Run:
    """One tool's run on one dataset."""

    tool: str
    wall_seconds: float
    peak_bytes: int | None = None
    good: float | None = None
    total: float | None = None
    killed_at: int | None = None
    error: str | None = None
    skipped: str | None = None  # why the tool was not run (a missing prerequisite)
    events_seconds: float | None = None  # the kit only: its cells that fetch and build the events
    phases: dict[str, float] | None = None  # the kit only: summary.json runner.phases

    @property
    def fixed_seconds(self) -> float | None:
        """The kit's fixed cost: its wall time less its cells that fetch and build the events."""
        return None if self.events_seconds is None else max(self.wall_seconds - self.events_seconds, 0.0)

    @property
    def sli(self) -> float | None:
        return self.good / self.total if self.good is not None and self.total else None


def run_measured(command: list[str], env: dict[str, str], limit_bytes: int, timeout: float) -> tuple[Run, str]:
    """Run `command` measuring its whole process tree (harness.run_tree, stderr merged into the output); its tree
    is killed past `limit_bytes` or `timeout` seconds."""
    measured = run_tree(command, env, limit_bytes=limit_bytes, timeout=timeout, merge_stderr=True)
    run = Run(command[0], measured.wall_seconds, measured.peak_bytes, killed_at=measured.killed_at)
    if measured.killed_at is None and measured.returncode != 0:
        run.error = f"exit {measured.returncode}: {measured.stdout[-600:]}"
    return run, measured.stdout


def slo_generator_bin() -> Path | str:
    """slo-generator 2.6.0 in its own venv, installed on first use (from PyPI, with pip); why not, when it cannot be
    installed."""
    venv = BENCH_CACHE / "slo-generator-2.6.0"
    binary = venv / "bin" / "slo-generator"
    if not binary.exists():
        print(f"# installing {SLO_GENERATOR} into {venv} ...", file=sys.stderr)
        try:
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "setuptools<70", SLO_GENERATOR],
                           check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            return f"{SLO_GENERATOR} could not be installed into {venv} ({exc})"
    return binary


def run_kit(url: str, world: ScaleWorld, folder: Path, limit: int) -> Run:
    catalog = folder / "slos.yaml"
    catalog.write_text(world.openslo_catalog())
    env = local_env({"GORELIABLE_PROFILE": "live", "GORELIABLE_PROMETHEUS_URL": url, "GORELIABLE_CONFIG": os.devnull,
                     "GORELIABLE_NOW": world.end.isoformat(), "GORELIABLE_ARCHIVE_URI": str(folder / "archive")})
    goreliable = Path(sys.executable).with_name("goreliable")
    command = [str(goreliable), "report", "run", "slo", "-p", f"catalog={catalog}", "-p", "window=30d",
               "-p", f"end={world.end.isoformat()}", "--out", str(folder / "reports")]
    run, output = run_measured(command, env, limit, timeout=3600)
    run.tool = "goreliable report run slo"
    if run.killed_at is None and run.error is None:
        location = Path(output.strip().splitlines()[-1])
        summary = json.loads((location / "summary.json").read_text())
        (entry,) = summary["slos"]
        run.good, run.total = entry["good_events"], entry["total_events"]
        run.phases = summary["runner"].get("phases")
        run.events_seconds = events_cells_seconds(location / "report.ipynb")
        if summary["status"] != "ok":
            run.error = f"report status {summary['status']}"
    return run


def events_cells_seconds(notebook: Path) -> float | None:
    """The summed papermill durations of the executed notebook's cells that fetch or build the events (`EVENTS_CELL`);
    None when no cell does (the notebook changed: the fixed share is then not known)."""
    cells = [c for c in json.loads(notebook.read_text())["cells"] if c.get("cell_type") == "code"]
    chosen = [c for c in cells if EVENTS_CELL.search("".join(c.get("source", "")))]
    if not chosen:
        return None
    return sum(c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0 for c in chosen)


def run_slo_generator(url: str, world: ScaleWorld, folder: Path, limit: int, generator: Path | str) -> Run:
    if isinstance(generator, str):
        return Run("slo-generator 2.6.0", 0.0, skipped=generator)
    good, total = world.availability_selectors()
    window = int(time.time() - (world.end - WINDOW).timestamp())
    (folder / "config.yaml").write_text(
        f"backends:\n  prometheus:\n    url: {url}\nexporters: {{}}\nerror_budget_policies:\n  default:\n"
        f"    steps:\n    - name: 30d\n      burn_rate_threshold: 1\n      alert: false\n      window: {window}\n"
        f"      message_alert: burning\n      message_ok: ok\n")
    (folder / "slo.yaml").write_text(
        "apiVersion: sre.google.com/v2\nkind: ServiceLevelObjective\nmetadata:\n  name: checkout-availability\n"
        "  labels: {service_name: checkout, feature_name: availability, slo_name: availability}\n"
        "spec:\n  description: checkout availability\n  backend: prometheus\n  method: good_bad_ratio\n"
        f"  exporters: []\n  service_level_indicator:\n    filter_good: '{good}'\n    filter_valid: '{total}'\n"
        "  goal: 0.999\n")
    command = [str(generator), "compute", "-f", str(folder / "slo.yaml"), "-c", str(folder / "config.yaml")]
    env = {k: v for k, v in local_env().items() if not k.startswith("PROMETHEUS_")}
    run, output = run_measured(command, env, limit, timeout=1800)
    run.tool = "slo-generator 2.6.0"
    match = re.search(r"Good: (\S+)\s*\| Bad: (\S+)", output)
    if match and run.error is None:
        run.good = float(match.group(1))
        run.total = run.good + float(match.group(2))
    elif run.error is None and run.killed_at is None:
        run.error = f"no report line: {output[-600:]}"
    return run


def run_promql(url: str, world: ScaleWorld) -> Run:
    good, total = world.availability_selectors()
    session = requests.Session()
    session.trust_env = False

    def instant(promql: str) -> float:
        body = session.get(f"{url}/api/v1/query", params={"query": promql, "time": world.end.timestamp()},
                           timeout=600).json()
        if body.get("status") != "success":
            raise RuntimeError(body.get("error", body))
        return float(body["data"]["result"][0]["value"][1])

    run = Run("PromQL sum(increase[30d]) ratio", 0.0)
    try:
        started = time.perf_counter()
        ratio = instant(f"sum(increase({good}[30d])) / sum(increase({total}[30d]))")
        run.wall_seconds = time.perf_counter() - started
        run.total = instant(f"sum(increase({total}[30d]))")
        run.good = ratio * run.total
    except (RuntimeError, requests.RequestException) as exc:
        run.error = str(exc)[:300]
    return run


def missing_prerequisites() -> list[str]:
    """What the benchmark cannot run without: Prometheus and promtool (Debian package `prometheus`)."""
    try:
        find_binaries()
    except StackError as exc:
        return [str(exc)]
    return []


def bench_dataset(name: str, config: ScaleConfig, limit: int, folder: Path, generator: Path | str) -> dict[str, Any]:
    world = ScaleWorld(config)
    started = time.perf_counter()
    blocks = build_world("prometheus", world)
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    good_truth, total_truth = world.events(world.end - WINDOW, world.end)
    truth_seconds = time.perf_counter() - started
    server = start_server("prometheus", blocks, folder / "prometheus", stop_at_exit=True)
    try:
        local_url(server.url)
        good, total = world.availability_selectors()
        requests.get(f"{server.url}/api/v1/query", timeout=600,  # warm the server's page cache for every tool
                     params={"query": f"sum(count_over_time({total}[34d]))", "time": world.end.timestamp()})
        runs = [run_promql(server.url, world),
                run_slo_generator(server.url, world, folder, limit, generator),
                run_kit(server.url, world, folder, limit)]  # the order print_comparison reads them in
    finally:
        server.stop()
    return {"dataset": name, "series": world.series_count(), "samples": world.sample_count(),
            "build_seconds": build_seconds, "truth_seconds": truth_seconds, "truth": (good_truth, total_truth),
            "runs": runs}


def _gib(value: int | None) -> str:
    return "-" if value is None else f"{value / GIB:.2f} GiB"


def exact(run: Run, truth: tuple[int, int]) -> bool:
    """The run's good and total events are the ground truth's."""
    return run.error is None and run.killed_at is None and (run.good, run.total) == truth


def print_result(result: dict[str, Any]) -> None:
    good_truth, total_truth = result["truth"]
    truth_sli = good_truth / total_truth
    print(f"\n## {result['dataset']}: {result['series']} series, {result['samples'] / 1e6:.1f} M samples "
          f"(TSDB ready in {result['build_seconds']:.0f} s); truth: {good_truth:,} good of {total_truth:,}, "
          f"SLI {truth_sli:.6f}")
    print(f"{'tool':34} {'wall':>9} {'peak RSS (tree)':>16} {'SLI':>10} {'|SLI - truth|':>14} {'events off':>12}")
    for run in result["runs"]:
        if run.skipped:
            print(f"{run.tool:34} SKIPPED: {run.skipped}")
            continue
        if run.killed_at is not None:
            print(f"{run.tool:34} {run.wall_seconds:8.1f}s {'killed at ' + _gib(run.killed_at):>16}")
            continue
        if run.error:
            print(f"{run.tool:34} {run.wall_seconds:8.1f}s {_gib(run.peak_bytes):>16}  error: {run.error}")
            continue
        off = f"{run.total - total_truth:+,.0f}" if run.total is not None else "-"
        print(f"{run.tool:34} {run.wall_seconds:8.1f}s {_gib(run.peak_bytes):>16} {run.sli:10.6f} "
              f"{abs(run.sli - truth_sli):14.2e} {off:>12}")
    kit = result["runs"][2]
    if kit.fixed_seconds is not None and kit.events_seconds is not None:
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in (kit.phases or {}).items())
        print(f"the kit: {kit.events_seconds:.1f} s in the cells that fetch and build the events, "
              f"{kit.fixed_seconds:.1f} s fixed ({kit.fixed_seconds / kit.wall_seconds:.0%} of its wall); "
              f"runner.phases: {phases}")


def _completed(run: Run) -> bool:
    return run.error is None and run.killed_at is None and run.skipped is None


def _wall(run: Run) -> str:
    if _completed(run):
        return f"{run.wall_seconds:.1f}s"
    return "skipped" if run.skipped else "killed" if run.killed_at is not None else "error"


def _ratio(numerator: float | None, denominator: Run) -> str:
    return f"{numerator / denominator.wall_seconds:.1f}x" if numerator is not None and _completed(denominator) else "-"


COMPARISON = (("dataset", 8), ("series", 6), ("kit wall", 9), ("kit peak", 9), ("slo-gen wall", 12),
              ("slo-gen peak", 12), ("PromQL", 7), ("kit/slo-gen", 11), ("kit fixed", 9), ("fixed %", 7),
              ("fetch/slo-gen", 13), ("kit exact", 9))


def print_comparison(results: list[dict[str, Any]]) -> None:
    """One line per dataset: each tool's wall and peak RSS, kit / slo-generator, the kit's fixed share, exactness."""
    print("\n## The SLO report at scale: wall time and peak RSS of the process tree; the kit's fixed cost = its wall "
          "less its cells that fetch and build the events; fetch/slo-gen = those cells against slo-generator's wall")
    print(" ".join(f"{name:>{width}}" for name, width in COMPARISON))
    for result in results:
        promql, generator, kit = result["runs"]
        fixed = kit.fixed_seconds if _completed(kit) else None
        cells = [result["dataset"], result["series"], _wall(kit), _gib(kit.peak_bytes), _wall(generator),
                 _gib(generator.peak_bytes), _wall(promql),
                 _ratio(kit.wall_seconds if _completed(kit) else None, generator),
                 "-" if fixed is None else f"{fixed:.1f}s", "-" if fixed is None else f"{fixed / kit.wall_seconds:.0%}",
                 _ratio(kit.events_seconds if _completed(kit) else None, generator), exact(kit, result["truth"])]
        print(" ".join(f"{cell!s:>{width}}" for cell, (_, width) in zip(cells, COMPARISON, strict=True)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma-separated, of {', '.join(DATASETS)}")
    parser.add_argument("--memory-limit-gib", type=float, default=8.0,
                        help="kill a tool's process tree above this RSS (default 8)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        parser.error(f"--datasets: unknown {', '.join(unknown)} (known: {', '.join(DATASETS)})")
    limit = int(args.memory_limit_gib * GIB)
    if missing := missing_prerequisites():
        print(f"SKIPPED: bench_slo_scale needs {'; '.join(missing)}")
        return 0
    generator = slo_generator_bin()
    if isinstance(generator, str):
        print(f"SKIPPED: the slo-generator column: {generator}", file=sys.stderr)
    results = []
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"bench-slo-{name}-") as folder:
            try:
                result = bench_dataset(name, DATASETS[name], limit, Path(folder), generator)
            except StackError as exc:  # the server could not be built or started: no measurement at all
                print(f"FAILED: dataset {name}: {exc}", file=sys.stderr)
                return 1
        print_result(result)
        results.append(result)
        sys.stdout.flush()
    print_comparison(results)
    if args.json:
        args.json.write_text(json.dumps([{**r, "runs": [dataclasses.asdict(x) for x in r["runs"]]} for r in results],
                                        indent=1, default=str))
    failed = [f"{r['dataset']}: {run.tool} {run.error}" for r in results for run in r["runs"] if run.error]
    failed += [f"{r['dataset']}: the kit's events are not the ground truth's" for r in results
               if r["runs"][2].error is None and not exact(r["runs"][2], r["truth"])]
    failed += [f"{r['dataset']}: the kit was killed at {_gib(r['runs'][2].killed_at)}" for r in results
               if r["runs"][2].killed_at is not None]
    for line in failed:
        print(f"FAILED: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
