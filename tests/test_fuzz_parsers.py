"""Property-based tests (hypothesis) of every parser of outside input: nothing but the documented errors escapes.

Per parser: the input fuzzed -> the allowed outcome.

- `promjson.response_to_frame`: any bytes, any JSON, near-valid Prometheus responses
  -> a frame, or `MalformedResponseError`
- `PrometheusSource.query` over HTTP: any body and status from a server -> a frame, or `PrometheusError`
- `KubecostSource.allocation` over HTTP: Allocation API envelopes with nulls, unknown, missing, mistyped fields
  -> a frame, or `KubecostError`
- drill logs (`events_frame` and what follows): random lines mixed with valid events
  -> never raises; valid lines kept; each bad line one warning
- SLO catalogs (`read_catalog`): random YAML documents, mutated valid OpenSLO (ratio, time-slice, threshold,
  sequence form), Pyrra and Sloth objects, random bytes
  -> a catalog whose objectives all evaluate a window, or `BadInputError`
- counter queries (`promql.parse_counter_query`, `parse_counter_difference`): near-valid PromQL around selectors
  -> a selector (or None), or `ValueError`
- parameters (`parse_assignments`, `load_param_file`, `resolve_parameters`): random `-p` pairs, files, values
  -> values, or `BadInputError`
- PromQL selectors (`promql.selector`): any label value -> one matcher with exactly that value
- snapshot manifests (`SnapshotReplayer`, `connect`, `describe`, replay): any value anywhere, keys deleted or
  added, any bytes -> a replay, or `SourceError`
- snapshot text (endpoints, requests): any text, the same in the endpoint and its recorded request
  -> the recorded result, the text described as it is

The profile is tests/hypothesis_profile.py (200 examples per property, no deadline); the examples run are counted
and written to test-artifacts/fuzz-examples.json.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis_profile import FUZZ, count, write_counts

from goreliable_lib.devstack.stack.faults import FaultProxy
from goreliable_lib.errors import BadInputError, KubecostError, PrometheusError, SourceError
from goreliable_lib.inputs import catalog, promql
from goreliable_lib.reports import registry
from goreliable_lib.runner import params
from goreliable_lib.sources import drills, kubecost, promjson
from goreliable_lib.sources.connect import without_credentials
from goreliable_lib.sources.prometheus import PrometheusInfo, PrometheusSource, PrometheusWarning

NOW = pd.Timestamp("2026-11-23T06:00:00Z")
#: text without lone surrogates (no JSON encoder writes them; orjson refuses them on both sides)
CHARACTERS = st.characters(exclude_categories=("Cs",))
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _write_counts() -> Iterator[None]:
    yield
    write_counts()


@pytest.fixture(scope="module")
def proxy() -> Iterator[FaultProxy]:
    """A stand-in server on 127.0.0.1 that answers whatever the current example programs (no upstream)."""
    with FaultProxy(None) as server:
        yield server


# --------------------------------------------------------------------------------------------- strategies
json_scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(alphabet=CHARACTERS, max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(alphabet=CHARACTERS, max_size=10), inner, max_size=4),
                           max_leaves=12)
label_names = st.sampled_from(["__name__", "job", "service", "code", "le", "instance"]) | st.from_regex(
    r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True)
label_values = (st.text(alphabet=CHARACTERS, max_size=15)
                | st.sampled_from(['x"} or vector(1) #', "\\", '"', "\n", "日本", "values\":["]))
#: what a sample value can be: Prometheus' own spellings, extremes, and garbage
number_texts = (st.floats(allow_nan=False).map(repr)
                | st.sampled_from(["NaN", "+Inf", "-Inf", "Inf", "1e308", "1e309", "-0", "0x10", "", " 1", "1,5",
                                   "nan", "∞", "1e-400", "12345678901234567890123"])
                | st.text(alphabet=CHARACTERS, max_size=6))
timestamps = (st.floats(-1e12, 1e12, allow_nan=False) | st.integers(-2**62, 2**62)
              | st.text(alphabet=CHARACTERS, max_size=6) | st.none())
pairs = st.lists(st.one_of(timestamps, number_texts, json_scalars), min_size=0, max_size=3) | json_scalars


@st.composite
def prometheus_bodies(draw: st.DrawFn) -> bytes:
    """Near-valid Prometheus API responses (any result type, any labels, odd numbers), or anything at all."""
    kind = draw(st.sampled_from(["matrix", "vector", "scalar", "string", "error", "json", "bytes", "other"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return dumps(draw(json_values))
    if kind == "error":
        return dumps({"status": "error", "errorType": draw(json_scalars), "error": draw(json_scalars)})
    series = draw(st.lists(st.dictionaries(label_names, label_values, max_size=3), max_size=3))
    histogram = st.fixed_dictionaries({"count": number_texts, "sum": number_texts}) | json_values
    if kind == "matrix":
        result: Any = [{"metric": labels, "values": draw(st.lists(pairs, max_size=4))} for labels in series]
        for entry in result:  # native histogram samples beside or instead of the floats
            if draw(st.booleans()):
                entry["histograms"] = draw(st.lists(st.tuples(timestamps, histogram), max_size=2))
                if draw(st.booleans()):
                    del entry["values"]
    elif kind == "vector":
        result = [{"metric": labels, **({"histogram": [draw(timestamps), draw(histogram)]} if draw(st.booleans())
                                        else {"value": draw(pairs)})} for labels in series]
    elif kind in ("scalar", "string"):
        result = draw(pairs)
    else:
        kind, result = draw(st.text(alphabet=CHARACTERS, max_size=8)), draw(json_values)
    document: dict[str, Any] = {"status": "success", "data": {"resultType": kind, "result": result}}
    for key in ("warnings", "infos"):  # infos: Prometheus 3's info-level annotations
        if draw(st.booleans()):
            document[key] = draw(st.lists(st.text(alphabet=CHARACTERS, max_size=20), max_size=2) | json_scalars)
    if draw(st.booleans()):  # mutate one field of the envelope
        document[draw(st.sampled_from(["status", "data", "extra"]))] = draw(json_values)
    body = dumps(document)
    if draw(st.booleans()):  # pretty-printed, as some proxies re-encode
        body = json.dumps(json.loads(body), indent=1).encode()
    return body


def dumps(value: Any) -> bytes:
    """JSON bytes of any value the strategies make (integers beyond 64 bits included, unlike orjson)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode()


