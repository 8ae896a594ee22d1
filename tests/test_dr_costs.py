"""What each DR drill cost: the cost-hours rule and the cost attachment on hand-made frames (expected values
derived in comments), the simulator's earlier cost history and drill-cost truth, then the DR report's costs
against Kubecost and OpenCost servers on 127.0.0.1 (marker `stack`): every drill's cost equal to the simulator's
truth to the cent, the drills before the cost data with their message, never a 0."""
# ruff: noqa: F811  (pytest fixtures imported from cost_fixtures and drill_fixtures)

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cost_fixtures import cost_sim, kubecost_url, make_source, opencost_url  # noqa: F401 - fixtures
from drill_fixtures import drill_folder, drill_sim  # noqa: F401 - fixtures

from goreliable_lib.analysis import dr
from goreliable_lib.devstack.sim.costs import COST_COLUMNS, CostSimulation
from goreliable_lib.devstack.sim.drills import DrillSimulation
from goreliable_lib.devstack.sim.timeline import COST_HISTORY_DAYS, EARLIER_COST_DAYS
from goreliable_lib.errors import KubecostError
from goreliable_lib.inputs.dr_targets import load_dr_targets
from goreliable_lib.reports import dr as dr_report
from goreliable_lib.runner.execute import run_report
from goreliable_lib.sources.connect import MissingSource, connect
from goreliable_lib.sources.drills import DrillSource
from goreliable_lib.sources.kubecost import KubecostSource
from goreliable_lib.timeutil import to_rfc3339

CENT = 0.005


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# --------------------------------------------------------------------------------------------- the cost hours
@pytest.mark.parametrize(("start", "end", "hours"), [
    # 10:07:12 .. 10:14:12: both in the 10:00 hour -> [10:00, 11:00)
    ("2026-11-12T10:07:12", "2026-11-12T10:14:12", ("2026-11-12T10:00", "2026-11-12T11:00")),
    # 10:50 .. 11:05 touches two hours -> [10:00, 12:00)
    ("2026-11-12T10:50:00", "2026-11-12T11:05:00", ("2026-11-12T10:00", "2026-11-12T12:00")),
    # ending exactly on the hour stops there: [10:00, 11:00)
    ("2026-11-12T10:00:00", "2026-11-12T11:00:00", ("2026-11-12T10:00", "2026-11-12T11:00")),
    # a zero-length window on the hour still counts its hour: [10:00, 11:00)
    ("2026-11-12T10:00:00", "2026-11-12T10:00:00", ("2026-11-12T10:00", "2026-11-12T11:00")),
    # across midnight: 23:58 .. 00:03 -> [23:00, 01:00)
    ("2026-12-31T23:58:00", "2027-01-01T00:03:00", ("2026-12-31T23:00", "2027-01-01T01:00")),
])
def test_cost_hours_floor_the_start_and_raise_the_end(start: str, end: str, hours: tuple[str, str]) -> None:
    assert dr.cost_hours(ts(start), ts(end)) == (ts(hours[0]), ts(hours[1]))


