"""The unit-cost ground truth: every figure of the cost report's unit costs, from the simulation's own per-minute
events (`sim.metrics`) and hourly allocations with idle shared (`sim.costs`, shareIdle), computed here on their own
(not with `analysis.unit_costs`).

The platform's services as `params/services.yaml` maps them (SERVICES: the `app` label values, the namespace, the
SLO counting the requests, the kind). Periods are the window cut at UTC midnights; a period [lo, hi) costs its
hours' share (pro rata) and counts the events of the samples lo < t <= hi. Window figures are ratios of sums;
failed requests cost = cost x (total - good) / total; team rows sum their services; the trend is the least-squares
slope (per day) of the daily cost per million good requests; tokens are the increases of vLLM's two counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from goreliable_lib.devstack.sim.metrics import VLLM_TOKENS_PER_REQUEST

if TYPE_CHECKING:
    from goreliable_lib.devstack.sim import Simulation


@dataclass(frozen=True)
class MappedService:
    """A service of the platform: its workloads' `app` label values, their namespace (None: any), its SLO, kind."""

    apps: tuple[str, ...]
    namespace: str | None
    slo: str
    kind: str | None = None


SERVICES: dict[str, MappedService] = {
    "api-gateway": MappedService(("api-gateway",), "go-reliable-production", "api-gateway-availability"),
    "order-service": MappedService(("order-service",), "go-reliable-production", "order-success-rate"),
    "notification-worker": MappedService(("notification-worker",), "go-reliable-production", "notification-delivery"),
    "ml-inference-gateway": MappedService(("ml-inference-gateway", "recommendation-predictor"), None,
                                          "ml-inference-availability", "inference"),
    "llm-gateway": MappedService(("llm-gateway", "vllm-mistral-7b"), None, "llm-latency", "llm"),
}
PROMPT, GENERATED = VLLM_TOKENS_PER_REQUEST


def _periods(start: pd.Timestamp, end: pd.Timestamp) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    out, lo = [], start
    while lo < end:
        hi = min(lo.normalize() + pd.Timedelta(days=1), end)
        out.append((lo, hi))
        lo = hi
    return out


def _ratio(numerator: float, denominator: float, unit: float) -> float | None:
    return numerator / denominator * unit if denominator > 0 else None


def _slope(days: list[float], values: list[float | None]) -> float | None:
    pairs = [(d, v) for d, v in zip(days, values, strict=True) if v is not None]
    if len(pairs) < 2:
        return None
    mean_d = sum(d for d, _ in pairs) / len(pairs)
    mean_v = sum(v for _, v in pairs) / len(pairs)
    return (sum((d - mean_d) * (v - mean_v) for d, v in pairs) / sum((d - mean_d) ** 2 for d, _ in pairs))


