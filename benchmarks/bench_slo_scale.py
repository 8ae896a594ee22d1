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
of the RSS of the command's whole process tree (runner and kernel; psutil polled every 50 ms; pages shared between
processes count in each), not the server's. A run whose tree grows past `--memory-limit-gib` is killed (the tree)
and shown as "killed at N GiB". Exactness: each tool's SLI against the ground truth (events of the samples in
(end - 30d, end]), and its event counts' difference.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import requests

from goreliable_lib.devstack.sim.scale import ScaleConfig, ScaleWorld
from goreliable_lib.devstack.stack.backends import build_world, start_server

DATASETS = {
    "80": ScaleConfig(pods=4, routes=5, days=34),
    "400": ScaleConfig(pods=10, routes=10, days=34),
    "1000": ScaleConfig(pods=10, routes=25, days=34),
    "crash15": ScaleConfig(pods=4, routes=5, days=34, scrape_interval_seconds=15, crash_loop=True),
}
WINDOW = pd.Timedelta(days=30)
SLO_GENERATOR = "slo-generator[prometheus]==2.6.0"
BENCH_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "goreliable" / "bench"
POLL_SECONDS = 0.05
GIB = 2**30


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

    @property
    def sli(self) -> float | None:
        return self.good / self.total if self.good is not None and self.total else None


def run_measured(command: list[str], env: dict[str, str], limit_bytes: int, timeout: float) -> tuple[Run, str]:
    """Run `command`, polling the RSS of its whole process tree; kill the tree past `limit_bytes`."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    root = psutil.Process(process.pid)
    peak = 0
    killed_at = None
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout or []), daemon=True)
    reader.start()
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        rss = 0
        for member in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                rss += member.memory_info().rss
        peak = max(peak, rss)
        if rss > limit_bytes or time.perf_counter() - started > timeout:
            killed_at = rss
            for member in reversed(tree):
                with contextlib.suppress(psutil.NoSuchProcess):
                    member.kill()
            break
        time.sleep(POLL_SECONDS)
    process.wait()
    reader.join(timeout=10)
    run = Run(command[0], time.perf_counter() - started, peak, killed_at=killed_at)
    if killed_at is None and process.returncode != 0:
        run.error = f"exit {process.returncode}: {''.join(output)[-600:]}"
    return run, "".join(output)


def slo_generator_bin() -> Path:
    """slo-generator 2.6.0 in its own venv, installed on first use."""
    venv = BENCH_CACHE / "slo-generator-2.6.0"
    binary = venv / "bin" / "slo-generator"
    if not binary.exists():
        print(f"# installing {SLO_GENERATOR} into {venv} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "setuptools<70", SLO_GENERATOR], check=True)
    return binary


def run_kit(url: str, world: ScaleWorld, folder: Path, limit: int) -> Run:
    catalog = folder / "slos.yaml"
    catalog.write_text(world.openslo_catalog())
    env = {k: v for k, v in os.environ.items() if not k.startswith("GORELIABLE_")}
    env.update({"GORELIABLE_PROFILE": "live", "GORELIABLE_PROMETHEUS_URL": url, "GORELIABLE_CONFIG": os.devnull,
                "GORELIABLE_NOW": world.end.isoformat(), "GORELIABLE_ARCHIVE_URI": str(folder / "archive")})
    goreliable = Path(sys.executable).with_name("goreliable")
    command = [str(goreliable), "report", "run", "slo", "-p", f"catalog={catalog}", "-p", "window=30d",
               "-p", f"end={world.end.isoformat()}", "--out", str(folder / "reports")]
    run, output = run_measured(command, env, limit, timeout=3600)
    run.tool = "goreliable report run slo"
    if run.killed_at is None and run.error is None:
        summary = json.loads((Path(output.strip().splitlines()[-1]) / "summary.json").read_text())
        (entry,) = summary["slos"]
        run.good, run.total = entry["good_events"], entry["total_events"]
        if summary["status"] != "ok":
            run.error = f"report status {summary['status']}"
    return run


def run_slo_generator(url: str, world: ScaleWorld, folder: Path, limit: int) -> Run:
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
    command = [str(slo_generator_bin()), "compute", "-f", str(folder / "slo.yaml"), "-c", str(folder / "config.yaml")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GORELIABLE_", "PROMETHEUS_"))}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
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


def bench_dataset(name: str, config: ScaleConfig, limit: int, folder: Path) -> dict[str, Any]:
    world = ScaleWorld(config)
    started = time.perf_counter()
    blocks = build_world("prometheus", world)
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    good_truth, total_truth = world.events(world.end - WINDOW, world.end)
    truth_seconds = time.perf_counter() - started
    server = start_server("prometheus", blocks, folder / "prometheus", stop_at_exit=True)
    try:
        good, total = world.availability_selectors()
        requests.get(f"{server.url}/api/v1/query", timeout=600,  # warm the server's page cache for every tool
                     params={"query": f"sum(count_over_time({total}[34d]))", "time": world.end.timestamp()})
        runs = [run_promql(server.url, world),
                run_slo_generator(server.url, world, folder, limit),
                run_kit(server.url, world, folder, limit)]
    finally:
        server.stop()
    return {"dataset": name, "series": world.series_count(), "samples": world.sample_count(),
            "build_seconds": build_seconds, "truth_seconds": truth_seconds, "truth": (good_truth, total_truth),
            "runs": runs}


def _gib(value: int | None) -> str:
    return "-" if value is None else f"{value / GIB:.2f} GiB"


def print_result(result: dict[str, Any]) -> None:
    good_truth, total_truth = result["truth"]
    truth_sli = good_truth / total_truth
    print(f"\n## {result['dataset']}: {result['series']} series, {result['samples'] / 1e6:.1f} M samples "
          f"(TSDB ready in {result['build_seconds']:.0f} s); truth: {good_truth:,} good of {total_truth:,}, "
          f"SLI {truth_sli:.6f}")
    print(f"{'tool':34} {'wall':>9} {'peak RSS (tree)':>16} {'SLI':>10} {'|SLI - truth|':>14} {'events off':>12}")
    for run in result["runs"]:
        if run.killed_at is not None:
            print(f"{run.tool:34} {run.wall_seconds:8.1f}s {'killed at ' + _gib(run.killed_at):>16}")
            continue
        if run.error:
            print(f"{run.tool:34} {run.wall_seconds:8.1f}s {_gib(run.peak_bytes):>16}  error: {run.error}")
            continue
        off = f"{run.total - total_truth:+,.0f}" if run.total is not None else "-"
        print(f"{run.tool:34} {run.wall_seconds:8.1f}s {_gib(run.peak_bytes):>16} {run.sli:10.6f} "
              f"{abs(run.sli - truth_sli):14.2e} {off:>12}")


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
    results = []
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"bench-slo-{name}-") as folder:
            result = bench_dataset(name, DATASETS[name], limit, Path(folder))
        print_result(result)
        results.append(result)
        sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps([{**r, "runs": [dataclasses.asdict(x) for x in r["runs"]]} for r in results],
                                        indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
