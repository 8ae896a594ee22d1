"""A credential whose value is also an ordinary word of the report: data is never rewritten, what people read is
masked (and says so on its first screen), and the run's snapshot replays offline to the same summary.

Two real-scale sequences through the real runner (papermill kernels), each: the run with the word secret set,
the same run without it, then the offline re-run from the first run's `data/` with the secret still set:
- the postmortem on the local stack (a real Prometheus, the Kubecost server, moto S3 holding the drill logs in
  bucket `goreliable-drills`) with `AWS_SECRET_ACCESS_KEY=goreliable` (moto takes any key): part of the bucket
  name, of the catalog's folder, of the snapshot format `goreliable.snapshot/v1` and of the drill schema; the
  sentinel secrets are set too;
- the DR report on the bundled demo data with the basic-auth password `GORELIABLE_PROMETHEUS_PASSWORD=grafana`
  (a DR component is `grafana-dashboards`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import plotly.graph_objects as go
import pytest
from report_fixtures import SENTINELS, find_sentinels

from goreliable_lib import cli
from goreliable_lib.reports.registry import get_report
from goreliable_lib.runner.context import current_run
from goreliable_lib.runner.execute import RunResult, run_report
from goreliable_lib.runner.finalise import MASKED_TAG
from goreliable_lib.runner.params import resolve_parameters
from goreliable_lib.runner.scrub import distinctive, leaked_files, mask_tree
from goreliable_lib.runner.shared import RUN_DIR_ENV
from goreliable_lib.sources.snapshot import SnapshotRecorder, SnapshotReplayer

ROOT = Path(__file__).resolve().parent.parent
POSTMORTEM_PARAMS = ROOT / "params" / "postmortem-demo.yaml"
#: Lines of summary.json and of a snapshot manifest that differ between any two runs (wall clock, run id).
VOLATILE_SUMMARY = re.compile(rb'^ *"(generated_at|run_id|duration_seconds)": .*\n|^ *"phases": \{[^}]*\},?\n',
                              re.MULTILINE)
VOLATILE_MANIFEST = re.compile(rb'^ *"(created_at|fetched_at)": .*\n', re.MULTILINE)
#: Fields of summary.json that say where and when a run ran, not what it found.
RUN_FIELDS = ("generated_at", "run_id", "runner")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Exactly `values` for the kit: every GORELIABLE_* and AWS_* variable of this process replaced."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith(("GORELIABLE_", "AWS_"))]:
            patch.delenv(name)
        for name, value in {"GORELIABLE_CONFIG": os.devnull, "GORELIABLE_PROJECT_ROOT": str(ROOT),
                            **values}.items():
            patch.setenv(name, value)
        yield


def data_files(run_dir: Path) -> dict[str, bytes]:
    """Every data file of a run (summary.json, the CSV tables, data/, figures/*.json), byte for byte, without the
    lines naming the run's wall-clock time and id."""
    files: dict[str, bytes] = {}
    for path in sorted(run_dir.rglob("*")):
        relative = path.relative_to(run_dir).as_posix()
        if not path.is_file() or not (relative == "summary.json" or path.suffix == ".csv"
                                      or relative.startswith("data/") or re.fullmatch(r"figures/[^/]+\.json",
                                                                                      relative)):
            continue
        data = path.read_bytes()
        if relative == "summary.json":
            data = VOLATILE_SUMMARY.sub(b"", data)
        elif relative == "data/manifest.json":
            data = VOLATILE_MANIFEST.sub(b"", data)
        files[relative] = data
    return files


def assert_same_data(with_secret: Path, without: Path) -> None:
    ours, theirs = data_files(with_secret), data_files(without)
    assert sorted(ours) == sorted(theirs)
    changed = [name for name in ours if ours[name] != theirs[name]]
    assert changed == [], f"data files differ when the secret is set: {changed}"


def findings(summary: dict[str, Any]) -> dict[str, Any]:
    """summary.json without the fields that say where and when the run ran."""
    kept = {k: v for k, v in summary.items() if k not in RUN_FIELDS}
    kept["source"] = {k: v for k, v in summary["source"].items() if k not in ("kind", "profile")}
    return kept


def read_summary(result: RunResult) -> dict[str, Any]:
    return json.loads((Path(result.location) / "summary.json").read_text())


def first_screen(run_dir: Path) -> list[nbformat.NotebookNode]:
    """The cells the runner puts before the notebook's own (error banner, warnings, masked-text notice)."""
    nb = nbformat.read(run_dir / "report.ipynb", as_version=4)
    nbformat.validate(nb)
    return [c for c in nb.cells[:3] if any(t.startswith("goreliable-") for t in c.metadata.get("tags", []))]


def no_sentinel_anywhere(*folders: Path) -> None:
    leaks = {str(p): found for folder in folders for p in folder.rglob("*")
             if p.is_file() and (found := find_sentinels(p.read_bytes()))}
    assert leaks == {}


def check_masked_with_notice(run_dir: Path, word: str, variable: str) -> None:
    """What people read holds `[REDACTED]` where the word was, and the first screen says text was masked without
    naming the credential; the notebook stays a valid notebook and the page keeps plotly.js."""
    notices = [c for c in first_screen(run_dir) if MASKED_TAG in c.metadata.tags]
    assert len(notices) == 1
    assert "[REDACTED]" in notices[0].source and variable not in notices[0].source
    notebook = (run_dir / "report.ipynb").read_text()
    page = (run_dir / "report.html").read_text()
    assert "[REDACTED]" in notebook and "[REDACTED]" in page
    assert page.count("plotly.js v") == 1 and "plotly-graph-div" in page
    assert variable not in page and variable not in notebook


# ------------------------------------------------------------------------- the postmortem on the local stack
WORD = "goreliable"  # the drills bucket is goreliable-drills


@pytest.fixture(scope="module")
def postmortem_runs(local_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("word-secret-postmortem")
    catalog = work / WORD / "slos.yaml"  # a folder named like the secret, as in a checkout called goreliable/
    catalog.parent.mkdir()
    shutil.copy(ROOT / "params" / "slos.yaml", catalog)
    sentinels = {k: v for k, v in SENTINELS.items() if k != "AWS_SECRET_ACCESS_KEY"}
    live = {**local_stack.env(), **sentinels}
    assert live["GORELIABLE_DRILLS_URI"].startswith(f"s3://{WORD}-drills")
    params = {"catalog": str(catalog)}
    runs: dict[str, Any] = {"work": work}
    with environment({**live, "AWS_SECRET_ACCESS_KEY": WORD}):
        runs["with"] = run_report("postmortem", params, work / "with", progress=False, files=[POSTMORTEM_PARAMS])
    without = {k: v for k, v in live.items() if k != "AWS_SECRET_ACCESS_KEY"}
    with environment(without):
        runs["without"] = run_report("postmortem", params, work / "without", progress=False,
                                     files=[POSTMORTEM_PARAMS])
    # offline: the snapshot only; no server URL, no S3 endpoint; the same secrets still set
    with environment({**sentinels, "AWS_SECRET_ACCESS_KEY": WORD,
                      "GORELIABLE_PROFILE": f"snapshot:{Path(runs['with'].location) / 'data'}"}):
        runs["replay"] = run_report("postmortem", params, work / "replay", progress=False,
                                    files=[POSTMORTEM_PARAMS])
    return runs


@pytest.mark.stack
def test_postmortem_data_is_byte_identical_with_a_word_secret(postmortem_runs: dict[str, Any]) -> None:
    runs = postmortem_runs
    assert runs["with"].exit_code == 0, runs["with"].error
    assert runs["without"].exit_code == 0, runs["without"].error
    with_secret, without = Path(runs["with"].location), Path(runs["without"].location)
    assert_same_data(with_secret, without)
    # the word is in the data, as it is (so the comparison above can fail)
    manifest = json.loads((with_secret / "data" / "manifest.json").read_text())
    assert manifest["format"] == "goreliable.snapshot/v1"
    assert manifest["endpoints"]["drills"].startswith(f"s3://{WORD}-drills")
    summary = read_summary(runs["with"])
    assert summary["parameters"]["catalog"].endswith(f"/{WORD}/slos.yaml")
    assert summary["source"]["endpoints"]["drills"].startswith(f"s3://{WORD}-drills")


@pytest.mark.stack
def test_postmortem_replays_offline_to_the_same_summary(postmortem_runs: dict[str, Any]) -> None:
    replay = postmortem_runs["replay"]
    assert replay.exit_code == 0, replay.error
    again, live = read_summary(replay), read_summary(postmortem_runs["with"])
    assert again["source"]["kind"] == "snapshot" and live["source"]["kind"] == "live"
    assert findings(again) == findings(live)
    assert again["slos"] and again["cost_impact"]["cost"] is not None


@pytest.mark.stack
def test_postmortem_people_read_masked_text_and_a_notice(postmortem_runs: dict[str, Any]) -> None:
    with_secret = Path(postmortem_runs["with"].location)
    check_masked_with_notice(with_secret, WORD, "AWS_SECRET_ACCESS_KEY")
    page = (with_secret / "report.html").read_text()
    assert f"/{WORD}/slos.yaml" not in page and f"/{WORD}/slos.yaml" not in (with_secret / "report.ipynb").read_text()
    # a run whose text holds no secret has no notice
    assert not [c for c in first_screen(Path(postmortem_runs["without"].location)) if MASKED_TAG in c.metadata.tags]


@pytest.mark.stack
def test_postmortem_sentinels_nowhere(postmortem_runs: dict[str, Any]) -> None:
    # the work folder holds the runs and the SLO event archive they kept (<out>/archive, outside any run folder)
    assert list((postmortem_runs["work"] / "with" / "archive").glob("*/*.parquet"))
    no_sentinel_anywhere(postmortem_runs["work"])


# ------------------------------------------------------------------------------- the DR report on the demo data
PASSWORD = "grafana"  # the DR component grafana-dashboards


@pytest.fixture(scope="module")
def dr_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("word-secret-dr")
    demo = {"GORELIABLE_PROFILE": "demo", **SENTINELS}
    runs: dict[str, Any] = {"work": work}
    with environment({**demo, "GORELIABLE_PROMETHEUS_PASSWORD": PASSWORD}):
        runs["with"] = run_report("dr", {}, work / "with", progress=False)
    with environment(demo):
        runs["without"] = run_report("dr", {}, work / "without", progress=False)
    with environment({**SENTINELS, "GORELIABLE_PROMETHEUS_PASSWORD": PASSWORD,
                      "GORELIABLE_PROFILE": f"snapshot:{Path(runs['with'].location) / 'data'}"}):
        runs["replay"] = run_report("dr", {}, work / "replay", progress=False)
    return runs


def test_dr_data_is_byte_identical_with_a_demo_word_as_password(dr_runs: dict[str, Any]) -> None:
    assert dr_runs["with"].exit_code == 0, dr_runs["with"].error
    assert dr_runs["without"].exit_code == 0, dr_runs["without"].error
    with_secret = Path(dr_runs["with"].location)
    assert_same_data(with_secret, Path(dr_runs["without"].location))
    assert b"grafana-dashboards" in (with_secret / "components.csv").read_bytes()
    assert b"grafana-dashboards" in (with_secret / "summary.json").read_bytes()
    assert b"grafana-dashboards" in (with_secret / "figures" / "pass_fail_matrix.json").read_bytes()


def test_dr_replays_offline_to_the_same_summary(dr_runs: dict[str, Any]) -> None:
    replay = dr_runs["replay"]
    assert replay.exit_code == 0, replay.error
    assert findings(read_summary(replay)) == findings(read_summary(dr_runs["with"]))


def test_dr_people_read_masked_text_and_a_notice(dr_runs: dict[str, Any]) -> None:
    with_secret = Path(dr_runs["with"].location)
    check_masked_with_notice(with_secret, PASSWORD, "GORELIABLE_PROMETHEUS_PASSWORD")
    assert "[REDACTED]-dashboards" in (with_secret / "report.html").read_text()
    assert not [c for c in first_screen(Path(dr_runs["without"].location)) if MASKED_TAG in c.metadata.tags]
    no_sentinel_anywhere(dr_runs["work"])


# ------------------------------------------------------------------------------------ the rules, without a kernel
def test_distinctive_secrets_are_the_ones_looked_for_in_data() -> None:
    plain = ["grafana", "goreliable", "minioadmin", "testing", "us-east-1", "moto-test-secret", "2026-11-23",
             "correct horse battery"]
    generated = [*[v.split("=")[-1] for v in SENTINELS.values()], "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                 "AKIAIOSFODNN7EXAMPLE", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
                 "hunter2hunter2", "p@ss-word"]
    assert [s for s in plain if distinctive(s)] == []
    assert [s for s in generated if not distinctive(s)] == []


def test_data_writers_never_pass_through_the_scrubber(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run context's writers (the snapshot recorder, tables, figures' JSON, warnings, summary.json) write
    exactly what they are given, with a word secret set: the scrubber's functions are made to fail here, and
    the word stays in every file."""
    from goreliable_lib.runner import files, scrub

    def no_scrubbing(*args: object, **kwargs: object) -> None:
        raise AssertionError("a data writer called the scrubber")

    for name in ("scrub_text", "scrub_notebook", "write_masked_text", "mask_tree"):
        monkeypatch.setattr(scrub, name, no_scrubbing)
    monkeypatch.setenv("GORELIABLE_PROMETHEUS_PASSWORD", PASSWORD)
    monkeypatch.setenv(RUN_DIR_ENV, str(tmp_path / "run"))
    monkeypatch.setenv("GORELIABLE_PROFILE", "demo")
    monkeypatch.setenv("GORELIABLE_CONFIG", os.devnull)
    run = current_run("dr", {"end": "now", "quarters": 8})
    components = run.connect().drills.components()  # recorded into the run's snapshot
    assert "grafana-dashboards" in set(components["component"])
    run.export_table(components[["drill_id", "component", "rto_seconds"]], "components", show=False)
    table = tmp_path / "run" / "components.csv"
    run.show_figure(go.Figure(go.Bar(x=["grafana-dashboards"], y=[300], name="RTO")), "rto")
    run.warn("grafana-dashboards has no data_loss event")
    run.write_summary({"components": ["grafana-dashboards"]})
    folder = tmp_path / "run"
    for path in (table, folder / "figures" / "rto.json", folder / "summary.json"):
        assert b"grafana-dashboards" in path.read_bytes(), path
    replayed = SnapshotReplayer(folder / "data").lookup("drills", {"method": "events", "uri": run.sources.drills.uri})
    assert "grafana-dashboards" in set(replayed["component"])
    assert json.loads((folder / "summary.json").read_text())["warnings"] == ["grafana-dashboards has no data_loss "
                                                                           "event"]
    assert "atomic_write_text" in vars(files)  # the one writer of data


def test_masking_never_touches_data_binary_files_or_notebook_machinery(tmp_path: Path) -> None:
    """mask_tree changes what people read only; a secret that is a notebook key, tag or word of the template
    leaves a valid notebook with its tags."""
    secrets = ["grafana", "metadata", "goreliable"]
    frame = pd.DataFrame({"component": ["grafana-dashboards"], "rto_seconds": [300.0]})
    (tmp_path / "data").mkdir()
    (tmp_path / "figures").mkdir()
    frame.to_parquet(tmp_path / "data" / "drills.parquet", compression=None)  # the word as raw bytes
    frame.to_csv(tmp_path / "components.csv", index=False)
    (tmp_path / "summary.json").write_text('{"components": ["grafana-dashboards"]}\n')
    (tmp_path / "figures" / "rto.json").write_text('{"data": [{"x": ["grafana-dashboards"]}]}')
    (tmp_path / "figures" / "rto.png").write_bytes(b"\x89PNG\r\n\x1a\ngrafana")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("grafana-dashboards recovered")])
    nb.cells[0].metadata["tags"] = ["goreliable-warnings"]
    nb.cells.append(nbformat.v4.new_code_cell("x = 1", outputs=[nbformat.v4.new_output(
        "stream", name="stdout", text="grafana-dashboards\n")]))
    (tmp_path / "report.ipynb").write_text(nbformat.writes(nb))
    (tmp_path / "kernel.log").write_text("connecting to grafana\n")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    touched = mask_tree(tmp_path, secrets)
    assert sorted(touched) == [tmp_path / "kernel.log", tmp_path / "report.ipynb"]
    assert {p: p.read_bytes() for p in before if p not in touched} == {p: v for p, v in before.items()
                                                                          if p not in touched}
    masked = nbformat.reads((tmp_path / "report.ipynb").read_text(), as_version=4)
    nbformat.validate(masked)
    assert masked.cells[0].metadata.tags == ["goreliable-warnings"]
    assert masked.cells[0].source == "[REDACTED]-dashboards recovered"
    assert masked.cells[1].outputs[0].text == "[REDACTED]-dashboards\n"
    assert leaked_files(tmp_path, secrets) == []  # plain words: finding them in data proves nothing


def test_a_credential_is_found_in_compressed_parquet_columns(tmp_path: Path) -> None:
    """The recorder writes zstd-compressed pages, in which the raw bytes never show a value (only a column's
    smallest and largest values are stored plainly): leaked_files reads the text columns."""
    token = SENTINELS["GORELIABLE_PROMETHEUS_TOKEN"]
    recorder = SnapshotRecorder(tmp_path / "data", as_of="2026-11-23T06:00:00Z")
    instances = ["10.0.0.1:8080", "zz-last:8080"] + [f"10.{i // 250}.{i % 250}.1:8080" for i in range(500)]
    instances.insert(250, token)  # one series among 500: the dictionary page is compressed
    frame = pd.DataFrame({"timestamp": pd.date_range("2026-11-23", periods=len(instances), freq="min", tz="UTC"),
                          "value": 1.0, "instance": instances})
    recorder.record("prometheus", {"method": "query_range", "query": "up"}, frame)
    parquet = next((tmp_path / "data").glob("*.parquet"))
    assert token.encode() not in parquet.read_bytes()  # the byte scan alone would miss it
    assert leaked_files(tmp_path, [token]) == [parquet]
    assert leaked_files(tmp_path, ["sntl-other-secret-0f0f"]) == []


@pytest.mark.stack
def test_live_dr_on_s3_with_sentinel_credentials_writes_none(local_stack: Any, tmp_path: Path) -> None:
    """The drill source reading S3 (moto) with sentinel AWS keys, through the real runner: the run is ok (the data
    check would fail it) and no byte written holds a sentinel."""
    with environment({**local_stack.env(), **SENTINELS}):
        result = run_report("dr", {}, tmp_path, progress=False)
    assert result.exit_code == 0, result.error
    assert read_summary(result)["drills"]
    no_sentinel_anywhere(tmp_path)


def test_a_credential_in_a_parameter_is_bad_input_before_any_kernel(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Parameters end up in summary.json (data, never masked): one holding a credential is refused, exit 2, the
    message naming the parameter, not the value; a plain word equal to a secret is an ordinary value."""
    token = SENTINELS["GORELIABLE_PROMETHEUS_TOKEN"]
    with environment({"GORELIABLE_PROFILE": "demo", **SENTINELS, "GORELIABLE_PROMETHEUS_PASSWORD": PASSWORD}):
        code = cli.main(["report", "run", "dr", "-p", f"title=DR for {token}", "--out", str(tmp_path)])
        err = capsys.readouterr().err
        assert code == 2 and "parameter title: holds the value of a credential" in err and token not in err
        assert not any(tmp_path.iterdir())  # nothing was executed or published
        assert resolve_parameters(get_report("dr"), {"title": "grafana drills"})["title"] == "grafana drills"
