"""Prometheus (and Thanos Query / Mimir) as a source of tidy DataFrames.

Connection handling (the requests session, headers, auth, TLS) is prometheus-api-client's
`PrometheusConnect`; requests are sent by us so that nothing is lost: the response's `warnings`, the
server's own error message, and the result type. Conversion is `promjson` (fast, shape-aware).

Range queries and the step grid
-------------------------------
With `align=True` (the default) the evaluation grid is the multiples of `step` since the Unix epoch:
`start` is rounded *up* and `end` *down* to that grid, so every sample lies inside the requested
interval and every request's `start` and `end` are multiples of `step` (Mimir's query-frontend only
caches such queries; Grafana aligns the same way). A range longer than `max_points_per_series`
(Prometheus refuses more than 11,000 points per series), or whose `series` hint times its points passes
`MAX_POINTS_PER_REQUEST` (what the server holds at once), is cut into chunks whose boundaries also
sit on a fixed absolute grid (multiples of `points * step`, rounded down to whole UTC days when the
step divides a day), so a rolling window (`now-30d`) asks for the same older chunks every time and a
Thanos/Mimir results cache can answer them. Chunk `k` covers `[k*span, (k+1)*span - step]`, so no
sample is fetched twice and none is skipped. `align=False` keeps Prometheus' own grid
(`start + i*step`) and chunks it from `start`.

Compression: Prometheus gzips responses when asked, and that is most of its work on a large range query
(measured on the stack: a 10-day, 120-series range query takes 8.3 s with gzip and 0.7 s without), so by
default responses are requested uncompressed from loopback URLs (a local Prometheus, `kubectl
port-forward`) and gzipped from anything else; `compression=True/False` overrides.

Concurrency: at most `max_concurrency` (4) requests of one source are in flight, whatever the number of threads
asking (the SLO engine asks a family's sums side by side, and each range is cut into chunks fetched side by side):
on the 400-series benchmark, twelve at once made each request twice as slow and the whole 8% slower.

Transport: GET, or POST with an `application/x-www-form-urlencoded` body when the encoded parameters
exceed `POST_THRESHOLD_BYTES` (Prometheus, Thanos and Mimir all accept POST on query and query_range).
Prometheus is asked to time out slightly before the client (`timeout` parameter = 90% of `timeout`), so
its own `errorType: timeout` message arrives. Retries follow the one policy of `sources.http`: 429, 5xx and
connection errors are retried with exponential backoff (honouring `Retry-After`); a timeout (the server's 503
`errorType: timeout`, or the client's) is not, unless `retry_timeouts=True` (`GORELIABLE_PROMETHEUS_RETRY_TIMEOUTS`):
it would time out again, each time after the whole timeout. `bad_data` and `execution` errors and malformed
responses are never retried. Every retry is logged (`sources.http`).

Replaying a snapshot there is no server to say that a query is not PromQL, so a query the snapshot did not record is
parsed first (`inputs.promql.syntax_error`, promql-parser: about 20 microseconds a query): a syntax error is a
`PrometheusError` (`error_type` `bad_data`, as Prometheus says it) "PromQL syntax error: ...", never a snapshot miss.
A recorded query is replayed unparsed (its server took it), and a live server is never second-guessed: it knows its
own dialect (Prometheus 3 functions, MetricsQL) better than the parser's grammar of Prometheus 2.45.

Results carry the server's `warnings` (raised as `PrometheusWarning`) and Prometheus 3's `infos` (raised as
`PrometheusInfo`) in `attrs["warnings"]` and `attrs["infos"]`; native histogram samples are skipped with a
warning naming the series (see `promjson`). An answer VictoriaMetrics marks `"isPartial": true` carries a
partial-response warning like Thanos' own; with `partial_response=False` (GORELIABLE_THANOS_PARTIAL_RESPONSE=false:
Thanos is asked not to answer partially) such an answer is a `PrometheusError` (`error_type` `partial_response`,
not retried). An error answer names its HTTP status and `errorType` whatever fields its body lacks (a Cortex/Mimir
query-frontend's 499 `canceled` and 504 `timeout` bodies may have no `error`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import pandas as pd
import requests
from prometheus_api_client import PrometheusConnect
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from goreliable_lib.errors import BadInputError, PrometheusError
from goreliable_lib.inputs.promql import is_range_selector, syntax_error
from goreliable_lib.sources import promjson
from goreliable_lib.sources.base import Source
from goreliable_lib.sources.http import (
    RETRY_AFTER_STATUSES,
    RETRY_STATUSES,
    RetryPolicy,
    TransientError,
    retry_after_seconds,
    split_credentials,
)
from goreliable_lib.timeutil import parse_duration, parse_time, to_rfc3339

if TYPE_CHECKING:
    from goreliable_lib.sources.snapshot import SnapshotRecorder, SnapshotReplayer

PROMETHEUS_MAX_POINTS = 11_000
#: Series x points of one range request (the server holds them at once; Prometheus' max-samples is 50 M).
MAX_POINTS_PER_REQUEST = 5_000_000
#: The setting that makes a Prometheus source retry timeouts (named in the error of a timeout not retried).
RETRY_TIMEOUTS_SETTING = "GORELIABLE_PROMETHEUS_RETRY_TIMEOUTS=true"
#: The setting that makes partial answers errors (named in the error of a refused partial answer).
PARTIAL_RESPONSE_SETTING = "GORELIABLE_THANOS_PARTIAL_RESPONSE=false"
_DAY_MS = 86_400_000
_RESOLUTION = re.compile(r"auto|(?:\d+(?:ms|s|m|h|d|w))+")


class PrometheusWarning(UserWarning):
    """The server answered with `warnings` (e.g. a Thanos partial response): the data may be incomplete."""


class PrometheusInfo(UserWarning):
    """The server answered with `infos` (Prometheus 3's info-level annotations): a note on the query, not a
    problem with the data (e.g. "metric might not be a counter, name does not end in _total/_sum/...")."""


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def plan_chunks(start_ms: int, end_ms: int, step_ms: int, max_points: int, *,
                align: bool = True) -> list[tuple[int, int]]:
    """Cut a range query into `(start_ms, end_ms)` chunks of at most `max_points` samples per series.

    `align=True` expects `start_ms`/`end_ms` already on the step grid (multiples of `step_ms`) and puts
    chunk boundaries on the absolute grid of `span = max_points * step` (whole days when possible).
    """
    if end_ms < start_ms:
        return []
    if max_points < 1:
        raise BadInputError(f"max_points_per_series: must be at least 1, got {max_points}")
    span = max_points * step_ms
    if not align:
        chunks, chunk_start = [], start_ms
        while chunk_start <= end_ms:
            chunks.append((chunk_start, min(end_ms, chunk_start + span - step_ms)))
            chunk_start += span
        return chunks
    if _DAY_MS % step_ms == 0 and span >= _DAY_MS:
        span = span // _DAY_MS * _DAY_MS
    chunks = []
    chunk_index = start_ms // span
    while chunk_index * span <= end_ms:
        low = max(start_ms, chunk_index * span)
        high = min(end_ms, (chunk_index + 1) * span - step_ms)
        if low <= high:
            chunks.append((low, high))
        chunk_index += 1
    return chunks


def _labels_as_objects(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """`columns` (labels) with the `object` dtype and None for a missing label, as a fetch gives them (a snapshot
    round trip gives pandas' `str` dtype, NaN for missing); changed in place, returned."""
    for column in columns:
        if frame[column].dtype != object:
            frame[column] = pd.Series(frame[column].to_numpy(dtype=object, na_value=None), index=frame.index,
                                      dtype=object)
    return frame


class PrometheusSource(Source):
    """PromQL into DataFrames: `query` (instant) and `query_range`, long format (see `promjson.to_frame`)."""

    name = "prometheus"
    POST_THRESHOLD_BYTES = 1500

    def __init__(self, url: str | None, *, token: str | None = None, headers: Mapping[str, str] | None = None,
                 basic_auth: tuple[str, str] | None = None, ca_bundle: str | None = None, verify: bool = True,
                 timeout: float = 60.0, retries: int = 3, max_points_per_series: int = PROMETHEUS_MAX_POINTS,
                 max_concurrency: int = 4, thanos_dedup: bool | None = None, partial_response: bool | None = None,
                 max_source_resolution: str | None = None, compression: bool | None = None,
                 retry_timeouts: bool = False, recorder: SnapshotRecorder | None = None,
                 replayer: SnapshotReplayer | None = None, clock: Callable[[], pd.Timestamp] | None = None) -> None:
        super().__init__(recorder=recorder, replayer=replayer, clock=clock)
        if url is None and replayer is None:
            raise BadInputError("prometheus url: required unless replaying a snapshot "
                                "(set GORELIABLE_PROMETHEUS_URL)")
        if timeout <= 0:
            raise BadInputError(f"timeout: must be positive, got {timeout!r}")
        if not 1 <= max_points_per_series <= PROMETHEUS_MAX_POINTS:
            raise BadInputError(f"max_points_per_series: must be 1..{PROMETHEUS_MAX_POINTS}, "
                                f"got {max_points_per_series!r}")
        if max_concurrency < 1:
            raise BadInputError(f"max_concurrency: must be at least 1, got {max_concurrency!r}")
        if max_source_resolution is not None and not _RESOLUTION.fullmatch(str(max_source_resolution)):
            raise BadInputError(f"max_source_resolution: {max_source_resolution!r} is not 'auto' or a duration "
                                "like '0s', '5m', '1h'")
        self.timeout = float(timeout)
        #: How requests are retried (`sources.http`); replace it to change the backoff, e.g. in tests.
        self.retry_policy = RetryPolicy(retries=int(retries), retry_timeouts=bool(retry_timeouts),
                                        retry_timeouts_setting=RETRY_TIMEOUTS_SETTING)
        self.max_points_per_series = int(max_points_per_series)
        self.max_concurrency = int(max_concurrency)
        #: At most `max_concurrency` requests in flight from this source, whatever the number of threads asking
        #: (the engine asks its per-minute sums side by side, each cut into chunks fetched side by side).
        self._in_flight = threading.BoundedSemaphore(self.max_concurrency)
        self.thanos_options: dict[str, str] = {}
        if thanos_dedup is not None:
            self.thanos_options["dedup"] = "true" if thanos_dedup else "false"
        if partial_response is not None:
            self.thanos_options["partial_response"] = "true" if partial_response else "false"
        if max_source_resolution is not None:
            self.thanos_options["max_source_resolution"] = str(max_source_resolution)
        self.url: str | None = None
        self.compression = False
        self.client: PrometheusConnect | None = None
        self._auth_kind = "none"
        self._header_names: list[str] = []
        if url is not None:
            self._connect(url, token, headers, basic_auth, ca_bundle, verify)
            host = urlsplit(self.url or "").hostname or ""
            self.compression = (not _is_loopback(host)) if compression is None else bool(compression)

    def _connect(self, url: str, token: str | None, headers: Mapping[str, str] | None,
                 basic_auth: tuple[str, str] | None, ca_bundle: str | None, verify: bool) -> None:
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise BadInputError(f"prometheus url: {url!r} is not an http(s) URL")
        clean_url, url_auth = split_credentials(url)
        all_headers = {str(k): str(v) for k, v in (headers or {}).items()}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
            self._auth_kind = "bearer"
        auth = basic_auth or url_auth
        if auth is not None:
            if token:
                raise BadInputError("prometheus auth: give a bearer token or basic auth, not both")
            self._auth_kind = "basic"
        if ca_bundle and not os.path.isfile(ca_bundle):
            raise BadInputError(f"prometheus ca_bundle: no such file {ca_bundle!r}")
        session = requests.Session()
        no_retry = Retry(total=0, connect=0, read=False, status=0, redirect=3, raise_on_status=False)  # we retry
        self.client = PrometheusConnect(clean_url, headers=all_headers, disable_ssl=not verify, retry=no_retry,
                                        auth=auth, session=session, timeout=self.timeout, method="GET")
        session.verify = ca_bundle if ca_bundle else verify  # PrometheusConnect keeps a passed session as is
        pool = max(10, self.max_concurrency)
        session.mount(clean_url, HTTPAdapter(max_retries=no_retry, pool_connections=pool, pool_maxsize=pool))
        self.url = clean_url
        self._session = session
        self._header_names = sorted(all_headers)

    def __repr__(self) -> str:
        where = self.url if self.url is not None else "snapshot"
        return (f"PrometheusSource(url={where!r}, auth={self._auth_kind}, headers={self._header_names}, "
                f"thanos={self.thanos_options}, offline={self.offline})")

    @property
    def endpoint(self) -> str:
        """Where the answers come from, for messages: the base URL (credentials never in it) or the snapshot."""
        return self.url if self.url is not None else "the snapshot being replayed"

    def close(self) -> None:
        """Close the HTTP session."""
        if self.client is not None:
            self.client.close()

    def __enter__(self) -> PrometheusSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API ---------------------------------------------------------------------------------------------
    def query(self, promql: str, time: object = None) -> pd.DataFrame:
        """Instant query at `time` (default: the source's now). Long frame: timestamp, value, one column per label.

        A range selector (`selector[d]`) answers raw samples: staleness markers, NaN and ±Inf values are not
        samples and are dropped on every back-end, counted in `attrs["dropped_samples"]` (`promjson.raw_samples`)."""
        promql = self._check_query(promql)
        at = parse_time("now" if time is None else time, now=self.now(), field="time")
        request: dict[str, Any] = {"method": "query", "query": promql, "time": to_rfc3339(at),
                                   **self.thanos_options}
        self._check_syntax(request)
        frame = self._surface_warnings(self._get(request), promql)
        return promjson.raw_samples(frame) if is_range_selector(promql) else frame

    def query_range(self, promql: str, start: object, end: object, step: object, *,
                    align: bool = True, series: int = 1) -> pd.DataFrame:
        """Range query over [start, end] every `step`; split into chunks as needed (see module docs): at most
        `max_points_per_series` points a series, and `series` (the series the answer is expected to hold) x points
        at most MAX_POINTS_PER_REQUEST."""
        promql = self._check_query(promql)
        now = self.now()
        start_ts = parse_time(start, now=now, field="start")
        end_ts = parse_time(end, now=now, field="end")
        step_ms = int(round(parse_duration(step, field="step").total_seconds() * 1000))
        if step_ms < 1:
            raise BadInputError(f"step: {step!r} is shorter than a millisecond")
        if end_ts < start_ts:
            raise BadInputError(f"end: {to_rfc3339(end_ts)} is before start {to_rfc3339(start_ts)}")
        start_ms, end_ms = start_ts.value // 1_000_000, end_ts.value // 1_000_000
        if align:
            start_ms = -(-start_ms // step_ms) * step_ms
            end_ms = end_ms // step_ms * step_ms
        request: dict[str, Any] = {"method": "query_range", "query": promql,
                                   "start": to_rfc3339(pd.Timestamp(start_ms, unit="ms", tz="UTC")),
                                   "end": to_rfc3339(pd.Timestamp(end_ms, unit="ms", tz="UTC")),
                                   "step": step_ms / 1000, **self.thanos_options}
        if not align:
            request["align"] = False
        self._check_syntax(request)
        points = min(self.max_points_per_series, max(1, MAX_POINTS_PER_REQUEST // max(int(series), 1)))
        return self._surface_warnings(self._get(request, points_per_series=points), promql)

    def series(self, match: str, start: object, end: object) -> pd.DataFrame:
        """The series matching a selector with samples in [start, end] (`/api/v1/series`): one row per series,
        one column per label. Prometheus answers from its index at chunk granularity (a series listed may have
        no sample in the range when its chunk overlaps it), VictoriaMetrics per UTC day: a superset, never less."""
        match = self._check_query(match)
        now = self.now()
        start_ts = parse_time(start, now=now, field="start")
        end_ts = parse_time(end, now=now, field="end")
        if end_ts < start_ts:
            raise BadInputError(f"end: {to_rfc3339(end_ts)} is before start {to_rfc3339(start_ts)}")
        request: dict[str, Any] = {"method": "series", "match": match, "start": to_rfc3339(start_ts),
                                   "end": to_rfc3339(end_ts), **self.thanos_options}
        frame = self._get(request)
        for message in frame.attrs.get("warnings", []):
            warnings.warn(PrometheusWarning(f"Prometheus warning for series {_short(match, 200)!r}: {message}"),
                          stacklevel=2)
        return _labels_as_objects(frame, frame.columns)  # a snapshot round trip may give pandas' str dtype

    @staticmethod
    def wide(frame: pd.DataFrame) -> pd.DataFrame:
        """One column per series (named like `metric{label="value"}`), indexed by timestamp."""
        return promjson.wide(frame)

    # -- fetching -----------------------------------------------------------------------------------------------
    @staticmethod
    def _check_query(promql: str) -> str:
        if not isinstance(promql, str) or not promql.strip():
            raise BadInputError(f"query: expected a PromQL expression, got {promql!r}")
        return promql.strip()

    def _check_syntax(self, request: dict[str, Any]) -> None:
        """Replaying a snapshot: a query it did not record that is not PromQL is a PromQL error (see module docs)."""
        if self.replayer is None or self.replayer.has(self.name, request):
            return
        problem = syntax_error(request["query"])
        if problem is not None:
            raise PrometheusError(f"PromQL syntax error: {problem} -- query: {_short(request['query'])!r}",
                                  query=request["query"], error_type="bad_data")

    @staticmethod
    def _surface_warnings(frame: pd.DataFrame, promql: str) -> pd.DataFrame:
        """Warn about the result's `warnings` (`PrometheusWarning`) and `infos` (`PrometheusInfo`); also give
        label columns the `object` dtype (None = missing) if a snapshot round trip turned them into pandas' `str`
        dtype."""
        if len(frame.columns) > 1 and frame.columns[1] == "value":
            frame = _labels_as_objects(frame, frame.columns[2:])
        for message in frame.attrs.get("warnings", []):
            warnings.warn(PrometheusWarning(f"Prometheus warning for query {_short(promql, 200)!r}: {message}"),
                          stacklevel=3)
        for message in frame.attrs.get("infos", []):
            warnings.warn(PrometheusInfo(f"Prometheus information for query {_short(promql, 200)!r}: {message}"),
                          stacklevel=3)
        return frame

    def _fetch(self, request: dict[str, Any], *, points_per_series: int | None = None) -> pd.DataFrame:
        extra = {key: request[key] for key in ("dedup", "partial_response", "max_source_resolution") if key in request}
        if request["method"] == "query":
            params = {"query": request["query"], "time": request["time"], **extra}
            return promjson.to_frame(self._call("query", params, request["query"]))
        if request["method"] == "series":
            params = {"match[]": request["match"], "start": request["start"], "end": request["end"], **extra}
            return promjson.series_frame(self._call("series", params, request["match"]))
        if request["method"] == "query_range":
            start_ms = pd.Timestamp(request["start"]).value // 1_000_000
            end_ms = pd.Timestamp(request["end"]).value // 1_000_000
            step_ms = int(round(request["step"] * 1000))
            chunks = plan_chunks(start_ms, end_ms, step_ms, points_per_series or self.max_points_per_series,
                                 align=request.get("align", True))
            if not chunks:
                return promjson.empty_frame()
            step_text = f"{step_ms / 1000:g}"

            def fetch(chunk: tuple[int, int]) -> promjson.PromResult:
                params = {"query": request["query"], "start": f"{chunk[0] / 1000:.3f}",
                          "end": f"{chunk[1] / 1000:.3f}", "step": step_text, **extra}
                return self._call("query_range", params, request["query"])

            if len(chunks) == 1:
                results = [fetch(chunks[0])]
            else:
                with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(chunks)),
                                        thread_name_prefix="prometheus-chunk") as pool:
                    futures = [pool.submit(fetch, chunk) for chunk in chunks]
                    try:
                        results = [future.result() for future in futures]
                    except BaseException:
                        for future in futures:
                            future.cancel()
                        raise
            return promjson.to_frame(promjson.merge_results(results))
        raise BadInputError(f"prometheus request: unknown method {request['method']!r}")

    def _call(self, endpoint: str, params: dict[str, str], promql: str) -> promjson.PromResult:
        """One API call with retries; returns the decoded result or raises PrometheusError."""
        if self.client is None:
            raise PrometheusError(f"no Prometheus URL configured (replaying a snapshot) for query {_short(promql)!r}",
                                  query=promql, error_type="unavailable")
        params = {**params, "timeout": f"{self.timeout * 0.9:.3f}"}
        try:
            body = self.retry_policy.call(lambda: self._send_when_free(endpoint, params, promql))
        except TransientError as exc:
            raise PrometheusError(f"{exc} ({exc.outcome})", query=promql, error_type=exc.error_type,
                                  status=exc.status) from exc
        try:
            envelope = promjson.parse_response(body)
        except promjson.MalformedResponseError as exc:
            excerpt = body[:200].decode("utf-8", "replace")
            raise PrometheusError(f"Prometheus {self.url}/api/v1/{endpoint} sent a malformed response ({exc}) "
                                  f"for query {_short(promql)!r}; body starts {excerpt!r}",
                                  query=promql, error_type="bad_response", status=200) from None
        if envelope.status != "success" or envelope.result is None:
            raise PrometheusError(self._error_message(endpoint, 200, envelope.error_type, envelope.error, promql),
                                  query=promql, error_type=envelope.error_type, status=200)
        if envelope.partial and self.refuses_partial_responses:
            raise PrometheusError(f"Prometheus {self.url}/api/v1/{endpoint} answered a partial response "
                                  f"({promjson.PARTIAL_WARNING}) and partial responses are refused "
                                  f"({PARTIAL_RESPONSE_SETTING}) -- query: {_short(promql)!r}",
                                  query=promql, error_type="partial_response", status=200)
        return envelope.result

    @property
    def refuses_partial_responses(self) -> bool:
        """Partial answers are errors (`partial_response=False`, GORELIABLE_THANOS_PARTIAL_RESPONSE=false): Thanos is
        asked not to send them, and an answer VictoriaMetrics marks `"isPartial": true` is refused here."""
        return self.thanos_options.get("partial_response") == "false"

    def _error_message(self, endpoint: str, status: int, error_type: str | None, error: str | None,
                       promql: str) -> str:
        return (f"Prometheus {self.url}/api/v1/{endpoint} failed (HTTP {status}, {error_type or 'error'}): "
                f"{error or 'no message'} -- query: {_short(promql)!r}")

    def _send_when_free(self, endpoint: str, params: dict[str, str], promql: str) -> bytes:
        """`_send` once fewer than `max_concurrency` requests of this source are in flight (a retry's backoff
        holds no slot)."""
        with self._in_flight:
            return self._send(endpoint, params, promql)

    def _send(self, endpoint: str, params: dict[str, str], promql: str) -> bytes:
        """One attempt: the body of a 200 answer; `TransientError` for what the retry policy may retry
        (429, 5xx, connection errors, timeouts), `PrometheusError` for the rest."""
        assert self.client is not None
        url = f"{self.url}/api/v1/{endpoint}"
        use_post = len(urlencode(params)) > self.POST_THRESHOLD_BYTES
        try:
            response = self._session.request(
                "POST" if use_post else "GET", url, params=None if use_post else params,
                data=params if use_post else None, auth=self.client.auth,
                headers={**self.client.headers, "Accept-Encoding": "gzip" if self.compression else "identity"},
                timeout=(min(self.timeout, 10.0), self.timeout))
        except requests.exceptions.ReadTimeout:
            raise TransientError(f"Prometheus {url} did not answer within {self.timeout:g} s "
                                 f"(client timeout) -- query: {_short(promql)!r}", error_type="timeout",
                                 timed_out=True) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            reason = type(exc).__name__
            detail = str(exc.args[0].reason) if exc.args and hasattr(exc.args[0], "reason") else str(exc)
            raise TransientError(f"Prometheus {url} unreachable ({reason}: {_short(detail, 200)}) "
                                 f"-- query: {_short(promql)!r}", error_type="unavailable") from None
        if response.status_code == 200:
            return response.content
        error_type, error = _error_fields(response)
        message = self._error_message(endpoint, response.status_code, error_type, error, promql)
        if response.status_code in RETRY_STATUSES:
            retry_after = (retry_after_seconds(response.headers.get("Retry-After"))
                           if response.status_code in RETRY_AFTER_STATUSES else None)
            raise TransientError(message, status=response.status_code, error_type=error_type or "unavailable",
                                 retry_after=retry_after, timed_out=error_type == "timeout")
        raise PrometheusError(message, query=promql, error_type=error_type, status=response.status_code)


def _error_fields(response: requests.Response) -> tuple[str | None, str]:
    """(errorType, the message) of an error answer, whatever fields its body lacks: a Cortex/Mimir query-frontend
    writes `{"status":"error","errorType":"canceled"}` (499) or `"timeout"` (504) with no `error` when the cause had
    no text; a proxy answers HTML or plain text."""
    body = _short(response.text.strip(), 300)
    try:
        document = response.json()
    except ValueError:
        return None, f"non-JSON body: {body!r}"
    if not isinstance(document, dict):
        return None, f"a JSON body that is not a Prometheus API response: {body!r}"
    error_type = document.get("errorType")
    error_type = str(error_type) if error_type not in (None, "") else None
    error = document.get("error")
    if error in (None, ""):
        return error_type, f"no error message in the body {body!r}"
    return error_type, str(error)


def _is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
