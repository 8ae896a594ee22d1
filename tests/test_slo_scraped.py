"""The SLO event engine on scraped histories: a real Prometheus 2.42 and a real VictoriaMetrics 1.79 that scraped
the same live targets (goreliable_lib/devstack/stack/targets.py) through a scripted scenario, replayed from the
recorded fixture tests/data/scraped (see its README.md). Unlike imported histories these hold staleness markers
(a restart's failed scrape, a 5xx series that vanished after a restart, stopped targets).

Every SLO of the fixture's catalogs (OpenSLO, Pyrra, Sloth: availability and latency of two services) is computed
by the engine against each server and compared minute by minute with the per-sample truth: the values the targets
served, matched with the samples each server stored (`counter_streams.reference_events`). The live test at the end
checks that the recording path (targets, both scrapers, markers) still works.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from counter_streams import reference_events
from scraped_fixtures import CATALOGS, FIXTURE, KINDS, MIN, facts, ms, start_server, timeline, truth_table

from goreliable_lib.devstack.stack.process import loopback_session
from goreliable_lib.devstack.stack.scraping import (
    TRUTH_MATCH,
    Stack,
    live_scenario,
    markers,
    match_truth,
    play,
    prometheus_markers,
    raw_query,
    vm_export,
)
from goreliable_lib.events import engine
from goreliable_lib.inputs.catalog import SLO, read_catalog
from goreliable_lib.sources.prometheus import PrometheusSource

pytestmark = [pytest.mark.timeout(300)]

SLO_NAMES = ("checkout-availability", "checkout-latency", "search-availability", "search-latency")
LOOKBACK = pd.Timedelta(minutes=3)


@pytest.fixture(scope="module", params=KINDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with start_server(kind=request.param, workdir=tmp_path_factory.mktemp(f"scraped-{request.param}")) as url:
        yield request.param, url


def _slo(catalog: str, name: str) -> SLO:
    (slo,) = [s for s in read_catalog(CATALOGS[catalog]).slos if s.name == name]
    return slo


def _frame(kind: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(first, end]: from 10 minutes after the data starts (whole minutes) to the last scrape's minute."""
    scraper = facts()["scrapers"][kind]
    first = (ms(scraper["first_scrape_ms"]) + 10 * MIN).ceil("min")
    return first, ms(scraper["last_scrape_ms"]).floor("min")


def _reference(kind: str, name: str) -> tuple[pd.Series, pd.Series]:
    """(good, total) per minute of (first, end] from the truth; NaN where the minute has no sample."""
    service, sli = name.split("-")
    table = truth_table(kind=kind)
    if sli == "availability":
        table = table[(table["__name__"] == "http_requests_total") & (table["service"] == service)]

        def good(labels: dict) -> bool:
            return not str(labels.get("code")).startswith("5")

        def total(labels: dict) -> bool:
            return True
    else:
        table = table[(table["service"] == service) & (
            (table["__name__"] == "http_request_duration_seconds_count")
            | ((table["__name__"] == "http_request_duration_seconds_bucket") & (table["le"] == "0.3")))]

        def good(labels: dict) -> bool:
            return labels.get("__name__") == "http_request_duration_seconds_bucket"

        def total(labels: dict) -> bool:
            return labels.get("__name__") == "http_request_duration_seconds_count"
    first, end = _frame(kind)
    interval = facts()["scrape_interval_seconds"]
    totals = reference_events(table=table, first=first, end=end, interval_s=interval, select=total)
    goods = reference_events(table=table, first=first, end=end, interval_s=interval, select=good)
    return goods.fillna(0).where(totals.notna()), totals


def _fetch(url: str, slo: SLO, kind: str) -> engine.SLOEvents:
    first, end = _frame(kind)
    with PrometheusSource(url) as source:
        return engine.fetch_slo_events(source, slo, start=first + LOOKBACK, end=end, lookback=LOOKBACK)


def _runs(missing: pd.Series) -> list[tuple[pd.Timestamp, pd.Timestamp, int]]:
    """Runs of consecutive minutes without data: (first minute, last minute, minutes)."""
    runs: list[list] = []
    for minute in missing[missing].index:
        if runs and minute - runs[-1][1] == MIN:
            runs[-1][1] = minute
            runs[-1][2] += 1
        else:
            runs.append([minute, minute, 1])
    return [tuple(run) for run in runs]  # type: ignore[misc]


