"""Figures of the DR trend report, built from `analysis.dr` outputs (pure: frames in, plotly figures out).

- `pass_fail_matrix(evaluated, drills)`: drill x component grid, status colours and text labels
  (passed / failed / aborted / unknown) with each cell's RTO and RPO verdicts, a "whole drill" row for the
  10-minute target; `pass_fail_table` is the same as an HTML table (what the page shows: it reads on a phone);
- `metric_trend(trends, "rto" | "rpo")`: one small chart per component over the drills, target line,
  regressions marked, quarters without a drill shaded;
- `drill_timeline(components, evaluated, drill_id, duration_target_seconds)`: Gantt-style chart of one drill,
  from `disaster_declared` to each component's `recovered`, with the whole-drill target marked;
- `drill_durations(drills)`: each drill's duration against the whole-drill target;
- `drill_cost_trend(costs)`: each drill's cost (the cluster over its cost hours) per quarter; a drill without a
  cost is a grey `unknown` marker whose hover says why, never a bar of 0.
Durations are drawn in minutes (the unit of the DR table); hovers give the exact seconds.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from goreliable_lib.plots import STATUS_COLOURS, style, target_line
from goreliable_lib.plots.format import format_seconds, money
from goreliable_lib.plots.table import CSS, status_style

#: Matrix labels, in the order of their colour codes.
STATUS_LABELS = ("passed", "failed", "aborted", "unknown")
WHOLE_DRILL = "whole drill"
_LABEL_OF = {"pass": "passed", "fail": "failed", "aborted": "aborted", "unknown_component": "unknown"}
_REGRESSION_COLOUR = STATUS_COLOURS["failed"]
_TARGET_COLOUR = "#555555"
_NEUTRAL = "#cfcfcf"


def minutes(seconds: float) -> float:
    """Seconds as minutes (NaN stays NaN)."""
    return seconds / 60.0


def status_label(evaluated: pd.DataFrame) -> pd.Series:
    """The matrix label of each row of `evaluate_components`: passed, failed, aborted, or unknown (component
    without a target, or an RTO within target with no `data_loss` event: the verdict cannot be given; it is
    still not a pass)."""
    labels = evaluated["status"].map(_LABEL_OF).fillna("unknown")
    rpo_only = ((evaluated["status"] == "fail") & evaluated["rto_passed"].astype(bool)
                & evaluated["rpo_seconds"].isna())
    return labels.mask(rpo_only, "unknown")


def drill_labels(drills: pd.DataFrame) -> dict[str, str]:
    """Short, unique column labels per drill: `2026-08-13<br>2026-Q3` (the drill id when a date repeats)."""
    labels: dict[str, str] = {}
    for drill in drills.itertuples(index=False):
        started = pd.Timestamp(drill.started_at)
        label = f"{started:%Y-%m-%d}<br>{drill.quarter}" if pd.notna(started) else str(drill.drill_id)
        labels[drill.drill_id] = label if label not in labels.values() else str(drill.drill_id)
    return labels


def _drill_frame(evaluated: pd.DataFrame) -> pd.DataFrame:
    """One row per drill (id, quarter, start) from `evaluate_components`, in time order."""
    return (evaluated.groupby("drill_id", sort=False, as_index=False)
            .agg(quarter=("quarter", "first"), started_at=("started_at", "first"))
            .sort_values(["started_at", "drill_id"]).reset_index(drop=True))


def _matrix_cells(evaluated: pd.DataFrame, drills: pd.DataFrame | None,
                  components: Sequence[str] | None) -> tuple[pd.DataFrame, list[str], dict[tuple[str, str], Any]]:
    """The matrix's drills (oldest first), its component rows (`components` first, in order), and each (component,
    drill) cell's evaluated row with its status label."""
    order = _drill_frame(evaluated) if drills is None else drills.sort_values(["started_at", "drill_id"])
    rows = list(components) if components is not None else list(dict.fromkeys(evaluated["component"]))
    rows += [c for c in dict.fromkeys(evaluated["component"]) if c not in rows]
    labels = evaluated.assign(label=status_label(evaluated))
    cells = {(r.component, r.drill_id): r for r in labels.itertuples(index=False)}
    return order, rows, cells


