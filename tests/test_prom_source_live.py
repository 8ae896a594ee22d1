"""PrometheusSource against a real Prometheus 2.42 (and the fault proxy in front of it)."""

from __future__ import annotations

import dataclasses
import email.utils
import logging
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from prom_source_fixtures import DATA_END, LONG_SERVICES, ODD_LABELS, long_value, prom_url  # noqa: F401

from goreliable_lib.devstack.stack.faults import FaultProxy, refused_url
from goreliable_lib.errors import BadInputError, PrometheusError
from goreliable_lib.inputs.promql import selector
from goreliable_lib.sources import prometheus as prometheus_module
from goreliable_lib.sources.prometheus import PrometheusInfo, PrometheusSource, PrometheusWarning

pytestmark = pytest.mark.stack
#: Prometheus' answer to a query over its --query.timeout: HTTP 503 (docs/querying/api.md: "503 Service Unavailable
#: when queries time out or abort"), errorType timeout, the engine's message.
TIMEOUT_BODY = {"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation"}


def fast_source(url: str, **kwargs: object) -> PrometheusSource:
    """A source with a tiny backoff so retry tests stay quick."""
    source = PrometheusSource(url, **kwargs)  # type: ignore[arg-type]
    source.retry_policy = dataclasses.replace(source.retry_policy, backoff_seconds=0.01)
    return source


def check_exact(frame: pd.DataFrame) -> None:
    """Every sample of the `long` dataset equals its known value."""
    for index, service in enumerate(LONG_SERVICES):
        rows = frame[frame["service"] == service]
        seconds = rows["timestamp"].astype("int64").to_numpy() // 10**9
        np.testing.assert_array_equal(rows["value"].to_numpy(), long_value(index, seconds))


def test_chunked_result_equals_a_single_query(prom_url: str) -> None:  # noqa: F811
    start, end = DATA_END - pd.Timedelta(days=3), DATA_END
    single = PrometheusSource(prom_url).query_range("prom_test_requests_total", start, end, "1m")
    assert len(single) == 4 * (3 * 1440 + 1) and single["timestamp"].is_unique is False
    with FaultProxy(prom_url) as proxy:
        chunked = PrometheusSource(proxy.url, max_points_per_series=500, max_concurrency=3).query_range(
            "prom_test_requests_total", start, end, "1m")
        assert len(proxy.requests) == 9  # 4321 points in 500-point chunks on the absolute grid
        for seen in proxy.requests:
            low, high = float(seen.args["start"][0]), float(seen.args["end"][0])
            assert low % 60 == 0 and high % 60 == 0 and (high - low) / 60 + 1 <= 500
    pd.testing.assert_frame_equal(chunked, single)
    check_exact(single)
    assert not single.duplicated(["timestamp", "service"]).any()


