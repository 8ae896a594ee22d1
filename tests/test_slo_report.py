"""The SLO report executed by papermill through the runner (real kernels) against a real Prometheus holding the
simulated history, then replayed from its own run's data/ snapshot; its summary.json checked against the
simulator's ground truth (computed here from `sim.metrics.slo_events`, not through the analysis code).

Two kernel runs in one module-scoped fixture (~30-40 s each here). The catalog of both runs is params/slos.yaml
plus one SLO on a service that sends no traffic, so the same runs show `no_data` and its warning.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sim_metrics_fixtures import MetricsStack, metrics_stack_fixture  # noqa: F401  (session fixture)

from goreliable_lib.runner.execute import run_report

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.timeout(900),
              pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) missing")]

ROOT = Path(__file__).resolve().parents[1]
#: The seed's objectives (DESIGN.md "The platform's numbers"), written out here rather than read from the catalog.
OBJECTIVES = {"api-gateway-availability": 0.999, "api-gateway-latency": 0.99, "order-success-rate": 0.995,
              "notification-delivery": 0.99, "ml-inference-availability": 0.995, "llm-latency": 0.99}
NO_TRAFFIC = "billing-availability"
NO_TRAFFIC_SLO = f"""
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: {NO_TRAFFIC}
spec:
  service: billing
  indicator:
    spec:
      ratioMetric:
        counter: true
        good: {{metricSource: {{type: Prometheus, spec: {{query: 'billing_requests_total{{code!~"5.."}}'}}}}}}
        total: {{metricSource: {{type: Prometheus, spec: {{query: billing_requests_total}}}}}}
  timeWindow: [{{duration: 30d, isRolling: true}}]
  budgetingMethod: Occurrences
  objectives: [{{target: 0.999}}]
"""
EXTERNAL = re.compile(r"<(?:script|link)\b[^>]*(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", re.IGNORECASE)


def _summary(location: str) -> dict[str, Any]:
    return json.loads((Path(location) / "summary.json").read_text())


def _csv(location: str, name: str) -> list[dict[str, str]]:
    with open(Path(location) / f"{name}.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """params/slos.yaml with one more SLO, on a service that exports nothing."""
    path = tmp_path_factory.mktemp("slo-catalog") / "slos-with-billing.yaml"
    path.write_text((ROOT / "params" / "slos.yaml").read_text() + NO_TRAFFIC_SLO)
    return path


@pytest.fixture(scope="module")
def runs(metrics_stack: MetricsStack, catalog_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A live run against the stack's Prometheus, then a replay of that run's own data/ snapshot."""
    out = tmp_path_factory.mktemp("slo-reports")
    parameters = {"catalog": str(catalog_file)}
    live = {"GORELIABLE_PROFILE": "live", "GORELIABLE_PROMETHEUS_URL": metrics_stack.url,
            "GORELIABLE_CONFIG": "/dev/null", "GORELIABLE_NOW": metrics_stack.simulation.as_of.isoformat()}
    results: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in live.items():
            patch.setenv(key, value)
        results["live"] = run_report("slo", parameters, out, progress=False)
        patch.delenv("GORELIABLE_PROMETHEUS_URL")
        patch.setenv("GORELIABLE_PROFILE", f"snapshot:{results['live'].location}/data")
        results["replay"] = run_report("slo", parameters, out, progress=False)
    return results


@pytest.fixture(scope="module")
def live(runs: dict[str, Any]) -> dict[str, Any]:
    result = runs["live"]
    assert result.exit_code == 0 and result.status == "ok", result.error
    return _summary(result.location)


