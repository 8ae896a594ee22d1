"""The in-notebook run context, the HTML export and the index, without starting a kernel."""

from __future__ import annotations

import json
import math
import multiprocessing
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from report_fixtures import SENTINELS, find_sentinels, sentinel_env

from goreliable_lib.errors import BadInputError
from goreliable_lib.runner import html as report_html
from goreliable_lib.runner import index as report_index
from goreliable_lib.runner import page as report_page
from goreliable_lib.runner.context import current_run
from goreliable_lib.runner.jsonable import to_jsonable
from goreliable_lib.runner.publish import LocalWriter
from goreliable_lib.runner.scrub import REDACTED, leaked_files, mask_tree, scrub_text, secret_values
from goreliable_lib.runner.shared import CONTEXT_FILE, RUN_DIR_ENV

sentinel_env = sentinel_env  # the fixture, re-exported for pytest


def test_scratch_folder_without_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    monkeypatch.setenv("GORELIABLE_PROJECT_ROOT", str(tmp_path))
    run = current_run("slo", {"end": "2026-11-23T06:00:00Z", "window": "1M"})
    assert run.scratch and run.run_dir == tmp_path / "reports" / "_scratch" / "slo"
    assert run.window == {"start": "2026-11-01T00:00:00Z", "end": "2026-11-23T06:00:00Z"}
    with pytest.raises(BadInputError):
        current_run("../slo", {})


def test_windows_of_each_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RUN_DIR_ENV, str(tmp_path / "run"))
    end = "2026-11-23T06:00:00Z"
    assert current_run("cost", {"end": end, "window": "2026-10"}).window == {
        "start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}
    assert current_run("dr", {"end": end, "quarters": 8}).window["start"] == "2025-01-01T00:00:00Z"
    pm = current_run("postmortem", {"end": "now", "incident_start": "2026-11-20T14:05:00Z",
                                    "incident_end": "2026-11-20T15:10:00Z"})
    assert pm.window == {"start": "2026-11-20T14:05:00Z", "end": "2026-11-20T15:10:00Z"}


def test_tables_warnings_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RUN_DIR_ENV, str(tmp_path / "run"))
    run = current_run("cost", {"end": "2026-11-23T06:00:00Z", "window": "30d", "teams": "all"})
    assert run.export_table(pd.DataFrame({"team": ["ml-platform"], "cost": [12.5]}), "teams", show=False) is None
    assert (tmp_path / "run" / "teams.csv").read_text() == "team,cost\nml-platform,12.5\n"
    with pytest.raises(BadInputError):
        run.export_table(pd.DataFrame(), "../escape", show=False)
    run.warn("Kubecost returned no data for 2026-11-02")
    context = json.loads((tmp_path / "run" / CONTEXT_FILE).read_text())
    assert context["warnings"] == ["Kubecost returned no data for 2026-11-02"]
    summary = run.write_summary({"total_cost": np.float64(1234.5), "idle_cost": float("nan"),
                                 "teams": [{"team": "ml-platform", "cost": np.int64(3)}],
                                 "warnings": ["from the notebook"]})
    written = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert written == summary
    assert {"report", "status", "generated_at", "parameters", "window", "source", "warnings"} <= set(written)
    assert written["status"] == "ok" and written["idle_cost"] is None and written["total_cost"] == 1234.5
    assert written["window"] == {"start": "2026-10-24T06:00:00Z", "end": "2026-11-23T06:00:00Z"}
    assert written["warnings"] == ["Kubecost returned no data for 2026-11-02", "from the notebook"]
    assert to_jsonable({"t": pd.Timestamp("2026-11-23T06:00:00Z"), "d": pd.Timedelta("90s"), "n": pd.NA,
                        "x": math.inf}) == {"t": "2026-11-23T06:00:00Z", "d": 90.0, "n": None, "x": None}


def test_connect_records_into_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """run.connect() on the bundled demo profile: the run's snapshot gets the fetched results."""
    pytest.importorskip("goreliable_lib.sources.prometheus")
    from goreliable_lib.sources.connect import demo_snapshot_path

    if not (demo_snapshot_path() / "manifest.json").exists():
        pytest.skip("the bundled demo snapshot is not recorded yet")
    monkeypatch.setenv(RUN_DIR_ENV, str(tmp_path / "run"))
    monkeypatch.setenv("GORELIABLE_PROFILE", "demo")
    run = current_run("slo", {"end": "now", "window": "30d"})
    src = run.connect()
    assert run.window["end"] == json.loads((demo_snapshot_path() / "manifest.json").read_text())["as_of"]
    assert run.source["kind"] == "demo"
    assert src.now() == pd.Timestamp(run.window["end"])


