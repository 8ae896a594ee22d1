"""Unit tests of the Prometheus JSON conversion, the selector builder and the chunk planner (no server)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prom_source_fixtures import recorded_body

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs import promql
from goreliable_lib.sources import promjson
from goreliable_lib.sources.prometheus import plan_chunks


def reference_frame(body: bytes) -> pd.DataFrame:
    """A deliberately plain conversion (json + loops) to compare the fast path against."""
    data = json.loads(body)["data"]
    rows = []
    if data["resultType"] == "matrix":
        for entry in data["result"]:
            for t, v in entry["values"]:
                rows.append({"timestamp": t, "value": float(v), **entry["metric"]})
    elif data["resultType"] == "vector":
        for entry in data["result"]:
            t, v = entry["value"]
            rows.append({"timestamp": t, "value": float(v), **entry["metric"]})
    names = sorted({k for row in rows for k in row if k not in ("timestamp", "value")},
                   key=lambda n: (n != "__name__", n))
    frame = pd.DataFrame({
        "timestamp": pd.to_datetime([round(r["timestamp"] * 1000) for r in rows], unit="ms", utc=True).as_unit("ns"),
        "value": np.array([r["value"] for r in rows], dtype=np.float64),
        **{n: pd.Series([r.get(n) for r in rows], dtype=object) for n in names}})
    return frame


def matrix_body(series: list[tuple[dict[str, str], list[tuple[float, str]]]], **extra: object) -> bytes:
    result = [{"metric": labels, "values": [[t, v] for t, v in values]} for labels, values in series]
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}, **extra},
                      separators=(",", ":"), ensure_ascii=False).encode()


ODD_LABELS = [
    {"__name__": "up", "job": 'say "hi"', "path": "C:\\temp\\", "empty": ""},
    {"__name__": "up", "job": "unicode ✓ ünïcødé 日本", "path": '"values":[[1,"2"]]', "empty": "]]"},
    {"__name__": "up", "job": "\\\"", "newline": "a\nb\tc", "path": "},{\"metric\":{"},
]


def test_odd_label_values_match_a_plain_conversion() -> None:
    body = matrix_body([(labels, [(1700000000 + 60 * i, str(i + 0.5)) for i in range(3)]) for labels in ODD_LABELS])
    frame = promjson.response_to_frame(body)
    pd.testing.assert_frame_equal(frame, reference_frame(body))
    assert frame["path"].tolist()[:4] == ["C:\\temp\\"] * 3 + ['"values":[[1,"2"]]']
    assert frame.loc[0, "empty"] == "" and frame.loc[8, "empty"] is None  # missing label is None


def test_nan_and_infinities_and_single_sample_series() -> None:
    body = matrix_body([({"a": "1"}, [(1700000000, "NaN"), (1700000060, "+Inf"), (1700000120, "-Inf")]),
                        ({"b": "2"}, [(1700000000.123, "-0.5")])])
    frame = promjson.response_to_frame(body)
    values = frame["value"].to_numpy()
    assert math.isnan(values[0]) and values[1] == math.inf and values[2] == -math.inf and values[3] == -0.5
    assert frame["timestamp"].dtype == "datetime64[ns, UTC]"
    assert frame["timestamp"].iloc[3] == pd.Timestamp("2023-11-14T22:13:20.123Z")
    assert frame["a"].tolist() == ["1", "1", "1", None] and frame["b"].tolist() == [None, None, None, "2"]


def test_recorded_prometheus_responses_convert_like_the_plain_path() -> None:
    for name in ("matrix", "vector"):
        body = recorded_body(name)
        pd.testing.assert_frame_equal(promjson.response_to_frame(body), reference_frame(body))


@pytest.mark.parametrize("result_type", ["matrix", "vector"])
def test_empty_results_have_the_columns(result_type: str) -> None:
    body = json.dumps({"status": "success", "data": {"resultType": result_type, "result": []}}).encode()
    frame = promjson.response_to_frame(body)
    assert list(frame.columns) == ["timestamp", "value"] and frame.empty
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]" and frame["value"].dtype == np.float64


def test_scalar_string_and_warnings() -> None:
    scalar = promjson.response_to_frame(
        b'{"status":"success","data":{"resultType":"scalar","result":[1700000000,"+Inf"]}}')
    assert list(scalar.columns) == ["timestamp", "value"] and scalar["value"].iloc[0] == math.inf
    text = promjson.response_to_frame(b'{"status":"success","data":{"resultType":"string","result":[1700000000,"hi"]}}')
    assert text["value"].iloc[0] == "hi"
    body = matrix_body([({"a": "1"}, [(1, "1")])], warnings=["store 1 unavailable", "partial"])
    assert promjson.response_to_frame(body).attrs["warnings"] == ["store 1 unavailable", "partial"]


def test_pretty_printed_json_takes_the_generic_path_with_the_same_result() -> None:
    series = [(labels, [(1700000000 + i, str(i)) for i in range(4)]) for labels in ODD_LABELS]
    compact = matrix_body(series)
    pretty = json.dumps(json.loads(compact), indent=2).encode()
    pd.testing.assert_frame_equal(promjson.response_to_frame(pretty), promjson.response_to_frame(compact))


@pytest.mark.parametrize("body", [
    b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"2"],[2,"3"',
    b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}',
    b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"2",3]]}]}}',
    b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1]]}]}}',
    b'<html>bad gateway</html>',
    b'{"status":"success"}',
    b'{"status":"success","data":{"resultType":"weird","result":[]}}',
    b'[1,2]',
])
def test_malformed_bodies_raise(body: bytes) -> None:
    with pytest.raises(promjson.MalformedResponseError):
        promjson.response_to_frame(body)


def test_error_envelope_is_reported_not_converted() -> None:
    envelope = promjson.parse_response(b'{"status":"error","errorType":"bad_data","error":"parse error"}')
    assert (envelope.status, envelope.error_type, envelope.error) == ("error", "bad_data", "parse error")


label_value = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
sample_value = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                         st.integers(-10**18, 10**18).map(float))


def go_format(value: float) -> str:
    """Prometheus' strconv.FormatFloat(v, 'f', -1, 64), close enough: NaN, +Inf, -Inf, shortest round-trip."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return np.format_float_positional(value, unique=True, trim="-")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True), label_value,
                                          max_size=3),
                          st.lists(sample_value, min_size=1, max_size=5)), max_size=4, unique_by=lambda s: str(s[0])))
