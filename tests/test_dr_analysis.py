"""analysis.dr against the simulator's ground truth, and its rules on hand-made drills."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import drill_fixtures
import pandas as pd
import pytest

from goreliable_lib.analysis import dr
from goreliable_lib.devstack.sim.drills import DrillSimulation
from goreliable_lib.inputs.dr_targets import DRTargets, load_dr_targets, seed_targets
from goreliable_lib.sources.drills import DrillLogWarning, DrillSource

drill_sim = drill_fixtures.drill_sim
drill_folder = drill_fixtures.drill_folder


@pytest.fixture(scope="module")
def components(drill_folder: Path) -> pd.DataFrame:
    return DrillSource(str(drill_folder)).components()


@pytest.fixture(scope="module")
def targets() -> DRTargets:
    return load_dr_targets()


def test_pass_fail_equals_truth(components: pd.DataFrame, targets: DRTargets, drill_sim: DrillSimulation) -> None:
    evaluated = dr.evaluate_components(components, targets).set_index(["drill_id", "component"]).sort_index()
    truth = drill_sim.truth_components().set_index(["drill_id", "component"]).sort_index()
    assert evaluated.index.equals(truth.index)
    for column in ("rto_passed", "rpo_passed", "passed", "rto_target_seconds", "rpo_target_seconds"):
        assert (evaluated[column] == truth[column]).all(), column
    oldest = drill_sim.truth_drills()["drill_id"].iloc[0]
    unknown_rpo = evaluated.loc[(oldest, "grafana-dashboards")]
    assert unknown_rpo["rto_passed"] and not unknown_rpo["passed"] and math.isnan(unknown_rpo["rpo_seconds"])
    assert unknown_rpo["reason"] == "RPO unknown (no data_loss event)"
    aborted = evaluated.loc[drill_sim.aborted_drill_id]
    assert set(aborted["status"]) == {"aborted"} and not aborted["passed"].any()
    assert aborted.loc["grafana-dashboards", "rto_seconds"] == 140.0  # kept and shown, not a pass


def test_drills_against_the_whole_drill_target(components: pd.DataFrame, targets: DRTargets,
                                               drill_sim: DrillSimulation) -> None:
    drills = dr.evaluate_drills(components, targets).set_index("drill_id")
    truth = drill_sim.truth_drills().set_index("drill_id")
    assert list(drills.index) == list(truth.index)
    pd.testing.assert_series_equal(drills["duration_seconds"], truth["duration_seconds"], check_names=False,
                                   check_index_type=False)
    assert (drills["duration_passed"] == truth["duration_passed"]).all()
    latest = drills.loc[drill_sim.latest_drill_id]
    assert (latest["duration_seconds"], latest["duration_target_seconds"]) == (420.0, 600.0)
    assert latest["passed"] and latest["status"] == "pass"
    assert drills.loc[drill_sim.aborted_drill_id, "status"] == "aborted"
    assert not drills.loc[drill_sim.aborted_drill_id, "passed"]
    assert drills.loc[drill_sim.regression_drill_id, "reason"] == "failed: model-artifacts"
    assert drills.loc[drill_sim.missed_rpo_drill_id, "reason"] == "failed: postgresql"


def test_regressions_are_exactly_the_scripted_ones(components: pd.DataFrame, targets: DRTargets,
                                                   drill_sim: DrillSimulation) -> None:
    trends = dr.component_trends(components, targets)
    found = dr.regressions(trends)
    pd.testing.assert_frame_equal(found[["drill_id", "component", "metric"]], drill_sim.truth_regressions())
    rto = found.iloc[0]
    assert rto["value_seconds"] == 318.0 and rto["worse_than_trend"] and rto["target_breach"]
    assert rto["previous_seconds"] < 200 and rto["trailing_median_seconds"] < 200
    rpo = found.iloc[1]
    assert rpo["value_seconds"] == 412.0 and rpo["target_seconds"] == 300.0 and rpo["target_breach"]
    assert drill_sim.aborted_drill_id not in set(trends["drill_id"])  # aborted drills are not comparable


def test_summary_block(components: pd.DataFrame, targets: DRTargets, drill_sim: DrillSimulation) -> None:
    summary = dr.dr_summary(components, targets, end=drill_sim.as_of, quarters=8)
    json.dumps(summary, allow_nan=False)  # JSON-ready
    assert summary["quarters"][0] == "2025-Q1" and summary["quarters"][-1] == "2026-Q4"
    assert summary["missing_quarters"] == [drill_sim.missing_quarter] == ["2025-Q2"]
    assert [d["drill_id"] for d in summary["aborted_drills"]] == [drill_sim.aborted_drill_id]
    assert [(r["drill_id"], r["component"], r["metric"]) for r in summary["regressions"]] == [
        tuple(row) for row in drill_sim.truth_regressions().itertuples(index=False)]
    assert summary["latest_drill"]["drill_id"] == drill_sim.latest_drill_id
    assert summary["latest_drill"]["duration_seconds"] == 420.0
    assert summary["latest_drill"]["duration_target_seconds"] == 600.0
    in_window = drill_sim.truth_drills()
    in_window = in_window[in_window["quarter"] >= "2025-Q1"]
    assert [d["drill_id"] for d in summary["drills"]] == list(in_window["drill_id"])
    truth = drill_sim.truth_components().set_index(["drill_id", "component"])
    for drill in summary["drills"]:
        assert set(drill) >= {"drill_id", "started_at", "duration_seconds", "components"}
        assert drill["started_at"].endswith("Z")
        for item in drill["components"]:
            assert set(item) >= {"component", "rto_seconds", "rpo_seconds", "rto_target_seconds",
                                 "rpo_target_seconds", "passed"}
            expected = truth.loc[(drill["drill_id"], item["component"])]
            for key in ("rto_seconds", "rpo_seconds"):
                assert item[key] == (None if math.isnan(expected[key]) else expected[key])
            assert item["passed"] == expected["passed"]
    # quarters back: 10 quarters hold every drill, 2 hold only the last two
    assert len(dr.dr_summary(components, targets, end=drill_sim.as_of, quarters=10)["drills"]) == 10
    assert len(dr.dr_summary(components, targets, end=drill_sim.as_of, quarters=2)["drills"]) == 2
    # an end before the latest drill leaves it out
    earlier = dr.dr_summary(components, targets, end="2026-09-01T00:00:00Z", quarters=8)
    assert earlier["latest_drill"]["drill_id"] == drill_sim.missed_rpo_drill_id


# -- the rules on hand-made drills -----------------------------------------------------------------------
def _drills(rows: list[tuple[str, str, str, float, float]], aborted: set[str] = frozenset()) -> pd.DataFrame:
    """(drill_id, start, component, rto, rpo) rows as a components() frame."""
    frame = pd.DataFrame(rows, columns=["drill_id", "start", "component", "rto_seconds", "rpo_seconds"])
    frame["scenario"] = "cluster-replacement"
    frame["disaster_declared_at"] = pd.to_datetime(frame.pop("start"), utc=True)
    frame["aborted"] = frame["drill_id"].isin(aborted)
    frame["drill_duration_seconds"] = frame.groupby("drill_id")["rto_seconds"].transform("max")
    frame.loc[frame["aborted"], "drill_duration_seconds"] = math.nan
    return frame


def _series(values: list[float], component: str = "application-code") -> pd.DataFrame:
    starts = pd.date_range("2024-02-01", periods=len(values), freq="3MS", tz="UTC")
    return _drills([(f"d{i}", str(start), component, value, 0.0) for i, (start, value) in
                    enumerate(zip(starts, values, strict=True))])


def test_tolerance_boundaries() -> None:
    targets = seed_targets()
    # threshold = median + max(25% of it, 60 s): 100 -> 160
    assert dr.regressions(dr.component_trends(_series([100, 100, 100, 160]), targets)).empty
    found = dr.regressions(dr.component_trends(_series([100, 100, 100, 161]), targets))
    assert list(found["drill_id"]) == ["d3"] and not found["target_breach"].iloc[0]
    # 400 -> 500: beyond 60 s but within 25% of the median
    assert dr.regressions(dr.component_trends(_series([400, 400, 400, 500]), targets)).empty
    # worse than the trailing median but better than the previous drill: no regression
    assert dr.regressions(dr.component_trends(_series([100, 100, 100, 300, 250]), targets))["drill_id"].tolist() == [
        "d3"]
    # a target breach is a regression even on a flat trend
    breach = dr.regressions(dr.component_trends(_series([610, 610, 610]), targets))
    assert breach["drill_id"].tolist() == ["d0", "d1", "d2"] and not breach["worse_than_trend"].any()
    # custom tolerance
    strict = dr.RegressionTolerance(ratio=0.1, seconds=10, window=2)
    assert dr.regressions(dr.component_trends(_series([100, 100, 100, 125]), targets, strict))["drill_id"].tolist() == [
        "d3"]


def test_unknown_and_unrecorded_components() -> None:
    targets = seed_targets()
    frame = _drills([("d1", "2026-02-01", component, 100.0, 0.0) for component in targets.component_names()
                     if component != "postgresql"] + [("d1", "2026-02-01", "redis", 50.0, 0.0)])
    evaluated = dr.evaluate_components(frame, targets).set_index("component")
    assert evaluated.loc["redis", "status"] == "unknown_component" and not evaluated.loc["redis", "passed"]
    assert evaluated.loc["postgresql", "reason"] == "not recorded in the drill"
    drills = dr.evaluate_drills(frame, targets)
    assert drills["components_failed"].iloc[0] == 1 and drills["components_passed"].iloc[0] == 5
    assert drills["reason"].iloc[0] == "failed: postgresql"
    summary = dr.dr_summary(frame, targets, end="2026-03-01T00:00:00Z", quarters=4)
    assert summary["unknown_components"] == ["d1:redis"]


def test_missing_quarters_rules() -> None:
    frame = _series([100, 100])  # 2024-02-01 (Q1), 2024-05-01 (Q2)
    assert dr.missing_quarters(frame, "2024-08-15T00:00:00Z", quarters=4) == ["2023-Q4"]  # 2024-Q3 in progress
    assert dr.missing_quarters(frame, "2024-10-01T00:00:00Z", quarters=4) == ["2024-Q3"]
    assert dr.report_quarters("2026-11-23T06:00:00Z", 3) == ["2026-Q2", "2026-Q3", "2026-Q4"]
    # an aborted drill is a drill held (and is shown as aborted)
    aborted = _drills([("a", "2024-08-01", "application-code", math.nan, math.nan)], aborted={"a"})
    assert dr.missing_quarters(pd.concat([frame, aborted]), "2024-10-01T00:00:00Z", quarters=4) == []


def test_analysis_is_pure(components: pd.DataFrame, targets: DRTargets) -> None:
    before = components.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DrillLogWarning)
        dr.dr_summary(components, targets, end="2026-11-23T06:00:00Z")
    pd.testing.assert_frame_equal(components, before)