def _valid_frame(frame: pd.DataFrame) -> None:
    assert list(frame.columns[:2]) == ["timestamp", "value"]
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert frame["value"].dtype in (np.float64, object)


@FUZZ
@given(prometheus_bodies())
def test_prometheus_response_parser_raises_only_malformed(body: bytes) -> None:
    count("prometheus_response_parser")
    try:
        frame = promjson.response_to_frame(body)
    except promjson.MalformedResponseError:
        return
    _valid_frame(frame)


@FUZZ
@given(body=prometheus_bodies(), status=st.sampled_from([200, 200, 200, 400, 404, 422, 429, 500, 502, 503]))
def test_prometheus_source_raises_only_prometheus_error(proxy: FaultProxy, body: bytes, status: int) -> None:
    count("prometheus_source_http")
    proxy.clear()
    proxy.respond(status, body, times=1)
    source = PrometheusSource(proxy.url, retries=0, timeout=10, clock=lambda: NOW)
    try:
        with warnings.catch_warnings(record=True) as said:  # the server's warnings, infos, skipped histograms
            warnings.simplefilter("always")
            frame = source.query("up")
    except PrometheusError as exc:
        assert proxy.url in str(exc) and "'up'" in str(exc)  # names the endpoint and the query
        return
    finally:
        source.close()
    assert status == 200
    _valid_frame(frame)
    for warning in said:  # a warning is said, never raised, and names its query
        assert issubclass(warning.category, PrometheusWarning | PrometheusInfo), warning
        assert "query 'up'" in str(warning.message), warning


