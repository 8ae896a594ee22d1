"""The Kubecost / OpenCost Allocation API server over real HTTP, against the simulator's ground truth."""
# ruff: noqa: F811  (pytest fixtures imported from cost_fixtures)

from __future__ import annotations

import math

import pandas as pd
import pytest
import requests
from cost_fixtures import cost_sim, kubecost_old_keys_url, kubecost_url, opencost_url  # noqa: F401 - fixtures

from goreliable_lib.devstack.sim.costs import IDLE, UNALLOCATED, CostSimulation
from goreliable_lib.devstack.stack.kubecost_server import _round

ALLOCATION_FIELDS = {
    "name", "properties", "window", "start", "end", "minutes", "cpuCores", "cpuCoreRequestAverage",
    "cpuCoreUsageAverage", "cpuCoreHours", "cpuCost", "cpuCostAdjustment", "cpuEfficiency", "gpuCount", "gpuHours",
    "gpuCost", "gpuCostAdjustment", "networkTransferBytes", "networkReceiveBytes", "networkCost",
    "networkCrossZoneCost", "networkCrossRegionCost", "networkInternetCost", "networkCostAdjustment",
    "loadBalancerCost", "loadBalancerCostAdjustment", "pvBytes", "pvByteHours", "pvCost", "pvs", "pvCostAdjustment",
    "ramBytes", "ramByteRequestAverage", "ramByteUsageAverage", "ramByteHours", "ramCost", "ramCostAdjustment",
    "ramEfficiency", "sharedCost", "externalCost", "totalCost", "totalEfficiency", "rawAllocationOnly"}


def get(url: str, **params: str) -> requests.Response:
    return requests.get(url + "/allocation", params=params, timeout=60)


