"""The SLO report executed by papermill through the runner (a real kernel) on the bundled demo snapshot with a
corrections file: its summary.json against the simulator's ground truth without the corrected minutes (computed
here from `sim.metrics.slo_events` over the windows written out by hand, not through the analysis code), a
recurring correction across the end of summer time in Europe/Berlin, and the schema of what it wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from report_fixtures import demo_environment
from summary_schema import schema_errors

from goreliable_lib.runner.execute import run_report

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parent.parent
OUTAGE = (pd.Timestamp("2026-11-11T14:20Z"), pd.Timestamp("2026-11-11T15:00Z"))  # the simulator's scripted outage
CORRECTIONS = """apiVersion: goreliable/v1
kind: Correction
metadata: {name: failover-drill}
spec:
  slos: [api-gateway-availability]
  start: 2026-11-11T14:20:00Z
  end: 2026-11-11T15:00:00Z
  reason: planned failover drill (CHG-4242)
  author: jane
---
apiVersion: goreliable/v1
kind: Correction
metadata: {name: nightly-orders}
spec:
  service: order-service
  rrule: FREQ=DAILY
  start: 2026-10-01T02:30:00
  duration: 30m
  timeZone: Europe/Berlin
  reason: nightly order-database vacuum
  author: ops
"""
# The demo window is (2026-10-24 06:00, 2026-11-23 06:00] UTC. The nightly 02:30 Europe/Berlin, by hand: 00:30 UTC
# while summer time lasts (Oct 24 is before the window's start); on Oct 25 02:30 happens twice (clocks go back at
# 03:00 CEST): the first, 00:30 UTC; from Oct 26, 01:30 UTC (CET), to Nov 23 01:30 (before 06:00): 1 + 29 windows.
NIGHTLY = [(pd.Timestamp("2026-10-25T00:30Z"), pd.Timestamp("2026-10-25T01:00Z"))] + [
    (day + pd.Timedelta(hours=1, minutes=30), day + pd.Timedelta(hours=2))
    for day in pd.date_range("2026-10-26", "2026-11-23", freq="D", tz="UTC")]


@pytest.fixture(scope="module")
def corrected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("slo-corrections")
    (folder / "corrections.yaml").write_text(CORRECTIONS)
    with demo_environment():
        result = run_report("slo", {"corrections": str(folder / "corrections.yaml")}, folder / "reports",
                            progress=False)
    assert result.exit_code == 0 and result.status == "ok", result.error
    return {"location": Path(result.location),
            "summary": json.loads((Path(result.location) / "summary.json").read_text())}


def _entries(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in summary["slos"]}


def test_corrected_figures_equal_the_ground_truth_without_the_corrected_minutes(corrected: dict[str, Any],
                                                                                simulation) -> None:
    outage = simulation.metrics.scripted_events().set_index("name").loc["api-gateway-5xx-outage"]
    assert (outage["start"], outage["end"]) == OUTAGE
    summary = corrected["summary"]
    start, end = pd.Timestamp(summary["window"]["start"]), pd.Timestamp(summary["window"]["end"])
    assert (start, end) == (pd.Timestamp("2026-10-24T06:00Z"), simulation.as_of)
    entries = _entries(summary)
    for name, objective, windows, correction in (
            ("api-gateway-availability", 0.999, [OUTAGE], "failover-drill"),
            ("order-success-rate", 0.995, NIGHTLY, "nightly-orders")):
        # the events scraped in (a, b] are those of the minutes starting in [a, b): the corrected ones
        good, total = simulation.metrics.slo_events(name, start, end)
        left = [simulation.metrics.slo_events(name, a, b) for a, b in windows]
        removed_good, removed_total = sum(g for g, _ in left), sum(t for _, t in left)
        entry = entries[name]
        assert (entry["good_events"], entry["total_events"]) == (good - removed_good, total - removed_total), name
        sli = (good - removed_good) / (total - removed_total)
        assert abs(entry["sli"] - sli) <= 1e-4 and abs(entry["sli_raw"] - good / total) <= 1e-4, name
        assert abs(entry["error_budget_remaining"] - (1 - (1 - sli) / (1 - objective))) <= 1e-3, name
        assert abs(entry["error_budget_remaining_raw"] - (1 - (1 - good / total) / (1 - objective))) <= 1e-3, name
        minutes = sum(int((b - a) / pd.Timedelta(minutes=1)) for a, b in windows)
        assert entry["corrections"] == [{"name": correction, "minutes": minutes, "good_events": removed_good,
                                         "total_events": removed_total, "reason": entry["corrections"][0]["reason"],
                                         "author": entry["corrections"][0]["author"]}], name
    assert entries["order-success-rate"]["corrections"][0]["minutes"] == 30 * 30
    # the other SLOs are untouched: raw = corrected
    for name in ("api-gateway-latency", "notification-delivery", "ml-inference-availability", "llm-latency"):
        good, total = simulation.metrics.slo_events(name, start, end)
        entry = entries[name]
        assert (entry["good_events"], entry["total_events"]) == (good, total) and entry["corrections"] == []
        assert entry["sli_raw"] == entry["sli"]


def test_the_outage_no_longer_pages_and_the_months_are_marked(corrected: dict[str, Any]) -> None:
    summary = corrected["summary"]
    # the scripted outage was the window's only page of api-gateway-availability (tests/test_slo_report.py)
    api = _entries(summary)["api-gateway-availability"]
    assert [a for a in api["alerts"] if a["severity"] == "page"] == []
    history = {h["name"]: {m["month"]: m for m in h["months"]} for h in summary["history"]}
    assert history["api-gateway-availability"]["2026-11"]["corrected_minutes"] == 40
    assert history["order-success-rate"]["2026-11"]["corrected_minutes"] == 23 * 30  # Nov 1-23 at 01:30 UTC
    assert history["llm-latency"]["2026-11"]["corrected_minutes"] == 0
    assert [c["name"] for c in summary["corrections"]] == ["failover-drill", "nightly-orders"]
    assert summary["parameters"]["corrections"].endswith("corrections.yaml")
    assert schema_errors(summary) == []


def test_the_pages_say_it(corrected: dict[str, Any]) -> None:
    html = (corrected["location"] / "report.html").read_text()
    assert "raw (before corrections)" in html and "failover-drill" in html and "nightly order-database vacuum" in html
    assert "Corrections" in html