def _components(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A DrillSource.components()-shaped frame with the columns drill_windows reads."""
    base = {"aborted": False, "aborted_at": pd.NaT, "drill_duration_seconds": math.nan}
    return pd.DataFrame([{**base, **row} for row in rows])


def test_drill_windows_end_at_the_last_recovered_or_the_abort() -> None:
    components = _components([
        # completed: declared 10:20, drill duration 2,700 s -> ends 11:05 -> hours [10:00, 12:00), 2 hours
        {"drill_id": "a", "component": "x", "disaster_declared_at": ts("2026-05-14T10:20"),
         "drill_duration_seconds": 2700.0},
        {"drill_id": "a", "component": "y", "disaster_declared_at": ts("2026-05-14T10:20"),
         "drill_duration_seconds": 2700.0},
        # aborted at 10:40 (no duration): ends at the abort -> [10:00, 11:00), 1 hour
        {"drill_id": "b", "component": "x", "disaster_declared_at": ts("2026-08-13T10:30"), "aborted": True,
         "aborted_at": ts("2026-08-13T10:40")},
        # nothing recovered, not aborted: no end, no cost hours
        {"drill_id": "c", "component": "x", "disaster_declared_at": ts("2026-09-01T09:00")},
    ])
    windows = dr.drill_windows(components).set_index("drill_id")
    assert windows.loc["a", "ended_at"] == ts("2026-05-14T11:05")
    assert (windows.loc["a", "cost_start"], windows.loc["a", "cost_end"], windows.loc["a", "cost_hours"]) == (
        ts("2026-05-14T10:00"), ts("2026-05-14T12:00"), 2)
    assert (windows.loc["b", "cost_start"], windows.loc["b", "cost_end"], windows.loc["b", "cost_hours"]) == (
        ts("2026-08-13T10:00"), ts("2026-08-13T11:00"), 1)
    assert pd.isna(windows.loc["c", "cost_start"]) and windows.loc["c", "cost_hours"] == 0
    assert list(windows["quarter"]) == ["2026-Q2", "2026-Q3", "2026-Q3"]


def _hourly(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """A KubecostSource frame's columns the cost reads: (hour, allocation name, total_cost)."""
    return pd.DataFrame({"start": [ts(h) for h, _, _ in rows], "name": [n for _, n, _ in rows],
                         "total_cost": [c for _, _, c in rows]})


def test_drill_costs_sum_whole_hours_and_say_why_a_cost_is_unknown() -> None:
    windows = pd.DataFrame([
        {"drill_id": d, "quarter": "2026-Q2", "started_at": ts("2026-05-14T10:20"), "ended_at": ts("2026-05-14T11:05"),
         "cost_start": ts("2026-05-14T10:00"), "cost_end": ts("2026-05-14T12:00"), "cost_hours": 2}
        for d in ("full", "partial", "empty", "null", "failed")]
        + [{"drill_id": "no-end", "quarter": "2026-Q2", "started_at": ts("2026-05-14T10:20"), "ended_at": pd.NaT,
            "cost_start": pd.NaT, "cost_end": pd.NaT, "cost_hours": 0}])
    allocations = {
        # two hours, the cluster and idle each: 2.5 + 0.75 + 2.25 + 0.5 = 6.0
        "full": _hourly([("2026-05-14T10:00", "go-reliable-eks", 2.5), ("2026-05-14T10:00", "__idle__", 0.75),
                         ("2026-05-14T11:00", "go-reliable-eks", 2.25), ("2026-05-14T11:00", "__idle__", 0.5)]),
        # only the 11:00 hour held: unknown, not 2.25
        "partial": _hourly([("2026-05-14T11:00", "go-reliable-eks", 2.25)]),
        "empty": _hourly([]),
        "null": _hourly([("2026-05-14T10:00", "go-reliable-eks", 2.5), ("2026-05-14T11:00", "go-reliable-eks",
                                                                          math.nan)]),
    }
    costs = dr.drill_costs(windows, allocations, {"failed": "Kubecost failed: HTTP 500"}).set_index("drill_id")
    assert costs.loc["full", "cost"] == 6.0 and costs.loc["full", "cost_note"] == ""
    for drill in ("partial", "empty", "null", "failed", "no-end"):
        assert math.isnan(costs.loc[drill, "cost"]), drill
    assert costs.loc["partial", "cost_note"] == (
        "Kubecost holds 1 of the 2 hours of 2026-05-14 10:00..12:00 UTC (none for 10:00): a part would understate "
        "the cost")
    assert costs.loc["empty", "cost_note"].startswith("Kubecost holds no allocation for 2026-05-14 10:00..12:00 UTC")
    assert costs.loc["null", "cost_note"] == "Kubecost sent no totalCost for part of 2026-05-14 10:00..12:00 UTC"
    assert costs.loc["failed", "cost_note"] == "Kubecost failed: HTTP 500"
    assert costs.loc["no-end", "cost_note"].startswith("the drill's log has no end")
    fields = dr.cost_fields(next(costs.reset_index().itertuples(index=False)))
    assert fields == {"cost": 6.0, "cost_start": "2026-05-14T10:00:00Z", "cost_end": "2026-05-14T12:00:00Z",
                      "cost_hours": 2, "cost_note": None}


class FailingKubecost:
    """A Kubecost source that answers its clock and fails every allocation (as an unreachable server does)."""

    def __init__(self) -> None:
        self.asked = 0

    def now(self) -> pd.Timestamp:
        return ts("2026-11-23T06:00")

    def allocation(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        self.asked += 1
        raise KubecostError("Kubecost request failed after 3 attempts: HTTP 503: down (GET http://127.0.0.1:9/x)")


def test_kubecost_missing_is_a_note_and_failing_a_warning(drill_folder: Path) -> None:
    components = dr_report.fetch_components(DrillSource(str(drill_folder)))
    targets = load_dr_targets()
    end = ts("2026-11-23T06:00")
    windows = dr_report.drills_in_window(components, end, 8)
    missing = dr_report.fetch_drill_costs(MissingSource("kubecost", "GORELIABLE_KUBECOST_URL"), windows)
    report = dr_report.build_tables(components, targets, end=end, costs=missing)
    assert all(d["cost"] is None and "set GORELIABLE_KUBECOST_URL" in d["cost_note"]
               for d in report.dr_summary["drills"])
    assert not any("cost" in w for w in report.warnings)  # not configured: said, not warned about
    assert "unavailable: no kubecost configured" in report.headline()
    failing = FailingKubecost()
    costs = dr_report.fetch_drill_costs(failing, windows)  # type: ignore[arg-type]
    assert failing.asked == 1  # the first failure stops the asking
    report = dr_report.build_tables(components, targets, end=end, costs=costs)
    assert [w for w in report.warnings if "cost" in w] == [
        "drill costs unavailable: Kubecost failed: Kubecost request failed after 3 attempts: HTTP 503: down "
        "(GET http://127.0.0.1:9/x)"]
    assert report.dr_summary["drill_costs"]["known"] == 0
    assert all(d["cost"] is None for d in report.dr_summary["drills"])
    assert len(report.drills) == 8 and report.dr_summary["missing_quarters"] == ["2025-Q2"]  # the rest intact


# --------------------------------------------------------------------------------------------- the simulator
def test_the_earlier_cost_history_leaves_the_recent_days_as_they_were(cost_sim: CostSimulation) -> None:
    assert len(cost_sim.hours) == (COST_HISTORY_DAYS + EARLIER_COST_DAYS) * 24
    assert cost_sim.hours[-1] + pd.Timedelta(hours=1) == cost_sim.as_of
    assert (np.diff(cost_sim.hours.asi8) == 3600 * 10**9).all()  # one hour after the other, no seam
    # the recent days alone, built as before the earlier history
    recent = cost_sim.built_over(cost_sim.hours[-COST_HISTORY_DAYS * 24:])
    n, k = len(recent.containers), EARLIER_COST_DAYS * 24
    assert list(cost_sim.containers["pod"][:n]) == list(recent.containers["pod"])
    for name, matrix in recent.matrices.items():
        np.testing.assert_array_equal(cost_sim.matrices[name][:n, k:], matrix, err_msg=name)
        assert not cost_sim.matrices[name][n:, k:].any(), name  # the earlier training Jobs stay earlier
    pd.testing.assert_frame_equal(cost_sim.idle_hourly.iloc[k:], recent.idle_hourly)


def test_three_drills_fall_in_the_cost_data_and_the_truth_is_the_clusters_hours(
        cost_sim: CostSimulation, drill_sim: DrillSimulation) -> None:
    truth = cost_sim.truth_drill_costs(drill_sim.truth_drills())
    known = truth[truth["cost"].notna()]
    assert list(known["drill_id"]) == ["2026-05-14-cluster-replacement", "2026-08-13-cluster-replacement",
                                       drill_sim.latest_drill_id]
    assert (truth.loc[truth["cost"].isna(), "hours_in_data"] == 0).all()
    for row in known.itertuples(index=False):
        # the same hours through the other truth (per allocation name, by cluster, idle apart)
        by_cluster = cost_sim.truth_totals(row.cost_start, row.cost_end, "cluster")
        assert set(by_cluster) == {"go-reliable-eks", "__idle__"}
        assert row.cost == pytest.approx(sum(by_cluster.values()), rel=1e-12)
        assert 2.0 < row.cost / row.cost_hours < 6.0  # an hour of the whole cluster
        hour = cost_sim.hours.get_loc(row.cost_start)
        assert row.cost_hours == 1 and row.cost == pytest.approx(
            sum(cost_sim.matrices[c][:, hour].sum() for c in COST_COLUMNS)
            + cost_sim.idle_hourly[["cpu_cost", "ram_cost", "gpu_cost"]].iloc[hour].sum(), rel=1e-12)


# --------------------------------------------------------------------------------------------- on the servers
@pytest.mark.stack
@pytest.mark.parametrize("flavour", ["kubecost", "opencost"])
def test_each_drill_costs_the_truth_to_the_cent(flavour: str, request: pytest.FixtureRequest,
                                                make_source: Callable[..., KubecostSource], drill_folder: Path,
                                                cost_sim: CostSimulation, drill_sim: DrillSimulation) -> None:
    source = make_source(request.getfixturevalue(f"{flavour}_url"))
    components = dr_report.fetch_components(DrillSource(str(drill_folder)))
    end = drill_sim.as_of
    costs = dr_report.fetch_drill_costs(source, dr_report.drills_in_window(components, end, 8))
    report = dr_report.build_tables(components, load_dr_targets(), end=end, costs=costs)
    truth = cost_sim.truth_drill_costs(drill_sim.truth_drills()).set_index("drill_id")
    drills = report.dr_summary["drills"]
    assert len(drills) == 8 and report.dr_summary["drill_costs"]["known"] == 3
    for drill in drills:
        expected = truth.loc[drill["drill_id"]]
        assert (drill["cost_start"], drill["cost_hours"]) == (expected["cost_start"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                                                              expected["cost_hours"])
        if math.isnan(expected["cost"]):  # before the cost data: said, never 0
            assert drill["cost"] is None, drill["drill_id"]
            hour = expected["cost_start"].strftime("%Y-%m-%d %H:%M")
            assert drill["cost_note"].startswith(f"Kubecost holds no allocation for {hour}"), drill["cost_note"]
        else:
            assert abs(drill["cost"] - expected["cost"]) < CENT, drill["drill_id"]
            assert drill["cost_note"] is None
    assert source.flavour == flavour
    assert not any("cost" in w for w in report.warnings)
    latest = truth.loc[drill_sim.latest_drill_id, "cost"]
    assert f"**\\${latest:,.2f}** for `{drill_sim.latest_drill_id}`" in report.headline()


@pytest.mark.stack
def test_a_drill_across_the_start_of_the_cost_data_has_no_part_cost(
        make_source: Callable[..., KubecostSource], kubecost_url: str, cost_sim: CostSimulation) -> None:
    first = cost_sim.hours[0]  # 2026-04-25 06:00: the cost data's first hour
    windows = dr.drill_windows(_components([
        # declared 05:40, ended 06:20 -> hours [05:00, 07:00): only 06:00 is held
        {"drill_id": "straddling", "component": "x", "disaster_declared_at": first - pd.Timedelta(minutes=20),
         "drill_duration_seconds": 2400.0},
        # declared 06:10, ended 06:40 -> [06:00, 07:00): held
        {"drill_id": "inside", "component": "x", "disaster_declared_at": first + pd.Timedelta(minutes=10),
         "drill_duration_seconds": 1800.0}]))
    costs = dr_report.fetch_drill_costs(make_source(kubecost_url), windows)
    table = dr.drill_costs(windows, costs.allocations, costs.reasons).set_index("drill_id")
    assert math.isnan(table.loc["straddling", "cost"])
    assert table.loc["straddling", "cost_note"] == (
        f"Kubecost holds 1 of the 2 hours of {first:%Y-%m-%d} 05:00..07:00 UTC (none for 05:00): a part would "
        "understate the cost")
    truth = sum(cost_sim.truth_totals(first, first + pd.Timedelta(hours=1), "cluster").values())
    assert abs(table.loc["inside", "cost"] - truth) < CENT


# --------------------------------------------------------------------------------------------- the report run
@pytest.fixture(scope="module")
def kubecost_run(kubecost_url: str, drill_folder: Path, drill_sim: DrillSimulation,
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """notebooks/dr_trends.ipynb through the runner, profile live: the drill logs in a folder, Kubecost's server."""
    out = tmp_path_factory.mktemp("dr-costs-out")
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in ("GORELIABLE_PROMETHEUS_URL", "GORELIABLE_RECORD", "GORELIABLE_ARCHIVE_URI"):
            monkeypatch.delenv(name, raising=False)
        for name, value in {"GORELIABLE_PROFILE": "live", "GORELIABLE_CONFIG": "/dev/null",
                            "GORELIABLE_NOW": to_rfc3339(drill_sim.as_of), "GORELIABLE_KUBECOST_URL": kubecost_url,
                            "GORELIABLE_DRILLS_URI": str(drill_folder)}.items():
            monkeypatch.setenv(name, value)
        result = run_report("dr", {}, out=out, progress=False)
    run_dir = Path(result.location)
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", re.sub(
        r"<script\b.*?</script\s*>|<style\b.*?</style\s*>", " ", page, flags=re.S | re.I))))
    return {"result": result, "dir": run_dir, "summary": json.loads((run_dir / "summary.json").read_text()),
            "text": text}


