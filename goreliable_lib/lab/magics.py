"""IPython magics: `%promql` / `%%promql` pull PromQL into a DataFrame.

    %load_ext goreliable_lib
    %promql up                                              # instant query at now
    %promql --range 6h --step 1m rate(http_requests_total[5m])
    %%promql --range 2d --end 2026-11-23T06:00:00Z --plot --out errors
    sum by (service) (rate(http_requests_total{code=~"5.."}[5m]))

Options come first (`--range DURATION`, `--step DURATION` (default 1m), `--end TIME` (default now),
`--plot`, `--out VAR`, `--traceback`); everything after them is the query, verbatim (quotes and braces untouched).
The kit's errors (`GoReliableError`: a bad option, a PromQL syntax error, a query a snapshot did not record, a
server that is down or refuses the query) are one line on stderr, `%promql: <message>`, and the magic returns None;
`--traceback` raises them instead, with the traceback. Anything else (a bug) raises as usual.
Without `--range` the query is an instant query at `--end`; a range selector (`metric[5m]`) answers raw samples,
from which staleness markers, NaN and ±Inf are dropped (a line says how many). The source is
`connect().prometheus`, created on first use and kept; set `magics.source_factory`
to use another one (e.g. `lambda: PrometheusSource(url)`), and `magics.reset()` to reconnect.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from IPython.core.magic import Magics, line_cell_magic, magics_class

from goreliable_lib.errors import BadInputError, GoReliableError
from goreliable_lib.plots import style
from goreliable_lib.sources.connect import connect
from goreliable_lib.sources.promjson import DROPPED_SAMPLES, wide
from goreliable_lib.timeutil import parse_duration, parse_time

source_factory: Callable[[], Any] | None = None
_source: Any = None

_VALUED = {"range", "step", "end", "out"}
_FLAGS = {"plot", "traceback"}


@dataclass
class PromqlCall:
    """A parsed magic invocation."""

    query: str
    range: str | None = None
    step: str = "1m"
    end: str | None = None
    plot: bool = False
    out: str | None = None
    traceback: bool = False


def parse_magic(line: str, cell: str | None = None) -> PromqlCall:
    """Split leading `--options` from the query (the cell body, or the rest of the line)."""
    options: dict[str, Any] = {}
    rest = line
    while True:
        match = re.match(r"\s*--(?P<name>[a-z]+)", rest)
        if not match:
            break
        name = match["name"]
        if name in _FLAGS:
            options[name] = True
            rest = rest[match.end():]
            continue
        if name not in _VALUED:
            raise BadInputError(f"%promql: unknown option --{name} "
                                  "(use --range, --step, --end, --plot, --out, --traceback)")
        valued = re.match(r"\s*--[a-z]+(?:=|\s+)(?P<value>\S+)", rest)
        if not valued:
            raise BadInputError(f"%promql: option --{name} needs a value")
        options[name] = valued["value"]
        rest = rest[valued.end():]
    query = (cell if cell is not None else rest).strip()
    if cell is not None and rest.strip():
        raise BadInputError(f"%%promql: unexpected text {rest.strip()!r} on the magic line "
                            "(the query goes in the cell)")
    if not query:
        raise BadInputError("%promql: no query given")
    if "out" in options and not str(options["out"]).isidentifier():
        raise BadInputError(f"%promql: --out {options['out']!r} is not a Python variable name")
    return PromqlCall(query=query, **options)


def wants_traceback(line: str) -> bool:
    """True when the magic line's leading options hold `--traceback` (read leniently: the options before it may be
    the very mistake being reported)."""
    rest = line
    while (match := re.match(r"\s*--(?P<name>[a-z]+)(?:=\S*|\s+(?!--)\S+)?", rest)) is not None:
        if match["name"] == "traceback":
            return True
        rest = rest[match.end("name") if match["name"] in _FLAGS else match.end():]
    return False


def one_line(error: GoReliableError, magic: str = "%promql") -> str:
    """The line `%promql` prints for one of the kit's errors: `%promql: <message>`, the message on one line (a
    snapshot miss: its summary, the nearest recorded requests left on the exception)."""
    message = error.summary
    for prefix in ("%promql: ", "%%promql: "):
        message = message.removeprefix(prefix)
    return f"{magic}: {message}"


def reset() -> None:
    """Forget the cached source (the next magic connects again)."""
    global _source
    _source = None


def prometheus() -> Any:
    """The Prometheus source the magics use (created lazily, then kept)."""
    global _source
    if _source is None:
        _source = source_factory() if source_factory is not None else connect().prometheus
    return _source


def run(call: PromqlCall) -> pd.DataFrame:
    """Execute a parsed call against `prometheus()`."""
    source = prometheus()
    end = parse_time(call.end or "now", now=source.now(), field="--end")
    if call.range is None:
        return source.query(call.query, time=end)
    window = parse_duration(call.range, field="--range")
    return source.query_range(call.query, end - window, end, parse_duration(call.step, field="--step"))


def dropped_note(frame: pd.DataFrame) -> str | None:
    """The line saying what a raw answer lost (`promjson.raw_samples`), or None when nothing was dropped."""
    dropped = int(frame.attrs.get(DROPPED_SAMPLES, 0))
    if not dropped:
        return None
    return (f"%promql: {dropped:,} value(s) dropped from the raw samples: staleness markers, NaN or ±Inf are not "
            "samples (Prometheus drops markers itself; VictoriaMetrics may return them as NaN)")


def figure(frame: pd.DataFrame, title: str) -> Any:
    """A plotly line chart of the wide frame (one line per series), in the house style."""
    table = wide(frame)
    fig = go.Figure([go.Scatter(x=table.index, y=table[column], mode="lines", name=str(column))
                     for column in table.columns])
    return style(fig, title if len(title) <= 120 else title[:117] + "...", y_title="value")


def _renderer() -> str:
    """The user's plotly renderer, unless it would open a browser: then the notebook mimetype."""
    chosen = pio.renderers.default or ""
    return chosen if chosen and "browser" not in chosen else "plotly_mimetype+notebook"


@magics_class
class PromqlMagics(Magics):
    """`%promql` (line) and `%%promql` (cell)."""

    @line_cell_magic
    def promql(self, line: str, cell: str | None = None) -> pd.DataFrame | None:
        """Run PromQL, return a DataFrame; see `goreliable_lib.lab.magics` for the options. The kit's errors are
        one line on stderr (None is returned), or raised with `--traceback`."""
        try:
            call = parse_magic(line, cell)
            frame = run(call)
        except GoReliableError as error:
            if wants_traceback(line):
                raise
            print(one_line(error, "%promql" if cell is None else "%%promql"), file=sys.stderr)
            return None
        if (note := dropped_note(frame)) is not None:
            print(note)
        if call.out:
            self.shell.user_ns[call.out] = frame
        if call.plot:
            figure(frame, call.query).show(renderer=_renderer())
        return frame


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics (`%load_ext goreliable_lib` calls this)."""
    ipython.register_magics(PromqlMagics)
