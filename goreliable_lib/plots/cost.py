"""Figures of the cost-by-team report (house style from `goreliable_lib.plots`). Frames in, figures out."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from goreliable_lib.analysis.cost import IDLE, RESOURCES, UNALLOCATED
from goreliable_lib.plots import PALETTE, STATUS_COLOURS, short_label, style

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


def budget_bullets(budgets: pd.DataFrame) -> go.Figure:
    """One row per budget: the projected month as a share of its monthly limit (the dashed red line at 100%),
    coloured by status, `$523 of $500` under its name, and the month so far as a thin grey bar inside it. Bars hold at
    any width (gauges in a grid did not: their titles collided on a desktop and clipped on a phone); a long scope is
    shortened on the axis and named whole in the hover."""
    names = [str(b.scope) for b in budgets.itertuples(index=False)]
    limits = [float(v) for v in budgets["limit"]] if len(budgets) else []
    share = [float(p) / lim if lim else math.nan for p, lim in zip(budgets["projected"], limits, strict=True)]
    so_far = [float(m) / lim if lim else math.nan for m, lim in zip(budgets["month_to_date"], limits, strict=True)]
    colours = [STATUS_COLOURS.get("breached" if s == "over" else s, "#9e9e9e") for s in budgets["status"]]
    hover = [f"{b.scope}<br>projected month ${b.projected:,.2f} against ${b.limit:,.2f}<br>month to date "
             f"${b.month_to_date:,.2f}<br>{str(b.status).replace('_', ' ')}" for b in budgets.itertuples(index=False)]
    fig = go.Figure()
    fig.add_trace(go.Bar(y=names, x=share, orientation="h", name="projected month", marker_color=colours, width=0.6,
                         customdata=hover, hovertemplate="%{customdata}<extra></extra>"))
    fig.add_trace(go.Bar(y=names, x=so_far, orientation="h", name="month so far", marker_color="#555555",
                         width=0.18, customdata=hover, hovertemplate="%{customdata}<extra></extra>"))
    fig.add_vline(x=1.0, line_dash="dash", line_color=STATUS_COLOURS["breached"], line_width=2)
    finite = [v for v in share if math.isfinite(v)]
    fig.update_xaxes(range=[0, max([1.2, *(v * 1.1 for v in finite)])], tickformat=".0%",
                     title_text="projected / limit")
    # the figures beside the name (a bar's own text clipped at a phone's right edge)
    words = [f"{short_label(n, 22)}<br>${p:,.0f} of ${lim:,.0f}" for n, p, lim in zip(names, budgets["projected"],
                                                                                        limits, strict=True)]
    fig.update_yaxes(autorange="reversed", tickvals=names, ticktext=words, automargin=True)
    style(fig, None, height=140 + 52 * max(len(names), 1))
    return fig.update_layout(barmode="overlay", hovermode="closest", margin={"l": 10, "r": 20, "t": 20, "b": 60},
                             legend={"y": -0.35})


#: The name the notebooks and tests knew (the gauges were replaced by bars).
budget_gauges = budget_bullets


def anomaly_chart(series: pd.DataFrame, name: str, *, start: pd.Timestamp | None = None,
                  title: str | None = None) -> go.Figure:
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
    return style(fig, title or f"Daily cost of {SPECIAL_NAMES.get(name, name)}", y_title="cost per day")


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


def unit_cost_daily(daily: pd.DataFrame, title: str = "Cost per million good requests, per day") -> go.Figure:
    """One line per service: each UTC day's cost per million good requests (`analysis.unit_costs.with_ratios` of
    the periods); a day without cost data or good requests is a gap."""
    fig = go.Figure()
    for i, (service, rows) in enumerate(daily.groupby("service", sort=False)):
        values = pd.to_numeric(rows["cost_per_million_good_requests"], errors="coerce")
        fig.add_trace(go.Scatter(x=rows["day"], y=values, name=str(service), mode="lines+markers",
                                 line={"color": PALETTE[i % len(PALETTE)]}, connectgaps=False,
                                 hovertemplate=f"{service}<br>%{{x|%a %Y-%m-%d}}: $%{{y:,.4f}} per million good"))
    fig.update_yaxes(tickprefix="$", type="log", dtick=1)  # $1, $10, $100: powers of ten only
    return style(fig, title, y_title="per million good requests (log)", height=420)
