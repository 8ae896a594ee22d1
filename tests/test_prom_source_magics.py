"""The %promql / %%promql magics in a real IPython shell against a real Prometheus."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pandas as pd
import pytest
from prom_source_fixtures import DATA_END, LONG_SERVICES, prom_url  # noqa: F401
from scraped_fixtures import KINDS, ms, start_server, timeline

from goreliable_lib.errors import BadInputError
from goreliable_lib.lab import magics
from goreliable_lib.sources.prometheus import PrometheusSource
from goreliable_lib.timeutil import to_rfc3339

pytestmark = pytest.mark.stack


@pytest.fixture()
def shell(prom_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator:  # noqa: F811
    """An IPython shell with `%load_ext goreliable_lib`, the environment pointing at the test Prometheus."""
    from IPython.core.interactiveshell import InteractiveShell

    for name in [n for n in os.environ if n.startswith("GORELIABLE_")]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GORELIABLE_CONFIG", os.devnull)
    monkeypatch.setenv("GORELIABLE_PROFILE", "live")
    monkeypatch.setenv("GORELIABLE_PROMETHEUS_URL", prom_url)
    monkeypatch.setenv("GORELIABLE_NOW", to_rfc3339(DATA_END))
    magics.reset()
    ipython = InteractiveShell.instance()
    ipython.run_line_magic("load_ext", "goreliable_lib")
    yield ipython
    magics.reset()


def test_line_magic_instant_and_range(shell) -> None:  # noqa: ANN001
    instant = shell.run_line_magic("promql", 'prom_test_requests_total{service=~"a|b"}')
    assert sorted(instant["service"]) == ["a", "b"] and (instant["timestamp"] == DATA_END).all()
    ranged = shell.run_line_magic("promql", "--range 6h --step 5m prom_test_requests_total")
    assert len(ranged) == len(LONG_SERVICES) * 73
    assert ranged["timestamp"].min() == DATA_END - pd.Timedelta("6h")


def test_cell_magic_with_end_out_and_plot(shell) -> None:  # noqa: ANN001
    from IPython.utils.capture import capture_output

    end = DATA_END - pd.Timedelta(days=1)
    with capture_output() as captured:
        frame = shell.run_cell_magic("promql", f"--range=1h --step 1m --end {to_rfc3339(end)} --plot --out rates",
                                     'sum by (service) (rate(prom_test_requests_total{service!="d"}[5m]))\n')
    assert shell.user_ns["rates"] is frame and frame["timestamp"].max() == end
    assert sorted(frame["service"].unique()) == ["a", "b", "c"]
    assert frame.groupby("service")["value"].mean().to_dict() == pytest.approx({"a": 1 / 60, "b": 2 / 60, "c": 3 / 60})
    figures = [o for o in captured.outputs if "application/vnd.plotly.v1+json" in o.data]
    assert len(figures) == 1 and len(figures[0].data["application/vnd.plotly.v1+json"]["data"]) == 3


def test_magic_option_errors_are_clear(shell) -> None:  # noqa: ANN001
    """With `--traceback` the kit's errors are raised (without it they are one line: tests/test_lab_errors.py)."""
    with pytest.raises(BadInputError, match="unknown option --rnage"):
        shell.run_line_magic("promql", "--traceback --rnage 6h up")
    with pytest.raises(BadInputError, match="no query"):
        shell.run_line_magic("promql", "--traceback --range 6h")
    with pytest.raises(BadInputError, match="--out"):
        shell.run_line_magic("promql", "--traceback --out 1x up")
    with pytest.raises(BadInputError, match="--range"):
        shell.run_line_magic("promql", "--traceback --range soon up")


def test_the_servers_own_syntax_error_is_one_line(shell, prom_url: str, capsys) -> None:  # noqa: ANN001, F811
    """Live, the server judges the query (the kit does not parse it): its words on one line, no traceback."""
    result = shell.run_cell("%promql sum(rate(prom_test_requests_total[5m]")
    captured = capsys.readouterr()
    assert result.success and result.result is None and captured.out == ""
    # Prometheus 2.x and 3.x: 'invalid parameter "query": 1:38: parse error: unclosed left parenthesis'
    assert captured.err.startswith(f"%promql: Prometheus {prom_url}/api/v1/query failed (HTTP 400, bad_data): ")
    assert "parse error: unclosed left parenthesis" in captured.err and captured.err.count("\n") == 1
    assert captured.err.endswith(" -- query: 'sum(rate(prom_test_requests_total[5m]'\n")


def test_parse_magic_keeps_the_query_verbatim() -> None:
    call = magics.parse_magic('--step=30s --range 2h  sum(rate(x{a="--b c", d=~"e|f"}[5m])) by (a)')
    assert (call.step, call.range, call.plot) == ("30s", "2h", False)
    assert call.query == 'sum(rate(x{a="--b c", d=~"e|f"}[5m])) by (a)'


def test_a_raw_query_says_what_it_dropped(tmp_path, capsys) -> None:  # noqa: ANN001
    """On VictoriaMetrics (the scraped fixture: it answers a raw selector with its staleness markers as NaN), the
    magic's frame holds only samples and one line says how many values it dropped; the same query on Prometheus
    (which drops its markers itself) prints nothing."""
    from IPython.core.interactiveshell import InteractiveShell

    (back,) = timeline(action="start", pods=["search-1"])
    at = to_rfc3339(ms(back["at_ms"]) + pd.Timedelta(minutes=1))
    ipython = InteractiveShell.instance()
    ipython.run_line_magic("load_ext", "goreliable_lib")
    capsys.readouterr()  # "already loaded" when another test of the module loaded it
    query = f'--end {at} http_requests_total{{pod="search-1"}}[5m]'
    found = {}
    for kind in KINDS:
        with start_server(kind=kind, workdir=tmp_path / kind) as url:
            magics.reset()
            magics.source_factory = lambda url=url: PrometheusSource(url)
            try:
                frame = ipython.run_line_magic("promql", query)
            finally:
                magics.source_factory = None
                magics.reset()
        found[kind] = (frame, capsys.readouterr().out)
    vm_frame, vm_said = found["victoriametrics"]
    prom_frame, prom_said = found["prometheus"]
    assert vm_frame["value"].notna().all() and len(vm_frame) > 10
    dropped = vm_frame.attrs["dropped_samples"]
    assert dropped >= 1 and f"%promql: {dropped:,} value(s) dropped from the raw samples" in vm_said
    assert prom_frame.attrs["dropped_samples"] == 0 and prom_said == ""