def test_every_slo_equals_the_ground_truth(live: dict[str, Any], metrics_stack: MetricsStack) -> None:
    as_of = metrics_stack.simulation.as_of
    start = as_of - pd.Timedelta(days=30)
    assert live["window"] == {"start": "2026-10-24T06:00:00Z", "end": "2026-11-23T06:00:00Z"}
    assert (pd.Timestamp(live["window"]["start"]), pd.Timestamp(live["window"]["end"])) == (start, as_of)
    entries = {e["name"]: e for e in live["slos"]}
    assert set(entries) == {*OBJECTIVES, NO_TRAFFIC}
    for name, objective in OBJECTIVES.items():
        entry = entries[name]
        good, total = metrics_stack.simulation.metrics.slo_events(name, start, as_of)
        true_sli = good / total
        true_remaining = 1 - (1 - true_sli) / (1 - objective)
        assert entry["objective"] == objective
        assert (entry["good_events"], entry["total_events"]) == (good, total), name
        assert abs(entry["sli"] - true_sli) <= 1e-4, name
        assert abs(entry["error_budget_remaining"] - true_remaining) <= 1e-3, name
        assert entry["status"] == ("ok" if true_remaining >= 0.10 else "at_risk" if true_remaining >= 0
                                   else "breached"), name
        assert set(entry["burn_rates"]) == {"1h", "6h", "1d", "3d"}
        assert entry["coverage"] == pytest.approx(1 - 30 / (30 * 1440))  # the 30-minute scrape gap


def test_the_page_alert_covers_the_scripted_outage(live: dict[str, Any], metrics_stack: MetricsStack) -> None:
    outage = metrics_stack.simulation.metrics.scripted_events().set_index("name").loc["api-gateway-5xx-outage"]
    entry = next(e for e in live["slos"] if e["name"] == "api-gateway-availability")
    pages = [a for a in entry["alerts"] if a["severity"] == "page" and a["windows"] == "1h/5m"]
    assert len(pages) == 1, entry["alerts"]
    page = pages[0]
    started, ended = pd.Timestamp(page["start"]), pd.Timestamp(page["end"])
    assert outage["start"] < started <= outage["start"] + pd.Timedelta(minutes=5)  # detected within 5 minutes
    assert ended >= outage["end"] and page["burn_rate_threshold"] == 14.4 and page["peak_burn_rate"] > 100
    quiet_start, _ = metrics_stack.simulation.metrics.quiet_week()
    for other in live["slos"]:  # nothing fires in the quiet last week
        assert all(pd.Timestamp(a["end"]) <= quiet_start for a in other["alerts"]), other["name"]


def test_the_policy_decision_follows_the_least_budget_left(live: dict[str, Any],
                                                           metrics_stack: MetricsStack) -> None:
    as_of = metrics_stack.simulation.as_of
    remaining = {}
    for name, objective in OBJECTIVES.items():
        good, total = metrics_stack.simulation.metrics.slo_events(name, as_of - pd.Timedelta(days=30), as_of)
        remaining[name] = 1 - (1 - good / total) / (1 - objective)
    driver = min(remaining, key=remaining.__getitem__)
    least = remaining[driver]
    expected = ("freeze" if least <= 0 else "reliability" if least < 0.2 else "caution" if least <= 0.5
                else "features")
    policy = live["policy"]
    assert (policy["decision"], policy["slo"]) == (expected, driver) == ("caution", "api-gateway-availability")
    assert abs(policy["error_budget_remaining"] - least) <= 1e-3 and policy["alert"] is False
    assert f"{least:.1%}" in policy["reason"] and NO_TRAFFIC in policy["reason"]  # named, not counted


def test_a_service_without_traffic_is_no_data_never_100_percent(live: dict[str, Any]) -> None:
    entry = next(e for e in live["slos"] if e["name"] == NO_TRAFFIC)
    assert entry["status"] == "no_data"
    assert entry["sli"] is None and entry["error_budget_remaining"] is None
    assert (entry["good_events"], entry["total_events"], entry["coverage"]) == (0, 0, 0)
    assert entry["alerts"] == [] and all(v is None for v in entry["burn_rates"].values())
    assert any(NO_TRAFFIC in w and "no data" in w for w in live["warnings"])


def test_model_drift_in_the_window_and_now(live: dict[str, Any], metrics_stack: MetricsStack) -> None:
    drift = {d["model"]: d for d in live["model_drift"]}
    truth = metrics_stack.simulation.metrics.drift_periods()
    assert set(truth["model"]) == {"demand-forecast"}
    episode = truth.iloc[0]
    first = pd.Timestamp(drift["demand-forecast"]["first_detected_at"])
    assert drift["demand-forecast"]["detected_in_window"] and not drift["demand-forecast"]["detected_now"]
    assert episode["start"] <= first <= episode["start"] + pd.Timedelta(minutes=30)
    assert not drift["fraud-detector"]["detected_in_window"] and not drift["fraud-detector"]["detected_now"]


