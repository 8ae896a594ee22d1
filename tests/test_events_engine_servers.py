"""The SLO event engine against the real servers: Prometheus 2.42 (backfilled with promtool) and VictoriaMetrics
1.79 (imported), both holding the same raw counter streams (`counter_streams`): a 15 s service with a crash-looping
pod, a history that starts inside the window (retention), a 5-minute scrape, a 30-minute scrape gap, a bucket
whose `le` spelling changes, and seeded random services. Every figure is compared with the per-sample reference,
and with the engine's answer from the in-memory API (so the fake the property tests use answers like the servers).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from counter_streams import (
    S_NS,
    FakePrometheus,
    Stream,
    make_samples,
    openmetrics_text,
    prometheus_text,
    random_streams,
    reference_events,
)
from slo_fixtures import ratio_slo

from goreliable_lib.devstack.stack.prometheus import start_from_openmetrics
from goreliable_lib.devstack.stack.victoriametrics import VictoriaMetricsServer
from goreliable_lib.events import engine
from goreliable_lib.inputs.catalog import SLO
from goreliable_lib.sources.prometheus import PrometheusSource
from goreliable_lib.sources.snapshot import SnapshotRecorder, SnapshotReplayer

pytestmark = [pytest.mark.timeout(900)]

T0 = pd.Timestamp("2026-11-10T00:00:00Z")
HOUR = pd.Timedelta(hours=1)
MIN = pd.Timedelta(minutes=1)
FIRST, END = T0 + HOUR, T0 + 6 * HOUR  # the frame: (FIRST, END]
LOOP_START, LOOP_END = T0 + 3 * HOUR, T0 + 5 * HOUR  # the crash loop (the postmortem's incident)
RETAINED_FROM = T0 + pd.Timedelta(hours=2, minutes=17, seconds=3)  # the server's data of "retained" starts here
RANDOM = 8


def _checkout(service: str, start_ns: int, stop_ns: int, interval: float, loop: tuple[int, int] | None,
              initial: float) -> list[Stream]:
    streams = []
    for pod in range(4):
        for route in range(2):
            for code, rate in (("200", 6.0), ("500", 0.06)):
                restarts: list[int] = []
                silences: list[tuple[int, int]] = []
                busy = None
                if loop is not None and pod == 1:
                    restarts = list(range(loop[0], loop[1], 10))  # a restart every 10 scrapes (150 s at 15 s)
                    silences = [(i, 1) for i in restarts]  # the scrape during the restart fails
                    if code == "500":
                        busy = (loop[0], loop[1], 6.0)  # half of the pod's requests fail
                streams.append(Stream(labels={"__name__": "req_total", "service": service, "pod": f"p{pod}",
                                              "route": f"/r{route}", "code": code},
                                      start_ns=start_ns + pod * 3_700_000_000, stop_ns=stop_ns, interval_s=interval,
                                      jitter_ms=40, rate=rate, restarts=restarts, silences=silences, initial=initial,
                                      seed=pod * 10 + route, busy=busy))
    return streams


def _scenarios() -> tuple[pd.DataFrame, dict[str, float]]:
    """Every scenario as one table (one `service` each) and its scrape interval."""
    streams: list[Stream] = []
    intervals: dict[str, float] = {}
    start, stop = T0.value, (END + 10 * MIN).value
    loop = (int((LOOP_START - T0).total_seconds() / 15), int((LOOP_END - T0).total_seconds() / 15))
    streams += _checkout("crashloop", start, stop, 15, loop, 1000.0)
    intervals["crashloop"] = 15
    # retention: the server's data starts at RETAINED_FROM; the counters ran long before (large first values)
    streams += _checkout("retained", RETAINED_FROM.value, stop, 15, None, 2_000_000.0)
    streams.append(Stream(labels={"__name__": "req_total", "service": "retained", "pod": "p0", "route": "/r0",
                                  "code": "503"}, start_ns=(RETAINED_FROM + HOUR).value, stop_ns=stop, interval_s=15,
                          jitter_ms=40, rate=0.5, initial=1.0, seed=77))
    intervals["retained"] = 15
    streams += _checkout("slow", start, stop, 300, None, 1000.0)
    intervals["slow"] = 300
    gap = (int((T0 + 4 * HOUR - T0).total_seconds() / 30), 60)  # 30 minutes without scrapes
    gapped = _checkout("gapped", start, stop, 30, None, 1000.0)
    for s in gapped:
        s.silences = [gap]
    streams += gapped
    intervals["gapped"] = 30
    for pod in range(2):  # a bucket whose spelling changes from le="0.3" to le="0.30" at hour 3
        common = {"start_ns": start + pod * S_NS, "stop_ns": stop, "interval_s": 30, "seed": 500 + pod}
        cut = int(3 * 3600 / 30)
        labels = {"service": "spellings", "pod": f"p{pod}"}
        streams.append(Stream({"__name__": "lat_count", **labels}, rate=5, initial=5000, **common))
        streams.append(Stream({"__name__": "lat_bucket", **labels, "le": "0.3"}, rate=4, initial=4000,
                              silences=[(cut, 10**9)], **common))
        streams.append(Stream({"__name__": "lat_bucket", **labels, "le": "0.30"}, rate=4, initial=4000,
                              silences=[(0, cut)], **common))
    intervals["spellings"] = 30
    for seed in range(RANDOM):
        name = f"random{seed}"
        random, intervals[name] = random_streams(seed, name, T0, 6.2)
        streams += random
    return make_samples(streams), intervals


TABLE, INTERVALS = _scenarios()


def availability(service: str) -> SLO:
    return ratio_slo(f'req_total{{service="{service}",code!~"5.."}}', f'req_total{{service="{service}"}}',
                     name="servers")


@contextlib.contextmanager
def _victoriametrics(folder: Path) -> Iterator[str]:
    """The stack's VictoriaMetrics holding TABLE, through its checked import (every sample line stored)."""
    if shutil.which("victoria-metrics") is None:
        pytest.skip("victoria-metrics is not installed (apt-get install -y victoria-metrics)")
    data = folder / "table.prom"
    data.write_text(prometheus_text(TABLE))
    with VictoriaMetricsServer(workdir=folder / "server", stop_at_exit=True) as server:
        assert server.import_file(data) == len(TABLE)
        yield server.url


