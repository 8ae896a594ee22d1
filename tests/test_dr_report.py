"""The DR trend report end to end: notebooks/dr_trends.ipynb executed by the real runner against simulated drill
logs in a folder (profile live, GORELIABLE_DRILLS_URI) and on the moto S3 server (drills_uri parameter), checked
against the simulator's ground truth. Two notebook executions in all (module-scoped runs)."""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from drill_fixtures import drill_s3, drill_sim, moto_endpoint  # noqa: F401

from goreliable_lib.devstack.sim.drills import DrillSimulation
from goreliable_lib.inputs.dr_targets import load_dr_targets
from goreliable_lib.reports import dr as dr_report
from goreliable_lib.reports.registry import get_report
from goreliable_lib.runner.execute import run_report
from goreliable_lib.sources.connect import MissingSource
from goreliable_lib.sources.drills import DrillSource
from goreliable_lib.sources.snapshot import SnapshotReplayer
from goreliable_lib.timeutil import to_rfc3339

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "dr_trends.ipynb"
CORRUPT_LINE = '{"schema": "goreliable.drill/v1", "drill_id": "2026-11-12-cluster-replacement", "event": "recov'
CORRUPT_AT = 3  # line number of the corrupt line in the latest drill's log
SOURCE_VARIABLES = ("GORELIABLE_PROMETHEUS_URL", "GORELIABLE_KUBECOST_URL", "GORELIABLE_DRILLS_URI",
                    "GORELIABLE_RECORD", "GORELIABLE_PROFILE", "GORELIABLE_NOW", "AWS_ENDPOINT_URL")


