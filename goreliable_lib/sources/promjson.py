"""Fast conversion of Prometheus HTTP API JSON (`/api/v1/query`, `/api/v1/query_range`) into pandas.

Why not `json.loads` / `orjson.loads` and a loop: a range response is mostly `"values":[[t,"v"],...]`
arrays, and a generic parser builds a Python list, a float and a str per sample before we even start.
Here we use what we know of the shape instead:

1. the `"values":[...]` arrays of a matrix are cut out of the raw bytes (`bytes.find`, memchr speed);
   the rest, the *skeleton* (envelope, `metric` label sets, `warnings`), is small and goes to orjson,
   so label escaping, unicode and the envelope are handled by a real JSON parser;
2. the cut arrays are joined, stripped of `[`, `]`, `"` with one `bytes.translate`, and parsed as one
   column of numbers by pyarrow's multi-threaded CSV reader (it reads `NaN`, `+Inf`, `-Inf`);
3. labels are repeated per sample with `numpy.repeat`.

The sequence `"values":[` cannot occur inside a JSON string of a Prometheus response (the quote after
`values` would be escaped, and label names are `[a-zA-Z_][a-zA-Z0-9_]*`), so cutting is exact. Anything
unexpected (pretty-printed JSON) falls back to the generic path on the parsed skeleton.

What real servers send besides float samples (checked against Prometheus' API docs and tests, Grafana's
converter test data):
- native histogram samples (`"histogram": [t, {...}]` in a vector, `"histograms": [...]` in a matrix) are
  skipped, in both, with one warning naming the series: the frame holds floats only, and `histogram_count()`,
  `histogram_sum()`, `histogram_quantile()`, `histogram_fraction()` give numbers (a float of a series that
  also has histogram samples is kept);
- `infos` (Prometheus 3's info-level annotations) are kept in `attrs["infos"]`, beside `attrs["warnings"]`;
- VictoriaMetrics cluster's `"isPartial": true` (vmselect answered without some vmstorage nodes: "such responses may
  miss historical data", its docs) is a warning like a Thanos partial-response warning (`PARTIAL_WARNING`), and
  `PromEnvelope.partial` says so (the source refuses the answer where partial responses are refused);
- `"values":[]` (a series without samples, as Go code on prometheus/common writes it) is a series without
  samples;
- a timestamp pandas cannot hold (after 2262-04-11) is a `MalformedResponseError` naming the series, never a
  wrapped-around date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from goreliable_lib.inputs.promql import escape_label_value
from goreliable_lib.labelsets import combination_codes

_VALUES_KEY = b'"values":['
_EMPTY_VALUES = b'"values":null'
_NUMBERS_TABLE = bytes.maketrans(b",", b"\n")
_READ_OPTIONS = pa_csv.ReadOptions(column_names=["number"])
_PARSE_OPTIONS = pa_csv.ParseOptions(newlines_in_values=False)
_CONVERT_OPTIONS = pa_csv.ConvertOptions(column_types={"number": pa.float64()}, null_values=[],
                                         strings_can_be_null=False, quoted_strings_can_be_null=False)


#: The pyarrow memory pool the number parser allocates from (None = pyarrow's default); the benchmark sets a
#: `pyarrow.proxy_memory_pool` here to measure peak memory.
MEMORY_POOL: pa.MemoryPool | None = None


#: The warning an answer marked `"isPartial": true` (VictoriaMetrics cluster) carries, worded like Thanos' own.
PARTIAL_WARNING = ("isPartial: true: VictoriaMetrics answered without some of its storage nodes, which may hold part "
                   "of the data (partial response)")


class MalformedResponseError(ValueError):
    """The bytes are not a well-formed Prometheus API response."""


@dataclass
class PromResult:
    """A decoded `data` block, columnar: sample `i` belongs to series `series[i]` (via `counts`)."""

    result_type: str
    labels: list[dict[str, str]] = field(default_factory=list)
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    timestamps_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    values: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    warnings: list[str] = field(default_factory=list)
    #: Prometheus 3's info-level annotations (`infos`): notes on the query, not problems with the data.
    infos: list[str] = field(default_factory=list)


@dataclass
class PromEnvelope:
    """The response envelope: `status`, the error fields when it failed, and the decoded result."""

    status: str
    error_type: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
    result: PromResult | None = None
    #: The answer is marked partial (`"isPartial": true`, VictoriaMetrics cluster): some storage nodes did not answer.
    partial: bool = False


def parse_numbers(text: bytes) -> np.ndarray:
    """Parse newline-separated decimal numbers (also `NaN`, `+Inf`, `-Inf`) into float64."""
    if not text:
        return np.zeros(0, dtype=np.float64)
    try:
        table = pa_csv.read_csv(pa.py_buffer(text), read_options=_READ_OPTIONS, parse_options=_PARSE_OPTIONS,
                                convert_options=_CONVERT_OPTIONS, memory_pool=MEMORY_POOL)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise MalformedResponseError(f"sample values are not numbers: {exc}") from None
    column = table.column(0)
    if column.null_count:
        raise MalformedResponseError("sample values contain empty fields")
    return column.to_numpy()


class TimestampOutOfRangeError(MalformedResponseError):
    """A sample time pandas cannot hold (outside 1677-09-21 .. 2262-04-11 UTC); `index` = the sample's position."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


