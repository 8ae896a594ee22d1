"""Figures of the postmortem report: SLIs, burn rates, alert periods and hourly cost around an incident, the
incident always shaded. Functions take tidy frames (from goreliable_lib.reports.postmortem) and return figures;
no I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from goreliable_lib.plots import PALETTE, STATUS_COLOURS, log_ticks, short_label, style

INCIDENT_COLOUR = "#d73027"
SEVERITY_COLOURS = {"page": "#d73027", "ticket": "#fdae61"}
ROW_HEIGHT = 230


def shade_incident(fig: go.Figure, start: pd.Timestamp, end: pd.Timestamp, *, label: bool = True,
                   layer: str = "below") -> go.Figure:
    """Shade the incident (start, end] on every subplot, labelled once inside the top one."""
    fig.add_vrect(x0=start, x1=end, fillcolor=INCIDENT_COLOUR, opacity=0.12 if layer == "below" else 0.2,
                  line_width=0, layer=layer, row="all", col="all")
    if label:
        fig.add_annotation(x=start, y=1.0, xref="x", yref="y domain", xanchor="right", yanchor="top",
                           text="incident ", showarrow=False, font={"color": INCIDENT_COLOUR, "size": 11})
    return fig


def _rows(names: Sequence[str], title: str | None) -> go.Figure:
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=0.12 / max(len(names), 1),
                        subplot_titles=list(names))
    style(fig, title, height=150 + ROW_HEIGHT * len(names))
    fig.update_annotations(font_size=12)
    return fig


def sli_chart(sli: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, *, title: str | None = None) -> go.Figure:
    """SLI per bucket (frame: slo, objective, timestamp, sli) in %, one row per SLO, objective dashed."""
    names = list(dict.fromkeys(sli["slo"]))
    fig = _rows(names, title)
    for row, name in enumerate(names, start=1):
        own = sli[sli["slo"] == name]
        objective = float(own["objective"].iloc[0])
        fig.add_trace(go.Scatter(x=own["timestamp"], y=own["sli"] * 100, mode="lines", name="SLI (5-minute buckets)",
                                 line={"color": PALETTE[0]}, showlegend=row == 1, connectgaps=False,
                                 hovertemplate="%{y:.3f}%<extra>" + name + "</extra>"), row=row, col=1)
        fig.add_hline(y=objective * 100, line_dash="dash", line_color=STATUS_COLOURS["breached"], row=row, col=1,
                      annotation_text=f"objective {objective:.2%}".replace(".00%", "%"),
                      annotation_position="bottom left", annotation_font_size=11)
        fig.update_yaxes(title_text="SLI %", row=row, col=1)
    return shade_incident(fig, start, end)


def burn_rate_chart(burn: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, *,
                    thresholds: Sequence[tuple[float, str]] = ((14.4, "page 1h/5m: 14.4"), (6.0, "page 6h/30m: 6")),
                    title: str | None = None) -> go.Figure:
    """Rolling burn rates (frame: slo, timestamp, window, burn_rate), log scale, one row per SLO, with the page
    alerts' thresholds. A burn rate of 1 spends exactly the 30-day budget in 30 days."""
    names = list(dict.fromkeys(burn["slo"]))
    windows = list(dict.fromkeys(burn["window"]))
    fig = _rows(names, title)
    for row, name in enumerate(names, start=1):
        own = burn[burn["slo"] == name]
        for index, window in enumerate(windows):
            series = own[own["window"] == window]
            positive = series["burn_rate"].where(series["burn_rate"] > 0)  # log axis: 0 is not drawable
            fig.add_trace(go.Scatter(x=series["timestamp"], y=positive, mode="lines", name=f"burn rate over {window}",
                                     line={"color": PALETTE[index % len(PALETTE)], "width": 1.5},
                                     legendgroup=window, showlegend=row == 1,
                                     hovertemplate="%{y:.2f}<extra>" + f"{name} {window}" + "</extra>"), row=row, col=1)
        for index, (value, label) in enumerate(thresholds):
            fig.add_trace(go.Scatter(x=[start_of(own), end_of(own)], y=[value, value], mode="lines", name=label,
                                     line={"color": STATUS_COLOURS["breached"], "dash": "dot" if index else "dash",
                                           "width": 1}, legendgroup=label, showlegend=row == 1, hoverinfo="skip"),
                          row=row, col=1)
        fig.add_trace(go.Scatter(x=[start_of(own), end_of(own)], y=[1.0, 1.0], mode="lines", name="1 = on budget",
                                 line={"color": "#666666", "dash": "dash", "width": 1}, legendgroup="budget",
                                 showlegend=row == 1, hoverinfo="skip"), row=row, col=1)
        top = float(own["burn_rate"].max()) if own["burn_rate"].notna().any() else 1.0
        top = max(top, *(value for value, _ in thresholds), 1.0)
        ticks, labels = log_ticks(0.1, top * 2, suffix="x")  # 0.5x, never plotly's bare minor digit `5`
        fig.update_yaxes(range=[-1.0, math.log10(top * 2)], tickvals=ticks, ticktext=labels, row=row, col=1)
        fig.update_yaxes(type="log", title_text="burn rate", row=row, col=1)
    return shade_incident(fig, start, end)


