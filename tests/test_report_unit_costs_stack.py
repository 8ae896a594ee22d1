"""Cost in the SLO report and the postmortem against the simulator's truth (`devstack.sim.unit_costs.truth`), at a
30 s scrape (a real Prometheus holding the last 14 days, two samples a minute) with the Kubecost-flavoured and the
OpenCost-flavoured Allocation API servers of the local stack.

- SLO report, 7-day window ending at as_of: each SLO's `cost_per_million_good_requests` = its service's cost (the
  truth's, idle shared) / the SLO's own good events x 1e6 (1e-6 relative; OpenCost rounds every cost to 5 decimals)
  and `service_cost` to the cent; an SLO whose service the map does not name is null with the reason;
- postmortem of the api-gateway outage (14:20-15:00): `failed_requests_cost` = the truth's failed requests' cost of
  api-gateway over 14:00-15:00 to the cent;
- a window Kubecost has no data for: null with the message, never 0;
- one notebook run of each report with Kubecost (the summary.json validated against the schema at the session's end).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from scrape30_fixtures import prometheus_30s_fixture  # noqa: F401  (module fixture)

from goreliable_lib.devstack.sim import Simulation
from goreliable_lib.devstack.sim.unit_costs import truth
from goreliable_lib.devstack.stack.kubecost_server import KubecostServer
from goreliable_lib.devstack.stack.prometheus import PrometheusServer
from goreliable_lib.inputs.services_map import parse_services_map
from goreliable_lib.reports import postmortem, slo
from goreliable_lib.runner.execute import run_report
from goreliable_lib.sources.connect import Sources, connect

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent
CATALOG = str(ROOT / "params" / "slos.yaml")
SERVICES_MAP = str(ROOT / "params" / "services.yaml")
OUTAGE = (pd.Timestamp("2026-11-11T14:20:00Z"), pd.Timestamp("2026-11-11T15:00:00Z"))
OUTAGE_HOURS = (pd.Timestamp("2026-11-11T14:00:00Z"), pd.Timestamp("2026-11-11T15:00:00Z"))
FLAVOURS = ("kubecost", "opencost")


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return Simulation()


@pytest.fixture(scope="module")
def cost_servers(sim: Simulation) -> Iterator[dict[str, str]]:
    """Both flavours of the Allocation API, serving the simulation's costs."""
    with KubecostServer(sim.costs, "kubecost") as kubecost, KubecostServer(sim.costs, "opencost") as opencost:
        yield {"kubecost": kubecost, "opencost": opencost}


def _environment(sim: Simulation, prometheus: PrometheusServer, kubecost: str | None) -> dict[str, str]:
    env = {"GORELIABLE_PROFILE": "live", "GORELIABLE_PROMETHEUS_URL": prometheus.url, "GORELIABLE_CONFIG": "/dev/null",
           "GORELIABLE_NOW": sim.as_of.isoformat()}
    if kubecost:
        env["GORELIABLE_KUBECOST_URL"] = kubecost
    return env


def _connect(env: dict[str, str]) -> Sources:
    """The sources of `env` (the variables set only while connecting; no Kubecost unless `env` names one)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("GORELIABLE_KUBECOST_URL", raising=False)
        for key, value in env.items():
            patch.setenv(key, value)
        return connect()


SLO_PARAMS = {"catalog": CATALOG, "window": "7d", "end": "now", "services_map": SERVICES_MAP}


@pytest.fixture(scope="module")
def slo_data(sim: Simulation, prometheus_30s: PrometheusServer,
             cost_servers: dict[str, str]) -> dict[str, slo.SLOData]:
    """The SLO report's fetch with each flavour (the events fetched twice: each run is whole)."""
    return {flavour: slo.fetch(_connect(_environment(sim, prometheus_30s, url)), SLO_PARAMS)
            for flavour, url in cost_servers.items()}


@pytest.fixture(scope="module")
def seven_days(sim: Simulation) -> tuple[pd.Timestamp, pd.Timestamp]:
    return sim.as_of - pd.Timedelta(days=7), sim.as_of


