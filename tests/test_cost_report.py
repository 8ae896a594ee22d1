"""The cost report executed by papermill through the runner (real kernels), against the Kubecost server and a
real Prometheus holding the cost metrics; then replayed from its own snapshot; then with Kubecost failing.

Three kernel runs in one module-scoped sequence (~30 s each on this machine).
"""
# ruff: noqa: F811  (pytest fixtures imported from cost_fixtures)

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cost_fixtures import cost_sim, kubecost_url  # noqa: F401 - fixtures

from goreliable_lib.analysis.cost import IDLE, UNALLOCATED
from goreliable_lib.devstack.sim.costs import CostSimulation
from goreliable_lib.devstack.stack.faults import FaultProxy
from goreliable_lib.reports import cost as cost_report
from goreliable_lib.sources.prometheus import PrometheusSource

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900),
              pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) missing")]
CENT = 0.005
NS = "go-reliable-production"
EXTERNAL = re.compile(r"<(?:script|link)\b[^>]*(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", re.IGNORECASE)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _summary(location: str) -> dict[str, Any]:
    return json.loads((Path(location) / "summary.json").read_text())


def _csv(location: str, name: str) -> list[dict[str, str]]:
    with open(Path(location) / f"{name}.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def prometheus_url(cost_sim: CostSimulation, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus with the last 3 days of cost metrics (the cross-check day is inside)."""
    from goreliable_lib.devstack.stack.prometheus import start_from_openmetrics

    work = tmp_path_factory.mktemp("cost-prometheus")
    cost_sim.write_openmetrics(work / "costs.om", days=3)
    server = start_from_openmetrics(work / "costs.om", work / "prom")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def runs(cost_sim: CostSimulation, kubecost_url: str, prometheus_url: str,
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """live run -> replay of its snapshot -> a run whose Kubecost answers 500; one output folder."""
    from goreliable_lib.runner.execute import run_report

    out = tmp_path_factory.mktemp("cost-reports")
    results: dict[str, Any] = {"out": out}
    live = {"GORELIABLE_PROFILE": "live", "GORELIABLE_KUBECOST_URL": kubecost_url,
            "GORELIABLE_PROMETHEUS_URL": prometheus_url, "GORELIABLE_CONFIG": "/dev/null",
            "GORELIABLE_NOW": cost_sim.as_of.isoformat()}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in live.items():
            patch.setenv(key, value)
        results["live"] = run_report("cost", {}, out, progress=False)
        results["live_digest"] = _digest(Path(results["live"].location))
        results["lastmonth"] = run_report("cost", {"window": "lastmonth"}, out, progress=False)
        patch.setenv("GORELIABLE_PROFILE", f"snapshot:{results['live'].location}/data")
        results["replay"] = run_report("cost", {}, out, progress=False)
        with FaultProxy(kubecost_url.removesuffix("/model")) as proxy:
            proxy.respond(500, {"code": 500, "message": "allocation ETL crashed"}, times=None, path="/allocation")
            patch.setenv("GORELIABLE_PROFILE", "live")
            patch.setenv("GORELIABLE_KUBECOST_URL", proxy.url + "/model")
            results["failed"] = run_report("cost", {}, out, progress=False)
    return results


def test_live_run_equals_the_ground_truth(runs: dict[str, Any], cost_sim: CostSimulation) -> None:
    result = runs["live"]
    assert result.exit_code == 0 and result.status == "ok", result.error
    summary = _summary(result.location)
    start, end = cost_sim.as_of - pd.Timedelta(days=30), cost_sim.as_of
    assert summary["window"] == {"start": "2026-10-24T06:00:00Z", "end": "2026-11-23T06:00:00Z"}
    assert summary["source"]["kind"] == "live"
    # this Prometheus holds the cost metrics only: the unit costs say so for each service's SLO and the tokens
    assert all(("Prometheus holds no series of" in w and "are not counted" in w) or "no token counter" in w
               for w in summary["warnings"]) and len(summary["warnings"]) == 6, summary["warnings"]
    assert all(u["requests"] is None and u["cost"] > 0 for u in summary["unit_costs"])
    teams = cost_sim.truth_totals(start, end, "label:cost-team")
    namespaces = cost_sim.truth_totals(start, end, "namespace")
    assert summary["total_cost"] == pytest.approx(sum(teams.values()), abs=CENT)
    assert {t["team"]: t["cost"] for t in summary["teams"]} == pytest.approx(teams, abs=CENT)
    assert {n["namespace"]: n["cost"] for n in summary["namespaces"]} == pytest.approx(namespaces, abs=CENT)
    assert summary["idle_cost"] == pytest.approx(teams[IDLE], abs=CENT)
    assert summary["unallocated_cost"] == pytest.approx(teams[UNALLOCATED], abs=CENT)
    # projection of November for the seed's budget: month to date + 7-day run rate x 186 h left
    truth = cost_sim.truth_daily(pd.Timestamp("2026-11-01", tz="UTC"), end, "namespace")
    own = truth[truth["name"] == NS].set_index("day")["total_cost"]
    projected = own.sum() + own["2026-11-16":"2026-11-22"].sum() / 168 * 186
    budget = next(b for b in summary["budgets"] if b["scope"] == f"namespace:{NS}")
    assert budget["limit"] == 500 and budget["over"] is True
    assert budget["projected"] == pytest.approx(projected, abs=CENT)
    assert next(n for n in summary["namespaces"] if n["namespace"] == NS)["projected_monthly"] == pytest.approx(
        projected, abs=CENT)
    assert sorted((a["scope"], a["day"]) for a in summary["anomalies"]) == [
        (f"{scope}", day) for scope in ("namespace:go-reliable-production", "team:app-platform")
        for day in ("2026-11-04", "2026-11-05")]


def test_lastmonth_is_the_previous_calendar_month_to_the_cent(runs: dict[str, Any], cost_sim: CostSimulation) -> None:
    """`window=lastmonth` (what the monthly CronJob passes) is October, whole, for a run on 2026-11-23: totals equal
    the ground truth, and the seed's budget compares October's actual cost, nothing projected."""
    result = runs["lastmonth"]
    assert result.exit_code == 0 and result.status == "ok", result.error
    summary = _summary(result.location)
    start, end = pd.Timestamp("2026-10-01", tz="UTC"), pd.Timestamp("2026-11-01", tz="UTC")
    assert summary["window"] == {"start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}
    teams = cost_sim.truth_totals(start, end, "label:cost-team")
    assert {t["team"]: t["cost"] for t in summary["teams"]} == pytest.approx(teams, abs=CENT)
    october = cost_sim.monthly_budget_namespace_cost("2026-10")
    budget = next(b for b in summary["budgets"] if b["scope"] == f"namespace:{NS}")
    assert budget["projected"] == pytest.approx(october, abs=CENT)
    assert budget["over"] is (october > 500)


def test_live_run_tables_figures_and_cross_check(runs: dict[str, Any]) -> None:
    location = runs["live"].location
    folder = Path(location)
    namespaces = _csv(location, "namespaces")
    assert list(namespaces[0]) == ["namespace", "CPU", "CPU eff.", "Memory", "Memory eff.", "GPU", "PV", "Network",
                                   "Shared", "LB", "External", "Monthly rate", "Total"]
    hygiene = {(r["namespace"], r["controller"]) for r in _csv(location, "label_hygiene")}
    assert ("default", "(no controller)") in hygiene and ("kubeflow", "deployment:katib-controller") in hygiene
    check = _csv(location, "cross_check")
    assert {r["check"] for r in check} == {"cpu", "ram", "gpu", "node"} and len(check) > 25
    assert {r["status"] for r in check} == {"match"}, [r for r in check if r["status"] != "match"]
    for name in ("teams", "budgets", "anomalies", "top_movers", "efficiency", "ml_vs_application", "resources"):
        assert (folder / f"{name}.csv").is_file(), name
    figures = {p.name for p in (folder / "figures").iterdir()}
    assert {"daily_cost_by_team.json", "budgets.json", "cost_by_resource.json",
            "anomaly_namespace_go-reliable-production.json"} <= figures
    page = (folder / "report.html").read_text()
    assert EXTERNAL.search(page) is None and page.count("plotly.js v") == 1
    assert page.index("ML infrastructure") < page.index("plotly-graph-div")  # the headline comes first
    assert "730 h" in page and "cost.fetch(" not in page
    manifest = json.loads((folder / "data" / "manifest.json").read_text())
    # Kubecost: the daily and window requests, and the unit costs' 2 (aggregate, filter) x (partial first day, then
    # days); Prometheus: 4 cross-check queries, 4 probes of their metrics' scrape intervals, and the unit costs'
    # series look-ups (that find nothing here)
    sources = [e["source"] for e in manifest["entries"]]
    assert sources.count("kubecost") == 2 + 4 and sources.count("prometheus") >= 8


def test_replay_of_the_run_snapshot_gives_the_same_numbers(runs: dict[str, Any]) -> None:
    replay = runs["replay"]
    assert replay.exit_code == 0, replay.error
    first, again = _summary(runs["live"].location), _summary(replay.location)
    assert again["source"]["kind"] == "snapshot"
    for field in ("total_cost", "teams", "namespaces", "budgets", "idle_cost", "unallocated_cost", "anomalies"):
        assert again[field] == first[field], field


def test_kubecost_500_fails_clearly_and_publishes_no_good_run(runs: dict[str, Any]) -> None:
    failed = runs["failed"]
    assert failed.exit_code == 1 and failed.status == "failed"
    assert "KubecostError" in failed.error and "HTTP 500" in failed.error and "allocation ETL crashed" in failed.error
    summary = _summary(failed.location)
    assert summary["status"] == "failed" and summary["error"]["type"] == "KubecostError"
    assert "/model/allocation" in summary["error"]["message"]
    assert not (Path(failed.location) / "teams.csv").exists()
    out = runs["out"]
    assert (out / "cost" / "latest").resolve() == Path(runs["replay"].location)  # still the last good run
    assert _digest(Path(runs["live"].location)) == runs["live_digest"]


def test_cross_check_without_prometheus_data_warns(runs: dict[str, Any], prometheus_url: str,
                                                   kubecost_url: str, cost_sim: CostSimulation) -> None:
    """A day the Prometheus does not hold: the cross-check says so instead of failing."""
    from goreliable_lib.sources.kubecost import KubecostSource

    end = pd.Timestamp("2026-11-10T00:00:00Z")
    source = KubecostSource(kubecost_url, clock=lambda: cost_sim.as_of)
    data = cost_report.fetch_allocations(source, (end - pd.Timedelta(days=3), end))
    with PrometheusSource(prometheus_url, clock=lambda: cost_sim.as_of) as prometheus:
        check = cost_report.fetch_cross_check(prometheus, data)
    table, warnings = cost_report.cross_check_table(data, check), check.notes
    assert table is None and "no cost metrics" in warnings[0] and "2026-11-09" in warnings[0]
