"""The figures' house style: the house template draws what plotly_white draws for every kind of trace the kit makes,
with the house layout (font, margins, colours, legend, hover); a styled figure draws that look whether the template
was validated on assignment or not; horizontal_line draws what add_hline draws."""

from __future__ import annotations

import ast
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
import pytest
from plotly.basedatatypes import BaseTraceType

import goreliable_lib
from goreliable_lib import plots
from goreliable_lib.plots import LABEL_POSITIONS, TRACE_KINDS, horizontal_line, house_template, style

PACKAGE = Path(goreliable_lib.__file__).parent


def trace_kinds_in_code() -> set[str]:
    """Every `go.<Trace>(...)` the package's code calls, as plotly's trace type names (`go.Scatter` -> scatter)."""
    kinds = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "go"):
                cls = getattr(go, node.func.attr, None)
                if isinstance(cls, type) and issubclass(cls, BaseTraceType):
                    kinds.add(cls().type)
    return kinds


def test_every_trace_kind_the_kit_draws_has_plotly_whites_defaults() -> None:
    found = trace_kinds_in_code()
    assert {"scatter", "bar", "heatmap", "table"} <= found  # the scan sees the kit's figures (it can fail)
    assert found <= set(TRACE_KINDS), f"add {sorted(found - set(TRACE_KINDS))} to plots.TRACE_KINDS"


def merged(under: dict, over: dict) -> dict:
    """`over` on top of `under`, key by key (a template's layout under a figure's, as plotly.js reads them)."""
    out = dict(under)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def test_the_house_template_is_plotly_white_for_those_kinds() -> None:
    white = pio.templates["plotly_white"]
    layout = house_template().layout.to_plotly_json()
    # plotly_white's layout, with the house layout on top of it (plotly_white's own font colour kept)
    assert layout == merged(white.layout.to_plotly_json(), plots.HOUSE_LAYOUT)
    assert layout["font"] == {"color": "#2a3f5f", "family": plots.FONT, "size": 13}
    for kind in TRACE_KINDS:
        assert [t.to_plotly_json() for t in house_template().data[kind]] == \
            [t.to_plotly_json() for t in white.data[kind]], kind
    # and only those: every figure embeds its template
    assert set(house_template().data.to_plotly_json()) == set(TRACE_KINDS)


def test_a_styled_figure_carries_the_house_template() -> None:
    figure = style(go.Figure(go.Bar(x=["a"], y=[1])), "t")
    assert figure.layout.template.to_plotly_json() == house_template().to_plotly_json()
    # plotly_white's look: white plot background, its grid colour
    assert figure.layout.template.layout.plot_bgcolor == "white"


@pytest.mark.parametrize("title", ["SLI per day", None])
def test_a_styled_figure_draws_the_house_look(title: str | None) -> None:
    """What plotly.js draws from (the figure's layout over its template's) is the house look, and the figure's JSON
    is the JSON of the template assigned the validating way (the unvalidated assignment changes nothing drawn)."""
    figure = style(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])), title, y_title="SLI", height=340)
    drawn = figure.to_plotly_json()["layout"]
    effective = merged(drawn["template"]["layout"], {k: v for k, v in drawn.items() if k != "template"})
    assert effective["font"]["family"] == plots.FONT and effective["font"]["size"] == 13
    assert effective["margin"] == {"l": 60, "r": 20, "t": 50 if title else 20, "b": 40}
    assert effective["colorway"] == plots.PALETTE and effective["hovermode"] == "x unified"
    assert effective["legend"] == {"orientation": "h", "yanchor": "top", "y": -0.15, "x": 0}
    assert effective["height"] == 340 and effective["yaxis"]["title"]["text"] == "SLI"
    assert effective["plot_bgcolor"] == "white"
    validated = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    validated.update_layout(template=house_template(), title=title, height=340, margin_t=50 if title else 20)
    validated.update_yaxes(title_text="SLI")
    assert figure.to_plotly_json() == validated.to_plotly_json()
    # a figure's own setting still wins over the house's
    assert merged(effective, figure.update_layout(margin={"l": 10})["layout"].to_plotly_json())["margin"]["l"] == 10


@pytest.mark.parametrize("position", sorted(LABEL_POSITIONS))
@pytest.mark.parametrize("label", [None, "target 99.9%"])
def test_a_horizontal_line_is_what_add_hline_draws(position: str, label: str | None) -> None:
    line = {"dash": "dot", "color": "#bbbbbb", "width": 1}
    font = {"size": 10} if label else None
    ours = horizontal_line(go.Figure(go.Scatter(x=[1, 2], y=[0, 1])), 0.5, line, label=label, position=position,
                           font=font)
    plotly_s = go.Figure(go.Scatter(x=[1, 2], y=[0, 1]))
    plotly_s.add_hline(y=0.5, line=line, **({"annotation_text": label, "annotation_position": position,
                                              "annotation_font": font} if label else {}))
    assert ours.layout.shapes == plotly_s.layout.shapes
    assert ours.layout.annotations == plotly_s.layout.annotations
    assert len(ours.layout.annotations) == (1 if label else 0)
