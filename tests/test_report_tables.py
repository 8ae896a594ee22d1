"""Numbers and tables as people read them (plots.format, plots.table), and Markdown that renders the same in
nbconvert's report.html (mistune with its maths plugin) and in CommonMark (markdown-it: JupyterLab, GitHub)."""

from __future__ import annotations

import math
import re

import markdown_it
import numpy as np
import pandas as pd
import pytest
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from goreliable_lib.plots import STATUS_COLOURS
from goreliable_lib.plots.format import (
    format_day,
    format_seconds,
    format_time,
    md,
    md_money,
    money,
    money_change,
    money_difference,
    percent,
    percent_change,
    signed_percent,
)
from goreliable_lib.plots.table import Column, header, people_frame, resolve_columns, table_html

COMMONMARK = markdown_it.MarkdownIt("commonmark").enable("table")


def test_money_and_its_differences() -> None:
    assert money(2597.094) == "$2,597.09" and money(-3.1) == "-$3.10" and money(float("nan")) == "?"
    assert money(-0.0024) == "$0.00"  # never "-$0.00"
    assert money(12, "EUR") == "€12.00" and money(12, "CHF") == "CHF 12.00"
    assert money_change(-0.0024) == "$0.00" and money_change(1.2) == "+$1.20" and money_change(-26.527) == "-$26.53"
    # the postmortem's line: $0.27 against a usual $0.27 was "(-$0.00, -0.9%)"
    assert money_difference(0.2685, 0.2709) == "the same to the cent"
    assert money_difference(0.32, 0.27) == "+$0.05, +18.5%"
    assert percent_change(-0.0024, 0.2709) == "-0.9%" and percent_change(0.00001, 10.0) is None
    assert percent_change(1.0, 0.0) is None and signed_percent(-0.00004) == "0.0%"


def test_durations_times_and_ratios() -> None:
    assert format_seconds(420) == "7 min 00 s" and format_seconds(3900) == "1 h 05 min"
    assert format_seconds(math.nan) == "unknown"
    assert format_time(pd.Timestamp("2026-11-11T14:24:00Z")) == "2026-11-11 14:24 UTC"
    assert format_time("2026-11-02T22:02:07Z", seconds=True) == "2026-11-02 22:02:07 UTC"
    assert format_time(pd.Timestamp("2026-11-11 14:24")) == "2026-11-11 14:24 UTC"  # naive = UTC
    assert format_day(pd.Timestamp("2026-11-04", tz="UTC")) == "2026-11-04"
    assert percent(0.999, None) == "99.9%" and percent(0.99, None) == "99%" and percent(0.99932) == "99.932%"


@pytest.mark.parametrize("render", [markdown2html_mistune, COMMONMARK.render], ids=["nbconvert", "commonmark"])
def test_markdown_money_and_free_text_render_as_written(render) -> None:
    text = (f"**{md_money(2597.09)}** spent; monthly rate {md_money(2633.16)}. "
            + md("cross-check skipped: no node_*_hourly_cost, container_*_allocation [x] `q` $5 | a"))
    html = render(text)
    assert "<strong>$2,597.09</strong>" in html and "$2,633.16" in html
    assert "**" not in html and "<em>" not in html and "\\" not in html
    assert "node_*_hourly_cost, container_*_allocation [x] `q` $5 | a" in html.replace("&#96;", "`")
    # without the escaping the dollar signs open maths and the bold stays literal (what the pages showed)
    assert "**" in markdown2html_mistune(f"**{money(2597.09)}** spent and {money(3)}")


def test_headers_in_words() -> None:
    assert header("duration_target_seconds") == "Duration target"
    assert header("time_to_detect_seconds") == "Time to detect"
    assert header("burn_rate_1h") == "Burn rate 1h" and header("change_pct") == "Change %"
    assert header("rpo_seconds") == "RPO" and header("cpu_cost") == "CPU cost" and header("__idle__") == "Idle"
    assert header("ml-platform") == "ml-platform" and header("CPU eff.") == "CPU eff."  # not snake_case: as is


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "drill_id": ["2026-11-12-cluster-replacement", "2025-10-02-cluster-replacement"],
        "started_at": pd.to_datetime(["2026-11-12T10:25:32Z", "2025-10-02T10:06:14Z"], utc=True),
        "duration_seconds": [420.0, np.nan],
        "total_cost": [2597.094, 0.0],
        "coverage": [0.99931, 0.5],
        "passed": [True, False],
        "status": ["pass", "aborted"],
        "day": pd.to_datetime(["2026-11-04", "2026-11-05"], utc=True),
        "first_alert_at": [pd.Timestamp("2026-11-11T14:24:00Z"), pd.NaT],
        "bad_events": [39506.0, 1151.0],
    })


