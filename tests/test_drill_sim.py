"""The drill simulator: layout, determinism and the scripted facts of its ground truth."""

from __future__ import annotations

import json
import math
from pathlib import Path

import drill_fixtures

from goreliable_lib.devstack.sim.drills import DrillSimulation
from goreliable_lib.devstack.sim.timeline import DEFAULT_AS_OF, DEFAULT_SEED
from goreliable_lib.inputs.dr_targets import SEED_COMPONENTS

drill_sim = drill_fixtures.drill_sim


def test_layout_and_schema(drill_sim: DrillSimulation) -> None:
    files = drill_sim.files()
    assert len(files) == 10
    for key, text in files.items():
        parts = key.split("/")
        assert len(parts) == 3 and parts[1] in {"Q1", "Q2", "Q3", "Q4"}
        drill_id = parts[2].removesuffix(".jsonl")
        assert drill_id.startswith(parts[0]) and drill_id.endswith("-cluster-replacement")
        for raw in text.splitlines():
            event = json.loads(raw)
            assert event["schema"] == "goreliable.drill/v1" and event["drill_id"] == drill_id
            assert event["component"] in {*SEED_COMPONENTS, "*"}


def test_deterministic_and_seeded() -> None:
    assert DrillSimulation().files() == DrillSimulation(DEFAULT_SEED, DEFAULT_AS_OF).files()
    other = DrillSimulation(seed=7)
    assert other.files() != DrillSimulation().files()
    # the scripted facts do not depend on the seed
    assert other.missing_quarter == "2025-Q2"
    assert other.truth_drills().set_index("drill_id").loc[other.latest_drill_id, "duration_seconds"] == 420.0


def test_scripted_facts(drill_sim: DrillSimulation) -> None:
    drills = drill_sim.truth_drills()
    assert drills["started_at"].max() <= DEFAULT_AS_OF
    quarters = set(drills["quarter"])
    assert len(drill_sim.quarters()) >= 9 and len(quarters) == len(drill_sim.quarters()) - 1
    assert drill_sim.missing_quarter not in quarters
    latest = drills.iloc[-1]
    assert latest["drill_id"] == drill_sim.latest_drill_id == "2026-11-12-cluster-replacement"
    assert latest["duration_seconds"] == 420.0 and latest["duration_target_seconds"] == 600.0
    aborted = drills[drills["aborted"]]
    assert list(aborted["drill_id"]) == [drill_sim.aborted_drill_id]
    assert math.isnan(aborted["duration_seconds"].iloc[0])
    truth = drill_sim.truth_components().set_index(["drill_id", "component"])
    regression = truth.loc[(drill_sim.regression_drill_id, "model-artifacts")]
    assert regression["rto_seconds"] == 318.0 and not regression["rto_passed"]
    missed = truth.loc[(drill_sim.missed_rpo_drill_id, "postgresql")]
    assert missed["rpo_seconds"] == 412.0 and missed["rpo_target_seconds"] == 300.0 and not missed["rpo_passed"]
    assert not truth.loc[(drill_sim.aborted_drill_id, "grafana-dashboards"), "passed"]
    # the only other non-passing components: the oldest drill's unknown grafana RPO
    failing = truth[~truth["passed"] & ~truth["aborted"]].index.tolist()
    oldest = drills["drill_id"].iloc[0]
    assert sorted(failing) == sorted([(drill_sim.regression_drill_id, "model-artifacts"),
                                      (drill_sim.missed_rpo_drill_id, "postgresql"),
                                      (oldest, "grafana-dashboards")])


def test_noise_present(drill_sim: DrillSimulation) -> None:
    events = [json.loads(raw) for text in drill_sim.files().values() for raw in text.splitlines()]
    assert any(e["event"] == "note" for e in events)
    known = {"schema", "drill_id", "scenario", "component", "event", "ts", "data_loss_seconds", "note"}
    assert any(set(e) - known for e in events)
    out_of_order = [key for key, text in drill_sim.files().items()
                    if [json.loads(r)["ts"] for r in text.splitlines()] != sorted(
                        json.loads(r)["ts"] for r in text.splitlines())]
    assert len(out_of_order) == 1


def test_write_folder(drill_sim: DrillSimulation, tmp_path: Path) -> None:
    root = drill_sim.write_folder(tmp_path)
    assert root == tmp_path / "drills"
    written = {p.relative_to(root).as_posix(): p.read_text() for p in tmp_path.rglob("*.jsonl")}
    assert written == drill_sim.files()
