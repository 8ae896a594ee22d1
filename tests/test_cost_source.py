"""KubecostSource against the real Kubecost/OpenCost servers: ground truth, flavours, key forms, errors."""
# ruff: noqa: F811  (pytest fixtures imported from cost_fixtures)

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator

import pandas as pd
import pytest
from cost_fixtures import (  # noqa: F401 - fixtures
    cost_sim,
    kubecost_old_keys_url,
    kubecost_url,
    make_source,
    opencost_url,
)
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from goreliable_lib.devstack.sim.costs import IDLE, UNALLOCATED, CostSimulation
from goreliable_lib.errors import BadInputError, KubecostError
from goreliable_lib.sources.kubecost import COLUMNS, KubecostSource
from goreliable_lib.sources.snapshot import SnapshotRecorder, SnapshotReplayer

NS = "go-reliable-production"


def totals(frame: pd.DataFrame) -> dict[str, float]:
    return frame.groupby("name")["total_cost"].sum().to_dict()


def assert_cents(actual: dict[str, float], expected: dict[str, float]) -> None:
    assert set(actual) == set(expected)
    for name, value in expected.items():
        assert actual[name] == pytest.approx(value, abs=0.005), name


CASES = [  # window, aggregate, step, accumulate, expected (start, end)
    ("2026-10", "label:cost-team", "1d", False, ("2026-10-01", "2026-11-01")),
    ("2026-10", "namespace", None, True, ("2026-10-01", "2026-11-01")),  # one long interval, fetched by day
    ("30d", "namespace", "1w", False, ("2026-10-24T06:00:00Z", "2026-11-23T06:00:00Z")),  # rolling (kit convention)
    ("lastweek", "label:cost-team", "1h", False, ("2026-11-15", "2026-11-22")),
    (("2026-11-20T10:30:00Z", "2026-11-21T02:15:00Z"), "label:cost-team", "1h", False,
     ("2026-11-20T10:30:00Z", "2026-11-21T02:15:00Z")),
]


@pytest.mark.parametrize("flavour", ["kubecost", "opencost"])
@pytest.mark.parametrize("share_idle", [False, True])
@pytest.mark.parametrize(("window", "aggregate", "step", "accumulate", "span"), CASES)
def test_totals_equal_truth(request: pytest.FixtureRequest, make_source: Callable[..., KubecostSource],
                            cost_sim: CostSimulation, flavour: str, share_idle: bool, window: object, aggregate: str,
                            step: str | None, accumulate: bool, span: tuple[str, str]) -> None:
    source = make_source(request.getfixturevalue(f"{flavour}_url"))
    frame = source.allocation(window, aggregate=aggregate, step=step, accumulate=accumulate, share_idle=share_idle)
    assert source.flavour == flavour and frame.attrs["flavour"] == flavour
    start, end = (pd.Timestamp(t, tz="UTC") if "T" not in t else pd.Timestamp(t) for t in span)
    assert frame["start"].min() == start and frame["end"].max() == end
    expected = cost_sim.truth_totals(start, end, aggregate, share_idle=share_idle)
    assert_cents(totals(frame), expected)
    assert frame["is_idle"].any() != share_idle
    if accumulate:
        assert frame["start"].nunique() == 1


def test_frame_shape_and_flags(make_source: Callable[..., KubecostSource], kubecost_url: str) -> None:
    frame = make_source(kubecost_url).allocation("yesterday", aggregate="label:cost-team")
    assert list(frame.columns) == COLUMNS + ["cost_team"]
    assert frame["start"].dtype == "datetime64[ns, UTC]"
    assert set(frame["cost_team"]) == {"app-platform", "ml-platform", "observability", "platform", UNALLOCATED, IDLE}
    assert frame.loc[frame["name"] == UNALLOCATED, "is_unallocated"].all()
    assert frame["is_unallocated"].sum() == 1 and frame["is_idle"].sum() == 1
    ml = frame.set_index("name").loc["ml-platform"]
    assert ml["gpu_cost"] > 0 and 0 < ml["cpu_efficiency"] < 1.2 and ml["minutes"] == 1440
    assert ml["cpu_core_hours"] == pytest.approx(ml["cpu_cores"] * 24)
    both = make_source(kubecost_url).allocation("yesterday", aggregate=["namespace", "label:cost-team"])
    kube_system = both[both["namespace"] == "kube-system"]
    assert list(kube_system["cost_team"]) == [UNALLOCATED] and kube_system["is_unallocated"].all()
    assert set(both.loc[both["namespace"] == "kubeflow", "cost_team"]) == {"ml-platform", UNALLOCATED}