#: Seconds beyond which a time no longer fits pandas' int64 nanoseconds (2262-04-11 / 1677-09-21).
_MAX_SECONDS = 9_223_372_036.0


def seconds_to_ns(seconds: np.ndarray) -> np.ndarray:
    """Prometheus timestamps (float seconds, millisecond precision) to int64 nanoseconds.

    A time pandas cannot hold (or not a number) raises `TimestampOutOfRangeError` instead of wrapping around
    to a wrong date."""
    seconds = np.asarray(seconds, dtype=np.float64)
    outside = ~(np.abs(seconds) < _MAX_SECONDS)  # NaN counts as outside
    if outside.any():
        index = int(np.argmax(outside))
        raise TimestampOutOfRangeError(f"timestamp {float(seconds[index])!r} is outside the times pandas can hold "
                                       "(1677-09-21 .. 2262-04-11 UTC)", index)
    return np.rint(seconds * 1e3).astype(np.int64) * 1_000_000


def _series_timestamps_ns(seconds: np.ndarray, labels: list[dict[str, str]], counts: list[int]) -> np.ndarray:
    """`seconds_to_ns` of the samples of `labels` (`counts` samples each); an out-of-range time names its series."""
    try:
        return seconds_to_ns(seconds)
    except TimestampOutOfRangeError as exc:
        series = int(np.searchsorted(np.cumsum(counts), exc.index, side="right"))
        name = series_name(labels[series]) if series < len(labels) else "?"
        raise MalformedResponseError(f"series {_short_name(name)}: {exc}") from None


def _short_name(name: str) -> str:
    return name if len(name) <= 200 else name[:200] + "..."


def _histograms_skipped(metrics: list[dict[str, Any]]) -> str:
    """The warning for series whose native histogram samples were left out of the frame (floats only)."""
    for metric in metrics:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metric.items()):
            raise MalformedResponseError(f"a series' labels are not all strings: {str(metric)[:200]}")
    names = ", ".join(_short_name(series_name(metric)) for metric in metrics[:3])
    more = f" and {len(metrics) - 3} more" if len(metrics) > 3 else ""
    return (f"native histogram samples of {len(metrics)} series skipped ({names}{more}): the frame holds float "
            "samples only; query histogram_count(), histogram_sum(), histogram_quantile() or histogram_fraction() "
            "for numbers")


