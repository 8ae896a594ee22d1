"""The metrics simulation on its own: shapes, scripted events, ground truth and the OpenMetrics file."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from goreliable_lib.devstack.sim import Simulation
from goreliable_lib.devstack.sim import metrics as sim_metrics
from goreliable_lib.devstack.sim.metrics import SLOS, MetricsSimulation
from goreliable_lib.devstack.sim.timeline import DEFAULT_AS_OF, HISTORY_DAYS
from goreliable_lib.errors import BadInputError

pytestmark = pytest.mark.timeout(300)

OBJECTIVES = {"api-gateway-availability": 0.999, "api-gateway-latency": 0.99, "order-success-rate": 0.995,
              "notification-delivery": 0.99, "ml-inference-availability": 0.995, "llm-latency": 0.99}
# Multiwindow burn-rate alerts (SRE workbook, 30-day budget): (long, short, factor).
ALERTS = ((60, 5, 14.4), (360, 30, 6.0), (1440, 120, 3.0), (4320, 360, 1.0))


@pytest.fixture(scope="module")
def sim() -> MetricsSimulation:
    return Simulation().metrics


def _rows(sim: MetricsSimulation, **labels: str) -> pd.DataFrame:
    series = sim.series()
    mask = np.ones(len(series), bool)
    for column, value in labels.items():
        mask &= (series[column] == value).to_numpy()
    return series[mask]


def _burn(sim: MetricsSimulation, name: str, minutes: int) -> pd.Series:
    """Burn rate over the trailing `minutes` at every sample (from the ground truth)."""
    frame = sim.slo_minutes(name).set_index("timestamp")
    rolled = frame.rolling(f"{minutes}min").sum()
    return (1 - rolled["good"] / rolled["total"]) / (1 - OBJECTIVES[name])


def test_shape_and_cardinality(sim: MetricsSimulation) -> None:
    series = sim.series()
    assert 150 <= len(series) <= 250
    assert sim.timestamps[-1] == DEFAULT_AS_OF
    assert len(sim.minutes) == HISTORY_DAYS * 1440
    assert (sim.timestamps.second == 0).all()
    assert set(series["family"]) == {"http_requests", "http_request_duration_seconds", "orders", "notifications",
                                     "inference_requests", "model_drift_detected", "up", "vllm:prompt_tokens",
                                     "vllm:generation_tokens"}
    assert series["job"].notna().all() and series["instance"].notna().all()
    assert set(_rows(sim, name="http_requests_total")["service"]) == {
        "api-gateway", "order-service", "ml-inference-gateway", "llm-gateway"}
    assert set(_rows(sim, name="http_requests_total")["code"]) == {"200", "404", "500", "503"}
    assert list(_rows(sim, name="http_request_duration_seconds_bucket", instance="10.0.1.12:8080")["le"]) == [
        "0.1", "0.3", "0.5", "1", "+Inf"]


def test_histograms_are_consistent(sim: MetricsSimulation) -> None:
    """Buckets grow with le, +Inf equals _count, and _count equals the pod's requests, at every sample."""
    for instance in _rows(sim, name="http_request_duration_seconds_count")["instance"]:
        buckets = _rows(sim, name="http_request_duration_seconds_bucket", instance=instance)
        values = np.stack([sim._values[row] for row in buckets.index])
        assert (np.diff(values, axis=0) >= 0).all()
        count = sim._values[_rows(sim, name="http_request_duration_seconds_count", instance=instance).index[0]]
        requests = sim._values[_rows(sim, name="http_requests_total", instance=instance).index].sum(axis=0)
        assert np.array_equal(values[-1], count)
        assert np.array_equal(count, requests)


def test_counters_only_drop_at_pod_restarts(sim: MetricsSimulation) -> None:
    series = sim.series()
    counters = np.nonzero((series["kind"] == "counter").to_numpy())[0]
    resets = sim.counter_resets()
    assert len(resets) >= 5 and (resets["series"] > 0).all()
    expected = {(row.job, row.instance, row.timestamp) for row in resets.itertuples()}
    drops = np.argwhere(np.diff(sim._values[counters], axis=1) < 0)
    seen = {(series["job"].iat[counters[r]], series["instance"].iat[counters[r]], sim.timestamps[c + 1])
            for r, c in drops}
    assert seen == expected  # drops happen at restarts only, and every restart is visible


