"""Benchmark: PrometheusSource against prometheus-api-client on the same Prometheus and query.

    .venv/bin/python benchmarks/bench_prometheus.py [--days 30] [--repeat 2]

Starts a real Prometheus (Debian 2.42, via goreliable_lib.devstack.stack.prometheus) on a generated dataset of
120 series at a 1-minute resolution (built once with promtool and cached, see tests/prom_source_fixtures.py),
then runs one range query over all 120 series, `--days` days at a 1-minute step (43,201 points per series for
30 days, so the query must be chunked):

(a) end to end, fetch to DataFrame: `PrometheusSource.query_range` (chunks fetched concurrently, our
    conversion) against prometheus-api-client's `custom_query_range` over the same chunks, one after the
    other as its API works, then `MetricRangeDataFrame` over the combined results;
(b) client-side work alone, on the very same response bytes of every chunk: our parse + merge + frame
    against `orjson.loads` alone (no DataFrame at all).

It prints both ratios and the peak memory of each path (tracemalloc for Python and numpy allocations,
plus pyarrow's pool for ours).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import requests
from prometheus_api_client import MetricRangeDataFrame, PrometheusConnect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from prom_source_fixtures import BENCH_SERIES, DATA_END, running_prometheus  # noqa: E402

from goreliable_lib.sources import promjson  # noqa: E402
from goreliable_lib.sources.prometheus import PROMETHEUS_MAX_POINTS, PrometheusSource, plan_chunks  # noqa: E402

QUERY = '{__name__=~"bench_.+",job="bench"}'
STEP = 60


def best_of(repeat: int, action: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of `repeat` runs (seconds) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        result = None
        gc.collect()
        began = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - began)
    return best, result


def peak_memory(action: Callable[[], Any]) -> float:
    """Peak memory (MiB) of one run: tracemalloc's peak (Python objects and numpy arrays) plus the peak of
    the pyarrow buffers our number parser allocates (a proxy pool; an upper bound of their overlap)."""
    gc.collect()
    promjson.MEMORY_POOL = pool = pa.proxy_memory_pool(pa.default_memory_pool())
    tracemalloc.start()
    try:
        result = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        promjson.MEMORY_POOL = None
    del result
    return (peak + pool.max_memory()) / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=float, default=30.0, help="length of the range query (default 30)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement, best kept (default 2)")
    args = parser.parse_args(argv)

    end = DATA_END
    start = end - pd.Timedelta(days=args.days)
    chunks = plan_chunks(start.value // 10**6, end.value // 10**6, STEP * 1000, PROMETHEUS_MAX_POINTS)
    print(f"dataset: {BENCH_SERIES} series, query {QUERY} over {args.days:g} days at {STEP}s "
          f"({len(chunks)} chunks of <= {PROMETHEUS_MAX_POINTS} points)")
    with (tempfile.TemporaryDirectory(prefix="bench-prom-") as workdir,
          running_prometheus("bench", Path(workdir)) as url):
        ours = PrometheusSource(url, timeout=300)
        theirs_gzip = PrometheusConnect(url, disable_ssl=True, timeout=300)
        theirs_plain = PrometheusConnect(url, disable_ssl=True, timeout=300, headers={"Accept-Encoding": "identity"})
        theirs = theirs_plain

        def fetch_ours() -> pd.DataFrame:
            return ours.query_range(QUERY, start, end, STEP)

        def fetch_theirs() -> pd.DataFrame:
            results: list[dict[str, Any]] = []
            for low, high in chunks:
                results.extend(theirs.custom_query_range(
                    QUERY, start_time=pd.Timestamp(low, unit="ms", tz="UTC").to_pydatetime(),
                    end_time=pd.Timestamp(high, unit="ms", tz="UTC").to_pydatetime(), step=str(STEP)))
            return MetricRangeDataFrame(results)

        fetch_ours()  # warm Prometheus' page cache and our connection pool once
        ours_seconds, ours_frame = best_of(args.repeat, fetch_ours)
        theirs_seconds, theirs_frame = best_of(max(1, args.repeat - 1), fetch_theirs)
        theirs = theirs_gzip  # its default: requests asks for gzip, which Prometheus is slow to produce
        gzip_seconds, _ = best_of(1, fetch_theirs)
        theirs = theirs_plain
        rows = len(ours_frame)
        assert rows == len(theirs_frame) == BENCH_SERIES * (int(args.days * 1440) + 1), (rows, len(theirs_frame))
        assert np.isclose(np.sort(ours_frame["value"].to_numpy()), np.sort(theirs_frame["value"].to_numpy())).all()
        del theirs_frame

        bodies = []
        for low, high in chunks:
            response = requests.get(f"{url}/api/v1/query_range", timeout=300,
                                    params={"query": QUERY, "start": low / 1000, "end": high / 1000, "step": STEP})
            response.raise_for_status()
            bodies.append(response.content)
        size = sum(map(len, bodies))

        def convert_ours() -> pd.DataFrame:
            return promjson.to_frame(promjson.merge_results(
                [promjson.parse_response(body).result for body in bodies]))  # type: ignore[misc]

        def parse_orjson() -> list[Any]:
            return [orjson.loads(body) for body in bodies]

        convert_seconds, converted = best_of(args.repeat + 1, convert_ours)
        orjson_seconds, _ = best_of(args.repeat + 1, parse_orjson)
        pd.testing.assert_frame_equal(converted, ours_frame)

        memory = {"ours (fetch+frame)": peak_memory(fetch_ours), "prometheus-api-client": peak_memory(fetch_theirs),
                  "ours (convert only)": peak_memory(convert_ours), "orjson.loads only": peak_memory(parse_orjson)}

    print(f"rows: {rows:,}  response bytes: {size / 2**20:.1f} MiB")
    print(f"(a) end to end   ours {ours_seconds:7.2f} s   prometheus-api-client {theirs_seconds:7.2f} s   "
          f"speed-up {theirs_seconds / ours_seconds:5.1f}x   (target >= 3x, aim 5x; both uncompressed)")
    print(f"    with prometheus-api-client's default gzip: {gzip_seconds:7.2f} s   "
          f"speed-up {gzip_seconds / ours_seconds:5.1f}x")
    print(f"(b) client side  ours {convert_seconds:7.3f} s   orjson.loads alone    {orjson_seconds:7.3f} s   "
          f"ratio ours/orjson {convert_seconds / orjson_seconds:5.2f}   (target <= 1.0)")
    print("peak memory (MiB): " + ", ".join(f"{name} {mib:,.0f}" for name, mib in memory.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