def _cut_values(body: bytes) -> tuple[bytes, list[memoryview], list[int]]:
    """Cut the `"values":[...]` arrays out: (skeleton with empty arrays, the cut contents, samples per array).

    An array that was empty in the body (`"values":[]`, what Go's prometheus/common writes for a series without
    samples) becomes `"values":null` in the skeleton, so it cannot be mistaken for a cut one."""
    view = memoryview(body)
    skeleton: list[memoryview | bytes] = []
    segments: list[memoryview] = []
    counts: list[int] = []
    position = 0  # the body is copied into the skeleton from here
    search = 0  # the next key is searched from here
    find = body.find
    while True:
        key = find(_VALUES_KEY, search)
        if key < 0:
            break
        inner = key + len(_VALUES_KEY)
        if body[inner:inner + 1] == b"]":  # an empty array: a series without samples
            skeleton.extend((view[position:key], _EMPTY_VALUES))
            position = search = inner + 1
            continue
        close = find(b"]]", inner)
        if close < 0:
            raise MalformedResponseError("a values array is not closed (truncated response?)")
        segment = view[inner:close + 1]
        skeleton.append(view[position:inner])
        segments.append(segment)
        counts.append(body.count(b"[", inner, close + 1))
        position = search = close + 1
    if not skeleton:
        return body, [], []
    skeleton.append(view[position:])
    return b"".join(skeleton), segments, counts


def _load(skeleton: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(skeleton)
    except orjson.JSONDecodeError as exc:
        raise MalformedResponseError(f"not valid JSON: {exc}") from None
    if not isinstance(document, dict) or "status" not in document:
        raise MalformedResponseError("not a Prometheus API response (no 'status' field)")
    return document


def _pairs_to_arrays(pairs: list[list[Any]], labels: list[dict[str, str]],
                     counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """`[[t, "v"], ...]` (already decoded) of the series `labels` (`counts` pairs each) to (timestamps_ns, values)."""
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    try:
        seconds = np.fromiter((pair[0] for pair in pairs), dtype=np.float64, count=len(pairs))
        values = parse_numbers("\n".join(pair[1] for pair in pairs).encode())
    except (TypeError, IndexError, ValueError) as exc:
        raise MalformedResponseError(f"bad sample pair: {exc}") from None
    return _series_timestamps_ns(seconds, labels, counts), values


def _decode_matrix(result: list[dict[str, Any]], segments: list[memoryview], counts: list[int]) -> PromResult:
    labels: list[dict[str, str]] = []
    series_counts: list[int] = []
    pieces_ts: list[np.ndarray] = []
    pieces_values: list[np.ndarray] = []
    histograms: list[dict[str, Any]] = []
    cut = iter(zip(segments, counts, strict=True))
    fast_segments: list[memoryview] = []
    for entry in result:
        if not isinstance(entry, dict) or not isinstance(entry.get("metric"), dict):
            raise MalformedResponseError("a matrix entry has no 'metric' object")
        pairs = entry.get("values")
        if entry.get("histograms"):
            histograms.append(entry["metric"])
        if pairs is None:
            continue
        if not isinstance(pairs, list):
            raise MalformedResponseError("a matrix entry's 'values' is not a list")
        if pairs:  # not cut: generic path (e.g. pretty-printed JSON)
            if fast_segments:
                raise MalformedResponseError("mixed cut and uncut values arrays")
            ts, values = _pairs_to_arrays(pairs, [entry["metric"]], [len(pairs)])
            pieces_ts.append(ts)
            pieces_values.append(values)
            count = len(pairs)
        else:
            try:
                segment, count = next(cut)
            except StopIteration:
                continue  # an empty values array: a series without samples
            fast_segments.append(segment)
        labels.append(entry["metric"])
        series_counts.append(count)
    if next(cut, None) is not None:
        raise MalformedResponseError("values arrays outside of matrix entries")
    if fast_segments:
        numbers = parse_numbers(b",".join(fast_segments).translate(_NUMBERS_TABLE, b'[]"'))
        if len(numbers) != 2 * sum(series_counts):
            raise MalformedResponseError("values arrays are not [timestamp, \"value\"] pairs")
        timestamps_ns = _series_timestamps_ns(numbers[0::2], labels, series_counts)
        values = np.ascontiguousarray(numbers[1::2])
    elif pieces_ts:
        timestamps_ns, values = np.concatenate(pieces_ts), np.concatenate(pieces_values)
    else:
        timestamps_ns, values = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    warnings = [_histograms_skipped(histograms)] if histograms else []
    return PromResult("matrix", labels, np.asarray(series_counts, dtype=np.int64), timestamps_ns, values,
                      warnings)


def _decode_vector(result: list[dict[str, Any]]) -> PromResult:
    """An instant vector; a native histogram sample (`"histogram"` instead of `"value"`) is skipped with a warning,
    as the range path does."""
    labels: list[dict[str, str]] = []
    pairs: list[Any] = []
    histograms: list[dict[str, Any]] = []
    for entry in result:
        if not isinstance(entry, dict) or not isinstance(entry.get("metric"), dict):
            raise MalformedResponseError("a vector entry has no 'metric' object")
        if "value" in entry:
            labels.append(entry["metric"])
            pairs.append(entry["value"])
        elif "histogram" in entry:
            histograms.append(entry["metric"])
        else:
            raise MalformedResponseError("a vector entry has neither 'value' nor 'histogram'")
    timestamps_ns, values = _pairs_to_arrays(pairs, labels, [1] * len(labels))
    warnings = [_histograms_skipped(histograms)] if histograms else []
    return PromResult("vector", labels, np.ones(len(labels), dtype=np.int64), timestamps_ns, values, warnings)


def _decode_single(result_type: str, pair: Any) -> PromResult:
    if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[1], str):
        raise MalformedResponseError(f"a {result_type} result is not a [timestamp, \"value\"] pair")
    timestamps_ns = seconds_to_ns(np.array([pair[0]], dtype=np.float64))
    if result_type == "scalar":
        values = parse_numbers(pair[1].encode())
        if len(values) != 1:
            raise MalformedResponseError(f"a scalar result holds {len(values)} numbers")
    else:
        values = np.array([pair[1]], dtype=object)
    return PromResult(result_type, [{}], np.ones(1, dtype=np.int64), timestamps_ns, values)


def _check_decoded(result: PromResult) -> None:
    """A decoded result is self-consistent: string labels, one count per series, one value per timestamp."""
    for label_set in result.labels:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in label_set.items()):
            raise MalformedResponseError(f"a series' labels are not all strings: {str(label_set)[:200]}")
    if len(result.counts) != len(result.labels) or int(result.counts.sum()) != len(result.timestamps_ns) \
            or len(result.timestamps_ns) != len(result.values):
        raise MalformedResponseError("sample counts do not match the series")