def pass_fail_matrix(evaluated: pd.DataFrame, drills: pd.DataFrame | None = None, *,
                     components: Sequence[str] | None = None, title: str | None = None) -> go.Figure:
    """Drill (columns, oldest left) x component (rows) grid coloured and labelled by status.

    `evaluated` is `analysis.dr.evaluate_components`; `drills` (`evaluate_drills`) adds a top row for the
    whole-drill duration target. `components` fixes the row order (default: the order of first appearance).
    """
    order, rows, cells = _matrix_cells(evaluated, drills, components)
    columns, names = list(order["drill_id"]), drill_labels(order)
    codes = {label: index for index, label in enumerate(STATUS_LABELS)}

    y_names = ([WHOLE_DRILL] if drills is not None else []) + rows
    z = np.full((len(y_names), len(columns)), np.nan)
    text = [["" for _ in columns] for _ in y_names]
    hover = [["no record" for _ in columns] for _ in y_names]
    if drills is not None:
        for j, drill in enumerate(order.itertuples(index=False)):
            label = _LABEL_OF.get(drill.status, "unknown")
            z[0, j] = codes[label]
            text[0][j] = f"{label}<br>{format_seconds(drill.duration_seconds)}" if label != "aborted" else label
            hover[0][j] = (f"{drill.drill_id}<br>duration {format_seconds(drill.duration_seconds)} "
                           f"(target {format_seconds(drill.duration_target_seconds)})<br>{drill.reason or 'passed'}")
    offset = len(y_names) - len(rows)
    for i, component in enumerate(rows, start=offset):
        for j, drill_id in enumerate(columns):
            cell = cells.get((component, drill_id))
            if cell is None:
                continue
            z[i, j] = codes[cell.label]
            text[i][j] = "<br>".join([cell.label, *_verdicts(cell, short=True)])
            hover[i][j] = (f"{component} in {drill_id}<br>RTO {format_seconds(cell.rto_seconds)} (target "
                           f"{format_seconds(cell.rto_target_seconds)})<br>RPO {format_seconds(cell.rpo_seconds)} "
                           f"(target {format_seconds(cell.rpo_target_seconds)})<br>{cell.reason or 'passed'}")
    steps = len(STATUS_LABELS)
    colourscale = []
    for index, label in enumerate(STATUS_LABELS):
        colourscale += [[index / steps, STATUS_COLOURS[label]], [(index + 1) / steps, STATUS_COLOURS[label]]]
    fig = go.Figure(go.Heatmap(
        z=z, x=[names[d] for d in columns], y=y_names, text=text, texttemplate="%{text}",
        textfont={"color": "white", "size": 11}, customdata=hover, hovertemplate="%{customdata}<extra></extra>",
        colorscale=colourscale, zmin=-0.5, zmax=steps - 0.5, showscale=False, xgap=2, ygap=2))
    for label in STATUS_LABELS:  # a legend for the colours (the cells also carry their label as text)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=label, showlegend=True,
                                 marker={"color": STATUS_COLOURS[label], "size": 12, "symbol": "square"}))
    style(fig, title, height=max(260, 60 + 48 * len(y_names)))
    fig.update_layout(hovermode="closest", xaxis={"side": "top", "showgrid": False, "type": "category"},
                      yaxis={"autorange": "reversed", "showgrid": False, "type": "category"},
                      margin={"t": 90 if title else 60})
    return fig


def _verdicts(cell: object, *, short: bool = False) -> list[str]:
    """`RTO 318s over`, `RPO 12s ok` (or `RPO ?`: not measured) of one component in one drill: both, always (a
    cell whose RPO failed said only its RTO)."""
    words = []
    for metric in ("rto", "rpo"):
        value = float(getattr(cell, f"{metric}_seconds"))
        if math.isnan(value):
            words.append(f"{metric.upper()} ?")
            continue
        shown = f"{value:.0f}s" if short else format_seconds(value)
        words.append(f"{metric.upper()} {shown} {'ok' if getattr(cell, f'{metric}_passed') else 'over'}")
    return words


