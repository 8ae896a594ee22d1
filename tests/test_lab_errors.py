"""The lab's errors: `%promql` prints the kit's errors as one line (the traceback only with `--traceback`); on a
snapshot profile a query that is not PromQL is a PromQL syntax error, and one that was not recorded says which
profile replays which snapshot and how to reach a server. Real IPython shells, the bundled demo snapshot, a real
refused connection; no server needed (the live server's own error is in test_prom_source_magics.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from goreliable_lib.devstack.stack.faults import refused_url
from goreliable_lib.errors import BadInputError, PrometheusError, SnapshotMissError
from goreliable_lib.inputs.promql import syntax_error, unbalanced
from goreliable_lib.lab import magics
from goreliable_lib.sources.connect import connect, demo_snapshot_path

README_QUERY = 'sum by (code) (rate(http_requests_total{service="api-gateway"}[5m]))'
UNRECORDED = "sum by (code) (rate(http_requests_total[5m]))"  # the README's query without its label filter
MISS_ADVICE = ("ad-hoc queries need a server (`make lab` starts the local stack and opens the lab on it; or set "
               "GORELIABLE_PROFILE=live and GORELIABLE_PROMETHEUS_URL)")


def _environment(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name in [n for n in os.environ if n.startswith("GORELIABLE_")]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GORELIABLE_CONFIG", os.devnull)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


@pytest.fixture()
def shell(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator:
    """An IPython shell with `%load_ext goreliable_lib`; each test sets the profile before its first query."""
    from IPython.core.interactiveshell import InteractiveShell

    magics.reset()
    ipython = InteractiveShell.instance()
    ipython.run_line_magic("load_ext", "goreliable_lib")
    capsys.readouterr()  # "already loaded" when another test loaded it
    yield ipython
    magics.reset()


def run_cell(shell, cell: str, capsys: pytest.CaptureFixture[str]) -> tuple[object, str, str]:  # noqa: ANN001
    """Run a cell as a user would (IPython prints any traceback itself); its result, stdout and stderr."""
    result = shell.run_cell(cell)
    captured = capsys.readouterr()
    return result, captured.out, captured.err


def assert_one_line(result, out: str, err: str, expected: str) -> None:  # noqa: ANN001
    assert result.success and result.result is None, result.error_in_exec
    assert err == expected + "\n"
    assert "Traceback" not in out + err and out == ""


# ------------------------------------------------------------------------------------------------- %promql
def test_a_malformed_query_on_the_demo_profile_is_one_promql_line(shell, monkeypatch, capsys) -> None:  # noqa: ANN001
    _environment(monkeypatch, GORELIABLE_PROFILE="demo")
    result, out, err = run_cell(shell, "%promql sum(rate(x[5m]", capsys)
    assert_one_line(result, out, err, "%promql: PromQL syntax error: unclosed left parenthesis (the '(' at column 9 "
                                      "is never closed) -- query: 'sum(rate(x[5m]'")
    result, out, err = run_cell(shell, "%%promql --range 1h\nsum(\n  rate(x{a=\"b}[5m]))\n", capsys)
    assert_one_line(result, out, err, "%%promql: PromQL syntax error: unterminated quoted string \" (the string "
                                      "opened by the \" at line 2, column 12 is never closed) -- query: "
                                      "'sum(\\n  rate(x{a=\"b}[5m]))'")


def test_an_unrecorded_query_on_the_demo_profile_says_what_to_do(shell, monkeypatch, capsys) -> None:  # noqa: ANN001
    _environment(monkeypatch, GORELIABLE_PROFILE="demo")
    frame = shell.run_line_magic("promql", f"--range 6h --step 1m {README_QUERY}")  # the README's example replays
    assert len(frame) > 0 and set(frame["code"]) >= {"200", "500"}
    result, out, err = run_cell(shell, f"%promql --range 6h --step 1m {UNRECORDED}", capsys)
    assert_one_line(result, out, err, f"%promql: the demo profile replays the bundled snapshot at "
                                      f"{demo_snapshot_path()}, which did not record this query: {MISS_ADVICE}")
    assert "nearest" not in err


def test_an_unreachable_server_is_one_line(shell, monkeypatch, capsys) -> None:  # noqa: ANN001
    url = refused_url()
    _environment(monkeypatch, GORELIABLE_PROFILE="live", GORELIABLE_PROMETHEUS_URL=url,
                 GORELIABLE_NOW="2026-11-23T06:00:00Z")
    source = magics.prometheus()  # the magic's own source, as the environment configures it; retried faster
    source.retry_policy = dataclasses.replace(source.retry_policy, backoff_seconds=0.01, max_backoff_seconds=0.01)
    result, out, err = run_cell(shell, "%promql up", capsys)
    assert_one_line(result, out, err, err.rstrip("\n"))
    assert err.startswith(f"%promql: Prometheus {url}/api/v1/query unreachable (ConnectionError: ")
    assert err.rstrip().endswith("-- query: 'up' (gave up after 4 attempts)"), err


def test_traceback_on_request(shell, monkeypatch, capsys) -> None:  # noqa: ANN001
    _environment(monkeypatch, GORELIABLE_PROFILE="demo")
    result, out, err = run_cell(shell, f"%promql --traceback --range 6h --step 1m {UNRECORDED}", capsys)
    assert isinstance(result.error_in_exec, SnapshotMissError)
    assert "Traceback" in out + err and "nearest recorded:" in out + err  # the whole message, with the traceback
    miss = result.error_in_exec
    assert miss.request["query"] == UNRECORDED and miss.nearest[0]["query"] == README_QUERY  # for code
    with pytest.raises(PrometheusError, match="PromQL syntax error") as info:
        shell.run_line_magic("promql", "--range 6h --traceback sum(rate(x[5m]")
    assert info.value.error_type == "bad_data" and info.value.query == "sum(rate(x[5m]"
    with pytest.raises(BadInputError, match="unknown option --rnage"):  # an option error too, whatever precedes it
        shell.run_line_magic("promql", "--rnage 6h --traceback up")


def test_option_errors_are_one_line(shell, monkeypatch, capsys) -> None:  # noqa: ANN001
    _environment(monkeypatch, GORELIABLE_PROFILE="demo")
    for cell, expected in (
            ("%promql --rnage 6h up", "%promql: unknown option --rnage (use --range, --step, --end, --plot, --out, "
                                      "--traceback)"),
            ("%promql --range 6h", "%promql: no query given"),
            ("%promql --range soon up", "%promql: --range: 'soon' is not a duration"),
            ("%%promql --range 1h up\nup", "%%promql: unexpected text 'up' on the magic line (the query goes in the "
                                           "cell)")):
        result, out, err = run_cell(shell, cell, capsys)
        assert result.success and "Traceback" not in out + err and err.count("\n") == 1, (cell, out, err)
        assert err.startswith(expected), (cell, err)


def test_a_bug_still_raises(shell, monkeypatch, capsys) -> None:  # noqa: ANN001
    _environment(monkeypatch, GORELIABLE_PROFILE="demo")

    class Broken:
        def now(self) -> object:
            raise ZeroDivisionError("a bug")

    monkeypatch.setattr(magics, "source_factory", Broken)
    result, out, err = run_cell(shell, "%promql up", capsys)
    assert isinstance(result.error_in_exec, ZeroDivisionError) and "Traceback" in out + err


def test_wants_traceback_reads_the_options_only() -> None:
    assert magics.wants_traceback("--traceback up") and magics.wants_traceback("--range=6h --traceback up")
    assert magics.wants_traceback("--rnage 6h --traceback up") and magics.wants_traceback("--range --traceback up")
    assert not magics.wants_traceback("up --traceback") and not magics.wants_traceback('x{a=" --traceback"}')


# ------------------------------------------------------------------------------------------------ snapshots
def test_a_miss_keeps_the_request_and_the_nearest_off_its_summary(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    copy = tmp_path / "snap"
    shutil.copytree(demo_snapshot_path(), copy)
    _environment(monkeypatch, GORELIABLE_PROFILE=f"snapshot:{copy}")
    with pytest.raises(SnapshotMissError) as info:
        connect().prometheus.query_range(UNRECORDED, "now-6h", "now", "1m")
    miss = info.value
    assert miss.summary == (f"profile snapshot:{copy} replays the snapshot at {copy}, which did not record this "
                            f"query: {MISS_ADVICE}")
    assert "\n" not in miss.summary and str(miss).startswith(miss.summary + "\n  prometheus request: ")
    assert len(miss.nearest) == 3 and json.dumps(miss.nearest[0], sort_keys=True) in str(miss)
    with pytest.raises(SnapshotMissError, match="GORELIABLE_KUBECOST_URL") as cost:
        connect().kubecost.allocation("2020-01", aggregate="namespace", step="1d")
    assert "did not record this kubecost request" in cost.value.summary


def test_the_syntax_check_runs_on_replay_only_and_never_on_a_recorded_query(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """A query promql-parser refuses but the snapshot recorded (its server took it: say a MetricsQL function) is
    replayed; a live source never parses (the server judges its own dialect)."""
    copy = tmp_path / "snap"
    shutil.copytree(demo_snapshot_path(), copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    entry = next(e for e in manifest["entries"] if e["request"].get("query") == README_QUERY)
    entry["request"]["query"] = "rollup_candlestick(x)"  # MetricsQL: not PromQL 2.45
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert syntax_error("rollup_candlestick(x)") == "unknown function with name 'rollup_candlestick'"
    _environment(monkeypatch, GORELIABLE_PROFILE=f"snapshot:{copy}")
    source = connect().prometheus
    start, end = entry["request"]["start"], entry["request"]["end"]
    assert len(source.query_range("rollup_candlestick(x)", start, end, "1m")) > 0
    with pytest.raises(PrometheusError, match=r"^PromQL syntax error: unknown function with name 'rollup_candlestick'"):
        source.query_range("rollup_candlestick(x)", start, end, "2m")
    _environment(monkeypatch, GORELIABLE_PROFILE="live", GORELIABLE_PROMETHEUS_URL=refused_url())
    live = connect().prometheus
    live.retry_policy = dataclasses.replace(live.retry_policy, retries=0)
    with pytest.raises(PrometheusError, match="unreachable"):  # asked, not parsed
        live.query("sum(rate(x[5m]")


def test_every_query_of_the_demo_snapshot_parses() -> None:
    manifest = json.loads((demo_snapshot_path() / "manifest.json").read_text())
    queries = [e["request"]["query"] for e in manifest["entries"] if "query" in e["request"]]
    assert len(queries) > 100
    assert {q: syntax_error(q) for q in queries if syntax_error(q) is not None} == {}


# ------------------------------------------------------------------------------------------- the PromQL check
@pytest.mark.parametrize(("query", "expected"), [
    ("sum(rate(x[5m]))", None),
    ('x{a="(", b=~"[a-z"} # a comment (', None),
    ("x[5m", "the '[' at column 2 is never closed"),
    ("rate(x[5m)", "the ')' at column 10 does not close the '[' at column 7"),
    ('x{a="b"}}', "the '}' at column 9 closes nothing"),
    ("x{a='b}", "the string opened by the ' at column 5 is never closed"),
    ('x{a="b\\"}', 'the string opened by the " at column 5 is never closed'),
    ("x{a=`b\\`}", None),
    ("sum(\n rate(x[5m]\n)", "the '(' at line 1, column 4 is never closed"),
    ('x{a="b\n"}', 'the string opened by the " at line 1, column 5 is never closed'),
])
def test_unbalanced(query: str, expected: str | None) -> None:
    assert unbalanced(query) == expected


def test_syntax_error_words_and_cost() -> None:
    assert syntax_error(README_QUERY) is None
    assert syntax_error("sum(rate(x[5m]") == "unclosed left parenthesis (the '(' at column 9 is never closed)"
    assert syntax_error("foo bar") == "invalid promql query"
    assert syntax_error("rate(x)") == "expected type matrix in call to function 'rate', got vector"
    started = time.perf_counter()
    for _ in range(200):
        syntax_error(README_QUERY)
    assert (time.perf_counter() - started) / 200 < 0.005  # measured about 20 microseconds a query
