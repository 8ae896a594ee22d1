"""The SLO review's figures and words (pure): the timeline of one SLO's budget-significant episodes beside each rule
set's alert periods, the ranking of the rule sets as people read it, and the what-if sentences
("at 99.95%, 4 of 12 months would have breached"). Frames come from `analysis.backtest.review_slo`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from goreliable_lib.plots import STATUS_COLOURS, short_label, style
from goreliable_lib.plots.format import format_seconds, percent, plural
from goreliable_lib.plots.slo import SEVERITY_COLOURS
from goreliable_lib.plots.table import Column

EPISODES_ROW = "budget-significant episodes"
_EPISODE_COLOUR = "#6a3d9a"
_OTHER_COLOUR = "#1f77b4"
_WIDTH = 10
#: The longest row label of the timeline (characters): a phone keeps most of its width for the time axis.
LABEL_CHARS = 26


def target_text(objective: float) -> str:
    """`0.9995` -> `99.95%` (as many digits as the target has, never rounded to a neighbour)."""
    return f"{objective * 100:.10g}%"


def _spans(frame: pd.DataFrame) -> tuple[list[Any], list[Any]]:
    """x values of one trace drawing every (start, end) as a segment (None between segments)."""
    xs: list[Any] = []
    for start, end in zip(frame["start"], frame["end"], strict=True):
        xs += [start, end, None]
    return xs, [None] * len(xs)


def review_timeline(episodes: pd.DataFrame, alerts: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
                    rows: Sequence[tuple[str, str]], *, title: str | None = None) -> go.Figure:
    """One SLO's timeline: its episodes on the first row, then one row per (rule set, severity) in `rows` with
    the periods that severity fired (`alerts`: `rule_set`, `severity`, `start`, `end`, `matching`). An alert that
    matches no episode is drawn hollow (a false page or ticket)."""
    fig = go.Figure()
    labels = [EPISODES_ROW] + [f"{rule_set}: {severity}" for rule_set, severity in rows]
    xs, _ = _spans(episodes)
    fig.add_trace(go.Scatter(x=xs, y=[EPISODES_ROW if x is not None else None for x in xs], mode="lines+markers",
                             line={"color": _EPISODE_COLOUR, "width": _WIDTH}, marker={"size": 9, "symbol": "diamond"},
                             name="episode", hoverinfo="x+name", connectgaps=False))
    for (rule_set, severity), label in zip(rows, labels[1:], strict=True):
        mine = alerts[(alerts["rule_set"] == rule_set) & (alerts["severity"] == severity)]
        colour = SEVERITY_COLOURS.get(severity, _OTHER_COLOUR)
        matches = mine["matching"].astype(bool)
        for matching, part in ((True, mine[matches]), (False, mine[~matches])):
            if not len(part):
                continue
            xs, _ = _spans(part)
            fig.add_trace(go.Scatter(
                x=xs, y=[label if x is not None else None for x in xs], mode="lines+markers",
                line={"color": colour, "width": _WIDTH if matching else 3},
                marker={"size": 9, "symbol": "diamond" if matching else "diamond-open", "color": colour},
                name=f"{severity} ({'matches an episode' if matching else 'no episode'})",
                legendgroup=f"{severity}-{matching}", showlegend=False, hoverinfo="x+name", connectgaps=False))
    fig.update_xaxes(range=[start, end], type="date")
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=labels[::-1], tickvals=labels,
                     ticktext=[short_label(label, LABEL_CHARS) for label in labels])
    if not len(episodes):
        fig.add_annotation(text="no budget-significant episode in the period", x=0.5, y=1.0, xref="paper",
                           yref="paper", showarrow=False, font={"size": 13, "color": "#555"})
    style(fig, title, height=max(220, 110 + 34 * len(labels)))
    return fig.update_layout(hovermode="closest", showlegend=False)


def ranking_frame(backtest: pd.DataFrame) -> pd.DataFrame:
    """The backtest rows ranked per SLO: recall first (what was caught), then precision, then the fewest pages."""
    if not len(backtest):
        return backtest
    ranked = backtest.assign(_recall=backtest["recall"].astype(float).fillna(-1.0),
                             _precision=backtest["precision"].astype(float).fillna(-1.0))
    ranked = ranked.sort_values(["slo", "severity", "_recall", "_precision", "pages_per_month"],
                                ascending=[True, True, False, False, True], kind="stable")
    columns = ["slo", "rule_set", "severity", "alerts", "pages_per_month", "precision", "recall",
               "detection_median_seconds", "detection_max_seconds", "reset_median_seconds", "budget_before_detection"]
    return ranked[columns].reset_index(drop=True)


#: How the review's tables read (unknowns show as `—` with the note).
TABLE_COLUMNS: Mapping[str, Column] = {
    "rule_set": Column("text", "Rule set"),
    "alerts": Column("count", "Alerts"),
    "pages_per_month": Column("number", "Alerts per 30 days"),
    "precision": Column("percent", "Precision", digits=0, note="no alert"),
    "recall": Column("percent", "Recall", digits=0, note="no episode"),
    "detection_median_seconds": Column("duration", "Detection (median)", note="nothing detected"),
    "detection_max_seconds": Column("duration", "Detection (worst)", note="nothing detected"),
    "reset_median_seconds": Column("duration", "Reset (median)", note="nothing detected, or still firing"),
    "budget_before_detection": Column("percent", "Budget spent before detection", digits=2,
                                      note="nothing detected"),
    "window": Column("text", "Window"),
    "months": Column("count", "Months"),
    "breached_months": Column("count", "Breached months"),
    "worst_sli": Column("percent", "Worst SLI", digits=3, note="no events"),
    "worst_error_budget_remaining": Column("percent", "Least budget left", digits=1, note="no events"),
    "minutes_compared": Column("count", "Minutes compared"),
    "minutes_exact": Column("count", "Firing (exact)"),
    "minutes_prometheus": Column("count", "Firing (Prometheus)"),
    "edge": Column("count", "Differ: edge"),
    "new_series": Column("count", "Differ: new series"),
    "reset": Column("count", "Differ: reset"),
    "gap": Column("count", "Differ: gap"),
    "unexplained": Column("count", "Differ: unexplained"),
    "start": Column("time", "Start"),
    "end": Column("time", "End"),
}


def what_if_sentence(row: Mapping[str, Any]) -> str:
    """`at 99.95% (calendar month), 4 of 12 months would have breached`."""
    window = {"1M": "calendar month", "1Q": "calendar quarter"}.get(str(row["window"]), f"rolling {row['window']}")
    months, breached = int(row["months"]), int(row["breached_months"])
    if not months:
        return f"at {target_text(float(row['objective']))} ({window}): no month with events"
    text = (f"at {target_text(float(row['objective']))} ({window}), {breached} of {plural(months, 'month')} would "
            f"have breached")
    if row.get("quarters") is not None and not pd.isna(row["quarters"]) and row["quarters"]:
        text += f" ({int(row['breached_quarters'])} of {plural(int(row['quarters']), 'quarter')})"
    return text


def detection_text(seconds: float | None) -> str:
    """A detection time to the second, `—` when nothing was detected."""
    return "—" if seconds is None or pd.isna(seconds) else format_seconds(seconds)


def share_text(value: float | None, digits: int = 0) -> str:
    """A ratio as a percentage, `—` when it has no denominator (never 0%)."""
    return "—" if value is None or pd.isna(value) else percent(value, digits)


__all__ = ["EPISODES_ROW", "LABEL_CHARS", "STATUS_COLOURS", "TABLE_COLUMNS", "detection_text", "ranking_frame",
           "review_timeline", "share_text", "target_text", "what_if_sentence"]
