"""The postmortem report over the simulated api-gateway outage, through the real runner (papermill kernels)
against a real Prometheus holding the simulated history and the Kubecost server; then re-executed from its own
snapshot with every server URL pointing at a closed port. Two notebook executions in one module-scoped
sequence (~1 min each on this machine); the rest calls the library directly.
"""
# ruff: noqa: F811  (pytest fixtures imported from the fixture modules)

from __future__ import annotations

import json
import shutil
import socket
import struct
import zlib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cost_fixtures import cost_sim, kubecost_url  # noqa: F401 - fixtures
from sim_metrics_fixtures import MetricsStack, metrics_stack_fixture  # noqa: F401 - fixture

from goreliable_lib import cli
from goreliable_lib.devstack.sim.unit_costs import truth as unit_cost_truth
from goreliable_lib.errors import BadInputError
from goreliable_lib.plots.format import money
from goreliable_lib.reports import postmortem
from goreliable_lib.runner.execute import run_report
from goreliable_lib.sources.connect import connect

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900),
              pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) missing")]

ROOT = Path(__file__).resolve().parent.parent
DEMO_PARAMS = ROOT / "params" / "postmortem-demo.yaml"
OUTAGE_START = pd.Timestamp("2026-11-11T14:20:00Z")
OUTAGE_END = pd.Timestamp("2026-11-11T15:00:00Z")
FIGURES = ("sli", "burn_rates", "alerts", "cost")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _closed_port_url() -> str:
    """A loopback URL nothing listens on (bound, read back, closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _summary(location: str) -> dict[str, Any]:
    return json.loads((Path(location) / "summary.json").read_text())


def _check_png(path: Path) -> tuple[int, int]:
    """Width and height of a valid PNG (signature, IHDR chunk and its CRC checked)."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[16:16 + length]
    (crc,) = struct.unpack(">I", data[16 + length:20 + length])
    assert zlib.crc32(kind + body) == crc, f"{path}: IHDR CRC mismatch"
    assert data.rstrip(b"\x00")[-8:-4] == b"IEND", f"{path}: no IEND chunk"
    width, height = struct.unpack(">II", body[:8])
    return width, height


@pytest.fixture(scope="module")
def live_env(metrics_stack: MetricsStack, kubecost_url: str) -> dict[str, str]:
    return {"GORELIABLE_PROFILE": "live", "GORELIABLE_PROMETHEUS_URL": metrics_stack.url,
            "GORELIABLE_KUBECOST_URL": kubecost_url, "GORELIABLE_CONFIG": "/dev/null",
            "GORELIABLE_NOW": metrics_stack.simulation.as_of.isoformat()}


