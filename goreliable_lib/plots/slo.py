"""Figures of the SLO report, built from `analysis.slo` outputs (pure: frames and dicts in, plotly figures out).

- `status_frame(slos)`: the ten-second table's rows (one per SLO) from summary.json's `slos` entries, shown as an
  HTML table (`plots.table.table_html` with `STATUS_COLUMNS`: it scrolls in its box on a phone, never clipped);
  `summary_table(slos)` is the same as a plotly table figure (for an image; on a page it clips on a phone);
- `sli_over_time(daily, objective)`: the daily SLI against the objective line;
- `budget_burndown(burndown, start, end)`: error budget remaining through the window, with the ideal linear burn;
- `burn_rates(rates)`: burn rate over 1h, 6h, 1d and 3d against the alert thresholds 14.4 / 6 / 3 / 1;
- `alert_timeline(alerts, start, end)`: when the page and ticket alerts would have fired;
- `drift_timeline(periods, models, start, end)`: model-drift episodes per model;
- `coverage_heatmap(coverage)`: share of each day's minutes with data, per SLO (gaps stand out).
Every status is shown by colour *and* text, never colour alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from goreliable_lib.plots import STATUS_COLOURS, horizontal_line, log_ticks, short_label, style, target_line
from goreliable_lib.plots.format import percent, rate
from goreliable_lib.plots.table import Column

#: The burn-rate window each alert threshold applies to (the SRE workbook's long windows).
BURN_RATE_THRESHOLDS: dict[str, float] = {"1h": 14.4, "6h": 6.0, "1d": 3.0, "3d": 1.0}
SEVERITY_COLOURS = {"page": STATUS_COLOURS["breached"], "ticket": STATUS_COLOURS["at_risk"]}
STATUS_TEXT = {"ok": "ok", "at_risk": "at risk", "breached": "breached", "no_data": "no data"}
_LINE = "#1f77b4"
_IDEAL = "#7f7f7f"
_DRIFT = "#9467bd"
_TIMELINE_WIDTH = 16


#: How the status table's columns read (plots.table).
#: In the order a phone shows them beside the SLO's name (kept in view): the verdict and its numbers first, the
#: service last.
STATUS_COLUMNS: dict[str, Column] = {
    "slo": Column("text", "SLO"), "status": Column("status", "Status"),
    "error_budget_remaining": Column("percent", "Budget left", digits=1), "sli": Column("percent", "SLI", digits=3),
    "objective": Column("percent", "Objective", digits=3, trim=True),
    "burn_rate_1h": Column("rate", "Burn 1h", note="no events in the last hour"),
    "burn_rate_3d": Column("rate", "Burn 3d", note="no events in the last 3 days"),
    "alerts": Column("text", "Alerts page / ticket"), "coverage": Column("percent", "Coverage", digits=2),
    "cost_per_million_good_requests": Column("money", "Cost per million good", note="no cost (see above)"),
    "service": Column("text", "Service"),
}


# --------------------------------------------------------------------------------------------- first screen
def status_frame(slos: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per SLO from summary.json `slos` entries (the machine values; `STATUS_COLUMNS` says how they read):
    objective, SLI, budget left, burn 1h / 3d, alert periods (page / ticket), coverage, the status and the cost per
    million good requests."""
    rows = []
    for entry in slos:
        alerts = entry.get("alerts") or []
        rates = entry.get("burn_rates") or {}
        rows.append({"slo": entry["name"], "service": entry["service"], "objective": entry["objective"],
                     "sli": entry["sli"], "error_budget_remaining": entry["error_budget_remaining"],
                     "burn_rate_1h": rates.get("1h"), "burn_rate_3d": rates.get("3d"),
                     "alerts": f"{sum(a['severity'] == 'page' for a in alerts)} / "
                               f"{sum(a['severity'] == 'ticket' for a in alerts)}",
                     "coverage": entry["coverage"], "status": entry["status"],
                     "cost_per_million_good_requests": entry.get("cost_per_million_good_requests")})
    frame = pd.DataFrame(rows, columns=list(STATUS_COLUMNS))
    for column in ("objective", "sli", "error_budget_remaining", "burn_rate_1h", "burn_rate_3d", "coverage",
                   "cost_per_million_good_requests"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def summary_table(slos: Sequence[Mapping[str, Any]], *, title: str | None = None) -> go.Figure:
    """One row per SLO from summary.json `slos` entries: objective, SLI, budget left, burn 1h / 3d, alert periods
    (page / ticket), coverage and the status cell coloured and labelled (ok / at risk / breached / no data)."""
    header = ["SLO", "service", "objective", "SLI", "budget left", "burn 1h", "burn 3d", "alerts page / ticket",
              "coverage", "status"]
    rows: list[list[str]] = []
    colours: list[str] = []
    for entry in slos:
        alerts = entry.get("alerts") or []
        pages = sum(1 for a in alerts if a["severity"] == "page")
        tickets = sum(1 for a in alerts if a["severity"] == "ticket")
        rates = entry.get("burn_rates") or {}
        status = entry["status"]
        rows.append([entry["name"], entry["service"], percent(entry["objective"], 1), percent(entry["sli"]),
                     percent(entry["error_budget_remaining"], 1), rate(rates.get("1h")), rate(rates.get("3d")),
                     f"{pages} / {tickets}", percent(entry["coverage"], 2), STATUS_TEXT.get(status, status)])
        colours.append(STATUS_COLOURS.get(status, STATUS_COLOURS["unknown"]))
    columns = list(map(list, zip(*rows, strict=True))) if rows else [[] for _ in header]
    white = ["white"] * len(rows)
    fig = go.Figure(go.Table(
        columnwidth=[2.4, 1.7, 1, 1, 1.1, 0.8, 0.8, 1.3, 1, 1],
        header={"values": [f"<b>{h}</b>" for h in header], "fill_color": "#f0f0f0", "align": "left",
                "font": {"size": 13}},
        cells={"values": columns, "align": ["left"] * 2 + ["right"] * 7 + ["center"], "height": 30,
               "fill_color": [white] * (len(header) - 1) + [colours],
               "font": {"size": 13, "color": [["#222"] * len(rows)] * (len(header) - 1) + [["white"] * len(rows)]}}))
    style(fig, title, height=80 + 32 * max(len(rows), 1) + (40 if title else 0))
    fig.update_layout(margin={"l": 10, "r": 10, "b": 10})
    return fig


# --------------------------------------------------------------------------------------------- per SLO
def sli_over_time(daily: pd.DataFrame, objective: float, *, title: str | None = None) -> go.Figure:
    """The SLI per UTC day (`analysis.slo.daily_sli`: `day`, `sli`, `good`, `total`, `coverage`) against the
    objective (dashed); days under the objective are red, days without events are marked `no data`."""
    fig = go.Figure()
    has_data = daily["sli"].notna()
    colours = [STATUS_COLOURS["breached"] if s < objective else STATUS_COLOURS["ok"] for s in daily["sli"][has_data]]
    hover = [f"{d:%a %Y-%m-%d}: SLI {s:.4%}<br>{t - g:,.0f} bad of {t:,.0f}<br>coverage {c:.2%}"
             for d, s, g, t, c in daily.loc[has_data, ["day", "sli", "good", "total", "coverage"]].itertuples(
                 index=False)]
    fig.add_trace(go.Scatter(x=daily.loc[has_data, "day"], y=daily.loc[has_data, "sli"], mode="lines+markers",
                             name="daily SLI", line={"color": _LINE}, marker={"color": colours, "size": 8},
                             hovertext=hover, hoverinfo="text"))
    empty = daily[~has_data]
    if len(empty):
        fig.add_trace(go.Scatter(x=empty["day"], y=[objective] * len(empty), mode="markers+text", name="no data",
                                 text=["no data"] * len(empty), textposition="top center",
                                 marker={"color": STATUS_COLOURS["no_data"], "size": 10, "symbol": "x"}))
    target_line(fig, objective, f"objective {objective:.2%}")
    low = float(daily["sli"].min()) if has_data.any() else objective
    span = max(1.0 - min(low, objective), 1e-4)
    fig.update_yaxes(tickformat=".2%", range=[max(0.0, min(low, objective) - 0.15 * span), 1.0 + 0.02 * span])
    style(fig, title, y_title="SLI (good / total)", height=340)
    return fig.update_layout(hovermode="closest")


def budget_burndown(burndown: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, *,
                    thresholds: Mapping[str, float] | None = None, title: str | None = None) -> go.Figure:
    """Error budget remaining through the window (`analysis.slo.budget_burndown`) against the ideal linear burn
    (100% at the start to 0% at the end: exactly on budget); optional policy thresholds as dotted lines."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[start, end], y=[1.0, 0.0], mode="lines", name="ideal burn (on budget)",
                             line={"color": _IDEAL, "dash": "dot"}, hoverinfo="skip"))
    if len(burndown):
        fig.add_trace(go.Scatter(x=burndown["timestamp"], y=burndown["error_budget_remaining"], mode="lines",
                                 name="budget remaining", line={"color": _LINE, "width": 2.5},
                                 hovertemplate="%{x|%Y-%m-%d %H:%M}: %{y:.1%}<extra></extra>"))
        low = min(0.0, float(burndown["error_budget_remaining"].min()))
    else:
        fig.add_annotation(text="no data: no events in the window", x=0.5, y=0.5, xref="paper", yref="paper",
                           showarrow=False, font={"size": 16, "color": STATUS_COLOURS["no_data"]})
        low = 0.0
    for label, value in (thresholds or {}).items():
        horizontal_line(fig, value, {"dash": "dot", "color": "#bbbbbb"}, label=label, position="bottom right",
                        font={"size": 10})
    horizontal_line(fig, 0.0, {"color": STATUS_COLOURS["breached"], "width": 1})
    fig.update_yaxes(tickformat=".0%", range=[low - 0.05, 1.05])
    style(fig, title, y_title="error budget remaining", height=340)
    return fig.update_layout(hovermode="closest")


def burn_rates(rates: Mapping[str, float | None], *, title: str | None = None) -> go.Figure:
    """Burn rate over each window ending at the report's end, next to the threshold of the alert that uses that
    window (1h 14.4x, 6h 6x, 1d 3x, 3d 1x); a bar at or above its threshold is red and says so."""
    windows = [w for w in BURN_RATE_THRESHOLDS if w in rates]
    values = [rates[w] for w in windows]
    known = [v if v is not None and not math.isnan(v) else 0.0 for v in values]
    over = [v is not None and not math.isnan(v) and v >= BURN_RATE_THRESHOLDS[w] for w, v in zip(windows, values,
                                                                                                 strict=True)]
    text = ["no data" if v is None or math.isnan(v) else f"{v:.2f}x" + (" ALERT" if o else "")
            for v, o in zip(values, over, strict=True)]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=windows, y=known, name="burn rate", text=text, textposition="outside", width=0.5,
                         marker_color=[STATUS_COLOURS["breached"] if o else _LINE for o in over]))
    fig.add_trace(go.Scatter(x=windows, y=[BURN_RATE_THRESHOLDS[w] for w in windows], mode="markers+text",
                             name="alert threshold", text=[f"{BURN_RATE_THRESHOLDS[w]:g}x" for w in windows],
                             textposition="middle right",
                             marker={"symbol": "line-ew-open", "size": 40, "color": STATUS_COLOURS["breached"],
                                     "line": {"width": 3}}))
    positive = [v for v in known if v > 0]
    low = min([0.1, *positive]) / 2
    top = max([*known, *BURN_RATE_THRESHOLDS.values()]) * 3
    ticks, labels = log_ticks(low, top, suffix="x")
    fig.update_yaxes(type="log", range=[math.log10(low), math.log10(top)], tickvals=ticks,  # 0.1x .. 250x
                     ticktext=labels)
    style(fig, title, y_title="burn rate (1 = exactly on budget)", height=320)
    return fig.update_layout(hovermode="closest")


def alert_timeline(alerts: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, *,
                   title: str | None = None) -> go.Figure:
    """The periods in which each multiwindow alert would have fired (`analysis.slo.alert_periods`, optionally
    with an `slo` column): one row per rule (and SLO), red for page, orange for ticket; empty rows say none."""
    fig = go.Figure()
    rows = _alert_rows(alerts)
    shown: set[str] = set()
    for period in alerts.itertuples(index=False):
        severity = str(period.severity)
        label = _alert_label(period)
        hover = (f"{label}<br>{period.start:%Y-%m-%d %H:%M} - {period.end:%Y-%m-%d %H:%M} UTC"
                 f"{' (still firing)' if period.ongoing else ''}<br>peak burn rate {period.peak_burn_rate:.1f}x")
        colour = SEVERITY_COLOURS.get(severity, _LINE)
        fig.add_trace(go.Scatter(x=[period.start, period.end], y=[label, label], mode="lines+markers",
                                 line={"color": colour, "width": _TIMELINE_WIDTH},
                                 marker={"color": colour, "size": 12, "symbol": "diamond"},  # minutes stay visible
                                 name=severity, legendgroup=severity, showlegend=severity not in shown,
                                 hovertext=hover, hoverinfo="text"))
        shown.add(severity)
    if not len(alerts):
        fig.add_annotation(text="no page or ticket alert would have fired in the window", x=0.5, y=0.5,
                           xref="paper", yref="paper", showarrow=False, font={"size": 14, "color": "#555"})
    fig.update_xaxes(range=[start, end], type="date")
    # a row's label at most LABEL_CHARS characters (the SLO's name shortened, the rule kept; the hover names it
    # whole), so the labels never take most of a phone's width
    fig.update_yaxes(categoryorder="array", categoryarray=rows[::-1], type="category", tickvals=rows,
                     ticktext=[_short_alert_label(r) for r in rows])
    style(fig, title, height=max(220, 90 + 34 * len(rows)))
    return fig.update_layout(hovermode="closest", yaxis={"visible": bool(rows)})


#: The longest row label of a timeline (characters).
LABEL_CHARS = 24


def _short_alert_label(label: str) -> str:
    """`api-gateway-availability: page 1h/5m >= 14.4x` -> `api-gatew…: page 1h/5m`: the rule's severity and
    windows kept, the SLO's name shortened to fit LABEL_CHARS."""
    slo, _, rule = label.rpartition(": ")
    rule = rule.split(" >= ")[0]
    if not slo:
        return short_label(rule, LABEL_CHARS)
    room = max(6, LABEL_CHARS - len(rule) - 2)
    return f"{short_label(slo, room)}: {rule}"


def _alert_label(period: Any) -> str:
    rule = f"{period.severity} {period.long_window}/{period.short_window} >= {period.burn_rate_threshold:g}x"
    slo = getattr(period, "slo", None)
    return f"{slo}: {rule}" if slo else rule


def _alert_rows(alerts: pd.DataFrame) -> list[str]:
    ordered = alerts.sort_values(["severity", "burn_rate_threshold"], ascending=[True, False]) if len(alerts) \
        else alerts
    if "slo" in ordered.columns and len(ordered):
        ordered = ordered.sort_values(["slo", "severity", "burn_rate_threshold"], ascending=[True, True, False])
    return list(dict.fromkeys(_alert_label(p) for p in ordered.itertuples(index=False)))


# --------------------------------------------------------------------------------------------- drift, data quality
def drift_timeline(periods: pd.DataFrame, models: Iterable[str], start: pd.Timestamp, end: pd.Timestamp, *,
                   detected_now: Iterable[str] = (), title: str | None = None) -> go.Figure:
    """Drift episodes (`model`, `start`, `end`) per model over the window; every model gets a row, labelled
    `drift now` or `no drift now`."""
    now = set(detected_now)
    names = list(dict.fromkeys([*models, *periods["model"]]))
    label = {m: f"{m} ({'DRIFT NOW' if m in now else 'no drift now'})" for m in names}
    fig = go.Figure()
    for index, episode in enumerate(periods.itertuples(index=False)):
        fig.add_trace(go.Scatter(x=[episode.start, episode.end], y=[label[episode.model]] * 2, mode="lines+markers",
                                 line={"color": _DRIFT, "width": _TIMELINE_WIDTH}, name="drift detected",
                                 marker={"color": _DRIFT, "size": 12, "symbol": "diamond"},
                                 legendgroup="drift", showlegend=index == 0, hoverinfo="text",
                                 hovertext=f"{episode.model}: drift {episode.start:%Y-%m-%d %H:%M} - "
                                           f"{episode.end:%Y-%m-%d %H:%M} UTC"))
    for name in names:  # an invisible point keeps rows without drift on the chart
        fig.add_trace(go.Scatter(x=[start], y=[label[name]], mode="markers", marker={"opacity": 0},
                                 showlegend=False, hoverinfo="skip"))
    if not names:
        fig.add_annotation(text="no model reports model_drift_detected", x=0.5, y=0.5, xref="paper",
                           yref="paper", showarrow=False)
    fig.update_xaxes(range=[start, end], type="date")
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=[label[m] for m in names][::-1])
    style(fig, title, height=max(200, 120 + 45 * len(names)))
    return fig.update_layout(hovermode="closest")


