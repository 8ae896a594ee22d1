"""Retention is not a gap: the local stack's history trimmed to its last 15 days (what Prometheus' default
retention leaves), asked for 30-day SLO windows. The counters ran long before the server's oldest sample, so that
sample is a baseline; the days covered equal the simulator's truth, the window is partial and says where its data
starts, and nothing before it is called a scrape gap."""

from __future__ import annotations

import pandas as pd
import pytest
from sim_metrics_fixtures import HELD, trimmed_prometheus_fixture  # noqa: F401  (fixture)
from slo_fixtures import CATALOG

from goreliable_lib.analysis import slo as analysis
from goreliable_lib.devstack.sim import Simulation
from goreliable_lib.devstack.stack.prometheus import PrometheusServer
from goreliable_lib.events import engine
from goreliable_lib.inputs.catalog import load_catalog
from goreliable_lib.plots import slo_text
from goreliable_lib.sources.prometheus import PrometheusSource

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

SLOS = {slo.name: slo for slo in load_catalog(CATALOG)}


@pytest.fixture(scope="module")
def trimmed(trimmed_prometheus: PrometheusServer) -> tuple[Simulation, PrometheusServer]:
    return Simulation(), trimmed_prometheus


@pytest.fixture(scope="module")
def fetched(trimmed) -> dict[str, engine.SLOEvents]:
    simulation, server = trimmed
    as_of = simulation.as_of
    start = as_of - pd.Timedelta(days=30)
    with PrometheusSource(server.url, clock=lambda: as_of) as source:
        return {name: engine.fetch_slo_events(source, slo, start, as_of, lookback=analysis.LOOKBACK)
                for name, slo in SLOS.items()}


@pytest.mark.parametrize("name", SLOS)
def test_the_covered_days_equal_the_truth(trimmed, fetched, name: str) -> None:
    simulation, _ = trimmed
    as_of, truth = simulation.as_of, simulation.metrics
    held_from = as_of - HELD
    data = fetched[name]
    assert data.data_starts_at == held_from  # the server's oldest sample: not a gap, not events
    counts = analysis.window_counts(data.events, held_from, as_of)
    assert (counts.good, counts.total) == truth.slo_events(name, held_from, as_of)
    daily = analysis.daily_sli(data.events, as_of - pd.Timedelta(days=30), as_of).set_index("day")
    for day in pd.date_range(held_from.ceil("D"), as_of.floor("D") - pd.Timedelta(days=1), freq="D"):
        good, total = truth.slo_events(name, day, day + pd.Timedelta(days=1))
        assert (daily.loc[day, "good"], daily.loc[day, "total"]) == (good, total), day
    window = data.window_data(as_of - pd.Timedelta(days=30), as_of)
    assert window.partial and window.summary() == {"data_starts_at": "2026-11-08T06:00:00Z", "partial": True,
                                                    "covered_days": 15.0}
    assert window.coverage == pytest.approx(0.5, abs=1e-3)
    assert "data starts 2026-11-08 06:00 UTC" in slo_text.partial_window_warning(name, window)
    assert data.gaps.empty  # the 15 days the server does not hold are no scrape gap


def test_first_samples_are_baselines_not_events(trimmed, fetched) -> None:
    """The old engine counted every counter's first sample (weeks of requests) as events of the window."""
    simulation, _ = trimmed
    as_of = simulation.as_of
    data = fetched["api-gateway-availability"]
    events = data.events.set_index("timestamp")["total"]
    assert events[:data.covered_from].isna().all()
    first = events[data.covered_from + pd.Timedelta(minutes=1)]
    assert first == 0  # the minute of the oldest samples: their increments are unknown
    good, total = simulation.metrics.slo_events("api-gateway-availability", as_of - pd.Timedelta(days=30), as_of)
    assert events.sum() < total  # the full 30 days happened; the server holds only half of them
    assert data.new_series.empty


@pytest.mark.parametrize("name", SLOS)
def test_alerts_wait_for_their_long_window_to_lie_in_the_data(trimmed, fetched, name: str) -> None:
    """Before the server's data starts nothing is known, so a 3-day burn rate at the first minutes after it would
    be a burn rate over minutes, not days. Each rule is evaluated only once its long window lies in the data;
    from then on its periods are the ones the full history gives (the simulator's per-minute truth, evaluated
    over the same window), since every window it reads holds exactly the truth's events."""
    simulation, _ = trimmed
    as_of, slo = simulation.as_of, SLOS[name]
    start, data = as_of - pd.Timedelta(days=30), fetched[name]
    known = data.covered_from
    trimmed_alerts = analysis.alert_periods(data.events, slo.objective, start, as_of, known_from=known)
    truth_alerts = analysis.alert_periods(simulation.metrics.slo_minutes(name), slo.objective, start, as_of)
    for rule in analysis.ALERT_RULES:
        evaluable = known + analysis.window_length(rule.long_window)
        ours = trimmed_alerts[trimmed_alerts["long_window"] == rule.long_window]
        truth = truth_alerts[truth_alerts["long_window"] == rule.long_window]
        assert (ours["start"] >= evaluable).all(), ours  # nothing fires on a window that is not in the data
        after = truth[truth["start"] > evaluable]  # a period at the boundary may be cut
        assert analysis.alerts_summary(ours[ours["start"] > evaluable]) == analysis.alerts_summary(after), rule
    assert len(truth_alerts[truth_alerts["start"] > known + analysis.LOOKBACK]) == \
        len(trimmed_alerts[trimmed_alerts["start"] > known + analysis.LOOKBACK])