def pass_fail_table(evaluated: pd.DataFrame, drills: pd.DataFrame | None = None, *,
                    components: Sequence[str] | None = None) -> str:
    """The pass/fail matrix as an HTML table (the same cells as `pass_fail_matrix`; a table reads on any screen:
    on a phone it scrolls in its box with the component kept in view): a row per component (the whole drill first),
    a column per drill (oldest left); each cell coloured and labelled by status with its RTO and RPO against their
    targets (`title`: the exact values and the reason)."""
    order, rows, cells = _matrix_cells(evaluated, drills, components)
    columns, names = list(order["drill_id"]), drill_labels(order)

    def cell_html(label: str, lines: list[str], hover: str) -> str:
        style_ = status_style(label) or ""
        body = f"<b>{html.escape(label)}</b>" + "".join(f"<br>{html.escape(x)}" for x in lines)
        return f'<td class="status" style="{style_}" title="{html.escape(hover, quote=True)}">{body}</td>'

    head = "".join(f'<th scope="col">{html.escape(names[d]).replace("&lt;br&gt;", "<br>")}</th>' for d in columns)
    body = []
    if drills is not None:
        tds = []
        for drill in order.itertuples(index=False):
            label = _LABEL_OF.get(drill.status, "unknown")
            hover = (f"{drill.drill_id}: duration {format_seconds(drill.duration_seconds)} (target "
                     f"{format_seconds(drill.duration_target_seconds)}); {drill.reason or 'passed'}")
            tds.append(cell_html(label, [] if label == "aborted" else [format_seconds(drill.duration_seconds)], hover))
        body.append(f'<tr><th scope="row">{WHOLE_DRILL}</th>{"".join(tds)}</tr>')
    for component in rows:
        tds = []
        for drill_id in columns:
            cell = cells.get((component, drill_id))
            if cell is None:
                tds.append('<td class="unknown" title="no record">—</td>')
                continue
            hover = (f"{component} in {drill_id}: RTO {format_seconds(cell.rto_seconds)} (target "
                     f"{format_seconds(cell.rto_target_seconds)}), RPO {format_seconds(cell.rpo_seconds)} (target "
                     f"{format_seconds(cell.rpo_target_seconds)}); {cell.reason or 'passed'}")
            tds.append(cell_html(cell.label, _verdicts(cell), hover))
        body.append(f'<tr><th scope="row">{html.escape(str(component))}</th>{"".join(tds)}</tr>')
    return (f'<div class="gr-table gr-matrix"><style>{CSS}\n.gr-matrix td.status{{line-height:1.3;font-weight:400}}'
            f'\n.gr-matrix tbody th{{background:#fff;text-align:left}}</style><div class="gr-scroll"><table>'
            f'<thead><tr><th scope="col">Component</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
            '</div><p class="gr-notes">RTO and RPO per component against its target (ok / over; ? not measured); '
            'hover a cell for the exact values and the reason.</p></div>')


def _quarter_span(label: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    period = pd.Period(label, freq="Q")
    return period.start_time.tz_localize("UTC"), (period + 1).start_time.tz_localize("UTC")


def metric_trend(trends: pd.DataFrame, metric: str, *, missing_quarters: Iterable[str] = (),
                 components: Sequence[str] | None = None, title: str | None = None, columns: int = 3) -> go.Figure:
    """One small chart per component of `metric` (`rto` or `rpo`) over the completed drills, from
    `analysis.dr.component_trends`: the values (minutes), the component's target (dashed), regressions (red X,
    hover gives the reason), and `missing_quarters` shaded."""
    frame = trends[trends["metric"] == metric]
    names = list(components) if components is not None else list(dict.fromkeys(frame["component"]))
    names = [n for n in names if n in set(frame["component"])] or names
    count = max(len(names), 1)
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=names or ["no completed drills"], shared_xaxes=True,
                        vertical_spacing=0.12 if rows > 1 else 0.05, horizontal_spacing=0.07)
    metric_name = metric.upper()
    for index, component in enumerate(names):
        row, col = index // columns + 1, index % columns + 1
        own = frame[frame["component"] == component].sort_values("started_at")
        hover = [f"{d}<br>{metric_name} {format_seconds(v)} (target {format_seconds(t)})"
                 for d, v, t in zip(own["drill_id"], own["value_seconds"], own["target_seconds"], strict=True)]
        fig.add_trace(go.Scatter(x=own["started_at"], y=minutes(own["value_seconds"]), mode="lines+markers",
                                 name=metric_name, legendgroup="value", showlegend=index == 0,
                                 line={"color": "#1f77b4"}, hovertext=hover, hoverinfo="text"), row=row, col=col)
        bad = own[own["regression"].astype(bool)]
        if len(bad):
            fig.add_trace(go.Scatter(x=bad["started_at"], y=minutes(bad["value_seconds"]), mode="markers",
                                     name="regression", legendgroup="regression", showlegend=True,
                                     marker={"color": _REGRESSION_COLOUR, "size": 13, "symbol": "x"},
                                     hovertext=[f"{d}: {r}" for d, r in zip(bad["drill_id"], bad["reason"],
                                                                           strict=True)],
                                     hoverinfo="text"), row=row, col=col)
        targets = own["target_seconds"].dropna()
        if len(targets):
            target = float(targets.iloc[-1])
            fig.add_hline(y=minutes(target), line_dash="dash", line_color=_TARGET_COLOUR, row=row, col=col,
                          annotation_text=f"target {format_seconds(target)}", annotation_position="top left",
                          annotation_font_size=10)
            top = max(minutes(target), float(minutes(own["value_seconds"]).max()) if len(own) else 0.0)
            fig.update_yaxes(range=[0, top * 1.2 if top > 0 else 1], row=row, col=col)
    for quarter in missing_quarters:
        start, end = _quarter_span(quarter)
        fig.add_vrect(x0=start, x1=end, fillcolor=_NEUTRAL, opacity=0.35, line_width=0, row="all", col="all")
    if missing := list(missing_quarters):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="quarter without a drill: "
                                 + ", ".join(missing), marker={"color": _NEUTRAL, "size": 12, "symbol": "square"}))
    style(fig, title, height=60 + 250 * rows)
    fig.update_layout(hovermode="closest", legend={"y": -0.08 if rows > 1 else -0.15})
    fig.update_yaxes(title_text="min", col=1)
    fig.update_annotations(font_size=12, selector={"xref": "paper"})
    return fig


