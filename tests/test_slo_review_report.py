"""The SLO review (`slo-review`) executed by papermill through the runner (a real kernel) on the bundled demo
snapshot and its SLO event archive: its summary.json validates against docs/schema/slo-review.json, and its
episodes and backtest equal `analysis.backtest.review_slo` run here on the simulator's exact per-minute events
(`sim.metrics.slo_minutes`, not the archive nor the snapshot) over the same period. Bad parameters exit 2 before
any kernel, naming the field."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from report_fixtures import demo_environment
from summary_schema import schema_errors

from goreliable_lib.analysis import backtest
from goreliable_lib.errors import BadInputError
from goreliable_lib.reports.slo_review import period_bounds
from goreliable_lib.runner.execute import run_report

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[1]
#: The seed's objectives (DESIGN.md "The platform's numbers"), written out rather than read from the catalog.
OBJECTIVES = {"api-gateway-availability": 0.999, "api-gateway-latency": 0.99, "order-success-rate": 0.995,
              "notification-delivery": 0.99, "ml-inference-availability": 0.995, "llm-latency": 0.99}
CANDIDATES = """
fast-page:
  - {severity: page, long: 30m, short: 2m, factor: 20, for: 5m}
  - {severity: page, long: 2h, short: 10m, factor: 8}
