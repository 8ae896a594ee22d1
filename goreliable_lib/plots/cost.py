"""Figures of the cost-by-team report (house style from `goreliable_lib.plots`). Frames in, figures out."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from goreliable_lib.analysis.cost import IDLE, RESOURCES, UNALLOCATED
from goreliable_lib.plots import PALETTE, STATUS_COLOURS, style

#: idle and unallocated are greys, so teams keep the colours
SPECIAL_COLOURS = {IDLE: "#bdbdbd", UNALLOCATED: "#757575"}
SPECIAL_NAMES = {IDLE: "idle", UNALLOCATED: "unallocated (no team label)"}


def _colours(names: list[str]) -> dict[str, str]:
    teams = [n for n in names if n not in SPECIAL_COLOURS]
    return {**{n: PALETTE[i % len(PALETTE)] for i, n in enumerate(teams)}, **SPECIAL_COLOURS}


def stacked_daily(daily_costs: pd.DataFrame, key: str, title: str = "Daily cost by team") -> go.Figure:
    """Stacked bars of `total_cost` per UTC day and `key` value (idle and unallocated on top, in grey)."""
    order = daily_costs.groupby(key)["total_cost"].sum().sort_values(ascending=False).index.tolist()
    order = [n for n in order if n not in SPECIAL_COLOURS] + [n for n in (UNALLOCATED, IDLE) if n in order]
    colours = _colours(order)
    fig = go.Figure()
    for name in order:
        rows = daily_costs[daily_costs[key] == name]
        fig.add_trace(go.Bar(x=rows["day"], y=rows["total_cost"], name=SPECIAL_NAMES.get(name, name),
                             marker_color=colours[name], hovertemplate="%{x|%a %Y-%m-%d}: $%{y:,.2f}"))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(tickprefix="$")
    return style(fig, title, y_title="cost per day", height=420)


def budget_gauges(budgets: pd.DataFrame, columns: int = 3) -> go.Figure:
    """One gauge per budget: projected month against the limit (the red mark); the bar is coloured by status."""
    count = max(len(budgets), 1)
    rows = math.ceil(count / columns)
    fig = make_subplots(rows=rows, cols=min(columns, count),
                        specs=[[{"type": "indicator"}] * min(columns, count)] * rows)
    for i, budget in enumerate(budgets.itertuples(index=False)):
        top = max(budget.limit, budget.projected) * 1.2
        colour = STATUS_COLOURS.get("breached" if budget.status == "over" else budget.status, "#9e9e9e")
        fig.add_trace(go.Indicator(
            mode="gauge+number+delta", value=budget.projected, number={"prefix": "$", "valueformat": ",.0f"},
            delta={"reference": budget.limit, "increasing": {"color": STATUS_COLOURS["breached"]},
                   "decreasing": {"color": STATUS_COLOURS["ok"]}, "valueformat": ",.0f"},
            title={"text": f"{budget.scope}<br><span style='font-size:0.8em'>projected month vs "
                           f"${budget.limit:,.0f}</span>"},
            gauge={"axis": {"range": [0, top], "tickprefix": "$"}, "bar": {"color": colour},
                   "steps": [{"range": [0, budget.month_to_date], "color": "#eeeeee"}],
                   "threshold": {"line": {"color": STATUS_COLOURS["breached"], "width": 4}, "value": budget.limit}}),
            row=i // columns + 1, col=i % columns + 1)
    fig = style(fig, None, height=260 * rows)
    fig.update_layout(margin={"l": 30, "r": 30, "t": 60, "b": 20})
    return fig


def anomaly_chart(series: pd.DataFrame, name: str, *, start: pd.Timestamp | None = None) -> go.Figure:
    """A scope's daily cost with its same-weekday baseline (median) and band; flagged days in red.
    `series` is one scope's rows of `analysis.cost.baseline`."""
    rows = series if start is None else series[series["day"] >= start.floor("D")]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=rows["day"], y=rows["upper"], mode="lines", line={"width": 0}, showlegend=False,
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=rows["day"], y=rows["lower"], mode="lines", line={"width": 0}, fill="tonexty",
                             fillcolor="rgba(31,119,180,0.15)", name="usual range"))
    fig.add_trace(go.Scatter(x=rows["day"], y=rows["expected"], mode="lines", line={"dash": "dot", "color": "#1f77b4"},
                             name="same-weekday median (4 weeks)"))
    fig.add_trace(go.Scatter(x=rows["day"], y=rows["cost"], mode="lines+markers", line={"color": "#333333"},
                             name="daily cost"))
    flagged = rows[rows["anomaly"]]
    fig.add_trace(go.Scatter(x=flagged["day"], y=flagged["cost"], mode="markers", name="anomaly",
                             marker={"color": STATUS_COLOURS["breached"], "size": 12, "symbol": "x"}))
    fig.update_yaxes(tickprefix="$", rangemode="tozero")
    return style(fig, f"Daily cost of {SPECIAL_NAMES.get(name, name)}", y_title="cost per day")


def resource_breakdown(table: pd.DataFrame, key: str) -> go.Figure:
    """Horizontal stacked bars: each team's (or namespace's) cost split by resource."""
    fig = go.Figure()
    names = [SPECIAL_NAMES.get(n, n) for n in table[key]]
    for i, (resource, column) in enumerate(RESOURCES.items()):
        fig.add_trace(go.Bar(y=names, x=table[column], name=resource.replace("_", " "), orientation="h",
                             marker_color=PALETTE[i % len(PALETTE)], hovertemplate="%{y}: $%{x:,.2f}"))
    fig.update_layout(barmode="stack", hovermode="closest")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickprefix="$")
    return style(fig, "Cost by resource", height=120 + 40 * len(table))
