"""Fixtures of the Prometheus source tests: recorded responses, generated OpenMetrics datasets, a real server.

Datasets are generated here (not by the simulator) so the tests control label values and lengths:
- `odd`: 3 series of `odd_metric` with labels holding quotes, backslashes, unicode and a newline, 200 points;
- `long`: 4 series of `prom_test_requests_total` (service a..d), 62 days at 60 s, known values
  (`value = minute index * (series index + 1)`), so any sample can be checked exactly.
- `bench`: 120 series of `bench_requests_total` / `bench_latency_seconds`, 31 days at 60 s (the benchmark).
They are backfilled with the stack helpers into a cache folder keyed by the dataset's version, so
repeated test runs start Prometheus in about a second.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pytest

from goreliable_lib import paths

#: The last sample of every generated dataset (whole minute, far enough in the past for backfilling).
DATA_END = pd.Timestamp("2026-11-23T03:00:00Z")
STEP_SECONDS = 60
LONG_DAYS = 62
LONG_SERVICES = ("a", "b", "c", "d")
BENCH_DAYS = 31
BENCH_SERIES = 120
DATASET_VERSION = "1"
ODD_LABELS: list[dict[str, str]] = [
    {"job": 'say "hi"', "path": "C:\\temp\\"},
    {"job": "unicode ✓ 日本", "path": 'x"} or vector(1) #'},
    {"job": "line\nbreak", "path": "\\\""},
]


def _om_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels_text(labels: dict[str, str]) -> str:
    return ",".join(f'{key}="{_om_escape(value)}"' for key, value in labels.items())


def write_series(out: IO[str], name: str, labels: dict[str, str], start_s: int, values: list[str]) -> None:
    """One series' samples (`name{labels} value timestamp_seconds`), one per line, STEP_SECONDS apart."""
    prefix = f"{name}{{{_labels_text(labels)}}} "
    out.write("".join(f"{prefix}{value} {start_s + STEP_SECONDS * i}\n" for i, value in enumerate(values)))


def long_start() -> int:
    return int(DATA_END.timestamp()) - LONG_DAYS * 86400


