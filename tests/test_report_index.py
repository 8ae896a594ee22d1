"""reports/index.html as a dashboard: each report's latest headline and its trends across the published runs,
read from the runs' summary.json files; a failed run is a gap, never a value (no kernel, no browser)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from goreliable_lib.reports import cost, dr, slo
from goreliable_lib.reports.base import trend_runs
from goreliable_lib.runner import index as report_index
from goreliable_lib.runner.html import CSP, PLOTLY_MARKER

WEEK = pd.Timedelta(days=7)
LAST = pd.Timestamp("2026-11-23T06:00:00Z")


def _slo_summary(end: pd.Timestamp, budgets: dict[str, float | None], status: str = "ok",
                 run_id: str | None = None) -> dict[str, Any]:
    return {"report": "slo", "status": status, "run_id": run_id or f"{end:%Y%m%dT%H%M%SZ}-0001",
            "generated_at": f"{end:%Y-%m-%dT%H:%M:%SZ}",
            "window": {"start": f"{end - 30 * pd.Timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}",
                       "end": f"{end:%Y-%m-%dT%H:%M:%SZ}"}, "warnings": [],
            "slos": [{"name": name, "status": "ok" if left is not None else "no_data", "error_budget_remaining": left}
                     for name, left in budgets.items()], "policy": {"decision": "caution", "reason": "x"},
            **({"error": {"type": "SourceError", "message": "Prometheus failed"}} if status == "failed" else {})}


def _weeks() -> list[dict[str, Any]]:
    """Four weekly runs, oldest first; the third failed after writing its numbers (0.99 would be a lie)."""
    return [_slo_summary(LAST - 3 * WEEK, {"api-gateway-availability": 0.50, "llm-latency": 0.90}),
            _slo_summary(LAST - 2 * WEEK, {"api-gateway-availability": 0.45, "llm-latency": None}),
            _slo_summary(LAST - WEEK, {"api-gateway-availability": 0.99, "llm-latency": 0.99}, status="failed"),
            _slo_summary(LAST, {"api-gateway-availability": 0.32, "llm-latency": 0.85})]


def test_trend_runs_order_and_gaps() -> None:
    weeks = _weeks()
    rerun = _slo_summary(LAST - 2 * WEEK, {"api-gateway-availability": 0.46}, run_id="20261109T070000Z-0002")
    runs = trend_runs([weeks[3], weeks[1], rerun, weeks[2], weeks[0], {"report": "slo", "status": "ok"}])
    assert [r.end for r in runs] == [LAST - 3 * WEEK, LAST - 2 * WEEK, LAST - WEEK, LAST]
    assert runs[1].summary is rerun  # the newest good run of a window wins
    assert runs[2].summary is None  # a failed run is a gap, although its summary holds numbers
    failed_then_good = trend_runs([_slo_summary(LAST, {}, status="failed", run_id="20261123T070000Z-0002"),
                                   _slo_summary(LAST, {"a": 0.5})])
    assert failed_then_good[0].summary is not None  # a good run of the same window fills it


def _y_by_series(fig: Any) -> dict[str, list[float | None]]:
    return {trace.name: list(trace.y) for trace in fig.data}


def test_slo_trend_is_budget_left_per_slo_with_gaps() -> None:
    (fig,) = slo.index_trends(_weeks())
    assert _y_by_series(fig) == {"api-gateway-availability": [0.50, 0.45, None, 0.32],
                                 "llm-latency": [0.90, None, None, 0.85]}
    assert [pd.Timestamp(x) for x in fig.data[0].x] == [LAST - 3 * WEEK, LAST - 2 * WEEK, LAST - WEEK, LAST]
    assert all(trace.connectgaps is False for trace in fig.data)
    marks = [s for s in fig.layout.shapes if s.line.dash == "dot"]
    assert [pd.Timestamp(s.x0) for s in marks] == [LAST - WEEK]  # the failed run's mark
    assert 0.99 not in [v for trace in fig.data for v in trace.y]


def test_cost_and_dr_trends_from_their_summary_fields() -> None:
    months = [{"report": "cost", "status": "ok", "run_id": f"2026{m:02d}01T060000Z-0001",
               "window": {"start": f"2026-{m - 1:02d}-01T00:00:00Z", "end": f"2026-{m:02d}-01T00:00:00Z"},
               "teams": [{"team": "ml-platform", "cost": 1000.0 + m}, {"team": "__idle__", "cost": 500.0}]}
              for m in (9, 10, 11)]
    months[1]["status"] = "failed"
    (fig,) = cost.index_trends(months)
    assert _y_by_series(fig) == {"ml-platform": [1009.0, None, 1011.0], "idle": [500.0, None, 500.0]}
    quarters = [{"report": "dr", "status": "ok", "run_id": f"2026{m:02d}01T060000Z-0001",
                 "window": {"start": "2024-01-01T00:00:00Z", "end": f"2026-{m:02d}-01T00:00:00Z"},
                 "latest_drill": {"drill_id": f"d{m}", "duration_seconds": 60.0 * m, "duration_target_seconds": 600.0,
                                  "duration_passed": m <= 10}} for m in (5, 8, 11)]
    quarters.append({"report": "dr", "status": "failed", "window": {"end": "2026-12-01T00:00:00Z"}})
    (fig,) = dr.index_trends(quarters)
    assert _y_by_series(fig) == {"latest drill": [5.0, 8.0, 11.0, None], "target": [10.0, 10.0, 10.0, None]}
    assert fig.data[1].line.dash == "dash"


def _publish(root: Path, summary: dict[str, Any]) -> None:
    folder = root / summary["report"] / summary["run_id"]
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary))


def test_index_page_is_a_dashboard_over_the_runs(tmp_path: Path) -> None:
    for summary in _weeks():
        _publish(tmp_path, summary)
    _publish(tmp_path, {"report": "cost", "status": "failed", "run_id": "20261123T060000Z-0009",
                        "window": {"start": None, "end": None}, "error": {"type": "KubecostError", "message": "503"}})
    page = report_index.write_local_index(tmp_path).read_text()
    assert f'content="{CSP}"' in page and page.count(PLOTLY_MARKER) == 1 and page.count("plotly.js v") == 1
    assert re.search(r"<(?:script|link)\b[^>]*(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", page) is None
    dashboard, runs = page.split("<h2>Every run</h2>")
    assert dashboard.index("SLO report") < dashboard.index("Cost by team")  # the suite's order
    assert "2 SLOs (2 ok); policy: caution" in dashboard  # the newest good run's headline
    assert "No good run yet." in dashboard and "The newest run failed" in dashboard
    assert dashboard.count('class="plotly-graph-div"') == 2  # slo's and cost's trend (cost: no figures yet)
    assert re.findall(r">(\d{8}T\d{6}Z-\d{4})</a>", runs) == sorted(
        [s["run_id"] for s in _weeks()] + ["20261123T060000Z-0009"], reverse=True)
    assert re.findall(r">(\d{8}T\d{6}Z-\d{4})</a>", dashboard) == []  # run ids are listed once, in the list
    assert "2026-10-24 06:00 UTC → 2026-11-23 06:00 UTC" in page and '<div class="runs">' in runs


def test_a_summary_the_trend_cannot_read_is_said_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(summaries: Any) -> list[Any]:
        raise KeyError("slos")

    spec = report_index.REPORTS["slo"]
    monkeypatch.setitem(report_index.REPORTS, "slo", type(spec)(**{**spec.__dict__, "index_trends": broken}))
    _publish(tmp_path, _weeks()[0])
    page = report_index.write_local_index(tmp_path).read_text()
    assert "SLO report: trends not drawn: KeyError: &#x27;slos&#x27;" in page
