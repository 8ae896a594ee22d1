"""Simulated quarterly DR drills (`goreliable.drill/v1` logs) and their ground truth.

Ten quarters of `cluster-replacement` drills ending with the quarter of `as_of` (2024-Q3 .. 2026-Q4 by
default), one drill each on the second Thursday of the quarter's middle month around 10:00 UTC, with:
- an RTO regression: `model-artifacts` in the drill two quarters back (318 s, after ~130 s; its target is 300 s);
- a missed RPO: `postgresql` loses 412 s of data in the previous quarter's drill (target 300 s);
- no drill at all in the quarter six back (2025-Q2);
- an aborted drill early in the quarter four back (2025-10-02), re-run on the usual date;
- the latest drill takes exactly 420 s (7 minutes) from `disaster_declared` to the last `recovered`
  (`mlflow-metadata`), against the 10-minute whole-drill target;
- `grafana-dashboards` recorded no `data_loss` in the oldest drill (unknown RPO: not a pass);
- noise: `note` events, unknown extra fields (`operator`, `ticket`, `argocd_app`, `runbook_step`), and one
  log written component by component (lines out of time order).
Every other figure moves by a few seconds of seeded jitter around an improving trend, far inside the
regression tolerance (25% or 60 s) and the targets. The truth is built from the script, not from the logs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from goreliable_lib.devstack.sim.timeline import DEFAULT_AS_OF, DEFAULT_SEED
from goreliable_lib.inputs.dr_targets import SEED_DR_TABLE, SEED_DRILL_DURATION_TARGET_SECONDS

VERSION = 1
SCENARIO = "cluster-replacement"
ROOT = "drills"  # the folder (write_folder) or S3 prefix (stack) the keys of files() go under
COMPONENTS = ("postgresql", "nats-jetstream", "application-code", "model-artifacts", "mlflow-metadata",
              "grafana-dashboards")
QUARTERS = 10
JITTER_SECONDS = 12

# Base RTO (s) per quarter offset (0 = latest), in COMPONENTS order; None = no drill that quarter.
_RTO: dict[int, tuple[int, ...] | None] = {
    9: (610, 420, 480, 150, 740, 170),
    8: (590, 400, 470, 145, 720, 160),
    7: (560, 390, 450, 140, 690, 150),
    6: None,
    5: (530, 370, 430, 135, 650, 140),
    4: (500, 350, 410, 130, 625, 130),
    3: (470, 330, 390, 128, 560, 120),
    2: (440, 320, 380, 318, 520, 115),
    1: (400, 300, 360, 135, 470, 110),
    0: (360, 280, 340, 125, 420, 100),
}
# Base data loss (s) of the two components that can lose data; the others always report 0.
_RPO = {"postgresql": {9: 95, 8: 80, 7: 75, 5: 70, 4: 60, 3: 55, 2: 50, 1: 412, 0: 45},
        "mlflow-metadata": {9: 420, 8: 400, 7: 390, 5: 360, 4: 340, 3: 330, 2: 320, 1: 310, 0: 300}}
# Scripted cells: exact, no jitter.
_EXACT = {(2, "model-artifacts", "rto"), (1, "postgresql", "rpo"), (0, "mlflow-metadata", "rto")}
REGRESSION_OFFSET, MISSED_RPO_OFFSET, MISSING_OFFSET, ABORTED_OFFSET = 2, 1, 6, 4
_ABORTED_RECOVERED = {"grafana-dashboards": 140, "model-artifacts": 150}
_ABORTED_AT = 610
_OPERATORS = ("a.kowalski", "m.osei", "r.tanaka", "s.iyer")


def quarter_label(ts: pd.Timestamp) -> str:
    return f"{ts.year}-Q{(ts.month - 1) // 3 + 1}"


def _second_thursday(year: int, month: int) -> pd.Timestamp:
    first = pd.Timestamp(year=year, month=month, day=1, tz="UTC")
    return first + pd.Timedelta(days=(3 - first.day_of_week) % 7 + 7)


def _first_thursday(year: int, month: int) -> pd.Timestamp:
    first = pd.Timestamp(year=year, month=month, day=1, tz="UTC")
    return first + pd.Timedelta(days=(3 - first.day_of_week) % 7)


class DrillSimulation:
    """Deterministic drill logs and ground truth for `seed` and `as_of`."""

    version = VERSION

    def __init__(self, seed: int = DEFAULT_SEED, as_of: pd.Timestamp | str = DEFAULT_AS_OF) -> None:
        self.seed = seed
        stamp = pd.Timestamp(as_of)
        self.as_of = stamp.tz_convert("UTC") if stamp.tzinfo else stamp.tz_localize("UTC")
        self._rng = np.random.default_rng(seed)
        latest = self.as_of.tz_localize(None).to_period("Q")
        if self._drill_day(latest) + pd.Timedelta(days=1) > self.as_of:
            latest -= 1
        self._quarters = {offset: latest - offset for offset in range(QUARTERS)}
        self._lines: dict[str, list[dict[str, Any]]] = {}
        self._truth_components: list[dict[str, Any]] = []
        self._truth_drills: list[dict[str, Any]] = []
        for offset in range(QUARTERS - 1, -1, -1):
            if offset == ABORTED_OFFSET:
                self._build_aborted(offset)
            if _RTO[offset] is not None:
                self._build_drill(offset)

    # -- schedule --------------------------------------------------------------------------------------
    @staticmethod
    def _drill_day(quarter: pd.Period) -> pd.Timestamp:
        return _second_thursday(quarter.year, quarter.quarter * 3 - 1) + pd.Timedelta(hours=10)

    def _start(self, day: pd.Timestamp) -> pd.Timestamp:
        return day + pd.Timedelta(seconds=int(self._rng.integers(0, 1800)))

    @staticmethod
    def _drill_id(start: pd.Timestamp) -> str:
        return f"{start:%Y-%m-%d}-{SCENARIO}"

    @staticmethod
    def _key(start: pd.Timestamp, drill_id: str) -> str:
        return f"{start.year}/Q{(start.month - 1) // 3 + 1}/{drill_id}.jsonl"

    def _jitter(self, offset: int, component: str, metric: str, base: float) -> int:
        noise = int(self._rng.integers(-JITTER_SECONDS, JITTER_SECONDS + 1))
        return int(base) if (offset, component, metric) in _EXACT else int(base) + noise

    @staticmethod
    def _event(drill_id: str, component: str, event: str, ts: pd.Timestamp, **fields: Any) -> dict[str, Any]:
        line = {"schema": "goreliable.drill/v1", "drill_id": drill_id, "scenario": SCENARIO, "component": component,
                "event": event, "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ")}
        line.update(fields)
        return line

    # -- one drill -------------------------------------------------------------------------------------
    def _build_drill(self, offset: int) -> None:
        quarter = self._quarters[offset]
        start = self._start(self._drill_day(quarter))
        drill_id = self._drill_id(start)
        operator = _OPERATORS[offset % len(_OPERATORS)]
        extra = {"operator": operator, "ticket": f"DR-{quarter.year}-Q{quarter.quarter}"} if offset <= 5 else {}
        lines = [self._event(drill_id, "*", "disaster_declared", start, **extra)]
        blocks: list[list[dict[str, Any]]] = []
        recovered_times = []
        base_rtos = _RTO[offset]
        assert base_rtos is not None
        for component, base_rto in zip(COMPONENTS, base_rtos, strict=True):
            rto = self._jitter(offset, component, "rto", base_rto)
            started = start + pd.Timedelta(seconds=int(self._rng.integers(5, 41)))
            recovered = start + pd.Timedelta(seconds=rto)
            verified = recovered + pd.Timedelta(seconds=int(self._rng.integers(15, 91)))
            recovered_fields = {"argocd_app": "go-reliable-production"} if component == "application-code" else {}
            block = [self._event(drill_id, component, "recovery_started", started),
                     self._event(drill_id, component, "recovered", recovered, **recovered_fields),
                     self._event(drill_id, component, "verified", verified,
                                 **({"runbook_step": 7} if offset % 2 == 0 else {}))]
            rpo: float = float("nan")
            if component in _RPO:
                rpo = float(self._jitter(offset, component, "rpo", _RPO[component][offset]))
            elif not (offset == QUARTERS - 1 and component == "grafana-dashboards"):
                rpo = 0.0
            if not np.isnan(rpo):
                loss_at = verified + pd.Timedelta(seconds=int(self._rng.integers(5, 31)))
                block.append(self._event(drill_id, component, "data_loss", loss_at, data_loss_seconds=int(rpo)))
            blocks.append(block)
            recovered_times.append(recovered)
            rto_target = SEED_DR_TABLE[component][1]
            rpo_target = SEED_DR_TABLE[component][0]
            self._truth_components.append({
                "drill_id": drill_id, "quarter": quarter_label(start), "scenario": SCENARIO, "component": component,
                "disaster_declared_at": start, "recovered_at": recovered, "rto_seconds": float(rto),
                "rpo_seconds": rpo, "rto_target_seconds": rto_target, "rpo_target_seconds": rpo_target,
                "rto_passed": rto <= rto_target, "rpo_passed": bool(not np.isnan(rpo) and rpo <= rpo_target),
                "aborted": False})
        last = max(recovered_times)
        notes = []
        if offset == 3:
            notes.append(self._event(drill_id, "*", "note", start + pd.Timedelta(seconds=200),
                                     note="ArgoCD sync waves reordered: postgresql before application-code"))
        if offset == 0:
            notes.append(self._event(drill_id, "*", "note", last + pd.Timedelta(seconds=30),
                                     note="all deployments Available; namespaces recreated by ArgoCD"))
        if offset == MISSED_RPO_OFFSET:  # appended component by component: out of time order
            body = lines + [line for block in blocks for line in block] + notes
        else:
            body = sorted(lines + [line for block in blocks for line in block] + notes, key=lambda line: line["ts"])
        self._lines[self._key(start, drill_id)] = body
        duration = (last - start).total_seconds()
        self._truth_drills.append({
            "drill_id": drill_id, "quarter": quarter_label(start), "scenario": SCENARIO, "started_at": start,
            "ended_at": last, "duration_seconds": duration,
            "duration_target_seconds": SEED_DRILL_DURATION_TARGET_SECONDS,
            "duration_passed": duration <= SEED_DRILL_DURATION_TARGET_SECONDS, "aborted": False,
            "file": self._key(start, drill_id)})

    def _build_aborted(self, offset: int) -> None:
        quarter = self._quarters[offset]
        start = self._start(_first_thursday(quarter.year, quarter.quarter * 3 - 2) + pd.Timedelta(hours=10))
        drill_id = self._drill_id(start)
        lines = [self._event(drill_id, "*", "disaster_declared", start, operator="m.osei")]
        for component in COMPONENTS:
            started = start + pd.Timedelta(seconds=int(self._rng.integers(5, 41)))
            lines.append(self._event(drill_id, component, "recovery_started", started))
            recovered = None
            if component in _ABORTED_RECOVERED:
                recovered = start + pd.Timedelta(seconds=_ABORTED_RECOVERED[component])
                lines.append(self._event(drill_id, component, "recovered", recovered))
            rto_target = SEED_DR_TABLE[component][1]
            self._truth_components.append({
                "drill_id": drill_id, "quarter": quarter_label(start), "scenario": SCENARIO, "component": component,
                "disaster_declared_at": start, "recovered_at": recovered if recovered is not None else pd.NaT,
                "rto_seconds": float(_ABORTED_RECOVERED.get(component, np.nan)), "rpo_seconds": float("nan"),
                "rto_target_seconds": rto_target, "rpo_target_seconds": SEED_DR_TABLE[component][0],
                "rto_passed": component in _ABORTED_RECOVERED and _ABORTED_RECOVERED[component] <= rto_target,
                "rpo_passed": False, "aborted": True})
        aborted_at = start + pd.Timedelta(seconds=_ABORTED_AT)
        lines.append(self._event(drill_id, "*", "aborted", aborted_at,
                                 note="EKS node group could not scale (insufficient capacity in eu-west-1b); "
                                      "drill aborted, traffic kept on the standby cluster"))
        self._lines[self._key(start, drill_id)] = sorted(lines, key=lambda line: line["ts"])
        self._truth_drills.append({
            "drill_id": drill_id, "quarter": quarter_label(start), "scenario": SCENARIO, "started_at": start,
            "ended_at": aborted_at, "duration_seconds": float("nan"),
            "duration_target_seconds": SEED_DRILL_DURATION_TARGET_SECONDS, "duration_passed": False,
            "aborted": True, "file": self._key(start, drill_id)})

    # -- output ----------------------------------------------------------------------------------------
    def files(self) -> dict[str, str]:
        """Key relative to the drills URI (`YYYY/QN/<drill_id>.jsonl`; the stack uploads them under the prefix
        `drills/`, giving `drills/2026/Q3/...`) -> JSONL text, one event per line."""
        return {key: "".join(orjson.dumps(line).decode() + "\n" for line in lines)
                for key, lines in sorted(self._lines.items())}

    def write_folder(self, path: str | Path) -> Path:
        """Write the logs under `path/drills/`; returns `path/drills`, the folder to read."""
        root = Path(path) / ROOT
        for key, text in self.files().items():
            target = root / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        return root

    # -- ground truth ----------------------------------------------------------------------------------
    def truth_components(self) -> pd.DataFrame:
        """One row per drill and component: drill_id, quarter, scenario, component, disaster_declared_at,
        recovered_at, rto_seconds, rpo_seconds (NaN unknown), rto/rpo targets, rto_passed, rpo_passed,
        passed (both, and the drill not aborted), aborted."""
        frame = pd.DataFrame(self._truth_components)
        frame["passed"] = frame["rto_passed"] & frame["rpo_passed"] & ~frame["aborted"]
        return frame.sort_values(["drill_id", "component"]).reset_index(drop=True)

    def truth_drills(self) -> pd.DataFrame:
        """One row per drill: drill_id, quarter, scenario, started_at, ended_at, duration_seconds (NaN when
        aborted), duration_target_seconds, duration_passed, aborted, file."""
        return pd.DataFrame(self._truth_drills).sort_values("started_at").reset_index(drop=True)

    def _completed(self, offset: int) -> str:
        quarter = quarter_label(self._quarters[offset].start_time)
        drills = self.truth_drills()
        return str(drills.loc[(drills["quarter"] == quarter) & ~drills["aborted"], "drill_id"].iloc[0])

    @property
    def latest_drill_id(self) -> str:
        return self._completed(0)

    @property
    def regression_drill_id(self) -> str:
        return self._completed(REGRESSION_OFFSET)

    @property
    def missed_rpo_drill_id(self) -> str:
        return self._completed(MISSED_RPO_OFFSET)

    @property
    def aborted_drill_id(self) -> str:
        drills = self.truth_drills()
        return str(drills.loc[drills["aborted"], "drill_id"].iloc[0])

    @property
    def missing_quarter(self) -> str:
        return quarter_label(self._quarters[MISSING_OFFSET].start_time)

    def quarters(self) -> list[str]:
        """The simulated quarters, oldest first (including the one without a drill)."""
        return [quarter_label(self._quarters[offset].start_time) for offset in range(QUARTERS - 1, -1, -1)]

    def truth_regressions(self) -> pd.DataFrame:
        """The scripted regressions: (drill_id, component, metric) for the RTO regression and the missed RPO."""
        return pd.DataFrame([
            {"drill_id": self.regression_drill_id, "component": "model-artifacts", "metric": "rto"},
            {"drill_id": self.missed_rpo_drill_id, "component": "postgresql", "metric": "rpo"},
        ])
