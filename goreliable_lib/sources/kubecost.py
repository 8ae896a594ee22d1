"""Kubecost / OpenCost Allocation API into pandas.

`KubecostSource(url).allocation(window, aggregate=..., step=..., ...)` returns one row per (interval,
allocation). The URL is Kubecost's `.../model` or OpenCost's cost-model root (`:9003`): both answer at
`URL/allocation` (a Kubecost root without `/model` is retried at `URL/model/allocation`). The flavour is
detected from the answer (OpenCost sends `"status":"success"`) and normalised, so both give the same frame up
to OpenCost's 5-decimal rounding.

Windows are resolved against `self.now()` into absolute times before anything is sent:
- `(start, end)` pair or `"a,b"` (RFC3339 or unix seconds);
- Kubecost keywords `today`, `yesterday`, `week`, `lastweek` (weeks start Sunday), `month`, `lastmonth`;
- the kit's report windows (timeutil.parse_window): `30d` = the rolling 30x24 h ending now (NOT Kubecost's
  "today plus 29 days"), `1M` / `1Q` to date, `2026-10`, `2026-Q3`.
Intervals: `step` slices the window from its start (last one clipped); `accumulate=True` gives one interval,
`"hour"|"day"|"week"` intervals of that length; no step = one interval.

Long windows are fetched piece by piece (`chunk`, default one day): intervals up to a day are requested a day
at a time; longer intervals are fetched in day-long pieces and summed here (costs, hours and bytes add up;
`minutes` is the allocation's running time, averages and efficiencies are recomputed from the sums).

Columns: `name` (label keys in the new form: `cost-team=ml-platform` -> `ml-platform`), `start`, `end` (the
interval, UTC), `minutes`, the aggregate key columns (`namespace`, `cost_team` for `label:cost-team`,
`controller`, ...; `__idle__` / `__unallocated__` kept as values), cost columns, usage columns, efficiencies,
`is_idle`, `is_unallocated`. JSON nulls become NaN. A missing `totalCost` is a warning in `attrs["warnings"]`
(totals too low); a missing part of it (`loadBalancerCost` in Kubecost 1.76's schema) is a note in
`attrs["infos"]` (totals complete, breakdown without it).

Retries: the one policy of `sources.http` (429 and 5xx retried with backoff, `Retry-After` honoured; a client
read timeout not retried unless `retry_timeouts=True`; every retry logged).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import requests

from goreliable_lib.errors import BadInputError, KubecostError
from goreliable_lib.sources.base import Source
from goreliable_lib.sources.http import (
    RETRY_AFTER_STATUSES,
    RETRY_STATUSES,
    RetryPolicy,
    TransientError,
    retry_after_seconds,
    split_credentials,
)
from goreliable_lib.timeutil import DAY, parse_duration, parse_time, parse_window, to_rfc3339

if TYPE_CHECKING:
    from goreliable_lib.sources.snapshot import SnapshotRecorder, SnapshotReplayer

IDLE = "__idle__"
UNALLOCATED = "__unallocated__"
ACCUMULATE_SIZES = {"hour": pd.Timedelta(hours=1), "day": DAY, "week": pd.Timedelta(days=7)}
COST_FIELDS = ["cpuCost", "gpuCost", "ramCost", "pvCost", "networkCost", "loadBalancerCost", "sharedCost",
               "externalCost", "totalCost", "cpuCostAdjustment", "gpuCostAdjustment", "ramCostAdjustment",
               "pvCostAdjustment", "networkCostAdjustment", "loadBalancerCostAdjustment", "networkCrossZoneCost",
               "networkCrossRegionCost", "networkInternetCost"]
USAGE_FIELDS = ["cpuCores", "cpuCoreHours", "cpuCoreRequestAverage", "cpuCoreUsageAverage", "ramBytes",
                "ramByteHours", "ramByteRequestAverage", "ramByteUsageAverage", "gpuCount", "gpuHours", "pvBytes",
                "pvByteHours", "networkTransferBytes", "networkReceiveBytes"]
EFFICIENCY_FIELDS = ["cpuEfficiency", "ramEfficiency", "totalEfficiency"]
ADDITIVE = COST_FIELDS + ["cpuCoreHours", "ramByteHours", "gpuHours", "pvByteHours", "networkTransferBytes",
                          "networkReceiveBytes"]
AGGREGATE_COLUMNS = {"cluster": "cluster", "node": "node", "namespace": "namespace",
                     "controllerKind": "controller_kind", "controller": "controller", "service": "service",
                     "pod": "pod", "container": "container"}


def snake(name: str) -> str:
    """`cpuCoreHours` -> `cpu_core_hours`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def key_column(part: str) -> str:
    """Frame column of one aggregation property: `label:cost-team` -> `cost_team`."""
    if ":" in part:
        return re.sub(r"[^a-zA-Z0-9_]", "_", part.split(":", 1)[1])
    return AGGREGATE_COLUMNS.get(part, snake(part))


