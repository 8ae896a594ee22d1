"""summary.json's JSON Schema (docs/schema/) against the code: the demo runs' summaries of the four reports and the
runner's summary of a failed run validate; a summary missing a required field or holding a wrong type does not;
every field a demo summary holds is described; and the session-end check of tests/conftest.py finds and rejects a
bad summary (also through a real pytest session under pytest-xdist)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from summary_schema import (
    NOT_A_SUMMARY,
    REPORT_SCHEMAS,
    ROOT,
    SCHEMA_DIR,
    check_summaries,
    find_summaries,
    from_the_reports_notebook,
    load_schema,
    schema_errors,
    undescribed_keys,
    validator,
)

from goreliable_lib.reports.registry import REPORTS, get_report
from goreliable_lib.runner.finalise import describe_error, finalise_run
from goreliable_lib.runner.shared import CONTEXT_FILE, SUMMARY_FILE

#: What DESIGN.md's contract requires of every report (the always-present fields) and of each report's ok run.
CONTRACT = {
    "common": ["report", "status", "generated_at", "parameters", "window", "source", "warnings"],
    "slo": ["slos", "policy", "model_drift", "archive", "history"],
    "cost": ["total_cost", "teams", "namespaces", "budgets", "idle_cost", "unallocated_cost", "anomalies"],
    "dr": ["drills", "regressions", "missing_quarters"],
    "postmortem": ["incident", "slos", "cost_impact"],
    "slo-review": ["period", "episodes", "backtest", "what_if"],
}


@pytest.fixture()
def scratch() -> Iterator[Path]:
    """A folder outside the session's temporary folders: the deliberately bad summaries written here must not reach
    the session-end check (which would fail the session, as it should)."""
    with tempfile.TemporaryDirectory(prefix="summary-schema-") as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
def demo_summaries(demo_suite: dict) -> dict[str, dict[str, Any]]:
    summaries = demo_suite["summaries"]
    assert sorted(summaries) == sorted(REPORT_SCHEMAS), demo_suite["results"]  # every report ran ok
    return summaries


# ---- the schemas themselves ----------------------------------------------------------------------------------------
def test_one_schema_per_report_each_on_the_common_one() -> None:
    assert sorted(p.stem for p in SCHEMA_DIR.glob("*.json")) == sorted(["common", *REPORT_SCHEMAS])
    assert set(REPORT_SCHEMAS) == set(REPORTS)  # a new report needs its schema
    common = load_schema("common")
    assert common["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert common["required"] == CONTRACT["common"]
    for name in REPORT_SCHEMAS:
        schema = load_schema(name)
        assert schema["$schema"] == common["$schema"] and {"$ref": "common.json"} in schema["allOf"]
        assert schema["properties"]["report"]["const"] == name
        # the report's contract fields are required of a run that ended ok (a failed run may lack them)
        assert schema["if"] == {"properties": {"status": {"const": "ok"}}}
        assert schema["then"]["required"] == CONTRACT[name]
        validator(name)  # a valid draft 2020-12 schema, its references resolved


def test_every_schema_entry_is_described() -> None:
    """Every property of every schema, at any depth, says what it is (the conditions of an `if` are no fields)."""
    missing = []

    def visit(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, sub in (node.get("properties") or {}).items():
                if "description" not in sub:
                    missing.append(f"{where}.properties.{key}")
            for key, sub in node.items():
                if key != "if":
                    visit(sub, f"{where}.{key}")
        elif isinstance(node, list):
            for index, sub in enumerate(node):
                visit(sub, f"{where}[{index}]")

    for name in ("common", *REPORT_SCHEMAS):
        visit(load_schema(name), name)
    assert missing == []


# ---- (a) the demo runs' summaries ------------------------------------------------------------------------------------
@pytest.mark.parametrize("report", REPORT_SCHEMAS)
def test_the_demo_summary_validates(demo_summaries: dict[str, dict[str, Any]], report: str) -> None:
    summary = demo_summaries[report]
    assert summary["report"] == report and summary["status"] == "ok"
    assert schema_errors(summary) == []


# ---- (d) every field the code writes is documented ------------------------------------------------------------------
@pytest.mark.parametrize("report", REPORT_SCHEMAS)
def test_every_field_of_the_demo_summary_is_described(demo_summaries: dict[str, dict[str, Any]],
                                                      report: str) -> None:
    """Every key of the demo summary, top level and nested, has a described entry in its schema: a field added to
    the code without documentation fails here."""
    summary = demo_summaries[report]
    properties = {**load_schema("common")["properties"], **load_schema(report)["properties"]}
    assert sorted(k for k in summary if "description" not in properties.get(k, {})) == []
    assert undescribed_keys(summary, report) == []


def test_an_undescribed_field_is_found(demo_summaries: dict[str, dict[str, Any]]) -> None:
    summary = copy.deepcopy(demo_summaries["slo"])
    summary["brand_new"] = 1
    summary["slos"][0]["new_figure"] = 0.5
    summary["source"]["endpoints"]["tempo"] = "http://tempo:3200"  # a map: its keys are data, not fields
    assert schema_errors(summary) == []  # fields may be added ...
    assert undescribed_keys(summary, "slo") == ["brand_new", "slos[].new_figure"]  # ... but not undocumented


# ---- (b) a failed run's summary --------------------------------------------------------------------------------------
@pytest.mark.parametrize("report", REPORT_SCHEMAS)
def test_the_runners_summary_of_a_failed_run_validates(scratch: Path, report: str) -> None:
    """The notebook failed before writing summary.json: the runner writes its own from the run context's file."""
    staging = scratch / report
    staging.mkdir()
    (staging / CONTEXT_FILE).write_text(json.dumps({
        "report": report, "parameters": {"end": "now"}, "warnings": ["Kubecost: no cost for ml-platform"],
        "window": {"start": None, "end": "2026-11-23T06:00:00Z"},
        "source": {"kind": "demo", "profile": "demo", "as_of": "2026-11-23T06:00:00Z", "endpoints": {"drills": None}}}))
    error = describe_error(RuntimeError("upstream exploded mid-report"))
    summary = finalise_run(staging, get_report(report), {"end": "now", "title": None}, "20261123T060000Z-beef",
                           error, time.monotonic())
    written = json.loads((staging / SUMMARY_FILE).read_text())
    assert written == summary and written["status"] == "failed" and "cell" not in written["error"]
    assert schema_errors(written) == []