def drill_timeline(components: pd.DataFrame, evaluated: pd.DataFrame, drill_id: str,
                   duration_target_seconds: float, *, title: str | None = None) -> go.Figure:
    """Gantt-style chart of one drill, in minutes since `disaster_declared`: per component, waiting until
    `recovery_started`, recovering until `recovered` (green within its RTO target, red beyond), verifying until
    `verified`; a dashed line at the whole-drill target and one where the drill ended (last `recovered`)."""
    own = components[components["drill_id"] == drill_id].copy()
    if own.empty:
        raise ValueError(f"drill {drill_id!r} is not in the components frame")
    verdicts = evaluated[evaluated["drill_id"] == drill_id].set_index("component")
    declared = own["disaster_declared_at"].min()

    def since(column: str) -> pd.Series:
        return (own[column] - declared).dt.total_seconds() / 60.0

    own["started_min"], own["recovered_min"], own["verified_min"] = (since("recovery_started_at"),
                                                                     since("recovered_at"), since("verified_at"))
    own = own.sort_values(["recovered_min", "component"], ascending=[False, True], na_position="first")
    started = own["started_min"].fillna(0.0)
    passed = [bool(verdicts.at[c, "rto_passed"]) if c in verdicts.index else False for c in own["component"]]
    fig = go.Figure()
    fig.add_trace(go.Bar(y=own["component"], base=0.0, x=started, orientation="h", name="until recovery started",
                         marker_color="#e0e0e0", hovertemplate="recovery started at %{x:.1f} min<extra></extra>"))
    fig.add_trace(go.Bar(
        y=own["component"], base=started, x=own["recovered_min"] - started, orientation="h",
        name="recovering (RTO: declared to recovered)",
        marker_color=[STATUS_COLOURS["passed"] if p else STATUS_COLOURS["failed"] for p in passed],
        text=[format_seconds(s * 60) if not math.isnan(s) else "" for s in own["recovered_min"]],
        textposition="outside",
        customdata=[[c, format_seconds(r * 60)] for c, r in zip(own["component"], own["recovered_min"], strict=True)],
        hovertemplate="%{customdata[0]}: recovered after %{customdata[1]}<extra></extra>"))
    fig.add_trace(go.Bar(y=own["component"], base=own["recovered_min"], x=own["verified_min"] - own["recovered_min"],
                         orientation="h", name="verifying", marker_color="#a6d96a", opacity=0.5,
                         hovertemplate="verified at %{x:.1f} min after recovery<extra></extra>"))
    target = minutes(duration_target_seconds)
    fig.add_vline(x=target, line_dash="dash", line_color=STATUS_COLOURS["failed"],
                  annotation_text=f"whole-drill target {format_seconds(duration_target_seconds)}",
                  annotation_position="top")
    ended = own["recovered_min"].max()
    if pd.notna(ended) and not bool(own["aborted"].any()):
        fig.add_vline(x=float(ended), line_dash="dot", line_color="#333333",
                      annotation_text=f"all recovered: {format_seconds(ended * 60)}", annotation_position="bottom")
    aborted_at = own["aborted_at"].dropna()
    if len(aborted_at):
        fig.add_vline(x=(aborted_at.min() - declared).total_seconds() / 60.0, line_color=STATUS_COLOURS["aborted"],
                      annotation_text="aborted", annotation_position="bottom")
    style(fig, title, height=120 + 45 * len(own))
    right = float(np.nanmax([target, own["verified_min"].max(), own["recovered_min"].max(), 0.0]))
    fig.update_layout(barmode="overlay", hovermode="closest", bargap=0.35)
    fig.update_xaxes(title_text=f"minutes since disaster_declared ({declared:%Y-%m-%d %H:%M:%S} UTC)",
                     range=[0, right * 1.12])
    return fig


