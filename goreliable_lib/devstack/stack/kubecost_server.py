"""A Kubecost / OpenCost Allocation API server on 127.0.0.1, fed by `sim.costs.CostSimulation`.

Flavours:
- `kubecost`: GET `/model/allocation` (base URL `http://127.0.0.1:PORT/model`); `idle` (default true) keeps
  the `__idle__` allocation; envelope `{"code":200,"data":[...]}`.
- `opencost`: GET `/allocation` (base URL `http://127.0.0.1:PORT`, like the cost-model's :9003);
  `includeIdle` (default false); envelope adds `"status":"success"`; values rounded to 5 decimals and
  NaN/Inf sent as `null`.

Parameters: `window` (today|week|month|yesterday|lastweek|lastmonth, `30m`/`12h`/`7d`/`2w` durations, RFC3339
or unix pair `a,b`), `aggregate` (cluster, node, namespace, controllerKind, controller, service, pod,
container, `label:NAME`, `annotation:NAME`; comma lists give keys joined with "/"), `step` (e.g. 1h, 1d, 1w;
default: the whole window), `accumulate` (false|true|hour|day|week), `idle`/`includeIdle`, `shareIdle`,
`filter` (v2: `field:"value"` with `:`, `!:`, `~:` (contains), `<~:` (prefix), `~>:` (suffix), several
quoted values = any of them, `+` = AND; fields cluster, node, namespace, controllerKind, controllerName,
controller, pod, container, services, label[NAME], annotation[NAME]).

Clock: relative windows resolve against the simulation's `as_of`, not the wall clock. Keywords follow
Kubecost: `today` = midnight..now, `week` = Sunday 00:00..now, `month` = the 1st..now, `yesterday`,
`lastweek` (Sunday to Sunday), `lastmonth` are whole periods; `Nd`/`Nw` = today plus the previous N-1 days
(N*7-1 for weeks) from midnight to now; `Nm`/`Nh` = rolling. Steps start at the window's start, each `step`
long, the last one clipped to the window's end; one allocation map per step (empty when no data).
Partial hours count pro rata (the simulation is hourly).

Idle: one `__idle__` allocation per step for the cluster (properties `cluster` only); filter terms on
`cluster` apply to it, other filter terms do not remove it. `shareIdle=true` adds each allocation's share of
idle to its cpuCost/ramCost/gpuCost (rule in `sim.costs`) and drops `__idle__`.

Kubecost's key forms: label aggregation gives `ml-platform` by default; `label_key_form="name=value"`
gives the older `cost-team=ml-platform`. Controllers are `kind:name` (`deployment:api-gateway`).

Errors: 400 with `{"code":400,"message":"Invalid 'window' parameter: ..."}` for bad values and, stricter than
Kubecost (which ignores them), for parameter names neither Kubecost nor OpenCost knows, or known options this
server does not implement (splitIdle, idleByNode, shareNamespaces, shareLabels, shareCost, format, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
from typing import Any

import numpy as np
import orjson
import pandas as pd
from werkzeug.wrappers import Request, Response

from goreliable_lib.devstack.sim.costs import (
    AGGREGATE_PROPERTIES,
    IDLE,
    CostSimulation,
    sanitize_label,
)
from goreliable_lib.devstack.stack.serving import LoopbackServer
from goreliable_lib.timeutil import DAY

FLAVOURS = ("kubecost", "opencost")
HOUR_NS = 3600 * 10**9
SUPPORTED = {"window", "aggregate", "step", "accumulate", "idle", "includeIdle", "shareIdle", "filter",
             "reconcile", "shareTenancyCosts", "resolution"}
UNSUPPORTED = {"splitIdle", "idleByNode", "shareNamespaces", "shareLabels", "shareCost", "shareSplit", "format",
               "costMetric", "offset", "limit", "includeSharedCostBreakdown", "includeProportionalAssetResourceCosts",
               "includeAggregatedMetadata", "filterNamespaces", "filterClusters", "filterLabels", "filterControllers",
               "filterPods", "filterNodes", "filterServices"}
ACCUMULATE = {"false": None, "": None, "true": "all", "hour": pd.Timedelta(hours=1), "day": DAY,
              "week": pd.Timedelta(days=7)}
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_STEP = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_FILTER_TERM = re.compile(
    r'^\s*(?P<field>[A-Za-z]+)(?:\[(?P<key>[^\]]+)\])?\s*(?P<op>!:|~:|<~:|~>:|!~:|:)\s*(?P<values>"(?:[^"\\]|\\.)*"'
    r'(?:\s*,\s*"(?:[^"\\]|\\.)*")*)\s*$')
SUM_COLUMNS = ["cpu_cost", "gpu_cost", "ram_cost", "pv_cost", "network_cost", "load_balancer_cost", "shared_cost",
               "external_cost", "cpu_idle_share", "ram_idle_share", "gpu_idle_share", "cpu_core_hours",
               "cpu_core_request_hours", "cpu_core_usage_hours", "ram_byte_hours", "ram_byte_request_hours",
               "ram_byte_usage_hours", "gpu_hours", "pv_byte_hours", "network_transfer_bytes",
               "network_receive_bytes", "network_cross_zone_cost", "network_cross_region_cost",
               "network_internet_cost"]


class BadParameter(Exception):
    """A 400: the message is Kubecost's `Invalid 'NAME' parameter: ...`."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"Invalid '{name}' parameter: {detail}")