def parse_response(body: bytes) -> PromEnvelope:
    """Decode a Prometheus API response body. Raises `MalformedResponseError` on anything malformed."""
    try:
        return _parse_response(body)
    except MalformedResponseError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        # a shape no Prometheus sends (a server or proxy answering something else): malformed, not a crash
        raise MalformedResponseError(f"unexpected response shape ({type(exc).__name__}: {str(exc)[:200]})") from None


def _parse_response(body: bytes) -> PromEnvelope:
    skeleton, segments, counts = _cut_values(bytes(body))
    document = _load(skeleton)
    annotations: dict[str, list[str]] = {}
    for key in ("warnings", "infos"):  # `infos`: Prometheus 3's info-level annotations
        raw = document.get(key) or []
        if not isinstance(raw, list):
            raise MalformedResponseError(f"'{key}' is not a list")
        annotations[key] = [str(item) for item in raw]
    partial = document.get("isPartial") is True
    if partial:
        annotations["warnings"].append(PARTIAL_WARNING)
    envelope = PromEnvelope(status=str(document["status"]), error_type=document.get("errorType"),
                            error=document.get("error"), warnings=annotations["warnings"],
                            infos=annotations["infos"], partial=partial)
    if envelope.status != "success":
        return envelope
    data = document.get("data")
    if isinstance(data, list) and not segments:  # /api/v1/series: a list of label sets
        decoded = PromResult("series", [entry if isinstance(entry, dict) else {} for entry in data],
                             np.zeros(len(data), dtype=np.int64))
        if any(not isinstance(entry, dict) for entry in data):
            raise MalformedResponseError("a series result holds something else than label sets")
        _check_decoded(decoded)
        decoded.warnings = envelope.warnings
        envelope.result = decoded
        return envelope
    if not isinstance(data, dict) or "resultType" not in data or "result" not in data:
        raise MalformedResponseError("a success response without data.resultType / data.result")
    result_type, result = data["resultType"], data["result"]
    if result_type == "matrix":
        if not isinstance(result, list):
            raise MalformedResponseError("a matrix result is not a list")
        decoded = _decode_matrix(result, segments, counts)
    elif segments:
        raise MalformedResponseError(f"values arrays in a {result_type} result")
    elif result_type == "vector":
        if not isinstance(result, list):
            raise MalformedResponseError("a vector result is not a list")
        decoded = _decode_vector(result)
    elif result_type in ("scalar", "string"):
        decoded = _decode_single(result_type, result)
    else:
        raise MalformedResponseError(f"unknown resultType {result_type!r}")
    _check_decoded(decoded)
    envelope.warnings.extend(decoded.warnings)
    decoded.warnings = envelope.warnings
    decoded.infos = envelope.infos
    envelope.result = decoded
    return envelope


