"""Pure parts of the postmortem report: the incident's bounds, the cost against the usual, the timeline,
the SLI buckets and the figures (no server, no kernel)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from goreliable_lib.analysis import incident as postmortem
from goreliable_lib.analysis import slo as analysis
from goreliable_lib.errors import BadInputError
from goreliable_lib.plots import postmortem as plots
from goreliable_lib.plots.format import format_duration

NOW = pd.Timestamp("2026-11-23T06:00:00Z")
START, END = pd.Timestamp("2026-11-11T14:20:00Z"), pd.Timestamp("2026-11-11T15:00:00Z")


def _incident(**kwargs: object) -> postmortem.Incident:
    return postmortem.resolve_incident(START, END, now=NOW, **kwargs)  # type: ignore[arg-type]


def test_incident_view_is_six_hours_each_side_cut_at_end_and_now() -> None:
    incident = _incident()
    assert (incident.view_start, incident.view_end) == (START - pd.Timedelta(hours=6), END + pd.Timedelta(hours=6))
    assert incident.budget_start == END - pd.Timedelta(days=30)
    assert _incident(end="2026-11-11T16:00:00Z").view_end == pd.Timestamp("2026-11-11T16:00:00Z")
    late = postmortem.resolve_incident("now-50m", "now-10m", now=NOW)
    assert late.view_end == NOW and late.start == NOW - pd.Timedelta(minutes=50)


@pytest.mark.parametrize(("start", "end", "report_end", "message"), [
    (END, START, "now", "incident_end: .* must be after incident_start"),
    (START, START, "now", "incident_end"),
    (START, "2026-11-24T00:00:00Z", "now", "incident_end: .* after the data's clock"),
    (START, END, "2026-11-11T14:30:00Z", "end: .* before incident_end"),
    ("yesterday-ish", END, "now", "incident_start"),
])
def test_bad_incidents_name_the_parameter(start: object, end: object, report_end: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        postmortem.resolve_incident(start, end, now=NOW, end=report_end)


def _allocations(hours: pd.DatetimeIndex, costs: dict[str, list[float]]) -> pd.DataFrame:
    rows = [{"start": hour, "end": hour + pd.Timedelta(hours=1), "namespace": "go-reliable-production",
             "controller": controller, "total_cost": values[i]}
            for controller, values in costs.items() for i, hour in enumerate(hours)]
    return pd.DataFrame(rows)


def test_cost_against_the_median_of_previous_weeks() -> None:
    incident = _incident()
    hours = pd.date_range("2026-11-11T13:00Z", periods=3, freq="h")  # 13:00, 14:00 (the incident), 15:00
    frames = {}
    for week, value in enumerate([5.0, 1.0, 2.0, 4.0, 100.0]):
        frames[week] = _allocations(hours - week * postmortem.WEEK, {
            "deployment:api-gateway": [0.5, value, 0.5], "deployment:order-service": [9.0, 9.0, 9.0]})
    impact = postmortem.cost_impact(frames, incident, ["api-gateway"])
    assert impact.scope == "controllers api-gateway"
    assert (impact.hours_start, impact.hours_end) == (pd.Timestamp("2026-11-11T14:00Z"),
                                                      pd.Timestamp("2026-11-11T15:00Z"))
    assert impact.cost == 5.0
    assert impact.usual_cost == 3.0  # median of 1, 2, 4, 100: an outlier week does not move it
    assert impact.baseline_weeks == 4 and impact.warnings == []
    assert list(impact.hourly["cost"]) == [0.5, 5.0, 0.5]
    assert impact.by_controller.to_dict("records") == [
        {"namespace": "go-reliable-production", "controller": "deployment:api-gateway", "cost": 5.0,
         "usual_cost": 3.0, "change": 2.0}]
    summary = impact.summary()
    assert summary["cost"] == 5.0 and summary["usual_cost"] == 3.0 and summary["change"] == 2.0


def test_cost_with_missing_weeks_and_unknown_service() -> None:
    incident = _incident()
    hours = pd.date_range("2026-11-11T14:00Z", periods=1, freq="h")
    empty = _allocations(hours, {}).reindex(columns=["start", "end", "namespace", "controller", "total_cost"])
    frames = {0: _allocations(hours, {"deployment:web": [2.0]}),
              1: _allocations(hours - postmortem.WEEK, {"deployment:web": [1.0]}), 2: empty, 3: empty, 4: empty}
    impact = postmortem.cost_impact(frames, incident, ["api-gateway"])
    assert impact.scope == "whole cluster" and impact.cost == 2.0 and impact.usual_cost == 1.0
    assert any("no Kubecost controller named after api-gateway" in w for w in impact.warnings)
    assert any("median of 1 week(s) only" in w for w in impact.warnings)
    nothing = postmortem.cost_impact({0: empty, 1: empty}, incident, ["api-gateway"])
    assert nothing.cost is None and nothing.usual_cost is None
    assert any("no allocation" in w for w in nothing.warnings)


def _events(start: pd.Timestamp, end: pd.Timestamp, bad_from: pd.Timestamp, bad_to: pd.Timestamp) -> pd.DataFrame:
    minutes = pd.date_range(start + pd.Timedelta(minutes=1), end, freq="min")
    total = np.full(len(minutes), 1000.0)
    bad = np.where((minutes > bad_from) & (minutes <= bad_to), 250.0, 0.0)
    return pd.DataFrame({"timestamp": minutes, "good": total - bad, "total": total})


def test_sli_buckets_and_timeline_from_synthetic_events() -> None:
    incident = _incident()
    events = _events(incident.budget_start - pd.Timedelta(days=1), incident.view_end, START, END)
    impact = analysis.incident_impact(events, name="x", objective=0.999, incident_start=START, incident_end=END)
    buckets = postmortem.sli_buckets(events, incident.view_start, incident.view_end)
    during = buckets[(buckets["timestamp"] > START) & (buckets["timestamp"] <= END)]
    assert (during["sli"] == 0.75).all() and len(during) == 8
    assert buckets["total"].sum() == 1000.0 * (incident.view_end - incident.view_start).total_seconds() / 60
    assert impact["bad_events"] == 250.0 * 40
    assert impact["budget_consumed"] == pytest.approx(10_000 / (0.001 * 1000.0 * 30 * 24 * 60))
    alerts = analysis.alert_periods(events, 0.999, incident.view_start, incident.view_end)
    fast = analysis.alert_periods(events, 0.999, incident.view_start, incident.view_end, rules=(postmortem.FAST_BURN,))
    empty_resets = pd.DataFrame({"series": pd.Series([], dtype=object), "timestamp": pd.DatetimeIndex([], tz="UTC")})
    gaps = pd.DataFrame({"start": [pd.Timestamp("2026-11-11T18:00Z")], "end": [pd.Timestamp("2026-11-11T18:04Z")],
                         "minutes": [5]})
    slo = type("S", (), {"name": "x", "service": "svc", "objective": 0.999})()
    item = postmortem.SLOImpact(slo, impact, alerts, fast, buckets, pd.DataFrame(), empty_resets, gaps, 1.0, 0.0)
    timeline = postmortem.timeline([item], incident)
    assert list(timeline.columns) == postmortem.TIMELINE_COLUMNS
    assert timeline["time"].is_monotonic_increasing
    first_fast = timeline[timeline["event"] == "fast burn starts"]["time"].iloc[0]
    assert first_fast == START + pd.Timedelta(minutes=1)
    assert "scrape gap" in set(timeline["event"]) and "page alert fires" in set(timeline["event"])


def test_figures_build_with_the_incident_shaded() -> None:
    incident = _incident()
    events = _events(incident.view_start - analysis.LOOKBACK, incident.view_end, START, END)
    sli = postmortem.sli_buckets(events, incident.view_start, incident.view_end).assign(slo="x", objective=0.999)
    burn = postmortem.burn_rate_series(events, incident.view_start, incident.view_end, 0.999).assign(slo="x")
    alerts = analysis.alert_periods(events, 0.999, incident.view_start, incident.view_end).assign(slo="x")
    for fig in (plots.sli_chart(sli, START, END), plots.burn_rate_chart(burn, START, END),
                plots.alert_chart(alerts, START, END, incident.view_start, incident.view_end),
                plots.alert_chart(alerts.iloc[0:0], START, END, incident.view_start, incident.view_end)):
        shapes = [s for s in fig.layout.shapes if s.type == "rect"]
        assert shapes and pd.Timestamp(shapes[0].x0) == START and pd.Timestamp(shapes[0].x1) == END


def test_format_duration() -> None:
    assert [format_duration(s) for s in (None, 42, 240, 3600, 5400)] == [
        "-", "42 s", "4 min", "1 h", "1 h 30 min"]


def test_an_alert_already_firing_at_the_start_is_a_warning() -> None:
    incident = _incident()
    events = _events(incident.budget_start - pd.Timedelta(days=1), incident.view_end,
                     START - pd.Timedelta(minutes=30), END)
    impact = analysis.incident_impact(events, name="x", objective=0.999, incident_start=START, incident_end=END)
    alerts = analysis.alert_periods(events, 0.999, incident.view_start, incident.view_end)
    slo = type("S", (), {"name": "x", "service": "svc", "objective": 0.999})()
    item = postmortem.SLOImpact(slo, impact, alerts, alerts.iloc[0:0], pd.DataFrame(), pd.DataFrame(),
                                pd.DataFrame(), pd.DataFrame(), 1.0, 0.0)
    found = postmortem.slo_warnings([item], incident)
    assert any("page alert 1h/5m was already firing when the incident started" in w for w in found)
    clean = postmortem.slo_warnings([postmortem.SLOImpact(slo, impact, alerts[alerts["start"] > START],
                                                          alerts.iloc[0:0], pd.DataFrame(), pd.DataFrame(),
                                                          pd.DataFrame(), pd.DataFrame(), 1.0, 0.0)], incident)
    assert clean == []