def drill_durations(drills: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Each drill's duration (disaster_declared to the last recovered, minutes) against the whole-drill target
    (from `evaluate_drills`); aborted drills are shown as grey `aborted` markers, never as durations."""
    order = drills.sort_values(["started_at", "drill_id"])
    names = drill_labels(order)
    x = [names[d] for d in order["drill_id"]]
    colours = [STATUS_COLOURS["aborted"] if a else (STATUS_COLOURS["passed"] if p else STATUS_COLOURS["failed"])
               for a, p in zip(order["aborted"], order["duration_passed"], strict=True)]
    values = minutes(order["duration_seconds"].where(~order["aborted"].astype(bool)))
    fig = go.Figure(go.Bar(
        x=x, y=values.fillna(0.0), marker_color=colours, name="drill duration",
        text=["aborted" if a else format_seconds(s) for a, s in zip(order["aborted"], order["duration_seconds"],
                                                                    strict=True)],
        textposition="outside", customdata=order["drill_id"],
        hovertemplate="%{customdata}: %{text}<extra></extra>"))
    style(fig, title, y_title="minutes")
    targets = order["duration_target_seconds"].dropna()
    if len(targets):
        target = float(targets.iloc[-1])
        target_line(fig, minutes(target), f"target {format_seconds(target)}", colour=STATUS_COLOURS["failed"])
        top = float(np.nanmax([minutes(target), values.max() if values.notna().any() else 0.0]))
        fig.update_yaxes(range=[0, top * 1.25])
    fig.update_layout(hovermode="closest", showlegend=False, xaxis={"type": "category"})
    return fig


def drill_cost_trend(costs: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Each drill's cost per quarter, oldest on the left, from `reports.dr.DRReport.cost_table()` (drill_id,
    quarter, status, cost_start, cost_hours, cost, cost_note), one category per drill named by its quarter (with
    the day when a quarter has two): a bar per drill with a cost (grey when it was aborted), a grey cross at 0
    where the cost is unknown (the hover says why: before Kubecost's data, Kubecost not configured ...)."""
    frame = costs.sort_values(["cost_start", "drill_id"], na_position="first")
    repeated = frame["quarter"].duplicated(keep=False)
    x = [f"{q} {s:%m-%d}" if r and pd.notna(s) else str(q if q else d)
         for q, s, r, d in zip(frame["quarter"], frame["cost_start"], repeated, frame["drill_id"], strict=True)]
    known = frame["cost"].notna().to_numpy()
    aborted = (frame["status"] == "aborted").to_numpy()
    fig = go.Figure()
    fig.add_trace(go.Bar(
        x=[v for v, k in zip(x, known, strict=True) if k], y=frame.loc[known, "cost"], name="cost of the drill's hours",
        marker_color=[STATUS_COLOURS["aborted"] if a else "#1f77b4" for a in aborted[known]],
        text=[money(c) + (" (aborted)" if a else "") for c, a in zip(frame.loc[known, "cost"], aborted[known],
                                                                      strict=True)],
        textposition="outside",
        customdata=[[d, int(h), f"{s:%Y-%m-%d %H:%M}"] for d, h, s in zip(
            frame.loc[known, "drill_id"], frame.loc[known, "cost_hours"], frame.loc[known, "cost_start"], strict=True)],
        hovertemplate="%{customdata[0]}: %{text} over %{customdata[1]} h from %{customdata[2]} UTC<extra></extra>"))
    if (~known).any():
        fig.add_trace(go.Scatter(
            x=[v for v, k in zip(x, known, strict=True) if not k], y=[0.0] * int((~known).sum()), mode="markers",
            name="cost unknown (hover: why)", marker={"color": STATUS_COLOURS["unknown"], "size": 11, "symbol": "x"},
            hovertext=[f"{d}: {html.escape(str(n))}" for d, n in zip(frame.loc[~known, "drill_id"],
                                                                  frame.loc[~known, "cost_note"], strict=True)],
            hoverinfo="text"))
    style(fig, title, y_title="cost")
    top = float(frame["cost"].max()) if known.any() else 1.0
    fig.update_yaxes(range=[0, top * 1.3], tickprefix="$")
    fig.update_layout(hovermode="closest", xaxis={"type": "category", "categoryorder": "array", "categoryarray": x},
                      legend={"y": -0.3})  # below the labels a phone tilts
    return fig
