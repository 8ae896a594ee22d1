"""reports/index.html as a dashboard: each report's latest headline and its trends across the published runs,
read from the runs' summary.json files; a failed run is a gap, never a value; a line per series, window and
source (demo data never continues a live line); dates on the x axis for any number of runs; each run's source,
generation time and kit version in its row; no lock file left behind (no kernel, no browser)."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from goreliable_lib.plots.trends import source_label, window_label
from goreliable_lib.reports import cost, dr, registry, slo
from goreliable_lib.reports.base import trend_runs
from goreliable_lib.runner import index as report_index
from goreliable_lib.runner.page import CSP, PLOTLY_MARKER

WEEK = pd.Timedelta(days=7)
LAST = pd.Timestamp("2026-11-23T06:00:00Z")


DEMO = {"kind": "demo", "profile": "demo", "endpoints": {"prometheus": "goreliable simulator (seed 20261123)"}}
LIVE = {"kind": "live", "profile": "live", "endpoints": {"prometheus": "https://prometheus.example:9090"}}


def _slo_summary(end: pd.Timestamp, budgets: dict[str, float | None], status: str = "ok",
                 run_id: str | None = None, *, days: int = 30, source: dict[str, Any] | None = None,
                 kit: str | None = None) -> dict[str, Any]:
    stamp = f"{end:%Y-%m-%dT%H:%M:%SZ}"
    window = {"start": f"{end - days * pd.Timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}", "end": stamp}
    return {"report": "slo", "status": status, "run_id": run_id or f"{end:%Y%m%dT%H%M%SZ}-0001",
            "generated_at": stamp, "parameters": {"window": f"{days}d"}, "window": window, "warnings": [],
            **({"source": source} if source is not None else {}),
            **({"runner": {"kit_version": kit, "python": "3.11.7"}} if kit else {}),
            "slos": [{"name": name, "status": "ok" if left is not None else "no_data", "error_budget_remaining": left,
                      "window": window, "time_window": f"report: {days}d"}
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
    demo, live = _slo_summary(LAST, {"a": 0.5}, source=DEMO), _slo_summary(LAST, {"a": 0.4}, source=LIVE)
    both = trend_runs([live, demo])  # one window, two sources: two points, never one
    assert [(r.source, r.source_label, r.summary is not None) for r in both] == [
        ("demo", "demo data", True), ("live", "live: https://prometheus.example:9090", True)]
    week = _slo_summary(LAST, {"a": 0.9}, days=7)
    assert [(r.window, r.start) for r in trend_runs([week, demo])] == [("30d", LAST - 30 * pd.Timedelta(days=1)),
                                                                       ("7d", LAST - WEEK)]


def _y_by_series(fig: Any) -> dict[str, list[float | None]]:
    return {trace.name: list(trace.y) for trace in fig.data}


def test_slo_trend_is_budget_left_per_slo_with_gaps() -> None:
    (fig,) = slo.index_trends(_weeks())
    assert _y_by_series(fig) == {"api-gateway-availability (30d)": [0.50, 0.45, None, 0.32],
                                 "llm-latency (30d)": [0.90, None, None, 0.85]}
    assert [pd.Timestamp(x, tz="UTC") for x in fig.data[0].x] == [LAST - 3 * WEEK, LAST - 2 * WEEK, LAST - WEEK,
                                                                  LAST]
    assert all(trace.connectgaps is False for trace in fig.data)
    marks = [s for s in fig.layout.shapes if s.line.dash == "dot"]
    assert [pd.Timestamp(s.x0, tz="UTC") for s in marks] == [LAST - WEEK]  # the failed run's mark
    assert 0.99 not in [v for trace in fig.data for v in trace.y]
    assert [a.text for a in fig.layout.annotations] == ["failed run"]  # no stray label (`budget spent`: none < 0)
    assert fig.layout.title.subtitle.text == "a point per run, at the end of its window;<br>a failed run is a gap"


def test_slo_trend_is_one_series_per_slo_and_window() -> None:
    """7-day and 30-day budgets of one SLO are two lines, named with their window; catalog windows too."""
    runs = [_slo_summary(LAST - WEEK, {"api-gateway-availability": 0.60}),
            _slo_summary(LAST - WEEK, {"api-gateway-availability": 0.20}, days=7, run_id="20261116T060000Z-0002"),
            _slo_summary(LAST, {"api-gateway-availability": 0.55}),
            _slo_summary(LAST, {"api-gateway-availability": 0.10}, days=7, run_id="20261123T060000Z-0002")]
    catalog = _slo_summary(LAST, {"llm-latency": 0.7}, run_id="20261123T060000Z-0003")
    catalog["parameters"]["window"] = "catalog"
    catalog["slos"][0]["time_window"] = "catalog: calendar 1M (UTC)"
    (fig,) = slo.index_trends([*runs, catalog])
    assert _y_by_series(fig) == {"api-gateway-availability (30d)": [0.60, 0.55],
                                 "api-gateway-availability (7d)": [0.20, 0.10],
                                 "llm-latency (calendar month)": [None, 0.7]}
    assert [window_label(text) for text in ("report: 30d", "catalog: 7d rolling", "1M", "2026-10", "lastmonth",
                                            "2026-Q3", "catalog: calendar 1w from 2022-01-01 12:00 (UTC)")] == [
        "30d", "7d", "month to date", "month", "month", "quarter", "calendar week"]
    assert window_label(None, "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z") == "month"
    assert window_label("catalog", "2026-11-16T06:00:00Z", "2026-11-23T06:00:00Z") == "7d"


def test_demo_and_live_runs_are_never_one_line() -> None:
    """Runs of different sources are separate lines (a legend group per source, titled with it; own markers),
    each with its own runs; a failed live run is a gap in the live lines only."""
    weeks = [_slo_summary(LAST - 3 * WEEK, {"api-gateway-availability": 0.50}, source=LIVE),
             _slo_summary(LAST - 2 * WEEK, {"api-gateway-availability": 0.99}, status="failed", source=LIVE),
             _slo_summary(LAST - WEEK, {"api-gateway-availability": 0.40}, source=LIVE),
             _slo_summary(LAST - WEEK, {"api-gateway-availability": 0.90}, source=DEMO, run_id="20261116T070000Z-0002"),
             _slo_summary(LAST, {"api-gateway-availability": 0.32}, source=DEMO)]
    (fig,) = slo.index_trends(weeks)
    lines = {(t.legendgroup, t.name): ([pd.Timestamp(x, tz="UTC") for x in t.x], list(t.y)) for t in fig.data}
    assert lines == {
        ("live: https://prometheus.example:9090", "api-gateway-availability (30d)"): (
            [LAST - 3 * WEEK, LAST - 2 * WEEK, LAST - WEEK], [0.50, None, 0.40]),
        ("demo data", "api-gateway-availability (30d)"): ([LAST - WEEK, LAST], [0.90, 0.32])}
    live, demo = fig.data
    assert live.legendgrouptitle.text == "live: https://prometheus.example:9090"
    assert demo.legendgrouptitle.text == "demo data"
    assert (live.marker.symbol, live.line.dash) == ("circle", "solid")
    assert (demo.marker.symbol, demo.line.dash) == ("circle-open", "dot")
    assert live.line.color == demo.line.color  # one SLO, one colour; the source is the marker and the dash
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.yref == "container"  # below the chart


def test_one_run_is_a_point_with_a_date_and_says_trends_come_later() -> None:
    """One run: a single point on a date axis a week wide, its one tick a readable date (not 05:59:59.999), and
    the figure says trends appear from the second run; runs sharing one window end say so too."""
    (fig,) = slo.index_trends([_slo_summary(LAST, {"api-gateway-availability": 0.32})])
    layout = fig.to_plotly_json()["layout"]
    assert layout["title"]["subtitle"]["text"] == "one run so far: trends appear from the second run"
    axis = layout["xaxis"]
    assert axis["type"] == "date" and axis["tickmode"] == "array" and axis["ticktext"] == ["23 Nov 2026"]
    low, high = (pd.Timestamp(x) for x in axis["range"])
    assert high - low == pd.Timedelta(days=7) and pd.Timestamp(axis["tickvals"][0]) == (low + (high - low) / 2)
    assert [len(t.x) for t in fig.data] == [1]
    rerun = _slo_summary(LAST, {"api-gateway-availability": 0.31}, run_id="20261123T070000Z-0002")
    (fig,) = slo.index_trends([_slo_summary(LAST, {"api-gateway-availability": 0.32}), rerun])
    assert fig.layout.title.subtitle.text == ("2 runs so far, all for the window ending 23 Nov 2026:<br>trends "
                                              "appear from a run of a later window")
    (fig,) = cost.index_trends([])
    assert fig.layout.title.subtitle.text == "no run yet: trends appear from the second run"


def test_many_runs_read_as_dates() -> None:
    """Several runs: plotly's own ticks on a date axis, labelled as dates at every tick spacing plotly may
    choose (never seconds), at least 7 days wide, padded; the hover says the full time."""
    (fig,) = slo.index_trends(_weeks())
    axis = fig.to_plotly_json()["layout"]["xaxis"]
    assert axis["type"] == "date" and "tickvals" not in axis and axis["hoverformat"] == "%Y-%m-%d %H:%M UTC"
    formats = [stop["value"] for stop in axis["tickformatstops"]]
    assert formats == ["%b %-d %H:%M<br>%Y", "%b %-d<br>%Y", "%b<br>%Y", "%Y"]
    assert not any(code in "".join(formats) for code in ("%S", "%L", "%f"))
    assert axis["tickformatstops"][1]["dtickrange"] == [86_400_000, "M1"]  # day and week ticks: dates
    low, high = (pd.Timestamp(x, tz="UTC") for x in axis["range"])
    assert low < LAST - 3 * WEEK and high > LAST and high - low < 4 * WEEK
    (fig,) = slo.index_trends([_slo_summary(LAST - pd.Timedelta(hours=1), {"a": 0.5}),
                               _slo_summary(LAST, {"a": 0.4})])  # an hour apart: still a week of days
    low, high = (pd.Timestamp(x) for x in fig.layout.xaxis.range)
    assert high - low == pd.Timedelta(days=7)


def test_cost_and_dr_trends_from_their_summary_fields() -> None:
    months = [{"report": "cost", "status": "ok", "run_id": f"2026{m:02d}01T060000Z-0001",
               "window": {"start": f"2026-{m - 1:02d}-01T00:00:00Z", "end": f"2026-{m:02d}-01T00:00:00Z"},
               "teams": [{"team": "ml-platform", "cost": 1000.0 + m}, {"team": "__idle__", "cost": 500.0}]}
              for m in (9, 10, 11)]
    months[1]["status"] = "failed"
    (fig,) = cost.index_trends(months)
    assert _y_by_series(fig) == {"ml-platform (month)": [1009.0, None, 1011.0], "idle (month)": [500.0, None, 500.0]}
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

    spec = registry.get_report("slo")
    found = registry.find_report
    broken_slo = type(spec)(**{**spec.__dict__, "index_trends": broken})
    monkeypatch.setattr(registry, "find_report", lambda name: broken_slo if name == "slo" else found(name))
    _publish(tmp_path, _weeks()[0])
    page = report_index.write_local_index(tmp_path).read_text()
    assert "SLO report: trends not drawn: KeyError: &#x27;slos&#x27;" in page


def test_each_row_says_its_source_when_it_was_made_and_by_which_kit(tmp_path: Path) -> None:
    """A run's source (demo data; live: its endpoint, never its credentials; a snapshot), when it was generated and
    the kit version its summary.json records, in its row; the card says the newest good run's source."""
    _publish(tmp_path, _slo_summary(LAST - WEEK, {"a": 0.5}, source=DEMO))
    _publish(tmp_path, _slo_summary(LAST, {"a": 0.4}, source=LIVE, kit="0.1.0", run_id="20261123T060000Z-0002"))
    page = report_index.write_local_index(tmp_path).read_text()
    dashboard, runs = page.split("<h2>Every run</h2>")
    rows = re.findall(r"<tr class=.*?</tr>", runs)
    assert len(rows) == 2 and "20261123T060000Z-0002" in rows[0]
    assert ('<td class="source">live:<br><span class="endpoint">https://prometheus.example:9090</span></td>'
            in rows[0])
    assert '<td class="generated">2026-11-23 06:00 UTC<br><span class="kit">kit 0.1.0</span></td>' in rows[0]
    assert '<td class="source">demo data</td>' in rows[1] and "kit version not recorded" in rows[1]
    assert "· live: https://prometheus.example:9090 ·" in dashboard  # the card of the newest good run
    assert "No run yet: trends appear from the second run." in dashboard  # cost and dr never ran
    with_password = {**LIVE, "endpoints": {"prometheus": "https://sre:hunter2@prom.example:9090/api?token=x#y"}}
    assert source_label(with_password) == "live: https://prom.example:9090/api"
    assert source_label({"kind": "snapshot", "endpoints": {"prometheus": "http://p:9090"}}) == "snapshot of http://p:9090"
    assert source_label(None) == "source not recorded" and source_label({"kind": "live"}) == "live"