def test_a_series_hint_bounds_series_times_points_per_request(prom_url: str,  # noqa: F811
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The one chunker: with `series=4` and at most 2,000 series x points a request, chunks hold 500 points (4
    series x 500 = 2,000), on the absolute grid; the answer equals a single query's."""
    monkeypatch.setattr(prometheus_module, "MAX_POINTS_PER_REQUEST", 2_000)
    start, end = DATA_END - pd.Timedelta(days=3), DATA_END
    single = PrometheusSource(prom_url).query_range("prom_test_requests_total", start, end, "1m")
    with FaultProxy(prom_url) as proxy:
        chunked = PrometheusSource(proxy.url, max_concurrency=3).query_range(
            "prom_test_requests_total", start, pd.Timestamp(end), pd.Timedelta(minutes=1), series=4)
        assert len(proxy.requests) == 9  # 4321 points in 500-point chunks, as with max_points_per_series=500
        for seen in proxy.requests:
            low, high = float(seen.args["start"][0]), float(seen.args["end"][0])
            assert (low / 60) % 500 == 0 or low == start.timestamp()
            assert (high - low) / 60 + 1 <= 500
    pd.testing.assert_frame_equal(chunked, single)


def test_at_most_max_concurrency_requests_are_in_flight_across_threads(prom_url: str,  # noqa: F811
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Three threads each asking a range that is cut into 5 chunks: never more than `max_concurrency` (2) requests
    of the source in flight (without the bound: up to 3 x 2 = 6)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    state = {"now": 0, "most": 0}
    lock = threading.Lock()
    send = PrometheusSource._send

    def counted(self: PrometheusSource, *args: object) -> bytes:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.05)
        try:
            return send(self, *args)  # type: ignore[arg-type]
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(PrometheusSource, "_send", counted)
    source = PrometheusSource(prom_url, max_points_per_series=900, max_concurrency=2)
    start, end = DATA_END - pd.Timedelta(days=3), DATA_END
    with ThreadPoolExecutor(max_workers=3) as pool:
        frames = list(pool.map(lambda _: source.query_range("prom_test_requests_total", start, end, "1m"), range(3)))
    assert state["most"] == 2 and all(len(f) == len(frames[0]) > 0 for f in frames)


def test_unaligned_grid_chunks_equal_a_single_query(prom_url: str) -> None:  # noqa: F811
    start, end = DATA_END - pd.Timedelta("5h") + pd.Timedelta("17s"), DATA_END
    single = PrometheusSource(prom_url).query_range("prom_test_requests_total", start, end, 90, align=False)
    chunked = PrometheusSource(prom_url, max_points_per_series=13).query_range(
        "prom_test_requests_total", start, end, 90, align=False)
    pd.testing.assert_frame_equal(chunked, single)
    assert single["timestamp"].iloc[0] == start and len(single) == 4 * (int((5 * 3600 - 17) // 90) + 1)


def test_alignment_keeps_samples_inside_the_range(prom_url: str) -> None:  # noqa: F811
    start, end = DATA_END - pd.Timedelta("1h") + pd.Timedelta("10s"), DATA_END - pd.Timedelta("50s")
    frame = PrometheusSource(prom_url).query_range('prom_test_requests_total{service="a"}', start, end, "1m")
    assert frame["timestamp"].iloc[0] == DATA_END - pd.Timedelta("59min")
    assert frame["timestamp"].iloc[-1] == DATA_END - pd.Timedelta("1min") and len(frame) == 59


def test_sixty_day_one_minute_range_query(prom_url: str) -> None:  # noqa: F811
    with FaultProxy(prom_url) as proxy:
        frame = PrometheusSource(proxy.url).query_range(
            selector("prom_test_requests_total", service="b"), DATA_END - pd.Timedelta(days=60), DATA_END, "1m")
        assert len(proxy.requests) >= 9  # 86,401 points: 7-day chunks
    assert len(frame) == 60 * 1440 + 1 and frame["timestamp"].is_monotonic_increasing
    assert frame["timestamp"].is_unique and frame["timestamp"].iloc[0] == DATA_END - pd.Timedelta(days=60)
    check_exact(frame)


def test_label_values_with_quotes_and_backslashes_match_exactly(prom_url: str) -> None:  # noqa: F811
    source = PrometheusSource(prom_url)
    for labels in ODD_LABELS:
        frame = source.query(selector("odd_metric", **labels), time=DATA_END)
        assert len(frame) == 1, labels
        assert frame.loc[0, "job"] == labels["job"] and frame.loc[0, "path"] == labels["path"]
    assert len(source.query("odd_metric", time=DATA_END)) == 3
    everything = source.query_range("odd_metric", DATA_END - pd.Timedelta("199min"), DATA_END, 60)
    assert everything["value"].isna().sum() == 3 and np.isinf(everything["value"]).sum() == 9


def test_long_queries_are_posted_as_a_form(prom_url: str) -> None:  # noqa: F811
    padding = " + ".join(["0 * prom_test_requests_total"] * 60)
    long_query = f"prom_test_requests_total + ({padding})"
    assert len(long_query) > 1500
    with FaultProxy(prom_url) as proxy:
        source = PrometheusSource(proxy.url)
        frame = source.query_range(long_query, DATA_END - pd.Timedelta("2h"), DATA_END, "1m")
        short = source.query_range("prom_test_requests_total", DATA_END - pd.Timedelta("2h"), DATA_END, "1m")
        assert [r.method for r in proxy.requests] == ["POST", "GET"]
        assert proxy.requests[0].form["query"] == [long_query] and proxy.requests[0].args == {}
    pd.testing.assert_frame_equal(frame, short.drop(columns="__name__"))


def test_empty_result_and_instant_vector(prom_url: str) -> None:  # noqa: F811
    source = PrometheusSource(prom_url)
    empty = source.query_range("no_such_metric", DATA_END - pd.Timedelta("1h"), DATA_END, "1m")
    assert list(empty.columns) == ["timestamp", "value"] and empty.empty
    vector = source.query("sum by (service) (prom_test_requests_total)", time=DATA_END)
    assert (sorted(vector["service"]) == list(LONG_SERVICES)
            and list(vector.columns) == ["timestamp", "value", "service"])
    scalar = source.query("scalar(sum(prom_test_requests_total))", time=DATA_END)
    assert scalar["value"].iloc[0] == sum(long_value(i, np.array([int(DATA_END.timestamp())]))[0] for i in range(4))


def test_server_timeout_is_not_retried_unless_asked(prom_url: str) -> None:  # noqa: F811
    """A query that timed out on the server times out again: it used to be sent four times (four minutes at the
    default 60 s timeout before the error). It is sent once, and the error names the setting that retries it."""
    with FaultProxy(prom_url) as proxy:
        proxy.respond(503, TIMEOUT_BODY, times=None)
        with pytest.raises(PrometheusError) as caught:
            fast_source(proxy.url).query("prom_test_requests_total", time=DATA_END)
        assert len(proxy.requests) == 1
        error = caught.value
        assert (error.error_type, error.status, error.query) == ("timeout", 503, "prom_test_requests_total")
        assert "query timed out in expression evaluation" in str(error)
        assert "not retried" in str(error) and "GORELIABLE_PROMETHEUS_RETRY_TIMEOUTS=true" in str(error)
        proxy.clear()
        proxy.respond(503, TIMEOUT_BODY, times=None)
        with pytest.raises(PrometheusError, match="gave up after 3 attempts"):
            fast_source(proxy.url, retries=2, retry_timeouts=True).query("prom_test_requests_total", time=DATA_END)
        assert len(proxy.requests) == 3


def test_transient_503_and_500_are_retried_to_success(prom_url: str) -> None:  # noqa: F811
    with FaultProxy(prom_url) as proxy:
        proxy.respond(503, "no healthy upstream", headers={"Content-Type": "text/plain"}, times=1)  # Envoy's 503
        proxy.respond(500, {"status": "error", "errorType": "internal", "error": "boom"}, times=1)
        frame = fast_source(proxy.url).query("prom_test_requests_total", time=DATA_END)
        assert [r.fault for r in proxy.requests] == ["respond", "respond", None]
    assert len(frame) == 4


def test_500_gives_up_with_the_server_message(prom_url: str) -> None:  # noqa: F811
    with FaultProxy(prom_url) as proxy:
        proxy.respond(500, {"status": "error", "errorType": "internal", "error": "store gateway exploded"},
                      times=None)
        with pytest.raises(PrometheusError, match="store gateway exploded") as caught:
            fast_source(proxy.url, retries=1).query("up", time=DATA_END)
    assert caught.value.status == 500 and caught.value.error_type == "internal"


def test_429_honours_retry_after(prom_url: str) -> None:  # noqa: F811
    with FaultProxy(prom_url) as proxy:
        proxy.respond(429, "slow down", headers={"Retry-After": "1"}, times=1)
        began = time.monotonic()
        frame = fast_source(proxy.url).query("prom_test_requests_total", time=DATA_END)
        assert time.monotonic() - began >= 0.9 and len(proxy.requests) == 2
    assert len(frame) == 4


def test_retry_after_as_an_http_date_is_honoured_and_a_long_one_is_not_waited_for(prom_url: str) -> None:  # noqa: F811
    """RFC 9110 allows `Retry-After` as an HTTP date (it used to be ignored); a server asking for more than the
    policy's 120 s is not waited for (it used to be cut to 10 s and retried, three times in vain)."""
    with FaultProxy(prom_url) as proxy:
        when = email.utils.format_datetime(pd.Timestamp.now("UTC").ceil("s").to_pydatetime() + pd.Timedelta("2s"),
                                           usegmt=True)
        proxy.respond(503, {"status": "error", "errorType": "unavailable", "error": "overloaded"},
                      headers={"Retry-After": when}, times=1)
        began = time.monotonic()
        assert len(fast_source(proxy.url).query("prom_test_requests_total", time=DATA_END)) == 4
        assert time.monotonic() - began >= 1.0 and len(proxy.requests) == 2
        proxy.clear()
        proxy.respond(429, "tenant over its query limit", headers={"Retry-After": "600"}, times=None)
        began = time.monotonic()
        with pytest.raises(PrometheusError, match=r"server asked to retry after 600 s \(Retry-After\)") as caught:
            fast_source(proxy.url).query("prom_test_requests_total", time=DATA_END)
        assert time.monotonic() - began < 5 and len(proxy.requests) == 1 and caught.value.status == 429


def test_every_retry_is_logged_naming_the_endpoint_and_query_without_credentials(
        prom_url: str, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    with FaultProxy(prom_url) as proxy:
        proxy.respond(502, "<html>502 Bad Gateway</html>", headers={"Content-Type": "text/html"}, times=2)
        source = fast_source(proxy.url.replace("http://", "http://ops:hunter2@"))
        with caplog.at_level(logging.INFO, logger="goreliable_lib"):
            assert len(source.query("prom_test_requests_total", time=DATA_END)) == 4
        endpoint = f"{proxy.url}/api/v1/query"
    retries = [r.getMessage() for r in caplog.records if r.name == "goreliable_lib.sources.http"]
    assert len(retries) == 2 and retries[0].startswith("attempt 1 of 4 failed, retrying in")
    assert all(endpoint in line and "'prom_test_requests_total'" in line and "HTTP 502" in line
               for line in retries)
    assert not any("hunter2" in line or "ops:" in line for line in retries)


def test_refused_connection_is_retried_then_raised() -> None:
    url = refused_url()
    with pytest.raises(PrometheusError) as caught:
        fast_source(url, retries=2).query("up", time=DATA_END)
    assert caught.value.error_type == "unavailable" and url in str(caught.value) and "3 attempts" in str(caught.value)


def test_closed_connection_is_retried(prom_url: str) -> None:  # noqa: F811
    with FaultProxy(prom_url) as proxy:
        proxy.close_connection(times=1)
        frame = fast_source(proxy.url).query("prom_test_requests_total", time=DATA_END)
        assert [r.fault for r in proxy.requests] == ["close", None]
    assert len(frame) == 4


def test_slow_response_past_the_timeout_is_not_retried(prom_url: str) -> None:  # noqa: F811
    with FaultProxy(prom_url) as proxy:
        proxy.delay(2.0, times=None)
        began = time.monotonic()
        with pytest.raises(PrometheusError, match="did not answer within 1 s") as caught:
            fast_source(proxy.url, timeout=1.0).query("prom_test_requests_total", time=DATA_END)
        assert time.monotonic() - began < 2.5 and len(proxy.requests) == 1
        assert caught.value.error_type == "timeout" and "GORELIABLE_PROMETHEUS_RETRY_TIMEOUTS" in str(caught.value)
        proxy.clear()
        proxy.delay(2.0, times=1)
        frame = fast_source(proxy.url, timeout=1.0, retry_timeouts=True).query("prom_test_requests_total",
                                                                               time=DATA_END)
        assert len(frame) == 4 and len(proxy.requests) == 2


def test_infos_and_native_histograms_from_the_server_are_said(prom_url: str) -> None:  # noqa: F811
    """Prometheus 3's `infos` become a `PrometheusInfo` and attrs["infos"]; an instant vector with a native histogram
    (Grafana's converter test data, prom-vector-histogram-no-labels.json) keeps its floats, with a warning."""
    info = 'PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "up" (1:6)'
    body = {"status": "success", "infos": [info], "data": {"resultType": "vector", "result": [
        {"metric": {}, "histogram": [1649967668.042, {"count": "316.47", "sum": "3.34", "buckets": [
            [0, "0.000004536465129862675", "0.000004947050303081549", "0.13333333333333333"]]}]},
        {"metric": {"job": "api"}, "value": [1649967668.042, "2"]}]}}
    with FaultProxy(prom_url) as proxy:
        proxy.respond(200, body, times=None)
        with pytest.warns(PrometheusInfo, match="might not be a counter"), pytest.warns(PrometheusWarning,
                                                                                        match="native histogram"):
            frame = PrometheusSource(proxy.url).query("rate(up[5m])", time=DATA_END)
    assert frame["value"].tolist() == [2.0] and frame.attrs["infos"] == [info]


def test_malformed_json_raises_a_clear_error(prom_url: str) -> None:  # noqa: F811
    with FaultProxy(prom_url) as proxy:
        proxy.malformed()
        with pytest.raises(PrometheusError, match="malformed response") as caught:
            fast_source(proxy.url).query_range("prom_test_requests_total", DATA_END - pd.Timedelta("1h"), DATA_END, 60)
    assert caught.value.error_type == "bad_response" and caught.value.query == "prom_test_requests_total"


def test_bad_data_is_not_retried_and_names_the_query(prom_url: str) -> None:  # noqa: F811
    with FaultProxy(prom_url) as proxy:
        with pytest.raises(PrometheusError) as caught:
            fast_source(proxy.url).query("sum(rate(prom_test_requests_total[5m]", time=DATA_END)
        assert len(proxy.requests) == 1
    error = caught.value
    assert (error.error_type, error.status) == ("bad_data", 400)
    assert "sum(rate(prom_test_requests_total[5m]" in str(error) and "unclosed left parenthesis" in str(error)


def test_execution_error_is_not_retried(prom_url: str) -> None:  # noqa: F811
    with FaultProxy(prom_url) as proxy:
        proxy.respond(422, {"status": "error", "errorType": "execution", "error": "query processing would load "
                            "too many samples into memory in query execution"}, times=None)
        with pytest.raises(PrometheusError, match="too many samples") as caught:
            fast_source(proxy.url).query("prom_test_requests_total", time=DATA_END)
        assert len(proxy.requests) == 1
    assert caught.value.error_type == "execution" and caught.value.status == 422


def test_partial_response_warnings_are_surfaced(prom_url: str) -> None:  # noqa: F811
    message = "No StoreAPIs matched for this query (partial response)"
    with FaultProxy(prom_url) as proxy:
        proxy.inject_warnings([message], times=None)
        source = PrometheusSource(proxy.url, max_points_per_series=100)
        with pytest.warns(PrometheusWarning, match="partial response"):
            frame = source.query_range("prom_test_requests_total", DATA_END - pd.Timedelta("5h"), DATA_END, 60)
        assert len(proxy.requests) == 4  # the chunks' identical warnings are reported once
    assert frame.attrs["warnings"] == [message] and len(frame) == 4 * 301


def test_auth_headers_and_thanos_options_are_sent_but_never_shown(prom_url: str) -> None:  # noqa: F811
    token = "s3cr3t-token-value"
    with FaultProxy(prom_url) as proxy:
        source = PrometheusSource(proxy.url, token=token, headers={"X-Scope-OrgID": "prod|staging"},
                                  thanos_dedup=True, partial_response=False, max_source_resolution="5m")
        source.query("prom_test_requests_total", time=DATA_END)
        seen = proxy.requests[0]
        assert seen.headers["Authorization"] == f"Bearer {token}" and seen.headers["X-Scope-Orgid"] == "prod|staging"
        assert seen.args["dedup"] == ["true"] and seen.args["partial_response"] == ["false"]
        assert seen.args["max_source_resolution"] == ["5m"]
        proxy.respond(500, {"status": "error", "errorType": "internal", "error": "nope"}, times=None)
        with pytest.raises(PrometheusError) as caught:
            source.retry_policy = dataclasses.replace(source.retry_policy, retries=0)
            source.query("up", time=DATA_END)
        basic_url = proxy.url.replace("http://", "http://ops:hunter2@")
        basic = fast_source(basic_url, retries=0)
        with pytest.raises(PrometheusError) as caught_basic:
            basic.query("up", time=DATA_END)
        assert proxy.requests[-1].headers["Authorization"].startswith("Basic ")
    for text in (repr(source), str(caught.value), repr(basic), str(caught_basic.value)):
        assert token not in text and "hunter2" not in text
    assert "Authorization" in repr(source)  # header names only


def test_tls_settings_reach_the_session(tmp_path) -> None:  # noqa: ANN001
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not used for http")
    assert PrometheusSource("https://prom.example:9090", ca_bundle=str(bundle))._session.verify == str(bundle)
    assert PrometheusSource("https://prom.example:9090")._session.verify is True
    assert PrometheusSource("https://prom.example:9090", verify=False)._session.verify is False


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"url": "prom:9090"}, "url"), ({"url": None}, "url"), ({"timeout": 0}, "timeout"),
    ({"ca_bundle": "/nonexistent/ca.pem"}, "ca_bundle"), ({"token": "t", "basic_auth": ("u", "p")}, "auth"),
    ({"max_points_per_series": 20000}, "max_points_per_series"), ({"max_source_resolution": "5 minutes"},
                                                                    "max_source_resolution"),
])
def test_bad_settings_are_named(kwargs: dict[str, object], field: str) -> None:
    arguments = {"url": "http://127.0.0.1:9", **kwargs}
    with pytest.raises(BadInputError, match=field):
        PrometheusSource(**arguments)  # type: ignore[arg-type]