def test_a_failed_run_without_context_or_notebook_validates(scratch: Path) -> None:
    """Nothing at all was written (the kernel never started): the summary holds nulls where nothing is known."""
    summary = finalise_run(scratch, get_report("slo"), {}, "20261123T060000Z-0001", None, time.monotonic())
    assert summary["error"]["type"] == "MissingSummary" and summary["window"] == {"start": None, "end": None}
    assert summary["source"] == {"kind": None, "endpoints": {}}
    assert schema_errors(summary) == []


def test_a_run_failing_after_its_summary_keeps_its_figures_and_validates(
        demo_summaries: dict[str, dict[str, Any]], scratch: Path) -> None:
    """The notebook wrote its summary, then failed: the figures stay (partial), status failed, the error added."""
    partial = {k: v for k, v in demo_summaries["cost"].items() if k not in ("run_id", "runner")}
    (scratch / SUMMARY_FILE).write_text(json.dumps(partial))
    error = {"type": "PapermillExecutionError", "message": "boom", "cell": 7}
    summary = finalise_run(scratch, get_report("cost"), {}, "20261123T060000Z-0002", error, time.monotonic())
    assert summary["status"] == "failed" and summary["total_cost"] == partial["total_cost"]
    assert schema_errors(summary) == []


# ---- (c) a summary missing a required field or with a wrong type is refused ------------------------------------------
def _without(summary: dict[str, Any], *path: Any) -> dict[str, Any]:
    broken = copy.deepcopy(summary)
    node = broken
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return broken


def _with(summary: dict[str, Any], value: Any, *path: Any) -> dict[str, Any]:
    broken = copy.deepcopy(summary)
    node = broken
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return broken


@pytest.mark.parametrize("report", REPORT_SCHEMAS)
def test_every_contract_field_is_required(demo_summaries: dict[str, dict[str, Any]], report: str) -> None:
    summary = demo_summaries[report]
    for name in [*CONTRACT["common"], *CONTRACT[report]]:
        errors = schema_errors(_without(summary, name), report)
        assert errors and errors[0].startswith(f"(top level): '{name}' is a required property"), (name, errors)