def long_value(series_index: int, timestamp_s: np.ndarray) -> np.ndarray:
    """The exact value of `long` series `series_index` at a whole-minute time."""
    return ((timestamp_s - long_start()) // STEP_SECONDS) * (series_index + 1.0)


def write_odd_and_long(out: IO[str]) -> None:
    """The `odd` and `long` datasets as OpenMetrics (ends with `# EOF`, no blank lines)."""
    start = long_start()
    out.write("# TYPE odd_metric gauge\n")
    odd_start = int(DATA_END.timestamp()) - 199 * STEP_SECONDS
    for index, labels in enumerate(ODD_LABELS):
        values = [("NaN", "+Inf", "-Inf")[i % 3] if i % 50 == 7 else f"{i * 0.5 + index:g}" for i in range(200)]
        write_series(out, "odd_metric", labels, odd_start, values)
    out.write("# TYPE prom_test_requests counter\n")
    points = LONG_DAYS * 86400 // STEP_SECONDS + 1
    for index, service in enumerate(LONG_SERVICES):
        values = long_value(index, start + STEP_SECONDS * np.arange(points)).astype(np.int64).astype(str).tolist()
        write_series(out, "prom_test_requests_total", {"service": service}, start, values)
    out.write("# EOF\n")


def write_bench(out: IO[str]) -> None:
    """The benchmark dataset: 120 series, 31 days at 60 s (half counters, half latency gauges)."""
    rng = np.random.default_rng(20261123)
    points = BENCH_DAYS * 86400 // STEP_SECONDS + 1
    start = int(DATA_END.timestamp()) - (points - 1) * STEP_SECONDS
    half = BENCH_SERIES // 2
    out.write("# TYPE bench_requests counter\n")
    for index in range(half):
        counts = np.cumsum(rng.integers(0, 500, points)).astype(str).tolist()
        write_series(out, "bench_requests_total", {"service": f"svc-{index:03d}", "instance": f"10.0.{index}.1:8080",
                                                   "job": "bench"}, start, counts)
    out.write("# TYPE bench_latency_seconds gauge\n")
    for index in range(half, BENCH_SERIES):
        latency = np.round(rng.gamma(2.0, 0.05, points), 4).astype(str).tolist()
        write_series(out, "bench_latency_seconds", {"service": f"svc-{index:03d}", "instance": f"10.0.{index}.1:8080",
                                                    "job": "bench"}, start, latency)
    out.write("# EOF\n")


DATASETS: dict[str, Callable[[IO[str]], None]] = {"test": write_odd_and_long, "bench": write_bench}


def cache_root() -> Path:
    """Where the generated datasets' TSDB blocks are cached (the kit's cache folder, `paths.cache_dir`)."""
    return paths.cache_dir() / "prom-source"


def dataset_key(name: str) -> str:
    """The cache key of a dataset: bump DATASET_VERSION whenever a writer changes."""
    return f"{name}-v{DATASET_VERSION}-{DATA_END.strftime('%Y%m%dT%H%M')}"


def recorded_body(name: str) -> bytes:
    """A response body recorded from Prometheus 2.42 (see RECORDED)."""
    return RECORDED[name]
# Recorded from Prometheus 2.42 (Debian) serving an OpenMetrics backfill of `odd_metric` (labels with quotes,
# backslashes, unicode, a newline; values with NaN/+Inf/-Inf): /api/v1/query_range?query=odd_metric
# &start=1762999980&end=1763007180&step=60, /api/v1/query?query=odd_metric&time=1763003400, and a bad_data error.
RECORDED: dict[str, bytes] = {
    'matrix': (
        b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"odd_metric","job"'
        b':"a\\"b","path":"C:\\\\temp\\\\"},"values":[[1762999980,"0"],[1763000040,"0.5"],[1763000100,"1"],[1763000'
        b'160,"1.5"],[1763000220,"2"],[1763000280,"2.5"],[1763000340,"3"],[1763000400,"+Inf"],[1763000460,"4"]'
        b',[1763000520,"4.5"],[1763000580,"5"],[1763000640,"5.5"],[1763000700,"6"],[1763000760,"6.5"],[1763000'
        b'820,"7"],[1763000880,"7.5"],[1763000940,"8"],[1763001000,"8.5"],[1763001060,"9"],[1763001120,"9.5"],'
        b'[1763001180,"10"],[1763001240,"10.5"],[1763001300,"11"],[1763001360,"11.5"],[1763001420,"12"],[17630'
        b'01480,"12.5"],[1763001540,"13"],[1763001600,"13.5"],[1763001660,"14"],[1763001720,"14.5"],[176300178'
        b'0,"15"],[1763001840,"15.5"],[1763001900,"16"],[1763001960,"16.5"],[1763002020,"17"],[1763002080,"17.'
        b'5"],[1763002140,"18"],[1763002200,"18.5"],[1763002260,"19"],[1763002320,"19.5"],[1763002380,"20"],[1'
        b'763002440,"20.5"],[1763002500,"21"],[1763002560,"21.5"],[1763002620,"22"],[1763002680,"22.5"],[17630'
        b'02740,"23"],[1763002800,"23.5"],[1763002860,"24"],[1763002920,"24.5"],[1763002980,"25"],[1763003040,'
        b'"25.5"],[1763003100,"26"],[1763003160,"26.5"],[1763003220,"27"],[1763003280,"27.5"],[1763003340,"28"'
        b'],[1763003400,"NaN"],[1763003460,"29"],[1763003520,"29.5"],[1763003580,"30"],[1763003640,"30.5"],[17'
        b'63003700,"31"],[1763003760,"31.5"],[1763003820,"32"],[1763003880,"32.5"],[1763003940,"33"],[17630040'
        b'00,"33.5"],[1763004060,"34"],[1763004120,"34.5"],[1763004180,"35"],[1763004240,"35.5"],[1763004300,"'
        b'36"],[1763004360,"36.5"],[1763004420,"37"],[1763004480,"37.5"],[1763004540,"38"],[1763004600,"38.5"]'
        b',[1763004660,"39"],[1763004720,"39.5"],[1763004780,"40"],[1763004840,"40.5"],[1763004900,"41"],[1763'
        b'004960,"41.5"],[1763005020,"42"],[1763005080,"42.5"],[1763005140,"43"],[1763005200,"43.5"],[17630052'
        b'60,"44"],[1763005320,"44.5"],[1763005380,"45"],[1763005440,"45.5"],[1763005500,"46"],[1763005560,"46'
        b'.5"],[1763005620,"47"],[1763005680,"47.5"],[1763005740,"48"],[1763005800,"48.5"],[1763005860,"49"],['
        b'1763005920,"49.5"],[1763005980,"50"],[1763006040,"50.5"],[1763006100,"51"],[1763006160,"51.5"],[1763'
        b'006220,"52"],[1763006280,"52.5"],[1763006340,"53"],[1763006400,"-Inf"],[1763006460,"54"],[1763006520'
        b',"54.5"],[1763006580,"55"],[1763006640,"55.5"],[1763006700,"56"],[1763006760,"56.5"],[1763006820,"57'
        b'"],[1763006880,"57.5"],[1763006940,"58"],[1763007000,"58.5"],[1763007060,"59"],[1763007120,"59.5"],['
        b'1763007180,"60"]]},{"metric":{"__name__":"odd_metric","job":"empty",'
        b'"path":"unicode \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac"},"va'
        b'lues":[[1762999980,"1"],[1763000040,"1.5"],[1763000100,"2"],[1763000160,"2.5"],[1763000220,"3"],[176'
        b'3000280,"3.5"],[1763000340,"4"],[1763000400,"+Inf"],[1763000460,"5"],[1763000520,"5.5"],[1763000580,'
        b'"6"],[1763000640,"6.5"],[1763000700,"7"],[1763000760,"7.5"],[1763000820,"8"],[1763000880,"8.5"],[176'
        b'3000940,"9"],[1763001000,"9.5"],[1763001060,"10"],[1763001120,"10.5"],[1763001180,"11"],[1763001240,'
        b'"11.5"],[1763001300,"12"],[1763001360,"12.5"],[1763001420,"13"],[1763001480,"13.5"],[1763001540,"14"'
        b'],[1763001600,"14.5"],[1763001660,"15"],[1763001720,"15.5"],[1763001780,"16"],[1763001840,"16.5"],[1'
        b'763001900,"17"],[1763001960,"17.5"],[1763002020,"18"],[1763002080,"18.5"],[1763002140,"19"],[1763002'
        b'200,"19.5"],[1763002260,"20"],[1763002320,"20.5"],[1763002380,"21"],[1763002440,"21.5"],[1763002500,'
        b'"22"],[1763002560,"22.5"],[1763002620,"23"],[1763002680,"23.5"],[1763002740,"24"],[1763002800,"24.5"'
        b'],[1763002860,"25"],[1763002920,"25.5"],[1763002980,"26"],[1763003040,"26.5"],[1763003100,"27"],[176'
        b'3003160,"27.5"],[1763003220,"28"],[1763003280,"28.5"],[1763003340,"29"],[1763003400,"NaN"],[17630034'
        b'60,"30"],[1763003520,"30.5"],[1763003580,"31"],[1763003640,"31.5"],[1763003700,"32"],[1763003760,"32'
        b'.5"],[1763003820,"33"],[1763003880,"33.5"],[1763003940,"34"],[1763004000,"34.5"],[1763004060,"35"],['
        b'1763004120,"35.5"],[1763004180,"36"],[1763004240,"36.5"],[1763004300,"37"],[1763004360,"37.5"],[1763'
        b'004420,"38"],[1763004480,"38.5"],[1763004540,"39"],[1763004600,"39.5"],[1763004660,"40"],[1763004720'
        b',"40.5"],[1763004780,"41"],[1763004840,"41.5"],[1763004900,"42"],[1763004960,"42.5"],[1763005020,"43'
        b'"],[1763005080,"43.5"],[1763005140,"44"],[1763005200,"44.5"],[1763005260,"45"],[1763005320,"45.5"],['
        b'1763005380,"46"],[1763005440,"46.5"],[1763005500,"47"],[1763005560,"47.5"],[1763005620,"48"],[176300'
        b'5680,"48.5"],[1763005740,"49"],[1763005800,"49.5"],[1763005860,"50"],[1763005920,"50.5"],[1763005980'
        b',"51"],[1763006040,"51.5"],[1763006100,"52"],[1763006160,"52.5"],[1763006220,"53"],[1763006280,"53.5'
        b'"],[1763006340,"54"],[1763006400,"-Inf"],[1763006460,"55"],[1763006520,"55.5"],[1763006580,"56"],[17'
        b'63006640,"56.5"],[1763006700,"57"],[1763006760,"57.5"],[1763006820,"58"],[1763006880,"58.5"],[176300'
        b'6940,"59"],[1763007000,"59.5"],[1763007060,"60"],[1763007120,"60.5"],[1763007180,"61"]]},{"metric":{'
        b'"__name__":"odd_metric","job":"nl\\nx"},"values":[[1762999980,"2"],[1763000040,"2.5"],[1763000100,"3"'
        b'],[1763000160,"3.5"],[1763000220,"4"],[1763000280,"4.5"],[1763000340,"5"],[1763000400,"+Inf"],[17630'
        b'00460,"6"],[1763000520,"6.5"],[1763000580,"7"],[1763000640,"7.5"],[1763000700,"8"],[1763000760,"8.5"'
        b'],[1763000820,"9"],[1763000880,"9.5"],[1763000940,"10"],[1763001000,"10.5"],[1763001060,"11"],[17630'
        b'01120,"11.5"],[1763001180,"12"],[1763001240,"12.5"],[1763001300,"13"],[1763001360,"13.5"],[176300142'
        b'0,"14"],[1763001480,"14.5"],[1763001540,"15"],[1763001600,"15.5"],[1763001660,"16"],[1763001720,"16.'
        b'5"],[1763001780,"17"],[1763001840,"17.5"],[1763001900,"18"],[1763001960,"18.5"],[1763002020,"19"],[1'
        b'763002080,"19.5"],[1763002140,"20"],[1763002200,"20.5"],[1763002260,"21"],[1763002320,"21.5"],[17630'
        b'02380,"22"],[1763002440,"22.5"],[1763002500,"23"],[1763002560,"23.5"],[1763002620,"24"],[1763002680,'
        b'"24.5"],[1763002740,"25"],[1763002800,"25.5"],[1763002860,"26"],[1763002920,"26.5"],[1763002980,"27"'
        b'],[1763003040,"27.5"],[1763003100,"28"],[1763003160,"28.5"],[1763003220,"29"],[1763003280,"29.5"],[1'
        b'763003340,"30"],[1763003400,"NaN"],[1763003460,"31"],[1763003520,"31.5"],[1763003580,"32"],[17630036'
        b'40,"32.5"],[1763003700,"33"],[1763003760,"33.5"],[1763003820,"34"],[1763003880,"34.5"],[1763003940,"'
        b'35"],[1763004000,"35.5"],[1763004060,"36"],[1763004120,"36.5"],[1763004180,"37"],[1763004240,"37.5"]'
        b',[1763004300,"38"],[1763004360,"38.5"],[1763004420,"39"],[1763004480,"39.5"],[1763004540,"40"],[1763'
        b'004600,"40.5"],[1763004660,"41"],[1763004720,"41.5"],[1763004780,"42"],[1763004840,"42.5"],[17630049'
        b'00,"43"],[1763004960,"43.5"],[1763005020,"44"],[1763005080,"44.5"],[1763005140,"45"],[1763005200,"45'
        b'.5"],[1763005260,"46"],[1763005320,"46.5"],[1763005380,"47"],[1763005440,"47.5"],[1763005500,"48"],['
        b'1763005560,"48.5"],[1763005620,"49"],[1763005680,"49.5"],[1763005740,"50"],[1763005800,"50.5"],[1763'
        b'005860,"51"],[1763005920,"51.5"],[1763005980,"52"],[1763006040,"52.5"],[1763006100,"53"],[1763006160'
        b',"53.5"],[1763006220,"54"],[1763006280,"54.5"],[1763006340,"55"],[1763006400,"-Inf"],[1763006460,"56'
        b'"],[1763006520,"56.5"],[1763006580,"57"],[1763006640,"57.5"],[1763006700,"58"],[1763006760,"58.5"],['
        b'1763006820,"59"],[1763006880,"59.5"],[1763006940,"60"],[1763007000,"60.5"],[1763007060,"61"],[176300'
        b'7120,"61.5"],[1763007180,"62"]]}]}}'
    ),
    'vector': (
        b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"odd_metric","job"'
        b':"a\\"b","path":"C:\\\\temp\\\\"},"value":[1763003400,"NaN"]},{"metric":{"__name__":"odd_metric","job":"e'
        b'mpty","path":"unicode \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac"},"value":[1763003400,"NaN"]},'
        b'{"metric":{"__name__":"odd_metric","j'
        b'ob":"nl\\nx"},"value":[1763003400,"NaN"]}]}}'
    ),
    'bad_data': (
        b'{"status":"error","errorType":"bad_data","error":"invalid parameter \\"query\\": 1:24: parse error: un'
        b'closed left parenthesis"}'
    ),
}


def build_dataset(name: str) -> Path:
    """The TSDB blocks of dataset `name`, built once with promtool (stack helpers) and cached."""
    from goreliable_lib.devstack.stack.prometheus import build_tsdb

    def write(path: Path) -> None:
        with open(path, "w", encoding="utf-8", buffering=2**20) as out:
            DATASETS[name](out)

    return Path(build_tsdb(cache_root(), dataset_key(name), [write]))


@contextlib.contextmanager
def running_prometheus(name: str, workdir: Path) -> Iterator[str]:
    """A real Prometheus serving dataset `name` on 127.0.0.1; yields its URL and stops it afterwards."""
    from goreliable_lib.devstack.stack.prometheus import PrometheusServer

    server = PrometheusServer(build_dataset(name), workdir=workdir)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def prom_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Prometheus serving the `test` dataset (odd labels + 62 days of `prom_test_requests_total`)."""
    with running_prometheus("test", tmp_path_factory.mktemp("prom-source")) as url:
        yield url