COLUMNS = ["name", "start", "end", "minutes"] + [snake(f) for f in COST_FIELDS + USAGE_FIELDS + EFFICIENCY_FIELDS] + [
    "is_idle", "is_unallocated"]


class KubecostSource(Source):
    """Allocations from Kubecost (`.../model`) or OpenCost (`:9003`)."""

    name = "kubecost"

    def __init__(self, url: str | None, *, timeout: float = 60, retries: int = 3, headers: dict[str, str] | None = None,
                 token: str | None = None, retry_timeouts: bool = False, recorder: SnapshotRecorder | None = None,
                 replayer: SnapshotReplayer | None = None, clock: Callable[[], pd.Timestamp] | None = None,
                 chunk: object = "1d") -> None:
        super().__init__(recorder=recorder, replayer=replayer, clock=clock)
        if not url and replayer is None:
            raise BadInputError("kubecost url: required unless replaying a snapshot (set GORELIABLE_KUBECOST_URL)")
        # a user:password@ part becomes basic auth, so the URL in messages and logs holds no credential
        clean_url, basic_auth = split_credentials(url) if url else ("", None)
        self.url = clean_url  # empty when replaying a snapshot
        self.timeout = float(timeout)
        #: How requests are retried (`sources.http`, the same policy as Prometheus').
        self.retry_policy = RetryPolicy(retries=int(retries), retry_timeouts=bool(retry_timeouts),
                                        retry_timeouts_setting="KubecostSource(retry_timeouts=True)")
        self.chunk = parse_duration(chunk, field="chunk")
        self.session = requests.Session()
        self.session.auth = basic_auth
        self.session.headers.update(headers or {})
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.flavour: str | None = None
        self._endpoint: str | None = None

    # ------------------------------------------------------------------ public API
    def allocation(self, window: object, aggregate: str | list[str] | None = "namespace", step: object = None,
                   accumulate: bool | str = False, idle: bool = True, share_idle: bool = False,
                   filter: str | None = None) -> pd.DataFrame:  # noqa: A002 - Kubecost's own parameter name
        """Allocations over `window`, one row per (interval, allocation)."""
        start, end = self.resolve_window(window)
        if isinstance(aggregate, list | tuple):
            aggregate = ",".join(aggregate)
        aggregate = ",".join(p.strip() for p in aggregate.split(",")) if aggregate else ""
        if isinstance(accumulate, str):
            lowered = accumulate.strip().lower()
            if lowered not in ("true", "false", *ACCUMULATE_SIZES):
                raise BadInputError(f"accumulate: {accumulate!r} is not one of true, false, hour, day, week")
            accumulate = {"true": True, "false": False}.get(lowered, lowered)
        request = {
            "method": "allocation", "start": to_rfc3339(start), "end": to_rfc3339(end), "aggregate": aggregate,
            "step": None if step is None else parse_duration(step, field="step").total_seconds(),
            "accumulate": accumulate, "idle": bool(idle), "share_idle": bool(share_idle), "filter": filter or None,
        }
        return self._get(request)

    def resolve_window(self, window: object) -> tuple[pd.Timestamp, pd.Timestamp]:
        """Absolute (start, end) of a window, relative forms against self.now()."""
        now = self.now()
        if isinstance(window, tuple | list) and len(window) == 2:
            start, end = parse_time(window[0], now, field="window"), parse_time(window[1], now, field="window")
        elif isinstance(window, str) and "," in window:
            first, _, second = window.partition(",")
            start, end = parse_time(first.strip(), now, field="window"), parse_time(second.strip(), now, field="window")
        elif isinstance(window, str) and window.strip().lower() in _KEYWORDS:
            start, end = _KEYWORDS[window.strip().lower()](now)
        else:
            start, end = parse_window(window, now)
        if end <= start:
            raise BadInputError(f"window: {window!r} ends before it starts")
        return start, end

    # ------------------------------------------------------------------ fetching
    def _fetch(self, request: dict[str, Any]) -> pd.DataFrame:
        self._notes: dict[str, list[str]] = {"warnings": [], "infos": []}  # missing costs: attrs["warnings"|"infos"]
        start, end = pd.Timestamp(request["start"]), pd.Timestamp(request["end"])
        accumulate = request["accumulate"]
        step = pd.Timedelta(seconds=request["step"]) if request["step"] is not None else None
        if accumulate is True:
            size = None
        elif isinstance(accumulate, str):
            size = ACCUMULATE_SIZES[accumulate]
        else:
            size = step
        intervals = _intervals(start, end, size)
        if intervals[0][1] - intervals[0][0] <= self.chunk:
            records: list[dict[str, Any]] = []
            group: list[tuple[pd.Timestamp, pd.Timestamp]] = []  # consecutive intervals spanning <= one chunk
            for interval in intervals:
                if group and interval[1] - group[0][0] > self.chunk:
                    records.extend(self._fetch_sets(request, group))
                    group = []
                group.append(interval)
            records.extend(self._fetch_sets(request, group))
            frame = _normalise(records, request["aggregate"], self._notes, request)
        else:
            frames = [self._fetch_summed(request, interval) for interval in intervals]
            frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        frame = frame.sort_values(["start", "name"], kind="stable").reset_index(drop=True)
        frame.attrs["flavour"] = self.flavour
        for kind, lines in self._notes.items():
            if lines:
                frame.attrs[kind] = list(dict.fromkeys(lines))
        return frame

    def _fetch_sets(self, request: dict[str, Any],
                    intervals: list[tuple[pd.Timestamp, pd.Timestamp]]) -> list[dict[str, Any]]:
        """One HTTP request whose steps are exactly `intervals`."""
        size = intervals[0][1] - intervals[0][0]
        params = self._params(request, intervals[0][0], intervals[-1][1], step=size if len(intervals) > 1 else None)
        data = self._call(params, request)
        if len(data) != len(intervals):
            raise KubecostError(f"Kubecost returned {len(data)} allocation sets for {len(intervals)} steps "
                                f"({self._describe(params)})", request=request)
        return _records(data, intervals)

    def _fetch_summed(self, request: dict[str, Any], interval: tuple[pd.Timestamp, pd.Timestamp]) -> pd.DataFrame:
        """One long interval fetched a chunk at a time and summed here."""
        records: list[dict[str, Any]] = []
        for lo, hi in _intervals(interval[0], interval[1], self.chunk):
            records.extend(_records(self._call(self._params(request, lo, hi, step=None), request), [(lo, hi)]))
        frame = _normalise(records, request["aggregate"], self._notes, request)
        return _combine(frame, interval, request["aggregate"]) if len(frame) else frame

    def _params(self, request: dict[str, Any], start: pd.Timestamp, end: pd.Timestamp,
                step: pd.Timedelta | None) -> dict[str, str]:
        params = {"window": f"{to_rfc3339(start)},{to_rfc3339(end)}", "accumulate": "false",
                  "idle": str(request["idle"]).lower(), "includeIdle": str(request["idle"]).lower(),
                  "shareIdle": str(request["share_idle"]).lower()}
        if request["aggregate"]:
            params["aggregate"] = request["aggregate"]
        if step is not None:
            params["step"] = f"{int(step.total_seconds())}s"
        if request["filter"]:
            params["filter"] = request["filter"]
        return params

    def _describe(self, params: dict[str, str]) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"GET {self._endpoint or self.url + '/allocation'}?{query}"

    def _call(self, params: dict[str, str], request: dict[str, Any]) -> list[dict[str, Any]]:
        endpoints = [self._endpoint] if self._endpoint else [self.url + "/allocation", self.url + "/model/allocation"]
        last_error: KubecostError | None = None
        for endpoint in endpoints:
            try:
                body = self._get_json(endpoint, params, request)
            except KubecostError as exc:
                if exc.status == 404 and not self._endpoint and not self.url.endswith("/model"):
                    last_error = exc
                    continue
                raise
            self._endpoint = endpoint
            self.flavour = "opencost" if body.get("status") == "success" else "kubecost"
            data = body.get("data")
            if not isinstance(data, list):
                raise KubecostError(f"Kubecost answered without a list of allocation sets: {str(body)[:200]} "
                                    f"(GET {endpoint})", request=request)
            odd = next((s for s in data if s is not None and not isinstance(s, dict)), None)
            if odd is not None:
                raise KubecostError(f"Kubecost answered with an allocation set that is not an object: "
                                    f"{str(odd)[:200]} (GET {endpoint})", request=request)
            return data
        assert last_error is not None
        raise last_error

    def _get_json(self, endpoint: str, params: dict[str, str], request: dict[str, Any]) -> dict[str, Any]:
        describe = f"GET {endpoint}?" + "&".join(f"{k}={v}" for k, v in params.items())

        def attempt() -> requests.Response:
            try:
                response = self.session.get(endpoint, params=params, timeout=self.timeout)
            except requests.ConnectTimeout as exc:  # never connected: worth another attempt, like refused
                raise TransientError(f"connection failed: {exc} ({describe})") from exc
            except requests.Timeout as exc:
                raise TransientError(f"timed out after {self.timeout:g} s ({type(exc).__name__}) ({describe})",
                                     timed_out=True) from exc
            except requests.ConnectionError as exc:
                raise TransientError(f"connection failed: {exc} ({describe})") from exc
            if response.status_code in RETRY_STATUSES or response.status_code >= 500:
                retry_after = (retry_after_seconds(response.headers.get("Retry-After"))
                               if response.status_code in RETRY_AFTER_STATUSES else None)
                raise TransientError(f"HTTP {response.status_code}: {_message(response)} ({describe})",
                                     status=response.status_code, retry_after=retry_after)
            return response

        try:
            response = self.retry_policy.call(attempt)
        except TransientError as exc:
            raise KubecostError(f"Kubecost request failed after {exc.attempts} attempt"
                                f"{'s' if exc.attempts != 1 else ''}: {exc}"
                                + ("" if exc.outcome.startswith("gave up") else f"; {exc.outcome}"),
                                request=request, status=exc.status) from exc
        if response.status_code != 200:
            raise KubecostError(f"Kubecost rejected the request: HTTP {response.status_code}: {_message(response)} "
                                f"({describe})", request=request, status=response.status_code)
        try:
            body = response.json()
        except ValueError as exc:
            raise KubecostError(f"Kubecost answered with malformed JSON: {response.text[:200]!r} ({describe})",
                                request=request, status=response.status_code) from exc
        if not isinstance(body, dict) or body.get("code", 200) != 200:
            message = body.get("message") if isinstance(body, dict) else body
            raise KubecostError(f"Kubecost error: {message} ({describe})", request=request,
                                status=body.get("code") if isinstance(body, dict) else None)
        return body


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(body)[:300]