def test_any_labels_and_floats_round_trip(series: list[tuple[dict[str, str], list[float]]]) -> None:
    body = matrix_body([(labels, [(1700000000 + 15 * i, go_format(v)) for i, v in enumerate(values)])
                        for labels, values in series])
    frame = promjson.response_to_frame(body)
    expected = reference_frame(body) if series else promjson.empty_frame()
    pd.testing.assert_frame_equal(frame, expected)
    flat = [v for _, values in series for v in values]
    np.testing.assert_array_equal(frame["value"].to_numpy(), np.array(flat, dtype=np.float64))


def test_merge_results_orders_series_then_time_without_duplicates() -> None:
    first = promjson.parse_response(matrix_body([({"s": "a"}, [(0, "1"), (60, "2")]),
                                                 ({"s": "b"}, [(60, "5")])])).result
    second = promjson.parse_response(matrix_body([({"s": "b"}, [(120, "6")]), ({"s": "c"}, [(120, "9")]),
                                                  ({"s": "a"}, [(120, "3")])])).result
    frame = promjson.to_frame(promjson.merge_results([first, second]))
    assert frame["s"].tolist() == ["a", "a", "a", "b", "b", "c"]
    assert frame["value"].tolist() == [1, 2, 3, 5, 6, 9]
    assert (frame["timestamp"].astype("int64") // 10**9).tolist() == [0, 60, 120, 60, 120, 120]


def test_wide_has_one_column_per_series() -> None:
    body = matrix_body([({"__name__": "up", "job": 'a"b'}, [(0, "1"), (60, "2")]),
                        ({"__name__": "up", "job": "c"}, [(60, "3")])])
    table = promjson.wide(promjson.response_to_frame(body))
    assert list(table.columns) == ['up{job="a\\"b"}', 'up{job="c"}']
    assert table.index.name == "timestamp" and str(table.index.dtype) == "datetime64[ns, UTC]"
    assert table.iloc[0].tolist()[0] == 1 and math.isnan(table.iloc[0, 1]) and table.iloc[1].tolist() == [2, 3]


def test_escape_label_value_and_selector() -> None:
    assert promql.escape_label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    injected = 'x"} or vector(1) #'
    assert promql.selector("up", job=injected) == 'up{job="x\\"} or vector(1) #"}'
    assert promql.selector("http_requests_total", service="api", code=promql.not_matching("5..")) == \
        'http_requests_total{code!~"5..",service="api"}'
    assert promql.selector(None, promql.Matcher("__name__", "=~", "up|down")) == '{__name__=~"up|down"}'
    assert promql.selector("up", job=promql.any_of(["a.b", "c|d"])) == 'up{job=~"a\\\\.b|c\\\\|d"}'
    assert promql.selector("up") == "up"


@pytest.mark.parametrize("call", [
    lambda: promql.selector("up", **{"bad-name": "x"}),
    lambda: promql.selector("up{", job="x"),
    lambda: promql.selector(None),
    lambda: promql.validate_label_name("1abc"),
    lambda: promql.Matcher("job", "==", "x"),
    lambda: promql.selector("up", job=3),  # type: ignore[arg-type]
])
def test_selector_rejects_bad_names_and_operators(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadInputError):
        call()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**7), st.integers(0, 10**6), st.sampled_from([1, 15, 60, 300, 3600, 7]),
       st.integers(1, 50))
