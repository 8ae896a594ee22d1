"""Figures that cannot be true never reach a page: `analysis.slo.check_events` / `check_window` on crafted frames,
and a real SLO report run on a real Prometheus whose counter holds a NaN sample (an exporter wrote it), which makes
one minute's events negative: the run fails with exit code 1, naming the SLO, the minute and the back-end.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_fixtures import read_summary

from goreliable_lib.analysis import slo as analysis
from goreliable_lib.devstack.stack.prometheus import start_from_openmetrics
from goreliable_lib.errors import ImpossibleFiguresError
from goreliable_lib.runner.execute import run_report

T0 = pd.Timestamp("2026-11-10T00:00:00Z")
MIN = pd.Timedelta(minutes=1)


def _events(good: list[float], total: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.date_range(T0 + MIN, periods=len(total), freq="min"),
                         "good": np.array(good, dtype=float), "total": np.array(total, dtype=float)})


def test_impossible_minutes_names_each_problem_and_skips_minutes_without_data() -> None:
    events = _events(good=[5, -1, 11, math.nan, 3, 2], total=[10, 10, 10, math.nan, -2, 2])
    found = analysis.impossible_minutes(events)
    # minute 2: good -1 (negative good); minute 3: 11 of 10 (bad -1); minute 5: total -2 (and good 3 > -2: the
    # total's problem is named first); minute 4 has no data; minute 6 (all good) is fine
    assert found["timestamp"].tolist() == [T0 + 2 * MIN, T0 + 3 * MIN, T0 + 5 * MIN]
    assert found["problem"].tolist() == ["negative good events", "more good events than total",
                                         "negative total events"]


def test_rounding_noise_is_not_a_violation() -> None:
    # 1e15 events a minute: float64 steps are 0.125 there, far below the relative tolerance 1e-9 (1e6 events)
    events = _events(good=[1e15 + 0.25], total=[1e15])
    assert analysis.impossible_minutes(events).empty


def test_check_events_message_names_the_slo_the_minute_and_the_backend() -> None:
    events = _events(good=[10, 168, 30], total=[10, 100, 40])
    with pytest.raises(ImpossibleFiguresError) as caught:
        analysis.check_events(events, name="api-availability", backend="http://127.0.0.1:8428")
    text = str(caught.value)
    assert "SLO api-availability" in text and "http://127.0.0.1:8428" in text
    assert "minute 2026-11-10 00:02 UTC has 168 good of 100 total events (more good events than total" in text
    assert caught.value.exit_code == 1


def test_check_window_compares_the_window_with_the_sum_of_its_days() -> None:
    events = _events(good=[9] * 180, total=[10] * 180)
    result = analysis.evaluate_slo(events, name="s", service="api", objective=0.9, start=T0, end=T0 + 180 * MIN)
    analysis.check_window(result, backend="b")  # consistent: 1,620 good of 1,800 in one day
    broken = dataclasses.replace(result, good_events=result.good_events + 7)
    with pytest.raises(ImpossibleFiguresError, match=r"the window's good events \(1,627\) are not the sum of its "
                                                     r"days \(1,620\)"):
        analysis.check_window(broken, backend="b")


# --------------------------------------------------------------------------------------------- a real run
def _nan_counter_history() -> str:
    """Two counters scraped every minute for 4 hours; the `code="200"` one carries a NaN at 02:30:07 (what a
    broken exporter writes). Prometheus keeps it as a sample: `last_over_time` returns it, so the server's
    per-minute sum is NaN there and the minute after it has negative events."""
    lines = ["# TYPE req counter"]
    for code, per_minute in (("200", 100), ("500", 1)):
        for i in range(240):
            at = (T0 + i * MIN + pd.Timedelta(seconds=7)).value / 1e9
            value = "NaN" if code == "200" and i == 150 else f"{per_minute * (i + 1)}"
            lines.append(f'req_total{{code="{code}"}} {value} {at:.3f}')
    return "\n".join(lines) + "\n# EOF\n"


CATALOG = """apiVersion: openslo/v1
kind: SLO
metadata:
  name: nan-availability
spec:
  service: api
  budgetingMethod: Occurrences
  objectives:
    - target: 0.99
  timeWindow:
    - duration: 1d
      isRolling: true
  indicator:
    metadata:
      name: nan-availability
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Prometheus
            spec:
              query: req_total{code!~"5.."}
        total:
          metricSource:
            type: Prometheus
            spec:
              query: req_total
"""


@pytest.mark.stack
@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("promtool") is None, reason="Debian prometheus missing")
def test_a_report_on_impossible_events_fails_naming_slo_minute_and_backend(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_from_openmetrics(_nan_counter_history(), tmp_path / "prometheus")
    url = server.url
    catalog = tmp_path / "slos.yaml"
    catalog.write_text(CATALOG)
    for name in [n for n in os.environ if n.startswith("GORELIABLE_")]:
        monkeypatch.delenv(name)
    for name, value in {"GORELIABLE_PROFILE": "live", "GORELIABLE_CONFIG": os.devnull,
                        "GORELIABLE_PROMETHEUS_URL": url, "GORELIABLE_NOW": "2026-11-10T04:00:00Z",
                        "GORELIABLE_ARCHIVE_URI": str(tmp_path / "archive")}.items():
        monkeypatch.setenv(name, value)
    try:
        result = run_report("slo", {"catalog": str(catalog), "window": "3h"}, tmp_path / "reports", progress=False)
    finally:
        server.stop()
    assert result.exit_code == 1 and result.status == "failed"
    assert "ImpossibleFiguresError" in (result.error or "")
    assert "SLO nan-availability: impossible figures from " + url in result.error
    assert "minute 2026-11-10 02:31 UTC" in result.error and "negative total events" in result.error
    summary = read_summary(result.location)
    assert summary["status"] == "failed" and "slos" not in summary  # no status was ever computed
    page = (Path(result.location) / "report.html").read_text()
    assert "nan-availability" in page and "ImpossibleFiguresError" in page