def test_scrape_gap_has_no_samples_and_its_events_land_after_it(sim: MetricsSimulation) -> None:
    gap = sim.scrape_gaps().iloc[0]
    assert gap["end"] - gap["start"] == pd.Timedelta(minutes=30) and gap["missing_samples"] == 30
    stamps = sim.timestamps
    assert not ((stamps >= gap["start"]) & (stamps < gap["end"])).any()
    after = sim.slo_minutes("api-gateway-availability").set_index("timestamp")["total"]
    first_after = after.loc[gap["end"]]
    usual = after.loc[gap["start"] - pd.Timedelta(minutes=40):gap["start"]].mean()
    assert 25 * usual < first_after < 40 * usual  # 31 minutes of requests in one sample


def test_slo_events_window_is_open_on_the_left(sim: MetricsSimulation) -> None:
    frame = sim.slo_minutes("order-success-rate")
    t = frame["timestamp"].iat[1000]
    good, total = sim.slo_events("order-success-rate", t - pd.Timedelta(minutes=1), t)
    assert (good, total) == (frame["good"].iat[1000], frame["total"].iat[1000])
    whole = sim.slo_events("order-success-rate", sim.as_of - pd.Timedelta(days=HISTORY_DAYS), sim.as_of)
    assert whole == (frame["good"].sum(), frame["total"].sum())
    assert sim.slo_events("order-success-rate", "now-7d", "now") == sim.slo_events(
        "order-success-rate", sim.as_of - pd.Timedelta(days=7), sim.as_of)
    for name in SLOS:
        minutes = sim.slo_minutes(name)
        assert (minutes["good"] <= minutes["total"]).all() and minutes["total"].sum() > 1_000_000


def test_unknown_slo_is_bad_input(sim: MetricsSimulation) -> None:
    with pytest.raises(BadInputError, match="unknown SLO 'checkout-latency'"):
        sim.slo_events("checkout-latency", "now-1d", "now")


def test_budgets_are_met_with_some_burn(sim: MetricsSimulation) -> None:
    for name, objective in OBJECTIVES.items():
        good, total = sim.slo_events(name, "now-30d", "now")
        budget_used = (1 - good / total) / (1 - objective)
        assert 0.2 < budget_used < 0.8, (name, budget_used)


def test_outage_fires_the_page(sim: MetricsSimulation) -> None:
    outage = sim.scripted_events().set_index("name").loc["api-gateway-5xx-outage"]
    assert outage["start"] > sim.as_of - pd.Timedelta(days=30)
    at_end = outage["end"]
    assert _burn(sim, "api-gateway-availability", 60).loc[at_end] > 14.4 * 5
    assert _burn(sim, "api-gateway-availability", 5).loc[at_end] > 14.4 * 5
    before = _burn(sim, "api-gateway-availability", 60).loc[outage["start"]]
    assert before < 2


def test_llm_regression_and_notification_backlog_burn(sim: MetricsSimulation) -> None:
    events = sim.scripted_events().set_index("name")
    llm = events.loc["llm-latency-regression"]
    assert _burn(sim, "llm-latency", 180).loc[llm["end"]] > 10
    backlog = events.loc["notification-backlog"]
    assert _burn(sim, "notification-delivery", 60).loc[backlog["end"]] > 10


def test_quiet_week_fires_no_burn_rate_alert(sim: MetricsSimulation) -> None:
    start, end = sim.quiet_week()
    assert end == sim.as_of and end - start == pd.Timedelta(days=7)
    for name in SLOS:
        fired = None
        for long, short, factor in ALERTS:
            firing = (_burn(sim, name, long) > factor) & (_burn(sim, name, short) > factor)
            in_week = firing[(firing.index > start) & (firing.index <= end)]
            fired = fired if not in_week.any() else (long, short, in_week.idxmax())
            assert fired is None, (name, fired)


def test_quiet_week_has_no_scripted_trouble(sim: MetricsSimulation) -> None:
    start, end = sim.quiet_week()
    events = sim.scripted_events()
    trouble = events[~events["kind"].isin(["counter_reset", "quiet_week"])]
    assert (trouble["end"] <= start - pd.Timedelta(days=3)).all()  # not even in a 3-day alert window


