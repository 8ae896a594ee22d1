"""Plotly figures in one house style. Functions take tidy DataFrames and return figures; no I/O."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

#: Status colours used in every table and chart (colour-blind-safe pairs with text labels always shown).
STATUS_COLOURS = {"ok": "#1a9850", "at_risk": "#fdae61", "breached": "#d73027", "no_data": "#9e9e9e",
                  "failed": "#d73027", "passed": "#1a9850", "aborted": "#9e9e9e", "unknown": "#9e9e9e"}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
FONT = "Inter, Segoe UI, Helvetica, Arial, sans-serif"
#: How every figure is shown on a page (runner.context.show_figure, runner.page.figure_div): the mode bar only on
#: hover (the page's style also moves it under the chart and hides it on a phone: it never covers a title), no
#: plotly logo, and the chart resizes to the width it gets.
FIGURE_CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": "hover"}
#: The kinds of trace the kit draws (tests/test_plots_template.py checks the plots' code for others).
TRACE_KINDS = ("scatter", "bar", "heatmap", "table")


#: The house style every figure carries in its template: what a figure sets itself wins (e.g. its own margins).
HOUSE_LAYOUT = {"font": {"family": FONT, "size": 13}, "margin": {"l": 60, "r": 20, "b": 40},
                "colorway": PALETTE, "legend": {"orientation": "h", "yanchor": "top", "y": -0.15, "x": 0},
                "hovermode": "x unified"}


@functools.cache
def house_template() -> go.layout.Template:
    """plotly_white's layout with the house style (`HOUSE_LAYOUT`), and plotly_white's defaults for the traces the
    kit draws (`TRACE_KINDS`) only: what plotly_white whole would draw (it carries defaults for 24 kinds of trace,
    7 KB a figure). Built and validated once, at the first figure (loading plotly's templates takes 0.1 s, which a
    process that draws nothing, such as the runner's, does not spend)."""
    white = pio.templates["plotly_white"]
    template = go.layout.Template(layout=white.layout, data={kind: white.data[kind] for kind in TRACE_KINDS})
    template.layout.update(HOUSE_LAYOUT)
    return template


def with_house_template(fig: go.Figure) -> go.Figure:
    """`fig` with the house template, given as plotly gives a new figure its default template (`pio.templates.default`:
    already validated, so not validated again). Assigned the usual way, each figure would validate the template
    anew: 5 ms, a tenth of the SLO report's figures' time."""
    layout = fig.layout
    layout._validate = False  # noqa: SLF001 - plotly's own path for a default template (BaseFigure._initialize_layout_template)
    try:
        layout.template = house_template()
    finally:
        layout._validate = fig._validate  # noqa: SLF001
    return fig


def short_label(text: str, limit: int = 24) -> str:
    """`text` cut to `limit` characters with an ellipsis (the full name goes in the hover)."""
    text = str(text)
    return text if len(text) <= limit else text[:max(1, limit - 1)].rstrip("-_ :") + "…"


def log_ticks(low: float, top: float, *, suffix: str = "") -> tuple[list[float], list[str]]:
    """Ticks of a log axis over [low, top] labelled as written (`0.5x`, never plotly's bare minor digit `5`): the
    powers of ten, with 2 and 5 between them when the range spans fewer than three decades."""
    low, top = max(low, 1e-9), max(top, low * 10)
    steps = (1, 2, 5) if math.log10(top / low) < 3 else (1,)
    ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(top)) + 1)
             for m in steps if low <= m * 10.0 ** e <= top]
    return ticks, [f"{t:g}{suffix}" for t in ticks]


def style(fig: go.Figure, title: str | None = None, *, y_title: str | None = None, height: int = 380) -> go.Figure:
    """Apply the house style (`house_template`: white background, light grid, legend below), a title, a height."""
    with_house_template(fig).update_layout(title=title, height=height, margin_t=50 if title else 20)
    if y_title:
        fig.update_yaxes(title_text=y_title)
    return fig


def timeseries(frame: pd.DataFrame, *, x: str = "timestamp", y: str = "value",
               series: str | Sequence[str] | None = None, title: str | None = None,
               y_title: str | None = None) -> go.Figure:
    """Lines from a long frame: one line per distinct value of the `series` column(s)."""
    fig = go.Figure()
    if series is None:
        fig.add_trace(go.Scatter(x=frame[x], y=frame[y], mode="lines", name=y))
    else:
        columns = [series] if isinstance(series, str) else list(series)
        for key, group in frame.groupby(columns, sort=True, dropna=False):
            name = ", ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
            fig.add_trace(go.Scatter(x=group[x], y=group[y], mode="lines", name=name))
    return style(fig, title, y_title=y_title)


#: Where `horizontal_line` puts a label: (x on the plot's width, x anchor, y anchor), as plotly's add_hline does.
LABEL_POSITIONS = {"top left": (0, "left", "bottom"), "top right": (1, "right", "bottom"),
                   "bottom left": (0, "left", "top"), "bottom right": (1, "right", "top")}


def horizontal_line(fig: go.Figure, y: float, line: dict[str, object], *, label: str | None = None,
                    position: str = "top left", font: dict[str, object] | None = None) -> go.Figure:
    """A line across the plot at `y`, with an optional label: the very shape and annotation plotly's `add_hline`
    makes on a figure without subplots, added directly (add_hline resolves subplots first: 4 ms a line, 0.1 s of
    the SLO report's figures)."""
    fig.add_shape(type="line", xref="x domain", x0=0, x1=1, yref="y", y0=y, y1=y, line=line)
    if label is not None:
        x, x_anchor, y_anchor = LABEL_POSITIONS[position]
        fig.add_annotation(text=label, showarrow=False, xref="x domain", x=x, xanchor=x_anchor, yref="y", y=y,
                           yanchor=y_anchor, **({"font": font} if font else {}))
    return fig


def target_line(fig: go.Figure, value: float, label: str, *, colour: str = "#d73027") -> go.Figure:
    """A dashed horizontal target/threshold line with its label."""
    return horizontal_line(fig, value, {"dash": "dash", "color": colour}, label=label)