MUTATIONS = [
    # (report, path, value or DELETE, the error's path)
    ("slo", ("slos", 0, "status"), None, "slos[0]: 'status' is a required property"),
    ("slo", ("slos", 0, "status"), "unknown", "slos[0].status: 'unknown' is not one of"),
    ("slo", ("slos", 0, "sli"), "0.999", "slos[0].sli: '0.999' is not valid"),
    ("slo", ("slos", 0, "sli"), 1.5, "slos[0].sli: 1.5 is not valid"),
    ("slo", ("slos", 0, "burn_rates", "1h"), None, "slos[0].burn_rates: '1h' is a required property"),
    ("slo", ("slos", 0, "data_starts_at"), "2026-11-01 00:00", "slos[0].data_starts_at: '2026-11-01 00:00' is not"),
    ("slo", ("slos", 0, "partial"), "no", "slos[0].partial: 'no' is not of type 'boolean'"),
    ("slo", ("policy", "decision"), "feature work", "policy.decision: 'feature work' is not one of"),
    ("slo", ("archive", "first_day"), "2026-11-01T00:00:00Z", "archive.first_day: '2026-11-01T00:00:00Z' is not"),
    ("slo", ("history", 0, "months", 0, "breached"), "yes", "history[0].months[0].breached: 'yes' is not of type"),
    ("cost", ("total_cost",), "2020.01", "total_cost: '2020.01' is not of type 'number'"),
    ("cost", ("teams", 0, "projected_monthly"), None, "teams[0]: 'projected_monthly' is a required property"),
    ("cost", ("budgets", 0, "over"), 1, "budgets[0].over: 1 is not of type 'boolean'"),
    ("cost", ("anomalies",), {}, "anomalies: {} is not of type 'array'"),
    ("dr", ("drills", 0, "components", 0, "rto_seconds"), "7 min", "drills[0].components[0].rto_seconds: '7 min'"),
    ("dr", ("missing_quarters", 0), "2025 Q2", "missing_quarters[0]: '2025 Q2' does not match"),
    ("postmortem", ("incident", "end"), None, "incident: 'end' is a required property"),
    ("postmortem", ("slos", 0, "time_to_detect_seconds"), "60", "slos[0].time_to_detect_seconds: '60' is not of"),
    ("postmortem", ("cost_impact", "cost"), "12.5", "cost_impact.cost: '12.5' is not valid"),
    ("postmortem", ("status",), "partial", "status: 'partial' is not one of ['ok', 'failed']"),
    ("dr", ("generated_at",), "yesterday", "generated_at: 'yesterday' is not a 'date-time'"),
    ("cost", ("window", "start"), 1763877600, "window.start: 1763877600 is not valid"),
    ("cost", ("source", "endpoints", "kubecost"), 9003, "source.endpoints.kubecost: 9003 is not of type"),
    ("slo", ("warnings",), "none", "warnings: 'none' is not of type 'array'"),
    ("dr", ("report",), "cost", "report: 'dr' was expected"),
]


@pytest.mark.parametrize(("report", "path", "value", "expected"), MUTATIONS,
                         ids=[f"{m[0]}-{'.'.join(map(str, m[1]))}-{m[2]!r}" for m in MUTATIONS])
def test_a_missing_field_or_a_wrong_type_is_refused(demo_summaries: dict[str, dict[str, Any]], report: str,
                                                    path: tuple[Any, ...], value: Any, expected: str) -> None:
    summary = demo_summaries[report]
    if path[0] in ("history", "drills", "slos", "teams", "budgets") and not summary[path[0]]:
        pytest.fail(f"the demo {report} summary has no {path[0]}: nothing to mutate")
    broken = _without(summary, *path) if value is None else _with(summary, value, *path)
    errors = schema_errors(broken, report)
    assert any(e.startswith(expected) for e in errors), errors


def test_status_and_error_go_together(demo_summaries: dict[str, dict[str, Any]]) -> None:
    summary = demo_summaries["dr"]
    assert schema_errors(_with(summary, "failed", "status"))[0].startswith("(top level): 'error' is a required")
    with_error = _with(summary, {"type": "RuntimeError", "message": "boom", "cell": 3}, "error")
    assert schema_errors(with_error)[0].startswith("status: 'failed' was expected")
    failed = _with(with_error, "failed", "status")
    assert schema_errors(failed) == []
    assert any(e.startswith("error.cell: '3' is not of type")
               for e in schema_errors(_with(failed, "3", "error", "cell")))
    # a failed run's summary may lack the report's fields; an ok one may not
    bare = {k: v for k, v in failed.items() if k in CONTRACT["common"] or k == "error"}
    assert schema_errors(bare) == []
    assert schema_errors(_with(bare, "ok", "status"))