@FUZZ
@given(st.text(alphabet=CHARACTERS, max_size=40))
def test_any_label_value_stays_one_literal_matcher(value: str) -> None:
    """A parameter value put in a selector can never change the query: an independent PromQL selector parser (the
    catalog's) reads back exactly one matcher with exactly that value."""
    count("promql_label_value")
    text = promql.selector("http_requests_total", service=value)
    parsed = promql.parse_selector(text)
    assert parsed.metric == "http_requests_total"
    assert [(m.label, m.op, m.value) for m in parsed.matchers] == [("service", "=", value)]
    regex = promql.selector("up", job=promql.any_of([value, "b"]))
    assert len(promql.parse_selector(regex).matchers) == 1


# --------------------------------------------------------------------------------------------- Kubecost
COST = ["cpuCost", "gpuCost", "ramCost", "pvCost", "networkCost", "loadBalancerCost", "sharedCost", "externalCost",
        "totalCost"]
ODD_VALUES = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False), st.integers(-2**70, 2**70),
                       st.booleans(), st.text(alphabet=CHARACTERS, max_size=5), st.lists(st.integers(), max_size=2),
                       st.dictionaries(st.text(alphabet=CHARACTERS, max_size=3), st.integers(), max_size=2))


@st.composite
def allocations(draw: st.DrawFn) -> dict[str, Any]:
    """One allocation: mostly well-formed numbers, with nulls, missing, unknown and mistyped fields mixed in."""
    fields = kubecost.COST_FIELDS + kubecost.USAGE_FIELDS + kubecost.EFFICIENCY_FIELDS + ["minutes"]
    alloc: dict[str, Any] = {}
    for name in fields:
        choice = draw(st.integers(0, 9))
        if choice < 6:
            alloc[name] = draw(st.floats(0, 1e6, allow_nan=False))
        elif choice == 6:
            alloc[name] = None
        elif choice == 7:
            continue  # missing
        else:
            alloc[name] = draw(ODD_VALUES)
    for _ in range(draw(st.integers(0, 2))):
        alloc[draw(st.text(alphabet=CHARACTERS, min_size=1, max_size=8))] = draw(json_values)  # unknown fields
    if draw(st.booleans()):
        alloc["name"] = draw(st.text(alphabet=CHARACTERS, max_size=12) | json_scalars)
    return alloc


@st.composite
def kubecost_bodies(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["kubecost", "kubecost", "opencost", "json", "sets"]))
    if kind == "json":
        return draw(json_values)
    names = (st.text(alphabet=CHARACTERS, max_size=12)
             | st.sampled_from(["__idle__", "__unallocated__", "a/b", "ml-platform"]))
    data: Any = [draw(st.dictionaries(names, allocations() | json_scalars, max_size=4))]
    if kind == "sets":
        data = draw(st.lists(st.dictionaries(names, allocations(), max_size=2) | json_values, max_size=3)
                    | json_scalars)
    body: dict[str, Any] = {"code": draw(st.sampled_from([200, 200, 200, 400, 500])) if draw(st.booleans()) else 200,
                            "data": data}
    if kind == "opencost":
        body["status"] = "success"
    return body