@pytest.mark.stack
@pytest.mark.slow
def test_the_report_shows_each_drills_cost_and_replays_it(kubecost_run: dict[str, Any], cost_sim: CostSimulation,
                                                          drill_sim: DrillSimulation) -> None:
    assert kubecost_run["result"].exit_code == 0, kubecost_run["result"].error
    summary = kubecost_run["summary"]
    truth = cost_sim.truth_drill_costs(drill_sim.truth_drills()).set_index("drill_id")
    costs = {d["drill_id"]: d["cost"] for d in summary["drills"]}
    assert {d for d, c in costs.items() if c is not None} == set(truth.index[truth["cost"].notna()])
    for drill, cost in costs.items():
        assert cost is None or abs(cost - truth.loc[drill, "cost"]) < CENT, drill
    assert summary["drill_costs"] == {"rule": summary["drill_costs"]["rule"], "known": 3, "unavailable": None}
    assert not any("cost" in w for w in summary["warnings"])
    table = pd.read_csv(kubecost_run["dir"] / "drill_costs.csv")
    assert len(table) == 8 and table["cost"].notna().sum() == 3
    assert table.loc[table["cost"].isna(), "cost_note"].str.startswith("Kubecost holds no allocation for").all()
    text = kubecost_run["text"]
    latest = truth.loc[drill_sim.latest_drill_id, "cost"]
    first_section = text.index("How to read this report")
    assert text.index(f"Drill cost ${latest:,.2f} for {drill_sim.latest_drill_id} (1 hour of the whole cluster); "
                      "known for 3 of 8 drills") < first_section
    assert "What each drill cost" in text and "Kubecost holds no allocation for 2026-02-12 10:00..11:00 UTC" in text
    # the run's own snapshot gives the same costs, no server involved
    replayed = dr_report.fetch(connect(f"snapshot:{kubecost_run['dir'] / 'data'}"), {"quarters": 8})
    report = dr_report.build(replayed, {"quarters": 8})
    assert {d["drill_id"]: d["cost"] for d in report.dr_summary["drills"]} == costs
