"""Partial and odd answers of Prometheus-API servers, with the bodies those servers really send
(tests/data/published/{victoriametrics,cortex}/README.md names where each comes from):

- VictoriaMetrics cluster marks an answer served without some vmstorage nodes `"isPartial": true` (its docs: such
  responses "may miss historical data"): a warning like a Thanos partial-response warning, on the same path to the
  run's warnings, and an error where partial responses are refused (GORELIABLE_THANOS_PARTIAL_RESPONSE=false);
- a Cortex/Mimir query-frontend's error body may hold `errorType` and no `error` (a 499 `canceled` or a 504
  `timeout` whose cause had no text): the error names the errorType and the HTTP status, never "non-JSON body".

The end-to-end tests go through the real PrometheusSource (and the run context) to a local HTTP server on 127.0.0.1
(the fault proxy with no upstream) that answers the canned bodies.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from goreliable_lib.devstack.stack.faults import FaultProxy
from goreliable_lib.errors import PrometheusError
from goreliable_lib.runner.context import Run
from goreliable_lib.sources import promjson
from goreliable_lib.sources.prometheus import PrometheusSource, PrometheusWarning

DATA = Path(__file__).parent / "data" / "published"
VM = DATA / "victoriametrics"
CORTEX = DATA / "cortex"
# the canned range bodies hold samples at 1700000000, +60 s, +120 s (2023-11-14T22:13:20Z ...)
START = pd.Timestamp(1_700_000_000, unit="s", tz="UTC")


def _body(path: Path) -> bytes:
    return path.read_bytes()


# --------------------------------------------------------------------------------------------- decoding
@pytest.mark.parametrize(("name", "partial"), [
    ("query_range_partial.json", True), ("query_range_complete.json", False), ("query_partial.json", True),
    ("series_partial.json", True), ("vmalert_client_test_scalar_partial.json", True),
])
def test_is_partial_is_a_warning_and_the_data_is_kept(name: str, partial: bool) -> None:
    envelope = promjson.parse_response(_body(VM / name))
    assert envelope.status == "success" and envelope.partial is partial
    assert envelope.result is not None
    assert envelope.result.warnings == ([promjson.PARTIAL_WARNING] if partial else [])
    assert "(partial response)" in promjson.PARTIAL_WARNING  # the wording Thanos' warnings end with


def test_a_partial_range_answer_converts_as_a_complete_one() -> None:
    partial = promjson.to_frame(promjson.parse_response(_body(VM / "query_range_partial.json")).result)
    complete = promjson.to_frame(promjson.parse_response(_body(VM / "query_range_complete.json")).result)
    pd.testing.assert_frame_equal(partial, complete)  # attrs are not compared: the data is the same
    assert partial.attrs["warnings"] == [promjson.PARTIAL_WARNING] and "warnings" not in complete.attrs
    # the bodies' samples: code 200 at 10, 12, 15 and code 500 at 1, 1, 2
    assert partial["value"].tolist() == [10, 12, 15, 1, 1, 2]


def test_a_partial_chunk_makes_the_merged_answer_partial() -> None:
    partial = promjson.parse_response(_body(VM / "query_range_partial.json")).result
    complete = promjson.parse_response(_body(VM / "query_range_complete.json")).result
    assert partial is not None and complete is not None
    assert promjson.merge_results([complete, partial]).warnings == [promjson.PARTIAL_WARNING]
    assert promjson.merge_results([complete, complete]).warnings == []


# --------------------------------------------------------------------------------------------- end to end
@pytest.fixture()
def server():  # noqa: ANN201
    """A local HTTP server (127.0.0.1) answering the canned bodies it is given, in order."""
    with FaultProxy(None) as proxy:
        yield proxy


def test_a_partial_answer_warns_through_the_real_source(server: FaultProxy) -> None:
    server.respond(200, _body(VM / "query_range_partial.json"), times=None)
    source = PrometheusSource(server.url)
    with pytest.warns(PrometheusWarning, match=r"isPartial: true: VictoriaMetrics answered without some of its "
                                               r"storage nodes.*\(partial response\)"):
        frame = source.query_range("http_requests_total", START, START + pd.Timedelta("2m"), "1m", align=False)
    assert frame.attrs["warnings"] == [promjson.PARTIAL_WARNING]
    assert np.array_equal(frame["value"].to_numpy(), [10, 12, 15, 1, 1, 2])
    with pytest.warns(PrometheusWarning, match="partial response"):
        assert len(source.series("http_requests_total", START, START + pd.Timedelta("2m"))) == 2


def test_a_partial_answer_is_refused_where_partial_responses_are(server: FaultProxy) -> None:
    server.respond(200, _body(VM / "query_partial.json"), times=1)
    source = PrometheusSource(server.url, partial_response=False)
    with pytest.raises(PrometheusError, match=r"/api/v1/query answered a partial response \(isPartial: true: "
                                              r".*\) and partial responses are refused "
                                              r"\(GORELIABLE_THANOS_PARTIAL_RESPONSE=false\) -- query: 'count\(up\)'"
                       ) as caught:
        source.query("count(up)", time=START)
    assert (caught.value.error_type, caught.value.status, caught.value.exit_code) == ("partial_response", 200, 1)
    assert len(server.requests) == 1  # not retried
    assert server.requests[0].args["partial_response"] == ["false"]  # Thanos is asked the same way as before
    # a complete answer is taken as ever
    server.respond(200, _body(VM / "query_range_complete.json"), times=1)
    frame = source.query_range("http_requests_total", START, START + pd.Timedelta("2m"), "1m", align=False)
    assert len(frame) == 6 and "warnings" not in frame.attrs


def test_a_partial_answer_reaches_the_run_summary(server: FaultProxy, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The same path as a Thanos partial-response warning: the run's first screen and summary.json `warnings`."""
    for name in [n for n in os.environ if n.startswith("GORELIABLE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GORELIABLE_PROFILE", "live")
    monkeypatch.setenv("GORELIABLE_CONFIG", os.devnull)
    monkeypatch.setenv("GORELIABLE_NOW", (START + pd.Timedelta("1h")).isoformat())
    monkeypatch.setenv("GORELIABLE_PROMETHEUS_URL", server.url)
    server.respond(200, _body(VM / "query_partial.json"), times=None)
    run = Run("slo", {"end": "now", "window": "30d"}, tmp_path / "run", scratch=False)
    with pytest.warns(PrometheusWarning):
        run.connect().prometheus.query("count(up)")
    summary = run.write_summary({"requests": 1.0})
    assert summary["warnings"] == [f"Prometheus warned about query 'count(up)': {promjson.PARTIAL_WARNING} "
                                   "(its data may be incomplete)"]


@pytest.mark.parametrize(("name", "status", "error_type", "says"), [
    ("query_frontend_499_canceled.json", 499, "canceled",
     "no error message in the body '{\"status\":\"error\",\"errorType\":\"canceled\"}'"),
    ("query_frontend_504_timeout.json", 504, "timeout",
     "no error message in the body '{\"status\":\"error\",\"errorType\":\"timeout\"}'"),
    ("query_frontend_504_deadline.json", 504, "timeout", "context deadline exceeded"),
])
def test_an_error_body_without_a_message_names_its_type_and_status(server: FaultProxy, name: str, status: int,
                                                                    error_type: str, says: str) -> None:
    server.respond(status, _body(CORTEX / name), times=None)
    source = PrometheusSource(server.url)
    with pytest.raises(PrometheusError) as caught:
        source.query("sum(up)", time=START)
    message = str(caught.value)
    assert f"/api/v1/query failed (HTTP {status}, {error_type}): {says} -- query: 'sum(up)'" in message
    assert "non-JSON" not in message
    assert (caught.value.status, caught.value.error_type) == (status, error_type)
    assert len(server.requests) == 1  # a canceled query and a timeout are not retried (a timeout would recur)


def test_a_body_that_is_not_json_is_still_called_so(server: FaultProxy) -> None:
    server.respond(502, "<html><body>Bad Gateway</body></html>", headers={"Content-Type": "text/html"}, times=None)
    source = PrometheusSource(server.url, retries=0)
    with pytest.raises(PrometheusError, match=r"failed \(HTTP 502, error\): non-JSON body: "
                                              r"'<html><body>Bad Gateway</body></html>'"):
        source.query("sum(up)", time=START)