@pytest.fixture(scope="module")
def week_truth(sim: Simulation, seven_days: tuple[pd.Timestamp, pd.Timestamp]) -> dict[str, Any]:
    return {s["service"]: s for s in truth(sim, *seven_days)["unit_costs"]}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_slo_cost_per_million_good_equals_the_truth(slo_data: dict[str, slo.SLOData], flavour: str, sim: Simulation,
                                                    seven_days: tuple[pd.Timestamp, pd.Timestamp],
                                                    week_truth: dict[str, Any]) -> None:
    report = slo.build(slo_data[flavour], SLO_PARAMS)
    entries = {e["name"]: e for e in report.summary()["slos"]}
    assert len(entries) == 6
    for name, entry in entries.items():
        assert entry["window"] == {"start": "2026-11-16T06:00:00Z", "end": "2026-11-23T06:00:00Z"}
        service = week_truth[entry["service"]]
        good, _ = sim.metrics.slo_events(name, *seven_days)
        assert entry["good_events"] == good  # no correction: the good events the figure divides by
        assert entry["service_cost"] == pytest.approx(service["cost"], abs=0.005), name
        assert entry["cost_per_million_good_requests"] == pytest.approx(service["cost"] / good * 1e6, rel=1e-6), name
        assert entry["cost_note"] is None
    # the SLO counting the service's requests gives the truth's own figure
    availability = entries["api-gateway-availability"]["cost_per_million_good_requests"]
    assert availability == pytest.approx(week_truth["api-gateway"]["cost_per_million_good_requests"], rel=1e-6)
    assert not [w for w in report.warnings if w.startswith("cost")]
    assert "**Cost per million good requests**" in report.headline() and "Not shown for" not in report.headline()
    table = slo.slo_plots.status_frame(report.summary_entries()).set_index("slo")
    assert table.loc["llm-latency", "cost_per_million_good_requests"] == entries["llm-latency"][
        "cost_per_million_good_requests"]


def test_an_slo_whose_service_is_not_mapped_is_null_with_the_reason(slo_data: dict[str, slo.SLOData],
                                                                    tmp_path: Path) -> None:
    """The same fetched data with a map that leaves llm-gateway out (no request of it is needed)."""
    text = Path(SERVICES_MAP).read_text()
    without = text[:text.index("  - name: llm-gateway")]
    path = tmp_path / "services-no-llm.yaml"
    path.write_text(without)
    data = slo_data["kubecost"]
    services = parse_services_map(yaml.safe_load(without), source=str(path))
    assert data.costs is not None
    data_without = dataclasses.replace(data, costs=slo.SLOCostData(services, data.costs.allocations))
    report = slo.build(data_without, SLO_PARAMS)
    entries = {e["name"]: e for e in report.summary()["slos"]}
    assert entries["llm-latency"]["cost_per_million_good_requests"] is None
    assert entries["llm-latency"]["cost_note"] == f"service llm-gateway is not in {path}"
    assert entries["api-gateway-latency"]["cost_per_million_good_requests"] is not None
    headline = report.headline()
    assert "Not shown for llm-latency (service llm-gateway is not in" in headline
    assert headline.index("Not shown for llm-latency") < headline.index("page:")  # the first screen, before the alerts


def test_a_window_kubecost_has_no_data_for_is_null_with_the_message(sim: Simulation,
                                                                    prometheus_30s: PrometheusServer,
                                                                    cost_servers: dict[str, str]) -> None:
    """A week ending 300 days before as_of: the cost history does not reach it."""
    end = (sim.as_of - pd.Timedelta(days=300)).strftime("%Y-%m-%dT%H:%M:%SZ")
    params = {**SLO_PARAMS, "end": end, "services": ["api-gateway"]}
    data = slo.fetch(_connect(_environment(sim, prometheus_30s, cost_servers["kubecost"])), params)
    report = slo.build(data, params)
    for entry in report.summary()["slos"]:
        assert entry["cost_per_million_good_requests"] is None and entry["service_cost"] is None
        assert entry["cost_note"] == "Kubecost has no allocation for 2026-01-20 06:00 - 2026-01-27 06:00 UTC"


def test_without_kubecost_the_cost_is_null_with_a_warning(sim: Simulation, prometheus_30s: PrometheusServer) -> None:
    params = {**SLO_PARAMS, "services": ["order-service"]}
    report = slo.build(slo.fetch(_connect(_environment(sim, prometheus_30s, None)), params), params)
    entry = report.summary()["slos"][0]
    assert entry["cost_per_million_good_requests"] is None and entry["status"] != "no_data"
    assert "cost: no Kubecost configured (set GORELIABLE_KUBECOST_URL): no cost per million good requests" \
        in report.warnings
    assert "Not available: no cost data (see the warnings)." in report.headline()