def test_drift_gauge_matches_drift_periods(sim: MetricsSimulation) -> None:
    periods = sim.drift_periods()
    assert len(periods) == 1
    period = periods.iloc[0]
    assert period["end"] - period["start"] >= pd.Timedelta(hours=3)
    for row in _rows(sim, name="model_drift_detected").itertuples():
        values = sim.values(row.Index)
        drifting = (values.index >= period["start"]) & (values.index < period["end"])
        expected = drifting if row.model == period["model"] else np.zeros(len(values), bool)
        assert np.array_equal(values.to_numpy() == 1, expected)
        assert set(np.unique(values)) <= {0.0, 1.0}


def test_scripted_events_frame(sim: MetricsSimulation) -> None:
    events = sim.scripted_events()
    assert list(events.columns) == ["name", "kind", "start", "end", "service", "description"]
    assert {"outage", "latency_regression", "backlog", "counter_reset", "scrape_gap", "model_drift",
            "quiet_week"} <= set(events["kind"])
    assert (events["start"] <= events["end"]).all()
    assert (events["start"] >= sim.as_of - pd.Timedelta(days=HISTORY_DAYS)).all()


def _window_file(sim: MetricsSimulation, path: Path) -> bytes:
    start = sim.as_of - pd.Timedelta(days=16)
    sim.write_openmetrics(path, start=start, end=start + pd.Timedelta(days=2))
    return path.read_bytes()


def test_openmetrics_follows_the_backfill_rules(sim: MetricsSimulation, tmp_path: Path) -> None:
    text = _window_file(sim, tmp_path / "window.om").decode()
    lines = text.split("\n")
    assert lines[-1] == "" and lines[-2] == "# EOF" and "" not in lines[:-1]
    families, last_time = [], {}
    sample = re.compile(r'^([a-z_:]+)\{(.*)\} (-?[0-9.e+]+) ([0-9]+)$')
    for line in lines[:-2]:
        if line.startswith("#"):
            match = re.fullmatch(r"# TYPE ([a-z_:]+) (counter|gauge|histogram)", line)
            assert match, line
            assert match[1] not in families, f"family {match[1]} is not contiguous"
            families.append(match[1])
            continue
        match = sample.match(line)
        assert match, line
        assert match[1].startswith(families[-1]), line
        stamp = int(match[4])
        assert stamp % 60 == 0
        key = (match[1], match[2])
        assert stamp > last_time.get(key, 0), f"{key} is not in time order"
        last_time[key] = stamp
    assert len(last_time) == len(sim.series())
    assert 'le="0.3"' in text and 'le="+Inf"' in text


def test_same_seed_same_bytes_other_seed_other_bytes(sim: MetricsSimulation, tmp_path: Path) -> None:
    again = MetricsSimulation()
    first = hashlib.sha256(_window_file(sim, tmp_path / "a.om")).hexdigest()
    assert hashlib.sha256(_window_file(again, tmp_path / "b.om")).hexdigest() == first
    assert np.array_equal(again._values, sim._values)
    other = MetricsSimulation(seed=7)
    assert hashlib.sha256(_window_file(other, tmp_path / "c.om")).hexdigest() != first


def test_simulation_facade(sim: MetricsSimulation) -> None:
    simulation = Simulation()
    assert simulation.version.startswith("sim") and "metrics" in simulation.version
    assert simulation.cache_key == f"seed{simulation.seed}-2026-11-23T060000Z-v{simulation.version}"
    writers = simulation.openmetrics_writers()
    assert len(writers) >= 4  # one per block window of the metrics (+ the cost metrics)


def test_schedule_without_data_and_crash_loop_shared_with_costs(sim: MetricsSimulation) -> None:
    assert sim_metrics.scripted_events().equals(sim.scripted_events())
    loop = sim.scripted_events().set_index("name").loc["notification-worker-crash-loop"]
    assert loop["start"] == pd.Timestamp("2026-11-04T00:00:00Z") and loop["end"] - loop["start"] == pd.Timedelta(days=2)
    costs = pytest.importorskip("goreliable_lib.devstack.sim.costs")
    if hasattr(costs, "CRASH_LOOP_DAYS_BEFORE_AS_OF"):
        assert loop["start"] == sim.as_of.floor("D") - pd.Timedelta(days=costs.CRASH_LOOP_DAYS_BEFORE_AS_OF)
        assert loop["end"] - loop["start"] == pd.Timedelta(days=costs.CRASH_LOOP_DAYS)