def summed(data: list[dict[str, dict]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for allocation_set in data:
        for name, allocation in allocation_set.items():
            totals[name] = totals.get(name, 0.0) + allocation["totalCost"]
    return totals


def assert_cents(actual: dict[str, float], expected: dict[str, float]) -> None:
    assert set(actual) == set(expected)
    for name, value in expected.items():
        assert actual[name] == pytest.approx(value, abs=0.005), name


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(int(text), unit="s", tz="UTC") if text.isdigit() else pd.Timestamp(text)


WINDOWS = [
    ("2026-10-01T00:00:00Z,2026-11-01T00:00:00Z", "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"),
    ("1790000000,1790500000", "1790000000", "1790500000"),  # unix pair, not hour-aligned
    ("7d", "2026-11-17T00:00:00Z", "2026-11-23T06:00:00Z"),  # Kubecost: today plus the 6 days before
    ("lastweek", "2026-11-15T00:00:00Z", "2026-11-22T00:00:00Z"),  # Sunday to Sunday (as_of is a Monday)
    ("month", "2026-11-01T00:00:00Z", "2026-11-23T06:00:00Z"),
    ("30m", "2026-11-23T05:30:00Z", "2026-11-23T06:00:00Z"),
]


@pytest.mark.parametrize("flavour", ["kubecost", "opencost"])
@pytest.mark.parametrize("share_idle", [False, True])
@pytest.mark.parametrize(("window", "start", "end"), WINDOWS)
def test_totals_equal_truth(request: pytest.FixtureRequest, cost_sim: CostSimulation, flavour: str,
                            share_idle: bool, window: str, start: str, end: str) -> None:
    url = request.getfixturevalue(f"{flavour}_url")
    idle_param = {"idle": "true"} if flavour == "kubecost" else {"includeIdle": "true"}
    for aggregate, step in (("label:cost-team", "1d"), ("namespace", None)):
        params = {"window": window, "aggregate": aggregate, "shareIdle": str(share_idle).lower(), **idle_param}
        if step:
            params["step"] = step
        response = get(url, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["code"] == 200
        assert (body.get("status") == "success") == (flavour == "opencost")
        expected = cost_sim.truth_totals(_ts(start), _ts(end), aggregate, share_idle=share_idle)
        assert_cents(summed(body["data"]), expected)
        first = body["data"][0]
        any_allocation = next(iter(first.values()))
        assert any_allocation["window"]["start"] == _ts(start).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_steps_and_accumulate(kubecost_url: str, cost_sim: CostSimulation) -> None:
    window = "2026-11-02T00:00:00Z,2026-11-09T00:00:00Z"
    daily = get(kubecost_url, window=window, aggregate="namespace", step="1d").json()["data"]
    assert len(daily) == 7
    truth = cost_sim.truth_daily("2026-11-02", "2026-11-09", "namespace")
    for day_index, allocation_set in enumerate(daily):
        day = pd.Timestamp("2026-11-02", tz="UTC") + pd.Timedelta(days=day_index)
        expected = truth[truth["day"] == day].set_index("name")["total_cost"].to_dict()
        assert_cents({k: v["totalCost"] for k, v in allocation_set.items()}, expected)
        assert all(v["window"]["start"] == day.strftime("%Y-%m-%dT%H:%M:%SZ") for v in allocation_set.values())
    hourly = get(kubecost_url, window=window, aggregate="namespace", step="1h", accumulate="day").json()["data"]
    assert len(hourly) == 7
    assert_cents(summed(hourly), summed(daily))
    one = get(kubecost_url, window=window, aggregate="namespace", accumulate="true", step="1d").json()["data"]
    assert len(one) == 1
    assert_cents(summed(one), summed(daily))
    weekly = get(kubecost_url, window="2026-10-01T00:00:00Z,2026-11-01T00:00:00Z", step="1w").json()["data"]
    assert len(weekly) == 5  # the last week is clipped to the window
    assert next(iter(weekly[-1].values()))["window"]["end"] == "2026-11-01T00:00:00Z"


def test_unlabeled_workloads_are_unallocated(kubecost_url: str) -> None:
    data = get(kubecost_url, window="yesterday", aggregate="label:cost-team").json()["data"][0]
    assert set(data) == {"app-platform", "ml-platform", "observability", "platform", UNALLOCATED, IDLE}
    assert data["ml-platform"]["properties"]["labels"] == {"cost_team": "ml-platform"}  # sanitised
    assert "labels" not in data[UNALLOCATED]["properties"]
    by_namespace_team = get(kubecost_url, window="yesterday", aggregate="namespace,label:cost-team",
                            filter='namespace:"kube-system","kubeflow"').json()["data"][0]
    assert set(by_namespace_team) == {"kube-system/__unallocated__", "kubeflow/__unallocated__",
                                      "kubeflow/ml-platform", IDLE}


def test_fields_properties_and_efficiency(kubecost_url: str) -> None:
    data = get(kubecost_url, window="today", aggregate="controller").json()["data"][0]
    assert all(set(a) == ALLOCATION_FIELDS for a in data.values())
    gateway = data["deployment:api-gateway"]
    assert gateway["properties"]["controller"] == "api-gateway"
    assert gateway["properties"]["controllerKind"] == "deployment"
    assert gateway["rawAllocationOnly"] is None
    assert gateway["cpuEfficiency"] == pytest.approx(gateway["cpuCoreUsageAverage"] / gateway["cpuCoreRequestAverage"])
    assert gateway["minutes"] == 360.0 and gateway["cpuCoreRequestAverage"] == pytest.approx(3.0)
    parts = ("cpuCost", "gpuCost", "ramCost", "pvCost", "networkCost", "loadBalancerCost", "sharedCost",
             "externalCost")
    assert gateway["totalCost"] == pytest.approx(sum(gateway[p] for p in parts))
    assert data[UNALLOCATED]["properties"] == {"cluster": "go-reliable-eks"}  # the bare debug pod
    postgres = data["statefulset:postgres"]
    assert len(postgres["pvs"]) == 1 and next(iter(postgres["pvs"])).startswith("cluster=go-reliable-eks:name=pvc-")
    assert data[IDLE]["cpuEfficiency"] == 0.0 and data[IDLE]["cpuCost"] > 0
    raw = get(kubecost_url, window="30m").json()["data"][0]
    one = next(a for a in raw.values() if a["name"] != IDLE)
    assert one["name"].count("/") == 4 and one["rawAllocationOnly"]["cpuCoreUsageMax"] > 0
    assert set(one["properties"]) >= {"cluster", "node", "namespace", "pod", "container", "labels"}


def test_filters(kubecost_url: str, cost_sim: CostSimulation) -> None:
    window = "2026-10-01T00:00:00Z,2026-10-08T00:00:00Z"
    everything = get(kubecost_url, window=window, aggregate="namespace", shareIdle="true").json()["data"][0]
    only = get(kubecost_url, window=window, aggregate="namespace", shareIdle="true",
               filter='namespace:"go-reliable-production"').json()["data"][0]
    assert set(only) == {"go-reliable-production"}  # shared idle is computed on the whole cluster
    assert only["go-reliable-production"]["totalCost"] == pytest.approx(
        everything["go-reliable-production"]["totalCost"])
    ml = get(kubecost_url, window=window, aggregate="controller",
             filter='label[cost_team]:"ml-platform"+namespace!:"kubeflow"').json()["data"][0]
    assert IDLE in ml  # idle is only filtered by cluster
    assert set(ml) - {IDLE} == {"deployment:vllm-mistral-7b", "deployment:recommendation-predictor",
                                 "deployment:kserve-controller-manager", "deployment:mlflow",
                                 "deployment:ml-inference-gateway", "deployment:llm-gateway"}
    prefix = get(kubecost_url, window=window, aggregate="namespace", idle="false",
                 filter='namespace<~:"ml"').json()["data"][0]
    assert set(prefix) == {"ml-serving", "mlflow"}
    other_cluster = get(kubecost_url, window=window, aggregate="namespace", filter='cluster:"other"').json()["data"][0]
    assert other_cluster == {}


def test_key_forms(kubecost_old_keys_url: str, kubecost_url: str) -> None:
    old = get(kubecost_old_keys_url, window="yesterday", aggregate="label:cost-team").json()["data"][0]
    new = get(kubecost_url, window="yesterday", aggregate="label:cost-team").json()["data"][0]
    assert "cost-team=ml-platform" in old and "ml-platform" in new and UNALLOCATED in old
    assert old["cost-team=ml-platform"]["totalCost"] == new["ml-platform"]["totalCost"]


def test_idle_defaults_per_flavour(kubecost_url: str, opencost_url: str) -> None:
    assert IDLE in get(kubecost_url, window="today").json()["data"][0]
    assert IDLE not in get(kubecost_url, window="today", idle="false").json()["data"][0]
    assert IDLE not in get(opencost_url, window="today").json()["data"][0]
    assert IDLE in get(opencost_url, window="today", includeIdle="true").json()["data"][0]
    assert get(kubecost_url, window="today").status_code == 200
    assert requests.get(kubecost_url.removesuffix("/model") + "/allocation", params={"window": "today"},
                        timeout=10).status_code == 404
    assert requests.get(opencost_url + "/model/allocation", params={"window": "today"}, timeout=10).status_code == 404


def test_opencost_rounds_to_five_decimals(opencost_url: str) -> None:
    data = get(opencost_url, window="today", aggregate="namespace").json()["data"][0]
    for allocation in data.values():
        for key, value in allocation.items():
            if isinstance(value, float):
                assert round(value, 5) == value, key
    assert _round({"a": [float("nan"), math.inf, 1.234567891]}) == {"a": [None, None, 1.23457]}


@pytest.mark.parametrize(("params", "message"), [
    ({"window": "last tuesday"}, "Invalid 'window' parameter: illegal window: 'last tuesday'"),
    ({"window": "2026-11-02T00:00:00Z,2026-11-01T00:00:00Z"}, "end is not after start"),
    ({}, "Invalid 'window' parameter: missing required parameter 'window'"),
    ({"window": "7d", "aggregate": "team"}, "Invalid 'aggregate' parameter: unrecognized aggregation: 'team'"),
    ({"window": "7d", "aggregate": "label:"}, "Invalid 'aggregate' parameter"),
    ({"window": "7d", "step": "daily"}, "Invalid 'step' parameter: illegal duration: 'daily'"),
    ({"window": "7d", "accumulate": "month"}, "Invalid 'accumulate' parameter"),
    ({"window": "7d", "shareIdle": "maybe"}, "Invalid 'shareIdle' parameter"),
    ({"window": "7d", "filter": 'namespace="x"'}, "Invalid 'filter' parameter"),
    ({"window": "7d", "filter": 'colour:"blue"'}, "unknown field"),
    ({"window": "7d", "agregate": "namespace"}, "Invalid 'agregate' parameter: unknown parameter"),
    ({"window": "7d", "idleByNode": "true"}, "Invalid 'idleByNode' parameter: not supported"),
])
@pytest.mark.parametrize("flavour", ["kubecost", "opencost"])
def test_bad_parameters_give_400(request: pytest.FixtureRequest, flavour: str, params: dict[str, str],
                                 message: str) -> None:
    response = get(request.getfixturevalue(f"{flavour}_url"), **params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400 and message in body["message"]