def test_flavours_and_key_forms_give_the_same_frame(make_source: Callable[..., KubecostSource], kubecost_url: str,
                                                    opencost_url: str, kubecost_old_keys_url: str) -> None:
    args = {"window": "2026-11", "aggregate": "namespace,label:cost-team", "step": "1d", "share_idle": True}
    kubecost = make_source(kubecost_url).allocation(**args)
    opencost = make_source(opencost_url).allocation(**args)
    old_keys = make_source(kubecost_old_keys_url).allocation(**args)
    pd.testing.assert_frame_equal(kubecost, old_keys)
    numeric = kubecost.select_dtypes("number").columns
    pd.testing.assert_frame_equal(kubecost.drop(columns=numeric), opencost.drop(columns=numeric))
    pd.testing.assert_frame_equal(kubecost[numeric], opencost[numeric], check_exact=False, rtol=1e-6, atol=1e-5)
    summed = make_source(opencost_url).allocation("2026-10", aggregate="label:cost-team", accumulate=True)
    direct = make_source(kubecost_url).allocation("2026-10", aggregate="label:cost-team", accumulate=True)
    pd.testing.assert_frame_equal(direct, summed, check_exact=False, rtol=1e-6, atol=1e-3)  # 31 rounded days


def test_chunked_long_interval_equals_a_single_request(make_source: Callable[..., KubecostSource],
                                                       kubecost_url: str) -> None:
    by_day = make_source(kubecost_url).allocation("2026-10", aggregate="controller", accumulate=True)
    at_once = make_source(kubecost_url, chunk="60d").allocation("2026-10", aggregate="controller", accumulate=True)
    # running minutes differ only for allocations that stop and start again within the month (none here)
    pd.testing.assert_frame_equal(by_day, at_once, check_exact=False, rtol=1e-9)


def test_crash_loop_spike_in_daily_costs(make_source: Callable[..., KubecostSource], kubecost_url: str,
                                         cost_sim: CostSimulation) -> None:
    frame = make_source(kubecost_url).allocation("2026-11", aggregate="namespace", step="1d",
                                                 filter=f'namespace:"{NS}"')
    daily = frame[frame["namespace"] == NS].set_index("start")["total_cost"]
    spike_days = daily[daily > 2 * daily.median()].index
    assert list(spike_days) == list(pd.date_range(*cost_sim.crash_loop_window, freq="D", inclusive="left"))
    network = frame[frame["namespace"] == NS].set_index("start")["network_internet_cost"]
    assert network[spike_days].min() > 10 * network.median()


def test_canonical_request_and_snapshot_round_trip(make_source: Callable[..., KubecostSource], kubecost_url: str,
                                                   tmp_path) -> None:
    recorder = SnapshotRecorder(tmp_path / "snap", as_of="2026-11-23T06:00:00Z")
    live = make_source(kubecost_url, recorder=recorder, token="s3cr3t-token")
    frame = live.allocation("7d", aggregate="label:cost-team", step="1d")
    entry = recorder._manifest["entries"][0]
    assert entry["request"] == {"method": "allocation", "start": "2026-11-16T06:00:00Z", "end": "2026-11-23T06:00:00Z",
                                "aggregate": "label:cost-team", "step": 86400.0, "accumulate": False, "idle": True,
                                "share_idle": False, "filter": None}
    assert "s3cr3t" not in (tmp_path / "snap" / "manifest.json").read_text()
    replayed = KubecostSource("http://127.0.0.1:9", replayer=SnapshotReplayer(tmp_path / "snap"))
    pd.testing.assert_frame_equal(replayed.allocation("7d", aggregate="label:cost-team", step="1d"), frame)


def test_bad_input(make_source: Callable[..., KubecostSource], kubecost_url: str) -> None:
    source = make_source(kubecost_url)
    with pytest.raises(KubecostError) as error:
        source.allocation("7d", aggregate="team")
    assert error.value.status == 400 and error.value.exit_code == 1
    assert "Invalid 'aggregate' parameter: unrecognized aggregation: 'team'" in str(error.value)
    assert "/model/allocation?window=2026-11-" in str(error.value) and error.value.request["aggregate"] == "team"
    with pytest.raises(KubecostError, match="Invalid 'filter' parameter"):
        source.allocation("7d", filter="namespace=prod")
    with pytest.raises(BadInputError, match="window"):
        source.allocation("last tuesday")
    with pytest.raises(BadInputError, match="accumulate"):
        source.allocation("7d", accumulate="month")
    with pytest.raises(BadInputError, match="step"):
        source.allocation("7d", step="daily")


