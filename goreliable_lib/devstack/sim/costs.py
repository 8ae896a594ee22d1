"""Simulated Kubecost allocations of the GoReliable EKS cluster, their Prometheus cost metrics, and the cost
ground truth.

The world (deterministic from `seed` and `as_of`):
- one cluster `go-reliable-eks` (us-east-1): four general m6i.2xlarge nodes, a g5.xlarge for vLLM, a
  g4dn.xlarge for KServe, and a g5.2xlarge training node that the autoscaler adds for KubeFlow training Jobs
  (Mondays and Thursdays, node up 00:00-08:00 UTC, Job running 01:00-07:00 UTC);
- teams by the `cost-team` label: app-platform (namespace go-reliable-production), ml-platform (ml-serving,
  kserve, kubeflow, mlflow, and the ML inference and LLM gateways in go-reliable-production, as the seed labels
  them), observability, platform; kube-system, cert-manager, the kubeflow Katib controller
  and a bare debug pod in `default` carry no `cost-team` label (they land in `__unallocated__`);
- hourly allocations per container for COST_HISTORY_DAYS days ending at `as_of`, and before them
  EARLIER_COST_DAYS more days built apart by the same rules (the same pods; see `_prepend_earlier_history`): the
  cost data holds the hours of the latest three DR drills (`sim.drills`), the older drills fall before it.

DR drills (`truth_drill_costs`): a drill's cost is the whole cluster's cost (every allocation and idle) over the
hours its window touches: from `disaster_declared` floored to the hour to its end (the last `recovered`, or the
`aborted` event) raised to the hour; none (NaN) when an hour of it is not in the cost data.

Usage follows traffic: a workload serving one of the metrics simulation's services (`Workload.traffic`: the
gateways, order-service, notification-worker, vLLM behind the LLM gateway, the KServe predictor behind the
inference gateway) follows that service's request shape (`timeline.traffic_load`, hourly means), the others the
cluster's diurnal shape; `traffic_sensitivity` says how much.

Cost rules (hour by hour, per container):
- cpu_cost = max(request, usage) cores x node CPU price; ram_cost likewise per GiB; gpu_cost = GPUs x GPU price;
- pv_cost = PV bytes x gp3 price; network_cost = cross-zone + internet egress; load_balancer_cost = the
  Service's NLB hourly price plus LCUs, split evenly over its pods; external_cost = out-of-cluster (S3/RDS)
  costs of MLflow;
- shared_cost: the EKS control-plane fee (CLUSTER_MANAGEMENT_HOURLY_COST) shared over the hour's allocations by
  their (pre-share) total cost, Kubecost's `shareTenancyCosts` with the weighted split;
- idle (`__idle__`) per hour and resource = the cost of the active nodes' CPU, RAM and GPU minus the
  allocations' cost of that resource.

Idle sharing rule (`shareIdle=true`, used by the server and the truth alike): each hour's idle cost of a
resource is shared over that hour's allocations of the cluster in proportion to their cost of that resource
(Kubecost's default "weighted" split, done per hour rather than per ETL set so totals do not depend on the
window or the step); a resource with no allocated cost in an hour is shared by total cost. The shared idle is
added to cpu_cost / ram_cost / gpu_cost. Filters never change the shares (they are computed on the whole
cluster), so a filtered team costs the same as in the unfiltered view.

The crash loop: notification-worker's first pod crash-loops for two days from
`as_of.floor("D") - CRASH_LOOP_DAYS_BEFORE_AS_OF` (2026-11-04 and -05 by default). Its log volume is shipped to
an external log endpoint, so the charges are internet egress: the pod's network_cost (network_internet_cost)
in namespace go-reliable-production.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from goreliable_lib.devstack.sim.timeline import (
    COST_HISTORY_DAYS,
    DEFAULT_AS_OF,
    DEFAULT_SEED,
    EARLIER_COST_DAYS,
    HISTORY_DAYS,
    traffic_load,
)

VERSION = "3"  # bump when the generated costs change (keys the stack cache)
CLUSTER = "go-reliable-eks"
REGION = "us-east-1"
CPU_HOURLY_COST = 0.031611  # per core-hour
RAM_HOURLY_COST_PER_GIB = 0.004237  # per GiB-hour
PV_MONTHLY_COST_PER_GIB = 0.08  # gp3
HOURS_PER_MONTH = 730.0
PV_HOURLY_COST_PER_GIB = PV_MONTHLY_COST_PER_GIB / HOURS_PER_MONTH
INTERNET_EGRESS_COST_PER_GB = 0.09
CROSS_ZONE_COST_PER_GB = 0.01
CLUSTER_MANAGEMENT_HOURLY_COST = 0.10
NLB_HOURLY_COST = 0.0225
CRASH_LOOP_DAYS_BEFORE_AS_OF = 19
CRASH_LOOP_DAYS = 2
CRASH_LOOP_LOG_GB_PER_HOUR = 12.0
GIB = 1024.0**3
HOUR = pd.Timedelta(hours=1)
NO_BACKFILL_LAST = pd.Timedelta(hours=3)  # the stack never backfills the newest 3 hours
IDLE = "__idle__"
UNALLOCATED = "__unallocated__"
TEAM_LABEL = "cost-team"

# node type -> (cores, GiB, GPUs, GPU hourly price)
NODE_TYPES: dict[str, tuple[int, int, int, float]] = {
    "m6i.2xlarge": (8, 32, 0, 0.0),
    "g5.xlarge": (4, 16, 1, 0.811764),
    "g4dn.xlarge": (4, 16, 1, 0.331764),
    "g5.2xlarge": (8, 32, 1, 0.823528),
}
GENERAL_NODES = [f"ip-10-0-{zone}-{n}.ec2.internal" for zone, n in ((1, 23), (2, 57), (3, 91), (1, 140))]
VLLM_NODE = "ip-10-0-4-12.ec2.internal"
KSERVE_NODE = "ip-10-0-5-33.ec2.internal"
TRAINING_NODE = "ip-10-0-9-41.ec2.internal"
CRASH_LOOP_CONTROLLER = "notification-worker"
AGGREGATE_PROPERTIES = ("cluster", "node", "namespace", "controllerKind", "controller", "pod", "container", "service")


@dataclasses.dataclass(frozen=True)
class Workload:
    """A controller's pods: requests per pod, utilisation, and what else it costs."""

    namespace: str
    kind: str  # deployment | statefulset | daemonset | job | "" (bare pod)
    name: str
    team: str | None
    replicas: int
    cpu: float  # cores requested per pod
    ram_gib: float
    cpu_util: float  # usage / request at average traffic
    ram_util: float
    traffic_sensitivity: float = 0.0  # 0 = flat usage, 1 = usage follows traffic
    gpu: int = 0
    pv_gib: float = 0.0
    egress_gb_per_hour: float = 0.0  # per pod at average traffic
    load_balancer: bool = False
    external_hourly: float = 0.0  # per pod
    service: str = ""
    node: str | None = None  # pinned node (GPU workloads)
    traffic: str = ""  # the metrics simulation's traffic component its usage follows ("" = the cluster's shape)