def test_the_lock_file_is_removed_and_the_lock_still_excludes(tmp_path: Path) -> None:
    """reports/.index.lock is gone once the index is written; threads taking the lock at once (each its own open
    file, as separate processes have) never overlap, although each holder removes the file before letting go."""
    with report_index.index_lock(tmp_path):
        assert (tmp_path / report_index.LOCK_FILE).is_file()
        report_index.write_local_index(tmp_path)
    assert not (tmp_path / report_index.LOCK_FILE).exists()
    inside, overlaps, done = [0], [], []

    def worker() -> None:
        for _ in range(25):
            with report_index.index_lock(tmp_path):
                inside[0] += 1
                if inside[0] != 1:
                    overlaps.append(inside[0])
                time.sleep(0.0005)
                inside[0] -= 1
                done.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert overlaps == [] and len(done) == 200
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_the_cost_index_line_counts_in_words() -> None:
    # one of each reads in the singular (it said "1 budgets over"), two in the plural
    from goreliable_lib.reports import cost

    one = {"total_cost": 10.0, "teams": [{}], "budgets": [{"over": True}, {"over": False}], "anomalies": [{}]}
    assert cost.index_headline(one) == "total $10.00; 1 team; 1 budget over; 1 anomaly"
    two = {"total_cost": 10.0, "teams": [{}, {}], "budgets": [{"over": True}] * 2, "anomalies": []}
    assert cost.index_headline(two) == "total $10.00; 2 teams; 2 budgets over; 0 anomalies"
