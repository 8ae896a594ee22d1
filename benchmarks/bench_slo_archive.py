"""Benchmark: a weekly SLO report with a warm SLO event archive against a cold one, on the same server.

    .venv/bin/python benchmarks/bench_slo_archive.py [--dataset 400]

One production-shape world of benchmarks/bench_slo_scale.py (default: 400 series scraped every 30 s, 34 days) in a
real Prometheus 2.42. The kit's SLO report over 30 days at the history's end, twice:
- **cold**: an empty archive (the first run of a new install): every minute of the 33 days (the window and the
  alerts' 3-day lookback) is asked of the server;
- **warm**: the archive an earlier weekly run left (the same report a week before, not measured): the complete
  archived days are taken from it, only the days after the newest one are asked of the server (that day too, to
  compare).
Printed for each: wall time and peak RSS of the process tree (runner and kernel), the bytes the server sent
(its own `prometheus_http_response_size_bytes_sum`, read before and after), the requests it answered, the size of
the run's data/ snapshot, and the SLI against the ground truth (both must be exact and equal).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from bench_slo_scale import DATASETS, GIB, WINDOW, run_measured

from goreliable_lib.devstack.sim.scale import ScaleWorld
from goreliable_lib.devstack.stack.backends import build_world, start_server

_RESPONSES = re.compile(r'^prometheus_http_response_size_bytes_(sum|count)\{handler="(/api/v1/[^"]+)"\} (\S+)$', re.M)


def served(url: str) -> tuple[float, float]:
    """(bytes, responses) the server's query API has sent so far (its own metrics)."""
    text = requests.get(f"{url}/metrics", timeout=30).text
    totals = {"sum": 0.0, "count": 0.0}
    for kind, _handler, value in _RESPONSES.findall(text):
        totals[kind] += float(value)
    return totals["sum"], totals["count"]


def run_report(url: str, world: ScaleWorld, folder: Path, archive: Path, end: pd.Timestamp) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    catalog = folder / "slos.yaml"
    catalog.write_text(world.openslo_catalog())
    env = {k: v for k, v in os.environ.items() if not k.startswith("GORELIABLE_")}
    env.update({"GORELIABLE_PROFILE": "live", "GORELIABLE_PROMETHEUS_URL": url, "GORELIABLE_CONFIG": os.devnull,
                "GORELIABLE_NOW": world.end.isoformat(), "GORELIABLE_ARCHIVE_URI": str(archive)})
    command = [str(Path(sys.executable).with_name("goreliable")), "report", "run", "slo", "-q",
               "-p", f"catalog={catalog}", "-p", "window=30d", "-p", f"end={end.isoformat()}",
               "--out", str(folder / "reports")]
    before = served(url)
    run, output = run_measured(command, env, 8 * GIB, timeout=3600)
    after = served(url)
    if run.error or run.killed_at:
        raise SystemExit(f"the report failed: {run.error or 'killed'}")
    location = Path(output.strip().splitlines()[-1])
    summary = json.loads((location / "summary.json").read_text())
    (entry,) = summary["slos"]
    data_bytes = sum(p.stat().st_size for p in (location / "data").rglob("*") if p.is_file())
    return {"wall": run.wall_seconds, "peak": run.peak_bytes, "bytes": after[0] - before[0],
            "requests": after[1] - before[1], "data": data_bytes, "good": entry["good_events"],
            "total": entry["total_events"], "archive_days": summary["archive"]["days"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="400", choices=sorted(DATASETS))
    args = parser.parse_args(argv)
    world = ScaleWorld(DATASETS[args.dataset])
    blocks = build_world("prometheus", world)
    good_truth, total_truth = world.events(world.end - WINDOW, world.end)
    with tempfile.TemporaryDirectory(prefix="bench-slo-archive-") as scratch:
        folder = Path(scratch)
        server = start_server("prometheus", blocks, folder / "prometheus", stop_at_exit=True)
        try:
            good, total = world.availability_selectors()
            requests.get(f"{server.url}/api/v1/query", timeout=600,  # the server's page cache warm for both runs
                         params={"query": f"sum(count_over_time({total}[34d]))", "time": world.end.timestamp()})
            cold = run_report(server.url, world, folder / "cold", folder / "cold-archive", world.end)
            run_report(server.url, world, folder / "week-before", folder / "warm-archive",
                       world.end - pd.Timedelta(days=7))
            warm = run_report(server.url, world, folder / "warm", folder / "warm-archive", world.end)
        finally:
            server.stop()
    print(f"## {args.dataset}: {world.series_count()} series, {world.sample_count() / 1e6:.1f} M samples; truth "
          f"{good_truth:,} good of {total_truth:,}")
    print(f"{'run':6} {'wall':>8} {'peak RSS (tree)':>16} {'bytes sent':>12} {'requests':>9} {'data/':>9} "
          f"{'days from archive':>18} {'exact':>6}")
    for name, run in (("cold", cold), ("warm", warm)):
        exact = (run["good"], run["total"]) == (good_truth, total_truth)
        print(f"{name:6} {run['wall']:7.1f}s {run['peak'] / GIB:14.2f} GiB {run['bytes'] / 1e6:10.1f} MB "
              f"{run['requests']:9.0f} {run['data'] / 1e6:7.2f} MB {run['archive_days']:18d} {exact!s:>6}")
    print(f"warm/cold: wall {warm['wall'] / cold['wall']:.2f}x, bytes {warm['bytes'] / cold['bytes']:.2f}x, "
          f"requests {warm['requests'] / cold['requests']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