@pytest.mark.parametrize("catalog", list(CATALOGS))
@pytest.mark.parametrize("name", SLO_NAMES)
def test_events_equal_the_served_truth(backend: tuple[str, str], catalog: str, name: str) -> None:
    kind, url = backend
    fetched = _fetch(url=url, slo=_slo(catalog=catalog, name=name), kind=kind)
    events = fetched.events.set_index("timestamp")
    good, total = _reference(kind=kind, name=name)
    assert events.index.equals(total.index)

    over = events[(events["good"] > events["total"]) | (events["good"] < 0) | (events["total"] < 0)]
    assert over.empty, f"{kind} {name}: minutes with good > total or negative events:\n{over.head(10)}"
    np.testing.assert_array_equal(events["total"].to_numpy(), total.to_numpy(), err_msg=f"{kind} {name} total")
    np.testing.assert_array_equal(events["good"].to_numpy(), good.to_numpy(), err_msg=f"{kind} {name} good")
    assert fetched.scrape_interval_seconds == pytest.approx(facts()["scrape_interval_seconds"], abs=0.6)

    window = (events.index > events.index[0] + LOOKBACK - MIN)  # the window (start, end] after the lookback
    got_good, got_total = events["good"][window].sum(), events["total"][window].sum()
    want_good, want_total = good[window].sum(), total[window].sum()
    assert (got_good, got_total) == (want_good, want_total)
    assert got_good / got_total == want_good / want_total
    assert 0.5 < want_good / want_total < 1

    runs = _runs(total.isna())
    gaps = fetched.gaps
    assert gaps[["start", "end", "minutes"]].values.tolist() == [list(run) for run in runs]
    assert gaps["carried"].all()
    service = name.split("-")[0]
    if service == "checkout":  # every pod of the service stopped for ~2 minutes and came back fresh
        (stop,) = timeline(action="stop", pods=["checkout-0", "checkout-1"])
        (back,) = timeline(action="start", pods=["checkout-0", "checkout-1"])
        assert len(runs) == 1 and 1 <= runs[0][2] <= 2
        assert ms(stop["at_ms"]) < runs[0][0] and runs[0][1] <= ms(back["done_ms"]).ceil("min")
        assert gaps["restarts"].iloc[0] >= 1
    else:  # one pod stopped 150 s, the other kept going: no minute without data
        assert gaps.empty


def test_prometheus_holds_markers_but_answers_without_them(tmp_path: Path) -> None:
    """The snapshot's blocks hold Prometheus' staleness markers (promtool dump), its raw answers drop them and
    are exactly the truth's samples."""
    with start_server(kind="prometheus", workdir=tmp_path / "server") as url:
        stored = raw_query(url, TRUTH_MATCH, at=facts()["targets_stopped_ms"] / 1000, window_seconds=3600)
    assert not markers(stored)
    assert sum(len(times) for _, times, _ in stored) == len(truth_table(kind="prometheus"))
    in_blocks = prometheus_markers(FIXTURE / "prometheus", tmp_path)
    assert len(in_blocks) >= 10
    recorded = facts()["scrapers"]["prometheus"].get("markers_in_blocks")
    if recorded is not None:
        assert in_blocks == [tuple(marker) for marker in recorded]


def test_victoriametrics_fixture_holds_staleness_markers(tmp_path: Path) -> None:
    """The reloaded native export answers a raw selector over a stopped target with NaN samples (the markers),
    at the same places as the live VictoriaMetrics did when the fixture was recorded."""
    (stop,) = timeline(action="stop", pods=["search-1"])
    (back,) = timeline(action="start", pods=["search-1"])
    with start_server(kind="victoriametrics", workdir=tmp_path) as url:
        with loopback_session() as session:
            answer = session.get(f"{url}/api/v1/query", timeout=30, params={
                "query": 'http_requests_total{pod="search-1"}[5m]', "time": f"{back['at_ms'] / 1000 + 60:.3f}"})
        exported = vm_export(url)
    values = [(float(t), v) for item in answer.json()["data"]["result"] for t, v in item["values"]]
    nans = [t for t, v in values if v == "NaN"]
    assert nans, values
    assert any(stop["at_ms"] / 1000 <= t <= back["at_ms"] / 1000 for t in nans)  # the stopped target's marker
    recorded = [tuple(marker) for marker in facts()["scrapers"]["victoriametrics"]["markers"]]
    assert markers(exported) == recorded and len(recorded) >= 10


@pytest.mark.stack
@pytest.mark.timeout(120)
def test_live_targets_are_scraped_by_both_servers(tmp_path: Path) -> None:
    """Two live targets, both scraping servers at 1 s, one target restart: both servers hold exactly what the
    targets served them, and VictoriaMetrics' raw answer holds the restart's staleness markers."""
    if shutil.which("prometheus") is None or shutil.which("victoria-metrics") is None:
        pytest.skip("prometheus and victoria-metrics are needed")
    scenario = live_scenario()
    with Stack(scenario=scenario, workdir=tmp_path) as stack:
        run = play(scenario=scenario, pods=stack.pods, log=False)
        stack.stop_targets()
        at, window = run.ended + 5, math.ceil(run.ended - run.started) + 30
        prometheus = raw_query(stack.prometheus.url, TRUTH_MATCH, at=at, window_seconds=window)
        victoria = vm_export(stack.victoriametrics.url)
        victoria_raw = raw_query(stack.victoriametrics.url, 'http_requests_total{job="live"}', at=at,
                                 window_seconds=window)
    for kind, stored in (("prometheus", prometheus), ("victoriametrics", victoria)):
        assert {labels["pod"] for labels, _, _ in stored} == {"live-0", "live-1"}, kind
        truth = match_truth(run.pods, kind, stored)  # raises unless the server holds every served value
        assert len(truth) > 100
    assert not markers(prometheus)
    assert markers(victoria_raw), "no NaN (staleness marker) in VictoriaMetrics' raw answer"
