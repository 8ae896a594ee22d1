"""The fault proxy itself (goreliable_lib.devstack.stack.faults), against a tiny upstream of its own."""

from __future__ import annotations

import time

import orjson
import pytest
import requests

from goreliable_lib.devstack.stack.faults import FaultProxy, refused_url


@pytest.fixture()
def upstream():  # noqa: ANN201
    """A second FaultProxy with no upstream answering a fixed JSON document forever: a stand-in server."""
    with FaultProxy(None) as server:
        server.respond(200, {"status": "success", "data": {"resultType": "vector", "result": []}}, times=None)
        yield server


def test_forwards_and_records_requests(upstream: FaultProxy) -> None:
    with FaultProxy(upstream.url) as proxy:
        response = requests.post(proxy.url + "/api/v1/query?x=1", data={"query": 'up{a="b"}'},
                                 headers={"X-Scope-OrgID": "t1"}, timeout=5)
        assert response.status_code == 200 and response.json()["status"] == "success"
        seen = proxy.requests[0]
        assert (seen.method, seen.path, seen.args, seen.form) == ("POST", "/api/v1/query", {"x": ["1"]},
                                                                   {"query": ['up{a="b"}']})
        assert upstream.requests[0].headers["X-Scope-Orgid"] == "t1"  # headers are passed through


def test_faults_apply_in_order_then_run_out(upstream: FaultProxy) -> None:
    with FaultProxy(upstream.url) as proxy:
        proxy.respond(503, {"status": "error", "error": "busy"}, times=2, path="/query_range")
        proxy.respond(429, "later", headers={"Retry-After": "3"}, times=1)
        assert requests.get(proxy.url + "/api/v1/query", timeout=5).status_code == 429  # path filter skips the 503
        assert requests.get(proxy.url + "/api/v1/query_range", timeout=5).status_code == 503
        assert requests.get(proxy.url + "/api/v1/query_range", timeout=5).json()["error"] == "busy"
        last = requests.get(proxy.url + "/api/v1/query_range", timeout=5)
        assert last.status_code == 200 and [r.fault for r in proxy.requests] == ["respond"] * 3 + [None]


def test_malformed_warnings_delay_and_close(upstream: FaultProxy) -> None:
    with FaultProxy(upstream.url) as proxy:
        proxy.malformed()
        with pytest.raises(ValueError):
            orjson.loads(requests.get(proxy.url + "/x", timeout=5).content)
        proxy.inject_warnings(["partial"], times=1)
        assert requests.get(proxy.url + "/x", timeout=5).json()["warnings"] == ["partial"]
        proxy.delay(0.5)
        began = time.monotonic()
        requests.get(proxy.url + "/x", timeout=5)
        assert time.monotonic() - began >= 0.5
        proxy.close_connection()
        with pytest.raises(requests.ConnectionError):
            requests.get(proxy.url + "/x", timeout=5)
        assert requests.get(proxy.url + "/x", timeout=5).status_code == 200


def test_no_upstream_and_refused_url() -> None:
    with FaultProxy(None) as proxy:
        assert requests.get(proxy.url + "/x", timeout=5).status_code == 502
    with pytest.raises(requests.ConnectionError):
        requests.get(refused_url(), timeout=5)