@pytest.fixture(scope="module")
def runs(live_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The live run of the demo incident, then the same parameters replayed from the live run's data/."""
    out = tmp_path_factory.mktemp("postmortem-reports")
    results: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in live_env.items():
            patch.setenv(key, value)
        results["live"] = run_report("postmortem", {}, out, progress=False, files=[DEMO_PARAMS])
    snapshot = Path(results["live"].location) / "data"
    closed = _closed_port_url()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {"GORELIABLE_PROFILE": f"snapshot:{snapshot}", "GORELIABLE_PROMETHEUS_URL": closed,
                           "GORELIABLE_KUBECOST_URL": closed + "/model", "GORELIABLE_CONFIG": "/dev/null"}.items():
            patch.setenv(key, value)
        patch.delenv("GORELIABLE_NOW", raising=False)
        results["replay"] = run_report("postmortem", {}, out, progress=False, files=[DEMO_PARAMS])
    return results


def _slo(summary: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in summary["slos"] if s["name"] == name)


def test_live_run_is_ok_with_the_design_fields(runs: dict[str, Any]) -> None:
    result = runs["live"]
    assert result.exit_code == 0, result.error
    summary = _summary(result.location)
    assert summary["report"] == "postmortem" and summary["status"] == "ok"
    assert summary["incident"]["start"] == "2026-11-11T14:20:00Z"
    assert summary["incident"]["end"] == "2026-11-11T15:00:00Z"
    assert [s["name"] for s in summary["slos"]] == ["api-gateway-availability", "api-gateway-latency"]
    for entry in summary["slos"]:
        assert {"name", "bad_events", "budget_consumed", "first_alert_at", "time_to_detect_seconds"} <= set(entry)
    assert {"cost", "usual_cost"} <= set(summary["cost_impact"])
    assert summary["warnings"] == []
    assert summary["source"]["kind"] == "live"


def test_budget_consumed_matches_the_ground_truth(runs: dict[str, Any], metrics_stack: MetricsStack) -> None:
    truth = metrics_stack.simulation.metrics
    summary = _summary(runs["live"].location)
    objectives = {"api-gateway-availability": 0.999, "api-gateway-latency": 0.99}
    for name, objective in objectives.items():
        good, total = truth.slo_events(name, OUTAGE_START, OUTAGE_END)
        _, window_total = truth.slo_events(name, OUTAGE_END - pd.Timedelta(days=30), OUTAGE_END)
        expected = (total - good) / (window_total * (1 - objective))
        entry = _slo(summary, name)
        assert entry["bad_events"] == total - good
        assert entry["budget_consumed"] == pytest.approx(expected, abs=1e-3)
        assert abs(entry["budget_consumed"] - expected) < 1e-9  # exact counts: equal up to float rounding
    # the outage spends a large share of the month's budget; the latency SLO barely moves
    assert _slo(summary, "api-gateway-availability")["budget_consumed"] > 0.2
    assert _slo(summary, "api-gateway-latency")["budget_consumed"] < 0.01


def test_page_alert_fires_within_the_outage(runs: dict[str, Any]) -> None:
    availability = _slo(_summary(runs["live"].location), "api-gateway-availability")
    first = pd.Timestamp(availability["first_alert_at"])
    assert OUTAGE_START < first <= OUTAGE_END
    assert availability["time_to_detect_seconds"] == (first - OUTAGE_START).total_seconds()
    pages = [a for a in availability["alerts"] if a["severity"] == "page"]
    assert pages and OUTAGE_START < pd.Timestamp(min(a["start"] for a in pages)) <= OUTAGE_END
    assert pd.Timestamp(pages[0]["start"]) == first  # the 1h/5m page is the first to fire
    assert all(not a["ongoing"] for a in availability["alerts"])  # every alert clears within the 6 h after


def test_cost_impact_matches_the_cost_ground_truth(runs: dict[str, Any], cost_sim: Any) -> None:
    cost = _summary(runs["live"].location)["cost_impact"]
    hour = (OUTAGE_START.floor("h"), OUTAGE_END.ceil("h"))
    key = "deployment:api-gateway"
    expected = cost_sim.truth_totals(*hour, aggregate="controller")[key]
    usual = pd.Series([cost_sim.truth_totals(hour[0] - pd.Timedelta(weeks=w), hour[1] - pd.Timedelta(weeks=w),
                                             aggregate="controller")[key] for w in range(1, 5)]).median()
    assert cost["cost"] == pytest.approx(expected, abs=0.005)
    assert cost["usual_cost"] == pytest.approx(usual, abs=0.005)
    assert cost["scope"] == "controllers api-gateway" and cost["baseline_weeks"] == 4


def test_failed_requests_cost_matches_the_unit_cost_truth(runs: dict[str, Any], metrics_stack: MetricsStack) -> None:
    """api-gateway (params/services.yaml: its pods in go-reliable-production, idle shared) over 14:00-15:00, x the
    share of api-gateway-availability's events of those minutes that failed."""
    cost = _summary(runs["live"].location)["cost_impact"]
    hours = (OUTAGE_START.floor("h"), OUTAGE_END.ceil("h"))
    expected = next(s for s in unit_cost_truth(metrics_stack.simulation, *hours)["unit_costs"]
                    if s["service"] == "api-gateway")
    assert cost["failed_requests_cost"] == pytest.approx(expected["failed_requests_cost"], abs=0.005)
    assert cost["failed_requests_note"] is None and [r["service"] for r in cost["failed_requests"]] == ["api-gateway"]
    page = (Path(runs["live"].location) / "report.html").read_text()
    failed = expected["requests"] - expected["good_requests"]
    assert (f"Failed requests' cost: <strong>{money(expected['failed_requests_cost'])}</strong> (api-gateway: "
            f"{failed:,.0f} of {expected['requests']:,.0f} requests failed, of its {money(expected['cost'])} (idle "
            "shared)).") in page


def test_timeline_is_built_from_the_data(runs: dict[str, Any], metrics_stack: MetricsStack) -> None:
    timeline = pd.read_csv(Path(runs["live"].location) / "timeline.csv")
    events = list(timeline["event"])
    assert events[0] == "incident start" and "incident end" in events
    assert "page alert fires" in events and "page alert clears" in events
    resets = timeline[timeline["event"] == "counter reset"]
    truth = metrics_stack.simulation.metrics.counter_resets()
    restart = truth[(truth["instance"] == "10.0.1.12:8080") & (truth["timestamp"] > OUTAGE_END)].iloc[0]
    assert len(resets) and (pd.to_datetime(resets["time"]) == restart["timestamp"]).all()
    assert resets["detail"].str.contains("10.0.1.12:8080").all()
    assert pd.to_datetime(timeline["time"]).is_monotonic_increasing


def test_every_chart_is_written_as_a_valid_png(runs: dict[str, Any]) -> None:
    figures = Path(runs["live"].location) / "figures"
    charts = sorted(p.stem for p in figures.glob("*.json"))
    assert charts == sorted(FIGURES)
    for name in charts:
        width, height = _check_png(figures / f"{name}.png")
        assert width >= 600 and height >= 300


def test_replay_from_its_snapshot_with_servers_down_gives_the_same_summary(runs: dict[str, Any]) -> None:
    live, replay = _summary(runs["live"].location), runs["replay"]
    assert replay.exit_code == 0, replay.error
    again = _summary(replay.location)
    assert again["source"]["kind"] == "snapshot"
    for key in ("incident", "slos", "cost_impact", "view", "window", "warnings"):
        assert again[key] == live[key], key
    for name in FIGURES:
        _check_png(Path(replay.location) / "figures" / f"{name}.png")


def test_without_kubecost_the_cost_is_a_warning(live_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in live_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GORELIABLE_KUBECOST_URL")
    params = {"incident_start": OUTAGE_START, "incident_end": OUTAGE_END, "slos": ["api-gateway-availability"],
              "catalog": str(ROOT / "params" / "slos.yaml")}
    report = postmortem.build(postmortem.fetch(connect(), params), params)
    assert report.cost is None
    assert any("no Kubecost configured" in w and "GORELIABLE_KUBECOST_URL" in w for w in report.warnings)
    summary = report.summary()
    assert summary["cost_impact"] == {
        "cost": None, "usual_cost": None, "failed_requests_cost": None, "failed_requests": [],
        "failed_requests_note": "no cost data (Kubecost not configured or failed: see the warnings)"}
    assert [s["name"] for s in summary["slos"]] == ["api-gateway-availability"]
    assert "Cost impact:** not assessed" in report.headline()


def test_reversed_incident_exits_2_naming_the_parameter(capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:
    code = cli.main(["report", "run", "postmortem", "-p", "incident_start=2026-11-11T15:00:00Z",
                     "-p", "incident_end=2026-11-11T14:20:00Z", "--out", str(tmp_path)])
    assert code == 2
    assert "incident_end" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing was executed or published


def test_missing_incident_start_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = cli.main(["report", "run", "postmortem", "-p", "incident_end=2026-11-11T14:20:00Z", "--out", str(tmp_path)])
    assert code == 2
    assert "incident_start" in capsys.readouterr().err


def test_unknown_service_is_bad_input() -> None:
    with pytest.raises(BadInputError, match=r"services: unknown service 'api-gatewya'"):
        postmortem.select_incident_slos(ROOT / "params" / "slos.yaml", ["api-gatewya"])
    with pytest.raises(BadInputError, match=r"slos: unknown SLO"):
        postmortem.select_incident_slos(ROOT / "params" / "slos.yaml", "all", ["nope"])
    with pytest.raises(BadInputError, match=r"slos: no SLO left"):
        postmortem.select_incident_slos(ROOT / "params" / "slos.yaml", ["order-service"], ["llm-latency"])