# ---------------------------------------------------------------------------------------------- the postmortem
PM_PARAMS = {"incident_start": OUTAGE[0], "incident_end": OUTAGE[1], "services": ["api-gateway"], "slos": "all",
             "catalog": CATALOG, "services_map": SERVICES_MAP}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_postmortem_failed_requests_cost_equals_the_truth(sim: Simulation, prometheus_30s: PrometheusServer,
                                                         cost_servers: dict[str, str], flavour: str) -> None:
    report = postmortem.build(postmortem.fetch(_connect(_environment(sim, prometheus_30s, cost_servers[flavour])),
                                               PM_PARAMS), PM_PARAMS)
    expected = next(s for s in truth(sim, *OUTAGE_HOURS)["unit_costs"] if s["service"] == "api-gateway")
    cost = report.summary()["cost_impact"]
    assert cost["failed_requests_cost"] == pytest.approx(expected["failed_requests_cost"], abs=0.005)  # to the cent
    if flavour == "kubecost":  # unrounded costs: equal up to float rounding (OpenCost rounds each to 5 decimals)
        assert cost["failed_requests_cost"] == pytest.approx(expected["failed_requests_cost"], rel=1e-9)
    assert cost["failed_requests_note"] is None
    [row] = cost["failed_requests"]
    good, total = sim.metrics.slo_events("api-gateway-availability", *OUTAGE_HOURS)
    assert (row["service"], row["requests_slo"], row["requests"], row["good_requests"]) == (
        "api-gateway", "api-gateway-availability", total, good)
    assert row["cost"] == pytest.approx(expected["cost"], abs=0.005)
    assert total - good > 10_000  # the outage: a quarter of the requests answered 5xx
    assert "Failed requests' cost: **" in report.headline()
    assert not [w for w in report.warnings if "failed requests" in w]


def test_postmortem_of_hours_kubecost_has_no_data_for_says_so(sim: Simulation, prometheus_30s: PrometheusServer,
                                                              cost_servers: dict[str, str]) -> None:
    start = sim.as_of - pd.Timedelta(days=300)
    params = {**PM_PARAMS, "incident_start": start, "incident_end": start + pd.Timedelta(minutes=30)}
    report = postmortem.build(postmortem.fetch(_connect(_environment(sim, prometheus_30s, cost_servers["kubecost"])),
                                               params), params)
    cost = report.summary()["cost_impact"]
    assert cost["failed_requests_cost"] is None
    assert cost["failed_requests_note"] == "Kubecost has no allocation for 2026-01-27 06:00 .. 07:00 UTC"
    assert "cost: Kubecost has no allocation for 2026-01-27 06:00 .. 07:00 UTC: the failed requests' cost is not " \
           "assessed" in report.warnings


# ---------------------------------------------------------------------------------------------- the notebooks
@pytest.mark.parametrize("report", ["slo", "postmortem"])
def test_the_notebooks_write_the_figures(report: str, sim: Simulation, prometheus_30s: PrometheusServer,
                                         cost_servers: dict[str, str], tmp_path: Path, week_truth: dict[str, Any],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in _environment(sim, prometheus_30s, cost_servers["kubecost"]).items():
        monkeypatch.setenv(key, value)
    params = {"window": "7d"} if report == "slo" else {  # the default catalog and services map
        "incident_start": "2026-11-11T14:20:00Z", "incident_end": "2026-11-11T15:00:00Z", "services": ["api-gateway"]}
    result = run_report(report, params, tmp_path, progress=False)
    assert result.exit_code == 0, result.error
    summary = json.loads((Path(result.location) / "summary.json").read_text())
    assert summary["parameters"]["services_map"] == "params/services.yaml"
    if report == "slo":
        entry = next(e for e in summary["slos"] if e["name"] == "order-success-rate")
        assert entry["cost_per_million_good_requests"] == pytest.approx(
            week_truth["order-service"]["cost_per_million_good_requests"], rel=1e-6)
        page = (Path(result.location) / "report.html").read_text()
        assert "Cost per million good" in page[:page.index("plotly-graph-div")]
    else:
        assert summary["cost_impact"]["failed_requests_cost"] > 0
        assert (Path(result.location) / "failed_requests_cost.csv").is_file()
