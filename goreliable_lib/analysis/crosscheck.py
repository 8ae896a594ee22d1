"""Cross-check of Kubecost's allocation totals against the Prometheus cost metrics (OpenCost's
`pkg/costmodel/metrics.go`) for one whole UTC day.

What is compared (both sides should agree to the cent when the metrics are complete):
- per namespace, CPU cost = sum over the day of `container_cpu_allocation` (cores) x `node_cpu_hourly_cost`
  of the pod's node; RAM likewise with `container_memory_allocation_bytes` / 2^30 x `node_ram_hourly_cost`;
  GPU with `container_gpu_allocation` x `node_gpu_hourly_cost`;
- for the cluster, node cost = sum of `node_total_hourly_cost` = the allocations' CPU + RAM + GPU cost plus
  idle (PV, network, load balancer, shared and external costs are not node costs and are left out).

How the PromQL integrates: each sample holds an hourly price or an allocation; `sum_over_time(x[86400s])` x
scrape interval / 3600 is the integral over the day in hour units. Queries are evaluated one second before the
day ends: Prometheus 2 ranges include both ends (`[t - 86400s, t]`), so the range then holds every sample of
[day start, day end) - one at the day's very end would be the next day's first sample - and Prometheus 3's
left-open ranges hold the same ones. Prices are averaged over the day (`avg_over_time`; on-demand prices do
not change within a day) so containers that stop mid-day are not stretched by the 5-minute lookback a
subquery would add.

Differences that remain in real clusters: scrape gaps (Prometheus lower), Kubecost's reconciliation with the
cloud bill (Kubecost's figures are adjusted, the metrics list prices), and sub-minute pods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from goreliable_lib.analysis.cost import IDLE
from goreliable_lib.inputs.promql import any_of, selector

DAY = pd.Timedelta(days=1)
CHECKS = ("cpu", "ram", "gpu", "node")
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


def prometheus_queries(namespaces: Sequence[str] | None = None, *, scrape_interval_seconds: float = 60.0
                       ) -> dict[str, str]:
    """The PromQL of each check, evaluated at the day's end - 1 s. `namespaces` (from the report's team filter)
    restricts the container metrics with a safely escaped matcher."""
    day = "86400s"
    scale = f"{scrape_interval_seconds:g} / 3600"
    labels = {"namespace": any_of(namespaces)} if namespaces else {}

    def per_namespace(allocation: str, price: str, divisor: str = "") -> str:
        return (f"sum by (namespace) (sum_over_time({selector(allocation, **labels)}[{day}]){divisor} "
                f"* on(node) group_left() avg_over_time({selector(price)}[{day}])) * {scale}")

    return {
        "cpu": per_namespace("container_cpu_allocation", "node_cpu_hourly_cost"),
        "ram": per_namespace("container_memory_allocation_bytes", "node_ram_hourly_cost", " / 1024^3"),
        "gpu": per_namespace("container_gpu_allocation", "node_gpu_hourly_cost"),
        "node": f"sum(sum_over_time({selector('node_total_hourly_cost')}[{day}])) * {scale}",
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