# ---- 3. the session-end check of every summary.json ------------------------------------------------------------------
def test_the_session_check_finds_and_rejects_a_bad_summary(demo_summaries: dict[str, dict[str, Any]],
                                                           scratch: Path) -> None:
    good = scratch / "reports" / "dr" / "20261123T060000Z-aaaa"
    bad = scratch / "deep" / "down" / "cost" / "20261123T060000Z-bbbb"
    probe = scratch / "probe-run"
    stand_in = scratch / "reports" / "slo" / "20261123T060000Z-cccc"
    for folder in (good, bad, probe, stand_in):
        folder.mkdir(parents=True)
    (good / SUMMARY_FILE).write_text(json.dumps(demo_summaries["dr"]))
    (scratch / "reports" / "dr" / "latest").symlink_to(good.name)  # the same run again: counted once
    (bad / SUMMARY_FILE).write_text(json.dumps(_with(demo_summaries["cost"], "$5", "total_cost")))
    (probe / SUMMARY_FILE).write_text(json.dumps({"report": "probe", "status": "ok"}))
    (scratch / SUMMARY_FILE).write_text("not JSON")
    # a runner test's stand-in: a made-up body under a real report's name, not run from the report's notebook
    made_up = {**demo_summaries["slo"], "slos": [{"name": "x", "status": "fine"}]}
    (stand_in / SUMMARY_FILE).write_text(json.dumps(
        {**made_up, "runner": {**made_up["runner"], "notebook": "tests/data/notebooks/ok.ipynb"}}))
    assert len(find_summaries([scratch])) == 5
    check = check_summaries([scratch])
    assert check.count == 2 and check.validated == {"dr": [good / SUMMARY_FILE], "cost": [bad / SUMMARY_FILE]}
    assert list(check.invalid) == [bad / SUMMARY_FILE]
    assert check.invalid[bad / SUMMARY_FILE][0].startswith("total_cost: '$5' is not of type 'number'")
    assert check.skipped == {"probe": [probe / SUMMARY_FILE], NOT_A_SUMMARY: [scratch / SUMMARY_FILE]}
    assert check.stand_ins == {"slo": [stand_in / SUMMARY_FILE]}
    assert from_the_reports_notebook(demo_summaries["slo"])
    assert not from_the_reports_notebook({k: v for k, v in demo_summaries["slo"].items() if k != "runner"})
    assert check.line() == ("summary.json schema check: 2 validated against docs/schema/ (cost 1, dr 1), 1 invalid; "
                            "skipped: 2 without a schema (report '(no report field)' 1, 'probe' 1), 1 tests' "
                            "stand-ins not written by the report's notebook (slo 1)")
    assert str(bad / SUMMARY_FILE) in "\n".join(check.messages())


def test_a_session_writing_a_bad_summary_fails_under_xdist(demo_summaries: dict[str, dict[str, Any]],
                                                           scratch: Path) -> None:
    """A real pytest session (two xdist workers) with this project's conftest: its tests pass, but one wrote an
    invalid summary.json, so the session fails, naming the file and the error's path; the count line is printed."""
    (scratch / "good.json").write_text(json.dumps(demo_summaries["postmortem"]))
    (scratch / "test_writes_summaries.py").write_text(textwrap.dedent(f"""
        import json
        from pathlib import Path

        GOOD = json.loads(Path({str(scratch / "good.json")!r}).read_text())

        def test_a_good_one(tmp_path):
            (tmp_path / "summary.json").write_text(json.dumps(GOOD))

        def test_a_probe(tmp_path):
            (tmp_path / "summary.json").write_text(json.dumps({{"report": "probe", "status": "ok"}}))

        def test_a_bad_one(tmp_path):
            bad = {{k: v for k, v in GOOD.items() if k != "generated_at"}}
            bad["slos"][0]["budget_consumed"] = "12%"
            (tmp_path / "run").mkdir()
            (tmp_path / "run" / "summary.json").write_text(json.dumps(bad))
        """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest", "-n", "2",
               "--basetemp", str(scratch / "basetemp"), str(scratch / "test_writes_summaries.py")]
    done = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "3 passed" in output
    assert ("summary.json schema check: 2 validated against docs/schema/ (postmortem 2), 1 invalid; skipped: 1 "
            "without a schema (report 'probe' 1), 0 tests' stand-ins not written by the report's notebook") in output
    assert "popen-gw" in output and str(Path("run") / SUMMARY_FILE) in output  # the file, in a worker's folder
    assert "(top level): 'generated_at' is a required property" in output
    assert "slos[0].budget_consumed: '12%' is not of type" in output