def test_missing_data_is_said_on_the_first_screen(runs: dict[str, Any], live: dict[str, Any]) -> None:
    folder = Path(runs["live"].location)
    assert any("scrape gap 2026-11-08 03:10" in w for w in live["warnings"])
    page = (folder / "report.html").read_text()
    first_figure = page.index("plotly-graph-div")
    for text in ("Error-budget policy: <strong>CAUTION</strong>", "No data</strong> for " + NO_TRAFFIC,
                 "scrape gap 2026-11-08 03:10", live["policy"]["reason"].split(" (")[0]):
        assert 0 <= page.find(text) < first_figure, text
    assert EXTERNAL.search(page) is None and page.count("plotly.js v") == 1  # offline, plotly.js once
    assert "slo.fetch(" not in page  # no code in the HTML


def test_tables_and_figures_are_exported(runs: dict[str, Any]) -> None:
    location = runs["live"].location
    folder = Path(location)
    slos = {row["slo"]: row for row in _csv(location, "slos")}
    assert slos[NO_TRAFFIC]["status"] == "no_data" and slos[NO_TRAFFIC]["sli"] == ""
    alerts = _csv(location, "alert_periods")
    assert {(a["slo"], a["severity"]) for a in alerts} >= {("api-gateway-availability", "page"),
                                                           ("api-gateway-availability", "ticket")}
    gaps = _csv(location, "gaps")
    assert [(g["start"], g["minutes"]) for g in gaps if g["slo"] != NO_TRAFFIC] == [
        ("2026-11-08 03:10:00+00:00", "30")] * len(OBJECTIVES)
    assert [g["minutes"] for g in gaps if g["slo"] == NO_TRAFFIC] == [str(30 * 1440)]  # no sample at all
    resets = _csv(location, "counter_resets")
    assert any(r["slo"] == "notification-delivery" for r in resets)
    quality = {row["slo"]: row for row in _csv(location, "data_quality")}
    assert int(quality["notification-delivery"]["counter_resets"]) > 0
    figures = {p.stem for p in (folder / "figures").glob("*.json")}
    alerting = {a["slo"] for a in alerts}  # an SLO without alert periods gets no (empty) alert chart
    per_slo = {f"{name}_{kind}" for name in [*OBJECTIVES, NO_TRAFFIC] for kind in ("sli", "burndown", "burn_rates")}
    per_slo |= {f"{name}_alerts" for name in alerting}
    quiet = {f"{name}_alerts" for name in [*OBJECTIVES, NO_TRAFFIC] if name not in alerting}
    assert not quiet & figures
    assert {"slo_summary", "alert_periods", "model_drift", "coverage"} | per_slo <= figures
    table = json.loads((folder / "figures" / "slo_summary.json").read_text())["data"][0]
    status_cells = table["cells"]["values"][-1]
    assert status_cells[-1] == "no data" and set(status_cells[:-1]) == {"ok"}


def test_the_snapshot_replay_gives_the_same_numbers(runs: dict[str, Any], live: dict[str, Any]) -> None:
    replay = runs["replay"]
    assert replay.exit_code == 0 and replay.status == "ok", replay.error
    again = _summary(replay.location)
    assert again["source"]["kind"] == "snapshot" and live["source"]["kind"] == "live"
    for key in ("window", "slos", "policy", "model_drift", "data_quality", "warnings", "parameters", "archive",
                "history"):
        assert again[key] == live[key], key
    data = Path(runs["live"].location) / "data"
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["as_of"] == "2026-11-23T06:00:00Z"
    assert {e["source"] for e in manifest["entries"]} == {"prometheus", "archive"}  # the archive's reads too
    print(f"\nsnapshot of the 30-day run: {_folder_bytes(data) / 1e6:.1f} MB in {len(manifest['entries'])} files")