def test_plan_chunks_cover_the_grid_exactly(start_steps: int, length_steps: int, step_s: int, max_points: int) -> None:
    step_ms = step_s * 1000
    start_ms, end_ms = start_steps * step_ms, (start_steps + length_steps) * step_ms
    chunks = plan_chunks(start_ms, end_ms, step_ms, max_points)
    points = [t for low, high in chunks for t in range(low, high + 1, step_ms)] if length_steps < 5000 else None
    if points is not None:
        assert points == list(range(start_ms, end_ms + 1, step_ms))
    for low, high in chunks:
        assert low % step_ms == 0 and high % step_ms == 0 and (high - low) // step_ms + 1 <= max_points
    assert chunks[0][0] == start_ms and chunks[-1][1] == end_ms
    assert all(b[0] - a[1] == step_ms for a, b in zip(chunks, chunks[1:], strict=False))


def test_plan_chunks_use_whole_days_and_an_absolute_grid() -> None:
    day = 86_400_000
    chunks = plan_chunks(3 * day + 60_000, 40 * day, 60_000, 11_000)
    assert all(low % (7 * day) == 0 for low, _ in chunks[1:])  # 11,000 minutes -> 7-day chunks
    assert chunks[0] == (3 * day + 60_000, 7 * day - 60_000)
    unaligned = plan_chunks(1_500, 1_500 + 25 * 1_000, 1_000, 10, align=False)
    assert unaligned == [(1_500, 10_500), (11_500, 20_500), (21_500, 26_500)]


def test_recorded_error_envelope() -> None:
    envelope = promjson.parse_response(recorded_body("bad_data"))
    assert (envelope.status, envelope.error_type, envelope.result) == ("error", "bad_data", None)
    assert "unclosed left parenthesis" in (envelope.error or "")