@FUZZ
@given(kubecost_bodies())
def test_kubecost_normaliser_raises_only_kubecost_error(proxy: FaultProxy, body: Any) -> None:
    count("kubecost_response")
    proxy.clear()
    proxy.respond(200, dumps(body), times=1)
    source = kubecost.KubecostSource(proxy.url + "/model", retries=0, timeout=10, clock=lambda: NOW)
    try:
        frame = source.allocation(("2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z"), aggregate="namespace")
    except KubecostError as exc:
        assert "/model/allocation" in str(exc) or "Kubecost" in str(exc)
        return
    sets = body["data"]
    allocations_sent = [a for a in (sets[0] or {}).values() if isinstance(a, dict)]
    assert len(frame) == len(allocations_sent)
    for column in kubecost.COLUMNS[4:-2]:
        assert frame[column].dtype == np.float64, column
    missing = {f for a in allocations_sent for f in COST if not _finite(a.get(f))}
    warned = " ".join(frame.attrs.get("warnings", []))
    said = " ".join([*frame.attrs.get("warnings", []), *frame.attrs.get("infos", [])])
    for field in missing:  # a cost Kubecost did not send is never silently counted as 0: it is said, or its
        # allocations lack the total too, which the totalCost warning says
        covered = all(not _finite(a.get("totalCost")) for a in allocations_sent if not _finite(a.get(field)))
        assert field in said or covered, (field, said)
    if "totalCost" in missing:  # a missing total is a warning: the totals are too low
        assert "totalCost" in warned and "too low" in warned, warned
    assert "too low" not in warned or "totalCost" in missing  # and only then


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------------------------- drill logs
DRILL = "2026-08-14-cluster-replacement"
EVENTS = ["recovery_started", "recovered", "verified", "note"]


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    component = draw(st.sampled_from(["postgresql", "nats-jetstream", "grafana-dashboards", "redis"]))
    event = draw(st.sampled_from([*EVENTS, "data_loss", "disaster_declared", "aborted"]))
    if event == "disaster_declared":
        component = "*"
    ts = draw(st.datetimes(dt.datetime(1970, 1, 1), dt.datetime(2200, 1, 1), timezones=st.sampled_from(
        [dt.UTC, dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=-5, minutes=-30))])))
    line: dict[str, Any] = {"schema": drills.SCHEMA, "drill_id": DRILL, "component": component, "event": event,
                            "ts": ts.isoformat().replace("+00:00", "Z")}
    if draw(st.booleans()):
        line["scenario"] = "cluster-replacement"
    if event == "data_loss":
        line["data_loss_seconds"] = draw(st.integers(0, 10**6) | st.floats(0, 1e9))
    if draw(st.booleans()):
        line["note"] = draw(st.text(alphabet=CHARACTERS, max_size=20))
    if draw(st.booleans()):
        line[draw(st.sampled_from(["operator", "ticket", "x"]))] = draw(json_values)  # unknown fields are kept
    return line


@st.composite
def invalid_lines(draw: st.DrawFn) -> bytes:
    """Lines that are not valid events: junk, other JSON, or a valid event with one field broken."""
    kind = draw(st.sampled_from(["text", "json", "broken", "extreme"]))
    if kind == "text":
        text = draw(st.text(alphabet=CHARACTERS, min_size=1, max_size=40)
                    .filter(lambda t: "\n" not in t and t.strip() != ""))
        return text.encode()
    if kind == "json":
        return dumps(draw(json_values.filter(lambda v: not isinstance(v, dict) or "drill_id" not in v)))
    line = draw(valid_events())
    if kind == "extreme":  # a time no report could place
        line["ts"] = draw(st.sampled_from(["0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z",
                                           "1500-06-01T00:00:00Z", "9999-12-31T23:59:59-01:00",
                                           "2500-01-01T00:00:00Z", "1969-12-31T23:59:59.999999Z"]))
        if line["ts"] == "1969-12-31T23:59:59.999999Z":
            line["ts"] = "1677-09-21T00:00:00Z"
        return dumps(line)
    field = draw(st.sampled_from(["schema", "drill_id", "component", "event", "ts", "data_loss_seconds"]))
    broken = {"schema": "goreliable.drill/v2", "drill_id": "../../etc", "component": "", "event": "exploded",
              "ts": "yesterday", "data_loss_seconds": -1}
    if draw(st.booleans()):
        line.pop(field, None) if field != "data_loss_seconds" else line.update(data_loss_seconds=-1)
        if field == "data_loss_seconds":
            line["event"] = "data_loss"
    else:
        line[field] = draw(st.sampled_from([broken[field], None, 12, [1]]))
        if field == "data_loss_seconds":
            line["event"] = "data_loss"
    return dumps(line)


@FUZZ
@given(st.lists(st.tuples(st.booleans(), valid_events(), invalid_lines()), max_size=25),
       st.sampled_from([b"\n", b"\r\n"]))