@pytest.fixture()
def broken_server() -> Iterator[tuple[str, dict[str, int]]]:
    """A tiny server answering 500 on /fail/*, slowly on /slow/*, and garbage on /junk/*."""
    seen = {"fail": 0, "slow": 0}
    release = threading.Event()

    def app(environ, start_response):
        request = Request(environ)
        if request.path.startswith("/fail"):
            seen["fail"] += 1
            response = Response(b'{"code":500,"message":"error computing allocation: ETL is not ready"}', status=500,
                                mimetype="application/json")
        elif request.path.startswith("/slow"):
            seen["slow"] += 1
            release.wait(5)
            response = Response(b'{"code":200,"data":[]}', mimetype="application/json")
        else:
            response = Response(b'{"code":200,"data":[{"x": ', mimetype="application/json")
        return response(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_server_errors_and_timeouts(make_source: Callable[..., KubecostSource],
                                    broken_server: tuple[str, dict[str, int]]) -> None:
    url, seen = broken_server
    with pytest.raises(KubecostError) as error:
        make_source(url + "/fail/model", retries=2, token="s3cr3t").allocation("today")
    assert seen["fail"] == 3 and error.value.status == 500
    assert "failed after 3 attempts: HTTP 500: error computing allocation: ETL is not ready" in str(error.value)
    assert "s3cr3t" not in str(error.value)
    # a read timeout is not retried (it used to be, unlike Prometheus'): it would time out again
    with pytest.raises(KubecostError, match=r"timed out after 0.3 s") as timed_out:
        make_source(url + "/slow/model", retries=1, timeout=0.3).allocation("today")
    assert seen["slow"] == 1 and "not retried" in str(timed_out.value)
    with pytest.raises(KubecostError, match=r"failed after 2 attempts: timed out after 0.3 s"):
        make_source(url + "/slow/model", retries=1, timeout=0.3, retry_timeouts=True).allocation("today")
    assert seen["slow"] == 3
    with pytest.raises(KubecostError, match="malformed JSON"):
        make_source(url + "/junk/model").allocation("today")


def test_fault_proxy_500_then_recovery(make_source: Callable[..., KubecostSource], kubecost_url: str,
                                       cost_sim: CostSimulation) -> None:
    from goreliable_lib.devstack.stack.faults import FaultProxy, refused_url

    with FaultProxy(kubecost_url.removesuffix("/model")) as proxy:
        proxy.respond(500, {"code": 500, "message": "boom"}, times=1)
        frame = make_source(proxy.url + "/model", retries=1).allocation("yesterday", aggregate="namespace")
        start = cost_sim.as_of.floor("D") - pd.Timedelta(days=1)
        assert_cents(totals(frame), cost_sim.truth_totals(start, start + pd.Timedelta(days=1), "namespace"))
        assert [r.fault for r in proxy.requests] == ["respond", None]
    with pytest.raises(KubecostError, match="connection failed"):
        make_source(refused_url() + "/model", retries=0).allocation("today")


def test_retry_after_is_honoured_and_every_retry_logged(make_source: Callable[..., KubecostSource], kubecost_url: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """The one retry policy (sources/http.py) for Kubecost too: `Retry-After` on a 429 is waited for (it used to be
    ignored), and each retry is a log line naming the request, without the URL's credentials."""
    from goreliable_lib.devstack.stack.faults import FaultProxy

    with FaultProxy(kubecost_url.removesuffix("/model")) as proxy:
        proxy.respond(429, {"code": 429, "message": "too many requests"}, headers={"Retry-After": "1"}, times=1)
        source = make_source(proxy.url.replace("http://", "http://ops:hunter2@") + "/model")
        source.retry_policy = dataclasses.replace(source.retry_policy, backoff_seconds=0.01)
        began = time.monotonic()
        with caplog.at_level(logging.INFO, logger="goreliable_lib"):
            frame = source.allocation("yesterday", aggregate="namespace")
        assert time.monotonic() - began >= 0.9 and len(frame) > 5
        assert [r.fault for r in proxy.requests] == ["respond", None]
        assert proxy.requests[-1].headers["Authorization"].startswith("Basic ")
        endpoint = f"GET {proxy.url}/model/allocation?window="
    [line] = [r.getMessage() for r in caplog.records if r.name == "goreliable_lib.sources.http"]
    assert line.startswith("attempt 1 of 4 failed, retrying in 1 s: HTTP 429: too many requests") and endpoint in line
    assert "hunter2" not in line and "hunter2" not in repr(source.url)


def test_root_url_without_model_is_found(make_source: Callable[..., KubecostSource], kubecost_url: str) -> None:
    source = make_source(kubecost_url.removesuffix("/model"))
    frame = source.allocation("today", aggregate="namespace")
    assert len(frame) > 5 and source._endpoint.endswith("/model/allocation")


def test_window_without_data_gives_an_empty_frame(make_source: Callable[..., KubecostSource],
                                                  kubecost_url: str) -> None:
    frame = make_source(kubecost_url).allocation("2026-01", aggregate="label:cost-team", step="1d")
    assert frame.empty and list(frame.columns) == COLUMNS + ["cost_team"]