def test_secret_values_and_scrub(sentinel_env: dict[str, str], tmp_path: Path) -> None:
    """What people read is masked in place; a binary file is never rewritten (overwriting bytes corrupts it):
    holding a credential, it is reported by leaked_files instead."""
    values = secret_values()
    for name, value in SENTINELS.items():
        assert value.split("=")[-1] in values or value in values, name
    text = json.dumps({"a": f"Bearer {SENTINELS['GORELIABLE_PROMETHEUS_TOKEN']}"})
    assert REDACTED in scrub_text(text) and not find_sentinels(scrub_text(text).encode())
    binary = b"\x00" + SENTINELS["AWS_SESSION_TOKEN"].encode() + b"\x01"
    (tmp_path / "x.bin").write_bytes(binary)
    (tmp_path / "y.html").write_text(f"<p>{SENTINELS['MY_SERVICE_PASSWORD']}</p>")
    assert mask_tree(tmp_path) == [tmp_path / "y.html"]
    assert not find_sentinels((tmp_path / "y.html").read_bytes())
    assert (tmp_path / "x.bin").read_bytes() == binary
    assert leaked_files(tmp_path) == [tmp_path / "x.bin"]


def _figure_notebook() -> nbformat.NotebookNode:
    """A notebook whose outputs look like the run context's: plotly HTML without plotly.js, plus an
    output that tries to pull a script and a stylesheet from a CDN."""
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    div = fig.to_html(full_html=False, include_plotlyjs=False)
    outputs = [nbformat.v4.new_output("display_data", {"text/html": div, "text/plain": "<figure>"}),
               nbformat.v4.new_output("display_data", {"text/html": div, "text/plain": "<figure>"}),
               nbformat.v4.new_output("display_data", {"text/html": (
                   '<script src="https://cdn.example.com/x.js"></script><link rel="stylesheet" '
                   'href="http://cdn.example.com/x.css"><script src=//cdn.example.com/y.js></script>'),
                   "text/plain": "x"})]
    cell = nbformat.v4.new_code_cell("secret_code_line = 1", outputs=outputs, execution_count=1)
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title $x^2$"), cell])


EXTERNAL = re.compile(r"<(?:script|link)\b[^>]*(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", re.IGNORECASE)


def test_html_is_offline_with_plotly_once(tmp_path: Path) -> None:
    nb_path = tmp_path / "report.ipynb"
    nbformat.write(_figure_notebook(), nb_path)
    out = report_html.export_html(nb_path, tmp_path / "report.html", title="t")
    page = out.read_text()
    assert EXTERNAL.search(page) is None
    assert "cdnjs" not in page and "MathJax.Hub" not in page and "require.min.js" not in page
    assert page.count("plotly.js v") == 1 and page.count(report_page.PLOTLY_MARKER) == 1
    assert page.count('class="plotly-graph-div"') == 2
    assert "secret_code_line" not in page  # code cells are not exported
    assert "Content-Security-Policy" in page
    assert page.index(report_page.PLOTLY_MARKER) < page.index("plotly-graph-div")
    without_figures = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("no charts")])
    assert "plotly.js v" not in report_html.notebook_to_html(without_figures)


def _fake_run(root: Path, report: str, run_id: str, status: str, **extra: object) -> Path:
    writer = LocalWriter(root)
    staging = writer.staging_dir(report, run_id)
    (staging / "summary.json").write_text(json.dumps({"report": report, "status": status, "window": {
        "start": "2026-10-24T06:00:00Z", "end": "2026-11-23T06:00:00Z"}, "warnings": [], **extra}))
    return Path(writer.publish(staging, report, run_id, ok=status == "ok"))


def _publish_many(root: str, worker: int, count: int) -> None:
    for i in range(count):
        _fake_run(Path(root), ["slo", "cost", "dr"][i % 3], f"20261123T06{worker:02d}{i:02d}Z-{worker:02d}{i:02d}",
                  "ok" if i % 4 else "failed", error={"type": "X", "message": "boom"})


