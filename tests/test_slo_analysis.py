"""SLO analysis on synthetic per-minute frames with hand-computed answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from slo_fixtures import T0, minute_events, steady_events, with_outage

from goreliable_lib.analysis import slo

MIN = pd.Timedelta(minutes=1)


def test_sli_is_request_weighted_not_an_average_of_ratios() -> None:
    events = minute_events(T0 + MIN, total=[1000, 10], good=[990, 0])
    counts = slo.window_counts(events, T0, T0 + 2 * MIN)
    assert (counts.good, counts.total, counts.bad) == (990, 1010, 20)
    assert slo.sli(counts.good, counts.total) == pytest.approx(990 / 1010)
    assert slo.sli(counts.good, counts.total) != pytest.approx((0.99 + 0.0) / 2)


def test_window_is_start_exclusive_end_inclusive() -> None:
    events = minute_events(T0, total=[1, 10, 100, 1000], good=0)
    counts = slo.window_counts(events, T0, T0 + 2 * MIN)
    assert counts.total == 110 and counts.minutes == 2


def test_error_budget_remaining_and_negative_when_overspent() -> None:
    assert slo.error_budget_remaining(0.9995, 0.999) == pytest.approx(0.5)
    assert slo.error_budget_remaining(0.98, 0.99) == pytest.approx(-1.0)
    result = slo.evaluate_slo(minute_events(T0 + MIN, [100] * 10, [98] * 10), name="x", service="s",
                              objective=0.99, start=T0, end=T0 + 10 * MIN)
    assert result.sli == pytest.approx(0.98)
    assert result.error_budget_remaining == pytest.approx(-1.0)
    assert result.status == "breached"


def test_gaps_lower_coverage_but_not_the_sli() -> None:
    events = minute_events(T0 + MIN, total=[100, np.nan, np.nan, 300, 100], good=[100, np.nan, np.nan, 297, 100])
    result = slo.evaluate_slo(events, name="x", service="s", objective=0.99, start=T0, end=T0 + 10 * MIN)
    assert result.coverage == pytest.approx(3 / 10)  # 10 minutes in the window, 3 with samples
    assert result.total_events == 500 and result.good_events == 497
    assert result.sli == pytest.approx(0.994)


@pytest.mark.parametrize("total", [[0, 0, 0], [np.nan, np.nan, np.nan], []])
def test_no_traffic_is_no_data_never_100_percent(total: list[float]) -> None:
    events = minute_events(T0 + MIN, total=total, good=0) if total else minute_events(T0, [], [])
    result = slo.evaluate_slo(events, name="quiet", service="s", objective=0.999, start=T0, end=T0 + 3 * MIN)
    assert result.status == "no_data"
    summary = result.summary()
    assert summary["sli"] is None and summary["error_budget_remaining"] is None
    assert summary["total_events"] == 0
    assert all(v is None for v in summary["burn_rates"].values())
    assert result.burndown.empty and result.alerts.empty


@pytest.mark.parametrize(("remaining", "status"), [
    (0.5, "ok"), (0.10, "ok"), (0.0999, "at_risk"), (0.0, "at_risk"), (-0.0001, "breached")])
def test_status_rule(remaining: float, status: str) -> None:
    assert slo.slo_status(remaining, total=100, alert_below=0.10) == status


def test_burn_rates_over_trailing_windows() -> None:
    end = T0 + pd.Timedelta(days=4)
    events = steady_events(T0, end, per_minute=1000, bad_per_minute=1)  # 0.1% errors: burn 1 at 99.9%
    events = with_outage(events, end - pd.Timedelta(minutes=59), 60, bad_per_minute=20)  # last hour: burn 20
    rates = slo.burn_rates(events, end, objective=0.999)
    assert rates["1h"] == pytest.approx(20.0)
    assert rates["6h"] == pytest.approx((300 * 1 + 60 * 20) / 360)
    assert rates["1d"] == pytest.approx((1380 * 1 + 60 * 20) / 1440)
    assert rates["3d"] == pytest.approx((4260 * 1 + 60 * 20) / 4320)


def _outage_alerts(outage: bool) -> pd.DataFrame:
    events = steady_events(T0 - pd.Timedelta(days=4), T0 + pd.Timedelta(days=1), per_minute=1000)
    if outage:  # bad minutes T0+1 .. T0+30: 50% errors, burn 500 at 99.9%
        events = with_outage(events, T0 + MIN, 30, bad_per_minute=500)
    return slo.alert_periods(events, 0.999, T0 - pd.Timedelta(hours=1), T0 + pd.Timedelta(hours=10))


def test_alert_periods_of_an_outage_hand_computed() -> None:
    alerts = _outage_alerts(outage=True).set_index(["long_window", "short_window"])
    # At T0+k (k bad minutes in the long window, k <= 30): burn_1h = 500k/60000/0.001 >= 14.4 from k = 2;
    # after the outage the 5m window empties at T0+35. 6h: 1.389k >= 6 from k = 5, the 30m window empties at
    # T0+60. 1d: 0.347k >= 3 from k = 9, 2h empties at T0+150. 3d: 0.1157k >= 1 from k = 9, 6h empties at T0+390.
    expected = {("1h", "5m"): (2, 35, "page"), ("6h", "30m"): (5, 60, "page"),
                ("1d", "2h"): (9, 150, "ticket"), ("3d", "6h"): (9, 390, "ticket")}
    assert len(alerts) == 4
    for windows, (first, after, severity) in expected.items():
        row = alerts.loc[windows]
        assert row["start"] == T0 + first * MIN, windows
        assert row["end"] == T0 + after * MIN, windows
        assert row["severity"] == severity and not row["ongoing"]
    assert alerts.loc[("1h", "5m"), "peak_burn_rate"] == pytest.approx(500 * 30 / 60 / 1000 / 0.001)


def test_nothing_fires_in_a_quiet_week() -> None:
    assert _outage_alerts(outage=False).empty


def test_alert_still_firing_at_window_end_is_ongoing() -> None:
    events = with_outage(steady_events(T0 - pd.Timedelta(days=4), T0 + pd.Timedelta(hours=2)),
                         T0 + MIN, 120, bad_per_minute=500)
    alerts = slo.alert_periods(events, 0.999, T0, T0 + pd.Timedelta(hours=2))
    page = alerts[alerts["long_window"] == "1h"].iloc[0]
    assert page["ongoing"] and page["end"] == T0 + pd.Timedelta(hours=2)


def test_alerts_on_data_that_starts_late_wait_for_their_long_window() -> None:
    """The server's data starts at T0 (retention): events are known only for the minutes after it. An outage at
    T0+1 .. T0+30 as above; with `known_from=T0` a rule is evaluated at t only when t - long >= T0."""
    events = with_outage(steady_events(T0, T0 + pd.Timedelta(days=4), per_minute=1000), T0 + MIN, 30,
                         bad_per_minute=500)
    early = slo.alert_periods(events, 0.999, T0 - pd.Timedelta(days=1), T0 + pd.Timedelta(days=4))
    alerts = slo.alert_periods(events, 0.999, T0 - pd.Timedelta(days=1), T0 + pd.Timedelta(days=4), known_from=T0)
    # Unguarded, every rule fires at T0+1: each long window then holds one minute of 50% errors (burn 500).
    assert set(early["start"]) == {T0 + MIN}
    # Guarded: 1h is evaluable from T0+60, when the 5m window (T0+55, T0+60] holds no bad minute: no page; the
    # 6h rule from T0+6h, when its 30m window is clean: nothing; likewise 1d and 3d. No alert at all.
    assert alerts.empty
    # A second outage at T0+2d (30 minutes of 50%) lies where 1h, 6h and 1d are evaluable: they fire as on full
    # data (from k = 2, 5 and 9 bad minutes, as hand-computed above); 3d is evaluable only from T0+3d: it doesn't.
    second = T0 + pd.Timedelta(days=2)
    events = with_outage(events, second + MIN, 30, bad_per_minute=500)
    alerts = slo.alert_periods(events, 0.999, T0 - pd.Timedelta(days=1), T0 + pd.Timedelta(days=4),
                               known_from=T0).set_index("long_window")
    assert sorted(alerts.index) == ["1d", "1h", "6h"]
    assert [alerts.loc[w, "start"] for w in ("1h", "6h", "1d")] == [second + 2 * MIN, second + 5 * MIN,
                                                                      second + 9 * MIN]


def test_daily_sli_and_burndown() -> None:
    start, end = T0.floor("D"), T0.floor("D") + pd.Timedelta(days=2)
    events = with_outage(steady_events(start, end, per_minute=100), start + pd.Timedelta(days=1, hours=1), 10,
                         bad_per_minute=100)
    daily = slo.daily_sli(events, start, end)
    assert list(daily["day"]) == [start, start + pd.Timedelta(days=1)]
    assert list(daily["total"]) == [144000, 144000]
    assert daily["sli"].iloc[0] == 1.0
    assert daily["sli"].iloc[1] == pytest.approx(1 - 1000 / 144000)
    burndown = slo.budget_burndown(events, start, end, objective=0.99)
    assert burndown["error_budget_remaining"].iloc[0] == 1.0
    assert burndown["timestamp"].iloc[0] == start and burndown["timestamp"].iloc[-1] == end
    remaining = slo.error_budget_remaining(1 - 1000 / 288000, 0.99)
    assert burndown["error_budget_remaining"].iloc[-1] == pytest.approx(remaining)
    assert burndown["error_budget_remaining"].is_monotonic_decreasing


def _result(name: str, remaining: float, status: str = "ok") -> slo.SLOResult:
    empty = pd.DataFrame()
    return slo.SLOResult(name=name, service="s", objective=0.99, start=T0, end=T0, good_events=1, total_events=1,
                         sli=1.0, error_budget_remaining=remaining, burn_rates={}, coverage=1.0, status=status,
                         alerts=empty, daily=empty, burndown=empty)


@pytest.mark.parametrize(("remaining", "decision", "alert"), [
    (0.9, "features", False), (0.5000001, "features", False), (0.5, "caution", False), (0.2, "caution", False),
    (0.1999, "reliability", False), (0.1, "reliability", False), (0.0999, "reliability", True),
    (0.0, "freeze", True), (-0.7, "freeze", True)])
def test_policy_boundaries(remaining: float, decision: str, alert: bool) -> None:
    policy = slo.budget_policy([_result("a", 0.95), _result("b", remaining)])
    assert policy["decision"] == decision and policy["alert"] is alert
    driver = "b" if remaining < 0.95 else "a"
    assert policy["slo"] == driver and driver in policy["reason"]


def test_policy_thresholds_are_parameters_and_no_data_is_named() -> None:
    results = [_result("a", 0.45), _result("quiet", math.nan, status="no_data")]
    policy = slo.budget_policy(results, features_above=0.4, reliability_below=0.3, alert_below=0.05)
    assert policy["decision"] == "features" and "quiet" in policy["reason"]
    assert slo.budget_policy([_result("quiet", math.nan, status="no_data")])["decision"] == "no_data"


def test_model_drift_in_window_and_now() -> None:
    times = pd.date_range(T0, periods=6, freq="5min")
    drift = pd.DataFrame({"timestamp": list(times) * 2, "value": [0, 1, 1, 0, 0, 0] + [0, 0, 0, 0, 1, 1],
                          "model": ["fraud"] * 6 + ["ranker"] * 6})
    status = {s["model"]: s for s in slo.model_drift(drift, T0 - MIN, times[-1])}
    assert status["fraud"]["detected_in_window"] and not status["fraud"]["detected_now"]
    assert status["fraud"]["first_detected_at"] == "2026-11-10T12:05:00Z"
    assert status["ranker"]["detected_in_window"] and status["ranker"]["detected_now"]
    quiet = slo.model_drift(drift, times[-1], times[-1] + pd.Timedelta(hours=1))
    assert quiet == []


def test_incident_impact() -> None:
    events = with_outage(steady_events(T0 - pd.Timedelta(days=31), T0 + pd.Timedelta(hours=1), per_minute=1000),
                         T0 + MIN, 30, bad_per_minute=500)
    impact = slo.incident_impact(events, name="x", objective=0.999, incident_start=T0,
                                 incident_end=T0 + pd.Timedelta(hours=1))
    assert impact["bad_events"] == 15000
    assert impact["budget_consumed"] == pytest.approx(15000 / (0.001 * 1000 * 30 * 1440))
    assert impact["first_alert_at"] == "2026-11-10T12:02:00Z" and impact["time_to_detect_seconds"] == 120


def test_the_minute_grid_places_each_minute_and_leaves_the_rest_out() -> None:
    start = pd.Timestamp("2026-11-01T10:00Z")
    events = pd.DataFrame({
        "timestamp": pd.to_datetime(["2026-11-01T10:01Z", "2026-11-01T10:03Z", "2026-11-01T10:03Z",
                                     "2026-11-01T10:02:30Z", "2026-11-01T09:59Z", "2026-11-01T10:05Z",
                                     "2026-11-01T10:02Z", "2026-11-01T10:02Z", "2026-11-01T10:03Z"],
                                    format="ISO8601").as_unit("us"),
        "good": [9, 4, 5, 100, 100, 100, np.nan, np.nan, np.nan],
        "total": [10, 5, 5, 100, 100, 100, np.nan, np.nan, np.nan]})
    grid = slo.on_minute_grid(events, start, start + pd.Timedelta(minutes=4))
    # the window (10:00, 10:04]: 10:01 as given, 10:02 (two rows without a sample) and 10:04 (no row) NaN, 10:03's
    # three rows summed (4 + 5 and one without a sample); 10:02:30 is not a minute, 09:59 and 10:05 are outside
    assert grid.index.tolist() == list(pd.date_range("2026-11-01T10:01Z", periods=4, freq="min"))
    assert grid["good"].tolist()[::2] == [9.0, 9.0] and grid["total"].tolist()[::2] == [10.0, 10.0]
    assert grid.iloc[[1, 3]].isna().all().all()
    naive = events.assign(timestamp=events["timestamp"].dt.tz_localize(None)).iloc[:1]
    assert slo.on_minute_grid(naive, start, start + pd.Timedelta(minutes=4)).isna().all().all()  # not UTC minutes
