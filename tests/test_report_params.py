"""Report parameters: merge order, YAML typing and validation, all before any kernel starts (exit 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from report_fixtures import stub_parameters, test_report

from goreliable_lib import cli
from goreliable_lib.errors import BadInputError
from goreliable_lib.reports.base import safe_name
from goreliable_lib.reports.registry import REPORTS, get_report
from goreliable_lib.runner import execute as runner
from goreliable_lib.runner.params import load_param_file, parse_assignments, resolve_parameters


def resolve(name: str, params: dict, files=()) -> dict:
    return resolve_parameters(get_report(name), params, files, use_default_file=False)


def test_defaults_and_merge_order(tmp_path: Path) -> None:
    low = tmp_path / "low.yaml"
    low.write_text("window: 1M\nservices: [api-gateway, order-service]\ntitle: from file\n")
    high = tmp_path / "high.yaml"
    high.write_text("window: 2026-10\n")
    values = resolve("slo", stub_parameters(title="from -p"), [low, high])
    assert values["window"] == "2026-10"          # the later file wins over the earlier one
    assert values["title"] == "from -p"           # -p wins over files
    assert values["services"] == ["api-gateway", "order-service"]
    assert values["end"] == "now"                 # spec default


def test_assignments_are_yaml_typed() -> None:
    values = parse_assignments(["quarters=8", "services=[a, b]", "end=now-7d", "title=", "x=2026-11-23"])
    assert values == {"quarters": 8, "services": ["a", "b"], "end": "now-7d", "title": "", "x":
                      __import__("datetime").date(2026, 11, 23)}
    with pytest.raises(BadInputError, match="key=value"):
        parse_assignments(["novalue"])


def test_yaml_dates_become_rfc3339(tmp_path: Path) -> None:
    values = resolve("postmortem", stub_parameters(**parse_assignments(
        ["incident_start=2026-11-20T14:05:00Z", "incident_end=2026-11-20 15:10:00"])))
    assert values["incident_start"] == "2026-11-20T14:05:00Z"
    assert values["incident_end"] == "2026-11-20T15:10:00Z"


@pytest.mark.parametrize(("name", "params", "message"), [
    ("slo", {"windw": "30d"}, r"unknown parameter 'windw'.*valid: end, title, notify, catalog, window, services"),
    ("slo", {"window": "30x"}, r"window: '30x' is not a window.*valid: end"),
    ("slo", {"window": "2026-13"}, r"window: '2026-13' names no month"),
    ("slo", {"end": "yesterday"}, r"end: 'yesterday' is not a time"),
    ("dr", {"quarters": "eight"}, r"quarters: expected an integer 1\.\.40.*valid: end, title, notify, drills_uri"),
    ("dr", {"quarters": 0}, r"quarters: 0 is out of range"),
    ("dr", {"quarters": True}, r"quarters: expected an integer"),
    ("slo", {"services": ["api-gateway", "../../etc"]}, r"services\[1\]: '\.\./\.\./etc' is not allowed"),
    ("slo", {"services": "a/b"}, r"services\[0\]: 'a/b' is not allowed"),
    ("slo", {"window": "../30d"}, r"window: '\.\./30d' is not allowed"),
    ("cost", {"aggregate": "label:..\\x"}, r"aggregate: .* is not allowed"),
    ("slo", {"catalog": "params/missing.yaml"}, r"catalog: file 'params/missing.yaml' not found"),
    ("slo", {"title": ["a"]}, r"title: expected text"),
    ("postmortem", {"incident_start": "2026-11-20T14:00:00Z"}, r"'incident_end' is required"),
    ("postmortem", {"incident_start": "2026-11-20T15:00:00Z", "incident_end": "2026-11-20T14:00:00Z"},
     r"incident_end: .* must be after incident_start"),
    ("dr", {"drills_uri": "s3://Bad_Bucket/x"}, r"drills_uri: .* is not s3://bucket/prefix"),
])
def test_bad_parameters(name: str, params: dict, message: str, tmp_path: Path) -> None:
    base = stub_parameters() if name in {"slo", "postmortem"} else {}
    if name == "cost":
        base = {"budgets": str(tmp_path / "b.yaml")}
        (tmp_path / "b.yaml").write_text("{}\n")
    if name == "dr":
        base = {"targets": str(tmp_path / "t.yaml")}
        (tmp_path / "t.yaml").write_text("{}\n")
    with pytest.raises(BadInputError, match=message) as info:
        resolve(name, {**base, **params})
    assert info.value.exit_code == 2


def test_param_file_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("window: 30d\nservices: [a, b\n")
    with pytest.raises(BadInputError, match=r"broken.yaml: line \d+ is not valid YAML"):
        load_param_file(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(BadInputError, match="expected a mapping"):
        load_param_file(listed)
    with pytest.raises(BadInputError, match="parameter file not found"):
        load_param_file(tmp_path / "nope.yaml")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("colour: red\n")
    with pytest.raises(BadInputError, match=r"unknown parameter 'colour' \(from .*unknown.yaml\)"):
        resolve("slo", stub_parameters(), [unknown])


def test_safe_name() -> None:
    assert safe_name("api-gateway", "x") == "api-gateway"
    for bad in ["..", "a/../b", "/etc", "a\\b", ".hidden", "", "a b", "-rf"]:
        with pytest.raises(BadInputError):
            safe_name(bad, "x")


def test_default_param_files_are_valid() -> None:
    root = Path(__file__).parents[1]
    for name, report in REPORTS.items():
        data = load_param_file(root / report.default_param_file)
        assert set(data) <= set(report.param_names), name
        for key, value in data.items():
            assert value == report.param(key).default, (name, key)


def test_cli_bad_input_exits_2_before_any_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    started: list[str] = []
    monkeypatch.setattr(runner, "start_kernel", lambda *args, **kwargs: started.append("kernel"))
    out = tmp_path / "reports"
    for argv in (["report", "run", "slo", "-p", "windw=30d"], ["report", "run", "slo", "-p", "window=7y"],
                 ["report", "run", "dr", "-p", "quarters=[1]"], ["report", "run", "slo", "-p", "services=../x"],
                 ["report", "run", "slo", "-f", str(tmp_path / "none.yaml")]):
        assert cli.main([*argv, "--out", str(out)]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("goreliable: error: ") and "Traceback" not in err
    assert "valid: end, title, notify, catalog, window, services" in err or "not found" in err
    assert started == []
    assert not out.exists() or not any(out.iterdir())


def test_run_report_validates_before_staging(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    with pytest.raises(BadInputError, match="unknown parameter 'nope'"):
        runner.run_report("slo", stub_parameters(nope=1), out, report=test_report("ok.ipynb"))
    assert not (out / "slo").exists()


def test_bad_output_destination(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BadInputError, match="cannot create the folder"):
        runner.run_report("slo", stub_parameters(), blocker / "reports", report=test_report("ok.ipynb"))
    with pytest.raises(BadInputError, match="unsupported scheme"):
        runner.run_report("slo", stub_parameters(), "gs://bucket/x", report=test_report("ok.ipynb"))
    with pytest.raises(BadInputError, match="--sse"):
        runner.run_report("slo", stub_parameters(), tmp_path, report=test_report("ok.ipynb"), sse="AES256")


def test_report_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "list"]) == 0
    text = capsys.readouterr().out
    for name in ("slo", "cost", "dr", "postmortem", "incident_start", "label:cost-team", "params/dr_targets.yaml"):
        assert name in text
    assert cli.main(["report", "list", "--json"]) == 0
    assert '"quarters"' in capsys.readouterr().out


@pytest.mark.parametrize(("report", "parameters", "message"), [
    ("slo", {"services": ["billing"]}, "parameter services: unknown service or SLO 'billing'"),
    ("postmortem", {"incident_start": "2026-11-11T14:20:00Z", "incident_end": "2026-11-11T15:00:00Z",
                    "services": ["nope"]}, "parameter services: unknown service 'nope'"),
    ("postmortem", {"incident_start": "2026-11-11T14:20:00Z", "incident_end": "2026-11-11T15:00:00Z",
                    "slos": ["nope"]}, "parameter slos: unknown SLO 'nope'"),
    ("postmortem", {"incident_start": "2026-11-11T15:00:00Z", "incident_end": "2026-11-11T14:20:00Z"},
     "incident_end: .* must be after incident_start"),
    ("dr", {"targets": "README.md"}, "parameter targets: .*README.md"),
])
def test_catalog_and_targets_are_checked_before_any_kernel(report: str, parameters: dict, message: str) -> None:
    """Names that the catalog does not know and files that do not validate are bad input (exit 2)."""
    with pytest.raises(BadInputError, match=message) as info:
        resolve(report, parameters)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("argv", [["report", "list", "--json"], ["report", "list"]])
def test_a_closed_output_pipe_is_one_line_not_a_traceback(argv: list[str]) -> None:
    """`goreliable report list --json | head -c 10`: the reader leaves before the output is written. The command
    says so in one line and exits 1 (not all of its output was delivered), with no BrokenPipeError traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has already gone: the first write fails with EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "goreliable_lib", *argv], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert done.returncode == 1, done.stderr
    assert done.stderr == ("goreliable: error: the output's reader closed the pipe (e.g. `| head`); the rest was "
                           "not written\n")
