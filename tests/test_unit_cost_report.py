"""Unit costs in the cost report, executed by the runner (real kernels) against a real Prometheus holding the
platform's metrics scraped every 30 s (vLLM's token counters included) and the Kubecost AND OpenCost servers: every
unit-cost figure equals the simulator's truth (sim.unit_costs: money to the cent, per-million figures to 1e-6
relative, counts exactly). Then a service mapped to nothing and a window Kubecost has no data for give clear
messages, not zeros; the first screen is kept as screenshots (1400 px and 390 px)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from browser import Chromium, find_chromium

from goreliable_lib.devstack.sim import Simulation
from goreliable_lib.devstack.sim.unit_costs import truth
from goreliable_lib.devstack.stack.kubecost_server import KubecostServer
from goreliable_lib.devstack.stack.prometheus import PrometheusServer, backfill

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.timeout(1500),
              pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) missing")]
CENT = 0.005
WINDOW = pd.Timedelta(days=7)
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
MONEY = ("cost", "failed_requests_cost")
PER_UNIT = ("cost_per_million_requests", "cost_per_million_good_requests")


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return Simulation()


@pytest.fixture(scope="module")
def prometheus_url(sim: Simulation, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The metrics of the window (and a day before it) scraped every 30 s, and the cost metrics of the last 2 days
    at 30 s (the cross-check's day)."""
    work = tmp_path_factory.mktemp("unit-cost-prometheus")
    end = sim.as_of
    sim.metrics.write_openmetrics(work / "metrics.om", start=end - WINDOW - pd.Timedelta(days=1),
                                  end=end + pd.Timedelta(minutes=1), scrape_seconds=30)
    sim.costs.write_openmetrics(work / "costs.om", days=2, step_seconds=30)
    backfill([work / "metrics.om", work / "costs.om"], work / "blocks")
    server = PrometheusServer(work / "blocks", workdir=work / "server", stop_at_exit=True)
    server.start(timeout=120)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def runs(sim: Simulation, prometheus_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from goreliable_lib.runner.execute import run_report

    out = tmp_path_factory.mktemp("unit-cost-reports")
    ghost = out / "services-ghost.yaml"
    ghost.write_text(Path("params/services.yaml").read_text() + (
        "  - name: checkout\n    allocations: {aggregate: label:app, values: [checkout-v2]}\n"
        "    requests: order-success-rate\n"))
    results: dict[str, Any] = {}
    for flavour in ("kubecost", "opencost"):
        with KubecostServer(sim.costs, flavour) as url, pytest.MonkeyPatch.context() as patch:
            for key, value in {"GORELIABLE_PROFILE": "live", "GORELIABLE_KUBECOST_URL": url,
                               "GORELIABLE_PROMETHEUS_URL": prometheus_url, "GORELIABLE_CONFIG": "/dev/null",
                               "GORELIABLE_NOW": sim.as_of.isoformat()}.items():
                patch.setenv(key, value)
            results[flavour] = run_report("cost", {"window": "7d"}, out, progress=False)
            if flavour == "kubecost":
                results["ghost"] = run_report("cost", {"window": "7d", "services_map": str(ghost)}, out,
                                              progress=False)
                # the cost data starts 2026-04-25 06:00 (timeline: COST_HISTORY_DAYS + EARLIER_COST_DAYS before as_of)
                results["no_data"] = run_report("cost", {"window": "2026-03"}, out, progress=False)
    return results


def _summary(result: Any) -> dict[str, Any]:
    return json.loads((Path(result.location) / "summary.json").read_text())


def _close(found: float | None, expected: float | None, *, money: bool) -> bool:
    if expected is None or found is None:
        return found is expected
    return found == pytest.approx(expected, abs=CENT) if money else found == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("flavour", ["kubecost", "opencost"])
def test_every_unit_cost_equals_the_simulators_truth(runs: dict[str, Any], sim: Simulation, flavour: str) -> None:
    result = runs[flavour]
    assert result.exit_code == 0 and result.status == "ok", result.error
    summary = _summary(result)
    assert summary["warnings"] == []
    # OpenCost sends each allocation rounded to 5 decimals: its truth is the simulation's costs rounded alike
    expected = truth(sim, sim.as_of - WINDOW, sim.as_of, decimals=5 if flavour == "opencost" else None)
    found = {entry["service"]: entry for entry in summary["unit_costs"]}
    assert list(found) == [s["service"] for s in expected["unit_costs"]]
    for want in expected["unit_costs"]:
        got = found[want["service"]]
        assert got["team"] == want["team"] and got["maps_to_allocation"] is True
        assert (got["requests"], got["good_requests"]) == (want["requests"], want["good_requests"]), want["service"]
        for key in MONEY:
            assert _close(got[key], want[key], money=True), (want["service"], key, got[key], want[key])
        for key in PER_UNIT:
            assert _close(got[key], want[key], money=False), (want["service"], key, got[key], want[key])
        days = {d["day"]: d for d in got["daily"]}
        assert len(days) == len(want["daily"]) == 8  # 06:00 .. midnight, 6 whole days, midnight .. 06:00
        for day in want["daily"]:
            mine = days[day["day"].strftime("%Y-%m-%d")]
            assert (mine["requests"], mine["good_requests"]) == (day["requests"], day["good_requests"])
            assert mine["cost"] == pytest.approx(day["cost"], abs=CENT)
            assert _close(mine["cost_per_million_good_requests"], day["cost_per_million_good_requests"],
                          money=False)
        assert got["trend_per_day"] == pytest.approx(want["trend_per_day"], rel=1e-6)
    teams = {t["team"]: t for t in summary["unit_cost_teams"]}
    for want in expected["teams"]:
        got = teams[want["team"]]
        assert got["requests"] == want["requests"] and got["good_requests"] == want["good_requests"]
        assert _close(got["cost"], want["cost"], money=True) and _close(got["failed_requests_cost"],
                                                                         want["failed_requests_cost"], money=True)
        assert _close(got["cost_per_million_good_requests"], want["cost_per_million_good_requests"], money=False)
    ml, want_ml = summary["ml_unit_costs"], expected["ml_unit_costs"]
    assert (ml["inference_requests"], ml["prompt_tokens"], ml["generated_tokens"]) == (
        want_ml["inference_requests"], want_ml["prompt_tokens"], want_ml["generated_tokens"])
    for key in ("cost_per_1k_inferences", "cost_per_million_tokens", "gpu_share", "inference_gpu_share",
                "llm_gpu_share"):
        assert _close(ml[key], want_ml[key], money=False), (key, ml[key], want_ml[key])
    assert summary["not_mapped_cost"] == pytest.approx(expected["not_mapped_cost"], abs=0.05 if flavour == "opencost"
                                                       else CENT)  # OpenCost: each of ~60 allocations a day rounded
    assert summary["parameters"]["services_map"] == "params/services.yaml"


def test_a_service_mapped_to_nothing_is_said_never_zero(runs: dict[str, Any]) -> None:
    result = runs["ghost"]
    assert result.exit_code == 0 and result.status == "ok", result.error
    summary = _summary(result)
    ghost = next(e for e in summary["unit_costs"] if e["service"] == "checkout")
    assert ghost["maps_to_allocation"] is False
    assert ghost["cost"] is None and ghost["cost_per_million_good_requests"] is None
    assert ghost["failed_requests_cost"] is None and ghost["requests"] > 0
    assert any("service checkout: its mapping (label:app in [checkout-v2])" in w and "maps to no allocation" in w
               for w in summary["warnings"]), summary["warnings"]


def test_a_window_without_kubecost_data_fails_with_a_clear_message(runs: dict[str, Any]) -> None:
    result = runs["no_data"]
    assert result.exit_code == 1 and result.status == "failed"
    assert "Kubecost returned no allocation at all" in _summary(result)["error"]["message"]


@pytest.mark.skipif(find_chromium() is None, reason="no Chromium")
def test_first_screen_screenshots(runs: dict[str, Any], tmp_path: Path) -> None:
    html = Path(runs["kubecost"].location) / "report.html"
    with Chromium(tmp_path / "profile") as browser:
        for device, size in (("desktop", {"width": 1400, "height": 900}), ("phone", {"width": 390, "height": 844})):
            with browser.new_page(**size, mobile=device == "phone") as page:
                page.open_offline(html.resolve().as_uri())
                page.wait_until("[...document.querySelectorAll('.js-plotly-plot')].every(gd => gd.querySelector("
                                "'svg.main-svg'))", timeout=60)
                text = page.evaluate("document.body.innerText")
                assert "Unit costs" in text and "per 1,000 inferences" in text and "per million tokens" in text
                if device == "phone":
                    assert page.evaluate("document.documentElement.scrollWidth") <= 390
                page.screenshot(SCREENSHOTS / f"cost-unit-costs-first-screen-{device}.png", first_screen=True)
                page.screenshot(SCREENSHOTS / f"cost-unit-costs-{device}.png", max_height=2600)