def merge_results(results: list[PromResult]) -> PromResult:
    """Merge the results of consecutive time chunks: one entry per distinct label set, samples in chunk order.

    Series keep the order of first appearance; the samples of a series keep the chunks' (time) order.
    """
    if len(results) == 1:
        return results[0]
    if not results:
        return PromResult("matrix")
    series_index: dict[tuple[tuple[str, str], ...], int] = {}
    labels: list[dict[str, str]] = []
    sample_series: list[np.ndarray] = []
    for result in results:
        ids = np.empty(len(result.labels), dtype=np.int64)
        for position, label_set in enumerate(result.labels):
            key = tuple(sorted(label_set.items()))
            if key not in series_index:
                series_index[key] = len(labels)
                labels.append(label_set)
            ids[position] = series_index[key]
        sample_series.append(np.repeat(ids, result.counts))
    series_of_sample = np.concatenate(sample_series)
    order = np.argsort(series_of_sample, kind="stable")
    timestamps_ns = np.concatenate([r.timestamps_ns for r in results])[order]
    values = np.concatenate([r.values for r in results])[order]
    counts = np.bincount(series_of_sample, minlength=len(labels)).astype(np.int64)
    warnings = list(dict.fromkeys(w for r in results for w in r.warnings))
    infos = list(dict.fromkeys(i for r in results for i in r.infos))
    return PromResult(results[0].result_type, labels, counts, timestamps_ns, values, warnings, infos)


def label_columns(labels: list[dict[str, str]]) -> list[str]:
    """Label names in frame order: `__name__` first, then sorted."""
    names = set().union(*labels) if labels else set()
    return sorted(names, key=lambda name: (name != "__name__", name))


def to_frame(result: PromResult) -> pd.DataFrame:
    """The tidy frame: `timestamp` (UTC), `value`, then one `object` column per label (missing = None);
    `attrs["warnings"]` and `attrs["infos"]` carry the response's warnings and info annotations."""
    timestamps = pd.Series(result.timestamps_ns.view("datetime64[ns]"), copy=False).dt.tz_localize("UTC")
    value_dtype = object if result.result_type == "string" else np.float64
    columns: dict[str, Any] = {"timestamp": timestamps,
                               "value": pd.Series(result.values, dtype=value_dtype, copy=False)}
    if len(result.timestamps_ns):
        for name in label_columns(result.labels):
            per_series = np.array([label_set.get(name) for label_set in result.labels], dtype=object)
            columns[name] = pd.Series(np.repeat(per_series, result.counts), dtype=object, copy=False)
    frame = pd.DataFrame(columns, copy=False)
    if result.warnings:
        frame.attrs["warnings"] = list(result.warnings)
    if result.infos:
        frame.attrs["infos"] = list(result.infos)
    return frame


