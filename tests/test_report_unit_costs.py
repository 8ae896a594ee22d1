"""Cost in the SLO report and the postmortem (no server, no kernel): the shared fetch of the mapped services'
allocations (sources.service_costs), the SLO rows' cost per million good requests (reports.slo.slo_cost), the
incident's failed requests' cost (reports.postmortem.failed_requests_cost), and a bad services map refused with exit 2
naming the parameter and the file. Expected values are worked out in the comments from the frames written here."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from report_fixtures import demo_environment

from goreliable_lib import cli
from goreliable_lib.inputs.catalog import read_catalog
from goreliable_lib.inputs.services_map import parse_services_map
from goreliable_lib.reports import postmortem, slo
from goreliable_lib.runner.execute import run_report
from goreliable_lib.sources.service_costs import DAY_STEP, service_allocations

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "params" / "slos.yaml"
OBJECTIVES = {o.name: o for o in read_catalog(CATALOG).objectives}
MAP = {"services": [
    {"name": "api-gateway", "allocations": {"aggregate": "label:app", "values": ["api-gateway"],
                                            "filter": 'namespace:"go-reliable-production"'},
     "requests": "api-gateway-availability"},
    {"name": "order-service", "allocations": {"aggregate": "label:app", "values": ["order-service"],
                                              "filter": 'namespace:"go-reliable-production"'},
     "requests": "order-success-rate"},
    {"name": "llm-gateway", "allocations": {"aggregate": "label:app", "values": ["llm-gateway", "vllm-mistral-7b"]},
     "requests": "llm-latency", "kind": "llm"},
]}
KEY = ("label:app", 'namespace:"go-reliable-production"')
T = pd.Timestamp


def _services(**changes: Any) -> Any:
    """The map above (named `services.yaml`), a service's fields changed or (None) the service dropped."""
    services = []
    for service in MAP["services"]:
        if service["name"] in changes:
            if changes[service["name"]] is None:
                continue
            service = {**service, **changes[service["name"]]}
        services.append(service)
    return parse_services_map({"services": services}, source="services.yaml")


