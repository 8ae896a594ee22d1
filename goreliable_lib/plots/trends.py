"""The index's trends: one figure per report, a line per series and source across the published runs (pure).

Each run is a point at the end of its window, on a date axis that reads as dates for any number of runs (one run:
its day, a week around it; never sub-second ticks). A series is one thing measured one way (an SLO over one
window: `api-gateway-availability (30d)`), and runs of different sources (demo data, a live Prometheus, a
snapshot) are never one line: each source is a legend group of its own, titled with the source, with its own
markers (live: filled circles on solid lines; demo: open circles on dotted lines; snapshot: squares on dashed
lines). A run that failed is a gap in its source's lines (every line, when its source is not recorded) and a
dotted grey mark labelled `failed run`, never a value: the lines are built from the good runs' points only. With
one run, or runs that all share one window end, the figure says so: trends appear from the second run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import pandas as pd
import plotly.graph_objects as go

from goreliable_lib.paths import without_credentials
from goreliable_lib.plots import PALETTE, STATUS_COLOURS, horizontal_line, style

POINT_COLUMNS = ["end", "series", "value", "text", "source"]
_FAILED = STATUS_COLOURS["aborted"]
#: The date axis never spans less than this (a single run stands in the middle of a readable week); with at least
#: 5 days on the axis plotly's own ticks are whole days or longer.
MIN_SPAN = pd.Timedelta(days=7)
DAY_MS = 86_400_000
#: Tick labels by tick spacing (plotly `tickformatstops`): dates, never times of day unless ticks are hours apart.
TICK_FORMATS = ((None, DAY_MS, "%b %-d %H:%M<br>%Y"), (DAY_MS, "M1", "%b %-d<br>%Y"), ("M1", "M12", "%b<br>%Y"),
                ("M12", None, "%Y"))
SINGLE_TICK = "%-d %b %Y"
#: summary.json `source.kind` -> (marker symbol, line dash) of its lines; the order is the legend's.
SOURCE_STYLES = {"live": ("circle", "solid"), "snapshot": ("square", "dash"), "demo": ("circle-open", "dot"),
                 "unknown": ("x", "dashdot")}
#: The endpoint that names a report's source (the Prometheus one for the others).
SOURCE_ENDPOINT = {"cost": "kubecost", "dr": "drills"}
NO_SOURCE = "source not recorded"
#: The figure's height: the plot's, and a row per legend entry and group title (on a phone's chart, 330 px wide,
#: a legend entry is a row of its own; on a desktop the source groups stand side by side, the plot gets the rest).
_PLOT_HEIGHT, _LEGEND_ROW, _GROUP_GAP = 330, 21, 12


class TrendMark(Protocol):
    """A run on a trend: the end of its window, its source, and whether it failed (reports.base.TrendRun)."""

    @property
    def end(self) -> pd.Timestamp: ...

    @property
    def source(self) -> str: ...

    @property
    def source_label(self) -> str: ...

    @property
    def failed(self) -> bool: ...


# ---- what a run is: its source and its window, as people read them ---------------------------------------

def source_kind(source: Any) -> str:
    """`demo`, `live` or `snapshot` from a summary.json `source` block; `unknown` when it is not recorded (a run
    that failed before it connected)."""
    kind = source.get("kind") if isinstance(source, Mapping) else None
    return str(kind) if kind else "unknown"


def source_label(source: Any, report: str | None = None) -> str:
    """How a run's source reads: `demo data`, `live: http://prometheus:9090` (the report's endpoint, never its
    credentials), `snapshot of http://prometheus:9090`, or `source not recorded`."""
    kind = source_kind(source)
    endpoints = source.get("endpoints") if isinstance(source, Mapping) else None
    endpoints = endpoints if isinstance(endpoints, Mapping) else {}
    endpoint = endpoints.get(SOURCE_ENDPOINT.get(str(report), "prometheus")) or endpoints.get("prometheus")
    endpoint = without_credentials(str(endpoint)) if endpoint else ""
    if kind == "demo":
        return "demo data"
    if kind == "live":
        return f"live: {endpoint}" if endpoint else "live"
    if kind == "snapshot":
        return f"snapshot of {endpoint}" if endpoint else "snapshot"
    return NO_SOURCE if kind == "unknown" else kind


_CALENDAR_UNITS = {"d": "day", "w": "week", "M": "month", "Q": "quarter", "Y": "year"}


def window_label(text: Any = None, start: Any = None, end: Any = None) -> str:
    """A window as a series name reads it: `30d` (rolling), `month to date` (1M), `month` (2026-10, lastmonth),
    `calendar month` (an OpenSLO calendar window); from a window parameter or an SLO's `time_window`
    (`report: 30d`, `catalog: 7d rolling`), else from the span `start`..`end`; "" when none is known."""
    value = str(text).strip() if isinstance(text, str) else ""
    value = re.sub(r"^(?:report|catalog):\s*", "", value).removesuffix(" rolling").strip()
    if value and value != "catalog":
        if match := re.match(r"^calendar (\d+)([dwMQY])\b", value):
            count, unit = int(match[1]), _CALENDAR_UNITS[match[2]]
            return f"calendar {unit}" if count == 1 else f"calendar {count} {unit}s"
        if value in ("1M", "1Q"):
            return f"{_CALENDAR_UNITS[value[1]]} to date"
        if re.fullmatch(r"\d{4}-\d{2}", value) or value.lower() == "lastmonth":
            return "month"
        if re.fullmatch(r"\d{4}-Q[1-4]", value, re.IGNORECASE) or value.lower() == "lastquarter":
            return "quarter"
        return value
    try:
        first, last = pd.Timestamp(start), pd.Timestamp(end)
    except (TypeError, ValueError):
        return ""
    if pd.isna(first) or pd.isna(last) or last <= first:
        return ""
    if first == first.normalize() and first.day == 1 and last == first + pd.DateOffset(months=1):
        return "month"
    if first == first.normalize() and first.day == 1 and first.month % 3 == 1 and last == first + pd.DateOffset(
            months=3):
        return "quarter"
    span = last - first
    return f"{span.days}d" if span % pd.Timedelta(days=1) == pd.Timedelta(0) else f"{span / pd.Timedelta(hours=1):g}h"


def series_name(name: str, window: str) -> str:
    """`api-gateway-availability (30d)`; the bare name when the window is not known."""
    return f"{name} ({window})" if window else name


# ---- the figure --------------------------------------------------------------------------------------------

def _iso(stamp: pd.Timestamp) -> str:
    """A UTC time as plotly reads it on a date axis (no offset: plotly ignores it)."""
    stamp = pd.Timestamp(stamp)
    stamp = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp
    return stamp.isoformat(sep=" ")


def date_axis(ends: Sequence[pd.Timestamp]) -> dict[str, Any]:
    """The x axis of a trend: dates; at least `MIN_SPAN` wide around the runs' ends (5% padding for longer
    histories); a single end is its one tick, `23 Nov 2026`."""
    axis: dict[str, Any] = {"type": "date", "hoverformat": "%Y-%m-%d %H:%M UTC", "automargin": True,
                            "tickformatstops": [{"dtickrange": [low, high], "value": value}
                                                for low, high, value in TICK_FORMATS]}
    if not ends:
        return axis
    low, high = min(ends), max(ends)
    pad = max((high - low) * 0.05, (MIN_SPAN - (high - low)) / 2)
    axis["range"] = [_iso(low - pad), _iso(high + pad)]
    if low == high:
        axis.update(tickmode="array", tickvals=[_iso(low)], ticktext=[f"{pd.Timestamp(low):{SINGLE_TICK}}"])
    return axis


def state_text(published: int, ends: Sequence[pd.Timestamp]) -> str:
    """The figure's subtitle: what a point is, or why there is no trend yet (one run, one window end); lines of
    at most 50 characters (plotly does not wrap a subtitle, and a phone's chart is 330 px wide)."""
    if published <= 0:
        return "no run yet: trends appear from the second run"
    if published == 1:
        return "one run so far: trends appear from the second run"
    distinct = sorted(set(ends))
    if len(distinct) == 1:
        return (f"{published} runs so far, all for the window ending {pd.Timestamp(distinct[0]):{SINGLE_TICK}}:"
                "<br>trends appear from a run of a later window")
    return "a point per run, at the end of its window;<br>a failed run is a gap"


def _short(text: str, most: int = 50) -> str:
    """A legend group title that fits a phone's chart: a long endpoint keeps its start and its end (`...`)."""
    return text if len(text) <= most else f"{text[:most - 13]}…{text[-12:]}"


def _source_order(runs: Sequence[TrendMark]) -> list[tuple[str, str]]:
    """(label, kind) of every source with a good run: live first, then snapshots, demo data, unknown."""
    found = {r.source_label: r.source for r in runs if not r.failed}
    rank = list(SOURCE_STYLES)
    return sorted(found.items(), key=lambda item: (rank.index(item[1]) if item[1] in rank else len(rank), item[0]))


def run_trend(points: Iterable[Mapping[str, Any]], runs: Sequence[TrendMark], *, title: str, y_title: str,
              published: int | None = None, tickformat: str | None = None, tickprefix: str | None = None,
              dashed: Sequence[str] = (), reference: tuple[float, str] | None = None) -> go.Figure:
    """Lines from `points` (`end`, `series`, `value`, `text` for the hover, `source`: the run's source label) over
    the runs `runs` (reports.base.TrendRun, oldest first): one line per series and source; a failed run is a gap
    in its source's lines and a dotted mark; `dashed` series (a target) are drawn dashed red; `reference` is a
    (value, label) line such as 0% budget left, labelled only when a value is below it. `published`: how many
    runs the report has (for the one-run state; default the number of `runs`)."""
    frame = pd.DataFrame(list(points), columns=POINT_COLUMNS)
    good = {(r.end, r.source_label) for r in runs if not r.failed}
    frame = frame.loc[[(end, source) in good for end, source in zip(frame["end"], frame["source"], strict=True)]]
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(dict.fromkeys(frame["series"]))}
    sources = _source_order(runs)
    fig = go.Figure()
    for label, kind in sources:
        symbol, dash = SOURCE_STYLES.get(kind, SOURCE_STYLES["unknown"])
        ends = sorted({r.end for r in runs if r.source_label == label
                       or (r.failed and r.source_label == NO_SOURCE)})
        titled = False
        for name in colours:
            own = frame[(frame["series"] == name) & (frame["source"] == label)]
            if own.empty:
                continue
            by_end = own.drop_duplicates("end", keep="last").set_index("end")
            values = [None if end not in by_end.index or pd.isna(by_end.at[end, "value"])
                      else float(by_end.at[end, "value"]) for end in ends]
            text = [f"{by_end.at[end, 'text']} · {label}" if end in by_end.index else "" for end in ends]
            line: dict[str, Any] = ({"color": STATUS_COLOURS["failed"], "dash": "dash", "width": 2}
                                    if name in dashed else {"color": colours[name], "dash": dash, "width": 2})
            fig.add_trace(go.Scatter(
                x=[_iso(end) for end in ends], y=values, mode="lines+markers", name=str(name), line=line,
                marker={"size": 8, "symbol": symbol, "line": {"width": 2, "color": line["color"]}},
                connectgaps=False, text=text, hovertemplate="%{text}<extra></extra>", legendgroup=label,
                legendgrouptitle={"text": _short(label) if not titled else None}, meta={"source": label, "kind": kind}))
            titled = True
    failed_ends = sorted({r.end for r in runs if r.failed})
    for end in failed_ends:
        fig.add_shape(type="line", x0=_iso(end), x1=_iso(end), y0=0, y1=1, yref="paper",
                      line={"color": _FAILED, "width": 2, "dash": "dot"})
        fig.add_annotation(x=_iso(end), y=1, yref="paper", text="failed run", showarrow=False, yanchor="top",
                           xanchor="left", xshift=2, font={"color": "#555", "size": 11})
    if reference is not None:
        below = bool(len(frame)) and bool((frame["value"].dropna() < reference[0]).any())
        horizontal_line(fig, reference[0], {"color": "#999", "width": 1}, label=reference[1] if below else None,
                        position="bottom left")
    height = _PLOT_HEIGHT + _LEGEND_ROW * (len(fig.data) + len(sources)) + _GROUP_GAP * max(0, len(sources) - 1)
    style(fig, title, y_title=y_title, height=height)
    all_ends = [r.end for r in runs]
    subtitle = state_text(len(runs) if published is None else published, all_ends)
    fig.update_layout(title={"subtitle": {"text": subtitle, "font": {"size": 12}}},
                      margin={"t": 70 + 15 * subtitle.count("<br>"), "b": 20, "r": 24},
                      legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0,
                              "groupclick": "toggleitem", "font": {"size": 12}})
    fig.update_xaxes(**date_axis(all_ends))
    if tickformat or tickprefix:
        fig.update_yaxes(tickformat=tickformat, tickprefix=tickprefix)
    if not len(frame):
        fig.add_annotation(text="no figures in the good runs yet", showarrow=False,
                           x=0.5, y=0.5, xref="paper", yref="paper")
    return fig