def series_frame(result: PromResult) -> pd.DataFrame:
    """A `/api/v1/series` answer: one row per series, one `object` column per label (missing = None),
    `__name__` first; no `timestamp`/`value`."""
    names = label_columns(result.labels)
    frame = pd.DataFrame({name: pd.Series([labels.get(name) for labels in result.labels], dtype=object)
                          for name in names}, index=pd.RangeIndex(len(result.labels)))
    if result.warnings:
        frame.attrs["warnings"] = list(result.warnings)
    return frame


def empty_frame() -> pd.DataFrame:
    """An empty result: `timestamp` and `value` with the right dtypes."""
    return to_frame(PromResult("matrix"))


#: `attrs` key of a raw-sample frame: how many values `raw_samples` dropped (staleness markers, NaN, ±Inf).
DROPPED_SAMPLES = "dropped_samples"


def raw_samples(frame: pd.DataFrame) -> pd.DataFrame:
    """The samples of a raw range-selector answer (`selector[d]`) that are samples: staleness markers, `NaN` and
    `±Inf` values are dropped, as Prometheus itself drops markers (VictoriaMetrics 1.79, among others, returns
    them as `NaN`; once in JSON a marker cannot be told from a NaN an exporter wrote). `attrs["dropped_samples"]` says
    how many were dropped (0 when none), the other `attrs` are kept."""
    values = frame["value"].to_numpy(dtype=float) if len(frame) else np.zeros(0)
    finite = np.isfinite(values)
    dropped = int(len(values) - finite.sum())
    out = frame if dropped == 0 else frame.loc[finite].reset_index(drop=True)
    out.attrs = {**frame.attrs, DROPPED_SAMPLES: dropped}
    return out


def response_to_frame(body: bytes) -> pd.DataFrame:
    """Bytes of a success response straight to the tidy frame (raises `MalformedResponseError` otherwise)."""
    envelope = parse_response(body)
    if envelope.result is None:
        raise MalformedResponseError(f"not a success response: {envelope.error_type}: {envelope.error}")
    return to_frame(envelope.result)


def wide(frame: pd.DataFrame) -> pd.DataFrame:
    """One column per series (named like PromQL: `metric{a="x"}`), indexed by timestamp (sorted)."""
    labels = [column for column in frame.columns if column not in ("timestamp", "value")]
    if frame.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="timestamp"), dtype=np.float64)
    if not labels:
        return frame.set_index("timestamp")[["value"]].sort_index()
    series_id = combination_codes((pd.factorize(frame[column], use_na_sentinel=False)[0] for column in labels),
                                  len(frame))  # one integer id per distinct label set, in order of appearance
    firsts = frame.loc[~pd.Series(series_id).duplicated().to_numpy(), labels].astype(object)
    names = [series_name({key: (None if pd.isna(value) else value) for key, value in zip(labels, row, strict=True)})
             for row in firsts.itertuples(index=False)]
    table = (pd.DataFrame({"timestamp": frame["timestamp"].array, "series": series_id,
                           "value": frame["value"].array})
             .pivot(index="timestamp", columns="series", values="value").sort_index())
    table.columns = [names[i] for i in table.columns]
    return table


def series_name(label_set: dict[str, str | None]) -> str:
    """A series as PromQL writes it: `name{label="value",...}` (labels sorted, values escaped)."""
    name = label_set.get("__name__") or ""
    inner = ",".join(f'{key}="{escape_label_value(value)}"' for key, value in sorted(label_set.items())
                     if key != "__name__" and value is not None)
    return f"{name}{{{inner}}}" if inner or not name else name