def test_drill_log_reader_keeps_valid_lines_and_names_bad_ones(lines: list[tuple[bool, dict[str, Any], bytes]],
                                                               newline: bytes) -> None:
    count("drill_log_lines")
    content, valid, invalid, seen = [], {}, set(), set()
    for number, (is_valid, event, junk) in enumerate(lines, start=1):
        if is_valid:
            raw = dumps(event)
            key = (event["component"], event["event"], event["ts"], json.dumps(event, sort_keys=True))
            if key not in seen:  # an exact duplicate is dropped with its own warning
                valid[number] = event
            seen.add(key)
        else:
            raw = junk
            invalid.add(number)
        content.append(raw)
    frame = drills.events_frame([("2026/Q3/log.jsonl", "s3://b/drills/2026/Q3/log.jsonl", newline.join(content))])
    problems = frame.attrs["warnings"]
    kept = set(frame["line"].tolist())
    extreme_kept = kept & invalid
    assert set(valid) <= kept, (sorted(valid), sorted(kept), problems)
    assert not extreme_kept or all(_in_pandas_range(content[n - 1]) for n in extreme_kept)
    for number in invalid - kept:
        assert sum(f"log.jsonl line {number}:" in p for p in problems) == 1, (number, problems)
    for number, event in valid.items():
        row = frame[frame["line"] == number].iloc[0]
        assert row["event"] == event["event"] and row["component"] == event["component"]
        assert row["ts"] == pd.Timestamp(event["ts"])
    public = drills.flag_components(drills._public(drills._wire(frame)), drills.SEED_COMPONENTS)
    components = drills.components_from_events(public)
    assert set(components["drill_id"]) <= {DRILL}


def _in_pandas_range(raw: bytes) -> bool:
    try:
        ts = pd.Timestamp(orjson.loads(raw)["ts"])
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return False
    return pd.Timestamp.min.tz_localize("UTC") <= ts <= pd.Timestamp.max.tz_localize("UTC")


# --------------------------------------------------------------------------------------------- OpenSLO catalogs
def _valid_slo() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "params" / "slos.yaml").read_text().split("\n---\n")[0])


def _valid_objects() -> list[dict[str, Any]]:
    """One valid object of each shape the loader reads: OpenSLO ratio, time slices, threshold with a DataSource
    reference, Pyrra, Sloth."""
    ratio = _valid_slo()
    sliced = _valid_slo()
    sliced["metadata"]["name"] = "sliced"
    sliced["spec"].update(budgetingMethod="Timeslices", timeWindow=[{"duration": "1M", "calendar": {
        "startTime": dt.datetime(2022, 1, 1, 12), "timeZone": "America/New_York"}}])
    sliced["spec"]["objectives"] = [{"displayName": "a", "target": 0.99, "timeSliceTarget": 0.95,
                                     "timeSliceWindow": "5m"},
                                    {"displayName": "b", "targetPercent": 99.9, "timeSliceTarget": 0.9,
                                     "timeSliceWindow": 1}]
    threshold = yaml.safe_load((ROOT / "params" / "slos-llm-p99.yaml").read_text())
    pyrra = yaml.safe_load((ROOT / "params" / "slos.pyrra.yaml").read_text().split("\n---\n")[1])
    sloth = yaml.safe_load((ROOT / "params" / "slos.sloth.yaml").read_text().split("\n---\n")[0])
    return [ratio, sliced, *threshold, pyrra, sloth]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


@st.composite
def catalog_texts(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["mutated", "mutated", "documents", "text", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=120))
    if kind == "text":
        return draw(st.text(alphabet=CHARACTERS, max_size=120)).encode()
    documents: list[Any] = []
    for _ in range(draw(st.integers(1, 3))):
        if kind == "documents":
            documents.append(draw(json_values | st.dates() | st.datetimes()))
            continue
        slo = draw(st.sampled_from(_valid_objects()))
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(list(_paths(slo))[1:]))
            parent = slo
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]] = draw(json_values | st.dates() | st.datetimes() | st.sampled_from(
                ["1M", "1Q", "30d", "1m", "2w", "5m", 'x{a="', "{}", 'm{le="x"}', 'm{a=~"("}', "openslo/v1", "SLO",
                 "SLI", "Service", "DataSource", "Timeslices", "RatioTimeslices", "Europe/Berlin", "Mars/Olympus",
                 "openslo.com/v1", "pyrra.dev/v1alpha1", "prometheus/v1", "sum(rate(x[{{.window}}]))",
                 "sum(rate(x[5m])) - sum(rate(y[5m]))", "histogram_quantile(0.99, x)", "lt", "gte"]))
        documents.append(slo)
    if draw(st.booleans()):  # the sequence form (oslo fmt, the Go SDK's examples)
        documents = [documents]
    text = yaml.safe_dump_all(documents, allow_unicode=True, sort_keys=False)
    if draw(st.booleans()):
        text += draw(st.sampled_from(["--- ~\n", "---\n", "--- !!binary aGk=\n", "--- &a [*a]\n", "--- [\n"]))
    return text.encode()