def test_bad_query_arguments_are_named(prom_url: str) -> None:  # noqa: F811
    source = PrometheusSource(prom_url)
    for call, field in [(lambda: source.query_range("up", "now", "now-1h", "1m"), "end"),
                        (lambda: source.query_range("up", "now-1h", "now", "soon"), "step"),
                        (lambda: source.query_range("up", "yesterday", "now", "1m"), "start"),
                        (lambda: source.query("  "), "query")]:
        with pytest.raises(BadInputError, match=field):
            call()


def test_record_then_replay_gives_identical_frames(prom_url: str, tmp_path) -> None:  # noqa: F811, ANN001
    snapshot = pytest.importorskip("goreliable_lib.sources.snapshot")
    recorder = snapshot.SnapshotRecorder(tmp_path / "snap", as_of=DATA_END)
    live = PrometheusSource(prom_url, recorder=recorder, clock=lambda: DATA_END)
    with FaultProxy(prom_url) as proxy:
        proxy.inject_warnings(["partial"], times=None)
        warned = PrometheusSource(proxy.url, recorder=recorder, clock=lambda: DATA_END)
        with pytest.warns(PrometheusWarning):
            recorded_warned = warned.query("odd_metric")
    recorded = {"range": live.query_range("prom_test_requests_total", "now-2d", "now", "5m"),
                "odd": live.query_range("odd_metric", "now-3h", "now", "1m"),
                "empty": live.query_range("nothing_here", "now-1h", "now", "1m"),
                "instant": live.query("sum by (service) (prom_test_requests_total)")}
    replay = PrometheusSource(None, replayer=snapshot.SnapshotReplayer(tmp_path / "snap"))
    replayed = {"range": replay.query_range("prom_test_requests_total", "now-2d", "now", "5m"),
                "odd": replay.query_range("odd_metric", "now-3h", "now", "1m"),
                "empty": replay.query_range("nothing_here", "now-1h", "now", "1m"),
                "instant": replay.query("sum by (service) (prom_test_requests_total)")}
    for name, frame in recorded.items():
        pd.testing.assert_frame_equal(replayed[name], frame, check_like=False, obj=name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        replayed_warned = replay.query("odd_metric")
    pd.testing.assert_frame_equal(replayed_warned, recorded_warned)
    assert replayed_warned.attrs["warnings"] == ["partial"] and any(
        issubclass(w.category, PrometheusWarning) for w in caught)


def test_compression_is_off_for_loopback_and_gives_the_same_frames(prom_url: str) -> None:  # noqa: F811
    assert PrometheusSource("https://prometheus.monitoring.svc:9090").compression is True
    with FaultProxy(prom_url) as proxy:
        plain = PrometheusSource(proxy.url)
        gzipped = PrometheusSource(proxy.url, compression=True)
        start = DATA_END - pd.Timedelta("6h")
        frames = [source.query_range("prom_test_requests_total", start, DATA_END, 60) for source in (plain, gzipped)]
        assert [r.headers["Accept-Encoding"] for r in proxy.requests] == ["identity", "gzip"]
    pd.testing.assert_frame_equal(frames[0], frames[1])
    direct = PrometheusSource(prom_url, compression=True).query_range("prom_test_requests_total", start, DATA_END, 60)
    pd.testing.assert_frame_equal(direct, frames[0])  # gzip straight from Prometheus