def coverage_heatmap(coverage: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Share of each UTC day's minutes with a sample, per SLO (`slo`, `day`, `coverage`): full days are green,
    days with gaps shade to red, days without any data are grey and say `no data`."""
    table = coverage.pivot_table(index="slo", columns="day", values="coverage", sort=False, dropna=False)
    text = [["no data" if v == 0 or math.isnan(v) else ("" if v >= 1 else f"{v:.1%}") for v in row]
            for row in table.to_numpy()]
    values = table.where(table > 0)
    fig = go.Figure(go.Heatmap(
        z=values.to_numpy(), x=list(table.columns), y=list(table.index), text=text, texttemplate="%{text}",
        textfont={"size": 9}, zmin=0.9, zmax=1.0, xgap=1, ygap=2, colorbar={"title": "coverage", "tickformat": ".0%"},
        colorscale=[[0, STATUS_COLOURS["breached"]], [0.9, STATUS_COLOURS["at_risk"]], [1, STATUS_COLOURS["ok"]]],
        hovertemplate="%{y} %{x|%Y-%m-%d}: %{z:.2%} of minutes with data<extra></extra>"))
    style(fig, title, height=max(220, 90 + 36 * len(table.index)))
    fig.update_layout(hovermode="closest", plot_bgcolor=STATUS_COLOURS["no_data"],
                      yaxis={"autorange": "reversed", "showgrid": False}, xaxis={"showgrid": False})
    return fig


def compliance_history(history: Sequence[Mapping[str, Any]], *, title: str | None = None) -> go.Figure:
    """The last months per SLO (summary.json `history`): a cell per SLO and month, green when met, red when
    breached, grey and `unknown` when the kit cannot see the month (never shown as met); the SLI as text, with the
    coverage when the month is seen in part, and `corrected` when a correction window left minutes of it out."""
    months = [m["month"] for m in history[0]["months"]] if history else []
    colour = {"met": 2, "breached": 0, "unknown": None, "no_data": None}
    z, text, hover = [], [], []
    for entry in history:
        row_z, row_text, row_hover = [], [], []
        for month in entry["months"]:
            verdict = str(month["status"]).split(" ")[0]
            row_z.append(colour.get(verdict))
            sli = f"{month['sli']:.3%}" if month["sli"] is not None else verdict.replace("_", " ")
            partial = month["status"].endswith("(partial)") or month.get("to_date")
            corrected = int(month.get("corrected_minutes") or 0)
            row_text.append(sli + (f"<br>{month['coverage']:.0%} seen" if partial and month["sli"] is not None else "")
                            + ("<br>corrected" if corrected else ""))
            row_hover.append(f"{entry['name']} {month['month']}: {month['status']}, SLI {sli}, coverage "
                             f"{month['coverage']:.1%}" + (f", {corrected:,} min left out by corrections"
                                                           if corrected else ""))
        z.append(row_z)
        text.append(row_text)
        hover.append(row_hover)
    fig = go.Figure(go.Heatmap(
        z=z, x=months, y=[e["name"] for e in history], text=text, texttemplate="%{text}", textfont={"size": 9},
        customdata=hover, hovertemplate="%{customdata}<extra></extra>", zmin=0, zmax=2, showscale=False, xgap=2,
        ygap=2,
        colorscale=[[0, STATUS_COLOURS["breached"]], [0.5, STATUS_COLOURS["at_risk"]], [1, STATUS_COLOURS["ok"]]]))
    style(fig, title, height=max(220, 90 + 36 * len(history)))
    fig.update_layout(hovermode="closest", plot_bgcolor=STATUS_COLOURS["no_data"],
                      yaxis={"autorange": "reversed", "showgrid": False}, xaxis={"showgrid": False, "type": "category"})
    return fig