def _keyword_windows() -> dict[str, Callable[[pd.Timestamp], tuple[pd.Timestamp, pd.Timestamp]]]:
    def week_start(now: pd.Timestamp) -> pd.Timestamp:
        midnight = now.floor("D")
        return midnight - pd.Timedelta(days=(midnight.day_of_week + 1) % 7)

    def month_start(now: pd.Timestamp) -> pd.Timestamp:
        return now.floor("D").replace(day=1)

    return {
        "today": lambda now: (now.floor("D"), now),
        "yesterday": lambda now: (now.floor("D") - DAY, now.floor("D")),
        "week": lambda now: (week_start(now), now),
        "lastweek": lambda now: (week_start(now) - pd.Timedelta(days=7), week_start(now)),
        "month": lambda now: (month_start(now), now),
        "lastmonth": lambda now: ((month_start(now) - DAY).replace(day=1), month_start(now)),
    }


_KEYWORDS = _keyword_windows()


def _intervals(start: pd.Timestamp, end: pd.Timestamp,
               size: pd.Timedelta | None) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    if size is None:
        return [(start, end)]
    out, lo = [], start
    while lo < end:
        out.append((lo, min(lo + size, end)))
        lo = out[-1][1]
    return out


def _aggregate_parts(aggregate: str) -> list[str]:
    return [p for p in aggregate.split(",") if p] if aggregate else []


