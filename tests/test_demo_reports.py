"""The four reports on the bundled demo snapshot (what `make demo` produces), run once with sentinel secrets in
the environment: every headline number equals the simulator's ground truth, no byte written holds a secret,
and no executed cell wrote an error or a warning to stderr."""

from __future__ import annotations

import math
from typing import Any

import nbformat
import pandas as pd
import pytest
from report_fixtures import find_sentinels

pytestmark = pytest.mark.slow

OBJECTIVES = {"api-gateway-availability": 0.999, "api-gateway-latency": 0.99, "order-success-rate": 0.995,
              "notification-delivery": 0.99, "ml-inference-availability": 0.995, "llm-latency": 0.99}


@pytest.fixture(scope="module")
def demo_runs(demo_suite: dict[str, Any]) -> dict[str, Any]:
    """The demo suite (tests/conftest.py): run once per session, shared with the browser test."""
    return demo_suite


def test_every_report_succeeds(demo_runs: dict[str, Any]) -> None:
    assert [(name, code) for name, code, _, _ in demo_runs["results"]] == [
        ("slo", 0), ("cost", 0), ("dr", 0), ("postmortem", 0), ("slo-review", 0)], demo_runs["results"]
    assert (demo_runs["out"] / "index.html").is_file()


def test_no_secret_in_any_byte_written(demo_runs: dict[str, Any]) -> None:
    leaks = {str(p): found for p in demo_runs["out"].rglob("*")
             if p.is_file() and (found := find_sentinels(p.read_bytes()))}
    assert leaks == {}


def test_no_cell_wrote_an_error_or_stderr(demo_runs: dict[str, Any]) -> None:
    problems = []
    for notebook in demo_runs["out"].glob("*/2*/report.ipynb"):
        for index, cell in enumerate(nbformat.read(notebook, as_version=4).cells):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error" or output.get("name") == "stderr":
                    problems.append((notebook.parent.parent.name, index, output.get("text") or output.get("evalue")))
    assert problems == []


def test_slo_numbers_equal_the_ground_truth(demo_runs: dict[str, Any], simulation) -> None:
    summary = demo_runs["summaries"]["slo"]
    start, end = pd.Timestamp(summary["window"]["start"]), pd.Timestamp(summary["window"]["end"])
    assert end == simulation.as_of and end - start == pd.Timedelta(days=30)
    assert {s["name"] for s in summary["slos"]} == set(OBJECTIVES)
    for slo in summary["slos"]:
        good, total = simulation.metrics.slo_events(slo["name"], start, end)
        truth_sli = good / total
        truth_budget = 1 - (1 - truth_sli) / (1 - OBJECTIVES[slo["name"]])
        assert (slo["good_events"], slo["total_events"]) == (good, total), slo["name"]
        assert math.isclose(slo["sli"], truth_sli, abs_tol=1e-4), slo["name"]
        assert math.isclose(slo["error_budget_remaining"], truth_budget, abs_tol=1e-3), slo["name"]
    assert summary["policy"]["decision"] == "caution"


def test_cost_numbers_equal_the_ground_truth_to_the_cent(demo_runs: dict[str, Any], simulation) -> None:
    summary = demo_runs["summaries"]["cost"]
    start, end = pd.Timestamp(summary["window"]["start"]), pd.Timestamp(summary["window"]["end"])
    truth = simulation.costs.truth_totals(start, end, "label:cost-team")
    teams = {t["team"]: t["cost"] for t in summary["teams"]}
    assert set(teams) == set(truth)
    for team, cost in truth.items():
        assert round(teams[team], 2) == round(cost, 2), team
    assert round(summary["total_cost"], 2) == round(sum(truth.values()), 2)
    assert round(summary["idle_cost"], 2) == round(truth["__idle__"], 2)
    assert round(summary["unallocated_cost"], 2) == round(truth["__unallocated__"], 2)
    namespaces = {n["namespace"]: n["cost"] for n in summary["namespaces"]}
    for namespace, cost in simulation.costs.truth_totals(start, end, "namespace").items():
        assert round(namespaces[namespace], 2) == round(cost, 2), namespace
    crash_days = {a["day"][:10] for a in summary["anomalies"] if a["scope"].endswith("go-reliable-production")}
    assert crash_days == {"2026-11-04", "2026-11-05"}


def test_dr_numbers_equal_the_ground_truth_to_the_second(demo_runs: dict[str, Any], simulation) -> None:
    summary = demo_runs["summaries"]["dr"]
    truth = simulation.drills.truth_components().set_index(["drill_id", "component"])
    checked = 0
    for drill in summary["drills"]:
        for component in drill["components"]:
            row = truth.loc[(drill["drill_id"], component["component"])]
            for field in ("rto_seconds", "rpo_seconds"):
                expected, got = row[field], component[field]
                assert (pd.isna(expected) and got is None) or got == expected, (drill["drill_id"], component)
            checked += 1
    assert checked >= 40
    latest = summary["drills"][-1]
    assert (latest["duration_seconds"], latest["duration_target_seconds"]) == (420.0, 600.0)
    assert summary["missing_quarters"] == [simulation.drills.missing_quarter]


def test_postmortem_budget_consumed_equals_the_ground_truth(demo_runs: dict[str, Any], simulation) -> None:
    summary = demo_runs["summaries"]["postmortem"]
    start, end = pd.Timestamp(summary["incident"]["start"]), pd.Timestamp(summary["incident"]["end"])
    slo = next(s for s in summary["slos"] if s["name"] == "api-gateway-availability")
    good, total = simulation.metrics.slo_events(slo["name"], start, end)
    _, window_total = simulation.metrics.slo_events(slo["name"], end - pd.Timedelta(days=30), end)
    assert slo["bad_events"] == total - good
    assert math.isclose(slo["budget_consumed"], (total - good) / (window_total * (1 - 0.999)), abs_tol=1e-3)
    assert start < pd.Timestamp(slo["first_alert_at"]) <= end


def test_demo_source_says_where_the_data_came_from(demo_runs: dict[str, Any]) -> None:
    """A demo run's summary.json names the simulator as its source, not the long-gone loopback URLs of the
    stack the demo snapshot was recorded from."""
    import json

    from goreliable_lib.cli.demo import demo_endpoints

    for summary_path in demo_runs["out"].glob("*/2*/summary.json"):
        source = json.loads(summary_path.read_text())["source"]
        assert source["kind"] == "demo" and "127.0.0.1" not in json.dumps(source), (summary_path, source)
        assert source["endpoints"] == demo_endpoints(20261123, "s3://goreliable-drills/drills")


def test_a_first_run_does_not_claim_earlier_runs_kept_its_history(demo_runs: dict[str, Any]) -> None:
    """The demo's very first SLO run reads its compliance history from the archive shipped with the snapshot: the
    page says the archive held those days before the run, never that earlier runs kept them."""
    (page,) = demo_runs["out"].glob("slo/2*/report.html")
    text = page.read_text()
    assert "days it held before this run" in text and "days kept by earlier runs)" not in text