def _env(monkeypatch: pytest.MonkeyPatch, sim: DrillSimulation, **extra: str) -> None:
    for name in SOURCE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GORELIABLE_PROFILE", "live")
    monkeypatch.setenv("GORELIABLE_CONFIG", "/dev/null")
    monkeypatch.setenv("GORELIABLE_NOW", to_rfc3339(sim.as_of))
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def corrupt_folder(drill_sim: DrillSimulation, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:  # noqa: F811
    """The simulated logs in a folder, with one corrupt line inserted into the latest drill's log."""
    root = drill_sim.write_folder(tmp_path_factory.mktemp("dr-report-logs"))
    latest = next(root.rglob(f"{drill_sim.latest_drill_id}.jsonl"))
    lines = latest.read_text().splitlines()
    lines.insert(CORRUPT_AT - 1, CORRUPT_LINE)
    latest.write_text("\n".join(lines) + "\n")
    return {"uri": str(root), "file": latest}


@pytest.fixture(scope="module")
def folder_run(drill_sim: DrillSimulation, corrupt_folder: dict[str, Any],  # noqa: F811
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    out = tmp_path_factory.mktemp("dr-report-out")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _env(monkeypatch, drill_sim, GORELIABLE_DRILLS_URI=corrupt_folder["uri"])
        result = run_report("dr", {}, out=out, progress=False)
    yield _loaded(result)


@pytest.fixture(scope="module")
def s3_run(drill_sim: DrillSimulation, drill_s3: dict[str, Any],  # noqa: F811
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    out = tmp_path_factory.mktemp("dr-report-s3-out")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _env(monkeypatch, drill_sim, AWS_ENDPOINT_URL=drill_s3["endpoint"], AWS_ACCESS_KEY_ID="testing",
             AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
        result = run_report("dr", {"drills_uri": drill_s3["uri"], "quarters": 8}, out=out, progress=False)
    yield _loaded(result)


def _loaded(result: Any) -> dict[str, Any]:
    run_dir = Path(result.location)
    page = (run_dir / "report.html").read_text(encoding="utf-8") if (run_dir / "report.html").exists() else ""
    summary = json.loads((run_dir / "summary.json").read_text())
    return {"result": result, "dir": run_dir, "summary": summary, "html": page, "text": _visible_text(page)}


def _visible_text(page: str) -> str:
    body = re.sub(r"<script\b.*?</script\s*>|<style\b.*?</style\s*>", " ", page, flags=re.S | re.I)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def _value(number: float) -> float | None:
    return None if math.isnan(number) else float(number)


def _assert_matches_truth(summary: dict[str, Any], sim: DrillSimulation) -> None:
    """Every drill of the window, every RTO and RPO to the second, the verdicts, the scripted findings."""
    window = summary["quarters"]
    assert len(window) == 8 and window[-1] == "2026-Q4"
    truth_drills = sim.truth_drills()
    truth_drills = truth_drills[truth_drills["quarter"].isin(window)]
    truth_components = sim.truth_components()
    drills = {d["drill_id"]: d for d in summary["drills"]}
    assert list(drills) == list(truth_drills["drill_id"])  # oldest first, nothing missing, nothing extra
    for truth in truth_drills.itertuples(index=False):
        drill = drills[truth.drill_id]
        assert drill["started_at"] == to_rfc3339(truth.started_at)
        assert drill["duration_seconds"] == _value(truth.duration_seconds)
        assert drill["aborted"] is bool(truth.aborted)
        expected = truth_components[truth_components["drill_id"] == truth.drill_id]
        got = {c["component"]: c for c in drill["components"]}
        assert set(got) == set(expected["component"])
        for row in expected.itertuples(index=False):
            component = got[row.component]
            assert component["rto_seconds"] == _value(row.rto_seconds), (truth.drill_id, row.component)
            assert component["rpo_seconds"] == _value(row.rpo_seconds), (truth.drill_id, row.component)
            assert component["rto_target_seconds"] == row.rto_target_seconds
            assert component["rpo_target_seconds"] == row.rpo_target_seconds
            assert component["passed"] is bool(row.passed), (truth.drill_id, row.component)
    found = {(r["drill_id"], r["component"], r["metric"]) for r in summary["regressions"]}
    assert found == {tuple(r) for r in sim.truth_regressions()[["drill_id", "component", "metric"]].itertuples(
        index=False)}
    assert (sim.missed_rpo_drill_id, "postgresql", "rpo") in found
    assert summary["missing_quarters"] == [sim.missing_quarter]
    assert drills[sim.aborted_drill_id]["aborted"] and not drills[sim.aborted_drill_id]["passed"]
    assert [a["drill_id"] for a in summary["aborted_drills"]] == [sim.aborted_drill_id]
    latest = [d for d in summary["drills"] if not d["aborted"]][-1]
    assert latest["drill_id"] == sim.latest_drill_id
    assert latest["duration_seconds"] == 420.0 and latest["duration_target_seconds"] == 600.0
    assert summary["latest_drill"]["drill_id"] == sim.latest_drill_id
    assert summary["latest_drill"]["duration_seconds"] == 420.0 and summary["latest_drill"]["duration_passed"]


def test_folder_run_matches_the_ground_truth(folder_run: dict[str, Any], drill_sim: DrillSimulation) -> None:  # noqa: F811
    assert folder_run["result"].exit_code == 0, folder_run["result"].error
    summary = folder_run["summary"]
    assert summary["report"] == "dr" and summary["status"] == "ok"
    _assert_matches_truth(summary, drill_sim)
    assert summary["window"] == {"start": "2025-01-01T00:00:00Z", "end": to_rfc3339(drill_sim.as_of)}
    assert summary["parameters"] == {"end": "now", "title": "Disaster-recovery trends", "drills_uri": None,
                                     "quarters": 8, "targets": "params/dr_targets.yaml"}


def test_corrupt_line_is_a_warning_in_the_summary_and_on_the_first_screen(
        folder_run: dict[str, Any], corrupt_folder: dict[str, Any]) -> None:
    location = f"{corrupt_folder['file']} line {CORRUPT_AT}"
    invalid = [w for w in folder_run["summary"]["warnings"] if w.startswith(location)]
    assert len(invalid) == 1 and "not valid JSON" in invalid[0]
    assert any("2025-Q2" in w for w in folder_run["summary"]["warnings"])  # the missing quarter is said too
    text = folder_run["text"]
    first_section = text.index("How to read this report")
    assert text.index(location) < first_section  # said before the first section of the report
    assert text.index("Problems in the drill logs 1") < first_section
    assert text.index("7 min 00 s (420 s)") < first_section and "10 min 00 s whole-drill target" in text
    quality = (folder_run["dir"] / "data_quality.csv").read_text()
    assert f",{CORRUPT_AT}," in quality and str(corrupt_folder["file"]) in quality


def test_run_folder_layout_and_offline_html(folder_run: dict[str, Any]) -> None:
    run_dir: Path = folder_run["dir"]
    for name in ("report.ipynb", "report.html", "summary.json"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "data" / "manifest.json").is_file() and list((run_dir / "data").glob("drills-*.parquet"))
    figures = {p.stem for p in (run_dir / "figures").glob("*.json")}
    assert figures == {"pass_fail_matrix", "rto_trend", "rpo_trend", "latest_drill_timeline", "drill_durations",
                       "drill_costs"}
    for table in ("components", "drills", "regressions", "missing_quarters", "aborted_drills", "data_quality",
                  "drill_costs"):
        assert (run_dir / f"{table}.csv").is_file(), table
    page = folder_run["html"]
    assert not re.search(r"<script\b[^>]*\bsrc\s*=", page, flags=re.I)  # plotly.js inline, nothing fetched
    assert not re.search(r"<link\b[^>]*\bhref\s*=\s*[\"']?\s*(https?:)?//", page, flags=re.I)
    # five charts; the pass/fail matrix is an HTML table (figures/pass_fail_matrix.json keeps it as a chart)
    assert page.count("plotly-graph-div") >= 4 and page.count("<!-- goreliable: plotly.js -->") == 1
    assert 'class="gr-table gr-matrix"' in page and "RPO " in page
    template = nbformat.read(NOTEBOOK, as_version=4)
    for cell in template.cells:
        if cell.cell_type == "code":
            for line in cell.source.splitlines():
                if len(line.strip()) > 25:
                    assert line.strip() not in folder_run["text"], f"code shown in report.html: {line}"
    executed = nbformat.read(run_dir / "report.ipynb", as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error" or o.get("name") == "stderr"]
    assert errors == []


def test_without_kubecost_the_costs_say_why_and_nothing_else_changes(folder_run: dict[str, Any]) -> None:
    summary = folder_run["summary"]
    assert folder_run["result"].exit_code == 0 and summary["status"] == "ok"
    note = "no Kubecost configured: set GORELIABLE_KUBECOST_URL (or use GORELIABLE_PROFILE=demo)"
    assert summary["drill_costs"]["unavailable"] == note and summary["drill_costs"]["known"] == 0
    assert all(d["cost"] is None and d["cost_note"] == note for d in summary["drills"])
    assert not any("cost" in w for w in summary["warnings"])  # a DR report without Kubecost is no fault
    text = folder_run["text"]
    assert f"Drill cost unavailable: {note}" in text and f"Drill costs unavailable: {note}" in text


def test_s3_run_matches_the_truth_and_replays_from_its_own_data(
        s3_run: dict[str, Any], folder_run: dict[str, Any], drill_sim: DrillSimulation,  # noqa: F811
        drill_s3: dict[str, Any]) -> None:  # noqa: F811
    assert s3_run["result"].exit_code == 0, s3_run["result"].error
    summary = s3_run["summary"]
    _assert_matches_truth(summary, drill_sim)
    assert summary["source"]["endpoints"]["drills"] == drill_s3["uri"]
    assert summary["warnings"] == [f"no drill at all in {drill_sim.missing_quarter} (quarter without a DR drill)"]
    assert "Problems in the drill logs none" in s3_run["text"]
    for key in ("drills", "regressions", "missing_quarters", "aborted_drills", "latest_drill"):
        assert summary[key] == folder_run["summary"][key], key
    # the run folder holds its data: the same report from the snapshot alone, no S3 involved
    replayer = SnapshotReplayer(s3_run["dir"] / "data")  # what connect("snapshot:<run>/data") builds for drills
    assert replayer.as_of == drill_sim.as_of and replayer.endpoints["drills"] == drill_s3["uri"]
    drills = DrillSource(replayer.endpoints["drills"], replayer=replayer)
    components = dr_report.fetch_components(drills)
    no_kubecost = dr_report.fetch_drill_costs(MissingSource("Kubecost", "GORELIABLE_KUBECOST_URL"),
                                              dr_report.drills_in_window(components, drills.now(), 8))
    replayed = dr_report.build_tables(components, load_dr_targets("params/dr_targets.yaml"), end=drills.now(),
                                      costs=no_kubecost)
    for key in ("drills", "regressions", "missing_quarters"):
        assert json.loads(json.dumps(replayed.dr_summary[key])) == summary[key], key


def test_notebook_template_is_commit_ready() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert code[0].metadata.get("tags") == ["parameters"]
    from papermill.inspection import inspect_notebook

    declared = inspect_notebook(str(NOTEBOOK))
    spec = get_report("dr")
    assert list(declared) == spec.param_names
    for param in spec.params:
        assert eval(declared[param.name]["default"]) == param.default, param.name  # noqa: S307 - our own literals
    assert all(len(c.source.splitlines()) <= 15 for c in code)


def test_missing_folder_is_reported_before_a_kernel_starts(tmp_path: Path) -> None:
    from goreliable_lib.errors import BadInputError

    with pytest.raises(BadInputError, match="drills_uri"):
        run_report("dr", {"drills_uri": str(tmp_path / "nowhere")}, out=tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "dr").exists() or not any((tmp_path / "out" / "dr").iterdir())

