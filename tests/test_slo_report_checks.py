"""The SLO report without a kernel or a server: the parameter check that stops a bad catalog before any kernel
starts (exit 2, naming the field), and the report's figures and glue on hand-made analysis results."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from goreliable_lib.analysis import slo as analysis
from goreliable_lib.errors import BadInputError
from goreliable_lib.plots import STATUS_COLOURS, slo_text
from goreliable_lib.plots import slo as slo_plots
from goreliable_lib.runner.execute import run_report

ROOT = Path(__file__).resolve().parents[1]
START, END = pd.Timestamp("2026-11-01T00:00:00Z"), pd.Timestamp("2026-11-03T00:00:00Z")


def test_an_invalid_catalog_exits_2_naming_the_field_before_any_kernel(tmp_path: Path) -> None:
    bad = tmp_path / "bad-slos.yaml"
    bad.write_text((ROOT / "params" / "slos.yaml").read_text().replace("target: 0.995", "target: 1.5", 1))
    out = tmp_path / "reports"
    with pytest.raises(BadInputError, match=r"catalog: .*bad-slos\.yaml: document 3 \(order-success-rate\): "
                                            r"spec\.objectives\[0\]\.target: .*\(line \d+\)"):
        run_report("slo", {"catalog": str(bad)}, out, progress=False)
    command = [sys.executable, "-m", "goreliable_lib", "report", "run", "slo", "-p", f"catalog={bad}",
               "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "GORELIABLE_CONFIG": "/dev/null", "HOME": str(tmp_path)})
    assert done.returncode == 2, done.stderr
    assert "parameter catalog:" in done.stderr and "spec.objectives[0].target" in done.stderr
    assert "bad-slos.yaml" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists() or not any(out.rglob("report.ipynb"))  # nothing was executed


@pytest.mark.parametrize(("text", "field"), [
    ("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: x\n", "invalid YAML"),
    ("apiVersion: openslo/v1\nkind: Service\nmetadata: {name: x}\n",
     "holds no SLO documents (document 1 (x): kind Service skipped"),
    ("apiVersion: openslo/v1\nkind: Slo\nmetadata: {name: x}\n", "kind: unknown kind 'Slo'"),
])
def test_other_bad_catalogs_name_the_problem(tmp_path: Path, text: str, field: str) -> None:
    bad = tmp_path / "slos.yaml"
    bad.write_text(text)
    with pytest.raises(BadInputError, match=re.escape(field)):
        run_report("slo", {"catalog": str(bad)}, tmp_path / "reports", progress=False)


# --------------------------------------------------------------------------------------------- figures and glue
def _events(bad_per_minute: float, total_per_minute: float = 1000.0, gap: slice | None = None) -> pd.DataFrame:
    minutes = pd.date_range(START - analysis.LOOKBACK + pd.Timedelta(minutes=1), END, freq="min")
    total = pd.Series(total_per_minute, index=minutes)
    good = total - bad_per_minute
    if gap is not None:
        total.iloc[gap], good.iloc[gap] = math.nan, math.nan
    return pd.DataFrame({"timestamp": minutes, "good": good.to_numpy(), "total": total.to_numpy()})


def _result(name: str, events: pd.DataFrame, objective: float = 0.999) -> analysis.SLOResult:
    return analysis.evaluate_slo(events, name=name, service=name.split("-")[0], objective=objective, start=START,
                                 end=END)


def test_summary_table_labels_every_status_in_text_and_colour() -> None:
    results = [_result("a-ok", _events(0.2)), _result("b-risk", _events(0.95)), _result("c-breached", _events(5.0)),
               _result("d-none", _events(0.0, total_per_minute=0.0).assign(good=math.nan, total=math.nan))]
    assert [r.status for r in results] == ["ok", "at_risk", "breached", "no_data"]
    table = slo_plots.summary_table([r.summary() for r in results]).data[0]
    status, sli = table.cells.values[-1], table.cells.values[3]
    assert list(status) == ["ok", "at risk", "breached", "no data"]
    assert list(table.cells.fill.color[-1]) == [STATUS_COLOURS[s] for s in ("ok", "at_risk", "breached", "no_data")]
    assert sli[-1] == "no data" and "100" not in sli[-1]


def test_burn_rate_bars_mark_the_windows_over_their_threshold() -> None:
    figure = slo_plots.burn_rates({"1h": 20.0, "6h": 2.0, "1d": math.nan, "3d": 1.0})
    bars = figure.data[0]
    assert list(bars.text) == ["20.00x ALERT", "2.00x", "no data", "1.00x ALERT"]
    assert list(figure.data[1].y) == [14.4, 6.0, 3.0, 1.0]


def test_alert_timeline_and_headline_name_the_page(tmp_path: Path) -> None:
    events = _events(0.3)
    outage = (events["timestamp"] > START + pd.Timedelta(hours=10)) & (
        events["timestamp"] <= START + pd.Timedelta(hours=11))
    events.loc[outage, "good"] = events.loc[outage, "total"] * 0.75
    result = _result("api-availability", events)
    pages = result.alerts[result.alerts["severity"] == "page"]
    assert len(pages) and pages["start"].min() <= START + pd.Timedelta(hours=10, minutes=5)
    figure = slo_plots.alert_timeline(result.alerts, START, END)
    assert {trace.name for trace in figure.data} == {"page", "ticket"}
    text = slo_text.alert_sentence(result.alerts.assign(slo=result.name))
    assert text.startswith("**Alerts** that would have fired: page: api-availability ")
    assert "from 2026-11-01 10:0" in text


def test_drift_periods_are_runs_of_points_above_the_threshold() -> None:
    stamps = pd.date_range(START + pd.Timedelta(minutes=5), END, freq="5min")
    values = pd.Series(0.0, index=stamps)
    values[START + pd.Timedelta(hours=2):START + pd.Timedelta(hours=3)] = 1.0
    values.iloc[-1] = 1.0  # drifting now
    drift = pd.concat([pd.DataFrame({"timestamp": stamps, "value": values.to_numpy(), "model": "forecast"}),
                       pd.DataFrame({"timestamp": stamps, "value": 0.0, "model": "fraud"})], ignore_index=True)
    periods = analysis.drift_periods(drift, START, END)
    assert periods.values.tolist() == [["forecast", START + pd.Timedelta(hours=2), START + pd.Timedelta(hours=3)],
                                       ["forecast", END, END]]
    figure = slo_plots.drift_timeline(periods, ["forecast", "fraud"], START, END, detected_now=["forecast"])
    assert list(figure.layout.yaxis.categoryarray) == ["fraud (no drift now)", "forecast (DRIFT NOW)"]


def test_coverage_heatmap_says_no_data_and_shows_gaps() -> None:
    gap = _result("a-gap", _events(0.2, gap=slice(-1440 - 30, -1440)))
    none = _result("b-none", _events(0.0).assign(good=math.nan, total=math.nan))
    coverage = pd.concat([r.daily[["day", "coverage"]].assign(slo=r.name) for r in (gap, none)])
    figure = slo_plots.coverage_heatmap(coverage)
    assert list(figure.data[0].text[0]) == ["97.9%", ""]  # 30 of 1440 minutes missing on the first day
    assert list(figure.data[0].text[1]) == ["no data", "no data"]
