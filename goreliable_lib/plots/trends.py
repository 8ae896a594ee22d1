"""The index's trends: one figure per report, a line per series across the published runs (pure).

Each run is a point at the end of its window. A run that failed is a gap in every line (its x holds no value) and
a dotted grey mark labelled `failed`, never a value: the figure is built from the good runs' points only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from goreliable_lib.plots import PALETTE, STATUS_COLOURS, style

POINT_COLUMNS = ["end", "series", "value", "text"]
_FAILED = STATUS_COLOURS["aborted"]


def run_trend(points: Iterable[Mapping[str, Any]], ends: Sequence[pd.Timestamp], failed: Iterable[pd.Timestamp], *,
              title: str, y_title: str, tickformat: str | None = None, tickprefix: str | None = None,
              dashed: Sequence[str] = (), reference: tuple[float, str] | None = None,
              height: int = 340) -> go.Figure:
    """Lines from `points` (`end`, `series`, `value`, `text` for the hover) over the runs' window ends `ends`
    (oldest first); every `failed` end is a gap in every line and a dotted mark; `dashed` series (a target) are
    drawn dashed red; `reference` is a (value, label) line such as 0% budget left."""
    frame = pd.DataFrame(list(points), columns=POINT_COLUMNS)
    failed_ends = set(failed)
    frame = frame[~frame["end"].isin(failed_ends)]
    x = list(ends)
    fig = go.Figure()
    for number, (name, own) in enumerate(frame.groupby("series", sort=False)):
        by_end = own.drop_duplicates("end", keep="last").set_index("end")
        values = [None if end not in by_end.index or pd.isna(by_end.at[end, "value"])
                  else float(by_end.at[end, "value"])
                  for end in x]
        text = [by_end.at[end, "text"] if end in by_end.index else "" for end in x]
        line: dict[str, Any] = ({"color": STATUS_COLOURS["failed"], "dash": "dash", "width": 2} if name in dashed
                                else {"color": PALETTE[number % len(PALETTE)], "width": 2})
        fig.add_trace(go.Scatter(x=x, y=values, mode="lines+markers", name=str(name), line=line,
                                 marker={"size": 7}, connectgaps=False, text=text,
                                 hovertemplate="%{text}<extra></extra>"))
    for end in sorted(failed_ends):
        fig.add_shape(type="line", x0=end, x1=end, y0=0, y1=1, yref="paper",
                      line={"color": _FAILED, "width": 2, "dash": "dot"})
        fig.add_annotation(x=end, y=1, yref="paper", text="failed run", showarrow=False, yanchor="top",
                           xanchor="left", xshift=2, font={"color": "#555", "size": 11})
    if reference is not None:
        fig.add_hline(y=reference[0], line_color="#999", line_width=1, annotation_text=reference[1],
                      annotation_position="bottom left")
    style(fig, title, y_title=y_title, height=height)
    fig.update_layout(title={"subtitle": {"text": "a point per run; a failed run is a gap"}},
                      margin={"t": 70}, legend={"y": -0.22})
    fig.update_xaxes(type="date")
    if tickformat or tickprefix:
        fig.update_yaxes(tickformat=tickformat, tickprefix=tickprefix)
    if not len(frame):
        fig.add_annotation(text="no figures in the good runs yet", showarrow=False,
                           x=0.5, y=0.5, xref="paper", yref="paper")
    return fig