def truth(sim: Simulation, start: Any, end: Any, *, decimals: int | None = None) -> dict[str, Any]:
    """Every unit-cost figure of [start, end): `unit_costs` (per service, with `daily`), `teams`, `ml_unit_costs`
    (the summary.json fields' names; money in USD). `decimals=5` is what an OpenCost client sees: each allocation
    (an `app` of a namespace, per period) rounded to 5 decimals before it is added up."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    costs, metrics = sim.costs, sim.metrics
    containers = costs.containers
    periods = _periods(start, end)
    period_costs = [costs.truth_costs(lo, hi, "namespace,label:app", share_idle=True, idle=False)
                    for lo, hi in periods]
    tokens = metrics.token_minutes()
    services, ml_parts = [], []
    for name, mapped in SERVICES.items():
        members = containers["labels"].map(lambda labels: labels.get("app")).isin(mapped.apps).to_numpy().copy()
        if mapped.namespace is not None:
            members &= (containers["namespace"] == mapped.namespace).to_numpy()
        keys = {f"{ns}/{labels['app']}" for ns, labels in zip(containers.loc[members, "namespace"],
                                                             containers.loc[members, "labels"], strict=True)}
        teams = {labels.get("cost-team") for labels in containers.loc[members, "labels"]}
        events = metrics.slo_minutes(mapped.slo)
        daily = []
        for (lo, hi), frame in zip(periods, period_costs, strict=True):
            mine = frame[frame.index.isin(keys)][["total_cost", "gpu_cost"]]
            if decimals is not None:
                mine = mine.map(lambda value: round(float(value), decimals))
            in_period = (events["timestamp"] > lo) & (events["timestamp"] <= hi)
            own_tokens = (tokens["timestamp"] > lo) & (tokens["timestamp"] <= hi)
            good, total = float(events.loc[in_period, "good"].sum()), float(events.loc[in_period, "total"].sum())
            cost = float(mine["total_cost"].sum())
            daily.append({"day": lo.normalize(), "start": lo, "end": hi, "cost": cost,
                          "gpu_cost": float(mine["gpu_cost"].sum()), "requests": total, "good_requests": good,
                          "prompt_tokens": float(tokens.loc[own_tokens, PROMPT].sum()),
                          "generated_tokens": float(tokens.loc[own_tokens, GENERATED].sum()),
                          "cost_per_million_good_requests": _ratio(cost, good, 1e6)})
        sums = {k: sum(d[k] for d in daily) for k in ("cost", "gpu_cost", "requests", "good_requests",
                                                     "prompt_tokens", "generated_tokens")}
        row = {"service": name, "team": teams.pop() if len(teams) == 1 else None, "kind": mapped.kind, **sums,
               "cost_per_million_requests": _ratio(sums["cost"], sums["requests"], 1e6),
               "cost_per_million_good_requests": _ratio(sums["cost"], sums["good_requests"], 1e6),
               "failed_requests_cost": sums["cost"] * (sums["requests"] - sums["good_requests"]) / sums["requests"],
               "trend_per_day": _slope([(d["start"] - start) / pd.Timedelta(days=1) for d in daily],
                                       [d["cost_per_million_good_requests"] for d in daily]),
               "daily": daily}
        services.append(row)
        if mapped.kind:
            ml_parts.append(row)
    team_rows = []
    for team in sorted({s["team"] for s in services}):
        own = [s for s in services if s["team"] == team]
        sums = {k: sum(s[k] for s in own) for k in ("cost", "gpu_cost", "requests", "good_requests")}
        team_rows.append({"team": team, **sums, "cost_per_million_requests": _ratio(sums["cost"], sums["requests"],
                                                                                     1e6),
                          "cost_per_million_good_requests": _ratio(sums["cost"], sums["good_requests"], 1e6),
                          "failed_requests_cost": sum(s["failed_requests_cost"] for s in own)})
    inference = [s for s in ml_parts if s["kind"] == "inference"]
    llm = [s for s in ml_parts if s["kind"] == "llm"]

    def total(rows: list[dict[str, Any]], key: str) -> float:
        return float(sum(r[key] for r in rows))

    token_count = total(llm, "prompt_tokens") + total(llm, "generated_tokens")
    ml = {"inference_requests": total(inference, "requests"), "inference_cost": total(inference, "cost"),
          "cost_per_1k_inferences": _ratio(total(inference, "cost"), total(inference, "requests"), 1000.0),
          "inference_gpu_share": _ratio(total(inference, "gpu_cost"), total(inference, "cost"), 1.0),
          "prompt_tokens": total(llm, "prompt_tokens"), "generated_tokens": total(llm, "generated_tokens"),
          "llm_cost": total(llm, "cost"), "cost_per_million_tokens": _ratio(total(llm, "cost"), token_count, 1e6),
          "llm_gpu_share": _ratio(total(llm, "gpu_cost"), total(llm, "cost"), 1.0),
          "cost": total(ml_parts, "cost"), "gpu_cost": total(ml_parts, "gpu_cost"),
          "gpu_share": _ratio(total(ml_parts, "gpu_cost"), total(ml_parts, "cost"), 1.0)}
    cluster = float(np.sum([f["total_cost"].sum() for f in period_costs]))
    return {"unit_costs": services, "teams": team_rows, "ml_unit_costs": ml, "cluster_cost": cluster,
            "not_mapped_cost": cluster - sum(s["cost"] for s in services)}