def _empty(aggregate: str) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=float) for c in COLUMNS})
    frame["name"] = frame["name"].astype("str")
    for c in ("start", "end"):
        frame[c] = pd.Series(dtype="datetime64[ns, UTC]")
    for c in ("is_idle", "is_unallocated"):
        frame[c] = frame[c].astype(bool)
    for part in _aggregate_parts(aggregate):
        frame[key_column(part)] = pd.Series(dtype="str")
    return frame


def _records(data: list[Any], intervals: list[tuple[pd.Timestamp, pd.Timestamp]]) -> list[dict[str, Any]]:
    """Allocations of a response (either flavour), each tagged with its interval."""
    out = []
    for (lo, hi), allocation_set in zip(intervals, data, strict=True):
        for key, alloc in (allocation_set or {}).items():
            if isinstance(alloc, dict):
                out.append({**alloc, "name": alloc.get("name") or key, "_start": lo, "_end": hi})
    return out


#: The costs every allocation carries: a missing totalCost makes totals too low (a warning), a missing part only the
#: breakdown by resource (information; see `_missing_costs`).
REQUIRED_COSTS = ("cpuCost", "gpuCost", "ramCost", "pvCost", "networkCost", "loadBalancerCost", "sharedCost",
                  "externalCost", "totalCost")