# --------------------------------------------------------------------------------------------- real servers' shapes
# A native histogram sample of an instant vector, as Grafana's converter test data records it
# (grafana/grafana pkg/util/converter/testdata/prom-vector-histogram-no-labels.json; buckets cut to two), next to a
# float sample; and a range result whose series hold only histogram samples (prom-matrix-histogram-partitioned.json)
# or floats and histograms both (Prometheus' API docs: "histograms" beside "values" for a series holding both).
HISTOGRAM = {"count": "316.47719298245624", "sum": "3.3474505904112015", "buckets": [
    [0, "0.000004536465129862675", "0.000004947050303081549", "0.13333333333333333"],
    [0, "0.000004947050303081549", "0.000005394796609394436", "2.0982456140350876"]]}
GATEWAY = {"cluster": "dev-us-central-0", "job": "cortex-dev-01/cortex-gw", "route": "api_prom_api_v1_query"}


def test_native_histograms_are_skipped_alike_by_instant_and_range_queries() -> None:
    """An instant vector holding a native histogram used to fail the whole query as malformed (the range path
    skipped it with a warning): both now keep the float samples and say which series' histograms were skipped."""
    vector = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "histogram": [1649967668.042, HISTOGRAM]},
        {"metric": GATEWAY, "value": [1649967668.042, "0.5"]}]}}, separators=(",", ":")).encode()
    instant = promjson.response_to_frame(vector)
    assert instant["value"].tolist() == [0.5] and instant["route"].tolist() == ["api_prom_api_v1_query"]
    [said] = instant.attrs["warnings"]
    assert said.startswith("native histogram samples of 1 series skipped ({})") and "histogram_quantile()" in said

    matrix = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": GATEWAY, "histograms": [[1649963300, {"count": "0", "sum": "0"}], [1649963400, HISTOGRAM]]},
        {"metric": {**GATEWAY, "route": "api_prom_push"}, "values": [[1649963300, "1"]],
         "histograms": [[1649963400, HISTOGRAM]]}]}}, separators=(",", ":")).encode()
    ranged = promjson.response_to_frame(matrix)
    assert ranged["value"].tolist() == [1.0] and ranged["route"].tolist() == ["api_prom_push"]
    [said] = ranged.attrs["warnings"]
    assert said.startswith('native histogram samples of 2 series skipped ({cluster="dev-us-central-0",job="cortex-dev-'
                           '01/cortex-gw",route="api_prom_api_v1_query"}, {cluster=')


def test_prometheus_3_infos_are_kept_beside_the_warnings() -> None:
    """Prometheus 3 sends info-level annotations in `infos` (util/annotations/annotations.go, PossibleNonCounterInfo,
    with the position in the query); they used to be dropped."""
    info = ('PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: '
            '"go_memstats_alloc_bytes" (1:6)')
    body = matrix_body([({"__name__": "go_memstats_alloc_bytes"}, [(1700000000, "0.1")])], infos=[info],
                       warnings=["PromQL warning: ratio value should be between -1 and 1"])
    frame = promjson.response_to_frame(body)
    assert frame.attrs["infos"] == [info]
    assert frame.attrs["warnings"] == ["PromQL warning: ratio value should be between -1 and 1"]
    merged = promjson.merge_results([promjson.parse_response(body).result] * 2)
    assert merged.infos == [info]
    with pytest.raises(promjson.MalformedResponseError, match="'infos' is not a list"):
        promjson.response_to_frame(matrix_body([], infos="x"))


def test_empty_values_arrays_are_series_without_samples() -> None:
    """Go code on prometheus/common (model.SampleStream, `json:"values"`) writes `"values":[]` for a series without
    samples; a compact matrix whose first series was empty used to be refused as malformed JSON, and an empty one
    further on could take the next series' samples."""
    body = matrix_body([({"s": "empty-first"}, []), ({"s": "a"}, [(1700000000, "1"), (1700000060, "2")]),
                        ({"s": "empty-between"}, []), ({"s": "b"}, [(1700000000, "3")]), ({"s": "empty-last"}, [])])
    assert b'[{"metric":{"s":"empty-first"},"values":[]}' in body
    frame = promjson.response_to_frame(body)
    pd.testing.assert_frame_equal(frame, reference_frame(body))
    assert frame["s"].tolist() == ["a", "a", "b"] and frame["value"].tolist() == [1, 2, 3]
    only_empty = promjson.response_to_frame(matrix_body([({"s": "x"}, []), ({"s": "y"}, [])]))
    assert only_empty.empty and list(only_empty.columns) == ["timestamp", "value"]