def _rfc3339(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _rfc3339_array(ns: np.ndarray) -> list[str]:
    stamps = np.datetime_as_string(np.asarray(ns, dtype=np.int64).astype("datetime64[ns]"), unit="s")
    return [text + "Z" for text in stamps.tolist()]


def _parse_bool(name: str, value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1", "t"):
        return True
    if lowered in ("false", "0", "f"):
        return False
    raise BadParameter(name, f"expected true or false, got {value!r}")


def parse_window(text: str | None, now: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Kubecost's window forms resolved against `now` (the simulation clock)."""
    if text is None or not text.strip():
        raise BadParameter("window", "missing required parameter 'window'")
    value = text.strip()
    midnight = now.floor("D")
    week_start = midnight - pd.Timedelta(days=(midnight.day_of_week + 1) % 7)  # Sunday
    month_start = midnight.replace(day=1)
    keywords = {
        "today": (midnight, now), "yesterday": (midnight - DAY, midnight), "week": (week_start, now),
        "lastweek": (week_start - pd.Timedelta(days=7), week_start), "month": (month_start, now),
        "lastmonth": ((month_start - DAY).replace(day=1), month_start),
    }
    if value.lower() in keywords:
        return keywords[value.lower()]
    if match := _DURATION.match(value):
        count, unit = int(match[1]), match[2]
        if count <= 0:
            raise BadParameter("window", f"illegal window: {value!r} (duration must be positive)")
        if unit == "m":
            return now - pd.Timedelta(minutes=count), now
        if unit == "h":
            return now - pd.Timedelta(hours=count), now
        days = count * (7 if unit == "w" else 1)
        return midnight - pd.Timedelta(days=days - 1), now
    if "," in value:
        first, _, second = value.partition(",")
        try:
            bounds = [_parse_instant(part.strip()) for part in (first, second)]
        except (ValueError, TypeError):
            raise BadParameter("window", f"illegal window: {value!r} (expected two RFC3339 times or two unix "
                                         "timestamps separated by a comma)") from None
        if bounds[1] <= bounds[0]:
            raise BadParameter("window", f"illegal window: {value!r} (end is not after start)")
        return bounds[0], bounds[1]
    raise BadParameter("window", f"illegal window: {value!r}")


def _parse_instant(text: str) -> pd.Timestamp:
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return pd.Timestamp(float(text), unit="s", tz="UTC")
    if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$", text):
        raise ValueError(text)
    return pd.Timestamp(text).tz_convert("UTC")


def parse_step(name: str, text: str) -> pd.Timedelta:
    match = _STEP.match(text.strip())
    if not match:
        raise BadParameter(name, f"illegal duration: {text!r} (use e.g. 1h, 1d, 1w)")
    number = float(match[1])
    unit = {"s": "s", "m": "min", "h": "h", "d": "D", "w": "W"}[match[2]]
    step = pd.Timedelta(number, unit=unit)
    if step < pd.Timedelta(minutes=1):
        raise BadParameter(name, f"illegal duration: {text!r} (minimum is 1m)")
    return step


def parse_aggregate(text: str | None) -> list[str]:
    """Validated aggregation properties; [] = no aggregation (one allocation per container)."""
    if text is None or not text.strip():
        return []
    parts = [p.strip() for p in text.split(",")]
    for part in parts:
        if part.startswith(("label:", "annotation:")):
            if not part.split(":", 1)[1]:
                raise BadParameter("aggregate",
                                   f"unrecognized aggregation: {part!r} needs a name, e.g. label:cost-team")
        elif part not in AGGREGATE_PROPERTIES:
            raise BadParameter("aggregate", f"unrecognized aggregation: {part!r} (use cluster, node, namespace, "
                                            "controllerKind, controller, service, pod, container, label:NAME, "
                                            "annotation:NAME)")
    return parts


class Filter:
    """A parsed v2 filter: a conjunction of terms on container properties."""

    FIELDS = {"cluster", "node", "namespace", "controllerKind", "controllerName", "controller", "pod", "container",
              "services", "label", "annotation"}

    def __init__(self, text: str | None) -> None:
        self.terms: list[tuple[str, str | None, str, list[str]]] = []
        if text is None or not text.strip():
            return
        for raw in _split_outside_quotes(text, "+"):
            match = _FILTER_TERM.match(raw)
            if not match:
                raise BadParameter("filter", f"parsing filter {text!r}: cannot parse term {raw.strip()!r} "
                                             '(expected e.g. namespace:"go-reliable-production")')
            field, key = match["field"], match["key"]
            if field not in self.FIELDS or (field in ("label", "annotation")) != (key is not None):
                raise BadParameter("filter", f"parsing filter {text!r}: unknown field {raw.strip()!r}")
            values = [v[1:-1].replace('\\"', '"') for v in re.findall(r'"(?:[^"\\]|\\.)*"', match["values"])]
            self.terms.append((field, key, match["op"], values))

    def container_mask(self, containers: pd.DataFrame) -> np.ndarray:
        mask = np.ones(len(containers), bool)
        for field, key, op, values in self.terms:
            mask &= self._match(self._column(containers, field, key), op, values)
        return mask

    def keeps_idle(self, cluster: str) -> bool:
        keep = True
        for field, _key, op, values in self.terms:
            if field == "cluster":
                keep &= bool(self._match(np.array([cluster], object), op, values)[0])
        return keep

    @staticmethod
    def _column(c: pd.DataFrame, field: str, key: str | None) -> np.ndarray:
        if field == "label" and key is not None:
            return c["labels"].map(lambda labels: next(
                (v for k, v in labels.items() if sanitize_label(k) == sanitize_label(key)), "")).to_numpy(object)
        if field == "annotation":
            return np.full(len(c), "", object)
        column = {"controllerName": "controller", "services": "service"}.get(field, field)
        return c[column].fillna("").to_numpy(object)

    @staticmethod
    def _match(column: np.ndarray, op: str, values: list[str]) -> np.ndarray:
        text = column.astype(str)
        hits = np.zeros(len(column), bool)
        for value in values:
            if op in (":", "!:"):
                hits |= text == value
            elif op in ("~:", "!~:"):
                hits |= np.char.find(text, value) >= 0
            elif op == "<~:":
                hits |= np.char.startswith(text, value)
            else:
                hits |= np.char.endswith(text, value)
        return ~hits if op.startswith("!") else hits


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, current, quoted, escaped = [], [], False, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == sep and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _intervals(start: pd.Timestamp, end: pd.Timestamp,
               size: pd.Timedelta | None) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    if size is None:
        return [(start, end)]
    out, lo = [], start
    while lo < end:
        hi = min(lo + size, end)
        out.append((lo, hi))
        lo = hi
    if len(out) > 10_000:
        raise BadParameter("step", "too many steps in the window (more than 10000)")
    return out


class AllocationEngine:
    """Answers Allocation API queries from a CostSimulation (no HTTP here)."""

    def __init__(self, sim: CostSimulation, *, label_key_form: str = "value") -> None:
        self.sim = sim
        self.label_key_form = label_key_form
        self.hourly = sim.hourly
        self._hour_bounds = np.searchsorted(self.hourly["hour_index"].to_numpy(), np.arange(len(sim.hours) + 1))
        self._hours_ns = sim.hours.asi8
        self._hour_index = self.hourly["hour_index"].to_numpy()
        self._containers = self.hourly["container"].to_numpy()
        self._values = {col: self.hourly[col].to_numpy(float) for col in SUM_COLUMNS}

    def query(self, args: dict[str, str], *, flavour: str) -> list[dict[str, Any]]:
        start, end = parse_window(args.get("window"), self.sim.as_of)
        aggregate = parse_aggregate(args.get("aggregate"))
        step = parse_step("step", args["step"]) if args.get("step") else None
        accumulate_text = (args.get("accumulate") or "false").strip().lower()
        if accumulate_text not in ACCUMULATE:
            raise BadParameter("accumulate", f"unrecognized value {args['accumulate']!r} (use false, true, hour, "
                                             "day or week)")
        accumulate = ACCUMULATE[accumulate_text]
        if flavour == "kubecost":
            idle = _parse_bool("idle", args.get("idle"), True)
            _parse_bool("includeIdle", args.get("includeIdle"), False)
        else:
            idle = _parse_bool("includeIdle", args.get("includeIdle"), False)
            _parse_bool("idle", args.get("idle"), True)
        share_idle = _parse_bool("shareIdle", args.get("shareIdle"), False)
        for name in ("reconcile", "shareTenancyCosts"):
            _parse_bool(name, args.get(name), True)
        flt = Filter(args.get("filter"))
        if accumulate == "all":
            intervals = [(start, end)]
        elif accumulate is not None:
            if step is not None and step > accumulate:
                raise BadParameter("accumulate", f"accumulate={accumulate_text} is shorter than step={args['step']}")
            intervals = _intervals(start, end, accumulate)
        else:
            intervals = _intervals(start, end, step)
        return self._allocation_sets(intervals, aggregate, idle, share_idle, flt)

    def _slice(self, start: pd.Timestamp, end: pd.Timestamp) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
        """Hours overlapping [start, end): first/last index, their clipped bounds (ns) and weights."""
        n_hours = len(self.sim.hours)
        first = int(np.clip(np.searchsorted(self._hours_ns, start.value, side="right") - 1, 0, n_hours))
        last = int(np.clip(np.searchsorted(self._hours_ns, end.value, side="left"), first, n_hours))
        hour_start = self._hours_ns[first:last]
        lo = np.maximum(hour_start, start.value)
        hi = np.minimum(hour_start + HOUR_NS, end.value)
        return first, last, lo, hi, np.clip(hi - lo, 0, None) / HOUR_NS

    def _allocation_sets(self, intervals: list[tuple[pd.Timestamp, pd.Timestamp]], aggregate: list[str], idle: bool,
                         share_idle: bool, flt: Filter) -> list[dict[str, Any]]:
        sim = self.sim
        cluster = str(sim.containers["cluster"].iloc[0])
        container_ok = flt.container_mask(sim.containers)
        keys = sim.keys(aggregate or None, label_key_form=self.label_key_form)
        key_names, key_codes = np.unique(keys.astype(str), return_inverse=True)
        n_keys = len(key_names)
        containers_of_row = self._containers
        pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        idle_rows = []
        for number, (start, end) in enumerate(intervals):
            first, last, lo, hi, weight_by_hour = self._slice(start, end)
            row_lo, row_hi = self._hour_bounds[first], self._hour_bounds[last]
            local = self._hour_index[row_lo:row_hi] - first
            weight = weight_by_hour[local]
            containers = containers_of_row[row_lo:row_hi]
            keep = (weight > 0) & container_ok[containers]
            if keep.any():
                rows = np.nonzero(keep)[0] + row_lo
                local = local[keep]
                pieces.append((rows, weight[keep], number * n_keys + key_codes[containers[keep]], lo[local], hi[local]))
            if idle and not share_idle and weight_by_hour.any() and flt.keeps_idle(cluster):
                row: dict[str, Any] = {col: 0.0 for col in SUM_COLUMNS}
                idle_hours = sim.idle_hourly.iloc[first:last]
                for col in ("cpu_cost", "ram_cost", "gpu_cost", "cpu_core_hours", "ram_byte_hours", "gpu_hours"):
                    row[col] = float(idle_hours[col].to_numpy() @ weight_by_hour)
                present = weight_by_hour > 0
                row.update(interval=number, name=IDLE, alloc_start=lo[present].min(), alloc_end=hi[present].max(),
                           cpu_usage_max=0.0, ram_usage_max=0.0)
                idle_rows.append(row)
        sets: list[dict[str, Any]] = [{} for _ in intervals]
        if pieces:
            rows = np.concatenate([p[0] for p in pieces])
            weight = np.concatenate([p[1] for p in pieces])
            codes = np.concatenate([p[2] for p in pieces])
            groups, first_row, group_of_row = np.unique(codes, return_index=True, return_inverse=True)
            n_groups = len(groups)
            table = pd.DataFrame({
                col: np.bincount(group_of_row, weights=self._values[col][rows] * weight, minlength=n_groups)
                for col in SUM_COLUMNS})
            alloc_start = np.full(n_groups, np.iinfo(np.int64).max)
            alloc_end = np.full(n_groups, np.iinfo(np.int64).min)
            np.minimum.at(alloc_start, group_of_row, np.concatenate([p[3] for p in pieces]))
            np.maximum.at(alloc_end, group_of_row, np.concatenate([p[4] for p in pieces]))
            cpu_max = np.zeros(n_groups)
            ram_max = np.zeros(n_groups)
            np.maximum.at(cpu_max, group_of_row, self._values["cpu_core_usage_hours"][rows])
            np.maximum.at(ram_max, group_of_row, self._values["ram_byte_usage_hours"][rows])
            table["interval"] = groups // n_keys
            table["name"] = key_names[groups % n_keys]
            table["alloc_start"], table["alloc_end"] = alloc_start, alloc_end
            table["cpu_usage_max"], table["ram_usage_max"] = cpu_max, ram_max
            table["container"] = containers_of_row[rows[first_row]]
            frame = pd.DataFrame({"interval": table["interval"].to_numpy()[group_of_row],
                                  "name": table["name"].to_numpy()[group_of_row],
                                  "container": containers_of_row[rows],
                                  "pv_byte_hours": self._values["pv_byte_hours"][rows] * weight,
                                  "pv_cost": self._values["pv_cost"][rows] * weight})
            pvs = self._pvs(frame)
            props = self._properties(aggregate, table)
            records = self._records(table, intervals, share_idle, raw=not aggregate)
            for number, name, record, container in zip(table["interval"].tolist(), table["name"].tolist(), records,
                                                       table["container"].tolist(), strict=True):
                record["properties"] = props[container]
                record["pvs"] = pvs.get((number, name))
                sets[number][name] = record
        if idle_rows:
            table = pd.DataFrame(idle_rows)
            records = self._records(table, intervals, False, raw=False)
            for record, number in zip(records, table["interval"], strict=True):
                record["properties"] = {"cluster": cluster}
                record["pvs"] = None
                sets[number][IDLE] = record
        return sets

    def _pvs(self, frame: pd.DataFrame) -> dict[tuple[int, str], dict[str, Any]]:
        c = self.sim.containers
        pv_names = c["pv"].to_numpy(object)[frame["container"].to_numpy()]
        has_pv = pv_names != ""
        out: dict[tuple[int, str], dict[str, Any]] = {}
        if not has_pv.any():
            return out
        with_pv = frame[has_pv].assign(pv=pv_names[has_pv])
        sums = with_pv.groupby(["interval", "name", "pv"])[["pv_byte_hours", "pv_cost"]].sum()
        for (number, name, pv), byte_hours, cost in zip(sums.index, sums["pv_byte_hours"], sums["pv_cost"],
                                                       strict=True):
            out.setdefault((number, name), {})[f"cluster={c['cluster'].iloc[0]}:name={pv}"] = {
                "byteHours": float(byte_hours), "cost": float(cost)}
        return out

    def _properties(self, aggregate: list[str], table: pd.DataFrame) -> dict[int, dict[str, Any]]:
        """Properties of each allocation, from a representative container: every field for unaggregated
        allocations, else the cluster and the aggregated fields (labels: the aggregated labels)."""
        out: dict[int, dict[str, Any]] = {}
        c = self.sim.containers
        for container in table["container"].unique():
            row = c.iloc[int(container)]
            props: dict[str, Any] = {"cluster": row["cluster"]}
            if not aggregate:
                props.update({k: row[k] for k in ("node", "namespace", "controllerKind", "controller", "pod",
                                                  "container")})
                props["services"] = [row["service"]] if row["service"] else []
                props["labels"] = {sanitize_label(k): v for k, v in row["labels"].items()}
            else:
                labels: dict[str, str] = {}
                for part in aggregate:
                    if part.startswith("label:"):
                        value = row["labels"].get(part[6:])
                        if value is not None:
                            labels[sanitize_label(part[6:])] = value
                    elif part == "service":
                        props["services"] = [row["service"]] if row["service"] else []
                    elif part in AGGREGATE_PROPERTIES and row[part] != "":
                        props[part] = row[part]
                        if part == "controller":
                            props["controllerKind"] = row["controllerKind"]
                if labels:
                    props["labels"] = labels
            out[int(container)] = props
        return out

    @staticmethod
    def _records(t: pd.DataFrame, intervals: list[tuple[pd.Timestamp, pd.Timestamp]], share_idle: bool, *,
                 raw: bool) -> list[dict[str, Any]]:
        """Allocation JSON objects for the rows of a summed table (vectorised)."""
        minutes = (t["alloc_end"].to_numpy(float) - t["alloc_start"].to_numpy(float)) / 60e9
        hours = minutes / 60.0
        safe_hours = np.where(hours > 0, hours, 1.0)

        def per_hour(column: str) -> np.ndarray:
            return np.where(hours > 0, t[column].to_numpy(float) / safe_hours, 0.0)

        def efficiency(usage: str, request: str) -> np.ndarray:
            u, r = t[usage].to_numpy(float), t[request].to_numpy(float)
            return np.where(r > 0, u / np.where(r > 0, r, 1.0), np.where(u > 0, 1.0, 0.0))

        cpu_cost, ram_cost, gpu_cost = (t[c].to_numpy(float).copy() for c in ("cpu_cost", "ram_cost", "gpu_cost"))
        if share_idle:
            cpu_cost += t["cpu_idle_share"].to_numpy(float)
            ram_cost += t["ram_idle_share"].to_numpy(float)
            gpu_cost += t["gpu_idle_share"].to_numpy(float)
        is_idle = t["name"].astype(str).str.endswith(IDLE).to_numpy()
        cpu_eff = np.where(is_idle, 0.0, efficiency("cpu_core_usage_hours", "cpu_core_request_hours"))
        ram_eff = np.where(is_idle, 0.0, efficiency("ram_byte_usage_hours", "ram_byte_request_hours"))
        cpu_ram = cpu_cost + ram_cost
        total_eff = np.where(cpu_ram > 0, (cpu_cost * cpu_eff + ram_cost * ram_eff) / np.where(cpu_ram > 0, cpu_ram, 1),
                             0.0)
        total = (cpu_cost + gpu_cost + ram_cost + t["pv_cost"].to_numpy(float) + t["network_cost"].to_numpy(float)
                 + t["load_balancer_cost"].to_numpy(float) + t["shared_cost"].to_numpy(float)
                 + t["external_cost"].to_numpy(float))
        zero = np.zeros(len(t))
        columns: dict[str, Any] = {
            "name": t["name"].astype(str).tolist(),
            "start": _rfc3339_array(t["alloc_start"].to_numpy()),
            "end": _rfc3339_array(t["alloc_end"].to_numpy()),
            "minutes": minutes,
            "cpuCores": per_hour("cpu_core_hours"), "cpuCoreRequestAverage": per_hour("cpu_core_request_hours"),
            "cpuCoreUsageAverage": per_hour("cpu_core_usage_hours"), "cpuCoreHours": t["cpu_core_hours"],
            "cpuCost": cpu_cost, "cpuCostAdjustment": zero, "cpuEfficiency": cpu_eff,
            "gpuCount": per_hour("gpu_hours"), "gpuHours": t["gpu_hours"], "gpuCost": gpu_cost,
            "gpuCostAdjustment": zero,
            "networkTransferBytes": t["network_transfer_bytes"], "networkReceiveBytes": t["network_receive_bytes"],
            "networkCost": t["network_cost"], "networkCrossZoneCost": t["network_cross_zone_cost"],
            "networkCrossRegionCost": t["network_cross_region_cost"],
            "networkInternetCost": t["network_internet_cost"], "networkCostAdjustment": zero,
            "loadBalancerCost": t["load_balancer_cost"], "loadBalancerCostAdjustment": zero,
            "pvBytes": per_hour("pv_byte_hours"), "pvByteHours": t["pv_byte_hours"], "pvCost": t["pv_cost"],
            "pvCostAdjustment": zero,
            "ramBytes": per_hour("ram_byte_hours"), "ramByteRequestAverage": per_hour("ram_byte_request_hours"),
            "ramByteUsageAverage": per_hour("ram_byte_usage_hours"), "ramByteHours": t["ram_byte_hours"],
            "ramCost": ram_cost, "ramCostAdjustment": zero, "ramEfficiency": ram_eff,
            "sharedCost": t["shared_cost"], "externalCost": t["external_cost"], "totalCost": total,
            "totalEfficiency": total_eff,
        }
        lists = {k: (v if isinstance(v, list) else np.asarray(v, dtype=float).tolist()) for k, v in columns.items()}
        windows = [{"start": _rfc3339(lo), "end": _rfc3339(hi)} for lo, hi in intervals]
        numbers = t["interval"].to_numpy()
        usage_max = zip(t["cpu_usage_max"].tolist(), t["ram_usage_max"].tolist(), strict=True)
        records = []
        for i, (cpu_max, ram_max) in enumerate(usage_max):
            record = {k: v[i] for k, v in lists.items()}
            record["window"] = windows[int(numbers[i])]
            record["rawAllocationOnly"] = {"cpuCoreUsageMax": cpu_max, "ramByteUsageMax": ram_max} if raw else None
            records.append(record)
        return records


def _round(value: Any) -> Any:
    """OpenCost's JSON: floats rounded to 5 decimals, NaN/Inf -> null."""
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 5)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


class KubecostApp:
    """The WSGI application."""

    def __init__(self, sim: CostSimulation, *, flavour: str = "kubecost", label_key_form: str = "value") -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
        if label_key_form not in ("value", "name=value"):
            raise ValueError("label_key_form must be 'value' or 'name=value'")
        self.flavour = flavour
        self.engine = AllocationEngine(sim, label_key_form=label_key_form)
        self.path = "/model/allocation" if flavour == "kubecost" else "/allocation"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        return self.respond(request)(environ, start_response)

    def respond(self, request: Request) -> Response:
        if request.path in ("/healthz", "/model/healthz"):
            return Response("ok", mimetype="text/plain")
        if request.path.rstrip("/") not in (self.path, self.path + "/compute"):
            return self._json({"code": 404, "message": f"404 page not found: {request.path}"}, 404)
        if request.method != "GET":
            return self._json({"code": 405, "message": f"method {request.method} not allowed"}, 405)
        args = {k: request.args.get(k, "") for k in request.args}
        try:
            for name in args:
                if name in UNSUPPORTED:
                    raise BadParameter(name, "not supported by this server (a simulator of the Allocation API)")
                if name not in SUPPORTED:
                    raise BadParameter(name, "unknown parameter for /allocation")
            data = self.engine.query(args, flavour=self.flavour)
        except BadParameter as exc:
            body: dict[str, Any] = {"code": 400, "message": str(exc)}
            if self.flavour == "opencost":
                body = {"code": 400, "status": "error", "data": None, "message": str(exc)}
            return self._json(body, 400)
        if self.flavour == "opencost":
            return self._json({"code": 200, "status": "success", "data": _round(data)}, 200)
        return self._json({"code": 200, "data": data}, 200)

    @staticmethod
    def _json(body: dict[str, Any], status: int) -> Response:
        return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status=status,
                        mimetype="application/json")


class KubecostServer:
    """Serves the Allocation API of a CostSimulation on 127.0.0.1 in a background thread.

    `with KubecostServer(sim) as url: ...`; `url` is the base URL the kit takes (`.../model` for Kubecost,
    the root for OpenCost)."""

    def __init__(self, sim: CostSimulation | None = None, flavour: str = "kubecost", *, port: int = 0,
                 label_key_form: str = "value") -> None:
        self.sim = sim if sim is not None else CostSimulation()
        self.app = KubecostApp(self.sim, flavour=flavour, label_key_form=label_key_form)
        self.flavour = flavour
        self.port = port
        self._server: LoopbackServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("server not started")
        root = f"http://127.0.0.1:{self._server.port}"
        return root + "/model" if self.flavour == "kubecost" else root

    def start(self) -> str:
        self._server = LoopbackServer(self.app, port=self.port, name="kubecost-server").start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """`python -m goreliable_lib.devstack.stack.kubecost_server --port N --flavour kubecost|opencost`."""
    parser = argparse.ArgumentParser(prog="python -m goreliable_lib.devstack.stack.kubecost_server",
                                     description="Kubecost/OpenCost Allocation API server fed by the simulator")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = a free one)")
    parser.add_argument("--flavour", choices=FLAVOURS, default="kubecost")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--as-of", default=None, help="simulation clock (RFC3339)")
    parser.add_argument("--label-key-form", choices=("value", "name=value"), default="value")
    args = parser.parse_args(argv)
    kwargs: dict[str, Any] = {}
    if args.seed is not None:
        kwargs["seed"] = args.seed
    if args.as_of is not None:
        kwargs["as_of"] = args.as_of
    server = KubecostServer(CostSimulation(**kwargs), args.flavour, port=args.port, label_key_form=args.label_key_form)
    server._server = LoopbackServer(server.app, port=args.port, name="kubecost-server")
    print(f"serving {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server._server.serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