def test_people_frame_formats_every_cell() -> None:
    shown = people_frame(_frame(), {"duration_seconds": Column(note="the drill was aborted")})
    assert list(shown.columns) == ["Drill", "Started at", "Duration", "Total cost", "Coverage", "Passed", "Status",
                                   "Day", "First alert at", "Bad events"]
    assert shown.iloc[0].tolist() == ["2026-11-12-cluster-replacement", "2026-11-12 10:25:32 UTC", "7 min 00 s",
                                      "$2,597.09", "99.93%", "yes", "pass", "2026-11-04", "2026-11-11 14:24 UTC",
                                      "39,506"]
    assert shown.iloc[1].tolist()[2:4] == ["—", "$0.00"] and shown.iloc[1]["First alert at"] == "—"


def test_table_html_has_no_notebook_noise() -> None:
    page = table_html(_frame(), {"duration_seconds": Column(note="the drill was aborted")}, name="drills")
    text = re.sub(r"<style>.*?</style>|<script>.*?</script>|<[^>]+>", " ", page, flags=re.DOTALL)
    for noise in ("NaN", "NaT", "+00:00", "True", "False", "None", "duration_seconds", "0.99931"):
        assert noise not in text, noise
    assert "— in Duration: the drill was aborted" in text and "in First alert at: not known" in text
    assert f"background:{STATUS_COLOURS['passed']}" in page and f"background:{STATUS_COLOURS['aborted']}" in page
    assert 'data-sort="420.0"' in page and "<script>" not in page  # two rows: nothing to sort
    assert "<th" in page and 'class="num"' in page and "<td>0</td>" not in page  # no index column


def test_index_column_dropped_or_kept_as_a_column() -> None:
    frame = pd.DataFrame({"cost": [1.0, 2.0]}, index=[5, 9])  # a filtered frame's row numbers
    assert list(people_frame(frame).columns) == ["Cost"]
    named = pd.DataFrame({"cost": [1.0]}, index=pd.Index(["ml-platform"], name="cost_team"))
    assert people_frame(named).iloc[0].tolist() == ["ml-platform", "$1.00"]


def test_long_tables_are_sortable_and_cut_with_a_pointer_to_the_csv() -> None:
    frame = pd.DataFrame({"slo": [f"slo-{i}" for i in range(250)], "gap_minutes": range(250)})
    page = table_html(frame, name="gaps", max_rows=200)
    assert page.count("<tr>") == 201 and "<script>" in page
    assert 'The first 200 of 250 rows; every row is in <a href="gaps.csv">gaps.csv</a>' in page


def test_kinds_from_names_and_data_named_columns() -> None:
    frame = pd.DataFrame({"resource": ["cpu"], "ml-platform": [151.1658], "__idle__": [260.35],
                          "cpu_efficiency": [0.5877], "change_pct": [-0.0005], "peak_burn_rate": [166.7],
                          "first_detected_at": ["2026-11-02T22:02:00Z"], "series": [24]})
    kinds = {k: (c.kind, c.label) for k, c in resolve_columns(frame, kind="money").items()}
    assert kinds == {"resource": ("text", "Resource"), "ml-platform": ("money", "ml-platform"),
                     "__idle__": ("money", "__idle__"), "cpu_efficiency": ("percent", "CPU efficiency"),
                     "change_pct": ("signed_percent", "Change %"), "peak_burn_rate": ("rate", "Peak burn rate"),
                     "first_detected_at": ("time", "First detected at"), "series": ("count", "Series")}
    with pytest.raises(ValueError, match="column kind"):
        Column("dollars")


def test_tables_keep_their_first_column_in_view_and_charts_their_words() -> None:
    """A table scrolls in its box on a phone with its first column sticky (a row's name beside its numbers); a log
    axis labels its ticks as written (`0.5x`, not plotly's bare `5`); a long label is shortened, never cut at 80% of
    the width; counts read in words."""
    from goreliable_lib.plots import FIGURE_CONFIG, log_ticks, short_label
    from goreliable_lib.plots.format import plural

    page = table_html(_frame())
    assert "tr>:first-child{position:sticky;left:0" in page and "overflow-x:auto" in page
    assert log_ticks(0.1, 30, suffix="x") == ([0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0],
                                              ["0.1x", "0.2x", "0.5x", "1x", "2x", "5x", "10x", "20x"])
    assert log_ticks(0.05, 500, suffix="x")[1] == ["0.1x", "1x", "10x", "100x"]
    assert short_label("api-gateway-availability", 12) == "api-gateway…" and short_label("short", 12) == "short"
    assert plural(1, "budget") == "1 budget" and plural(2, "budget") == "2 budgets" and plural(0, "day") == "0 days"
    assert FIGURE_CONFIG["displayModeBar"] == "hover" and FIGURE_CONFIG["displaylogo"] is False