def _allocations(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    """An allocation frame as KubecostSource returns it for `label:app`: (interval start, app, total, gpu cost)."""
    return pd.DataFrame([{"name": app, "start": T(start), "end": T(start) + pd.Timedelta(days=1), "app": app,
                          "total_cost": total, "gpu_cost": gpu, "is_idle": False, "is_unallocated": False}
                         for start, app, total, gpu in rows],
                        columns=["name", "start", "end", "app", "total_cost", "gpu_cost", "is_idle", "is_unallocated"])


def _events(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    """Per-minute events (timestamp, good, total), the engine's form."""
    return pd.DataFrame({"timestamp": pd.DatetimeIndex([T(t) for t, _, _ in rows]),
                         "good": [g for _, g, _ in rows], "total": [n for _, _, n in rows]})


# ---------------------------------------------------------------------------------------------- the shared fetch
class RecordingKubecost:
    """Stands in for KubecostSource: records each allocation call, answers an empty frame."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def allocation(self, window: tuple[pd.Timestamp, pd.Timestamp], **kwargs: Any) -> pd.DataFrame:
        self.calls.append({"window": window, **kwargs})
        return _allocations([])


def test_one_request_per_aggregate_and_filter_with_idle_shared_cut_at_utc_midnights() -> None:
    kubecost = RecordingKubecost()
    start, end = T("2026-11-16T06:00:00Z"), T("2026-11-18T06:00:00Z")
    frames = service_allocations(kubecost, _services().services, start, end, step=DAY_STEP)  # type: ignore[arg-type]
    # two distinct (aggregate, filter): api-gateway and order-service share one; each asked as a partial first day
    # (06:00 -> midnight) and then whole days from midnight (step 1d, the last one cut at 06:00)
    assert list(frames) == [KEY, ("label:app", None)]
    midnight = T("2026-11-17T00:00:00Z")
    assert [(c["window"], c.get("step"), c["filter"]) for c in kubecost.calls] == [
        ((start, midnight), None, KEY[1]), ((midnight, end), "1d", KEY[1]),
        ((start, midnight), None, None), ((midnight, end), "1d", None)]
    assert all(c["share_idle"] is True and c["idle"] is True and c["aggregate"] == "label:app"
               for c in kubecost.calls)


def test_a_team_aggregate_is_added_once_and_a_kubecost_step_passes_through() -> None:
    kubecost = RecordingKubecost()
    start, end = T("2026-11-11T14:00:00Z"), T("2026-11-11T16:00:00Z")
    service_allocations(kubecost, _services().services[:1], start, end, step="1h",  # type: ignore[arg-type]
                        team="label:cost-team")
    assert [(c["window"], c["step"], c["aggregate"]) for c in kubecost.calls] == [
        ((start, end), "1h", "label:app,label:cost-team")]


# ---------------------------------------------------------------------------------------------- the SLO report
WINDOW = (T("2026-11-20T12:00:00Z"), T("2026-11-22T00:00:00Z"))  # periods: [20th 12:00, 21st), [21st, 22nd)
TWO_DAYS = _allocations([("2026-11-20T12:00:00Z", "api-gateway", 3.00, 0.0),
                         ("2026-11-20T12:00:00Z", "order-service", 5.00, 0.0),
                         ("2026-11-21T00:00:00Z", "api-gateway", 4.50, 0.0)])
API_EVENTS = _events([("2026-11-20T12:00:00Z", 1_000, 1_000),  # at the window's start: not in it
                      ("2026-11-20T18:00:00Z", 199_000, 200_000),
                      ("2026-11-21T00:00:00Z", 100_000, 100_000),  # the first period's last minute
                      ("2026-11-21T10:00:00Z", 299_000, 300_000)])


def _slo_data(services: Any, frames: dict[Any, pd.DataFrame] | None, fetched: bool = True,
              name: str = "api-gateway-availability") -> Any:
    """What slo_cost reads of SLOData: the costs, the windows and the events."""
    costs = slo.SLOCostData(services, {WINDOW: frames} if frames is not None else {}, [], fetched)
    return SimpleNamespace(costs=costs, windows={name: WINDOW}, events_of=lambda _: API_EVENTS)


def test_cost_per_million_good_is_the_windows_cost_over_the_slos_good_events() -> None:
    cost = slo.slo_cost(_slo_data(_services(), {KEY: TWO_DAYS}), OBJECTIVES["api-gateway-availability"])
    # api-gateway: 3.00 + 4.50 = 7.50; good events in (12:00, 00:00 next day]: 199,000 + 100,000 + 299,000 = 598,000
    # 7.50 / 598,000 x 1e6 = 12.541806020066889 (order-service's 5.00 is not the api-gateway's)
    assert (cost.cost, cost.good_requests) == (7.50, 598_000)
    assert cost.value == pytest.approx(12.541806020066889, rel=1e-12)
    assert cost.note is None and cost.days_without_cost == ()
    assert cost.summary() == {"cost_per_million_good_requests": cost.value, "service_cost": 7.50, "cost_note": None}


def test_latency_slo_of_the_same_service_divides_by_its_own_good_events() -> None:
    """The SLO finds its service by its `service` field: api-gateway-latency is api-gateway's too."""
    cost = slo.slo_cost(_slo_data(_services(), {KEY: TWO_DAYS}, name="api-gateway-latency"),
                        OBJECTIVES["api-gateway-latency"])
    assert cost.cost == 7.50 and cost.value == pytest.approx(7.50 / 598_000 * 1e6, rel=1e-12)


def test_a_day_without_cost_data_is_left_out_with_its_events() -> None:
    first_day = TWO_DAYS[TWO_DAYS["start"] == WINDOW[0]]
    data = _slo_data(_services(), {KEY: first_day})
    cost = slo.slo_cost(data, OBJECTIVES["api-gateway-availability"])
    # the 21st has no allocation at all: cost 3.00 over the first period's good 199,000 + 100,000 = 299,000
    assert (cost.cost, cost.good_requests) == (3.00, 299_000)
    assert cost.value == pytest.approx(3.00 / 299_000 * 1e6, rel=1e-12)
    assert cost.days_without_cost == (T("2026-11-21T00:00:00Z"),)
    warnings = slo._cost_warnings(data, {"api-gateway-availability": cost})
    assert warnings == ["cost: Kubecost has no allocation for 2026-11-21 (UTC): the cost per million good requests of "
                        "2026-11-20 12:00 .. 2026-11-22 00:00 UTC leaves those days out, their good requests too"]


@pytest.mark.parametrize(("services", "frames", "fetched", "note"), [
    (_services(**{"api-gateway": None}), {KEY: TWO_DAYS}, True, "service api-gateway is not in services.yaml"),
    (_services(**{"api-gateway": {"allocations": {"aggregate": "label:app", "values": ["api-gw"],
                                                  "filter": KEY[1]}}}), {KEY: TWO_DAYS}, True,
     "service api-gateway's mapping in services.yaml (label:app in [api-gw] filter "
     "namespace:\"go-reliable-production\") selects no allocation in the window"),
    (_services(), {KEY: _allocations([])}, True,
     "Kubecost has no allocation for 2026-11-20 12:00 - 2026-11-22 00:00 UTC"),
    (_services(), None, False, "no cost data (Kubecost not configured or failed: see the warnings)"),
])
def test_no_figure_says_why_never_zero(services: Any, frames: Any, fetched: bool, note: str) -> None:
    cost = slo.slo_cost(_slo_data(services, frames, fetched), OBJECTIVES["api-gateway-availability"])
    assert cost.value is None and cost.cost is None and cost.note == note


def test_a_mapping_selecting_nothing_is_a_warning_and_the_first_screen_names_the_rows() -> None:
    services = _services(**{"api-gateway": {"allocations": {"aggregate": "label:app", "values": ["api-gw"]}}})
    data = _slo_data(services, {("label:app", None): TWO_DAYS})
    cost = slo.slo_cost(data, OBJECTIVES["api-gateway-availability"])
    assert cost.maps_to_nothing
    assert slo._cost_warnings(data, {"api-gateway-availability": cost}) == [
        f"cost: {cost.note}: no cost per million good requests for its SLOs (check the mapping's values against the "
        "allocations' keys)"]
    sentence = slo.slo_text.cost_sentence("services.yaml", {
        "api-gateway-availability": "why [a]", "order-success-rate": None, "api-gateway-latency": "why [a]",
        "llm-latency": "service llm-gateway is not in services.yaml"}, fetched=True)
    assert sentence.endswith(" x 1,000,000. Not shown for api-gateway-availability, api-gateway-latency (why \\[a\\]); "
                             "llm-latency (service llm-gateway is not in services.yaml).")
    assert slo.slo_text.cost_sentence("services.yaml", {"order-success-rate": None}, fetched=False).endswith(
        "Not available: no cost data (see the warnings).")


def test_thresholds_and_groups_get_no_cost() -> None:
    data = _slo_data(_services(), {KEY: TWO_DAYS})
    threshold = SimpleNamespace(threshold=object(), group_labels=None, service="api-gateway", name="x")
    grouped = SimpleNamespace(threshold=None, group_labels={"route": "/cart"}, service="api-gateway", name="x")
    assert slo.slo_cost(data, threshold).note == "a thresholdMetric counts no requests"  # type: ignore[arg-type]
    assert slo.slo_cost(data, grouped).note.startswith("one group of a grouped SLO")  # type: ignore[arg-type,union-attr]


# ---------------------------------------------------------------------------------------------- the postmortem
HOURS = (T("2026-11-11T14:00:00Z"), T("2026-11-11T16:00:00Z"))


def _hourly(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    frame = _allocations([(start, app, total, 0.0) for start, app, total in rows])
    frame["end"] = frame["start"] + pd.Timedelta(hours=1)
    return frame


HOURLY = _hourly([("2026-11-11T14:00:00Z", "api-gateway", 1.20), ("2026-11-11T15:00:00Z", "api-gateway", 1.30),
                  ("2026-11-11T14:00:00Z", "order-service", 2.00), ("2026-11-11T15:00:00Z", "order-service", 2.00)])
REQUESTS = {
    "api-gateway-availability": _events([("2026-11-11T14:00:00Z", 0, 5_000),  # the hours' start: not in them
                                         ("2026-11-11T14:30:00Z", 45_000, 60_000),
                                         ("2026-11-11T15:00:00Z", 40_000, 40_000),  # hour 14's last minute
                                         ("2026-11-11T15:10:00Z", 50_000, 50_000),
                                         ("2026-11-11T16:00:00Z", 45_000, 50_000),
                                         ("2026-11-11T16:01:00Z", 0, 999)]),  # after the hours
    "order-success-rate": _events([("2026-11-11T14:20:00Z", 9_000, 10_000)]),
}


def _failed_data(services: Any, frames: dict[Any, pd.DataFrame] | None, mapped: list[str],
                 unmapped: tuple[str, ...] = ()) -> postmortem.FailedCostData:
    return postmortem.FailedCostData(services, HOURS, [services.for_service(n) for n in mapped], frames,
                                     dict(REQUESTS), unmapped=list(unmapped))


def test_failed_requests_cost_is_each_services_cost_times_its_failed_share_summed() -> None:
    failed = postmortem.failed_requests_cost(_failed_data(_services(), {KEY: HOURLY},
                                                          ["api-gateway", "order-service"]))
    # api-gateway: cost 1.20 + 1.30 = 2.50; requests in (14:00, 16:00]: 60,000 + 40,000 + 50,000 + 50,000 = 200,000,
    #   good 45,000 + 40,000 + 50,000 + 45,000 = 180,000: 2.50 x 20,000 / 200,000 = 0.25
    # order-service: cost 4.00, 1,000 of 10,000 failed: 0.40; in all 0.65
    rows = failed.services.set_index("service")
    assert rows.loc["api-gateway", ["cost", "requests", "good_requests"]].tolist() == [2.50, 200_000, 180_000]
    assert rows.loc["api-gateway", "failed_requests_cost"] == pytest.approx(0.25, abs=1e-12)
    assert rows.loc["order-service", "failed_requests_cost"] == pytest.approx(0.40, abs=1e-12)
    assert failed.total == pytest.approx(0.65, abs=1e-12) and failed.note is None and failed.warnings == []
    summary = failed.summary()
    assert summary["failed_requests_cost"] == failed.total and summary["failed_requests_note"] is None
    assert [r["service"] for r in summary["failed_requests"]] == ["api-gateway", "order-service"]


def test_an_hour_without_cost_data_is_left_out_with_its_requests() -> None:
    first_hour = HOURLY[HOURLY["start"] == HOURS[0]]
    failed = postmortem.failed_requests_cost(_failed_data(_services(), {KEY: first_hour}, ["api-gateway"],
                                                          ("notification-worker",)))
    # hour 14 only: cost 1.20; requests 60,000 + 40,000 = 100,000, good 85,000: 1.20 x 15,000 / 100,000 = 0.18
    assert failed.total == pytest.approx(0.18, abs=1e-12)
    assert failed.note == "not counted: notification-worker (not in services.yaml)"
    assert failed.warnings == ["cost: Kubecost has no allocation for 15:00 UTC: the failed requests' cost leaves those "
                               "hours out, their requests too"]


@pytest.mark.parametrize(("case", "note"), [
    ("no map", "no services map (services_map: none)"),
    ("nothing mapped", "no affected service (checkout) is in services.yaml"),
    ("no kubecost", "no cost data (Kubecost not configured or failed: see the warnings)"),
    ("no allocation", "Kubecost has no allocation for 2026-11-11 14:00 .. 16:00 UTC"),
    ("selects nothing", "no service with requests and cost; not counted: api-gateway (its mapping selects no "
                        "allocation)"),
])
def test_no_failed_requests_cost_says_why(case: str, note: str) -> None:
    services = _services()
    data = {"no map": None,
            "nothing mapped": _failed_data(services, {KEY: HOURLY}, [], ("checkout",)),
            "no kubecost": _failed_data(services, None, ["api-gateway"]),
            "no allocation": _failed_data(services, {KEY: _hourly([])}, ["api-gateway"]),
            "selects nothing": _failed_data(_services(**{"api-gateway": {"allocations": {
                "aggregate": "label:app", "values": ["api-gw"], "filter": KEY[1]}}}), {KEY: HOURLY},
                ["api-gateway"])}[case]
    failed = postmortem.failed_requests_cost(data)
    assert failed.total is None and failed.note == note
    assert failed.summary()["failed_requests_cost"] is None


def test_the_failed_requests_hours_are_the_incidents_cut_at_the_clock() -> None:
    incident = SimpleNamespace(start=T("2026-11-11T14:20:00Z"), end=T("2026-11-11T15:00:00Z"))
    assert postmortem.failed_cost_hours(incident, T("2026-11-23T06:00:00Z")) == (  # type: ignore[arg-type]
        T("2026-11-11T14:00:00Z"), T("2026-11-11T15:00:00Z"))
    incident = SimpleNamespace(start=T("2026-11-23T04:50:00Z"), end=T("2026-11-23T05:40:00Z"))
    assert postmortem.failed_cost_hours(incident, T("2026-11-23T05:45:00Z")) == (  # type: ignore[arg-type]
        T("2026-11-23T04:00:00Z"), T("2026-11-23T05:00:00Z"))


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("report", ["slo", "postmortem"])
def test_a_bad_services_map_exits_2_naming_the_parameter_and_the_file(report: str, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "services-bad.yaml"
    bad.write_text("services:\n  - name: api-gateway\n    requests: api-gateway-availability\n")
    incident = ["-p", "incident_start=2026-11-11T14:20:00Z", "-p", "incident_end=2026-11-11T15:00:00Z"] \
        if report == "postmortem" else []
    code = cli.main(["report", "run", report, *incident, "-p", f"services_map={bad}", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"services_map: {bad}: service 'api-gateway': services[0].allocations: required field missing" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_missing_services_map_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["report", "run", "slo", "-p", f"services_map={tmp_path / 'nope.yaml'}",
                     "--out", str(tmp_path / "out")])
    assert code == 2 and "services_map: file" in capsys.readouterr().err


@pytest.mark.slow
def test_the_cost_report_without_a_services_map_shows_no_unit_cost(tmp_path: Path) -> None:
    """`services_map=none` (a catalog the default map does not fit): the cost report runs on the demo without any
    unit-cost request, its summary without unit costs, the rest as usual; the default map still gives them."""
    with demo_environment():
        result = run_report("cost", {"services_map": "none"}, str(tmp_path), progress=False, timeout=600)
    assert result.exit_code == 0, result.error
    summary = json.loads((Path(result.location) / "summary.json").read_text())
    assert summary["parameters"]["services_map"] is None
    assert not summary.get("unit_costs") and not summary.get("ml_unit_costs")
    assert summary["total_cost"] > 0