@pytest.mark.parametrize(("timestamp", "kind"), [(9_999_999_999, "matrix"), (4_102_444_800_000, "matrix"),
                                                 (-10_000_000_000, "vector"), (9_999_999_999, "scalar")])
def test_a_time_pandas_cannot_hold_is_a_clear_error(timestamp: float, kind: str) -> None:
    """A timestamp after 2262-04-11 (pandas' last nanosecond) used to wrap around silently to a wrong date."""
    series = {"metric": {"job": "far"}}
    result: object = {"matrix": [{**series, "values": [[1700000000, "1"], [timestamp, "2"]]}],
                      "vector": [{**series, "value": [timestamp, "1"]}], "scalar": [timestamp, "1"]}[kind]
    body = json.dumps({"status": "success", "data": {"resultType": kind, "result": result}}).encode()
    with pytest.raises(promjson.MalformedResponseError, match=r"outside the times pandas can hold \(1677-09-21 .. "
                                                              r"2262-04-11 UTC\)") as caught:
        promjson.response_to_frame(body)
    assert f"timestamp {float(timestamp)!r}" in str(caught.value)
    if kind != "scalar":
        assert 'series {job="far"}' in str(caught.value)
    last = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {**series, "value": [9_223_372_035, "1"]}]}}).encode()
    assert promjson.response_to_frame(last)["timestamp"].iloc[0] == pd.Timestamp("2262-04-11T23:47:15Z")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True), label_value,
                                          max_size=3),
                          st.lists(sample_value, max_size=4)), max_size=5, unique_by=lambda s: str(s[0])))
def test_series_with_and_without_samples_convert_like_the_plain_path(
        series: list[tuple[dict[str, str], list[float]]]) -> None:
    body = matrix_body([(labels, [(1700000000 + 15 * i, go_format(v)) for i, v in enumerate(values)])
                        for labels, values in series])
    frame = promjson.response_to_frame(body)
    expected = reference_frame(body) if any(values for _, values in series) else promjson.empty_frame()
    pd.testing.assert_frame_equal(frame, expected)


@pytest.mark.parametrize(("query", "raw"), [
    ("up[5m]", True), ('req_total{code="500"}[1h] offset 1d', True), ("x[5m] @ 1700000000.000", True),
    ('{__name__=~"a.*"}[90s]', True), ("x[299999ms] offset 5m @ end()", True), ('x{a="]"}[5m]', True),
    ('x{a="[5m]"}', False), ("rate(x[5m])", False), ("x[5m:1m]", False), ("sum(x)[5m:]", False), ("up", False)])
def test_a_bare_range_selector_is_a_raw_sample_query(query: str, raw: bool) -> None:
    assert promql.is_range_selector(query) is raw


def test_raw_samples_drop_staleness_markers_nan_and_infinities() -> None:
    # VictoriaMetrics 1.79 answers `m[d]` with its staleness markers as "NaN"; a NaN or an infinity an exporter
    # wrote is no counter value either: 5 samples, 3 of them not samples
    body = matrix_body([({"a": "1"}, [(1700000000, "3"), (1700000005, "NaN"), (1700000010, "+Inf")]),
                        ({"a": "2"}, [(1700000000, "-Inf"), (1700000005, "7")])])
    frame = promjson.raw_samples(promjson.response_to_frame(body))
    assert frame["value"].tolist() == [3.0, 7.0] and frame["a"].tolist() == ["1", "2"]
    assert frame.attrs["dropped_samples"] == 3
    clean = promjson.raw_samples(promjson.response_to_frame(matrix_body([({"a": "1"}, [(1700000000, "1")])])))
    assert clean.attrs["dropped_samples"] == 0 and len(clean) == 1