@FUZZ
@given(catalog_texts())
def test_catalog_loader_raises_only_bad_input(tmp_path_factory: pytest.TempPathFactory, content: bytes) -> None:
    count("openslo_catalog")
    path = tmp_path_factory.mktemp("catalog") / "slos.yaml"
    path.write_bytes(content)
    try:
        loaded = catalog.read_catalog(path)
    except BadInputError as exc:
        assert str(path) in str(exc)  # the message names the file
        return
    assert loaded.slos and all(0 < slo.objective < 1 for slo in loaded.slos)
    end = pd.Timestamp("2026-11-23T06:00:00Z")
    for objective in loaded.objectives:
        assert 0 < objective.objective < 1 and objective.name.startswith(objective.slo_name)
        start, stop = objective.window_at(end)
        assert start < stop == end
        assert (objective.threshold is None) != (objective.ratio is None)


counter_queries = st.builds(
    lambda head, selector, span, tail: f"{head[0]}{selector}{span}{head[1]}{tail}",
    st.sampled_from([("", ""), ("sum(", ")"), ("sum(rate(", "))"), ("sum(increase(", "))"), ("rate(", ")"),
                     ("(", ")"), ("sum by (a) (rate(", "))"), ("sum(rate(", ")) by (a)"), ("max(", ")")]),
    st.sampled_from(['x_total', 'x{a="1"}', 'x{a=~"(5..|429)"}', '{__name__="x"}', 'x{a="]"}', 'x{a="-"}', 'x{',
                     '']) | st.text(alphabet=CHARACTERS, max_size=15),
    st.sampled_from(["", "[5m]", "[{{.window}}]", "[{{ .window }}]", "[x]", "[", "]"]),
    st.sampled_from(["", " - sum(rate(y[5m]))", " / x", ")", "("]))


@FUZZ
@given(counter_queries, st.booleans())
def test_counter_queries_raise_only_value_error(text: str, template: bool) -> None:
    count("counter_query")
    with contextlib.suppress(ValueError):
        selector = promql.parse_counter_query(text, window_template=template)
        assert promql.parse_selector(selector.to_promql()) == selector
    difference = promql.parse_counter_difference(text, window_template=template)
    assert difference is None or all(isinstance(part, promql.Selector) for part in difference)


# --------------------------------------------------------------------------------------------- parameters
param_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**80, 2**80) | st.floats() | st.text(alphabet=CHARACTERS, max_size=20)
    | st.dates() | st.datetimes() | st.sampled_from(["now", "now-7d", "now-99999999d", "30d", "1M", "2026-10",
                                                     "0001-01", "9999-Q4", "999999999d", "../x", "a/b", "..",
                                                     "params/slos.yaml", "/etc/passwd", "s3://bucket/x", "1e300",
                                                     "label:cost-team", "a\x00b", "x\ny"]),
    lambda inner: (st.lists(inner, max_size=3)
                   | st.dictionaries(st.text(alphabet=CHARACTERS, max_size=5), inner, max_size=2)),
    max_leaves=6)
FILE_NAME_PARAMS = {"window", "aggregate", "services", "teams", "slos"}


def _plain(value: Any) -> bool:
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, bool | int | float | str)


@FUZZ
@given(report=st.sampled_from(sorted(registry.REPORTS)),
       values=st.dictionaries(st.sampled_from(["end", "title", "catalog", "window", "services", "aggregate",
                                               "budgets", "teams", "drills_uri", "quarters", "targets",
                                               "incident_start", "incident_end", "slos", "colour"]),
                              param_values, max_size=4))