_NUMBER_TYPES = frozenset({int, float, type(None)})


def _numbers(records: list[dict[str, Any]], field: str, request: dict[str, Any] | None) -> np.ndarray:
    """One numeric field of every record as float64 (null or missing = NaN); anything but a JSON number or null
    is a KubecostError naming the field and the allocation."""
    values = [r.get(field) for r in records]
    if {type(v) for v in values} <= _NUMBER_TYPES:
        try:
            return np.array([np.nan if v is None else v for v in values], dtype=float)
        except OverflowError:
            pass
    index, value = next((i, v) for i, v in enumerate(values) if type(v) not in (int, float, type(None))
                        or (type(v) is int and abs(v) > 1e308))
    record = records[index]
    raise KubecostError(f"Kubecost sent {field}={str(value)[:60]!r} for allocation {str(record['name'])[:100]!r} "
                        f"({to_rfc3339(record['_start'])}..{to_rfc3339(record['_end'])}): expected a number or null",
                        request=request)


def _missing_costs(records: list[dict[str, Any]], columns: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(warnings, infos) about required costs some allocations did not carry (null, missing or not finite).

    A missing `totalCost` makes every total that includes it too low: a warning. A missing part (`cpuCost` ...
    `loadBalancerCost`) of an allocation whose `totalCost` was sent leaves the totals whole (they are `totalCost`)
    and only the breakdown by resource without that part: information, not a warning (Kubecost 1.76's schema has
    no `loadBalancerCost` at all). Where both are missing, the `totalCost` warning says it."""
    warnings: list[str] = []
    infos: list[str] = []
    total_absent = ~np.isfinite(columns["total_cost"])
    for field in REQUIRED_COSTS:
        absent = ~np.isfinite(columns[snake(field)])
        if field != "totalCost":
            absent &= ~total_absent
        if not absent.any():
            continue
        first = records[int(np.argmax(absent))]
        where = (f"for {int(absent.sum())} of {len(records)} allocations (first: {str(first['name'])[:100]!r}, "
                 f"{to_rfc3339(first['_start'])}..{to_rfc3339(first['_end'])})")
        if field == "totalCost":
            warnings.append(f"Kubecost sent no totalCost (null or missing) {where}; those costs are missing from "
                            "every total, which are therefore too low")
        else:
            infos.append(f"Kubecost sent no {field} (null or missing) {where}; the breakdown by resource has none "
                         "of it, the totals are complete (Kubecost sent totalCost)")
    return warnings, infos


def _normalise(records: list[dict[str, Any]], aggregate: str, notes: dict[str, list[str]] | None = None,
               request: dict[str, Any] | None = None) -> pd.DataFrame:
    """Allocation records -> frame, one row per (interval, allocation); nulls become NaN (and, for a missing cost,
    a line in `notes["warnings"]` or `notes["infos"]`, see `_missing_costs`); a value that is not a number raises
    KubecostError."""
    if not records:
        return _empty(aggregate)
    names, keys = _parse_names([str(r["name"]) for r in records], _aggregate_parts(aggregate))
    columns: dict[str, Any] = {
        "name": pd.Series(names, dtype="str"),
        "start": pd.DatetimeIndex([r["_start"] for r in records]).as_unit("ns"),
        "end": pd.DatetimeIndex([r["_end"] for r in records]).as_unit("ns"),
    }
    for field in ["minutes"] + COST_FIELDS + USAGE_FIELDS + EFFICIENCY_FIELDS:
        columns[snake(field)] = _numbers(records, field, request)
    if notes is not None:
        warnings, infos = _missing_costs(records, columns)
        notes["warnings"].extend(warnings)
        notes["infos"].extend(infos)
    columns["is_idle"] = np.array([n == IDLE or n.endswith("/" + IDLE) for n in names], dtype=bool)
    columns["is_unallocated"] = np.array([UNALLOCATED in n.split("/") for n in names], dtype=bool)
    for column, values in keys.items():
        columns[column] = pd.Series(values, dtype="str")
    return pd.DataFrame(columns)


def _parse_names(raw_names: list[str], parts: list[str]) -> tuple[list[str], dict[str, list[str | None]]]:
    """Names in the new key form and the aggregate key columns; `cost-team=ml-platform` -> `ml-platform`."""
    columns: dict[str, list[str | None]] = {key_column(p): [] for p in parts}
    names = []
    for raw in raw_names:
        if raw == IDLE:
            pieces = [IDLE] * len(parts)
            name = IDLE
        else:
            pieces = raw.split("/") if parts else [raw]
            if parts and len(pieces) != len(parts):  # a value containing "/" (rare): keep the name whole
                pieces = [raw] * len(parts)
            for i, part in enumerate(parts):
                if part.startswith(("label:", "annotation:")) and pieces[i] not in (IDLE, UNALLOCATED):
                    label = part.split(":", 1)[1]
                    for prefix in (label + "=", key_column(part) + "="):
                        if pieces[i].startswith(prefix):
                            pieces[i] = pieces[i][len(prefix):]
                            break
            name = "/".join(pieces) if parts else raw
        names.append(name)
        for i, part in enumerate(parts):
            columns[key_column(part)].append(pieces[i] if pieces[i] != "" else None)
    return names, columns


def _combine(frame: pd.DataFrame, interval: tuple[pd.Timestamp, pd.Timestamp], aggregate: str) -> pd.DataFrame:
    """Sum pieces of one interval per allocation: additive fields add, averages and efficiencies recomputed."""
    hours = frame["minutes"] / 60.0
    frame = frame.assign(
        cpu_request_hours=frame["cpu_core_request_average"] * hours,
        cpu_usage_hours=frame["cpu_core_usage_average"] * hours,
        ram_request_hours=frame["ram_byte_request_average"] * hours,
        ram_usage_hours=frame["ram_byte_usage_average"] * hours)
    keys = ["name"] + [key_column(p) for p in _aggregate_parts(aggregate)]
    additive = [snake(f) for f in ADDITIVE] + ["minutes", "cpu_request_hours", "cpu_usage_hours",
                                               "ram_request_hours", "ram_usage_hours"]
    summed = frame.groupby(keys, sort=True, dropna=False)[additive].sum(min_count=1).reset_index()
    out = pd.DataFrame({key: pd.Series(summed[key].tolist(), dtype="str") for key in keys})
    out["start"] = pd.Series(pd.DatetimeIndex([interval[0]] * len(out)).as_unit("ns"))
    out["end"] = pd.Series(pd.DatetimeIndex([interval[1]] * len(out)).as_unit("ns"))
    for column in additive[:-4]:
        out[column] = summed[column]
    hours = out["minutes"] / 60.0
    safe = hours.where(hours > 0)
    out["cpu_cores"] = (summed["cpu_core_hours"] / safe).fillna(0.0)
    out["cpu_core_request_average"] = (summed["cpu_request_hours"] / safe).fillna(0.0)
    out["cpu_core_usage_average"] = (summed["cpu_usage_hours"] / safe).fillna(0.0)
    out["ram_bytes"] = (summed["ram_byte_hours"] / safe).fillna(0.0)
    out["ram_byte_request_average"] = (summed["ram_request_hours"] / safe).fillna(0.0)
    out["ram_byte_usage_average"] = (summed["ram_usage_hours"] / safe).fillna(0.0)
    out["gpu_count"] = (summed["gpu_hours"] / safe).fillna(0.0)
    out["pv_bytes"] = (summed["pv_byte_hours"] / safe).fillna(0.0)
    out["is_idle"] = out["name"].map(lambda n: n == IDLE or n.endswith("/" + IDLE)).astype(bool)
    out["is_unallocated"] = out["name"].map(lambda n: UNALLOCATED in n.split("/")).astype(bool)
    out["cpu_efficiency"] = _efficiency(summed["cpu_usage_hours"], summed["cpu_request_hours"], out["is_idle"])
    out["ram_efficiency"] = _efficiency(summed["ram_usage_hours"], summed["ram_request_hours"], out["is_idle"])
    cpu_ram = out["cpu_cost"] + out["ram_cost"]
    out["total_efficiency"] = ((out["cpu_cost"] * out["cpu_efficiency"] + out["ram_cost"] * out["ram_efficiency"])
                               / cpu_ram.where(cpu_ram > 0)).fillna(0.0)
    return out[[c for c in _empty(aggregate).columns]]


def _efficiency(usage: pd.Series, request: pd.Series, idle: pd.Series) -> pd.Series:
    values = np.where(request > 0, usage / request.where(request > 0, 1.0), np.where(usage > 0, 1.0, 0.0))
    return pd.Series(np.where(idle, 0.0, values), index=usage.index)
