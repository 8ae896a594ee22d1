"""Cross-check of Kubecost's allocation totals against the Prometheus cost metrics (OpenCost's
`pkg/costmodel/metrics.go`) for one whole UTC day.

What is compared (both sides should agree to the cent when the metrics are complete):
- per namespace, CPU cost = sum over the day of `container_cpu_allocation` (cores) x `node_cpu_hourly_cost`
  of the pod's node; RAM likewise with `container_memory_allocation_bytes` / 2^30 x `node_ram_hourly_cost`;
  GPU with `container_gpu_allocation` x `node_gpu_hourly_cost`;
- for the cluster, node cost = sum of `node_total_hourly_cost` = the allocations' CPU + RAM + GPU cost plus
  idle (PV, network, load balancer, shared and external costs are not node costs and are left out).

How the PromQL integrates: each sample holds an hourly price or an allocation; `sum_over_time(x[86400s])` x
scrape interval / 3600 is the integral over the day in hour units. The scrape interval is not assumed: it is
measured per metric on a 15-minute raw probe at the day's end (`interval_queries`, `scrape_intervals`: the
shortest spacing per series, the median over series), so a 30 s or 15 s exporter is not counted twice or four
times as much as it cost (a metric without samples there takes the others' interval). Queries are evaluated one
second before the day ends: Prometheus 2 ranges include both ends (`[t - 86400s, t]`), so the range then holds
every sample of [day start, day end) - one at the day's very end would be the next day's first sample - and
Prometheus 3's left-open ranges hold the same ones. Prices are averaged over the day (`avg_over_time`; on-demand
prices do not change within a day) so containers that stop mid-day are not stretched by the 5-minute lookback a
subquery would add.

Differences that remain in real clusters: scrape gaps (Prometheus lower), Kubecost's reconciliation with the
cloud bill (Kubecost's figures are adjusted, the metrics list prices), and sub-minute pods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from goreliable_lib.analysis.cost import IDLE
from goreliable_lib.analysis.counters import scrape_interval_seconds
from goreliable_lib.inputs.promql import any_of, selector
from goreliable_lib.timeutil import DAY

CHECKS = ("cpu", "ram", "gpu", "node")
#: The metric each check integrates over the day (its scrape interval is the one that matters).
INTEGRATED = {"cpu": "container_cpu_allocation", "ram": "container_memory_allocation_bytes",
              "gpu": "container_gpu_allocation", "node": "node_total_hourly_cost"}
#: The raw samples the scrape interval is measured on, ending at the query time.
INTERVAL_PROBE = "15m"
#: The interval taken when no metric has two samples of a series in the probe (the OpenCost default).
DEFAULT_INTERVAL_SECONDS = 60.0
#: absolute / relative tolerance of a match
TOLERANCE_ABSOLUTE = 0.01
TOLERANCE_RELATIVE = 0.005
_EXPLAIN = {
    "cpu": "sum over the day of container_cpu_allocation x node_cpu_hourly_cost of the pod's node",
    "ram": "sum over the day of container_memory_allocation_bytes / 2^30 x node_ram_hourly_cost",
    "gpu": "sum over the day of container_gpu_allocation x node_gpu_hourly_cost",
    "node": "sum over the day of node_total_hourly_cost = allocations' CPU + RAM + GPU cost + idle",
}


def check_day(end: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The day compared: the last complete UTC day before `end`."""
    stop = end.floor("D")
    return stop - DAY, stop


def _labels(namespaces: Sequence[str] | None) -> dict:
    return {"namespace": any_of(namespaces)} if namespaces else {}


def interval_queries(namespaces: Sequence[str] | None = None) -> dict[str, str]:
    """Per check, the raw samples (`METRIC[15m]`, at the query time) its metric's scrape interval is read from."""
    labels = _labels(namespaces)
    return {check: f"{selector(metric, **(labels if check != 'node' else {}))}[{INTERVAL_PROBE}]"
            for check, metric in INTEGRATED.items()}


def scrape_intervals(probes: Mapping[str, pd.DataFrame | None],
                     default: float = DEFAULT_INTERVAL_SECONDS) -> dict[str, float]:
    """Seconds between two samples of each check's metric, from the `interval_queries` results; a metric
    without two samples of a series there takes the median of the others (else `default`)."""
    measured = {check: scrape_interval_seconds(frame) if frame is not None and len(frame) else None
                for check, frame in probes.items()}
    known = [v for v in measured.values() if v]
    fallback = float(np.median(known)) if known else default
    return {check: measured.get(check) or fallback for check in CHECKS}