@example(report="dr", values={"end": "now-99999999d"})
@example(report="dr", values={"end": 1e300, "quarters": 2**80})
@example(report="cost", values={"window": "999999999d"})
@example(report="slo", values={"window": "0001-01", "end": float("nan")})
@example(report="dr", values={"targets": "a\x00b", "drills_uri": "a\x00b"})
@example(report="postmortem", values={"incident_start": "now-99999d", "incident_end": dt.datetime(9999, 12, 31)})
def test_parameter_values_raise_only_bad_input(report: str, values: dict[str, Any]) -> None:
    count("report_parameters")
    spec = registry.get_report(report)
    try:
        resolved = params.resolve_parameters(spec, values, use_default_file=False)
    except BadInputError as exc:
        assert exc.exit_code == 2 and "valid:" in str(exc) or "required" in str(exc)
        return
    assert set(resolved) == set(spec.param_names) and _plain(list(resolved.values()))
    for name in FILE_NAME_PARAMS & set(resolved):  # values that may end up in file names
        for item in resolved[name] if isinstance(resolved[name], list) else [resolved[name]]:
            assert "/" not in item and "\\" not in item and ".." not in item, (name, item)


@FUZZ
@given(st.lists(st.text(alphabet=CHARACTERS, max_size=30)
                | st.sampled_from(["quarters=8", "end=now-7d", "a=[1, 2", "a=!!binary x",
                                   "a=!!python/name:os.system", "=x", "a=*b", "a=&x [*x]"]),
                max_size=4))
def test_assignments_raise_only_bad_input(pairs: list[str]) -> None:
    count("param_assignments")
    try:
        values = params.parse_assignments(pairs)
    except BadInputError as exc:
        assert "-p" in str(exc)
        return
    assert all(isinstance(key, str) and key for key in values)


@FUZZ
@given(st.binary(max_size=80) | st.text(alphabet=CHARACTERS, max_size=80).map(str.encode)
       | param_values.map(lambda v: yaml.safe_dump(v, allow_unicode=True).encode())
       | st.dictionaries(st.text(alphabet=CHARACTERS, max_size=6), param_values, max_size=3).map(
           lambda d: yaml.safe_dump(d, allow_unicode=True).encode()))
def test_param_files_raise_only_bad_input(tmp_path_factory: pytest.TempPathFactory, content: bytes) -> None:
    count("param_files")
    path = tmp_path_factory.mktemp("params") / "p.yaml"
    path.write_bytes(content)
    try:
        values = params.load_param_file(path)
    except BadInputError as exc:
        assert str(path) in str(exc) or "p.yaml" in str(exc)
        return
    assert isinstance(values, dict) and all(isinstance(k, str) for k in values)
    with contextlib.suppress(BadInputError):  # a file layer: only BadInputError may escape here too
        params.resolve_parameters(registry.get_report("dr"), {}, [path], use_default_file=False)


# ------------------------------------------------------------------------------------------- snapshot manifests
def _manifest_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a manifest's JSON (the root included) a mutation can hit."""
    paths = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _manifest_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += _manifest_paths(item, (*path, index))
    return paths


def _mutated(manifest: Any, path: tuple[Any, ...], operation: str, value: Any) -> Any:
    """`manifest` with the value at `path` replaced, deleted, or given a new key."""
    if not path:
        return value if operation != "add" or not isinstance(manifest, dict) else {**manifest, "extra": value}
    copy = json.loads(json.dumps(manifest))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    if operation == "delete":
        del parent[path[-1]]
    elif operation == "add" and isinstance(parent[path[-1]], dict):
        parent[path[-1]]["extra"] = value
    else:
        parent[path[-1]] = value
    return copy