"""
#: The snapshot's clock, and where the review's data starts: the recording server's oldest sample, 62 days of history
#: before it (devstack/sim/timeline.py HISTORY_DAYS), before the demo archive's first day (2026-09-23): the review asks
#: the server for the days before the archive's first.
AS_OF = pd.Timestamp("2026-11-23T06:00:00Z")
DATA_FROM = AS_OF - pd.Timedelta(days=62)


@pytest.fixture(autouse=True)
def demo_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("GORELIABLE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GORELIABLE_PROFILE", "demo")
    monkeypatch.setenv("GORELIABLE_CONFIG", os.devnull)
    monkeypatch.setenv("GORELIABLE_PROJECT_ROOT", str(ROOT))


@pytest.fixture(scope="module")
def candidates_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("review-candidates") / "candidates.yaml"
    path.write_text(CANDIDATES)
    return path


@pytest.fixture(scope="module")
def review_run(tmp_path_factory: pytest.TempPathFactory, candidates_file: Path) -> dict[str, Any]:
    """One run of the review on the demo profile (12M asked; the demo holds about two months)."""
    out = tmp_path_factory.mktemp("slo-review-runs")
    with demo_environment():
        result = run_report("slo-review", {"candidates": str(candidates_file), "objectives": ["99.95%", 0.98]},
                            str(out), progress=False, timeout=600)
    assert result.exit_code == 0, result.error
    return {"result": result, "summary": json.loads((Path(result.location) / "summary.json").read_text())}


def test_the_summary_follows_the_schema(review_run: dict[str, Any]) -> None:
    assert schema_errors(review_run["summary"]) == []


def test_the_period_is_what_the_archive_and_the_server_hold(review_run: dict[str, Any]) -> None:
    period = review_run["summary"]["period"]
    # 12M at 2026-11-23 06:00: December 2025 to November 2026 (to date); the server's data starts 2026-09-22 06:00
    assert period["asked_start"] == "2025-12-01T00:00:00Z"
    assert (period["start"], period["end"]) == ("2026-09-22T06:00:00Z", "2026-11-23T06:00:00Z")
    # 2026-09-22 .. 2026-11-23: 9 + 31 + 23 days, the first (06:00-24:00) and the last (00:00-06:00) partial
    assert period["days_with_data"] == 9 + 31 + 23
    assert any("starts later" in w for w in review_run["summary"]["warnings"])
    assert review_run["summary"]["not_evaluated"] == ["catalog"]
    # the seed catalog declares no alerting: the first screen says the catalog set is not evaluated at all
    page = (Path(review_run["result"].location) / "report.html").read_text()
    assert "rule set is not evaluated (no SLO of the catalog declares any)" in page
    assert "evaluated for the other SLOs only" not in page


def _independent(simulation: Any, name: str, start: pd.Timestamp, end: pd.Timestamp) -> backtest.SLOReview:
    """review_slo on the simulator's exact events, cut where the report's data starts (the server's oldest sample)."""
    events = simulation.metrics.slo_minutes(name)
    events = events[events["timestamp"] > DATA_FROM]
    candidate = backtest.parse_rule_sets({"fast-page": [
        {"severity": "page", "long": "30m", "short": "2m", "factor": 20, "for": "5m"},
        {"severity": "page", "long": "2h", "short": "10m", "factor": 8}]})
    return backtest.review_slo(events, slo=name, objective=OBJECTIVES[name], start=start, end=end,
                               rule_sets=[backtest.DEFAULT_RULE_SET, *candidate],
                               objectives=[OBJECTIVES[name], 0.9995, 0.98], known_from=DATA_FROM)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def test_episodes_backtest_and_what_if_equal_the_simulators(review_run: dict[str, Any], simulation: Any) -> None:
    summary = review_run["summary"]
    start, end = (pd.Timestamp(summary["period"][k]) for k in ("start", "end"))
    assert end == simulation.as_of == AS_OF
    expected: dict[str, list[dict[str, Any]]] = {"episodes": [], "backtest": [], "what_if": []}
    for name in OBJECTIVES:
        for key, entries in _independent(simulation, name, start, end).summary().items():
            expected[key].extend(entries)
    for key in ("episodes", "backtest", "what_if"):
        got = sorted(summary[key], key=json.dumps)
        want = sorted(expected[key], key=json.dumps)
        assert len(got) == len(want), key
        for g, w in zip(got, want, strict=True):
            assert g.keys() == w.keys() and all(_same(g[k], w[k]) for k in g), (key, g, w)
    # the injected incidents the demo's months hold (tests/test_backtest.py SIM_SLOS), each found
    assert {e["slo"] for e in summary["episodes"]} == {"api-gateway-availability", "notification-delivery",
                                                        "ml-inference-availability", "llm-latency"}
    rows = {(r["slo"], r["rule_set"], r["severity"]) for r in summary["backtest"]}
    assert ("api-gateway-availability", "fast-page", "page") in rows
    # no alert, no episode: null, never 0 or 1
    quiet = next(r for r in summary["backtest"] if (r["slo"], r["rule_set"], r["severity"])
                 == ("order-success-rate", "default", "page"))
    assert quiet["alerts"] == 0 and quiet["precision"] is None and quiet["recall"] is None


@pytest.mark.parametrize(("parameters", "message"), [
    ({"period": "12 months"}, r"period: '12 months' is not a period"),
    ({"period": "2026-11..2026-01"}, r"period: .*must not come after"),
    ({"objectives": ["high"]}, r"objectives\[0\]: 'high' is not an objective"),
    ({"objectives": [1.5]}, r"objectives\[0\]: 1.5 is not an objective"),
    ({"rule_sets": ["nope"]}, r"rule_sets: 'nope' is not a rule set"),
    ({"candidates": "no/such/file.yaml"}, r"candidates: file 'no/such/file.yaml' not found"),
])
def test_bad_parameters_exit_2_naming_the_field(parameters: dict[str, Any], message: str, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=message) as info:
        run_report("slo-review", parameters, str(tmp_path), progress=False)
    assert info.value.exit_code == 2


def test_a_bad_candidates_file_exits_2_naming_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "candidates.yaml"
    bad.write_text("slow:\n  - {severity: page, long: 1h, short: 2h, factor: 3}\n")
    with pytest.raises(BadInputError, match=r"candidates: .*candidates.yaml.slow\[0\].short: '2h' is longer") as info:
        run_report("slo-review", {"candidates": str(bad)}, str(tmp_path / "out"), progress=False)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(("period", "end", "expected"), [
    # 12 calendar months, the month of `end` to date the last: December 2025 .. 2026-11-23 06:00
    ("12M", "2026-11-23T06:00:00Z", ("2025-12-01T00:00:00Z", "2026-11-23T06:00:00Z")),
    # on a month's first day (the quarterly CronJob): the 12 whole months just ended
    ("12M", "2027-01-01T07:30:00Z", ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")),
    ("90d", "2026-11-23T06:00:00Z", ("2026-08-25T06:00:00Z", "2026-11-23T06:00:00Z")),
    # whole months, cut at `end`
    ("2026-01..2026-03", "2026-11-23T06:00:00Z", ("2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z")),
    ("2026-10..2026-11", "2026-11-23T06:00:00Z", ("2026-10-01T00:00:00Z", "2026-11-23T06:00:00Z")),
])
def test_periods(period: str, end: str, expected: tuple[str, str]) -> None:
    assert period_bounds(period, pd.Timestamp(end)) == tuple(pd.Timestamp(t) for t in expected)