def start_of(frame: pd.DataFrame) -> pd.Timestamp:
    return frame["timestamp"].min()


def end_of(frame: pd.DataFrame) -> pd.Timestamp:
    return frame["timestamp"].max()


def alert_chart(alerts: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, view_start: pd.Timestamp,
                view_end: pd.Timestamp, *, title: str | None = None) -> go.Figure:
    """When each multiwindow alert would have fired (frame: slo, severity, long_window, short_window,
    burn_rate_threshold, start, end, ongoing), one bar per period, coloured by severity."""
    fig = go.Figure()
    if alerts.empty:
        fig.add_annotation(x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                           text="no multiwindow alert would have fired in this window")
        style(fig, title, height=200)
        fig.update_xaxes(range=[view_start, view_end], type="date")
        fig.update_yaxes(visible=False)
        return shade_incident(fig, start, end)
    labels = [f"{r.slo} · {r.severity} {r.long_window}/{r.short_window} @ {r.burn_rate_threshold:g}"
              for r in alerts.itertuples(index=False)]
    order = list(dict.fromkeys(labels))
    for severity in dict.fromkeys(alerts["severity"]):
        mask = (alerts["severity"] == severity).to_numpy()
        own = alerts[mask]
        durations = (own["end"] - own["start"]).dt.total_seconds() * 1000.0
        fig.add_trace(go.Bar(
            y=[label for label, keep in zip(labels, mask, strict=True) if keep], base=own["start"], x=durations,
            orientation="h", name=f"{severity} alert firing", marker_color=SEVERITY_COLOURS.get(severity, PALETTE[0]),
            customdata=[[f"{s:%H:%M}", f"{e:%H:%M}" + (" (still firing)" if o else "")]
                        for s, e, o in zip(own["start"], own["end"], own["ongoing"], strict=True)],
            hovertemplate="%{y}<br>fires %{customdata[0]}, clears %{customdata[1]} UTC<extra></extra>"))
    style(fig, title, height=180 + 40 * len(order))
    fig.update_layout(barmode="overlay", hovermode="closest", bargap=0.35, legend={"y": -0.3})
    fig.update_xaxes(type="date", range=[view_start, view_end])
    # labels at most 26 characters (the SLO's name shortened; the hover names it whole): never most of a phone
    fig.update_yaxes(categoryorder="array", categoryarray=order[::-1], automargin=True, tickvals=order,
                     ticktext=[_short_alert_label(label) for label in order])
    return shade_incident(fig, start, end)


def _short_alert_label(label: str, limit: int = 26) -> str:
    """`api-gateway-availability · page 1h/5m @ 14.4` -> `api-gateway-a… · page 1h/5m`."""
    slo, _, rule = label.partition(" · ")
    rule = rule.split(" @ ")[0]
    return f"{short_label(slo, max(6, limit - len(rule) - 3))} · {rule}"


def cost_chart(hourly: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, *, scope: str = "",
               title: str | None = None) -> go.Figure:
    """Hourly cost (frame: hour, cost, usual_cost, low, high) against the usual: bars for the incident's day, the
    median of the same hours on previous weeks as a line, their range as a band. Bars sit on the hour they
    start."""
    middle = hourly["hour"] + pd.Timedelta(minutes=30)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=middle, y=hourly["high"], mode="lines", line={"width": 0}, showlegend=False,
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=middle, y=hourly["low"], mode="lines", line={"width": 0}, fill="tonexty",
                             fillcolor="rgba(120,120,120,0.2)", name="range of previous weeks", hoverinfo="skip"))
    fig.add_trace(go.Bar(x=middle, y=hourly["cost"], name="cost this day", marker_color=PALETTE[0], opacity=0.8,
                         width=3_000_000, hovertemplate="$%{y:.4f}<extra>this day</extra>"))
    fig.add_trace(go.Scatter(x=middle, y=hourly["usual_cost"], mode="lines+markers", name="usual (median)",
                             line={"color": "#333333", "dash": "dash"},
                             hovertemplate="$%{y:.4f}<extra>usual</extra>"))
    style(fig, title, y_title="$ per hour" + (f" ({scope})" if scope else ""))
    fig.update_layout(barmode="overlay")
    return shade_incident(fig, start, end, layer="above")