@pytest.fixture(scope="module")
def small_snapshot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One real recorded result of each source (from the bundled demo snapshot): its folder and manifest."""
    from goreliable_lib.sources.connect import demo_snapshot_path

    demo = demo_snapshot_path()
    manifest = json.loads((demo / "manifest.json").read_text())
    entries = [next(e for e in manifest["entries"] if e["source"] == name)
               for name in ("prometheus", "kubecost", "drills")]
    folder = tmp_path_factory.mktemp("small-snapshot")
    for entry in entries:
        (folder / entry["file"]).write_bytes((demo / entry["file"]).read_bytes())
    return {"folder": folder, "manifest": {**manifest, "entries": entries}}


def _snapshot_with(small: dict[str, Any], manifest: bytes, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("snapshot")
    for entry in small["manifest"]["entries"]:
        (folder / entry["file"]).hardlink_to(small["folder"] / entry["file"])
    (folder / "manifest.json").write_bytes(manifest)
    return folder


def _replay_everything(folder: Path, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """What a report does with a snapshot: open it, describe it, ask each source for what was recorded."""
    import warnings

    from goreliable_lib.config import load_settings
    from goreliable_lib.sources.connect import connect

    settings = load_settings({"GORELIABLE_CONFIG": os.devnull}, profile=f"snapshot:{folder}")
    sources = connect(settings=settings)
    described = sources.describe()
    json.dumps(described)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sources.drills.events()
        for entry in entries:
            if entry["source"] in ("prometheus", "kubecost"):
                getattr(sources, entry["source"])._get(entry["request"])
    return described


manifest_values = json_values | st.sampled_from(["s3://[REDACTED]-drills/drills", "[REDACTED]", "../x.parquet",
                                                 "/etc/passwd", "", "a\x00b", "2026-13-45T99:00:00Z", "now-1d"])


@FUZZ
@given(data=st.data(), operation=st.sampled_from(["replace", "replace", "delete", "add"]), value=manifest_values,
       raw=st.none() | st.binary(max_size=60))
def test_snapshot_manifest_raises_only_source_error(small_snapshot: dict[str, Any], data: st.DataObject,
                                                    operation: str, value: Any, raw: bytes | None,
                                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    """A manifest changed anywhere (a value replaced by any JSON, a key deleted or added), or any bytes at all:
    opening, describing and replaying it raises only `SourceError` (a miss included), never another error."""
    count("snapshot_manifest")
    manifest = small_snapshot["manifest"]
    path = data.draw(st.sampled_from(_manifest_paths(manifest)))
    if operation == "delete" and not path:
        operation = "replace"
    content = raw if raw is not None else dumps(_mutated(manifest, path, operation, value))
    folder = _snapshot_with(small_snapshot, content, tmp_path_factory)
    try:
        _replay_everything(folder, manifest["entries"])
    except SourceError as exc:
        assert str(folder) in str(exc) or "no drill log" in str(exc)


@FUZZ
@example(text="s3://[REDACTED]-drills/drills")  # what the scrubber made of s3://goreliable-drills/drills
@given(text=st.text(alphabet=CHARACTERS, min_size=1, max_size=40)
       | st.sampled_from(["s3://[REDACTED]-drills/drills", "s3://goreliable-drills/drills/", "s3://", "ftp://x",
                          "http://[::1", "s3://b/p?x#y", "~/drills", "./drills", "a\x00b"]))
def test_snapshot_replays_whatever_text_its_manifest_holds(small_snapshot: dict[str, Any], text: str,
                                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    """The drills endpoint and its recorded request hold any text (a scrubber once rewrote them): the replay
    answers from the recorded result, and describes the endpoint as the manifest holds it (credential-free)."""
    count("snapshot_text")
    manifest = json.loads(json.dumps(small_snapshot["manifest"]))
    manifest["endpoints"]["drills"] = text
    next(e for e in manifest["entries"] if e["source"] == "drills")["request"]["uri"] = text
    folder = _snapshot_with(small_snapshot, dumps(manifest), tmp_path_factory)
    described = _replay_everything(folder, manifest["entries"])
    assert described["endpoints"]["drills"] == without_credentials(text)
    assert without_credentials(without_credentials(text)) == without_credentials(text)
    if "@" not in text and "?" not in text and "#" not in text:
        assert described["endpoints"]["drills"] == text