WORKLOADS: list[Workload] = [
    # app-platform: the Go services and their state
    Workload("go-reliable-production", "deployment", "api-gateway", "app-platform", 3, 1.0, 2.0, 0.8, 0.6, 1.0,
             egress_gb_per_hour=0.35, service="api-gateway", traffic="api-gateway"),
    Workload("go-reliable-production", "deployment", "order-service", "app-platform", 3, 1.0, 2.0, 0.7, 0.55, 1.0,
             egress_gb_per_hour=0.05, service="order-service", traffic="orders/order-service"),
    Workload("go-reliable-production", "deployment", CRASH_LOOP_CONTROLLER, "app-platform", 2, 0.5, 1.0, 0.5, 0.5,
             0.8, egress_gb_per_hour=0.02, service="notification-worker",
             traffic="notifications/notification-worker"),
    # the ML and LLM gateways carry `cost-team: ml-platform` (the seed), in the application's namespace
    Workload("go-reliable-production", "deployment", "ml-inference-gateway", "ml-platform", 2, 0.5, 1.0, 0.6, 0.5,
             1.0, egress_gb_per_hour=0.05, service="ml-inference-gateway",
             traffic="inference_requests/ml-inference-gateway"),
    Workload("go-reliable-production", "deployment", "llm-gateway", "ml-platform", 2, 0.5, 1.0, 0.6, 0.5, 1.0,
             egress_gb_per_hour=0.08, service="llm-gateway", traffic="llm-gateway"),
    Workload("go-reliable-production", "statefulset", "postgres", "app-platform", 1, 2.0, 8.0, 0.55, 0.8, 0.6,
             pv_gib=200, service="postgres"),
    Workload("go-reliable-production", "statefulset", "nats", "app-platform", 3, 0.5, 1.0, 0.4, 0.6, 0.7,
             pv_gib=20, service="nats"),
    # ml-platform
    Workload("ml-serving", "deployment", "vllm-mistral-7b", "ml-platform", 1, 3.0, 12.0, 0.7, 0.85, 0.5, gpu=1,
             egress_gb_per_hour=0.02, service="vllm", node=VLLM_NODE, traffic="llm-gateway"),
    Workload("ml-serving", "deployment", "recommendation-predictor", "ml-platform", 1, 2.0, 6.0, 0.6, 0.7, 0.6,
             gpu=1, service="recommendation", node=KSERVE_NODE, traffic="inference_requests/ml-inference-gateway"),
    Workload("kserve", "deployment", "kserve-controller-manager", "ml-platform", 1, 0.2, 0.5, 0.3, 0.6),
    Workload("kubeflow", "deployment", "ml-pipeline", "ml-platform", 1, 0.5, 1.0, 0.3, 0.6, 0.2),
    Workload("kubeflow", "deployment", "katib-controller", None, 1, 0.2, 0.5, 0.2, 0.5),
    Workload("mlflow", "deployment", "mlflow", "ml-platform", 1, 0.5, 2.0, 0.3, 0.5, 0.3,
             external_hourly=0.05, service="mlflow"),
    # observability
    Workload("observability", "statefulset", "prometheus", "observability", 1, 2.0, 8.0, 0.7, 0.8, 0.3,
             pv_gib=100, service="prometheus"),
    Workload("observability", "deployment", "grafana", "observability", 1, 0.5, 1.0, 0.2, 0.5, 0.5,
             pv_gib=10, load_balancer=True, service="grafana"),
    Workload("observability", "statefulset", "loki", "observability", 1, 1.0, 4.0, 0.6, 0.7, 0.6, pv_gib=50,
             service="loki"),
    Workload("observability", "deployment", "tempo", "observability", 1, 0.5, 2.0, 0.5, 0.6, 0.6, service="tempo"),
    Workload("observability", "daemonset", "otel-collector", "observability", 0, 0.2, 0.5, 0.5, 0.6, 0.8,
             egress_gb_per_hour=0.01),
    # platform
    Workload("argocd", "statefulset", "argocd-application-controller", "platform", 1, 1.0, 2.0, 0.4, 0.7, 0.1),
    Workload("argocd", "deployment", "argocd-server", "platform", 1, 0.25, 0.5, 0.2, 0.5, 0.2,
             service="argocd-server"),
    Workload("argocd", "deployment", "argocd-repo-server", "platform", 1, 0.25, 0.5, 0.3, 0.5, 0.1),
    Workload("ingress-nginx", "deployment", "ingress-nginx-controller", "platform", 2, 0.5, 0.5, 0.5, 0.5, 1.0,
             load_balancer=True, service="ingress-nginx-controller"),
    Workload("external-secrets", "deployment", "external-secrets", "platform", 1, 0.1, 0.25, 0.3, 0.6),
    Workload("kyverno", "deployment", "kyverno-admission-controller", "platform", 3, 0.2, 0.5, 0.4, 0.6, 0.4),
    # no cost-team label
    Workload("kube-system", "deployment", "coredns", None, 2, 0.1, 0.07, 0.4, 0.5, 0.5, service="kube-dns"),
    Workload("kube-system", "daemonset", "aws-node", None, 0, 0.025, 0.1, 0.8, 0.6),
    Workload("kube-system", "daemonset", "kube-proxy", None, 0, 0.1, 0.1, 0.2, 0.5),
    Workload("kube-system", "deployment", "ebs-csi-controller", None, 2, 0.1, 0.25, 0.2, 0.5),
    Workload("cert-manager", "deployment", "cert-manager", None, 1, 0.1, 0.25, 0.1, 0.5),
    Workload("default", "", "", None, 1, 0.1, 0.25, 0.05, 0.3),  # `kubectl run debug-shell`, no controller
]
TRAINING_JOB = Workload("kubeflow", "job", "recsys-train", "ml-platform", 1, 6.0, 24.0, 0.85, 0.75, 0.0, gpu=1,
                        node=TRAINING_NODE)