def prometheus_queries(namespaces: Sequence[str] | None = None, *,
                       scrape_interval_seconds: float | Mapping[str, float] = DEFAULT_INTERVAL_SECONDS
                       ) -> dict[str, str]:
    """The PromQL of each check, evaluated at the day's end - 1 s. `namespaces` (from the report's team filter)
    restricts the container metrics with a safely escaped matcher; `scrape_interval_seconds` is one interval
    or one per check (`scrape_intervals`)."""
    day = "86400s"
    intervals = scrape_interval_seconds if isinstance(scrape_interval_seconds, Mapping) else \
        dict.fromkeys(CHECKS, scrape_interval_seconds)
    labels = _labels(namespaces)

    def scale(check: str) -> str:
        return f"{float(intervals[check]):g} / 3600"

    def per_namespace(check: str, price: str, divisor: str = "") -> str:
        return (f"sum by (namespace) (sum_over_time({selector(INTEGRATED[check], **labels)}[{day}]){divisor} "
                f"* on(node) group_left() avg_over_time({selector(price)}[{day}])) * {scale(check)}")

    return {
        "cpu": per_namespace("cpu", "node_cpu_hourly_cost"),
        "ram": per_namespace("ram", "node_ram_hourly_cost", " / 1024^3"),
        "gpu": per_namespace("gpu", "node_gpu_hourly_cost"),
        "node": f"sum(sum_over_time({selector(INTEGRATED['node'])}[{day}])) * {scale('node')}",
    }


def query_time(day_end: pd.Timestamp) -> pd.Timestamp:
    """When the queries are evaluated: one second before the day ends (see the module notes)."""
    return day_end - pd.Timedelta(seconds=1)


def _prometheus_values(frame: pd.DataFrame | None) -> pd.Series:
    if frame is None or frame.empty:
        return pd.Series(dtype=float)
    if "namespace" in frame.columns:
        return frame.groupby("namespace")["value"].sum()
    return pd.Series({"(cluster)": float(frame["value"].sum())})


def cross_check(kubecost_day: pd.DataFrame, prometheus: Mapping[str, pd.DataFrame | None],
                namespaces: Sequence[str] | None = None) -> pd.DataFrame:
    """Compare one day: `kubecost_day` = Kubecost's costs per namespace for that day (a roll-up with a
    `namespace` column, `__idle__` included), `prometheus` = the result frames of `prometheus_queries` by check.
    One row per check and scope: `check`, `scope`, `kubecost`, `prometheus`, `difference` (Prometheus -
    Kubecost), `relative`, `status` (match | differs | missing in Prometheus | missing in Kubecost),
    `explanation`."""
    rows = []
    allocated = kubecost_day[kubecost_day["namespace"] != IDLE]
    if namespaces:
        allocated = allocated[allocated["namespace"].isin(namespaces)]
    for check in CHECKS:
        if check not in prometheus:
            continue
        measured = _prometheus_values(prometheus[check])
        if check == "node":
            expected = pd.Series({"(cluster)": float(kubecost_day[["cpu_cost", "ram_cost", "gpu_cost"]].sum().sum())})
        else:
            expected = allocated.groupby("namespace")[f"{check}_cost"].sum()
            if check == "gpu":
                expected = expected[expected > 0]
        for scope in sorted(set(expected.index) | set(measured.index), key=str):
            kube = float(expected.get(scope, np.nan))
            prom = float(measured.get(scope, np.nan))
            rows.append({"check": check, "scope": scope, "kubecost": kube, "prometheus": prom})
    table = pd.DataFrame(rows, columns=["check", "scope", "kubecost", "prometheus"])
    table["difference"] = table["prometheus"] - table["kubecost"]
    table["relative"] = table["difference"] / table["kubecost"].where(table["kubecost"].abs() > 0)
    close = table["difference"].abs() <= np.maximum(TOLERANCE_ABSOLUTE, TOLERANCE_RELATIVE * table["kubecost"].abs())
    table["status"] = np.select([table["prometheus"].isna(), table["kubecost"].isna(), close],
                                ["missing in Prometheus", "missing in Kubecost", "match"], "differs")
    table["explanation"] = table["check"].map(_EXPLAIN)
    return table
