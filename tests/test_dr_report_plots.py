"""The DR report's figures (goreliable_lib/plots/dr.py) and glue (goreliable_lib/reports/dr.py), without a kernel:
built from the simulated drills and checked cell by cell against the ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from drill_fixtures import (  # noqa: F401
    BROKEN_DRILL,
    BROKEN_LOG_DUPLICATE_LINE,
    BROKEN_LOG_INVALID_LINES,
    broken_log_text,
    drill_folder,
    drill_sim,
)

from goreliable_lib.devstack.sim.drills import DrillSimulation
from goreliable_lib.inputs.dr_targets import load_dr_targets
from goreliable_lib.plots import dr as dr_plots
from goreliable_lib.reports import dr as dr_report
from goreliable_lib.runner.context import Run
from goreliable_lib.sources.drills import DrillSource

TARGETS = "params/dr_targets.yaml"


@pytest.fixture(scope="module")
def report(drill_folder: Path, drill_sim: DrillSimulation) -> dr_report.DRReport:  # noqa: F811
    """Every simulated quarter (10), so the oldest drill (grafana without data_loss) is in the window."""
    components = dr_report.fetch_components(DrillSource(str(drill_folder)))
    return dr_report.build_tables(components, load_dr_targets(TARGETS), end=drill_sim.as_of, quarters=10)


def _cells(fig: Any) -> dict[tuple[str, str], tuple[str, float]]:
    """(row, drill_id) -> (text, colour code) of the matrix heatmap."""
    heatmap = fig.data[0]
    columns = list(heatmap.x)
    cells = {}
    for i, row in enumerate(heatmap.y):
        for j, column in enumerate(columns):
            cells[(row, column)] = (heatmap.text[i][j], heatmap.z[i][j])
    return cells


def test_pass_fail_matrix_cells_follow_the_truth(report: dr_report.DRReport, drill_sim: DrillSimulation) -> None:  # noqa: F811
    fig = dr_plots.pass_fail_matrix(report.evaluated, report.drills, components=report.component_order)
    labels = dr_plots.drill_labels(report.drills)
    cells = _cells(fig)
    truth = drill_sim.truth_components()
    assert list(fig.data[0].y) == [dr_plots.WHOLE_DRILL, *report.targets.component_names()]
    assert len(fig.data[0].x) == len(drill_sim.truth_drills())
    for row in truth.itertuples(index=False):
        text, code = cells[(row.component, labels[row.drill_id])]
        if row.aborted:
            expected = "aborted"
        elif row.passed:
            expected = "passed"
        elif row.rto_passed and pd.isna(row.rpo_seconds):
            expected = "unknown"  # no data_loss event: not a pass, but not a measured failure either
        else:
            expected = "failed"
        assert text.split("<br>")[0] == expected, (row.drill_id, row.component)
        assert code == dr_plots.STATUS_LABELS.index(expected)
    oldest = drill_sim.truth_drills()["drill_id"].iloc[0]
    assert cells[("grafana-dashboards", labels[oldest])][0].startswith("unknown")
    assert cells[("model-artifacts", labels[drill_sim.regression_drill_id])][0].startswith(
        "failed<br>RTO 318s over<br>RPO ")
    # a cell says both verdicts: one whose RPO failed (its RTO within target) says so, not only its RTO
    rpo_failed = report.evaluated[report.evaluated["rto_passed"] & ~report.evaluated["rpo_passed"]
                                  & report.evaluated["rpo_seconds"].notna()]
    for row in rpo_failed.itertuples(index=False):
        text = cells[(row.component, labels[row.drill_id])][0]
        assert text == f"failed<br>RTO {row.rto_seconds:.0f}s ok<br>RPO {row.rpo_seconds:.0f}s over", text
    page = dr_plots.pass_fail_table(report.evaluated, report.drills, components=report.component_order)
    assert page.count("<tr>") == 1 + 1 + len(report.component_order) and "RPO " in page and "position:sticky" in page
    assert cells[("postgresql", labels[drill_sim.missed_rpo_drill_id])][0].startswith("failed")
    assert cells[(dr_plots.WHOLE_DRILL, labels[drill_sim.latest_drill_id])][0] == "passed<br>7 min 00 s"
    assert cells[(dr_plots.WHOLE_DRILL, labels[drill_sim.aborted_drill_id])][0] == "aborted"
    assert {t.name for t in fig.data[1:]} == set(dr_plots.STATUS_LABELS)  # the colour legend


@pytest.mark.parametrize(("metric", "component", "drill", "seconds"), [
    ("rto", "model-artifacts", "regression_drill_id", 318.0), ("rpo", "postgresql", "missed_rpo_drill_id", 412.0)])
def test_trend_marks_the_regression_the_targets_and_the_missing_quarter(
        report: dr_report.DRReport, drill_sim: DrillSimulation, metric: str, component: str, drill: str,  # noqa: F811
        seconds: float) -> None:
    missing = report.dr_summary["missing_quarters"]
    fig = dr_plots.metric_trend(report.trends, metric, missing_quarters=missing, components=report.component_order)
    regression_points = [(x, y) for t in fig.data if t.name == "regression" for x, y in zip(t.x, t.y, strict=True)]
    started = report.drills.set_index("drill_id").at[getattr(drill_sim, drill), "started_at"]
    assert ((pd.Timestamp(started).tz_localize(None), seconds / 60)
            in {(pd.Timestamp(x), y) for x, y in regression_points})
    assert len(regression_points) == 1
    lines = sorted(s.y0 for s in fig.layout.shapes if s.type == "line")
    targets = report.targets.frame()[f"{metric}_target_seconds"] / 60
    assert lines == sorted(targets)
    bands = [s for s in fig.layout.shapes if s.type == "rect"]
    start, end = pd.Period(drill_sim.missing_quarter, freq="Q").start_time, pd.Period(
        drill_sim.missing_quarter, freq="Q").end_time
    assert bands and all(pd.Timestamp(b.x0).tz_localize(None) == start for b in bands)
    assert all(pd.Timestamp(b.x1).tz_localize(None) > end for b in bands)
    assert [a.text for a in fig.layout.annotations][:6] == report.targets.component_names()


def test_latest_drill_timeline(report: dr_report.DRReport, drill_sim: DrillSimulation) -> None:  # noqa: F811
    fig = dr_plots.drill_timeline(report.components, report.evaluated, drill_sim.latest_drill_id,
                                  report.targets.drill_duration_target_seconds)
    recovering = next(t for t in fig.data if t.name.startswith("recovering"))
    ends = {c: b + x for c, b, x in zip(recovering.y, recovering.base, recovering.x, strict=True)}
    truth = drill_sim.truth_components()
    truth = truth[truth["drill_id"] == drill_sim.latest_drill_id].set_index("component")
    assert set(ends) == set(truth.index)
    for component, end in ends.items():
        assert end == pytest.approx(truth.at[component, "rto_seconds"] / 60, abs=1e-9)
    assert sorted(s.x0 for s in fig.layout.shapes) == [7.0, 10.0]
    assert {a.text for a in fig.layout.annotations} == {"whole-drill target 10 min 00 s",
                                                        "all recovered: 7 min 00 s"}
    with pytest.raises(ValueError, match="not in the components frame"):
        dr_plots.drill_timeline(report.components, report.evaluated, "no-such-drill", 600)


def test_drill_durations(report: dr_report.DRReport, drill_sim: DrillSimulation) -> None:  # noqa: F811
    fig = dr_plots.drill_durations(report.drills)
    bars = fig.data[0]
    by_drill = dict(zip(bars.customdata, zip(bars.y, bars.text, strict=True), strict=True))
    assert by_drill[drill_sim.latest_drill_id] == (7.0, "7 min 00 s")
    assert by_drill[drill_sim.aborted_drill_id][1] == "aborted"
    truth = drill_sim.truth_drills().set_index("drill_id")
    for drill_id, (minutes, _) in by_drill.items():
        if not truth.at[drill_id, "aborted"]:
            assert minutes * 60 == pytest.approx(truth.at[drill_id, "duration_seconds"])
    assert [s.y0 for s in fig.layout.shapes] == [10.0]


def test_format_seconds() -> None:
    assert [dr_plots.format_seconds(v) for v in (0, 45, 420, 3725, float("nan"), None)] == [
        "0 s", "45 s", "7 min 00 s", "1 h 02 min", "unknown", "unknown"]


def test_broken_log_problems_are_listed_and_headlined(tmp_path: Path) -> None:
    (tmp_path / "2026" / "Q1").mkdir(parents=True)
    (tmp_path / "2026" / "Q1" / f"{BROKEN_DRILL}.jsonl").write_text(broken_log_text())
    components = dr_report.fetch_components(DrillSource(str(tmp_path)))
    report = dr_report.build_tables(components, load_dr_targets(TARGETS), end="2026-03-31T23:00:00Z",
                                    quarters=1)
    quality = report.data_quality_table()
    assert set(quality["line"]) == BROKEN_LOG_INVALID_LINES | {BROKEN_LOG_DUPLICATE_LINE, 10}
    assert quality["location"].str.endswith(f"{BROKEN_DRILL}.jsonl").all()
    assert any("unknown component 'redis'" in p for p in quality["problem"])
    headline = dr_report.headline_markdown(report, "DR")
    assert f"| Problems in the drill logs | **{len(quality)}** (see Data quality below) |" in headline
    assert all(w in report.dr_summary["warnings"] for w in report.data_problems)
    postgres = report.evaluated.set_index("component").loc["postgresql"]
    assert (postgres["rto_seconds"], postgres["rpo_seconds"]) == (300.0, 42.0)
    fig = dr_plots.pass_fail_matrix(report.evaluated, report.drills, components=report.component_order)
    assert _cells(fig)[("redis", dr_plots.drill_labels(report.drills)[BROKEN_DRILL])][0].startswith("unknown")
    # components of the targets not in the log fail as "not recorded"; no timeline crash on a partial drill
    dr_plots.drill_timeline(report.components, report.evaluated, BROKEN_DRILL, 600)


def test_no_drill_logs_say_so_on_the_first_screen(tmp_path: Path) -> None:
    components = dr_report.fetch_components(DrillSource(str(tmp_path)))
    report = dr_report.build_tables(components, load_dr_targets(TARGETS), end="2026-11-23T06:00:00Z")
    headline = dr_report.headline_markdown(report)
    assert "**No completed drill** in the window" in headline
    assert report.latest_drill_id is None and len(report.dr_summary["missing_quarters"]) == 7
    assert report.warnings[0] == f"no drill logs (*.jsonl) under {tmp_path}"
    assert "no drill in the window 2025-Q1 .. 2026-Q4" in report.warnings
    for metric in ("rto", "rpo"):
        dr_plots.metric_trend(report.trends, metric, missing_quarters=report.dr_summary["missing_quarters"])
    dr_plots.pass_fail_matrix(report.evaluated, report.drills)
    dr_plots.drill_durations(report.drills)


@pytest.fixture()
def live_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, drill_sim: DrillSimulation) -> Run:  # noqa: F811
    for name in ("GORELIABLE_PROMETHEUS_URL", "GORELIABLE_KUBECOST_URL", "GORELIABLE_DRILLS_URI", "GORELIABLE_RECORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GORELIABLE_PROFILE", "live")
    monkeypatch.setenv("GORELIABLE_CONFIG", "/dev/null")
    monkeypatch.setenv("GORELIABLE_NOW", "2026-11-23T06:00:00Z")
    return Run("dr", {"quarters": 8}, tmp_path / "run", scratch=False)


def test_drill_source_for_an_explicit_uri_records_into_the_run(live_run: Run, drill_folder: Path) -> None:  # noqa: F811
    sources = live_run.connect()
    targets = load_dr_targets(TARGETS)
    source = sources.drill_source(str(drill_folder), known_components=targets.component_names())
    assert isinstance(source, DrillSource) and source.known_components == tuple(targets.component_names())
    assert source.now() == pd.Timestamp("2026-11-23T06:00:00Z")
    assert len(dr_report.fetch_components(source))
    live_run.recorder.flush()  # the run's manifest: rewritten at most every 0.5 s, and when the summary is written
    manifest = json.loads((live_run.data_dir / "manifest.json").read_text())
    assert [e["request"] for e in manifest["entries"]] == [{"method": "events", "uri": str(drill_folder)}]
    assert manifest["endpoints"]["drills"] == str(drill_folder) == sources.describe()["endpoints"]["drills"]


def test_drill_source_defaults_to_the_profile(live_run: Run, drill_folder: Path,  # noqa: F811
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GORELIABLE_DRILLS_URI", str(drill_folder))
    sources = live_run.connect()
    assert sources.drill_source(None, known_components=load_dr_targets(TARGETS).component_names()) is sources.drills
    dr_report.fetch_components(sources.drills)
    assert (live_run.data_dir / "manifest.json").is_file() and list(live_run.data_dir.glob("drills-*.parquet"))