@pytest.fixture(scope="module", params=["prometheus", "victoriametrics"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp(f"engine-{request.param}")
    if request.param == "prometheus":
        if shutil.which("promtool") is None:
            pytest.skip("promtool is not installed")
        server = start_from_openmetrics(openmetrics_text(TABLE), folder)
        try:
            yield request.param, server.url
        finally:
            server.stop()
    else:
        with _victoriametrics(folder) as url:
            yield request.param, url


def _fake(kind: str) -> FakePrometheus:
    vm = kind == "victoriametrics"
    return FakePrometheus(TABLE, closed=not vm, vm_resets=vm, day_index=vm)


def _reference(service: str, interval: float, good_only: bool = False) -> pd.Series:
    def select(labels: dict) -> bool:
        if labels.get("service") != service or labels.get("__name__") == "lat_bucket" and not good_only:
            return False
        if good_only:
            return labels.get("__name__") == "lat_bucket" or (labels.get("__name__") == "req_total"
                                                               and not str(labels.get("code")).startswith("5"))
        return True

    table = TABLE[TABLE["service"] == service]
    return reference_events(table, FIRST, END, interval, select=select)


def _fetch(kind: str, url: str, slo: SLO) -> engine.SLOEvents:
    with PrometheusSource(url) as source:
        return engine.fetch_slo_events(source, slo, FIRST + HOUR, END, lookback=HOUR)


def _assert_equal(fetched: engine.SLOEvents, service: str, interval: float) -> None:
    events = fetched.events.set_index("timestamp")
    total = _reference(service, fetched.scrape_interval_seconds or 60.0)
    good = _reference(service, fetched.scrape_interval_seconds or 60.0, good_only=True)
    assert fetched.scrape_interval_seconds == pytest.approx(interval, abs=0.61)  # the shortest spacing: jitter
    np.testing.assert_array_equal(events["total"].to_numpy(), total.to_numpy(), err_msg=f"{service} total")
    np.testing.assert_array_equal(events["good"].to_numpy(), good.fillna(0).where(total.notna()).to_numpy(),
                                  err_msg=f"{service} good")


@pytest.mark.parametrize("service", ["crashloop", "slow", "gapped", *[f"random{i}" for i in range(RANDOM)]])
def test_events_equal_the_reference_and_the_fake(backend: tuple[str, str], service: str) -> None:
    kind, url = backend
    fetched = _fetch(kind, url, availability(service))
    _assert_equal(fetched, service, INTERVALS[service])
    faked = engine.fetch_slo_events(_fake(kind), availability(service), FIRST + HOUR, END, lookback=HOUR)
    pd.testing.assert_frame_equal(fetched.events, faked.events)
    pd.testing.assert_frame_equal(fetched.gaps, faked.gaps)


def test_crash_loop_at_15_seconds(backend: tuple[str, str]) -> None:
    """One pod restarting every 150 s for two hours at a 15 s scrape, half its requests failing: the incident's
    bad events equal the per-sample truth, and every restart is listed."""
    kind, url = backend
    fetched = _fetch(kind, url, availability("crashloop"))
    events = fetched.events.set_index("timestamp")
    inside = (events.index > LOOP_START) & (events.index <= LOOP_END)
    total = _reference("crashloop", 15)
    good = _reference("crashloop", 15, good_only=True)
    truth_bad = (total - good)[inside].sum()
    bad = (events["total"] - events["good"])[inside].sum()
    assert bad == truth_bad and events["total"][inside].sum() == total[inside].sum()
    assert truth_bad > 1000
    loop_resets = fetched.resets[(fetched.resets["timestamp"] > LOOP_START)
                                 & (fetched.resets["timestamp"] <= LOOP_END)]
    assert loop_resets["series"].str.contains('pod="p1"').all()
    assert len(loop_resets) >= 4 * 47  # 4 series of the pod, a restart every 150 s (some hide in a missed scrape)
    assert fetched.gaps.empty  # one missed scrape at 15 s leaves no minute without a sample of the service


def test_a_history_starting_inside_the_window(backend: tuple[str, str]) -> None:
    """The server holds the service only from RETAINED_FROM on (its counters ran long before): the first samples
    are baselines (0 events), data_starts_at says when the data starts, every minute from it on equals the
    truth, and the minutes before are neither events nor a scrape gap."""
    kind, url = backend
    fetched = _fetch(kind, url, availability("retained"))
    oldest = pd.Timestamp(int(TABLE.loc[TABLE["service"] == "retained", "t"].min()), tz="UTC")
    assert abs(oldest - RETAINED_FROM) < pd.Timedelta(seconds=1)  # the first scrape, jitter included
    assert fetched.data_starts_at == oldest
    assert fetched.covered_from == oldest.ceil("min") - MIN
    _assert_equal(fetched, "retained", 15)
    events = fetched.events.set_index("timestamp")
    assert events["total"][:fetched.covered_from].isna().all() and fetched.gaps.empty
    assert events["total"].sum() < 10_000_000  # never the counters' 2,000,000-per-series history
    assert len(fetched.new_series) == 1 and '"503"' in fetched.new_series["series"].iloc[0]
    window = fetched.window_data(FIRST + HOUR, END)
    assert window.partial and window.data_starts_at == oldest


def test_le_spelling_change_is_one_counter(backend: tuple[str, str]) -> None:
    kind, url = backend
    latency = ratio_slo('lat_bucket{service="spellings",le="0.3"}', 'lat_count{service="spellings"}', name="servers")
    fetched = _fetch(kind, url, latency)
    _assert_equal(fetched, "spellings", 30)
    assert fetched.series["good"] == 2 and fetched.new_series.empty


def test_gap_facts(backend: tuple[str, str]) -> None:
    kind, url = backend
    fetched = _fetch(kind, url, availability("gapped"))
    missing = _reference("gapped", 30).isna()
    missing = missing[missing].index  # the minutes of the 30-minute silence without any sample
    assert fetched.gaps[["start", "end", "minutes", "carried", "restarts"]].values.tolist() == \
        [[missing[0], missing[-1], len(missing), True, 0]]
    assert missing[0] == T0 + 4 * HOUR + MIN and len(missing) in (29, 30)  # the last one depends on jitter


def test_a_recorded_run_replays_identically_and_stays_small(backend: tuple[str, str], tmp_path: Path) -> None:
    kind, url = backend
    folder = tmp_path / "data"
    recorder = SnapshotRecorder(folder, as_of=END)
    with PrometheusSource(url, recorder=recorder) as source:
        recorded = engine.fetch_slo_events(source, availability("crashloop"), FIRST + HOUR, END, lookback=HOUR)
    replayer = SnapshotReplayer(folder)
    replayed = engine.fetch_slo_events(PrometheusSource(None, replayer=replayer), availability("crashloop"),
                                       FIRST + HOUR, END, lookback=HOUR)
    pd.testing.assert_frame_equal(recorded.events, replayed.events)
    pd.testing.assert_frame_equal(recorded.resets, replayed.resets)
    service = TABLE[TABLE["service"] == "crashloop"]
    raw_rows = sum(e["rows"] for e in replayer.manifest["entries"]
                   if e["request"]["method"] == "query" and e["request"]["query"].endswith("]"))
    assert raw_rows < 0.25 * len(service), (raw_rows, len(service))  # raw samples only around the restarts
    as_raw = SnapshotRecorder(tmp_path / "raw")  # what recording every raw sample would take
    as_raw.record("prometheus", {"all": "raw"}, service.rename(columns={"t": "timestamp"}).assign(
        timestamp=lambda f: pd.to_datetime(f["timestamp"], utc=True)))
    raw_size = sum(p.stat().st_size for p in (tmp_path / "raw").glob("*.parquet"))
    size = sum(p.stat().st_size for p in folder.glob("*.parquet"))
    assert size < raw_size, (size, raw_size)
