"""Published runs for the index tests, derived from real summary.json files (the demo suite's): the runs the
weekly SLO, monthly cost and quarterly DR schedules would have published before them.

The demo snapshot only answers the default runs' requests, so earlier runs cannot be executed; each derived run is
the real summary with its window (and run id) moved back by k cadences and its figures changed by a known step,
written as `<root>/<report>/<run-id>/summary.json` like a published run. A run listed in `failed` is marked
failed the way the runner marks a notebook that raised after writing its numbers: its summary still holds them,
and the index must show a gap there, never those values. A run listed in `live` is one a live profile published
(summary.json `source.kind = "live"`, `LIVE_ENDPOINTS`): the index must never draw it in one line with the demo's.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

CADENCE = {"slo": pd.Timedelta(days=7), "cost": pd.Timedelta(days=30), "dr": pd.Timedelta(days=91)}
#: How a derived run's figures differ from the real one's, per step back (so a trend has a known slope).
BUDGET_STEP = 0.04  # error budget left: 4 points more per week back
COST_STEP = 0.03  # team costs: 3% less per month back
DURATION_STEP = 30.0  # the latest drill: 30 s longer per quarter back
#: The endpoints of a live run, as summary.json records them (sources.connect: never with credentials).
LIVE_ENDPOINTS = {"prometheus": "https://prometheus.monitoring.example:9090", "drills": "s3://acme-drills/drills",
                  "kubecost": "http://kubecost.kubecost.example:9090"}


def live_source(as_of: str | None) -> dict[str, Any]:
    """summary.json `source` of a run on the live profile."""
    return {"kind": "live", "profile": "live", "as_of": as_of, "endpoints": dict(LIVE_ENDPOINTS)}


def _shift(text: str | None, delta: pd.Timedelta) -> str | None:
    if not text:
        return text
    return (pd.Timestamp(text) - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run_id(run_id: str, delta: pd.Timedelta, step: int) -> str:
    stamp = pd.Timestamp(run_id[:16].replace("T", " ").replace("Z", ""), tz="UTC") - delta
    return f"{stamp:%Y%m%dT%H%M%SZ}-{step:04x}"


def derive(summary: dict[str, Any], step: int, *, failed: bool = False, live: bool = False) -> dict[str, Any]:
    """The summary of the run `step` cadences before `summary`'s (a copy with its window, times and figures
    moved); `failed`: marked failed with an error, its figures left in (a notebook that failed late); `live`: a
    run of the live profile (its `source`)."""
    report = summary["report"]
    delta = CADENCE[report] * step
    derived = copy.deepcopy(summary)
    derived["run_id"] = _run_id(summary["run_id"], delta, step)
    derived["generated_at"] = _shift(summary["generated_at"], delta)
    derived["window"] = {k: _shift(v, delta) for k, v in summary["window"].items()}
    if report == "slo":
        for entry in derived["slos"]:
            if entry.get("error_budget_remaining") is not None:
                entry["error_budget_remaining"] = min(1.0, entry["error_budget_remaining"] + BUDGET_STEP * step)
    elif report == "cost":
        for entry in derived["teams"]:
            entry["cost"] = entry["cost"] * (1 - COST_STEP * step)
        derived["total_cost"] = sum(t["cost"] for t in derived["teams"])
    elif report == "dr" and derived.get("latest_drill"):
        latest = derived["latest_drill"]
        latest["duration_seconds"] += DURATION_STEP * step
        latest["duration_passed"] = latest["duration_seconds"] <= latest["duration_target_seconds"]
    if live:
        derived["source"] = live_source(derived["window"].get("end"))
    if failed:
        derived["status"] = "failed"
        derived["error"] = {"type": "SourceError", "message": "Prometheus at http://prometheus:9090 failed "
                            "(503 unavailable) for query sum(rate(...))", "cell": 4}
    return derived


def publish_history(root: Path, summaries: dict[str, dict[str, Any]], *, runs: int = 4,
                    failed: dict[str, int] | None = None,
                    live: Iterable[int] = ()) -> dict[str, list[dict[str, Any]]]:
    """Write `runs` published runs per report under `root` (the real summary the newest, then `runs - 1` derived
    ones); `failed[report]` = the step back of the run that failed; `live`: the steps back that a live profile
    published (the others are demo runs). Returns the summaries, oldest first."""
    failed = failed or {}
    live = set(live)
    written: dict[str, list[dict[str, Any]]] = {}
    for report, summary in summaries.items():
        history = [summary if step == 0 else derive(summary, step, failed=failed.get(report) == step,
                                                    live=step in live)
                   for step in range(runs)]
        for item in history:
            folder = root / report / item["run_id"]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "summary.json").write_text(json.dumps(item, indent=2) + "\n")
        written[report] = list(reversed(history))
    return written