def test_concurrent_publishing_keeps_the_index_consistent(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")  # the workers only publish: no threads to worry about
    workers = [context.Process(target=_publish_many, args=(str(tmp_path), w, 12)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    page = (tmp_path / "index.html").read_text()
    run_ids = re.findall(r">(20261123T\d{6}Z-\d{4})</a>", page)
    assert len(run_ids) == 48 and run_ids == sorted(run_ids, reverse=True)
    assert not list(tmp_path.glob("*/.tmp-*")) and not list(tmp_path.glob(".*.tmp"))
    for report in ("slo", "cost", "dr"):
        latest = (tmp_path / report / "latest").resolve()
        assert json.loads((latest / "summary.json").read_text())["status"] == "ok"
        assert latest.name == report_index.latest_ok_run(tmp_path, report)


def test_headlines() -> None:
    assert report_index.headline({"report": "slo", "status": "ok", "slos": [{"status": "ok"}, {"status": "breached"}],
                                  "policy": {"decision": "reliability work"}}) == (
        "2 SLOs (1 breached, 1 ok); policy: reliability work")
    assert report_index.headline({"report": "cost", "status": "ok", "total_cost": 1234.5, "teams": [{}],
                                  "budgets": [{"over": True}], "anomalies": []}).startswith("total $1,234.50")
    assert report_index.headline({"status": "failed", "error": {"type": "DeadKernelError", "message": "died"}}) == (
        "failed: DeadKernelError: died")


def test_a_table_is_shown_as_people_read_it_and_kept_as_machines_read_it(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """export_table shows the formatted table (the report's column words, no index, no path) and returns nothing
    (a cell ending with it showed `PosixPath('<checkout>/reports/cost/.tmp-<run>/daily_by_team.csv')`); the CSV
    keeps every digit and the machine form of times."""
    from goreliable_lib.runner import context as run_module

    shown: list[dict[str, str]] = []
    monkeypatch.setattr(run_module, "display", lambda data, raw=False: shown.append(data))
    monkeypatch.setenv(RUN_DIR_ENV, str(tmp_path / "run"))
    run = current_run("cost", {"end": "2026-11-23T06:00:00Z", "window": "30d", "teams": "all"})
    table = pd.DataFrame({"scope": ["namespace:go-reliable-production"], "limit": [500.0],
                          "projected": [523.4730438403758], "over_by": [23.4730438403758], "used": [1.0469460876807],
                          "status": ["over"], "crossing_day": [pd.Timestamp("2026-11-29", tz="UTC")]}, index=[3])
    assert run.export_table(table, "budgets") is None
    html, text = shown[0]["text/html"], shown[0]["text/plain"]
    for reading in ("Monthly limit", "$500.00", "$523.47", "+$23.47", "105%", "over", "2026-11-29"):
        assert reading in html and reading in text, reading
    assert "PosixPath" not in html + text and ".tmp-" not in html + text and "+00:00" not in html + text
    assert "background:#d73027" in html  # over the limit: the SLO table's "breached" red
    csv = (tmp_path / "run" / "budgets.csv").read_text()
    assert "523.4730438403758" in csv and "2026-11-29 00:00:00+00:00" in csv and csv.startswith(",scope,limit")


@pytest.mark.parametrize("name", ["anomaly_team_a..b", "anomaly_namespace_../../etc", "latest drill 2026/Q3",
                                  "..", "-x", "é", ""])
def test_names_from_data_become_safe_distinct_file_stems(name: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A team label like `a..b` (a valid Kubernetes label value) or a drill id from a log must not fail a report
    when it names a figure: it becomes a safe stem, distinct from the stem of any other name."""
    from goreliable_lib.reports import file_stem
    from goreliable_lib.reports.base import safe_name

    stem = file_stem(name)
    assert safe_name(stem, "stem") == stem and stem != file_stem(name + "x")
    monkeypatch.setenv(RUN_DIR_ENV, str(tmp_path / "run"))
    run = current_run("cost", {"end": "2026-11-23T06:00:00Z", "window": "30d", "teams": "all"})
    import plotly.graph_objects as go

    run.show_figure(go.Figure(), stem)
    assert [p.name for p in (tmp_path / "run" / "figures").iterdir()] == [f"{stem}.json"]


def test_safe_names_stay_as_they_are() -> None:
    from goreliable_lib.reports import file_stem

    assert file_stem("anomaly_namespace_go-reliable-production") == "anomaly_namespace_go-reliable-production"


@pytest.mark.parametrize("failure", ["hangs", "raises"])
def test_a_png_that_hangs_or_fails_is_a_warning_not_a_stuck_report(failure: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """kaleido bounds a render but not Chromium's start-up: a PNG that does not come within the limit (or fails)
    is a warning on the report's first screen and in summary.json, and the report goes on with the figure's
    JSON written; it never hangs an unattended run."""
    import threading

    import plotly.graph_objects as go

    from goreliable_lib.runner import context as run_module

    release = threading.Event()

    def to_image(self: go.Figure, *args: object, **kwargs: object) -> bytes:
        if failure == "hangs":
            release.wait(30)
            return b"too late"
        raise ValueError("Chromium not found")

    monkeypatch.setattr(go.Figure, "to_image", to_image)
    monkeypatch.setattr(run_module, "PNG_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setenv(RUN_DIR_ENV, str(tmp_path / "run"))
    run = current_run("postmortem", {"end": "2026-11-11T16:00:00Z", "incident_start": "2026-11-11T14:20:00Z",
                                     "incident_end": "2026-11-11T15:00:00Z"})
    try:
        run.show_figure(go.Figure(go.Bar(x=[1], y=[2])), "sli", png=True)
    finally:
        release.set()
    figures = sorted(p.name for p in (tmp_path / "run" / "figures").iterdir())
    assert figures == ["sli.json"]
    expected = ("no image from kaleido/Chromium within 0.5 s" if failure == "hangs"
                else "ValueError: Chromium not found")
    assert run.warnings == [f"figure sli: PNG not written ({expected})"]


def test_the_notebook_api_of_version_0_1_still_works() -> None:
    """Notebooks written against 0.1 call `reports.current_run`, `reports.run_report` and `goreliable_lib.connect`:
    those names moved (runner/, sources/) and still resolve to the same objects."""
    import goreliable_lib
    from goreliable_lib import reports
    from goreliable_lib.runner import context, execute
    from goreliable_lib.sources.connect import connect

    assert reports.current_run is context.current_run and reports.Run is context.Run
    assert reports.run_report is execute.run_report and reports.RunResult is execute.RunResult
    assert goreliable_lib.connect is connect and callable(goreliable_lib.load_ipython_extension)
    with pytest.raises(AttributeError):
        reports.no_such_name  # noqa: B018
