"""The house template (plots.house_template()) draws what plotly_white draws for every kind of trace the kit makes."""

from __future__ import annotations

import ast
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
from plotly.basedatatypes import BaseTraceType

import goreliable_lib
from goreliable_lib.plots import TRACE_KINDS, house_template, style

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


def test_the_house_template_is_plotly_white_for_those_kinds() -> None:
    white = pio.templates["plotly_white"]
    assert house_template().layout.to_plotly_json() == white.layout.to_plotly_json()
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