TRAINING_WEEKDAYS = (0, 3)  # Monday, Thursday
TRAINING_NODE_HOURS = (0, 8)
TRAINING_JOB_HOURS = (1, 7)

# per-hour numeric columns of an allocation (everything the Allocation API sums)
COST_COLUMNS = ["cpu_cost", "gpu_cost", "ram_cost", "pv_cost", "network_cost", "load_balancer_cost",
                "shared_cost", "external_cost"]
IDLE_SHARE_COLUMNS = ["cpu_idle_share", "ram_idle_share", "gpu_idle_share"]
USAGE_COLUMNS = ["cpu_core_hours", "cpu_core_request_hours", "cpu_core_usage_hours", "ram_byte_hours",
                 "ram_byte_request_hours", "ram_byte_usage_hours", "gpu_hours", "pv_byte_hours",
                 "network_transfer_bytes", "network_receive_bytes", "network_cross_zone_cost",
                 "network_cross_region_cost", "network_internet_cost"]
HOURLY_COLUMNS = COST_COLUMNS + IDLE_SHARE_COLUMNS + USAGE_COLUMNS


def _pod_suffix(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(list("bcdfghjklmnpqrstvwxz2456789"), size=length))


def sanitize_label(name: str) -> str:
    """Kubecost's label sanitising (Prometheus label rules): `cost-team` -> `cost_team`."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


class CostSimulation:
    """Hourly allocations per container, idle per hour, Prometheus cost metrics and exact totals."""

    def __init__(self, seed: int = DEFAULT_SEED, as_of: pd.Timestamp | str = DEFAULT_AS_OF) -> None:
        self.seed = int(seed)
        as_of = pd.Timestamp(as_of)
        as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
        self.traffic_as_of = as_of.floor("min")  # the metrics simulation's clock, for the traffic shape
        self.as_of = as_of.floor("h")
        self.hours = pd.date_range(self.as_of - pd.Timedelta(days=COST_HISTORY_DAYS), self.as_of, freq="h",
                                   inclusive="left").as_unit("ns")
        day = self.as_of.floor("D") - pd.Timedelta(days=CRASH_LOOP_DAYS_BEFORE_AS_OF)
        self.crash_loop_window: tuple[pd.Timestamp, pd.Timestamp] = (day, day + pd.Timedelta(days=CRASH_LOOP_DAYS))
        self._build()
        self._prepend_earlier_history()

    # ------------------------------------------------------------------ world
    def _build(self) -> None:
        rng = np.random.default_rng([self.seed, 0xC057])
        hours = self.hours
        n_hours = len(hours)
        hour_of_day = hours.hour.to_numpy()
        weekday = hours.day_of_week.to_numpy()
        # traffic: diurnal peak ~15:00 UTC, weekends at 55 %
        diurnal = 1.0 + 0.45 * np.sin((hour_of_day - 9) / 24 * 2 * np.pi)
        self.traffic = diurnal * np.where(weekday >= 5, 0.55, 1.12)

        # nodes
        training_active = np.isin(weekday, TRAINING_WEEKDAYS) & (hour_of_day >= TRAINING_NODE_HOURS[0]) & (
            hour_of_day < TRAINING_NODE_HOURS[1])
        nodes = [(n, "m6i.2xlarge", np.ones(n_hours, bool)) for n in GENERAL_NODES]
        nodes += [(VLLM_NODE, "g5.xlarge", np.ones(n_hours, bool)),
                  (KSERVE_NODE, "g4dn.xlarge", np.ones(n_hours, bool)),
                  (TRAINING_NODE, "g5.2xlarge", training_active)]
        self.nodes = pd.DataFrame({
            "node": [n for n, _, _ in nodes], "instance_type": [t for _, t, _ in nodes],
            "cores": [NODE_TYPES[t][0] for _, t, _ in nodes], "ram_gib": [NODE_TYPES[t][1] for _, t, _ in nodes],
            "gpus": [NODE_TYPES[t][2] for _, t, _ in nodes], "gpu_hourly_cost": [NODE_TYPES[t][3] for _, t, _ in nodes],
        })
        self.nodes["total_hourly_cost"] = (self.nodes["cores"] * CPU_HOURLY_COST + self.nodes["ram_gib"]
                                           * RAM_HOURLY_COST_PER_GIB
                                           + self.nodes["gpus"] * self.nodes["gpu_hourly_cost"])
        self.node_active = np.stack([a for _, _, a in nodes])  # (nodes, hours)

        # containers: one per pod (each pod runs one container named after its controller)
        rows: list[dict[str, object]] = []
        active: list[np.ndarray] = []
        load = {n: 0.0 for n in GENERAL_NODES}
        always = np.ones(n_hours, bool)
        for wl in WORKLOADS:
            if wl.kind == "daemonset":
                placements = [(n, a, f"{wl.name}-{_pod_suffix(rng, 5)}") for n, _, a in nodes]
            else:
                template = _pod_suffix(rng, 9) + "-" if wl.kind == "deployment" else ""
                placements = []
                for i in range(wl.replicas):
                    if wl.node:
                        node = wl.node
                    else:
                        node = min(GENERAL_NODES, key=lambda n: load[n])
                        load[node] += wl.cpu
                    if wl.kind == "statefulset":
                        pod = f"{wl.name}-{i}"
                    elif wl.kind == "":
                        pod = "debug-shell"
                    else:
                        pod = f"{wl.name}-{template}{_pod_suffix(rng, 5)}"
                    placements.append((node, always, pod))
            for node, act, pod in placements:
                rows.append(self._container_row(wl, node, pod, rng))
                active.append(act)
        # training jobs: one Job per training day
        for day in pd.date_range(hours[0].floor("D"), hours[-1].floor("D"), freq="D"):
            if day.day_of_week not in TRAINING_WEEKDAYS:
                continue
            start, end = (day + pd.Timedelta(hours=TRAINING_JOB_HOURS[0]),
                          day + pd.Timedelta(hours=TRAINING_JOB_HOURS[1]))
            act = (hours >= start) & (hours < end)
            if not act.any():
                continue
            job = dataclasses.replace(TRAINING_JOB, name=f"recsys-train-{day:%Y%m%d}")
            rows.append(self._container_row(job, TRAINING_NODE, f"{job.name}-{_pod_suffix(rng, 5)}", rng))
            active.append(np.asarray(act))
        containers = pd.DataFrame(rows)
        self.containers = containers
        self.active = np.stack(active)  # (containers, hours)
        self._compute_costs(rng)

    @staticmethod
    def _container_row(wl: Workload, node: str, pod: str, rng: np.random.Generator) -> dict[str, object]:
        labels = {"app": wl.name or pod}
        if wl.team:
            labels[TEAM_LABEL] = wl.team
        return {
            "cluster": CLUSTER, "node": node, "namespace": wl.namespace, "controllerKind": wl.kind,
            "controller": wl.name, "pod": pod, "container": wl.name or pod, "service": wl.service,
            "team": wl.team, "labels": labels, "cpu_request": wl.cpu, "ram_request": wl.ram_gib * GIB,
            "cpu_util": wl.cpu_util, "ram_util": wl.ram_util, "traffic_sensitivity": wl.traffic_sensitivity,
            "gpu": wl.gpu, "pv_bytes": wl.pv_gib * GIB,
            "pv": f"pvc-{rng.integers(0, 2**63):016x}"[:20] if wl.pv_gib else "",
            "egress_gb": wl.egress_gb_per_hour, "load_balancer": wl.load_balancer,
            "external_hourly": wl.external_hourly, "traffic": wl.traffic,
        }

    def _compute_costs(self, rng: np.random.Generator) -> None:
        c = self.containers
        act = self.active
        shape = act.shape
        col = lambda name: c[name].to_numpy(float)[:, None]  # noqa: E731
        traffic = np.repeat(self.traffic[None, :], len(c), axis=0)
        for component in sorted(set(c["traffic"]) - {""}):
            traffic[(c["traffic"] == component).to_numpy()] = self.hourly_load(component)[None, :]
        sens = col("traffic_sensitivity")
        load = 1.0 + sens * (traffic - 1.0)
        cpu_usage = col("cpu_request") * np.clip(col("cpu_util") * load + rng.normal(0, 0.04, shape), 0.01, None)
        ram_usage = col("ram_request") * np.clip(col("ram_util") * (1 + 0.15 * sens * (traffic - 1))
                                                 + rng.normal(0, 0.02, shape), 0.05, 0.98)
        # the crash loop: restarts burn CPU and ship a flood of logs
        crash_pod = self.crash_loop_pod
        crash = (c["pod"].to_numpy() == crash_pod)[:, None] & (
            (self.hours >= self.crash_loop_window[0]) & (self.hours < self.crash_loop_window[1]))[None, :]
        cpu_usage = np.where(crash, col("cpu_request") * 0.9, cpu_usage)
        cpu_request = np.broadcast_to(col("cpu_request"), shape)
        ram_request = np.broadcast_to(col("ram_request"), shape)
        cpu_alloc = np.maximum(cpu_request, cpu_usage)
        ram_alloc = np.maximum(ram_request, ram_usage)
        gpu = np.broadcast_to(col("gpu"), shape)
        egress_gb = col("egress_gb") * np.clip(load * (1 + rng.normal(0, 0.05, shape)), 0, None)
        egress_gb = egress_gb + np.where(crash, CRASH_LOOP_LOG_GB_PER_HOUR * (1 + rng.normal(0, 0.05, shape)), 0.0)
        internet_share = np.where(col("egress_gb") > 0.1, 0.7, 0.3)
        internet_share = np.where(crash, 0.97, internet_share)
        internet_gb = egress_gb * internet_share
        cross_zone_gb = egress_gb - internet_gb

        m = act.astype(float)
        h: dict[str, np.ndarray] = {}
        h["cpu_core_hours"] = cpu_alloc * m
        h["cpu_core_request_hours"] = cpu_request * m
        h["cpu_core_usage_hours"] = cpu_usage * m
        h["ram_byte_hours"] = ram_alloc * m
        h["ram_byte_request_hours"] = ram_request * m
        h["ram_byte_usage_hours"] = ram_usage * m
        h["gpu_hours"] = gpu * m
        h["pv_byte_hours"] = np.broadcast_to(col("pv_bytes"), shape) * m
        h["network_transfer_bytes"] = egress_gb * 1e9 * m
        h["network_receive_bytes"] = egress_gb * 0.8e9 * m
        h["network_internet_cost"] = internet_gb * INTERNET_EGRESS_COST_PER_GB * m
        h["network_cross_zone_cost"] = cross_zone_gb * CROSS_ZONE_COST_PER_GB * m
        h["network_cross_region_cost"] = np.zeros(shape)
        h["network_cost"] = h["network_internet_cost"] + h["network_cross_zone_cost"]
        h["cpu_cost"] = h["cpu_core_hours"] * CPU_HOURLY_COST
        h["ram_cost"] = h["ram_byte_hours"] / GIB * RAM_HOURLY_COST_PER_GIB
        gpu_price = self.nodes.set_index("node")["gpu_hourly_cost"].reindex(c["node"]).to_numpy(float)[:, None]
        h["gpu_cost"] = h["gpu_hours"] * gpu_price
        h["pv_cost"] = h["pv_byte_hours"] / GIB * PV_HOURLY_COST_PER_GIB
        # load balancers: one NLB per LoadBalancer Service, hourly fee + LCUs, split over its pods
        lb = c["load_balancer"].to_numpy(bool)
        lb_cost = np.zeros(shape)
        for ctrl in c.loc[lb, "controller"].unique():
            members = (c["controller"] == ctrl).to_numpy()
            service_hourly = NLB_HOURLY_COST + 0.006 * self.traffic * (2.0 if ctrl.startswith("ingress") else 0.1)
            lb_cost[members] = service_hourly[None, :] / members.sum()
        h["load_balancer_cost"] = lb_cost * m
        h["external_cost"] = np.broadcast_to(col("external_hourly"), shape) * m
        pre_share = sum(h[k] for k in ("cpu_cost", "ram_cost", "gpu_cost", "pv_cost", "network_cost",
                                       "load_balancer_cost", "external_cost"))
        h["shared_cost"] = CLUSTER_MANAGEMENT_HOURLY_COST * pre_share / pre_share.sum(axis=0, keepdims=True)

        # idle per hour and resource = active nodes' capacity cost - allocated cost
        nodes = self.nodes
        node_m = self.node_active.astype(float)
        idle = {
            "cpu_cost": (nodes["cores"].to_numpy()[:, None] * node_m).sum(0) * CPU_HOURLY_COST - h["cpu_cost"].sum(0),
            "ram_cost": (nodes["ram_gib"].to_numpy()[:, None] * node_m).sum(0) * RAM_HOURLY_COST_PER_GIB
            - h["ram_cost"].sum(0),
            "gpu_cost": ((nodes["gpus"] * nodes["gpu_hourly_cost"]).to_numpy()[:, None] * node_m).sum(0)
            - h["gpu_cost"].sum(0),
        }
        idle["cpu_core_hours"] = (nodes["cores"].to_numpy()[:, None] * node_m).sum(0) - h["cpu_core_hours"].sum(0)
        idle["ram_byte_hours"] = ((nodes["ram_gib"].to_numpy()[:, None] * node_m).sum(0) * GIB
                                  - h["ram_byte_hours"].sum(0))
        idle["gpu_hours"] = (nodes["gpus"].to_numpy()[:, None] * node_m).sum(0) - h["gpu_hours"].sum(0)
        for key in ("cpu_cost", "ram_cost", "gpu_cost"):
            if (idle[key] < -1e-9).any():
                raise AssertionError(f"simulated allocations exceed node capacity ({key})")
            idle[key] = np.clip(idle[key], 0.0, None)
        self.idle_hourly = pd.DataFrame(idle, index=self.hours)
        # shareIdle: per hour, weighted by each allocation's cost of the resource
        total_pre_idle = pre_share + h["shared_cost"]
        for resource in ("cpu", "ram", "gpu"):
            cost = h[f"{resource}_cost"]
            denom = cost.sum(0, keepdims=True)
            weights = np.where(denom > 0, cost / np.where(denom > 0, denom, 1.0),
                               total_pre_idle / total_pre_idle.sum(0, keepdims=True))
            h[f"{resource}_idle_share"] = weights * idle[f"{resource}_cost"][None, :]
        self.matrices = {k: np.ascontiguousarray(v, dtype=float) for k, v in h.items()}

    def built_over(self, hours: pd.DatetimeIndex) -> CostSimulation:
        """A world of this seed and clock built by `_build` over `hours` alone (no earlier history prepended)."""
        part = object.__new__(CostSimulation)
        part.seed, part.as_of, part.traffic_as_of = self.seed, self.as_of, self.traffic_as_of
        part.crash_loop_window, part.hours = self.crash_loop_window, hours
        part._build()
        return part

    # ------------------------------------------------------------------ the earlier history (the drills' hours)
    def _prepend_earlier_history(self) -> None:
        """Put EARLIER_COST_DAYS of hours in front of the history: a world built apart over those hours by the
        same `_build` (the same seeded pods; its own training Jobs), so the COST_HISTORY_DAYS keep exactly the
        values they had. Every hour's costs depend on that hour alone (shared and idle costs are split per hour),
        so the two parts join without a seam: containers are matched by pod, the earlier-only ones (training
        Jobs) appended after the others."""
        earlier = self.built_over(pd.date_range(self.hours[0] - pd.Timedelta(days=EARLIER_COST_DAYS), self.hours[0],
                                                freq="h", inclusive="left").as_unit("ns"))
        index_of_pod = {pod: i for i, pod in enumerate(self.containers["pod"])}
        new = ~earlier.containers["pod"].isin(index_of_pod).to_numpy()
        rows = np.array([index_of_pod.get(pod, -1) for pod in earlier.containers["pod"]])
        rows[new] = len(self.containers) + np.arange(int(new.sum()))
        n_containers, n_earlier = len(self.containers) + int(new.sum()), len(earlier.hours)

        def joined(before: np.ndarray, after: np.ndarray) -> np.ndarray:
            out = np.zeros((n_containers, n_earlier + after.shape[1]), dtype=after.dtype)
            out[rows, :n_earlier] = before
            out[:after.shape[0], n_earlier:] = after
            return out

        self.active = joined(earlier.active, self.active)
        self.matrices = {k: np.ascontiguousarray(joined(earlier.matrices[k], v)) for k, v in self.matrices.items()}
        self.containers = pd.concat([self.containers, earlier.containers[new]], ignore_index=True)
        self.hours = earlier.hours.append(self.hours)
        self.traffic = np.concatenate([earlier.traffic, self.traffic])
        self.node_active = np.concatenate([earlier.node_active, self.node_active], axis=1)
        self.idle_hourly = pd.concat([earlier.idle_hourly, self.idle_hourly])

    def hourly_load(self, component: str) -> np.ndarray:
        """A metrics traffic component's mean load per simulated hour [H, H+1h): the minutes H+1m .. H+1h, whose
        requests a scraper counts in that hour (`timeline.traffic_load`, the metrics simulation's shape)."""
        minutes = pd.date_range(self.hours[0] + pd.Timedelta(minutes=1), periods=len(self.hours) * 60, freq="min")
        load = traffic_load(self.seed, self.traffic_as_of, component, minutes)
        return load.reshape(len(self.hours), 60).mean(axis=1)

    @property
    def crash_loop_pod(self) -> str:
        """The notification-worker pod that crash-loops."""
        pods = self.containers.loc[self.containers["controller"] == CRASH_LOOP_CONTROLLER, "pod"]
        return str(pods.iloc[0])

    # ------------------------------------------------------------------ views for the server
    @functools.cached_property
    def hourly(self) -> pd.DataFrame:
        """Long frame, one row per active (container, hour), sorted by hour: `hour_index`, `container` (row of
        `containers`), then HOURLY_COLUMNS (amounts for that hour)."""
        hour_idx, cont_idx = np.nonzero(self.active.T)  # (hour, container) order: sorted by hour
        frame = pd.DataFrame({"hour_index": hour_idx.astype(np.int64), "container": cont_idx.astype(np.int64)})
        for name in HOURLY_COLUMNS:
            frame[name] = self.matrices[name][cont_idx, hour_idx]
        return frame

    # ------------------------------------------------------------------ keys and truth
    def keys(self, aggregate: str | list[str] | None, *, label_key_form: str = "value") -> np.ndarray:
        """The allocation name of each container under an aggregation (Kubecost's rules; `label:NAME`
        gives the value, or `name=value` with label_key_form="name=value"; missing -> __unallocated__)."""
        parts = [p.strip() for p in aggregate.split(",")] if isinstance(aggregate, str) else list(aggregate or [])
        c = self.containers
        if not parts:
            return (c["cluster"] + "/" + c["node"] + "/" + c["namespace"] + "/" + c["pod"] + "/"
                    + c["container"]).to_numpy(object)
        columns: list[np.ndarray] = []
        for part in parts:
            if part.startswith("label:"):
                name = part[len("label:"):]
                found = [labels.get(name, labels.get(sanitize_label(name))) for labels in c["labels"]]
                prefix = f"{name}=" if label_key_form == "name=value" else ""
                columns.append(np.array([UNALLOCATED if v is None else prefix + v for v in found], dtype=object))
            elif part.startswith("annotation:"):
                columns.append(np.full(len(c), UNALLOCATED, object))
            elif part == "controller":
                values = np.where(c["controller"] == "", UNALLOCATED, c["controllerKind"] + ":" + c["controller"])
                columns.append(values.astype(object))
            elif part in AGGREGATE_PROPERTIES:
                columns.append(c[part].where(c[part] != "", UNALLOCATED).to_numpy(object))
            else:
                raise ValueError(f"unknown aggregate {part!r}")
        out = columns[0]
        for more in columns[1:]:
            out = out + "/" + more
        return out

    def hour_weights(self, start: object, end: object) -> np.ndarray:
        """Fraction of each simulated hour inside [start, end)."""
        start, end = _utc(start), _utc(end)
        lo = self.hours.asi8
        hi = lo + HOUR.value
        overlap = np.clip(np.minimum(hi, end.value) - np.maximum(lo, start.value), 0, None)
        return overlap / HOUR.value

    def truth_costs(self, start: object, end: object, aggregate: str | None = "namespace", *,
                    share_idle: bool = False, idle: bool = True, label_key_form: str = "value") -> pd.DataFrame:
        """Exact cost per allocation name over [start, end): the cost columns and total_cost (idle row
        `__idle__` when idle and not share_idle)."""
        weights = self.hour_weights(start, end)
        keys = self.keys(aggregate, label_key_form=label_key_form)
        sums = {k: self.matrices[k] @ weights for k in COST_COLUMNS}
        if share_idle:
            for resource in ("cpu", "ram", "gpu"):
                sums[f"{resource}_cost"] = sums[f"{resource}_cost"] + self.matrices[f"{resource}_idle_share"] @ weights
        present = (self.active.astype(float) @ weights) > 0
        frame = pd.DataFrame(sums)[present]
        frame["name"] = keys[present]
        out = frame.groupby("name", sort=True)[COST_COLUMNS].sum()
        if idle and not share_idle and weights.any():
            idle_row = {k: 0.0 for k in COST_COLUMNS}
            for k in ("cpu_cost", "ram_cost", "gpu_cost"):
                idle_row[k] = float(self.idle_hourly[k].to_numpy() @ weights)
            out.loc[IDLE] = pd.Series(idle_row)
        out["total_cost"] = out[COST_COLUMNS].sum(axis=1)
        return out

    def truth_totals(self, start: object, end: object, aggregate: str | None = "namespace", *,
                     share_idle: bool = False, idle: bool = True, label_key_form: str = "value") -> dict[str, float]:
        """Exact total cost per allocation name over [start, end)."""
        frame = self.truth_costs(start, end, aggregate, share_idle=share_idle, idle=idle, label_key_form=label_key_form)
        return {str(k): float(v) for k, v in frame["total_cost"].items()}

    def truth_daily(self, start: object, end: object, aggregate: str | None = "namespace", *,
                    share_idle: bool = False, idle: bool = True) -> pd.DataFrame:
        """Exact cost per UTC day and allocation name: columns `day`, `name`, the cost columns, `total_cost`."""
        start, end = _utc(start), _utc(end)
        frames = []
        for day in pd.date_range(start.floor("D"), end, freq="D", inclusive="left"):
            lo, hi = max(day, start), min(day + pd.Timedelta(days=1), end)
            if lo >= hi:
                continue
            frame = self.truth_costs(lo, hi, aggregate, share_idle=share_idle, idle=idle).reset_index()
            frame.insert(0, "day", day)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def truth_drill_costs(self, drills: pd.DataFrame) -> pd.DataFrame:
        """Each drill's cost (the rule in the module doc) from `DrillSimulation.truth_drills()` (`drill_id`,
        `started_at`, `ended_at`): columns drill_id, cost_start, cost_end, cost_hours, hours_in_data and cost (the
        sum of every container's cost columns and the idle cost of those whole hours; NaN when an hour is missing)."""
        totals = sum(self.matrices[k] for k in COST_COLUMNS).sum(axis=0) + self.idle_hourly[
            ["cpu_cost", "ram_cost", "gpu_cost"]].to_numpy().sum(axis=1)
        rows = []
        for drill in drills.itertuples(index=False):
            start = drill.started_at.floor("h")
            end = max(drill.ended_at.ceil("h"), start + HOUR)
            held = (self.hours >= start) & (self.hours < end)
            hours = int(round((end - start) / HOUR))
            rows.append({"drill_id": drill.drill_id, "cost_start": start, "cost_end": end, "cost_hours": hours,
                         "hours_in_data": int(held.sum()),
                         "cost": float(totals[held].sum()) if held.sum() == hours else float("nan")})
        return pd.DataFrame(rows, columns=["drill_id", "cost_start", "cost_end", "cost_hours", "hours_in_data",
                                           "cost"])

    def monthly_budget_namespace_cost(self, month: str) -> float:
        """Cost of go-reliable-production in a calendar month like '2026-10' (the seed's $500 budget scope)."""
        start = pd.Timestamp(month + "-01", tz="UTC")
        return self.truth_totals(start, start + pd.DateOffset(months=1))["go-reliable-production"]

    # ------------------------------------------------------------------ Prometheus cost metrics
    def write_openmetrics(self, path: str | Path, *, days: float = HISTORY_DAYS, step_seconds: int = 60,
                          skip_last: pd.Timedelta = NO_BACKFILL_LAST, start: pd.Timestamp | None = None,
                          end: pd.Timestamp | None = None) -> dict[str, int]:
        """Write the Kubecost/OpenCost cost metrics of the last `days` days (ending `skip_last` before as_of,
        which the stack must not backfill) as one complete OpenMetrics file ending with `# EOF`; `start`/`end`
        narrow it to the whole hours in [start, end) (the stack writes one file per backfill block).

        Values are constant within an hour and equal the allocations': `container_cpu_allocation` =
        max(request, usage) cores, so the cpu_cost of [start, end) is
        `sum_over_time((container_cpu_allocation * on(node) group_left() node_cpu_hourly_cost)[86399s:1m]) / 60`
        evaluated at end - 1m (Prometheus 2 ranges include both ends, hence 86399s rather than 1d).
        Returns the series and sample counts."""
        window_end = self.as_of - skip_last
        window_start = max(self.as_of - pd.Timedelta(days=days), self.hours[0])
        start = window_start if start is None else max(window_start, pd.Timestamp(start))
        end = window_end if end is None else min(window_end, pd.Timestamp(end))
        if step_seconds <= 0 or 3600 % step_seconds or (end - start) <= pd.Timedelta(0):
            raise ValueError("step_seconds must divide an hour and the window must be positive")
        sel = (self.hours >= start) & (self.hours < end)
        hour_index = np.nonzero(sel)[0]
        per_hour = 3600 // step_seconds
        stamps = (self.hours[hour_index].asi8 // 10**9)[:, None] + np.arange(per_hour)[None, :] * step_seconds
        stamps = stamps.ravel()
        # " <unix seconds>\n" per sample; lines are joined with Arrow string kernels (no Python string per line)
        stamp_text = pc.binary_join_element_wise(" ", pc.cast(pa.array(stamps), pa.string()), "\n", "")
        sample_hour = pa.array(np.repeat(np.arange(len(hour_index)), per_hour))
        families: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {}

        def add(family: str, labels: dict[str, str], hourly: np.ndarray, active: np.ndarray) -> None:
            label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
            families.setdefault(family, []).append((f"{family}{{{label_text}}} ", hourly[hour_index],
                                                    active[hour_index]))

        nodes = self.nodes
        for i, node in nodes.iterrows():
            labels = {"node": node["node"], "instance_type": node["instance_type"], "region": REGION}
            act = self.node_active[i]
            ones = np.ones(len(self.hours))
            add("node_total_hourly_cost", labels, ones * node["total_hourly_cost"], act)
            add("node_cpu_hourly_cost", labels, ones * CPU_HOURLY_COST, act)
            add("node_ram_hourly_cost", labels, ones * RAM_HOURLY_COST_PER_GIB, act)
            add("node_gpu_hourly_cost", labels, ones * node["gpu_hourly_cost"], act)
        c = self.containers
        m = self.matrices
        for i, row in c.iterrows():
            act = self.active[i]
            labels = {"namespace": row["namespace"], "pod": row["pod"], "container": row["container"],
                      "node": row["node"]}
            add("container_cpu_allocation", labels, m["cpu_core_hours"][i], act)
            add("container_memory_allocation_bytes", labels, m["ram_byte_hours"][i], act)
            if row["gpu"]:
                add("container_gpu_allocation", labels, m["gpu_hours"][i], act)
            pod_labels = {"namespace": row["namespace"], "pod": row["pod"]}
            for name, value in sorted(row["labels"].items()):
                pod_labels["label_" + sanitize_label(name)] = value
            add("kube_pod_labels", pod_labels, np.ones(len(self.hours)), act)
            if row["pv"]:
                add("pv_hourly_cost", {"persistentvolume": row["pv"], "namespace": row["namespace"],
                                       "volumename": row["pv"]},
                    np.full(len(self.hours), PV_HOURLY_COST_PER_GIB), act)
        for ctrl in c.loc[c["load_balancer"].astype(bool), "controller"].unique():
            members = (c["controller"] == ctrl).to_numpy()
            hourly = m["load_balancer_cost"][members].sum(0)
            ns = c.loc[members, "namespace"].iloc[0]
            add("kubecost_load_balancer_cost", {"namespace": ns, "service_name": ctrl, "ingress_ip": "10.0.0.1"},
                hourly, np.ones(len(self.hours), bool))
        series = 0
        samples = 0
        with open(path, "wb") as out:
            for family, members in families.items():
                out.write(f"# TYPE {family} gauge\n".encode())
                for prefix, hourly, active in members:
                    if not active.any():
                        continue
                    keep = pa.array(np.repeat(active, per_hour))
                    values = pa.array(np.char.mod("%.10g", hourly)).take(sample_hour.filter(keep))
                    lines = pc.binary_join_element_wise(prefix, values, stamp_text.filter(keep), "")
                    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
                    out.write(memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]])
                    series += 1
                    samples += len(lines)
            out.write(b"# EOF\n")
        return {"series": series, "samples": samples}


def _utc(value: object) -> pd.Timestamp:
    ts = pd.Timestamp(value)  # type: ignore[arg-type]
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
